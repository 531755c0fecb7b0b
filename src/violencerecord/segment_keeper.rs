// SPDX-License-Identifier: MPL-2.0

//! `violencerecord mode=segments`, free of GStreamer: `splitmuxsink` writes the whole
//! stream in segments; a segment is kept when it overlaps an event with its pre-roll and
//! post-roll, and deleted as soon as no event can reach it any more.
//!
//! A start mark at running time S arrives at most the latency budget after S (detection
//! latency), and reaches back to S - pre-roll. So a finished segment that ends at s1 can be
//! deleted once the stream has passed s1 + pre-roll + budget without an event window
//! overlapping it. Times are running times in nanoseconds.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeeperConfig {
    pub pre_roll: u64,
    pub post_roll: u64,
    /// Detection latency assumed before any event reported one.
    pub min_latency_budget: u64,
    /// The index of the first event: after those of earlier runs in the same event log.
    pub first_event: usize,
}

/// One segment file, `[start, end)` in running time (`end` once finished).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub location: String,
    pub start: u64,
    pub end: Option<u64>,
}

/// What becomes of a finished segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It overlaps these events (their indices, counted from `first_event` in order of their
    /// starts).
    Keep(Segment, Vec<usize>),
    Delete(Segment),
}

/// An event's window: from start - pre-roll to end + post-roll (open while it goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    from: u64,
    to: Option<u64>,
}

impl Window {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.from < end && self.to.is_none_or(|to| to > start)
    }
}

#[derive(Debug)]
pub struct Keeper {
    cfg: KeeperConfig,
    windows: Vec<Window>,
    /// Segments being written, oldest first (one, or two briefly with async-finalize).
    open: Vec<Segment>,
    /// Finished segments that no window overlaps yet, oldest first.
    pending: VecDeque<Segment>,
    now: u64,
    latency_max: u64,
    /// Where the last finished segment ended.
    last_end: u64,
}

impl Keeper {
    pub fn new(cfg: KeeperConfig) -> Self {
        Keeper {
            cfg,
            windows: Vec::new(),
            open: Vec::new(),
            pending: VecDeque::new(),
            now: 0,
            latency_max: 0,
            last_end: 0,
        }
    }

    fn budget(&self) -> u64 {
        self.latency_max.max(self.cfg.min_latency_budget)
    }

    /// The index of this run's latest event (None before its first).
    pub fn last_event(&self) -> Option<usize> {
        self.windows
            .len()
            .checked_sub(1)
            .map(|i| self.cfg.first_event + i)
    }

    /// An event starts at `rt`, decided `latency` later. Every event has a window (and an
    /// index) of its own, also one whose pre-roll reaches into the previous one's post-roll:
    /// a segment then lists both, so each event lists every segment it touches. (A start
    /// while an event is still open, which the classifier does not send, changes nothing.)
    pub fn start(&mut self, rt: u64, latency: u64) -> Vec<Verdict> {
        self.latency_max = self.latency_max.max(latency);
        let from = rt.saturating_sub(self.cfg.pre_roll);
        if self.windows.last().is_none_or(|w| w.to.is_some()) {
            self.windows.push(Window { from, to: None });
        }
        self.decide()
    }

    /// The event going on ended at `rt`.
    pub fn end(&mut self, rt: u64) -> Vec<Verdict> {
        if let Some(w) = self.windows.last_mut().filter(|w| w.to.is_none()) {
            w.to = Some(rt.saturating_add(self.cfg.post_roll).max(w.from));
        }
        self.decide()
    }

    /// The stream reached running time `rt`.
    pub fn advance(&mut self, rt: u64) -> Vec<Verdict> {
        if rt <= self.now {
            return Vec::new();
        }
        self.now = rt;
        self.decide()
    }

    pub fn opened(&mut self, location: String, rt: u64) {
        self.open.push(Segment {
            location,
            start: rt,
            end: None,
        });
    }

    /// A segment's file is finished: it ends at `rt`.
    pub fn closed(&mut self, location: &str, rt: u64) -> Vec<Verdict> {
        let segment = match self.open.iter().position(|s| s.location == location) {
            Some(i) => self.open.remove(i),
            // Opened before we saw it (or under another name): from the previous one's end.
            None => Segment {
                location: location.to_string(),
                start: self.last_end.min(rt),
                end: None,
            },
        };
        self.last_end = rt;
        self.pending.push_back(Segment {
            end: Some(rt.max(segment.start)),
            ..segment
        });
        self.decide()
    }

    /// No more events will come (end of stream): every finished segment is decided, an
    /// event still going on ends here.
    pub fn finish(&mut self) -> Vec<Verdict> {
        if let Some(w) = self.windows.last_mut().filter(|w| w.to.is_none()) {
            w.to = Some(u64::MAX);
        }
        self.now = u64::MAX;
        self.decide()
    }

    /// Whether an event is going on (started, not ended).
    pub fn event_open(&self) -> bool {
        self.windows.last().is_some_and(|w| w.to.is_none())
    }

    /// The running time the stream has reached.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The stream stopped without EOS (an error, a lost camera): splitmuxsink closes no more
    /// segments, so those being written end where the stream got to, and everything is
    /// decided as at the end of the stream: an event going on keeps the segment it was in,
    /// the rest goes.
    pub fn stop(&mut self) -> Vec<Verdict> {
        let reached = self.now.max(self.last_end);
        for segment in std::mem::take(&mut self.open) {
            let end = reached.max(segment.start);
            self.pending.push_back(Segment {
                end: Some(end),
                ..segment
            });
        }
        self.finish()
    }

    fn overlapping(&self, s: &Segment) -> Vec<usize> {
        let end = s.end.unwrap_or(u64::MAX);
        self.windows
            .iter()
            .enumerate()
            .filter(|(_, w)| w.overlaps(s.start, end))
            .map(|(i, _)| self.cfg.first_event + i)
            .collect()
    }

    fn decide(&mut self) -> Vec<Verdict> {
        let reach = self.cfg.pre_roll.saturating_add(self.budget());
        let mut out = Vec::new();
        let mut still = VecDeque::new();
        while let Some(s) = self.pending.pop_front() {
            let events = self.overlapping(&s);
            let end = s.end.unwrap_or(u64::MAX);
            if !events.is_empty() {
                out.push(Verdict::Keep(s, events));
            } else if end.saturating_add(reach) <= self.now {
                out.push(Verdict::Delete(s));
            } else {
                still.push_back(s);
            }
        }
        self.pending = still;
        out
    }
}

/// Whether MP4 bytes hold at least one complete fragment of samples, i.e. whether a file cut
/// off without EOS plays anything. A recording's first bytes play nothing: in qtmux's
/// `first-moov-then-finalise` mode the first samples (`mdat`) are written before the `moov`
/// that describes them, and every later `moof` before its `mdat`.
pub fn mp4_holds_a_fragment(data: &[u8]) -> bool {
    mp4_file_holds_a_fragment(&mut std::io::Cursor::new(data)).unwrap_or(false)
}

/// [`mp4_holds_a_fragment`] of a file, reading only the boxes' headers.
pub fn mp4_file_holds_a_fragment(
    file: &mut (impl std::io::Read + std::io::Seek),
) -> std::io::Result<bool> {
    use std::io::SeekFrom;
    let len = file.seek(SeekFrom::End(0))?;
    let (mut at, mut samples_written, mut moof_written) = (0u64, false, false);
    while at + 8 <= len {
        let mut header = [0u8; 16];
        file.seek(SeekFrom::Start(at))?;
        let n = if at + 16 <= len { 16 } else { 8 };
        file.read_exact(&mut header[..n])?;
        let mut size = u64::from(u32::from_be_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        if size == 1 && n == 16 {
            size = u64::from_be_bytes([
                header[8], header[9], header[10], header[11], header[12], header[13], header[14],
                header[15],
            ]);
        }
        // Size 0 ("to the end of the file") is a box still being written.
        if size < 8 || at + size > len {
            return Ok(false);
        }
        match &header[4..8] {
            b"mdat" if moof_written => return Ok(true),
            b"mdat" => samples_written = true,
            b"moov" if samples_written => return Ok(true),
            b"moof" => moof_written = true,
            _ => {}
        }
        at += size;
    }
    Ok(false)
}

/// Whether MP4 bytes start like an MP4 file (an `ftyp` box): the fragment check applies to
/// them only (other muxers' files, e.g. Matroska, are taken as they are).
pub fn is_mp4(data: &[u8]) -> bool {
    data.get(4..8) == Some(b"ftyp".as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn mp4_box(kind: &[u8; 4], payload: usize) -> Vec<u8> {
        let mut b = ((8 + payload) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.resize(8 + payload, 0);
        b
    }

    #[test]
    fn a_fragment_is_complete_once_its_samples_are_described() {
        let header = [mp4_box(b"ftyp", 12), mp4_box(b"moov", 40)].concat();
        assert!(is_mp4(&header));
        assert!(!mp4_holds_a_fragment(&header), "the header plays nothing");
        let first = [
            mp4_box(b"ftyp", 12),
            mp4_box(b"mdat", 100),
            mp4_box(b"moov", 40),
        ]
        .concat();
        assert!(mp4_holds_a_fragment(&first));
        let later = [header.clone(), mp4_box(b"moof", 30), mp4_box(b"mdat", 100)].concat();
        assert!(mp4_holds_a_fragment(&later));
        assert!(
            !mp4_holds_a_fragment(&later[..later.len() - 1]),
            "an mdat cut short"
        );
        assert!(!is_mp4(b"\x1a\x45\xdf\xa3 matroska"));
    }

    fn keeper() -> Keeper {
        keeper_after(0)
    }

    /// A keeper whose event log already holds `earlier` events.
    fn keeper_after(earlier: usize) -> Keeper {
        Keeper::new(KeeperConfig {
            pre_roll: 2 * S,
            post_roll: 2 * S,
            min_latency_budget: S,
            first_event: earlier,
        })
    }

    fn names(v: &[Verdict]) -> Vec<String> {
        v.iter()
            .map(|v| match v {
                Verdict::Keep(s, e) => format!("keep {} {e:?}", s.location),
                Verdict::Delete(s) => format!("delete {}", s.location),
            })
            .collect()
    }

    /// Segments of 10 s: seg-N covers [10N, 10N + 10).
    fn segment(k: &mut Keeper, n: u64) -> Vec<Verdict> {
        let name = format!("seg-{n}");
        k.opened(name.clone(), 10 * n * S);
        k.closed(&name, 10 * (n + 1) * S)
    }

    #[test]
    fn a_segment_no_event_can_reach_is_deleted_once_the_stream_passes_its_reach() {
        let mut k = keeper();
        assert!(
            segment(&mut k, 0).is_empty(),
            "an event at 10 s could still reach it"
        );
        assert!(
            k.advance(12 * S).is_empty(),
            "10 s + 2 s pre-roll + 1 s budget"
        );
        assert_eq!(names(&k.advance(13 * S)), ["delete seg-0"]);
    }

    #[test]
    fn segments_overlapping_an_event_with_its_rolls_are_kept() {
        let mut k = keeper();
        for n in 0..3 {
            segment(&mut k, n);
        }
        // [30, 40) being written; seg-0..2 finished, none decided by time yet.
        k.opened("seg-3".into(), 30 * S);
        // An event at 31.5 s (decided at 32 s) reaches back to 29.5 s: seg-2 is kept.
        let v = k.start(31 * S + S / 2, S / 2);
        assert_eq!(names(&v), ["keep seg-2 [0]"]);
        assert_eq!(names(&k.advance(32 * S)), ["delete seg-0", "delete seg-1"]);
        assert!(k.end(35 * S).is_empty());
        assert_eq!(names(&k.closed("seg-3", 40 * S)), ["keep seg-3 [0]"]);
        // The post-roll ends at 37 s: seg-4 is not kept.
        let v = segment(&mut k, 4);
        assert!(v.is_empty());
        assert_eq!(names(&k.advance(53 * S)), ["delete seg-4"]);
        assert_eq!(k.last_event(), Some(0));
    }

    #[test]
    fn post_roll_reaching_into_a_segment_keeps_it() {
        let mut k = keeper();
        k.opened("seg-0".into(), 0);
        k.start(5 * S, 0);
        k.end(9 * S);
        assert_eq!(names(&k.closed("seg-0", 10 * S)), ["keep seg-0 [0]"]);
        assert_eq!(names(&segment(&mut k, 1)), ["keep seg-1 [0]"], "9 + 2 > 10");
    }

    #[test]
    fn an_event_within_the_post_roll_of_another_keeps_its_own_index() {
        let mut k = keeper();
        // Event 0: 3..8 s with its rolls; event 1 from 7 s (its pre-roll reaches into
        // event 0's post-roll) to 32 s.
        k.start(5 * S, 0);
        k.end(6 * S);
        k.start(9 * S, 0);
        assert_eq!(k.last_event(), Some(1));
        // A second start while one is open is not a new event.
        k.start(10 * S, 0);
        assert_eq!(k.last_event(), Some(1));
        k.end(30 * S);
        // The segment holding event 1's pre-roll lists event 1 too, not only event 0.
        assert_eq!(names(&segment(&mut k, 0)), ["keep seg-0 [0, 1]"]);
        assert_eq!(names(&segment(&mut k, 2)), ["keep seg-2 [1]"]);
    }

    #[test]
    fn a_run_after_earlier_ones_numbers_its_events_on() {
        let mut k = keeper_after(7);
        assert_eq!(
            k.last_event(),
            None,
            "the earlier runs' events are not this run's"
        );
        k.start(5 * S, 0);
        k.end(6 * S);
        assert_eq!(k.last_event(), Some(7));
        assert_eq!(names(&segment(&mut k, 0)), ["keep seg-0 [7]"]);
    }

    #[test]
    fn separate_events_are_numbered() {
        let mut k = keeper();
        k.start(5 * S, 0);
        k.end(6 * S);
        k.start(25 * S, 0);
        k.end(26 * S);
        assert_eq!(names(&segment(&mut k, 0)), ["keep seg-0 [0]"]);
        assert_eq!(names(&segment(&mut k, 1)), [] as [&str; 0]);
        assert_eq!(names(&segment(&mut k, 2)), ["keep seg-2 [1]"]);
        assert_eq!(names(&k.advance(40 * S)), ["delete seg-1"]);
    }

    #[test]
    fn a_large_reported_latency_keeps_segments_longer() {
        let mut k = keeper();
        k.start(5 * S, 4 * S);
        k.end(5 * S);
        segment(&mut k, 1);
        // Reach: 2 s pre-roll + 4 s latency.
        assert!(k.advance(25 * S).is_empty());
        assert_eq!(names(&k.advance(26 * S)), ["delete seg-1"]);
    }

    #[test]
    fn finish_decides_everything() {
        let mut k = keeper();
        segment(&mut k, 0);
        k.start(15 * S, 0);
        k.opened("seg-1".into(), 10 * S);
        assert_eq!(names(&k.closed("seg-1", 16 * S)), ["keep seg-1 [0]"]);
        let mut k = keeper();
        segment(&mut k, 0);
        assert_eq!(names(&k.finish()), ["delete seg-0"]);
    }

    #[test]
    fn a_stop_without_eos_deletes_what_no_event_reaches_and_the_segment_being_written() {
        let mut k = keeper();
        k.start(5 * S, 0);
        k.end(6 * S);
        assert_eq!(names(&segment(&mut k, 0)), ["keep seg-0 [0]"]);
        // seg-1 finished but still within reach of an event; seg-2 being written.
        segment(&mut k, 1);
        k.opened("seg-2".into(), 20 * S);
        assert!(k.advance(21 * S).is_empty());
        assert!(!k.event_open());
        assert_eq!(names(&k.stop()), ["delete seg-1", "delete seg-2"]);
        assert!(k.stop().is_empty(), "decided once");
    }

    #[test]
    fn a_stop_without_eos_mid_event_keeps_the_segment_being_written() {
        let mut k = keeper();
        k.opened("seg-0".into(), 0);
        k.start(4 * S, 0);
        assert!(k.advance(7 * S).is_empty());
        assert!(k.event_open());
        assert_eq!(k.now(), 7 * S);
        let v = k.stop();
        assert_eq!(names(&v), ["keep seg-0 [0]"]);
        let Verdict::Keep(segment, _) = &v[0] else {
            unreachable!()
        };
        assert_eq!(segment.end, Some(7 * S), "it ends where the stream got to");
        assert!(!k.event_open());
    }

    #[test]
    fn a_segment_closed_without_being_seen_opened_starts_at_the_previous_end() {
        let mut k = keeper();
        k.closed("a", 10 * S);
        k.start(12 * S + S / 2, 0);
        let v = k.closed("b", 20 * S);
        assert_eq!(names(&v), ["keep b [0]"]);
        assert_eq!(
            names(&k.advance(40 * S)),
            ["delete a"],
            "a ends before 10.5 s"
        );
    }
}
