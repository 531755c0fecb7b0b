// SPDX-License-Identifier: MPL-2.0

//! The out-of-band connection of `violencerecord source=<names>` and `violencemqtt
//! source=<names>` to `violenceclassify` elements in the same pipeline: their
//! `violence-event` signals, a probe that reads the level state (`ViolenceMeta`) on each
//! output, and their merge when there are several ([`either`]).

pub mod either;

use crate::event::ViolenceEvent;
use crate::meta::{ViolenceMeta, ViolenceState};
use gst::prelude::*;

/// The level state seen on the source's output at running time `now`: violent or not, and
/// the running time of the first frame of the clip that decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub now: u64,
    pub violent: bool,
    pub clip_start: Option<u64>,
}

/// A connected source; [`SourceConnection::disconnect`] undoes it.
#[derive(Debug)]
pub struct SourceConnection {
    element: glib::WeakRef<gst::Element>,
    signal: glib::SignalHandlerId,
    level_probe: Option<gst::PadProbeId>,
}

/// The violenceclassify names of a `source` property, separated by commas, in order (none:
/// in-band events).
pub fn names(source: Option<&str>) -> Vec<String> {
    source
        .into_iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect()
}

/// The `violenceclassify` elements named in `names`, in order; the error names the first
/// one missing.
pub fn find_all(member: &gst::Element, names: &[String]) -> Result<Vec<gst::Element>, String> {
    names
        .iter()
        .map(|name| {
            find(member, name)
                .ok_or_else(|| format!("source: no violenceclassify named {name} in this pipeline"))
        })
        .collect()
}

/// The `violenceclassify` named `name` in the top-level bin that holds `member`.
pub fn find(member: &gst::Element, name: &str) -> Option<gst::Element> {
    let mut top: gst::Object = member.clone().upcast();
    while let Some(parent) = top.parent() {
        top = parent;
    }
    top.downcast_ref::<gst::Bin>()
        .and_then(|b| b.by_name(name))
        .filter(|e| e.factory().is_some_and(|f| f.name() == "violenceclassify"))
}

impl SourceConnection {
    /// Calls `on_event` with each event `source` decides, from the thread that decided it,
    /// and `on_level`, when given, with the level state of each frame it outputs (a probe
    /// on its output, installed only then).
    pub fn connect<L>(
        source: &gst::Element,
        on_event: impl Fn(ViolenceEvent) + Send + Sync + 'static,
        on_level: Option<L>,
    ) -> Self
    where
        L: Fn(Level) + Send + Sync + 'static,
    {
        let signal = source.connect("violence-event", false, move |args| {
            let s = args.get(1)?.get::<gst::Structure>().ok()?;
            if let Some(event) = ViolenceEvent::from_structure(&s) {
                on_event(event);
            }
            None
        });
        let level_probe = on_level
            .zip(source.static_pad("src"))
            .and_then(|(on_level, pad)| {
                pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                    if let Some(level) = info.buffer().and_then(|b| level_of(pad, b)) {
                        on_level(level);
                    }
                    gst::PadProbeReturn::Ok
                })
            });
        SourceConnection {
            element: source.downgrade(),
            signal,
            level_probe,
        }
    }

    pub fn disconnect(self) {
        let Some(element) = self.element.upgrade() else {
            return;
        };
        element.disconnect(self.signal);
        if let (Some(pad), Some(probe)) = (element.static_pad("src"), self.level_probe) {
            pad.remove_probe(probe);
        }
    }
}

/// The level state that `buffer`, about to leave `pad`, carries, in running time.
fn level_of(pad: &gst::Pad, buffer: &gst::BufferRef) -> Option<Level> {
    let meta = buffer.meta::<ViolenceMeta>()?;
    let segment = pad.sticky_event::<gst::event::Segment>(0)?;
    let rt = |t| crate::running_time_ns(segment.segment(), t);
    let now = rt(buffer.pts()?)?;
    let info = meta.payload();
    Some(Level {
        now,
        violent: info.state == ViolenceState::Violent,
        clip_start: info.clip_window.and_then(|(a, _)| rt(a)),
    })
}
