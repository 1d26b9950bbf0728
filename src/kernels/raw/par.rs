//! Thread plumbing: outputs filled in parallel chunks by rayon, or on the calling thread inside
//! [`serial`] and below a size where waking rayon costs more than the work.

use std::mem::MaybeUninit;

std::thread_local! {
    /// Set while this thread runs its kernels on its own ([`serial`]).
    static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with this thread's kernels kept on this thread (no rayon tasks): for work that is
/// already parallel at a coarser grain, such as the two perturbed passes of the central scheme,
/// which run at once on two threads (`nasi::both`). The results are the same bits either way.
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    /// Restores the thread's mode when `f` returns or unwinds.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SERIAL.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SERIAL.with(|s| s.replace(true)));
    f()
}

pub(crate) fn in_serial() -> bool {
    SERIAL.with(|s| s.get())
}

/// Elements per task of the elementwise kernels (256 KiB of f32).
pub(crate) const CHUNK: usize = 1 << 16;

/// Below this many elements a kernel runs on the calling thread: waking rayon's threads costs
/// more than the work (the page's tiny preset has 2,048-element tensors; a parallel version
/// made its step ~40 % slower).
pub(crate) const PARALLEL_MIN: usize = 1 << 14;

/// `f(0), …, f(tasks − 1)` in order: on rayon's threads when the call touches at least
/// [`PARALLEL_MIN`] `elements`, else here. The results are the same either way.
pub(crate) fn tasks<T: Send>(
    tasks: usize,
    elements: usize,
    f: impl Fn(usize) -> T + Sync + Send,
) -> Vec<T> {
    use rayon::prelude::*;
    if elements < PARALLEL_MIN || in_serial() {
        (0..tasks).map(f).collect()
    } else {
        (0..tasks).into_par_iter().map(f).collect()
    }
}

/// A vector of `n` values filled chunk by chunk (`chunk` elements each; the last may be shorter)
/// by `fill(chunk index, chunk)` on rayon's threads. Each chunk is zeroed by the thread that
/// fills it, so the first touch of fresh pages is parallel too (a `vec![0.0; n]` would zero it
/// all on the calling thread).
pub(crate) fn par_vec(n: usize, chunk: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let zeroed = |i: usize, part: &mut [MaybeUninit<f32>]| {
        part.fill(MaybeUninit::new(0.0));
        // SAFETY: every element of `part` was initialised on the line above, and
        // `MaybeUninit<f32>` has the layout of `f32`.
        fill(i, unsafe {
            &mut *(part as *mut [MaybeUninit<f32>] as *mut [f32])
        });
    };
    // SAFETY: `zeroed` initialises every value of its chunk.
    unsafe { par_vec_uninit(n, chunk, zeroed) }
}

/// [`par_vec`] without the zeroing, for kernels that write every value of their output
/// (the convolution's GEMM, the elementwise kernels): one pass less over each output.
///
/// # Safety
///
/// `write(i, chunk)` must initialise every value of `chunk`.
pub(crate) unsafe fn par_vec_uninit(
    n: usize,
    chunk: usize,
    write: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    use rayon::prelude::*;
    let mut v: Vec<f32> = Vec::with_capacity(n);
    let parts = &mut v.spare_capacity_mut()[..n];
    let task = |(i, part): (usize, &mut [MaybeUninit<f32>])| write(i, part);
    if n < PARALLEL_MIN || in_serial() {
        parts.chunks_mut(chunk.max(1)).enumerate().for_each(task);
    } else {
        parts
            .par_chunks_mut(chunk.max(1))
            .enumerate()
            .for_each(task);
    }
    // SAFETY: the chunks cover `0..n`, and `write` initialised each (the caller's contract).
    unsafe { v.set_len(n) };
    v
}

/// `f(x₀[i], x₁[i], …)` for every `i` of `N` equally long slices, in parallel chunks.
pub(crate) fn map<const N: usize>(
    xs: &[&[f32]; N],
    f: impl Fn([f32; N]) -> f32 + Sync,
) -> Vec<f32> {
    let n = xs[0].len();
    assert!(
        xs.iter().all(|x| x.len() == n),
        "elementwise: lengths differ"
    );
    let write = |c: usize, out: &mut [MaybeUninit<f32>]| {
        let at = c * CHUNK;
        let parts = xs.map(|x| &x[at..at + out.len()]);
        for (j, o) in out.iter_mut().enumerate() {
            o.write(f(parts.map(|p| p[j])));
        }
    };
    // SAFETY: `write` writes every value of its chunk.
    unsafe { par_vec_uninit(n, CHUNK, write) }
}
