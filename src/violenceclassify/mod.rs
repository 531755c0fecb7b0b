// SPDX-License-Identifier: MPL-2.0

//! `violenceclassify`: scores the clips that clipbuffer attaches with a TorchScript model,
//! decides when violence starts and ends, and reports it as `ViolenceMeta` on every frame,
//! bus messages and downstream serialized events. Video passes unchanged.
//!
//! ## Example pipeline
//!
//! Scores every clip with the default model; `-m` shows the `violence-stats` messages and any `violence-start` / `violence-end`.
//!
//! ```text
//! gst-launch-1.0 -m videotestsrc num-buffers=64 ! videoconvert ! clipbuffer ! violenceclassify model-location=models/default.pt ! fakesink
//! ```

use gst::glib;
use gst::prelude::*;

pub mod calibration;
pub mod decision;
mod imp;
pub mod scene_cut;
pub mod scoring;
mod settings;

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

/// What a failed forward (an exception, NaN or infinite outputs, a wrong shape) does.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstViolenceModelErrorPolicy")]
pub enum ModelErrorPolicy {
    #[default]
    #[enum_value(
        name = "Error: post an element error and stop the stream",
        nick = "error"
    )]
    Error = 0,
    #[enum_value(
        name = "Skip: drop the clip, count it, post a warning, keep the stream going",
        nick = "skip"
    )]
    Skip = 1,
}

/// What violenceclassify does with its `calibration-location` file.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstViolenceCalibrationMode")]
pub enum CalibrationMode {
    #[default]
    #[enum_value(
        name = "Apply: windows like this camera's calibrated normal ones need more evidence",
        nick = "apply"
    )]
    Apply = 0,
    #[enum_value(
        name = "Learn: add this stream's windows to the file as the camera's normal (decisions uncalibrated)",
        nick = "learn"
    )]
    Learn = 1,
    #[enum_value(
        name = "Learn false alarm: add this stream's windows to the file as a recorded false alarm",
        nick = "learn-false-alarm"
    )]
    LearnFalseAlarm = 2,
}

/// The example pipeline above, also shown by `gst-inspect-1.0 violenceclassify`.
pub const EXAMPLE_LAUNCH: &str =
    "gst-launch-1.0 -m videotestsrc num-buffers=64 ! videoconvert ! clipbuffer ! violenceclassify model-location=models/default.pt ! fakesink";

glib::wrapper! {
    pub struct ViolenceClassify(ObjectSubclass<imp::ViolenceClassify>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Documented with the element: gst-inspect and the docs list their values.
    Mode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    ModelErrorPolicy::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    CalibrationMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "violenceclassify",
        gst::Rank::NONE,
        ViolenceClassify::static_type(),
    )
}
