//! `nasi correlate`: rank correlation of training-free proxies with NB201 accuracy over
//! sampled cells.

use anyhow::{Result, anyhow, bail};
use rand::Rng;
use serde_json::{Value, json};
use web_time::Instant;

use super::args::*;
use super::run::*;
use crate::space::Genotype;
use crate::space::nb201::table::{Accuracies, Table};
use crate::stats::{kendall_tau_b, spearman};

/// `k` distinct cells drawn uniformly from the 15,625 (partial Fisher–Yates on the ordinals).
pub fn sample_cells(k: usize, seed: u64) -> Vec<Genotype> {
    let mut r = crate::data::rng(seed, crate::data::RngStream::Data);
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
    let device = select_device()?;
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
    fn samples_are_distinct_and_seeded() {
        let s = sample_cells(50, 1);
        let set: std::collections::HashSet<_> = s.iter().collect();
        assert_eq!(set.len(), 50);
        assert_eq!(s, sample_cells(50, 1));
        assert_ne!(s, sample_cells(50, 2));
    }
}
