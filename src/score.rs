//! One standalone cell scored on one batch: NASI's T̃ (eq. 12) and the exact `[b, b]` NTK of the
//! cell's own network, under the weights of a seed and the first batch of its data. `nasi score`,
//! the page's NTK panel and the proxies of `nasi correlate` all score cells through this one
//! probe, so the three agree on weights, batch and estimator. Each probe also gives ∇θL on parts of
//! its batch ([`SplitGradients`]), the per-input statistics ZiCo reads.

use burn::tensor::{Device, Tensor, TensorData};

use crate::config::SearchConfig;
use crate::data::{Batch, DataError, Sampler};
use crate::loss::one_hot;
use crate::net::supernet::{CellMix, ReluTape, Supernet, input_tensor};
use crate::ntk::{GradNorm, exact_ntk, grad_norm_sq, symmetric_eigenvalues};
use crate::space::Genotype;

/// The weights (shared by every cell: a cell's network uses the subset its ops need) and the
/// batch against which cells are scored.
pub struct CellProbe {
    net: Supernet,
    batch: Batch,
    device: Device,
}

/// The scores of one cell as tensors, not read back (the page awaits them).
pub struct CellTensors {
    /// T̃ = ‖∇θL‖² and the per-tensor gradients (eq. 12), `[1]`.
    pub grad_norm: GradNorm,
    /// The exact NTK Θ, `[b, b]`, when asked for (b·K backward passes).
    pub ntk: Option<Tensor<2>>,
}

/// The read-back NTK of one cell: Θ row-major `[b, b]`, its eigenvalues ascending, and tr(Θ) as
/// their sum.
#[derive(Clone, Debug, PartialEq)]
pub struct NtkFigures {
    /// Θ, row-major `[b, b]`.
    pub matrix: Vec<f64>,
    /// Eigenvalues of Θ, ascending.
    pub eigenvalues: Vec<f64>,
}

impl NtkFigures {
    /// From the read-back `[b, b]` tensor data (`None` if it is not f32 data).
    pub fn from_data(data: TensorData, b: usize) -> Option<Self> {
        let matrix: Vec<f64> = data
            .try_to_vec::<f32>()
            .ok()?
            .into_iter()
            .map(f64::from)
            .collect();
        let eigenvalues = symmetric_eigenvalues(&matrix, b);
        Some(NtkFigures {
            matrix,
            eigenvalues,
        })
    }

    /// tr(Θ), the sum of the eigenvalues.
    pub fn trace(&self) -> f64 {
        self.eigenvalues.iter().sum()
    }
}

/// T̃ of a DARTS genotype's network on the first batch of `cfg.data`, and its exact NTK when
/// `exact` (one genotype: [`DartsProbe`] scores many on the same weights and batch).
pub fn darts_cell_tensors(
    cfg: &SearchConfig,
    g: &crate::space::darts::Genotype,
    exact: bool,
    device: &Device,
) -> Result<CellTensors, DataError> {
    Ok(DartsProbe::new(cfg, device)?.tensors(g, exact))
}

/// The DARTS counterpart of [`CellProbe`]: the search network of `cfg` (C, cells, non-affine
/// batch norms, the seed's weights) and the first batch of `cfg.data`. A genotype is scored
/// under its one-hot op weights ([`crate::space::darts::Genotype::one_hot`]), which is the
/// discrete network with the search network's ops: the parameters of ops it does not keep get
/// no gradient, so they add nothing to either trace.
pub struct DartsProbe {
    net: crate::net::darts::DartsSupernet,
    batch: Batch,
    device: Device,
    seed: u64,
}

impl DartsProbe {
    /// Weights from `cfg.seed`'s init stream and the first `cfg.batch` inputs of `cfg.data`.
    pub fn new(cfg: &SearchConfig, device: &Device) -> Result<Self, DataError> {
        Ok(DartsProbe {
            net: cfg.darts().init_search(cfg.seed, device),
            batch: Sampler::new(&cfg.data, cfg.seed, cfg.batch, cfg.size, cfg.classes)?
                .next_batch(),
            device: device.clone(),
            seed: cfg.seed,
        })
    }

    /// The shared search network (its cells run under a genotype's one-hot op weights).
    pub fn net(&self) -> &crate::net::darts::DartsSupernet {
        &self.net
    }

    /// The batch.
    pub fn batch(&self) -> &Batch {
        &self.batch
    }

    /// The device the probe computes on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The seed the weights and batch were drawn from (the proxies' probes draw from it too).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// `g`'s one-hot op weights `[28, 8]` on the autodiff device: the search network under
    /// them is `g`'s network.
    pub fn op_weights(&self, g: &crate::space::darts::Genotype) -> Tensor<2> {
        let w = g.one_hot();
        Tensor::from_data(
            TensorData::new(w.values().to_vec(), w.shape()),
            &self.device.clone().autodiff(),
        )
    }

    /// T̃ of `g`'s network on the batch (eq. 12), and its exact NTK `[b, b]` when `exact`.
    pub fn tensors(&self, g: &crate::space::darts::Genotype, exact: bool) -> CellTensors {
        let (net, device, batch) = (&self.net, &self.device, &self.batch);
        let k = net.config.classes;
        let weights = self.op_weights(g);
        let x = input_tensor(batch, device).autodiff();
        let f = |p: &[Tensor<1>]| {
            net.forward(
                p,
                x.clone(),
                &weights,
                &mut ReluTape::Free,
                &mut crate::net::darts::PoolTape::Free,
            )
        };
        CellTensors {
            grad_norm: grad_norm_sq(net.params(), one_hot(&batch.labels, k, device), f),
            ntk: exact.then(|| exact_ntk(net.params(), batch.batch, k, f)),
        }
    }

    /// ∇θL of `g`'s network on each of `splits` equal parts of the batch (each its own forward,
    /// with its own batch statistics), read back for the conv and linear weights only
    /// ([`SplitGradients`]); empty when the batch has fewer inputs than `splits`.
    pub fn split_gradients(
        &self,
        g: &crate::space::darts::Genotype,
        splits: usize,
    ) -> SplitGradients {
        let (net, device) = (&self.net, &self.device);
        let weights = self.op_weights(g);
        let k = net.config.classes;
        split_gradients(
            net.specs(),
            net.params(),
            &self.batch,
            k,
            splits,
            device,
            |p, x| {
                net.forward(
                    p,
                    x,
                    &weights,
                    &mut ReluTape::Free,
                    &mut crate::net::darts::PoolTape::Free,
                )
            },
        )
    }
}

/// Per-split gradients of one network's weight tensors: `grads[s][l]` is ∇θ_l L on split s,
/// flat, for the l-th parameter tensor with at least two axes (a conv's `[co, ci, k, k]` or the
/// head's `[K, c]`: the weights ZiCo reads; biases and batch-norm affines are left out).
pub type SplitGradients = Vec<Vec<Vec<f32>>>;

/// [`SplitGradients`] of the network `logits` (tracked parameters and a `[b/s, 3, h, w]` input
/// ↦ `[b/s, K]`) on `splits` consecutive equal parts of `batch` (the remainder left out).
fn split_gradients(
    specs: &[crate::net::supernet::ParamSpec],
    params: &[Tensor<1>],
    batch: &Batch,
    classes: usize,
    splits: usize,
    device: &Device,
    logits: impl Fn(&[Tensor<1>], Tensor<4>) -> Tensor<2>,
) -> SplitGradients {
    let per = batch.batch / splits.max(1);
    if per == 0 {
        return Vec::new();
    }
    let x = input_tensor(batch, device);
    let [_, c, h, w] = x.dims();
    (0..splits)
        .map(|s| {
            let part = s * per..(s + 1) * per;
            let xs = x.clone().slice([part.clone(), 0..c, 0..h, 0..w]).autodiff();
            let onehot = one_hot(&batch.labels[part], classes, device);
            let gn = grad_norm_sq(params, onehot, |p| logits(p, xs.clone()));
            gn.grad
                .into_iter()
                .zip(specs)
                .filter(|(_, spec)| spec.shape.len() > 1)
                .map(|(t, _)| t.into_data().try_to_vec::<f32>().expect("f32 data"))
                .collect()
        })
        .collect()
}

impl CellProbe {
    /// Weights from `cfg.seed`'s init stream and the first `batch` inputs of `cfg.data` (the
    /// page uses a smaller batch than the search, to keep the exact NTK quick).
    pub fn new(cfg: &SearchConfig, batch: usize, device: &Device) -> Result<Self, DataError> {
        let net = cfg.init_supernet(device);
        let batch = Sampler::new(&cfg.data, cfg.seed, batch, cfg.size, cfg.classes)?.next_batch();
        Ok(CellProbe {
            net,
            batch,
            device: device.clone(),
        })
    }

    /// The shared weights.
    pub fn net(&self) -> &Supernet {
        &self.net
    }

    /// The batch.
    pub fn batch(&self) -> &Batch {
        &self.batch
    }

    /// The device the probe computes on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Scalars of `g`'s standalone network.
    pub fn params(&self, g: &Genotype) -> usize {
        self.net.num_params(Some(g))
    }

    /// T̃ of `g`'s network on the batch, and its exact NTK when `exact`.
    pub fn tensors(&self, g: &Genotype, exact: bool) -> CellTensors {
        let (net, dev) = (&self.net, &self.device);
        let k = net.config.classes;
        let mix = CellMix::Fixed(*g);
        let x = input_tensor(&self.batch, dev).autodiff();
        let f = |p: &[Tensor<1>]| net.forward(p, x.clone(), &mix, &mut ReluTape::Free);
        CellTensors {
            grad_norm: grad_norm_sq(net.params(), one_hot(&self.batch.labels, k, dev), f),
            ntk: exact.then(|| exact_ntk(net.params(), self.batch.batch, k, f)),
        }
    }

    /// ∇θL of `g`'s network on each of `splits` equal parts of the batch, each its own forward
    /// with its own batch statistics, for the conv and head weights ([`SplitGradients`]);
    /// empty when the batch has fewer inputs than `splits`.
    pub fn split_gradients(&self, g: &Genotype, splits: usize) -> SplitGradients {
        let net = &self.net;
        let mix = CellMix::Fixed(*g);
        let k = net.config.classes;
        split_gradients(
            net.specs(),
            net.params(),
            &self.batch,
            k,
            splits,
            &self.device,
            |p, x| net.forward(p, x, &mix, &mut ReluTape::Free),
        )
    }
}
