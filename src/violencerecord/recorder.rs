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
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const FRAME: u64 = 40 * MS;

    fn cfg() -> Config {
        Config {
            pre_roll: 400 * MS,
            post_roll: 400 * MS,
            max_event_duration: 0,
            keyframe_interval: 0,
            min_latency_budget: 200 * MS,
            max_gop: 2_000 * MS,
        }
    }

    /// Drives frames 0..n (keyframe every `gop`), signalling marks given as (frame, mark,
    /// latency in frames) when the stream reaches frame + latency. Returns the files as
    /// lists of frame indices, and the other actions.
    fn run(
        cfg: Config,
        n: u64,
        gop: u64,
        marks: &[(u64, Mark, u64)],
    ) -> (Vec<Vec<u64>>, Vec<String>, Recorder<u64, u32>) {
        let mut r: Recorder<u64, u32> = Recorder::new(cfg);
        let mut files: Vec<Vec<u64>> = Vec::new();
        let mut open = false;
        let mut other = Vec::new();
        let mut handle = |acts: Vec<Action<u64, u32>>, files: &mut Vec<Vec<u64>>| {
            for a in acts {
                match a {
                    Action::Open => {
                        assert!(!open, "open while open");
                        open = true;
                        files.push(Vec::new());
                    }
                    Action::Write(i) => {
                        assert!(open);
                        files.last_mut().unwrap().push(i)
                    }
                    Action::Close(c) => {
                        assert!(open);
                        open = false;
                        other.push(format!("close {}", c.as_str()));
                    }
                    Action::RequestKeyframe => other.push("key".into()),
                    Action::Applied(..) => {}
                }
            }
        };
        for i in 0..n {
            for &(f, mark, lat) in marks {
                if f + lat == i {
                    r.signal(Signal {
                        mark,
                        rt: f * FRAME,
                        latency: lat * FRAME,
                        info: Some(1),
                    });
                }
            }
            let acts = r.push(Frame {
                rt: i * FRAME,
                key: i % gop == 0,
                data: i,
            });
            handle(acts, &mut files);
        }
        let acts = r.eos();
        handle(acts, &mut files);
        (files, other, r)
    }

    fn contiguous(f: &[u64]) -> bool {
        f.windows(2).all(|w| w[1] == w[0] + 1)
    }

    #[test]
    fn one_event_pre_and_post_roll_from_a_keyframe() {
        let (files, other, _) = run(cfg(), 200, 10, &[(50, Mark::Start, 3), (80, Mark::End, 5)]);
        assert_eq!(files.len(), 1);
        let f = &files[0];
        // start - pre-roll = frame 40, a keyframe.
        assert_eq!(f[0], 40);
        assert_eq!(*f.last().unwrap(), 90, "end + post-roll, not more");
        assert!(contiguous(f));
        assert_eq!(other, vec!["close post-roll"]);
    }

    #[test]
    fn start_rounds_down_to_a_keyframe() {
        let (files, _, _) = run(cfg(), 200, 10, &[(57, Mark::Start, 3), (80, Mark::End, 2)]);
        assert_eq!(files[0][0], 40);
    }

    #[test]
    fn file_closes_at_post_roll_plus_grace_not_at_eos() {
        let (_, other, _) = run(cfg(), 300, 10, &[(50, Mark::Start, 3), (80, Mark::End, 2)]);
        assert_eq!(other, vec!["close post-roll"]);
    }

    #[test]
    fn start_within_post_roll_extends_the_file() {
        let (files, _, _) = run(
            cfg(),
            300,
            10,
            &[
                (50, Mark::Start, 3),
                (80, Mark::End, 2),
                (86, Mark::Start, 3),
                (120, Mark::End, 2),
            ],
        );
        assert_eq!(files.len(), 1);
        assert_eq!(files[0][0], 40);
        assert_eq!(*files[0].last().unwrap(), 130);
        assert!(contiguous(&files[0]));
    }

    #[test]
    fn later_events_get_their_own_files() {
        let (files, _, _) = run(
            cfg(),
            300,
            10,
            &[
                (50, Mark::Start, 3),
                (80, Mark::End, 2),
                (150, Mark::Start, 3),
                (170, Mark::End, 2),
            ],
        );
        assert_eq!(files.len(), 2);
        assert_eq!((files[0][0], *files[0].last().unwrap()), (40, 90));
        assert_eq!((files[1][0], *files[1].last().unwrap()), (140, 180));
        assert!(files.iter().all(|f| contiguous(f)));
    }

    #[test]
    fn eos_mid_event_closes_with_everything() {
        let (files, other, _) = run(cfg(), 100, 10, &[(50, Mark::Start, 3)]);
        assert_eq!(files.len(), 1);
        assert_eq!((files[0][0], *files[0].last().unwrap()), (40, 99));
        assert_eq!(other, vec!["close eos"]);
    }

    #[test]
    fn no_event_no_file_and_bounded_ring() {
        let (files, _, r) = run(cfg(), 1000, 10, &[]);
        assert!(files.is_empty());
        let (_, span) = r.ring_len();
        // pre-roll + latency budget + one GOP.
        assert!(span <= 400 * MS + 200 * MS + 10 * FRAME, "{span}");
    }

    #[test]
    fn ring_grows_with_reported_latency() {
        // The first event is decided 800 ms late, more than the 200 ms budget: its pre-roll
        // is cut to what the ring held. The ring then keeps the reported latency, so the
        // second event gets its full pre-roll.
        let (files, _, _) = run(
            cfg(),
            400,
            10,
            &[
                (100, Mark::Start, 20),
                (150, Mark::End, 2),
                (300, Mark::Start, 20),
                (320, Mark::End, 2),
            ],
        );
        assert_eq!(files.len(), 2);
        assert_eq!(files[0][0], 100);
        assert_eq!(files[1][0], 290);
    }

    #[test]
    fn long_gop_is_bounded_and_asks_for_keyframes() {
        let mut c = cfg();
        c.keyframe_interval = 400 * MS;
        let (_, other, r) = run(c, 1000, 10_000, &[]);
        assert!(other.iter().filter(|o| *o == "key").count() >= 90);
        let (_, span) = r.ring_len();
        assert!(span <= 400 * MS + 200 * MS + 2_000 * MS, "{span}");
    }

    #[test]
    fn no_keyframe_in_ring_waits_for_one() {
        let (files, _, _) = run(cfg(), 200, 60, &[(70, Mark::Start, 0), (90, Mark::End, 0)]);
        // Keyframes at 0, 60, 120: 0 was trimmed (horizon 70-15 frames=55 keeps 0? no: key
        // 0 <= horizon so it is the cut point and stays), so the file starts at 0 or 60.
        assert_eq!(files[0][0] % 60, 0);
        assert!(contiguous(&files[0]));
    }

    #[test]
    fn max_event_duration_splits_at_keyframes() {
        let mut c = cfg();
        c.max_event_duration = 1_000 * MS;
        let (files, _, _) = run(c, 300, 10, &[(50, Mark::Start, 1), (150, Mark::End, 1)]);
        assert!(files.len() >= 4, "{}", files.len());
        let all: Vec<u64> = files.concat();
        assert!(contiguous(&all));
        assert!(files.iter().all(|f| f[0] % 10 == 0));
    }

    #[test]
    fn lost_end_is_reconciled_from_the_level() {
        let mut r: Recorder<u64, u32> = Recorder::new(cfg());
        let mut closed = false;
        for i in 0..300u64 {
            if i == 53 {
                r.signal(Signal {
                    mark: Mark::Start,
                    rt: 50 * FRAME,
                    latency: 3 * FRAME,
                    info: None,
                });
            }
            if i >= 53 {
                r.level(i * FRAME, (53..100).contains(&i), Some(50 * FRAME));
            }
            for a in r.push(Frame {
                rt: i * FRAME,
                key: i % 10 == 0,
                data: i,
            }) {
                if let Action::Close(CloseReason::PostRoll) = a {
                    closed = true;
                }
            }
        }
        assert!(closed);
    }

    #[test]
    fn lost_start_is_reconciled_from_the_level() {
        let mut r: Recorder<u64, u32> = Recorder::new(cfg());
        let mut first = None;
        for i in 0..300u64 {
            r.level(i * FRAME, (100..150).contains(&i), Some(95 * FRAME));
            for a in r.push(Frame {
                rt: i * FRAME,
                key: i % 10 == 0,
                data: i,
            }) {
                if let Action::Write(f) = a {
                    first.get_or_insert(f);
                }
            }
        }
        assert_eq!(first, Some(80));
    }

    #[test]
    fn out_of_band_early_marks_wait_for_the_stream() {
        let mut r: Recorder<u64, u32> = Recorder::new(cfg());
        r.signal(Signal {
            mark: Mark::Start,
            rt: 50 * FRAME,
            latency: 0,
            info: None,
        });
        let mut opened_at = None;
        for i in 0..100u64 {
            for a in r.push(Frame {
                rt: i * FRAME,
                key: i % 10 == 0,
                data: i,
            }) {
                if let Action::Open = a {
                    opened_at = Some(i);
                }
            }
        }
        assert_eq!(opened_at, Some(50));
    }
}
