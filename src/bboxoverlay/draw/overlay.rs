// SPDX-License-Identifier: MPL-2.0

//! The whole overlay of one frame: region boxes with labels, a state banner
//! and a score graph, described by an [`OverlaySpec`].

use std::cell::RefCell;
use std::fmt::Write;

use crate::bboxoverlay::draw::canvas::Canvas;
use crate::bboxoverlay::draw::colour::Rgba;
use crate::bboxoverlay::draw::geometry::Rect;
use crate::bboxoverlay::draw::graph::{draw_graph_with, Graph};
use crate::bboxoverlay::draw::mask::Mask;
use crate::bboxoverlay::draw::primitives::{fill_rect, stroke_rect};
use crate::bboxoverlay::draw::text::{TextMask, TextRenderer};

/// One detected region.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    /// Box in frame pixels; the outline is drawn inside it.
    pub rect: Rect,
    /// Label text, e.g. "violence"; may be empty.
    pub label: String,
    /// Appended to the label with two decimals, e.g. "violence 0.93".
    pub score: Option<f32>,
    /// Outline and label background colour.
    pub colour: Rgba,
}

/// A full-width strip across the top of the frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Banner {
    /// E.g. "VIOLENCE 00:12.3".
    pub text: String,
    /// Strip colour (its alpha is used); the text is black or white,
    /// whichever contrasts.
    pub colour: Rgba,
}

/// Everything to draw on one frame. The default draws nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct OverlaySpec {
    pub regions: Vec<Region>,
    pub banner: Option<Banner>,
    pub graph: Option<Graph>,
    /// Box outline width in pixels (also the graph's line width).
    pub line_width: i32,
    /// Label line height in pixels; the banner uses 1.5x.
    pub font_size: f32,
}

impl Default for OverlaySpec {
    fn default() -> Self {
        OverlaySpec {
            regions: Vec::new(),
            banner: None,
            graph: None,
            line_width: 3,
            font_size: 18.0,
        }
    }
}

impl OverlaySpec {
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty() && self.banner.is_none() && self.graph.is_none()
    }
}

/// Draws [`OverlaySpec`]s, keeping the glyph cache and scratch buffers
/// between frames. Keep one per element (or per streaming thread).
#[derive(Default)]
pub struct OverlayRenderer {
    text: TextRenderer,
    text_mask: TextMask,
    graph_mask: Mask,
    label: String,
}

impl OverlayRenderer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_text_renderer(text: TextRenderer) -> Self {
        OverlayRenderer {
            text,
            ..Self::default()
        }
    }

    pub fn text_renderer(&mut self) -> &mut TextRenderer {
        &mut self.text
    }

    /// Draws boxes, then labels (so they sit on top of neighbouring boxes),
    /// then the graph, then the banner.
    pub fn draw(&mut self, canvas: &mut Canvas, spec: &OverlaySpec) {
        for region in &spec.regions {
            stroke_rect(canvas, region.rect, spec.line_width, region.colour);
        }
        // Labels keep clear of the banner, which is drawn on top.
        let top = match &spec.banner {
            Some(b) if b.colour.a > 0 || !b.text.is_empty() => {
                self.banner_height(spec.font_size * 1.5)
            }
            _ => 0,
        };
        for region in &spec.regions {
            self.draw_label(canvas, region, spec.font_size, top);
        }
        if let Some(graph) = &spec.graph {
            draw_graph_with(canvas, graph, spec.line_width, &mut self.graph_mask);
        }
        if let Some(banner) = &spec.banner {
            self.draw_banner(canvas, banner, spec.font_size * 1.5);
        }
    }

    fn banner_height(&mut self, size: f32) -> i32 {
        self.text.line_metrics(size).height + 2 * padding(size).1
    }

    /// Label above the box, or just inside its top edge when the space
    /// above (below `top`) is too small.
    fn draw_label(&mut self, canvas: &mut Canvas, region: &Region, size: f32, top: i32) {
        let (fw, fh) = (canvas.width(), canvas.height());
        if !region.rect.intersects_frame(fw, fh) {
            return;
        }
        self.label.clear();
        self.label.push_str(&region.label);
        if let Some(score) = region.score {
            let sep = if region.label.is_empty() { "" } else { " " };
            let _ = write!(self.label, "{sep}{score:.2}");
        }
        if self.label.is_empty() {
            return;
        }
        self.text.render(&self.label, size, &mut self.text_mask);
        let (pad_x, pad_y) = padding(size);
        let m = &self.text_mask;
        let w = m.advance as i64 + 2 * pad_x as i64;
        let h = m.metrics.height as i64 + 2 * pad_y as i64;
        let r = region.rect;
        // Keep the label on screen horizontally while its box is visible.
        let x = (r.x as i64).min(fw as i64 - w).max(0);
        let above = r.y as i64 - h;
        let y = if above >= top as i64 {
            above
        } else {
            (r.y as i64).max(top as i64)
        };
        let (x, y) = (x as i32, y as i32);
        fill_rect(canvas, Rect::new(x, y, w as i32, h as i32), region.colour);
        let text_colour = region.colour.contrasting_text();
        m.draw(canvas, x + pad_x, y + pad_y, text_colour);
    }

    fn draw_banner(&mut self, canvas: &mut Canvas, banner: &Banner, size: f32) {
        if banner.text.is_empty() && banner.colour.a == 0 {
            return;
        }
        self.text.render(&banner.text, size, &mut self.text_mask);
        let (pad_x, pad_y) = padding(size);
        let h = self.banner_height(size);
        let w = canvas.width().min(i32::MAX as u32) as i32;
        fill_rect(canvas, Rect::new(0, 0, w, h), banner.colour);
        let text_colour = banner.colour.contrasting_text();
        self.text_mask.draw(canvas, pad_x, pad_y, text_colour);
    }
}

/// Space around label text, proportional to the font size.
fn padding(size: f32) -> (i32, i32) {
    let s = if size.is_finite() {
        size.clamp(1.0, 1000.0)
    } else {
        1.0
    };
    ((s * 0.3).round() as i32, (s * 0.12).round().max(1.0) as i32)
}

thread_local! {
    static RENDERER: RefCell<OverlayRenderer> = RefCell::new(OverlayRenderer::new());
}

/// Draws `spec` using a per-thread [`OverlayRenderer`], so the glyph cache
/// persists across frames of a streaming thread.
pub fn draw_overlay(canvas: &mut Canvas, spec: &OverlaySpec) {
    if spec.is_empty() {
        return;
    }
    RENDERER.with(|r| r.borrow_mut().draw(canvas, spec));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bboxoverlay::draw::canvas::{PixelFormat, ALL_FORMATS};
    use crate::bboxoverlay::draw::test_frame::TestFrame;

    fn region(x: i32, y: i32, w: i32, h: i32) -> Region {
        Region {
            rect: Rect::new(x, y, w, h),
            label: "violence".into(),
            score: Some(0.93),
            colour: Rgba::RED,
        }
    }

    fn full_spec(regions: Vec<Region>) -> OverlaySpec {
        OverlaySpec {
            regions,
            banner: Some(Banner {
                text: "VIOLENCE 00:12.3".into(),
                colour: Rgba::new(200, 0, 0, 180),
            }),
            graph: Some(Graph::new(
                (0..40).map(|i| (i as f32 * 0.3).sin().abs()).collect(),
                0.6,
                Rect::new(10, 60, 60, 30),
            )),
            ..OverlaySpec::default()
        }
    }

    #[test]
    fn empty_spec_leaves_frame_untouched() {
        for format in ALL_FORMATS {
            let mut f = TestFrame::new(format, 64, 48);
            let before = f.clone();
            draw_overlay(&mut f.canvas(), &OverlaySpec::default());
            OverlayRenderer::new().draw(&mut f.canvas(), &OverlaySpec::default());
            assert_eq!(f.planes, before.planes, "{format:?}");
        }
    }

    #[test]
    fn invisible_parts_leave_frame_untouched() {
        let mut spec = full_spec(vec![
            region(-500, -500, 100, 100),
            region(10_000, 5, 50, 50),
        ]);
        spec.banner = Some(Banner {
            text: String::new(),
            colour: Rgba::TRANSPARENT,
        });
        spec.graph.as_mut().unwrap().rect = Rect::new(-100, 0, 50, 50);
        let mut f = TestFrame::new(PixelFormat::Nv12, 64, 48);
        let before = f.clone();
        draw_overlay(&mut f.canvas(), &spec);
        assert_eq!(f.planes, before.planes);
    }

    #[test]
    fn labels_sit_above_the_box_or_inside() {
        let mut r = OverlayRenderer::new();
        let spec = OverlaySpec {
            regions: vec![region(20, 60, 80, 40)],
            ..OverlaySpec::default()
        };
        let mut f = TestFrame::filled(PixelFormat::Rgb, 200, 120, 50);
        r.draw(&mut f.canvas(), &spec);
        // Label background (red) ends right above the box's top edge.
        assert_eq!(f.packed(21, 59), [255, 0, 0]);
        assert_eq!(f.packed(21, 60), [255, 0, 0]); // outline
        assert_eq!(f.packed(50, 70), [50, 50, 50]); // box interior
        let white = (30..59).any(|y| (20..100).any(|x| f.packed(x, y) == [255, 255, 255]));
        assert!(white, "label text drawn in white above the box");

        // No room above: the label moves inside the box.
        let spec = OverlaySpec {
            regions: vec![region(20, 5, 80, 60)],
            ..OverlaySpec::default()
        };
        let mut f = TestFrame::filled(PixelFormat::Rgb, 200, 120, 50);
        r.draw(&mut f.canvas(), &spec);
        assert_eq!(f.packed(21, 4), [50, 50, 50]);
        assert_eq!(f.packed(25, 10), [255, 0, 0]);
        let white = (5..40).any(|y| (20..100).any(|x| f.packed(x, y) == [255, 255, 255]));
        assert!(white);
    }

    #[test]
    fn labels_stay_below_the_banner() {
        let mut r = OverlayRenderer::new();
        let mut spec = full_spec(vec![region(20, 30, 80, 60)]);
        spec.graph = None;
        spec.banner.as_mut().unwrap().colour = Rgba::rgb(0, 0, 255);
        let mut f = TestFrame::filled(PixelFormat::Rgb, 200, 120, 50);
        r.draw(&mut f.canvas(), &spec);
        let banner_h = (0..120)
            .take_while(|&y| f.packed(0, y) == [0, 0, 255])
            .count();
        assert!(banner_h > 20);
        // The label moved inside the box, right under the banner.
        assert_eq!(f.packed(21, banner_h), [255, 0, 0]);
        assert_eq!(f.packed(21, banner_h + 20), [255, 0, 0]);
    }

    #[test]
    fn full_overlay_clips_in_every_format() {
        let regions = vec![
            region(10, 10, 30, 30),
            region(-20, -20, 50, 50),
            region(50, 40, 100, 100),
            region(i32::MIN, i32::MIN, i32::MAX, i32::MAX),
            region(i32::MAX, i32::MAX, i32::MAX, i32::MAX),
            region(-5, -5, i32::MAX, i32::MAX),
            region(60, 0, 0, 0),
        ];
        let mut spec = full_spec(regions);
        spec.regions[2].score = Some(f32::NAN);
        spec.regions[3].label = "ünïcødé ✓".into();
        for format in ALL_FORMATS {
            for (w, h) in [(64, 48), (63, 47), (1, 1), (2, 2), (7, 3)] {
                for lw in [1, 3, 100, 0, -2] {
                    spec.line_width = lw;
                    let mut f = TestFrame::new(format, w, h);
                    let padding = f.padding_bytes();
                    draw_overlay(&mut f.canvas(), &spec);
                    assert_eq!(f.padding_bytes(), padding);
                }
            }
        }
    }

    #[test]
    fn zero_sized_frame() {
        for format in ALL_FORMATS {
            let planes = (0..format.n_planes())
                .map(|_| crate::bboxoverlay::draw::canvas::Plane::new(&mut [], 0));
            let mut c = Canvas::new(format, 0, 0, planes).unwrap();
            draw_overlay(&mut c, &full_spec(vec![region(0, 0, 10, 10)]));
        }
    }
}
