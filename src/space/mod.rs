//! The search spaces as plain data: their ops, cell topology, genotype text, derivation rule and
//! sampling. No tensors: everything above (networks, estimators, the search) builds on these.
//!
//! * [`arch`]: the `[rows, ops]` tables (α, G_t, Gumbel noise, weights) shaped by a space.
//! * [`nb201`]: NAS-Bench-201 (5 ops on the 6 edges of a 4-node cell), with its accuracy table
//!   ([`nb201::table`], for reporting only) and its cell drawing ([`nb201::draw`]).
//! * [`darts`]: the DARTS space (8 ops on the 14 edges of a cell, normal and reduction cells),
//!   its `Genotype(...)` text and its derivation rule.
//! * [`kbest`]: the K cells α* ranks highest (the second stage's candidates).
//! * [`SpaceKind`] names a space and gives its table shape and derivation rule;
//!   [`AnyGenotype`] is a cell of either space, written as that space's own text.
//!
//! NB201's items are re-exported here: the accuracy table, the proxies and the page's cell view
//! are NB201's.

pub mod arch;
pub mod darts;
pub mod kbest;
pub mod nb201;

pub use arch::ArchTable;
pub use nb201::{EDGES, Genotype, NUM_EDGES, NUM_NODES, NUM_OPS, Op, SpaceError};

/// Which search space a run searched: named in trajectories and results (format version 2), so a
/// reader knows how to read their tables and genotypes. A version-1 file has no such field and
/// is NB201's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum SpaceKind {
    /// NAS-Bench-201 (`[6, 5]` tables, `|op~i|+…` genotypes).
    #[default]
    Nb201,
    /// DARTS (`[28, 8]` tables, `Genotype(...)` genotypes).
    Darts,
}

impl SpaceKind {
    /// The shape `[rows, ops]` of this space's α, G_t and Gumbel tables: NB201's 6 edges × 5
    /// ops; DARTS's 14 normal then 14 reduction edges × 8 ops (one α, one Gumbel draw and one
    /// ‖G_t‖ over both cells, as Algorithm 1 has one α).
    pub fn shape(self) -> [usize; 2] {
        match self {
            SpaceKind::Nb201 => nb201::SHAPE,
            SpaceKind::Darts => [darts::ROWS, darts::NUM_OPS],
        }
    }

    /// The name flags, files and the URL use (`nb201`, `darts`).
    pub fn name(self) -> &'static str {
        match self {
            SpaceKind::Nb201 => "nb201",
            SpaceKind::Darts => "darts",
        }
    }

    /// Its ops' names, in column order of its tables.
    pub fn op_names(self) -> Vec<&'static str> {
        match self {
            SpaceKind::Nb201 => Op::ALL.iter().map(|o| o.name()).collect(),
            SpaceKind::Darts => darts::Op::ALL.iter().map(|o| o.name()).collect(),
        }
    }

    /// Each op's colour in drawings and charts (colour-blind safe), in column order.
    pub fn op_colors(self) -> Vec<&'static str> {
        match self {
            SpaceKind::Nb201 => nb201::draw::OP_STYLE.iter().map(|s| s.0).collect(),
            SpaceKind::Darts => darts::draw::OP_STYLE.iter().map(|s| s.0).collect(),
        }
    }

    /// A short label of each row of its tables: NB201's edge `to←from`; DARTS's cell type and
    /// edge as `visualize.py` names nodes (`normal 0←c_{k-2}`, …, `reduce 3←2`).
    pub fn row_labels(self) -> Vec<String> {
        match self {
            SpaceKind::Nb201 => EDGES.iter().map(|(t, f)| format!("{t}←{f}")).collect(),
            SpaceKind::Darts => {
                let node = |n: usize| match n {
                    0 => "c_{k-2}".to_string(),
                    1 => "c_{k-1}".to_string(),
                    n => (n - 2).to_string(),
                };
                ["normal", "reduce"]
                    .iter()
                    .flat_map(|cell| {
                        darts::EDGES
                            .iter()
                            .map(move |&(t, f)| format!("{cell} {}←{}", node(t), node(f)))
                    })
                    .collect()
            }
        }
    }

    /// The space of a `[rows, ops]` table, by its shape (the two spaces' shapes differ).
    pub fn of_shape(shape: [usize; 2]) -> Option<SpaceKind> {
        [SpaceKind::Nb201, SpaceKind::Darts]
            .into_iter()
            .find(|s| s.shape() == shape)
    }

    /// The α* that this space's derivation rule ranks, from eq. 18's sum `sum` =
    /// Σ_t G_t / max_{s≤t}‖G_s‖ after `steps` steps. NB201's per-edge argmax is scale-free, so
    /// it sees the sum as it is (what trajectories have always held). DARTS's `genotype()` rule
    /// compares softmax weights *across* edges, which depends on α's scale, so it sees
    /// Algorithm 1's α* = (ξ/T)·sum with ξ = 1: a fixed scale whatever T, so T = 100 and T = 10
    /// searches of the same gradients rank edges alike.
    pub fn alpha_star(self, sum: &ArchTable, steps: usize) -> ArchTable {
        match self {
            SpaceKind::Nb201 => sum.clone(),
            SpaceKind::Darts => {
                let xi_over_t = 1.0 / steps.max(1) as f32;
                sum.map(|v| v * xi_over_t)
            }
        }
    }

    /// The cell picked from α* ([`SpaceKind::alpha_star`]): the per-edge argmax (NB201) or
    /// DARTS's top-2 inputs per node of softmax(α*) (`model_search.py`'s `genotype()`). With
    /// `exclude_none`, NB201's argmax leaves `none` out as DARTS's rule does (HNAS's and TE-NAS's
    /// final step); DARTS's rule always does.
    pub fn derive(self, alpha_star: &ArchTable, exclude_none: bool) -> AnyGenotype {
        match self {
            SpaceKind::Nb201 if exclude_none => {
                AnyGenotype::Nb201(Genotype::argmax(&alpha_star.map_rows(|r| {
                    let mut r = r.to_vec();
                    r[Op::None.index()] = f32::NEG_INFINITY;
                    r
                })))
            }
            SpaceKind::Nb201 => AnyGenotype::Nb201(Genotype::argmax(alpha_star)),
            SpaceKind::Darts => AnyGenotype::Darts(darts::Genotype::derive(alpha_star, 1.0)),
        }
    }

    /// The `k` cells that α* ranks highest, best first, each with its score (the candidates of
    /// the second stage, `--refine K`; see [`kbest`]). NB201: Σ_e α*[e][op_e] over the ops the
    /// derivation allows (`none` left out with `exclude_none`); DARTS: Σ over the 16 kept pairs
    /// of log softmax(α*)[edge][op]. The first is always [`SpaceKind::derive`]'s cell (up to ties).
    pub fn candidates(
        self,
        alpha_star: &ArchTable,
        k: usize,
        exclude_none: bool,
    ) -> Vec<(f64, AnyGenotype)> {
        match self {
            SpaceKind::Nb201 => {
                let first = usize::from(exclude_none);
                let rows: Vec<Vec<f64>> = alpha_star
                    .iter()
                    .map(|r| r[first..].iter().map(|&v| v as f64).collect())
                    .collect();
                kbest::k_best(&rows, k)
                    .into_iter()
                    .map(|(s, c)| {
                        let ops: Vec<usize> = c.iter().map(|&i| i + first).collect();
                        let g = Genotype::from_indices(&ops).expect("op indices in range");
                        (s, AnyGenotype::Nb201(g))
                    })
                    .collect()
            }
            SpaceKind::Darts => darts::Genotype::k_best(alpha_star, k)
                .into_iter()
                .map(|(s, g)| (s, AnyGenotype::Darts(g)))
                .collect(),
        }
    }
}

impl std::fmt::Display for SpaceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A cell of either space, written as that space's own text: NB201's `|op~i|+…` string or
/// DARTS's `Genotype(normal=[…], …)`, which users paste into `genotypes.py`. Results and
/// trajectories carry it as that text; reading tells the two apart by DARTS's `Genotype(`
/// prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
// 256 bytes for DARTS against 6 for NB201: a few are made per step, so the copy is free and a
// box would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum AnyGenotype {
    /// An NB201 cell.
    Nb201(Genotype),
    /// A DARTS normal and reduction cell.
    Darts(darts::Genotype),
}

impl AnyGenotype {
    /// Its space.
    pub fn space(&self) -> SpaceKind {
        match self {
            AnyGenotype::Nb201(_) => SpaceKind::Nb201,
            AnyGenotype::Darts(_) => SpaceKind::Darts,
        }
    }

    /// The NB201 cell, if it is one (the accuracy table, the proxies and the page's cell view
    /// are NB201's).
    pub fn nb201(&self) -> Option<&Genotype> {
        match self {
            AnyGenotype::Nb201(g) => Some(g),
            AnyGenotype::Darts(_) => None,
        }
    }

    /// The DARTS genotype, if it is one.
    pub fn darts(&self) -> Option<&darts::Genotype> {
        match self {
            AnyGenotype::Darts(g) => Some(g),
            AnyGenotype::Nb201(_) => None,
        }
    }

    /// Its score under α* (`[rows, ops]`, as [`SpaceKind::candidates`] ranks cells): NB201
    /// Σ_e α*[e][op_e]; DARTS Σ over its 16 kept pairs of log softmax(α*)[edge][op].
    pub fn alpha_score(&self, alpha_star: &ArchTable) -> f64 {
        match self {
            AnyGenotype::Nb201(g) => g
                .indices()
                .iter()
                .enumerate()
                .map(|(e, &k)| f64::from(alpha_star[e][k]))
                .sum(),
            AnyGenotype::Darts(g) => {
                let logp = alpha_star.softmax_rows().map(|v| v.ln());
                [(0, &g.normal), (darts::NUM_EDGES, &g.reduce)]
                    .into_iter()
                    .flat_map(|(offset, cell)| {
                        cell.iter().enumerate().map(move |(slot, &(op, from))| {
                            (offset + darts::edge_row(2 + slot / 2, from), op.index())
                        })
                    })
                    .map(|(row, k)| f64::from(logp[row][k]))
                    .sum()
            }
        }
    }

    /// Its one-edge neighbours: every cell that differs from it in the op of one edge (NB201:
    /// 6 edges × 4 other ops, or × 3 when `exclude_none` keeps `none` out as the derivation
    /// does; DARTS: each of the 16 kept pairs with each of the 6 other ops than `none`, its
    /// input kept), in edge, then op order. The second stage scores them beside α*'s best
    /// (`--refine-neighbours`), so that it can judge each edge in the pick's own context, which
    /// eq. 18's one linearisation at α = 0 averages away.
    pub fn neighbours(&self, exclude_none: bool) -> Vec<AnyGenotype> {
        match self {
            AnyGenotype::Nb201(g) => {
                let first = usize::from(exclude_none);
                (0..nb201::NUM_EDGES)
                    .flat_map(|e| {
                        nb201::Op::ALL[first..]
                            .iter()
                            .filter(move |&&op| op != g.ops[e])
                            .map(move |&op| {
                                let mut v = *g;
                                v.ops[e] = op;
                                AnyGenotype::Nb201(v)
                            })
                    })
                    .collect()
            }
            AnyGenotype::Darts(g) => (0..2 * darts::NUM_PAIRS)
                .flat_map(|i| {
                    let (cell, slot) = (i / darts::NUM_PAIRS, i % darts::NUM_PAIRS);
                    let pairs = if cell == 0 { &g.normal } else { &g.reduce };
                    let current = pairs[slot].0;
                    darts::Op::ALL[1..]
                        .iter()
                        .filter(move |&&op| op != current)
                        .map(move |&op| {
                            let mut v = *g;
                            let c = if cell == 0 {
                                &mut v.normal
                            } else {
                                &mut v.reduce
                            };
                            c[slot].0 = op;
                            AnyGenotype::Darts(v)
                        })
                })
                .collect(),
        }
    }

    /// Its op weights in the space's `[rows, ops]` table: 1 on each edge's op (NB201 `[6, 5]`;
    /// DARTS `[28, 8]` with `none` on the edges no pair keeps, [`darts::Genotype::one_hot`]).
    /// The relaxed supernet under these weights computes this cell; scaled, it is the point the
    /// re-linearised search (`--relinearise`) takes its gradients at.
    pub fn one_hot(&self) -> ArchTable {
        match self {
            AnyGenotype::Nb201(g) => {
                let ops = g.indices();
                ArchTable::from_fn(ops.len(), nb201::NUM_OPS, |e, k| f32::from(ops[e] == k))
            }
            AnyGenotype::Darts(g) => g.one_hot(),
        }
    }
}

impl std::fmt::Display for AnyGenotype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnyGenotype::Nb201(g) => g.fmt(f),
            AnyGenotype::Darts(g) => g.fmt(f),
        }
    }
}

impl std::str::FromStr for AnyGenotype {
    type Err = String;
    /// DARTS's text when it starts with `Genotype(`, NB201's otherwise; the error is the
    /// space's own one line.
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim_start().starts_with("Genotype") {
            s.parse().map(AnyGenotype::Darts).map_err(|e| e.to_string())
        } else {
            s.parse().map(AnyGenotype::Nb201).map_err(|e| e.to_string())
        }
    }
}

serde_via_string!(AnyGenotype);

impl From<Genotype> for AnyGenotype {
    fn from(g: Genotype) -> Self {
        AnyGenotype::Nb201(g)
    }
}

impl From<darts::Genotype> for AnyGenotype {
    fn from(g: darts::Genotype) -> Self {
        AnyGenotype::Darts(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_differ_in_one_edge_and_alpha_scores_are_the_candidates_own() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        // NB201: 6 edges × 4 other ops, or without `none` × 3, but × 4 on this cell's own `none`
        // edge (2←0): 19. Each differs in one edge.
        let nb: AnyGenotype = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
            .parse()
            .unwrap();
        let g = *nb.nb201().unwrap();
        for (exclude, n) in [(false, 24), (true, 19)] {
            let v = nb.neighbours(exclude);
            assert_eq!(v.len(), n);
            for w in &v {
                let w = w.nb201().unwrap();
                let moved: Vec<usize> = (0..6).filter(|&e| w.ops[e] != g.ops[e]).collect();
                assert_eq!(moved.len(), 1, "{w}");
                assert!(!(exclude && w.ops[moved[0]] == nb201::Op::None));
            }
        }
        // DARTS: 16 kept pairs × 6 other ops than `none`, inputs kept, each valid text.
        let d: AnyGenotype = darts::DARTS_V2.parse().unwrap();
        let v = d.neighbours(true);
        assert_eq!(v.len(), 16 * 6);
        for w in &v {
            let (a, b) = (d.darts().unwrap(), w.darts().unwrap());
            let pairs = |g: &darts::Genotype| [g.normal, g.reduce].concat();
            let moved = pairs(a)
                .iter()
                .zip(pairs(b))
                .filter(|(x, y)| **x != *y)
                .inspect(|(x, y)| assert_eq!(x.1, y.1, "input kept"))
                .count();
            assert_eq!(moved, 1);
            assert_eq!(w.to_string().parse::<AnyGenotype>().unwrap(), *w);
        }
        // The α* score of a candidate is the one k-best ranks it by, in both spaces.
        for space in [SpaceKind::Nb201, SpaceKind::Darts] {
            let [rows, ops] = space.shape();
            let alpha = ArchTable::from_fn(rows, ops, |_, _| rng.random::<f32>() * 4.0 - 2.0);
            for (score, g) in space.candidates(&alpha, 20, true) {
                // f32 table entries summed in f64 (and DARTS's log softmax): measured 0 and
                // below 1e-6; bound 1e-5.
                assert!((g.alpha_score(&alpha) - score).abs() < 1e-5, "{space} {g}");
            }
        }
    }

    #[test]
    fn any_genotype_reads_either_text_and_round_trips() {
        let nb = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
        for text in [nb, darts::DARTS_V2] {
            let g: AnyGenotype = text.parse().unwrap();
            assert_eq!(g.to_string(), text);
            let json = serde_json::to_string(&g).unwrap();
            assert_eq!(serde_json::from_str::<AnyGenotype>(&json).unwrap(), g);
        }
        assert_eq!(nb.parse::<AnyGenotype>().unwrap().space(), SpaceKind::Nb201);
        let e = "Genotype(normal=[])".parse::<AnyGenotype>().unwrap_err();
        assert!(e.contains("DARTS"), "{e}");
        assert!("|bogus~0|".parse::<AnyGenotype>().is_err());
    }

    #[test]
    fn darts_alpha_star_is_scaled_by_one_over_t_and_nb201_is_not() {
        let sum = ArchTable::from_fn(darts::ROWS, darts::NUM_OPS, |r, k| (r * k) as f32);
        assert_eq!(
            SpaceKind::Darts.alpha_star(&sum, 4)[3],
            sum.map(|v| v / 4.0)[3]
        );
        let nb = ArchTable::from_fn(6, 5, |r, k| (r + k) as f32);
        assert_eq!(SpaceKind::Nb201.alpha_star(&nb, 4), nb);
        // Row 0 favours `none`; without it the next best op wins.
        let mut a = ArchTable::zeros(6, 5);
        a[0].copy_from_slice(&[3.0, 1.0, 2.0, 0.0, 0.0]);
        let with = SpaceKind::Nb201.derive(&a, false).nb201().unwrap().ops[0];
        let without = SpaceKind::Nb201.derive(&a, true).nb201().unwrap().ops[0];
        assert_eq!((with, without), (Op::None, Op::NorConv1x1));
        assert_eq!(SpaceKind::Darts.shape(), [28, 8]);
        let labels = SpaceKind::Darts.row_labels();
        assert_eq!((labels.len(), &labels[0][..]), (28, "normal 0←c_{k-2}"));
        assert_eq!(labels[27], "reduce 3←2");
        assert_eq!(SpaceKind::Nb201.row_labels()[3], "3←0");
        assert_eq!(SpaceKind::of_shape([28, 8]), Some(SpaceKind::Darts));
        assert_eq!(SpaceKind::Darts.op_names()[3], "skip_connect");
        assert_eq!(SpaceKind::Darts.op_colors().len(), 8);
    }

    #[test]
    fn candidates_start_with_the_derived_cell_and_are_distinct_and_ordered() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for space in [SpaceKind::Nb201, SpaceKind::Darts] {
            let [rows, ops] = space.shape();
            for exclude in [false, true] {
                let a = ArchTable::from_fn(rows, ops, |_, _| rng.random::<f32>() * 4.0 - 2.0);
                let c = space.candidates(&a, 40, exclude);
                assert_eq!(c.len(), 40);
                assert_eq!(
                    c[0].1,
                    space.derive(&a, exclude),
                    "{space} exclude {exclude}"
                );
                assert!(c.windows(2).all(|w| w[0].0 >= w[1].0), "best first");
                let set: std::collections::HashSet<_> = c.iter().map(|x| x.1).collect();
                assert_eq!(set.len(), 40, "distinct cells");
                if space == SpaceKind::Nb201 {
                    // The score is Σ α*[e][op_e], and `none` is out when excluded.
                    for (s, g) in &c {
                        let g = g.nb201().unwrap();
                        let sum: f64 = g
                            .indices()
                            .iter()
                            .enumerate()
                            .map(|(e, &k)| a[e][k] as f64)
                            .sum();
                        assert!((s - sum).abs() < 1e-9);
                        assert!(!exclude || !g.ops.contains(&Op::None));
                    }
                }
            }
        }
        // All 4^6 cells without `none` are reachable, and no more.
        let a = ArchTable::zeros(6, 5);
        assert_eq!(SpaceKind::Nb201.candidates(&a, 5000, true).len(), 4096);
    }
}
