//! What the controls, the keyboard and the loaders ask for: the [`Command`]s the app maps buttons
//! and keys to, and the loading of a recorded preset as a new run.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use yew::prelude::*;

use super::runner::control;
use super::state::{Action, Playground};
use crate::search::parse_trajectory;
use crate::space::nb201::table::Table;

pub(super) fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

fn reduced_motion() -> bool {
    window()
        .match_media("(prefers-reduced-motion: reduce)")
        .ok()
        .flatten()
        .is_some_and(|m| m.matches())
}

/// A same-origin GET that answered 2xx; errors name the URL.
async fn fetch_ok(url: &str) -> Result<web_sys::Response, String> {
    let resp = JsFuture::from(window().fetch_with_str(url))
        .await
        .map_err(|_| format!("cannot fetch {url}"))?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| "not a response".to_string())?;
    if !resp.ok() {
        return Err(format!("{url}: HTTP {}", resp.status()));
    }
    Ok(resp)
}

async fn fetch_text(url: &str) -> Result<String, String> {
    let resp = fetch_ok(url).await?;
    let text = JsFuture::from(resp.text().map_err(|_| "no body".to_string())?)
        .await
        .map_err(|_| "cannot read the body".to_string())?;
    text.as_string()
        .ok_or_else(|| "the body is not text".into())
}

/// Fetches the bundled NB201 accuracy table (`nb201.bin`, from `www/nb201.bin`) for reporting,
/// after the first paint; a failure is one notice and the page goes on without it.
pub(super) fn load_bundled_table(dispatch: UseReducerDispatcher<Playground>) {
    spawn_local(async move {
        let bytes = async {
            let resp = fetch_ok("nb201.bin").await?;
            let buf = JsFuture::from(resp.array_buffer().map_err(|_| "no body".to_string())?)
                .await
                .map_err(|_| "cannot read nb201.bin".to_string())?;
            Ok(js_sys::Uint8Array::new(&buf).to_vec())
        };
        match bytes
            .await
            .and_then(|b| Table::from_bundle(&b).map_err(|e| e.to_string()))
        {
            Ok(t) => dispatch.dispatch(Action::BundledTable(std::rc::Rc::new(t))),
            Err(e) => dispatch.dispatch(Action::Notice(format!(
                "the bundled NAS-Bench-201 table did not load ({e}); load a CSV to see accuracies"
            ))),
        }
    });
}

/// Loads `www/presets/NAME.jsonl` (a CLI trajectory) and replays it as a new run;
/// `adopt_config` takes its settings into the form (see [`Action::Load`]).
pub(super) fn load_preset(
    name: String,
    adopt_config: bool,
    dispatch: UseReducerDispatcher<Playground>,
) {
    let run = control().begin_run();
    spawn_local(async move {
        match fetch_text(&format!("presets/{name}.jsonl"))
            .await
            .and_then(|t| parse_trajectory(&t))
        {
            Ok(events) => dispatch.dispatch(Action::Load {
                run,
                source: format!("preset `{name}` (recorded by the CLI)"),
                events,
                instant: reduced_motion(),
                adopt_config,
            }),
            Err(e) => dispatch.dispatch(Action::Notice(format!("preset `{name}`: {e}"))),
        }
    });
}

/// What the controls and the keyboard can ask for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Command {
    /// Start a live run, or pause/resume it.
    RunPause,
    /// One live step (starting a paused run if needed); during a replay, reveal one.
    Step,
    /// Move the timeline back one step.
    Back,
    /// Restart with the same seed.
    Reset,
    /// Pick a new seed and restart.
    NewSeed,
    /// Stop the live run, keeping its steps.
    Stop,
    /// Toggle the keyboard help.
    Help,
}
