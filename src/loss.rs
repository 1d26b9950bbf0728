//! The loss of the estimator (paper eq. 12's L): mean cross-entropy against one-hot targets, or
//! (a diagnostic) mean squared error. NASI is label-agnostic, so the targets are usually
//! uniformly random labels.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Which loss L the trace estimator T̃ = ‖∇θL‖² differentiates (eq. 12).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
pub enum LossKind {
    /// Mean cross-entropy, the paper's: its ∇θL weighs each sample by softmax − one-hot.
    #[default]
    #[serde(rename = "ce")]
    #[cfg_attr(not(target_family = "wasm"), value(name = "ce"))]
    CrossEntropy,
    /// Mean squared error over the `[b, k]` logits against the one-hot targets (PyTorch's
    /// `MSELoss`, mean over all b·k entries): the loss under which the NTK governs training
    /// exactly (the paper's §3.1 motivation).
    #[serde(rename = "mse")]
    #[cfg_attr(not(target_family = "wasm"), value(name = "mse"))]
    Mse,
}

impl std::fmt::Display for LossKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LossKind::CrossEntropy => "ce",
            LossKind::Mse => "mse",
        })
    }
}

impl LossKind {
    /// This loss of logits `[b, k]` against one-hot targets `[b, k]` (a `[1]` tensor).
    pub fn of(self, logits: Tensor<2>, onehot: Tensor<2>) -> Tensor<1> {
        match self {
            LossKind::CrossEntropy => cross_entropy(logits, onehot),
            LossKind::Mse => mse(logits, onehot),
        }
    }
}

/// Mean cross-entropy of logits `[b, k]` against one-hot targets `[b, k]` (a `[1]` tensor).
pub fn cross_entropy(logits: Tensor<2>, onehot: Tensor<2>) -> Tensor<1> {
    let n = logits.dims()[0] as f64;
    (log_softmax(logits, 1) * onehot).sum().div_scalar(-n)
}

/// Mean over all `b·k` entries of (logits − one-hot)², logits and targets `[b, k]` (a `[1]`
/// tensor).
pub fn mse(logits: Tensor<2>, onehot: Tensor<2>) -> Tensor<1> {
    let [b, k] = logits.dims();
    (logits - onehot).square().sum().div_scalar((b * k) as f64)
}

/// One-hot targets `[b, classes]` for `labels`.
pub fn one_hot(labels: &[usize], classes: usize, device: &Device) -> Tensor<2> {
    let mut v = vec![0f32; labels.len() * classes];
    for (i, &y) in labels.iter().enumerate() {
        v[i * classes + y] = 1.0;
    }
    Tensor::from_data(TensorData::new(v, [labels.len(), classes]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mse_is_the_mean_squared_difference() {
        let d = crate::cpu_device();
        let z = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -2.0, 0.5, 3.0], [2, 2]), &d);
        let y = one_hot(&[0, 1], 2, &d);
        // (0² + 2² + 0.5² + 2²) / 4
        let v = LossKind::Mse.of(z, y).into_scalar::<f32>();
        assert!((v - 8.25 / 4.0).abs() < 1e-6, "{v}");
    }
}
