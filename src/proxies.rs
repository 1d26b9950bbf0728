//! Training-free proxies of one standalone cell network, for comparing NASI's estimator with
//! well-known zero-cost scores on the same weights and the same batch:
//! * `nasi_trace`: T̃ = ‖∇θL‖² (NASI eq. 12);
//! * `grad_norm`: Σ_l ‖∇θ_l L‖ over parameter tensors (Abdelfattah et al., 2021);
//! * `synflow`: Σ θ ⊙ ∂R/∂θ with |θ|, batch norm removed, an all-ones input and R = Σ logits
//!   (Tanaka et al., 2020);
//! * `naswot`: log|det K_H| of the Hamming-similarity kernel of the ReLU activation codes
//!   (Mellor et al., 2021);
//! * `exact_trace`: tr(Θ), the exact NTK trace.

use burn::tensor::{Device, Tensor};

use crate::config::SearchConfig;
use crate::data::DataError;
use crate::net::supernet::{CellMix, ReluTape, input_tensor};
use crate::ntk::tracked;
use crate::score::CellProbe;
use crate::space::Genotype;

/// The shared weights and batch against which every cell is scored ([`CellProbe`]).
pub struct ProxyContext {
    probe: CellProbe,
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
}

impl ProxyContext {
    /// Weights from `cfg.seed`'s init stream (shared by all cells: a cell's network uses the
    /// subset its ops need) and the first batch of `cfg.data`.
    pub fn new(cfg: &SearchConfig, device: &Device) -> Result<Self, DataError> {
        Ok(ProxyContext {
            probe: CellProbe::new(cfg, cfg.batch, device)?,
        })
    }

    /// Scalars of `g`'s standalone network.
    pub fn params(&self, g: &Genotype) -> usize {
        self.probe.params(g)
    }

    /// Scores the standalone network of `g`; the exact trace only when `exact` (b·K passes).
    pub fn scores(&self, g: &Genotype, exact: bool) -> ProxyScores {
        let (net, dev) = (self.probe.net(), self.probe.device());
        let mix = CellMix::Fixed(*g);
        let x = input_tensor(self.probe.batch(), dev);
        let scored = self.probe.tensors(g, exact);
        let gn = scored.grad_norm;
        let grad_norm = gn.layer_norm_sum();
        let nasi_trace = scalar(gn.trace);

        // SynFlow: |θ|, no batch norm, all-ones input of batch 1.
        let plain = net.without_batch_norm();
        let abs: Vec<Tensor<1>> = net.params().iter().map(|p| p.clone().abs()).collect();
        let t = tracked(&abs);
        let s = net.config.size;
        let ones = Tensor::<4>::ones([1, 3, s, s], dev).autodiff();
        let r = plain.forward(&t, ones, &mix, &mut ReluTape::Free).sum();
        let grads = r.backward();
        let synflow = t
            .iter()
            .zip(&abs)
            .filter_map(|(tp, a)| tp.grad(&grads).map(|g| scalar((g * a.clone()).sum())))
            .sum();

        // NASWOT: K_H = Σ_relu [c cᵀ + (1−c)(1−c)ᵀ] over binary activation codes c.
        let mut tape = ReluTape::Record(Vec::new());
        let _ = net.forward(net.params(), x, &mix, &mut tape);
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
        let naswot = kernel.map_or(f64::NAN, |kh| {
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
        });

        let exact_trace = scored.ntk.map_or(f64::NAN, |ntk| {
            (0..b)
                .map(|i| scalar(ntk.clone().slice([i..i + 1, i..i + 1]).sum()))
                .sum()
        });
        ProxyScores {
            nasi_trace,
            grad_norm,
            synflow,
            naswot,
            exact_trace,
        }
    }
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}
