//! The page's components, each named for what it shows and taking the narrowest props it
//! needs; the helpers they share (SVG and MathML insertion, panels, help links, downloads).

mod cell;
mod charts;
mod compare;
mod controls;
mod explain;
mod files;
mod landscape;
mod lesson;
mod ntk;
mod page;
mod refine;

pub use page::Page;

use super::state::{Action, Playground};
use wasm_bindgen::JsCast;
use yew::prelude::*;

pub(super) type State = UseReducerHandle<Playground>;

pub(super) type Dispatch = UseReducerDispatcher<Playground>;

/// The edge an event happened on: its target or an ancestor with a `data-edge` attribute.
pub(super) fn edge_of(e: &MouseEvent) -> Option<usize> {
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|el| el.closest("[data-edge]").ok().flatten())
        .and_then(|el| el.get_attribute("data-edge"))
        .and_then(|v| v.parse::<usize>().ok())
}

/// Dispatches the edge under the pointer (any element inside one with a `data-edge` attribute).
pub(super) fn hover_edge(d: &Dispatch) -> Callback<MouseEvent> {
    let d = d.clone();
    Callback::from(move |e: MouseEvent| {
        d.dispatch(Action::Hover(edge_of(&e)));
    })
}

pub(super) fn raw_svg(svg: String) -> Html {
    Html::from_html_unchecked(AttrValue::from(svg))
}

pub(super) fn raw_html(markup: &'static str) -> Html {
    Html::from_html_unchecked(AttrValue::from(markup))
}

/// One titled panel of the grid: a section labelled by its heading, with the heading's "?" link to
/// the explanation `anchor`.
/// Highlighted (`lesson-focus`) when `focus`: the lesson's step is about it.
pub(super) fn panel_focus(
    id: &'static str,
    title: &'static str,
    anchor: &'static str,
    focus: bool,
    body: Html,
) -> Html {
    html! {
        <section class={classes!("panel", focus.then_some("lesson-focus"))} aria-labelledby={id}>
            <h2 id={id}>{title}{help_link(anchor)}</h2>
            {body}
        </section>
    }
}

pub(super) fn help_link(anchor: &'static str) -> Html {
    html! { <a class="help" href={format!("#explain-{anchor}")} aria-label={format!("explanation: {anchor}")} title="What is this?"
    onclick={Callback::from(move |e: MouseEvent| {
        e.prevent_default();
        if let Some(el) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id(&format!("explain-{anchor}"))) {
            el.scroll_into_view();
        }
    })}>{"?"}</a> }
}

#[derive(Properties, PartialEq)]
pub struct StateProps {
    pub state: State,
}

pub(super) fn download(name: &str, mime: &str, text: &str) {
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
