//! The native command line (`nasi`): argument parsing, run folders, progress and printing.
//! All computing is done by the library; this module only wires it to the terminal and disk.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand, parser::ValueSource};
use serde_json::{Value, json};

use crate::config::SearchConfig;
use crate::nb201::{Accuracies, Table};
use crate::search::{Search, SearchEvent, SearchResult};
use crate::space::Genotype;

/// NASI: neural architecture search at initialisation, on the CPU (or a GPU with `--features
/// wgpu` / `cuda`). With no subcommand, runs the default search and prints the cell.
#[derive(Parser, Debug)]
#[command(name = "nasi", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Run even when the estimated peak memory is over what this machine has available.
    #[arg(long, global = true)]
    force: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Search NAS-Bench-201 with NASI and write a run folder.
    Search(SearchCmd),
    /// Print NASI's T̃ and the exact NTK trace of one cell's standalone network.
    Score(ScoreCmd),
    /// Print a cell's NAS-Bench-201 test accuracies from a table.
    Lookup(LookupCmd),
    /// Time one NASI step (median of several) and report peak memory.
    Bench(BenchCmd),
    /// Run the search once per seed and report NB201 accuracies with mean ± std.
    Reproduce(ReproduceCmd),
    /// Rank correlation of training-free proxies with NB201 accuracy over sampled cells.
    Correlate(CorrelateCmd),
}

#[derive(clap::Args, Debug, Default)]
struct SearchCmd {
    #[command(flatten)]
    cfg: SearchConfig,
    #[command(flatten)]
    layers: ConfigLayers,
    /// NB201 accuracy table (CSV) to report the selected cell's accuracies (never read by the
    /// search itself).
    #[arg(long)]
    nb201: Option<PathBuf>,
    /// Run folder (default: runs/seed<SEED>-<unix time>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON object with the result on stdout, and nothing else.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct ScoreCmd {
    /// The cell as an NB201 string, e.g. `|nor_conv_3x3~0|+|…|`.
    genotype: String,
    #[command(flatten)]
    cfg: SearchConfig,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct LookupCmd {
    /// The cell as an NB201 string.
    genotype: String,
    /// NB201 accuracy table (CSV).
    #[arg(long)]
    nb201: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct BenchCmd {
    #[command(flatten)]
    pub(crate) cfg: SearchConfig,
    /// Timed steps (after one warm-up step); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub(crate) repeats: usize,
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ReproduceCmd {
    #[command(flatten)]
    pub(crate) cfg: SearchConfig,
    #[command(flatten)]
    pub(crate) layers: ConfigLayers,
    /// Seeds as `A-B` (inclusive) or a comma list.
    #[arg(long, default_value = "0-4")]
    pub(crate) seeds: String,
    /// NB201 accuracy table(s) (CSV); give the flag twice to report against two tables.
    #[arg(long, required = true)]
    pub(crate) nb201: Vec<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CorrelateCmd {
    #[command(flatten)]
    pub(crate) cfg: SearchConfig,
    /// Number of cells drawn uniformly (without replacement) from the space.
    #[arg(long, default_value_t = 100)]
    pub(crate) sample: usize,
    /// NB201 accuracy table (CSV).
    #[arg(long)]
    pub(crate) nb201: PathBuf,
    /// Also compute the exact NTK trace (b·K backward passes per cell).
    #[arg(long)]
    pub(crate) exact: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

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

/// Runs the CLI on the process arguments and returns the exit code: 0 success, 2 bad input
/// (config, table, data file, genotype), 1 a search that stopped (e.g. a non-finite trace).
pub fn main() -> i32 {
    keep_freed_memory();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let sub = matches.subcommand().map(|(_, m)| m.clone());
    FORCE.store(cli.force, std::sync::atomic::Ordering::Relaxed);
    let result = match cli.command {
        None => search(SearchCmd::default(), None),
        Some(Command::Search(c)) => search(c, sub.as_ref()),
        Some(Command::Score(c)) => score(c),
        Some(Command::Lookup(c)) => lookup(c),
        Some(Command::Bench(c)) => crate::bench::bench(c),
        Some(Command::Reproduce(c)) => crate::bench::reproduce(c, sub.as_ref()),
        Some(Command::Correlate(c)) => crate::bench::correlate(c),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<crate::search::SearchError>()
                .is_some_and(|s| matches!(s, crate::search::SearchError::NonFinite { .. }))
            {
                1
            } else {
                2
            }
        }
    }
}

/// `--force`: skip the memory check ([`check_memory`]). Set once by [`main`].
static FORCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

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

/// The compute device chosen at the edge: CUDA or wgpu when compiled in, else the CPU.
pub fn select_device() -> burn::tensor::Device {
    #[cfg(feature = "cuda")]
    {
        burn::tensor::Device::cuda(0)
    }
    #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
    {
        burn::tensor::Device::wgpu_options()
            .init()
            .expect("no wgpu adapter: build without --features wgpu to use the CPU")
    }
    #[cfg(not(any(feature = "cuda", feature = "wgpu")))]
    {
        crate::cpu_device()
    }
}

/// Where a command's settings come from, lowest priority first: a named preset (or the
/// defaults), then a config file (only the keys it has), then the flags actually given.
#[derive(clap::Args, Debug, Default)]
pub(crate) struct ConfigLayers {
    /// Start from a named preset instead of the defaults: `default`, `paper` (4T: 160 steps) or
    /// `tiny`.
    #[arg(long)]
    pub(crate) preset: Option<String>,
    /// A TOML or JSON file with the same keys as the flags (kebab-case); flags given on the
    /// command line win over the file, the file over the preset.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
}

impl ConfigLayers {
    /// Resolves the settings: preset < file < flags given on the command line (`matches` are
    /// the subcommand's; without them the flags count only where a preset or file is absent).
    pub(crate) fn resolve(
        &self,
        cli: &SearchConfig,
        matches: Option<&ArgMatches>,
    ) -> Result<SearchConfig> {
        if self.preset.is_none() && self.config.is_none() {
            return Ok(cli.clone());
        }
        let base = match &self.preset {
            None => SearchConfig::default(),
            Some(name) => crate::config::preset(name).ok_or_else(|| {
                let names: Vec<&str> = crate::config::PRESETS.iter().map(|p| p.0).collect();
                anyhow!(
                    "unknown preset `{name}` (expected one of {})",
                    names.join(", ")
                )
            })?,
        };
        let mut merged = serde_json::to_value(&base)?;
        if let Some(path) = &self.config {
            let file = read_config_file(path)?;
            if let (Value::Object(obj), Value::Object(f)) = (&mut merged, file) {
                obj.extend(f);
            }
        }
        let flags = serde_json::to_value(cli)?;
        if let (Some(m), Value::Object(obj), Value::Object(f)) = (matches, &mut merged, &flags) {
            for id in m.ids() {
                if m.value_source(id.as_str()) == Some(ValueSource::CommandLine) {
                    let key = id.as_str().replace('_', "-");
                    if let Some(v) = f.get(&key) {
                        obj.insert(key, v.clone());
                    }
                }
            }
        }
        serde_json::from_value(merged).map_err(|e| match &self.config {
            Some(path) => anyhow!("malformed config file {}: {e}", path.display()),
            None => anyhow!("invalid settings: {e}"),
        })
    }
}

/// The keys a TOML or JSON config file sets, as a JSON object (unknown keys are caught when the
/// merged object is read as a [`SearchConfig`]).
fn read_config_file(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let json = path.extension().is_some_and(|e| e == "json");
    let keys = crate::config::file_keys(&text, json)
        .map_err(|e| anyhow!("malformed config file {}: {e}", path.display()))?;
    Ok(Value::Object(keys))
}

fn load_table(path: &Path) -> Result<Table> {
    Ok(Table::load(path)?)
}

fn accuracies_json(a: Option<Accuracies>) -> Value {
    a.map_or(Value::Null, |a| {
        serde_json::to_value(a).expect("plain numbers")
    })
}

/// Writes a run folder as events arrive: `config.toml`, `trajectory.jsonl` (one event per line,
/// flushed each step so an interrupted run keeps its steps), then `result.json` and `cell.svg`.
struct RunFolder {
    dir: PathBuf,
    trajectory: std::io::BufWriter<std::fs::File>,
}

impl RunFolder {
    fn create(dir: &Path, config: &SearchConfig) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create run folder {}", dir.display()))?;
        std::fs::write(dir.join("config.toml"), toml::to_string(config)?)?;
        let f = std::fs::File::create(dir.join("trajectory.jsonl"))?;
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            trajectory: std::io::BufWriter::new(f),
        })
    }

    fn event(&mut self, ev: &SearchEvent) -> Result<()> {
        serde_json::to_writer(&mut self.trajectory, ev)?;
        self.trajectory.write_all(b"\n")?;
        self.trajectory.flush()?;
        Ok(())
    }

    fn finish(&mut self, result: &SearchResult, nb201: Option<Accuracies>) -> Result<()> {
        let mut v = serde_json::to_value(result)?;
        v["nb201"] = accuracies_json(nb201);
        std::fs::write(
            self.dir.join("result.json"),
            serde_json::to_string_pretty(&v)?,
        )?;
        std::fs::write(
            self.dir.join("cell.svg"),
            crate::svg::cell_svg(&result.genotype, Some(&result.probs)),
        )?;
        Ok(())
    }
}

/// Runs one search with events fed to `on_event`; shared by `search` and `reproduce`.
pub(crate) fn run_search(
    config: &SearchConfig,
    progress: bool,
    mut on_event: impl FnMut(&SearchEvent) -> Result<()>,
) -> Result<SearchResult> {
    let device = select_device();
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

fn search(cmd: SearchCmd, matches: Option<&ArgMatches>) -> Result<()> {
    let config = cmd.layers.resolve(&cmd.cfg, matches)?;
    config.validate()?;
    check_memory(&config)?;
    // Load the table first: a bad path should fail before minutes of search.
    let table = cmd.nb201.as_deref().map(load_table).transpose()?;
    let dir = cmd.out.clone().unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/seed{}-{t}", config.seed))
    });
    // The folder is made at the first event, i.e. once the data loaded and the supernet built.
    let mut folder: Option<RunFolder> = None;
    let progress = !cmd.quiet && !cmd.json;
    let result = run_search(&config, progress, |ev| {
        let f = match &mut folder {
            Some(f) => f,
            None => folder.insert(RunFolder::create(&dir, &config)?),
        };
        f.event(ev)
    });
    let result = match (result, &folder) {
        (Ok(r), _) => r,
        (Err(e), Some(_)) => {
            return Err(e.context(format!(
                "the steps so far are kept in {}",
                dir.join("trajectory.jsonl").display()
            )));
        }
        (Err(e), None) => return Err(e),
    };
    let mut folder = folder.expect("a finished search has emitted events");
    let acc = table.as_ref().and_then(|t| t.get(&result.genotype));
    folder.finish(&result, acc)?;
    if cmd.json {
        let mut v = serde_json::to_value(&result)?;
        v["nb201"] = accuracies_json(acc);
        v["run_dir"] = json!(dir.display().to_string());
        println!("{v}");
    } else {
        println!("{}", result.genotype);
        eprintln!(
            "{} steps in {:.1} s ({:.2} s/step), mean T̃ {:.4}; run folder {}",
            result.steps,
            result.seconds,
            result.seconds / result.steps as f64,
            result.mean_trace,
            dir.display()
        );
        if let Some(t) = &table {
            match t.get(&result.genotype) {
                Some(a) => eprintln!(
                    "NB201 test accuracy: CIFAR-10 {:.2}, CIFAR-100 {:.2}, ImageNet16-120 {:.2}",
                    a.cifar10, a.cifar100, a.imagenet16
                ),
                None => eprintln!("the table has no row for this cell"),
            }
        }
    }
    Ok(())
}

/// T̃, exact trace and NTK spectrum of one standalone cell network.
pub(crate) struct CellScore {
    pub(crate) trace: f64,
    pub(crate) exact_trace: f64,
    pub(crate) eigenvalues: Vec<f64>,
    pub(crate) params: usize,
}

pub(crate) fn score_cell(g: &Genotype, cfg: &SearchConfig, exact: bool) -> Result<CellScore> {
    use crate::supernet::{CellMix, ReluTape, input_tensor, one_hot};
    let device = select_device();
    let net = cfg.supernet().init(cfg.seed, &device);
    let batch = crate::data::Sampler::new(&cfg.data, cfg.seed, cfg.batch, cfg.size, cfg.classes)?
        .next_batch();
    let x = input_tensor(&batch, &device).autodiff();
    let mix = CellMix::Fixed(*g);
    let f = |p: &[burn::tensor::Tensor<1>]| net.forward(p, x.clone(), &mix, &mut ReluTape::Free);
    let trace = crate::ntk::grad_norm_sq(
        net.params(),
        one_hot(&batch.labels, cfg.classes, &device),
        f,
    )
    .trace
    .into_scalar::<f32>() as f64;
    let (exact_trace, eigenvalues) = if exact {
        let ntk: Vec<f64> = crate::ntk::exact_ntk(net.params(), cfg.batch, cfg.classes, f)
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow!("{e:?}"))?
            .into_iter()
            .map(f64::from)
            .collect();
        let ev = crate::ntk::symmetric_eigenvalues(&ntk, cfg.batch);
        (ev.iter().sum(), ev)
    } else {
        (f64::NAN, Vec::new())
    };
    Ok(CellScore {
        trace,
        exact_trace,
        eigenvalues,
        params: net.num_params(Some(g)),
    })
}

fn score(cmd: ScoreCmd) -> Result<()> {
    let g: Genotype = cmd.genotype.parse()?;
    cmd.cfg.validate()?;
    check_memory(&cmd.cfg)?;
    let s = score_cell(&g, &cmd.cfg, true)?;
    let (lo, hi) = (s.eigenvalues[0], s.eigenvalues[s.eigenvalues.len() - 1]);
    if cmd.json {
        println!(
            "{}",
            json!({"genotype": g.to_string(), "params": s.params, "trace": s.trace,
                   "exact_trace": s.exact_trace, "bound": 2.0 * s.exact_trace / cmd.cfg.batch as f64,
                   "eigenvalues": s.eigenvalues, "condition_number": hi / lo})
        );
    } else {
        println!("cell            {g}");
        println!("parameters      {}", s.params);
        println!(
            "NASI T̃          {:.6}   (‖∇θ L‖², eq. 12; batch {})",
            s.trace, cmd.cfg.batch
        );
        println!("exact tr(Θ)     {:.6}", s.exact_trace);
        println!(
            "2·tr(Θ)/b       {:.6}   (upper bound on T̃)",
            2.0 * s.exact_trace / cmd.cfg.batch as f64
        );
        println!(
            "λ_min, λ_max    {lo:.4e}, {hi:.4e}   (condition number {:.3e})",
            hi / lo
        );
    }
    Ok(())
}

fn lookup(cmd: LookupCmd) -> Result<()> {
    let g: Genotype = cmd.genotype.parse()?;
    let t = load_table(&cmd.nb201)?;
    let Some(a) = t.get(&g) else {
        bail!("the table {} has no row for {g}", cmd.nb201.display());
    };
    if cmd.json {
        println!("{}", json!({"genotype": g.to_string(), "nb201": a}));
    } else {
        println!(
            "{g}\nCIFAR-10 {:.2}  CIFAR-100 {:.2}  ImageNet16-120 {:.2}",
            a.cifar10, a.cifar100, a.imagenet16
        );
    }
    Ok(())
}
