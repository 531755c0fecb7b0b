// SPDX-License-Identifier: MPL-2.0

//! The element's side of its file branches: a file opened at its first frame, written,
//! told to close, finalized and reported once its muxer is done, and cleaned up at a stop.

use super::{State, ViolenceRecord, CAT, FINALIZE_TIMEOUT, TEARDOWN_TIMEOUT};
use crate::violencerecord::branch::{Branch, BuildError, MuxerSpec};
use crate::violencerecord::journal::{self, EventLog};
use crate::violencerecord::location;
use crate::violencerecord::recorder::CloseReason;
use crate::violencerecord::WriteErrorPolicy;
use crate::MutexExt;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::atomic::Ordering;
use std::time::Duration;

impl ViolenceRecord {
    /// Waits until every branch that was told to close has finalized its file, or the
    /// element leaves PLAYING (its sinks would not finish then: an error stopping the
    /// pipeline right after EOS used to hold this thread for FINALIZE_TIMEOUT).
    pub(super) fn wait_closed(&self) {
        self.wait_idle(FINALIZE_TIMEOUT, true);
    }

    fn wait_idle(&self, timeout: Duration, until_leaving_playing: bool) {
        let leaving = || until_leaving_playing && self.leaving_playing.load(Ordering::SeqCst);
        let closing = self.closing.locked();
        let (closing, waited) = self
            .closed
            .wait_timeout_while(closing, timeout, |c| !c.is_idle() && !leaving())
            .unwrap_or_else(|e| e.into_inner());
        if leaving() && !closing.is_idle() {
            gst::info!(
                CAT,
                imp = self,
                "leaving PLAYING: files still finishing are taken at cleanup"
            );
        } else if waited.timed_out() {
            gst::warning!(
                CAT,
                imp = self,
                "{} file(s) not finalized after {:?}",
                closing.unfinished(),
                timeout
            );
        }
    }

    pub(super) fn write(
        &self,
        state: &mut State,
        buffer: gst::Buffer,
    ) -> Result<(), gst::FlowError> {
        if state.branch.is_none() {
            let Some(location) = state.open_wanted.take() else {
                return Ok(());
            };
            let branch = match self.open(state, location, &buffer) {
                Ok(branch) => branch,
                // The warning is posted; the event goes unrecorded, the stream goes on.
                Err(_) if self.write_error_policy() == WriteErrorPolicy::Skip => return Ok(()),
                Err(e) => return Err(e),
            };
            state.branch = Some(branch);
        }
        let State {
            branch, segment, ..
        } = state;
        if let Some(branch) = branch.as_mut() {
            if !branch.push(&buffer, segment) {
                gst::warning!(CAT, imp = self, "{} no longer takes data", branch.location);
            }
        }
        self.flush_audio(state);
        Ok(())
    }

    pub(super) fn next_location(&self, state: &mut State) -> Result<String, gst::FlowError> {
        let pattern = self.settings.locked().location.clone();
        let now = glib::DateTime::now_local().map_err(|_| gst::FlowError::Error)?;
        let exists = |name: &str| std::path::Path::new(name).is_file();
        let (index, name) = location::first_free(&pattern, state.file_index, &now, exists)
            .map_err(|e| {
                gst::element_imp_error!(self, gst::ResourceError::Settings, ["{}", e]);
                gst::FlowError::Error
            })?;
        state.file_index = index.wrapping_add(1);
        Ok(name)
    }

    /// Builds the branch of a new file, adds it and starts it; `first` is its first frame.
    pub(super) fn open(
        &self,
        state: &mut State,
        location: String,
        first: &gst::Buffer,
    ) -> Result<Branch, gst::FlowError> {
        let settings = self.settings.locked().clone();
        let muxer = MuxerSpec {
            factory: &settings.muxer_factory,
            fragment_duration: settings.fragment_duration,
            audio: state.audio_caps.as_ref(),
        };
        let mut branch = match Branch::build(state.file_index, location, muxer, state.caps.as_ref())
        {
            Ok(branch) => branch,
            Err(BuildError::MissingElement(factory)) => {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::MissingPlugin,
                    ["element {} is not available", factory]
                );
                return Err(gst::FlowError::Error);
            }
            Err(BuildError::Link(e)) => {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    [
                        "cannot build appsrc ! {} ! filesink: {}",
                        settings.muxer_factory,
                        e
                    ]
                );
                return Err(gst::FlowError::NotNegotiated);
            }
        };
        let obj = self.obj();
        if obj.add(&branch.bin).is_err() || branch.bin.sync_state_with_parent().is_err() {
            branch.remove_from(obj.upcast_ref());
            let location = &branch.location;
            if settings.on_write_error == WriteErrorPolicy::Skip {
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::OpenWrite,
                    [
                        "cannot start writing {}: this event is not recorded",
                        location
                    ]
                );
            } else {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::OpenWrite,
                    ["cannot start writing {}", location]
                );
            }
            return Err(gst::FlowError::Error);
        }
        branch.order = self.rotation.locked().open();
        gst::info!(CAT, imp = self, "opened {}", branch.location);
        let opened = branch.opened_structure(first, &state.segment);
        let _ = obj.post_message(gst::message::Element::builder(opened).src(&*obj).build());
        Ok(branch)
    }

    /// Tells the branch to finish; its EOS message (see handle_message) finalizes it.
    pub(super) fn close(&self, mut branch: Branch, reason: CloseReason) {
        branch.reason = reason.as_str();
        let inputs = branch.inputs();
        self.closing.locked().insert(branch.name(), branch);
        for input in inputs {
            let _ = input.end_of_stream();
        }
    }

    /// The muxer of a closing branch has written everything (or its file failed, as
    /// `spawn_finalize` marked it): stop it, remove it, report a file that did not fail.
    pub(super) fn finalize(&self, name: &str) {
        let Some((branch, failed)) = self.closing.locked().take(name) else {
            return;
        };
        branch.remove_from(self.obj().upcast_ref());
        if !failed {
            self.report_closed(&branch);
        }
        if self.closing.locked().finished() {
            self.closed.notify_all();
        }
    }

    pub(super) fn report_closed(&self, branch: &Branch) {
        gst::info!(
            CAT,
            imp = self,
            "closed {} ({} frames, {:?})",
            branch.location,
            branch.span.frames,
            branch.span.duration()
        );
        let obj = self.obj();
        let closed = branch.closed_structure();
        let _ = obj.post_message(gst::message::Element::builder(closed).src(&*obj).build());
        self.log_line(journal::file_line(branch, &journal::wall_clock()));
        let max_files = self.settings.locked().max_files;
        let expired = self
            .rotation
            .locked()
            .add(branch.order, branch.location.clone(), max_files);
        for old in expired {
            match std::fs::remove_file(&old) {
                Ok(()) => gst::info!(CAT, imp = self, "max-files: removed {old}"),
                Err(e) => gst::warning!(CAT, imp = self, "max-files: cannot remove {old}: {e}"),
            }
        }
    }

    /// Removes what is left of branches (at a stop without EOS), then waits for the closing
    /// threads that took theirs out already: our own state change must not run beside
    /// them, or it could bring a branch they have just stopped back to READY or PAUSED
    /// before they drop it (a GStreamer-CRITICAL on dispose).
    pub(super) fn cleanup(&self) {
        let open = self.state.locked().branch.take();
        let closing = self.closing.locked().drain();
        let obj = self.obj();
        for mut branch in open.into_iter().chain(closing) {
            branch.remove_from(obj.upcast_ref());
            gst::info!(CAT, imp = self, "stopped with {} open", branch.location);
            // Its fragments so far are on disk and play: the log still lists the file (not
            // when no fragment was due yet and the file is empty).
            let written = std::fs::metadata(&branch.location).is_ok_and(|m| m.len() > 0);
            if written {
                branch.reason = "stopped";
                self.log_line(journal::file_line(&branch, &journal::wall_clock()));
            }
        }
        // Nothing is left to take: idle once the threads in flight are done.
        self.wait_idle(TEARDOWN_TIMEOUT, false);
        self.closed.notify_all();
    }

    /// The event log of a run is closed once the run is over (the next start opens it again).
    pub(super) fn close_log(&self) {
        *self.log.locked() = EventLog::default();
    }

    /// The branch bin (a direct child of ours named file-N) that `src` belongs to.
    pub(super) fn branch_of(&self, src: &gst::Object) -> Option<String> {
        let obj = self.obj();
        let mut cur = src.clone();
        loop {
            let parent = cur.parent()?;
            if parent == *obj.upcast_ref::<gst::Object>() {
                let name = cur.name();
                return name.starts_with("file-").then(|| name.to_string());
            }
            cur = parent;
        }
    }

    /// Whether `src` is in a file branch already taken out of the recorder. A source's
    /// "streaming stopped" can follow the muxer's write error after the branch is gone: it
    /// belongs to a failure already handled and must not reach the application as an error.
    pub(super) fn in_removed_branch(&self, src: &gst::Object) -> bool {
        let mut root = src.clone();
        while let Some(parent) = root.parent() {
            root = parent;
        }
        root.is::<gst::Bin>() && !root.is::<gst::Pipeline>() && root.name().starts_with("file-")
    }

    /// A branch failed: if it is the open file, stop writing to it. Runs on its own thread
    /// (the error may have been posted from a thread that holds the state lock).
    pub(super) fn abandon_current(&self, name: &str) {
        let mut state = self.state.locked();
        if state.branch.as_ref().is_some_and(|b| b.name() == name) {
            if let Some(b) = state.branch.take() {
                self.closing.locked().insert(name.to_string(), b);
            }
        }
    }

    pub(super) fn spawn_finalize(&self, name: String, failed: bool) {
        if failed {
            // Here, in the order the messages come: the EOS that follows a write error may be
            // finalized first, and must not report the file closed.
            self.closing.locked().mark_failed(&name);
        }
        let weak = self.obj().downgrade();
        let spawned = std::thread::Builder::new()
            .name("violencerecord-close".into())
            .spawn(move || {
                if let Some(obj) = weak.upgrade() {
                    let imp = obj.imp();
                    if failed {
                        imp.abandon_current(&name);
                    }
                    imp.finalize(&name);
                }
            });
        if let Err(e) = spawned {
            gst::warning!(CAT, imp = self, "cannot start the closing thread: {e}");
        }
    }
}
