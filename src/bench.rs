//! Native-only measurement commands: `bench` (speed and memory of a NASI step), `reproduce`
//! (NB201 accuracy of the searched cell over seeds) and `correlate` (rank correlation of
//! training-free proxies with NB201 accuracy).

use anyhow::{Result, anyhow, bail};
use clap::ArgMatches;
use rand::Rng;
use serde_json::{Value, json};
use web_time::Instant;

use crate::cli::{BenchCmd, CorrelateCmd, ReproduceCmd, check_memory, run_search, select_device};
use crate::nb201::{Accuracies, Table};
use crate::search::Search;
use crate::space::Genotype;
use crate::stats::{kendall_tau_b, mean_std, spearman};

/// Peak resident memory of this process in bytes (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub(crate) fn bench(cmd: BenchCmd) -> Result<()> {
    cmd.cfg.validate()?;
    if cmd.repeats == 0 {
        bail!("repeats must be at least 1");
    }
    check_memory(&cmd.cfg)?;
    let device = select_device();
    let mut cfg = cmd.cfg.clone();
    cfg.steps = cmd.repeats + 1;
    let mut search = Search::new(&cfg, &device)?;
    search.step()?; // warm-up: allocations, caches
    let mut times: Vec<f64> = (0..cmd.repeats)
        .map(|_| {
            let t = Instant::now();
            search.step().map(|_| t.elapsed().as_secs_f64())
        })
        .collect::<Result<_, _>>()?;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let rss = peak_rss_bytes();
    if cmd.json {
        println!(
            "{}",
            json!({"sec_per_step": median, "peak_rss_bytes": rss, "times": times,
                   "estimated_peak_bytes": crate::memory::peak_bytes(&cfg),
                   "config": cfg, "backend": format!("{device:?}")})
        );
    } else {
        println!(
            "C={} N={} b={} size={}: {:.4} s/step (median of {}), min {:.4}, max {:.4}; peak RSS {}",
            cfg.channels,
            cfg.cells,
            cfg.batch,
            cfg.size,
            median,
            times.len(),
            times[0],
            times[times.len() - 1],
            rss.map_or("unknown".into(), |b| format!(
                "{:.1} MiB",
                b as f64 / 1048576.0
            ))
        );
    }
    Ok(())
}

/// Seeds of `reproduce`: an inclusive range or a list, walked lazily (a range of 10¹¹ seeds
/// costs nothing until each search runs).
#[derive(Clone, Debug, PartialEq)]
pub enum Seeds {
    /// `A-B`, both included.
    Range(u64, u64),
    /// `a,b,c`.
    List(Vec<u64>),
}

impl Seeds {
    /// The seeds in order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        match self {
            Seeds::Range(a, b) => Box::new(*a..=*b),
            Seeds::List(v) => Box::new(v.iter().copied()),
        }
    }
}

/// Parses `A-B` (inclusive) or `a,b,c`.
pub fn parse_seeds(s: &str) -> Result<Seeds> {
    let bad = || anyhow!("seeds must be `A-B` or a comma list of integers, got `{s}`");
    if let Some((a, b)) = s.split_once('-') {
        let (a, b): (u64, u64) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a > b {
            return Err(bad());
        }
        Ok(Seeds::Range(a, b))
    } else {
        let v = s
            .split(',')
            .map(|x| x.trim().parse().map_err(|_| bad()))
            .collect::<Result<Vec<u64>>>()?;
        Ok(Seeds::List(v))
    }
}

fn acc_stats(accs: &[Accuracies]) -> (Value, Value) {
    let f = |g: fn(&Accuracies) -> f64| mean_std(&accs.iter().map(g).collect::<Vec<_>>());
    let (c10, c100, i16) = (f(|a| a.cifar10), f(|a| a.cifar100), f(|a| a.imagenet16));
    (
        json!({"cifar10": c10.0, "cifar100": c100.0, "imagenet16": i16.0}),
        json!({"cifar10": c10.1, "cifar100": c100.1, "imagenet16": i16.1}),
    )
}

pub(crate) fn reproduce(cmd: ReproduceCmd, matches: Option<&ArgMatches>) -> Result<()> {
    let seeds = parse_seeds(&cmd.seeds)?;
    let base = cmd.layers.resolve(&cmd.cfg, matches)?;
    base.validate()?;
    check_memory(&base)?;
    let tables: Vec<Table> = cmd
        .nb201
        .iter()
        .map(|p| Ok(Table::load(p)?))
        .collect::<Result<_>>()?;
    let mut runs = Vec::new();
    let mut per_table: Vec<Vec<Accuracies>> = vec![Vec::new(); tables.len()];
    if !cmd.json {
        println!(
            "{:>5}  {:<92} {:>8} {:>9} {:>9} {:>8}",
            "seed", "genotype", "C10", "C100", "IN16", "seconds"
        );
    }
    let mut count = 0usize;
    for seed in seeds.iter() {
        count += 1;
        let mut cfg = base.clone();
        cfg.seed = seed;
        let r = run_search(&cfg, false, |_| Ok(()))?;
        let accs: Vec<Accuracies> = tables
            .iter()
            .map(|t| {
                t.get(&r.genotype)
                    .ok_or_else(|| anyhow!("the table has no row for {}", r.genotype))
            })
            .collect::<Result<_>>()?;
        for (v, a) in per_table.iter_mut().zip(&accs) {
            v.push(*a);
        }
        if !cmd.json {
            let a = accs[0];
            println!(
                "{seed:>5}  {:<92} {:>8.2} {:>9.2} {:>9.2} {:>8.1}",
                r.genotype.to_string(),
                a.cifar10,
                a.cifar100,
                a.imagenet16,
                r.seconds
            );
        }
        runs.push(
            json!({"seed": seed, "genotype": r.genotype.to_string(), "nb201": accs[0],
                         "nb201_by_table": accs, "seconds": r.seconds}),
        );
    }
    let stats: Vec<(Value, Value)> = per_table.iter().map(|a| acc_stats(a)).collect();
    if cmd.json {
        println!(
            "{}",
            json!({"runs": runs, "mean": stats[0].0, "std": stats[0].1,
                   "tables": cmd.nb201.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                   "mean_by_table": stats.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
                   "std_by_table": stats.iter().map(|s| s.1.clone()).collect::<Vec<_>>(),
                   "config": base})
        );
    } else {
        for (path, (m, s)) in cmd.nb201.iter().zip(&stats) {
            let f = |k: &str| {
                format!(
                    "{:.2} ± {:.2}",
                    m[k].as_f64().unwrap_or(f64::NAN),
                    s[k].as_f64().unwrap_or(f64::NAN)
                )
            };
            println!(
                "mean ± std ({}, population std over {} seeds): CIFAR-10 {}  CIFAR-100 {}  ImageNet16-120 {}",
                path.display(),
                count,
                f("cifar10"),
                f("cifar100"),
                f("imagenet16")
            );
        }
    }
    Ok(())
}

/// `k` distinct cells drawn uniformly from the 15,625 (partial Fisher–Yates on the ordinals).
pub fn sample_cells(k: usize, seed: u64) -> Vec<Genotype> {
    let mut r = crate::data::rng(seed, crate::data::Stream::Data);
    let mut all: Vec<usize> = (0..Genotype::SPACE_SIZE).collect();
    let k = k.min(all.len());
    for i in 0..k {
        let j = r.random_range(i..all.len());
        all.swap(i, j);
    }
    all[..k]
        .iter()
        .map(|&i| Genotype::from_ordinal(i))
        .collect()
}

pub(crate) fn correlate(cmd: CorrelateCmd) -> Result<()> {
    cmd.cfg.validate()?;
    if cmd.sample < 3 {
        bail!("sample must be at least 3 cells to correlate");
    }
    if cmd.sample > Genotype::SPACE_SIZE {
        bail!(
            "sample {} is more than the {} cells of NAS-Bench-201: use --sample {} for all of them",
            cmd.sample,
            Genotype::SPACE_SIZE,
            Genotype::SPACE_SIZE
        );
    }
    check_memory(&cmd.cfg)?;
    let table = Table::load(&cmd.nb201)?;
    let device = select_device();
    let cells = sample_cells(cmd.sample, cmd.cfg.seed);
    let mut names = vec!["nasi_trace", "grad_norm", "synflow", "naswot"];
    if cmd.exact {
        names.push("exact_ntk_trace");
    }
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut accs: Vec<Accuracies> = Vec::new();
    let mut per_cell = Vec::new();
    let bar = if cmd.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(cells.len() as u64)
    };
    let started = Instant::now();
    let proxy = crate::proxies::ProxyContext::new(&cmd.cfg, &device)?;
    for g in &cells {
        let a = table
            .get(g)
            .ok_or_else(|| anyhow!("the table has no row for {g}"))?;
        let s = proxy.scores(g, cmd.exact);
        let mut row = vec![s.nasi_trace, s.grad_norm, s.synflow, s.naswot];
        if cmd.exact {
            row.push(s.exact_trace);
        }
        let named: serde_json::Map<String, Value> = names
            .iter()
            .zip(&row)
            .map(|(n, v)| (n.to_string(), json!(v)))
            .collect();
        per_cell.push(json!({"genotype": g.to_string(), "scores": named, "nb201": a}));
        for (col, v) in scores.iter_mut().zip(row) {
            col.push(v);
        }
        accs.push(a);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let targets: [(&str, Vec<f64>); 3] = [
        ("cifar10", accs.iter().map(|a| a.cifar10).collect()),
        ("cifar100", accs.iter().map(|a| a.cifar100).collect()),
        ("imagenet16", accs.iter().map(|a| a.imagenet16).collect()),
    ];
    let mut out = serde_json::Map::new();
    if !cmd.json {
        println!(
            "{} cells, C={} N={} b={} size={}, {:.1} s",
            cells.len(),
            cmd.cfg.channels,
            cmd.cfg.cells,
            cmd.cfg.batch,
            cmd.cfg.size,
            started.elapsed().as_secs_f64()
        );
        println!(
            "{:<16} {:>22} {:>22} {:>22}",
            "proxy", "CIFAR-10 ρ / τ", "CIFAR-100 ρ / τ", "IN16-120 ρ / τ"
        );
    }
    for (name, col) in names.iter().zip(&scores) {
        let mut per = serde_json::Map::new();
        let mut line = format!("{name:<16}");
        for (t, acc) in &targets {
            // A proxy that is NaN or infinite for some cell ranks it last.
            let col: Vec<f64> = col
                .iter()
                .map(|&v| if v.is_finite() { v } else { f64::MIN })
                .collect();
            let (rho, tau) = (spearman(&col, acc), kendall_tau_b(&col, acc));
            per.insert(t.to_string(), json!({"spearman": rho, "kendall": tau}));
            line += &format!(" {:>10.3} / {:>9.3}", rho, tau);
        }
        out.insert(name.to_string(), Value::Object(per));
        if !cmd.json {
            println!("{line}");
        }
    }
    if cmd.json {
        println!(
            "{}",
            json!({"sample": cells.len(), "seed": cmd.cfg.seed, "proxies": out, "cells": per_cell,
                   "seconds": started.elapsed().as_secs_f64(), "config": cmd.cfg})
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_and_samples() {
        let all = |s: &str| parse_seeds(s).unwrap().iter().collect::<Vec<_>>();
        assert_eq!(all("0-4"), vec![0, 1, 2, 3, 4]);
        assert_eq!(all("3,7"), vec![3, 7]);
        assert!(parse_seeds("4-1").is_err() && parse_seeds("x").is_err());
        // A huge range is walked lazily: its first seeds come without allocating the rest.
        let huge = parse_seeds("0-99999999999").unwrap();
        assert_eq!(huge.iter().take(3).collect::<Vec<_>>(), vec![0, 1, 2]);
        let s = sample_cells(50, 1);
        let set: std::collections::HashSet<_> = s.iter().collect();
        assert_eq!(set.len(), 50);
        assert_eq!(s, sample_cells(50, 1));
    }
}
