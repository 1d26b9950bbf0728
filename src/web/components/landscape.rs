//! The landscape: all 15,625 cells of the benchmark table on one dataset against their
//! parameters, the search's pick marked with its rank and percentile, the best cell, the
//! student's own, any cell under the pointer (with a button that shows it in the cell view), and
//! the random-search baseline computed exactly from the table.

use std::rc::Rc;

use super::*;
use crate::landscape::{
    Dataset, Frame, Landscape, Mark, Point, cells_to_match, curve_ns, landscape_svg, marks_svg,
    random_search_svg,
};
use crate::space::Genotype;
use crate::space::nb201::table::Table;
use crate::web::state::Action;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Only what the panel shows.
#[derive(Properties, PartialEq)]
pub(super) struct LandscapeProps {
    /// The benchmark table (the bundled one until a CSV replaces it).
    pub(super) table: Option<Rc<Table>>,
    pub(super) dataset: Dataset,
    /// The search's final pick (NB201 only).
    pub(super) pick: Option<Genotype>,
    /// The student's own cell.
    pub(super) custom: Option<Genotype>,
    /// The search's wall time, seconds.
    pub(super) seconds: Option<f64>,
    pub(super) dispatch: Dispatch,
}

/// The table's identity, so the landscape is rebuilt only for another table or dataset.
fn table_key(t: &Option<Rc<Table>>) -> usize {
    t.as_ref().map_or(0, |t| Rc::as_ptr(t) as usize)
}

#[component]
pub(super) fn LandscapePanel(props: &LandscapeProps) -> Html {
    let hover = use_state(|| None::<Point>);
    // yew delegates events to its root, so the plot's own box comes from a node ref.
    let plot = use_node_ref();
    let built = {
        let table = props.table.clone();
        use_memo((table_key(&props.table), props.dataset), move |&(_, d)| {
            table.map(|t| {
                let l = Landscape::new(&t, d);
                let f = Frame::of(&l);
                let svg = landscape_svg(&l, &f);
                let curve = l.random_search(&curve_ns());
                (l, f, svg, curve)
            })
        })
    };
    let d = props.dispatch.clone();
    let on_dataset = Callback::from(move |e: Event| {
        let v = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
            .map(|s| s.value());
        if let Some(ds) = v.as_deref().and_then(Dataset::from_key) {
            d.dispatch(Action::SetDataset(ds));
        }
    });
    let select = html! {
        <label class="landscape-dataset">{"Dataset "}<select aria-label="landscape dataset" onchange={on_dataset}>
            { for Dataset::ALL.iter().map(|ds| html! { <option value={ds.key()} selected={*ds == props.dataset}>{ds.label()}</option> }) }
        </select></label>
    };
    let Some((l, f, base, curve)) = built.as_ref() else {
        return html! { <div class="landscape">{select}<p class="empty">{"Fetching the bundled benchmark table…"}</p></div> };
    };
    let show = |g: Genotype| {
        let d = props.dispatch.clone();
        Callback::from(move |_: MouseEvent| d.dispatch(Action::EditCell(Some(g))))
    };
    // The last cell pointed at stays shown after the pointer leaves the plot, so its button
    // can be reached.
    let (on_move, on_click) = {
        let (h, h3) = (hover.clone(), hover.clone());
        let b = built.clone();
        let d = props.dispatch.clone();
        let node = plot.clone();
        let nearest = move |e: &MouseEvent| -> Option<Point> {
            let (l2, f2, _, _) = b.as_ref().as_ref()?;
            let el = node.cast::<web_sys::Element>()?;
            let r = el.get_bounding_client_rect();
            if r.width() <= 0.0 {
                return None;
            }
            // The overlay's view box is 560 wide; its height follows the aspect ratio.
            let k = 560.0 / r.width();
            let (sx, sy) = (
                (e.client_x() as f64 - r.left()) * k,
                (e.client_y() as f64 - r.top()) * k,
            );
            f2.nearest(l2, sx, sy, 6.0).copied()
        };
        let nearest2 = nearest.clone();
        (
            Callback::from(move |e: MouseEvent| {
                if let Some(p) = nearest(&e) {
                    h.set(Some(p));
                }
            }),
            Callback::from(move |e: MouseEvent| {
                if let Some(p) = nearest2(&e) {
                    h3.set(Some(p));
                    d.dispatch(Action::EditCell(Some(p.genotype)));
                }
            }),
        )
    };
    let mut marks = Vec::new();
    let best = l.best();
    if let Some(b) = best {
        marks.push(Mark {
            point: b,
            class: "best",
            color: "#b8860b",
            label: format!("best {:.2}", b.accuracy),
        });
    }
    let pick = props.pick.and_then(|g| l.point(&g));
    if let Some(p) = pick {
        marks.push(Mark {
            point: p,
            class: "pick",
            color: "#d55e00",
            label: format!("NASI {:.2}", p.accuracy),
        });
    }
    let mine = props.custom.and_then(|g| l.point(&g));
    if let Some(p) = mine {
        marks.push(Mark {
            point: p,
            class: "mine",
            color: "#009e73",
            label: format!("yours {:.2}", p.accuracy),
        });
    }
    if let Some(p) = hover.as_ref() {
        marks.push(Mark {
            point: p,
            class: "hover",
            color: "#000",
            label: String::new(),
        });
    }
    let overlay = marks_svg(l, f, &marks);
    let n = l.points.len();
    let rank_line = |what: &str, g: &Genotype| {
        l.rank(g).map(|(r, pct)| {
            format!(
                "{what}: rank {r} of {n} on {} (at least as good as {pct:.1} % of the cells)",
                l.dataset.label()
            )
        })
    };
    let pick_rank = props.pick.and_then(|g| l.rank(&g));
    let summary = props
        .pick
        .and_then(|g| rank_line("NASI's pick", &g))
        .unwrap_or_else(|| "No NB201 pick yet: run or replay a search.".into());
    let pick_acc = pick.map(|p| p.accuracy);
    let random = pick_acc.map(|a| match cells_to_match(curve, a) {
        Some(k) => format!(
            "Random search has to train about {k} cells ({} epochs each) before it expects this accuracy; NASI trained none{}.",
            200,
            props.seconds.map_or(String::new(), |s| format!(" and took {s:.1} s"))
        ),
        None => "Random search does not expect to reach this accuracy within 1000 trained cells.".into(),
    });
    html! {
        <div class="landscape">
            {select}
            <p class="landscape-summary" data-rank={pick_rank.map(|r| r.0.to_string())}>{summary}
                { best.map(|b| html! { <>{format!(". The best cell: {:.2} ", b.accuracy)}<code>{b.genotype.to_string()}</code>{"."}</> }).unwrap_or_default() }
            </p>
            { props.custom.and_then(|g| rank_line("Your cell", &g)).map(|t| html! { <p class="landscape-mine">{t}</p> }).unwrap_or_default() }
            <div class="landscape-plot" ref={plot} onmousemove={on_move} onclick={on_click}>
                { raw_svg(base.clone()) }
                <div class="landscape-overlay">{ raw_svg(overlay) }</div>
            </div>
            <div class="landscape-hover" aria-live="polite">
                { match hover.as_ref() {
                    Some(p) => {
                        let a = props.table.as_ref().and_then(|t| t.get(&p.genotype));
                        html! { <>
                            <code data-hover={p.genotype.to_string()}>{p.genotype.to_string()}</code>
                            { a.map(|a| format!(" CIFAR-10 {:.2}, CIFAR-100 {:.2}, ImageNet16-120 {:.2}; {:.2} M parameters ", a.cifar10, a.cifar100, a.imagenet16, p.params as f64 / 1e6)).unwrap_or_default() }
                            <button class="load-hovered" onclick={show(p.genotype)}>{"Show this cell in the cell view"}</button>
                        </> }
                    }
                    None => html! { <span class="muted">{"Point at a cell to see it; click to show it in the cell view (and edit it there)."}</span> },
                } }
            </div>
            <div class="buttons">
                { best.map(|b| html! { <button class="load-best" onclick={show(b.genotype)}>{"Show the best cell"}</button> }).unwrap_or_default() }
                { props.pick.map(|g| html! { <button onclick={show(g)}>{"Show NASI's pick"}</button> }).unwrap_or_default() }
            </div>
            <h3>{"What random search would have found"}</h3>
            { raw_svg(random_search_svg(curve, pick_acc, l.dataset)) }
            <p class="random-search-text">{ random.unwrap_or_else(|| "The curve: the expected best accuracy of n cells drawn at random and trained, computed exactly from the table.".into()) }</p>
            <p class="muted">{"Parameters: each cell's network at NAS-Bench-201's size (C = 16, N = 5) in our layout, batch-norm parameters not counted. Accuracies: NATS-Bench's 200-epoch test accuracies (bundled, MIT licence), for reporting only: the search never reads them. The table has no training times, so random search's cost is counted in trained cells."}</p>
        </div>
    }
}
