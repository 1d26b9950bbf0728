//! The app: mounts the page, wires the reducer to yew, replays or starts a run on load, keeps the
//! URL hash in step with the settings, and maps buttons and keys to [`Command`]s.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use super::commands::{Command, load_bundled_table, load_preset, window};
use super::components;
use super::runner::{self, control, run_live};
use super::state::{Action, Playground, RunId, Status};
use crate::config::url::{ViewState, decode, encode};
use crate::config::{PRESETS, SearchConfig, preset};

impl yew::Reducible for Playground {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        s.apply(action);
        Rc::new(s)
    }
}

/// Mounts the app on `<body>`.
pub fn start() {
    console_error_panic_hook::set_once();
    yew::Renderer::<App>::new().render();
}

#[component]
fn App() -> Html {
    let hash = window().location().hash().unwrap_or_default();
    let state = use_reducer(move || {
        let (cfg, view, notices) = decode(&hash);
        Playground::new(cfg, view, notices)
    });
    let ctl = control();

    // Start: autorun a live search, or replay a preset (instant first paint, no GPU needed). A
    // link's settings stay the page's settings: the preset they match is replayed, or else the
    // default one with a notice naming what differs.
    {
        let dispatch = state.dispatcher();
        let selftest = state.view.selftest;
        let (autorun, preset_name, cfg) = (
            state.view.autorun,
            state.view.preset.clone(),
            state.config.clone(),
        );
        let ctl = ctl.clone();
        use_effect_with((), move |_| {
            load_bundled_table(dispatch.clone());
            if selftest {
                let d = dispatch.clone();
                spawn_local(async move { d.dispatch(Action::Check(runner::device_check().await)) });
            }
            if autorun {
                // A config over the memory budget fails in `run_live` with the budget's message.
                let run = ctl.begin_run();
                ctl.paused.set(false);
                dispatch.dispatch(Action::BeginLive { run });
                spawn_local(run_live(cfg, run, ctl, dispatch));
            } else {
                if let Some(n) = runner::budget_notice(&cfg) {
                    dispatch.dispatch(Action::Notice(n));
                }
                let webgpu = runner::has_webgpu();
                let from_link = cfg != SearchConfig::default();
                let matching = PRESETS
                    .iter()
                    .map(|p| p.0)
                    .find(|n| preset(n).as_ref() == Some(&cfg));
                let fallback = if webgpu { "default" } else { "tiny" };
                let name = preset_name
                    .or(matching.map(str::to_string))
                    .unwrap_or_else(|| fallback.to_string());
                if !webgpu {
                    dispatch.dispatch(Action::Notice(if from_link {
                        "This browser has no WebGPU: live runs will use the CPU (slower)."
                    } else {
                        "This browser has no WebGPU: live runs will use the CPU (slower). The tiny preset is selected."
                    }.into()));
                }
                load_preset(name, !from_link, dispatch);
            }
            || ()
        });
    }

    // Replay: reveal recorded steps one at a time.
    {
        let dispatch = state.dispatcher();
        let replaying = state.status == Status::Replaying;
        use_effect_with(
            (replaying, state.steps.len(), state.run_id),
            move |(r, _, _)| {
                if *r {
                    spawn_local(async move {
                        TimeoutFuture::new(60).await;
                        dispatch.dispatch(Action::RevealNext);
                    });
                }
                || ()
            },
        );
    }

    // Keep the URL hash in step with the settings, so the address reproduces the run.
    {
        let view = ViewState {
            preset: state.view.preset.clone(),
            step: state.selected.map(|s| s + 1),
            embed: state.view.embed,
            autorun: false,
            selftest: false,
            cell: state.custom,
            lesson: state.lesson,
        };
        use_effect_with((state.config.clone(), view), move |(cfg, view)| {
            let h = encode(cfg, view);
            let url = if h.is_empty() {
                " ".to_string()
            } else {
                format!("#{h}")
            };
            let _ = window().history().and_then(|hist| {
                hist.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(url.trim()))
            });
            || ()
        });
    }

    let command = {
        let state = state.clone();
        let ctl = ctl.clone();
        Callback::from(move |c: Command| {
            let dispatch = state.dispatcher();
            let start_live = |paused: bool, cfg: SearchConfig| {
                let run: RunId = ctl.begin_run();
                ctl.paused.set(paused);
                ctl.step_once.set(paused);
                dispatch.dispatch(Action::BeginLive { run });
                spawn_local(run_live(cfg, run, ctl.clone(), dispatch.clone()));
            };
            match c {
                Command::RunPause => match state.status {
                    Status::Running | Status::Starting => {
                        ctl.paused.set(true);
                        dispatch.dispatch(Action::SetPaused(true));
                    }
                    Status::Paused => {
                        ctl.paused.set(false);
                        dispatch.dispatch(Action::SetPaused(false));
                    }
                    _ => start_live(false, state.config.clone()),
                },
                Command::Step => match state.status {
                    Status::Running | Status::Starting | Status::Paused => {
                        ctl.paused.set(true);
                        ctl.step_once.set(true);
                        dispatch.dispatch(Action::SetPaused(true));
                    }
                    Status::Replaying => dispatch.dispatch(Action::RevealNext),
                    Status::Done if state.selected.is_some() => {
                        dispatch.dispatch(Action::SelectBy(1))
                    }
                    _ => start_live(true, state.config.clone()),
                },
                Command::Back => dispatch.dispatch(Action::SelectBy(-1)),
                Command::Reset => start_live(false, state.config.clone()),
                Command::NewSeed => {
                    let seed = (js_sys::Math::random() * 1e6) as u64;
                    let cfg = SearchConfig {
                        seed,
                        ..state.config.clone()
                    };
                    dispatch.dispatch(Action::SetConfig(cfg.clone()));
                    start_live(false, cfg);
                }
                Command::Stop => {
                    if state.is_live() {
                        ctl.begin_run(); // the runner stops at its next check
                        dispatch.dispatch(Action::Failed {
                            run: state.run_id,
                            message: format!("Stopped after {} steps.", state.steps.len()),
                        });
                    }
                }
                Command::Help => dispatch.dispatch(Action::ToggleHelp),
            }
        })
    };

    // Keyboard: Space run/pause, → step, ← back, R reset, S new seed, ? help.
    {
        let latest = use_mut_ref(|| command.clone());
        *latest.borrow_mut() = command.clone();
        use_effect_with((), move |_| {
            let handler =
                Closure::<dyn Fn(web_sys::KeyboardEvent)>::new(move |e: web_sys::KeyboardEvent| {
                    let typing = e
                        .target()
                        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                        .is_some_and(|el| {
                            matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA")
                        });
                    if typing || e.ctrl_key() || e.meta_key() || e.alt_key() {
                        return;
                    }
                    let c = match e.key().as_str() {
                        " " => Command::RunPause,
                        "ArrowRight" => Command::Step,
                        "ArrowLeft" => Command::Back,
                        "r" | "R" => Command::Reset,
                        "s" | "S" => Command::NewSeed,
                        "?" => Command::Help,
                        _ => return,
                    };
                    e.prevent_default();
                    latest.borrow().emit(c);
                });
            let doc = window().document().expect("a document");
            let _ =
                doc.add_event_listener_with_callback("keydown", handler.as_ref().unchecked_ref());
            let keep = RefCell::new(Some(handler));
            move || {
                if let Some(h) = keep.borrow_mut().take() {
                    let _ = doc
                        .remove_event_listener_with_callback("keydown", h.as_ref().unchecked_ref());
                }
            }
        });
    }

    html! { <components::Page state={state.clone()} {command} /> }
}
