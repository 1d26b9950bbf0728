//! The average pools: 2×2 stride-2 means and 3×3 box means (each with its adjoint).

use super::norm::planes_per_task;
use super::par::{par_vec, par_vec_uninit};
use std::mem::MaybeUninit;

/// 2×2 means with stride 2 of `n` planes `x` `[n, h, w]` (h, w even) → `[n, h/2, w/2]`; or, for
/// the adjoint (`transpose`), `x` `[n, h/2, w/2]` spread as quarters → `[n, h, w]`.
pub(crate) fn pool2(x: &[f32], [n, h, w]: [usize; 3], transpose: bool) -> Vec<f32> {
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

/// 3×3 means of `n` planes `x` `[n, h, w]`, padded cells not counted: the box sum (zero
/// padding; a row pass then a column pass) divided by each pixel's count afterwards, or, for
/// the adjoint (`transpose`), before.
pub(crate) fn box_mean(x: &[f32], [n, h, w]: [usize; 3], transpose: bool) -> Vec<f32> {
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
pub(crate) fn row_sum(s: &[f32], r: &mut [f32]) {
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

/// `1/count` per pixel of an `h × w` map for a 3×3 window that does not count padded cells,
/// `[h·w]` row-major.
pub(crate) fn inverse_counts(h: usize, w: usize) -> Vec<f32> {
    let count = |i: usize, n: usize| 3.0 - (i == 0) as u8 as f32 - (i + 1 == n) as u8 as f32;
    (0..h * w)
        .map(|k| 1.0 / (count(k / w, h) * count(k % w, w)))
        .collect()
}

/// The 3×3 max pool's argmax (padding 1, padded cells never chosen, the first maximum in
/// row-major order on ties, as PyTorch's kernel scans) of `n` planes `x` `[n, h, w]` at
/// `stride`: each output's position in its input plane, `r·w + c`, as an f32 (exact below 2²⁴
/// pixels) `[n, ho, wo]` with `ho = ⌊(h − 1)/stride⌋ + 1`. The positions are what NASI's
/// perturbed passes replay ([`pick`]).
pub(crate) fn max3x3_argmax(x: &[f32], [n, h, w]: [usize; 3], stride: usize) -> Vec<f32> {
    assert!(h * w < 1 << 24 && x.len() == n * h * w, "max pool: shape");
    let (ho, wo) = ((h - 1) / stride + 1, (w - 1) / stride + 1);
    let per = planes_per_task(ho * wo);
    // SAFETY: every output of every plane of the chunk is written below.
    unsafe {
        par_vec_uninit(n * ho * wo, per * ho * wo, |t, out| {
            for (q, plane) in out.chunks_mut(ho * wo).enumerate() {
                let src = &x[(t * per + q) * h * w..][..h * w];
                for oh in 0..ho {
                    let rows = (oh * stride).saturating_sub(1)..(oh * stride + 2).min(h);
                    for ow in 0..wo {
                        let cols = (ow * stride).saturating_sub(1)..(ow * stride + 2).min(w);
                        let (mut best, mut at) = (f32::NEG_INFINITY, rows.start * w + cols.start);
                        for r in rows.clone() {
                            for c in cols.clone() {
                                let v = src[r * w + c];
                                // PyTorch's test: a NaN is taken (and then kept unless
                                // another NaN follows).
                                if v > best || v.is_nan() {
                                    (best, at) = (v, r * w + c);
                                }
                            }
                        }
                        plane[oh * wo + ow] = MaybeUninit::new(at as f32);
                    }
                }
            }
        })
    }
}

/// `x` `[n, h, w]` read at the positions `at` `[n, m]` of each plane (as [`max3x3_argmax`]
/// gives them) → `[n, m]`; with `transpose`, its adjoint: `x` `[n, m]` added into zeros
/// `[n, h·w]` at the positions.
pub(crate) fn pick(x: &[f32], at: &[f32], [n, hw, m]: [usize; 3], transpose: bool) -> Vec<f32> {
    assert_eq!(at.len(), n * m, "pick: positions");
    if transpose {
        assert_eq!(x.len(), n * m, "pick: gradient");
        let per = planes_per_task(hw);
        par_vec(n * hw, per * hw, |t, out| {
            for (q, plane) in out.chunks_mut(hw).enumerate() {
                let p = t * per + q;
                for (&i, &g) in at[p * m..][..m].iter().zip(&x[p * m..][..m]) {
                    plane[i as usize] += g;
                }
            }
        })
    } else {
        assert_eq!(x.len(), n * hw, "pick: input");
        let per = planes_per_task(m);
        // SAFETY: every output of every plane of the chunk is written below.
        unsafe {
            par_vec_uninit(n * m, per * m, |t, out| {
                for (q, plane) in out.chunks_mut(m).enumerate() {
                    let p = t * per + q;
                    let src = &x[p * hw..][..hw];
                    for (o, &i) in plane.iter_mut().zip(&at[p * m..][..m]) {
                        *o = MaybeUninit::new(src[i as usize]);
                    }
                }
            })
        }
    }
}
