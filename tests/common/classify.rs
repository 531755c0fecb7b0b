// SPDX-License-Identifier: MPL-2.0

//! violenceclassify test support for the `classify_*` tests: the clips clipbuffer makes
//! (T frames every STRIDE) and the exact PTS of the clips the motion model calls violent.

use super::{model, FRAME_NS};
use gstviolence::event::ViolenceEvent;

pub const T: u64 = 8;
pub const STRIDE: u64 = 2;

/// Index range of the clips (clip k covers frames [STRIDE k, STRIDE k + T - 1]) that see
/// motion on frames [a, b): a pair (i, i+1) differs for a-1 <= i <= b-1.
pub fn violent_clips(a: u64, b: u64, frames: u64) -> std::ops::RangeInclusive<u64> {
    let last_clip = (frames - T) / STRIDE;
    let first = (a + 1).saturating_sub(T).div_ceil(STRIDE);
    let last = ((b - 1) / STRIDE).min(last_clip);
    first..=last
}

pub fn clip_first_ns(k: u64) -> u64 {
    STRIDE * k * FRAME_NS
}
pub fn clip_last_ns(k: u64) -> u64 {
    (STRIDE * k + T - 1) * FRAME_NS
}

pub fn classify(extra: &str) -> String {
    format!(
        "clipbuffer stride={STRIDE} ! violenceclassify model-location={} mode=sync {extra}",
        model("motion.pt")
    )
}

pub fn only(events: Vec<ViolenceEvent>) -> ViolenceEvent {
    assert_eq!(events.len(), 1, "{events:?}");
    events.into_iter().next().unwrap()
}
