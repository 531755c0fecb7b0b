// SPDX-License-Identifier: MPL-2.0

//! `clipbuffer`: samples frames into windows of T frames at the model's size and attaches
//! them as `ClipMeta` to the frame that completes each window. Video passes unchanged.
//!
//! ## Example pipeline
//!
//! Attaches a 16-frame, 112x112 clip to every frame that completes a window.
//!
//! ```text
//! gst-launch-1.0 videotestsrc num-buffers=64 ! videoconvert ! clipbuffer clip-length=16 frame-step=2 width=112 height=112 ! fakesink
//! ```

use gst::glib;
use gst::prelude::*;

mod area;
mod imp;
mod prepare;
pub mod window;

pub(crate) use imp::FORMATS;

/// The example pipeline above, also shown by `gst-inspect-1.0 clipbuffer`.
pub const EXAMPLE_LAUNCH: &str =
    "gst-launch-1.0 videotestsrc num-buffers=64 ! videoconvert ! clipbuffer clip-length=16 frame-step=2 width=112 height=112 ! fakesink";

glib::wrapper! {
    pub struct ClipBuffer(ObjectSubclass<imp::ClipBuffer>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "clipbuffer",
        gst::Rank::NONE,
        ClipBuffer::static_type(),
    )
}
