//! `nasi bench`: seconds per NASI step (median) and peak memory, against the estimate.

use anyhow::{Result, bail};
use clap::ArgMatches;
use serde_json::json;
use web_time::Instant;

use super::args::*;
use super::run::*;
use crate::search::Search;

/// Peak resident memory of this process in bytes (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub(crate) fn bench(cmd: BenchCmd, matches: Option<&ArgMatches>) -> Result<()> {
    let mut cfg = cmd.layers.resolve(&cmd.cfg, matches, "darts")?;
    cfg.validate()?;
    if cmd.repeats == 0 {
        bail!("repeats must be at least 1");
    }
    check_memory(&cfg)?;
    let device = select_device()?;
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
            "{} C={} N={} b={} size={}: {:.4} s/step (median of {}), min {:.4}, max {:.4}; peak RSS {}",
            cfg.space,
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
