// SPDX-License-Identifier: MPL-2.0

//! What a start sets up and checks before any frame: the muxer's caps, the recording folder,
//! the event log, splitmuxsink in mode=segments, and the classifier that sends the events.

use super::{CapsExt, Either, State, ViolenceRecord, CAT, SINK_CAPS};
use crate::sources::{self as source, Level, SourceConnection};
use crate::violencerecord::journal::{EventLog, Rotation};
use crate::violencerecord::location;
use crate::violencerecord::settings::Settings;
use crate::violencerecord::{RecordMode, WriteErrorPolicy};
use crate::MutexExt;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

impl ViolenceRecord {
    pub(super) fn connect_source(&self) -> Result<(), gst::StateChangeError> {
        let names = self.settings.locked().source_names();
        if names.is_empty() {
            return Ok(());
        }
        let obj = self.obj();
        let elements = source::find_all(obj.upcast_ref(), &names).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ["{}", e]);
            gst::StateChangeError
        })?;
        *self.either.locked() = Either::new(elements.len());
        let mut connections = Vec::with_capacity(elements.len());
        for (i, element) in elements.iter().enumerate() {
            let on_event = {
                let weak = obj.downgrade();
                move |event| {
                    if let Some(obj) = weak.upgrade() {
                        let imp = obj.imp();
                        let mut either = imp.either.locked();
                        for event in either.event(i, event) {
                            imp.on_event(event);
                        }
                    }
                }
            };
            // Its level state (ViolenceMeta on its output) repairs what the signal could not
            // say, e.g. an event that began before this element was connected.
            let on_level = {
                let weak = obj.downgrade();
                move |level: Level| {
                    if let Some(obj) = weak.upgrade() {
                        let imp = obj.imp();
                        let mut either = imp.either.locked();
                        let level = either.level(i, level);
                        imp.state.locked().recorder.level(
                            level.now,
                            level.violent,
                            level.clip_start,
                        );
                    }
                }
            };
            connections.push(SourceConnection::connect(element, on_event, Some(on_level)));
        }
        gst::info!(
            CAT,
            imp = self,
            "out-of-band events from {}",
            names.join(", ")
        );
        self.state.locked().sources = connections;
        Ok(())
    }

    pub(super) fn disconnect_source(&self) {
        let sources = std::mem::take(&mut self.state.locked().sources);
        for connection in sources {
            connection.disconnect();
        }
    }

    pub(super) fn prepare(&self) -> Result<(), gst::StateChangeError> {
        let settings = self.settings.locked().clone();
        if settings.mode == RecordMode::Segments {
            return self.prepare_segments(&settings);
        }
        self.setup_events();
        self.prepare_audio(&settings.muxer_factory);
        let Some(factory) = gst::ElementFactory::find(&settings.muxer_factory) else {
            gst::element_imp_error!(
                self,
                gst::CoreError::MissingPlugin,
                ["muxer-factory {} is not available", settings.muxer_factory]
            );
            return Err(gst::StateChangeError);
        };
        let ours = gst::Caps::from_str_or_any(SINK_CAPS);
        let mut caps = gst::Caps::new_empty();
        for templ in factory.static_pad_templates() {
            if templ.direction() == gst::PadDirection::Sink {
                caps.merge(ours.intersect(&templ.caps()));
            }
        }
        if caps.is_empty() {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                [
                    "muxer-factory {} takes neither H.264 nor H.265",
                    settings.muxer_factory
                ]
            );
            return Err(gst::StateChangeError);
        }
        self.appsink.set_caps(Some(&caps));
        let first = self.first_file(&settings)?;
        self.check_folder(&first, settings.on_write_error)?;
        self.open_log(&settings)?;
        Ok(())
    }

    /// The state of a new run (READY->PAUSED): the recorder with the current settings, the
    /// event log's start/end pairing open again, no branch, no keeper. The files earlier runs
    /// left in the folder count towards `max-files` (a pipeline restarted after every camera
    /// loss would otherwise fill the disk), and the run's files are numbered after theirs.
    pub(super) fn reset_run(&self) {
        let settings = self.settings.locked().clone();
        let pattern = self.written_pattern(&settings);
        let earlier = glib::DateTime::now_local()
            .map(|now| location::earlier_files(&pattern, &now))
            .unwrap_or_default();
        let mut state = self.state.locked();
        *state = State::default();
        state.recorder.set_config(settings.config());
        state.file_index = earlier
            .iter()
            .map(|(_, index)| *index)
            .max()
            .map_or(0, |last| last.saturating_add(1));
        drop(state);
        if !earlier.is_empty() {
            gst::info!(
                CAT,
                imp = self,
                "{} files of earlier runs in the folder count towards max-files",
                earlier.len()
            );
        }
        *self.rotation.locked() =
            Rotation::with_earlier(earlier.into_iter().map(|(file, _)| file).collect());
    }

    /// The recording folder, checked before any file is due: found now rather than when the
    /// first event's evidence is, maybe hours later (and, in segments mode, before
    /// splitmuxsink fails inside the bin while PLAYING). An error, or with
    /// on-write-error=skip a warning (the stream goes on without files).
    /// The location's first file name (index 0, now), whose folder the start checks.
    fn first_file(&self, settings: &Settings) -> Result<String, gst::StateChangeError> {
        let now = glib::DateTime::now_local().map_err(|_| gst::StateChangeError)?;
        location::format(&settings.location, 0, &now).map_err(|e| {
            gst::element_imp_error!(self, gst::ResourceError::Settings, ["{}", e]);
            gst::StateChangeError
        })
    }

    fn check_folder(
        &self,
        first: &str,
        policy: WriteErrorPolicy,
    ) -> Result<(), gst::StateChangeError> {
        let Err(e) = location::check_writable(first) else {
            return Ok(());
        };
        if policy == WriteErrorPolicy::Skip {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::OpenWrite,
                ["{}; events will have no file", e]
            );
            Ok(())
        } else {
            gst::element_imp_error!(self, gst::ResourceError::OpenWrite, ["{}", e]);
            Err(gst::StateChangeError)
        }
    }

    /// splitmuxsink formats its location with printf and the fragment index alone.
    pub(super) fn check_segments_location(
        &self,
        pattern: &str,
    ) -> Result<(), gst::StateChangeError> {
        if location::printf_only(pattern) {
            return Ok(());
        }
        gst::element_imp_error!(
            self,
            gst::ResourceError::Settings,
            [
                "mode=segments: location {:?} must hold one %d conversion (e.g. %05d) and no other (use splitmuxsink's format-location signal for dates)",
                pattern
            ]
        );
        Err(gst::StateChangeError)
    }

    fn prepare_segments(&self, settings: &Settings) -> Result<(), gst::StateChangeError> {
        self.check_segments_location(&settings.location)?;
        // splitmuxsink formats with printf: the first segment's name is the pattern at 0.
        let first = self.first_file(settings)?;
        // Always an error here: splitmuxsink cannot skip a file.
        self.check_folder(&first, WriteErrorPolicy::Error)?;
        self.setup_segments(settings)?;
        // Back from NULL after a run: reset before the child goes up with its sink still
        // pointing at the last segment (restart_segments, which numbers it too).
        if !self.restart_segments()? {
            self.skip_existing_segments(settings)?;
        }
        self.open_log(settings)?;
        Ok(())
    }

    fn open_log(&self, settings: &Settings) -> Result<(), gst::StateChangeError> {
        let log = EventLog::open(settings.event_log.as_deref()).map_err(|e| {
            gst::element_imp_error!(self, gst::ResourceError::OpenWrite, ["{}", e]);
            gst::StateChangeError
        })?;
        *self.log.locked() = log;
        Ok(())
    }
}
