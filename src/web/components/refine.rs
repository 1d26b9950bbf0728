//! The second stage (`--refine K`, our extension of Algorithm 1): the K cells α* ranks highest,
//! each scored as its own network by the proxies, and the pick by their summed log-rank; with
//! both picks' benchmark accuracies when the table is there, so a class sees what it changed.

use super::*;
use crate::refine::Refined;
use crate::space::AnyGenotype;
use crate::space::nb201::table::Accuracies;
use yew::prelude::*;

/// Only what the panel shows.
#[derive(Properties, PartialEq)]
pub(super) struct RefineProps {
    /// The finished stage.
    pub(super) refined: Option<Refined>,
    /// Algorithm 1's own pick (the argmax of α*).
    pub(super) nasi: Option<AnyGenotype>,
    pub(super) nasi_accuracy: Option<Accuracies>,
    pub(super) pick_accuracy: Option<Accuracies>,
    /// Candidates scored and in all, while it runs.
    pub(super) progress: Option<(usize, usize)>,
    /// The form's K (0: the stage is off).
    pub(super) k: usize,
}

/// How many candidate rows the table lists (the pick is always listed).
const ROWS: usize = 8;

fn acc_cells(a: Option<Accuracies>) -> Html {
    match a {
        Some(a) => html! { <>
            <td>{format!("{:.2}", a.cifar10)}</td><td>{format!("{:.2}", a.cifar100)}</td><td>{format!("{:.2}", a.imagenet16)}</td>
        </> },
        None => html! { <td colspan="3">{"—"}</td> },
    }
}

fn value(v: Option<f64>) -> String {
    match v {
        Some(v) if v.abs() >= 1e4 || (v != 0.0 && v.abs() < 1e-2) => format!("{v:.3e}"),
        // Counts (the depth) as integers.
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
        None => "—".into(),
    }
}

#[component]
pub(super) fn RefinePanel(props: &RefineProps) -> Html {
    if let Some((done, total)) = props.progress {
        return html! {
            <div class="refine">
                <p>{format!("Scoring candidate network {done} of {total} (on the CPU)…")}</p>
                <progress max={total.to_string()} value={done.to_string()} aria-label="second stage progress"></progress>
            </div>
        };
    }
    let Some(r) = &props.refined else {
        let why = if props.k == 0 {
            "Off (K = 0): the pick is Algorithm 1's argmax of α*.".to_string()
        } else {
            format!(
                "After the search, the {} cells that α* ranks highest are rebuilt as their own networks and rescored here.",
                props.k
            )
        };
        return html! { <p class="empty">{why}</p> };
    };
    let k = r.candidates.len();
    let first = k - r.climbed.min(k);
    let text = r.genotype.to_string();
    let changed = props.nasi != Some(r.genotype);
    let shown: Vec<usize> = (0..k.min(ROWS))
        .chain((r.pick >= ROWS).then_some(r.pick))
        .collect();
    html! {
        <div class="refine">
            <p>{format!(
                "α* (eq. 18) ranks every cell. The {first} it ranks highest were each built as a standalone network on {} and scored by {}. \
                 Each proxy ranks them 1…{k}; a cell's score is Σ ln(rank/{k}), 0 if it is first on every proxy, so one bad rank costs more than a good one gains (AZ-NAS's rule){}.{} \
                 This stage is our extension of the paper's Algorithm 1.",
                if r.draws > 1 { format!("{} draws of weights and first batch", r.draws) } else { "the search's weights and first batch".into() },
                r.proxies.join(", "),
                if r.draws > 1 { ", averaged over the draws" } else { "" },
                if r.climbed > 0 {
                    format!(" Then it climbed: the leading cell's one-edge variants joined and were scored, {} more cells, until the leader's variants were all in (so every edge was judged with the others kept) or the rounds ran out.", r.climbed)
                } else { String::new() }
            )}</p>
            <div class="refine-cell">{ raw_svg(super::cell::drawing(&r.genotype, None)) }</div>
            <p><code class="refined-genotype" data-genotype={text.clone()}>{text}</code></p>
            <table class="refine-compare">
                <caption>{if changed { "The second stage changed the pick" } else { "The second stage kept Algorithm 1's pick" }}</caption>
                <thead><tr><th scope="col">{"pick"}</th><th scope="col">{"CIFAR-10"}</th><th scope="col">{"CIFAR-100"}</th><th scope="col">{"IN16-120"}</th></tr></thead>
                <tbody>
                    <tr><th scope="row">{"Algorithm 1 (argmax of α*)"}</th>{acc_cells(props.nasi_accuracy)}</tr>
                    <tr><th scope="row">{format!("after the second stage (candidate {})", r.pick + 1)}</th>{acc_cells(props.pick_accuracy)}</tr>
                </tbody>
            </table>
            <table class="refine-candidates">
                <caption>{format!("Candidates by α* rank ({} of {k} listed)", shown.len())}</caption>
                <thead><tr>
                    <th scope="col">{"α* rank"}</th><th scope="col">{"cell"}</th>
                    { for r.proxies.iter().map(|p| html! { <th scope="col">{p.clone()}</th> }) }
                    <th scope="col">{"Σ ln(rank/K)"}</th>
                </tr></thead>
                <tbody>
                    { for shown.iter().map(|&i| {
                        let c = &r.candidates[i];
                        let pick = i == r.pick;
                        html! { <tr class={classes!(pick.then_some("pick"))} aria-current={pick.then_some("true")}>
                            <td>{i + 1}</td><td><code>{c.genotype.to_string()}</code></td>
                            { for c.scores.iter().map(|v| html! { <td>{value(*v)}</td> }) }
                            <td>{format!("{:.3}", c.aggregate)}</td>
                        </tr> }
                    }) }
                </tbody>
            </table>
        </div>
    }
}
