// SPDX-License-Identifier: MPL-2.0

//! The clips sent to the model and not scored yet, and what a score changes: the decision,
//! the latest info for `ViolenceMeta`, the statistics and the events to announce. Plain
//! Rust, so that the way from a score to an event is tested without a pipeline.

use super::calibration::{Calibrating, Descriptor};
use super::decision::{Decider, EndReason, ScoredClip};
use crate::event::{EventContext, ViolenceEvent};
use crate::meta::{Region, ViolenceInfo, ViolenceState};
use crate::model::attention::to_pixels;
use crate::model::JobOutcome;
use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::Duration;

/// Longest wait for one clip's result before the model is considered hung.
pub const RESULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Which results the streaming thread waits for before it goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// None: only the results already there are applied (async mode, frames without clip).
    ReadyOnly,
    /// The result of the clip with this tag (sync mode).
    Clip(u64),
    /// The results of every pending clip (the drain at EOS).
    AllPending,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub scored: u64,
    pub dropped: u64,
    /// Of `scored`, those scored by the model's screen (`screen-after`).
    pub screened: u64,
    pub failed: u64,
    pub queue_length: u32,
    /// Detection latency of the last scored clip and the largest so far: running time from
    /// the clip's first frame to the frame on which its score was applied.
    pub latency: u64,
    pub max_latency: u64,
    /// Clips in the forward that scored the last clip (all streams sharing the model).
    pub last_batch: u32,
    /// Sampled frames a frame encoder encoded for this stream (0 for models without one).
    pub frames_encoded: u64,
}

/// Where a clip's frames came from: the source frame size (to map the model's relative
/// region to pixels) and, for a model trained on people crops, the crop they were cut from
/// (the region of the events when the model does not localize).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClipSource {
    pub size: (u32, u32),
    pub crop: Option<Region>,
}

impl From<(u32, u32)> for ClipSource {
    fn from(size: (u32, u32)) -> Self {
        ClipSource { size, crop: None }
    }
}

/// A clip sent to the worker, waiting for its score.
#[derive(Debug, Clone, Copy)]
struct PendingClip {
    tag: u64,
    times: ScoredClip,
    source: ClipSource,
    /// Its motion descriptor, when a calibration is applied or learned.
    descriptor: Option<Descriptor>,
}

/// What one result did.
#[derive(Debug, PartialEq)]
pub enum Applied {
    /// The clip was forgotten by a flush; its result is ignored.
    Forgotten,
    /// An earlier clip of the stream is still being scored: the result is held, and applied
    /// after that one's (`ScoringQueue::take_ready`), so that decisions see clips in order.
    Held,
    /// The forward failed and failures are skipped: the clip only counts as failed.
    Skipped { first_pts: u64, error: String },
    Scored {
        clip: ScoredClip,
        batch_size: usize,
        forward_time: Duration,
        /// Scored by the model's screen (`screen-after`).
        screened: bool,
        /// In order: the score event (when scores are emitted), then a start or an end.
        events: Vec<ViolenceEvent>,
    },
}

/// How the queue behaves; fixed between start and stop but for `emit_scores`.
#[derive(Debug, Clone, Copy)]
pub struct QueueParams {
    /// Pending clips beyond which a clip that must not wait is dropped.
    pub max_pending: usize,
    /// A failed forward is counted and skipped instead of being an error.
    pub skip_failed: bool,
    /// Every scored clip is also announced as a `violence-score` event.
    pub emit_scores: bool,
}

/// The pending clips of one stream, in submission order, and the decisions their scores
/// lead to.
#[derive(Debug)]
pub struct ScoringQueue {
    params: QueueParams,
    pending: VecDeque<PendingClip>,
    /// Results of pending clips that came back before an earlier clip's: a screened clip
    /// overtakes a clip of the same stream in a long forward.
    held: Vec<JobOutcome>,
    next_tag: u64,
    decider: Decider,
    latest: ViolenceInfo,
    stats: Stats,
    stream_id: String,
    calibration: Option<Calibrating>,
}

impl ScoringQueue {
    pub fn new(decider: Decider, params: QueueParams) -> Self {
        ScoringQueue {
            params,
            pending: VecDeque::new(),
            held: Vec::new(),
            next_tag: 0,
            latest: ViolenceInfo {
                threshold: decider.params().threshold,
                ..ViolenceInfo::default()
            },
            decider,
            stats: Stats::default(),
            stream_id: String::new(),
            calibration: None,
        }
    }

    /// Applies a per-camera calibration to the scores, or learns one from them.
    pub fn set_calibration(&mut self, calibration: Option<Calibrating>) {
        self.calibration = calibration;
    }

    /// Whether scores are calibrated or learned (clips then need a descriptor).
    pub fn calibrates(&self) -> bool {
        self.calibration.is_some()
    }

    pub fn take_calibration(&mut self) -> Option<Calibrating> {
        self.calibration.take()
    }

    pub fn set_emit_scores(&mut self, emit: bool) {
        self.params.emit_scores = emit;
    }

    pub fn set_stream_id(&mut self, id: &str) {
        self.stream_id = id.to_string();
    }

    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// What the frames carry now (`ViolenceMeta`).
    pub fn latest(&self) -> &ViolenceInfo {
        &self.latest
    }

    pub fn is_violent(&self) -> bool {
        self.decider.is_violent()
    }

    /// Takes a clip into the queue and returns the tag its result must carry, or `None`
    /// when `drop_when_full` and `max_pending` clips are already waiting for the model
    /// (counted); clips whose result is held for order do not wait for it.
    pub fn admit(
        &mut self,
        times: ScoredClip,
        source: impl Into<ClipSource>,
        drop_when_full: bool,
        descriptor: Option<Descriptor>,
    ) -> Option<u64> {
        if drop_when_full && self.pending.len() - self.held.len() >= self.params.max_pending {
            self.stats.dropped += 1;
            return None;
        }
        let tag = self.next_tag;
        self.next_tag += 1;
        self.pending.push_back(PendingClip {
            tag,
            times,
            source: source.into(),
            descriptor,
        });
        self.stats.queue_length = self.pending.len() as u32;
        Some(tag)
    }

    /// Whether a result that `wait` asks for has not arrived yet.
    pub fn awaits(&self, wait: Wait) -> bool {
        match wait {
            Wait::ReadyOnly => false,
            Wait::Clip(tag) => self.pending.iter().any(|p| p.tag == tag),
            Wait::AllPending => !self.pending.is_empty(),
        }
    }

    /// Applies one result, decided on the frame at running time `decided_at`, or holds it
    /// while an earlier clip's is still to come. A failed forward is an error unless
    /// failures are skipped.
    pub fn apply(&mut self, outcome: JobOutcome, decided_at: u64) -> Result<Applied, String> {
        let Some(index) = self.pending.iter().position(|p| p.tag == outcome.tag) else {
            return Ok(Applied::Forgotten);
        };
        if index > 0 {
            self.held.push(outcome);
            return Ok(Applied::Held);
        }
        let pending = self.pending.pop_front().expect("index 0 exists");
        let score = match outcome.result {
            Ok(score) => score,
            Err(error) if self.params.skip_failed => {
                self.stats.failed += 1;
                return Ok(Applied::Skipped {
                    first_pts: pending.times.first_pts,
                    error,
                });
            }
            Err(e) => return Err(e),
        };
        let stats = &mut self.stats;
        stats.scored += 1;
        stats.screened += u64::from(score.screened);
        stats.queue_length = self.pending.len() as u32;
        stats.latency = decided_at.saturating_sub(pending.times.first_running_time);
        stats.max_latency = stats.max_latency.max(stats.latency);
        stats.last_batch = score.batch_size as u32;
        stats.frames_encoded += u64::from(score.frames_encoded);
        let threshold = self.decider.params().threshold;
        let clip = ScoredClip {
            score: match &mut self.calibration {
                Some(c) => c.on_score(
                    pending.descriptor.as_ref(),
                    score.probability,
                    threshold,
                    &pending.times,
                ),
                None => score.probability,
            },
            ..pending.times
        };
        let latest = &mut self.latest;
        latest.score = Some(clip.score);
        latest.clip_window = Some((
            gst::ClockTime::from_nseconds(clip.first_pts),
            gst::ClockTime::from_nseconds(clip.last_pts),
        ));
        latest.steps = score.steps;
        latest.region = score
            .region
            .map(|relative| {
                let (width, height) = pending.source.size;
                Region::from(to_pixels(relative, width, height))
            })
            .or(pending.source.crop);
        let mut events = Vec::new();
        if self.params.emit_scores {
            events.push(ViolenceEvent::score(&clip, self.context(decided_at)));
        }
        if let Some(t) = self.decider.on_clip(clip) {
            events.push(ViolenceEvent::from_transition(t, self.context(decided_at)));
        }
        self.latest.state = if self.decider.is_violent() {
            ViolenceState::Violent
        } else {
            ViolenceState::Idle
        };
        Ok(Applied::Scored {
            clip,
            batch_size: score.batch_size,
            forward_time: score.forward_time,
            screened: score.screened,
            events,
        })
    }

    /// The end of an event whose scores stayed low for the hold time, at running time `now`.
    pub fn on_time(&mut self, now: u64) -> Option<ViolenceEvent> {
        let t = self.decider.on_time(now)?;
        let event = ViolenceEvent::from_transition(t, self.context(now));
        self.latest.state = ViolenceState::Idle;
        Some(event)
    }

    /// Ends an event in progress without a score (EOS, flush, stall).
    pub fn finish(&mut self, reason: EndReason, decided_at: u64) -> Option<ViolenceEvent> {
        let t = self.decider.finish(reason);
        self.latest.state = ViolenceState::Idle;
        t.map(|t| ViolenceEvent::from_transition(t, self.context(decided_at)))
    }

    /// The held result of the oldest pending clip, once every earlier result was applied:
    /// to be applied next.
    pub fn take_ready(&mut self) -> Option<JobOutcome> {
        let first = self.pending.front()?.tag;
        let index = self.held.iter().position(|o| o.tag == first)?;
        Some(self.held.swap_remove(index))
    }

    /// Forgets the pending clips (their results will be ignored) and the latest info.
    pub fn flush(&mut self) {
        self.pending.clear();
        self.held.clear();
        self.latest = ViolenceInfo {
            threshold: self.latest.threshold,
            ..ViolenceInfo::default()
        };
    }

    fn context(&self, decided_at: u64) -> EventContext<'_> {
        EventContext {
            stream_id: &self.stream_id,
            region: self.latest.region,
            steps: self.latest.steps,
            decided_at,
        }
    }
}

/// The next result: blocks up to `timeout` when `block`, else takes only one already
/// there (`None` when there is none).
pub fn receive(
    results: &mpsc::Receiver<JobOutcome>,
    block: bool,
    timeout: Duration,
) -> Result<Option<JobOutcome>, String> {
    if block {
        results
            .recv_timeout(timeout)
            .map(Some)
            .map_err(|_| format!("the model gave no result within {timeout:?}"))
    } else {
        Ok(results.try_recv().ok())
    }
}

/// When the next `violence-stats` message is due, every `interval` of running time.
#[derive(Debug, Clone, Copy)]
pub struct StatsTimer {
    /// 0: never.
    interval: u64,
    last_post: Option<u64>,
}

impl StatsTimer {
    pub fn new(interval: u64) -> Self {
        StatsTimer {
            interval,
            last_post: None,
        }
    }

    /// Whether to post at running time `now`; the first frame always posts.
    pub fn due(&mut self, now: u64) -> bool {
        if self.interval == 0
            || self
                .last_post
                .is_some_and(|t| now.saturating_sub(t) < self.interval)
        {
            return false;
        }
        self.last_post = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::decision::DecisionParams;
    use super::*;
    use crate::event::EventKind;
    use crate::model::ClipScore;
    use crate::violenceclassify::decision::tests::{clip, FRAME};

    /// An unscored clip's times (decision.rs's test clips: T=16, stride 8, 25 fps).
    fn times(i: u64) -> ScoredClip {
        clip(i, f32::NAN)
    }

    fn queue(max_pending: usize, skip_failed: bool, emit_scores: bool) -> ScoringQueue {
        let decider = Decider::new(DecisionParams {
            threshold: 0.6,
            release_threshold: 0.4,
            min_consecutive: 1,
            hold_time: 0,
        });
        ScoringQueue::new(
            decider,
            QueueParams {
                max_pending,
                skip_failed,
                emit_scores,
            },
        )
    }

    fn scored(tag: u64, probability: f32, region: Option<[f32; 4]>) -> JobOutcome {
        JobOutcome {
            tag,
            result: Ok(ClipScore {
                probability,
                steps: if region.is_some() { 2 } else { 1 },
                region,
                forward_time: Duration::from_millis(3),
                batch_size: 1,
                frames_encoded: 0,
                screened: false,
            }),
        }
    }

    fn events(applied: Applied) -> Vec<ViolenceEvent> {
        match applied {
            Applied::Scored { events, .. } => events,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tags_count_up_and_a_full_queue_drops_only_when_asked() {
        let mut q = queue(2, false, false);
        assert_eq!(q.admit(times(0), (64, 64), true, None), Some(0));
        assert_eq!(q.admit(times(1), (64, 64), true, None), Some(1));
        assert_eq!(q.admit(times(2), (64, 64), true, None), None);
        assert_eq!(q.stats().dropped, 1);
        assert_eq!(
            q.admit(times(3), (64, 64), false, None),
            Some(2),
            "sync never drops"
        );
        assert_eq!(q.stats().queue_length, 3);
        assert_eq!(q.pending_len(), 3);
    }

    #[test]
    fn screened_clips_are_scored_and_counted_apart() {
        let mut q = queue(4, false, false);
        let a = q.admit(times(0), (64, 64), true, None).unwrap();
        let b = q.admit(times(1), (64, 64), true, None).unwrap();
        q.apply(scored(a, 0.2, None), 0).unwrap();
        let mut screened = scored(b, 0.9, None);
        if let Ok(score) = &mut screened.result {
            score.screened = true;
        }
        q.apply(screened, 0).unwrap();
        assert_eq!((q.stats().scored, q.stats().screened), (2, 1));
        assert_eq!(
            q.latest().score,
            Some(0.9),
            "a screened score decides like any other"
        );
    }

    #[test]
    fn waits_for_one_clip_or_all() {
        let mut q = queue(4, false, false);
        let a = q.admit(times(0), (64, 64), false, None).unwrap();
        let b = q.admit(times(1), (64, 64), false, None).unwrap();
        assert!(!q.awaits(Wait::ReadyOnly));
        assert!(q.awaits(Wait::Clip(b)));
        // b's result, come first, waits for a's: b is decided after a.
        assert_eq!(q.apply(scored(b, 0.1, None), 0), Ok(Applied::Held));
        assert!(q.awaits(Wait::Clip(b)));
        assert!(q.take_ready().is_none());
        assert!(q.awaits(Wait::AllPending));
        q.apply(scored(a, 0.1, None), 0).unwrap();
        let ready = q.take_ready().expect("b is next");
        assert_eq!(ready.tag, b);
        q.apply(ready, 0).unwrap();
        assert!(!q.awaits(Wait::AllPending));
    }

    #[test]
    fn results_that_overtake_are_decided_in_order_and_do_not_fill_the_queue() {
        let mut q = queue(2, false, false);
        let a = q.admit(times(0), (64, 64), true, None).unwrap();
        let b = q.admit(times(1), (64, 64), true, None).unwrap();
        // Two clips wait for the model: a third is dropped.
        assert!(q.admit(times(2), (64, 64), true, None).is_none());
        // b is screened while a is in a long forward: b no longer waits for the model.
        assert_eq!(q.apply(scored(b, 0.9, None), 0), Ok(Applied::Held));
        let c = q.admit(times(2), (64, 64), true, None).unwrap();
        assert_eq!(q.apply(scored(c, 0.9, None), 0), Ok(Applied::Held));
        assert_eq!(q.stats().scored, 0);
        // a comes back: a, b and c are decided in that order, and b and c start the event.
        let mut starts = 0;
        let mut applied = vec![q.apply(scored(a, 0.1, None), 0).unwrap()];
        while let Some(ready) = q.take_ready() {
            applied.push(q.apply(ready, 0).unwrap());
        }
        for (i, result) in applied.into_iter().enumerate() {
            let Applied::Scored { clip, events, .. } = result else {
                panic!("{result:?}")
            };
            assert_eq!(clip.first_pts, times(i as u64).first_pts);
            starts += events.len();
        }
        assert_eq!(starts, 1);
        assert!(q.is_violent());
        assert_eq!((q.pending_len(), q.stats().scored), (0, 3));
        q.flush();
        assert!(q.take_ready().is_none());
    }

    #[test]
    fn a_score_updates_latest_stats_and_starts_an_event() {
        let mut q = queue(4, false, true);
        q.set_stream_id("cam1");
        let tag = q.admit(times(1), (200, 100), false, None).unwrap();
        let decided_at = times(1).last_running_time + FRAME;
        let applied = q
            .apply(scored(tag, 0.9, Some([0.5, 0.5, 0.25, 0.5])), decided_at)
            .unwrap();
        let events = events(applied);
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Score, EventKind::Start]);
        let start = &events[1];
        assert_eq!(start.pts, times(1).first_pts);
        assert_eq!(start.latency, 16 * FRAME);
        assert_eq!(start.stream_id, "cam1");
        let region = Region {
            x: 100,
            y: 50,
            width: 50,
            height: 50,
        };
        assert_eq!(start.region, Some(region));
        assert_eq!(start.steps, 2);
        let latest = q.latest();
        assert_eq!(latest.score, Some(0.9));
        assert_eq!(latest.state, ViolenceState::Violent);
        assert_eq!(latest.region, Some(region));
        assert_eq!(latest.threshold, 0.6);
        let stats = q.stats();
        assert_eq!((stats.scored, stats.queue_length), (1, 0));
        assert_eq!((stats.latency, stats.max_latency), (16 * FRAME, 16 * FRAME));
    }

    #[test]
    fn events_of_a_people_crop_model_carry_the_crop_unless_the_model_localizes() {
        let mut q = queue(4, false, true);
        let crop = Region::new(300, 100, 200, 200);
        let source = ClipSource {
            size: (1280, 720),
            crop: Some(crop),
        };
        let tag = q.admit(times(1), source, false, None).unwrap();
        let events = events(q.apply(scored(tag, 0.9, None), 0).unwrap());
        assert_eq!(events[1].region, Some(crop));
        // A localizing model's own region wins over the crop.
        let tag = q.admit(times(2), source, false, None).unwrap();
        q.apply(scored(tag, 0.9, Some([0.0, 0.0, 0.5, 0.5])), 0)
            .unwrap();
        assert_eq!(q.latest().region, Some(Region::new(0, 0, 640, 360)));
    }

    #[test]
    fn low_scores_after_a_start_end_it() {
        let mut q = queue(4, false, false);
        let a = q.admit(times(0), (64, 64), false, None).unwrap();
        assert_eq!(events(q.apply(scored(a, 0.9, None), 0).unwrap()).len(), 1);
        let b = q.admit(times(1), (64, 64), false, None).unwrap();
        let end = events(q.apply(scored(b, 0.1, None), 0).unwrap());
        assert_eq!(end.len(), 1);
        assert_eq!(end[0].kind, EventKind::End);
        assert_eq!(end[0].pts, times(0).last_pts);
        assert_eq!(end[0].reason.as_deref(), Some("released"));
        assert_eq!(q.latest().state, ViolenceState::Idle);
    }

    #[test]
    fn failures_are_errors_unless_skipped() {
        let failed = |tag| JobOutcome {
            tag,
            result: Err("NaN".into()),
        };
        let mut strict = queue(4, false, false);
        let tag = strict.admit(times(0), (64, 64), false, None).unwrap();
        assert_eq!(strict.apply(failed(tag), 0), Err("NaN".into()));
        let mut lenient = queue(4, true, false);
        let tag = lenient.admit(times(2), (64, 64), false, None).unwrap();
        assert_eq!(
            lenient.apply(failed(tag), 0),
            Ok(Applied::Skipped {
                first_pts: times(2).first_pts,
                error: "NaN".into()
            })
        );
        assert_eq!((lenient.stats().failed, lenient.stats().scored), (1, 0));
    }

    #[test]
    fn results_of_flushed_clips_are_ignored() {
        let mut q = queue(4, false, false);
        let tag = q.admit(times(0), (64, 64), false, None).unwrap();
        q.flush();
        assert_eq!(q.apply(scored(tag, 0.9, None), 0), Ok(Applied::Forgotten));
        assert!(!q.is_violent());
        assert_eq!(q.latest().score, None);
        assert_eq!(q.latest().threshold, 0.6, "the threshold survives a flush");
    }

    #[test]
    fn finish_ends_an_event_in_progress_once() {
        let mut q = queue(4, false, false);
        let tag = q.admit(times(0), (64, 64), false, None).unwrap();
        q.apply(scored(tag, 0.9, None), 0).unwrap();
        let end = q.finish(EndReason::Eos, 7).expect("an end");
        assert_eq!(end.reason.as_deref(), Some("eos"));
        assert_eq!(q.latest().state, ViolenceState::Idle);
        assert_eq!(q.finish(EndReason::Eos, 8), None);
    }

    #[test]
    fn receive_blocks_only_when_asked() {
        let (tx, rx) = mpsc::channel();
        assert_eq!(
            receive(&rx, false, Duration::ZERO).unwrap().map(|o| o.tag),
            None
        );
        let err = receive(&rx, true, Duration::from_millis(1)).unwrap_err();
        assert!(err.contains("no result within"), "{err}");
        tx.send(scored(7, 0.5, None)).unwrap();
        assert_eq!(
            receive(&rx, true, RESULT_TIMEOUT).unwrap().map(|o| o.tag),
            Some(7)
        );
    }

    #[test]
    fn stats_are_due_every_interval_and_never_for_zero() {
        let mut timer = StatsTimer::new(100);
        assert!(timer.due(5));
        assert!(!timer.due(104));
        assert!(timer.due(105));
        let mut never = StatsTimer::new(0);
        assert!(!never.due(0));
        assert!(!never.due(1_000));
    }
}
