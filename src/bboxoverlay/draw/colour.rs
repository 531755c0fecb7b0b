// SPDX-License-Identifier: MPL-2.0

//! Colours: 8-bit RGBA, conversion to Y'CbCr, and the alpha-blend arithmetic
//! shared by every drawing primitive.

/// An sRGB-encoded (gamma, full range 0..=255) colour with straight alpha.
/// `a = 255` is opaque, `a = 0` draws nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rgba {
    pub r: u8,
    pub g: u8,
    pub b: u8,
    pub a: u8,
}

impl Rgba {
    pub const BLACK: Rgba = Rgba::rgb(0, 0, 0);
    pub const WHITE: Rgba = Rgba::rgb(255, 255, 255);
    pub const RED: Rgba = Rgba::rgb(255, 0, 0);
    pub const GREEN: Rgba = Rgba::rgb(0, 255, 0);
    pub const BLUE: Rgba = Rgba::rgb(0, 0, 255);
    pub const YELLOW: Rgba = Rgba::rgb(255, 255, 0);
    pub const ORANGE: Rgba = Rgba::rgb(255, 140, 0);
    pub const TRANSPARENT: Rgba = Rgba::new(0, 0, 0, 0);

    pub const fn new(r: u8, g: u8, b: u8, a: u8) -> Self {
        Rgba { r, g, b, a }
    }

    /// Opaque colour.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Rgba { r, g, b, a: 255 }
    }

    pub const fn with_alpha(self, a: u8) -> Self {
        Rgba { a, ..self }
    }

    /// Relative luma (BT.709 weights on the gamma-encoded values, 0..=1);
    /// only used to pick black or white text for contrast.
    pub fn luma(self) -> f32 {
        (0.2126 * self.r as f32 + 0.7152 * self.g as f32 + 0.0722 * self.b as f32) / 255.0
    }

    /// Black or white, whichever reads better on top of `self`.
    pub fn contrasting_text(self) -> Rgba {
        if self.luma() > 0.55 {
            Rgba::BLACK
        } else {
            Rgba::WHITE
        }
    }

    /// Converts R'G'B' to Y'CbCr with the given matrix and range, rounding to
    /// nearest. Alpha is ignored (the caller blends with it separately;
    /// blending in Y'CbCr equals blending in R'G'B' because the conversion is
    /// affine).
    pub fn to_yuv(self, matrix: Matrix, range: Range) -> Yuv {
        let (kr, kb) = matrix.kr_kb();
        let kg = 1.0 - kr - kb;
        let (r, g, b) = (
            self.r as f64 / 255.0,
            self.g as f64 / 255.0,
            self.b as f64 / 255.0,
        );
        let y = kr * r + kg * g + kb * b; // 0..=1
        let pb = (b - y) / (2.0 * (1.0 - kb)); // -0.5..=0.5
        let pr = (r - y) / (2.0 * (1.0 - kr)); // -0.5..=0.5
        let (y_off, y_scale, c_scale) = match range {
            Range::Limited => (16.0, 219.0, 224.0),
            Range::Full => (0.0, 255.0, 255.0),
        };
        let q = |v: f64| v.round().clamp(0.0, 255.0) as u8;
        Yuv {
            y: q(y_off + y_scale * y),
            u: q(128.0 + c_scale * pb),
            v: q(128.0 + c_scale * pr),
        }
    }
}

/// Y'CbCr matrix coefficients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Matrix {
    /// ITU-R BT.601 (SD): Kr = 0.299, Kb = 0.114.
    Bt601,
    /// ITU-R BT.709 (HD): Kr = 0.2126, Kb = 0.0722.
    #[default]
    Bt709,
}

impl Matrix {
    fn kr_kb(self) -> (f64, f64) {
        match self {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
        }
    }
}

/// Quantisation range of Y'CbCr samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Range {
    /// "TV"/studio range: Y 16..=235, Cb/Cr 16..=240.
    #[default]
    Limited,
    /// "PC"/JPEG range: Y 0..=255, Cb/Cr 0..=255 centred on 128.
    Full,
}

/// How a YUV frame encodes colour; ignored for RGB formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct YuvEncoding {
    pub matrix: Matrix,
    pub range: Range,
}

impl YuvEncoding {
    pub const fn new(matrix: Matrix, range: Range) -> Self {
        YuvEncoding { matrix, range }
    }

    /// The usual guess when the caps do not say: BT.601 for SD sizes,
    /// BT.709 above, limited range (what GStreamer assumes too).
    pub fn guess_for_size(width: u32, height: u32) -> Self {
        let matrix = if width <= 1024 && height <= 576 {
            Matrix::Bt601
        } else {
            Matrix::Bt709
        };
        YuvEncoding::new(matrix, Range::Limited)
    }
}

/// One Y'CbCr sample triple (Cb is `u`, Cr is `v`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Yuv {
    pub y: u8,
    pub u: u8,
    pub v: u8,
}

/// `round(x / 255)` for `x <= 255 * 255`, exact, in u16 so loops vectorise.
#[inline(always)]
pub(crate) fn div255(x: u16) -> u16 {
    let t = x + 128;
    (t + (t >> 8)) >> 8
}

/// `round((src * a + dst * (255 - a)) / 255)`: exact for `a = 0` (dst) and
/// `a = 255` (src).
#[inline(always)]
pub fn blend(src: u8, dst: u8, a: u8) -> u8 {
    let a = a as u16;
    div255(src as u16 * a + dst as u16 * (255 - a)) as u8
}

/// Scales a coverage value by a colour alpha.
#[inline(always)]
pub(crate) fn mul_alpha(coverage: u8, alpha: u8) -> u8 {
    div255(coverage as u16 * alpha as u16) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yuv(c: Rgba, m: Matrix, r: Range) -> (u8, u8, u8) {
        let v = c.to_yuv(m, r);
        (v.y, v.u, v.v)
    }

    #[test]
    fn bt601_limited_reference_values() {
        let (m, r) = (Matrix::Bt601, Range::Limited);
        assert_eq!(yuv(Rgba::RED, m, r), (81, 90, 240));
        assert_eq!(yuv(Rgba::GREEN, m, r), (145, 54, 34));
        assert_eq!(yuv(Rgba::BLUE, m, r), (41, 240, 110));
        assert_eq!(yuv(Rgba::WHITE, m, r), (235, 128, 128));
        assert_eq!(yuv(Rgba::BLACK, m, r), (16, 128, 128));
        assert_eq!(yuv(Rgba::YELLOW, m, r), (210, 16, 146));
    }

    #[test]
    fn bt709_limited_reference_values() {
        let (m, r) = (Matrix::Bt709, Range::Limited);
        assert_eq!(yuv(Rgba::RED, m, r), (63, 102, 240));
        assert_eq!(yuv(Rgba::GREEN, m, r), (173, 42, 26));
        assert_eq!(yuv(Rgba::BLUE, m, r), (32, 240, 118));
        assert_eq!(yuv(Rgba::WHITE, m, r), (235, 128, 128));
        assert_eq!(yuv(Rgba::BLACK, m, r), (16, 128, 128));
    }

    #[test]
    fn full_range_reference_values() {
        // JPEG/JFIF (BT.601 full range).
        assert_eq!(yuv(Rgba::RED, Matrix::Bt601, Range::Full), (76, 85, 255));
        assert_eq!(
            yuv(Rgba::WHITE, Matrix::Bt601, Range::Full),
            (255, 128, 128)
        );
        assert_eq!(yuv(Rgba::BLACK, Matrix::Bt709, Range::Full), (0, 128, 128));
        assert_eq!(yuv(Rgba::RED, Matrix::Bt709, Range::Full), (54, 99, 255));
    }

    #[test]
    fn blend_is_exact_at_the_ends_and_rounds() {
        for s in 0..=255u8 {
            for d in [0u8, 1, 77, 128, 254, 255] {
                assert_eq!(blend(s, d, 255), s);
                assert_eq!(blend(s, d, 0), d);
                for a in [1u8, 64, 128, 200] {
                    let exact = (s as f64 * a as f64 + d as f64 * (255.0 - a as f64)) / 255.0;
                    assert!((blend(s, d, a) as f64 - exact).abs() <= 0.5 + 1e-9);
                }
            }
        }
    }
}
