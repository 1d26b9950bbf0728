//! The page's state as a reducer (yew todomvc style): every change is an [`Action`].

use std::rc::Rc;

use yew::Reducible;

use crate::config::SearchConfig;
use crate::nb201::Table;
use crate::search::{SearchEvent, SearchResult, StartInfo, StepRecord};
use crate::space::Genotype;
use crate::urlstate::ViewState;

/// What the search panel is doing.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Nothing loaded or running.
    Idle,
    /// Replaying recorded steps (a preset or an imported run).
    Replaying,
    /// Acquiring the GPU and building the supernet.
    Starting,
    /// A live search is stepping.
    Running,
    /// A live search is paused.
    Paused,
    /// The search or replay is complete.
    Done,
    /// The live search stopped with a message.
    Failed(String),
}

/// The exact NTK of the current cell, for the NTK panel.
#[derive(Clone, Debug, PartialEq)]
pub struct NtkView {
    /// The cell it was computed for.
    pub genotype: Genotype,
    /// b.
    pub batch: usize,
    /// Θ, row-major `[b, b]`.
    pub matrix: Vec<f64>,
    /// Eigenvalues, ascending.
    pub eigenvalues: Vec<f64>,
    /// NASI's T̃ on the same batch.
    pub trace_estimate: f64,
}

/// Everything the page shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Playground {
    /// The search settings (also the URL hash).
    pub config: SearchConfig,
    /// View settings from the URL hash.
    pub view: ViewState,
    /// Notices shown above the page (bad URL fields, bad files, fallbacks).
    pub notices: Vec<String>,
    /// `WebGPU` or `CPU (wasm)` once a live run has started.
    pub backend: Option<String>,
    /// What the panel is doing.
    pub status: Status,
    /// Where the steps come from (`live`, a preset name, a file name).
    pub source: String,
    /// The run's start event, if any.
    pub start: Option<StartInfo>,
    /// Steps received so far.
    pub steps: Vec<StepRecord>,
    /// All recorded steps of a replay (revealed one by one into `steps`).
    pub replay_queue: Vec<StepRecord>,
    /// The final result.
    pub result: Option<SearchResult>,
    /// Timeline position (0-based); `None` follows the newest step.
    pub selected: Option<usize>,
    /// Edge under the pointer.
    pub hover_edge: Option<usize>,
    /// A loaded NB201 accuracy table.
    pub table: Option<Rc<Table>>,
    /// The NTK panel's content.
    pub ntk: Option<NtkView>,
    /// Whether the keyboard-help sheet is open.
    pub help_open: bool,
    /// Milliseconds per live step (last one).
    pub ms_per_step: Option<f64>,
    /// WebGPU-against-CPU check result (or its error).
    pub check: Option<Result<super::runner::DeviceCheck, String>>,
    /// Bumped for every new run, so a stale runner can tell it was superseded.
    pub run_id: u32,
}

/// A change to [`Playground`].
pub enum Action {
    /// New settings (from the controls).
    SetConfig(SearchConfig),
    /// Adds a notice.
    Notice(String),
    /// Removes notice `i`.
    DismissNotice(usize),
    /// A live run begins (clears the old steps).
    BeginLive,
    /// The device is ready.
    Started {
        /// Backend label.
        backend: String,
        /// The search's start event.
        info: StartInfo,
    },
    /// One live step.
    Step(StepRecord, f64),
    /// The live run finished.
    Finished(SearchResult),
    /// The live run failed.
    Failed(String),
    /// Pause or resume a live run.
    SetPaused(bool),
    /// Load recorded events (preset or file) to replay.
    Load {
        /// Label of the source.
        source: String,
        /// The events.
        events: Vec<SearchEvent>,
        /// Show them all at once instead of animating.
        instant: bool,
    },
    /// Reveal the next replayed step.
    RevealNext,
    /// Load a `result.json`.
    LoadResult(SearchResult),
    /// Move the timeline.
    Select(Option<usize>),
    /// Move the timeline by one step (negative: back).
    SelectBy(i64),
    /// Hover an edge.
    Hover(Option<usize>),
    /// A loaded accuracy table.
    Table(Rc<Table>),
    /// A computed NTK.
    Ntk(NtkView),
    /// Toggle the help sheet.
    ToggleHelp,
    /// The device check finished.
    Check(Result<super::runner::DeviceCheck, String>),
}

impl Playground {
    /// Initial state from the URL hash's content.
    pub fn new(config: SearchConfig, view: ViewState, notices: Vec<String>) -> Self {
        Playground {
            config,
            view,
            notices,
            backend: None,
            status: Status::Idle,
            source: String::new(),
            start: None,
            steps: Vec::new(),
            replay_queue: Vec::new(),
            result: None,
            selected: None,
            hover_edge: None,
            table: None,
            ntk: None,
            help_open: false,
            ms_per_step: None,
            check: None,
            run_id: 0,
        }
    }

    /// The step the views show (the selected one, else the newest).
    pub fn shown_step(&self) -> Option<&StepRecord> {
        match self.selected {
            Some(i) => self.steps.get(i),
            None => self.steps.last(),
        }
    }

    /// The cell to draw: the shown step's argmax, or the result's.
    pub fn shown_genotype(&self) -> Option<Genotype> {
        self.shown_step()
            .map(|s| s.genotype)
            .or(self.result.as_ref().map(|r| r.genotype))
    }

    /// Whether a live run is in progress (running or paused).
    pub fn is_live(&self) -> bool {
        matches!(
            self.status,
            Status::Starting | Status::Running | Status::Paused
        )
    }

    /// Forgets the shown run before a new one (live or loaded) starts.
    fn new_run(&mut self, source: String) {
        self.run_id += 1;
        self.source = source;
        self.steps.clear();
        self.replay_queue.clear();
        self.result = None;
        self.start = None;
        self.selected = None;
        self.ntk = None;
        self.ms_per_step = None;
    }

    /// The events of what is shown, in the CLI's `trajectory.jsonl` order.
    pub fn events(&self) -> Vec<SearchEvent> {
        let mut ev = Vec::new();
        if let Some(s) = &self.start {
            ev.push(SearchEvent::Started(s.clone()));
        }
        ev.extend(self.steps.iter().cloned().map(SearchEvent::Step));
        if let Some(r) = &self.result {
            ev.push(SearchEvent::Finished(r.clone()));
        }
        ev
    }
}

impl Reducible for Playground {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::SetConfig(c) => s.config = c,
            Action::Notice(n) => {
                if !s.notices.contains(&n) {
                    s.notices.push(n);
                }
            }
            Action::DismissNotice(i) => {
                if i < s.notices.len() {
                    s.notices.remove(i);
                }
            }
            Action::BeginLive => {
                s.new_run("live".into());
                s.status = Status::Starting;
            }
            Action::Started { backend, info } => {
                s.backend = Some(backend);
                s.start = Some(info);
                s.status = Status::Running;
            }
            Action::Step(rec, ms) => {
                s.steps.push(rec);
                s.ms_per_step = Some(ms);
            }
            Action::Finished(r) => {
                s.result = Some(r);
                s.status = Status::Done;
            }
            Action::Failed(m) => s.status = Status::Failed(m),
            Action::SetPaused(p) => {
                if s.is_live() {
                    s.status = if p { Status::Paused } else { Status::Running };
                }
            }
            Action::Load {
                source,
                events,
                instant,
            } => {
                s.new_run(source);
                for e in events {
                    match e {
                        SearchEvent::Started(i) => {
                            s.config = i.config.clone();
                            s.start = Some(i);
                        }
                        SearchEvent::Step(r) => s.replay_queue.push(r),
                        SearchEvent::Finished(r) => s.result = Some(r),
                    }
                }
                if instant {
                    s.steps = std::mem::take(&mut s.replay_queue);
                    s.status = Status::Done;
                } else {
                    s.replay_queue.reverse();
                    s.status = Status::Replaying;
                }
            }
            Action::RevealNext => match s.replay_queue.pop() {
                Some(r) => s.steps.push(r),
                None => {
                    if s.status == Status::Replaying {
                        s.status = Status::Done;
                    }
                }
            },
            Action::LoadResult(r) => {
                s.config = r.config.clone();
                s.result = Some(r);
            }
            Action::Select(i) => s.selected = i.filter(|&i| i < s.steps.len()),
            Action::SelectBy(d) => {
                if !s.steps.is_empty() {
                    let cur = s.selected.unwrap_or(s.steps.len() - 1) as i64;
                    let next = (cur + d).clamp(0, s.steps.len() as i64 - 1) as usize;
                    s.selected = if next + 1 == s.steps.len() {
                        None
                    } else {
                        Some(next)
                    };
                }
            }
            Action::Hover(e) => s.hover_edge = e,
            Action::Table(t) => s.table = Some(t),
            Action::Ntk(n) => s.ntk = Some(n),
            Action::ToggleHelp => s.help_open = !s.help_open,
            Action::Check(c) => s.check = Some(c),
        }
        Rc::new(s)
    }
}
