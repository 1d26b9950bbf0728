//! The relaxation of a cell (paper eq. 13): Gumbel-softmax op weights from logits α and Gumbel
//! noise drawn on the host, soft or straight-through hard.

use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};

use crate::space::ArchTable;

/// The relaxed cell's `[rows, ops]` op weights from logits α and Gumbel noise g of the same
/// shape (eq. 13): soft: w = softmax((α + g)/τ) per row; hard: the one-hot of argmax(α + g) in
/// the forward pass with the soft weights' gradient (straight-through), where `hard_choice` is
/// that argmax per row ([`ArchTable::row_argmax`] of g at α = 0), decided on the host. The hard
/// sample is this per-row argmax in every space, whatever the space's derivation rule.
pub fn relaxed_weights(
    alpha: Tensor<2>,
    gumbel: &ArchTable,
    tau: f64,
    hard_choice: Option<&[usize]>,
) -> Tensor<2> {
    let dev = alpha.device();
    let shape = gumbel.shape();
    let g = Tensor::<2>::from_data(TensorData::new(gumbel.values().to_vec(), shape), &dev);
    let soft = softmax((alpha + g).div_scalar(tau), 1);
    match hard_choice {
        None => soft,
        Some(choice) => {
            let hard = one_hot_rows(choice, shape[1]);
            let hard = Tensor::<2>::from_data(TensorData::new(hard.values().to_vec(), shape), &dev);
            hard - soft.clone().detach() + soft
        }
    }
}

/// The table with a 1 at `choice[r]` in each row `r` and zeros elsewhere.
fn one_hot_rows(choice: &[usize], ops: usize) -> ArchTable {
    ArchTable::from_fn(choice.len(), ops, |r, k| (choice[r] == k) as u8 as f32)
}

/// Host copy of [`relaxed_weights`] at α = 0 (what the step's relaxed cell looked like).
pub fn relaxed_weights_host(gumbel: &ArchTable, tau: f64, hard: bool) -> ArchTable {
    if hard {
        return one_hot_rows(&gumbel.row_argmax(), gumbel.ops());
    }
    gumbel.map(|v| (v as f64 / tau) as f32).softmax_rows()
}
