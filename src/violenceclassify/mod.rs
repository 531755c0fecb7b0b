//! `violenceclassify`: scores the clips that clipbuffer attaches with a TorchScript model,
//! decides when violence starts and ends, and reports it as `ViolenceMeta` on every frame,
//! bus messages and downstream serialized events. Video passes unchanged.

use gst::glib;
use gst::prelude::*;

pub mod decision;
mod imp;

/// When inference runs relative to the stream.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstViolenceMode")]
pub enum Mode {
    /// `async` when upstream is live, else `sync`.
    #[default]
    #[enum_value(name = "Auto: async for live sources, sync otherwise", nick = "auto")]
    Auto = 0,
    #[enum_value(
        name = "Sync: every clip is scored before its frame goes on (reproducible)",
        nick = "sync"
    )]
    Sync = 1,
    #[enum_value(
        name = "Async: never block the stream; clips that find the queue full are dropped and counted",
        nick = "async"
    )]
    Async = 2,
}

glib::wrapper! {
    pub struct ViolenceClassify(ObjectSubclass<imp::ViolenceClassify>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "violenceclassify",
        gst::Rank::NONE,
        ViolenceClassify::static_type(),
    )
}
