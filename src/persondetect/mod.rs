// SPDX-License-Identifier: MPL-2.0

//! `persondetect`: where the people are. A TorchScript person detector (MoveNet MultiPose's
//! person-centre and box heads, `models/people.pt`) runs at a low rate (`interval`) and, by
//! default, only on the part of the frame where something moved since the last detection,
//! looked at up to 3x closer than the whole frame: small moving people are found and still
//! scenes cost no forward. Every frame carries the last people found as
//! `GstVideoRegionOfInterestMeta` of type `person` with a `detection` structure (`confidence`,
//! `label`, and `motion`: the share of the box that changed since the previous detection).
//! bboxoverlay draws them; `hardattentioncrop region-source=people` crops the moving group.
//!
//! ## Example pipeline
//!
//! Draws the people of a file (here a test pattern, which has none; use your own video with
//! `uridecodebin uri=file:///in.mp4` in place of `videotestsrc`):
//!
//! ```text
//! gst-launch-1.0 videotestsrc num-buffers=30 ! videoconvert ! persondetect model-location=models/people.pt ! bboxoverlay ! videoconvert ! autovideosink
//! ```

use gst::glib;
use gst::prelude::*;

mod detector;
mod imp;
pub mod people;

pub use detector::Detector;

/// The example pipeline above, also shown by `gst-inspect-1.0 persondetect`.
pub const EXAMPLE_LAUNCH: &str = "gst-launch-1.0 videotestsrc num-buffers=30 ! videoconvert ! persondetect model-location=models/people.pt ! bboxoverlay ! videoconvert ! autovideosink";

glib::wrapper! {
    pub struct PersonDetect(ObjectSubclass<imp::PersonDetect>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "persondetect",
        gst::Rank::NONE,
        PersonDetect::static_type(),
    )
}
