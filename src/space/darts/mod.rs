//! The DARTS search space (Liu et al., ICLR 2019), as the reference code `quark0/darts` defines
//! it, for NASI's full-scale search (paper §5.2, Table 1).
//!
//! A cell has two inputs (node 0 = c_{k−2}, node 1 = c_{k−1}), four intermediate nodes 2..=5
//! and 14 relaxed edges: node i takes every earlier node, in the row order 2←{0,1},
//! 3←{0,1,2}, 4←{0..3}, 5←{0..4} ([`EDGES`]). Its output concatenates the four intermediate
//! nodes. A network has normal and reduction cells with their own α: one search holds one
//! `[28, 8]` table, the 14 normal rows then the 14 reduce rows ([`ROWS`]), so one Gumbel draw and
//! one ‖G_t‖ (eq. 18) cover both, as Algorithm 1's single α does.
//!
//! A derived cell keeps 2 inputs per node, each with one op other than `none`
//! ([`Genotype::derive`], DARTS's `genotype()` rule), and is written as the `Genotype(...)` text
//! users paste into DARTS's `genotypes.py`.

use std::fmt;

use rand::Rng;

use super::ArchTable;

/// DARTS_V2, the cell of the DARTS paper (second-order search), as `genotypes.py` defines it:
/// a reference for parameter counts and for scoring (`nasi score`).
pub const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

/// Candidate operations per edge.
pub const NUM_OPS: usize = 8;
/// Intermediate nodes of a cell (DARTS's `steps`).
pub const NUM_NODES: usize = 4;
/// Relaxed edges of one cell: 2 + 3 + 4 + 5.
pub const NUM_EDGES: usize = 14;
/// Rows of the α table of one search: the normal cell's 14 edges, then the reduction cell's.
pub const ROWS: usize = 2 * NUM_EDGES;
/// Pairs `(op, input)` of a derived cell: 2 per intermediate node.
pub const NUM_PAIRS: usize = 2 * NUM_NODES;

/// The 14 edges `(to, from)` of a cell in row order (DARTS's `_ops` order): node `to` ∈ 2..=5
/// takes every `from < to`.
pub const EDGES: [(usize, usize); NUM_EDGES] = [
    (2, 0),
    (2, 1),
    (3, 0),
    (3, 1),
    (3, 2),
    (4, 0),
    (4, 1),
    (4, 2),
    (4, 3),
    (5, 0),
    (5, 1),
    (5, 2),
    (5, 3),
    (5, 4),
];

/// A candidate operation of DARTS, in `PRIMITIVES` order (its index is the op index, the column
/// of α).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Zero: the edge is absent (never kept by the derivation).
    None,
    /// 3×3 max pool, padding 1 (followed by a non-affine BN in the search network).
    MaxPool3x3,
    /// 3×3 average pool, padding 1, padded cells not counted (BN after it in search).
    AvgPool3x3,
    /// Identity; FactorizedReduce at stride 2.
    SkipConnect,
    /// Two blocks of ReLU → depthwise 3×3 → 1×1 → BN (only the first strided).
    SepConv3x3,
    /// The same with 5×5 depthwise convolutions.
    SepConv5x5,
    /// ReLU → depthwise 3×3 with dilation 2 → 1×1 → BN.
    DilConv3x3,
    /// ReLU → depthwise 5×5 with dilation 2 → 1×1 → BN.
    DilConv5x5,
}

impl Op {
    /// All ops in `PRIMITIVES` order.
    pub const ALL: [Op; NUM_OPS] = [
        Op::None,
        Op::MaxPool3x3,
        Op::AvgPool3x3,
        Op::SkipConnect,
        Op::SepConv3x3,
        Op::SepConv5x5,
        Op::DilConv3x3,
        Op::DilConv5x5,
    ];

    /// DARTS's name of the op.
    pub fn name(self) -> &'static str {
        match self {
            Op::None => "none",
            Op::MaxPool3x3 => "max_pool_3x3",
            Op::AvgPool3x3 => "avg_pool_3x3",
            Op::SkipConnect => "skip_connect",
            Op::SepConv3x3 => "sep_conv_3x3",
            Op::SepConv5x5 => "sep_conv_5x5",
            Op::DilConv3x3 => "dil_conv_3x3",
            Op::DilConv5x5 => "dil_conv_5x5",
        }
    }

    /// Index in `PRIMITIVES` (the column of α).
    pub fn index(self) -> usize {
        Op::ALL.iter().position(|&o| o == self).expect("listed")
    }

    /// The op of a DARTS name.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.name() == name)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A malformed DARTS genotype text, with what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("malformed DARTS genotype: {0}")]
pub struct GenotypeError(pub String);

/// The row of edge `(to, from)` in a cell's 14 rows ([`EDGES`] order); `to` ∈ 2..=5, `from` < `to`.
pub fn edge_row(to: usize, from: usize) -> usize {
    EDGES
        .iter()
        .position(|&x| x == (to, from))
        .expect("an edge of the cell")
}

/// One derived cell: pair `2i`, `2i + 1` feeds intermediate node `2 + i`; an input `j` is node
/// `j` (0, 1: the cell's inputs; `j ≥ 2`: intermediate node `j`).
pub type Cell = [(Op, usize); NUM_PAIRS];

/// One node's two kept pairs, strongest first.
type NodePairs = [(Op, usize); 2];

/// A DARTS genotype: the normal and the reduction cell (both concatenate nodes 2..=5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Genotype {
    /// The normal cell's 8 pairs.
    pub normal: Cell,
    /// The reduction cell's 8 pairs.
    pub reduce: Cell,
}

/// DARTS's `genotype()` rule on one cell's `[14][8]` softmax weights: for each node, the 2
/// in-edges with the largest weight of an op other than `none` (a stable sort: ties go to the
/// lower input), each with its best op other than `none` (the first maximum), the two pairs in
/// that order (strongest first), as `model_search.py`'s `_parse` emits them.
pub fn derive_cell(weights: &[&[f32]]) -> Cell {
    assert_eq!(weights.len(), NUM_EDGES, "one cell's 14 rows");
    let best = |row: &[f32]| {
        let mut k_best = 1;
        for k in 2..NUM_OPS {
            if row[k] > row[k_best] {
                k_best = k;
            }
        }
        k_best
    };
    let mut cell = [(Op::None, 0); NUM_PAIRS];
    let mut start = 0;
    for node in 0..NUM_NODES {
        let n = node + 2;
        let rows = &weights[start..start + n];
        let strength = |j: usize| rows[j][best(rows[j])];
        let mut inputs: Vec<usize> = (0..n).collect();
        // Descending strength; `sort_by` is stable, as Python's `sorted`.
        inputs.sort_by(|&a, &b| strength(b).total_cmp(&strength(a)));
        for (slot, &j) in inputs[..2].iter().enumerate() {
            cell[2 * node + slot] = (Op::ALL[best(rows[j])], j);
        }
        start += n;
    }
    cell
}

impl Genotype {
    /// The genotype of an α table `[28][8]` (normal rows, then reduce rows) by DARTS's rule
    /// ([`derive_cell`]) on `softmax(scale·α)` per row. The rule compares softmax values across
    /// edges, so unlike NB201's per-row argmax it depends on α's scale: the search passes the
    /// scale it documents (Algorithm 1's ξ/T on eq. 18's sum).
    pub fn derive(alpha: &ArchTable, scale: f64) -> Genotype {
        assert_eq!(alpha.shape(), [ROWS, NUM_OPS], "normal and reduce rows");
        let w = alpha.map(|v| (v as f64 * scale) as f32).softmax_rows();
        let rows: Vec<&[f32]> = w.iter().collect();
        Genotype {
            normal: derive_cell(&rows[..NUM_EDGES]),
            reduce: derive_cell(&rows[NUM_EDGES..]),
        }
    }

    /// The `k` genotypes with the largest Σ log softmax(α*)[edge][op] over their 16 pairs,
    /// best first, with that sum. Each node's choice (two distinct inputs, each with an op other
    /// than `none`) is one row of [`super::kbest::k_best`]; the best is [`Genotype::derive`]'s
    /// pick, since the top-2 edges by their best weight maximise the node's sum. A node's two
    /// pairs are written strongest first, as `derive_cell` writes them (ties: lower input).
    /// `alpha` is `[28, 8]`.
    pub fn k_best(alpha: &ArchTable, k: usize) -> Vec<(f64, Genotype)> {
        assert_eq!(alpha.shape(), [ROWS, NUM_OPS], "normal and reduce rows");
        let logp = alpha.softmax_rows().map(|v| v.ln());
        // Per node (normal 0..4, then reduce 0..4): its choices as (score, pairs).
        let mut nodes: Vec<Vec<(f64, NodePairs)>> = Vec::new();
        for offset in [0, NUM_EDGES] {
            let mut start = offset;
            for node in 0..NUM_NODES {
                let n = node + 2;
                let mut choices = Vec::new();
                for j1 in 0..n {
                    for j2 in j1 + 1..n {
                        for o1 in 1..NUM_OPS {
                            for o2 in 1..NUM_OPS {
                                let (a, b) =
                                    (logp[start + j1][o1] as f64, logp[start + j2][o2] as f64);
                                let (p1, p2) = ((Op::ALL[o1], j1), (Op::ALL[o2], j2));
                                let pairs = if b > a { [p2, p1] } else { [p1, p2] };
                                choices.push((a + b, pairs));
                            }
                        }
                    }
                }
                nodes.push(choices);
                start += n;
            }
        }
        let rows: Vec<Vec<f64>> = nodes
            .iter()
            .map(|c| c.iter().map(|x| x.0).collect())
            .collect();
        super::kbest::k_best(&rows, k)
            .into_iter()
            .map(|(s, picks)| {
                let mut cells = [[(Op::None, 0); NUM_PAIRS]; 2];
                for (i, &c) in picks.iter().enumerate() {
                    let (cell, node) = (i / NUM_NODES, i % NUM_NODES);
                    let pairs = nodes[i][c].1;
                    cells[cell][2 * node] = pairs[0];
                    cells[cell][2 * node + 1] = pairs[1];
                }
                (
                    s,
                    Genotype {
                        normal: cells[0],
                        reduce: cells[1],
                    },
                )
            })
            .collect()
    }

    /// The op weights `[28, 8]` under which the relaxed search network computes this genotype's
    /// network with the search network's ops: weight 1 on each kept pair's op, and on `none`
    /// for every edge no pair keeps (so those edges add w·0). Every other op is multiplied by
    /// 0, so its parameters get no gradient and T̃ and the NTK are those of the discrete
    /// network.
    pub fn one_hot(&self) -> ArchTable {
        let mut t = ArchTable::zeros(ROWS, NUM_OPS);
        for r in 0..ROWS {
            t[r][Op::None.index()] = 1.0;
        }
        for (offset, cell) in [(0, &self.normal), (NUM_EDGES, &self.reduce)] {
            for (slot, &(op, from)) in cell.iter().enumerate() {
                let e = edge_row(2 + slot / 2, from);
                t[offset + e][Op::None.index()] = 0.0;
                t[offset + e][op.index()] = 1.0;
            }
        }
        t
    }

    /// A uniformly random valid genotype: per node 2 distinct inputs, each with a random op other
    /// than `none`.
    pub fn random(rng: &mut impl Rng) -> Genotype {
        let mut cell = || {
            let mut c = [(Op::None, 0); NUM_PAIRS];
            for node in 0..NUM_NODES {
                let n = node + 2;
                let a = rng.random_range(0..n);
                let mut b = rng.random_range(0..n - 1);
                if b >= a {
                    b += 1;
                }
                for (slot, j) in [a, b].into_iter().enumerate() {
                    c[2 * node + slot] = (Op::ALL[rng.random_range(1..NUM_OPS)], j);
                }
            }
            c
        };
        let normal = cell();
        Genotype {
            normal,
            reduce: cell(),
        }
    }

    /// Checks one cell: no `none`, each input below its node.
    fn check(cell: &Cell, name: &str) -> Result<(), GenotypeError> {
        for (p, &(op, j)) in cell.iter().enumerate() {
            let node = 2 + p / 2;
            if op == Op::None {
                return Err(GenotypeError(format!(
                    "{name} pair {p} is `none`, which a derived cell never holds"
                )));
            }
            if j >= node {
                return Err(GenotypeError(format!(
                    "{name} pair {p} feeds node {node} from input {j}; node {node} takes inputs 0..={}",
                    node - 1
                )));
            }
        }
        Ok(())
    }
}

pub mod draw;
mod text;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn primitives_and_edges_in_the_reference_order() {
        let names: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(
            names,
            [
                "none",
                "max_pool_3x3",
                "avg_pool_3x3",
                "skip_connect",
                "sep_conv_3x3",
                "sep_conv_5x5",
                "dil_conv_3x3",
                "dil_conv_5x5"
            ]
        );
        // Row order of `_ops`: for node i = 0..4, inputs j = 0..2+i.
        let mut want = Vec::new();
        for i in 0..NUM_NODES {
            for j in 0..2 + i {
                want.push((2 + i, j));
            }
        }
        assert_eq!(EDGES.to_vec(), want);
    }

    #[test]
    fn the_text_round_trips_and_takes_the_forms_users_paste() {
        let g: Genotype = DARTS_V2.parse().unwrap();
        assert_eq!(g.to_string(), DARTS_V2);
        assert_eq!(g.normal[7], (Op::DilConv3x3, 2));
        let with_range = DARTS_V2
            .replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
            .replace('\'', "\"");
        assert_eq!(with_range.parse::<Genotype>().unwrap(), g);
        let named = format!("DARTS_V2 = {}", DARTS_V2.replace(", ", ",\n  "));
        assert_eq!(named.parse::<Genotype>().unwrap(), g);
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let g = Genotype::random(&mut r);
            assert_eq!(g.to_string().parse::<Genotype>().unwrap(), g);
        }
    }

    #[test]
    fn bad_genotypes_are_named() {
        let cases = [
            (
                DARTS_V2.replacen("'sep_conv_3x3', 0", "'none', 0", 1),
                "normal pair 0 is `none`",
            ),
            (
                DARTS_V2.replacen("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)", 1),
                "normal pair 7 feeds node 5 from input 5; node 5 takes inputs 0..=4",
            ),
            (
                DARTS_V2.replacen("('sep_conv_3x3', 1), ", "", 1),
                "normal has 7 pairs; a cell has 8",
            ),
            (
                DARTS_V2.replacen("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[3, 4, 5]", 1),
                "reduce_concat is [3, 4, 5]",
            ),
            (
                DARTS_V2.replacen("sep_conv_3x3", "sep_conv_7x7", 1),
                "unknown op `sep_conv_7x7`",
            ),
            // The same input twice is a cell DARTS's model.py builds (the derivation never
            // makes one): accepted.
            (
                DARTS_V2.replacen("'max_pool_3x3', 0", "'max_pool_3x3', 1", 1),
                "",
            ),
            ("Genotype(normal=[".into(), "expected `(`"),
            ("|nor_conv_3x3~0|".into(), "unexpected `|`"),
        ];
        for (text, needle) in cases {
            match text.parse::<Genotype>() {
                Ok(_) => assert!(needle.is_empty(), "{text} parsed"),
                Err(e) => {
                    assert!(!needle.is_empty(), "{text}: {e}");
                    assert!(e.to_string().contains(needle), "{needle}: {e}");
                }
            }
        }
    }

    #[test]
    fn derivation_keeps_the_two_strongest_inputs_as_darts_does() {
        // Hand-made weights: node 2 prefers input 1 (sep 5x5) over 0; node 3 ties inputs 0 and 2
        // (the lower wins), and `none`'s large weight on input 1 is ignored.
        let mut w = ArchTable::from_fn(NUM_EDGES, NUM_OPS, |_, _| 0.1);
        w[1][Op::SepConv5x5.index()] = 0.9;
        w[0][Op::MaxPool3x3.index()] = 0.5;
        w[3][Op::None.index()] = 0.99;
        w[2][Op::SkipConnect.index()] = 0.6;
        w[4][Op::AvgPool3x3.index()] = 0.6;
        let cell = derive_cell(&w.iter().collect::<Vec<_>>());
        assert_eq!(cell[0], (Op::SepConv5x5, 1), "strongest first");
        assert_eq!(cell[1], (Op::MaxPool3x3, 0));
        assert_eq!(
            cell[2],
            (Op::SkipConnect, 0),
            "a tie goes to the lower input"
        );
        assert_eq!(cell[3], (Op::AvgPool3x3, 2));
        // Equal weights: the first two inputs, each with the first op after `none`.
        assert_eq!(cell[6], (Op::MaxPool3x3, 0));
        assert_eq!(cell[7], (Op::MaxPool3x3, 1));
        // The rule sees softmax(scale·α), so the scale of α* changes which edges are kept.
        // Node 3 (rows 2..5): 3←0 has `none` far below seven equal ops; 3←1 one peak of 1;
        // 3←2 a small peak of 0.2. At scale 1 the peaks win (0.28, 0.149 against 0.143); at
        // scale 0.05 the flat row's 1/(7 + e^−0.5) = 0.1315 beats both (0.1306, 0.1261).
        let mut alpha = ArchTable::zeros(ROWS, NUM_OPS);
        alpha[2][Op::None.index()] = -10.0;
        alpha[3][Op::SepConv3x3.index()] = 1.0;
        alpha[4][Op::MaxPool3x3.index()] = 0.2;
        let node3 = |scale| Genotype::derive(&alpha, scale).normal[2..4].to_vec();
        assert_eq!(node3(1.0), [(Op::SepConv3x3, 1), (Op::MaxPool3x3, 2)]);
        assert_eq!(node3(0.05), [(Op::MaxPool3x3, 0), (Op::SepConv3x3, 1)]);
    }
}
