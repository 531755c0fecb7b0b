//! `violencerecord`: a bin that keeps only the violent minutes of an encoded stream, one
//! finalized file per event with pre-roll and post-roll (DESIGN.md "Recording").
//!
//! Inside: an `appsink` (sync=false, async=false, so it never blocks a tee and never holds
//! up preroll) feeds a ring of encoded frames ([`recorder`]); each file is a per-event
//! branch `appsrc ! <muxer-factory> ! filesink` added while the file is open and removed
//! once the muxer has written its last byte. The default muxer is `mp4mux` with
//! `fragment-duration` (fragmented MP4: a file killed mid-event plays up to its last
//! complete fragment); `matroskamux` and `mpegtsmux` also work.
//!
//! Events come in-band (serialized `violence-start` / `violence-end` custom events that
//! travel through an encoder) or, with `source=<violenceclassify name>`, out-of-band from
//! that element's `violence-event` signal, matched to this stream by running time. The
//! level state in `ViolenceMeta`, where it reaches the recorder, repairs lost events.

use gst::glib;
use gst::prelude::*;

mod imp;
pub mod location;
pub mod recorder;

glib::wrapper! {
    pub struct ViolenceRecord(ObjectSubclass<imp::ViolenceRecord>) @extends gst::Bin, gst::Element, gst::Object, @implements gst::ChildProxy;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "violencerecord",
        gst::Rank::NONE,
        ViolenceRecord::static_type(),
    )
}
