//! Work planning: the worker pool (every parallel loop of the crate runs on a rayon pool of
//! the requested size, one pool per size, built once) and the default batch size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Default number of values per batch tensor (512 KiB in float64).
pub const DEFAULT_CHUNK_ELEMENTS: usize = 1 << 16;

/// Number of threads for a request of `n` (0: one per available core).
pub fn resolve(n: usize) -> usize {
    if n == 0 {
        std::thread::available_parallelism().map(|v| v.get()).unwrap_or(1)
    } else {
        n
    }
}

fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    pools
        .entry(threads)
        .or_insert_with(|| Arc::new(rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool")))
        .clone()
}

/// Run `f` (which may use rayon's parallel iterators) on a pool of `threads` threads
/// (0: one per core).
pub fn run<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    pool(resolve(threads)).install(f)
}
