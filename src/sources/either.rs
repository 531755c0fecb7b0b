// SPDX-License-Identifier: MPL-2.0

//! Several classifiers behind one recording or one MQTT camera (`source=a,b`): an event runs
//! while any of them is in one. Two models that miss different fights (the default and the
//! people cascade on one camera) then give one file and one alert per fight, not one per model.

use super::Level;
use crate::event::{EventKind, ViolenceEvent};

/// The events and level states of N sources, merged into those of one.
///
/// The sources' signals come from their own streaming threads, so one source may report an
/// event only after the merged one it belongs to has already ended (a slower model's branch
/// lags behind). Such a late event, inside the span already recorded, adds nothing.
#[derive(Debug, Default)]
pub struct Either {
    /// Whether each source is in an event, by its signal.
    active: Vec<bool>,
    /// Each source's event that started inside the last merged event's span, after that
    /// event had ended: held until its end tells whether it reaches beyond the span.
    late: Vec<Option<ViolenceEvent>>,
    /// Running time of the last merged end.
    last_end: Option<u64>,
    /// Each source's latest level state.
    levels: Vec<Option<Level>>,
}

impl Either {
    pub fn new(sources: usize) -> Self {
        Either {
            active: vec![false; sources],
            late: vec![None; sources],
            last_end: None,
            levels: vec![None; sources],
        }
    }

    /// What source `i`'s event means for the recording: a start when it is the first source
    /// in an event, an end when it was the last; nothing for a late event inside the span
    /// already ended, and its start and end if it reaches beyond it; nothing for scores.
    pub fn event(&mut self, i: usize, event: ViolenceEvent) -> Vec<ViolenceEvent> {
        let any_active = self.active.iter().any(|&a| a);
        match event.kind {
            EventKind::Start if any_active => {
                self.active[i] = true;
                vec![]
            }
            EventKind::Start if self.last_end.is_some_and(|end| event.running_time <= end) => {
                self.late[i] = Some(event);
                vec![]
            }
            EventKind::Start => {
                self.active[i] = true;
                vec![event]
            }
            EventKind::End => {
                if let Some(start) = self.late[i].take() {
                    // Inside the span already recorded, or within an event going on now.
                    let covered = self.last_end.is_some_and(|end| event.running_time <= end);
                    return if covered || any_active {
                        vec![]
                    } else {
                        self.last_end = Some(event.running_time);
                        vec![start, event]
                    };
                }
                // An end from a source not seen starting (connected mid-event) still closes
                // what the level states may have opened, unless another source holds the
                // event.
                self.active[i] = false;
                if self.active.iter().any(|&a| a) {
                    return vec![];
                }
                self.last_end = Some(event.running_time);
                vec![event]
            }
            EventKind::Score => vec![],
        }
    }

    /// The level state of the recording once source `i` reports `level`: violent while any
    /// source's latest state is, from the earliest deciding clip among them. A lagging
    /// source's violent state inside the span of the last merged event, which has ended,
    /// does not count: it would reopen what is already recorded.
    ///
    /// Its time is the slowest source's: the merged state is only known up to there. With the
    /// time of whichever source reported last, the recorder would measure how long a lagging
    /// source's last violent frames disagree with the marks on the leading source's clock, and
    /// a moment of disagreement would look like a lost event as soon as the sources are
    /// `RECONCILE_AFTER` apart (a made-up event after the real one, under load).
    pub fn level(&mut self, i: usize, level: Level) -> Level {
        self.levels[i] = Some(level);
        let now = self
            .levels
            .iter()
            .flatten()
            .map(|l| l.now)
            .min()
            .unwrap_or(level.now);
        let recorded = |l: &Level| self.last_end.is_some_and(|end| l.now <= end);
        let violent: Vec<&Level> = self
            .levels
            .iter()
            .flatten()
            .filter(|l| l.violent && !recorded(l))
            .collect();
        Level {
            now,
            violent: !violent.is_empty(),
            clip_start: violent.iter().filter_map(|l| l.clip_start).min(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, at: u64) -> ViolenceEvent {
        ViolenceEvent {
            kind,
            pts: at,
            running_time: at,
            score: 0.9,
            clip_start: at,
            clip_end: at + 10,
            region: None,
            stream_id: String::new(),
            latency: 0,
            steps: 0,
            reason: None,
            scene_cut: false,
        }
    }

    use EventKind::{End, Score, Start};

    /// Feeds (source, kind, running time) in order; the merged events, in order.
    fn merged(sources: usize, input: &[(usize, EventKind, u64)]) -> Vec<(EventKind, u64)> {
        let mut e = Either::new(sources);
        input
            .iter()
            .flat_map(|&(i, kind, at)| e.event(i, event(kind, at)))
            .map(|e| (e.kind, e.running_time))
            .collect()
    }

    #[test]
    fn one_source_passes_its_events_through() {
        let input = [
            (0, Start, 10),
            (0, Score, 15),
            (0, End, 20),
            (0, Start, 30),
            (0, End, 40),
        ];
        assert_eq!(
            merged(1, &input),
            [(Start, 10), (End, 20), (Start, 30), (End, 40)]
        );
    }

    #[test]
    fn overlapping_events_of_two_sources_are_one_from_first_start_to_last_end() {
        let input = [(1, Start, 10), (0, Start, 12), (1, End, 20), (0, End, 25)];
        assert_eq!(merged(2, &input), [(Start, 10), (End, 25)]);
    }

    #[test]
    fn separate_events_of_two_sources_are_each_recorded() {
        let input = [(0, Start, 10), (0, End, 20), (1, Start, 30), (1, End, 40)];
        assert_eq!(
            merged(2, &input),
            [(Start, 10), (End, 20), (Start, 30), (End, 40)]
        );
    }

    #[test]
    fn a_lagging_source_reporting_the_same_event_after_it_ended_adds_nothing() {
        let input = [(0, Start, 10), (0, End, 20), (1, Start, 11), (1, End, 19)];
        assert_eq!(merged(2, &input), [(Start, 10), (End, 20)]);
    }

    #[test]
    fn a_late_event_reaching_beyond_the_recorded_span_is_recorded() {
        let input = [(0, Start, 10), (0, End, 20), (1, Start, 15), (1, End, 30)];
        assert_eq!(
            merged(2, &input),
            [(Start, 10), (End, 20), (Start, 15), (End, 30)]
        );
        // ... unless an event is going on by then, which holds it.
        let input = [
            (0, Start, 10),
            (0, End, 20),
            (1, Start, 15),
            (0, Start, 25),
            (1, End, 30),
            (0, End, 40),
        ];
        assert_eq!(
            merged(2, &input),
            [(Start, 10), (End, 20), (Start, 25), (End, 40)]
        );
    }

    #[test]
    fn an_end_never_started_closes_only_when_no_other_source_holds_the_event() {
        let input = [(0, End, 5), (1, Start, 10), (0, End, 12), (1, End, 20)];
        assert_eq!(merged(2, &input), [(End, 5), (Start, 10), (End, 20)]);
    }

    #[test]
    fn the_level_is_violent_while_any_source_is_from_its_earliest_clip() {
        let mut e = Either::new(2);
        let level = |now, violent, clip_start| Level {
            now,
            violent,
            clip_start,
        };
        // The merged state's time is the slowest source's.
        assert!(!e.level(0, level(1, false, None)).violent);
        assert_eq!(e.level(1, level(2, true, Some(1))), level(1, true, Some(1)));
        assert_eq!(e.level(0, level(3, true, Some(0))), level(2, true, Some(0)));
        assert_eq!(e.level(1, level(4, false, None)), level(3, true, Some(0)));
        assert_eq!(e.level(0, level(5, false, None)), level(4, false, None));
    }

    #[test]
    fn a_lagging_source_still_violent_inside_the_ended_span_does_not_reopen_it() {
        let mut e = Either::new(2);
        let level = |now, violent| Level {
            now,
            violent,
            clip_start: Some(10),
        };
        e.event(0, event(Start, 10));
        e.event(0, event(End, 20));
        assert!(!e.level(0, level(25, false)).violent);
        assert!(!e.level(1, level(18, true)).violent, "source 1 lags, at 18");
        assert!(
            e.level(1, level(21, true)).violent,
            "source 1 goes on past the end"
        );
    }

    #[test]
    fn the_merged_time_waits_for_a_source_that_lags() {
        // Source 0 runs 2 s ahead of source 1; source 1's last violent frame, past the merged
        // end, is dated where source 1 is, not where source 0 already is.
        let mut e = Either::new(2);
        let level = |now, violent| Level {
            now,
            violent,
            clip_start: Some(4_560),
        };
        e.event(0, event(Start, 3_760));
        e.event(1, event(Start, 3_760));
        e.event(0, event(End, 4_840));
        e.event(1, event(End, 4_840));
        assert_eq!(e.level(0, level(6_900, false)).now, 6_900);
        let lagging = e.level(1, level(4_880, true));
        assert!(lagging.violent);
        assert_eq!(lagging.now, 4_880, "the slowest source's time");
        assert_eq!(e.level(0, level(7_000, false)).now, 4_880);
        let caught_up = e.level(1, level(4_920, false));
        assert_eq!((caught_up.now, caught_up.violent), (4_920, false));
    }
}
