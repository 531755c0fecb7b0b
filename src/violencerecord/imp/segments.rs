// SPDX-License-Identifier: MPL-2.0

//! `mode=segments`: a stock `splitmuxsink` child named `splitmuxsink` takes the stream in
//! place of the ring; its fragment messages and the violence marks go to the
//! [`Keeper`](crate::violencerecord::segment_keeper::Keeper), whose verdicts keep or delete files.

use super::{ViolenceRecord, CAT};
use crate::event::{EventKind, ViolenceEvent};
use crate::violencerecord::recorder::Mark;
use crate::violencerecord::segment_keeper::{Keeper, KeeperConfig, Verdict};
use crate::violencerecord::settings::Settings;
use crate::violencerecord::{journal, location};
use crate::MutexExt;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Name of the splitmuxsink child, for `splitmuxsink::<property>` on a launch line.
pub(super) const SPLITMUX_NAME: &str = "splitmuxsink";
/// The fakesink that drains the audio input of a camera that sends none.
const AUDIO_DISCARD: &str = "audio-discard";

impl ViolenceRecord {
    /// splitmuxsink starts at its start-index whatever the folder holds: moved past the
    /// highest segment of an earlier run (a restart after camera loss), so that none is
    /// written over; the first free index would lie in a gap of deleted segments, before kept
    /// ones. A higher start-index set on the launch line is kept.
    pub(super) fn skip_existing_segments(
        &self,
        settings: &Settings,
    ) -> Result<(), gst::StateChangeError> {
        let Some(smux) = self.splitmux.locked().clone() else {
            return Ok(());
        };
        let start = u32::try_from(smux.property::<i32>("start-index")).unwrap_or(0);
        let now = glib::DateTime::now_local().map_err(|_| gst::StateChangeError)?;
        let pattern = self.written_pattern(settings);
        let (free, name) = location::format(&pattern, start, &now)
            .map(|first| existing_files(&first))
            .and_then(|names| location::after_last(&pattern, start, &now, names))
            .map_err(|e| {
                gst::element_imp_error!(self, gst::ResourceError::Settings, ["{}", e]);
                gst::StateChangeError
            })?;
        if free != start {
            gst::info!(
                CAT,
                imp = self,
                "earlier segments in the folder: starting at {name}"
            );
            smux.set_property("start-index", i32::try_from(free).unwrap_or(i32::MAX));
        }
        Ok(())
    }

    /// The pattern the files are written with: in mode=segments splitmuxsink's, ours or one
    /// set on it from the launch line.
    pub(super) fn written_pattern(&self, settings: &Settings) -> String {
        self.splitmux
            .locked()
            .as_ref()
            .and_then(|smux| smux.property::<Option<String>>("location"))
            .unwrap_or_else(|| settings.location.clone())
    }

    /// A run after the first: splitmuxsink (1.22) resets its timing only at READY->NULL, so
    /// played again from READY it fails on its first GOP ("Queued GOP time is negative"),
    /// and through NULL it does not reliably either. Its sink also keeps the last segment's
    /// name, and a filesink opens (truncates) its file at NULL->READY: a kept last segment
    /// would be emptied as the pipeline comes back from NULL. So before the child goes up
    /// again (at our NULL->READY, or READY->PAUSED from READY) it is taken to NULL, its pads
    /// are released and requested again (a new muxer and sink; the same child, so an
    /// application's handlers and references on it stay valid), our location and
    /// segment-duration applied where they changed, and it numbers on after the segments in
    /// the folder, the earlier runs' included.
    /// True when it reset (and numbered) the child.
    pub(super) fn restart_segments(&self) -> Result<bool, gst::StateChangeError> {
        let Some(smux) = self.splitmux.locked().clone() else {
            return Ok(false);
        };
        if !self.splitmux_dirty.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let settings = self.settings.locked().clone();
        self.check_segments_location(&settings.location)?;
        gst::info!(
            CAT,
            imp = self,
            "played again: splitmuxsink reset through NULL"
        );
        smux.set_state(gst::State::Null)?;
        // The last run's stand-in for a camera without audio goes: this run waits again.
        let obj = self.obj();
        if let Some(discard) = obj.by_name(AUDIO_DISCARD) {
            let _ = discard.set_locked_state(true);
            let _ = discard.set_state(gst::State::Null);
            let _ = obj.remove(&discard);
        }
        for pad in smux.sink_pads() {
            smux.release_request_pad(&pad);
        }
        self.link_segments(&smux)?;
        // Our location and segment-duration, where they changed in READY.
        {
            let mut applied = self.applied_segments.locked();
            if applied.0 != settings.location {
                smux.set_property("location", &settings.location);
            }
            if applied.1 != settings.segment_duration {
                smux.set_property("max-size-time", settings.segment_duration);
            }
            *applied = (settings.location.clone(), settings.segment_duration);
        }
        // Numbered before READY: splitmuxsink takes its start-index then.
        self.skip_existing_segments(&settings)?;
        smux.set_state(gst::State::Ready)?;
        // Only now: a reset that failed half-way is done again by the next start.
        self.splitmux_dirty.store(false, Ordering::SeqCst);
        Ok(true)
    }

    /// The splitmuxsink child takes the stream: made (with our location and
    /// segment-duration, before it is added, so that what a launch line sets on it wins),
    /// added, and the sink pad pointed at it. The ring's appsink leaves the bin: a sink
    /// that never gets EOS would hold the bin's EOS back.
    pub(super) fn setup_segments(&self, settings: &Settings) -> Result<(), gst::StateChangeError> {
        let obj = self.obj();
        let mut slot = self.splitmux.locked();
        if slot.is_none() {
            let Ok(smux) = gst::ElementFactory::make("splitmuxsink")
                .name(SPLITMUX_NAME)
                .build()
            else {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::MissingPlugin,
                    ["mode=segments needs splitmuxsink (gst-plugins-good)"]
                );
                return Err(gst::StateChangeError);
            };
            smux.set_property("location", &settings.location);
            smux.set_property("max-size-time", settings.segment_duration);
            *self.applied_segments.locked() =
                (settings.location.clone(), settings.segment_duration);
            // A new child: its first run goes as it is.
            self.splitmux_dirty.store(false, Ordering::SeqCst);
            smux.set_property("send-keyframe-requests", true);
            // Each segment's muxer writes fragments, as the files of mode=events do: the
            // segment being written when the element stops without EOS (or the process
            // dies) plays up to its last fragment. A fragment-duration set through
            // splitmuxsink::muxer-properties is left as it is.
            let weak = obj.downgrade();
            smux.connect("muxer-added", false, move |args| {
                let muxer = args.get(1).and_then(|v| v.get::<gst::Element>().ok());
                if let (Some(obj), Some(muxer)) = (weak.upgrade(), muxer) {
                    let fragment = obj.imp().settings.locked().fragment_duration;
                    crate::violencerecord::branch::fragment_muxer(&muxer, fragment);
                }
                None
            });
            if self.appsink.parent().is_some() {
                let _ = self.appsink.set_locked_state(true);
                let _ = obj.remove(&self.appsink);
                let _ = self.appsink.set_state(gst::State::Null);
            }
            if obj.add(&smux).is_err() {
                gst::element_imp_error!(self, gst::CoreError::Failed, ["cannot add splitmuxsink"]);
                return Err(gst::StateChangeError);
            }
            *slot = Some(smux.clone());
            drop(slot);
            self.link_segments(&smux)?;
        }
        Ok(())
    }

    /// Our sink pad (and audio pad, if requested) pointed at new request pads of `smux`,
    /// their buffers watched.
    fn link_segments(&self, smux: &gst::Element) -> Result<(), gst::StateChangeError> {
        let Some(pad) = smux.request_pad_simple("video") else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ["cannot request splitmuxsink's video pad"]
            );
            return Err(gst::StateChangeError);
        };
        let _ = self.sinkpad.set_target(Some(&pad));
        self.watch_segments_input(&pad);
        // The audio pad, if requested, feeds splitmuxsink too: segments carry both.
        if let Some((sink, ghost)) = self.audio.locked().as_ref() {
            if let Some(audio) = smux.request_pad_simple("audio_%u") {
                if sink.parent().is_some() {
                    let obj = self.obj();
                    let _ = sink.set_locked_state(true);
                    let _ = obj.remove(sink);
                    let _ = sink.set_state(gst::State::Null);
                }
                let _ = ghost.set_target(Some(&audio));
                self.watch_audio_input(&audio);
            }
        }
        Ok(())
    }

    /// Back to the ring (mode=events after a run in mode=segments).
    pub(super) fn setup_events(&self) {
        let obj = self.obj();
        if let Some(smux) = self.splitmux.locked().take() {
            let _ = smux.set_locked_state(true);
            let _ = obj.remove(&smux);
            let _ = smux.set_state(gst::State::Null);
        }
        if self.appsink.parent().is_none() {
            let _ = self.appsink.set_locked_state(false);
            let _ = obj.add(&self.appsink);
            if let Some(pad) = self.appsink.static_pad("sink") {
                let _ = self.sinkpad.set_target(Some(&pad));
            }
        }
        if let Some((sink, ghost)) = self.audio.locked().as_ref() {
            if sink.parent().is_none() {
                let _ = sink.set_locked_state(false);
                let _ = obj.add(sink);
                if let Some(pad) = sink.static_pad("sink") {
                    let _ = ghost.set_target(Some(&pad));
                }
            }
        }
    }

    /// In-band marks, and the running time the stream has reached, on their way into
    /// splitmuxsink.
    fn watch_segments_input(&self, pad: &gst::Pad) {
        let weak = self.obj().downgrade();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |pad, info| {
                let Some(obj) = weak.upgrade() else {
                    return gst::PadProbeReturn::Ok;
                };
                let imp = obj.imp();
                match &info.data {
                    Some(gst::PadProbeData::Buffer(buffer)) => {
                        let segment = pad.sticky_event::<gst::event::Segment>(0);
                        let rt = buffer
                            .pts()
                            .or(buffer.dts())
                            .and_then(|t| crate::running_time_ns(segment.as_ref()?.segment(), t));
                        if let Some(rt) = rt {
                            let verdicts = imp
                                .state
                                .locked()
                                .keeper
                                .as_mut()
                                .map(|k| k.advance(rt))
                                .unwrap_or_default();
                            imp.apply(verdicts);
                        }
                        imp.wait_for_segments_audio();
                    }
                    Some(gst::PadProbeData::Event(event)) => {
                        if event.type_() == gst::EventType::Eos {
                            imp.end_segments_audio();
                        }
                        if let gst::EventView::CustomDownstream(c) = event.view() {
                            let in_band = imp.settings.locked().source_names().is_empty();
                            if let Some(e) = c
                                .structure()
                                .filter(|_| in_band)
                                .and_then(ViolenceEvent::from_structure)
                            {
                                imp.on_event(e);
                            }
                        }
                    }
                    _ => (),
                }
                gst::PadProbeReturn::Ok
            },
        );
    }

    /// Notes that audio flows into splitmuxsink (see wait_for_segments_audio).
    fn watch_audio_input(&self, pad: &gst::Pad) {
        let weak = self.obj().downgrade();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, _| {
                if let Some(obj) = weak.upgrade() {
                    let imp = obj.imp();
                    let mut state = imp.state.locked();
                    if !state.audio_flowing {
                        state.audio_flowing = true;
                        imp.audio_arrived.notify_all();
                    }
                }
                gst::PadProbeReturn::Ok
            },
        );
    }

    /// With the audio pad in use, the first video frame waits (on its way into splitmuxsink)
    /// for the first audio buffer, at most audio-timeout. A camera that sends no audio would
    /// otherwise stall the video for good: splitmuxsink holds each GOP until every stream
    /// has reached its end, and with it a tee's other branches. Deciding before the muxer
    /// has any data matters: an audio pad given up after the file started leaves an empty
    /// audio track, and a file that does not play.
    fn wait_for_segments_audio(&self) {
        let timeout = self.settings.locked().audio_timeout;
        if self.audio.locked().is_none() {
            return;
        }
        let mut state = self.state.locked();
        if state.audio_decided {
            return;
        }
        if timeout > 0 {
            let (guard, _) = self
                .audio_arrived
                .wait_timeout_while(state, Duration::from_nanos(timeout), |s| {
                    !s.audio_flowing && !s.audio_decided
                })
                .unwrap_or_else(|e| e.into_inner());
            state = guard;
        } else {
            state = self
                .audio_arrived
                .wait_while(state, |s| !s.audio_flowing && !s.audio_decided)
                .unwrap_or_else(|e| e.into_inner());
        }
        let give_up = !state.audio_flowing && !state.audio_decided;
        state.audio_decided = true;
        drop(state);
        if give_up {
            self.record_without_audio(timeout);
        }
    }

    /// No audio within audio-timeout (a camera without audio): splitmuxsink's audio pad is
    /// released (before its muxer has data, so no empty track is written), and ours drains
    /// into a fakesink, so that audio arriving later is dropped rather than failing its
    /// branch with not-linked.
    fn record_without_audio(&self, timeout: u64) {
        let Some(smux) = self.splitmux.locked().clone() else {
            return;
        };
        let ghost = self.audio.locked().as_ref().map(|(_, ghost)| ghost.clone());
        let Some((ghost, audio)) = ghost.and_then(|g| g.target().map(|t| (g, t))) else {
            return;
        };
        if audio.parent().as_ref() != Some(smux.upcast_ref()) {
            return;
        }
        let Ok(discard) = gst::ElementFactory::make("fakesink")
            .name(AUDIO_DISCARD)
            .property("sync", false)
            .property("async", false)
            .build()
        else {
            return;
        };
        let obj = self.obj();
        if obj.add(&discard).is_err() {
            return;
        }
        let _ = discard.sync_state_with_parent();
        let _ = ghost.set_target(discard.static_pad("sink").as_ref());
        smux.release_request_pad(&audio);
        gst::element_imp_warning!(
            self,
            gst::StreamError::Failed,
            (
                "no audio on the audio pad {:.1} s after the first video frame: segments are recorded without audio",
                timeout as f64 / 1e9
            ),
            ["audio-timeout: splitmuxsink's audio pad released, the audio input is dropped"]
        );
    }

    /// The video ended: so does the audio into splitmuxsink, which otherwise waits for it
    /// before it finishes. From a thread of its own: splitmuxsink may hold the audio's
    /// streaming thread until it has taken the video's EOS, which comes after this.
    fn end_segments_audio(&self) {
        let target = self
            .audio
            .locked()
            .as_ref()
            .and_then(|(_, ghost)| ghost.target());
        let Some(pad) = target.filter(|p| !p.pad_flags().contains(gst::PadFlags::EOS)) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("violencerecord-audio-eos".into())
            .spawn(move || {
                let _ = pad.send_event(gst::event::Eos::new());
            });
        if let Err(e) = spawned {
            gst::warning!(CAT, imp = self, "cannot end the audio input: {e}");
        }
    }

    /// The keeper for a new run; splitmuxsink's max-files, when set, becomes ours: in this
    /// mode the files that stay on disk are the kept segments, and splitmuxsink's own
    /// rotation would overwrite them (its index wraps at max-files).
    pub(super) fn start_segments(&self) {
        let Some(smux) = self.splitmux.locked().clone() else {
            return;
        };
        let theirs = smux.property::<u32>("max-files");
        if theirs > 0 {
            // Taken as ours and kept there: the child's is 0 from now on, and a later run
            // (READY->PAUSED again) must still count with it.
            smux.set_property("max-files", 0u32);
            self.settings.locked().max_files = theirs;
            gst::info!(
                CAT,
                imp = self,
                "splitmuxsink max-files={theirs}: counts kept segments"
            );
            self.obj().notify("max-files");
        }
        let settings = self.settings.locked().clone();
        let first_event = settings
            .event_log
            .as_deref()
            .map_or(0, journal::next_event_index);
        let mut state = self.state.locked();
        state.max_kept = settings.max_files;
        state.keeper = Some(Keeper::new(KeeperConfig {
            pre_roll: settings.pre_roll,
            post_roll: settings.post_roll,
            min_latency_budget: settings.latency_budget,
            first_event,
        }));
    }

    /// A violence mark in mode=segments; false when not in that mode.
    pub(super) fn segments_event(&self, event: &ViolenceEvent) -> bool {
        let mut state = self.state.locked();
        let Some(keeper) = state.keeper.as_mut() else {
            return false;
        };
        let (mark, verdicts) = match event.kind {
            EventKind::Start => (Mark::Start, keeper.start(event.running_time, event.latency)),
            EventKind::End => (Mark::End, keeper.end(event.running_time)),
            EventKind::Score => return true,
        };
        let index = keeper.last_event();
        drop(state);
        let mut line = journal::mark_line(
            mark,
            event.running_time,
            Some(event),
            None,
            None,
            &journal::wall_clock(),
        );
        line["index"] = index.into();
        self.log_line(line);
        self.apply(verdicts);
        true
    }

    /// A message from the splitmuxsink child (or one of its own children); false for
    /// messages of other children.
    pub(super) fn segments_message(&self, msg: &gst::Message) -> bool {
        let Some(smux) = self.splitmux.locked().clone() else {
            return false;
        };
        let from_it = msg.src().is_some_and(|src| {
            src == smux.upcast_ref::<gst::Object>() || src.has_as_ancestor(&smux)
        });
        if !from_it {
            return false;
        }
        let verdicts = match msg.view() {
            gst::MessageView::Element(e) => {
                let Some(s) = e.structure() else {
                    return true;
                };
                let location = s.get::<String>("location").ok();
                let rt = s
                    .get::<gst::ClockTime>("running-time")
                    .ok()
                    .map(gst::ClockTime::nseconds);
                let mut state = self.state.locked();
                match (s.name().as_str(), location, rt, state.keeper.as_mut()) {
                    ("splitmuxsink-fragment-opened", Some(l), Some(rt), Some(k)) => {
                        k.opened(l, rt);
                        Vec::new()
                    }
                    ("splitmuxsink-fragment-closed", Some(l), Some(rt), Some(k)) => {
                        k.closed(&l, rt)
                    }
                    _ => Vec::new(),
                }
            }
            // splitmuxsink closed its last segment (fragment-closed came first): no more
            // events can reach what is left.
            gst::MessageView::Eos(_) => {
                self.finish_segments(false);
                Vec::new()
            }
            _ => Vec::new(),
        };
        self.apply(verdicts);
        true
    }

    /// The end of the stream (`stopped`: the element stopped without EOS, after an error or
    /// a lost camera, and splitmuxsink closes no more segments): every segment left is
    /// decided, the one being written included, so that only the segments of events stay on
    /// disk; an event still going on is logged as ended there.
    pub(super) fn finish_segments(&self, stopped: bool) {
        let (open_event, reached, index, verdicts) = {
            let mut state = self.state.locked();
            let Some(keeper) = state.keeper.as_mut() else {
                return;
            };
            let (open_event, reached) = (keeper.event_open(), keeper.now());
            let index = keeper.last_event();
            let verdicts = if stopped {
                keeper.stop()
            } else {
                keeper.finish()
            };
            (open_event, reached, index, verdicts)
        };
        // A segment cut off by a stop before its first fragment was complete plays nothing:
        // not kept. Every segment kept at a stop is checked, not only the one still being
        // written: splitmuxsink may report that one as closed while it stops. (At EOS every
        // segment was finished normally.)
        let verdicts = verdicts
            .into_iter()
            .map(|verdict| match verdict {
                Verdict::Keep(segment, _) if stopped && !plays(&segment.location) => {
                    gst::info!(
                        CAT,
                        imp = self,
                        "{} holds no complete fragment: deleted",
                        segment.location
                    );
                    Verdict::Delete(segment)
                }
                other => other,
            })
            .collect();
        if open_event {
            let reason = if stopped { "stopped" } else { "eos" };
            gst::info!(
                CAT,
                imp = self,
                "event still open at {reason}: logged as ended"
            );
            let mut line =
                journal::unfinished_end_line(Some(reached), reason, &journal::wall_clock());
            // Paired with its start by index, as the other marks of this mode.
            line["index"] = index.into();
            self.log_line(line);
        }
        self.apply(verdicts);
    }

    /// Keeps or deletes finished segments: a kept one is logged and posted (and counted
    /// for max-files), a deleted one posted.
    pub(super) fn apply(&self, verdicts: Vec<Verdict>) {
        if verdicts.is_empty() {
            return;
        }
        let obj = self.obj();
        let limit = self.state.locked().max_kept;
        for verdict in verdicts {
            let (segment, events) = match verdict {
                Verdict::Keep(s, events) => (s, Some(events)),
                Verdict::Delete(s) => (s, None),
            };
            let kept = events.is_some();
            if kept {
                gst::info!(CAT, imp = self, "kept {}", segment.location);
                let events = events.unwrap_or_default();
                self.log_line(serde_json::json!({
                    "time": journal::wall_clock(),
                    "event": "segment",
                    "file": segment.location,
                    "running-time-start": segment.start,
                    "running-time-end": segment.end,
                    "events": events,
                }));
                let mut rotation = self.rotation.locked();
                let order = rotation.open();
                let expired = rotation.add(order, segment.location.clone(), limit);
                drop(rotation);
                for old in expired {
                    match std::fs::remove_file(&old) {
                        Ok(()) => gst::info!(CAT, imp = self, "max-files: removed {old}"),
                        Err(e) => {
                            gst::warning!(CAT, imp = self, "max-files: cannot remove {old}: {e}")
                        }
                    }
                }
            } else {
                match std::fs::remove_file(&segment.location) {
                    Ok(()) => gst::debug!(CAT, imp = self, "deleted {}", segment.location),
                    Err(e) => {
                        gst::warning!(CAT, imp = self, "cannot delete {}: {e}", segment.location)
                    }
                }
            }
            let s = gst::Structure::builder("violence-recording")
                .field("action", if kept { "kept" } else { "deleted" })
                .field("location", &segment.location)
                .field("running-time-start", segment.start)
                .field("running-time-end", segment.end.unwrap_or(segment.start))
                .build();
            let _ = obj.post_message(gst::message::Element::builder(s).src(&*obj).build());
        }
    }
}

/// The regular files in the folder of `file` (a formatted location), named as the location
/// pattern names them (with its folder, or bare when it has none).
fn existing_files(file: &str) -> Vec<String> {
    let folder = std::path::Path::new(file)
        .parent()
        .filter(|p| !p.as_os_str().is_empty());
    let Ok(entries) = std::fs::read_dir(folder.unwrap_or(std::path::Path::new("."))) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some(match folder {
                Some(f) => f.join(name).to_string_lossy().into_owned(),
                None => name,
            })
        })
        .collect()
}

/// Whether a segment cut off without EOS plays anything: an MP4 file needs a complete
/// fragment; other muxers' files are taken as they are.
fn plays(location: &str) -> bool {
    use crate::violencerecord::segment_keeper::{is_mp4, mp4_file_holds_a_fragment};
    use std::io::Read;
    let Ok(mut file) = std::fs::File::open(location) else {
        return false;
    };
    let mut start = [0u8; 8];
    if file.read_exact(&mut start).is_err() {
        return false; // Empty, or shorter than one box header.
    }
    !is_mp4(&start) || mp4_file_holds_a_fragment(&mut file).unwrap_or(false)
}
