// SPDX-License-Identifier: MPL-2.0

//! Not part of the plugin: the code that the programs in `examples/` (extraction,
//! evaluation, memory checks) share with the tests and benchmarks. A crate of its own, so
//! that the plugin library holds only the plugin.

pub mod event_metrics;
pub mod extract;
pub mod manifest;
pub mod rss;
