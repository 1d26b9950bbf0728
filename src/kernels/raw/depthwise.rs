//! Depthwise convolution (one k×k filter per channel, DARTS's `sep_conv` and `dil_conv` first
//! stage) in NCHW, padding `dil·(k/2)`: forward, ∇x and ∇W as loops over one channel plane at a
//! time, each tap a contiguous row update (an axpy, or a dot for ∇W) that the compiler
//! vectorises, 8-wide with FMA on CPUs that have AVX2 ([`super::simd`]). burn flex runs a
//! depthwise forward as a direct convolution and its gradients through a transposed
//! convolution and one convolution per channel (40 % of a DARTS step at C = 8, b = 16 on 32×32).
//!
//! Dimensions `d = [b, c, h, w, k, stride, dil]`; the output is `[b, c, ho, wo]` with
//! `ho = ⌊(h − 1)/stride⌋ + 1` (the padding keeps the size at stride 1).

use super::par::{par_vec, tasks};
use super::simd::{avx2_fma, axpy, dot, fma};

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

/// The columns one tap column `j` touches in every row: output columns `lo..hi` read input
/// columns `o, o + s, …` (`o = lo·s + off`).
#[derive(Clone, Copy, Debug)]
struct Cols {
    lo: usize,
    hi: usize,
    o: usize,
}

/// One plane's geometry, with the column spans of the k tap columns computed once (they do
/// not depend on the row).
struct Plane {
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
    k: usize,
    s: usize,
    dil: usize,
    cols: Vec<Option<Cols>>,
}

impl Plane {
    fn new([_, _, h, w, k, s, dil]: [usize; 7]) -> Plane {
        let (ho, wo) = (dw_out_len(h, s), dw_out_len(w, s));
        let pad = (dil * (k / 2)) as isize;
        let cols = (0..k)
            .map(|j| {
                let off = (j * dil) as isize - pad;
                let (lo, hi) = span(off, s, w, wo);
                (lo < hi).then(|| Cols {
                    lo,
                    hi,
                    o: (lo as isize * s as isize + off) as usize,
                })
            })
            .collect();
        Plane {
            h,
            w,
            ho,
            wo,
            k,
            s,
            dil,
            cols,
        }
    }

    /// Calls `f(oh, i, ih, j, cols)` for every output row `oh` and tap (i, j) whose input row
    /// `ih` is inside the plane and whose columns are not empty.
    #[inline(always)]
    fn taps(&self, mut f: impl FnMut(usize, usize, usize, usize, Cols)) {
        let pad = (self.dil * (self.k / 2)) as isize;
        for oh in 0..self.ho {
            for i in 0..self.k {
                let ih = (oh * self.s + i * self.dil) as isize - pad;
                if ih < 0 || ih >= self.h as isize {
                    continue;
                }
                for (j, c) in self.cols.iter().enumerate() {
                    if let Some(c) = *c {
                        f(oh, i, ih as usize, j, c);
                    }
                }
            }
        }
    }

    /// Calls `f(oh, i, ih)` for every output row `oh` and tap row `i` whose input row `ih` is
    /// inside the plane.
    #[inline(always)]
    fn rows(&self, mut f: impl FnMut(usize, usize, usize)) {
        let pad = self.dil * (self.k / 2);
        for oh in 0..self.ho {
            for i in 0..self.k {
                let ih = (oh * self.s + i * self.dil).wrapping_sub(pad);
                if ih < self.h {
                    f(oh, i, ih);
                }
            }
        }
    }

    /// Width of a row padded by `dil·(k/2)` zero columns on both sides (the stride-1 paths):
    /// every tap then reads or writes `wo` contiguous values, with no span to compute and no
    /// short remainder at the borders.
    fn padded_width(&self) -> usize {
        self.w + 2 * self.dil * (self.k / 2)
    }

    /// `rows` `[h, w]` copied into `buf` `[h, w + 2·pad]` between zero borders.
    #[inline(always)]
    fn pad_rows(&self, rows: &[f32], buf: &mut Vec<f32>) {
        let (w, wp) = (self.w, self.padded_width());
        let pad = (wp - w) / 2;
        buf.clear();
        buf.resize(self.h * wp, 0.0);
        for (dst, src) in buf.chunks_exact_mut(wp).zip(rows.chunks_exact(w)) {
            dst[pad..pad + w].copy_from_slice(src);
        }
    }

    /// `y += xp ⋆ wp` on one plane: `xp` `[h, w]`, `wp` `[k, k]`, `y` `[ho, wo]`; `buf` is
    /// scratch.
    #[inline(always)]
    fn forward<const F: bool>(&self, xp: &[f32], wp: &[f32], y: &mut [f32], buf: &mut Vec<f32>) {
        let (w, wo, s, k, dil) = (self.w, self.wo, self.s, self.k, self.dil);
        if s == 1 {
            self.pad_rows(xp, buf);
            let pw = self.padded_width();
            self.rows(|oh, i, ih| {
                let yr = &mut y[oh * wo..(oh + 1) * wo];
                let xr = &buf[ih * pw..(ih + 1) * pw];
                for j in 0..k {
                    axpy::<F>(wp[i * k + j], &xr[j * dil..j * dil + wo], yr);
                }
            });
            return;
        }
        self.taps(|oh, i, ih, j, c| {
            let wv = wp[i * k + j];
            let yr = &mut y[oh * wo + c.lo..oh * wo + c.hi];
            let xr = &xp[ih * w + c.o..(ih + 1) * w];
            for (yv, xv) in yr.iter_mut().zip(xr.iter().step_by(s)) {
                *yv = fma::<F>(wv, *xv, *yv);
            }
        });
    }

    /// `dx += dyp spread back through wp` on one plane at stride 2 (stride 1 is a forward pass
    /// with the filter turned, [`dw_x_backward_with`]): `dyp` `[ho, wo]` → `dx` `[h, w]`.
    #[inline(always)]
    fn x_backward<const F: bool>(&self, dyp: &[f32], wp: &[f32], dx: &mut [f32]) {
        let (w, wo, s, k) = (self.w, self.wo, self.s, self.k);
        self.taps(|oh, i, ih, j, c| {
            let wv = wp[i * k + j];
            let dxr = &mut dx[ih * w + c.o..(ih + 1) * w];
            let dyr = &dyp[oh * wo + c.lo..oh * wo + c.hi];
            for (d, g) in dxr.iter_mut().step_by(s).zip(dyr) {
                *d = fma::<F>(wv, *g, *d);
            }
        });
    }

    /// `acc[i·k + j] += Σ dy·x` over one plane's taps (each row's dot in f32, the sums in f64);
    /// `buf` is scratch.
    #[inline(always)]
    fn w_backward<const F: bool>(
        &self,
        xp: &[f32],
        dyp: &[f32],
        acc: &mut [f64],
        buf: &mut Vec<f32>,
    ) {
        let (w, wo, s, k, dil) = (self.w, self.wo, self.s, self.k, self.dil);
        if s == 1 {
            self.pad_rows(xp, buf);
            let pw = self.padded_width();
            self.rows(|oh, i, ih| {
                let dyr = &dyp[oh * wo..(oh + 1) * wo];
                let xr = &buf[ih * pw..(ih + 1) * pw];
                for j in 0..k {
                    acc[i * k + j] += dot::<F>(dyr, &xr[j * dil..j * dil + wo]) as f64;
                }
            });
            return;
        }
        self.taps(|oh, i, ih, j, c| {
            let dyr = &dyp[oh * wo + c.lo..oh * wo + c.hi];
            let xr = &xp[ih * w + c.o..(ih + 1) * w];
            let sum = dyr
                .iter()
                .zip(xr.iter().step_by(s))
                .fold(0f32, |a, (g, v)| fma::<F>(*g, *v, a));
            acc[i * k + j] += sum as f64;
        });
    }
}

/// The AVX2 + FMA copies of the plane loops (x86-64 only; called only where [`avx2_fma`]).
#[cfg(target_arch = "x86_64")]
mod wide {
    use super::Plane;

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn forward(p: &Plane, xp: &[f32], wp: &[f32], y: &mut [f32], buf: &mut Vec<f32>) {
        p.forward::<true>(xp, wp, y, buf)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn x_backward(p: &Plane, dyp: &[f32], wp: &[f32], dx: &mut [f32]) {
        p.x_backward::<true>(dyp, wp, dx)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn w_backward(
        p: &Plane,
        xp: &[f32],
        dyp: &[f32],
        acc: &mut [f64],
        buf: &mut Vec<f32>,
    ) {
        p.w_backward::<true>(xp, dyp, acc, buf)
    }
}

/// `$p.$method` on the wide copy (`wide::$method`) when `$fast`, the baseline (`::<false>`)
/// otherwise.
macro_rules! either {
    ($fast:expr, $p:expr, $method:ident, $($arg:expr),*) => {{
        #[cfg(target_arch = "x86_64")]
        if $fast {
            // SAFETY: `$fast` is true only where `avx2_fma()` reported both features.
            unsafe { wide::$method($p, $($arg),*) }
        } else {
            $p.$method::<false>($($arg),*)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = $fast;
            $p.$method::<false>($($arg),*)
        }
    }};
}

/// `y[b, c] = x[b, c] ⋆ W[c]`: `x` `[b, c, h, w]`, `W` `[c, 1, k, k]` → `[b, c, ho, wo]`.
pub(crate) fn dw_forward(x: &[f32], wt: &[f32], d: [usize; 7]) -> Vec<f32> {
    dw_forward_with(avx2_fma(), x, wt, d)
}

/// [`dw_forward`] on the wide copy when `fast` (and the CPU has it) or the baseline one.
pub(crate) fn dw_forward_with(fast: bool, x: &[f32], wt: &[f32], d: [usize; 7]) -> Vec<f32> {
    let fast = fast && avx2_fma();
    let [b, c, h, w, k, ..] = d;
    let p = Plane::new(d);
    let (ho, wo) = (p.ho, p.wo);
    let per = planes_per_task(ho * wo);
    par_vec(b * c * ho * wo, per * ho * wo, |t, out| {
        let mut buf = Vec::new();
        for (i, y) in out.chunks_mut(ho * wo).enumerate() {
            let plane = t * per + i;
            let xp = &x[plane * h * w..(plane + 1) * h * w];
            let wp = &wt[(plane % c) * k * k..(plane % c + 1) * k * k];
            either!(fast, &p, forward, xp, wp, y, &mut buf);
        }
    })
}

/// ∇x of [`dw_forward`]: each output gradient spread back onto the inputs of its taps,
/// `dy` `[b, c, ho, wo]` → `[b, c, h, w]`.
pub(crate) fn dw_x_backward(dy: &[f32], wt: &[f32], d: [usize; 7]) -> Vec<f32> {
    dw_x_backward_with(avx2_fma(), dy, wt, d)
}

/// [`dw_x_backward`] on the wide copy when `fast` (and the CPU has it) or the baseline one.
pub(crate) fn dw_x_backward_with(fast: bool, dy: &[f32], wt: &[f32], d: [usize; 7]) -> Vec<f32> {
    let fast = fast && avx2_fma();
    let [b, c, h, w, k, ..] = d;
    let p = Plane::new(d);
    let (ho, wo) = (p.ho, p.wo);
    // At stride 1 the input gradient is the forward correlation of dy with each filter turned
    // by 180° (its flat k×k values reversed), which gathers into each dx row instead of
    // scattering into k² of them; the filters are turned once here.
    let turned: Vec<f32> = if p.s == 1 {
        wt.chunks_exact(k * k)
            .flat_map(|f| f.iter().rev().copied())
            .collect()
    } else {
        Vec::new()
    };
    let per = planes_per_task(h * w);
    par_vec(b * c * h * w, per * h * w, |t, out| {
        let mut buf = Vec::new();
        for (i, dx) in out.chunks_mut(h * w).enumerate() {
            let plane = t * per + i;
            let dyp = &dy[plane * ho * wo..(plane + 1) * ho * wo];
            let f = (plane % c) * k * k..(plane % c + 1) * k * k;
            if p.s == 1 {
                either!(fast, &p, forward, dyp, &turned[f], dx, &mut buf);
            } else {
                either!(fast, &p, x_backward, dyp, &wt[f], dx);
            }
        }
    })
}

/// ∇W of [`dw_forward`]: `∇W[c, 0, i, j] = Σ_{b, oh, ow} dy[b, c, oh, ow]·x[b, c, ih, iw]`,
/// `[c, 1, k, k]`; channels split over threads, each row's dot in f32 and the sums in f64.
pub(crate) fn dw_w_backward(x: &[f32], dy: &[f32], d: [usize; 7]) -> Vec<f32> {
    dw_w_backward_with(avx2_fma(), x, dy, d)
}

/// [`dw_w_backward`] on the wide copy when `fast` (and the CPU has it) or the baseline one.
pub(crate) fn dw_w_backward_with(fast: bool, x: &[f32], dy: &[f32], d: [usize; 7]) -> Vec<f32> {
    let fast = fast && avx2_fma();
    let [b, c, h, w, k, ..] = d;
    let p = Plane::new(d);
    let (ho, wo) = (p.ho, p.wo);
    let per_channel = tasks(c, b * c * ho * wo * k * k, |ch| {
        let mut acc = vec![0f64; k * k];
        let mut buf = Vec::new();
        for n in 0..b {
            let plane = n * c + ch;
            let xp = &x[plane * h * w..(plane + 1) * h * w];
            let dyp = &dy[plane * ho * wo..(plane + 1) * ho * wo];
            either!(fast, &p, w_backward, xp, dyp, &mut acc, &mut buf);
        }
        acc
    });
    per_channel
        .into_iter()
        .flatten()
        .map(|v| v as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, in f64: y[n, c, oh, ow] = Σ_{i, j} W[c, i, j]·x[n, c, oh·s + i·dil − pad,
    /// ow·s + j·dil − pad] over the taps inside the plane.
    fn direct(x: &[f32], wt: &[f32], [b, c, h, w, k, s, dil]: [usize; 7]) -> Vec<f64> {
        let (ho, wo) = (dw_out_len(h, s), dw_out_len(w, s));
        let pad = (dil * (k / 2)) as isize;
        let mut y = vec![0f64; b * c * ho * wo];
        for n in 0..b {
            for ch in 0..c {
                for oh in 0..ho {
                    for ow in 0..wo {
                        let mut acc = 0f64;
                        for i in 0..k {
                            for j in 0..k {
                                let ih = (oh * s + i * dil) as isize - pad;
                                let iw = (ow * s + j * dil) as isize - pad;
                                if (0..h as isize).contains(&ih) && (0..w as isize).contains(&iw) {
                                    let xv = x[((n * c + ch) * h + ih as usize) * w + iw as usize];
                                    acc += wt[(ch * k + i) * k + j] as f64 * xv as f64;
                                }
                            }
                        }
                        y[((n * c + ch) * ho + oh) * wo + ow] = acc;
                    }
                }
            }
        }
        y
    }

    /// Deterministic values in ±0.5, a different sequence for each `seed`.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        let offset = seed.wrapping_mul(0x9E37_79B9);
        (0..n)
            .map(|i| {
                let v = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(offset) >> 8;
                v as f32 / (1 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// Both copies (baseline and, where the CPU has it, AVX2 + FMA) of all three kernels against
    /// the definition: the forward directly, ∇x and ∇W through ⟨dy, y(x, W)⟩'s linearity
    /// (⟨∇x, e⟩ = ⟨dy, y(e, W)⟩ for a basis of random directions e, likewise for W).
    #[test]
    fn both_copies_match_the_definition() {
        for d in [
            [2, 3, 7, 9, 3, 1, 1],
            [2, 3, 7, 9, 5, 2, 2],
            [1, 2, 16, 16, 5, 1, 2],
            [1, 2, 33, 31, 3, 2, 1],
            [1, 1, 2, 3, 5, 1, 2],
        ] {
            let [b, c, h, w, k, s, _] = d;
            let (ho, wo) = (dw_out_len(h, s), dw_out_len(w, s));
            let x = values(b * c * h * w, 1);
            let wt = values(c * k * k, 2);
            let dy = values(b * c * ho * wo, 3);
            let want = direct(&x, &wt, d);
            let ex = values(b * c * h * w, 4);
            let ew = values(c * k * k, 5);
            let inner =
                |a: &[f32], b: &[f64]| a.iter().zip(b).map(|(p, q)| *p as f64 * q).sum::<f64>();
            let dot32 = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .map(|(p, q)| *p as f64 * *q as f64)
                    .sum::<f64>()
            };
            let want_dx = inner(&dy, &direct(&ex, &wt, d));
            let want_dw = inner(&dy, &direct(&x, &ew, d));
            for fast in [false, true] {
                let y = dw_forward_with(fast, &x, &wt, d);
                let worst = y
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (*a as f64 - b).abs())
                    .fold(0.0, f64::max);
                // Sums of ≤ 25 products of values in ±0.5: measured ≤ 1.7e-7, bound 2e-6.
                assert!(worst < 2e-6, "{d:?} fast={fast}: forward off by {worst}");
                let dx = dw_x_backward_with(fast, &dy, &wt, d);
                let dw = dw_w_backward_with(fast, &x, &dy, d);
                let (gx, gw) = (dot32(&dx, &ex), dot32(&dw, &ew));
                // Measured ≤ 3e-7 against sums of size ~1; bound 1e-5.
                assert!(
                    (gx - want_dx).abs() < 1e-5,
                    "{d:?} fast={fast}: ∇x {gx} vs {want_dx}"
                );
                assert!(
                    (gw - want_dw).abs() < 1e-5,
                    "{d:?} fast={fast}: ∇W {gw} vs {want_dw}"
                );
            }
        }
    }
}
