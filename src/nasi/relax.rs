//! The relaxation of a cell (paper eq. 13): Gumbel-softmax op weights from logits α and Gumbel
//! noise drawn on the host, soft or straight-through hard.

use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};

use crate::space::{ArchTable, Genotype, NUM_EDGES, NUM_OPS};

/// The relaxed cell's `[6, 5]` op weights from logits α `[6, 5]` and Gumbel noise g (eq. 13):
/// soft: w = softmax((α + g)/τ) per edge; hard: the one-hot of argmax(α + g) in the forward pass
/// with the soft weights' gradient (straight-through), where `hard_choice` is that argmax,
/// decided on the host.
pub fn relaxed_weights(
    alpha: Tensor<2>,
    gumbel: &ArchTable,
    tau: f64,
    hard_choice: Option<&Genotype>,
) -> Tensor<2> {
    let dev = alpha.device();
    let g = Tensor::<2>::from_data(TensorData::new(gumbel.concat(), [NUM_EDGES, NUM_OPS]), &dev);
    let soft = softmax((alpha + g).div_scalar(tau), 1);
    match hard_choice {
        None => soft,
        Some(choice) => {
            let mut h = vec![0f32; NUM_EDGES * NUM_OPS];
            for (e, op) in choice.ops.iter().enumerate() {
                h[e * NUM_OPS + op.index()] = 1.0;
            }
            let hard = Tensor::<2>::from_data(TensorData::new(h, [NUM_EDGES, NUM_OPS]), &dev);
            hard - soft.clone().detach() + soft
        }
    }
}

/// Host copy of [`relaxed_weights`] at α = 0 (what the step's relaxed cell looked like), `[6][5]`.
pub fn relaxed_weights_host(gumbel: &ArchTable, tau: f64, hard: bool) -> ArchTable {
    if hard {
        let g = Genotype::argmax(gumbel);
        return std::array::from_fn(|e| {
            std::array::from_fn(|k| (g.ops[e].index() == k) as u8 as f32)
        });
    }
    softmax_rows(&gumbel.map(|r| r.map(|v| (v as f64 / tau) as f32)))
}

/// Row-wise softmax of a `[6][5]` table (op probabilities per edge).
pub fn softmax_rows(t: &ArchTable) -> ArchTable {
    t.map(|row| {
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e = row.map(|v| ((v - m) as f64).exp());
        let s: f64 = e.iter().sum();
        e.map(|v| (v / s) as f32)
    })
}
