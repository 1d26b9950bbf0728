//! The NAS-Bench-201 search space: five candidate operations on the six edges of a 4-node cell.
//!
//! One canonical encoding is used everywhere in the crate: XAutoDL's op names and op order
//! ([`Op::ALL`]) and its edge order ([`EDGES`]: 1←0, 2←0, 2←1, 3←0, 3←1, 3←2). A [`Genotype`]
//! converts to and from the NB201 string (`|nor_conv_3x3~0|+|…|`) and to op indices; every other
//! representation is derived from these.

pub mod draw;
pub mod table;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Number of candidate operations per edge.
pub const NUM_OPS: usize = 5;
/// Number of edges in an NB201 cell.
pub const NUM_EDGES: usize = 6;
/// Number of nodes in an NB201 cell (node 0 is the input, node 3 the output).
pub const NUM_NODES: usize = 4;

/// The six edges `(to, from)` in XAutoDL's order: 1←0, 2←0, 2←1, 3←0, 3←1, 3←2.
///
/// Row `e` of every `[6, 5]` architecture tensor (α, Gumbel noise, mixing weights) is edge
/// `EDGES[e]`.
pub const EDGES: [(usize, usize); NUM_EDGES] = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)];

pub use super::arch::ArchTable;

/// NB201's `[6, 5]` table shape: row `e` is edge `EDGES[e]`, column `k` is op `Op::ALL[k]`.
pub const SHAPE: [usize; 2] = [NUM_EDGES, NUM_OPS];

/// A candidate operation of NAS-Bench-201, in XAutoDL's order (its index is the op index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Zero: the edge is absent.
    None,
    /// Identity.
    SkipConnect,
    /// ReLU → 1×1 convolution → batch norm.
    NorConv1x1,
    /// ReLU → 3×3 convolution → batch norm.
    NorConv3x3,
    /// 3×3 average pooling, stride 1, padding 1, padding not counted.
    AvgPool3x3,
}

impl Op {
    /// All ops in XAutoDL's order; `Op::ALL[i].index() == i`.
    pub const ALL: [Op; NUM_OPS] = [
        Op::None,
        Op::SkipConnect,
        Op::NorConv1x1,
        Op::NorConv3x3,
        Op::AvgPool3x3,
    ];

    /// The op's NB201 name, e.g. `nor_conv_3x3`.
    pub fn name(self) -> &'static str {
        match self {
            Op::None => "none",
            Op::SkipConnect => "skip_connect",
            Op::NorConv1x1 => "nor_conv_1x1",
            Op::NorConv3x3 => "nor_conv_3x3",
            Op::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    /// The op's index in [`Op::ALL`] (the column of an α row).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The op with index `i`, if `i < 5`.
    pub fn from_index(i: usize) -> Option<Op> {
        Op::ALL.get(i).copied()
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Op {
    type Err = SpaceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Op::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| SpaceError::UnknownOp(s.to_string()))
    }
}

/// Why an architecture string or index list was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpaceError {
    /// An op name that is not one of the five NB201 ops.
    #[error(
        "unknown op `{0}` (expected one of none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3)"
    )]
    UnknownOp(String),
    /// The string does not have the `|op~i|+|op~i|op~i|+|op~i|op~i|op~i|` shape.
    #[error("malformed NB201 string `{0}`: {1}")]
    Malformed(String, String),
    /// An op index outside 0..5.
    #[error("op index {0} out of range 0..5")]
    BadIndex(usize),
}

/// One NB201 cell: the op on each of the six edges, in [`EDGES`] order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Genotype {
    /// `ops[e]` is the op on edge `EDGES[e]`.
    pub ops: [Op; NUM_EDGES],
}

impl Genotype {
    /// Builds a genotype from six op indices (edge order [`EDGES`], op order [`Op::ALL`]).
    pub fn from_indices(indices: &[usize]) -> Result<Self, SpaceError> {
        if indices.len() != NUM_EDGES {
            return Err(SpaceError::Malformed(
                format!("{indices:?}"),
                format!("expected {NUM_EDGES} op indices, got {}", indices.len()),
            ));
        }
        let mut ops = [Op::None; NUM_EDGES];
        for (slot, &i) in ops.iter_mut().zip(indices) {
            *slot = Op::from_index(i).ok_or(SpaceError::BadIndex(i))?;
        }
        Ok(Genotype { ops })
    }

    /// The six op indices in edge order.
    pub fn indices(&self) -> [usize; NUM_EDGES] {
        self.ops.map(Op::index)
    }

    /// The cell picked by a per-edge argmax of a `[6][5]` score table (eq. 18's final step).
    ///
    /// Ties go to the lowest op index; NaN scores never win.
    pub fn argmax(scores: &ArchTable) -> Self {
        assert_eq!(scores.shape(), SHAPE, "an NB201 table");
        let best = scores.row_argmax();
        Genotype {
            ops: std::array::from_fn(|e| Op::ALL[best[e]]),
        }
    }

    /// The cell with index `i` in the enumeration order where edge 0's op varies slowest
    /// (`i = Σ_e ops[e]·5^(5−e)`); a bijection between `0..15625` and the space, used to sample
    /// cells uniformly. It is *not* NAS-Bench-201's own archive index.
    pub fn from_ordinal(mut i: usize) -> Self {
        let mut idx = [0usize; NUM_EDGES];
        for slot in idx.iter_mut().rev() {
            *slot = i % NUM_OPS;
            i /= NUM_OPS;
        }
        Genotype::from_indices(&idx).expect("indices are < 5")
    }

    /// Number of cells in the space (5^6 = 15,625).
    pub const SPACE_SIZE: usize = 15_625;

    /// Edges that carry information from the input to the output: an edge is live when its op is
    /// not `none`, its source is reachable from node 0 and its target reaches node 3.
    pub fn live_edges(&self) -> [bool; NUM_EDGES] {
        let mut reach_from_in = [false; NUM_NODES];
        reach_from_in[0] = true;
        for (e, &(to, from)) in EDGES.iter().enumerate() {
            if self.ops[e] != Op::None && reach_from_in[from] {
                reach_from_in[to] = true;
            }
        }
        let mut reach_out = [false; NUM_NODES];
        reach_out[3] = true;
        for (e, &(to, from)) in EDGES.iter().enumerate().rev() {
            if self.ops[e] != Op::None && reach_out[to] {
                reach_out[from] = true;
            }
        }
        std::array::from_fn(|e| {
            let (to, from) = EDGES[e];
            self.ops[e] != Op::None && reach_from_in[from] && reach_out[to]
        })
    }

    /// The cell's depth: the most parametrised ops (ReLU → conv → BN, i.e. `nor_conv_1x1` and
    /// `nor_conv_3x3`) on any path from node 0 to node 3, or `None` when no path connects them
    /// (the cell's output is then zero whatever its input). Why: GSC (Philipp et al., 2018) and
    /// T̃ (eq. 12) both measure how much the gradient grows through the batch-normalised layers
    /// a path crosses, so a shortcut (a shallow path beside the deep one) and a parameter-free
    /// op on the deepest path (which removes a layer from it) look alike to them; this count
    /// tells them apart (all-3×3: 3; with the skip on 3←0: 3; with the average pool on 1←0: 2).
    /// An architecture-only quantity, like the parameter count. Shu et al. (ICLR 2020,
    /// "Understanding architectures learnt by cell-based NAS") show NAS favours shallow cells
    /// because they train fast early, which is what NASI's criterion rewards.
    pub fn depth(&self) -> Option<usize> {
        // deepest[n]: the most convs on a path 0 → n, None while n is unreachable.
        let mut deepest: [Option<usize>; NUM_NODES] = [Some(0), None, None, None];
        for (e, &(to, from)) in EDGES.iter().enumerate() {
            let layers = match self.ops[e] {
                Op::None => continue,
                Op::NorConv1x1 | Op::NorConv3x3 => 1,
                Op::SkipConnect | Op::AvgPool3x3 => 0,
            };
            if let Some(d) = deepest[from] {
                deepest[to] = deepest[to].max(Some(d + layers));
            }
        }
        deepest[NUM_NODES - 1]
    }
}

impl fmt::Display for Genotype {
    /// The NB201 string, e.g. `|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|…|`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut e = 0;
        for node in 1..NUM_NODES {
            if node > 1 {
                f.write_str("+")?;
            }
            f.write_str("|")?;
            for from in 0..node {
                write!(f, "{}~{}|", self.ops[e], from)?;
                e += 1;
            }
        }
        Ok(())
    }
}

impl FromStr for Genotype {
    type Err = SpaceError;
    /// Parses an NB201 string; whitespace around it is ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let bad = |why: String| SpaceError::Malformed(text.to_string(), why);
        let groups: Vec<&str> = text.split('+').collect();
        if groups.len() != NUM_NODES - 1 {
            return Err(bad(format!(
                "expected 3 node groups separated by `+`, found {}",
                groups.len()
            )));
        }
        let mut ops = Vec::with_capacity(NUM_EDGES);
        for (g, group) in groups.iter().enumerate() {
            let node = g + 1;
            let inner = group
                .strip_prefix('|')
                .and_then(|x| x.strip_suffix('|'))
                .ok_or_else(|| {
                    bad(format!(
                        "node {node} group `{group}` must start and end with `|`"
                    ))
                })?;
            let items: Vec<&str> = inner.split('|').collect();
            if items.len() != node {
                return Err(bad(format!(
                    "node {node} needs {node} inputs, found {}",
                    items.len()
                )));
            }
            for (from, item) in items.iter().enumerate() {
                let (name, src) = item
                    .split_once('~')
                    .ok_or_else(|| bad(format!("`{item}` is not of the form op~i")))?;
                let src: usize = src
                    .parse()
                    .map_err(|_| bad(format!("`{src}` in `{item}` is not a node index")))?;
                if src != from {
                    return Err(bad(format!(
                        "node {node}'s input {from} names source node {src}"
                    )));
                }
                ops.push(name.parse::<Op>()?);
            }
        }
        let ops: [Op; NUM_EDGES] = ops.try_into().expect("3 groups of 1, 2, 3 items");
        Ok(Genotype { ops })
    }
}

impl Serialize for Genotype {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Genotype {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_strings_round_trip() {
        // Rows of the NB201 table and the best CIFAR-10 cell reported by the benchmark.
        for s in [
            "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        ] {
            let g: Genotype = s.parse().unwrap();
            assert_eq!(g.to_string(), s);
            assert_eq!(Genotype::from_indices(&g.indices()).unwrap(), g);
        }
    }

    #[test]
    fn indices_follow_xautodl_order() {
        let g: Genotype =
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
                .parse()
                .unwrap();
        assert_eq!(g.indices(), [3, 3, 4, 1, 3, 1]);
        assert_eq!(Op::ALL.map(Op::index), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn ordinal_is_a_bijection() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..Genotype::SPACE_SIZE {
            assert!(seen.insert(Genotype::from_ordinal(i)));
        }
        assert_eq!(Genotype::from_ordinal(0).indices(), [0; 6]);
        assert_eq!(Genotype::from_ordinal(1).indices(), [0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn malformed_strings_are_rejected_with_reasons() {
        for (s, needle) in [
            ("", "3 node groups"),
            (
                "|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|",
                "node 2 needs 2 inputs",
            ),
            (
                "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "unknown op `conv`",
            ),
            (
                "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
                "names source node 1",
            ),
            (
                "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "must start and end",
            ),
            ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "op~i"),
            (
                "|none~x|+|none~0|none~1|+|none~0|none~1|none~2|",
                "not a node index",
            ),
        ] {
            let err = s.parse::<Genotype>().unwrap_err().to_string();
            assert!(err.contains(needle), "{s:?} gave {err:?}");
        }
        assert!(Genotype::from_indices(&[0, 1, 2, 3, 4, 5]).is_err());
        assert!(Genotype::from_indices(&[0, 1]).is_err());
    }

    #[test]
    fn depth_counts_the_convs_on_the_deepest_path() {
        let depth = |s: &str| s.parse::<Genotype>().unwrap().depth();
        let all3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";
        assert_eq!(depth(all3), Some(3));
        // A shortcut beside the deep path keeps it; a pool on it takes a layer away.
        let skip = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";
        assert_eq!(depth(skip), Some(3));
        let pool = "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";
        assert_eq!(depth(pool), Some(2));
        // `none` cuts a path; the deepest one left counts (0 → 2 → 3 here).
        let cut = "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|";
        assert_eq!(depth(cut), Some(2));
        assert_eq!(
            depth("|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|"),
            Some(0)
        );
        // No path from 0 to 3: the output is zero whatever the input.
        assert_eq!(
            depth("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"),
            None
        );
    }

    #[test]
    fn live_edges_prune_dead_paths() {
        // Node 1 is fed by nothing, so edges leaving node 1 are dead.
        let g: Genotype =
            "|none~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"
                .parse()
                .unwrap();
        assert_eq!(g.live_edges(), [false, true, false, false, false, true]);
    }

    #[test]
    fn argmax_takes_the_largest_and_skips_nan() {
        let mut s = ArchTable::zeros(6, 5);
        s[0].copy_from_slice(&[f32::NAN, 1.0, 3.0, 2.0, 0.0]);
        s[1].copy_from_slice(&[1.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(Genotype::argmax(&s).ops[0], Op::NorConv1x1);
        assert_eq!(Genotype::argmax(&s).ops[1], Op::None);
    }
}
