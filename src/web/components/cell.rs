//! The selected cell: its drawing, its NB201 string and its benchmark accuracy.

use super::*;
use crate::space::nb201::table::Accuracies;
use crate::space::{ArchTable, Genotype};
use crate::web::state::Action;
use yew::prelude::*;

/// What the cell view shows: only these, so a change elsewhere (a new step in the charts, a
/// notice) does not redraw the cell.
#[derive(Properties, PartialEq)]
pub(super) struct CellProps {
    pub(super) genotype: Option<Genotype>,
    pub(super) probs: Option<ArchTable>,
    pub(super) accuracy: Option<Accuracies>,
    pub(super) table_loaded: bool,
    pub(super) dispatch: Dispatch,
}

#[component]
pub(super) fn CellView(props: &CellProps) -> Html {
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
