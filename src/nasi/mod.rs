//! The NASI objective and its one-step gradient in α (paper §3.3–3.4).
//!
//! Reward (eq. 8 with the estimator of eq. 12): R(α) = T̃(α) − μ·max(0, T̃(α) − ν), with
//! T̃ = ‖∇θL‖² of the relaxed cell at initialisation. Each step evaluates G_t = ∇αR at α = 0
//! under fresh Gumbel noise and a fresh batch; α* = Σ_t G_t / max_{s≤t}‖G_s‖ (eq. 18) and the
//! cell is the per-edge argmax of α*.
//!
//! burn's autodiff is first order, so ∇αT̃ = 2·(∂²L/∂α∂θ)·v with v = ∇θL is obtained as a
//! central finite difference of ∇αL along v:
//! ∇αT̃ ≈ [∇αL(θ + εv) − ∇αL(θ − εv)] / ε, with ε = r/‖v‖, and the ReLU masks of the
//! unperturbed pass frozen in the two perturbed passes (see [`ReluTape`]). The forward scheme
//! (`FdScheme::Forward`) uses 2·[∇αL(θ + εv) − ∇αL(θ)]/ε instead, with ∇αL(θ) from the pass that
//! gives v, saving one of the three forward/backward passes at O(ε) instead of O(ε²) error.

use std::fmt;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::data::Batch;
use crate::loss::{LossKind, one_hot};
use crate::net::Relaxed;
use crate::net::supernet::input_tensor;
use crate::ntk::grad_norm_sq_of;

pub use crate::space::ArchTable;

pub mod relax;

pub use relax::{relaxed_weights, relaxed_weights_host};

/// How the Hessian-vector product ∇αT̃ = 2·(∂²L/∂α∂θ)·v is differenced (see [`crate::nasi`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum FdScheme {
    /// [∇αL(θ+εv) − ∇αL(θ−εv)]/ε: error O(ε²), three forward/backward passes per step.
    Central,
    /// 2·[∇αL(θ+εv) − ∇αL(θ)]/ε, ∇αL(θ) taken from the pass that gives v: error O(ε), two
    /// passes per step.
    Forward,
}

impl fmt::Display for FdScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FdScheme::Central => "central",
            FdScheme::Forward => "forward",
        })
    }
}

/// What one NASI gradient evaluation leaves on the device, before any readback.
pub struct StepTensors {
    /// T̃ of the relaxed cell, `[1]`.
    pub trace: Tensor<1>,
    /// The mean cross-entropy L at θ₀, `[1]`.
    pub loss: Tensor<1>,
    /// ∇αT̃ at α = 0, `[rows, ops]` (NB201 `[6, 5]`, DARTS `[28, 8]`).
    pub grad_trace: Tensor<2>,
}

/// Host copy of [`StepTensors`].
#[derive(Clone, Debug, PartialEq)]
pub struct StepValues {
    /// T̃.
    pub trace: f32,
    /// L.
    pub loss: f32,
    /// ∇αT̃.
    pub grad_trace: ArchTable,
}

impl StepTensors {
    /// The three results in one `[2 + rows·ops]` tensor (T̃, L, then ∇αT̃ row-major) and the
    /// gradient's shape, so a step is read back in one transfer: on WebGPU each read-back is a
    /// buffer copy and a `mapAsync` round trip ([`StepValues::from_packed`] splits it).
    pub fn packed(self) -> (Tensor<1>, [usize; 2]) {
        let [rows, ops] = self.grad_trace.dims();
        let g = self.grad_trace.reshape([rows * ops]);
        (Tensor::cat(vec![self.trace, self.loss, g], 0), [rows, ops])
    }

    /// Reads the step back to the host (synchronous; on WebGPU use the async readback).
    pub fn read(self) -> StepValues {
        let (t, shape) = self.packed();
        StepValues::from_packed(t.into_data(), shape).expect("a packed step of f32 values")
    }
}

impl StepValues {
    /// Host values from one read-back of [`StepTensors::packed`] (`None` if it is not
    /// `2 + rows·ops` f32 values).
    pub fn from_packed(data: TensorData, [rows, ops]: [usize; 2]) -> Option<Self> {
        let v = data.try_to_vec::<f32>().ok()?;
        if v.len() != 2 + rows * ops {
            return None;
        }
        Some(StepValues {
            trace: v[0],
            loss: v[1],
            grad_trace: ArchTable::from_values(ops, v[2..].to_vec()),
        })
    }
}

/// The ingredients of one step: a batch, Gumbel noise and the relaxation's settings.
pub struct StepInput<'a> {
    /// Inputs and labels.
    pub batch: &'a Batch,
    /// Standard Gumbel noise `[rows, ops]` of the space.
    pub gumbel: &'a ArchTable,
    /// τ.
    pub tau: f64,
    /// Straight-through hard sample instead of the soft mixture.
    pub hard: bool,
    /// r: the perturbation is ε·v with ε = r/‖v‖.
    pub fd_radius: f64,
    /// Central (3 passes) or forward (2 passes) difference.
    pub fd_scheme: FdScheme,
    /// The loss L whose gradient norm is T̃ (eq. 12; cross-entropy unless diagnosing).
    pub loss: LossKind,
}

/// T̃ and ∇αT̃ at α = 0 for one batch and Gumbel sample: three forward and three backward passes
/// (one at θ₀ recording ReLU masks and giving v = ∇θL; two at θ₀ ± εv replaying them and giving
/// ∇αL). Returns tensors only: nothing is read back, so the browser can await the readback.
pub fn trace_and_alpha_grad<N: Relaxed>(
    net: &N,
    input: &StepInput,
    device: &Device,
) -> StepTensors {
    let dev = device.clone().autodiff();
    let classes = net.classes();
    let x = input_tensor(input.batch, device).autodiff();
    let onehot = one_hot(&input.batch.labels, classes, device);
    let choice = input.hard.then(|| input.gumbel.row_argmax());
    let alpha0 = Tensor::<2>::zeros(input.gumbel.shape(), &dev);

    // Pass 0: θ₀; record the ReLU masks. α is tracked only when the forward scheme needs ∇αL(θ₀).
    let forward = input.fd_scheme == FdScheme::Forward;
    let alpha_0 = if forward {
        tracked_alpha(&alpha0)
    } else {
        alpha0.clone()
    };
    let w0 = relaxed_weights(alpha_0.clone(), input.gumbel, input.tau, choice.as_deref());
    let mut tape = net.recording_tape();
    let gn = grad_norm_sq_of(input.loss, net.params(), onehot.clone(), |p| {
        net.forward_relaxed(p, x.clone(), w0.clone(), &mut tape)
    });
    let inv_norm = gn.trace.clone().sqrt().recip();
    let eps = inv_norm.mul_scalar(input.fd_radius);

    // Perturbed passes: θ₀ ± εv constant, α tracked, masks replayed.
    let grad_alpha_at = |sign: f64| {
        let params: Vec<Tensor<1>> = net
            .params()
            .iter()
            .zip(&gn.grad)
            .map(|(p, v)| (p.clone() + v.clone() * eps.clone().mul_scalar(sign)).autodiff())
            .collect();
        let alpha = tracked_alpha(&alpha0);
        let w = relaxed_weights(alpha.clone(), input.gumbel, input.tau, choice.as_deref());
        let mut replay = N::replay(&tape);
        let logits = net.forward_relaxed(&params, x.clone(), w, &mut replay);
        let loss = input.loss.of(logits, onehot.clone().autodiff());
        let grads = loss.backward();
        alpha.grad(&grads).expect("α is tracked")
    };
    let grad_trace = if forward {
        let gp = grad_alpha_at(1.0);
        let g0 = alpha_0.grad(&gn.grads).expect("α is tracked in pass 0");
        (gp - g0).mul_scalar(2.0) / eps.reshape([1, 1])
    } else {
        let (gp, gm) = both(|| grad_alpha_at(1.0), || grad_alpha_at(-1.0));
        (gp - gm) / eps.reshape([1, 1])
    };
    StepTensors {
        trace: gn.trace,
        loss: gn.loss,
        grad_trace,
    }
}

/// `(a(), b())`, natively on two threads at once. The two perturbed passes are independent
/// (separate autodiff graphs, read-only inputs) and each has stretches on one thread (autodiff
/// bookkeeping, burn's own ops, small tensors), so overlapping them keeps both cores busy
/// (−14…−20 % per central step, docs/performance.md). Each keeps its kernels on its own thread
/// ([`crate::kernels::serial`]: two passes on two cores need no rayon tasks inside, a further −5 %).
/// Each result is bit for bit the same as run alone. In the browser (one thread) they run one
/// after the other.
fn both<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    #[cfg(not(target_family = "wasm"))]
    {
        std::thread::scope(|s| {
            let first = s.spawn(|| crate::kernels::serial(a));
            let second = crate::kernels::serial(b);
            (first.join().expect("perturbed pass panicked"), second)
        })
    }
    #[cfg(target_family = "wasm")]
    {
        (a(), b())
    }
}

fn tracked_alpha(alpha0: &Tensor<2>) -> Tensor<2> {
    alpha0.clone().inner().autodiff().require_grad()
}

/// T̃ of a relaxed cell under `loss` with the ReLUs in `tape`'s mode, as an `f64` (for
/// brute-force checks).
pub fn relaxed_trace<N: Relaxed>(
    net: &N,
    batch: &Batch,
    weights: Tensor<2>,
    tape: &mut N::Tape,
    loss: LossKind,
    device: &Device,
) -> f64 {
    let x = input_tensor(batch, device).autodiff();
    let onehot = one_hot(&batch.labels, net.classes(), device);
    let gn = grad_norm_sq_of(loss, net.params(), onehot, |p| {
        net.forward_relaxed(p, x.clone(), weights.clone(), tape)
    });
    gn.trace.into_scalar::<f32>() as f64
}

/// The reward R = T̃ − μ·max(0, T̃ − ν) (eq. 8 with eq. 12's estimator).
pub fn reward(trace: f64, mu: f64, nu: Option<f64>) -> f64 {
    match nu {
        Some(nu) => trace - mu * (trace - nu).max(0.0),
        None => trace,
    }
}

/// ∇αR from ∇αT̃: (1 − μ·[T̃ > ν])·∇αT̃ (the penalty's subgradient is 0 at T̃ = ν).
pub fn reward_grad(grad_trace: &ArchTable, trace: f64, mu: f64, nu: Option<f64>) -> ArchTable {
    let factor = match nu {
        Some(nu) if trace > nu => 1.0 - mu,
        _ => 1.0,
    } as f32;
    grad_trace.map(|v| v * factor)
}

/// Frobenius norm of a `[rows, ops]` table (‖G_t‖ of eq. 18: over both DARTS cells at once).
pub fn frobenius_norm(t: &ArchTable) -> f64 {
    t.iter()
        .flatten()
        .map(|&v| (v as f64) * (v as f64))
        .sum::<f64>()
        .sqrt()
}

/// α* of eq. 18: Σ_t G_t / max_{s≤t}‖G_s‖, accumulated one step at a time, over a table of the
/// space's shape.
#[derive(Clone, Debug)]
pub struct AlphaAccumulator {
    sum: Vec<f64>,
    ops: usize,
    running_max: f64,
}

impl AlphaAccumulator {
    /// An empty sum over `[rows, ops]` (α* = 0).
    pub fn new([rows, ops]: [usize; 2]) -> Self {
        AlphaAccumulator {
            sum: vec![0.0; rows * ops],
            ops,
            running_max: 0.0,
        }
    }

    /// Adds G_t; returns max_{s≤t}‖G_s‖. A zero gradient (all steps so far zero) adds nothing.
    pub fn push(&mut self, g: &ArchTable) -> f64 {
        assert_eq!(
            (self.sum.len(), self.ops),
            (g.values().len(), g.ops()),
            "G_t has the accumulator's shape"
        );
        self.running_max = self.running_max.max(frobenius_norm(g));
        if self.running_max > 0.0 {
            for (s, &v) in self.sum.iter_mut().zip(g.values()) {
                *s += v as f64 / self.running_max;
            }
        }
        self.running_max
    }

    /// The current α*.
    pub fn alpha(&self) -> ArchTable {
        ArchTable::from_values(self.ops, self.sum.iter().map(|&v| v as f32).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_step_reads_back_as_the_three_results() {
        let d = crate::cpu_device();
        let g = ArchTable::from_fn(6, 5, |r, k| (r * 5 + k) as f32);
        let t = StepTensors {
            trace: Tensor::from_data(TensorData::new(vec![2.5f32], [1]), &d),
            loss: Tensor::from_data(TensorData::new(vec![0.75f32], [1]), &d),
            grad_trace: Tensor::from_data(TensorData::new(g.values().to_vec(), [6, 5]), &d),
        };
        let v = t.read();
        assert_eq!((v.trace, v.loss, &v.grad_trace), (2.5, 0.75, &g));
        let short = TensorData::new(vec![1.0f32; 5], [5]);
        assert_eq!(
            StepValues::from_packed(short, [6, 5]),
            None,
            "a wrong length is refused"
        );
    }

    #[test]
    fn reward_and_its_gradient_follow_the_penalty() {
        assert_eq!(reward(3.0, 2.0, Some(1.0)), 3.0 - 4.0);
        assert_eq!(reward(0.5, 2.0, Some(1.0)), 0.5);
        assert_eq!(reward(3.0, 2.0, None), 3.0);
        let g = ArchTable::from_fn(6, 5, |_, _| 1.0);
        assert_eq!(reward_grad(&g, 3.0, 2.0, Some(1.0))[0][0], -1.0);
        assert_eq!(reward_grad(&g, 0.5, 2.0, Some(1.0))[0][0], 1.0);
    }

    #[test]
    fn accumulator_normalises_by_the_running_max() {
        let mut acc = AlphaAccumulator::new([6, 5]);
        let mut g1 = ArchTable::zeros(6, 5);
        g1[0][0] = 2.0;
        let mut g2 = ArchTable::zeros(6, 5);
        g2[0][1] = 1.0;
        assert_eq!(acc.push(&g1), 2.0);
        assert_eq!(acc.push(&g2), 2.0);
        let a = acc.alpha();
        assert_eq!(a[0][0], 1.0);
        assert_eq!(a[0][1], 0.5);
        let p = a.softmax_rows();
        assert!((p[0].iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
