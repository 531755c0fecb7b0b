// SPDX-License-Identifier: MPL-2.0

//! Several classifiers behind one recording or one MQTT camera (`source=a,b`): an event runs
//! while any of them is in one. Two models that miss different fights (the default and the
//! people cascade on one camera) then give one file and one alert per fight, not one per model.

use super::Level;
use crate::event::{EventKind, ViolenceEvent};

/// The events and level states of N sources, merged into those of one.
#[derive(Debug, Default)]
pub struct Either {
    /// Whether each source is in an event, by its signal.
    active: Vec<bool>,
    /// Each source's latest level state.
    levels: Vec<Option<Level>>,
}

impl Either {
    pub fn new(sources: usize) -> Self {
        Either {
            active: vec![false; sources],
            levels: vec![None; sources],
        }
    }

    /// What source `i`'s event means for the recording: a start when it is the first source
    /// in an event, an end when it was the last; nothing otherwise (scores included).
    pub fn event(&mut self, i: usize, event: ViolenceEvent) -> Option<ViolenceEvent> {
        let was_any = self.active.iter().any(|&a| a);
        match event.kind {
            EventKind::Start => {
                self.active[i] = true;
                (!was_any).then_some(event)
            }
            // An end from a source not seen starting (connected mid-event) still closes what
            // the level states may have opened, unless another source holds the event.
            EventKind::End => {
                self.active[i] = false;
                (!self.active.iter().any(|&a| a)).then_some(event)
            }
            EventKind::Score => None,
        }
    }

    /// The level state of the recording once source `i` reports `level`: violent while any
    /// source's latest state is, from the earliest deciding clip among them.
    pub fn level(&mut self, i: usize, level: Level) -> Level {
        self.levels[i] = Some(level);
        let violent: Vec<&Level> = self.levels.iter().flatten().filter(|l| l.violent).collect();
        Level {
            now: level.now,
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

    fn kinds(out: &[Option<ViolenceEvent>]) -> Vec<Option<(EventKind, u64)>> {
        out.iter()
            .map(|e| e.as_ref().map(|e| (e.kind, e.running_time)))
            .collect()
    }

    #[test]
    fn one_source_passes_its_events_through() {
        let mut e = Either::new(1);
        let out = [
            e.event(0, event(EventKind::Start, 10)),
            e.event(0, event(EventKind::Score, 15)),
            e.event(0, event(EventKind::End, 20)),
            e.event(0, event(EventKind::Start, 30)),
            e.event(0, event(EventKind::End, 40)),
        ];
        assert_eq!(
            kinds(&out),
            [
                Some((EventKind::Start, 10)),
                None,
                Some((EventKind::End, 20)),
                Some((EventKind::Start, 30)),
                Some((EventKind::End, 40)),
            ]
        );
    }

    #[test]
    fn overlapping_events_of_two_sources_are_one_from_first_start_to_last_end() {
        let mut e = Either::new(2);
        let out = [
            e.event(1, event(EventKind::Start, 10)),
            e.event(0, event(EventKind::Start, 12)),
            e.event(1, event(EventKind::End, 20)),
            e.event(0, event(EventKind::End, 25)),
        ];
        assert_eq!(
            kinds(&out),
            [
                Some((EventKind::Start, 10)),
                None,
                None,
                Some((EventKind::End, 25)),
            ]
        );
    }

    #[test]
    fn separate_events_of_two_sources_are_each_recorded() {
        let mut e = Either::new(2);
        let out = [
            e.event(0, event(EventKind::Start, 10)),
            e.event(0, event(EventKind::End, 20)),
            e.event(1, event(EventKind::Start, 30)),
            e.event(1, event(EventKind::End, 40)),
        ];
        assert_eq!(
            kinds(&out),
            [
                Some((EventKind::Start, 10)),
                Some((EventKind::End, 20)),
                Some((EventKind::Start, 30)),
                Some((EventKind::End, 40)),
            ]
        );
    }

    #[test]
    fn an_end_never_started_closes_only_when_no_other_source_holds_the_event() {
        let mut e = Either::new(2);
        assert!(e.event(0, event(EventKind::End, 5)).is_some());
        assert!(e.event(1, event(EventKind::Start, 10)).is_some());
        assert!(e.event(0, event(EventKind::End, 12)).is_none());
        assert!(e.event(1, event(EventKind::End, 20)).is_some());
    }

    #[test]
    fn the_level_is_violent_while_any_source_is_from_its_earliest_clip() {
        let mut e = Either::new(2);
        let level = |now, violent, clip_start| Level {
            now,
            violent,
            clip_start,
        };
        assert!(!e.level(0, level(1, false, None)).violent);
        assert_eq!(e.level(1, level(2, true, Some(1))), level(2, true, Some(1)));
        assert_eq!(e.level(0, level(3, true, Some(0))), level(3, true, Some(0)));
        assert_eq!(e.level(1, level(4, false, None)), level(4, true, Some(0)));
        assert_eq!(e.level(0, level(5, false, None)), level(5, false, None));
    }
}
