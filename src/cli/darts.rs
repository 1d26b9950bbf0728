//! `nasi darts`: checks a DARTS genotype a user pastes (one line naming what is wrong otherwise)
//! and counts its evaluation network's parameters as DARTS's `count_parameters_in_MB` does (no
//! auxiliary head).

use anyhow::{Result, bail};
use serde_json::json;

use super::args::DartsCmd;
use crate::net::darts::{DartsConfig, count, eval_specs};
use crate::space::darts::Genotype;

pub(crate) fn darts(cmd: DartsCmd) -> Result<()> {
    let g: Genotype = cmd.genotype.parse()?;
    if cmd.channels < 2 || !cmd.channels.is_multiple_of(2) || cmd.layers < 3 {
        bail!(
            "a DARTS network needs an even --channels of at least 2 (FactorizedReduce halves it) \
             and --layers of at least 3 (two reduction cells), got {} and {}",
            cmd.channels,
            cmd.layers
        );
    }
    let cfg = DartsConfig {
        channels: cmd.channels,
        layers: cmd.layers,
        ..DartsConfig::EVAL
    };
    let params = count(&eval_specs(&g, &cfg));
    if cmd.json {
        println!(
            "{}",
            json!({"genotype": g.to_string(), "channels": cfg.channels, "layers": cfg.layers,
                   "params": params, "params_mb": params as f64 / 1e6})
        );
    } else {
        println!("{g}");
        println!(
            "evaluation network (C = {}, {} cells, no auxiliary head): {params} parameters ({:.2} MB)",
            cfg.channels,
            cfg.layers,
            params as f64 / 1e6
        );
    }
    Ok(())
}
