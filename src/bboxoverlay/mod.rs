// SPDX-License-Identifier: MPL-2.0

//! `bboxoverlay`: draws every region of interest (ours and other elements'), labels with
//! scores, the violence state banner and an optional score graph, in place, in RGB(A) and
//! the common YUV formats.
//!
//! ## Example pipeline
//!
//! Draws the motion box, the score and the state on the preview.
//!
//! ```text
//! gst-launch-1.0 videotestsrc num-buffers=64 ! videoconvert ! opticalflow ! clipbuffer ! violenceclassify model-location=models/default.pt ! bboxoverlay ! videoconvert ! autovideosink
//! ```

use gst::glib;
use gst::prelude::*;

pub mod draw;
mod imp;
pub mod spec;

/// The example pipeline above, also shown by `gst-inspect-1.0 bboxoverlay`.
pub const EXAMPLE_LAUNCH: &str =
    "gst-launch-1.0 videotestsrc num-buffers=64 ! videoconvert ! opticalflow ! clipbuffer ! violenceclassify model-location=models/default.pt ! bboxoverlay ! videoconvert ! autovideosink";

glib::wrapper! {
    pub struct BboxOverlay(ObjectSubclass<imp::BboxOverlay>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "bboxoverlay",
        gst::Rank::NONE,
        BboxOverlay::static_type(),
    )
}
