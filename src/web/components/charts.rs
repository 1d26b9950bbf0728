//! The α chart with the timeline, and the T̃ / R chart.

use super::*;
use crate::search::StepRecord;
use crate::space::SpaceKind;
use crate::web::state::Action;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// The steps (shared, compared by content only when the pointer differs), the timeline position
/// and the edge under the pointer.
#[derive(Properties, PartialEq)]
pub(super) struct ChartProps {
    pub(super) steps: Rc<Vec<StepRecord>>,
    pub(super) selected: Option<usize>,
    #[prop_or_default]
    pub(super) hover: Option<usize>,
    #[prop_or_default]
    pub(super) dispatch: Option<Dispatch>,
}

#[component]
pub(super) fn Trajectory(props: &ChartProps) -> Html {
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
    let space = props
        .steps
        .first()
        .and_then(|s| SpaceKind::of_shape(s.probs.shape()))
        .unwrap_or_default();
    let (names, colors) = (space.op_names(), space.op_colors());
    html! {
        <div>
            <div class="chart-wrap" {onmouseover}>{ raw_svg(svg) }</div>
            <label class="scrubber">{format!("Step {} / {}", if n == 0 { 0 } else { pos + 1 }, n)}
                <input type="range" min="0" max={n.saturating_sub(1).to_string()} value={pos.to_string()} {oninput} disabled={n == 0} aria-label="timeline: replay any step" /></label>
            <p class="legend">{ for names.iter().zip(colors).map(|(op, c)| html! {
                <span><i style={format!("background:{c}")}></i>{*op}</span> }) }</p>
        </div>
    }
}

#[component]
pub(super) fn TraceChart(props: &ChartProps) -> Html {
    html! { <div class="chart-wrap">{ raw_svg(crate::plot::trace_chart(&props.steps, props.selected)) }</div> }
}
