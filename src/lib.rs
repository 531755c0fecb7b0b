// SPDX-License-Identifier: MPL-2.0

//! gst-violence: GStreamer elements that detect violence in video with a TorchScript
//! classifier. See docs/architecture.md for the architecture.

// The elements, in the order a pipeline uses them (docs/architecture.md "Elements and data flow").
pub mod bboxoverlay;
pub mod clipbuffer;
pub mod hardattentioncrop;
pub mod opticalflow;
pub mod persondetect;
pub mod violenceclassify;
pub mod violencemqtt;
pub mod violencerecord;

// What they share: metadata on frames, models, violence events, and the queries and events
// that travel between the elements.
pub mod clipshape;
pub mod event;
pub mod facts;
pub mod meta;
pub mod model;
pub mod query;
pub(crate) mod sources;

// Shared by the programs in examples/, the tests and the benchmarks; not the plugin's.

/// Running time in nanoseconds of `t` in `segment`, the clock that clips, events and files
/// share; `None` for a segment not in time or a `t` outside it.
pub(crate) fn running_time_ns(segment: &gst::Segment, t: gst::ClockTime) -> Option<u64> {
    segment
        .downcast_ref::<gst::ClockTime>()?
        .to_running_time(t)
        .map(gst::ClockTime::nseconds)
}

/// Numbers separated by commas, as the box and per-channel properties take them ("1, 2,3");
/// `what` names one number in the error ("a number", "a pixel count").
pub(crate) fn parse_numbers<T: std::str::FromStr>(s: &str, what: &str) -> Result<Vec<T>, String> {
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<T>()
                .map_err(|_| format!("'{p}' is not {what}"))
        })
        .collect()
}

/// One way to take a lock in every element.
pub(crate) trait MutexExt<T> {
    /// Locks, and recovers the data when a thread panicked while holding the lock: the
    /// elements keep their state consistent between statements, and a panic in one
    /// streaming thread must not become a second panic in every other thread.
    fn locked(&self) -> std::sync::MutexGuard<'_, T>;
}

impl<T> MutexExt<T> for std::sync::Mutex<T> {
    fn locked(&self) -> std::sync::MutexGuard<'_, T> {
        self.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Always-present `src` and `sink` pad templates with the same caps, as every element of
/// the plugin but the recorder bin has.
pub(crate) fn src_sink_templates(caps: &gst::Caps) -> Vec<gst::PadTemplate> {
    [
        ("src", gst::PadDirection::Src),
        ("sink", gst::PadDirection::Sink),
    ]
    .into_iter()
    .map(|(name, direction)| {
        gst::PadTemplate::new(name, direction, gst::PadPresence::Always, caps)
            .expect("valid pad template")
    })
    .collect()
}

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    if let Some(file) = plugin.filename() {
        model::locate::set_plugin_file(file);
    }
    meta::register();
    opticalflow::register(plugin)?;
    persondetect::register(plugin)?;
    clipbuffer::register(plugin)?;
    violenceclassify::register(plugin)?;
    violencemqtt::register(plugin)?;
    bboxoverlay::register(plugin)?;
    hardattentioncrop::register(plugin)?;
    violencerecord::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    violence,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
