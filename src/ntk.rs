//! Neural Tangent Kernel trace estimators (paper §3.2).
//!
//! The NTK of a network f at initialisation is Θ(x, x') = ∇θf(x)·∇θf(x')ᵀ. NASI maximises its
//! trace, which bounds how fast gradient descent decreases the training loss (eq. 5–7). Two ways
//! to get it:
//! * [`grad_norm_sq`]: NASI's estimator T̃ = ‖∇θ L(minibatch)‖² (eq. 12), one forward and one
//!   backward pass. For cross-entropy it satisfies T̃ ≤ 2·tr(Θ)/b (eq. 10–11, with
//!   ‖softmax − onehot‖² ≤ 2).
//! * [`exact_ntk`]: the `[b, b]` matrix Θᵢⱼ = Σₖ ⟨∇θfₖ(xᵢ), ∇θfₖ(xⱼ)⟩ from b·K per-output
//!   gradients (each needs its own forward, since burn's autodiff does not retain graphs), whose
//!   trace is the exact tr(Θ). For small batches and networks only.
//!
//! Both take the network as a closure `params ↦ logits [b, K]`, so that any model (the supernet,
//! a standalone cell network, a linear model in tests) can be measured.

use burn::tensor::{Gradients, Tensor};

use crate::loss::LossKind;

/// Makes a tracked copy of each parameter (a fresh autodiff leaf that retains its gradient).
pub fn tracked(params: &[Tensor<1>]) -> Vec<Tensor<1>> {
    params
        .iter()
        .map(|p| p.clone().inner().autodiff().require_grad())
        .collect()
}

/// The gradient pieces of [`grad_norm_sq`].
pub struct GradNorm {
    /// T̃ = ‖∇θL‖², a `[1]` tensor.
    pub trace: Tensor<1>,
    /// L (the mean cross-entropy unless another loss was asked for), a `[1]` tensor.
    pub loss: Tensor<1>,
    /// v = ∇θL, one untracked tensor per parameter (zeros for unused parameters).
    pub grad: Vec<Tensor<1>>,
    /// The backward pass's gradients, for other tracked leaves of the graph (e.g. α).
    pub grads: Gradients,
}

/// NASI's NTK-trace estimator T̃ = ‖∇θ (1/b) Σᵢ CE(f(xᵢ), yᵢ)‖² (eq. 12).
///
/// `logits` maps tracked parameters to logits `[b, K]`; `onehot` is `[b, K]`.
pub fn grad_norm_sq(
    params: &[Tensor<1>],
    onehot: Tensor<2>,
    logits: impl FnMut(&[Tensor<1>]) -> Tensor<2>,
) -> GradNorm {
    grad_norm_sq_of(LossKind::CrossEntropy, params, onehot, logits)
}

/// [`grad_norm_sq`] of another loss: T̃ = ‖∇θ L‖² with L = `loss` of the logits `[b, K]`
/// against `onehot` `[b, K]` (the search's `--loss`, a diagnostic of eq. 12's choice of L).
pub fn grad_norm_sq_of(
    loss: LossKind,
    params: &[Tensor<1>],
    onehot: Tensor<2>,
    mut logits: impl FnMut(&[Tensor<1>]) -> Tensor<2>,
) -> GradNorm {
    let t = tracked(params);
    let loss = loss.of(logits(&t), onehot.autodiff());
    let grads = loss.backward();
    let grad: Vec<Tensor<1>> = t
        .iter()
        .map(|p| {
            p.grad(&grads)
                .unwrap_or_else(|| p.clone().inner().zeros_like())
        })
        .collect();
    let trace = sum_sq(&grad);
    GradNorm {
        trace,
        loss: loss.inner(),
        grad,
        grads,
    }
}

impl GradNorm {
    /// grad_norm's proxy Σ_l ‖∇θ_l L‖ over the parameter tensors (Abdelfattah et al., 2021),
    /// read back (one scalar per tensor).
    pub fn layer_norm_sum(&self) -> f64 {
        self.grad
            .iter()
            .map(|g| (g.clone().square().sum().into_scalar::<f32>() as f64).sqrt())
            .sum()
    }
}

/// Σ over tensors of the sum of squares, a `[1]` tensor.
pub fn sum_sq(v: &[Tensor<1>]) -> Tensor<1> {
    v.iter()
        .map(|g| g.clone().square().sum())
        .reduce(|a, b| a + b)
        .expect("at least one parameter")
}

/// The exact NTK `[b, b]`: Θᵢⱼ = Σₖ ⟨∇θfₖ(xᵢ), ∇θfₖ(xⱼ)⟩ summed over the K outputs; its trace
/// is Σᵢ Σₖ ‖∇θfₖ(xᵢ)‖².
///
/// `logits` maps tracked parameters to logits `[b, K]` of the whole batch (batch statistics
/// included, so ∇θfₖ(xᵢ) is the total derivative within the batch). Costs b·K forward and
/// backward passes.
pub fn exact_ntk(
    params: &[Tensor<1>],
    batch: usize,
    classes: usize,
    mut logits: impl FnMut(&[Tensor<1>]) -> Tensor<2>,
) -> Tensor<2> {
    let mut ntk: Option<Tensor<2>> = None;
    for k in 0..classes {
        let rows: Vec<Tensor<1>> = (0..batch)
            .map(|i| {
                let t = tracked(params);
                let out = logits(&t).slice([i..i + 1, k..k + 1]).sum();
                let grads = out.backward();
                let parts: Vec<Tensor<1>> = t
                    .iter()
                    .map(|p| {
                        p.grad(&grads)
                            .unwrap_or_else(|| p.clone().inner().zeros_like())
                    })
                    .collect();
                Tensor::cat(parts, 0)
            })
            .collect();
        let j: Tensor<2> = Tensor::stack(rows, 0);
        let gram = j.clone().matmul(j.transpose());
        ntk = Some(match ntk {
            Some(n) => n + gram,
            None => gram,
        });
    }
    ntk.expect("at least one class")
}

/// The NTK of the summed output, `[b, b]`: Θᵢⱼ = ⟨∇θ Σₖ fₖ(xᵢ), ∇θ Σₖ fₖ(xⱼ)⟩, the kernel whose
/// condition number TE-NAS (Chen, Gong & Wang, ICLR 2021) scores a network by (there κ = λ_max /
/// λ_min at initialisation correlates negatively with accuracy: a well-conditioned NTK trains
/// evenly along every direction, NASI's eq. 5 with all eigenvalues alike).
///
/// `logits` maps tracked parameters to logits `[b, K]` of the whole batch (batch statistics
/// included, as in [`exact_ntk`]). Costs b forward and backward passes (burn's autodiff does not
/// retain graphs), K times fewer than [`exact_ntk`].
pub fn summed_output_ntk(
    params: &[Tensor<1>],
    batch: usize,
    mut logits: impl FnMut(&[Tensor<1>]) -> Tensor<2>,
) -> Tensor<2> {
    let rows: Vec<Tensor<1>> = (0..batch)
        .map(|i| {
            let t = tracked(params);
            let f = logits(&t);
            let k = f.dims()[1];
            let out = f.slice([i..i + 1, 0..k]).sum();
            let grads = out.backward();
            let parts: Vec<Tensor<1>> = t
                .iter()
                .map(|p| {
                    p.grad(&grads)
                        .unwrap_or_else(|| p.clone().inner().zeros_like())
                })
                .collect();
            Tensor::cat(parts, 0)
        })
        .collect();
    let j: Tensor<2> = Tensor::stack(rows, 0);
    j.clone().matmul(j.transpose())
}

/// Eigenvalues of a symmetric matrix (row-major `n×n`), ascending, by cyclic Jacobi rotations.
/// Used on the host for the small `[b, b]` NTK (spectrum and condition number).
pub fn symmetric_eigenvalues(m: &[f64], n: usize) -> Vec<f64> {
    let mut a = m.to_vec();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let scale: f64 = a.iter().map(|v| v * v).sum::<f64>().max(f64::MIN_POSITIVE);
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut ev: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    ev.sort_by(f64::total_cmp);
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_matches_a_known_spectrum() {
        // [[2,1,0],[1,2,0],[0,0,5]] has eigenvalues 1, 3, 5.
        let ev = symmetric_eigenvalues(&[2.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 5.0], 3);
        for (a, b) in ev.iter().zip([1.0, 3.0, 5.0]) {
            assert!((a - b).abs() < 1e-10, "{ev:?}");
        }
    }
}
