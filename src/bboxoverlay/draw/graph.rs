// SPDX-License-Identifier: MPL-2.0

//! Score-history panel: the last N scores (0..=1) as a polyline over a
//! translucent background, with a horizontal threshold line.

use crate::bboxoverlay::draw::canvas::Canvas;
use crate::bboxoverlay::draw::colour::Rgba;
use crate::bboxoverlay::draw::geometry::Rect;
use crate::bboxoverlay::draw::mask::Mask;
use crate::bboxoverlay::draw::primitives::{draw_mask, fill_rect};

/// What to plot and where.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// Oldest first; the newest value is at the right edge. Values are
    /// clamped to 0..=1, NaN counts as 0.
    pub values: Vec<f32>,
    /// Drawn as a horizontal line at this score.
    pub threshold: f32,
    /// Panel position and size in frame pixels.
    pub rect: Rect,
    pub line_colour: Rgba,
    pub threshold_colour: Rgba,
    pub background: Rgba,
}

impl Graph {
    /// A graph with the default colours: white line, orange threshold,
    /// half-transparent black panel.
    pub fn new(values: Vec<f32>, threshold: f32, rect: Rect) -> Self {
        Graph {
            values,
            threshold,
            rect,
            line_colour: Rgba::WHITE,
            threshold_colour: Rgba::ORANGE,
            background: Rgba::new(0, 0, 0, 128),
        }
    }
}

/// Draws `graph` with a polyline `line_width` pixels thick.
pub fn draw_graph(canvas: &mut Canvas, graph: &Graph, line_width: i32) {
    draw_graph_with(canvas, graph, line_width, &mut Mask::default());
}

/// As [`draw_graph`], reusing `scratch` for the polyline mask.
pub(crate) fn draw_graph_with(
    canvas: &mut Canvas,
    graph: &Graph,
    line_width: i32,
    scratch: &mut Mask,
) {
    let r = graph.rect;
    let (fw, fh) = canvas.size();
    let Some(visible) = r.clip(fw, fh) else {
        return;
    };
    let lw = line_width.clamp(1, 64);
    fill_rect(canvas, r, graph.background);

    // Threshold: `max(1, lw / 2)` rows centred on its value.
    let t = clamp01(graph.threshold) as f64;
    let centre = r.y as f64 + 0.5 + (1.0 - t) * (r.h as f64 - 1.0);
    let thick = (lw / 2).max(1);
    let top = (centre - thick as f64 / 2.0).round();
    let line = Rect::new(
        r.x,
        top.clamp(i32::MIN as f64, i32::MAX as f64) as i32,
        r.w,
        thick,
    );
    fill_rect(canvas, line, graph.threshold_colour);

    // Only the visible window is rasterised, so a huge rect costs nothing.
    let window = Window {
        col0: (visible.x0 as i64 - r.x as i64) as usize,
        cols: visible.x1 - visible.x0,
        row0: (visible.y0 as i64 - r.y as i64) as usize,
        rows: visible.y1 - visible.y0,
    };
    plot(
        &graph.values,
        r.w as usize,
        r.h as usize,
        lw,
        window,
        scratch,
    );
    draw_mask(
        canvas,
        visible.x0 as i32,
        visible.y0 as i32,
        scratch,
        graph.line_colour,
    );
}

/// The part of the panel (in panel pixels) to rasterise.
#[derive(Clone, Copy, Debug)]
struct Window {
    col0: usize,
    cols: usize,
    row0: usize,
    rows: usize,
}

fn clamp01(v: f32) -> f32 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(0.0, 1.0)
    }
}

/// Polyline of `values` in a `width x height` panel as a binary mask, for
/// the whole panel. Public so callers can inspect or reuse the plot.
pub fn plot_mask(values: &[f32], width: usize, height: usize, line_width: i32) -> Mask {
    let mut out = Mask::default();
    let window = Window {
        col0: 0,
        cols: width,
        row0: 0,
        rows: height,
    };
    plot(
        values,
        width,
        height,
        line_width.clamp(1, 64),
        window,
        &mut out,
    );
    out
}

/// Rasterises the polyline stroked with a `lw x lw` square pen: column `c`
/// covers the rows whose centres are within `lw / 2` of the curve's y
/// range over `[c + 0.5 - lw/2, c + 0.5 + lw/2]`. Every pixel is covered
/// once, the stroke has no gaps at steep slopes, and work is per column.
fn plot(values: &[f32], width: usize, height: usize, lw: i32, win: Window, out: &mut Mask) {
    out.reset(win.cols, win.rows);
    if values.is_empty() || width == 0 || height == 0 {
        return;
    }
    let n = values.len();
    let ys: Vec<f64> = values
        .iter()
        .map(|&v| 0.5 + (1.0 - clamp01(v) as f64) * (height as f64 - 1.0))
        .collect();
    // Vertex i at x = first + i * dx (pixel centres of first/last column);
    // a single value is drawn as a flat line across the panel.
    let (first, last) = (0.5, width as f64 - 0.5);
    let (ys, dx) = if n == 1 {
        (vec![ys[0], ys[0]], last - first)
    } else {
        (ys, (last - first) / (n - 1) as f64)
    };
    let segs = ys.len() - 1;
    let y_at = |t: f64| -> f64 {
        if dx <= 0.0 {
            return ys[0];
        }
        let f = ((t - first) / dx).clamp(0.0, segs as f64);
        let i = (f.floor() as usize).min(segs - 1);
        let k = f - i as f64;
        ys[i] + (ys[i + 1] - ys[i]) * k
    };
    let hw = lw as f64 / 2.0;
    for c in win.col0..win.col0 + win.cols {
        let centre = c as f64 + 0.5;
        let a = (centre - hw).max(first);
        let b = (centre + hw).min(last);
        if a > b {
            continue;
        }
        let (mut lo, mut hi) = if dx <= 0.0 {
            let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (lo, hi)
        } else {
            let (ya, yb) = (y_at(a), y_at(b));
            (ya.min(yb), ya.max(yb))
        };
        if dx > 0.0 {
            // Vertices strictly inside [a, b] can be extremes too.
            let i0 = ((a - first) / dx).ceil().max(0.0) as usize;
            let i1 = (((b - first) / dx).floor() as usize).min(segs);
            for y in ys.iter().take(i1 + 1).skip(i0) {
                lo = lo.min(*y);
                hi = hi.max(*y);
            }
        }
        let r0 = (lo - hw - 0.5).ceil().max(win.row0 as f64) as usize;
        let r1 = ((hi + hw - 0.5).floor() + 1.0).min((win.row0 + win.rows) as f64);
        if r1 <= r0 as f64 {
            continue;
        }
        let col = c - win.col0;
        for r in r0..r1 as usize {
            out.row_mut(r - win.row0)[col] = 255;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bboxoverlay::draw::canvas::ALL_FORMATS;
    use crate::bboxoverlay::draw::test_frame::TestFrame;

    fn rows_in_col(m: &Mask, c: usize) -> Vec<usize> {
        (0..m.height())
            .filter(|&r| m.get(c as i64, r as i64) == 255)
            .collect()
    }

    #[test]
    fn flat_lines_land_on_the_right_rows() {
        let m = plot_mask(&[0.0, 0.0, 0.0], 10, 11, 1);
        for c in 0..10 {
            assert_eq!(rows_in_col(&m, c), vec![10]);
        }
        let m = plot_mask(&[1.0; 4], 10, 11, 1);
        assert_eq!(rows_in_col(&m, 4), vec![0]);
        let m = plot_mask(&[0.5], 10, 11, 3);
        for c in 0..10 {
            assert_eq!(rows_in_col(&m, c), vec![4, 5, 6]);
        }
    }

    #[test]
    fn steep_segments_have_no_gaps() {
        let m = plot_mask(&[0.0, 1.0, 0.0], 5, 100, 1);
        // Every row is covered by some column.
        for r in 0..100 {
            assert!((0..5).any(|c| m.get(c, r) == 255), "row {r}");
        }
        // Middle column reaches the top.
        assert!(rows_in_col(&m, 2).contains(&0));
    }

    #[test]
    fn many_values_narrow_panel() {
        let vals: Vec<f32> = (0..500).map(|i| (i % 7) as f32 / 6.0).collect();
        let m = plot_mask(&vals, 20, 30, 2);
        assert_eq!(rows_in_col(&m, 10).len(), 30);
        let m = plot_mask(&vals, 1, 30, 1);
        assert_eq!(rows_in_col(&m, 0).len(), 30);
        plot_mask(&[f32::NAN, f32::INFINITY, -3.0], 7, 7, 1);
        assert!(plot_mask(&[], 7, 7, 1).data().iter().all(|&v| v == 0));
    }

    #[test]
    fn graph_is_clipped_in_every_format() {
        let vals: Vec<f32> = (0..50).map(|i| i as f32 / 50.0).collect();
        for format in ALL_FORMATS {
            for rect in [
                Rect::new(3, 4, 30, 20),
                Rect::new(-20, -10, 40, 30),
                Rect::new(30, 20, 100, 100),
                Rect::new(i32::MIN, i32::MIN, i32::MAX, i32::MAX),
                Rect::new(-1_000_000, -1_000_000, 2_000_000, 2_000_000),
                Rect::new(5, 5, 0, 10),
            ] {
                let mut f = TestFrame::new(format, 41, 31);
                let g = Graph::new(vals.clone(), 0.7, rect);
                draw_graph(&mut f.canvas(), &g, 2);
            }
        }
    }

    #[test]
    fn graph_draws_line_threshold_and_panel() {
        let mut f = TestFrame::filled(
            crate::bboxoverlay::draw::canvas::PixelFormat::Rgb,
            40,
            30,
            100,
        );
        let mut g = Graph::new(vec![0.0, 0.0], 0.5, Rect::new(5, 5, 20, 11));
        g.background = Rgba::rgb(0, 0, 255);
        draw_graph(&mut f.canvas(), &g, 1);
        assert_eq!(f.packed(4, 4), [100, 100, 100]);
        assert_eq!(f.packed(6, 6), [0, 0, 255]); // panel
        assert_eq!(f.packed(6, 15), [255, 255, 255]); // value 0 at bottom row
        assert_eq!(f.packed(6, 10), [255, 140, 0]); // threshold in the middle
    }
}
