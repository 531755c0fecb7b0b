// SPDX-License-Identifier: MPL-2.0

//! The process's resident memory (Linux), for the memory checks of the tools and benchmarks.

/// VmRSS of this process in KiB, 0 when /proc cannot tell.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
