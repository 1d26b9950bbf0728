//! CPU kernels with their own backward for the supernet's hot ops (paper §3.3, NB201's cell):
//! the convolutions (`nor_conv_1x1`, `nor_conv_3x3`, the stem, the reduction blocks' stride-2
//! convs), a relaxed edge's mixture `Σ_k w_k·op_k(x)` (eq. 13) with its two batch norms as one
//! node ([`mixed_edge`]), the ReLU with a recorded mask (the frozen masks of the finite-difference
//! HVP), batch norm, and the 3×3 and 2×2 average pools. A NASI step runs them on every relaxed
//! edge, forward and backward, three times (eq. 12 and the finite-difference HVP of ∇α T̃), so
//! each one is a single pass over memory split over rayon's threads (burn flex's elementwise ops
//! run on the calling thread only), or kept on the calling thread inside [`serial`].
//!
//! burn flex's `conv2d` converts NCHW to NHWC, and its gradients go through burn's generic
//! fallbacks (a transposed convolution with col2im for ∇x, a convolution with the whole feature
//! map as its kernel for ∇W); forward plus both gradients on `[64, 16, 32, 32]` took ~4.8× as
//! long as PyTorch's oneDNN (docs/performance.md). Here all three are one GEMM per image (after
//! an im2col for 3×3), in NCHW, images split over threads:
//! * forward: `y_b[co, ho·wo] = W[co, ci·k²] × col(x_b)[ci·k², ho·wo]`;
//! * ∇x: stride 1, the same convolution of `dy` with `W` flipped in space and transposed in
//!   channels; stride 2, `Wᵀ × dy_b` folded back onto the pixels (col2im);
//! * ∇W: `Σ_b dy_b[co, ho·wo] × col(x_b)ᵀ[ho·wo, ci·k²]`, computed transposed (see
//!   [`w_backward`]).
//!
//! burn's backend-extension mechanism routes [`Kernels`] to flex, and to hand-written autodiff
//! nodes ([`burn::backend::Autodiff`]) whose backward passes call the gradient kernels. On any other backend
//! (WebGPU, CUDA) the public functions compose burn's own ops.

use burn::backend::DispatchDevice;
use burn::tensor::module::{avg_pool2d, conv2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions};
use burn::tensor::{DType, Tensor, TensorData};

mod autodiff;
mod ext;
mod flex;
pub(crate) mod raw;
#[cfg(test)]
mod tests;

// The layers, as in burn's `custom-cubecl-kernel` example: this file holds the public tensor ops
// with their fallbacks for other backends; `ext` the backend-extension trait; `flex` its flex
// implementation; `autodiff` the autodiff nodes; `raw` the slice kernels, one family per file.
pub use ext::Kernels;
pub use raw::par::serial;
use raw::pool::inverse_counts;

/// `x` `[b, ci, h, w]` convolved with `w` `[co, ci, k, k]`, padding k/2, no bias, for
/// (k, stride) ∈ {(1, 1), (3, 1), (3, 2)}, giving `[b, co, ⌊(h − 1)/stride⌋ + 1, ⌊(w −
/// 1)/stride⌋ + 1]`: NB201's `nor_conv_1x1` and `nor_conv_3x3`, the stem, and the reduction
/// blocks' convs. Differentiable in both.
pub fn conv(x: Tensor<4>, w: Tensor<4>, stride: usize) -> Tensor<4> {
    let [co, ci, k, _] = w.dims();
    assert!(
        matches!((k, stride), (1, 1) | (3, 1) | (3, 2)),
        "conv: {k}×{k} kernels with stride {stride} are not supported"
    );
    if on_flex(&x) {
        Tensor::from_dispatch(<burn::backend::Dispatch as Kernels>::conv(
            x.into_dispatch(),
            w.into_dispatch(),
            stride,
        ))
    } else if k == 1 {
        // One batched matmul `[1, co, ci] × [b, ci, h·w]` (cheaper than a 1×1 conv2d on GPUs too).
        let [b, _, h, wd] = x.dims();
        let y = w.reshape([1, co, ci]).matmul(x.reshape([b, ci, h * wd]));
        y.reshape([b, co, h, wd])
    } else {
        conv2d(x, w, None, options(k, stride))
    }
}

/// DARTS's depthwise convolution: `x` `[b, c, h, w]` with one k×k filter per channel `w`
/// `[c, 1, k, k]`, padding `dil·(k/2)` (k odd), giving `[b, c, ⌊(h − 1)/stride⌋ + 1, …]`: the
/// first stage of `sep_conv_3x3`/`5x5` (dil 1) and `dil_conv_3x3`/`5x5` (dil 2), stride 1 or 2.
/// Differentiable in both; on the CPU plane-by-plane loops ([`raw::depthwise`]), elsewhere burn's
/// grouped `conv2d`.
pub fn depthwise_conv(x: Tensor<4>, w: Tensor<4>, stride: usize, dil: usize) -> Tensor<4> {
    let ([_, c, _, _], [cw, one, k, _]) = (x.dims(), w.dims());
    assert!(
        c == cw && one == 1 && k % 2 == 1,
        "depthwise_conv: a [c, 1, k, k] filter per channel, k odd"
    );
    if on_flex(&x) {
        return Tensor::from_dispatch(<burn::backend::Dispatch as Kernels>::dwconv(
            x.into_dispatch(),
            w.into_dispatch(),
            stride,
            dil,
        ));
    }
    conv2d(x, w, None, dw_conv_options(k, c, stride, dil))
}

/// 2×2 mean with stride 2 of `x` `[b, c, h, w]` (h, w even), giving `[b, c, h/2, w/2]`: the
/// reduction blocks' shortcut before its 1×1 conv.
pub fn avg_pool_2x2(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if on_flex(&x) && h % 2 == 0 && w % 2 == 0 {
        return Tensor::from_dispatch(<burn::backend::Dispatch as Kernels>::avg2x2(
            x.into_dispatch(),
        ));
    }
    avg_pool2d(x, AvgPoolOptions::new([2, 2]))
}

/// NB201's `avg_pool_3x3` of `x` `[b, c, h, w]`: the 3×3 mean, stride 1, padding 1, padded
/// cells not counted (`count_include_pad=False`), giving `[b, c, h, w]`. A 3×3 box sum divided
/// by each pixel's count; burn flex's `avg_pool2d` backward is a scalar loop, ~5× slower.
pub fn avg_pool_3x3(x: Tensor<4>) -> Tensor<4> {
    if on_flex(&x) {
        return Tensor::from_dispatch(<burn::backend::Dispatch as Kernels>::avg3x3(
            x.into_dispatch(),
        ));
    }
    let [_, c, h, w] = x.dims();
    let dev = x.device();
    let inv = Tensor::<4>::from_data(TensorData::new(inverse_counts(h, w), [1, 1, h, w]), &dev);
    let ones = Tensor::<4>::ones([c, 1, 3, 3], &dev);
    conv2d(x, ones, None, depthwise_options(c)) * inv
}

/// A relaxed edge's mixture `Σᵢ wᵢ·xᵢ` (paper eq. 13's softmax-weighted sum of the edge's ops)
/// of four `[b, c, h, w]` op outputs with weights `w` `[4]` (`none` contributes nothing), giving
/// `[b, c, h, w]`. Differentiable in all five; on the CPU one fused pass each way.
pub fn mix(xs: [Tensor<4>; 4], w: Tensor<1>) -> Tensor<4> {
    if on_flex(&xs[0]) {
        let [a, b, c, d] = xs.map(Tensor::into_dispatch);
        return Tensor::from_dispatch(<burn::backend::Dispatch as Kernels>::mix4(
            a,
            b,
            c,
            d,
            w.into_dispatch(),
        ));
    }
    xs.into_iter()
        .enumerate()
        .map(|(i, x)| x * w.clone().narrow(0, i, 1).reshape([1, 1, 1, 1]))
        .reduce(|a, b| a + b)
        .expect("four terms")
}

/// A relaxed edge of a batch-normed supernet (eq. 13 with NB201's ReLU-conv-BN ops): `w[0]·x +
/// w[1]·BN(y1) + w[2]·BN(y3) + w[3]·p` for the edge input `x`, its two conv outputs `y1`, `y3`
/// (before batch norm) and its 3×3 mean `p`, all `[b, c, h, w]`, with `w` `[4]` (the softmax
/// weights of skip, 1×1 conv, 3×3 conv, pool; `none` contributes nothing), giving `[b, c, h, w]`.
/// The same value and gradients as [`mix`] of [`batch_norm`]s, but on the CPU the normalised
/// convs are never stored: forward, one pass for each conv's statistics and one for the sum;
/// backward, one pass for every reduction (∇w and both norms' means) and one per input gradient
/// (26 passes over an edge-sized tensor instead of 40 for the separate ops, forward and backward;
/// docs/performance.md).
pub fn mixed_edge(
    x: Tensor<4>,
    y1: Tensor<4>,
    y3: Tensor<4>,
    p: Tensor<4>,
    w: Tensor<1>,
) -> Tensor<4> {
    if on_flex(&x) {
        let [x, y1, y3, p] = [x, y1, y3, p].map(Tensor::into_dispatch);
        return Tensor::from_dispatch(<burn::backend::Dispatch as Kernels>::edge(
            x,
            y1,
            y3,
            p,
            w.into_dispatch(),
        ));
    }
    mix([x, batch_norm(y1), batch_norm(y3), p], w)
}

/// The 3×3 max pool's (padding 1, `stride`) argmax positions in each plane of `x` `[b, c, h,
/// w]`, `r·w + c` as floats `[b, c, ho, wo]`, untracked, on the CPU only (elsewhere burn's
/// `max_pool2d_with_indices` serves): what a recorded DARTS max pool replays in NASI's
/// perturbed passes through [`pick`] ([`crate::net::darts::PoolTape`]).
pub fn max_pool_argmax(x: &Tensor<4>, stride: usize) -> Tensor<4> {
    assert!(on_flex(x), "max_pool_argmax: a CPU kernel");
    Tensor::from_dispatch(<burn::backend::Dispatch as Kernels>::max3x3_argmax(
        x.clone().detach().into_dispatch(),
        stride,
    ))
}

/// `x` `[b, c, h, w]` read at the positions `at` `[b, c, ho, wo]` of [`max_pool_argmax`]
/// (differentiable in `x`: the gradient is added back at the positions), giving `[b, c, ho,
/// wo]`: a max pool with its argmax given. CPU only, as [`max_pool_argmax`].
pub fn pick(x: Tensor<4>, at: Tensor<4>) -> Tensor<4> {
    assert!(
        on_flex(&x),
        "pick: the positions come from max_pool_argmax, on the CPU"
    );
    Tensor::from_dispatch(<burn::backend::Dispatch as Kernels>::pick(
        x.into_dispatch(),
        at.into_dispatch(),
    ))
}

/// The ReLU mask `1[x > 0]` of `x` `[b, c, h, w]` as 0/1 floats, untracked: what a recorded
/// ReLU replays in NASI's perturbed passes ([`crate::net::supernet::ReluTape`]).
pub fn relu_mask(x: &Tensor<4>) -> Tensor<4> {
    let x = x.clone().detach();
    if on_flex(&x) {
        return Tensor::from_dispatch(<burn::backend::Dispatch as Kernels>::positive(
            x.into_dispatch(),
        ));
    }
    x.greater_elem(0.0).float()
}

/// `x ⊙ m` for an untracked mask `m` (both `[b, c, h, w]`), differentiable in `x` only
/// (∇x = dy ⊙ m): a ReLU with its mask given.
pub fn mask_mul(x: Tensor<4>, m: Tensor<4>) -> Tensor<4> {
    if on_flex(&x) {
        return Tensor::from_dispatch(<burn::backend::Dispatch as Kernels>::mask_mul(
            x.into_dispatch(),
            m.into_dispatch(),
        ));
    }
    x * m
}

/// Batch norm with batch statistics and no affine parameters (ε = 1e-5, biased variance, as in
/// PyTorch's training mode) of `x` `[b, c, h, w]`, giving `[b, c, h, w]`.
pub fn batch_norm(x: Tensor<4>) -> Tensor<4> {
    if on_flex(&x) {
        return Tensor::from_dispatch(<burn::backend::Dispatch as Kernels>::norm(
            x.into_dispatch(),
        ));
    }
    // Per-channel reductions over a `[b, c, h·w]` view (burn's `batch_norm_train` transposes to
    // channel-first twice per pass).
    let [b, c, h, w] = x.dims();
    let n = (b * h * w) as f64;
    let x = x.reshape([b, c, h * w]);
    let mean = x.clone().sum_dim(2).sum_dim(0).div_scalar(n);
    let centred = x - mean;
    let var = (centred.clone() * centred.clone())
        .sum_dim(2)
        .sum_dim(0)
        .div_scalar(n);
    (centred * var.add_scalar(1e-5).sqrt().recip()).reshape([b, c, h, w])
}

/// Whether `x` lives on flex (with or without autodiff), the backend the kernels are written for.
pub(crate) fn on_flex(x: &Tensor<4>) -> bool {
    let device = x.device().as_dispatch().clone().inner();
    matches!(device, DispatchDevice::Flex(_)) && x.dtype() == DType::F32
}

/// Stride 1, padding 1, one group per channel: the box sum as a depthwise 3×3 conv with ones.
pub(crate) fn depthwise_options(channels: usize) -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], channels)
}

/// A depthwise k×k convolution's options: padding `dil·(k/2)`, one group per channel.
pub(crate) fn dw_conv_options(k: usize, c: usize, stride: usize, dil: usize) -> ConvOptions<2> {
    let pad = dil * (k / 2);
    ConvOptions::new([stride; 2], [pad; 2], [dil; 2], c)
}

/// Padding k/2, no dilation, one group.
pub(crate) fn options(k: usize, stride: usize) -> ConvOptions<2> {
    ConvOptions::new([stride, stride], [k / 2, k / 2], [1, 1], 1)
}
