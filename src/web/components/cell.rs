//! The selected cell: its drawing, its text (NB201's string or DARTS's `Genotype(...)`) and,
//! for NB201, its benchmark accuracy.

use super::*;
use crate::space::nb201::table::Accuracies;
use crate::space::{AnyGenotype, ArchTable};
use crate::web::state::Action;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// The cell's drawing as SVG text: NB201's one cell, or DARTS's normal and reduction cells.
pub(super) fn drawing(g: &AnyGenotype, probs: Option<&ArchTable>) -> String {
    match g {
        AnyGenotype::Nb201(g) => crate::space::nb201::draw::cell_svg(g, probs),
        AnyGenotype::Darts(g) => crate::space::darts::draw::cells_svg(g, probs),
    }
}

/// What the cell view shows: only these, so a change elsewhere (a new step in the charts, a
/// notice) does not redraw the cell.
#[derive(Properties, PartialEq)]
pub(super) struct CellProps {
    pub(super) genotype: Option<AnyGenotype>,
    pub(super) probs: Option<ArchTable>,
    pub(super) accuracy: Option<Accuracies>,
    /// Its CIFAR-10 rank among the table's cells (1 = best).
    #[prop_or_default]
    pub(super) rank: Option<usize>,
    pub(super) table_loaded: bool,
    /// Whether the table is the bundled one (its provenance is named).
    #[prop_or_default]
    pub(super) bundled: bool,
    /// Whether the cell is the student's own (edited, or picked in the landscape).
    #[prop_or_default]
    pub(super) custom: bool,
    /// What an edit needs to score the edited cell: the page's settings and run, and whether a
    /// live run holds the device (editing waits for it).
    #[prop_or_default]
    pub(super) edit: Option<EditContext>,
    pub(super) dispatch: Dispatch,
}

/// The settings the edited cell's NTK is computed with, and the run it belongs to.
#[derive(Clone, PartialEq)]
pub(super) struct EditContext {
    pub(super) config: crate::config::SearchConfig,
    pub(super) run: crate::web::state::RunId,
}

/// Shows `g` as the student's cell and computes its standalone T̃ and exact NTK on the page's
/// device.
fn edit_to(g: crate::space::Genotype, ctx: &EditContext, d: &Dispatch) {
    d.dispatch(Action::EditCell(Some(g)));
    wasm_bindgen_futures::spawn_local(crate::web::runner::compute_ntk(
        ctx.config.clone(),
        g,
        ctx.run,
        d.clone(),
    ));
}

#[component]
pub(super) fn CellView(props: &CellProps) -> Html {
    let Some(g) = props.genotype else {
        return html! { <p class="empty">{"No cell yet: press Run."}</p> };
    };
    let svg = drawing(&g, props.probs.as_ref());
    let text = g.to_string();
    let copy = {
        let t = text.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(w) = web_sys::window() {
                let _ = w.navigator().clipboard().write_text(&t);
            }
        })
    };
    let d = match g {
        AnyGenotype::Nb201(g) => return nb201_view(props, g, svg, text, copy),
        AnyGenotype::Darts(d) => d,
    };
    {
        let params = crate::net::darts::eval_params(&d);
        html! {
            <div class="cell darts">
                <div class="cell-svg">{ raw_svg(svg) }</div>
                <p><code class="genotype" data-genotype={text.clone()}>{text.clone()}</code>
                   <button onclick={copy} aria-label="copy the DARTS genotype">{"Copy"}</button></p>
                <p class="acc" data-params={params.to_string()}>{format!("Evaluation network (C = 36, 20 cells, no auxiliary head): {params} parameters ({:.2} MB).", params as f64 / 1e6)}</p>
                <details><summary>{"How to read and train this genotype"}</summary>
                    <p>{"DARTS searches two cells at once: a normal cell and a reduction cell (stride 2, used at 1/3 and 2/3 of the network's depth). Each cell takes the outputs of the two previous cells, c_{k-2} and c_{k-1}, builds 4 nodes and concatenates them into c_{k}. Each pair "}
                       <code>{"('op', j)"}</code>{" applies op to input j (0 = c_{k-2}, 1 = c_{k-1}, 2–5 = the nodes before); every node sums two such pairs. NASI ranks each node's inputs by their strongest op other than none, as DARTS's own genotype() does."}</p>
                    <p>{"To train it: paste the line into DARTS's cnn/genotypes.py under a name, e.g. NASI = Genotype(…), and run "}<code>{"python train.py --arch NASI --auxiliary --cutout"}</code>{" (no benchmark table exists for this space)."}</p>
                </details>
            </div>
        }
    }
}

fn nb201_view(
    props: &CellProps,
    g: crate::space::Genotype,
    svg: String,
    text: String,
    copy: Callback<MouseEvent>,
) -> Html {
    let onmouseover = hover_edge(&props.dispatch);
    let onmouseleave = {
        let d = props.dispatch.clone();
        Callback::from(move |_: MouseEvent| d.dispatch(Action::Hover(None)))
    };
    // A click on an edge gives it the next op (none → skip → 1×1 → 3×3 → avg pool → none).
    let onclick = {
        let (d, ctx) = (props.dispatch.clone(), props.edit.clone());
        Callback::from(move |e: MouseEvent| {
            let Some(ctx) = &ctx else { return };
            if let Some(e) = edge_of(&e).filter(|&e| e < crate::space::NUM_EDGES) {
                let mut ops = g.indices();
                ops[e] = (ops[e] + 1) % crate::space::NUM_OPS;
                if let Ok(next) = crate::space::Genotype::from_indices(&ops) {
                    edit_to(next, ctx, &d);
                }
            }
        })
    };
    let selects = props.edit.as_ref().map(|ctx| {
        html! {
            <fieldset class="edit-cell">
                <legend>{"Change an edge (or click it in the drawing)"}</legend>
                { for crate::space::EDGES.iter().enumerate().map(|(e, &(to, from))| {
                    let (d, ctx) = (props.dispatch.clone(), ctx.clone());
                    let onchange = Callback::from(move |ev: Event| {
                        let v = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok()).map(|s| s.value());
                        let Some(k) = v.and_then(|v| v.parse::<usize>().ok()) else { return };
                        let mut ops = g.indices();
                        ops[e] = k;
                        if let Ok(next) = crate::space::Genotype::from_indices(&ops) {
                            edit_to(next, &ctx, &d);
                        }
                    });
                    html! { <label>{format!("edge {to}←{from}")}
                        <select name={format!("edge{e}")} aria-label={format!("op on edge {to}←{from}")} {onchange}>
                            { for crate::space::Op::ALL.iter().enumerate().map(|(k, op)| html! {
                                <option value={k.to_string()} selected={g.ops[e] == *op}>{op.name()}</option> }) }
                        </select></label> }
                }) }
            </fieldset>
        }
    });
    let back = props.custom.then(|| {
        let d = props.dispatch.clone();
        html! { <p class="custom-note"><strong>{"Your cell"}</strong>{" (edited by you, not the search's pick). "}
            <button class="back-to-search" onclick={Callback::from(move |_: MouseEvent| d.dispatch(Action::EditCell(None)))}>{"Back to the search's cell"}</button></p> }
    });
    html! {
        <div class={classes!("cell", props.custom.then_some("custom"))}>
            { back.unwrap_or_default() }
            <div class="cell-svg" {onmouseover} {onmouseleave} {onclick}>{ raw_svg(svg) }</div>
            <p><code class="genotype" data-genotype={text.clone()}>{text.clone()}</code>
               <button onclick={copy} aria-label="copy the NB201 string">{"Copy"}</button></p>
            <p class="indices">{format!("op indices (edge order 1←0, 2←0, 2←1, 3←0, 3←1, 3←2): {:?}", g.indices())}</p>
            { selects.unwrap_or_default() }
            <details><summary>{"How to read this string"}</summary>
                <p>{"Each |…| group lists the inputs of one node: the first group is node 1, the second node 2, the third node 3 (the cell's output). "}
                   <code>{"op~i"}</code>{" means: apply op to node i and add the result. Node 0 is the cell's input. Ops: none (no edge), skip_connect (identity), nor_conv_1x1 and nor_conv_3x3 (ReLU → conv → batch norm), avg_pool_3x3."}</p>
            </details>
            { match props.accuracy {
                Some(a) => html! { <p class="acc" data-rank={props.rank.map(|r| r.to_string())}>
                    {format!("NAS-Bench-201 test accuracy: CIFAR-10 {:.2} %, CIFAR-100 {:.2} %, ImageNet16-120 {:.2} %", a.cifar10, a.cifar100, a.imagenet16)}
                    { props.rank.map(|r| format!("; CIFAR-10 rank {r} of 15,625 (top {:.1} %)", 100.0 * r as f64 / 15_625.0)).unwrap_or_default() }
                    if props.bundled { <span class="muted">{" (bundled: NATS-Bench's 200-epoch test accuracies, MIT licence, via v-tao/nats-bench-landscape; never read by the search)"}</span> }
                </p> },
                None if props.table_loaded => html! { <p class="acc">{"This cell is not in the loaded table."}</p> },
                None => html! { <p class="acc muted">{"Load an NB201 accuracy table (below) to see how well this cell trains."}</p> },
            } }
        </div>
    }
}
