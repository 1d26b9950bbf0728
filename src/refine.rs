//! The training-free second stage (`--refine K`): **our extension of Algorithm 1**, not the
//! paper's. NASI's α* (eq. 18) is one linearisation at α = 0, so it ranks every cell but judges
//! each edge averaged over random contexts. The second stage takes the K cells α* ranks highest
//! ([`SpaceKind::candidates`]), scores each as a standalone network with a set of proxies
//! ([`Proxy`]) at [`SearchConfig::refine_config`]'s C, N and input size (by default NB201's
//! evaluation network's C = 16, N = 5: the size the cell is trained at, not the search's
//! supernet's), on the seed's weights for that network and the first batch of the seed's data
//! at that size, and picks the cell with the best summed log-rank Σ_p ln(rank_p / K) (AZ-NAS's
//! aggregation, Lee & Ham 2024: a cell must be good on every proxy, since one bad rank costs
//! more than one good rank gains). With `refine_climb` R it then climbs: up to R times the
//! pick's one-edge neighbours join the pool and the pool is ranked again, a greedy local search
//! of the same aggregate around α*'s shortlist. Nothing here reads an accuracy table; the
//! parameter count is an architecture-only quantity.
//!
//! The same code serves both spaces: candidates come from the space, and each proxy a space's
//! networks lack (SynFlow and NASWOT are NB201's; [`Proxy::available`]) is left out of its
//! aggregate.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::config::{Proxy, SearchConfig};
use crate::data::DataError;
use crate::proxies::{ProxyContext, ZICO_SPLITS, darts_gradient_scale, zico_of};
use crate::score::DartsProbe;
use crate::space::{AnyGenotype, ArchTable, SpaceKind};

/// Serde's default for [`Refined::draws`] in files written before it existed.
fn one() -> usize {
    1
}

/// One candidate of the second stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The cell, as its space writes it.
    pub genotype: AnyGenotype,
    /// Its proxy values in [`Refined::proxies`] order (`null` where not finite); with several
    /// weight draws, the mean over the draws where the value is finite.
    pub scores: Vec<Option<f64>>,
    /// Σ_p ln(rank_p / K) over the proxies (0 is best: first on every proxy), with several
    /// weight draws the mean of that sum over the draws.
    pub aggregate: f64,
}

/// The second stage's outcome: the candidates in α* order (the first is NASI's own pick), their
/// scores and the pick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refined {
    /// The aggregated proxies' names, in column order.
    pub proxies: Vec<String>,
    /// The K candidates, best α* first; with `refine_neighbours`, the pick-by-α*'s one-edge
    /// neighbours too, and the cells the climb added, the pool deduplicated and sorted by α*
    /// score.
    pub candidates: Vec<Candidate>,
    /// Index into `candidates` of the pick (ties go to the better α* rank).
    pub pick: usize,
    /// The picked cell.
    pub genotype: AnyGenotype,
    /// Wall time of the stage in seconds.
    pub seconds: f64,
    /// Weight draws each candidate was scored on (`refine_draws`; 1 in files written before).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub draws: usize,
    /// Cells the climb (`refine_climb`) added to the pool, in `candidates` with the rest (0 in
    /// files written before it existed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub climbed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// What scores a candidate as a standalone network, per space.
enum Scorer {
    Nb201(ProxyContext),
    Darts(DartsProbe),
}

impl Scorer {
    fn new(stage: &SearchConfig, device: &Device) -> Result<Self, DataError> {
        Ok(match stage.space {
            SpaceKind::Nb201 => Scorer::Nb201(ProxyContext::new(stage, device)?),
            SpaceKind::Darts => Scorer::Darts(DartsProbe::new(stage, device)?),
        })
    }
}

/// The second stage run one candidate network at a time, so the page can draw its progress
/// between them ([`Refiner::score_next`]); [`refine`] runs it whole. With D weight draws
/// (`refine_draws`) it scores the K candidates on draw 0, then on draw 1, …: K·D networks;
/// each climbing round (`refine_climb`) then adds at most one neighbourhood, scored on every
/// draw, so [`Refiner::len`] can grow while it runs.
pub struct Refiner {
    proxies: Vec<Proxy>,
    /// The pool: α*'s K best (and the neighbours `refine_neighbours` adds) in α* order, then
    /// each climbing round's new cells in the order they joined.
    candidates: Vec<(f64, AnyGenotype)>,
    /// One list of proxy rows per draw begun, index-aligned with `candidates`.
    scores: Vec<Vec<Vec<Option<f64>>>>,
    /// The scorer of each draw, on that draw's weights and first batch.
    scorers: Vec<Scorer>,
    /// α*, to score the cells the climb adds.
    alpha_star: ArchTable,
    /// Cells the climb has added.
    climbed: usize,
    exclude_none: bool,
    /// Climbing rounds left (`refine_climb`).
    climb_left: usize,
    started: Instant,
}

impl Refiner {
    /// The candidates of `alpha_star` (the table the space's derivation ranks, as
    /// [`crate::search::SearchResult::alpha`] holds it) and the scorer on the seed's weights and
    /// first batch of [`SearchConfig::refine_config`]'s network.
    pub fn new(
        cfg: &SearchConfig,
        alpha_star: &ArchTable,
        device: &Device,
    ) -> Result<Self, DataError> {
        let proxies: Vec<Proxy> = cfg
            .refine_with
            .0
            .iter()
            .copied()
            .filter(|p| p.available(cfg.space))
            .collect();
        let stage = cfg.refine_config();
        // Every draw's scorer is built here, so a draw that cannot be (its data) fails before
        // any scoring; each holds one standalone network's weights and one batch.
        let scorers = (0..cfg.refine_draws.max(1))
            .map(|d| {
                let seed = stage.draw_seed(d);
                Scorer::new(
                    &SearchConfig {
                        seed,
                        ..stage.clone()
                    },
                    device,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Refiner {
            proxies,
            candidates: pool(cfg, alpha_star),
            scores: Vec::new(),
            scorers,
            alpha_star: alpha_star.clone(),
            climbed: 0,
            exclude_none: cfg.exclude_none,
            climb_left: cfg.refine_climb,
            started: Instant::now(),
        })
    }

    /// Number of candidate networks to score: K (or fewer when the space has fewer cells) times
    /// the weight draws, and more once a climbing round adds cells.
    pub fn len(&self) -> usize {
        self.candidates.len() * self.scorers.len()
    }

    /// Whether there are no candidates.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// Candidate networks scored so far (over all draws).
    pub fn done(&self) -> usize {
        self.scores.iter().map(Vec::len).sum()
    }

    /// Scores the next candidate network (draw by draw; when every draw has scored the pool, a
    /// climbing round may add cells); `false` once all are scored.
    pub fn score_next(&mut self) -> bool {
        let k = self.candidates.len();
        if k == 0 {
            return false;
        }
        let open =
            (0..self.scorers.len()).find(|&d| self.scores.get(d).is_none_or(|rows| rows.len() < k));
        let Some(d) = open else {
            return self.climb() && self.score_next();
        };
        if d == self.scores.len() {
            self.scores.push(Vec::with_capacity(k));
        }
        let (alpha, g) = self.candidates[self.scores[d].len()];
        let row = self.score(&self.scorers[d], alpha, &g);
        self.scores[d].push(row);
        true
    }

    /// One climbing round (`refine_climb`, our extension): the current pick's one-edge
    /// neighbours ([`AnyGenotype::neighbours`]) that are not in the pool join it, so that the
    /// next aggregate can move the pick to one of them, a greedy local search on the proxies'
    /// log-rank sum. `false` (and no rounds left) when no round is left or the pick's
    /// neighbourhood is already in the pool: the pick is then a local optimum of the aggregate.
    fn climb(&mut self) -> bool {
        if self.climb_left == 0 {
            return false;
        }
        self.climb_left -= 1;
        let (order, agg) = self.ranked();
        let pick = self.candidates[order[first_largest(&agg)]].1;
        let new: Vec<AnyGenotype> = pick
            .neighbours(self.exclude_none)
            .into_iter()
            .filter(|g| !self.candidates.iter().any(|(_, c)| c == g))
            .collect();
        if new.is_empty() {
            self.climb_left = 0;
            return false;
        }
        self.climbed += new.len();
        let alpha_star = &self.alpha_star;
        self.candidates
            .extend(new.into_iter().map(|g| (g.alpha_score(alpha_star), g)));
        true
    }

    /// The pool's indices by α* score, best first (stable: α*'s ties keep their order), and
    /// the aggregate of each in that order: Σ_p ln(rank_p / K) over the scored pool, averaged
    /// over the draws (each draw's proxies rank the pool on their own).
    fn ranked(&self) -> (Vec<usize>, Vec<f64>) {
        let (k, draws) = (self.candidates.len(), self.scores.len().max(1));
        let columns: Vec<Vec<Option<f64>>> = self
            .scores
            .iter()
            .flat_map(|rows| {
                (0..self.proxies.len()).map(move |p| rows.iter().map(|r| r[p]).collect())
            })
            .collect();
        let agg = aggregate(&columns, k);
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| self.candidates[b].0.total_cmp(&self.candidates[a].0));
        let agg = order.iter().map(|&i| agg[i] / draws as f64).collect();
        (order, agg)
    }

    /// The proxies of one candidate, each computed only when the list has it (the stage's cost
    /// is the sum of its proxies' passes).
    fn score(&self, scorer: &Scorer, alpha: f64, g: &AnyGenotype) -> Vec<Option<f64>> {
        let has = |ps: &[Proxy]| self.proxies.iter().any(|p| ps.contains(p));
        let value = |p: Proxy, s: &dyn Fn(Proxy) -> f64| -> Option<f64> {
            Some(if p == Proxy::Alpha { alpha } else { s(p) }).filter(|v| v.is_finite())
        };
        let needs_net = has(&[Proxy::NasiTrace, Proxy::GradNorm]);
        match (scorer, g) {
            (Scorer::Nb201(ctx), AnyGenotype::Nb201(g)) => {
                let grads = needs_net.then(|| ctx.gradients(g));
                let synflow = has(&[Proxy::Synflow]).then(|| ctx.synflow(g));
                let naswot = has(&[Proxy::Naswot]).then(|| ctx.naswot(g));
                let az = has(&[
                    Proxy::Expressivity,
                    Proxy::Progressivity,
                    Proxy::Trainability,
                ])
                .then(|| ctx.az_nas(g));
                let conditioning = has(&[Proxy::Conditioning]).then(|| ctx.conditioning(g));
                let meco = has(&[Proxy::Meco]).then(|| ctx.meco(g));
                let zico = has(&[Proxy::Zico]).then(|| ctx.zico(g));
                let gsc = has(&[Proxy::Gsc]).then(|| ctx.gradient_scale(g));
                let gsc_loss = has(&[Proxy::GscLoss]).then(|| ctx.loss_gradient_scale(g));
                let params = ctx.params(g) as f64;
                let depth = ctx.depth(g).map(|d| d as f64);
                let get = |p: Proxy| {
                    match p {
                        Proxy::Params => Some(params),
                        Proxy::NasiTrace => grads.map(|(t, _)| t),
                        Proxy::GradNorm => grads.map(|(_, n)| n),
                        Proxy::Synflow => synflow,
                        Proxy::Naswot => naswot,
                        Proxy::Expressivity => az.map(|a| a.expressivity),
                        Proxy::Progressivity => az.map(|a| a.progressivity),
                        Proxy::Trainability => az.map(|a| a.trainability),
                        Proxy::Conditioning => conditioning,
                        Proxy::Meco => meco,
                        Proxy::Zico => zico,
                        Proxy::Gsc => gsc,
                        Proxy::GscLoss => gsc_loss,
                        Proxy::Depth => depth,
                        Proxy::Alpha => None,
                    }
                    .unwrap_or(f64::NAN)
                };
                self.proxies.iter().map(|&p| value(p, &get)).collect()
            }
            (Scorer::Darts(probe), AnyGenotype::Darts(g)) => {
                let t = needs_net.then(|| probe.tensors(g, false).grad_norm);
                let (trace, grad_norm) = t.map_or((f64::NAN, f64::NAN), |gn| {
                    let norm = gn.layer_norm_sum();
                    (gn.trace.into_scalar::<f32>() as f64, norm)
                });
                let params = crate::net::darts::eval_params(g) as f64;
                let depth = crate::net::darts::eval_depth(g) as f64;
                let zico = if has(&[Proxy::Zico]) {
                    zico_of(&probe.split_gradients(g, ZICO_SPLITS))
                } else {
                    f64::NAN
                };
                let gsc = if has(&[Proxy::Gsc]) {
                    darts_gradient_scale(probe, g)
                } else {
                    f64::NAN
                };
                let get = |p: Proxy| match p {
                    Proxy::Params => params,
                    Proxy::Zico => zico,
                    Proxy::Gsc => gsc,
                    Proxy::Depth => depth,
                    Proxy::NasiTrace => trace,
                    Proxy::GradNorm => grad_norm,
                    _ => f64::NAN,
                };
                self.proxies.iter().map(|&p| value(p, &get)).collect()
            }
            _ => unreachable!("candidates come from the scorer's own space"),
        }
    }

    /// Scores what is left and aggregates: the pick is the best Σ_p ln(rank_p / K), averaged
    /// over the weight draws (each draw's proxies rank the K candidates on their own).
    pub fn finish(mut self) -> Refined {
        while self.score_next() {}
        let draws = self.scores.len().max(1);
        let (order, agg) = self.ranked();
        // Each candidate's shown value of a proxy: its mean over the draws where it is finite.
        let scores: Vec<Vec<Option<f64>>> = order
            .iter()
            .map(|&i| {
                (0..self.proxies.len())
                    .map(|p| {
                        let v: Vec<f64> =
                            self.scores.iter().filter_map(|rows| rows[i][p]).collect();
                        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
                    })
                    .collect()
            })
            .collect();
        let pick = first_largest(&agg);
        let candidates: Vec<Candidate> = order
            .iter()
            .map(|&i| &self.candidates[i])
            .zip(scores)
            .zip(&agg)
            .map(|(((_, g), scores), &aggregate)| Candidate {
                genotype: *g,
                scores,
                aggregate,
            })
            .collect();
        Refined {
            proxies: self.proxies.iter().map(|p| p.name().to_string()).collect(),
            genotype: candidates
                .get(pick)
                .map_or_else(|| self.candidates[0].1, |c| c.genotype),
            candidates,
            pick,
            seconds: self.started.elapsed().as_secs_f64(),
            draws,
            climbed: self.climbed,
        }
    }
}

/// The stage's candidates, best α* score first: α*'s `refine` best cells, and with
/// `refine_neighbours` the one-edge neighbours of the first that are not among them (a stable
/// sort, so α*'s ties keep [`SpaceKind::candidates`]'s order).
fn pool(cfg: &SearchConfig, alpha_star: &ArchTable) -> Vec<(f64, AnyGenotype)> {
    let mut pool = cfg
        .space
        .candidates(alpha_star, cfg.refine, cfg.exclude_none);
    if let (true, Some(&(_, first))) = (cfg.refine_neighbours, pool.first()) {
        for g in first.neighbours(cfg.exclude_none) {
            if !pool.iter().any(|(_, c)| *c == g) {
                pool.push((g.alpha_score(alpha_star), g));
            }
        }
        pool.sort_by(|a, b| b.0.total_cmp(&a.0));
    }
    pool
}

/// The whole second stage at once (see [`Refiner`]); `None` when `cfg.refine` is 0.
pub fn refine(
    cfg: &SearchConfig,
    alpha_star: &ArchTable,
    device: &Device,
) -> Result<Option<Refined>, DataError> {
    if cfg.refine == 0 {
        return Ok(None);
    }
    Ok(Some(Refiner::new(cfg, alpha_star, device)?.finish()))
}

/// Index of the largest of `v`, the first of equal ones (0 when empty): the stage's pick among
/// the aggregates (ties go to the better α* rank), and `nasi correlate`'s first cell of a proxy.
pub fn first_largest(v: &[f64]) -> usize {
    (0..v.len())
        .reduce(|best, i| if v[i] > v[best] { i } else { best })
        .unwrap_or(0)
}

/// AZ-NAS's rank aggregation over `n` candidates: Σ over columns of ln(rank / n), with rank
/// 1..=n ascending in the column's value (the best gets n, so ln 1 = 0), tied values sharing
/// their average rank and missing values ranked below every present one. `columns` is one
/// `[n]` column per proxy; the result is `[n]`.
pub fn aggregate(columns: &[Vec<Option<f64>>], n: usize) -> Vec<f64> {
    let mut total = vec![0.0; n];
    for col in columns {
        let key = |i: usize| col[i].unwrap_or(f64::NEG_INFINITY);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| key(a).total_cmp(&key(b)));
        let mut i = 0;
        while i < n {
            let mut j = i;
            while j + 1 < n && key(order[j + 1]) == key(order[i]) {
                j += 1;
            }
            // Positions i..=j (0-based) share the average 1-based rank.
            let rank = (i + j) as f64 / 2.0 + 1.0;
            for &c in &order[i..=j] {
                total[c] += (rank / n as f64).ln();
            }
            i = j + 1;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_largest_wins_ties() {
        assert_eq!(first_largest(&[1.0, 3.0, 2.0, 3.0]), 1);
        assert_eq!(first_largest(&[f64::MIN, -1.0]), 1);
        assert_eq!(first_largest(&[]), 0);
    }

    #[test]
    fn aggregation_rewards_being_good_on_every_proxy() {
        // Candidate 2 is second on both; 0 and 1 are first on one and last on the other.
        let cols = vec![
            vec![Some(3.0), Some(1.0), Some(2.0)],
            vec![Some(1.0), Some(3.0), Some(2.0)],
        ];
        let a = aggregate(&cols, 3);
        let (r1, r2, r3) = ((1.0f64 / 3.0).ln(), (2.0f64 / 3.0).ln(), 0.0);
        assert!((a[0] - (r3 + r1)).abs() < 1e-12 && (a[1] - (r1 + r3)).abs() < 1e-12);
        assert!((a[2] - 2.0 * r2).abs() < 1e-12);
        assert!(a[2] > a[0], "balanced beats lopsided: {a:?}");
        // Ties share their average rank; a missing value ranks last.
        let t = aggregate(&[vec![Some(1.0), Some(1.0), None]], 3);
        assert!((t[0] - (2.5f64 / 3.0).ln()).abs() < 1e-12 && t[0] == t[1]);
        assert!((t[2] - (1.0f64 / 3.0).ln()).abs() < 1e-12);
    }

    #[test]
    fn the_stage_keeps_the_alpha_order_and_picks_by_the_aggregate() {
        let device = crate::cpu_device();
        let cfg = SearchConfig {
            batch: 4,
            channels: 2,
            size: 8,
            refine: 6,
            refine_with: "alpha,nasi_trace,grad_norm,synflow,naswot,params,expressivity,\
                          progressivity,trainability,conditioning,meco,zico,gsc,gsc_loss,depth"
                .parse()
                .unwrap(),
            refine_climb: 0,
            ..SearchConfig::default()
        };
        let mut alpha = ArchTable::zeros(6, 5);
        for e in 0..6 {
            alpha[e][3] = 1.0; // nor_conv_3x3 first,
            alpha[e][2] = 0.5; // then nor_conv_1x1.
        }
        let r = refine(&cfg, &alpha, &device).unwrap().unwrap();
        assert_eq!(r.candidates.len(), 6);
        assert_eq!(r.proxies.len(), Proxy::ALL.len());
        assert_eq!(
            r.candidates[0].genotype,
            SpaceKind::Nb201.derive(&alpha, true)
        );
        let best = r
            .candidates
            .iter()
            .map(|c| c.aggregate)
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(r.candidates[r.pick].aggregate, best);
        assert_eq!(r.genotype, r.candidates[r.pick].genotype);
        // Only `alpha` and `params`: the all-3×3 cell is first on both, so it is the pick.
        let cheap = SearchConfig {
            refine_with: "alpha,params".parse().unwrap(),
            ..cfg
        };
        let r = refine(&cheap, &alpha, &device).unwrap().unwrap();
        assert_eq!((r.pick, r.candidates[0].aggregate), (0, 0.0));
        // The same inputs give the same stage.
        let again = refine(&cheap, &alpha, &device).unwrap().unwrap();
        assert_eq!(again.candidates, r.candidates);
    }

    #[test]
    fn the_climb_walks_one_edge_at_a_time_to_a_local_optimum() {
        // α* prefers 1×1 on every edge, 3×3 next; the parameter count alone prefers 3×3 on
        // every edge, a cell 5 edges away from α*'s best 4, so only a climb reaches it.
        let device = crate::cpu_device();
        let mut alpha = ArchTable::zeros(6, 5);
        for e in 0..6 {
            alpha[e][2] = 1.0;
            alpha[e][3] = 0.5;
        }
        let cfg = |climb: usize| SearchConfig {
            batch: 4,
            channels: 2,
            size: 8,
            refine: 4,
            refine_with: "params".parse().unwrap(),
            refine_channels: 0,
            refine_cells: 0,
            refine_climb: climb,
            ..SearchConfig::default()
        };
        let convs = |g: &AnyGenotype| match g {
            AnyGenotype::Nb201(g) => g
                .ops
                .iter()
                .filter(|&&o| o == crate::space::Op::NorConv3x3)
                .count(),
            AnyGenotype::Darts(_) => unreachable!("an NB201 stage"),
        };
        let plain = refine(&cfg(0), &alpha, &device).unwrap().unwrap();
        assert_eq!((plain.candidates.len(), plain.climbed), (4, 0));
        assert!(convs(&plain.genotype) < 6);
        // Each round can change one edge: 2 rounds gain at most 2 convolutions.
        let two = refine(&cfg(2), &alpha, &device).unwrap().unwrap();
        assert!(two.climbed > 0 && convs(&two.genotype) <= convs(&plain.genotype) + 2);
        let full = refine(&cfg(16), &alpha, &device).unwrap().unwrap();
        assert_eq!(convs(&full.genotype), 6, "{}", full.genotype);
        // It stopped at a local optimum: the pick's whole neighbourhood was scored, the pool
        // holds each cell once and is in α* order, with the pick still the best aggregate.
        let pool: Vec<AnyGenotype> = full.candidates.iter().map(|c| c.genotype).collect();
        assert_eq!(pool.len(), 4 + full.climbed);
        for n in full.genotype.neighbours(true) {
            assert_eq!(pool.iter().filter(|g| **g == n).count(), 1, "{n}");
        }
        let scores: Vec<f64> = pool.iter().map(|g| g.alpha_score(&alpha)).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        assert_eq!(full.candidates[full.pick].aggregate, 0.0);
        let again = refine(&cfg(16), &alpha, &device).unwrap().unwrap();
        assert_eq!((again.candidates, again.pick), (full.candidates, full.pick));
    }

    #[test]
    fn weight_draws_average_each_draws_own_ranks() {
        let device = crate::cpu_device();
        let cfg = SearchConfig {
            batch: 4,
            channels: 2,
            size: 8,
            refine: 8,
            refine_with: "synflow,naswot,params".parse().unwrap(),
            refine_channels: 0,
            refine_cells: 0,
            refine_climb: 0,
            ..SearchConfig::default()
        };
        let mut alpha = ArchTable::zeros(6, 5);
        for e in 0..6 {
            alpha[e][3] = 1.0;
            alpha[e][2] = 0.5 + 0.1 * e as f32;
            alpha[e][1] = 0.2;
        }
        let run = |draws: usize, seed: u64| {
            let c = SearchConfig {
                refine_draws: draws,
                seed,
                ..cfg.clone()
            };
            let mut r = Refiner::new(&c, &alpha, &device).unwrap();
            assert_eq!(r.len(), 8 * draws);
            let mut n = 0;
            while r.score_next() {
                n += 1;
                assert_eq!(r.done(), n);
            }
            assert_eq!(n, 8 * draws);
            r.finish()
        };
        let one = run(1, cfg.seed);
        assert_eq!(one.draws, 1);
        // Draw 1 is the stage on the seed of `draw_seed(1)`; two draws average the two.
        let second = run(1, cfg.draw_seed(1));
        let both = run(2, cfg.seed);
        assert_eq!(both.draws, 2);
        assert_ne!(
            one.candidates[0].scores, second.candidates[0].scores,
            "another draw, other weights"
        );
        for ((a, b), m) in one
            .candidates
            .iter()
            .zip(&second.candidates)
            .zip(&both.candidates)
        {
            assert_eq!((a.genotype, b.genotype), (m.genotype, m.genotype));
            let mean = (a.aggregate + b.aggregate) / 2.0;
            assert!(
                (m.aggregate - mean).abs() < 1e-12,
                "{} vs {mean}",
                m.aggregate
            );
            for ((x, y), z) in a.scores.iter().zip(&b.scores).zip(&m.scores) {
                let (x, y, z) = (x.unwrap(), y.unwrap(), z.unwrap());
                assert!(
                    (z - (x + y) / 2.0).abs() <= 1e-12 * z.abs(),
                    "{z} vs {x}, {y}"
                );
            }
        }
        // One draw's file (no `draws` key) reads back as 1; two draws write theirs.
        let j = serde_json::to_value(&one).unwrap();
        assert!(j.get("draws").is_none());
        assert_eq!(serde_json::from_value::<Refined>(j).unwrap().draws, 1);
        assert_eq!(serde_json::to_value(&both).unwrap()["draws"], 2);
    }

    #[test]
    fn the_neighbours_join_the_pool_in_alpha_order() {
        let mut alpha = ArchTable::zeros(6, 5);
        for e in 0..6 {
            alpha[e][3] = 1.0 + e as f32; // nor_conv_3x3 first, by a margin that grows by edge,
            alpha[e][2] = 0.5; // then nor_conv_1x1; skip and avg at 0.
        }
        let cfg = SearchConfig {
            refine: 4,
            ..SearchConfig::default()
        };
        let plain = pool(&cfg, &alpha);
        let with = pool(
            &SearchConfig {
                refine_neighbours: true,
                ..cfg
            },
            &alpha,
        );
        let first = plain[0].1;
        assert_eq!(with[0].1, first);
        // α*'s 4 best and the pick's 18 neighbours (`none` excluded), none twice: α*'s 2nd to
        // 4th best are neighbours too (edge 1←0, the smallest margin, set to 1×1, skip, avg).
        assert_eq!(with.len(), 4 + 18 - 3);
        for c in plain.iter().chain(
            &first
                .neighbours(true)
                .iter()
                .map(|g| (0.0, *g))
                .collect::<Vec<_>>(),
        ) {
            assert!(with.iter().any(|(_, g)| *g == c.1), "{}", c.1);
        }
        assert!(with.windows(2).all(|w| w[0].0 >= w[1].0));
        for (s, g) in &with {
            assert!((g.alpha_score(&alpha) - s).abs() < 1e-9);
        }
    }

    #[test]
    fn the_same_stage_serves_darts_with_the_proxies_its_networks_have() {
        use rand::{Rng, SeedableRng};
        let device = crate::cpu_device();
        let cfg = SearchConfig {
            channels: 2,
            cells: 3,
            batch: 2,
            size: 8,
            refine: 4,
            refine_with: "alpha,nasi_trace,synflow,params,depth".parse().unwrap(),
            ..crate::config::preset("darts-tiny").unwrap()
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let alpha = ArchTable::from_fn(28, 8, |_, _| rng.random::<f32>() - 0.5);
        let r = refine(&cfg, &alpha, &device).unwrap().unwrap();
        // SynFlow is NB201's only: left out, the other four kept in order.
        assert_eq!(r.proxies, ["alpha", "nasi_trace", "params", "depth"]);
        assert_eq!(r.candidates.len(), 4);
        assert_eq!(
            r.candidates[0].genotype,
            SpaceKind::Darts.derive(&alpha, true)
        );
        for c in &r.candidates {
            let g = c.genotype.darts().expect("a DARTS candidate");
            // The depth is the evaluation network's, read from the genotype alone.
            assert_eq!(c.scores[3], Some(crate::net::darts::eval_depth(g) as f64));
            assert!(
                c.scores.iter().all(|v| v.is_some_and(f64::is_finite)),
                "{:?}",
                c.scores
            );
        }
        // Candidates are in α* order, so the `alpha` column falls.
        let a: Vec<f64> = r.candidates.iter().map(|c| c.scores[0].unwrap()).collect();
        assert!(a.windows(2).all(|w| w[0] >= w[1]), "{a:?}");
        let best = r
            .candidates
            .iter()
            .map(|c| c.aggregate)
            .fold(f64::MIN, f64::max);
        assert_eq!(r.candidates[r.pick].aggregate, best);
    }
}
