//! The backend-extension trait: the kernels with their gradients as methods of a burn backend,
//! implemented for flex ([`super::flex`]) and autodiff ([`super::autodiff`]).

use burn::backend::{Backend, TensorMetadata, backend_extension, tensor::FloatTensor};

use super::{dw_conv_options, options};

/// The depthwise convolution's options for a weight `w` `[c, 1, k, k]`.
fn dw_options<T: TensorMetadata>(
    w: &T,
    c: usize,
    stride: usize,
    dil: usize,
) -> burn::tensor::ops::ConvOptions<2> {
    dw_conv_options(w.shape()[2], c, stride, dil)
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

    /// [`depthwise_conv`]: `x` `[b, c, h, w]`, `w` `[c, 1, k, k]` → `[b, c, ho, wo]` (padding
    /// `dil·(k/2)`, one filter per channel).
    fn dwconv(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: usize,
        dil: usize,
    ) -> FloatTensor<Self> {
        let c = x.shape()[1];
        Self::conv2d(x, w.clone(), None, dw_options(&w, c, stride, dil))
    }

    /// ∇x of [`Kernels::dwconv`]: `x` (for its shape), `dy` `[b, c, ho, wo]`, `w` → `[b, c, h, w]`.
    fn dwconv_x_backward(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: usize,
        dil: usize,
    ) -> FloatTensor<Self> {
        let c = x.shape()[1];
        let o = dw_options(&w, c, stride, dil);
        Self::conv2d_x_backward(x, w, dy, o)
    }

    /// ∇W of [`Kernels::dwconv`]: `x`, `w` (for its shape), `dy` → `[c, 1, k, k]`, summed over
    /// the batch.
    fn dwconv_w_backward(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        stride: usize,
        dil: usize,
    ) -> FloatTensor<Self> {
        let c = x.shape()[1];
        let o = dw_options(&w, c, stride, dil);
        Self::conv2d_weight_backward(x, w, dy, o)
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

    /// [`max_pool_argmax`]: the 3×3 max pool's (padding 1, `stride`) argmax positions `r·w + c`
    /// in each plane of `x` `[b, c, h, w]`, as floats `[b, c, ho, wo]` (not differentiable).
    fn max3x3_argmax(x: FloatTensor<Self>, stride: usize) -> FloatTensor<Self>;

    /// [`pick`]: `x` `[b, c, h, w]` read at the positions `at` `[b, c, ho, wo]` of each plane,
    /// differentiable in `x` (∇x = [`Kernels::pick_transpose`]).
    fn pick(x: FloatTensor<Self>, at: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The adjoint of [`Kernels::pick`]: `dy` `[b, c, ho, wo]` added into zeros `[b, c, h, w]`
    /// at the positions `at`.
    fn pick_transpose(
        at: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        h: usize,
        w: usize,
    ) -> FloatTensor<Self>;

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
