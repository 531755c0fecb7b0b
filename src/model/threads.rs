// SPDX-License-Identifier: MPL-2.0

//! libtorch's CPU threads.
//!
//! libtorch parallelizes each operator with OpenMP, whose threads spin at every barrier.
//! That pays off only when those threads have cores to themselves. In a pipeline they share
//! the cores with the decoders and the other elements (and on an NVR with other cameras),
//! and a preempted OpenMP thread stalls the whole team: with the default model behind a
//! 720p H.264 decode on this 2-core machine, while other jobs loaded it, one run took 22-28 s
//! with libtorch on both cores against 4 s on one thread. So the worker runs libtorch on one
//! thread unless told otherwise; throughput across streams comes from batching (and from the
//! cores left to decoding), not from splitting one small forward.

use std::sync::Once;

/// The environment variable that sets libtorch's intra-op thread count for the process.
pub const THREADS_ENV: &str = "VIOLENCE_TORCH_THREADS";

/// The intra-op thread count: `VIOLENCE_TORCH_THREADS` when it is a positive number, else 1.
pub fn intra_op_threads(env: Option<&str>) -> i32 {
    env.and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1)
}

/// Sets libtorch's thread counts once per process (they are process-wide). Inter-op
/// parallelism stays off: the worker is the only caller.
pub fn set_thread_count_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let threads = intra_op_threads(std::env::var(THREADS_ENV).ok().as_deref());
        tch::set_num_threads(threads);
        tch::set_num_interop_threads(1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_count_from_environment() {
        assert_eq!(intra_op_threads(None), 1);
        assert_eq!(intra_op_threads(Some("4")), 4);
        assert_eq!(intra_op_threads(Some(" 2 ")), 2);
        assert_eq!(intra_op_threads(Some("0")), 1);
        assert_eq!(intra_op_threads(Some("-3")), 1);
        assert_eq!(intra_op_threads(Some("all")), 1);
    }
}
