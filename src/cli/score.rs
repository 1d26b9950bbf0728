//! `nasi score` and `nasi lookup`: one cell's NTK figures, one cell's benchmark accuracies.

use anyhow::{Result, anyhow, bail};
use clap::ArgMatches;
use serde_json::json;

use super::args::*;
use super::run::*;
use crate::config::SearchConfig;
use crate::space::{AnyGenotype, Genotype, SpaceKind};

/// T̃, exact trace and NTK spectrum of one standalone cell network.
pub(crate) struct CellScore {
    pub(crate) trace: f64,
    pub(crate) exact_trace: f64,
    pub(crate) eigenvalues: Vec<f64>,
    pub(crate) params: usize,
}

pub(crate) fn score_cell(g: &Genotype, cfg: &SearchConfig, exact: bool) -> Result<CellScore> {
    let probe = crate::score::CellProbe::new(cfg, cfg.batch, &select_device()?)?;
    let t = probe.tensors(g, exact);
    read_score(t, cfg, probe.params(g))
}

/// The same for a DARTS genotype (its network at `cfg`'s proxy size); `params` is its
/// evaluation network's at DARTS's C = 36, 20 cells.
fn score_darts(g: &crate::space::darts::Genotype, cfg: &SearchConfig) -> Result<CellScore> {
    let t = crate::score::darts_cell_tensors(cfg, g, true, &select_device()?)?;
    let params = crate::net::darts::eval_params(g);
    read_score(t, cfg, params)
}

fn read_score(
    t: crate::score::CellTensors,
    cfg: &SearchConfig,
    params: usize,
) -> Result<CellScore> {
    let trace = t.grad_norm.trace.into_scalar::<f32>() as f64;
    let (exact_trace, eigenvalues) = match t.ntk {
        Some(ntk) => {
            let figures = crate::score::NtkFigures::from_data(ntk.into_data(), cfg.batch)
                .ok_or_else(|| anyhow!("the NTK did not read back as f32 data"))?;
            (figures.trace(), figures.eigenvalues)
        }
        None => (f64::NAN, Vec::new()),
    };
    Ok(CellScore {
        trace,
        exact_trace,
        eigenvalues,
        params,
    })
}

pub(crate) fn score(cmd: ScoreCmd, matches: Option<&ArgMatches>) -> Result<()> {
    let g: AnyGenotype = cmd.genotype.parse().map_err(|e: String| anyhow!(e))?;
    let cfg = cmd.layers.resolve(&cmd.cfg, matches, "darts-tiny")?;
    if g.space() != cfg.space {
        bail!(
            "this is a{} {} genotype but the space is {}: {}",
            if g.space() == SpaceKind::Nb201 {
                "n"
            } else {
                ""
            },
            g.space(),
            cfg.space,
            match g.space() {
                SpaceKind::Darts => "add --space darts",
                SpaceKind::Nb201 => "drop --space darts",
            }
        );
    }
    cfg.validate()?;
    check_memory(&cfg)?;
    let s = match &g {
        AnyGenotype::Nb201(g) => score_cell(g, &cfg, true)?,
        AnyGenotype::Darts(g) => score_darts(g, &cfg)?,
    };
    let (lo, hi) = (s.eigenvalues[0], s.eigenvalues[s.eigenvalues.len() - 1]);
    if cmd.json {
        let mut v = json!({"space": cfg.space, "genotype": g.to_string(), "params": s.params,
               "trace": s.trace, "exact_trace": s.exact_trace,
               "bound": 2.0 * s.exact_trace / cfg.batch as f64,
               "eigenvalues": s.eigenvalues, "condition_number": hi / lo});
        if cfg.space == SpaceKind::Darts {
            v["proxy"] = json!({"channels": cfg.channels, "cells": cfg.cells, "batch": cfg.batch,
                                "size": cfg.size, "seed": cfg.seed});
        }
        println!("{v}");
    } else {
        println!("cell            {g}");
        if cfg.space == SpaceKind::Darts {
            println!(
                "parameters      {} (evaluation network: C = 36, 20 cells, no auxiliary head)",
                s.params
            );
            println!(
                "scored on       the search network's ops at C = {}, {} cells, {}×{} (seed {})",
                cfg.channels, cfg.cells, cfg.size, cfg.size, cfg.seed
            );
        } else {
            println!("parameters      {}", s.params);
        }
        println!(
            "NASI T̃          {:.6}   (‖∇θ L‖², eq. 12; batch {})",
            s.trace, cfg.batch
        );
        println!("exact tr(Θ)     {:.6}", s.exact_trace);
        println!(
            "2·tr(Θ)/b       {:.6}   (upper bound on T̃)",
            2.0 * s.exact_trace / cfg.batch as f64
        );
        println!(
            "λ_min, λ_max    {lo:.4e}, {hi:.4e}   (condition number {:.3e})",
            hi / lo
        );
    }
    Ok(())
}

/// `nasi pack-nb201 CSV [--out www/nb201.bin]`: the page's bundled table, and what it holds.
pub(crate) fn pack(cmd: PackCmd) -> Result<()> {
    let t = load_table(&cmd.nb201)?;
    let Some(bytes) = t.to_bundle() else {
        bail!(
            "{} has {} cells: the bundle holds all 15625 of NAS-Bench-201",
            cmd.nb201.display(),
            t.len()
        );
    };
    std::fs::write(&cmd.out, &bytes)
        .map_err(|e| anyhow!("cannot write {}: {e}", cmd.out.display()))?;
    println!(
        "{}: {} cells, {} bytes (accuracies to 0.01 %)",
        cmd.out.display(),
        t.len(),
        bytes.len()
    );
    Ok(())
}

pub(crate) fn lookup(cmd: LookupCmd) -> Result<()> {
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
