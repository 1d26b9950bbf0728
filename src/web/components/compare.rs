//! Two runs side by side: a kept ("pinned") run and the shown one — two seeds, τ = 1 against
//! τ = 2, a preset against a live run — with both cells, both α charts, both accuracies, and
//! the difference named: the settings that differ, the edges whose ops differ, the accuracy gap.

use std::rc::Rc;

use super::*;
use crate::search::{SearchResult, StepRecord};
use crate::space::AnyGenotype;
use crate::space::nb201::table::{Accuracies, Table};
use crate::web::state::{Action, PinnedRun, config_differences};
use yew::prelude::*;

/// Only what the view shows.
#[derive(Properties, PartialEq)]
pub(super) struct CompareProps {
    pub(super) pinned: Option<Rc<PinnedRun>>,
    /// The shown run's result (once finished) and steps.
    pub(super) current: Option<SearchResult>,
    pub(super) steps: Rc<Vec<StepRecord>>,
    /// The shown run's source.
    pub(super) source: String,
    pub(super) table: Option<Rc<Table>>,
    pub(super) dispatch: Dispatch,
}

fn accuracy(t: &Option<Rc<Table>>, g: &AnyGenotype) -> Option<Accuracies> {
    g.nb201().and_then(|g| t.as_ref().and_then(|t| t.get(g)))
}

fn column(label: &str, r: &SearchResult, steps: &[StepRecord], a: Option<Accuracies>) -> Html {
    let g = r.pick();
    html! {
        <div class="compare-run">
            <h3>{label.to_string()}</h3>
            <div class="compare-cell">{ raw_svg(super::cell::drawing(g, None)) }</div>
            <p><code class="compare-genotype">{g.to_string()}</code></p>
            <p class="compare-acc">{ match a {
                Some(a) => format!("CIFAR-10 {:.2}, CIFAR-100 {:.2}, ImageNet16-120 {:.2}", a.cifar10, a.cifar100, a.imagenet16),
                None => "no benchmark accuracy (not an NB201 cell, or no table)".into(),
            } }</p>
            <div class="chart-wrap">{ raw_svg(crate::plot::alpha_chart(steps, None, None)) }</div>
        </div>
    }
}

/// What differs between two finished runs, in words.
fn differences(
    a: &SearchResult,
    b: &SearchResult,
    aa: Option<Accuracies>,
    ba: Option<Accuracies>,
) -> Vec<String> {
    let mut out = Vec::new();
    let settings = config_differences(&b.config, &a.config).replace("(the form: ", "(kept: ");
    out.push(if settings.is_empty() {
        "Settings: the same.".into()
    } else {
        format!("Settings: {settings}.")
    });
    match (a.pick(), b.pick()) {
        (AnyGenotype::Nb201(x), AnyGenotype::Nb201(y)) => {
            let edges: Vec<String> = crate::space::EDGES
                .iter()
                .enumerate()
                .filter(|(e, _)| x.ops[*e] != y.ops[*e])
                .map(|(e, (to, from))| {
                    format!("{to}←{from}: {} → {}", x.ops[e].name(), y.ops[e].name())
                })
                .collect();
            out.push(if edges.is_empty() {
                "Cells: the same cell.".into()
            } else {
                format!(
                    "Cells differ on {} edge(s): {}.",
                    edges.len(),
                    edges.join("; ")
                )
            });
        }
        (x, y) if x == y => out.push("Cells: the same genotype.".into()),
        _ => out.push("Cells: different genotypes.".into()),
    }
    if let (Some(p), Some(q)) = (aa, ba) {
        out.push(format!(
            "Accuracy, shown minus kept: CIFAR-10 {:+.2}, CIFAR-100 {:+.2}, ImageNet16-120 {:+.2}.",
            q.cifar10 - p.cifar10,
            q.cifar100 - p.cifar100,
            q.imagenet16 - p.imagenet16
        ));
    }
    out
}

#[component]
pub(super) fn ComparePanel(props: &CompareProps) -> Html {
    let d = props.dispatch.clone();
    let pin = Callback::from(move |_: MouseEvent| d.dispatch(Action::Pin));
    let d = props.dispatch.clone();
    let unpin = Callback::from(move |_: MouseEvent| d.dispatch(Action::Unpin));
    let Some(p) = &props.pinned else {
        return html! { <div class="compare">
            <p class="muted">{"Keep a finished run, then replay or run another (a new seed, τ = 1, the paper preset, the second stage off with K = 0) to see both side by side."}</p>
            <button class="pin" onclick={pin} disabled={props.current.is_none()}>{"Keep this run for comparison"}</button>
        </div> };
    };
    let pa = accuracy(&props.table, p.result.pick());
    html! {
        <div class="compare">
            <div class="compare-runs">
                { column(&format!("Kept: {}", p.label), &p.result, &p.steps, pa) }
                { match &props.current {
                    Some(r) => column(&format!("Shown: {} (seed {})", props.source, r.seed), r, &props.steps, accuracy(&props.table, r.pick())),
                    None => html! { <div class="compare-run"><p class="muted">{"Replay or run another search: it appears here when it finishes."}</p></div> },
                } }
            </div>
            { props.current.as_ref().map(|r| html! {
                <ul class="compare-diff" aria-label="what differs">
                    { for differences(&p.result, r, pa, accuracy(&props.table, r.pick())).into_iter().map(|t| html! { <li>{t}</li> }) }
                </ul>
            }).unwrap_or_default() }
            <div class="buttons">
                <button class="pin" onclick={pin} disabled={props.current.is_none()}>{"Keep the shown run instead"}</button>
                <button class="unpin" onclick={unpin}>{"Close the comparison"}</button>
            </div>
        </div>
    }
}
