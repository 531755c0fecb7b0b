//! `clipbuffer`: samples frames into windows of T frames at the model's size and attaches
//! them as `ClipMeta` to the frame that completes each window. Video passes unchanged.

use gst::glib;
use gst::prelude::*;

mod area;
mod imp;
pub mod window;

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
