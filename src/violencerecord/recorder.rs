// SPDX-License-Identifier: MPL-2.0

//! The recording schedule of `violencerecord`, free of GStreamer: an encoded ring, the
//! violence marks that arrive in-band or out-of-band, and the decisions that follow
//! (open a file, write a frame, close a file, ask upstream for a keyframe).
//!
//! Times are running times in nanoseconds. Frames arrive in decode order; each gets a
//! sequence number so that writing never depends on PTS being monotonic.

use std::collections::VecDeque;

/// Tunables, all in nanoseconds of running time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub pre_roll: u64,
    pub post_roll: u64,
    /// A file longer than this is closed at the next keyframe and the event goes on in a
    /// new file; 0 = no limit.
    pub max_event_duration: u64,
    /// Ask upstream for a keyframe when none came for this long; 0 = never ask.
    pub keyframe_interval: u64,
    /// Detection latency assumed before any event reported one.
    pub min_latency_budget: u64,
    /// Hard bound on the ring beyond pre-roll + latency (for GOPs upstream will not shorten).
    pub max_gop: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pre_roll: 5_000_000_000,
            post_roll: 5_000_000_000,
            max_event_duration: 0,
            keyframe_interval: 2_000_000_000,
            min_latency_budget: 2_000_000_000,
            max_gop: 30_000_000_000,
        }
    }
}

/// After this long of disagreement between the level state on the frames and the marks
/// received, the level state wins (an event was lost).
pub const RECONCILE_AFTER: u64 = 1_000_000_000;

/// One encoded frame.
#[derive(Debug, Clone)]
pub struct Frame<B> {
    pub rt: u64,
    pub key: bool,
    pub data: B,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Start,
    End,
}

/// A violence mark: the start (first PTS of the run) or end (last violent PTS) of an event.
#[derive(Debug, Clone)]
pub struct Signal<E> {
    pub mark: Mark,
    /// Running time of the mark.
    pub rt: u64,
    /// Running time from the mark to its decision.
    pub latency: u64,
    /// What the imp wants back when the mark takes effect; `None` when reconciled.
    pub info: Option<E>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    PostRoll,
    MaxDuration,
    Eos,
    Flush,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::PostRoll => "post-roll",
            CloseReason::MaxDuration => "max-event-duration",
            CloseReason::Eos => "eos",
            CloseReason::Flush => "flush",
        }
    }
}

#[derive(Debug)]
pub enum Action<B, E> {
    /// Start a new file; the following writes go to it.
    Open,
    Write(B),
    Close(CloseReason),
    RequestKeyframe,
    /// A mark took effect (after any Open it caused).
    Applied(Mark, u64, Option<E>),
}

#[derive(Debug)]
struct Entry<B> {
    seq: u64,
    frame: Frame<B>,
}

#[derive(Debug, Clone, Copy)]
struct Rec {
    /// An event is going on (start seen, end not yet).
    active: bool,
    /// End + post-roll, once the end is known.
    stop_at: Option<u64>,
    /// Sequence number of the next frame to write.
    cursor: u64,
    /// No keyframe written yet: skip until one comes.
    waiting_key: bool,
    /// Running time of the file's first frame.
    file_start: u64,
    wrote: bool,
}

#[derive(Debug)]
pub struct Recorder<B, E> {
    cfg: Config,
    ring: VecDeque<Entry<B>>,
    next_seq: u64,
    newest: Option<u64>,
    rec: Option<Rec>,
    pending: VecDeque<Signal<E>>,
    start_latency_max: u64,
    last_key: Option<u64>,
    last_request: Option<u64>,
    mismatch_since: Option<u64>,
    levels_seen: bool,
}

impl<B: Clone, E> Recorder<B, E> {
    pub fn new(cfg: Config) -> Self {
        Recorder {
            cfg,
            ring: VecDeque::new(),
            next_seq: 0,
            newest: None,
            rec: None,
            pending: VecDeque::new(),
            start_latency_max: 0,
            last_key: None,
            last_request: None,
            mismatch_since: None,
            levels_seen: false,
        }
    }

    pub fn set_config(&mut self, cfg: Config) {
        self.cfg = cfg;
    }

    /// Running time of the newest frame seen.
    pub fn newest(&self) -> Option<u64> {
        self.newest
    }

    pub fn is_recording(&self) -> bool {
        self.rec.is_some()
    }

    /// Frames held in the ring and the running time they span.
    pub fn ring_len(&self) -> (usize, u64) {
        let span = match (self.ring.front(), self.newest) {
            (Some(f), Some(n)) => n.saturating_sub(f.frame.rt),
            _ => 0,
        };
        (self.ring.len(), span)
    }

    /// Running time of the oldest frame held.
    pub fn oldest(&self) -> Option<u64> {
        self.ring.front().map(|e| e.frame.rt)
    }

    /// Latency budget for the ring: the worst start latency reported so far, at least the
    /// configured minimum.
    /// Once frames carry the level state, a lost start is only noticed `RECONCILE_AFTER`
    /// later, so the ring covers that too.
    pub fn latency_budget(&self) -> u64 {
        let reconcile = if self.levels_seen { RECONCILE_AFTER } else { 0 };
        self.start_latency_max
            .max(self.cfg.min_latency_budget.saturating_add(reconcile))
    }

    /// Queues a mark; it takes effect at the first frame at or after its running time.
    pub fn signal(&mut self, s: Signal<E>) {
        if s.mark == Mark::Start {
            self.start_latency_max = self.start_latency_max.max(s.latency);
        }
        self.pending.push_back(s);
    }

    /// Whether an event is going on once every queued mark has taken effect.
    fn active_after_pending(&self) -> bool {
        match self.pending.back() {
            Some(s) => s.mark == Mark::Start,
            None => self.rec.is_some_and(|r| r.active),
        }
    }

    /// The level state carried by a frame (ViolenceMeta). When it disagrees with the marks
    /// for `RECONCILE_AFTER`, a mark is made up: a start at `clip_start` (or where the
    /// disagreement began) or an end where it began.
    pub fn level(&mut self, rt: u64, violent: bool, clip_start: Option<u64>) {
        self.levels_seen = true;
        if violent == self.active_after_pending() {
            self.mismatch_since = None;
            return;
        }
        let since = *self.mismatch_since.get_or_insert(rt);
        if rt.saturating_sub(since) < RECONCILE_AFTER {
            return;
        }
        self.mismatch_since = None;
        let at = if violent {
            clip_start.unwrap_or(since).min(since)
        } else {
            since
        };
        self.pending.push_back(Signal {
            mark: if violent { Mark::Start } else { Mark::End },
            rt: at,
            latency: rt.saturating_sub(at),
            info: None,
        });
    }

    pub fn push(&mut self, frame: Frame<B>) -> Vec<Action<B, E>> {
        let mut out = Vec::new();
        let rt = frame.rt;
        let newest = self.newest.map_or(rt, |n| n.max(rt));
        self.newest = Some(newest);
        if frame.key {
            self.last_key = Some(newest);
        }
        self.ring.push_back(Entry {
            seq: self.next_seq,
            frame,
        });
        self.next_seq += 1;
        self.apply_due(newest, &mut out);
        self.advance(newest, &mut out);
        self.trim(newest);
        self.keyframe_request(newest, &mut out);
        out
    }

    /// End of stream: due marks take effect, then an open file is closed at the last frame.
    pub fn eos(&mut self) -> Vec<Action<B, E>> {
        let mut out = Vec::new();
        if let Some(newest) = self.newest {
            self.apply_due(newest, &mut out);
            if let Some(rec) = self.rec.as_mut() {
                // Frames held after end + post-roll stay out of the file.
                rec.stop_at.get_or_insert(newest);
            }
            self.advance(newest, &mut out);
        }
        if self.rec.take().is_some() {
            out.push(Action::Close(CloseReason::Eos));
        }
        self.pending.clear();
        out
    }

    /// Flush: the open file is closed and everything held is dropped.
    pub fn flush(&mut self) -> Vec<Action<B, E>> {
        let mut out = Vec::new();
        if self.rec.take().is_some() {
            out.push(Action::Close(CloseReason::Flush));
        }
        self.ring.clear();
        self.pending.clear();
        self.newest = None;
        self.last_key = None;
        self.last_request = None;
        self.mismatch_since = None;
        out
    }

    fn apply_due(&mut self, newest: u64, out: &mut Vec<Action<B, E>>) {
        while self.pending.front().is_some_and(|s| s.rt <= newest) {
            let Some(s) = self.pending.pop_front() else {
                break;
            };
            match s.mark {
                Mark::Start => self.start(s.rt, out),
                Mark::End => {
                    if let Some(rec) = self.rec.as_mut().filter(|r| r.active) {
                        rec.active = false;
                        rec.stop_at = Some(s.rt.saturating_add(self.cfg.post_roll));
                    }
                }
            }
            out.push(Action::Applied(s.mark, s.rt, s.info));
        }
    }

    fn start(&mut self, at: u64, out: &mut Vec<Action<B, E>>) {
        if let Some(rec) = self.rec.as_mut() {
            if rec.stop_at.is_none_or(|stop| at <= stop) {
                // Within the post-roll of the previous event (or during it): same file.
                rec.active = true;
                rec.stop_at = None;
                return;
            }
            self.rec = None;
            out.push(Action::Close(CloseReason::PostRoll));
        }
        let target = at.saturating_sub(self.cfg.pre_roll);
        let from = self
            .ring
            .iter()
            .rev()
            .find(|e| e.frame.key && e.frame.rt <= target)
            .or_else(|| self.ring.iter().find(|e| e.frame.key));
        let (cursor, waiting_key) = match from {
            Some(e) => (e.seq, false),
            None => (self.ring.front().map_or(self.next_seq, |e| e.seq), true),
        };
        out.push(Action::Open);
        self.rec = Some(Rec {
            active: true,
            stop_at: None,
            cursor,
            waiting_key,
            file_start: 0,
            wrote: false,
        });
    }

    fn advance(&mut self, newest: u64, out: &mut Vec<Action<B, E>>) {
        let Some(mut rec) = self.rec else {
            return;
        };
        let first = self.ring.front().map_or(self.next_seq, |e| e.seq);
        let skip = rec.cursor.saturating_sub(first) as usize;
        for e in self.ring.iter().skip(skip) {
            if rec.waiting_key && !e.frame.key {
                rec.cursor = e.seq + 1;
                continue;
            }
            if rec.stop_at.is_some_and(|stop| e.frame.rt > stop) {
                break;
            }
            if rec.waiting_key || !rec.wrote {
                rec.waiting_key = false;
                rec.file_start = e.frame.rt;
            } else if self.cfg.max_event_duration > 0
                && e.frame.key
                && e.frame.rt >= rec.file_start.saturating_add(self.cfg.max_event_duration)
            {
                out.push(Action::Close(CloseReason::MaxDuration));
                out.push(Action::Open);
                rec.file_start = e.frame.rt;
            }
            out.push(Action::Write(e.frame.data.clone()));
            rec.wrote = true;
            rec.cursor = e.seq + 1;
        }
        let grace = self.start_latency_max;
        if rec
            .stop_at
            .is_some_and(|stop| newest > stop.saturating_add(grace))
        {
            self.rec = None;
            out.push(Action::Close(CloseReason::PostRoll));
        } else {
            self.rec = Some(rec);
        }
    }

    fn trim(&mut self, newest: u64) {
        let keep = self.cfg.pre_roll.saturating_add(self.latency_budget());
        let horizon = newest.saturating_sub(keep);
        // Frames a recording has not written yet (held after end + post-roll) stay.
        let hold = self.rec.map_or(u64::MAX, |r| r.cursor);
        let cut = self
            .ring
            .iter()
            .rposition(|e| e.frame.key && e.frame.rt <= horizon && e.seq <= hold)
            .unwrap_or(0);
        self.ring.drain(..cut);
        let limit = keep.saturating_add(self.cfg.max_gop);
        while self
            .ring
            .front()
            .is_some_and(|f| newest.saturating_sub(f.frame.rt) > limit)
        {
            // A GOP longer than the bound: drop it whole, nothing of it can start a file.
            let next_key = self
                .ring
                .iter()
                .skip(1)
                .position(|e| e.frame.key)
                .map_or(self.ring.len(), |p| p + 1);
            self.ring.drain(..next_key);
        }
    }

    fn keyframe_request(&mut self, newest: u64, out: &mut Vec<Action<B, E>>) {
        let interval = self.cfg.keyframe_interval;
        if interval == 0 {
            return;
        }
        let since_key = self.last_key.map_or(u64::MAX, |k| newest.saturating_sub(k));
        let since_request = self
            .last_request
            .map_or(u64::MAX, |r| newest.saturating_sub(r));
        if since_key >= interval && since_request >= interval {
            self.last_request = Some(newest);
            out.push(Action::RequestKeyframe);
        }
    }
}

#[cfg(test)]
mod tests;
