//! The exact NTK of the shown cell and the WebGPU-against-CPU check.

use super::*;
use crate::web::runner::{self};
use crate::web::state::{Action, NtkView};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

#[component]
pub(super) fn NtkPanel(props: &StateProps) -> Html {
    let s = &props.state;
    let g = s.shown_nb201();
    let darts = s
        .shown_genotype()
        .is_some_and(|g| g.space() == crate::space::SpaceKind::Darts);
    let onclick = {
        let st = s.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(g) = st.shown_nb201() {
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
                _ if darts => html! { <p class="muted">{"The exact NTK panel scores NAS-Bench-201 cells; for a DARTS genotype the CLI prints it: "}<code>{"nasi score --space darts 'Genotype(…)'"}</code></p> },
                Some(n) => html! { <NtkBody ntk={n.clone()} /> },
                None => html! { <p class="muted">{"Computes Θ for a batch of up to 8 inputs (b·10 backward passes) on this page's device."}</p> },
            } }
        </div>
    }
}

/// The exact NTK of one cell: its heat map and figures, redrawn only when the kernel changes.
#[derive(Properties, PartialEq)]
pub(super) struct NtkProps {
    pub(super) ntk: NtkView,
}

#[component]
pub(super) fn NtkBody(props: &NtkProps) -> Html {
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
pub(super) fn DeviceCheckView(props: &StateProps) -> Html {
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
