//! Import and export: trajectories, results, the cell drawing, accuracy tables.

use super::*;
use crate::search::{parse_result, parse_trajectory};
use crate::space::nb201::table::Table;
use crate::web::runner::control;
use crate::web::state::Action;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use yew::prelude::*;

#[component]
pub(super) fn Files(props: &StateProps) -> Html {
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
                    &super::cell::drawing(&g, probs),
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
