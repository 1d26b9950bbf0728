//! Convolutions as GEMMs in NCHW: im2col / col2im, forward, ∇x and ∇W, images split over threads.

use super::gemm::{gemm, gemm_into};
use super::par::{par_vec, par_vec_uninit, tasks};
use std::mem::MaybeUninit;

/// Writes `col` `[c·9, ho·wo]` with `col[c·9 + kh·3 + kw, i·wo + j] = x[c, i·s + kh − 1, j·s + kw
/// − 1]` (0 outside the image) for one image `x` `[c, h, w]` and a 3×3 kernel with stride `s`
/// (`ho`, `wo` by [`out_len`]).
pub(crate) fn im2col(x: &[f32], [c, h, w]: [usize; 3], s: usize, col: &mut [f32]) {
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
pub(crate) fn im2col_strided(x: &[f32], [c, h, w]: [usize; 3], s: usize, col: &mut [f32]) {
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
pub(crate) fn col2im(col: &[f32], [c, h, w]: [usize; 3], s: usize, dx: &mut [f32]) {
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
pub(crate) fn out_len(n: usize, k: usize, s: usize) -> usize {
    (n + 2 * (k / 2) - k) / s + 1
}

/// Images per thread: the batch split evenly over rayon's threads (one thread in the browser).
pub(crate) fn per_thread(b: usize) -> usize {
    b.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// The GEMM operand of one image `x` `[c, h, w]` for a k×k kernel with stride `s`: the image
/// itself for a 1×1 kernel (stride 1), its im2col (written into `col`) for 3×3.
pub(crate) fn columns<'a>(
    x: &'a [f32],
    chw: [usize; 3],
    k: usize,
    s: usize,
    col: &'a mut [f32],
) -> &'a [f32] {
    if k == 1 {
        x
    } else {
        im2col(x, chw, s, col);
        col
    }
}

/// Forward: `x` `[b, ci, h, w]`, `w` `[co, ci, k, k]` → `y` `[b, co, ho, wo]` for the dims
/// `[b, ci, co, h, w, k, stride]` ((k, stride) ∈ {(1, 1), (3, 1), (3, 2)}).
pub(crate) fn forward(x: &[f32], w: &[f32], [b, ci, co, h, wd, k, s]: [usize; 7]) -> Vec<f32> {
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
pub(crate) fn scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
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
pub(crate) fn x_backward(dy: &[f32], w: &[f32], [b, ci, co, h, wd, k, s]: [usize; 7]) -> Vec<f32> {
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
pub(crate) fn w_backward(x: &[f32], dy: &[f32], [b, ci, co, h, wd, k, s]: [usize; 7]) -> Vec<f32> {
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
