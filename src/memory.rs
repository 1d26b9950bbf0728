//! Peak memory of a search, estimated from its shapes before anything is built, so that a config
//! too big for the machine (or for a browser tab) is refused with one line instead of an abort,
//! the kernel's OOM killer or a frozen tab.
//!
//! A NASI step (eq. 12 and its finite-difference α-gradient, three forward/backward passes of
//! the supernet, two of them at once) keeps every cell's activations for the backward pass, so
//! its peak is linear in the activation volume. With b the batch, C the channels, N the cells
//! per stage and S the input size, the cells hold
//! `F_cell = b·N·C·S²·(1 + 1/2 + 1/4)` activation values (stages C·S², 2C·(S/2)², 4C·(S/4)²)
//! and the stem and reduction blocks `F_stage = b·C·S²`. The constants below were fitted to the
//! peak RSS that `nasi bench --json` measures on the four configs of docs/performance.md
//! (within −0 / +17 % there, the most at the smallest, where the fixed base dominates), and
//! held within −4 / +1 % on C32 N2 b32 32², C24 N3 b48 24² and C16 N1 b256 16², which the fit
//! did not see. The browser runs the two perturbed passes one after the other, so there the
//! estimate errs high.

use crate::config::{FdScheme, SearchConfig, SpaceKind};

/// Memory of the process before the supernet is built (code, thread stacks, allocator arenas).
const BASE_BYTES: f64 = 16.0 * 1048576.0;
/// Bytes kept per cell activation value during a step of the central scheme: about 46 f32 per
/// value (each relaxed edge's four op outputs, their batch-norm statistics and gradients, the
/// ReLU masks, for three passes of which the two perturbed ones are alive at once).
const BYTES_PER_CELL_VALUE: f64 = 184.0;
/// The same for the forward scheme, whose one perturbed pass runs alone: about half.
const BYTES_PER_CELL_VALUE_FORWARD: f64 = 92.0;
/// Bytes per value of the stem and reduction blocks (and the input batch).
const BYTES_PER_STAGE_VALUE: f64 = 56.0;

/// Bytes kept per DARTS edge value (b·C_i·H_i² on each of a cell's 14 edges) during a central
/// step: about 61 f32 (eight ops, with the separable convolutions' two stacks, their batch
/// norms, max-pool indices and ReLU masks). Fitted to `nasi bench` at C8 L5 b16 32²
/// (1072 MiB) and C16 L8 b64 32² (14.5 GiB); held at +0.5 % on C12 L6 b24 24² (1891 MiB) and
/// −7 % on the darts-tiny preset (89 MiB), which the fit did not see.
const BYTES_PER_DARTS_VALUE: f64 = 243.0;
/// The same for the forward scheme (752 MiB at C8 L5 b16 32²).
const BYTES_PER_DARTS_VALUE_FORWARD: f64 = 168.0;

/// Estimated peak memory in bytes of a search with `cfg` (see the module doc for the model).
pub fn peak_bytes(cfg: &SearchConfig) -> u64 {
    if cfg.space == SpaceKind::Darts {
        return darts_peak_bytes(cfg);
    }
    let (b, c, n, s) = (
        cfg.batch as f64,
        cfg.channels as f64,
        cfg.cells as f64,
        cfg.size as f64,
    );
    let plane = b * c * s * s;
    let cell = plane * n * 1.75;
    let per_cell = match cfg.fd_scheme {
        FdScheme::Central => BYTES_PER_CELL_VALUE,
        FdScheme::Forward => BYTES_PER_CELL_VALUE_FORWARD,
    };
    (BASE_BYTES + per_cell * cell + BYTES_PER_STAGE_VALUE * plane) as u64
}

/// DARTS: cell i has C·2^r channels at (S/2^r)² after r reductions, so its 14 edges hold
/// 14·b·C·S²/2^r values; the sum over cells times [`BYTES_PER_DARTS_VALUE`].
fn darts_peak_bytes(cfg: &SearchConfig) -> u64 {
    let net = cfg.darts();
    let mut reductions = 0;
    let mut halvings = 0.0;
    for i in 0..net.layers {
        if net.is_reduction(i) {
            reductions += 1;
        }
        halvings += 0.5f64.powi(reductions);
    }
    let plane = cfg.batch as f64 * cfg.channels as f64 * (cfg.size * cfg.size) as f64;
    let per_value = match cfg.fd_scheme {
        FdScheme::Central => BYTES_PER_DARTS_VALUE,
        FdScheme::Forward => BYTES_PER_DARTS_VALUE_FORWARD,
    };
    (BASE_BYTES + per_value * 14.0 * plane * halvings) as u64
}

/// Estimated peak memory in bytes of the second stage (`--refine K`) when it scores networks of
/// another size than the search's (`refine-channels`, `refine-cells`, `refine-size`), else
/// `None`. An upper bound: the estimate of a forward-scheme search step on a supernet of the
/// stage's size, which holds all four ops per edge and two passes where a candidate's own
/// network holds one op and one pass (about 128 MB for the default's C = 16, N = 5, b = 32,
/// 16×16).
pub fn stage_peak_bytes(cfg: &SearchConfig) -> Option<u64> {
    let stage = cfg.refine_config();
    let other = (stage.channels, stage.cells, stage.size) != (cfg.channels, cfg.cells, cfg.size);
    (cfg.refine > 0 && other).then(|| {
        peak_bytes(&SearchConfig {
            fd_scheme: FdScheme::Forward,
            refine: 0,
            ..stage
        })
    })
}

/// `bytes` for a person: `41 GB`, `730 MB`.
pub fn human(bytes: u64) -> String {
    let gb = bytes as f64 / 1e9;
    if gb >= 10.0 {
        format!("{gb:.0} GB")
    } else if gb >= 1.0 {
        format!("{gb:.1} GB")
    } else {
        format!("{:.0} MB", bytes as f64 / 1e6)
    }
}

/// One line when `cfg`'s estimated peak (the search's, or where only that fits, its second
/// stage's: [`stage_peak_bytes`]) is over `budget` bytes: the shapes, the estimate, the budget
/// (`limit`, a phrase such as "this machine has 24 GB available") and `remedy`; `None` when it
/// fits.
pub fn over_budget(cfg: &SearchConfig, budget: u64, limit: &str, remedy: &str) -> Option<String> {
    let need = peak_bytes(cfg);
    // The search runs first: its own line when it does not fit, the stage's when only it does not.
    if let Some(stage) = stage_peak_bytes(cfg).filter(|&s| need <= budget && s > budget) {
        let c = cfg.refine_config();
        return Some(format!(
            "this search's second stage (refine-channels {}, refine-cells {}, refine-size {}, \
             batch {}) needs about {} of memory; {limit}: lower them or --refine \
             (0 turns the stage off)",
            c.channels,
            c.cells,
            c.size,
            c.batch,
            human(stage),
        ));
    }
    (need > budget).then(|| {
        format!(
            "this search (batch {}, channels {}, cells {}, size {}) needs about {} of memory; \
             {limit}: {remedy}",
            cfg.batch,
            cfg.channels,
            cfg.cells,
            cfg.size,
            human(need),
        )
    })
}

/// Memory this machine can give a new allocation now (Linux `MemAvailable`), if known.
pub fn available_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_grows_with_the_shapes_and_refuses_what_cannot_fit() {
        let d = SearchConfig {
            fd_scheme: FdScheme::Central,
            ..SearchConfig::default()
        };
        let base = peak_bytes(&d);
        let forward = SearchConfig {
            fd_scheme: FdScheme::Forward,
            ..d.clone()
        };
        assert!(peak_bytes(&forward) < base, "one pass fewer at once");
        let twice = peak_bytes(&SearchConfig {
            batch: 64,
            ..d.clone()
        });
        // Linear in b above the fixed base.
        let lin = (twice - BASE_BYTES as u64) as f64 / (base - BASE_BYTES as u64) as f64;
        assert!((lin - 2.0).abs() < 1e-6, "{lin}");
        assert!(
            peak_bytes(&SearchConfig {
                cells: 5,
                ..d.clone()
            }) > 3 * base
        );
        let huge = SearchConfig {
            batch: 1_000_000,
            ..d.clone()
        };
        let line = over_budget(&huge, 24_000_000_000, "it has 24 GB", "lower --batch").unwrap();
        let need = format!("needs about {} of memory", human(peak_bytes(&huge)));
        assert!(
            line.contains(&need) && line.contains("batch 1000000"),
            "{line}"
        );
        assert!(peak_bytes(&huge) > 100_000_000_000);
        assert!(line.ends_with("; it has 24 GB: lower --batch"), "{line}");
        assert_eq!(over_budget(&d, 1 << 30, "", ""), None);
        assert_eq!(human(41_200_000_000), "41 GB");
        assert_eq!(human(730_000_000), "730 MB");
    }

    #[test]
    fn a_second_stage_bigger_than_the_search_is_refused_by_its_own_line() {
        let d = SearchConfig::default();
        // The default's stage (C = 16, N = 5) outweighs its search (C = 8, N = 1) but fits.
        let stage = stage_peak_bytes(&d).unwrap();
        assert!(stage > peak_bytes(&d) && stage < 200_000_000, "{stage}");
        assert_eq!(over_budget(&d, 1 << 30, "", ""), None);
        let off = SearchConfig {
            refine: 0,
            ..d.clone()
        };
        assert_eq!(stage_peak_bytes(&off), None);
        let own = SearchConfig {
            refine_channels: 0,
            refine_cells: 0,
            ..d.clone()
        };
        assert_eq!(stage_peak_bytes(&own), None);
        let huge = SearchConfig {
            refine_channels: 512,
            refine_cells: 32,
            ..d
        };
        let line = over_budget(&huge, 8_000_000_000, "it has 8 GB", "lower --batch").unwrap();
        assert!(
            line.starts_with("this search's second stage (refine-channels 512, refine-cells 32")
                && line.contains("it has 8 GB: lower them or --refine")
                && !line.contains('\n'),
            "{line}"
        );
    }

    #[test]
    fn the_darts_estimate_is_near_the_measured_peaks() {
        // Peak RSS measured by `nasi bench` on 2 cores (MiB); the fit saw the first two.
        let cases = [
            (8, 5, 16, 32, 1071.6),
            (16, 8, 64, 32, 14506.9),
            (12, 6, 24, 24, 1891.0),
            (4, 5, 8, 16, 88.8),
        ];
        for (channels, cells, batch, size, mib) in cases {
            let cfg = SearchConfig {
                channels,
                cells,
                batch,
                size,
                ..crate::config::preset("darts").unwrap()
            };
            let est = peak_bytes(&cfg) as f64 / 1048576.0;
            // Within 7.2 % at the worst (darts-tiny, where the fixed base dominates).
            assert!(
                (est / mib - 1.0).abs() < 0.1,
                "{channels} {cells}: {est} vs {mib}"
            );
        }
    }
}
