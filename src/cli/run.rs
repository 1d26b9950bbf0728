//! What the commands share: the device, the memory check, the run folder and the search loop
//! with its progress bar.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use crate::config::SearchConfig;
use crate::search::{Search, SearchEvent, SearchResult};
use crate::space::AnyGenotype;
use crate::space::nb201::table::{Accuracies, Table};

/// Tells glibc's malloc to keep freed memory for reuse. A NASI step allocates and frees
/// hundreds of activation-sized buffers (4 MiB each at C = 16, b = 64); by default glibc maps the
/// large ones fresh from the kernel and unmaps or trims them on free, so every step pays a
/// page fault and a zeroing per 4 KiB page again (245k faults in one `nasi bench` at that
/// config). With a fixed mmap threshold of 32 MiB (glibc's largest) and no trimming below 2 GiB
/// the buffers come back from the heap: 98k faults, −6.5 % per step (docs/performance.md). Peak
/// memory is unchanged. The same as `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` /
/// `MALLOC_TOP_PAD_` in the environment; elsewhere than glibc, nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets malloc's tuning parameters (it takes malloc's own lock); an
    // out-of-range value is refused with a 0 return, which leaves the default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

/// `--force`: skip the memory check ([`check_memory`]). Set once by [`main`].
pub(crate) static FORCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Refuses (exit 2, one line) a config whose estimated peak memory
/// ([`crate::memory::peak_bytes`]) is over what this machine has available now, before anything
/// is allocated; `--force` tries anyway.
pub(crate) fn check_memory(cfg: &SearchConfig) -> Result<()> {
    if FORCE.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let Some(available) = crate::memory::available_bytes() else {
        return Ok(());
    };
    match crate::memory::over_budget(
        cfg,
        available,
        &format!(
            "this machine has {} available",
            crate::memory::human(available)
        ),
        "lower --batch or --channels (--force tries anyway)",
    ) {
        Some(line) => Err(anyhow!(line)),
        None => Ok(()),
    }
}

/// `--device`: the backend a command computes on, chosen at run time (burn 0.22 has no backend
/// generics, so one binary holds every backend its features built in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// burn flex with this crate's CPU kernels.
    Cpu,
    /// wgpu (Vulkan, Metal, DX12): the default adapter, or discrete GPU N.
    Wgpu(Option<usize>),
    /// CUDA device N.
    Cuda(usize),
}

impl DeviceChoice {
    /// The best backend built in: CUDA, else wgpu, else the CPU.
    pub fn best_built_in() -> Self {
        if cfg!(feature = "cuda") {
            DeviceChoice::Cuda(0)
        } else if cfg!(feature = "wgpu") {
            DeviceChoice::Wgpu(None)
        } else {
            DeviceChoice::Cpu
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Wgpu(None) => f.write_str("wgpu"),
            DeviceChoice::Wgpu(Some(i)) => write!(f, "wgpu:{i}"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, index) = match s.split_once(':') {
            Some((n, i)) => (
                n,
                Some(
                    i.parse::<usize>()
                        .map_err(|_| format!("`{i}` in `{s}` is not a device index"))?,
                ),
            ),
            None => (s, None),
        };
        match name {
            "cpu" if index.is_none() => Ok(DeviceChoice::Cpu),
            "wgpu" => Ok(DeviceChoice::Wgpu(index)),
            "cuda" => Ok(DeviceChoice::Cuda(index.unwrap_or(0))),
            _ => Err(format!(
                "unknown device `{s}` (expected cpu, wgpu, wgpu:N, cuda or cuda:N)"
            )),
        }
    }
}

/// `--device`, set once by [`main`]; unset means [`DeviceChoice::best_built_in`].
pub(crate) static DEVICE: std::sync::OnceLock<DeviceChoice> = std::sync::OnceLock::new();

/// The compute device of `--device` (default: the best backend built in).
///
/// A backend the build lacks, a machine without a usable GPU adapter (no driver, no Vulkan ICD)
/// or without the CUDA device asked for is bad input for this machine: one line naming it,
/// exit 2, not a panic.
pub fn select_device() -> Result<burn::tensor::Device> {
    open_device(
        DEVICE
            .get()
            .copied()
            .unwrap_or_else(DeviceChoice::best_built_in),
    )
}

fn open_device(choice: DeviceChoice) -> Result<burn::tensor::Device> {
    let missing = |feature: &str| {
        anyhow!(
            "this build has no {feature} backend: build with `--features {feature}` (or use \
             --device cpu)"
        )
    };
    match choice {
        DeviceChoice::Cpu => Ok(crate::cpu_device()),
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu(index) => {
            let kind = index.map_or(burn::tensor::DeviceKind::DefaultDevice, |i| {
                burn::tensor::DeviceKind::DiscreteGpu(i)
            });
            burn::tensor::Device::wgpu_options()
                .device_kind(kind)
                .init()
                .map_err(|e| {
                    anyhow!(
                        "no wgpu adapter ({}): install the GPU's Vulkan/Metal driver, or use \
                         --device cpu",
                        format!("{e:?}").replace('\n', " ")
                    )
                })
        }
        #[cfg(not(feature = "wgpu"))]
        DeviceChoice::Wgpu(_) => Err(missing("wgpu")),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(index) => open_cuda(index),
        #[cfg(not(feature = "cuda"))]
        DeviceChoice::Cuda(_) => Err(missing("cuda")),
    }
}

/// CUDA device `index`, tried with one tiny read-back: burn opens CUDA lazily and panics on a
/// missing driver or device, so the panic is caught here (its hook silenced) and becomes one line.
#[cfg(feature = "cuda")]
fn open_cuda(index: usize) -> Result<burn::tensor::Device> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let tried = std::panic::catch_unwind(|| {
        let device = burn::tensor::Device::cuda(index);
        let _ = burn::tensor::Tensor::<1>::zeros([1], &device).into_data();
        device
    });
    std::panic::set_hook(hook);
    tried.map_err(|payload| {
        let why = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown error");
        anyhow!(
            "no CUDA device {index} ({}): check the NVIDIA driver, or use --device wgpu|cpu",
            why.replace('\n', " ")
        )
    })
}

pub(crate) fn load_table(path: &Path) -> Result<Table> {
    Ok(Table::load(path)?)
}

pub(crate) fn accuracies_json(a: Option<Accuracies>) -> Value {
    a.map_or(Value::Null, |a| {
        serde_json::to_value(a).expect("plain numbers")
    })
}

/// Writes a run folder as events arrive: `config.toml`, `trajectory.jsonl` (one event per line,
/// flushed each step so an interrupted run keeps its steps), then `result.json` and `cell.svg`.
pub(crate) struct RunFolder {
    dir: PathBuf,
    trajectory: std::io::BufWriter<std::fs::File>,
}

impl RunFolder {
    pub(crate) fn create(dir: &Path, config: &SearchConfig) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create run folder {}", dir.display()))?;
        std::fs::write(dir.join("config.toml"), toml::to_string(config)?)?;
        let f = std::fs::File::create(dir.join("trajectory.jsonl"))?;
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            trajectory: std::io::BufWriter::new(f),
        })
    }

    pub(crate) fn event(&mut self, ev: &SearchEvent) -> Result<()> {
        serde_json::to_writer(&mut self.trajectory, ev)?;
        self.trajectory.write_all(b"\n")?;
        self.trajectory.flush()?;
        Ok(())
    }

    pub(crate) fn finish(
        &mut self,
        result: &SearchResult,
        nb201: Option<Accuracies>,
    ) -> Result<()> {
        let mut v = serde_json::to_value(result)?;
        if result.space == crate::space::SpaceKind::Nb201 {
            v["nb201"] = accuracies_json(nb201);
        }
        std::fs::write(
            self.dir.join("result.json"),
            serde_json::to_string_pretty(&v)?,
        )?;
        let svg = match result.pick() {
            AnyGenotype::Nb201(g) => crate::space::nb201::draw::cell_svg(g, Some(&result.probs)),
            AnyGenotype::Darts(g) => crate::space::darts::draw::cells_svg(g, Some(&result.probs)),
        };
        std::fs::write(self.dir.join("cell.svg"), svg)?;
        Ok(())
    }
}

/// Runs one search with events fed to `on_event`; shared by `search` and `reproduce`.
pub(crate) fn run_search(
    config: &SearchConfig,
    progress: bool,
    mut on_event: impl FnMut(&SearchEvent) -> Result<()>,
) -> Result<SearchResult> {
    let device = select_device()?;
    let search = Search::new(config, &device)?;
    let bar = if progress {
        indicatif::ProgressBar::new(config.steps as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
        )
        .expect("static template"),
    );
    let mut result = None;
    for ev in search {
        let ev = ev.inspect_err(|_| bar.abandon())?;
        on_event(&ev)?;
        match ev {
            SearchEvent::Step(s) => {
                bar.set_position(s.step as u64);
                bar.set_message(format!("T̃ {:.4}  {}", s.trace, s.genotype));
            }
            SearchEvent::Finished(r) => result = Some(r),
            SearchEvent::Started(_) => {}
        }
    }
    bar.finish_and_clear();
    result.ok_or_else(|| anyhow!("the search ended without a result"))
}
