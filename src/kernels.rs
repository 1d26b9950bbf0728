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
//! nodes ([`Autodiff`]) whose backward passes call the gradient kernels. On any other backend
//! (WebGPU, CUDA) the public functions compose burn's own ops.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, DispatchDevice, Flex, TensorMetadata, backend_extension,
    tensor::FloatTensor,
};
use burn::tensor::module::{avg_pool2d, conv2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions};
use burn::tensor::{DType, Slice, Tensor, TensorData};
use std::mem::MaybeUninit;

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

/// The ReLU mask `1[x > 0]` of `x` `[b, c, h, w]` as 0/1 floats, untracked: what a recorded
/// ReLU replays in NASI's perturbed passes ([`crate::supernet::ReluTape`]).
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

/// `1/count` per pixel of an `h × w` map for a 3×3 window that does not count padded cells,
/// `[h·w]` row-major.
pub fn inverse_counts(h: usize, w: usize) -> Vec<f32> {
    let count = |i: usize, n: usize| 3.0 - (i == 0) as u8 as f32 - (i + 1 == n) as u8 as f32;
    (0..h * w)
        .map(|k| 1.0 / (count(k / w, h) * count(k % w, w)))
        .collect()
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
fn on_flex(x: &Tensor<4>) -> bool {
    let device = x.device().as_dispatch().clone().inner();
    matches!(device, DispatchDevice::Flex(_)) && x.dtype() == DType::F32
}

/// Stride 1, padding 1, one group per channel: the box sum as a depthwise 3×3 conv with ones.
fn depthwise_options(channels: usize) -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], channels)
}

/// Padding k/2, no dilation, one group.
fn options(k: usize, stride: usize) -> ConvOptions<2> {
    ConvOptions::new([stride, stride], [k / 2, k / 2], [1, 1], 1)
}

/// The kernels of this module with their gradients, as a burn backend extension.
///
/// The convolutions' default bodies compose burn's own ops (any backend); the other methods have
/// none, since the public functions call the extension only on flex. Flex implements them with
/// this module's host kernels, and autodiff with nodes that call them in their backward passes.
#[backend_extension(Flex, Autodiff)]
pub trait Kernels: Backend {
    /// [`conv`]: `x` `[b, ci, h, w]`, `w` `[co, ci, k, k]` → `[b, co, ho, wo]` (padding k/2).
    fn conv(x: FloatTensor<Self>, w: FloatTensor<Self>, stride: usize) -> FloatTensor<Self> {
        let k = w.shape()[2];
        Self::conv2d(x, w, None, options(k, stride))
    }

    /// ∇x of [`Kernels::conv`]: `x` `[b, ci, h, w]` (for its shape), `dy` `[b, co, ho, wo]`,
    /// `w` `[co, ci, k, k]` → `[b, ci, h, w]`.
    fn conv_x_backward(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: usize,
    ) -> FloatTensor<Self> {
        let k = w.shape()[2];
        Self::conv2d_x_backward(x, w, dy, options(k, stride))
    }

    /// ∇W of [`Kernels::conv`]: `x` `[b, ci, h, w]`, `w` `[co, ci, k, k]` (for its shape), `dy`
    /// `[b, co, ho, wo]` → `[co, ci, k, k]`, summed over the batch.
    fn conv_w_backward(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        stride: usize,
    ) -> FloatTensor<Self> {
        let k = w.shape()[2];
        Self::conv2d_weight_backward(x, w, dy, options(k, stride))
    }

    /// [`avg_pool_2x2`]: `x` `[b, c, h, w]` → `[b, c, h/2, w/2]` (h, w even).
    fn avg2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The adjoint of [`Kernels::avg2x2`] (its ∇x): `dy` `[b, c, h/2, w/2]` → `[b, c, h, w]`,
    /// each value spread as a quarter over its 2×2 block.
    fn avg2x2_transpose(dy: FloatTensor<Self>) -> FloatTensor<Self>;

    /// [`avg_pool_3x3`]: `x` `[b, c, h, w]` → `[b, c, h, w]`, the 3×3 box sum (zero padding)
    /// divided by each pixel's count of real cells.
    fn avg3x3(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The adjoint of [`Kernels::avg3x3`] applied to `dy` `[b, c, h, w]` (its ∇x): the box sum
    /// of `dy / count` (the box sum is symmetric, so it is its own adjoint).
    fn avg3x3_transpose(dy: FloatTensor<Self>) -> FloatTensor<Self>;

    /// [`mix`]: `Σᵢ w[i]·xᵢ` of four `[b, c, h, w]` tensors with `w` `[4]`.
    fn mix4(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d: FloatTensor<Self>,
        w: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// ∇w of [`Kernels::mix4`]: `[⟨dy, a⟩, ⟨dy, b⟩, ⟨dy, c⟩, ⟨dy, d⟩]` `[4]` (sums in f64).
    fn mix4_dots(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `dy · w[i]` for `dy` `[b, c, h, w]` and `w` `[4]`: ∇xᵢ of [`Kernels::mix4`].
    fn scale_by(dy: FloatTensor<Self>, w: FloatTensor<Self>, i: usize) -> FloatTensor<Self>;

    /// [`relu_mask`]: `1[x > 0]` of `x` `[b, c, h, w]` as 0/1 floats (not differentiable).
    fn positive(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// [`mask_mul`]: `x ⊙ m`, both `[b, c, h, w]`, differentiable in `x` only.
    fn mask_mul(x: FloatTensor<Self>, m: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Batch norm with batch statistics, no affine parameters, ε = 1e-5 and biased variance
    /// (PyTorch's training mode): `x` `[b, c, h, w]` → `x̂` `[b, c, h, w]`.
    fn norm(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// ∇x of [`Kernels::norm`] at `x` for the output gradient `dy` (both `[b, c, h, w]`):
    /// `(dy − mean(dy) − x̂·mean(dy·x̂)) / σ`, the means per channel over batch and pixels.
    fn norm_backward(x: FloatTensor<Self>, dy: FloatTensor<Self>) -> FloatTensor<Self>;

    /// [`mixed_edge`]: `w[0]·x + w[1]·BN(y1) + w[2]·BN(y3) + w[3]·p`, all `[b, c, h, w]`, `w`
    /// `[4]`.
    fn edge(
        x: FloatTensor<Self>,
        y1: FloatTensor<Self>,
        y3: FloatTensor<Self>,
        p: FloatTensor<Self>,
        w: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// Batch statistics of `y` `[b, c, h, w]` per channel: `[c, 2]`, the mean and 1/√(var +
    /// 1e-5) (biased variance), as [`Kernels::norm`] uses them.
    fn norm_stats(y: FloatTensor<Self>) -> FloatTensor<Self>;

    /// [`Kernels::edge`] with the statistics `s1`, `s3` (`[c, 2]`, [`Kernels::norm_stats`]) of
    /// `y1` and `y3` given.
    #[allow(clippy::too_many_arguments)]
    fn edge_with(
        x: FloatTensor<Self>,
        y1: FloatTensor<Self>,
        y3: FloatTensor<Self>,
        p: FloatTensor<Self>,
        w: FloatTensor<Self>,
        s1: FloatTensor<Self>,
        s3: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The reductions of [`Kernels::edge`]'s backward for the output gradient `dy`, `[4 + 3c]`:
    /// ∇w = `[⟨dy, x⟩, ⟨dy, ŷ1⟩, ⟨dy, ŷ3⟩, ⟨dy, p⟩]` (ŷ the normalised conv outputs), then per
    /// channel `mean(dy)`, `mean(dy·ŷ1)`, `mean(dy·ŷ3)` over batch and pixels (sums in f64).
    #[allow(clippy::too_many_arguments)]
    fn edge_sums(
        x: FloatTensor<Self>,
        y1: FloatTensor<Self>,
        y3: FloatTensor<Self>,
        p: FloatTensor<Self>,
        s1: FloatTensor<Self>,
        s3: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// ∇y of [`Kernels::edge`] for its normed term `i` (1: `y` = y1, 2: `y` = y3, with its
    /// statistics `s`), given `sums` from [`Kernels::edge_sums`]: `w[i]·(dy − mean(dy) −
    /// ŷ·mean(dy·ŷ))/σ`, `[b, c, h, w]`.
    fn edge_norm_grad(
        y: FloatTensor<Self>,
        s: FloatTensor<Self>,
        sums: FloatTensor<Self>,
        w: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        i: usize,
    ) -> FloatTensor<Self>;
}

impl Kernels for Flex {
    fn conv(x: FlexTensor, w: FlexTensor, stride: usize) -> FlexTensor {
        let ([b, ci, h, wd], [co, _, k, _]) = (dims(&x), dims(&w));
        let d = [b, ci, co, h, wd, k, stride];
        let y = forward(slice(&x).as_ref(), slice(&w).as_ref(), d);
        flex(y, [b, co, out_len(h, k, stride), out_len(wd, k, stride)])
    }

    fn conv_x_backward(x: FlexTensor, dy: FlexTensor, w: FlexTensor, stride: usize) -> FlexTensor {
        let ([b, ci, h, wd], [co, _, k, _]) = (dims(&x), dims(&w));
        let d = [b, ci, co, h, wd, k, stride];
        let dx = x_backward(slice(&dy).as_ref(), slice(&w).as_ref(), d);
        flex(dx, [b, ci, h, wd])
    }

    fn conv_w_backward(x: FlexTensor, w: FlexTensor, dy: FlexTensor, stride: usize) -> FlexTensor {
        let ([b, ci, h, wd], [co, _, k, _]) = (dims(&x), dims(&w));
        let d = [b, ci, co, h, wd, k, stride];
        let dw = w_backward(slice(&x).as_ref(), slice(&dy).as_ref(), d);
        flex(dw, [co, ci, k, k])
    }

    fn avg2x2(x: FlexTensor) -> FlexTensor {
        let [b, c, h, wd] = dims(&x);
        let y = pool2(slice(&x).as_ref(), [b * c, h, wd], false);
        flex(y, [b, c, h / 2, wd / 2])
    }

    fn avg2x2_transpose(dy: FlexTensor) -> FlexTensor {
        let [b, c, h, wd] = dims(&dy);
        let dx = pool2(slice(&dy).as_ref(), [b * c, 2 * h, 2 * wd], true);
        flex(dx, [b, c, 2 * h, 2 * wd])
    }

    fn avg3x3(x: FlexTensor) -> FlexTensor {
        let [b, c, h, wd] = dims(&x);
        let y = box_mean(slice(&x).as_ref(), [b * c, h, wd], false);
        flex(y, [b, c, h, wd])
    }

    fn avg3x3_transpose(dy: FlexTensor) -> FlexTensor {
        let [b, c, h, wd] = dims(&dy);
        let dx = box_mean(slice(&dy).as_ref(), [b * c, h, wd], true);
        flex(dx, [b, c, h, wd])
    }

    fn mix4(
        a: FlexTensor,
        b: FlexTensor,
        c: FlexTensor,
        d: FlexTensor,
        w: FlexTensor,
    ) -> FlexTensor {
        let shape = dims(&a);
        let w = weights(&w);
        let (a, b, c, d) = (slice(&a), slice(&b), slice(&c), slice(&d));
        let y = mix_forward([a.as_ref(), b.as_ref(), c.as_ref(), d.as_ref()], w);
        flex(y, shape)
    }

    fn mix4_dots(
        a: FlexTensor,
        b: FlexTensor,
        c: FlexTensor,
        d: FlexTensor,
        dy: FlexTensor,
    ) -> FlexTensor {
        let (a, b, c, d, dy) = (slice(&a), slice(&b), slice(&c), slice(&d), slice(&dy));
        let dots = mix_dots(
            [a.as_ref(), b.as_ref(), c.as_ref(), d.as_ref()],
            dy.as_ref(),
        );
        FlexTensor::from_data(TensorData::new(dots.map(|v| v as f32).to_vec(), [4]))
    }

    fn scale_by(dy: FlexTensor, w: FlexTensor, i: usize) -> FlexTensor {
        let (shape, k) = (dims(&dy), weights(&w)[i]);
        flex(map(&[slice(&dy).as_ref()], |[g]| g * k), shape)
    }

    fn positive(x: FlexTensor) -> FlexTensor {
        let shape = dims(&x);
        flex(
            map(&[slice(&x).as_ref()], |[v]| (v > 0.0) as u8 as f32),
            shape,
        )
    }

    fn mask_mul(x: FlexTensor, m: FlexTensor) -> FlexTensor {
        let shape = dims(&x);
        flex(
            map(&[slice(&x).as_ref(), slice(&m).as_ref()], |[v, k]| v * k),
            shape,
        )
    }

    fn norm(x: FlexTensor) -> FlexTensor {
        let [b, c, h, wd] = dims(&x);
        flex(
            bn_forward(slice(&x).as_ref(), [b, c, h * wd]),
            [b, c, h, wd],
        )
    }

    fn norm_backward(x: FlexTensor, dy: FlexTensor) -> FlexTensor {
        let [b, c, h, wd] = dims(&x);
        let dx = bn_backward(slice(&x).as_ref(), slice(&dy).as_ref(), [b, c, h * wd]);
        flex(dx, [b, c, h, wd])
    }

    fn edge(
        x: FlexTensor,
        y1: FlexTensor,
        y3: FlexTensor,
        p: FlexTensor,
        w: FlexTensor,
    ) -> FlexTensor {
        let (s1, s3) = (Self::norm_stats(y1.clone()), Self::norm_stats(y3.clone()));
        Self::edge_with(x, y1, y3, p, w, s1, s3)
    }

    fn norm_stats(y: FlexTensor) -> FlexTensor {
        let [b, c, h, wd] = dims(&y);
        let stats = bn_stats(slice(&y).as_ref(), [b, c, h * wd]);
        let flat = stats.into_iter().flat_map(|(m, i)| [m, i]).collect();
        FlexTensor::from_data(TensorData::new::<f32, _>(flat, [c, 2]))
    }

    fn edge_with(
        x: FlexTensor,
        y1: FlexTensor,
        y3: FlexTensor,
        p: FlexTensor,
        w: FlexTensor,
        s1: FlexTensor,
        s3: FlexTensor,
    ) -> FlexTensor {
        let [b, c, h, wd] = dims(&x);
        let (x, y1, y3, p) = (slice(&x), slice(&y1), slice(&y3), slice(&p));
        let out = edge_forward(
            [x.as_ref(), y1.as_ref(), y3.as_ref(), p.as_ref()],
            weights(&w),
            [&stats(&s1), &stats(&s3)],
            [b, c, h * wd],
        );
        flex(out, [b, c, h, wd])
    }

    fn edge_sums(
        x: FlexTensor,
        y1: FlexTensor,
        y3: FlexTensor,
        p: FlexTensor,
        s1: FlexTensor,
        s3: FlexTensor,
        dy: FlexTensor,
    ) -> FlexTensor {
        let [b, c, h, wd] = dims(&x);
        let (x, y1, y3, p, dy) = (slice(&x), slice(&y1), slice(&y3), slice(&p), slice(&dy));
        let sums = edge_reductions(
            [x.as_ref(), y1.as_ref(), y3.as_ref(), p.as_ref()],
            [&stats(&s1), &stats(&s3)],
            dy.as_ref(),
            [b, c, h * wd],
        );
        let n = sums.len();
        FlexTensor::from_data(TensorData::new(sums, [n]))
    }

    fn edge_norm_grad(
        y: FlexTensor,
        s: FlexTensor,
        sums: FlexTensor,
        w: FlexTensor,
        dy: FlexTensor,
        i: usize,
    ) -> FlexTensor {
        let [b, c, h, wd] = dims(&y);
        let sums = slice(&sums);
        let dx = edge_norm_backward(
            slice(&y).as_ref(),
            &stats(&s),
            sums.as_ref(),
            weights(&w)[i],
            i,
            slice(&dy).as_ref(),
            [b, c, h * wd],
        );
        flex(dx, [b, c, h, wd])
    }
}

/// The autodiff node: forward on the inner backend, backward by the two gradient kernels, each
/// only for the inputs that need a gradient (the ± passes of the NASI step hold the weights as
/// constants and need ∇x only).
impl<B: Backend + Kernels, C: CheckpointStrategy> Kernels for Autodiff<B, C> {
    fn conv(x: FloatTensor<Self>, w: FloatTensor<Self>, stride: usize) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvNode {
            stride: usize,
        }

        impl<B: Backend + Kernels> Backward<B, 2> for ConvNode {
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [node_x, node_w] = ops.parents;
                let dy = grads.consume::<B>(&ops.node);
                let (x, w) = ops.state;
                if let Some(node) = node_w {
                    let dw = B::conv_w_backward(x.clone(), w.clone(), dy.clone(), self.stride);
                    grads.register::<B>(node.id, dw);
                }
                if let Some(node) = node_x {
                    let dx = B::conv_x_backward(x, dy, w, self.stride);
                    grads.register::<B>(node.id, dx);
                }
            }
        }

        let prep = ConvNode { stride }
            .prepare::<C>([x.node(), w.node()])
            .compute_bound()
            .stateful();
        let (x, w) = (Self::inner(x), Self::inner(w));
        match prep {
            OpsKind::Tracked(prep) => {
                let y = B::conv(x.clone(), w.clone(), stride);
                prep.finish((x, w), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv(x, w, stride)),
        }
    }

    fn avg2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        linear::<B, C>(x, B::avg2x2, B::avg2x2_transpose)
    }

    fn avg2x2_transpose(dy: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::avg2x2_transpose(Self::inner(dy)))
    }

    fn avg3x3(x: FloatTensor<Self>) -> FloatTensor<Self> {
        linear::<B, C>(x, B::avg3x3, B::avg3x3_transpose)
    }

    /// The value only (not tracked), as for every backward kernel below.
    fn avg3x3_transpose(dy: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::avg3x3_transpose(Self::inner(dy)))
    }

    fn mix4(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d: FloatTensor<Self>,
        w: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct MixNode;

        impl<B: Backend + Kernels> Backward<B, 5> for MixNode {
            /// The four terms and the weights.
            type State = ([FloatTensor<B>; 4], FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 5>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let dy = grads.consume::<B>(&ops.node);
                let ([a, b, c, d], w) = ops.state;
                let [pa, pb, pc, pd, pw] = ops.parents;
                if let Some(node) = pw {
                    grads.register::<B>(node.id, B::mix4_dots(a, b, c, d, dy.clone()));
                }
                for (i, parent) in [pa, pb, pc, pd].into_iter().enumerate() {
                    if let Some(node) = parent {
                        grads.register::<B>(node.id, B::scale_by(dy.clone(), w.clone(), i));
                    }
                }
            }
        }

        let prep = MixNode
            .prepare::<C>([a.node(), b.node(), c.node(), d.node(), w.node()])
            .compute_bound()
            .stateful();
        let xs = [a, b, c, d].map(Self::inner);
        let w = Self::inner(w);
        let [a, b, c, d] = xs.clone();
        let y = B::mix4(a, b, c, d, w.clone());
        match prep {
            OpsKind::Tracked(prep) => prep.finish((xs, w), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn mix4_dots(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [a, b, c, d, dy] = [a, b, c, d, dy].map(Self::inner);
        Self::from_inner(B::mix4_dots(a, b, c, d, dy))
    }

    fn scale_by(dy: FloatTensor<Self>, w: FloatTensor<Self>, i: usize) -> FloatTensor<Self> {
        Self::from_inner(B::scale_by(Self::inner(dy), Self::inner(w), i))
    }

    fn positive(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::positive(Self::inner(x)))
    }

    fn mask_mul(x: FloatTensor<Self>, m: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct MaskNode;

        impl<B: Backend + Kernels> Backward<B, 1> for MaskNode {
            /// The mask.
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let dy = grads.consume::<B>(&ops.node);
                if let [Some(node)] = ops.parents {
                    grads.register::<B>(node.id, B::mask_mul(dy, ops.state));
                }
            }
        }

        let prep = MaskNode.prepare::<C>([x.node()]).compute_bound().stateful();
        let (x, m) = (Self::inner(x), Self::inner(m));
        match prep {
            OpsKind::Tracked(prep) => prep.finish(m.clone(), B::mask_mul(x, m)),
            OpsKind::UnTracked(prep) => prep.finish(B::mask_mul(x, m)),
        }
    }

    fn norm(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct BatchNormNode;

        impl<B: Backend + Kernels> Backward<B, 1> for BatchNormNode {
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let dy = grads.consume::<B>(&ops.node);
                if let [Some(node)] = ops.parents {
                    grads.register::<B>(node.id, B::norm_backward(ops.state, dy));
                }
            }
        }

        let prep = BatchNormNode
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let x = Self::inner(x);
        match prep {
            OpsKind::Tracked(prep) => {
                let y = B::norm(x.clone());
                prep.finish(x, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::norm(x)),
        }
    }

    /// The value only (not tracked): NASI needs first-order gradients.
    fn norm_backward(x: FloatTensor<Self>, dy: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::norm_backward(Self::inner(x), Self::inner(dy)))
    }

    /// One node for the whole relaxed edge: the conv outputs' statistics are taken once in the
    /// forward and kept for the backward, which makes one reduction pass for ∇w and both norms.
    fn edge(
        x: FloatTensor<Self>,
        y1: FloatTensor<Self>,
        y3: FloatTensor<Self>,
        p: FloatTensor<Self>,
        w: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct EdgeNode;

        impl<B: Backend + Kernels> Backward<B, 5> for EdgeNode {
            /// `[x, y1, y3, p]`, the weights, and the statistics of y1 and y3.
            type State = ([FloatTensor<B>; 4], FloatTensor<B>, [FloatTensor<B>; 2]);

            fn backward(
                self,
                ops: Ops<Self::State, 5>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let dy = grads.consume::<B>(&ops.node);
                let ([x, y1, y3, p], w, [s1, s3]) = ops.state;
                let [px, p1, p3, pp, pw] = ops.parents;
                let sums = B::edge_sums(
                    x,
                    y1.clone(),
                    y3.clone(),
                    p,
                    s1.clone(),
                    s3.clone(),
                    dy.clone(),
                );
                for (parent, y, s, i) in [(p1, y1, s1, 1), (p3, y3, s3, 2)] {
                    if let Some(node) = parent {
                        let g = B::edge_norm_grad(y, s, sums.clone(), w.clone(), dy.clone(), i);
                        grads.register::<B>(node.id, g);
                    }
                }
                for (parent, i) in [(px, 0), (pp, 3)] {
                    if let Some(node) = parent {
                        grads.register::<B>(node.id, B::scale_by(dy.clone(), w.clone(), i));
                    }
                }
                if let Some(node) = pw {
                    grads.register::<B>(node.id, B::float_slice(sums, &[Slice::from(0..4)]));
                }
            }
        }

        let prep = EdgeNode
            .prepare::<C>([x.node(), y1.node(), y3.node(), p.node(), w.node()])
            .compute_bound()
            .stateful();
        let xs = [x, y1, y3, p].map(Self::inner);
        let w = Self::inner(w);
        let stats = [&xs[1], &xs[2]].map(|y| B::norm_stats(y.clone()));
        let [x, y1, y3, p] = xs.clone();
        let [s1, s3] = stats.clone();
        let y = B::edge_with(x, y1, y3, p, w.clone(), s1, s3);
        match prep {
            OpsKind::Tracked(prep) => prep.finish((xs, w, stats), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn norm_stats(y: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::norm_stats(Self::inner(y)))
    }

    fn edge_with(
        x: FloatTensor<Self>,
        y1: FloatTensor<Self>,
        y3: FloatTensor<Self>,
        p: FloatTensor<Self>,
        w: FloatTensor<Self>,
        s1: FloatTensor<Self>,
        s3: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [x, y1, y3, p, w, s1, s3] = [x, y1, y3, p, w, s1, s3].map(Self::inner);
        Self::from_inner(B::edge_with(x, y1, y3, p, w, s1, s3))
    }

    fn edge_sums(
        x: FloatTensor<Self>,
        y1: FloatTensor<Self>,
        y3: FloatTensor<Self>,
        p: FloatTensor<Self>,
        s1: FloatTensor<Self>,
        s3: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [x, y1, y3, p, s1, s3, dy] = [x, y1, y3, p, s1, s3, dy].map(Self::inner);
        Self::from_inner(B::edge_sums(x, y1, y3, p, s1, s3, dy))
    }

    fn edge_norm_grad(
        y: FloatTensor<Self>,
        s: FloatTensor<Self>,
        sums: FloatTensor<Self>,
        w: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        i: usize,
    ) -> FloatTensor<Self> {
        let [y, s, sums, w, dy] = [y, s, sums, w, dy].map(Self::inner);
        Self::from_inner(B::edge_norm_grad(y, s, sums, w, dy, i))
    }
}

/// A linear map of one tensor (the average pools) as an autodiff node: `forward(x)`, with
/// `adjoint(dy)` as its backward (a linear map's gradient is its adjoint; no state needed).
fn linear<B: Backend + Kernels, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    forward: fn(FloatTensor<B>) -> FloatTensor<B>,
    adjoint: fn(FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    #[derive(Debug)]
    struct LinearNode<B: Backend> {
        adjoint: fn(FloatTensor<B>) -> FloatTensor<B>,
    }

    impl<B: Backend> Backward<B, 1> for LinearNode<B> {
        type State = ();

        fn backward(self, ops: Ops<(), 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let dy = grads.consume::<B>(&ops.node);
            if let [Some(node)] = ops.parents {
                grads.register::<B>(node.id, (self.adjoint)(dy));
            }
        }
    }

    let prep = LinearNode { adjoint }
        .prepare::<C>([x.node()])
        .compute_bound()
        .stateful();
    let y = forward(Autodiff::<B, C>::inner(x));
    match prep {
        OpsKind::Tracked(prep) => prep.finish((), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

fn dims(t: &FlexTensor) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

/// A contiguous f32 view of a flex tensor (copied only when it is strided).
fn slice(t: &FlexTensor) -> impl AsRef<[f32]> + '_ {
    enum View<'a> {
        Borrowed(&'a [f32]),
        Owned(FlexTensor),
    }
    impl AsRef<[f32]> for View<'_> {
        fn as_ref(&self) -> &[f32] {
            match self {
                View::Borrowed(s) => s,
                View::Owned(t) => t.as_slice::<f32>().expect("contiguous f32"),
            }
        }
    }
    match t.as_slice::<f32>() {
        Some(s) => View::Borrowed(s),
        None => View::Owned(t.to_contiguous()),
    }
}

fn flex(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Writes `col` `[c·9, ho·wo]` with `col[c·9 + kh·3 + kw, i·wo + j] = x[c, i·s + kh − 1, j·s + kw
/// − 1]` (0 outside the image) for one image `x` `[c, h, w]` and a 3×3 kernel with stride `s`
/// (`ho`, `wo` by [`out_len`]).
pub fn im2col(x: &[f32], [c, h, w]: [usize; 3], s: usize, col: &mut [f32]) {
    if s != 1 {
        return im2col_strided(x, [c, h, w], s, col);
    }
    let hw = h * w;
    for ci in 0..c {
        let plane = &x[ci * hw..(ci + 1) * hw];
        for kh in 0..3 {
            // Output rows whose source row `i + kh − 1` is inside the image.
            let (first, last) = (usize::from(kh == 0), h - usize::from(kh == 2));
            for kw in 0..3 {
                let rows = &mut col[(ci * 9 + kh * 3 + kw) * hw..][..hw];
                rows[..first * w].fill(0.0);
                rows[last * w..].fill(0.0);
                if first >= last {
                    continue;
                }
                // One block copy per tap: output pixel `i·w + j` reads `(i + kh − 1)·w + j + kw
                // − 1`, a constant offset; the pixels whose column fell off the left or right
                // edge (they read the neighbouring row) are zeroed after.
                let (dst, src) = (
                    first * w..last * w,
                    (first + kh - 1) * w..(last + kh - 1) * w,
                );
                match kw {
                    0 => {
                        rows[dst.start + 1..dst.end]
                            .copy_from_slice(&plane[src.start..src.end - 1]);
                        rows[dst.clone()]
                            .iter_mut()
                            .step_by(w)
                            .for_each(|v| *v = 0.0);
                    }
                    1 => rows[dst].copy_from_slice(&plane[src]),
                    _ => {
                        rows[dst.start..dst.end - 1]
                            .copy_from_slice(&plane[src.start + 1..src.end]);
                        rows[dst]
                            .iter_mut()
                            .skip(w - 1)
                            .step_by(w)
                            .for_each(|v| *v = 0.0);
                    }
                }
            }
        }
    }
}

/// [`im2col`] for strides above 1, one element at a time.
fn im2col_strided(x: &[f32], [c, h, w]: [usize; 3], s: usize, col: &mut [f32]) {
    let (ho, wo) = (out_len(h, 3, s), out_len(w, 3, s));
    for ci in 0..c {
        let plane = &x[ci * h * w..(ci + 1) * h * w];
        for t in 0..9 {
            let rows = &mut col[(ci * 9 + t) * ho * wo..][..ho * wo];
            for (i, dst) in rows.chunks_exact_mut(wo).enumerate() {
                let r = (i * s + t / 3).wrapping_sub(1);
                for (j, d) in dst.iter_mut().enumerate() {
                    let q = (j * s + t % 3).wrapping_sub(1);
                    *d = if r < h && q < w {
                        plane[r * w + q]
                    } else {
                        0.0
                    };
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds `col` `[c·9, ho·wo]` back onto the pixels `dx` `[c, h, w]`
/// each column entry was read from.
fn col2im(col: &[f32], [c, h, w]: [usize; 3], s: usize, dx: &mut [f32]) {
    let (ho, wo) = (out_len(h, 3, s), out_len(w, 3, s));
    for ci in 0..c {
        let plane = &mut dx[ci * h * w..(ci + 1) * h * w];
        for t in 0..9 {
            let rows = &col[(ci * 9 + t) * ho * wo..][..ho * wo];
            for (i, src) in rows.chunks_exact(wo).enumerate() {
                let r = (i * s + t / 3).wrapping_sub(1);
                if r >= h {
                    continue;
                }
                for (j, v) in src.iter().enumerate() {
                    let q = (j * s + t % 3).wrapping_sub(1);
                    if q < w {
                        plane[r * w + q] += v;
                    }
                }
            }
        }
    }
}

/// Output length of a k×k convolution with padding k/2 and stride `s` over `n` pixels.
pub fn out_len(n: usize, k: usize, s: usize) -> usize {
    (n + 2 * (k / 2) - k) / s + 1
}

/// 2×2 means with stride 2 of `n` planes `x` `[n, h, w]` (h, w even) → `[n, h/2, w/2]`; or, for
/// the adjoint (`transpose`), `x` `[n, h/2, w/2]` spread as quarters → `[n, h, w]`.
pub fn pool2(x: &[f32], [n, h, w]: [usize; 3], transpose: bool) -> Vec<f32> {
    let (ho, wo) = (h / 2, w / 2);
    assert!(h % 2 == 0 && w % 2 == 0 && x.len() == n * if transpose { ho * wo } else { h * w });
    let plane = if transpose { h * w } else { ho * wo };
    par_vec(n * plane, plane, |p, out| {
        if transpose {
            let src = &x[p * ho * wo..][..ho * wo];
            for (r, row) in out.chunks_exact_mut(w).enumerate() {
                let s = &src[(r / 2) * wo..][..wo];
                row.iter_mut()
                    .enumerate()
                    .for_each(|(q, o)| *o = 0.25 * s[q / 2]);
            }
        } else {
            let src = &x[p * h * w..][..h * w];
            for (i, row) in out.chunks_exact_mut(wo).enumerate() {
                let (a, b) = (&src[2 * i * w..][..w], &src[(2 * i + 1) * w..][..w]);
                row.iter_mut().enumerate().for_each(|(j, o)| {
                    *o = 0.25 * (a[2 * j] + a[2 * j + 1] + b[2 * j] + b[2 * j + 1]);
                });
            }
        }
    })
}

/// `dst[m, n] = a[m, k] × b[k, n]` (plus `dst` when `accumulate`), `dst` row-major; `a` and `b`
/// given as (row stride, column stride) so transposes cost nothing.
fn gemm(
    dims: [usize; 3],
    dst: &mut [f32],
    accumulate: bool,
    a: (&[f32], [usize; 2]),
    b: (&[f32], [usize; 2]),
) {
    // SAFETY: `f32` and `MaybeUninit<f32>` have the same layout, and every value of `dst` is
    // initialised, which is all `gemm_raw` may read.
    let dst = unsafe { &mut *(dst as *mut [f32] as *mut [MaybeUninit<f32>]) };
    gemm_raw(dims, dst, accumulate, a, b);
}

/// [`gemm`] into an uninitialised `dst`, which it writes in full without reading it.
fn gemm_into(
    dims: [usize; 3],
    dst: &mut [MaybeUninit<f32>],
    a: (&[f32], [usize; 2]),
    b: (&[f32], [usize; 2]),
) {
    gemm_raw(dims, dst, false, a, b);
}

/// [`gemm`]; `dst` is read only when `accumulate` (gemm's `read_dst`).
fn gemm_raw(
    [m, n, k]: [usize; 3],
    dst: &mut [MaybeUninit<f32>],
    accumulate: bool,
    (a, [a_rs, a_cs]): (&[f32], [usize; 2]),
    (b, [b_rs, b_cs]): (&[f32], [usize; 2]),
) {
    let last = |rs: usize, cs: usize, rows: usize, cols: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        dst.len() >= m * n && a.len() > last(a_rs, a_cs, m, k) && b.len() > last(b_rs, b_cs, k, n)
    );
    // SAFETY: the assert above keeps every index the strides reach inside the three slices;
    // `dst` does not alias `a` or `b` (a `&mut` borrow); without `accumulate` gemm writes `dst`
    // without reading it (`read_dst` false), so it may be uninitialised.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().cast::<f32>(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

std::thread_local! {
    /// Set while this thread runs its kernels on its own ([`serial`]).
    static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with this thread's kernels kept on this thread (no rayon tasks): for work that is
/// already parallel at a coarser grain, such as the two perturbed passes of the central scheme,
/// which run at once on two threads (`nasi::both`). The results are the same bits either way.
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    /// Restores the thread's mode when `f` returns or unwinds.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SERIAL.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SERIAL.with(|s| s.replace(true)));
    f()
}

fn in_serial() -> bool {
    SERIAL.with(|s| s.get())
}

/// Elements per task of the elementwise kernels (256 KiB of f32).
const CHUNK: usize = 1 << 16;

/// Below this many elements a kernel runs on the calling thread: waking rayon's threads costs
/// more than the work (the page's tiny preset has 2,048-element tensors; a parallel version
/// made its step ~40 % slower).
const PARALLEL_MIN: usize = 1 << 14;

/// `f(0), …, f(tasks − 1)` in order: on rayon's threads when the call touches at least
/// [`PARALLEL_MIN`] `elements`, else here. The results are the same either way.
fn tasks<T: Send>(tasks: usize, elements: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    use rayon::prelude::*;
    if elements < PARALLEL_MIN || in_serial() {
        (0..tasks).map(f).collect()
    } else {
        (0..tasks).into_par_iter().map(f).collect()
    }
}

/// A vector of `n` values filled chunk by chunk (`chunk` elements each; the last may be shorter)
/// by `fill(chunk index, chunk)` on rayon's threads. Each chunk is zeroed by the thread that
/// fills it, so the first touch of fresh pages is parallel too (a `vec![0.0; n]` would zero it
/// all on the calling thread).
fn par_vec(n: usize, chunk: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let zeroed = |i: usize, part: &mut [MaybeUninit<f32>]| {
        part.fill(MaybeUninit::new(0.0));
        // SAFETY: every element of `part` was initialised on the line above, and
        // `MaybeUninit<f32>` has the layout of `f32`.
        fill(i, unsafe {
            &mut *(part as *mut [MaybeUninit<f32>] as *mut [f32])
        });
    };
    // SAFETY: `zeroed` initialises every value of its chunk.
    unsafe { par_vec_uninit(n, chunk, zeroed) }
}

/// [`par_vec`] without the zeroing, for kernels that write every value of their output
/// (the convolution's GEMM, the elementwise kernels): one pass less over each output.
///
/// # Safety
///
/// `write(i, chunk)` must initialise every value of `chunk`.
unsafe fn par_vec_uninit(
    n: usize,
    chunk: usize,
    write: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    use rayon::prelude::*;
    let mut v: Vec<f32> = Vec::with_capacity(n);
    let parts = &mut v.spare_capacity_mut()[..n];
    let task = |(i, part): (usize, &mut [MaybeUninit<f32>])| write(i, part);
    if n < PARALLEL_MIN || in_serial() {
        parts.chunks_mut(chunk.max(1)).enumerate().for_each(task);
    } else {
        parts
            .par_chunks_mut(chunk.max(1))
            .enumerate()
            .for_each(task);
    }
    // SAFETY: the chunks cover `0..n`, and `write` initialised each (the caller's contract).
    unsafe { v.set_len(n) };
    v
}

/// `f(x₀[i], x₁[i], …)` for every `i` of `N` equally long slices, in parallel chunks.
fn map<const N: usize>(xs: &[&[f32]; N], f: impl Fn([f32; N]) -> f32 + Sync) -> Vec<f32> {
    let n = xs[0].len();
    assert!(
        xs.iter().all(|x| x.len() == n),
        "elementwise: lengths differ"
    );
    let write = |c: usize, out: &mut [MaybeUninit<f32>]| {
        let at = c * CHUNK;
        let parts = xs.map(|x| &x[at..at + out.len()]);
        for (j, o) in out.iter_mut().enumerate() {
            o.write(f(parts.map(|p| p[j])));
        }
    };
    // SAFETY: `write` writes every value of its chunk.
    unsafe { par_vec_uninit(n, CHUNK, write) }
}

/// The four weights of a `[4]` flex tensor.
fn weights(w: &FlexTensor) -> [f32; 4] {
    let w = slice(w);
    w.as_ref().try_into().expect("mix weights are [4]")
}

/// `Σᵢ w[i]·xᵢ[j]` for every `j`.
fn mix_forward(xs: [&[f32]; 4], w: [f32; 4]) -> Vec<f32> {
    map(&xs, |[a, b, c, d]| {
        w[0] * a + w[1] * b + w[2] * c + w[3] * d
    })
}

/// `⟨dy, xᵢ⟩` for the four `xᵢ`: per-chunk sums in f64 added in chunk order (deterministic).
fn mix_dots(xs: [&[f32]; 4], dy: &[f32]) -> [f64; 4] {
    assert!(
        xs.iter().all(|x| x.len() == dy.len()),
        "mix: lengths differ"
    );
    let parts = tasks(dy.len().div_ceil(CHUNK), dy.len(), |c| {
        let r = c * CHUNK..((c + 1) * CHUNK).min(dy.len());
        xs.map(|x| lane_sum(&dy[r.clone()], &x[r.clone()], |g, v| g * v))
    });
    parts
        .iter()
        .fold([0.0; 4], |acc, p| std::array::from_fn(|i| acc[i] + p[i]))
}

/// 3×3 means of `n` planes `x` `[n, h, w]`, padded cells not counted: the box sum (zero
/// padding; a row pass then a column pass) divided by each pixel's count afterwards, or, for
/// the adjoint (`transpose`), before.
pub fn box_mean(x: &[f32], [n, h, w]: [usize; 3], transpose: bool) -> Vec<f32> {
    let hw = h * w;
    assert_eq!(x.len(), n * hw, "box mean: shape");
    let inv = inverse_counts(h, w);
    let per = planes_per_task(hw);
    let write = |t: usize, out: &mut [MaybeUninit<f32>]| {
        // Per task, not per plane: the planes at stage 3 have 64 values.
        let (mut scaled, mut rows, mut sums) = (vec![0.0f32; hw], vec![0.0f32; hw], vec![0.0; w]);
        for (k, o) in out.chunks_exact_mut(hw).enumerate() {
            let p = t * per + k;
            let mut plane = &x[p * hw..(p + 1) * hw];
            if transpose {
                for ((d, &v), &s) in scaled.iter_mut().zip(plane).zip(&inv) {
                    *d = v * s;
                }
                plane = &scaled;
            }
            for (r, src) in rows.chunks_exact_mut(w).zip(plane.chunks_exact(w)) {
                row_sum(src, r);
            }
            // Each output: its row sum plus those above and below, in that order.
            for i in 0..h {
                let row = |k: usize| &rows[k * w..(k + 1) * w];
                let (dst, scale) = (&mut o[i * w..(i + 1) * w], &inv[i * w..(i + 1) * w]);
                sums.copy_from_slice(row(i));
                for k in [i.wrapping_sub(1), i + 1].into_iter().filter(|&k| k < h) {
                    sums.iter_mut().zip(row(k)).for_each(|(d, s)| *d += s);
                }
                if transpose {
                    dst.iter_mut().zip(&sums).for_each(|(o, &v)| {
                        o.write(v);
                    });
                } else {
                    dst.iter_mut()
                        .zip(sums.iter().zip(scale))
                        .for_each(|(o, (&v, &s))| {
                            o.write(v * s);
                        });
                }
            }
        }
    };
    // SAFETY: `write` writes every value of its planes.
    unsafe { par_vec_uninit(n * hw, per * hw, write) }
}

/// `r[j] = s[j − 1] + s[j] + s[j + 1]` (missing neighbours count as 0) for one row.
fn row_sum(s: &[f32], r: &mut [f32]) {
    let w = s.len();
    if w == 1 {
        r[0] = s[0];
        return;
    }
    r[0] = s[0] + s[1];
    for ((d, (&a, &b)), &c) in r[1..w - 1]
        .iter_mut()
        .zip(s.iter().zip(&s[1..]))
        .zip(&s[2..])
    {
        *d = a + b + c;
    }
    r[w - 1] = s[w - 2] + s[w - 1];
}

/// `Σ f(a_i, b_i)` in 16 f32 lanes (so it vectorises), the lanes added in f64.
#[inline(always)]
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f(x, y) as f64)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += f(x[l], y[l]);
        }
    }
    acc.iter().map(|&v| v as f64).sum::<f64>() + tail
}

/// Per-channel mean and 1/√(var + 1e-5) of `x` `[b, c, n]` (two passes).
fn bn_stats(x: &[f32], [b, c, n]: [usize; 3]) -> Vec<(f32, f32)> {
    let count = (b * n) as f64;
    tasks(c, x.len(), |ch| {
        let planes = || (0..b).map(move |i| &x[(i * c + ch) * n..][..n]);
        let mean = planes().map(|p| lane_sum(p, p, |v, _| v)).sum::<f64>() / count;
        let m = mean as f32;
        let sq: f64 = planes()
            .map(|p| lane_sum(p, p, |v, _| (v - m) * (v - m)))
            .sum();
        (m, (1.0 / (sq / count + 1e-5).sqrt()) as f32)
    })
}

/// Batch norm of `x` `[b, c, n]` (see [`Kernels::norm`]).
pub fn bn_forward(x: &[f32], [b, c, n]: [usize; 3]) -> Vec<f32> {
    let stats = bn_stats(x, [b, c, n]);
    par_vec(x.len(), n, |i, out| {
        let (mean, inv) = stats[i % c];
        out.iter_mut()
            .zip(&x[i * n..])
            .for_each(|(o, &v)| *o = (v - mean) * inv);
    })
}

/// ∇x of batch norm at `x` `[b, c, n]` for `dy` `[b, c, n]` (see
/// [`Kernels::norm_backward`]).
pub fn bn_backward(x: &[f32], dy: &[f32], [b, c, n]: [usize; 3]) -> Vec<f32> {
    let stats = bn_stats(x, [b, c, n]);
    let count = (b * n) as f64;
    // Per channel: mean(dy) and mean(dy·x̂).
    let means = tasks(c, x.len(), |ch| {
        let (mean, inv) = stats[ch];
        let (mut sdy, mut sdyx) = (0.0f64, 0.0f64);
        for i in 0..b {
            let at = (i * c + ch) * n;
            let (g, v) = (&dy[at..at + n], &x[at..at + n]);
            sdy += lane_sum(g, g, |g, _| g);
            sdyx += lane_sum(g, v, |g, v| g * (v - mean)) * inv as f64;
        }
        ((sdy / count) as f32, (sdyx / count) as f32)
    });
    par_vec(x.len(), n, |i, out| {
        let ((mean, inv), (mdy, mdyx)) = (stats[i % c], means[i % c]);
        let (xs, gs) = (&x[i * n..], &dy[i * n..]);
        for ((o, &v), &g) in out.iter_mut().zip(xs).zip(gs) {
            *o = inv * (g - mdy - (v - mean) * inv * mdyx);
        }
    })
}

/// The `(mean, 1/σ)` pairs of a `[c, 2]` statistics tensor ([`Kernels::norm_stats`]).
fn stats(s: &FlexTensor) -> Vec<(f32, f32)> {
    let s = slice(s);
    s.as_ref().chunks_exact(2).map(|p| (p[0], p[1])).collect()
}

/// Planes of `n` values per task of the per-plane kernels: about [`CHUNK`] elements.
fn planes_per_task(n: usize) -> usize {
    (CHUNK / n.max(1)).max(1)
}

/// [`Kernels::edge_with`] on `[x, y1, y3, p]`, each `[b, c, n]`, with weights `w` and the
/// statistics `[s1, s3]` of y1 and y3: one pass, the normed terms formed on the fly.
fn edge_forward(
    [x, y1, y3, p]: [&[f32]; 4],
    w: [f32; 4],
    [s1, s3]: [&[(f32, f32)]; 2],
    [b, c, n]: [usize; 3],
) -> Vec<f32> {
    let len = b * c * n;
    assert!(
        [x, y1, y3, p].iter().all(|t| t.len() == len),
        "edge: shapes"
    );
    let per = planes_per_task(n);
    let write = |t: usize, out: &mut [MaybeUninit<f32>]| {
        for (k, o) in out.chunks_exact_mut(n).enumerate() {
            let q = t * per + k;
            let ((m1, i1), (m3, i3)) = (s1[q % c], s3[q % c]);
            let r = q * n..(q + 1) * n;
            let terms = x[r.clone()].iter().zip(&y1[r.clone()]).zip(&y3[r.clone()]);
            for (o, (((&x, &y1), &y3), &p)) in o.iter_mut().zip(terms.zip(&p[r])) {
                o.write(w[0] * x + w[1] * ((y1 - m1) * i1) + w[2] * ((y3 - m3) * i3) + w[3] * p);
            }
        }
    };
    // SAFETY: `write` writes every value of its chunk (whole planes of `n` values).
    unsafe { par_vec_uninit(len, per * n, write) }
}

/// [`Kernels::edge_sums`]: per channel (a task each), one pass over the five tensors, in 16 f32
/// lanes per plane, planes added in f64 in order (deterministic).
fn edge_reductions(
    [x, y1, y3, p]: [&[f32]; 4],
    [s1, s3]: [&[(f32, f32)]; 2],
    dy: &[f32],
    [b, c, n]: [usize; 3],
) -> Vec<f32> {
    let count = (b * n) as f64;
    let per_channel = tasks(c, dy.len(), |ch| {
        let ((m1, i1), (m3, i3)) = (s1[ch], s3[ch]);
        let mut acc = [0.0f64; 5];
        for i in 0..b {
            let at = (i * c + ch) * n;
            let r = at..at + n;
            let part = five_sums(
                [
                    &dy[r.clone()],
                    &x[r.clone()],
                    &y1[r.clone()],
                    &y3[r.clone()],
                    &p[r],
                ],
                [m1, m3],
            );
            acc.iter_mut().zip(part).for_each(|(a, v)| *a += v);
        }
        // Σdy·x, Σdy·ŷ1, Σdy·ŷ3, Σdy·p, Σdy.
        [
            acc[0],
            acc[1] * i1 as f64,
            acc[2] * i3 as f64,
            acc[3],
            acc[4],
        ]
    });
    let mut dots = [0.0f64; 4];
    for s in &per_channel {
        dots.iter_mut().zip(s).for_each(|(d, v)| *d += v);
    }
    let mut out: Vec<f32> = dots.iter().map(|&v| v as f32).collect();
    for s in &per_channel {
        out.extend([s[4] / count, s[1] / count, s[2] / count].map(|v| v as f32));
    }
    out
}

/// `[Σ dy·x, Σ dy·(y1 − m1), Σ dy·(y3 − m3), Σ dy·p, Σ dy]` over one plane `[dy, x, y1, y3, p]`,
/// in 16 f32 lanes (so it vectorises), the lanes added in f64.
#[allow(clippy::needless_range_loop)] // five accumulators and five inputs indexed in lockstep
fn five_sums([dy, x, y1, y3, p]: [&[f32]; 5], [m1, m3]: [f32; 2]) -> [f64; 5] {
    let n = dy.len();
    let (x, y1, y3, p) = (&x[..n], &y1[..n], &y3[..n], &p[..n]);
    let mut acc = [[0.0f32; 16]; 5];
    let full = n - n % 16;
    for base in (0..full).step_by(16) {
        for l in 0..16 {
            let j = base + l;
            let g = dy[j];
            acc[0][l] += g * x[j];
            acc[1][l] += g * (y1[j] - m1);
            acc[2][l] += g * (y3[j] - m3);
            acc[3][l] += g * p[j];
            acc[4][l] += g;
        }
    }
    let mut sums = acc.map(|a| a.iter().map(|&v| v as f64).sum::<f64>());
    for j in full..n {
        let g = dy[j] as f64;
        sums[0] += g * x[j] as f64;
        sums[1] += g * (y1[j] - m1) as f64;
        sums[2] += g * (y3[j] - m3) as f64;
        sums[3] += g * p[j] as f64;
        sums[4] += g;
    }
    sums
}

/// [`Kernels::edge_norm_grad`]: `w·(dy − mean(dy) − ŷ·mean(dy·ŷ))/σ` for the normed term `i`
/// (1 or 2) of an edge, the means from `sums` ([`edge_reductions`]).
fn edge_norm_backward(
    y: &[f32],
    s: &[(f32, f32)],
    sums: &[f32],
    w: f32,
    i: usize,
    dy: &[f32],
    [b, c, n]: [usize; 3],
) -> Vec<f32> {
    assert!(y.len() == b * c * n && dy.len() == y.len() && sums.len() == 4 + 3 * c);
    let per = planes_per_task(n);
    let write = |t: usize, out: &mut [MaybeUninit<f32>]| {
        for (k, o) in out.chunks_exact_mut(n).enumerate() {
            let q = t * per + k;
            let ch = q % c;
            let (mean, inv) = s[ch];
            let (mdy, mdyx) = (sums[4 + 3 * ch], sums[4 + 3 * ch + i]);
            let r = q * n..(q + 1) * n;
            for (o, (&y, &g)) in o.iter_mut().zip(y[r.clone()].iter().zip(&dy[r])) {
                o.write(w * (inv * (g - mdy - (y - mean) * inv * mdyx)));
            }
        }
    };
    // SAFETY: `write` writes every value of its chunk (whole planes of `n` values).
    unsafe { par_vec_uninit(y.len(), per * n, write) }
}

/// Images per thread: the batch split evenly over rayon's threads (one thread in the browser).
fn per_thread(b: usize) -> usize {
    b.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// The GEMM operand of one image `x` `[c, h, w]` for a k×k kernel with stride `s`: the image
/// itself for a 1×1 kernel (stride 1), its im2col (written into `col`) for 3×3.
fn columns<'a>(x: &'a [f32], chw: [usize; 3], k: usize, s: usize, col: &'a mut [f32]) -> &'a [f32] {
    if k == 1 {
        x
    } else {
        im2col(x, chw, s, col);
        col
    }
}

/// Forward: `x` `[b, ci, h, w]`, `w` `[co, ci, k, k]` → `y` `[b, co, ho, wo]` for the dims
/// `[b, ci, co, h, w, k, stride]` ((k, stride) ∈ {(1, 1), (3, 1), (3, 2)}).
pub fn forward(x: &[f32], w: &[f32], [b, ci, co, h, wd, k, s]: [usize; 7]) -> Vec<f32> {
    let (hw, kk) = (h * wd, k * k);
    let ho = out_len(h, k, s) * out_len(wd, k, s);
    let per = per_thread(b);
    let write = |t: usize, ys: &mut [MaybeUninit<f32>]| {
        scratch(if k == 1 { 0 } else { ci * kk * ho }, |col| {
            for (i, yb) in ys.chunks_exact_mut(co * ho).enumerate() {
                let image = &x[(t * per + i) * ci * hw..][..ci * hw];
                let col = columns(image, [ci, h, wd], k, s, col);
                gemm_into([co, ho, ci * kk], yb, (w, [ci * kk, 1]), (col, [ho, 1]));
            }
        })
    };
    // SAFETY: the GEMMs write every value of each image's output.
    unsafe { par_vec_uninit(b * co * ho, per * co * ho, write) }
}

std::thread_local! {
    /// Per-thread scratch buffer of the convolutions (im2col columns, transposed gradients).
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch buffer of `len` values, kept between calls so the
/// convolutions' columns are neither allocated nor zeroed per call. Its values on entry are
/// whatever the last user left: `f` must write what it reads.
fn scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        f(&mut buf[..len])
    })
}

/// ∇x: `dy` `[b, co, ho, wo]`, `w` `[co, ci, k, k]` → `[b, ci, h, w]`. Stride 1: the forward
/// convolution of `dy` with `w'[i, o, kh, kw] = w[o, i, k − 1 − kh, k − 1 − kw]`; stride 2:
/// `Wᵀ × dy_b` per image, folded back onto the pixels (col2im).
pub fn x_backward(dy: &[f32], w: &[f32], [b, ci, co, h, wd, k, s]: [usize; 7]) -> Vec<f32> {
    let kk = k * k;
    if s == 1 {
        let mut flipped = vec![0.0f32; ci * co * kk];
        for o in 0..co {
            for i in 0..ci {
                for t in 0..kk {
                    flipped[(i * co + o) * kk + kk - 1 - t] = w[(o * ci + i) * kk + t];
                }
            }
        }
        return forward(dy, &flipped, [b, co, ci, h, wd, k, 1]);
    }
    let (hw, ho) = (h * wd, out_len(h, k, s) * out_len(wd, k, s));
    let per = per_thread(b);
    par_vec(b * ci * hw, per * ci * hw, |t, dxs| {
        scratch(ci * kk * ho, |col| {
            for (i, dxb) in dxs.chunks_exact_mut(ci * hw).enumerate() {
                let dyb = &dy[(t * per + i) * co * ho..][..co * ho];
                gemm(
                    [ci * kk, ho, co],
                    col,
                    false,
                    (w, [1, ci * kk]),
                    (dyb, [ho, 1]),
                );
                col2im(col, [ci, h, wd], s, dxb);
            }
        })
    })
}

/// ∇W: `x` `[b, ci, h, w]`, `dy` `[b, co, ho, wo]` → `[co, ci, k, k]`, summed over the batch.
/// Computed transposed, `∇Wᵀ[ci·k², co] += col(x_b) × dy_bᵀ` with `dy_b` transposed first
/// (`co·ho·wo` values): `gemm` wants its output's leading operand contiguous along the output's
/// rows, and both `col(x_b)` and `dy_b` are contiguous along the pixels summed over, so one of
/// them has to be transposed, and `dy_b` is the smaller (9·ci/co times fewer values than the
/// columns `gemm` would otherwise gather one by one).
pub fn w_backward(x: &[f32], dy: &[f32], [b, ci, co, h, wd, k, s]: [usize; 7]) -> Vec<f32> {
    let (hw, kk) = (h * wd, k * k);
    let ho = out_len(h, k, s) * out_len(wd, k, s);
    let per = per_thread(b);
    let partial: Vec<Vec<f32>> = tasks(b.div_ceil(per), x.len() + dy.len(), |t| {
        let mut dwt = vec![0.0f32; ci * kk * co];
        scratch(co * ho + if k == 1 { 0 } else { ci * kk * ho }, |buf| {
            let (dyt, col) = buf.split_at_mut(co * ho);
            for n in t * per..((t + 1) * per).min(b) {
                let col = columns(&x[n * ci * hw..][..ci * hw], [ci, h, wd], k, s, col);
                let dyb = &dy[n * co * ho..][..co * ho];
                for (o, row) in dyb.chunks_exact(ho).enumerate() {
                    for (p, &v) in row.iter().enumerate() {
                        dyt[p * co + o] = v;
                    }
                }
                let acc = n > t * per;
                gemm(
                    [ci * kk, co, ho],
                    &mut dwt,
                    acc,
                    (col, [ho, 1]),
                    (dyt, [co, 1]),
                );
            }
        });
        dwt
    });
    let mut parts = partial.into_iter();
    let mut dwt = parts.next().unwrap_or_else(|| vec![0.0; co * ci * kk]);
    for part in parts {
        dwt.iter_mut().zip(part).for_each(|(a, b)| *a += b);
    }
    let mut dw = vec![0.0f32; co * ci * kk];
    for (i, row) in dwt.chunks_exact(co).enumerate() {
        for (o, &v) in row.iter().enumerate() {
            dw[o * ci * kk + i] = v;
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_device;
    use burn::tensor::Distribution;

    /// Direct summation, the definition.
    fn naive(x: &[f32], w: &[f32], [b, ci, co, h, wd, k, s]: [usize; 7]) -> Vec<f32> {
        let pad = k / 2;
        let (ho, wo) = (out_len(h, k, s), out_len(wd, k, s));
        let mut y = vec![0.0; b * co * ho * wo];
        for n in 0..b {
            for o in 0..co {
                for i in 0..ho {
                    for j in 0..wo {
                        let mut sum = 0.0;
                        for c in 0..ci {
                            for kh in 0..k {
                                for kw in 0..k {
                                    let (r, q) = (
                                        (i * s + kh).wrapping_sub(pad),
                                        (j * s + kw).wrapping_sub(pad),
                                    );
                                    if r < h && q < wd {
                                        sum += x[((n * ci + c) * h + r) * wd + q]
                                            * w[((o * ci + c) * k + kh) * k + kw];
                                    }
                                }
                            }
                        }
                        y[((n * co + o) * ho + i) * wo + j] = sum;
                    }
                }
            }
        }
        y
    }

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    /// Forward against the definition, and both gradients against it through the adjoint
    /// identity ⟨dy, conv(x, W)⟩ = ⟨∇x, x⟩ = ⟨∇W, W⟩ (the convolution is bilinear), on an odd
    /// shape (ci ≠ co, h ≠ w, w odd, an odd batch split over threads), for 1×1 and 3×3 kernels
    /// with stride 1 and 3×3 with stride 2.
    #[test]
    fn kernels_match_the_definition_and_its_adjoints() {
        for (k, s) in [(1, 1), (3, 1), (3, 2)] {
            conv_kernels_check([3, 5, 7, 6, 9, k, s]);
        }
    }

    fn conv_kernels_check(dims: [usize; 7]) {
        let [b, ci, co, h, wd, k, s] = dims;
        let (ho, wo) = (out_len(h, k, s), out_len(wd, k, s));
        let (x, w, dy) = (
            values(b * ci * h * wd, 1),
            values(co * ci * k * k, 2),
            values(b * co * ho * wo, 3),
        );
        let y = forward(&x, &w, dims);
        let reference = naive(&x, &w, dims);
        let err = y
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-5, "{k}×{k}/{s}: forward max error {err}");
        let l = dot(&dy, &reference);
        let lx = dot(&x_backward(&dy, &w, dims), &x);
        let lw = dot(&w_backward(&x, &dy, dims), &w);
        assert!(
            (lx - l).abs() < 1e-4 * l.abs().max(1.0),
            "{k}×{k}/{s}: ⟨∇x, x⟩ {lx} vs {l}"
        );
        assert!(
            (lw - l).abs() < 1e-4 * l.abs().max(1.0),
            "{k}×{k}/{s}: ⟨∇W, W⟩ {lw} vs {l}"
        );
    }

    /// Through burn's autodiff on flex: the value and both gradients of Σ(conv(x, W) ⊙ g) equal
    /// those of burn's `conv2d`, for 1×1 and 3×3 kernels with stride 1 and 3×3 with stride 2.
    #[test]
    fn autodiff_node_matches_burns_conv2d() {
        for (k, s) in [(1, 1), (3, 1), (3, 2)] {
            autodiff_conv_check(k, s);
        }
    }

    fn autodiff_conv_check(k: usize, s: usize) {
        let dev = cpu_device().autodiff();
        let x = Tensor::<4>::random([4, 3, 6, 7], Distribution::Normal(0.0, 1.0), &dev);
        let w = Tensor::<4>::random([6, 3, k, k], Distribution::Normal(0.0, 1.0), &dev);
        let out = [4, 6, out_len(6, k, s), out_len(7, k, s)];
        let g = Tensor::<4>::random(out, Distribution::Normal(0.0, 1.0), &dev);
        assert_same_value_and_grads(
            &format!("{k}×{k} conv, stride {s}"),
            &[x, w],
            &g,
            |t| conv(t[0].clone(), t[1].clone(), s),
            |t| conv2d(t[0].clone(), t[1].clone(), None, options(k, s)),
        );
    }

    /// The 2×2 mean with stride 2 and its gradient through autodiff on flex equal burn's
    /// `avg_pool2d`.
    #[test]
    fn pool2_node_matches_burns_avg_pool2d() {
        let dev = cpu_device().autodiff();
        let x = Tensor::<4>::random([2, 3, 4, 6], Distribution::Normal(0.0, 1.0), &dev);
        let g = Tensor::<4>::random([2, 3, 2, 3], Distribution::Normal(0.0, 1.0), &dev);
        assert_same_value_and_grads(
            "2×2 mean",
            &[x],
            &g,
            |t| avg_pool_2x2(t[0].clone()),
            |t| avg_pool2d(t[0].clone(), AvgPoolOptions::new([2, 2])),
        );
    }

    /// Tracks `inputs`, and asserts that `ours` and `reference` give the same value and the same
    /// gradient of Σ(op(inputs) ⊙ g) for every input (each within 1e-4 relative).
    fn assert_same_value_and_grads(
        name: &str,
        inputs: &[Tensor<4>],
        g: &Tensor<4>,
        ours: impl Fn(&[Tensor<4>]) -> Tensor<4>,
        reference: impl Fn(&[Tensor<4>]) -> Tensor<4>,
    ) {
        let flat = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().expect("f32");
        let run = |op: &dyn Fn(&[Tensor<4>]) -> Tensor<4>| {
            let tracked: Vec<Tensor<4>> = inputs.iter().map(|t| t.clone().require_grad()).collect();
            let y = op(&tracked);
            let grads = (y.clone() * g.clone()).sum().backward();
            let mut out = vec![flat(y)];
            out.extend(
                tracked
                    .iter()
                    .map(|t| flat(t.grad(&grads).expect("tracked input"))),
            );
            out
        };
        let (ours, reference) = (run(&ours), run(&reference));
        for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
            let what = if i == 0 {
                "forward".to_string()
            } else {
                format!("∇ of input {}", i - 1)
            };
            assert!(close(a, b), "{name}: {what}");
        }
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(p, q)| (p - q).abs() < 1e-4 * (1.0 + q.abs()))
    }

    /// Batch norm and its gradient through autodiff on flex equal burn's `batch_norm_train`
    /// (γ = 1, β = 0) differentiated by burn, on a shape with a non-zero mean and scale.
    #[test]
    fn batch_norm_node_matches_burns_batch_norm_train() {
        let dev = cpu_device().autodiff();
        let x = Tensor::<4>::random([3, 4, 5, 6], Distribution::Normal(2.0, 3.0), &dev);
        let g = Tensor::<4>::random([3, 4, 5, 6], Distribution::Normal(0.0, 1.0), &dev);
        let (gamma, beta) = (Tensor::<1>::ones([4], &dev), Tensor::<1>::zeros([4], &dev));
        assert_same_value_and_grads(
            "batch norm",
            &[x],
            &g,
            |t| batch_norm(t[0].clone()),
            |t| {
                let (gamma, beta) = (gamma.clone(), beta.clone());
                burn::tensor::module::batch_norm_train(t[0].clone(), gamma, beta, 1e-5).output
            },
        );
    }

    /// NB201's 3×3 average pool and its gradient through autodiff on flex equal burn's depthwise
    /// `conv2d` with ones times 1/count (the definition), on a non-square shape with 1-pixel-wide
    /// edges included.
    #[test]
    fn avg_pool_node_matches_a_depthwise_conv_with_ones() {
        let dev = cpu_device().autodiff();
        let x = Tensor::<4>::random([2, 3, 4, 7], Distribution::Normal(0.0, 1.0), &dev);
        let g = Tensor::<4>::random([2, 3, 4, 7], Distribution::Normal(0.0, 1.0), &dev);
        let ones = Tensor::<4>::ones([3, 1, 3, 3], &dev);
        let inv = Tensor::<4>::from_data(TensorData::new(inverse_counts(4, 7), [1, 1, 4, 7]), &dev);
        let depthwise = depthwise_options(3);
        assert_same_value_and_grads(
            "avg pool",
            &[x],
            &g,
            |t| avg_pool_3x3(t[0].clone()),
            |t| conv2d(t[0].clone(), ones.clone(), None, depthwise.clone()) * inv.clone(),
        );
    }

    /// The reference mixture in burn's own ops: `Σᵢ w[i]·xᵢ` for weights `w` `[4, 1, 1, 1]`.
    fn weighted_sum(xs: [Tensor<4>; 4], w: &Tensor<4>) -> Tensor<4> {
        xs.into_iter()
            .enumerate()
            .map(|(i, x)| x * w.clone().narrow(0, i, 1))
            .reduce(|a, b| a + b)
            .expect("four terms")
    }

    /// The relaxed edge's mixture through autodiff on flex: its value and the gradients of all
    /// four terms and of the weights equal burn's own `Σᵢ wᵢ·xᵢ`.
    #[test]
    fn mix_node_matches_burns_weighted_sum() {
        let dev = cpu_device().autodiff();
        let shape = [2, 3, 5, 7];
        let normal = |s: [usize; 4]| Tensor::<4>::random(s, Distribution::Normal(0.0, 1.0), &dev);
        let mut inputs: Vec<Tensor<4>> = (0..4).map(|_| normal(shape)).collect();
        inputs.push(normal([4, 1, 1, 1]));
        let g = normal(shape);
        let terms = |t: &[Tensor<4>]| [0, 1, 2, 3].map(|i| t[i].clone());
        assert_same_value_and_grads(
            "mix",
            &inputs,
            &g,
            |t| mix(terms(t), t[4].clone().reshape([4])),
            |t| weighted_sum(terms(t), &t[4]),
        );
    }

    /// A batch-normed relaxed edge through autodiff on flex: its value and the gradients of x,
    /// both conv outputs, the pool and the weights equal burn's `w₀x + w₁·BN(y1) + w₂·BN(y3) +
    /// w₃p` with burn's own `batch_norm_train`. Two shapes: a small odd one, and one over two
    /// parallel tasks with planes of 272 pixels (not a multiple of the 16 lanes).
    #[test]
    fn edge_node_matches_burns_batch_norms_and_weighted_sum() {
        let dev = cpu_device().autodiff();
        for shape in [[2, 3, 5, 7], [40, 8, 16, 17]] {
            let c = shape[1];
            let normal = |s: [usize; 4], m: f64, sd: f64| {
                Tensor::<4>::random(s, Distribution::Normal(m, sd), &dev)
            };
            let inputs = vec![
                normal(shape, 0.0, 1.0),
                normal(shape, 1.5, 2.0),
                normal(shape, -0.5, 0.5),
                normal(shape, 0.0, 1.0),
                normal([4, 1, 1, 1], 0.0, 1.0),
            ];
            let g = normal(shape, 0.0, 1.0);
            let (gamma, beta) = (Tensor::<1>::ones([c], &dev), Tensor::<1>::zeros([c], &dev));
            let bn = |y: Tensor<4>| {
                burn::tensor::module::batch_norm_train(y, gamma.clone(), beta.clone(), 1e-5).output
            };
            assert_same_value_and_grads(
                "edge",
                &inputs,
                &g,
                |t| {
                    let [x, y1, y3, p] = [0, 1, 2, 3].map(|i| t[i].clone());
                    mixed_edge(x, y1, y3, p, t[4].clone().reshape([4]))
                },
                |t| {
                    let terms = [
                        t[0].clone(),
                        bn(t[1].clone()),
                        bn(t[2].clone()),
                        t[3].clone(),
                    ];
                    weighted_sum(terms, &t[4])
                },
            );
        }
    }

    /// On a thread in [`serial`] mode the kernels run without rayon tasks and give the same bits:
    /// the conv and its two gradients, the box mean both ways, and the edge's reductions, on
    /// shapes large enough to be split into tasks otherwise.
    #[test]
    fn serial_mode_gives_the_same_bits() {
        let (b, c, h, w) = (8, 8, 16, 16);
        let x = values(b * c * h * w, 1);
        let dy = values(b * c * h * w, 2);
        let wt = values(c * c * 9, 3);
        let dims = [b, c, c, h, w, 3, 1];
        let run = || {
            let stats = bn_stats(&x, [b, c, h * w]);
            [
                forward(&x, &wt, dims),
                x_backward(&dy, &wt, dims),
                w_backward(&x, &dy, dims),
                box_mean(&x, [b * c, h, w], false),
                box_mean(&dy, [b * c, h, w], true),
                edge_reductions([&x, &dy, &x, &dy], [&stats, &stats], &dy, [b, c, h * w]),
            ]
        };
        let parallel = run();
        assert!(x.len() >= PARALLEL_MIN, "large enough to be split");
        assert_eq!(parallel, serial(run));
        assert!(!in_serial(), "serial mode ends with the call");
    }

    /// The elementwise kernels on more than one chunk (three, the last partial): the mixture and
    /// its weight gradient (per-chunk sums added in f64) against plain loops in f64.
    #[test]
    fn chunked_mix_matches_plain_loops() {
        let n = 2 * CHUNK + 1234;
        let xs: Vec<Vec<f32>> = (0..4).map(|i| values(n, 10 + i)).collect();
        let dy = values(n, 20);
        let w = [0.5, -1.25, 2.0, 0.75];
        let x = [&xs[0][..], &xs[1], &xs[2], &xs[3]];
        let y = mix_forward(x, w);
        for j in (0..n).step_by(997) {
            let exact: f64 = (0..4).map(|i| w[i] as f64 * x[i][j] as f64).sum();
            assert!((y[j] as f64 - exact).abs() < 1e-5, "mix at {j}");
        }
        let dots = mix_dots(x, &dy);
        for i in 0..4 {
            // f32 lanes within a chunk: error relative to Σ|dy·x|, not to the (cancelling) sum.
            let exact = dot(&dy, x[i]);
            let scale: f64 = dy.iter().zip(x[i]).map(|(a, b)| (a * b).abs() as f64).sum();
            let err = (dots[i] - exact).abs();
            assert!(err < 1e-6 * scale, "⟨dy, x{i}⟩: {} vs {exact}", dots[i]);
        }
    }

    /// The recorded ReLU (mask, then `x ⊙ m`) through autodiff on flex equals burn's `relu` in
    /// value and gradient, and its mask is `1[x > 0]`.
    #[test]
    fn masked_relu_matches_burns_relu() {
        let dev = cpu_device().autodiff();
        let x = Tensor::<4>::random([2, 3, 5, 4], Distribution::Normal(0.0, 1.0), &dev);
        let g = Tensor::<4>::random([2, 3, 5, 4], Distribution::Normal(0.0, 1.0), &dev);
        assert_same_value_and_grads(
            "masked ReLU",
            std::slice::from_ref(&x),
            &g,
            |t| mask_mul(t[0].clone(), relu_mask(&t[0])),
            |t| burn::tensor::activation::relu(t[0].clone()),
        );
        let mask = relu_mask(&x).into_data().try_to_vec::<f32>().expect("f32");
        let values = x.into_data().try_to_vec::<f32>().expect("f32");
        assert!(
            mask.iter()
                .zip(&values)
                .all(|(m, v)| *m == (*v > 0.0) as u8 as f32)
        );
    }
}
