//! `nasi reproduce`: the search once per seed, the cells' NB201 accuracies with mean ± std.

use anyhow::{Result, anyhow};
use clap::ArgMatches;
use serde_json::{Value, json};

use super::args::*;
use super::run::*;
use crate::space::nb201::table::{Accuracies, Table};
use crate::stats::mean_std;

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

pub(crate) fn acc_stats(accs: &[Accuracies]) -> (Value, Value) {
    let f = |g: fn(&Accuracies) -> f64| mean_std(&accs.iter().map(g).collect::<Vec<_>>());
    let (c10, c100, i16) = (f(|a| a.cifar10), f(|a| a.cifar100), f(|a| a.imagenet16));
    (
        json!({"cifar10": c10.0, "cifar100": c100.0, "imagenet16": i16.0}),
        json!({"cifar10": c10.1, "cifar100": c100.1, "imagenet16": i16.1}),
    )
}

pub(crate) fn reproduce(cmd: ReproduceCmd, matches: Option<&ArgMatches>) -> Result<()> {
    let seeds = parse_seeds(&cmd.seeds)?;
    let base = cmd.layers.resolve(&cmd.cfg, matches, "darts")?;
    base.validate()?;
    if base.space != crate::space::SpaceKind::Nb201 {
        anyhow::bail!(
            "reproduce reports NAS-Bench-201 accuracies, which DARTS cells do not have: run \
             `nasi search --space darts --seed N` per seed"
        );
    }
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
                r.pick()
                    .nb201()
                    .and_then(|g| t.get(g))
                    .ok_or_else(|| anyhow!("the table has no row for {}", r.pick()))
            })
            .collect::<Result<_>>()?;
        for (v, a) in per_table.iter_mut().zip(&accs) {
            v.push(*a);
        }
        if !cmd.json {
            let a = accs[0];
            println!(
                "{seed:>5}  {:<92} {:>8.2} {:>9.2} {:>9.2} {:>8.1}",
                r.pick().to_string(),
                a.cifar10,
                a.cifar100,
                a.imagenet16,
                r.seconds
            );
        }
        runs.push(
            json!({"seed": seed, "genotype": r.pick().to_string(), "nb201": accs[0],
                         "nasi_genotype": r.genotype.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_and_a_huge_range_is_lazy() {
        let all = |s: &str| parse_seeds(s).unwrap().iter().collect::<Vec<_>>();
        assert_eq!(all("0-4"), vec![0, 1, 2, 3, 4]);
        assert_eq!(all("3,7"), vec![3, 7]);
        assert!(parse_seeds("4-1").is_err() && parse_seeds("x").is_err());
        // A huge range is walked lazily: its first seeds come without allocating the rest.
        let huge = parse_seeds("0-99999999999").unwrap();
        assert_eq!(huge.iter().take(3).collect::<Vec<_>>(), vec![0, 1, 2]);
    }
}
