// SPDX-License-Identifier: MPL-2.0

//! A source that stops delivering frames (a frozen or lost camera) is announced after
//! stall-timeout, by a watchdog thread of its own: the streaming thread is the one waiting.

use super::{ViolenceClassify, CAT, STALL_STARTED};
use crate::violenceclassify::decision::EndReason;
use crate::MutexExt;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The thread that looks for a stalled stream every 50 ms; stopped and joined on drop.
pub(super) struct Watchdog {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        *self.stop.0.locked() = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl ViolenceClassify {
    /// Posts `violence-stalled` (no frame for stall-timeout, with the seconds waited) or
    /// `violence-resumed`, so that a supervisor tells a frozen camera from a quiet one.
    pub(super) fn post_stall(&self, name: &str, running_time: u64, waited: Option<Duration>) {
        let mut s = gst::Structure::builder(name).field("running-time", running_time);
        if let Some(w) = waited {
            s = s.field("seconds", w.as_secs_f64());
        }
        let obj = self.obj();
        let _ = obj.post_message(gst::message::Element::builder(s.build()).src(&*obj).build());
    }

    /// Watchdog tick: a stream that stopped delivering frames is announced once, and an
    /// event in progress on it ends.
    pub(super) fn check_stall(&self) {
        let (stalled, announce) = {
            let mut running = self.running.locked();
            let Some(run) = running.as_mut() else { return };
            let waited = run.last_activity.elapsed();
            let over = run.playing && run.stall_timeout.is_some_and(|t| waited >= t);
            let announce = (over && !run.stall_reported).then(|| {
                run.stall_reported = true;
                (run.last_running_time, waited)
            });
            (over && run.queue.is_violent(), announce)
        };
        if let Some((running_time, waited)) = announce {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Failed,
                (
                    "no frame for {:.1} s: the source stalled (a frozen or lost camera?)",
                    waited.as_secs_f64()
                ),
                ["stall-timeout elapsed; violence-resumed follows when frames come again"]
            );
            self.post_stall(STALL_STARTED, running_time, Some(waited));
        }
        if stalled {
            let obj = self.obj();
            let now = obj.current_running_time().map(gst::ClockTime::nseconds);
            gst::info!(CAT, imp = self, "no frame for longer than stall-timeout");
            self.finish(EndReason::Stall, now);
        }
    }

    pub(super) fn start_watchdog(&self) {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let weak = self.obj().downgrade();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("violence-watchdog".into())
            .spawn(move || loop {
                let (lock, cvar) = &*thread_stop;
                let stopped = cvar
                    .wait_timeout(lock.locked(), Duration::from_millis(50))
                    .unwrap()
                    .0;
                if *stopped {
                    return;
                }
                drop(stopped);
                let Some(obj) = weak.upgrade() else { return };
                obj.imp().check_stall();
            })
            .ok();
        *self.watchdog.locked() = Some(Watchdog { stop, thread });
    }
}
