//! Batch norm without affine parameters, on batch statistics (NB201's search-time BN).

use super::par::{CHUNK, par_vec, tasks};

/// `Σ f(a_i, b_i)` in 16 f32 lanes (so it vectorises), the lanes added in f64.
#[inline(always)]
pub(crate) fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
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
pub(crate) fn bn_stats(x: &[f32], [b, c, n]: [usize; 3]) -> Vec<(f32, f32)> {
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
pub(crate) fn bn_forward(x: &[f32], [b, c, n]: [usize; 3]) -> Vec<f32> {
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
pub(crate) fn bn_backward(x: &[f32], dy: &[f32], [b, c, n]: [usize; 3]) -> Vec<f32> {
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

/// Planes of `n` values per task of the per-plane kernels: about [`CHUNK`] elements.
pub(crate) fn planes_per_task(n: usize) -> usize {
    (CHUNK / n.max(1)).max(1)
}
