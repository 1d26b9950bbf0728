//! `nasi search` (and `nasi` alone): one search, a run folder, the cell or one JSON object.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::ArgMatches;
use serde_json::json;

use super::args::*;
use super::run::*;
use crate::space::SpaceKind;

pub(crate) fn search(cmd: SearchCmd, matches: Option<&ArgMatches>) -> Result<()> {
    let config = cmd.layers.resolve(&cmd.cfg, matches, "darts")?;
    config.validate()?;
    check_memory(&config)?;
    if cmd.nb201.is_some() && config.space != SpaceKind::Nb201 {
        bail!("--nb201 reports NAS-Bench-201 accuracies: it needs --space nb201");
    }
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
    let cell = result.pick().nb201();
    let acc = table.as_ref().zip(cell).and_then(|(t, g)| t.get(g));
    folder.finish(&result, acc)?;
    if cmd.json {
        let mut v = serde_json::to_value(&result)?;
        if config.space == SpaceKind::Nb201 {
            v["nb201"] = accuracies_json(acc);
        }
        v["run_dir"] = json!(dir.display().to_string());
        println!("{v}");
    } else {
        println!("{}", result.pick());
        if let Some(first) = &result.first_pass {
            eprintln!(
                "re-linearised (--relinearise {}, our extension): the second pass's {} steps took \
                 their gradients around the first pass's cell {first}",
                config.relinearise, config.steps
            );
        }
        if let Some(r) = &result.refined {
            eprintln!(
                "second stage (--refine {}, our extension): {} candidates by α* scored with {}{} \
                 in {:.1} s; picked candidate {} (Algorithm 1's argmax alone: {})",
                config.refine,
                r.candidates.len(),
                r.proxies.join(", "),
                if r.draws > 1 {
                    format!(" on {} weight draws", r.draws)
                } else {
                    String::new()
                },
                r.seconds,
                r.pick + 1,
                result.genotype
            );
        }
        eprintln!(
            "{} steps in {:.1} s ({:.2} s/step), mean T̃ {:.4}; run folder {}",
            result.steps,
            result.seconds,
            result.seconds / result.steps as f64,
            result.mean_trace,
            dir.display()
        );
        // The final pick's evaluation network (the second stage's pick when it ran).
        let params = result.pick().darts().map(crate::net::darts::eval_params);
        if let Some(p) = params {
            eprintln!(
                "evaluation network (C = 36, 20 cells, no auxiliary head): {p} parameters \
                 ({:.2} MB); train it with DARTS's train.py (README)",
                p as f64 / 1e6
            );
        }
        if table.is_some() {
            match acc {
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
