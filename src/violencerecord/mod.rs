// SPDX-License-Identifier: MPL-2.0

//! `violencerecord`: a bin that keeps only the violent minutes of an encoded stream, one
//! finalized file per event with pre-roll and post-roll (docs/recording.md).
//!
//! Inside: an `appsink` (sync=false, async=false, so it never blocks a tee and never holds
//! up preroll) feeds a ring of encoded frames ([`recorder`]); each file is a per-event
//! branch `appsrc ! <muxer-factory> ! filesink` added while the file is open and removed
//! once the muxer has written its last byte. The default muxer is `mp4mux` with
//! `fragment-duration`, in qtmux's `first-moov-then-finalise` mode: a file killed mid-event
//! plays up to its last complete fragment, a finished one is a regular MP4 with its
//! duration and index; `matroskamux` and `mpegtsmux` also work. Each file has its own
//! timeline from 0 ([`branch::Timeline`]).
//!
//! Events come in-band (serialized `violence-start` / `violence-end` custom events that
//! travel through an encoder) or, with `source=<violenceclassify name>`, out-of-band from
//! that element's `violence-event` signal, matched to this stream by running time
//! (`source=a,b`: several classifiers, an event running while any of them is in one). The
//! level state in `ViolenceMeta`, where it reaches the recorder, repairs lost events.
//!
//! An optional `audio` request pad takes the camera's encoded audio, held beside the ring
//! ([`audio`]) and written into each file up to where its video is. With `mode=segments` a
//! stock `splitmuxsink` child writes the stream in segments, and only those that overlap an
//! event with its pre-roll and post-roll are kept ([`segments`]).
//!
//! ## Example pipeline
//!
//! Writes one file per violence event (none for a test pattern), with 5 s of pre-roll and post-roll.
//!
//! ```text
//! gst-launch-1.0 -e videotestsrc num-buffers=100 ! videoconvert ! clipbuffer ! violenceclassify model-location=models/default.pt ! videoconvert ! x264enc ! h264parse ! violencerecord location=violence-%05d.mp4
//! ```

use gst::glib;
use gst::prelude::*;

pub mod audio_ring;
pub mod branch;
mod imp;
pub mod journal;
pub mod location;
pub mod recorder;
pub mod segment_keeper;
mod settings;

/// The example pipeline above, also shown by `gst-inspect-1.0 violencerecord`.
pub const EXAMPLE_LAUNCH: &str =
    "gst-launch-1.0 -e videotestsrc num-buffers=100 ! videoconvert ! clipbuffer ! violenceclassify model-location=models/default.pt ! videoconvert ! x264enc ! h264parse ! violencerecord location=violence-%05d.mp4";

glib::wrapper! {
    pub struct ViolenceRecord(ObjectSubclass<imp::ViolenceRecord>) @extends gst::Bin, gst::Element, gst::Object, @implements gst::ChildProxy;
}

/// What a file that cannot be opened or written (read-only folder, full disk) does.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstViolenceRecordWriteErrorPolicy")]
pub enum WriteErrorPolicy {
    #[default]
    #[enum_value(
        name = "Error on open: a file that cannot be opened is an element error (a wrong location shows at once); a file failing later is a warning and the stream goes on",
        nick = "error-on-open"
    )]
    ErrorOnOpen = 0,
    #[enum_value(
        name = "Error: any failed file is an element error that stops the stream",
        nick = "error"
    )]
    Error = 1,
    #[enum_value(
        name = "Skip: any failed file is a warning; what was written stays, the stream and later events go on",
        nick = "skip"
    )]
    Skip = 2,
}

/// How the violent minutes reach the disk.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstViolenceRecordMode")]
pub enum RecordMode {
    #[default]
    #[enum_value(
        name = "Events: one file per event from a ring of encoded frames in memory, written by its own muxer branch",
        nick = "events"
    )]
    Events = 0,
    #[enum_value(
        name = "Segments: a stock splitmuxsink (child \"splitmuxsink\") writes the stream in segments; those overlapping an event with its pre-roll and post-roll are kept, the others deleted as soon as no event can reach them",
        nick = "segments"
    )]
    Segments = 1,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Documented with the element: gst-inspect and the docs list their values.
    WriteErrorPolicy::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    RecordMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "violencerecord",
        gst::Rank::NONE,
        ViolenceRecord::static_type(),
    )
}
