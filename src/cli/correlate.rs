//! `nasi correlate`: rank correlation of training-free proxies with NB201 accuracy, over sampled
//! cells or the whole space. The whole space is 15,625 standalone networks, so it is built to
//! fan out: `--shard I/N` scores every N-th cell, `--out FILE` streams one JSON line per cell
//! (resuming from what FILE already holds), and `--merge FILE…` joins the shards' files into
//! one table, which also names the cell each proxy ranks first (what enumerating the scored
//! cells with it would pick), and the network's depth, which is the architecture's and so
//! computed at the report. Scoring never reads the accuracy table; only the report does. The
//! ensemble column aggregates the proxies of `--refine-with`, so a merge can try other ensembles
//! on the same scores.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use rand::Rng;
use serde_json::{Value, json};
use web_time::Instant;

use super::args::*;
use super::run::*;
use crate::config::{Proxy, SearchConfig};
use crate::space::Genotype;
use crate::space::nb201::table::{Accuracies, Table};
use crate::stats::{kendall_tau_b, spearman};

/// `k` distinct cells drawn uniformly from the 15,625 (partial Fisher–Yates on the ordinals),
/// as ordinals ([`Genotype::from_ordinal`]).
pub fn sample_ordinals(k: usize, seed: u64) -> Vec<usize> {
    let mut r = crate::data::rng(seed, crate::data::RngStream::Data);
    let mut all: Vec<usize> = (0..Genotype::SPACE_SIZE).collect();
    let k = k.min(all.len());
    for i in 0..k {
        let j = r.random_range(i..all.len());
        all.swap(i, j);
    }
    all.truncate(k);
    all
}

/// `I/N` of `--shard`: this run scores the cells whose position in the list is I−1 modulo N
/// (1-based I, as `cargo nextest --partition count:I/N` and Slurm's `--array=1-N` count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1-based index.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("a shard is `I/N` with 1 ≤ I ≤ N (e.g. `2/8`), got `{s}`");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The proxy columns of a run, in table order: the four network proxies, the exact trace when
/// asked for, the parameter count, AZ-NAS's three, MeCo, ZiCo and −ln GSC (Rademacher and
/// loss probes).
fn columns(exact: bool) -> Vec<&'static str> {
    let mut names = vec!["nasi_trace", "grad_norm", "synflow", "naswot"];
    if exact {
        names.push("exact_ntk_trace");
    }
    names.extend([
        "params",
        "expressivity",
        "progressivity",
        "trainability",
        "meco",
        "zico",
        "gsc",
        "gsc_loss",
    ]);
    names
}

/// The version a scores file's first line carries: 2 since the `meco` column, 3 since the
/// `zico` and `gsc` columns, 4 since `gsc_loss` (an older file lacks a column and is refused
/// rather than merged with an empty one).
const SCORES_VERSION: u64 = 4;

/// The first line of a scores file: what was scored, so that a resumed run or a merge can
/// check that every line came from the same settings.
fn header(cfg: &SearchConfig, cells: &str, exact: bool, shard: Shard) -> Value {
    json!({"nasi_scores": SCORES_VERSION, "cells": cells, "exact": exact, "shard": shard.to_string(),
           "config": cfg})
}

/// One scored cell: its ordinal, its text and its proxy values (`null` where not finite).
struct Row {
    ordinal: usize,
    scores: Vec<Option<f64>>,
}

fn row_json(r: &Row, names: &[&str]) -> Value {
    let scores: serde_json::Map<String, Value> = names
        .iter()
        .zip(&r.scores)
        .map(|(n, v)| (n.to_string(), json!(v)))
        .collect();
    json!({"ordinal": r.ordinal, "genotype": Genotype::from_ordinal(r.ordinal).to_string(),
           "scores": scores})
}

fn parse_row(line: &str, names: &[&str]) -> Option<Row> {
    let v: Value = serde_json::from_str(line).ok()?;
    let ordinal = v["ordinal"].as_u64()? as usize;
    if ordinal >= Genotype::SPACE_SIZE {
        return None;
    }
    let scores = names
        .iter()
        .map(|n| match &v["scores"][n] {
            Value::Null => Some(None),
            x => x.as_f64().map(Some),
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Row { ordinal, scores })
}

/// A scores file read back: its header and its rows. A last line cut short (a killed run) is
/// dropped, and `valid_len` says how many bytes precede it; any other bad line is an error
/// naming it.
struct ScoresFile {
    header: Value,
    rows: Vec<Row>,
    valid_len: usize,
}

fn read_scores(path: &Path, names_of: impl Fn(bool) -> Vec<&'static str>) -> Result<ScoresFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read scores file {}", path.display()))?;
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    let header: Value = serde_json::from_str(first).ok().ok_or_else(|| {
        anyhow!(
            "{} is not a scores file of `nasi correlate --out` (bad first line)",
            path.display()
        )
    })?;
    let Some(version) = header["nasi_scores"].as_u64() else {
        bail!(
            "{} is not a scores file of `nasi correlate --out` (no nasi_scores version in its first \
             line)",
            path.display()
        );
    };
    if version != SCORES_VERSION {
        bail!(
            "{} is a scores file of another nasi (version {}, this one reads version {}, with \
             the meco, zico, gsc and gsc_loss columns): score those cells again",
            path.display(),
            version,
            SCORES_VERSION
        );
    }
    let names = names_of(header["exact"].as_bool().unwrap_or(false));
    let mut rows = Vec::new();
    let mut valid_len = first.len();
    for (i, line) in lines.enumerate() {
        match parse_row(line, &names) {
            Some(r) if line.ends_with('\n') => {
                rows.push(r);
                valid_len += line.len();
            }
            // A last line without its newline was cut off mid-write: score that cell again.
            _ if !line.ends_with('\n') => break,
            _ => bail!("{} line {}: not a scored cell", path.display(), i + 2),
        }
    }
    Ok(ScoresFile {
        header,
        rows,
        valid_len,
    })
}

pub(crate) fn correlate(cmd: CorrelateCmd) -> Result<()> {
    if !cmd.merge.is_empty() {
        return merge(&cmd);
    }
    cmd.cfg.validate()?;
    let ordinals: Vec<usize> = if cmd.all {
        (0..Genotype::SPACE_SIZE).collect()
    } else {
        if cmd.sample < 3 {
            bail!("sample must be at least 3 cells to correlate");
        }
        if cmd.sample > Genotype::SPACE_SIZE {
            bail!(
                "sample {} is more than the {} cells of NAS-Bench-201: use --all for all of them",
                cmd.sample,
                Genotype::SPACE_SIZE
            );
        }
        sample_ordinals(cmd.sample, cmd.cfg.seed)
    };
    let shard = cmd.shard.unwrap_or(Shard { index: 1, count: 1 });
    let mine: Vec<usize> = ordinals
        .iter()
        .enumerate()
        .filter(|(i, _)| i % shard.count == shard.index - 1)
        .map(|(_, &o)| o)
        .collect();
    let whole = shard.count == 1;
    if cmd.out.is_none() && !whole {
        bail!("--shard needs --out FILE: a shard's scores are merged later with --merge");
    }
    if cmd.out.is_none() && cmd.nb201.is_none() {
        bail!("give --nb201 CSV to correlate, or --out FILE to only score the cells");
    }
    check_memory(&cmd.cfg)?;
    // Load the table first: a bad path should fail before the scoring.
    let table = cmd.nb201.as_deref().map(load_table).transpose()?;
    let names = columns(cmd.exact);
    let cells_desc = if cmd.all {
        "all".to_string()
    } else {
        format!("sample {} seed {}", cmd.sample, cmd.cfg.seed)
    };
    let head = header(&cmd.cfg, &cells_desc, cmd.exact, shard);

    // Resume: keep what the file already holds if it was written by these same settings.
    let mut rows: Vec<Row> = Vec::new();
    let mut file = None;
    if let Some(path) = &cmd.out {
        let mut f = if path.exists() {
            let old = read_scores(path, columns)?;
            if old.header != head {
                bail!(
                    "{} holds scores of other settings (its first line differs): give another \
                     --out, or delete it to start again",
                    path.display()
                );
            }
            let f = std::fs::OpenOptions::new().write(true).open(path)?;
            f.set_len(old.valid_len as u64)?;
            rows = old.rows;
            f
        } else {
            let mut f = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            writeln!(f, "{head}")?;
            f
        };
        use std::io::Seek;
        f.seek(std::io::SeekFrom::End(0))?;
        file = Some(f);
    }
    let done: std::collections::HashSet<usize> = rows.iter().map(|r| r.ordinal).collect();
    let todo: Vec<usize> = mine.into_iter().filter(|o| !done.contains(o)).collect();
    let device = select_device()?;
    let bar = if cmd.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new((done.len() + todo.len()) as u64)
    };
    bar.inc(done.len() as u64);
    let started = Instant::now();
    let proxy = crate::proxies::ProxyContext::new(&cmd.cfg, &device)?;
    for &o in &todo {
        let g = Genotype::from_ordinal(o);
        let s = proxy.scores(&g, cmd.exact);
        let mut values = vec![s.nasi_trace, s.grad_norm, s.synflow, s.naswot];
        if cmd.exact {
            values.push(s.exact_trace);
        }
        values.push(proxy.params(&g) as f64);
        values.extend([
            s.az.expressivity,
            s.az.progressivity,
            s.az.trainability,
            s.meco,
            s.zico,
            s.gsc,
            s.gsc_loss,
        ]);
        let row = Row {
            ordinal: o,
            scores: values
                .into_iter()
                .map(|v| Some(v).filter(|v| v.is_finite()))
                .collect(),
        };
        if let Some(f) = &mut file {
            writeln!(f, "{}", row_json(&row, &names))?;
        }
        rows.push(row);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    match (&table, whole) {
        (Some(t), true) => report(&cmd, &cmd.cfg, &names, &rows, t, seconds),
        _ => {
            let path = cmd
                .out
                .as_ref()
                .expect("checked: --out without a whole table");
            if cmd.json {
                println!(
                    "{}",
                    json!({"scored": rows.len(), "new": todo.len(), "out": path.display().to_string(),
                           "shard": shard.to_string(), "seconds": seconds})
                );
            } else {
                println!(
                    "{} cells scored into {} ({} new, {:.1} s); join the shards with \
                     `nasi correlate --merge FILE… --nb201 CSV`",
                    rows.len(),
                    path.display(),
                    todo.len(),
                    seconds
                );
            }
            Ok(())
        }
    }
}

/// `--merge FILE…`: the shards' rows joined into one table; every file must come from the same
/// settings, and together they must hold every cell of their list exactly as often as their
/// shards say.
fn merge(cmd: &CorrelateCmd) -> Result<()> {
    let Some(table_path) = &cmd.nb201 else {
        bail!("--merge correlates the joined scores: give --nb201 CSV");
    };
    let table = load_table(table_path)?;
    let files: Vec<ScoresFile> = cmd
        .merge
        .iter()
        .map(|p| read_scores(p, columns))
        .collect::<Result<_>>()?;
    let strip = |h: &Value| {
        let mut h = h.clone();
        h["shard"] = Value::Null;
        h
    };
    let first = &files[0].header;
    for (f, p) in files.iter().zip(&cmd.merge).skip(1) {
        if strip(&f.header) != strip(first) {
            bail!(
                "{} was scored with other settings than {} (their first lines differ beyond the shard)",
                p.display(),
                cmd.merge[0].display()
            );
        }
    }
    let cfg: SearchConfig = serde_json::from_value(first["config"].clone())
        .map_err(|e| anyhow!("the scores' config: {e}"))?;
    let exact = first["exact"].as_bool().unwrap_or(false);
    let cells = first["cells"].as_str().unwrap_or("");
    let ordinals: Vec<usize> = if cells == "all" {
        (0..Genotype::SPACE_SIZE).collect()
    } else {
        let sample = cells
            .strip_prefix("sample ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|k| k.parse().ok())
            .ok_or_else(|| anyhow!("the scores' `cells` field `{cells}` is not understood"))?;
        sample_ordinals(sample, cfg.seed)
    };
    let mut by_ordinal: BTreeMap<usize, Row> = BTreeMap::new();
    for f in files {
        for r in f.rows {
            by_ordinal.insert(r.ordinal, r);
        }
    }
    let missing: Vec<usize> = ordinals
        .iter()
        .copied()
        .filter(|o| !by_ordinal.contains_key(o))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the files hold {} of the {} cells: {} are missing (e.g. {}); finish the shards \
             (rerunning one resumes it) before merging",
            ordinals.len() - missing.len(),
            ordinals.len(),
            missing.len(),
            Genotype::from_ordinal(missing[0])
        );
    }
    let rows: Vec<Row> = ordinals
        .iter()
        .map(|o| by_ordinal.remove(o).expect("checked"))
        .collect();
    report(cmd, &cfg, &columns(exact), &rows, &table, f64::NAN)
}

/// The correlation table of `rows` against `table`, with the network's depth (computed from
/// each genotype, [`crate::net::supernet::SupernetConfig::depth`]) and the ensemble column:
/// AZ-NAS's Σ_p ln(rank_p/n) over the proxies of the command's `--refine-with` (the second
/// stage's default unless given) that the table has.
fn report(
    cmd: &CorrelateCmd,
    cfg: &SearchConfig,
    names: &[&str],
    rows: &[Row],
    table: &Table,
    seconds: f64,
) -> Result<()> {
    let accs: Vec<Accuracies> = rows
        .iter()
        .map(|r| {
            let g = Genotype::from_ordinal(r.ordinal);
            table
                .get(&g)
                .ok_or_else(|| anyhow!("the table has no row for {g}"))
        })
        .collect::<Result<_>>()?;
    let base = names;
    let mut names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut cols: Vec<Vec<Option<f64>>> = (0..names.len())
        .map(|p| rows.iter().map(|r| r.scores[p]).collect())
        .collect();
    // The depth is the architecture's, so no scores file holds it: computed here for each row.
    let net = cfg.supernet();
    names.push(Proxy::Depth.name().into());
    cols.push(
        rows.iter()
            .map(|r| {
                net.depth(&Genotype::from_ordinal(r.ordinal))
                    .map(|d| d as f64)
            })
            .collect(),
    );
    let members: Vec<usize> = cmd
        .cfg
        .refine_with
        .0
        .iter()
        .filter(|p| **p != Proxy::Alpha)
        .filter_map(|p| names.iter().position(|n| n == p.name()))
        .collect();
    let ensemble = crate::refine::aggregate(
        &members.iter().map(|&i| cols[i].clone()).collect::<Vec<_>>(),
        rows.len(),
    );
    let ensemble_name = format!(
        "ensemble({})",
        members
            .iter()
            .map(|&i| names[i].as_str())
            .collect::<Vec<_>>()
            .join("+")
    );
    names.push(ensemble_name);
    cols.push(ensemble.into_iter().map(Some).collect());

    let targets: [(&str, Vec<f64>); 3] = [
        ("cifar10", accs.iter().map(|a| a.cifar10).collect()),
        ("cifar100", accs.iter().map(|a| a.cifar100).collect()),
        ("imagenet16", accs.iter().map(|a| a.imagenet16).collect()),
    ];
    if !cmd.json {
        println!(
            "{} cells, C={} N={} b={} size={}{}",
            rows.len(),
            cfg.channels,
            cfg.cells,
            cfg.batch,
            cfg.size,
            if seconds.is_finite() {
                format!(", {seconds:.1} s")
            } else {
                String::new()
            }
        );
        println!(
            "{:<34} {:>22} {:>22} {:>22}",
            "proxy", "CIFAR-10 ρ / τ", "CIFAR-100 ρ / τ", "IN16-120 ρ / τ"
        );
    }
    let mut out = serde_json::Map::new();
    let mut tops = Vec::new();
    for (name, col) in names.iter().zip(&cols) {
        // A proxy that is missing (NaN, infinite) for some cell ranks it last.
        let col: Vec<f64> = col.iter().map(|v| v.unwrap_or(f64::MIN)).collect();
        let mut per = serde_json::Map::new();
        let mut line = format!("{name:<34}");
        for (t, acc) in &targets {
            let (rho, tau) = (spearman(&col, acc), kendall_tau_b(&col, acc));
            per.insert(t.to_string(), json!({"spearman": rho, "kendall": tau}));
            line += &format!(" {rho:>10.3} / {tau:>9.3}");
        }
        // The first of equal values, in the rows' order.
        let top = crate::refine::first_largest(&col);
        let g = Genotype::from_ordinal(rows[top].ordinal).to_string();
        per.insert("top".into(), json!({"genotype": g, "nb201": accs[top]}));
        tops.push((name, g, accs[top]));
        out.insert(name.clone(), Value::Object(per));
        if !cmd.json {
            println!("{line}");
        }
    }
    if !cmd.json {
        // What enumerating these cells with each proxy would pick (the accuracies are read
        // only here, for the report).
        println!("\nthe cell each ranks first (C10 / C100 / IN16):");
        for (name, g, a) in tops {
            println!(
                "{name:<34} {:>6.2} / {:>6.2} / {:>6.2}  {g}",
                a.cifar10, a.cifar100, a.imagenet16
            );
        }
    }
    if cmd.json {
        let per_cell: Vec<Value> = rows
            .iter()
            .zip(&accs)
            .map(|(r, a)| {
                let mut v = row_json(r, base);
                v["nb201"] = json!(a);
                v
            })
            .collect();
        println!(
            "{}",
            json!({"sample": rows.len(), "seed": cfg.seed, "proxies": out, "cells": per_cell,
                   "seconds": seconds, "config": cfg})
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_distinct_and_seeded() {
        let s = sample_ordinals(50, 1);
        let set: std::collections::HashSet<_> = s.iter().collect();
        assert_eq!(set.len(), 50);
        assert!(s.iter().all(|&o| o < Genotype::SPACE_SIZE));
        assert_eq!(s, sample_ordinals(50, 1));
        assert_ne!(s, sample_ordinals(50, 2));
    }

    #[test]
    fn shards_parse_one_based() {
        assert_eq!("2/8".parse::<Shard>(), Ok(Shard { index: 2, count: 8 }));
        for bad in ["0/4", "5/4", "x", "1/", "/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
