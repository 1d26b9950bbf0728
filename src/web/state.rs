//! The page's state as a reducer (yew todomvc style): every change is an [`Action`], applied by
//! the pure [`Playground::apply`], which compiles and is tested natively (the wasm app wraps it
//! in yew's `Reducible`).
//!
//! Every run the page shows (a live search, a replayed preset, a loaded file) has one
//! identity, a [`RunId`], and every action that comes from a run carries it: an action of a run
//! that is no longer shown (a live runner still stepping after a file was loaded, an NTK that
//! finishes after the cell changed run) is dropped, so two runs never mix.

use std::rc::Rc;

use crate::config::SearchConfig;
use crate::config::url::ViewState;
use crate::search::{SearchEvent, SearchResult, StartInfo, StepRecord};
use crate::space::nb201::table::Table;
use crate::space::{AnyGenotype, Genotype};

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
    /// Steps received so far (shared, so that cloning the state per action and handing the
    /// steps to the charts as props copies nothing).
    pub steps: Rc<Vec<StepRecord>>,
    /// All recorded steps of a replay (revealed one by one into `steps`).
    pub replay_queue: Vec<StepRecord>,
    /// The final result.
    pub result: Option<SearchResult>,
    /// Timeline position (0-based); `None` follows the newest step.
    pub selected: Option<usize>,
    /// Edge under the pointer.
    pub hover_edge: Option<usize>,
    /// The NB201 accuracy table the page reports with: the bundled one (`www/nb201.bin`,
    /// fetched at start-up) until the user loads a CSV, which replaces it.
    pub table: Option<Rc<Table>>,
    /// Whether [`Playground::table`] is the bundled one.
    pub table_bundled: bool,
    /// The NTK panel's content.
    pub ntk: Option<NtkView>,
    /// Whether the keyboard-help sheet is open.
    pub help_open: bool,
    /// Milliseconds per live step (last one).
    pub ms_per_step: Option<f64>,
    /// The live second stage's progress (candidates scored, candidates), while it runs.
    pub refining: Option<(usize, usize)>,
    /// A cell of the student's own (edited in the cell view, picked in the landscape, or from
    /// the URL's `cell`): shown and scored instead of the search's until cleared.
    pub custom: Option<Genotype>,
    /// The landscape's dataset.
    pub dataset: crate::landscape::Dataset,
    /// Lesson mode's step (1-based), when on (`#lesson=1`).
    pub lesson: Option<usize>,
    /// A finished run kept for the comparison view, beside the shown one.
    pub pinned: Option<Rc<PinnedRun>>,
    /// WebGPU-against-CPU check result (or its error).
    pub check: Option<Result<DeviceCheck, String>>,
    /// Identity of the run shown: actions of other runs are dropped.
    pub run_id: RunId,
}

/// A finished run kept for comparison: where it came from, its result and its steps.
#[derive(Clone, Debug, PartialEq)]
pub struct PinnedRun {
    /// Its source (`live`, a preset, a file) and seed, for the heading.
    pub label: String,
    /// Its result.
    pub result: SearchResult,
    /// Its steps (for its α chart).
    pub steps: Rc<Vec<StepRecord>>,
}

/// How the notice that names a replayed run begins (it goes when that run is replaced).
const SHOWN: &str = "Shown: ";

/// Identity of one run on the page (live, replayed or loaded). Handed out in increasing order
/// when a run is requested, so a request that completes after a later one (a slow preset fetch
/// after Run was pressed) is recognised as stale.
pub type RunId = u32;

/// Agreement of WebGPU with the CPU on one NASI gradient evaluation (T̃ and ∇αT̃ of eq. 12 on
/// the same weights, batch and Gumbel noise).
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceCheck {
    /// Backend the check compared against the CPU.
    pub backend: String,
    /// |T̃_gpu − T̃_cpu| / |T̃_cpu|.
    pub trace_rel: f64,
    /// ‖∇αT̃_gpu − ∇αT̃_cpu‖ / ‖∇αT̃_cpu‖.
    pub grad_rel: f64,
}

/// A change to [`Playground`]. The variants that come from a run carry its [`RunId`].
#[derive(Clone, Debug)]
pub enum Action {
    /// New settings (from the controls).
    SetConfig(SearchConfig),
    /// Adds a notice.
    Notice(String),
    /// Removes notice `i`.
    DismissNotice(usize),
    /// A live run begins (clears the old steps).
    BeginLive {
        /// The new run.
        run: RunId,
    },
    /// The device is ready.
    Started {
        /// The live run.
        run: RunId,
        /// Backend label.
        backend: String,
        /// The search's start event.
        info: StartInfo,
    },
    /// One live step.
    Step {
        /// The live run.
        run: RunId,
        /// The step.
        record: StepRecord,
        /// Milliseconds it took.
        ms: f64,
    },
    /// The live run's second stage scored `done` of its `total` candidates (`--refine K`).
    Refining {
        /// The live run.
        run: RunId,
        /// Candidates scored.
        done: usize,
        /// Candidates in all.
        total: usize,
    },
    /// The live run finished.
    Finished {
        /// The live run.
        run: RunId,
        /// Its result.
        result: SearchResult,
    },
    /// The live run failed or was stopped.
    Failed {
        /// The live run.
        run: RunId,
        /// Why, for the status line.
        message: String,
    },
    /// Pause or resume a live run.
    SetPaused(bool),
    /// Load recorded events (preset or file) to replay.
    Load {
        /// The new run.
        run: RunId,
        /// Label of the source.
        source: String,
        /// The events.
        events: Vec<SearchEvent>,
        /// Show them all at once instead of animating.
        instant: bool,
        /// Take the recording's settings into the form (a file, a chosen preset). `false` keeps
        /// the page's settings (a shared link's) and says which run is shown instead.
        adopt_config: bool,
    },
    /// Reveal the next replayed step.
    RevealNext,
    /// Load a `result.json`.
    LoadResult {
        /// The new run (unless the result is the shown run's own).
        run: RunId,
        /// The result.
        result: SearchResult,
    },
    /// Move the timeline.
    Select(Option<usize>),
    /// Move the timeline by one step (negative: back).
    SelectBy(i64),
    /// Hover an edge.
    Hover(Option<usize>),
    /// A loaded accuracy table (a user's CSV: it replaces the bundled one).
    Table(Rc<Table>),
    /// The bundled accuracy table, fetched at start-up (kept out if a CSV came first).
    BundledTable(Rc<Table>),
    /// A computed NTK.
    Ntk {
        /// The run shown when it was asked for.
        run: RunId,
        /// The kernel.
        view: NtkView,
    },
    /// Show the student's own cell (`None`: back to the search's).
    EditCell(Option<Genotype>),
    /// The landscape's dataset.
    SetDataset(crate::landscape::Dataset),
    /// Lesson mode's step (`None`: leave lesson mode).
    Lesson(Option<usize>),
    /// Keep the shown (finished) run for the comparison view.
    Pin,
    /// Close the comparison view.
    Unpin,
    /// Toggle the help sheet.
    ToggleHelp,
    /// The device check finished.
    Check(Result<DeviceCheck, String>),
}

/// The settings in which `shown` (a recorded run's) differs from `wanted` (the page's), as
/// `seed 0 (the form: 3), steps 40 (the form: 20)`; empty when they are the same.
pub fn config_differences(shown: &SearchConfig, wanted: &SearchConfig) -> String {
    crate::config::url::differences(shown, wanted)
        .into_iter()
        .map(|(k, v, w)| format!("{k} {v} (the form: {w})"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Playground {
    /// Initial state from the URL hash's content.
    pub fn new(config: SearchConfig, view: ViewState, notices: Vec<String>) -> Self {
        Playground {
            custom: view.cell,
            lesson: view.lesson,
            pinned: None,
            config,
            view,
            notices,
            backend: None,
            status: Status::Idle,
            source: String::new(),
            start: None,
            steps: Rc::default(),
            replay_queue: Vec::new(),
            result: None,
            selected: None,
            hover_edge: None,
            table: None,
            table_bundled: false,
            ntk: None,
            help_open: false,
            ms_per_step: None,
            refining: None,
            dataset: Default::default(),
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

    /// The cell to draw: the student's own, else the shown step's derived cell, or the
    /// result's (of either space).
    pub fn shown_genotype(&self) -> Option<AnyGenotype> {
        self.custom
            .map(AnyGenotype::Nb201)
            .or_else(|| self.search_genotype())
    }

    /// The search's cell at the shown step (the result's once done), whatever the student's own.
    pub fn search_genotype(&self) -> Option<AnyGenotype> {
        self.shown_step()
            .map(|s| s.genotype)
            .or(self.result.as_ref().map(|r| r.genotype))
    }

    /// The search's final NB201 pick (the second stage's when it ran), once it is done.
    pub fn final_nb201(&self) -> Option<Genotype> {
        self.result.as_ref().and_then(|r| r.pick().nb201().copied())
    }

    /// The shown cell if it is NB201's (the accuracy table and the NTK panel are NB201's).
    pub fn shown_nb201(&self) -> Option<Genotype> {
        self.shown_genotype().and_then(|g| g.nb201().copied())
    }

    /// Whether a live run is in progress (running or paused).
    pub fn is_live(&self) -> bool {
        matches!(
            self.status,
            Status::Starting | Status::Running | Status::Paused
        )
    }

    /// Forgets the shown run before run `run` (live or loaded) is shown.
    fn new_run(&mut self, run: RunId, source: String) {
        self.run_id = run;
        self.source = source;
        // A notice about which recorded run is shown is about the run being replaced.
        self.notices.retain(|m| !m.starts_with(SHOWN));
        self.steps = Rc::default();
        self.replay_queue.clear();
        self.result = None;
        self.start = None;
        self.selected = None;
        self.ntk = None;
        self.ms_per_step = None;
        self.refining = None;
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

impl Playground {
    /// Applies one action (the reducer, pure: no browser calls, so it is tested natively).
    /// Actions of a run other than the shown one are dropped, and so is a request for a new run
    /// older than the shown one.
    pub fn apply(&mut self, action: Action) {
        let s = self;
        let current = s.run_id;
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
            Action::BeginLive { run } if run >= current => {
                s.new_run(run, "live".into());
                // A new search is what the student asked to see; a replay keeps their cell.
                s.custom = None;
                s.status = Status::Starting;
            }
            Action::Started { run, backend, info } if run == current => {
                s.backend = Some(backend);
                s.start = Some(info);
                s.status = Status::Running;
            }
            Action::Step { run, record, ms } if run == current => {
                Rc::make_mut(&mut s.steps).push(record);
                s.ms_per_step = Some(ms);
            }
            Action::Refining { run, done, total } if run == current => {
                s.refining = Some((done, total));
            }
            Action::Finished { run, result } if run == current => {
                s.result = Some(result);
                s.refining = None;
                s.status = Status::Done;
            }
            Action::Failed { run, message } if run == current => s.status = Status::Failed(message),
            Action::SetPaused(p) => {
                if s.is_live() {
                    s.status = if p { Status::Paused } else { Status::Running };
                }
            }
            Action::Load {
                run,
                source,
                events,
                instant,
                adopt_config,
            } if run >= current => {
                s.new_run(run, source);
                for e in events {
                    match e {
                        SearchEvent::Started(i) => s.start = Some(i),
                        SearchEvent::Step(r) => s.replay_queue.push(r),
                        SearchEvent::Finished(r) => s.result = Some(r),
                    }
                }
                let recorded = s
                    .start
                    .as_ref()
                    .map(|i| i.config.clone())
                    .or_else(|| s.result.as_ref().map(|r| r.config.clone()));
                if let Some(rc) = recorded {
                    if adopt_config {
                        s.config = rc;
                    } else {
                        let diff = config_differences(&rc, &s.config);
                        if !diff.is_empty() {
                            let n = format!(
                                "{SHOWN}{}, a recorded run with other settings than your \
                                 link's: {diff}. Run searches with the link's settings.",
                                s.source
                            );
                            s.notices.push(n);
                        }
                    }
                }
                if instant {
                    s.steps = Rc::new(std::mem::take(&mut s.replay_queue));
                    s.status = Status::Done;
                } else {
                    s.replay_queue.reverse();
                    s.status = Status::Replaying;
                }
            }
            Action::RevealNext => match s.replay_queue.pop() {
                Some(r) => Rc::make_mut(&mut s.steps).push(r),
                None => {
                    if s.status == Status::Replaying {
                        s.status = Status::Done;
                    }
                }
            },
            Action::LoadResult { run, result } if run >= current => {
                // The shown run's own result (its trajectory.jsonl loaded with it) completes
                // it; any other result is a run of its own.
                let own = !s.is_live()
                    && s.start.as_ref().is_some_and(|i| i.config == result.config)
                    && s.result.as_ref().is_none_or(|r| r == &result);
                if !own {
                    s.new_run(run, "result.json".into());
                    s.status = Status::Done;
                }
                s.config = result.config.clone();
                s.result = Some(result);
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
            Action::Table(t) => {
                s.table = Some(t);
                s.table_bundled = false;
            }
            Action::BundledTable(t) if s.table.is_none() => {
                s.table = Some(t);
                s.table_bundled = true;
            }
            Action::BundledTable(_) => {}
            // An NTK of another cell than the student's own is stale.
            Action::Ntk { view, .. } if s.custom.is_some_and(|c| c != view.genotype) => {}
            Action::Ntk { run, view } if run == current => s.ntk = Some(view),
            Action::EditCell(g) => {
                if g != s.custom {
                    s.ntk = None;
                }
                s.custom = g;
            }
            Action::SetDataset(d) => s.dataset = d,
            Action::Lesson(l) => s.lesson = l,
            Action::Pin => {
                if let Some(r) = &s.result {
                    s.pinned = Some(Rc::new(PinnedRun {
                        label: format!("{} (seed {})", s.source, r.seed),
                        result: r.clone(),
                        steps: s.steps.clone(),
                    }));
                }
            }
            Action::Unpin => s.pinned = None,
            Action::ToggleHelp => s.help_open = !s.help_open,
            Action::Check(c) => s.check = Some(c),
            // An action of a run that is no longer shown.
            Action::BeginLive { .. }
            | Action::Started { .. }
            | Action::Step { .. }
            | Action::Refining { .. }
            | Action::Finished { .. }
            | Action::Failed { .. }
            | Action::Load { .. }
            | Action::LoadResult { .. }
            | Action::Ntk { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests;
