//! Independent jobs of a partition's build: on every core natively (rayon's threads), one
//! after another in the browser (which builds none, and whose wasm has no threads here). What
//! they compute does not depend on how many cores there are: each job writes its own part of
//! the output, and the parts are fixed by their sizes alone.

pub(super) use imp::{fill, map};

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use rayon::prelude::*;

    /// Items one job fills.
    const CHUNK: usize = 4096;

    /// Fills `out` by `f(first, part)` for its parts of [`CHUNK`] items (`first`: the index
    /// of the part's first item), in parallel where there is more than one part.
    pub fn fill<T: Send>(out: &mut [T], f: impl Fn(usize, &mut [T]) + Sync + Send) {
        if out.len() <= CHUNK {
            f(0, out);
            return;
        }
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(k, part)| f(k * CHUNK, part));
    }

    /// `f(0)`, ..., `f(n - 1)`, in parallel, in that order.
    pub fn map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
        (0..n).into_par_iter().map(f).collect()
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    /// Items one job fills, as on many cores.
    const CHUNK: usize = 4096;

    /// Fills `out` by `f(first, part)` for its parts of [`CHUNK`] items, one after another.
    pub fn fill<T: Send>(out: &mut [T], f: impl Fn(usize, &mut [T]) + Sync + Send) {
        for (k, part) in out.chunks_mut(CHUNK).enumerate() {
            f(k * CHUNK, part);
        }
    }

    /// `f(0)`, ..., `f(n - 1)`, in that order.
    pub fn map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
        (0..n).map(f).collect()
    }
}
