//! The live search in the browser: acquire WebGPU (or fall back to the CPU), then step the same
//! [`Search`] the CLI uses, reading every result back asynchronously and yielding to the event
//! loop between steps so the page stays responsive and Pause/Stop act within a step.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::backend::ExecutionError;
use burn::tensor::{Device, Tensor};
use gloo_timers::future::TimeoutFuture;
use wasm_bindgen::JsCast;
use yew::UseReducerDispatcher;

use super::state::{Action, DeviceCheck, NtkView, Playground, RunId};
use crate::config::SearchConfig;
use crate::nasi::{StepValues, trace_and_alpha_grad};
use crate::net::supernet::SupernetConfig;
use crate::search::{PendingStep, Search};
use crate::space::Genotype;

/// Flags the page sets and the runner polls between steps.
#[derive(Default)]
pub struct Control {
    /// Hold before the next step.
    pub paused: Cell<bool>,
    /// Run exactly one step while paused.
    pub step_once: Cell<bool>,
    /// The newest run asked for: a live runner with another id stops at its next check.
    run_id: Cell<RunId>,
}

impl Control {
    /// A new run's identity (increasing), which also tells a running search to stop: every new
    /// run, live or loaded, and Stop call it.
    pub fn begin_run(&self) -> RunId {
        let id = self.run_id.get() + 1;
        self.run_id.set(id);
        id
    }

    /// Whether `run` is still the newest run asked for.
    fn is_current(&self, run: RunId) -> bool {
        self.run_id.get() == run
    }
}

/// The page's one control block, shared by the buttons, the loaders and the running search.
pub fn control() -> Rc<Control> {
    thread_local!(static CTL: Rc<Control> = Rc::new(Control::default()));
    CTL.with(Rc::clone)
}

/// Peak memory the page allows a live run on WebGPU: a browser tab that asks for more than
/// this freezes or is killed, on most visitors' machines, before it can report anything.
pub const GPU_BUDGET_BYTES: u64 = 1_000_000_000;
/// The same for the CPU (wasm) fallback, whose heap is the tab's own.
pub const CPU_BUDGET_BYTES: u64 = 512_000_000;

/// A notice when `config`'s estimated peak memory ([`crate::memory::peak_bytes`]) is over
/// the page's budget for the device it would run on; `None` when it fits.
pub fn budget_notice(config: &SearchConfig) -> Option<String> {
    let (budget, on) = if has_webgpu() {
        (GPU_BUDGET_BYTES, "WebGPU")
    } else {
        (CPU_BUDGET_BYTES, "the CPU")
    };
    crate::memory::over_budget(
        config,
        budget,
        &format!("this page allows {} on {on}", crate::memory::human(budget)),
        "lower the batch or the channels, or use the CLI for full-scale searches",
    )
}

thread_local! {
    static GPU: RefCell<Option<Result<Device, String>>> = const { RefCell::new(None) };
    static GPU_PENDING: Cell<bool> = const { Cell::new(false) };
}

/// Whether the browser exposes `navigator.gpu`.
pub fn has_webgpu() -> bool {
    web_sys::window()
        .map(|w| js_sys::Reflect::has(&w.navigator(), &"gpu".into()).unwrap_or(false))
        .unwrap_or(false)
}

/// Asks `navigator.gpu.requestAdapter()` ourselves first, so that a browser with the API but no
/// usable adapter gets a clear message instead of a failure inside the runtime.
async fn has_adapter() -> bool {
    let Some(w) = web_sys::window() else {
        return false;
    };
    let Ok(gpu) = js_sys::Reflect::get(&w.navigator(), &"gpu".into()) else {
        return false;
    };
    let Ok(f) = js_sys::Reflect::get(&gpu, &"requestAdapter".into()) else {
        return false;
    };
    let Ok(f) = f.dyn_into::<js_sys::Function>() else {
        return false;
    };
    let Ok(p) = f.call0(&gpu) else { return false };
    let Ok(p) = p.dyn_into::<js_sys::Promise>() else {
        return false;
    };
    matches!(wasm_bindgen_futures::JsFuture::from(p).await, Ok(a) if !a.is_null() && !a.is_undefined())
}

/// The WebGPU device (initialised once per page) or the CPU with the reason why.
pub async fn acquire_device() -> (Device, String, Option<String>) {
    // One initialisation per page: a second concurrent `init_async` would fail, so later callers
    // wait for the first one's outcome.
    while GPU_PENDING.with(Cell::get) {
        TimeoutFuture::new(20).await;
    }
    let cached = GPU.with(|g| g.borrow().clone());
    let gpu = match cached {
        Some(r) => r,
        None => {
            GPU_PENDING.with(|p| p.set(true));
            let r = if !has_webgpu() {
                Err("This browser has no WebGPU (navigator.gpu is missing)".to_string())
            } else if !has_adapter().await {
                Err("WebGPU is present but offers no GPU adapter".to_string())
            } else {
                Device::wgpu_options()
                    .init_async()
                    .await
                    .map_err(|e| format!("WebGPU could not start ({e:?})"))
            };
            GPU.with(|g| *g.borrow_mut() = Some(r.clone()));
            GPU_PENDING.with(|p| p.set(false));
            r
        }
    };
    match gpu {
        Ok(d) => (d, "WebGPU".into(), None),
        Err(why) => (
            crate::cpu_device(),
            "CPU (wasm)".into(),
            Some(format!(
                "{why}: running on the CPU instead, which is much slower; keep the proxy small \
                 (the CPU preset) or replay a recorded run."
            )),
        ),
    }
}

/// One read-back per step: T̃, L and ∇αT̃ packed into one tensor ([`StepTensors::packed`]).
async fn read_step(t: crate::nasi::StepTensors) -> Result<Option<StepValues>, ExecutionError> {
    let (packed, shape) = t.packed();
    Ok(StepValues::from_packed(
        packed.into_data_async().await?,
        shape,
    ))
}

/// The page's message for a step whose read-back failed on `device`. A lost GPU (driver reset,
/// GPU process crash; every later operation on it fails) is named as such, and the page forgets
/// the device: later runs go to the CPU with a notice saying why, instead of failing again. The
/// run's steps stay on the page either way.
///
/// The browser can fail the read-back (a buffer that cannot be mapped) before it reports the
/// loss, so a failure that does not say "lost" is checked with a one-value probe once the page
/// has had a moment to receive the report.
async fn describe_failure(e: ExecutionError, device: &Device) -> String {
    let lost = match &e {
        ExecutionError::DevicePoisoned { reason } => Some(reason.clone()),
        _ => {
            TimeoutFuture::new(100).await;
            match Tensor::<1>::zeros([1], device).into_data_async().await {
                Ok(_) => None,
                Err(ExecutionError::DevicePoisoned { reason }) => Some(reason),
                Err(probe) => Some(format!("it no longer returns data: {probe}")),
            }
        }
    };
    let Some(reason) = lost else {
        return format!(
            "reading back from the device failed: {}",
            cause(&e.to_string())
        );
    };
    let reason = cause(&reason);
    GPU.with(|g| {
        *g.borrow_mut() = Some(Err(format!(
            "The WebGPU device was lost earlier on this page ({reason}); reload the page to try \
             the GPU again"
        )))
    });
    format!(
        "the GPU device was lost ({reason}). The steps so far are kept (Download trajectory.jsonl \
         saves them); Reset starts the run again on the CPU, or reload the page to try the GPU \
         again."
    )
}

/// The cause inside burn's multi-line error text ("The device is poisoned / Caused by: / …
/// / Backtrace: …"): its own lines, without the headings and the backtrace, on one line.
fn cause(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Backtrace"))
        .filter(|l| !l.is_empty() && *l != "Caused by:" && *l != "The device is poisoned")
        .collect();
    if lines.is_empty() {
        text.trim().to_string()
    } else {
        lines.join("; ")
    }
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Runs a live search, dispatching `Started`, one `Step` per step and `Finished` (or `Failed`),
/// each with the run's id. A config whose estimated memory is over the page's budget fails at
/// once with a message instead of freezing the tab.
pub async fn run_live(
    config: SearchConfig,
    run: RunId,
    ctl: Rc<Control>,
    dispatch: UseReducerDispatcher<Playground>,
) {
    let failed = |message: String| Action::Failed { run, message };
    if let Some(n) = budget_notice(&config) {
        return dispatch.dispatch(failed(n));
    }
    let (device, backend, notice) = acquire_device().await;
    if let Some(n) = notice {
        dispatch.dispatch(Action::Notice(n));
    }
    let mut search = match Search::new(&config, &device) {
        Ok(s) => s,
        Err(e) => return dispatch.dispatch(failed(e.to_string())),
    };
    dispatch.dispatch(Action::Started {
        run,
        backend,
        info: search.start_info(),
    });
    while !search.is_done() {
        if !ctl.is_current(run) {
            return; // superseded by Reset / a new run / a replay / a loaded file
        }
        if ctl.paused.get() && !ctl.step_once.replace(false) {
            TimeoutFuture::new(50).await;
            continue;
        }
        let t0 = now_ms();
        let PendingStep { tensors, ticket } = search.begin_step();
        let values = match read_step(tensors).await {
            Ok(Some(v)) => v,
            Ok(None) => {
                return dispatch.dispatch(failed("a step read back malformed values".into()));
            }
            Err(e) => return dispatch.dispatch(failed(describe_failure(e, &device).await)),
        };
        match search.finish_step(ticket, values) {
            Ok(record) => dispatch.dispatch(Action::Step {
                run,
                record,
                ms: now_ms() - t0,
            }),
            Err(e) => return dispatch.dispatch(failed(e.to_string())),
        }
        TimeoutFuture::new(0).await; // let the page paint and handle input
    }
    let mut result = search.result();
    if config.refine > 0 {
        // The second stage reads every proxy back at once, which WebGPU in a page cannot do
        // (only `into_data_async`), so it runs on the CPU: its weights and batch come from the
        // seed's host streams, so it scores the cells as the CLI does.
        let cpu = crate::cpu_device();
        let mut refiner = match crate::refine::Refiner::new(&config, &result.alpha, &cpu) {
            Ok(r) => r,
            Err(e) => return dispatch.dispatch(failed(e.to_string())),
        };
        while refiner.score_next() {
            if !ctl.is_current(run) {
                return;
            }
            // The total grows when a climbing round adds the pick's neighbours.
            dispatch.dispatch(Action::Refining {
                run,
                done: refiner.done(),
                total: refiner.len(),
            });
            TimeoutFuture::new(0).await;
        }
        let refined = refiner.finish();
        result.seconds += refined.seconds;
        result.refined = Some(Box::new(refined));
    }
    if ctl.is_current(run) {
        dispatch.dispatch(Action::Finished { run, result });
    }
}

/// Computes the exact `[b, b]` NTK and T̃ of `genotype`'s standalone network on the page's
/// device (b ≤ 8 keeps it to b·K small backward passes), for run `run` (dropped if the page
/// shows another run by the time it is done).
pub async fn compute_ntk(
    config: SearchConfig,
    genotype: Genotype,
    run: RunId,
    dispatch: UseReducerDispatcher<Playground>,
) {
    let (device, _, _) = acquire_device().await;
    let b = config.batch.min(8);
    let probe = match crate::score::CellProbe::new(&config, b, &device) {
        Ok(p) => p,
        Err(e) => return dispatch.dispatch(Action::Notice(e.to_string())),
    };
    let t = probe.tensors(&genotype, true);
    let ntk = t.ntk.expect("asked for the exact NTK");
    let (m, t) = match (
        ntk.into_data_async().await,
        t.grad_norm.trace.into_data_async().await,
    ) {
        (Ok(m), Ok(t)) => (m, t),
        _ => return dispatch.dispatch(Action::Notice("reading the NTK back failed".into())),
    };
    let Some(figures) = crate::score::NtkFigures::from_data(m, b) else {
        return dispatch.dispatch(Action::Notice(
            "the NTK did not read back as numbers".into(),
        ));
    };
    let trace_estimate = t
        .try_to_vec::<f32>()
        .unwrap_or_default()
        .first()
        .copied()
        .unwrap_or(f32::NAN) as f64;
    let crate::score::NtkFigures {
        matrix,
        eigenvalues,
    } = figures;
    dispatch.dispatch(Action::Ntk {
        run,
        view: NtkView {
            genotype,
            batch: b,
            matrix,
            eigenvalues,
            trace_estimate,
        },
    });
}

/// Evaluates T̃ and ∇αT̃ of a tiny supernet (same weights, batch and Gumbel noise, all drawn on
/// the host) on this page's device and on the CPU, and reports their relative differences.
pub async fn device_check() -> Result<DeviceCheck, String> {
    let (gpu, backend, _) = acquire_device().await;
    let cpu = crate::cpu_device();
    let cfg = SupernetConfig {
        channels: 4,
        cells: 1,
        classes: 10,
        size: 8,
    };
    let batch = crate::data::Sampler::new(&crate::config::DataSpec::Gaussian, 0, 8, 8, 10)
        .map_err(|e| e.to_string())?
        .next_batch();
    let noise = crate::data::gumbel(
        &mut crate::data::rng(0, crate::data::RngStream::Gumbel),
        crate::space::nb201::SHAPE,
    );
    let input = crate::nasi::StepInput {
        batch: &batch,
        gumbel: &noise,
        tau: 1.0,
        hard: false,
        fd_radius: 1e-3,
        fd_scheme: crate::config::FdScheme::Central,
        loss: crate::loss::LossKind::CrossEntropy,
    };
    let on = |d: &Device| trace_and_alpha_grad(&cfg.init(0, d), &input, d);
    let read = |t| async move {
        read_step(t)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "a step read back malformed values".to_string())
    };
    let g = read(on(&gpu)).await?;
    let c = read(on(&cpu)).await?;
    let diff: f64 = g
        .grad_trace
        .iter()
        .flatten()
        .zip(c.grad_trace.iter().flatten())
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    Ok(DeviceCheck {
        backend,
        trace_rel: ((g.trace - c.trace) as f64).abs() / (c.trace as f64).abs(),
        grad_rel: diff / crate::nasi::frobenius_norm(&c.grad_trace),
    })
}
