//! The search settings, presets and run buttons.

use super::*;
use crate::config::{DataSpec, NuRule, PRESETS, SearchConfig, SpaceKind, preset};
use crate::web::commands::{Command, load_preset};
use crate::web::state::{Action, Status};
use wasm_bindgen::JsCast;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ControlProps {
    pub state: State,
    pub command: Callback<Command>,
}

pub(super) fn num_input(
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

/// The value of the `<select>` an event came from.
fn selected(e: &Event) -> Option<String> {
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
        .map(|s| s.value())
}

#[component]
pub(super) fn Controls(props: &ControlProps) -> Html {
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
            let Some(name) = selected(&e) else { return };
            if let Some(cfg) = preset(&name) {
                st.dispatch(Action::SetConfig(cfg));
                load_preset(name, true, st.dispatcher());
            }
        })
    };
    // A space's own settings: NB201's defaults do not make a DARTS network (3 cells or more),
    // so switching space starts from that space's page preset, keeping the seed.
    let on_space = {
        let st = s.clone();
        Callback::from(move |e: Event| {
            let Some(space) = selected(&e) else { return };
            let name = if space == "darts" {
                "darts-tiny"
            } else {
                "default"
            };
            if let Some(cfg) = preset(name) {
                st.dispatch(Action::SetConfig(SearchConfig {
                    seed: st.config.seed,
                    ..cfg
                }));
            }
        })
    };
    let on_data = {
        let st = s.clone();
        Callback::from(move |e: Event| {
            if let Some(data) = selected(&e).and_then(|v| v.parse::<DataSpec>().ok()) {
                st.dispatch(Action::SetConfig(SearchConfig {
                    data,
                    ..st.config.clone()
                }));
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
        <section class={classes!("controls", (super::lesson::target(s.lesson) == Some("controls-h")).then_some("lesson-focus"))} aria-labelledby="controls-h">
            <h2 id="controls-h" class="visually-hidden">{"Search controls"}</h2>
            <div class="buttons">
                <button onclick={cmd(Command::RunPause)} title="Space" aria-label={format!("{run_label} (Space)")} class="primary">{run_label}</button>
                <button onclick={cmd(Command::Step)} title="→" aria-label="one step (right arrow)">{"Step"}</button>
                <button onclick={cmd(Command::Stop)} disabled={!live} aria-label="stop the live run">{"Stop"}</button>
                <button onclick={cmd(Command::Reset)} title="R" aria-label="reset: rerun with the same seed (R)">{"Reset"}</button>
                <button onclick={cmd(Command::NewSeed)} title="S" aria-label="new seed (S)">{"New seed"}</button>
                <button onclick={copy_link} aria-label="Copy link to this run">{"Copy link"}</button>
                <button onclick={cmd(Command::Help)} title="?" aria-label="Keys: keyboard shortcuts (?)">{"Keys"}</button>
            </div>
            <fieldset disabled={live}>
                <legend>{"Settings"}{help_link("settings")}</legend>
                <label>{"Space"}<select name="space" onchange={on_space} aria-label="search space">
                    <option value="nb201" selected={c.space == SpaceKind::Nb201}>{"NAS-Bench-201 (one cell, 5 ops)"}</option>
                    <option value="darts" selected={c.space == SpaceKind::Darts}>{"DARTS (normal + reduction cell, 8 ops)"}</option>
                </select></label>
                <label>{"Preset"}<select onchange={on_preset} aria-label="preset">
                    { for PRESETS.iter().map(|(k, label)| html! { <option value={*k} selected={preset(k).as_ref() == Some(c)}>{*label}</option> }) }
                </select></label>
                { num_input("Seed", "seed", c.seed.to_string(), "1", s) }
                { num_input("Steps T", "steps", c.steps.to_string(), "1", s) }
                { num_input("Batch b", "batch", c.batch.to_string(), "1", s) }
                { num_input("Channels C", "channels", c.channels.to_string(), "1", s) }
                { num_input(if c.space == SpaceKind::Darts { "Cells (all)" } else { "Cells N per stage" }, "cells", c.cells.to_string(), "1", s) }
                { num_input("Input size", "size", c.size.to_string(), "4", s) }
                { num_input("μ", "mu", c.mu.to_string(), "0.1", s) }
                <label>{"ν"}<input type="text" name="nu" value={nu} onchange={on_nu} size="6" aria-label="nu: a number or mean" /></label>
                { num_input("τ", "tau", c.tau.to_string(), "0.1", s) }
                { num_input("Second stage K (0 = off)", "refine", c.refine.to_string(), "1", s) }
                <label><input type="checkbox" name="hard" checked={c.hard} onchange={on_hard} />{"hard (straight-through)"}</label>
                <label>{"Data"}<select name="data" aria-label="data mode" onchange={on_data}>
                    <option value="pink" selected={c.data == DataSpec::Pink}>{"pink noise (1/f², like images), random labels"}</option>
                    <option value="gaussian" selected={c.data == DataSpec::Gaussian}>{"white Gaussian noise, random labels"}</option>
                </select></label>
            </fieldset>
        </section>
    }
}
