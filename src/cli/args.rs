//! The command line's grammar: the subcommands, their flags (the search flags are
//! [`SearchConfig`]'s own), and the layering of preset, config file and flags.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use clap::{ArgMatches, Parser, Subcommand, parser::ValueSource};
use serde_json::Value;

use super::run::DeviceChoice;
use crate::config::{SearchConfig, SpaceKind};

/// NASI: neural architecture search at initialisation, on the CPU (or a GPU with `--features
/// wgpu` / `cuda`). With no subcommand, runs the default search and prints the cell.
#[derive(Parser, Debug)]
#[command(name = "nasi", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// Run even when the estimated peak memory is over what this machine has available.
    #[arg(long, global = true)]
    pub(crate) force: bool,
    /// The backend: `cpu`, `wgpu` (or `wgpu:N`, discrete GPU N), `cuda` (or `cuda:N`); those the
    /// build's features include (default: the best of them; this build's is shown by `--help`).
    #[arg(long, global = true, default_value_t = DeviceChoice::best_built_in())]
    pub(crate) device: DeviceChoice,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Search NAS-Bench-201 (or `--space darts`) with NASI and write a run folder.
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
    /// Check a DARTS `Genotype(...)` and count its evaluation network's parameters.
    Darts(DartsCmd),
    /// Score a cell and its 24 one-edge variants with every proxy, and say which op each prefers
    /// on each edge.
    Neighbours(NeighboursCmd),
    /// Pack an NB201 accuracy table (CSV) into the page's bundled asset (`www/nb201.bin`).
    PackNb201(PackCmd),
}

#[derive(clap::Args, Debug)]
pub(crate) struct PackCmd {
    /// NB201 accuracy table (CSV), rows in NB201's index order.
    pub(crate) nb201: PathBuf,
    /// Where to write the asset.
    #[arg(long, default_value = "www/nb201.bin")]
    pub(crate) out: PathBuf,
}

#[derive(clap::Args, Debug, Default)]
pub(crate) struct SearchCmd {
    #[command(flatten)]
    pub(crate) cfg: SearchConfig,
    #[command(flatten)]
    pub(crate) layers: ConfigLayers,
    /// NB201 accuracy table (CSV) to report the selected cell's accuracies (never read by the
    /// search itself).
    #[arg(long)]
    pub(crate) nb201: Option<PathBuf>,
    /// Run folder (default: runs/seed<SEED>-<unix time>).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Print one JSON object with the result on stdout, and nothing else.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ScoreCmd {
    /// The cell: an NB201 string, e.g. `|nor_conv_3x3~0|+|…|`, or with `--space darts` a DARTS
    /// `Genotype(normal=[…], …)` (scored at the `darts-tiny` preset's proxy size unless a preset
    /// or flags say otherwise).
    pub(crate) genotype: String,
    #[command(flatten)]
    pub(crate) cfg: SearchConfig,
    #[command(flatten)]
    pub(crate) layers: ConfigLayers,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct LookupCmd {
    /// The cell as an NB201 string.
    pub(crate) genotype: String,
    /// NB201 accuracy table (CSV).
    #[arg(long)]
    pub(crate) nb201: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct NeighboursCmd {
    /// The cell as an NB201 string.
    pub(crate) genotype: String,
    #[command(flatten)]
    pub(crate) cfg: SearchConfig,
    /// Also compute the exact NTK trace (b·K backward passes per cell).
    #[arg(long)]
    pub(crate) exact: bool,
    /// NB201 accuracy table (CSV) to report each variant's accuracies beside the proxies (never
    /// read by the proxies).
    #[arg(long)]
    pub(crate) nb201: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct DartsCmd {
    /// The genotype as DARTS's `genotypes.py` writes it: `Genotype(normal=[('sep_conv_3x3', 0),
    /// …], normal_concat=[2, 3, 4, 5], reduce=[…], reduce_concat=[2, 3, 4, 5])`.
    pub(crate) genotype: String,
    /// C of the evaluation network (DARTS's CIFAR-10 setting: 36).
    #[arg(long, default_value_t = 36)]
    pub(crate) channels: usize,
    /// Cells of the evaluation network (DARTS's CIFAR-10 setting: 20).
    #[arg(long, default_value_t = 20)]
    pub(crate) layers: usize,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct BenchCmd {
    #[command(flatten)]
    pub(crate) cfg: SearchConfig,
    #[command(flatten)]
    pub(crate) layers: ConfigLayers,
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
    /// Score all 15,625 cells instead of a sample.
    #[arg(long, conflicts_with = "sample")]
    pub(crate) all: bool,
    /// Score only shard I of N (1-based: every N-th cell of the list, starting at the I-th), for
    /// fanning out over machines (GNU parallel, a Slurm array); needs --out.
    #[arg(long, value_name = "I/N")]
    pub(crate) shard: Option<super::correlate::Shard>,
    /// Stream one JSON line per scored cell to FILE; rerunning with the same settings resumes
    /// from what it holds.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Join the scores files of the shards (`--out` files) and correlate them (needs --nb201).
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["all", "shard", "out", "exact"])]
    pub(crate) merge: Vec<PathBuf>,
    /// NB201 accuracy table (CSV); needed to correlate (not to score with --out).
    #[arg(long)]
    pub(crate) nb201: Option<PathBuf>,
    /// Also compute the exact NTK trace (b·K backward passes per cell).
    #[arg(long)]
    pub(crate) exact: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where a command's settings come from, lowest priority first: a named preset (or the
/// defaults), then a config file (only the keys it has), then the flags actually given.
#[derive(clap::Args, Debug, Default)]
pub(crate) struct ConfigLayers {
    /// Start from a named preset instead of the defaults: `default`, `paper` (4T: 160 steps),
    /// `tiny`, `darts` (the paper's DARTS search) or `darts-tiny`.
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
    /// `--space darts` without a preset starts from the preset `darts_base` (`darts` for a
    /// search, `darts-tiny` for a score), as NB201's defaults do not make a DARTS network.
    pub(crate) fn resolve(
        &self,
        cli: &SearchConfig,
        matches: Option<&ArgMatches>,
        darts_base: &str,
    ) -> Result<SearchConfig> {
        let darts = cli.space == SpaceKind::Darts && matches.is_some();
        if self.preset.is_none() && self.config.is_none() && !darts {
            return Ok(cli.clone());
        }
        let preset = self.preset.as_deref().or(darts.then_some(darts_base));
        let base = match preset {
            None => SearchConfig::default(),
            Some(name) => crate::config::preset(name).ok_or_else(|| {
                anyhow!(
                    "unknown preset `{name}` (expected one of {})",
                    crate::config::PRESET_NAMES.join(", ")
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
pub(crate) fn read_config_file(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let json = path.extension().is_some_and(|e| e == "json");
    let keys = crate::config::file_keys(&text, json)
        .map_err(|e| anyhow!("malformed config file {}: {e}", path.display()))?;
    Ok(Value::Object(keys))
}
