//! The NASI search loop (paper Algorithm 1), as a stream of [`SearchEvent`]s.
//!
//! The CLI maps events to a progress bar and `trajectory.jsonl`; the web page maps the same
//! events to its state. The loop never reads an accuracy table: the cell is chosen from the
//! network at initialisation alone.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::config::{NuRule, SearchConfig};
use crate::data::{DataError, RngStream, Sampler, gumbel, rng};
use crate::nasi::{
    AlphaAccumulator, ArchTable, StepInput, StepValues, frobenius_norm, reward, reward_grad,
    trace_and_alpha_grad,
};
use crate::net::darts::{DartsSupernet, count, eval_params};
use crate::net::supernet::Supernet;
use crate::space::arch::by_cell;
use crate::space::{AnyGenotype, SpaceKind};

/// Version of the trajectory and result formats. 2: the start event and the result name their
/// search space (`space`); version-1 files, which have no such field, are NB201's and still load.
pub const SCHEMA_VERSION: u32 = 2;

/// What a search tells its consumers, in order: one `Started`, one `Step` per step, one
/// `Finished` (or an error from [`Search::step`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // one `Finished` per search; steps are kept as `StepRecord`s
pub enum SearchEvent {
    /// The supernet is built.
    Started(StartInfo),
    /// One NASI step.
    Step(StepRecord),
    /// The search is over.
    Finished(SearchResult),
}

/// Facts about a search known before its first step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartInfo {
    /// The search space (absent in version-1 files: NB201).
    #[serde(default)]
    pub space: SpaceKind,
    /// The resolved configuration.
    pub config: SearchConfig,
    /// Scalars in the supernet.
    pub params: usize,
    /// Backend name.
    pub backend: String,
    /// Crate version.
    pub version: String,
}

/// One step of the search (one line of `trajectory.jsonl`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1-based step index t.
    pub step: usize,
    /// T̃ of this step's relaxed cell (eq. 12).
    pub trace: f64,
    /// Mean cross-entropy at initialisation.
    pub loss: f64,
    /// R = T̃ − μ·max(0, T̃ − ν) (eq. 8).
    pub reward: f64,
    /// ν in force at this step (absent when no penalty applies yet).
    pub nu: Option<f64>,
    /// Whether T̃ > ν flipped the gradient's sign or scale.
    pub penalty_active: bool,
    /// ‖G_t‖.
    pub grad_norm: f64,
    /// max_{s≤t}‖G_s‖, the normaliser of eq. 18.
    pub running_max: f64,
    /// Op weights of this step's relaxed cell `[rows, ops]` (the Gumbel-softmax sample at
    /// α = 0): NB201 `[6][5]`; DARTS `{normal, reduce}`, each `[14][8]`.
    #[serde(with = "by_cell")]
    pub weights: ArchTable,
    /// α* after this step, as the space's derivation sees it ([`SpaceKind::alpha_star`]:
    /// eq. 18's sum for NB201, Algorithm 1's (ξ/T)·sum for DARTS).
    #[serde(with = "by_cell")]
    pub alpha: ArchTable,
    /// softmax(α*) per edge.
    #[serde(with = "by_cell")]
    pub probs: ArchTable,
    /// The cell derived from α* after this step (NB201's per-edge argmax, DARTS's top-2 rule).
    pub genotype: AnyGenotype,
    /// Milliseconds since the search started.
    pub elapsed_ms: f64,
}

/// The outcome of a search (`result.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Format version.
    pub schema_version: u32,
    /// The search space (absent in version-1 files: NB201).
    #[serde(default)]
    pub space: SpaceKind,
    /// The selected cell, as its space writes it: an NB201 string, or DARTS's
    /// `Genotype(normal=[…], …)` as `genotypes.py` takes it.
    pub genotype: AnyGenotype,
    /// NB201: its op indices in edge order (absent for DARTS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub op_indices: Vec<usize>,
    /// α* as the derivation ranks it (see [`StepRecord::alpha`]): NB201 `[6][5]`, DARTS
    /// `{normal, reduce}`.
    #[serde(with = "by_cell")]
    pub alpha: ArchTable,
    /// softmax(α*) per edge.
    #[serde(with = "by_cell")]
    pub probs: ArchTable,
    /// DARTS: parameters of the genotype's evaluation network at DARTS's CIFAR-10 size
    /// (C = 36, 20 cells, no auxiliary head), as `count_parameters_in_MB` counts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<usize>,
    /// The training-free second stage's outcome (`--refine K`, our extension; absent when off).
    /// Its `genotype` is then the search's final pick ([`SearchResult::pick`]); `genotype` above
    /// stays Algorithm 1's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refined: Option<Box<crate::refine::Refined>>,
    /// With `--relinearise S` (our extension): the first pass's cell, around which the second
    /// pass took its gradients (α₀ = S·onehot of it); `genotype` and `alpha` are the second
    /// pass's. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_pass: Option<Box<AnyGenotype>>,
    /// Steps run.
    pub steps: usize,
    /// Wall time of the search in seconds.
    pub seconds: f64,
    /// Mean T̃ over the steps.
    pub mean_trace: f64,
    /// The seed.
    pub seed: u64,
    /// Backend name.
    pub backend: String,
    /// Crate version.
    pub version: String,
    /// The resolved configuration.
    pub config: SearchConfig,
}

/// A step begun on the device ([`Search::begin_step`]): its tensors to read back, and the ticket
/// that [`Search::finish_step`] takes with the values.
pub struct PendingStep {
    /// T̃, L and ∇αT̃, not read back yet.
    pub tensors: crate::nasi::StepTensors,
    /// What the host half needs of the step (its Gumbel sample).
    pub ticket: StepTicket,
}

/// The host side of a begun step, handed back to [`Search::finish_step`].
pub struct StepTicket {
    noise: ArchTable,
}

/// Why a search stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// A setting is out of range.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The data could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// T̃ or its gradient is NaN or infinite.
    #[error("non-finite NTK trace at step {step} (T̃ = {trace}, ‖∇αT̃‖ = {grad_norm}); stopped")]
    NonFinite {
        /// The step.
        step: usize,
        /// T̃.
        trace: f64,
        /// ‖∇αT̃‖.
        grad_norm: f64,
    },
}

/// Where the second pass of a re-linearised search (`--relinearise`) takes its gradients.
struct SecondPass {
    /// α₀ = S·onehot(first pass's cell), `[rows, ops]`.
    origin: ArchTable,
    /// The first pass's cell.
    first: AnyGenotype,
    /// Steps done before the pass began (T).
    after: usize,
}

/// The relaxed supernet of the config's space.
enum SpaceNet {
    Nb201(Supernet),
    Darts(DartsSupernet),
}

/// A running NASI search: call [`Search::step`] T times (or iterate), then [`Search::result`].
pub struct Search {
    config: SearchConfig,
    device: Device,
    backend: String,
    net: SpaceNet,
    sampler: Sampler,
    gumbel_rng: rand_chacha::ChaCha8Rng,
    acc: AlphaAccumulator,
    traces: Vec<f64>,
    step: usize,
    /// The second pass of a re-linearised search: its linearisation point α₀ `[rows, ops]`,
    /// the first pass's cell, and the step it began after.
    second_pass: Option<SecondPass>,
    started: Instant,
    pending_start: bool,
    finished: bool,
}

impl Search {
    /// Validates `config`, builds the supernet on `device` and prepares the data.
    pub fn new(config: &SearchConfig, device: &Device) -> Result<Self, SearchError> {
        config.validate()?;
        let net = match config.space {
            SpaceKind::Nb201 => SpaceNet::Nb201(config.init_supernet(device)),
            SpaceKind::Darts => SpaceNet::Darts(config.darts().init_search(config.seed, device)),
        };
        let sampler = Sampler::new(
            &config.data,
            config.seed,
            config.batch,
            config.size,
            config.classes,
        )?;
        Ok(Search {
            config: config.clone(),
            device: device.clone(),
            backend: format!("{device:?}"),
            net,
            sampler,
            gumbel_rng: rng(config.seed, RngStream::Gumbel),
            acc: AlphaAccumulator::new(config.space.shape()),
            traces: Vec::new(),
            step: 0,
            second_pass: None,
            started: Instant::now(),
            pending_start: true,
            finished: false,
        })
    }

    /// The `Started` event's content.
    pub fn start_info(&self) -> StartInfo {
        StartInfo {
            space: self.config.space,
            config: self.config.clone(),
            params: match &self.net {
                SpaceNet::Nb201(n) => n.num_params(None),
                SpaceNet::Darts(n) => count(n.specs()),
            },
            backend: self.backend.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Steps done so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// Whether all steps are done (T, or 2T when re-linearising).
    pub fn is_done(&self) -> bool {
        self.step >= self.config.total_steps()
    }

    /// One whole step, read back synchronously: [`Search::begin_step`], then
    /// [`Search::finish_step`] on the values.
    pub fn step(&mut self) -> Result<StepRecord, SearchError> {
        let PendingStep { tensors, ticket } = self.begin_step();
        self.finish_step(ticket, tensors.read())
    }

    /// The device half of a step: draws its batch and Gumbel noise on the host and enqueues T̃
    /// and ∇αT̃ (eq. 12 and its finite-difference HVP). Nothing is read back: the page awaits the
    /// tensors asynchronously, the CLI reads them at once, and either hands the values to
    /// [`Search::finish_step`] with the ticket.
    pub fn begin_step(&mut self) -> PendingStep {
        let (batch, noise) = self.draw();
        let input = self.step_input(&batch, &noise);
        let tensors = match &self.net {
            SpaceNet::Nb201(n) => trace_and_alpha_grad(n, &input, &self.device),
            SpaceNet::Darts(n) => trace_and_alpha_grad(n, &input, &self.device),
        };
        PendingStep {
            tensors,
            ticket: StepTicket { noise },
        }
    }

    /// The next batch and Gumbel sample (host side, deterministic in the seed). In the second
    /// pass of a re-linearised search the sample is α₀ + g: the relaxation softmax((α + g)/τ)
    /// (eq. 13) at α = α₀ is softmax((0 + (α₀ + g))/τ), and its gradient in α is the same, so
    /// the step's estimator, kernels and hard choice need nothing else.
    fn draw(&mut self) -> (crate::data::Batch, ArchTable) {
        let g = gumbel(&mut self.gumbel_rng, self.config.space.shape());
        let noise = match &self.second_pass {
            None => g,
            Some(p) => ArchTable::from_values(
                g.ops(),
                g.values()
                    .iter()
                    .zip(p.origin.values())
                    .map(|(a, b)| a + b)
                    .collect(),
            ),
        };
        (self.sampler.next_batch(), noise)
    }

    /// The step input for a drawn batch and noise.
    fn step_input<'a>(&self, batch: &'a crate::data::Batch, noise: &'a ArchTable) -> StepInput<'a> {
        StepInput {
            batch,
            gumbel: noise,
            tau: self.config.tau,
            hard: self.config.hard,
            fd_radius: self.config.fd_radius,
            fd_scheme: self.config.fd_scheme,
            loss: self.config.loss,
        }
    }

    /// The host half of a step: folds its read-back values into α* (eq. 18) and returns its
    /// record; a non-finite T̃ or ∇αT̃ stops the search with the step named (the steps before
    /// are kept).
    pub fn finish_step(
        &mut self,
        ticket: StepTicket,
        v: StepValues,
    ) -> Result<StepRecord, SearchError> {
        let noise = ticket.noise;
        let step = self.step + 1;
        let trace = v.trace as f64;
        let gnorm = frobenius_norm(&v.grad_trace);
        if !trace.is_finite() || !gnorm.is_finite() {
            self.finished = true;
            return Err(SearchError::NonFinite {
                step,
                trace,
                grad_norm: gnorm,
            });
        }
        // ν's history is this pass's steps.
        let earlier = &self.traces[self.second_pass.as_ref().map_or(0, |p| p.after)..];
        let nu = match self.config.nu {
            NuRule::Fixed(nu) => Some(nu),
            NuRule::Mean if earlier.is_empty() => None,
            NuRule::Mean => Some(earlier.iter().sum::<f64>() / earlier.len() as f64),
        };
        let g = reward_grad(&v.grad_trace, trace, self.config.mu, nu);
        let running_max = self.acc.push(&g);
        self.traces.push(trace);
        self.step = step;
        let alpha = self.alpha_star();
        let weights = crate::nasi::relaxed_weights_host(&noise, self.config.tau, self.config.hard);
        let genotype = self.config.space.derive(&alpha, self.config.exclude_none);
        if self.config.relinearise > 0.0 && step == self.config.steps {
            // The first pass is over: the second takes its gradients around its cell, with
            // eq. 18's sum and ν's history begun afresh.
            self.second_pass = Some(SecondPass {
                origin: genotype
                    .one_hot()
                    .map(|v| v * self.config.relinearise as f32),
                first: genotype,
                after: step,
            });
            self.acc = AlphaAccumulator::new(self.config.space.shape());
        }
        Ok(StepRecord {
            step,
            trace,
            loss: v.loss as f64,
            reward: reward(trace, self.config.mu, nu),
            nu,
            penalty_active: self.config.mu > 0.0 && nu.is_some_and(|nu| trace > nu),
            grad_norm: frobenius_norm(&g),
            running_max,
            weights,
            probs: alpha.softmax_rows(),
            genotype,
            alpha,
            elapsed_ms: self.started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// α* after the steps so far (of the current pass), as the space's derivation ranks it.
    fn alpha_star(&self) -> ArchTable {
        let before = self.second_pass.as_ref().map_or(0, |p| p.after);
        self.config
            .space
            .alpha_star(&self.acc.alpha(), self.step - before)
    }

    /// The result so far (final once [`Search::is_done`]).
    pub fn result(&self) -> SearchResult {
        let alpha = self.alpha_star();
        let genotype = self.config.space.derive(&alpha, self.config.exclude_none);
        SearchResult {
            schema_version: SCHEMA_VERSION,
            space: self.config.space,
            genotype,
            op_indices: genotype
                .nb201()
                .map_or(Vec::new(), |g| g.indices().to_vec()),
            params: genotype.darts().map(eval_params),
            probs: alpha.softmax_rows(),
            alpha,
            refined: None,
            first_pass: self.second_pass.as_ref().map(|p| Box::new(p.first)),
            steps: self.step,
            seconds: self.started.elapsed().as_secs_f64(),
            mean_trace: self.traces.iter().sum::<f64>() / self.traces.len().max(1) as f64,
            seed: self.config.seed,
            backend: self.backend.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            config: self.config.clone(),
        }
    }
}

impl Search {
    /// [`Search::result`] with the second stage run on it when the config asks for one
    /// (`refine` > 0): the K best cells by α* rescored as standalone networks
    /// ([`crate::refine`]). It reads values back synchronously (the CLI's path; the page runs
    /// [`crate::refine::Refiner`] one candidate at a time).
    pub fn result_refined(&self) -> Result<SearchResult, SearchError> {
        let mut r = self.result();
        r.refined = crate::refine::refine(&self.config, &r.alpha, &self.device)?.map(Box::new);
        r.seconds = self.started.elapsed().as_secs_f64();
        Ok(r)
    }
}

impl SearchResult {
    /// The final cell: the second stage's pick when it ran, Algorithm 1's argmax otherwise.
    pub fn pick(&self) -> &AnyGenotype {
        self.refined
            .as_ref()
            .map_or(&self.genotype, |r| &r.genotype)
    }
}

impl Iterator for Search {
    type Item = Result<SearchEvent, SearchError>;

    /// `Started`, then one `Step` per step, then `Finished`; after an error, nothing.
    fn next(&mut self) -> Option<Self::Item> {
        if self.pending_start {
            self.pending_start = false;
            return Some(Ok(SearchEvent::Started(self.start_info())));
        }
        if self.finished {
            return None;
        }
        if self.is_done() {
            self.finished = true;
            return Some(self.result_refined().map(SearchEvent::Finished));
        }
        Some(self.step().map(SearchEvent::Step))
    }
}

/// Runs a whole search and returns its result, calling `on_event` for every event.
pub fn run(
    config: &SearchConfig,
    device: &Device,
    mut on_event: impl FnMut(&SearchEvent),
) -> Result<SearchResult, SearchError> {
    let mut result = None;
    for ev in Search::new(config, device)? {
        let ev = ev?;
        on_event(&ev);
        if let SearchEvent::Finished(r) = ev {
            result = Some(r);
        }
    }
    Ok(result.expect("a search ends with Finished"))
}

/// Parses a `trajectory.jsonl` (one [`SearchEvent`] per line, as the CLI writes it). Blank lines
/// are skipped; a malformed line is reported with its number.
pub fn parse_trajectory(text: &str) -> Result<Vec<SearchEvent>, String> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let ev: SearchEvent =
            serde_json::from_str(line).map_err(|e| format!("trajectory line {}: {e}", i + 1))?;
        events.push(ev);
    }
    if !events.iter().any(|e| matches!(e, SearchEvent::Step(_))) {
        return Err("the trajectory has no step events".into());
    }
    Ok(events)
}

/// Parses a `result.json` (extra fields such as `nb201` and `run_dir` are ignored).
pub fn parse_result(text: &str) -> Result<SearchResult, String> {
    serde_json::from_str(text).map_err(|e| format!("result.json: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relinearised_search_runs_a_second_pass_around_the_first_pick() {
        let device = crate::cpu_device();
        let cfg = SearchConfig {
            steps: 3,
            batch: 4,
            channels: 2,
            size: 8,
            refine: 0,
            // Far above the Gumbel noise's spread: pass 2's relaxed cells keep pass 1's ops.
            relinearise: 30.0,
            ..SearchConfig::default()
        };
        let mut search = Search::new(&cfg, &device).unwrap();
        let steps: Vec<StepRecord> = (0..6).map(|_| search.step().unwrap()).collect();
        assert!(search.is_done(), "2T steps");
        let r = search.result();
        let first = *r.first_pass.expect("the first pass's cell");
        assert_eq!(first, steps[2].genotype, "the cell of step T");
        let picked = first.nb201().unwrap().indices();
        for s in &steps[3..] {
            assert_eq!(s.weights.row_argmax(), picked, "step {}", s.step);
        }
        for s in &steps[..3] {
            assert!(
                s.weights.row_argmax() != picked,
                "pass 1 samples around α = 0"
            );
        }
        // Eq. 18 begins afresh: step T + 1's α* is G_{T+1}/‖G_{T+1}‖, of norm 1.
        let norm = frobenius_norm(&steps[3].alpha);
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        assert_eq!(r.genotype, steps[5].genotype);
        let plain = run(
            &SearchConfig {
                relinearise: 0.0,
                ..cfg
            },
            &device,
            |_| (),
        )
        .unwrap();
        assert_eq!((plain.steps, plain.first_pass), (3, None));
    }

    #[test]
    fn trajectory_round_trips_and_bad_lines_are_named() {
        let device = crate::cpu_device();
        let cfg = SearchConfig {
            steps: 2,
            batch: 4,
            channels: 2,
            size: 8,
            ..SearchConfig::default()
        };
        let events: Vec<SearchEvent> = Search::new(&cfg, &device)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let text: String = events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        assert_eq!(parse_trajectory(&text).unwrap(), events);
        let e = parse_trajectory(&format!("{text}{{not json\n")).unwrap_err();
        assert!(e.contains("line 5"), "{e}");
        assert!(parse_trajectory("").unwrap_err().contains("no step"));
        let SearchEvent::Finished(r) = &events[3] else {
            panic!()
        };
        let mut v = serde_json::to_value(r).unwrap();
        v["nb201"] = serde_json::json!(null);
        assert_eq!(&parse_result(&v.to_string()).unwrap(), r);
        assert!(parse_result("{}").is_err());
        // Version 2 names the space; a version-1 file (no `space`) is read as NB201's.
        assert!(text.contains(r#""space":"nb201""#), "{text}");
        let v1 = text.replace(r#""space":"nb201","#, "");
        assert!(!v1.contains("space"));
        let old = parse_trajectory(&v1).unwrap();
        assert_eq!(old, events, "version 1 loads as NB201");
        let shipped = parse_trajectory(include_str!("../../www/presets/tiny.jsonl")).unwrap();
        let SearchEvent::Started(info) = &shipped[0] else {
            panic!("a start event")
        };
        assert_eq!(info.space, SpaceKind::Nb201);
    }
}
