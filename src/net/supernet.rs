//! The NAS-Bench-201 supernet (paper §3.3, NB201's macro skeleton) and standalone cell networks.
//!
//! Skeleton: 3×3 stem conv + BN → N cells at C channels → ResNet reduction block → N cells at 2C
//! → reduction → N cells at 4C → BN + ReLU → global average pool → linear head. Every cell shares
//! one architecture: on each edge the five ops are mixed with the weights of a relaxed cell
//! ([`CellMix::Relaxed`], a Gumbel-softmax sample of α) or one op is fixed ([`CellMix::Fixed`], a
//! standalone network for one genotype). Batch norms have no affine parameters and use batch
//! statistics, as in NB201's search models.
//!
//! Parameters are held as a flat list of 1-D tensors (`Supernet::params`) in a documented order
//! ([`Supernet::specs`]): the NASI gradient needs θ ± ε·v on all of them at once, and the PyTorch
//! fixtures load the same list. ReLUs go through a [`ReluTape`] so that the two perturbed passes
//! of the Hessian-vector product can replay the activation pattern of the unperturbed pass.

use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;

use crate::data::{RngStream, rng};
use crate::kernels;
use crate::space::{EDGES, Genotype, NUM_EDGES, NUM_NODES, NUM_OPS, Op};

/// Shape hyper-parameters of a supernet (NB201: C = 16, N = 5, 10 classes, 32×32 inputs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupernetConfig {
    /// C, channels of the first stage.
    pub channels: usize,
    /// N, cells per stage.
    pub cells: usize,
    /// Classes of the linear head.
    pub classes: usize,
    /// Input height and width.
    pub size: usize,
}

/// Name and shape of one parameter tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// Dotted path, e.g. `stage0.cell0.edge2.conv3x3`.
    pub name: String,
    /// PyTorch shape (`[out, in, k, k]` for convs, `[classes, 4C]` / `[classes]` for the head).
    pub shape: Vec<usize>,
}

/// Whether `params` fit `specs`: as many tensors, each with its spec's number of values.
pub fn check_params(specs: &[ParamSpec], params: &[Tensor<1>]) -> Result<(), String> {
    if params.len() != specs.len() {
        return Err(format!(
            "expected {} parameter tensors, got {}",
            specs.len(),
            params.len()
        ));
    }
    for (s, p) in specs.iter().zip(params) {
        if p.dims()[0] != s.numel() {
            return Err(format!(
                "{} needs {} values, got {}",
                s.name,
                s.numel(),
                p.dims()[0]
            ));
        }
    }
    Ok(())
}

impl ParamSpec {
    /// Number of scalars.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

#[derive(Clone, Debug)]
enum Layer {
    Cell {
        /// Parameter indices of the 1×1 and 3×3 conv of each edge.
        edges: [(usize, usize); NUM_EDGES],
    },
    /// NB201's residual block between stages (stride 2, doubling C): not a reduction cell.
    ResBlock {
        conv_a: usize,
        conv_b: usize,
        down: usize,
    },
}

/// A supernet (or, with [`CellMix::Fixed`], a standalone network) with its initial weights.
#[derive(Clone, Debug)]
pub struct Supernet {
    /// The shape it was built with.
    pub config: SupernetConfig,
    specs: Vec<ParamSpec>,
    params: Vec<Tensor<1>>,
    batch_norm: bool,
    final_norm: bool,
    stem: usize,
    layers: Vec<Layer>,
    head: (usize, usize),
}

/// How each edge of every cell combines its five ops.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // built once per pass, never stored in bulk
pub enum CellMix {
    /// `[6, 5]` weights: edge output = Σ_k w[e, k]·op_k(x) (soft or straight-through hard
    /// Gumbel-softmax, eq. 13 of the paper). May be tracked (for ∇α).
    Relaxed(Tensor<2>),
    /// One op per edge: the standalone network of a genotype; `none` edges are skipped.
    Fixed(Genotype),
}

/// How ReLUs behave in one forward pass: free, recording their masks (`x > 0`, untracked), or
/// `x ↦ x·mask` with recorded ones ([`super::tape`]).
pub type ReluTape = super::tape::Tape<Tensor<4>>;

impl ReluTape {
    /// Applies the ReLU of this pass to `x` `[b, c, h, w]`.
    pub fn relu(&mut self, x: Tensor<4>) -> Tensor<4> {
        match self.choice(|| kernels::relu_mask(&x)) {
            None => relu(x),
            Some(m) => kernels::mask_mul(x, m),
        }
    }
}

/// Convolution of `x` `[b, ci, h, w]` with the flat weights `w` of a [`ParamSpec`] of shape
/// `[co, ci, k, k]`, padding k/2 and no bias (NB201's convs), giving `[b, co, h/stride, w/stride]`.
pub fn conv(x: Tensor<4>, w: Tensor<1>, shape: &[usize], stride: usize) -> Tensor<4> {
    let [co, ci, k, _] = [shape[0], shape[1], shape[2], shape[3]];
    // Our kernels with their own backward on the CPU (src/kernels.rs).
    kernels::conv(x, w.reshape([co, ci, k, k]), stride)
}

/// Batch norm with batch statistics and no affine parameters (γ = 1, β = 0, ε = 1e-5, biased
/// variance as in PyTorch's training mode), on `[b, c, h, w]`; on the CPU a fused kernel with its
/// own backward ([`kernels::batch_norm`]).
pub fn batch_norm(x: Tensor<4>) -> Tensor<4> {
    kernels::batch_norm(x)
}

/// NB201's `avg_pool_3x3`: 3×3 mean, stride 1, padding 1, padded cells not counted
/// (`count_include_pad=False`), on `[b, c, h, w]`; on the CPU a kernel with its own backward
/// ([`kernels::avg_pool_3x3`]).
pub fn avg_pool_3x3(x: Tensor<4>) -> Tensor<4> {
    kernels::avg_pool_3x3(x)
}

impl SupernetConfig {
    /// Scalars of the standalone network of `g` with this shape, in closed form (no tensors):
    /// the stem 3×3 conv (3 → C), two residual blocks (3×3 stride 2, 3×3, 1×1 shortcut; C_s →
    /// 2C_s), N cells per stage whose edges add C_s² (1×1) or 9·C_s² (3×3) each, and the head
    /// (4C → classes, with bias); batch norms carry no parameters here (non-affine). Equal to
    /// [`Supernet::num_params`] of `Some(g)` (tested), and cheap enough for all 15,625 cells.
    pub fn num_params(&self, g: &Genotype) -> usize {
        let c = self.channels;
        let n1 = g.ops.iter().filter(|&&o| o == Op::NorConv1x1).count();
        let n3 = g.ops.iter().filter(|&&o| o == Op::NorConv3x3).count();
        let mut total = 27 * c;
        let mut ch = c;
        for stage in 0..3 {
            if stage > 0 {
                let (ci, co) = (ch, 2 * ch);
                total += 9 * co * ci + 9 * co * co + co * ci;
                ch = co;
            }
            total += self.cells * ch * ch * (n1 + 9 * n3);
        }
        total + self.classes * ch + self.classes
    }

    /// Builds the supernet with PyTorch's default initialisation (convs and the head's weight
    /// U(±1/√fan_in), the head's bias likewise) drawn from `seed`'s init stream on the host, so a
    /// seed gives the same weights on every backend.
    pub fn init(&self, seed: u64, device: &Device) -> Supernet {
        let mut specs = Vec::new();
        let mut add = |name: String, shape: Vec<usize>| {
            specs.push(ParamSpec { name, shape });
            specs.len() - 1
        };
        let c = self.channels;
        let stem = add("stem.conv".into(), vec![c, 3, 3, 3]);
        let mut layers = Vec::new();
        let mut ch = c;
        for stage in 0..3 {
            if stage > 0 {
                let (ci, co) = (ch, ch * 2);
                let p = format!("reduce{stage}");
                layers.push(Layer::ResBlock {
                    conv_a: add(format!("{p}.conv_a"), vec![co, ci, 3, 3]),
                    conv_b: add(format!("{p}.conv_b"), vec![co, co, 3, 3]),
                    down: add(format!("{p}.down"), vec![co, ci, 1, 1]),
                });
                ch = co;
            }
            for cell in 0..self.cells {
                let edges = std::array::from_fn(|e| {
                    let p = format!("stage{stage}.cell{cell}.edge{e}");
                    (
                        add(format!("{p}.conv1x1"), vec![ch, ch, 1, 1]),
                        add(format!("{p}.conv3x3"), vec![ch, ch, 3, 3]),
                    )
                });
                layers.push(Layer::Cell { edges });
            }
        }
        let head = (
            add("head.weight".into(), vec![self.classes, ch]),
            add("head.bias".into(), vec![self.classes]),
        );
        let mut r = rng(seed, RngStream::Init);
        let params = specs
            .iter()
            .map(|s| {
                let fan_in = if s.shape.len() == 1 {
                    ch
                } else {
                    s.shape[1..].iter().product()
                };
                let bound = 1.0 / (fan_in as f32).sqrt();
                let v: Vec<f32> = (0..s.numel())
                    .map(|_| r.random_range(-bound..bound))
                    .collect();
                Tensor::from_data(TensorData::new(v, [s.numel()]), device)
            })
            .collect();
        Supernet {
            config: *self,
            specs,
            params,
            batch_norm: true,
            final_norm: true,
            stem,
            layers,
            head,
        }
    }
}

impl Supernet {
    /// The same network with every batch norm replaced by the identity (SynFlow's convention).
    pub fn without_batch_norm(&self) -> Supernet {
        Supernet {
            batch_norm: false,
            ..self.clone()
        }
    }

    /// The same network without the batch norm before the head (NB201's `lastact` is BN then
    /// ReLU): a diagnostic of the quality issue's hypothesis that this last normalisation is what
    /// makes parameter-free ops (a skip, a pool) lower T̃, since the extra variance they add to
    /// the last cell's output divides every convolution's gradient.
    pub fn without_final_norm(&self) -> Supernet {
        Supernet {
            final_norm: false,
            ..self.clone()
        }
    }

    fn bn(&self, x: Tensor<4>) -> Tensor<4> {
        if self.batch_norm { batch_norm(x) } else { x }
    }

    /// Names and shapes of [`Supernet::params`], in order.
    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// The initial weights θ₀, one flat (untracked) tensor per [`ParamSpec`].
    pub fn params(&self) -> &[Tensor<1>] {
        &self.params
    }

    /// Replaces the weights (e.g. with a PyTorch fixture's); shapes must match [`Supernet::specs`].
    pub fn set_params(&mut self, params: Vec<Tensor<1>>) -> Result<(), String> {
        check_params(&self.specs, &params)?;
        self.params = params;
        Ok(())
    }

    /// Number of scalars the network uses under `mix` (ops absent from a fixed genotype's cells
    /// are not counted).
    pub fn num_params(&self, mix: Option<&Genotype>) -> usize {
        let mut used = vec![true; self.specs.len()];
        if let Some(g) = mix {
            for l in &self.layers {
                if let Layer::Cell { edges } = l {
                    for (e, &(c1, c3)) in edges.iter().enumerate() {
                        used[c1] = g.ops[e] == Op::NorConv1x1;
                        used[c3] = g.ops[e] == Op::NorConv3x3;
                    }
                }
            }
        }
        self.specs
            .iter()
            .zip(used)
            .filter(|(_, u)| *u)
            .map(|(s, _)| s.numel())
            .sum()
    }

    /// Logits `[b, classes]` of inputs `x` `[b, 3, size, size]` under weights `params` (the same
    /// list as [`Supernet::params`], possibly tracked or perturbed).
    pub fn forward(
        &self,
        params: &[Tensor<1>],
        x: Tensor<4>,
        mix: &CellMix,
        tape: &mut ReluTape,
    ) -> Tensor<2> {
        let p = |i: usize| params[i].clone();
        let sh = |i: usize| self.specs[i].shape.as_slice();
        let mut h = self.bn(conv(x, p(self.stem), sh(self.stem), 1));
        // Per-edge weights of the four ops other than `none` (`[4]` each, in `Op` order), sliced
        // once for all cells. `none` contributes 0·w_none; its weight still shapes the softmax
        // through which α receives gradient.
        let order = [
            Op::SkipConnect,
            Op::NorConv1x1,
            Op::NorConv3x3,
            Op::AvgPool3x3,
        ];
        debug_assert_eq!(
            order.map(Op::index),
            [1, 2, 3, 4],
            "terms of `kernels::mix` below"
        );
        let weights: Option<Vec<Tensor<1>>> = match mix {
            CellMix::Relaxed(w) => Some(
                (0..NUM_EDGES)
                    .map(|e| {
                        w.clone()
                            .slice([e..e + 1, 1..NUM_OPS])
                            .reshape([NUM_OPS - 1])
                    })
                    .collect(),
            ),
            CellMix::Fixed(_) => None,
        };
        for layer in &self.layers {
            h = match layer {
                Layer::Cell { edges } => {
                    let mut nodes: Vec<Option<Tensor<4>>> = vec![Some(h)];
                    // ReLU and 3×3 mean of each node, shared by all its out-edges (relaxed).
                    let mut relus: Vec<Option<Tensor<4>>> = vec![None; NUM_NODES];
                    let mut pools: Vec<Option<Tensor<4>>> = vec![None; NUM_NODES];
                    for to in 1..NUM_NODES {
                        let mut acc: Option<Tensor<4>> = None;
                        for (e, &(t, from)) in EDGES.iter().enumerate() {
                            if t != to {
                                continue;
                            }
                            let Some(x) = nodes[from].clone() else {
                                continue;
                            };
                            let out = match (&weights, mix) {
                                (Some(w), _) => {
                                    let (c1, c3) = edges[e];
                                    let r = relus[from]
                                        .get_or_insert_with(|| tape.relu(x.clone()))
                                        .clone();
                                    let pool = pools[from]
                                        .get_or_insert_with(|| avg_pool_3x3(x.clone()))
                                        .clone();
                                    let y1 = conv(r.clone(), p(c1), sh(c1), 1);
                                    let y3 = conv(r, p(c3), sh(c3), 1);
                                    Some(if self.batch_norm {
                                        kernels::mixed_edge(x, y1, y3, pool, w[e].clone())
                                    } else {
                                        kernels::mix([x, y1, y3, pool], w[e].clone())
                                    })
                                }
                                (None, CellMix::Fixed(g)) => {
                                    let (c1, c3) = edges[e];
                                    match g.ops[e] {
                                        Op::None => None,
                                        Op::SkipConnect => Some(x),
                                        Op::NorConv1x1 => {
                                            Some(self.bn(conv(tape.relu(x), p(c1), sh(c1), 1)))
                                        }
                                        Op::NorConv3x3 => {
                                            Some(self.bn(conv(tape.relu(x), p(c3), sh(c3), 1)))
                                        }
                                        Op::AvgPool3x3 => Some(avg_pool_3x3(x)),
                                    }
                                }
                                _ => unreachable!("weights exist exactly for relaxed mixes"),
                            };
                            if let Some(o) = out {
                                acc = Some(match acc {
                                    Some(a) => a + o,
                                    None => o,
                                });
                            }
                        }
                        nodes.push(acc);
                    }
                    // A cell whose output is disconnected outputs zeros.
                    match nodes.pop().flatten() {
                        Some(o) => o,
                        None => nodes[0].clone().expect("input node").zeros_like(),
                    }
                }
                Layer::ResBlock {
                    conv_a,
                    conv_b,
                    down,
                } => {
                    let a = self.bn(conv(tape.relu(h.clone()), p(*conv_a), sh(*conv_a), 2));
                    let b = self.bn(conv(tape.relu(a), p(*conv_b), sh(*conv_b), 1));
                    let s = conv(kernels::avg_pool_2x2(h), p(*down), sh(*down), 1);
                    b + s
                }
            };
        }
        let h = tape.relu(if self.final_norm { self.bn(h) } else { h });
        let [b, c, _, _] = h.dims();
        let feat = h.mean_dim(3).mean_dim(2).reshape([b, c]);
        let (wi, bi) = self.head;
        let w = p(wi).reshape([self.config.classes, c]);
        feat.matmul(w.transpose()) + p(bi).reshape([1, self.config.classes])
    }
}

/// Uploads a host batch's inputs as a `[b, 3, size, size]` tensor.
pub fn input_tensor(batch: &crate::data::Batch, device: &Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(batch.x.clone(), [batch.batch, 3, batch.size, batch.size]),
        device,
    )
}

#[cfg(test)]
mod tests {
    //! The hand-written ops against burn's own (which the PyTorch fixtures also pin down).
    use super::*;
    use burn::tensor::Distribution;
    use burn::tensor::module::{avg_pool2d, batch_norm_train, conv2d};
    use burn::tensor::ops::{AvgPoolOptions, ConvOptions};

    #[test]
    fn closed_form_parameters_match_the_built_network() {
        for cfg in [
            SupernetConfig {
                channels: 4,
                cells: 2,
                classes: 10,
                size: 8,
            },
            SupernetConfig {
                channels: 16,
                cells: 5,
                classes: 100,
                size: 32,
            },
        ] {
            let net = cfg.init(0, &crate::cpu_device());
            for ordinal in [0, 1, 777, 4095, 9999, 15_624] {
                let g = Genotype::from_ordinal(ordinal);
                assert_eq!(cfg.num_params(&g), net.num_params(Some(&g)), "{g}");
            }
        }
    }

    fn max_abs_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    fn input() -> Tensor<4> {
        // Odd, non-square spatial size so that border counts differ per row and column.
        Tensor::random(
            [2, 3, 5, 6],
            Distribution::Normal(0.5, 2.0),
            &crate::cpu_device(),
        )
    }

    #[test]
    fn avg_pool_matches_burns_without_padded_cells() {
        let x = input();
        let reference = avg_pool2d(
            x.clone(),
            AvgPoolOptions::new([3, 3])
                .with_stride([1, 1])
                .with_padding([1, 1])
                .with_count_include_pad(false),
        );
        assert!(max_abs_diff(avg_pool_3x3(x), reference) < 1e-5);
    }

    #[test]
    fn batch_norm_matches_burns_training_mode() {
        let x = input();
        let dev = x.device();
        let reference = batch_norm_train(
            x.clone(),
            Tensor::ones([3], &dev),
            Tensor::zeros([3], &dev),
            1e-5,
        );
        assert!(max_abs_diff(batch_norm(x), reference.output) < 1e-4);
    }

    #[test]
    fn one_by_one_conv_as_matmul_matches_conv2d() {
        let x = input();
        let w = Tensor::<1>::random([4 * 3], Distribution::Normal(0.0, 1.0), &x.device());
        let reference = conv2d(
            x.clone(),
            w.clone().reshape([4, 3, 1, 1]),
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
        assert!(max_abs_diff(conv(x, w, &[4, 3, 1, 1], 1), reference) < 1e-4);
    }
}
