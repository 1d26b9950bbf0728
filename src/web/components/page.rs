//! The page: notices, the status line, the controls and the panels.

use super::cell::{CellView, EditContext};
use super::charts::{TraceChart, Trajectory};
use super::compare::ComparePanel;
use super::controls::Controls;
use super::explain::{Explain, KeyHelp};
use super::files::Files;
use super::landscape::LandscapePanel;
use super::lesson::LessonBar;
use super::ntk::NtkPanel;
use super::refine::RefinePanel;
use super::*;
use crate::web::commands::Command;
use crate::web::state::{Action, Status};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct PageProps {
    pub state: State,
    pub command: Callback<Command>,
}

/// The whole page.
#[component]
pub fn Page(props: &PageProps) -> Html {
    let s = &props.state;
    let embed = s.view.embed;
    let focus = super::lesson::target(s.lesson);
    let panel = |id: &'static str, title: &'static str, anchor: &'static str, body: Html| {
        panel_focus(id, title, anchor, focus == Some(id), body)
    };
    html! {
        <div class={classes!("page", embed.then_some("embed"))}>
            <header>
                <h1>{"NASI playground"}</h1>
                <p class="tagline">{"Neural architecture search at initialisation: pick a cell by the NTK trace of the untrained network — no training, no labels, no data."}</p>
            </header>
            <Notices state={s.clone()} />
            <StatusLine state={s.clone()} />
            <Controls state={s.clone()} command={props.command.clone()} />
            <div class="grid">
                { panel("cell-h", "Selected cell", "cell", html! { <CellView
                    genotype={s.shown_genotype()}
                    probs={s.custom.is_none().then(|| s.shown_step().map(|st| st.probs.clone()).or(s.result.as_ref().map(|r| r.probs.clone()))).flatten()}
                    accuracy={s.shown_nb201().and_then(|g| s.table.as_ref().and_then(|t| t.get(&g)))}
                    rank={s.shown_nb201().and_then(|g| s.table.as_ref().and_then(|t| t.cifar10_rank(&g)))}
                    table_loaded={s.table.is_some()}
                    bundled={s.table_bundled}
                    custom={s.custom.is_some()}
                    edit={(!s.is_live()).then(|| EditContext { config: s.config.clone(), run: s.run_id })}
                    dispatch={s.dispatcher()} /> }) }
                { panel("traj-h", "Architecture weights per edge (both cells for DARTS)", "alpha", html! { <Trajectory
                    steps={s.steps.clone()} selected={s.selected} hover={s.hover_edge} dispatch={s.dispatcher()} /> }) }
                { panel("trace-h", "NTK trace and objective", "objective", html! { <TraceChart steps={s.steps.clone()} selected={s.selected} /> }) }
                { panel("ntk-h", "The NTK itself", "ntk", html! { <NtkPanel state={s.clone()} /> }) }
                { panel("refine-h", "Second stage: the K best cells by α*, rescored", "refine", html! { <RefinePanel
                    refined={s.result.as_ref().and_then(|r| r.refined.as_deref().cloned())}
                    nasi={s.result.as_ref().map(|r| r.genotype)}
                    nasi_accuracy={s.result.as_ref().and_then(|r| r.genotype.nb201().copied()).and_then(|g| s.table.as_ref().and_then(|t| t.get(&g)))}
                    pick_accuracy={s.result.as_ref().and_then(|r| r.refined.as_ref()).and_then(|r| r.genotype.nb201().copied()).and_then(|g| s.table.as_ref().and_then(|t| t.get(&g)))}
                    progress={s.refining}
                    k={s.config.refine} /> }) }
                { panel("landscape-h", "The whole space: where the pick sits", "landscape", html! { <LandscapePanel
                    table={s.table.clone()}
                    dataset={s.dataset}
                    pick={s.final_nb201()}
                    custom={s.custom}
                    seconds={s.result.as_ref().map(|r| r.seconds)}
                    dispatch={s.dispatcher()} /> }) }
                { panel("compare-h", "Compare two runs", "compare", html! { <ComparePanel
                    pinned={s.pinned.clone()}
                    current={s.result.clone()}
                    steps={s.steps.clone()}
                    source={s.source.clone()}
                    table={s.table.clone()}
                    dispatch={s.dispatcher()} /> }) }
            </div>
            <Files state={s.clone()} />
            if s.help_open { <KeyHelp command={props.command.clone()} /> }
            if let Some(k) = s.lesson { <LessonBar step={k} dispatch={s.dispatcher()} /> }
            if !embed { <Explain /> }
            <footer>{"Shu, Cai, Dai, Ooi, Low. NASI: Label- and Data-agnostic Neural Architecture Search at Initialization. ICLR 2022. This page makes no request outside its own origin."}</footer>
        </div>
    }
}

#[component]
pub(super) fn Notices(props: &StateProps) -> Html {
    let s = &props.state;
    html! {
        <div class="notices">
            { for s.notices.iter().enumerate().map(|(i, n)| {
                let d = s.dispatcher();
                html! { <div class="notice" role="alert">{n.clone()}
                    <button aria-label="dismiss notice" onclick={Callback::from(move |_| d.dispatch(Action::DismissNotice(i)))}>{"×"}</button></div> }
            }) }
        </div>
    }
}

#[component]
pub(super) fn StatusLine(props: &StateProps) -> Html {
    let s = &props.state;
    let what = match &s.status {
        Status::Idle => "Ready.".to_string(),
        Status::Replaying => format!(
            "Replaying {}: step {} of {}.",
            s.source,
            s.steps.len(),
            s.steps.len() + s.replay_queue.len()
        ),
        Status::Starting => "Starting: acquiring the GPU and building the supernet…".to_string(),
        Status::Running => match s.refining {
            Some((done, total)) => {
                format!("Second stage on the CPU: candidate {done} of {total} scored.")
            }
            None => format!(
                "Running live on {}: step {} of {}.",
                s.backend.clone().unwrap_or_default(),
                s.steps.len(),
                s.config.total_steps()
            ),
        },
        Status::Paused => format!(
            "Paused at step {} of {}.",
            s.steps.len(),
            s.config.total_steps()
        ),
        Status::Done => match (&s.backend, s.source.as_str()) {
            (Some(b), "live") => format!("Done: {} steps (live on {b}).", s.steps.len()),
            _ => format!("Done: {} steps ({}).", s.steps.len(), s.source),
        },
        Status::Failed(m) => format!("Stopped: {m}"),
    };
    let detail = s.shown_step().map(|st| {
        format!(
            " Step {}: T̃ = {:.5}, R = {:.5}{}.",
            st.step,
            st.trace,
            st.reward,
            s.ms_per_step
                .map_or(String::new(), |ms| format!(", {ms:.0} ms/step"))
        )
    });
    html! { <p class="status" role="status" aria-live="polite" data-status={format!("{:?}", s.status).split('(').next().unwrap_or("").to_string()}>{what}{detail.unwrap_or_default()}</p> }
}
