//! A relaxed edge's mixture `Σ_k w_k·op_k(x)` (eq. 13), with its two batch norms fused.

use super::norm::{lane_sum, planes_per_task};
use super::par::{CHUNK, map, par_vec_uninit, tasks};
use std::mem::MaybeUninit;

/// `Σᵢ w[i]·xᵢ[j]` for every `j`.
pub(crate) fn mix_forward(xs: [&[f32]; 4], w: [f32; 4]) -> Vec<f32> {
    map(&xs, |[a, b, c, d]| {
        w[0] * a + w[1] * b + w[2] * c + w[3] * d
    })
}

/// `⟨dy, xᵢ⟩` for the four `xᵢ`: per-chunk sums in f64 added in chunk order (deterministic).
pub(crate) fn mix_dots(xs: [&[f32]; 4], dy: &[f32]) -> [f64; 4] {
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

/// [`Kernels::edge_with`] on `[x, y1, y3, p]`, each `[b, c, n]`, with weights `w` and the
/// statistics `[s1, s3]` of y1 and y3: one pass, the normed terms formed on the fly.
pub(crate) fn edge_forward(
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
pub(crate) fn edge_reductions(
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
pub(crate) fn five_sums([dy, x, y1, y3, p]: [&[f32]; 5], [m1, m3]: [f32; 2]) -> [f64; 5] {
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
pub(crate) fn edge_norm_backward(
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
