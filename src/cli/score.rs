//! `nasi score` and `nasi lookup`: one cell's NTK figures, one cell's benchmark accuracies.

use anyhow::{Result, anyhow, bail};
use serde_json::json;

use super::args::*;
use super::run::*;
use crate::config::SearchConfig;
use crate::space::Genotype;

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
        params: probe.params(g),
    })
}

pub(crate) fn score(cmd: ScoreCmd) -> Result<()> {
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
