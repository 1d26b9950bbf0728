//! The DARTS networks' parameters, shape by shape, named as PyTorch names them in
//! `quark0/darts` (`model_search.py`'s `Network`, `model.py`'s `NetworkCIFAR`), so that fixtures
//! written by PyTorch load in this order and the counts match the reference exactly: the search
//! network at C = 16, 8 cells has 1,930,618 parameters; DARTS_V2's evaluation network at C = 36,
//! 20 cells 3,349,342 (no auxiliary head, as `count_parameters_in_MB` counts).
//!
//! [`supernet`] is the search network's forward pass over these parameters.
//!
//! Batch norms: the search network's are non-affine (no parameters) except the stem's; the
//! evaluation network's are all affine (a weight and a bias of C each). Convolutions have no
//! bias; depthwise weights are `[C, 1, k, k]`.

pub mod supernet;

pub use supernet::{DartsSupernet, PoolTape};

use crate::net::supernet::ParamSpec;
use crate::space::darts::{Cell, EDGES, Genotype, NUM_NODES, Op};

/// Shape of a DARTS network (search or evaluation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DartsConfig {
    /// C, channels of the first cells (doubled at each reduction).
    pub channels: usize,
    /// Cells; those at `layers/3` and `2·layers/3` are reduction cells.
    pub layers: usize,
    /// The stem has `stem_multiplier·C` channels (3 in DARTS).
    pub stem_multiplier: usize,
    /// Outputs of the linear head.
    pub classes: usize,
}

impl DartsConfig {
    /// DARTS's search network (`train_search.py`: C = 16, 8 cells).
    pub const SEARCH: DartsConfig = DartsConfig {
        channels: 16,
        layers: 8,
        stem_multiplier: 3,
        classes: 10,
    };
    /// DARTS's CIFAR-10 evaluation network (`train.py`: C = 36, 20 cells).
    pub const EVAL: DartsConfig = DartsConfig {
        channels: 36,
        layers: 20,
        stem_multiplier: 3,
        classes: 10,
    };

    /// Whether cell `i` is a reduction cell.
    pub fn is_reduction(&self, i: usize) -> bool {
        i == self.layers / 3 || i == 2 * self.layers / 3
    }
}

/// The stride of the ops on an edge from node `from` of a cell: 2 on the edges from the cell's
/// two inputs in a reduction cell (`model_search.Cell`, `model.Cell`), 1 elsewhere.
pub fn edge_stride(reduction: bool, from: usize) -> usize {
    if reduction && from < 2 { 2 } else { 1 }
}

/// The 8 kept pairs of one evaluation cell: the genotype's reduction cell or its normal one.
fn eval_cell(genotype: &Genotype, reduction: bool) -> &Cell {
    if reduction {
        &genotype.reduce
    } else {
        &genotype.normal
    }
}

/// Collects specs under a name prefix.
struct Specs(Vec<ParamSpec>);

impl Specs {
    fn add(&mut self, name: String, shape: Vec<usize>) {
        self.0.push(ParamSpec { name, shape });
    }

    fn bn(&mut self, p: &str, c: usize, affine: bool) {
        if affine {
            self.add(format!("{p}.weight"), vec![c]);
            self.add(format!("{p}.bias"), vec![c]);
        }
    }

    /// `ReLUConvBN(ci, co, 1, 1, 0)`: `op.1` the conv, `op.2` the BN.
    fn relu_conv_bn(&mut self, p: &str, ci: usize, co: usize, affine: bool) {
        self.add(format!("{p}.op.1.weight"), vec![co, ci, 1, 1]);
        self.bn(&format!("{p}.op.2"), co, affine);
    }

    /// `FactorizedReduce(ci, co)`: two stride-2 1×1 convs to co/2 each, then BN.
    fn factorized_reduce(&mut self, p: &str, ci: usize, co: usize, affine: bool) {
        self.add(format!("{p}.conv_1.weight"), vec![co / 2, ci, 1, 1]);
        self.add(format!("{p}.conv_2.weight"), vec![co / 2, ci, 1, 1]);
        self.bn(&format!("{p}.bn"), co, affine);
    }

    /// One op at `c` channels (stride 2 changes only `skip_connect`, to a FactorizedReduce).
    fn op(&mut self, p: &str, op: Op, c: usize, stride: usize, affine: bool) {
        let dw_pw = |s: &mut Specs, at: usize, k: usize| {
            s.add(format!("{p}.op.{at}.weight"), vec![c, 1, k, k]);
            s.add(format!("{p}.op.{}.weight", at + 1), vec![c, c, 1, 1]);
            s.bn(&format!("{p}.op.{}", at + 2), c, affine);
        };
        match op {
            Op::None | Op::MaxPool3x3 | Op::AvgPool3x3 => {}
            Op::SkipConnect if stride == 1 => {}
            Op::SkipConnect => self.factorized_reduce(p, c, c, affine),
            // Sequential(ReLU, dw, pw, BN, ReLU, dw, pw, BN).
            Op::SepConv3x3 | Op::SepConv5x5 => {
                let k = if op == Op::SepConv3x3 { 3 } else { 5 };
                dw_pw(self, 1, k);
                dw_pw(self, 5, k);
            }
            // Sequential(ReLU, dw dilated, pw, BN).
            Op::DilConv3x3 => dw_pw(self, 1, 3),
            Op::DilConv5x5 => dw_pw(self, 1, 5),
        }
    }

    /// The stem (`stem.0` conv 3×3, `stem.1` affine BN), then every cell by `cell(self, i,
    /// c_pp, c_p, c, reduction, reduction_prev)`, then the head; returns the specs.
    fn network(
        mut self,
        cfg: &DartsConfig,
        mut cell: impl FnMut(&mut Specs, usize, [usize; 3], bool, bool),
    ) -> Vec<ParamSpec> {
        let stem = cfg.stem_multiplier * cfg.channels;
        self.add("stem.0.weight".into(), vec![stem, 3, 3, 3]);
        self.bn("stem.1", stem, true);
        let (mut c_pp, mut c_p, mut c) = (stem, stem, cfg.channels);
        let mut reduction_prev = false;
        for i in 0..cfg.layers {
            let reduction = cfg.is_reduction(i);
            if reduction {
                c *= 2;
            }
            cell(&mut self, i, [c_pp, c_p, c], reduction, reduction_prev);
            reduction_prev = reduction;
            (c_pp, c_p) = (c_p, NUM_NODES * c);
        }
        self.add("classifier.weight".into(), vec![cfg.classes, c_p]);
        self.add("classifier.bias".into(), vec![cfg.classes]);
        self.0
    }

    fn preprocess(
        &mut self,
        p: &str,
        [c_pp, c_p, c]: [usize; 3],
        reduction_prev: bool,
        affine: bool,
    ) {
        if reduction_prev {
            self.factorized_reduce(&format!("{p}.preprocess0"), c_pp, c, affine);
        } else {
            self.relu_conv_bn(&format!("{p}.preprocess0"), c_pp, c, affine);
        }
        self.relu_conv_bn(&format!("{p}.preprocess1"), c_p, c, affine);
    }
}

/// The search network's parameters (`model_search.Network`): every cell holds all 8 ops on each
/// of its 14 edges (`cells.{i}._ops.{e}._ops.{k}`), non-affine; edges from the cell's inputs are
/// strided in reduction cells.
pub fn search_specs(cfg: &DartsConfig) -> Vec<ParamSpec> {
    Specs(Vec::new()).network(cfg, |s, i, ch, reduction, reduction_prev| {
        let p = format!("cells.{i}");
        s.preprocess(&p, ch, reduction_prev, false);
        for (e, &(_, from)) in EDGES.iter().enumerate() {
            let stride = edge_stride(reduction, from);
            for (k, &op) in Op::ALL.iter().enumerate() {
                s.op(&format!("{p}._ops.{e}._ops.{k}"), op, ch[2], stride, false);
            }
        }
    })
}

/// The evaluation network of `genotype` (`model.NetworkCIFAR` without its auxiliary head): each
/// cell holds its 8 ops (`cells.{i}._ops.{p}`), affine.
pub fn eval_specs(genotype: &Genotype, cfg: &DartsConfig) -> Vec<ParamSpec> {
    Specs(Vec::new()).network(cfg, |s, i, ch, reduction, reduction_prev| {
        let p = format!("cells.{i}");
        s.preprocess(&p, ch, reduction_prev, true);
        for (q, &(op, j)) in eval_cell(genotype, reduction).iter().enumerate() {
            let stride = edge_stride(reduction, j);
            s.op(&format!("{p}._ops.{q}"), op, ch[2], stride, true);
        }
    })
}

/// Scalars in a list of specs.
pub fn count(specs: &[ParamSpec]) -> usize {
    specs.iter().map(ParamSpec::numel).sum()
}

/// Parameters of `genotype`'s evaluation network at DARTS's CIFAR-10 size (C = 36, 20 cells, no
/// auxiliary head), as `count_parameters_in_MB` counts them: the figure results, the CLI, the
/// page and the second stage report.
pub fn eval_params(genotype: &Genotype) -> usize {
    count(&eval_specs(genotype, &DartsConfig::EVAL))
}

/// ReLU → conv → BN layers `op` stacks: a separable convolution two, a dilated one one, a skip
/// at stride 2 (a FactorizedReduce) one, pools and the identity none.
fn op_layers(op: Op, stride: usize) -> usize {
    match op {
        Op::SepConv3x3 | Op::SepConv5x5 => 2,
        Op::DilConv3x3 | Op::DilConv5x5 => 1,
        Op::SkipConnect if stride > 1 => 1,
        Op::None | Op::MaxPool3x3 | Op::AvgPool3x3 | Op::SkipConnect => 0,
    }
}

/// Convolution layers on the deepest path from the input to the classifier of `genotype`'s
/// evaluation network at DARTS's CIFAR-10 size (C = 36, 20 cells): the stem's, then per cell
/// the preprocessing layer of the input it is reached through (a ReLUConvBN or a
/// FactorizedReduce: one) and the layers of the ops on the deepest path through its nodes
/// ([`op_layers`]; a cell concatenates nodes 2..=5, so its output is as deep as the deepest).
/// The second stage's `depth` proxy for DARTS, as [`crate::net::supernet::SupernetConfig::depth`]
/// is NB201's: an architecture-only count that tells a shortcut beside the deep path from a
/// parameter-free op on it, which gradient-scale proxies cannot.
pub fn eval_depth(genotype: &Genotype) -> usize {
    let cfg = DartsConfig::EVAL;
    // The depths of the cell's two inputs (the cell before last and the last), the stem's at first.
    let (mut s0, mut s1) = (1, 1);
    for i in 0..cfg.layers {
        let reduction = cfg.is_reduction(i);
        let mut node = [0; 2 + NUM_NODES];
        (node[0], node[1]) = (s0 + 1, s1 + 1);
        for (q, &(op, j)) in eval_cell(genotype, reduction).iter().enumerate() {
            let to = 2 + q / 2;
            node[to] = node[to].max(node[j] + op_layers(op, edge_stride(reduction, j)));
        }
        (s0, s1) = (s1, node[2..].iter().copied().max().unwrap_or(0));
    }
    s1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::darts::DARTS_V2;

    #[test]
    fn darts_v2_is_75_layers_deep() {
        // Normal cell: node 2 = a sep conv (2) from a preprocessed input (1), node 5 = a dil conv
        // (1) from node 2: 4 layers past its deeper input; reduction cell: pools and skips,
        // only the preprocessing layer (1). The stem, 18 normal and 2 reduction cells:
        // 1 + 18·4 + 2·1 = 75.
        let v2: Genotype = DARTS_V2.parse().unwrap();
        assert_eq!(eval_depth(&v2), 75);
        // Skips only: a normal cell adds its preprocessing layer (1), a reduction cell also the
        // FactorizedReduce of its strided skips (2): 1 + 18·1 + 2·2 = 23.
        let cell: Cell = std::array::from_fn(|q| (Op::SkipConnect, q % 2));
        let skips = Genotype {
            normal: cell,
            reduce: cell,
        };
        assert_eq!(eval_depth(&skips), 23);
    }

    #[test]
    fn parameter_counts_match_the_reference_exactly() {
        assert_eq!(count(&search_specs(&DartsConfig::SEARCH)), 1_930_618);
        let v2: Genotype = DARTS_V2.parse().unwrap();
        assert_eq!(count(&eval_specs(&v2, &DartsConfig::EVAL)), 3_349_342);
    }

    #[test]
    fn names_and_shapes_follow_pytorch() {
        let s = search_specs(&DartsConfig::SEARCH);
        assert_eq!(s[0].name, "stem.0.weight");
        assert_eq!(s[0].shape, [48, 3, 3, 3]);
        let find = |n: &str| s.iter().find(|p| p.name == n).map(|p| p.shape.clone());
        // Cell 2 is the first reduction (32 channels); its 2←0 edge's skip is a FactorizedReduce.
        assert_eq!(
            find("cells.2._ops.0._ops.3.conv_1.weight"),
            Some(vec![16, 32, 1, 1])
        );
        // Cell 3 follows a reduction: its preprocess0 is FactorizedReduce(64, 32), halves of 16.
        assert_eq!(
            find("cells.3.preprocess0.conv_1.weight"),
            Some(vec![16, 64, 1, 1])
        );
        assert_eq!(
            find("cells.0._ops.13._ops.5.op.5.weight"),
            Some(vec![16, 1, 5, 5])
        );
        assert_eq!(find("classifier.weight"), Some(vec![10, 256]));
        let names: std::collections::HashSet<_> = s.iter().map(|p| &p.name).collect();
        assert_eq!(names.len(), s.len(), "unique names");
    }
}
