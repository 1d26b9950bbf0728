//! The loss of the estimator (paper eq. 12's L): mean cross-entropy against one-hot targets.
//! NASI is label-agnostic, so the targets are usually uniformly random labels.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};

/// Mean cross-entropy of logits `[b, k]` against one-hot targets `[b, k]` (a `[1]` tensor).
pub fn cross_entropy(logits: Tensor<2>, onehot: Tensor<2>) -> Tensor<1> {
    let n = logits.dims()[0] as f64;
    (log_softmax(logits, 1) * onehot).sum().div_scalar(-n)
}

/// One-hot targets `[b, classes]` for `labels`.
pub fn one_hot(labels: &[usize], classes: usize, device: &Device) -> Tensor<2> {
    let mut v = vec![0f32; labels.len() * classes];
    for (i, &y) in labels.iter().enumerate() {
        v[i * classes + y] = 1.0;
    }
    Tensor::from_data(TensorData::new(v, [labels.len(), classes]), device)
}
