//! The page's components, each named for what it shows.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use yew::prelude::*;

use super::commands::{Command, load_preset};
use super::runner::{self, control};
use super::state::{Action, NtkView, Playground, Status};
use crate::config::{NuRule, PRESETS, SearchConfig, preset};
use crate::search::StepRecord;
use crate::search::{parse_result, parse_trajectory};
use crate::space::nb201::table::Accuracies;
use crate::space::nb201::table::Table;
use crate::space::{ArchTable, EDGES, Genotype, Op};

type State = UseReducerHandle<Playground>;
type Dispatch = UseReducerDispatcher<Playground>;

#[derive(Properties, PartialEq)]
pub struct PageProps {
    pub state: State,
    pub command: Callback<Command>,
}

/// Dispatches the edge under the pointer (any element inside one with a `data-edge` attribute).
fn hover_edge(d: &Dispatch) -> Callback<MouseEvent> {
    let d = d.clone();
    Callback::from(move |e: MouseEvent| {
        let edge = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|el| el.closest("[data-edge]").ok().flatten())
            .and_then(|el| el.get_attribute("data-edge"))
            .and_then(|v| v.parse::<usize>().ok());
        d.dispatch(Action::Hover(edge));
    })
}

fn raw_svg(svg: String) -> Html {
    Html::from_html_unchecked(AttrValue::from(svg))
}

fn raw_html(markup: &'static str) -> Html {
    Html::from_html_unchecked(AttrValue::from(markup))
}

/// MathML of the formulas in the explanations (no external script).
const MATH_NTK: &str = r#"<math display="block"><mrow><msub><mi>Θ</mi><mrow><mi>i</mi><mi>j</mi></mrow></msub><mo>=</mo><msub><mo>∑</mo><mi>k</mi></msub><msub><mo>∇</mo><mi>θ</mi></msub><msub><mi>f</mi><mi>k</mi></msub><mo>(</mo><msub><mi>x</mi><mi>i</mi></msub><mo>)</mo><mo>·</mo><msub><mo>∇</mo><mi>θ</mi></msub><msub><mi>f</mi><mi>k</mi></msub><mo>(</mo><msub><mi>x</mi><mi>j</mi></msub><mo>)</mo></mrow></math>"#;
const MATH_ESTIMATOR: &str = r#"<math display="block"><mrow><mover><mi>T</mi><mo>~</mo></mover><mo>=</mo><msup><mrow><mo>‖</mo><msub><mo>∇</mo><mi>θ</mi></msub><mfrac><mn>1</mn><mi>b</mi></mfrac><msubsup><mo>∑</mo><mrow><mi>i</mi><mo>=</mo><mn>1</mn></mrow><mi>b</mi></msubsup><mi>ℓ</mi><mo>(</mo><mi>f</mi><mo>(</mo><msub><mi>x</mi><mi>i</mi></msub><mo>)</mo><mo>,</mo><msub><mi>y</mi><mi>i</mi></msub><mo>)</mo><mo>‖</mo></mrow><mn>2</mn></msup><mo>≤</mo><mfrac><mrow><mn>2</mn><mspace width="0.2em"/><mi>tr</mi><mo>(</mo><mi>Θ</mi><mo>)</mo></mrow><mi>b</mi></mfrac></mrow></math>"#;
const MATH_REWARD: &str = r#"<math display="block"><mrow><mi>R</mi><mo>=</mo><mover><mi>T</mi><mo>~</mo></mover><mo>−</mo><mi>μ</mi><mspace width="0.2em"/><mi>max</mi><mo>(</mo><mn>0</mn><mo>,</mo><mover><mi>T</mi><mo>~</mo></mover><mo>−</mo><mi>ν</mi><mo>)</mo></mrow></math>"#;

/// One titled panel of the grid: a section labelled by its heading, with the heading's "?" link to
/// the explanation `anchor`.
fn panel(id: &'static str, title: &'static str, anchor: &'static str, body: Html) -> Html {
    html! {
        <section class="panel" aria-labelledby={id}>
            <h2 id={id}>{title}{help_link(anchor)}</h2>
            {body}
        </section>
    }
}

fn help_link(anchor: &'static str) -> Html {
    html! { <a class="help" href={format!("#explain-{anchor}")} aria-label={format!("explanation: {anchor}")} title="What is this?"
    onclick={Callback::from(move |e: MouseEvent| {
        e.prevent_default();
        if let Some(el) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id(&format!("explain-{anchor}"))) {
            el.scroll_into_view();
        }
    })}>{"?"}</a> }
}

/// The whole page.
#[component]
pub fn Page(props: &PageProps) -> Html {
    let s = &props.state;
    let embed = s.view.embed;
    html! {
        <div class={classes!("page", embed.then_some("embed"))}>
            <header>
                <h1>{"NASI playground"}</h1>
                <p class="tagline">{"Neural architecture search at initialisation: pick a cell by the NTK trace of the untrained network — no training, no labels, no data."}</p>
            </header>
            <Notices state={s.clone()} />
            <StatusLine state={s.clone()} />
            <Controls state={s.clone()} command={props.command.clone()} />
            <div class="grid">
                { panel("cell-h", "Selected cell", "cell", html! { <CellView
                    genotype={s.shown_genotype()}
                    probs={s.shown_step().map(|st| st.probs.clone()).or(s.result.as_ref().map(|r| r.probs.clone()))}
                    accuracy={s.shown_genotype().and_then(|g| s.table.as_ref().and_then(|t| t.get(&g)))}
                    table_loaded={s.table.is_some()}
                    dispatch={s.dispatcher()} /> }) }
                { panel("traj-h", "Architecture weights per edge", "alpha", html! { <Trajectory
                    steps={s.steps.clone()} selected={s.selected} hover={s.hover_edge} dispatch={s.dispatcher()} /> }) }
                { panel("trace-h", "NTK trace and objective", "objective", html! { <TraceChart steps={s.steps.clone()} selected={s.selected} /> }) }
                { panel("ntk-h", "The NTK itself", "ntk", html! { <NtkPanel state={s.clone()} /> }) }
            </div>
            <Files state={s.clone()} />
            if s.help_open { <KeyHelp command={props.command.clone()} /> }
            if !embed { <Explain /> }
            <footer>{"Shu, Cai, Dai, Ooi, Low. NASI: Label- and Data-agnostic Neural Architecture Search at Initialization. ICLR 2022. This page makes no request outside its own origin."}</footer>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct StateProps {
    pub state: State,
}

#[component]
fn Notices(props: &StateProps) -> Html {
    let s = &props.state;
    html! {
        <div class="notices">
            { for s.notices.iter().enumerate().map(|(i, n)| {
                let d = s.dispatcher();
                html! { <div class="notice" role="alert">{n.clone()}
                    <button aria-label="dismiss notice" onclick={Callback::from(move |_| d.dispatch(Action::DismissNotice(i)))}>{"×"}</button></div> }
            }) }
        </div>
    }
}

#[component]
fn StatusLine(props: &StateProps) -> Html {
    let s = &props.state;
    let what = match &s.status {
        Status::Idle => "Ready.".to_string(),
        Status::Replaying => format!(
            "Replaying {}: step {} of {}.",
            s.source,
            s.steps.len(),
            s.steps.len() + s.replay_queue.len()
        ),
        Status::Starting => "Starting: acquiring the GPU and building the supernet…".to_string(),
        Status::Running => format!(
            "Running live on {}: step {} of {}.",
            s.backend.clone().unwrap_or_default(),
            s.steps.len(),
            s.config.steps
        ),
        Status::Paused => format!("Paused at step {} of {}.", s.steps.len(), s.config.steps),
        Status::Done => match (&s.backend, s.source.as_str()) {
            (Some(b), "live") => format!("Done: {} steps (live on {b}).", s.steps.len()),
            _ => format!("Done: {} steps ({}).", s.steps.len(), s.source),
        },
        Status::Failed(m) => format!("Stopped: {m}"),
    };
    let detail = s.shown_step().map(|st| {
        format!(
            " Step {}: T̃ = {:.5}, R = {:.5}{}.",
            st.step,
            st.trace,
            st.reward,
            s.ms_per_step
                .map_or(String::new(), |ms| format!(", {ms:.0} ms/step"))
        )
    });
    html! { <p class="status" role="status" aria-live="polite" data-status={format!("{:?}", s.status).split('(').next().unwrap_or("").to_string()}>{what}{detail.unwrap_or_default()}</p> }
}

#[derive(Properties, PartialEq)]
pub struct ControlProps {
    pub state: State,
    pub command: Callback<Command>,
}

fn num_input(
    label: &'static str,
    key: &'static str,
    value: String,
    step: &'static str,
    state: &State,
) -> Html {
    let st = state.clone();
    let onchange = Callback::from(move |e: Event| {
        let Some(input) = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let (cfg, _, notes) = crate::config::url::decode(&format!(
            "{}&{key}={}",
            crate::config::url::encode(&st.config, &Default::default()),
            input.value()
        ));
        for n in notes {
            st.dispatch(Action::Notice(n));
        }
        st.dispatch(Action::SetConfig(cfg));
    });
    html! { <label>{label}<input type="number" name={key} {step} value={value} {onchange} /></label> }
}

#[component]
fn Controls(props: &ControlProps) -> Html {
    let s = &props.state;
    let c = &s.config;
    let cmd = |k: Command| {
        let cb = props.command.clone();
        Callback::from(move |_: MouseEvent| cb.emit(k))
    };
    let live = s.is_live();
    let run_label = match s.status {
        Status::Running | Status::Starting => "Pause",
        Status::Paused => "Resume",
        _ => "Run",
    };
    let on_preset = {
        let st = s.clone();
        Callback::from(move |e: Event| {
            let Some(sel) = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
            else {
                return;
            };
            if let Some(cfg) = preset(&sel.value()) {
                st.dispatch(Action::SetConfig(cfg));
                load_preset(sel.value(), true, st.dispatcher());
            }
        })
    };
    let on_hard = {
        let st = s.clone();
        Callback::from(move |e: Event| {
            let Some(i) = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            else {
                return;
            };
            st.dispatch(Action::SetConfig(SearchConfig {
                hard: i.checked(),
                ..st.config.clone()
            }));
        })
    };
    let copy_link = Callback::from(|_: MouseEvent| {
        if let Some(w) = web_sys::window() {
            let href = w.location().href().unwrap_or_default();
            let _ = w.navigator().clipboard().write_text(&href);
        }
    });
    let nu = match c.nu {
        NuRule::Fixed(v) => v.to_string(),
        NuRule::Mean => "mean".into(),
    };
    let on_nu = {
        let st = s.clone();
        Callback::from(move |e: Event| {
            let Some(i) = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            else {
                return;
            };
            match i.value().trim().parse::<NuRule>() {
                Ok(nu) => st.dispatch(Action::SetConfig(SearchConfig {
                    nu,
                    ..st.config.clone()
                })),
                Err(e) => st.dispatch(Action::Notice(e)),
            }
        })
    };
    html! {
        <section class="controls" aria-label="search controls">
            <div class="buttons">
                <button onclick={cmd(Command::RunPause)} title="Space" aria-label={format!("{run_label} (Space)")} class="primary">{run_label}</button>
                <button onclick={cmd(Command::Step)} title="→" aria-label="one step (right arrow)">{"Step"}</button>
                <button onclick={cmd(Command::Stop)} disabled={!live} aria-label="stop the live run">{"Stop"}</button>
                <button onclick={cmd(Command::Reset)} title="R" aria-label="reset: rerun with the same seed (R)">{"Reset"}</button>
                <button onclick={cmd(Command::NewSeed)} title="S" aria-label="new seed (S)">{"New seed"}</button>
                <button onclick={copy_link} aria-label="copy a link to this run">{"Copy link"}</button>
                <button onclick={cmd(Command::Help)} title="?" aria-label="keyboard shortcuts (?)">{"Keys"}</button>
            </div>
            <fieldset disabled={live}>
                <legend>{"Settings"}{help_link("settings")}</legend>
                <label>{"Preset"}<select onchange={on_preset} aria-label="preset">
                    { for PRESETS.iter().map(|(k, label)| html! { <option value={*k} selected={preset(k).as_ref() == Some(c)}>{*label}</option> }) }
                </select></label>
                { num_input("Seed", "seed", c.seed.to_string(), "1", s) }
                { num_input("Steps T", "steps", c.steps.to_string(), "1", s) }
                { num_input("Batch b", "batch", c.batch.to_string(), "1", s) }
                { num_input("Channels C", "channels", c.channels.to_string(), "1", s) }
                { num_input("Cells N", "cells", c.cells.to_string(), "1", s) }
                { num_input("Input size", "size", c.size.to_string(), "4", s) }
                { num_input("μ", "mu", c.mu.to_string(), "0.1", s) }
                <label>{"ν"}<input type="text" name="nu" value={nu} onchange={on_nu} size="6" aria-label="nu: a number or mean" /></label>
                { num_input("τ", "tau", c.tau.to_string(), "0.1", s) }
                <label><input type="checkbox" name="hard" checked={c.hard} onchange={on_hard} />{"hard (straight-through)"}</label>
                <label>{"Data"}<select name="data" aria-label="data mode"><option value="gaussian" selected=true>{"Gaussian inputs, random labels"}</option></select></label>
            </fieldset>
        </section>
    }
}

/// What the cell view shows: only these, so a change elsewhere (a step of the charts' hover, a
/// notice) does not redraw the cell.
#[derive(Properties, PartialEq)]
struct CellProps {
    genotype: Option<Genotype>,
    probs: Option<ArchTable>,
    accuracy: Option<Accuracies>,
    table_loaded: bool,
    dispatch: Dispatch,
}

#[component]
fn CellView(props: &CellProps) -> Html {
    let Some(g) = props.genotype else {
        return html! { <p class="empty">{"No cell yet: press Run."}</p> };
    };
    let svg = crate::space::nb201::draw::cell_svg(&g, props.probs.as_ref());
    let text = g.to_string();
    let onmouseover = hover_edge(&props.dispatch);
    let onmouseleave = {
        let d = props.dispatch.clone();
        Callback::from(move |_: MouseEvent| d.dispatch(Action::Hover(None)))
    };
    let copy = {
        let t = text.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(w) = web_sys::window() {
                let _ = w.navigator().clipboard().write_text(&t);
            }
        })
    };
    html! {
        <div class="cell">
            <div class="cell-svg" {onmouseover} {onmouseleave}>{ raw_svg(svg) }</div>
            <p><code class="genotype" data-genotype={text.clone()}>{text.clone()}</code>
               <button onclick={copy} aria-label="copy the NB201 string">{"Copy"}</button></p>
            <p class="indices">{format!("op indices (edge order 1←0, 2←0, 2←1, 3←0, 3←1, 3←2): {:?}", g.indices())}</p>
            <details><summary>{"How to read this string"}</summary>
                <p>{"Each |…| group lists the inputs of one node: the first group is node 1, the second node 2, the third node 3 (the cell's output). "}
                   <code>{"op~i"}</code>{" means: apply op to node i and add the result. Node 0 is the cell's input. Ops: none (no edge), skip_connect (identity), nor_conv_1x1 and nor_conv_3x3 (ReLU → conv → batch norm), avg_pool_3x3."}</p>
            </details>
            { match props.accuracy {
                Some(a) => html! { <p class="acc">{format!("NAS-Bench-201 test accuracy: CIFAR-10 {:.2} %, CIFAR-100 {:.2} %, ImageNet16-120 {:.2} %", a.cifar10, a.cifar100, a.imagenet16)}</p> },
                None if props.table_loaded => html! { <p class="acc">{"This cell is not in the loaded table."}</p> },
                None => html! { <p class="acc muted">{"Load an NB201 accuracy table (below) to see how well this cell trains."}</p> },
            } }
        </div>
    }
}

/// The steps (shared, compared by content only when the pointer differs), the timeline position
/// and the edge under the pointer.
#[derive(Properties, PartialEq)]
struct ChartProps {
    steps: Rc<Vec<StepRecord>>,
    selected: Option<usize>,
    #[prop_or_default]
    hover: Option<usize>,
    #[prop_or_default]
    dispatch: Option<Dispatch>,
}

#[component]
fn Trajectory(props: &ChartProps) -> Html {
    let svg = crate::plot::alpha_chart(&props.steps, props.selected, props.hover);
    let dispatch = props.dispatch.clone().expect("the weight chart dispatches");
    let onmouseover = hover_edge(&dispatch);
    let n = props.steps.len();
    let oninput = Callback::from(move |e: InputEvent| {
        let Some(i) = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let v: usize = i.value().parse().unwrap_or(0);
        dispatch.dispatch(Action::Select(if v + 1 >= n { None } else { Some(v) }));
    });
    let pos = props.selected.unwrap_or(n.saturating_sub(1));
    html! {
        <div>
            <div class="chart-wrap" {onmouseover}>{ raw_svg(svg) }</div>
            <label class="scrubber">{format!("Step {} / {}", if n == 0 { 0 } else { pos + 1 }, n)}
                <input type="range" min="0" max={n.saturating_sub(1).to_string()} value={pos.to_string()} {oninput} disabled={n == 0} aria-label="timeline: replay any step" /></label>
            <p class="legend">{ for Op::ALL.iter().enumerate().map(|(k, op)| html! {
                <span><i style={format!("background:{}", crate::space::nb201::draw::OP_STYLE[k].0)}></i>{op.name()}</span> }) }</p>
        </div>
    }
}

#[component]
fn TraceChart(props: &ChartProps) -> Html {
    html! { <div class="chart-wrap">{ raw_svg(crate::plot::trace_chart(&props.steps, props.selected)) }</div> }
}

#[component]
fn NtkPanel(props: &StateProps) -> Html {
    let s = &props.state;
    let g = s.shown_genotype();
    let onclick = {
        let st = s.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(g) = st.shown_genotype() {
                spawn_local(runner::compute_ntk(
                    st.config.clone(),
                    g,
                    st.run_id,
                    st.dispatcher(),
                ));
            }
        })
    };
    html! {
        <div class="ntk-panel">
            <button {onclick} disabled={g.is_none() || s.is_live()}>{"Compute the exact NTK of this cell"}</button>
            <DeviceCheckView state={s.clone()} />
            { match &s.ntk {
                Some(n) => html! { <NtkBody ntk={n.clone()} /> },
                None => html! { <p class="muted">{"Computes Θ for a batch of up to 8 inputs (b·10 backward passes) on this page's device."}</p> },
            } }
        </div>
    }
}

/// The exact NTK of one cell: its heat map and figures, redrawn only when the kernel changes.
#[derive(Properties, PartialEq)]
struct NtkProps {
    ntk: NtkView,
}

#[component]
fn NtkBody(props: &NtkProps) -> Html {
    let n = &props.ntk;
    let tr: f64 = n.eigenvalues.iter().sum();
    let (lo, hi) = (n.eigenvalues[0], n.eigenvalues[n.eigenvalues.len() - 1]);
    html! { <div class="ntk-body">
        { raw_svg(crate::plot::ntk_heatmap(&n.matrix, n.batch)) }
        <dl>
            <dt>{"cell"}</dt><dd><code>{n.genotype.to_string()}</code></dd>
            <dt>{"tr(Θ), exact"}</dt><dd>{format!("{tr:.4}")}</dd>
            <dt>{"λ_min … λ_max"}</dt><dd>{format!("{lo:.4e} … {hi:.4e}")}</dd>
            <dt>{"condition number"}</dt><dd>{format!("{:.3e}", hi / lo)}</dd>
            <dt>{"NASI's T̃ (same batch)"}</dt><dd>{format!("{:.6}", n.trace_estimate)}</dd>
            <dt>{"bound 2·tr(Θ)/b"}</dt><dd>{format!("{:.4}", 2.0 * tr / n.batch as f64)}</dd>
        </dl>
    </div> }
}

#[component]
fn DeviceCheckView(props: &StateProps) -> Html {
    let s = &props.state;
    let onclick = {
        let d = s.dispatcher();
        Callback::from(move |_: MouseEvent| {
            let d = d.clone();
            spawn_local(async move { d.dispatch(Action::Check(runner::device_check().await)) });
        })
    };
    html! {
        <div class="device-check">
            <button {onclick} disabled={s.is_live()}>{"Check this device against the CPU"}</button>
            { match &s.check {
                Some(Ok(c)) => html! { <p class="gpu-check" data-backend={c.backend.clone()} data-trace-rel={c.trace_rel.to_string()} data-grad-rel={c.grad_rel.to_string()}>
                    {format!("{} vs CPU on one NASI gradient: T̃ differs by {:.1e}, ∇αT̃ by {:.1e} (relative).", c.backend, c.trace_rel, c.grad_rel)}</p> },
                Some(Err(e)) => html! { <p class="gpu-check" data-error={e.clone()}>{format!("Check failed: {e}")}</p> },
                None => html! {},
            } }
        </div>
    }
}

fn download(name: &str, mime: &str, text: &str) {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Some(a) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("a").ok())
        .and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    {
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

#[component]
fn Files(props: &StateProps) -> Html {
    let s = &props.state;
    let export_traj = {
        let st = s.clone();
        Callback::from(move |_: MouseEvent| {
            let text: String = st
                .events()
                .iter()
                .map(|e| serde_json::to_string(e).unwrap_or_default() + "\n")
                .collect();
            download("trajectory.jsonl", "application/x-ndjson", &text);
        })
    };
    let export_result = {
        let st = s.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(r) = &st.result {
                download(
                    "result.json",
                    "application/json",
                    &serde_json::to_string_pretty(r).unwrap_or_default(),
                );
            }
        })
    };
    let export_svg = {
        let st = s.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(g) = st.shown_genotype() {
                let probs = st.shown_step().map(|x| &x.probs);
                download(
                    "cell.svg",
                    "image/svg+xml",
                    &crate::space::nb201::draw::cell_svg(&g, probs),
                );
            }
        })
    };
    let onchange = {
        let st = s.clone();
        Callback::from(move |e: Event| {
            let Some(input) = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            else {
                return;
            };
            let Some(files) = input.files() else { return };
            for i in 0..files.length() {
                let Some(f) = files.get(i) else { continue };
                let d = st.dispatcher();
                spawn_local(async move {
                    let name = f.name();
                    let text = match JsFuture::from(f.text())
                        .await
                        .ok()
                        .and_then(|v| v.as_string())
                    {
                        Some(t) => t,
                        None => {
                            return d
                                .dispatch(Action::Notice(format!("{name}: cannot read the file")));
                        }
                    };
                    let outcome = if name.ends_with(".csv") {
                        Table::parse(&text, &name)
                            .map(|t| d.dispatch(Action::Table(Rc::new(t))))
                            .map_err(|e| e.to_string())
                    } else if name.ends_with(".jsonl") {
                        parse_trajectory(&text).map(|events| {
                            d.dispatch(Action::Load {
                                run: control().begin_run(),
                                source: format!("file {name}"),
                                events,
                                instant: true,
                                adopt_config: true,
                            })
                        })
                    } else if name.ends_with(".json") {
                        parse_result(&text).map(|result| {
                            d.dispatch(Action::LoadResult {
                                run: control().begin_run(),
                                result,
                            })
                        })
                    } else {
                        Err("expected trajectory.jsonl, result.json or an NB201 .csv table".into())
                    };
                    if let Err(e) = outcome {
                        d.dispatch(Action::Notice(format!("{name}: {e}")));
                    }
                });
            }
        })
    };
    html! {
        <section class="files" aria-label="import and export">
            <h2>{"Import and export"}{help_link("files")}</h2>
            <button onclick={export_traj} disabled={s.steps.is_empty()}>{"Download trajectory.jsonl"}</button>
            <button onclick={export_result} disabled={s.result.is_none()}>{"Download result.json"}</button>
            <button onclick={export_svg} disabled={s.shown_genotype().is_none()}>{"Download cell.svg"}</button>
            <label class="file">{"Load a CLI run (trajectory.jsonl, result.json) or an NB201 table (.csv): "}
                <input type="file" multiple=true accept=".jsonl,.json,.csv" {onchange} /></label>
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct KeyHelpProps {
    pub command: Callback<Command>,
}

#[component]
fn KeyHelp(props: &KeyHelpProps) -> Html {
    let close = {
        let c = props.command.clone();
        Callback::from(move |_: MouseEvent| c.emit(Command::Help))
    };
    html! {
        <div class="keyhelp" role="dialog" aria-label="keyboard shortcuts">
            <h2>{"Keyboard"}</h2>
            <table>
                <tr><td><kbd>{"Space"}</kbd></td><td>{"run / pause"}</td></tr>
                <tr><td><kbd>{"→"}</kbd></td><td>{"one step"}</td></tr>
                <tr><td><kbd>{"←"}</kbd></td><td>{"back one step on the timeline"}</td></tr>
                <tr><td><kbd>{"R"}</kbd></td><td>{"reset (same seed)"}</td></tr>
                <tr><td><kbd>{"S"}</kbd></td><td>{"new seed"}</td></tr>
                <tr><td><kbd>{"?"}</kbd></td><td>{"this sheet"}</td></tr>
            </table>
            <button onclick={close}>{"Close"}</button>
        </div>
    }
}

#[component]
fn Explain() -> Html {
    let edges = EDGES
        .iter()
        .map(|(t, f)| format!("{t}←{f}"))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        <article class="explain">
            <h2 id="explain-nas">{"Neural architecture search in one paragraph"}</h2>
            <p>{"A network is built by repeating a small "}<em>{"cell"}</em>{". NAS-Bench-201's cell has 4 nodes and 6 edges ("}{edges}{"); each edge carries one of 5 operations, so there are 5⁶ = 15,625 cells. Training each to see which is best costs GPU-years; NAS looks for a good one cheaply. Differentiable NAS relaxes the choice: every edge mixes all 5 ops with weights softmax(α), and α is optimised."}</p>
            <h2 id="explain-ntk">{"The neural tangent kernel and its trace"}</h2>
            <p>{"For a network f with weights θ, the NTK is the Gram matrix of its gradients:"}</p>
            { raw_html(MATH_NTK) }
            <p>{"Under gradient descent the training loss falls at a rate governed by Θ's eigenvalues; their sum, the trace tr(Θ), bounds how fast. NASI's bet: a cell whose untrained network has a large NTK trace trains fast, and trains well. The panel "}<em>{"The NTK itself"}</em>{" computes Θ for a few inputs so you can see it."}</p>
            <h2 id="explain-objective">{"NASI's objective"}</h2>
            <p>{"Computing tr(Θ) needs one backward pass per input and class. NASI estimates it with one backward pass of the mini-batch loss (eq. 12):"}</p>
            { raw_html(MATH_ESTIMATOR) }
            <p>{"and maximises a reward with an optional penalty that keeps the trace below a threshold ν (eq. 8):"}</p>
            { raw_html(MATH_REWARD) }
            <p>{"Each step draws a batch (Gaussian noise with random labels: NASI needs neither data nor labels) and Gumbel noise g, forms the relaxed cell with weights softmax((α + g)/τ) at α = 0, and takes the gradient G = ∇α R. After T steps, α* sums the gradients, each divided by the largest gradient norm seen so far (eq. 18), and the cell is the argmax of α* on every edge."}</p>
            <h2 id="explain-alpha">{"Reading the weight chart"}</h2>
            <p>{"One row per edge; each column is a step; the coloured stack is softmax(α*) after that step (colours as in the legend and the cell). A colour that grows along a row is an op whose presence on that edge raises the NTK trace. Hover a row to find its edge; drag the timeline to replay any step."}</p>
            <h2 id="explain-cell">{"Reading the cell"}</h2>
            <p>{"Nodes 0–3 from input to output. Each edge shows its current argmax op by colour "}<em>{"and"}</em>{" dash pattern and glyph (∅ none, id skip, 1×1, 3×3, avg pool); its width grows with the op's probability. Grey edges cannot carry information from input to output."}</p>
            <h2 id="explain-settings">{"The settings"}</h2>
            <p>{"T: steps (gradient samples). b: batch of the estimator. C, N: channels and cells per stage of the supernet (a smaller proxy of NB201's network; C=16, N=5 is the real one). Input size: Gaussian images of that size. μ, ν: the penalty (μ = 0 turns it off; ν = mean uses the mean T̃ of earlier steps). τ: Gumbel-softmax temperature (lower: closer to one op per edge). Hard: each step's forward pass uses one op per edge, the gradient the soft mixture's. All settings are in the page's address: copy it to share the run."}</p>
            <h2 id="explain-files">{"Files"}</h2>
            <p>{"Runs of the command-line tool ("}<code>{"cargo run --release -- search"}</code>{") write trajectory.jsonl and result.json in the same format as the downloads here; load them to replay a full-scale native run. An NB201 accuracy table (arch,cifar10_test,cifar100_test,imagenet16_test) shows how well the selected cell really trains; the search never reads it."}</p>
        </article>
    }
}
