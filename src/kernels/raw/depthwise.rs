//! Depthwise convolution (one k×k filter per channel, DARTS's `sep_conv` and `dil_conv` first
//! stage) in NCHW, padding `dil·(k/2)`: forward, ∇x and ∇W as loops over one channel plane at a
//! time, each tap a contiguous row update the compiler vectorises. burn flex runs a depthwise
//! forward as a direct convolution and its gradients through a transposed convolution and one
//! convolution per channel (40 % of a DARTS step at C = 8, b = 16 on 32×32).
//!
//! Dimensions `d = [b, c, h, w, k, stride, dil]`; the output is `[b, c, ho, wo]` with
//! `ho = ⌊(h − 1)/stride⌋ + 1` (the padding keeps the size at stride 1).

use super::par::{par_vec, tasks};

/// Output length of a side of `n` pixels at `stride` (padding `dil·(k/2)`, k odd).
pub(crate) fn dw_out_len(n: usize, stride: usize) -> usize {
    (n - 1) / stride + 1
}

/// For tap offset `off` (input column = `ow·s + off`), the output columns whose input column is
/// inside `0..w`: `lo..hi` (empty when none).
fn span(off: isize, s: usize, w: usize, wo: usize) -> (usize, usize) {
    let s = s as isize;
    let lo = (if off < 0 { (-off + s - 1) / s } else { 0 }).min(wo as isize);
    let hi = ((w as isize - 1 - off).div_euclid(s) + 1).clamp(lo, wo as isize);
    (lo as usize, hi as usize)
}

/// Planes per parallel task: enough that a task touches about 16k values.
fn planes_per_task(plane: usize) -> usize {
    (16_384 / plane.max(1)).max(1)
}

/// Calls `f(oh, i, ih, j, off, lo, hi)` for every output row `oh`, tap (i, j) whose input row
/// `ih` is inside the plane, and the output columns `lo..hi` (not empty) whose input is inside
/// it.
#[inline]
fn taps(
    [h, w, ho, wo, k, s, dil]: [usize; 7],
    mut f: impl FnMut(usize, usize, usize, usize, isize, usize, usize),
) {
    let pad = (dil * (k / 2)) as isize;
    for oh in 0..ho {
        for i in 0..k {
            let ih = (oh * s + i * dil) as isize - pad;
            if ih < 0 || ih >= h as isize {
                continue;
            }
            for j in 0..k {
                let off = (j * dil) as isize - pad;
                let (lo, hi) = span(off, s, w, wo);
                if lo < hi {
                    f(oh, i, ih as usize, j, off, lo, hi);
                }
            }
        }
    }
}

/// `y[b, c] = x[b, c] ⋆ W[c]`: `x` `[b, c, h, w]`, `W` `[c, 1, k, k]` → `[b, c, ho, wo]`.
pub(crate) fn dw_forward(x: &[f32], wt: &[f32], [b, c, h, w, k, s, dil]: [usize; 7]) -> Vec<f32> {
    let (ho, wo) = (dw_out_len(h, s), dw_out_len(w, s));
    let per = planes_per_task(ho * wo);
    par_vec(b * c * ho * wo, per * ho * wo, |t, out| {
        for (p, y) in out.chunks_mut(ho * wo).enumerate() {
            let plane = t * per + p;
            let xp = &x[plane * h * w..(plane + 1) * h * w];
            let wp = &wt[(plane % c) * k * k..(plane % c + 1) * k * k];
            taps([h, w, ho, wo, k, s, dil], |oh, i, ih, j, off, lo, hi| {
                let wv = wp[i * k + j];
                let (yr, xr) = (&mut y[oh * wo..(oh + 1) * wo], &xp[ih * w..(ih + 1) * w]);
                let o = (lo as isize * s as isize + off) as usize;
                if s == 1 {
                    for (yv, xv) in yr[lo..hi].iter_mut().zip(&xr[o..]) {
                        *yv += wv * xv;
                    }
                } else {
                    for (yv, xv) in yr[lo..hi].iter_mut().zip(xr[o..].iter().step_by(s)) {
                        *yv += wv * xv;
                    }
                }
            });
        }
    })
}

/// ∇x of [`dw_forward`]: each output gradient spread back onto the inputs of its taps,
/// `dy` `[b, c, ho, wo]` → `[b, c, h, w]`.
pub(crate) fn dw_x_backward(
    dy: &[f32],
    wt: &[f32],
    [b, c, h, w, k, s, dil]: [usize; 7],
) -> Vec<f32> {
    let (ho, wo) = (dw_out_len(h, s), dw_out_len(w, s));
    let per = planes_per_task(h * w);
    par_vec(b * c * h * w, per * h * w, |t, out| {
        for (p, dx) in out.chunks_mut(h * w).enumerate() {
            let plane = t * per + p;
            let dyp = &dy[plane * ho * wo..(plane + 1) * ho * wo];
            let wp = &wt[(plane % c) * k * k..(plane % c + 1) * k * k];
            taps([h, w, ho, wo, k, s, dil], |oh, i, ih, j, off, lo, hi| {
                let wv = wp[i * k + j];
                let (dxr, dyr) = (&mut dx[ih * w..(ih + 1) * w], &dyp[oh * wo..(oh + 1) * wo]);
                let o = (lo as isize * s as isize + off) as usize;
                if s == 1 {
                    for (d, g) in dxr[o..].iter_mut().zip(&dyr[lo..hi]) {
                        *d += wv * g;
                    }
                } else {
                    for (d, g) in dxr[o..].iter_mut().step_by(s).zip(&dyr[lo..hi]) {
                        *d += wv * g;
                    }
                }
            });
        }
    })
}

/// ∇W of [`dw_forward`]: `∇W[c, 0, i, j] = Σ_{b, oh, ow} dy[b, c, oh, ow]·x[b, c, ih, iw]`,
/// `[c, 1, k, k]`; channels split over threads, each row's dot in f32 and the sums in f64.
pub(crate) fn dw_w_backward(
    x: &[f32],
    dy: &[f32],
    [b, c, h, w, k, s, dil]: [usize; 7],
) -> Vec<f32> {
    let (ho, wo) = (dw_out_len(h, s), dw_out_len(w, s));
    let per_channel = tasks(c, b * c * ho * wo * k * k, |ch| {
        let mut acc = vec![0f64; k * k];
        for n in 0..b {
            let plane = n * c + ch;
            let xp = &x[plane * h * w..(plane + 1) * h * w];
            let dyp = &dy[plane * ho * wo..(plane + 1) * ho * wo];
            taps([h, w, ho, wo, k, s, dil], |oh, i, ih, j, off, lo, hi| {
                let (dyr, xr) = (&dyp[oh * wo..(oh + 1) * wo], &xp[ih * w..(ih + 1) * w]);
                let o = (lo as isize * s as isize + off) as usize;
                let sum: f32 = if s == 1 {
                    dyr[lo..hi].iter().zip(&xr[o..]).map(|(g, v)| g * v).sum()
                } else {
                    let xs = xr[o..].iter().step_by(s);
                    dyr[lo..hi].iter().zip(xs).map(|(g, v)| g * v).sum()
                };
                acc[i * k + j] += sum as f64;
            });
        }
        acc
    });
    per_channel
        .into_iter()
        .flatten()
        .map(|v| v as f32)
        .collect()
}
