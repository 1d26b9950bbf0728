//! The kernels on burn's flex backend: each method unpacks flex tensors into slices and calls the
//! raw kernels of [`super::raw`].

use super::Kernels;
use super::raw::conv::{forward, out_len, w_backward, x_backward};
use super::raw::depthwise::{dw_forward, dw_out_len, dw_w_backward, dw_x_backward};
use super::raw::edge::{edge_forward, edge_norm_backward, edge_reductions, mix_dots, mix_forward};
use super::raw::norm::{bn_backward, bn_forward, bn_stats};
use super::raw::par::map;
use super::raw::pool::{box_mean, max3x3_argmax, pick, pool2};
use burn::backend::flex::FlexTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::TensorData;

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

    fn dwconv(x: FlexTensor, w: FlexTensor, stride: usize, dil: usize) -> FlexTensor {
        let ([b, c, h, wd], k) = (dims(&x), dims(&w)[2]);
        let d = [b, c, h, wd, k, stride, dil];
        let y = dw_forward(slice(&x).as_ref(), slice(&w).as_ref(), d);
        flex(y, [b, c, dw_out_len(h, stride), dw_out_len(wd, stride)])
    }

    fn dwconv_x_backward(
        x: FlexTensor,
        dy: FlexTensor,
        w: FlexTensor,
        stride: usize,
        dil: usize,
    ) -> FlexTensor {
        let ([b, c, h, wd], k) = (dims(&x), dims(&w)[2]);
        let d = [b, c, h, wd, k, stride, dil];
        flex(
            dw_x_backward(slice(&dy).as_ref(), slice(&w).as_ref(), d),
            [b, c, h, wd],
        )
    }

    fn dwconv_w_backward(
        x: FlexTensor,
        w: FlexTensor,
        dy: FlexTensor,
        stride: usize,
        dil: usize,
    ) -> FlexTensor {
        let ([b, c, h, wd], k) = (dims(&x), dims(&w)[2]);
        let d = [b, c, h, wd, k, stride, dil];
        flex(
            dw_w_backward(slice(&x).as_ref(), slice(&dy).as_ref(), d),
            [c, 1, k, k],
        )
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

    fn max3x3_argmax(x: FlexTensor, stride: usize) -> FlexTensor {
        let [b, c, h, wd] = dims(&x);
        let at = max3x3_argmax(slice(&x).as_ref(), [b * c, h, wd], stride);
        flex(at, [b, c, (h - 1) / stride + 1, (wd - 1) / stride + 1])
    }

    fn pick(x: FlexTensor, at: FlexTensor) -> FlexTensor {
        let ([b, c, h, wd], [.., ho, wo]) = (dims(&x), dims(&at));
        let d = [b * c, h * wd, ho * wo];
        flex(
            pick(slice(&x).as_ref(), slice(&at).as_ref(), d, false),
            [b, c, ho, wo],
        )
    }

    fn pick_transpose(at: FlexTensor, dy: FlexTensor, h: usize, wd: usize) -> FlexTensor {
        let [b, c, ho, wo] = dims(&at);
        let d = [b * c, h * wd, ho * wo];
        flex(
            pick(slice(&dy).as_ref(), slice(&at).as_ref(), d, true),
            [b, c, h, wd],
        )
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

pub(crate) fn dims(t: &FlexTensor) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

/// A contiguous f32 view of a flex tensor (copied only when it is strided).
pub(crate) fn slice(t: &FlexTensor) -> impl AsRef<[f32]> + '_ {
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

pub(crate) fn flex(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// The four weights of a `[4]` flex tensor.
pub(crate) fn weights(w: &FlexTensor) -> [f32; 4] {
    let w = slice(w);
    w.as_ref().try_into().expect("mix weights are [4]")
}

/// The `(mean, 1/σ)` pairs of a `[c, 2]` statistics tensor ([`Kernels::norm_stats`]).
pub(crate) fn stats(s: &FlexTensor) -> Vec<(f32, f32)> {
    let s = slice(s);
    s.as_ref().chunks_exact(2).map(|p| (p[0], p[1])).collect()
}
