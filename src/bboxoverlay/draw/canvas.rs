// SPDX-License-Identifier: MPL-2.0

//! A raw video frame to draw into: format, size, and borrowed planes with
//! strides (exactly what a mapped `gst_video::VideoFrame` provides).

use std::fmt;

use crate::bboxoverlay::draw::colour::{Rgba, YuvEncoding};

/// Supported raw video formats (GStreamer names in the docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// `RGBA`: bytes R, G, B, A.
    Rgba,
    /// `BGRA`: bytes B, G, R, A.
    Bgra,
    /// `RGBx`: bytes R, G, B, padding (left untouched).
    Rgbx,
    /// `BGRx`: bytes B, G, R, padding (left untouched).
    Bgrx,
    /// `RGB`: packed 3 bytes R, G, B.
    Rgb,
    /// `BGR`: packed 3 bytes B, G, R.
    Bgr,
    /// `I420`: planes Y, U (Cb), V (Cr); chroma 2x2 subsampled.
    I420,
    /// `NV12`: planes Y, interleaved UV; chroma 2x2 subsampled.
    Nv12,
}

pub const ALL_FORMATS: [PixelFormat; 8] = [
    PixelFormat::Rgba,
    PixelFormat::Bgra,
    PixelFormat::Rgbx,
    PixelFormat::Bgrx,
    PixelFormat::Rgb,
    PixelFormat::Bgr,
    PixelFormat::I420,
    PixelFormat::Nv12,
];

impl PixelFormat {
    pub fn n_planes(self) -> usize {
        match self {
            PixelFormat::I420 => 3,
            PixelFormat::Nv12 => 2,
            _ => 1,
        }
    }

    pub fn is_yuv(self) -> bool {
        matches!(self, PixelFormat::I420 | PixelFormat::Nv12)
    }

    /// Bytes per pixel (sample group) of `plane`.
    pub fn bytes_per_pixel(self, plane: usize) -> usize {
        match (self, plane) {
            (PixelFormat::Rgba | PixelFormat::Bgra | PixelFormat::Rgbx | PixelFormat::Bgrx, _) => 4,
            (PixelFormat::Rgb | PixelFormat::Bgr, _) => 3,
            (PixelFormat::Nv12, 1) => 2,
            _ => 1,
        }
    }

    /// Size in pixels of `plane` for a `width x height` frame.
    pub fn plane_size(self, plane: usize, width: usize, height: usize) -> (usize, usize) {
        if self.is_yuv() && plane > 0 {
            (width.div_ceil(2), height.div_ceil(2))
        } else {
            (width, height)
        }
    }

    /// Byte values of one pixel of a packed RGB format, in memory order.
    /// The 4th byte of formats with alpha is 255 so that blending it with the
    /// same arithmetic as the colour gives Porter-Duff "over" for alpha.
    pub(crate) fn packed_bytes(self, c: Rgba) -> [u8; 4] {
        match self {
            PixelFormat::Rgba | PixelFormat::Rgbx | PixelFormat::Rgb => [c.r, c.g, c.b, 255],
            PixelFormat::Bgra | PixelFormat::Bgrx | PixelFormat::Bgr => [c.b, c.g, c.r, 255],
            PixelFormat::I420 | PixelFormat::Nv12 => unreachable!("not a packed format"),
        }
    }

    /// How many leading bytes of a packed pixel are written (padding of
    /// RGBx/BGRx is left as it was).
    pub(crate) fn written_bytes(self) -> usize {
        match self {
            PixelFormat::Rgba | PixelFormat::Bgra => 4,
            _ => 3,
        }
    }
}

/// One plane: its bytes (starting at the first pixel) and row stride.
#[derive(Debug, Default)]
pub struct Plane<'a> {
    pub data: &'a mut [u8],
    pub stride: usize,
}

impl<'a> Plane<'a> {
    pub fn new(data: &'a mut [u8], stride: usize) -> Self {
        Plane { data, stride }
    }
}

/// Why a set of planes does not describe a valid frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CanvasError {
    PlaneCount {
        expected: usize,
        got: usize,
    },
    StrideTooSmall {
        plane: usize,
        stride: usize,
        min: usize,
    },
    PlaneTooSmall {
        plane: usize,
        len: usize,
        min: usize,
    },
}

impl fmt::Display for CanvasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CanvasError::PlaneCount { expected, got } => {
                write!(f, "expected {expected} planes, got {got}")
            }
            CanvasError::StrideTooSmall { plane, stride, min } => {
                write!(f, "plane {plane}: stride {stride} < row size {min}")
            }
            CanvasError::PlaneTooSmall { plane, len, min } => {
                write!(f, "plane {plane}: {len} bytes < required {min}")
            }
        }
    }
}

impl std::error::Error for CanvasError {}

/// A frame to draw into. Construction checks plane sizes once, so the
/// drawing code can slice rows without further checks per pixel.
#[derive(Debug)]
pub struct Canvas<'a> {
    format: PixelFormat,
    width: usize,
    height: usize,
    planes: [Plane<'a>; 3],
    yuv: YuvEncoding,
}

impl<'a> Canvas<'a> {
    /// `planes` in the format's plane order (Y, U, V for I420; Y, UV for
    /// NV12). Each plane needs at least `stride * (rows - 1) + row_bytes`
    /// bytes. The YUV encoding defaults to [`YuvEncoding::guess_for_size`].
    pub fn new(
        format: PixelFormat,
        width: u32,
        height: u32,
        planes: impl IntoIterator<Item = Plane<'a>>,
    ) -> Result<Self, CanvasError> {
        let (w, h) = (width as usize, height as usize);
        let mut slots: [Plane<'a>; 3] = Default::default();
        let mut got = 0;
        for plane in planes {
            if got < 3 {
                slots[got] = plane;
            }
            got += 1;
        }
        let expected = format.n_planes();
        if got != expected {
            return Err(CanvasError::PlaneCount { expected, got });
        }
        for (i, plane) in slots.iter().enumerate().take(expected) {
            let (pw, ph) = format.plane_size(i, w, h);
            let row_bytes = pw * format.bytes_per_pixel(i);
            if plane.stride < row_bytes {
                return Err(CanvasError::StrideTooSmall {
                    plane: i,
                    stride: plane.stride,
                    min: row_bytes,
                });
            }
            let min = if ph == 0 || row_bytes == 0 {
                0
            } else {
                plane.stride * (ph - 1) + row_bytes
            };
            if plane.data.len() < min {
                return Err(CanvasError::PlaneTooSmall {
                    plane: i,
                    len: plane.data.len(),
                    min,
                });
            }
        }
        Ok(Canvas {
            format,
            width: w,
            height: h,
            planes: slots,
            yuv: YuvEncoding::guess_for_size(width, height),
        })
    }

    /// Sets how colours are converted for YUV formats (from the caps'
    /// colorimetry).
    pub fn with_yuv_encoding(mut self, yuv: YuvEncoding) -> Self {
        self.yuv = yuv;
        self
    }

    pub fn format(&self) -> PixelFormat {
        self.format
    }

    pub fn width(&self) -> u32 {
        self.width as u32
    }

    pub fn height(&self) -> u32 {
        self.height as u32
    }

    pub fn yuv_encoding(&self) -> YuvEncoding {
        self.yuv
    }

    /// Read access to a plane's bytes (e.g. for tests).
    pub fn plane(&self, index: usize) -> &[u8] {
        self.planes[index].data
    }

    pub(crate) fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    pub(crate) fn plane_mut(&mut self, index: usize) -> &mut Plane<'a> {
        &mut self.planes[index]
    }

    /// The two chroma planes of I420 (U, V).
    pub(crate) fn uv_planes_mut(&mut self) -> (&mut Plane<'a>, &mut Plane<'a>) {
        let [_, u, v] = &mut self.planes;
        (u, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_planes() {
        let mut y = vec![0u8; 16 * 8];
        let mut u = vec![0u8; 8 * 4];
        let mut v = vec![0u8; 8 * 4 - 1];
        let err = Canvas::new(
            PixelFormat::I420,
            16,
            8,
            [
                Plane::new(&mut y, 16),
                Plane::new(&mut u, 8),
                Plane::new(&mut v, 8),
            ],
        )
        .unwrap_err();
        assert_eq!(
            err,
            CanvasError::PlaneTooSmall {
                plane: 2,
                len: 31,
                min: 32
            }
        );

        let mut rgb = vec![0u8; 100];
        let err = Canvas::new(PixelFormat::Rgba, 10, 2, [Plane::new(&mut rgb, 39)]).unwrap_err();
        assert!(matches!(err, CanvasError::StrideTooSmall { .. }));
        let err = Canvas::new(PixelFormat::Nv12, 10, 2, [Plane::new(&mut rgb, 40)]).unwrap_err();
        assert_eq!(
            err,
            CanvasError::PlaneCount {
                expected: 2,
                got: 1
            }
        );
        // Last row without padding is fine.
        assert!(Canvas::new(PixelFormat::Rgb, 10, 3, [Plane::new(&mut rgb, 35)]).is_ok());
    }
}
