//! The DARTS search network's forward pass (`model_search.Network`, paper §5.2's supernet): a
//! stem, `layers` cells (reductions at 1/3 and 2/3 of the depth), global pooling and a linear
//! head. Every cell mixes the 8 ops on each of its 14 edges with the weights of its cell type
//! (`[28, 8]`: the normal rows, then the reduce rows) and concatenates its 4 intermediate nodes.
//! Batch norms are non-affine with batch statistics, except the stem's; pools are followed by a
//! batch norm, as the reference wraps them.
//!
//! Built from burn's own ops (any backend); the CPU kernels for the depthwise convolutions are the
//! DARTS issue's later step. ReLUs go through a [`ReluTape`] and max pools through a [`PoolTape`],
//! so the perturbed passes of NASI's Hessian-vector product can replay the piecewise-linear
//! choices (activation masks, argmax positions) of the unperturbed pass.

use std::collections::HashMap;

use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d_with_indices};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::Rng;

use super::{DartsConfig, edge_stride, search_specs};
use crate::data::{RngStream, rng};
use crate::kernels;
use crate::net::supernet::{ParamSpec, ReluTape};
use crate::space::darts::{EDGES, NUM_EDGES, NUM_NODES, NUM_OPS, Op, ROWS};

/// One max pool's argmax in a pass, to replay in another: a max pool is piecewise linear, like a
/// ReLU, and the exact second derivative holds the argmax fixed ([`crate::net::tape`]).
#[derive(Clone, Debug)]
pub enum PoolChoice {
    /// burn's indices `[b, c, ho, wo]` into the flattened `h·w` plane (GPU backends).
    Indices(Tensor<4, Int>),
    /// The same positions as floats, from [`kernels::max_pool_argmax`] (the CPU's kernels).
    Positions(Tensor<4>),
}

/// The argmax of one pass's max pools, in op order.
pub type PoolTape = crate::net::tape::Tape<PoolChoice>;

impl PoolTape {
    /// The 3×3 max pool (padding 1) of `x` `[b, c, h, w]` with `stride`, as this pass does it: the
    /// input read at the recorded (or replayed) argmax positions. On the CPU one kernel finds
    /// the positions and another reads them (and adds the gradient back); elsewhere burn's
    /// `max_pool2d_with_indices` and `gather`.
    pub fn max_pool_3x3(&mut self, x: Tensor<4>, stride: usize) -> Tensor<4> {
        if let Some(at) = self.choice_on_cpu(&x, stride) {
            return kernels::pick(x, at);
        }
        let options = MaxPoolOptions::new([3, 3])
            .with_stride([stride, stride])
            .with_padding([1, 1]);
        let chosen = self.choice(|| {
            PoolChoice::Indices(max_pool2d_with_indices(x.clone().detach(), options.clone()).1)
        });
        match chosen {
            None => max_pool2d_with_indices(x, options).0,
            Some(PoolChoice::Indices(idx)) => {
                let [b, c, h, w] = x.dims();
                let [_, _, ho, wo] = idx.dims();
                x.reshape([b, c, h * w])
                    .gather(2, idx.reshape([b, c, ho * wo]))
                    .reshape([b, c, ho, wo])
            }
            Some(PoolChoice::Positions(_)) => unreachable!("positions are recorded on the CPU"),
        }
    }

    /// On the CPU, this pass's argmax positions (found now, recorded, or replayed); `None` on
    /// other backends.
    fn choice_on_cpu(&mut self, x: &Tensor<4>, stride: usize) -> Option<Tensor<4>> {
        if !kernels::on_flex(x) {
            return None;
        }
        let fresh = || kernels::max_pool_argmax(x, stride);
        match self.choice(|| PoolChoice::Positions(fresh())) {
            None => Some(fresh()),
            Some(PoolChoice::Positions(at)) => Some(at),
            Some(PoolChoice::Indices(_)) => unreachable!("indices are recorded off the CPU"),
        }
    }
}

/// The DARTS search network with its initial weights, as a flat parameter list in
/// [`search_specs`] order (PyTorch's `named_parameters` order).
#[derive(Clone, Debug)]
pub struct DartsSupernet {
    /// Its shape.
    pub config: DartsConfig,
    specs: Vec<ParamSpec>,
    index: HashMap<String, usize>,
    params: Vec<Tensor<1>>,
}

impl DartsConfig {
    /// Builds the search network with PyTorch's default initialisation (convolutions and the
    /// head U(±1/√fan_in), the stem's batch norm weight 1 and bias 0) from `seed`'s init stream
    /// on the host, so a seed gives the same weights on every backend.
    pub fn init_search(&self, seed: u64, device: &Device) -> DartsSupernet {
        let specs = search_specs(self);
        let mut r = rng(seed, RngStream::Init);
        let params = specs
            .iter()
            .map(|s| {
                let v: Vec<f32> = if s.name.starts_with("stem.1.") {
                    vec![if s.name.ends_with("weight") { 1.0 } else { 0.0 }; s.numel()]
                } else {
                    let fan_in: usize = if s.name == "classifier.bias" {
                        specs[specs.len() - 2].shape[1]
                    } else {
                        s.shape[1..].iter().product()
                    };
                    let bound = 1.0 / (fan_in as f32).sqrt();
                    (0..s.numel())
                        .map(|_| r.random_range(-bound..bound))
                        .collect()
                };
                Tensor::from_data(TensorData::new(v, [s.numel()]), device)
            })
            .collect();
        let index = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        DartsSupernet {
            config: *self,
            specs,
            index,
            params,
        }
    }
}

/// One pass's parameters and tapes.
struct Pass<'a> {
    net: &'a DartsSupernet,
    params: &'a [Tensor<1>],
    relus: &'a mut ReluTape,
    pools: &'a mut PoolTape,
}

impl Pass<'_> {
    /// Parameter `name` in its PyTorch shape.
    fn p<const D: usize>(&self, name: &str) -> Tensor<D> {
        let i = *self
            .net
            .index
            .get(name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        let shape: [usize; D] = self.net.specs[i].shape.clone().try_into().expect("rank");
        self.params[i].clone().reshape(shape)
    }

    fn conv(&self, x: Tensor<4>, name: &str, stride: usize, pad: usize, dil: usize) -> Tensor<4> {
        let w: Tensor<4> = self.p(&format!("{name}.weight"));
        let [_, ci, k, _] = w.dims();
        if ci == 1 && x.dims()[1] > 1 {
            // A depthwise filter per channel (sep_conv, dil_conv): padding dil·(k/2).
            assert_eq!(pad, dil * (k / 2), "depthwise padding");
            return kernels::depthwise_conv(x, w, stride, dil);
        }
        if dil == 1 && pad == k / 2 && matches!((k, stride), (1, 1) | (3, 1)) {
            // The 1×1 convs and the stem's 3×3: one GEMM per image on the CPU.
            return kernels::conv(x, w, stride);
        }
        conv2d(
            x,
            w,
            None,
            ConvOptions::new([stride; 2], [pad; 2], [dil; 2], 1),
        )
    }

    /// ReLU → 1×1 conv → BN (`ReLUConvBN(ci, co, 1, 1, 0)`).
    fn relu_conv_bn(&mut self, x: Tensor<4>, p: &str) -> Tensor<4> {
        let r = self.relus.relu(x);
        kernels::batch_norm(self.conv(r, &format!("{p}.op.1"), 1, 0, 1))
    }

    /// ReLU → two stride-2 1×1 convs, on x and on x shifted by one pixel, concatenated → BN.
    fn factorized_reduce(&mut self, x: Tensor<4>, p: &str) -> Tensor<4> {
        let r = self.relus.relu(x);
        let [b, c, h, w] = r.dims();
        let shifted = r.clone().slice([0..b, 0..c, 1..h, 1..w]);
        let a = self.conv(r, &format!("{p}.conv_1"), 2, 0, 1);
        let s = self.conv(shifted, &format!("{p}.conv_2"), 2, 0, 1);
        kernels::batch_norm(Tensor::cat(vec![a, s], 1))
    }

    /// ReLU → depthwise k×k (stride, dilation) → 1×1 → BN, the ops at `p.op.{at}`…
    fn dw_pw(
        &mut self,
        x: Tensor<4>,
        p: &str,
        at: usize,
        k: usize,
        s: usize,
        d: usize,
    ) -> Tensor<4> {
        let r = self.relus.relu(x);
        let y = self.conv(r, &format!("{p}.op.{at}"), s, d * (k / 2), d);
        let y = self.conv(y, &format!("{p}.op.{}", at + 1), 1, 0, 1);
        kernels::batch_norm(y)
    }

    /// One op of the search network (non-affine, pools followed by BN); `None` for `none`.
    fn op(&mut self, x: Tensor<4>, op: Op, p: &str, stride: usize) -> Option<Tensor<4>> {
        Some(match op {
            Op::None => return None,
            Op::MaxPool3x3 => kernels::batch_norm(self.pools.max_pool_3x3(x, stride)),
            Op::AvgPool3x3 if stride == 1 => kernels::batch_norm(kernels::avg_pool_3x3(x)),
            Op::AvgPool3x3 => kernels::batch_norm(avg_pool2d(
                x,
                AvgPoolOptions::new([3, 3])
                    .with_stride([stride, stride])
                    .with_padding([1, 1])
                    .with_count_include_pad(false),
            )),
            Op::SkipConnect if stride == 1 => x,
            Op::SkipConnect => self.factorized_reduce(x, p),
            Op::SepConv3x3 | Op::SepConv5x5 => {
                let k = if op == Op::SepConv3x3 { 3 } else { 5 };
                let y = self.dw_pw(x, p, 1, k, stride, 1);
                self.dw_pw(y, p, 5, k, 1, 1)
            }
            Op::DilConv3x3 => self.dw_pw(x, p, 1, 3, stride, 2),
            Op::DilConv5x5 => self.dw_pw(x, p, 1, 5, stride, 2),
        })
    }

    /// Cell `i` on its two inputs with the `[14, 8]` op weights `w` of its type.
    fn cell(
        &mut self,
        i: usize,
        s0: Tensor<4>,
        s1: Tensor<4>,
        w: &Tensor<2>,
        reduction_prev: bool,
    ) -> Tensor<4> {
        let reduction = self.net.config.is_reduction(i);
        let p = format!("cells.{i}");
        let s0 = if reduction_prev {
            self.factorized_reduce(s0, &format!("{p}.preprocess0"))
        } else {
            self.relu_conv_bn(s0, &format!("{p}.preprocess0"))
        };
        let s1 = self.relu_conv_bn(s1, &format!("{p}.preprocess1"));
        let mut states = vec![s0, s1];
        for node in 0..NUM_NODES {
            let mut acc: Option<Tensor<4>> = None;
            for (e, &(to, from)) in EDGES.iter().enumerate() {
                if to != node + 2 {
                    continue;
                }
                let stride = edge_stride(reduction, from);
                for (k, &op) in Op::ALL.iter().enumerate() {
                    let name = format!("{p}._ops.{e}._ops.{k}");
                    let Some(y) = self.op(states[from].clone(), op, &name, stride) else {
                        continue;
                    };
                    let wk = w.clone().slice([e..e + 1, k..k + 1]).reshape([1, 1, 1, 1]);
                    let term = y * wk;
                    acc = Some(match acc {
                        Some(a) => a + term,
                        None => term,
                    });
                }
            }
            states.push(acc.expect("every node has in-edges"));
        }
        Tensor::cat(states.split_off(2), 1)
    }
}

impl DartsSupernet {
    /// Names and shapes of the parameters, in order.
    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// The initial parameters, flat, in [`DartsSupernet::specs`] order.
    pub fn params(&self) -> &[Tensor<1>] {
        &self.params
    }

    /// Replaces the parameters (e.g. with a PyTorch fixture's); each must have its spec's size.
    pub fn set_params(&mut self, params: Vec<Tensor<1>>) -> Result<(), String> {
        crate::net::supernet::check_params(&self.specs, &params)?;
        self.params = params;
        Ok(())
    }

    /// Logits `[b, classes]` of `x` `[b, 3, h, w]` under `params` (the list of
    /// [`DartsSupernet::params`], possibly tracked or perturbed), with op weights `weights`
    /// `[28, 8]` (normal rows, then reduce rows; eq. 13's relaxed cell).
    pub fn forward(
        &self,
        params: &[Tensor<1>],
        x: Tensor<4>,
        weights: &Tensor<2>,
        relus: &mut ReluTape,
        pools: &mut PoolTape,
    ) -> Tensor<2> {
        let stem = self.stem(params, x);
        let last = self.body(params, stem, weights, relus, pools);
        self.head(params, last)
    }

    /// The stem: conv 3×3 and an affine batch norm, `[b, 3, h, w]` → `[b, 3C, h, w]`; public,
    /// with [`DartsSupernet::body`], so that the gradient scale of the cells alone can start
    /// from its map.
    pub fn stem(&self, params: &[Tensor<1>], x: Tensor<4>) -> Tensor<4> {
        self.untaped(params, |pass| {
            let stem = pass.conv(x, "stem.0", 1, 1, 1);
            let [_, c, _, _] = stem.dims();
            let gamma: Tensor<4> = pass.p::<1>("stem.1.weight").reshape([1, c, 1, 1]);
            let beta: Tensor<4> = pass.p::<1>("stem.1.bias").reshape([1, c, 1, 1]);
            kernels::batch_norm(stem) * gamma + beta
        })
    }

    /// The cells on the stem's map `stem` `[b, 3C, h, w]` (both inputs of the first cell), with
    /// op weights `weights` `[28, 8]`: the last cell's output `[b, 4·C_last, h', w']`.
    pub fn body(
        &self,
        params: &[Tensor<1>],
        stem: Tensor<4>,
        weights: &Tensor<2>,
        relus: &mut ReluTape,
        pools: &mut PoolTape,
    ) -> Tensor<4> {
        assert_eq!(weights.dims(), [ROWS, NUM_OPS], "normal and reduce rows");
        let normal = weights.clone().slice([0..NUM_EDGES, 0..NUM_OPS]);
        let reduce = weights.clone().slice([NUM_EDGES..ROWS, 0..NUM_OPS]);
        let mut pass = Pass {
            net: self,
            params,
            relus,
            pools,
        };
        let (mut s0, mut s1) = (stem.clone(), stem);
        let mut reduction_prev = false;
        for i in 0..self.config.layers {
            let reduction = self.config.is_reduction(i);
            let w = if reduction { &reduce } else { &normal };
            let out = pass.cell(i, s0, s1.clone(), w, reduction_prev);
            (s0, s1) = (s1, out);
            reduction_prev = reduction;
        }
        s1
    }

    /// The head: global average pool and the linear classifier, `[b, c, h, w]` → logits
    /// `[b, classes]`.
    pub fn head(&self, params: &[Tensor<1>], last: Tensor<4>) -> Tensor<2> {
        self.untaped(params, |pass| {
            let [b, c, _, _] = last.dims();
            let feat = last.mean_dim(3).mean_dim(2).reshape([b, c]);
            let w: Tensor<2> = pass.p("classifier.weight");
            let bias: Tensor<1> = pass.p("classifier.bias");
            feat.matmul(w.transpose()) + bias.reshape([1, self.config.classes])
        })
    }

    /// `f` on a pass over `params` whose tapes record nothing: the stem and the head, which
    /// have no ReLU or max pool to record.
    fn untaped<R>(&self, params: &[Tensor<1>], f: impl FnOnce(&Pass) -> R) -> R {
        let (mut relus, mut pools) = (ReluTape::Free, PoolTape::Free);
        f(&Pass {
            net: self,
            params,
            relus: &mut relus,
            pools: &mut pools,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Sampler, gumbel};
    use crate::loss::{cross_entropy, one_hot};
    use crate::nasi::relaxed_weights;
    use crate::net::supernet::input_tensor;

    /// Every op on every edge, reductions included: C = 4 and 3 cells, of which cells 1 and 2
    /// (3/3 and 6/3) reduce, so strided ops, FactorizedReduce skips and a FactorizedReduce
    /// preprocessing all run; 8×8 inputs, a batch of 3, 5 classes.
    const TINY: DartsConfig = DartsConfig {
        channels: 4,
        layers: 3,
        stem_multiplier: 3,
        classes: 5,
    };

    fn setup() -> (DartsSupernet, crate::data::Batch, crate::space::ArchTable) {
        let device = crate::cpu_device();
        let net = TINY.init_search(3, &device);
        let batch = Sampler::new(&crate::data::DataSpec::Gaussian, 3, 3, 8, 5)
            .unwrap()
            .next_batch();
        let noise = gumbel(&mut rng(3, RngStream::Gumbel), [ROWS, NUM_OPS]);
        (net, batch, noise)
    }

    #[test]
    fn the_network_has_the_reference_parameters_and_gives_logits() {
        let (net, batch, noise) = setup();
        let device = crate::cpu_device();
        assert_eq!(
            net.params().iter().map(|p| p.dims()[0]).sum::<usize>(),
            super::super::count(&search_specs(&TINY))
        );
        let w = relaxed_weights(Tensor::zeros([ROWS, NUM_OPS], &device), &noise, 1.0, None);
        let x = input_tensor(&batch, &device);
        let y = net.forward(
            net.params(),
            x,
            &w,
            &mut ReluTape::Free,
            &mut PoolTape::Free,
        );
        assert_eq!(y.dims(), [3, 5]);
        let v: Vec<f32> = y.into_data().try_to_vec::<f32>().unwrap();
        assert!(v.iter().all(|x| x.is_finite()), "{v:?}");
    }

    #[test]
    fn replayed_masks_and_pool_indices_give_the_same_pass() {
        let (net, batch, noise) = setup();
        let device = crate::cpu_device();
        let w = relaxed_weights(Tensor::zeros([ROWS, NUM_OPS], &device), &noise, 1.0, None);
        let x = input_tensor(&batch, &device);
        let (mut relus, mut pools) = (ReluTape::Record(Vec::new()), PoolTape::Record(Vec::new()));
        let free = net.forward(
            net.params(),
            x.clone(),
            &w,
            &mut ReluTape::Free,
            &mut PoolTape::Free,
        );
        let rec = net.forward(net.params(), x.clone(), &w, &mut relus, &mut pools);
        let PoolTape::Record(recorded) = &pools else {
            unreachable!()
        };
        // 3 cells × 14 edges, one max pool each.
        assert_eq!(recorded.len(), 3 * NUM_EDGES);
        let rep = net.forward(
            net.params(),
            x,
            &w,
            &mut relus.replay(),
            &mut pools.replay(),
        );
        let diff =
            |a: &Tensor<2>, b: &Tensor<2>| (a.clone() - b.clone()).abs().max().into_scalar::<f32>();
        assert_eq!(diff(&free, &rec), 0.0);
        assert_eq!(diff(&rec, &rep), 0.0);
    }

    #[test]
    fn the_loss_gradient_in_the_op_weights_matches_central_differences() {
        // With masks and argmaxes held (replayed), L is smooth in the op weights: autodiff's
        // ∂L/∂w against central differences over a sample of coordinates of both cell types.
        let (net, batch, noise) = setup();
        let device = crate::cpu_device();
        let ad = device.clone().autodiff();
        let w0 = relaxed_weights(Tensor::zeros([ROWS, NUM_OPS], &device), &noise, 1.0, None);
        let host: Vec<f32> = w0.clone().into_data().try_to_vec::<f32>().unwrap();
        let x = input_tensor(&batch, &device).autodiff();
        let y = one_hot(&batch.labels, 5, &device).autodiff();
        let (mut relus, mut pools) = (ReluTape::Record(Vec::new()), PoolTape::Record(Vec::new()));
        let _ = net.forward(net.params(), x.clone(), &w0, &mut relus, &mut pools);
        let loss = |w: Vec<f32>, track: bool| {
            let wt = Tensor::<2>::from_data(TensorData::new(w, [ROWS, NUM_OPS]), &ad);
            let wt = if track { wt.require_grad() } else { wt };
            let logits = net.forward(
                net.params(),
                x.clone(),
                &wt,
                &mut relus.replay(),
                &mut pools.replay(),
            );
            (cross_entropy(logits, y.clone()), wt)
        };
        let (l, wt) = loss(host.clone(), true);
        let grads = l.backward();
        let g: Vec<f32> = wt
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let h = 1e-2f32;
        let mut worst = 0f64;
        for j in (0..ROWS * NUM_OPS).step_by(5) {
            let at = |d: f32| {
                let mut w = host.clone();
                w[j] += d;
                loss(w, false).0.into_scalar::<f32>() as f64
            };
            let fd = (at(h) - at(-h)) / (2.0 * h as f64);
            let scale = g.iter().map(|v| v.abs()).fold(0f32, f32::max) as f64;
            worst = worst.max((fd - g[j] as f64).abs() / scale);
        }
        println!(
            "∂L/∂w against central differences: worst error {worst:.2e} of the largest gradient"
        );
        // Measured 6.0e-4 (f32 differences at h = 1e-2).
        assert!(worst < 6e-3, "{worst}");
    }
}
