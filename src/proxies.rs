//! Training-free proxies of one standalone cell network, for comparing NASI's estimator with
//! well-known zero-cost scores on the same weights and the same batch:
//! * `nasi_trace`: T̃ = ‖∇θL‖² (NASI eq. 12);
//! * `grad_norm`: Σ_l ‖∇θ_l L‖ over parameter tensors (Abdelfattah et al., 2021);
//! * `synflow`: Σ θ ⊙ ∂R/∂θ with |θ|, batch norm removed, an all-ones input and R = Σ logits
//!   (Tanaka et al., 2020);
//! * `naswot`: log|det K_H| of the Hamming-similarity kernel of the ReLU activation codes
//!   (Mellor et al., 2021);
//! * `exact_trace`: tr(Θ), the exact NTK trace;
//! * `conditioning`: −ln κ, κ = λ_max / λ_min of the NTK of the summed output on the first
//!   [`CONDITIONING_BATCH`] inputs (TE-NAS, Chen et al., ICLR 2021; larger is better conditioned);
//! * `expressivity`, `progressivity`, `trainability`: AZ-NAS's feature proxies (Lee & Ham,
//!   CVPR 2024; [`AzNas`]), on the same weights and batch (AZ-NAS itself uses Kaiming init and
//!   affine norms; here they follow the search's `--init` and `--bn-affine`);
//! * `meco`: Σ over the stem's and every layer's output map of the smallest eigenvalue of the
//!   channels' Pearson correlation over the positions of the batch's first input (MeCo, Jiang et
//!   al., NeurIPS 2023, which hooks every module; here the maps AZ-NAS's proxies read);
//! * `zico`: Σ over weight tensors of ln Σ_θ mean|∇θL| / std(∇θL), the gradient's inverse
//!   coefficient of variation over [`ZICO_SPLITS`] parts of the batch (ZiCo, Li et al., ICLR
//!   2023; [`zico_of`]);
//! * `gsc`: −ln of the body's gradient scale coefficient (Philipp et al., 2018): how much less
//!   the gradient explodes from the last layer's output back to the stem's
//!   ([`ProxyContext::gradient_scale`]; DARTS's network: [`darts_gradient_scale`]);
//! * `gsc_loss`: the same along the loss's own gradient instead of a Rademacher probe
//!   ([`ProxyContext::loss_gradient_scale`]).

use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;

use crate::config::SearchConfig;
use crate::data::{DataError, RngStream, rng};
use crate::loss::{cross_entropy, one_hot};
use crate::net::supernet::{CellMix, ReluTape, input_tensor};
use crate::ntk::tracked;
use crate::score::{CellProbe, DartsProbe};
use crate::space::Genotype;

/// The inputs TE-NAS's condition number is taken over: the first 8 of the batch, one backward
/// pass each. Measured at NB201's evaluation size (C = 16, N = 5) on 2 cores: 0.3–0.45 s a
/// candidate, 20–30 s added to a 64-candidate stage whose whole search takes ~3.7 s without it
/// (`docs/results.md`); TE-NAS itself uses 64 inputs on a GPU.
pub const CONDITIONING_BATCH: usize = 8;

/// The parts of the batch ZiCo's gradient statistics are taken over, each its own forward and
/// backward pass: ZiCo's own NB201 setting (two batches). The stage's b = 32 gives two halves
/// of 16; a batch of one has no ZiCo (NaN, ranked last).
pub const ZICO_SPLITS: usize = 2;

/// The shared weights and batch against which every cell is scored ([`CellProbe`]).
pub struct ProxyContext {
    probe: CellProbe,
    seed: u64,
}

/// Proxy values of one cell (NaN where not computed).
#[derive(Clone, Copy, Debug)]
pub struct ProxyScores {
    /// T̃.
    pub nasi_trace: f64,
    /// Σ_l ‖∇θ_l L‖.
    pub grad_norm: f64,
    /// SynFlow.
    pub synflow: f64,
    /// NASWOT's log|det K_H|.
    pub naswot: f64,
    /// tr(Θ).
    pub exact_trace: f64,
    /// AZ-NAS's expressivity, progressivity and trainability.
    pub az: AzNas,
    /// MeCo's Σ λ_min ([`meco_of`]).
    pub meco: f64,
    /// ZiCo ([`zico_of`]).
    pub zico: f64,
    /// −ln GSC ([`ProxyContext::gradient_scale`]).
    pub gsc: f64,
    /// −ln GSC along the loss's gradient ([`ProxyContext::loss_gradient_scale`]).
    pub gsc_loss: f64,
}

impl ProxyContext {
    /// Weights from `cfg.seed`'s init stream (shared by all cells: a cell's network uses the
    /// subset its ops need) and the first batch of `cfg.data`.
    pub fn new(cfg: &SearchConfig, device: &Device) -> Result<Self, DataError> {
        Ok(ProxyContext {
            probe: CellProbe::new(cfg, cfg.batch, device)?,
            seed: cfg.seed,
        })
    }

    /// T̃ = ‖∇θL‖² (eq. 12) and grad_norm Σ_l ‖∇θ_l L‖ of `g`'s network on the batch.
    pub fn gradients(&self, g: &Genotype) -> (f64, f64) {
        let gn = self.probe.tensors(g, false).grad_norm;
        let norm = gn.layer_norm_sum();
        (scalar(gn.trace), norm)
    }

    /// Scalars of `g`'s standalone network.
    pub fn params(&self, g: &Genotype) -> usize {
        self.probe.params(g)
    }

    /// Convolution layers on the deepest path of `g`'s standalone network
    /// ([`crate::net::supernet::SupernetConfig::depth`]); `None` when its cell connects no path.
    pub fn depth(&self, g: &Genotype) -> Option<usize> {
        self.probe.net().config.depth(g)
    }

    /// Scores the standalone network of `g`; the exact trace only when `exact` (b·K passes).
    pub fn scores(&self, g: &Genotype, exact: bool) -> ProxyScores {
        let scored = self.probe.tensors(g, exact);
        let (nasi_trace, grad_norm) = (
            scalar(scored.grad_norm.trace.clone()),
            scored.grad_norm.layer_norm_sum(),
        );
        let b = self.probe.batch().batch;
        let exact_trace = scored.ntk.map_or(f64::NAN, |ntk| {
            (0..b)
                .map(|i| scalar(ntk.clone().slice([i..i + 1, i..i + 1]).sum()))
                .sum()
        });
        ProxyScores {
            nasi_trace,
            grad_norm,
            synflow: self.synflow(g),
            naswot: self.naswot(g),
            exact_trace,
            az: self.az_nas(g),
            meco: self.meco(g),
            zico: self.zico(g),
            gsc: self.gradient_scale(g),
            gsc_loss: self.loss_gradient_scale(g),
        }
    }

    /// ZiCo of `g`'s network: [`zico_of`] the gradients of its conv and head weights on
    /// [`ZICO_SPLITS`] parts of the batch. Larger is preferred: gradients large and consistent
    /// across inputs.
    pub fn zico(&self, g: &Genotype) -> f64 {
        zico_of(&self.probe.split_gradients(g, ZICO_SPLITS))
    }

    /// TE-NAS's NTK conditioning of `g`'s network, as −ln κ with κ = λ_max / λ_min of the
    /// `[m, m]` NTK of the summed output ([`crate::ntk::summed_output_ntk`]) on the first
    /// m = min(b, [`CONDITIONING_BATCH`]) inputs, their batch statistics among themselves.
    /// Larger is better (0 at κ = 1); −∞ (not finite: ranked last) where λ_min ≤ 0, a kernel
    /// singular in f32.
    pub fn conditioning(&self, g: &Genotype) -> f64 {
        let (net, dev) = (self.probe.net(), self.probe.device());
        let m = self.probe.batch().batch.min(CONDITIONING_BATCH);
        let x = input_tensor(self.probe.batch(), dev);
        let [_, c, h, w] = x.dims();
        let x = x.slice([0..m, 0..c, 0..h, 0..w]).autodiff();
        let mix = CellMix::Fixed(*g);
        let ntk = crate::ntk::summed_output_ntk(net.params(), m, |p| {
            net.forward(p, x.clone(), &mix, &mut ReluTape::Free)
        });
        let v: Vec<f64> = read(ntk.reshape([-1])).into_iter().map(f64::from).collect();
        condition_score(&crate::ntk::symmetric_eigenvalues(&v, m))
    }

    /// NASWOT (Mellor et al., 2021) of `g`'s network on the batch: log|det K_H| of the `[b, b]`
    /// Hamming-similarity kernel of its ReLU activation codes; NaN for a network without ReLUs.
    pub fn naswot(&self, g: &Genotype) -> f64 {
        // K_H = Σ_relu [c cᵀ + (1−c)(1−c)ᵀ] over binary activation codes c.
        let (net, dev) = (self.probe.net(), self.probe.device());
        let x = input_tensor(self.probe.batch(), dev);
        let mut tape = ReluTape::Record(Vec::new());
        let _ = net.forward(net.params(), x, &CellMix::Fixed(*g), &mut tape);
        let b = self.probe.batch().batch;
        let ReluTape::Record(masks) = tape else {
            unreachable!("recording tape")
        };
        let kernel = masks
            .into_iter()
            .map(|m| {
                let m: Tensor<2> = m.inner().reshape([b as i32, -1]);
                let n = m.clone().ones_like() - m.clone();
                m.clone().matmul(m.transpose()) + n.clone().matmul(n.transpose())
            })
            .reduce(|a, c| a + c);
        kernel.map_or(f64::NAN, |kh| {
            let v: Vec<f64> = kh
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32")
                .into_iter()
                .map(f64::from)
                .collect();
            crate::ntk::symmetric_eigenvalues(&v, b)
                .iter()
                .map(|l| l.abs().ln())
                .sum()
        })
    }

    /// SynFlow of `g`'s network: Σ θ ⊙ ∂R/∂θ with |θ|, no batch norm, an all-ones input of
    /// batch 1 and R = Σ logits, computed on maps rescaled layer by layer
    /// ([`crate::net::supernet::Supernet::forward_rescaled`]) and scaled back in f64, so that
    /// it is finite at NB201's evaluation depth, where the plain f32 product overflows.
    pub fn synflow(&self, g: &Genotype) -> f64 {
        let (net, dev) = (self.probe.net(), self.probe.device());
        let plain = net.without_batch_norm();
        let abs: Vec<Tensor<1>> = net.params().iter().map(|p| p.clone().abs()).collect();
        let t = tracked(&abs);
        let s = net.config.size;
        let ones = Tensor::<4>::ones([1, 3, s, s], dev).autodiff();
        let (logits, ln_s) = plain.forward_rescaled(&t, ones, g);
        let grads = logits.sum().backward();
        let scaled: f64 = t
            .iter()
            .zip(&abs)
            .filter_map(|(tp, a)| tp.grad(&grads).map(|g| scalar((g * a.clone()).sum())))
            .sum();
        scaled * scalar(ln_s).exp()
    }

    /// MeCo of `g`'s network: Σ over the maps of [`crate::net::supernet::Supernet::features`]
    /// (the stem's and every layer's output, `[b, c, h, w]`) of [`meco_of`] on the batch's first
    /// input. Larger is preferred: channels less linearly dependent on each other.
    pub fn meco(&self, g: &Genotype) -> f64 {
        let (net, dev) = (self.probe.net(), self.probe.device());
        let x = input_tensor(self.probe.batch(), dev);
        net.features(net.params(), x, g, &mut ReluTape::Free)
            .into_iter()
            .map(|m| {
                let [_, c, h, w] = m.dims();
                let first = m.slice([0..1, 0..c, 0..h, 0..w]).reshape([-1]);
                meco_of(&read(first), [c, h * w])
            })
            .sum()
    }

    /// −ln GSC of `g`'s network: the gradient scale coefficient (Philipp, Song & Carbonell,
    /// "The exploding gradient problem demystified", 2018) of its body, the map from the
    /// stem's output h₀ `[b, C, s, s]` to the last layer's output y `[b, 4C, s/4, s/4]` (the
    /// maps of [`crate::net::supernet::Supernet::features`]), on the batch:
    /// GSC = (‖Jᵀv‖ / ‖v‖) · (‖h₀‖ / ‖y‖), with v a Rademacher probe of y's shape (the seed's
    /// [`RngStream::Probe`], the same for every cell), so E‖Jᵀv‖² = ‖J‖²_F. It is how much a
    /// relative change at the output pulls back, relatively, onto the input: large where the
    /// gradient explodes with depth, as it does in a batch-normalised plain stack and less in a
    /// residual one. Larger −ln GSC is preferred; NaN (ranked last) where no gradient reaches
    /// h₀ or y is zero. NASI's T̃ grows with the same explosion (docs/results.md), which is why
    /// this proxy is the stage's counterweight to it.
    pub fn gradient_scale(&self, g: &Genotype) -> f64 {
        self.body_scale(g, ScaleProbe::Rademacher)
    }

    /// −ln GSC of `g`'s network along the loss's own gradient: [`ProxyContext::gradient_scale`]
    /// with the probe v = ∂L/∂y, the cross-entropy gradient of the batch's (random) labels
    /// pulled back through the head (last batch norm, ReLU, global average pool, linear) onto
    /// the body's output y `[b, 4C, s/4, s/4]`, instead of a Rademacher probe:
    /// GSC = (‖∂L/∂h₀‖ / ‖∂L/∂y‖) · (‖h₀‖ / ‖y‖): the growth of the very gradient whose
    /// squared norm T̃ sums (eq. 12). Why it exists: the head's average pool makes that gradient
    /// nearly constant over positions, while a Rademacher probe is white noise over them, and a
    /// 3×3 average pool passes a white probe's pull-back at about 1/3 of its norm; this tests
    /// whether that is why [`ProxyContext::gradient_scale`] rewards average pools. It is not:
    /// this one prefers the same ops, the pools by a little less (docs/results.md, "The gradient
    /// scale along the loss's gradient"), so it stays a diagnostic. Larger is preferred; NaN
    /// (ranked last) where no gradient reaches h₀ or y is zero.
    pub fn loss_gradient_scale(&self, g: &Genotype) -> f64 {
        self.body_scale(g, ScaleProbe::Loss)
    }

    /// −ln GSC of the body of `g`'s network (stem's output h₀ → last layer's output y) pulled
    /// back along `probe`.
    fn body_scale(&self, g: &Genotype, probe: ScaleProbe) -> f64 {
        let (net, dev) = (self.probe.net(), self.probe.device());
        let x = input_tensor(self.probe.batch(), dev);
        let params: Vec<Tensor<1>> = net.params().iter().map(|p| p.clone().autodiff()).collect();
        let body = |h: Tensor<4>| {
            (0..net.num_layers()).fold(h, |m, i| {
                net.layer_of(&params, i, m, g, &mut ReluTape::Free)
            })
        };
        let probe_of = |y: &Tensor<4>| match probe {
            ScaleProbe::Rademacher => rademacher_tensor(self.seed, y.dims(), dev),
            ScaleProbe::Loss => {
                // y as a leaf of its own: the loss's gradient there, without the body's graph.
                let leaf = y.clone().inner().autodiff().require_grad();
                let batch = self.probe.batch();
                let onehot = one_hot(&batch.labels, net.config.classes, dev).autodiff();
                let logits = net.head(&params, leaf.clone(), &mut ReluTape::Free);
                let grads = cross_entropy(logits, onehot).backward();
                leaf.grad(&grads)
                    .unwrap_or_else(|| y.clone().inner().zeros_like())
            }
        };
        gradient_scale_through(net.stem(net.params(), x), body, probe_of)
    }

    /// AZ-NAS's proxies of `g`'s network: the maps of [`crate::net::supernet::Supernet::features`] on the batch, and
    /// for each layer one Rademacher probe of its output (drawn from the seed's
    /// [`RngStream::Probe`], the same for every cell) pulled back through the layer.
    pub fn az_nas(&self, g: &Genotype) -> AzNas {
        let (net, dev) = (self.probe.net(), self.probe.device());
        let x = input_tensor(self.probe.batch(), dev);
        let maps = net.features(net.params(), x, g, &mut ReluTape::Free);
        let host: Vec<([usize; 4], Vec<f32>)> = maps
            .iter()
            .map(|m| (m.dims(), read(m.clone().reshape([-1]))))
            .collect();
        let entropy: Vec<f64> = host.iter().map(|(d, v)| expressivity_of(v, *d)).collect();
        let progressivity = entropy
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min);
        let mut rng = rng(self.seed, RngStream::Probe);
        let params: Vec<Tensor<1>> = net.params().iter().map(|p| p.clone().autodiff()).collect();
        let per_layer: Vec<f64> = (0..net.num_layers())
            .map(|i| {
                let (din, _) = &host[i];
                let (dout, _) = &host[i + 1];
                let g_out: Vec<f32> = (0..dout.iter().product::<usize>())
                    .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
                    .collect();
                let h = maps[i].clone().autodiff().require_grad();
                let y = net.layer_of(&params, i, h.clone(), g, &mut ReluTape::Free);
                let probe = Tensor::<4>::from_data(
                    TensorData::new(g_out.clone(), *dout),
                    &dev.clone().autodiff(),
                );
                // A layer whose output does not reach its input (a cell of `none`s) pulls back
                // zeros.
                let r = (y * probe).sum();
                let pulled = r.is_tracked().then(|| h.grad(&r.backward())).flatten();
                let g_in = pulled.map_or_else(
                    || vec![0.0; din.iter().product()],
                    |t| read(t.reshape([-1])),
                );
                trainability_of(&g_in, *din, &g_out, *dout)
            })
            .collect();
        AzNas {
            expressivity: entropy.iter().sum(),
            progressivity,
            trainability: per_layer.iter().sum::<f64>() / per_layer.len() as f64,
        }
    }
}

/// −ln(λ_max / λ_min) of ascending eigenvalues; −∞ when λ_min ≤ 0 or there are none.
pub fn condition_score(ascending: &[f64]) -> f64 {
    match (ascending.first(), ascending.last()) {
        (Some(&lo), Some(&hi)) if lo > 0.0 => -(hi / lo).ln(),
        _ => f64::NEG_INFINITY,
    }
}

fn read(t: Tensor<1>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 data")
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}

/// AZ-NAS's three feature proxies (Lee & Ham, CVPR 2024) of one standalone network, computed on
/// the host in f64 from the feature maps of [`crate::net::supernet::Supernet::features`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AzNas {
    /// Σ over maps of the entropy of the normalised eigenvalues of the channel covariance:
    /// high when features spread over many directions.
    pub expressivity: f64,
    /// The smallest increase of that entropy from one map to the next: high when every layer
    /// adds directions.
    pub progressivity: f64,
    /// Mean over layers of 2 − σ − 1/σ, σ the top singular value of a Rademacher estimate of
    /// the layer's input–output Jacobian: 0 (its best) at σ = 1, an isometry.
    pub trainability: f64,
}

/// Entropy −Σ p ln(p + 1e-8) of the eigenvalues of the channel covariance of `map` (`[b, c, h,
/// w]`, row-major), normalised to sum 1: the `[b·h·w, c]` samples are centred, Σ = XᵀX / (b·h·w)
/// `[c, c]`. Eigenvalues below 0 (rounding) count as 0; a map without variance gives NaN, as
/// AZ-NAS's 0/0 does.
pub fn expressivity_of(map: &[f32], dims: [usize; 4]) -> f64 {
    let [b, c, h, w] = dims;
    let (hw, n) = (h * w, b * h * w);
    let at = |i: usize, ch: usize, p: usize| map[(i * c + ch) * hw + p] as f64;
    let mean: Vec<f64> = (0..c)
        .map(|ch| {
            (0..b)
                .flat_map(|i| (0..hw).map(move |p| (i, p)))
                .map(|(i, p)| at(i, ch, p))
                .sum::<f64>()
                / n as f64
        })
        .collect();
    let mut cov = vec![0.0; c * c];
    let mut row = vec![0.0; c];
    for i in 0..b {
        for p in 0..hw {
            for (ch, r) in row.iter_mut().enumerate() {
                *r = at(i, ch, p) - mean[ch];
            }
            for u in 0..c {
                for v in u..c {
                    cov[u * c + v] += row[u] * row[v];
                }
            }
        }
    }
    for u in 0..c {
        for v in u..c {
            cov[u * c + v] /= n as f64;
            cov[v * c + u] = cov[u * c + v];
        }
    }
    let s: Vec<f64> = crate::ntk::symmetric_eigenvalues(&cov, c)
        .into_iter()
        .map(|l| l.max(0.0))
        .collect();
    let total: f64 = s.iter().sum();
    s.iter()
        .map(|&l| {
            let q = l / total;
            -q * (q + 1e-8).ln()
        })
        .sum()
}

/// MeCo's per-map term: the smallest eigenvalue of the `[c, c]` Pearson correlation of a map's
/// `c` channels over its `n` positions (`map` is `[c, n]`, row-major; one input). A channel
/// without variance correlates as 0 with every channel and itself (MeCo sets torch's NaN to 0),
/// so such a map scores at most 0; with n ≤ c the matrix is singular and λ_min is 0 up to
/// rounding.
pub fn meco_of(map: &[f32], dims: [usize; 2]) -> f64 {
    let [c, n] = dims;
    let centred: Vec<Vec<f64>> = (0..c)
        .map(|ch| {
            let row = &map[ch * n..(ch + 1) * n];
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let d: Vec<f64> = row.iter().map(|&v| v as f64 - mean).collect();
            let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 0.0 {
                d.iter().map(|v| v / norm).collect()
            } else {
                vec![0.0; n]
            }
        })
        .collect();
    let mut corr = vec![0.0; c * c];
    for u in 0..c {
        for v in u..c {
            let r: f64 = centred[u].iter().zip(&centred[v]).map(|(a, b)| a * b).sum();
            corr[u * c + v] = r;
            corr[v * c + u] = r;
        }
    }
    crate::ntk::symmetric_eigenvalues(&corr, c)
        .first()
        .copied()
        .unwrap_or(f64::NAN)
}

/// The probe v `[b, 4C, s/4, s/4]` a gradient scale pulls back through the body: a Rademacher
/// one (‖Jᵀv‖ estimates the Jacobian's Frobenius norm, Philipp et al.'s definition) or the
/// loss's own gradient at the body's output.
#[derive(Clone, Copy)]
enum ScaleProbe {
    Rademacher,
    Loss,
}

/// −ln GSC of DARTS's network of `g` ([`ProxyContext::gradient_scale`] for DARTS's space): its
/// body is every cell, from the stem's map h₀ `[b, 3C, s, s]` (both inputs of the first cell) to
/// the last cell's output y `[b, 4·C_last, s', s']` ([`crate::net::darts::DartsSupernet::body`]),
/// pulled back along a Rademacher probe of y's shape from the probe's seed. Larger is preferred
/// (less gradient growth through the cells); NaN where no gradient reaches h₀.
pub fn darts_gradient_scale(probe: &DartsProbe, g: &crate::space::darts::Genotype) -> f64 {
    let (net, dev) = (probe.net(), probe.device());
    let x = input_tensor(probe.batch(), dev);
    let params: Vec<Tensor<1>> = net.params().iter().map(|p| p.clone().autodiff()).collect();
    let weights = probe.op_weights(g);
    let body = |h: Tensor<4>| {
        let (mut relus, mut pools) = (ReluTape::Free, crate::net::darts::PoolTape::Free);
        net.body(&params, h, &weights, &mut relus, &mut pools)
    };
    let probe_of = |y: &Tensor<4>| rademacher_tensor(probe.seed(), y.dims(), dev);
    gradient_scale_through(net.stem(net.params(), x), body, probe_of)
}

/// −ln GSC of `body` at h₀ `[b, c, h, w]` (its map, on the inner device) along the probe
/// `probe_of(y)` (on the inner device) of its output y: the body runs once on the autodiff
/// device, and one backward pass gives Jᵀv ([`gradient_scale_of`]).
fn gradient_scale_through(
    h0: Tensor<4>,
    body: impl FnOnce(Tensor<4>) -> Tensor<4>,
    probe_of: impl FnOnce(&Tensor<4>) -> Tensor<4>,
) -> f64 {
    let h = h0.clone().autodiff().require_grad();
    let y = body(h.clone());
    let v = probe_of(&y);
    let r = (y.clone() * v.clone().autodiff()).sum();
    let norm = |t: Tensor<4>| scalar(t.square().sum()).sqrt();
    let (ny, nh, nv) = (norm(y.inner()), norm(h0), norm(v));
    let pulled = r.is_tracked().then(|| h.grad(&r.backward())).flatten();
    let ng = pulled.map_or(0.0, norm);
    gradient_scale_of(ng, nv, nh, ny)
}

/// A Rademacher probe of `dims` ([`rademacher`]) on `device` (the inner one).
fn rademacher_tensor(seed: u64, dims: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(rademacher(seed, dims), dims), device)
}

/// −ln GSC = −ln((‖Jᵀv‖ / ‖v‖) · (‖h₀‖ / ‖y‖)) from the four norms
/// ([`ProxyContext::gradient_scale`]); NaN unless all are positive (no gradient reaching the
/// input would otherwise score +∞, the best).
pub fn gradient_scale_of(pulled: f64, probe: f64, input: f64, output: f64) -> f64 {
    if [pulled, probe, input, output].iter().all(|&n| n > 0.0) {
        -((pulled / probe) * (input / output)).ln()
    } else {
        f64::NAN
    }
}

/// A Rademacher probe (±1) of `dims` from the seed's [`RngStream::Probe`].
fn rademacher(seed: u64, dims: [usize; 4]) -> Vec<f32> {
    let mut rng = rng(seed, RngStream::Probe);
    (0..dims.iter().product::<usize>())
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect()
}

/// ZiCo (Li et al., ICLR 2023) from per-split gradients `grads[s][l]` (split s, weight tensor
/// l, flat; [`crate::score::SplitGradients`]): Σ_l ln Σ_j mean_s|g_sj| / std_s(g_sj), the
/// population std over splits, over the entries j whose std is not 0 (a weight the cell does not
/// use has zero gradient everywhere and drops out); a tensor whose sum is 0 adds nothing, as in
/// ZiCo's code. NaN with fewer than two splits.
pub fn zico_of(grads: &[Vec<Vec<f32>>]) -> f64 {
    let s = grads.len();
    if s < 2 {
        return f64::NAN;
    }
    let n = s as f64;
    (0..grads[0].len())
        .map(|l| {
            let ratio: f64 = (0..grads[0][l].len())
                .filter_map(|j| {
                    let v = || grads.iter().map(move |split| split[l][j] as f64);
                    let mean = v().sum::<f64>() / n;
                    let std = (v().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
                    (std > 0.0).then(|| v().map(f64::abs).sum::<f64>() / n / std)
                })
                .sum();
            if ratio > 0.0 { ratio.ln() } else { 0.0 }
        })
        .sum()
}

/// AZ-NAS's per-layer trainability 2 − σ − 1/(σ + 1e-6) from a Rademacher probe `g_out` `[b,
/// co, ho, wo]` of a layer's output and its pull-back `g_in` = Jᵀ g_out `[b, ci, hi, wi]`:
/// g_in is pixel-unshuffled to `[b, ci·s², ho, wo]` when the layer has stride s = hi / ho, and σ
/// is the top singular value of M = g_inᵀ g_out / (b·ho·wo) `[ci·s², co]`, which estimates J's
/// (E[g gᵀ] = I). A layer that is the identity (g_in = g_out) gives −∞, as in AZ-NAS.
pub fn trainability_of(g_in: &[f32], din: [usize; 4], g_out: &[f32], dout: [usize; 4]) -> f64 {
    if din == dout && g_in == g_out {
        return f64::NEG_INFINITY;
    }
    let ([b, ci, hi, wi], [_, co, ho, wo]) = (din, dout);
    let s = hi / ho;
    let cu = ci * s * s;
    let mut m = vec![0.0f64; cu * co];
    for i in 0..b {
        for y in 0..ho {
            for x in 0..wo {
                for c in 0..ci {
                    for dy in 0..s {
                        for dx in 0..s {
                            let gi =
                                g_in[((i * ci + c) * hi + y * s + dy) * wi + x * s + dx] as f64;
                            let u = (c * s + dy) * s + dx;
                            for o in 0..co {
                                m[u * co + o] +=
                                    gi * g_out[((i * co + o) * ho + y) * wo + x] as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    let scale = (b * ho * wo) as f64;
    // σ_max² is the top eigenvalue of the smaller Gram matrix of M.
    let (k, gram) = if cu <= co {
        let mut g = vec![0.0; cu * cu];
        for u in 0..cu {
            for v in 0..cu {
                g[u * cu + v] =
                    (0..co).map(|o| m[u * co + o] * m[v * co + o]).sum::<f64>() / (scale * scale);
            }
        }
        (cu, g)
    } else {
        let mut g = vec![0.0; co * co];
        for a in 0..co {
            for c in 0..co {
                g[a * co + c] =
                    (0..cu).map(|u| m[u * co + a] * m[u * co + c]).sum::<f64>() / (scale * scale);
            }
        }
        (co, g)
    };
    let top = crate::ntk::symmetric_eigenvalues(&gram, k)
        .into_iter()
        .fold(0.0f64, f64::max);
    let sigma = top.sqrt();
    2.0 - sigma - 1.0 / (sigma + 1e-6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressivity_is_the_entropy_of_the_covariance_spectrum() {
        // Two uncorrelated channels of variance 1 and 4 over four pixels: p = (0.2, 0.8).
        let map = [1.0, -1.0, 1.0, -1.0, 2.0, 2.0, -2.0, -2.0];
        let want = -(0.2f64 * (0.2f64 + 1e-8).ln()) - 0.8 * (0.8f64 + 1e-8).ln();
        let got = expressivity_of(&map, [1, 2, 1, 4]);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        // Isotropic channels reach the maximum, ln c; a map without variance is NaN.
        let iso = [1.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0, -1.0];
        assert!((expressivity_of(&iso, [1, 2, 1, 4]) - 2f64.ln()).abs() < 1e-7);
        assert!(expressivity_of(&[3.0; 8], [2, 2, 1, 2]).is_nan());
    }

    #[test]
    fn trainability_reads_the_top_singular_value_of_the_jacobian() {
        let score = |s: f64| 2.0 - s - 1.0 / (s + 1e-6);
        // y = diag(3, 0.5)·x per pixel, probed by the four sign patterns of two channels (so
        // Σ g gᵀ / n = I exactly): σ = 3. Layout [b = 1, c = 2, h = 1, w = 4].
        let g_out = [1.0, 1.0, -1.0, -1.0, 1.0, -1.0, 1.0, -1.0];
        let g_in = [3.0, 3.0, -3.0, -3.0, 0.5, -0.5, 0.5, -0.5];
        let t = trainability_of(&g_in, [1, 2, 1, 4], &g_out, [1, 2, 1, 4]);
        assert!((t - score(3.0)).abs() < 1e-12, "{t}");
        // A stride-2 layer summing a 2×2 patch into one channel: J = [1, 1, 1, 1], σ = 2, which
        // needs every input pixel unshuffled to its own row of M.
        let g_out = [1.0, -1.0];
        let g_in = [1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0];
        let t = trainability_of(&g_in, [2, 1, 2, 2], &g_out, [2, 1, 1, 1]);
        assert!((t - score(2.0)).abs() < 1e-12, "{t}");
        // The identity is AZ-NAS's −∞.
        assert_eq!(
            trainability_of(&g_out, [2, 1, 1, 1], &g_out, [2, 1, 1, 1]),
            f64::NEG_INFINITY
        );
    }

    #[test]
    fn meco_is_the_smallest_eigenvalue_of_the_channel_correlation() {
        // Two channels over four positions with correlation ρ = 1/√2: eigenvalues 1 ± ρ.
        let a = [1.0, -1.0, 1.0, -1.0];
        let b = [1.0, 0.0, 0.0, -1.0]; // centred; ⟨a, b⟩ / (‖a‖‖b‖) = 2 / (2·√2) = 1/√2
        let map: Vec<f32> = a.iter().chain(&b).copied().collect();
        let rho = 0.5f64.sqrt();
        assert!((meco_of(&map, [2, 4]) - (1.0 - rho)).abs() < 1e-12);
        // Uncorrelated channels reach 1, the maximum; a scaled copy gives 0; a constant channel
        // zeroes its row, so the smallest eigenvalue is 0.
        let c = [1.0, 1.0, -1.0, -1.0];
        let iso: Vec<f32> = a.iter().chain(&c).copied().collect();
        assert!((meco_of(&iso, [2, 4]) - 1.0).abs() < 1e-12);
        let copy: Vec<f32> = a.iter().chain(&a.map(|v| 3.0 * v)).copied().collect();
        assert!(meco_of(&copy, [2, 4]).abs() < 1e-12);
        let flat: Vec<f32> = a.iter().chain(&[2.0; 4]).copied().collect();
        assert!(meco_of(&flat, [2, 4]).abs() < 1e-12);
        // On a cell: finite, the same on a second call, and it tells two cells apart.
        let (ctx, g) = tiny();
        let m = ctx.meco(&g);
        assert!(m.is_finite(), "{m}");
        assert_eq!(m, ctx.meco(&g));
        let convs: Genotype = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
        assert_ne!(m, ctx.meco(&convs));
    }

    #[test]
    fn zico_sums_the_log_inverse_coefficient_of_variation_per_tensor() {
        // Tensor 0 over two splits: entry 0 has mean|g| 2 and std 1 (ratio 2), entry 1 has
        // std 0 and drops out; tensor 1 is all zeros (an unused weight) and adds nothing.
        let split = |a: f32, b: f32| vec![vec![a, b], vec![0.0; 3]];
        let grads = vec![split(1.0, 2.0), split(3.0, 2.0)];
        assert!((zico_of(&grads) - 2f64.ln()).abs() < 1e-12);
        // Opposite signs over two splits give mean|g| = std, ratio 1: −1 and 3 give 2 and 2.
        let mixed = vec![vec![vec![-1.0f32]], vec![vec![3.0]]];
        assert!(zico_of(&mixed).abs() < 1e-12);
        // Scale-free, and undefined on one split.
        let scaled: Vec<Vec<Vec<f32>>> = grads
            .iter()
            .map(|s| {
                s.iter()
                    .map(|t| t.iter().map(|v| 10.0 * v).collect())
                    .collect()
            })
            .collect();
        assert!((zico_of(&scaled) - zico_of(&grads)).abs() < 1e-12);
        assert!(zico_of(&grads[..1]).is_nan());
        // On a cell: finite, deterministic, and a cell with more convolutions has more tensors
        // with gradients, hence more terms.
        let (ctx, g) = tiny();
        let z = ctx.zico(&g);
        assert!(z.is_finite(), "{z}");
        assert_eq!(z, ctx.zico(&g));
        let convs: Genotype = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
        assert_ne!(z, ctx.zico(&convs));
    }

    #[test]
    fn gradient_scale_matches_finite_differences_of_the_body() {
        // Jᵀv by central differences of ⟨v, body(h₀ + ε eᵢ)⟩, entry by entry, against the
        // autodiff pull-back inside `gradient_scale`.
        let (ctx, g) = tiny();
        let (net, dev) = (ctx.probe.net(), ctx.probe.device());
        let x = input_tensor(ctx.probe.batch(), dev);
        let maps = net.features(net.params(), x, &g, &mut ReluTape::Free);
        let (h0, y) = (&maps[0], maps.last().unwrap());
        let v = rademacher(ctx.seed, y.dims());
        let probe = Tensor::<4>::from_data(TensorData::new(v.clone(), y.dims()), dev);
        let dims = h0.dims();
        let base = read(h0.clone().reshape([-1]));
        let f = |h: Vec<f32>| -> f64 {
            let h = Tensor::<4>::from_data(TensorData::new(h, dims), dev);
            let y = (0..net.num_layers()).fold(h, |m, i| {
                net.layer_of(net.params(), i, m, &g, &mut ReluTape::Free)
            });
            scalar((y * probe.clone()).sum())
        };
        let pulled = central_gradient_norm(&base, 1e-3, f);
        let norm = |t: &Tensor<4>| scalar(t.clone().square().sum()).sqrt();
        let brute = gradient_scale_of(pulled, (v.len() as f64).sqrt(), norm(h0), norm(y));
        let gsc = ctx.gradient_scale(&g);
        // Measured |Δ| = 2.8e-5 at ε = 1e-3 (9.1e-4 at 3e-3, 9.9e-3 at 3e-2: the ReLU kinks
        // within ε, O(ε)).
        assert!((gsc - brute).abs() < 3e-4, "{gsc} vs {brute}");
        assert_eq!(gsc, ctx.gradient_scale(&g));
        // No gradient reaching the input (or an empty probe) is NaN, ranked last, not +∞.
        assert!(gradient_scale_of(0.0, 1.0, 1.0, 1.0).is_nan());
        assert!((gradient_scale_of(2.0, 1.0, 1.0, 2.0)).abs() < 1e-12);
    }

    #[test]
    fn loss_gradient_scale_matches_finite_differences_of_the_loss() {
        // ∂L/∂y and ∂L/∂h₀ by central differences, entry by entry, of the mean cross-entropy
        // (taken in f64 from the f32 logits) of the head on y and of the head after the body
        // on h₀, against the two autodiff pull-backs inside `loss_gradient_scale`.
        let (ctx, g) = tiny();
        let (net, dev) = (ctx.probe.net(), ctx.probe.device());
        let batch = ctx.probe.batch();
        let x = input_tensor(batch, dev);
        let maps = net.features(net.params(), x, &g, &mut ReluTape::Free);
        let (h0, y) = (&maps[0], maps.last().unwrap());
        let loss_of = |logits: Tensor<2>| -> f64 {
            let k = net.config.classes;
            let l: Vec<f64> = read(logits.reshape([-1]))
                .into_iter()
                .map(f64::from)
                .collect();
            let rows = l.chunks(k).zip(&batch.labels);
            let sum: f64 = rows
                .map(|(r, &t)| {
                    let m = r.iter().cloned().fold(f64::MIN, f64::max);
                    m + r.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - r[t]
                })
                .sum();
            sum / batch.batch as f64
        };
        let head = |y: Tensor<4>| loss_of(net.head(net.params(), y, &mut ReluTape::Free));
        let whole = |h: Tensor<4>| {
            head((0..net.num_layers()).fold(h, |m, i| {
                net.layer_of(net.params(), i, m, &g, &mut ReluTape::Free)
            }))
        };
        let gradient_norm = |at: &Tensor<4>, f: &dyn Fn(Tensor<4>) -> f64, eps: f32| -> f64 {
            let (dims, base) = (at.dims(), read(at.clone().reshape([-1])));
            central_gradient_norm(&base, eps, |v| {
                f(Tensor::<4>::from_data(TensorData::new(v, dims), dev))
            })
        };
        let norm = |t: &Tensor<4>| scalar(t.clone().square().sum()).sqrt();
        let gsc = ctx.loss_gradient_scale(&g);
        let eps = 1e-3;
        let (pulled, probe) = (gradient_norm(h0, &whole, eps), gradient_norm(y, &head, eps));
        let brute = gradient_scale_of(pulled, probe, norm(h0), norm(y));
        // Measured |Δ| = 2.8e-5 at ε = 1e-3 (9.8e-5 at 3e-4, where f32 rounding of the loss
        // shows; 3.4e-3 at 3e-3 and 1.2e-2 at 1e-2, the ReLU kinks within ε).
        assert!((gsc - brute).abs() < 3e-4, "{gsc} vs {brute}");
        assert_eq!(gsc, ctx.loss_gradient_scale(&g));
        // Another probe, another figure: −1.788 here against the Rademacher probe's −1.727.
        let rademacher = ctx.gradient_scale(&g);
        assert!((gsc - rademacher).abs() > 1e-2, "{gsc} vs {rademacher}");
    }

    #[test]
    fn darts_gradient_scale_matches_finite_differences_of_the_cells() {
        // DARTS_V2's network at C = 2, 3 cells (two of them reductions, with max pools), 8×8:
        // Jᵀv by central differences of ⟨v, body(h₀ + ε eᵢ)⟩, entry by entry.
        let cfg = SearchConfig {
            space: crate::space::SpaceKind::Darts,
            batch: 2,
            channels: 2,
            cells: 3,
            size: 8,
            ..SearchConfig::default()
        };
        let dev = crate::cpu_device();
        let probe = DartsProbe::new(&cfg, &dev).unwrap();
        let g: crate::space::darts::Genotype = crate::space::darts::DARTS_V2.parse().unwrap();
        let net = probe.net();
        let weights = probe.op_weights(&g).inner();
        let h0 = net.stem(net.params(), input_tensor(probe.batch(), &dev));
        let body = |h: Tensor<4>| {
            let (mut relus, mut pools) = (ReluTape::Free, crate::net::darts::PoolTape::Free);
            net.body(net.params(), h, &weights, &mut relus, &mut pools)
        };
        let y = body(h0.clone());
        let v = rademacher_tensor(probe.seed(), y.dims(), &dev);
        let (dims, base) = (h0.dims(), read(h0.clone().reshape([-1])));
        // ⟨v, y⟩ summed on the host in f64: an f32 sum's rounding swamps the differences.
        let vs = read(v.clone().reshape([-1]));
        let f = |h: Vec<f32>| -> f64 {
            let h = Tensor::<4>::from_data(TensorData::new(h, dims), &dev);
            let y = read(body(h).reshape([-1]));
            y.iter().zip(&vs).map(|(a, b)| *a as f64 * *b as f64).sum()
        };
        let norm = |t: &Tensor<4>| scalar(t.clone().square().sum()).sqrt();
        let gsc = darts_gradient_scale(&probe, &g);
        let pulled = central_gradient_norm(&base, 3e-4, f);
        let brute = gradient_scale_of(pulled, norm(&v), norm(&h0), norm(&y));
        // Measured |Δ| = 6.2e-5 at ε = 3e-4 (2.1e-4 at 1e-4, the f32 forward's rounding;
        // 3.4e-4 at 1e-3 and 1.1e-3 at 3e-3, ReLU and max-pool kinks within ε).
        assert!((gsc - brute).abs() < 6e-4, "{gsc} vs {brute}");
        assert_eq!(gsc, darts_gradient_scale(&probe, &g));
    }

    #[test]
    fn conditioning_is_minus_the_log_condition_number() {
        assert!((condition_score(&[0.5, 1.0, 4.0]) + 8f64.ln()).abs() < 1e-12);
        assert_eq!(condition_score(&[2.0, 2.0]), 0.0);
        // A singular (or numerically negative) kernel ranks last; no spectrum too.
        assert_eq!(condition_score(&[0.0, 1.0]), f64::NEG_INFINITY);
        assert_eq!(condition_score(&[-1e-9, 1.0]), f64::NEG_INFINITY);
        assert_eq!(condition_score(&[]), f64::NEG_INFINITY);
        // On a cell: finite, at most 0 (κ ≥ 1), the same on a second call, and it tells two
        // cells apart.
        let (ctx, g) = tiny();
        let c = ctx.conditioning(&g);
        assert!(c.is_finite() && c <= 0.0, "{c}");
        assert_eq!(c, ctx.conditioning(&g));
        let convs: Genotype = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
        assert_ne!(c, ctx.conditioning(&convs));
    }

    /// ‖∇f‖ at `base` by central differences of step `eps`, entry by entry: the brute force
    /// the gradient-scale proofs hold their autodiff pull-backs against.
    fn central_gradient_norm(base: &[f32], eps: f32, f: impl Fn(Vec<f32>) -> f64) -> f64 {
        (0..base.len())
            .map(|i| {
                let (mut up, mut down) = (base.to_vec(), base.to_vec());
                up[i] += eps;
                down[i] -= eps;
                ((f(up) - f(down)) / (2.0 * eps as f64)).powi(2)
            })
            .sum::<f64>()
            .sqrt()
    }

    fn tiny() -> (ProxyContext, Genotype) {
        let cfg = SearchConfig {
            batch: 4,
            channels: 2,
            size: 8,
            ..SearchConfig::default()
        };
        let g = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
        (ProxyContext::new(&cfg, &crate::cpu_device()).unwrap(), g)
    }

    /// SynFlow as Tanaka et al. write it, in plain f32: Σ θ ⊙ ∂R/∂θ of R = Σ logits.
    fn plain_synflow(ctx: &ProxyContext, g: &Genotype) -> f64 {
        let (net, dev) = (ctx.probe.net(), ctx.probe.device());
        let abs: Vec<Tensor<1>> = net.params().iter().map(|p| p.clone().abs()).collect();
        let t = tracked(&abs);
        let s = net.config.size;
        let ones = Tensor::<4>::ones([1, 3, s, s], dev).autodiff();
        let r = net
            .without_batch_norm()
            .forward(&t, ones, &CellMix::Fixed(*g), &mut ReluTape::Free)
            .sum();
        let grads = r.backward();
        t.iter()
            .zip(&abs)
            .filter_map(|(tp, a)| tp.grad(&grads).map(|g| scalar((g * a.clone()).sum())))
            .sum()
    }

    #[test]
    fn synflow_rescaled_is_the_plain_one_and_stays_finite_at_the_evaluation_depth() {
        let (ctx, g) = tiny();
        let (got, want) = (ctx.synflow(&g), plain_synflow(&ctx, &g));
        // Measured relative difference 7.1e-8 (f32 rounding of the rescaled maps); bound 1e-6.
        assert!((got - want).abs() < 1e-6 * want.abs(), "{got} vs {want}");
        // A cell cut off from its output: only the head's bias is left, Σ|b| either way
        // (measured 3.4e-8).
        let cut: Genotype =
            "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|none~1|none~2|"
                .parse()
                .unwrap();
        let (got, want) = (ctx.synflow(&cut), plain_synflow(&ctx, &cut));
        assert!((got - want).abs() < 1e-6 * want.abs(), "{got} vs {want}");
        // NB201's evaluation depth (N = 5, 17 layers) at C = 8: the plain product overflows f32
        // (inf), the rescaled one does not (1.7e41).
        let deep = ProxyContext::new(
            &SearchConfig {
                batch: 2,
                cells: 5,
                ..SearchConfig::default()
            },
            &crate::cpu_device(),
        )
        .unwrap();
        let convs: Genotype =
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
                .parse()
                .unwrap();
        let plain = plain_synflow(&deep, &convs);
        let s = deep.synflow(&convs);
        assert!(
            !plain.is_finite() || plain > f32::MAX as f64,
            "plain {plain}"
        );
        assert!(s.is_finite() && s > f32::MAX as f64, "rescaled {s}");
        // One conv fewer on the path from input to output: far fewer paths, a smaller SynFlow.
        let fewer: Genotype =
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_1x1~2|"
                .parse()
                .unwrap();
        let f = deep.synflow(&fewer);
        assert!(f.is_finite() && f < s, "{f} vs {s}");
    }

    #[test]
    fn the_maps_chain_through_the_layers_and_pull_back_as_their_jacobian() {
        let (ctx, g) = tiny();
        let (net, dev) = (ctx.probe.net(), ctx.probe.device());
        let x = input_tensor(ctx.probe.batch(), dev);
        let maps = net.features(net.params(), x.clone(), &g, &mut ReluTape::Free);
        assert_eq!(maps.len(), net.num_layers() + 1);
        // Each map is its layer applied to the one before (measured difference 0).
        for i in 0..net.num_layers() {
            let y = net.layer_of(net.params(), i, maps[i].clone(), &g, &mut ReluTape::Free);
            let d = scalar((y - maps[i + 1].clone()).abs().max().reshape([1]));
            assert!(d < 1e-6, "layer {i}: {d}");
        }
        // The pull-back Jᵀg of the residual block (layer 1, stride 2) against a central
        // difference along a random direction d: ⟨Jᵀg, d⟩ = (f(h + εd) − f(h − εd))·g / 2ε.
        // Measured relative error 2.3e-3 (f32, ε = 1e-2, batch norms curving); bound 2.5e-2.
        let (h, i) = (maps[1].clone(), 1);
        let dims = maps[2].dims();
        let mut r = rng(7, RngStream::Probe);
        let g_out: Vec<f32> = (0..dims.iter().product::<usize>())
            .map(|_| if r.random::<bool>() { 1.0 } else { -1.0 })
            .collect();
        let probe = Tensor::<4>::from_data(TensorData::new(g_out, dims), dev);
        let d = Tensor::<4>::from_data(
            TensorData::new(
                crate::data::normal(&mut r, h.dims().iter().product()),
                h.dims(),
            ),
            dev,
        );
        let params: Vec<Tensor<1>> = net.params().iter().map(|p| p.clone().autodiff()).collect();
        let ht = h.clone().autodiff().require_grad();
        let y = net.layer_of(&params, i, ht.clone(), &g, &mut ReluTape::Free);
        let grads = (y * probe.clone().autodiff()).sum().backward();
        let vjp = scalar((ht.grad(&grads).unwrap() * d.clone()).sum());
        let eps = 1e-2;
        let f = |s: f32| {
            let y = net.layer_of(
                net.params(),
                i,
                h.clone() + d.clone() * s,
                &g,
                &mut ReluTape::Free,
            );
            scalar((y * probe.clone()).sum())
        };
        let fd = (f(eps) - f(-eps)) / (2.0 * eps as f64);
        assert!(
            (vjp - fd).abs() < 1e-2 * vjp.abs(),
            "Jᵀg·d {vjp} vs difference {fd}"
        );
    }

    #[test]
    fn the_az_nas_proxies_are_finite_and_repeat_for_the_same_seed() {
        let (ctx, g) = tiny();
        let a = ctx.az_nas(&g);
        assert!(a.expressivity > 0.0 && a.progressivity.is_finite(), "{a:?}");
        assert!(a.trainability.is_finite() && a.trainability <= 0.0, "{a:?}");
        assert_eq!(ctx.az_nas(&g), a);
        // A cell whose output is cut off (every edge into node 3 `none`) has a layer that
        // pulls back nothing: its trainability is far below a connected cell's.
        let cut: Genotype =
            "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|none~1|none~2|"
                .parse()
                .unwrap();
        let c = ctx.az_nas(&cut);
        assert!(c.trainability < a.trainability - 1.0, "{c:?} vs {a:?}");
    }
}
