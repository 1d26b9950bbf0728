//! Matrix products through the `gemm` crate, with strides so transposes cost nothing.

use std::mem::MaybeUninit;

/// `dst[m, n] = a[m, k] × b[k, n]` (plus `dst` when `accumulate`), `dst` row-major; `a` and `b`
/// given as (row stride, column stride) so transposes cost nothing.
pub(crate) fn gemm(
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
pub(crate) fn gemm_into(
    dims: [usize; 3],
    dst: &mut [MaybeUninit<f32>],
    a: (&[f32], [usize; 2]),
    b: (&[f32], [usize; 2]),
) {
    gemm_raw(dims, dst, false, a, b);
}

/// [`gemm`]; `dst` is read only when `accumulate` (gemm's `read_dst`).
pub(crate) fn gemm_raw(
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
