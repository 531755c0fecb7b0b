// SPDX-License-Identifier: MPL-2.0

//! The optional `audio` request pad: encoded audio into an appsink of its own, held in the
//! [`AudioRing`](crate::violencerecord::audio_ring::AudioRing) and written to each file up to
//! where its video is.

use super::{CapsExt, State, ViolenceRecord, CAT};
use crate::MutexExt;
use gst::prelude::*;
use gst::subclass::prelude::*;

/// Encoded audio that cameras send and muxers take; narrowed to what `muxer-factory` takes.
pub(super) const AUDIO_CAPS: &str =
    "audio/mpeg, mpegversion=(int)4, stream-format=(string){ raw, adts }; \
     audio/mpeg, mpegversion=(int)1; audio/x-alaw; audio/x-mulaw; audio/x-opus";

/// The audio of [`AUDIO_CAPS`] that `factory`'s sink pads take (empty when none).
pub(super) fn audio_caps_for(factory: &str) -> gst::Caps {
    let ours = gst::Caps::from_str_or_any(AUDIO_CAPS);
    let mut caps = gst::Caps::new_empty();
    if let Some(factory) = gst::ElementFactory::find(factory) {
        for templ in factory.static_pad_templates() {
            if templ.direction() == gst::PadDirection::Sink {
                caps.merge(ours.intersect(&templ.caps()));
            }
        }
    }
    caps
}

impl ViolenceRecord {
    /// The `audio` pad: an appsink (never blocking, never holding preroll) behind a ghost
    /// pad. One at most.
    pub(super) fn request_audio_pad(&self, templ: &gst::PadTemplate) -> Option<gst::Pad> {
        // settings before audio (the lock order in imp.rs).
        let muxer = self.settings.locked().muxer_factory.clone();
        let mut slot = self.audio.locked();
        if slot.is_some() {
            gst::warning!(CAT, imp = self, "violencerecord takes one audio stream");
            return None;
        }
        let sink = gst_app::AppSink::builder()
            .name("audio-ring")
            .sync(false)
            .async_(false)
            .qos(false)
            .enable_last_sample(false)
            .max_buffers(1)
            .caps(&audio_caps_for(&muxer))
            .build();
        let weak = self.obj().downgrade();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| match weak.upgrade() {
                    Some(obj) => obj.imp().on_audio_sample(sink),
                    None => Err(gst::FlowError::Flushing),
                })
                .build(),
        );
        let obj = self.obj();
        obj.add(&sink).ok()?;
        let target = sink.static_pad("sink")?;
        let pad = gst::GhostPad::builder_from_template_with_target(templ, &target)
            .ok()?
            .name("audio")
            .build();
        if obj.current_state() > gst::State::Null {
            let _ = pad.set_active(true);
        }
        obj.add_pad(&pad).ok()?;
        let _ = sink.sync_state_with_parent();
        *slot = Some((sink, pad.clone()));
        Some(pad.upcast())
    }

    pub(super) fn release_audio_pad(&self, pad: &gst::Pad) {
        let taken = {
            let mut slot = self.audio.locked();
            match slot.as_ref() {
                Some((_, p)) if p.upcast_ref::<gst::Pad>() == pad => slot.take(),
                _ => None,
            }
        };
        if let Some((sink, pad)) = taken {
            let obj = self.obj();
            let _ = pad.set_active(false);
            let _ = obj.remove_pad(&pad);
            let _ = sink.set_locked_state(true);
            let _ = obj.remove(&sink);
            let _ = sink.set_state(gst::State::Null);
        }
    }

    /// Narrows the audio pad to what the muxer takes (at each start: muxer-factory may
    /// have changed).
    pub(super) fn prepare_audio(&self, muxer: &str) {
        if let Some((sink, _)) = self.audio.locked().as_ref() {
            sink.set_caps(Some(&audio_caps_for(muxer)));
        }
    }

    /// The video ended, so has the recording: an audio input that goes on (or never
    /// started, e.g. a camera without audio) must not hold back the bin's EOS.
    pub(super) fn end_audio(&self) {
        let sink = self.audio.locked().as_ref().map(|(sink, _)| sink.clone());
        let Some(pad) = sink.and_then(|s| s.static_pad("sink")) else {
            return;
        };
        if !pad.pad_flags().contains(gst::PadFlags::EOS) {
            gst::debug!(CAT, imp = self, "video ended: ending the audio input");
            let _ = pad.send_event(gst::event::Eos::new());
        }
    }

    fn on_audio_sample(&self, sink: &gst_app::AppSink) -> Result<gst::FlowSuccess, gst::FlowError> {
        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
        let Some(buffer) = sample.buffer_owned() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let mut state = self.state.locked();
        if let Some(segment) = sample
            .segment()
            .and_then(|s| s.downcast_ref::<gst::ClockTime>())
        {
            state.audio_segment = segment.clone();
        }
        if let Some(caps) = sample.caps() {
            if state.audio_caps.as_ref().map(|c| c.as_ref()) != Some(caps) {
                state.audio_caps = Some(caps.to_owned());
            }
        }
        let rt = buffer
            .pts()
            .or(buffer.dts())
            .and_then(|t| state.audio_segment.to_running_time(t));
        if let Some(rt) = rt {
            state.audio_ring.push(rt.nseconds(), buffer);
            self.flush_audio(&mut state);
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Writes to the open file the audio it still needs up to its video, and drops what no
    /// file can take any more.
    pub(super) fn flush_audio(&self, state: &mut State) {
        let oldest = state.recorder.oldest();
        let State {
            branch, audio_ring, ..
        } = state;
        let sent = match branch.as_mut().filter(|b| b.has_audio()) {
            Some(b) => {
                if let Some(upto) = b.video_upto {
                    for (rt, buffer) in audio_ring.pending(b.audio_upto, upto) {
                        if !b.push_audio(&buffer, rt) {
                            gst::warning!(CAT, imp = self, "{}: audio not taken", b.location);
                            break;
                        }
                    }
                }
                Some(b.audio_upto)
            }
            None => None,
        };
        audio_ring.trim(oldest, sent);
    }
}
