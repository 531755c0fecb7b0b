//! `bboxoverlay`: draws every region of interest (ours and other elements'), labels with
//! scores, the violence state banner and an optional score graph, in place, in RGB(A) and
//! the common YUV formats.

use gst::glib;
use gst::prelude::*;

pub mod draw;
mod imp;
pub mod spec;

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
