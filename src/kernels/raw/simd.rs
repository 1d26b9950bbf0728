//! Wider vectors where the CPU has them: the row loops of our kernels are written once, generic
//! over `const FMA: bool`, and compiled twice: as the build's baseline (x86-64's SSE2, wasm's
//! SIMD128) and, on x86-64 CPUs that report AVX2 and FMA at run time, inside a
//! `#[target_feature(enable = "avx2,fma")]` copy where the same loops become 8-wide fused
//! multiply-adds. The gemm crate dispatches its microkernels the same way. Results differ from
//! the baseline copy's only by FMA's single rounding (tested against burn's ops on both copies).

/// Whether this CPU runs the AVX2 + FMA copies (std caches the check).
#[inline]
pub(crate) fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `a·b + c`: one fused instruction in the FMA copy, a multiply and an add in the baseline one
/// (where `mul_add` would be a library call).
#[inline(always)]
pub(crate) fn fma<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `y[i] += a·x[i]` over the shorter of the two.
#[inline(always)]
pub(crate) fn axpy<const FMA: bool>(a: f32, x: &[f32], y: &mut [f32]) {
    for (yv, xv) in y.iter_mut().zip(x) {
        *yv = fma::<FMA>(a, *xv, *yv);
    }
}

/// Σ x[i]·y[i] over the shorter of the two, in 8 interleaved partial sums (so the loop
/// vectorises; a single running sum is a serial chain the compiler may not reorder).
#[inline(always)]
pub(crate) fn dot<const FMA: bool>(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [0f32; 8];
    let (cx, cy) = (x.chunks_exact(8), y.chunks_exact(8));
    let (rx, ry) = (cx.remainder(), cy.remainder());
    for (a, b) in cx.zip(cy) {
        for l in 0..8 {
            acc[l] = fma::<FMA>(a[l], b[l], acc[l]);
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (a, b) in rx.iter().zip(ry) {
        s = fma::<FMA>(*a, *b, s);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_axpy_agree_with_plain_loops_on_both_copies() {
        let x: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin()).collect();
        let y: Vec<f32> = (0..37).map(|i| (i as f32 * 0.11).cos()).collect();
        let want: f64 = x.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).sum();
        for got in [dot::<false>(&x, &y), dot::<true>(&x, &y)] {
            // f32 sums of 37 terms of size ≤ 1: measured 1e-7, bound 1e-5.
            assert!((got as f64 - want).abs() < 1e-5, "{got} vs {want}");
        }
        let mut a = y.clone();
        let mut b = y.clone();
        axpy::<false>(0.5, &x, &mut a);
        axpy::<true>(0.5, &x, &mut b);
        for ((p, q), (xv, yv)) in a.iter().zip(&b).zip(x.iter().zip(&y)) {
            let w = 0.5 * xv + yv;
            assert!((p - w).abs() < 1e-6 && (q - w).abs() < 1e-6);
        }
    }
}
