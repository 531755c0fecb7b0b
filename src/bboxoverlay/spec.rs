// SPDX-License-Identifier: MPL-2.0

//! What to draw on a frame, from its metadata and the recent history of scores: pure
//! logic between the metas and the drawing code.

use super::draw::{Banner, Graph, OverlaySpec, Rect, Region, Rgba};
use crate::meta::{ViolenceInfo, ViolenceState, ROI_MOTION, ROI_VIOLENCE};
use std::collections::VecDeque;

/// Appearance settings (the element's properties).
#[derive(Debug, Clone, PartialEq)]
pub struct Style {
    pub line_width: i32,
    pub font_size: f32,
    pub labels: bool,
    pub banner: bool,
    pub graph: bool,
    /// Span of the score graph, nanoseconds.
    pub graph_duration: u64,
    pub violence_colour: Rgba,
    pub motion_colour: Rgba,
    pub other_colour: Rgba,
    pub banner_colour: Rgba,
}

/// A region of interest read from a `GstVideoRegionOfInterestMeta`.
#[derive(Debug, Clone, PartialEq)]
pub struct RoiBox {
    pub roi_type: String,
    pub region: crate::meta::Region,
    pub confidence: Option<f64>,
}

/// ARGB as in textoverlay's `color` property.
pub fn rgba_from_argb(argb: u32) -> Rgba {
    Rgba::new(
        (argb >> 16) as u8,
        (argb >> 8) as u8,
        argb as u8,
        (argb >> 24) as u8,
    )
}

pub fn argb_from_rgba(c: Rgba) -> u32 {
    (c.a as u32) << 24 | (c.r as u32) << 16 | (c.g as u32) << 8 | c.b as u32
}

/// State carried from frame to frame: when the current event started and recent scores.
#[derive(Debug, Default)]
pub struct History {
    event_start: Option<u64>,
    scores: VecDeque<(u64, f32)>,
}

impl History {
    pub fn reset(&mut self) {
        *self = History::default();
    }

    /// A `violence-start` event seen in the stream: its PTS is the start of the event.
    pub fn on_start_event(&mut self, pts: u64) {
        self.event_start = Some(pts);
    }

    pub fn on_end_event(&mut self) {
        self.event_start = None;
    }

    fn observe(&mut self, pts: u64, info: Option<&ViolenceInfo>, graph_duration: u64) {
        match info {
            Some(i) if i.state == ViolenceState::Violent => {
                // Without a start event (e.g. out-of-band), the first violent frame starts it.
                self.event_start.get_or_insert(pts);
            }
            _ => self.event_start = None,
        }
        if let Some(score) = info.and_then(|i| i.score) {
            self.scores.push_back((pts, score));
        }
        while self
            .scores
            .front()
            .is_some_and(|(t, _)| pts.saturating_sub(*t) > graph_duration)
        {
            self.scores.pop_front();
        }
    }
}

fn colour_for(style: &Style, roi_type: &str) -> Rgba {
    match roi_type {
        ROI_VIOLENCE => style.violence_colour,
        ROI_MOTION => style.motion_colour,
        _ => style.other_colour,
    }
}

/// `mm:ss.d` for a duration in nanoseconds.
pub fn clock_text(ns: u64) -> String {
    let tenths = ns / 100_000_000;
    format!(
        "{:02}:{:02}.{}",
        tenths / 600,
        (tenths / 10) % 60,
        tenths % 10
    )
}

/// Builds the overlay of one frame and updates the history.
pub fn build(
    style: &Style,
    history: &mut History,
    frame: (u32, u32),
    pts: u64,
    rois: &[RoiBox],
    violence: Option<&ViolenceInfo>,
) -> OverlaySpec {
    history.observe(pts, violence, style.graph_duration);
    // ROI metas hold unsigned coordinates; elements that compute a box partly left of or
    // above the frame store the negative value wrapped, so it is read back as signed.
    let clamp = |v: u32| v.min(i32::MAX as u32) as i32;
    let regions = rois
        .iter()
        .map(|r| Region {
            rect: Rect::new(
                r.region.x as i32,
                r.region.y as i32,
                clamp(r.region.width),
                clamp(r.region.height),
            ),
            label: if style.labels {
                r.roi_type.clone()
            } else {
                String::new()
            },
            score: r.confidence.filter(|_| style.labels).map(|c| c as f32),
            colour: colour_for(style, &r.roi_type),
        })
        .collect();
    let banner = match (style.banner, history.event_start) {
        (true, Some(start)) => Some(Banner {
            text: format!("VIOLENCE {}", clock_text(pts.saturating_sub(start))),
            colour: style.banner_colour,
        }),
        _ => None,
    };
    let graph = (style.graph && violence.is_some()).then(|| {
        let (w, h) = (frame.0 as i32, frame.1 as i32);
        let (gw, gh) = ((w * 3 / 10).max(40), (h * 3 / 20).max(24));
        let mut g = Graph::new(
            history.scores.iter().map(|(_, s)| *s).collect(),
            violence.map_or(0.5, |v| v.threshold),
            Rect::new(10, h - gh - 10, gw, gh),
        );
        g.line_colour = if history.event_start.is_some() {
            style.violence_colour
        } else {
            style.other_colour
        };
        g
    });
    OverlaySpec {
        regions,
        banner,
        graph,
        line_width: style.line_width,
        font_size: style.font_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style() -> Style {
        Style {
            line_width: 3,
            font_size: 18.0,
            labels: true,
            banner: true,
            graph: true,
            graph_duration: 1_000,
            violence_colour: Rgba::RED,
            motion_colour: Rgba::GREEN,
            other_colour: Rgba::YELLOW,
            banner_colour: Rgba::RED,
        }
    }

    fn violent(score: f32) -> ViolenceInfo {
        ViolenceInfo {
            score: Some(score),
            state: ViolenceState::Violent,
            threshold: 0.6,
            ..Default::default()
        }
    }

    #[test]
    fn colours_and_labels_by_type() {
        let rois = [
            RoiBox {
                roi_type: "violence".into(),
                region: crate::meta::Region::new(1, 2, 3, 4),
                confidence: Some(0.93),
            },
            RoiBox {
                roi_type: "person".into(),
                region: crate::meta::Region::new(0, 0, 9, 9),
                confidence: None,
            },
        ];
        let spec = build(
            &style(),
            &mut History::default(),
            (100, 100),
            0,
            &rois,
            None,
        );
        assert_eq!(spec.regions[0].colour, Rgba::RED);
        assert_eq!(spec.regions[0].label, "violence");
        assert_eq!(spec.regions[0].score, Some(0.93));
        assert_eq!(spec.regions[1].colour, Rgba::YELLOW);
        assert!(spec.banner.is_none() && spec.graph.is_none());
        let quiet = Style {
            labels: false,
            ..style()
        };
        let spec = build(&quiet, &mut History::default(), (100, 100), 0, &rois, None);
        assert!(spec
            .regions
            .iter()
            .all(|r| r.label.is_empty() && r.score.is_none()));
    }

    #[test]
    fn banner_counts_from_the_start_event() {
        let mut h = History::default();
        h.on_start_event(1_000_000_000);
        let spec = build(
            &style(),
            &mut h,
            (100, 100),
            13_300_000_000,
            &[],
            Some(&violent(0.9)),
        );
        assert_eq!(spec.banner.unwrap().text, "VIOLENCE 00:12.3");
        // Idle again: no banner, and the start is forgotten.
        let idle = ViolenceInfo {
            score: Some(0.1),
            ..Default::default()
        };
        assert!(build(
            &style(),
            &mut h,
            (100, 100),
            14_000_000_000,
            &[],
            Some(&idle)
        )
        .banner
        .is_none());
        // A violent frame without a start event starts the clock itself.
        build(
            &style(),
            &mut h,
            (100, 100),
            20_000_000_000,
            &[],
            Some(&violent(0.9)),
        );
        let spec = build(
            &style(),
            &mut h,
            (100, 100),
            21_500_000_000,
            &[],
            Some(&violent(0.9)),
        );
        assert_eq!(spec.banner.unwrap().text, "VIOLENCE 00:01.5");
    }

    #[test]
    fn graph_keeps_its_duration_and_threshold() {
        let mut h = History::default();
        for t in 0..5u64 {
            build(
                &style(),
                &mut h,
                (200, 100),
                t * 400,
                &[],
                Some(&violent(t as f32 / 10.0)),
            );
        }
        let spec = build(&style(), &mut h, (200, 100), 2000, &[], Some(&violent(0.5)));
        let g = spec.graph.unwrap();
        // Samples older than 1000 ns are gone: 1200, 1600, 2000 remain.
        assert_eq!(g.values, vec![0.3, 0.4, 0.5]);
        assert_eq!(g.threshold, 0.6);
    }

    #[test]
    fn argb_round_trip_and_clock() {
        let c = rgba_from_argb(0x80FF2010);
        assert_eq!(c, Rgba::new(0xFF, 0x20, 0x10, 0x80));
        assert_eq!(argb_from_rgba(c), 0x80FF2010);
        assert_eq!(clock_text(0), "00:00.0");
        assert_eq!(clock_text(61_250_000_000), "01:01.2");
    }
}
