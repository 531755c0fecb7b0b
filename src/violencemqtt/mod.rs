// SPDX-License-Identifier: MPL-2.0

//! `violencemqtt`: publishes the violence events it sees in-band (placed anywhere after
//! `violenceclassify`), or with `source=a,b` those of the named classifiers merged (an event
//! while any of them is in one), to an MQTT broker, as JSON on `<prefix>/<camera>/events`,
//! with the camera's state (`ON` / `OFF`) retained on `<prefix>/<camera>/state`. Frames and
//! events pass unchanged. A thread of its own owns the connection: it queues events while the
//! broker is unreachable, reconnects with backoff, and sends them in order when it is back.
//!
//! ## Example pipeline
//!
//! Publishes the events of the default model to the broker on localhost (an unreachable broker is a warning, not an error).
//!
//! ```text
//! gst-launch-1.0 videotestsrc num-buffers=64 ! videoconvert ! clipbuffer ! violenceclassify model-location=models/default.pt ! violencemqtt host=localhost camera=cam1 ! fakesink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;
pub mod link;
pub mod outbox;
pub mod payload;
mod settings;

/// The example pipeline above, also shown by `gst-inspect-1.0 violencemqtt`.
pub const EXAMPLE_LAUNCH: &str =
    "gst-launch-1.0 videotestsrc num-buffers=64 ! videoconvert ! clipbuffer ! violenceclassify model-location=models/default.pt ! violencemqtt host=localhost camera=cam1 ! fakesink";

glib::wrapper! {
    pub struct ViolenceMqtt(ObjectSubclass<imp::ViolenceMqtt>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "violencemqtt",
        gst::Rank::NONE,
        ViolenceMqtt::static_type(),
    )
}
