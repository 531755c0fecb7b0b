// SPDX-License-Identifier: MPL-2.0

//! Anti-aliased text with `ab_glyph` and a per-size glyph cache.
//!
//! `ab_glyph` was chosen over `fontdue`: it is a small rasteriser-only crate
//! (no layout engine we would not use), actively maintained (the
//! `glyph_brush` author; used by `imageproc` and egui's `epaint`), parses
//! fonts with `ttf-parser`, and hands out exact per-pixel coverage, which we
//! cache as 8-bit bitmaps and which tests compare against directly.
//!
//! Text is rendered into a [`TextMask`] (the union of the cached glyph
//! bitmaps of one line) and then blended with [`crate::bboxoverlay::draw::primitives::draw_mask`],
//! so glyphs of one label never blend twice where they touch.

use std::collections::HashMap;

use ab_glyph::{point, Font, FontArc, GlyphId, PxScale, ScaleFont};

use crate::bboxoverlay::draw::canvas::Canvas;
use crate::bboxoverlay::draw::colour::Rgba;
use crate::bboxoverlay::draw::mask::Mask;
use crate::bboxoverlay::draw::primitives::draw_mask;

/// DejaVu Sans Bold (Bitstream Vera licence, see `fonts/LICENSE-DejaVu.txt`).
pub static DEJAVU_SANS_BOLD: &[u8] = include_bytes!("../../../fonts/DejaVuSans-Bold.ttf");

/// Sizes beyond this many are evicted together, bounding memory if the
/// caller keeps changing the font size.
const MAX_CACHED_SIZES: usize = 8;

/// One rasterised glyph: coverage bitmap plus placement relative to the
/// pen position on the baseline.
#[derive(Clone, Debug)]
pub struct GlyphBitmap {
    pub id: GlyphId,
    pub width: usize,
    pub height: usize,
    /// Offset of column 0 from the pen x.
    pub left: i32,
    /// Offset of row 0 from the baseline (negative = above).
    pub top: i32,
    /// Pen advance in pixels.
    pub advance: f32,
    /// Row-major coverage, 0..=255, `width * height` bytes.
    pub coverage: Vec<u8>,
}

/// Vertical metrics of a line in whole pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LineMetrics {
    /// Pixels above the baseline.
    pub ascent: i32,
    /// Pixels below the baseline (positive).
    pub descent: i32,
    /// `ascent + descent`: the height of the line box.
    pub height: i32,
}

/// A rendered line of text. Its line box has the origin `(x, y)` given
/// when drawing (top-left, baseline at `y + metrics.ascent`); the mask's
/// pixel (0, 0) sits at `(x + left, y + top)`.
#[derive(Clone, Debug, Default)]
pub struct TextMask {
    pub mask: Mask,
    pub left: i32,
    pub top: i32,
    /// Advance width of the line (what layout should reserve).
    pub advance: i32,
    pub metrics: LineMetrics,
}

impl TextMask {
    /// Coverage at line-box coordinates `(x, y)`, 0 outside the mask.
    pub fn coverage_at(&self, x: i32, y: i32) -> u8 {
        self.mask
            .get(x as i64 - self.left as i64, y as i64 - self.top as i64)
    }

    /// Blends the text with its line box's top-left at `(x, y)`.
    pub fn draw(&self, canvas: &mut Canvas, x: i32, y: i32, colour: Rgba) {
        let mx = (x as i64 + self.left as i64).clamp(i32::MIN as i64, i32::MAX as i64);
        let my = (y as i64 + self.top as i64).clamp(i32::MIN as i64, i32::MAX as i64);
        draw_mask(canvas, mx as i32, my as i32, &self.mask, colour);
    }
}

/// Glyphs of one font size.
struct SizeCache {
    scale: PxScale,
    metrics: LineMetrics,
    /// Direct lookup for ASCII, the common case for labels.
    ascii: Vec<Option<GlyphBitmap>>,
    other: HashMap<char, GlyphBitmap>,
    kerning: HashMap<(GlyphId, GlyphId), f32>,
}

impl SizeCache {
    fn new(font: &FontArc, size: f32) -> Self {
        let scale = PxScale::from(size);
        let scaled = font.as_scaled(scale);
        let ascent = scaled.ascent().ceil() as i32;
        let descent = (-scaled.descent()).ceil() as i32;
        SizeCache {
            scale,
            metrics: LineMetrics {
                ascent,
                descent,
                height: ascent + descent,
            },
            ascii: vec![None; 128],
            other: HashMap::new(),
            kerning: HashMap::new(),
        }
    }

    fn glyph(&mut self, font: &FontArc, ch: char) -> &GlyphBitmap {
        let scale = self.scale;
        let slot = match self.ascii.get_mut(ch as usize) {
            Some(slot) => slot,
            None => {
                return self
                    .other
                    .entry(ch)
                    .or_insert_with(|| rasterize(font, scale, ch));
            }
        };
        slot.get_or_insert_with(|| rasterize(font, scale, ch))
    }

    fn cached(&self, ch: char) -> Option<&GlyphBitmap> {
        match self.ascii.get(ch as usize) {
            Some(slot) => slot.as_ref(),
            None => self.other.get(&ch),
        }
    }

    fn kern(&mut self, font: &FontArc, a: GlyphId, b: GlyphId) -> f32 {
        let scale = self.scale;
        *self
            .kerning
            .entry((a, b))
            .or_insert_with(|| font.as_scaled(scale).kern(a, b))
    }

    fn len(&self) -> usize {
        self.ascii.iter().flatten().count() + self.other.len()
    }
}

/// Converts `ab_glyph`'s coverage (0.0..=1.0, may overshoot) to 8 bits.
pub fn coverage_to_u8(c: f32) -> u8 {
    (c.clamp(0.0, 1.0) * 255.0).round() as u8
}

fn rasterize(font: &FontArc, scale: PxScale, ch: char) -> GlyphBitmap {
    let id = font.glyph_id(ch);
    let advance = font.as_scaled(scale).h_advance(id);
    let mut g = GlyphBitmap {
        id,
        width: 0,
        height: 0,
        left: 0,
        top: 0,
        advance,
        coverage: Vec::new(),
    };
    // Pen at the origin: bounds are then relative to pen and baseline.
    let positioned = id.with_scale_and_position(scale, point(0.0, 0.0));
    if let Some(outline) = font.outline_glyph(positioned) {
        let b = outline.px_bounds();
        g.width = b.width() as usize;
        g.height = b.height() as usize;
        g.left = b.min.x as i32;
        g.top = b.min.y as i32;
        g.coverage = vec![0; g.width * g.height];
        let w = g.width;
        let cov = &mut g.coverage;
        outline.draw(|x, y, c| {
            if let Some(p) = cov.get_mut(y as usize * w + x as usize) {
                *p = coverage_to_u8(c);
            }
        });
    }
    g
}

/// Where one glyph of a line goes, relative to the line box.
#[derive(Clone, Copy)]
struct Placed {
    ch: char,
    x: i32,
    y: i32,
}

/// Renders single lines of text, caching rasterised glyphs per font size.
pub struct TextRenderer {
    font: FontArc,
    sizes: HashMap<u32, SizeCache>,
    placed: Vec<Placed>,
}

impl Default for TextRenderer {
    fn default() -> Self {
        Self::new()
    }
}

impl TextRenderer {
    /// Uses the embedded DejaVu Sans Bold.
    pub fn new() -> Self {
        let font = FontArc::try_from_slice(DEJAVU_SANS_BOLD).expect("embedded font parses");
        Self::with_font(font)
    }

    pub fn with_font(font: FontArc) -> Self {
        TextRenderer {
            font,
            sizes: HashMap::new(),
            placed: Vec::new(),
        }
    }

    pub fn font(&self) -> &FontArc {
        &self.font
    }

    /// Sizes are pixel line heights (ascent + descent), clamped to 1..=1000.
    fn size_cache(&mut self, size: f32) -> &mut SizeCache {
        let size = if size.is_finite() {
            size.clamp(1.0, 1000.0)
        } else {
            1.0
        };
        let key = size.to_bits();
        if !self.sizes.contains_key(&key) && self.sizes.len() >= MAX_CACHED_SIZES {
            self.sizes.clear();
        }
        let font = &self.font;
        self.sizes
            .entry(key)
            .or_insert_with(|| SizeCache::new(font, size))
    }

    pub fn line_metrics(&mut self, size: f32) -> LineMetrics {
        self.size_cache(size).metrics
    }

    /// The cached bitmap of `ch` at `size`, rasterising it on first use.
    pub fn glyph(&mut self, ch: char, size: f32) -> &GlyphBitmap {
        let font = self.font.clone();
        self.size_cache(size).glyph(&font, ch)
    }

    /// Number of cached glyphs over all sizes.
    pub fn cached_glyphs(&self) -> usize {
        self.sizes.values().map(SizeCache::len).sum()
    }

    /// Renders `text` as one line into `out` (reusing its allocation).
    pub fn render(&mut self, text: &str, size: f32, out: &mut TextMask) {
        let font = self.font.clone();
        let mut placed = std::mem::take(&mut self.placed);
        placed.clear();
        let cache = self.size_cache(size);
        let metrics = cache.metrics;

        // Layout: whole-pixel glyph positions from a fractional pen.
        let mut pen = 0.0f32;
        let mut prev: Option<GlyphId> = None;
        let (mut x0, mut y0, mut x1, mut y1) = (0i32, 0i32, 0i32, metrics.height);
        for ch in text.chars() {
            let g = cache.glyph(&font, ch);
            let (id, left, top, w, h, adv) = (
                g.id,
                g.left,
                g.top,
                g.width as i32,
                g.height as i32,
                g.advance,
            );
            if let Some(p) = prev {
                pen += cache.kern(&font, p, id);
            }
            let x = pen.round() as i32 + left;
            let y = metrics.ascent + top;
            if w > 0 && h > 0 {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + w);
                y1 = y1.max(y + h);
                placed.push(Placed { ch, x, y });
            }
            pen += adv;
            prev = Some(id);
        }
        let advance = pen.round() as i32;
        x1 = x1.max(advance);

        out.left = x0;
        out.top = y0;
        out.advance = advance;
        out.metrics = metrics;
        let mw = (x1 - x0) as usize;
        out.mask.reset(mw, (y1 - y0) as usize);
        let data = out.mask.data_mut();
        for p in &placed {
            let g = cache.cached(p.ch).expect("glyph cached during layout");
            let (ox, oy) = ((p.x - x0) as usize, (p.y - y0) as usize);
            for (r, src) in g.coverage.chunks_exact(g.width).enumerate() {
                let dst = &mut data[(oy + r) * mw + ox..][..g.width];
                // Touching glyph edges add up, like the union of two shapes.
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = d.saturating_add(s);
                }
            }
        }
        self.placed = placed;
    }

    /// Renders and draws `text` with its line box's top-left at `(x, y)`;
    /// returns the rendered mask (its `advance`/`metrics` give the size).
    pub fn draw_text(
        &mut self,
        canvas: &mut Canvas,
        x: i32,
        y: i32,
        text: &str,
        size: f32,
        colour: Rgba,
    ) -> TextMask {
        let mut out = TextMask::default();
        self.render(text, size, &mut out);
        out.draw(canvas, x, y, colour);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bboxoverlay::draw::canvas::{PixelFormat, ALL_FORMATS};
    use crate::bboxoverlay::draw::colour::blend;
    use crate::bboxoverlay::draw::test_frame::TestFrame;

    #[test]
    fn cache_matches_ab_glyph_coverage() {
        let mut tr = TextRenderer::new();
        let font = tr.font().clone();
        for ch in ['A', 'g', '9', '.', 'é', 'W'] {
            let g = tr.glyph(ch, 24.0).clone();
            let scale = PxScale::from(24.0);
            let og = font
                .outline_glyph(
                    font.glyph_id(ch)
                        .with_scale_and_position(scale, point(0.0, 0.0)),
                )
                .unwrap();
            let b = og.px_bounds();
            assert_eq!(
                (g.width, g.height),
                (b.width() as usize, b.height() as usize)
            );
            let mut n = 0;
            og.draw(|x, y, c| {
                assert_eq!(
                    g.coverage[y as usize * g.width + x as usize],
                    coverage_to_u8(c)
                );
                n += 1;
            });
            assert_eq!(n, g.width * g.height);
            assert!(g.coverage.contains(&255), "{ch} has solid pixels");
        }
    }

    #[test]
    fn glyphs_are_cached_per_size() {
        let mut tr = TextRenderer::new();
        let mut m = TextMask::default();
        tr.render("violence 0.93", 18.0, &mut m);
        let n = tr.cached_glyphs();
        assert_eq!(n, 12); // distinct chars incl. space
        tr.render("violence 0.39", 18.0, &mut m);
        assert_eq!(tr.cached_glyphs(), n);
        tr.render("violence", 30.0, &mut m);
        assert_eq!(tr.cached_glyphs(), n + 7);
        for s in 0..20 {
            tr.render("a", 10.0 + s as f32, &mut m);
        }
        assert!(tr.sizes.len() <= MAX_CACHED_SIZES);
    }

    #[test]
    fn text_mask_is_the_union_of_glyph_coverages() {
        let mut tr = TextRenderer::new();
        let mut m = TextMask::default();
        tr.render("Hi", 20.0, &mut m);
        let h = tr.glyph('H', 20.0).clone();
        let i = tr.glyph('i', 20.0).clone();
        let asc = m.metrics.ascent;
        assert!(m.metrics.height >= 18 && m.metrics.height <= 22);
        let kern = tr.font().as_scaled(PxScale::from(20.0)).kern(h.id, i.id);
        let ix = (h.advance + kern).round() as i32 + i.left;
        for y in -5..30 {
            for x in -5..40 {
                let ch = |g: &GlyphBitmap, gx: i32| {
                    let (cx, cy) = (x - gx, y - asc - g.top);
                    if cx >= 0 && cy >= 0 && (cx as usize) < g.width && (cy as usize) < g.height {
                        g.coverage[cy as usize * g.width + cx as usize]
                    } else {
                        0
                    }
                };
                let want = ch(&h, h.left).saturating_add(ch(&i, ix));
                assert_eq!(m.coverage_at(x, y), want, "({x},{y})");
            }
        }
    }

    #[test]
    fn drawn_text_follows_glyph_coverage() {
        let mut tr = TextRenderer::new();
        let colour = Rgba::rgb(255, 255, 0);
        for format in [PixelFormat::Rgba, PixelFormat::Bgrx, PixelFormat::Rgb] {
            let mut f = TestFrame::filled(format, 120, 40, 30);
            let bg = f.clone();
            let (ox, oy) = (7, 5);
            let m = tr.draw_text(&mut f.canvas(), ox, oy, "violence 0.93", 18.0, colour);
            let want = format.packed_bytes(colour);
            let (mut full, mut partial) = (0, 0);
            for y in 0..f.height {
                for x in 0..f.width {
                    let cov = m.coverage_at(x as i32 - ox, y as i32 - oy);
                    let got = f.packed(x, y);
                    match cov {
                        0 => assert_eq!(got, bg.packed(x, y), "({x},{y}) untouched"),
                        255 => {
                            full += 1;
                            assert_eq!(got[..3], want[..3], "({x},{y}) solid");
                        }
                        c => {
                            partial += 1;
                            for b in 0..3 {
                                assert_eq!(got[b], blend(want[b], 30, c));
                            }
                        }
                    }
                }
            }
            assert!(
                full > 100 && partial > 50,
                "{full} solid, {partial} edge pixels"
            );
        }
    }

    #[test]
    fn text_is_clipped_in_every_format() {
        let mut tr = TextRenderer::new();
        for format in ALL_FORMATS {
            for (x, y) in [
                (-30, -8),
                (100, 30),
                (i32::MAX, 0),
                (i32::MIN, i32::MIN),
                (0, i32::MAX),
            ] {
                let mut f = TestFrame::new(format, 111, 37);
                tr.draw_text(&mut f.canvas(), x, y, "VIOLENCE 00:12.3", 24.0, Rgba::RED);
            }
        }
    }

    #[test]
    fn empty_and_odd_text() {
        let mut tr = TextRenderer::new();
        let mut m = TextMask::default();
        tr.render("", 18.0, &mut m);
        assert_eq!(m.advance, 0);
        assert!(m.mask.is_empty());
        tr.render("   ", 18.0, &mut m);
        assert!(m.advance > 0);
        assert!(m.mask.data().iter().all(|&c| c == 0));
        tr.render("\u{1F600}\n\t", f32::NAN, &mut m);
        tr.render("x", -5.0, &mut m);
        tr.render("x", 1e9, &mut m);
    }
}
