// SPDX-License-Identifier: MPL-2.0

//! Test helper: an owned frame with padded strides and a noisy background,
//! so misplaced writes (including into padding) are caught.

use crate::bboxoverlay::draw::canvas::{Canvas, PixelFormat, Plane};
use crate::bboxoverlay::draw::colour::YuvEncoding;

#[derive(Clone, Debug)]
pub struct TestFrame {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: Vec<Vec<u8>>,
    pub strides: Vec<usize>,
    pub yuv: YuvEncoding,
}

impl TestFrame {
    pub fn new(format: PixelFormat, width: usize, height: usize) -> Self {
        let mut seed = 0x9e37_79b9u32 ^ (width * 31 + height) as u32;
        let mut noise = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 24) as u8
        };
        let mut planes = Vec::new();
        let mut strides = Vec::new();
        for p in 0..format.n_planes() {
            let (pw, ph) = format.plane_size(p, width, height);
            let stride = pw * format.bytes_per_pixel(p) + 3;
            planes.push((0..stride * ph).map(|_| noise()).collect());
            strides.push(stride);
        }
        TestFrame {
            format,
            width,
            height,
            planes,
            strides,
            yuv: YuvEncoding::default(),
        }
    }

    /// Same frame, every plane filled with one byte value.
    pub fn filled(format: PixelFormat, width: usize, height: usize, value: u8) -> Self {
        let mut f = TestFrame::new(format, width, height);
        for p in &mut f.planes {
            p.fill(value);
        }
        f
    }

    pub fn canvas(&mut self) -> Canvas<'_> {
        let planes = self
            .planes
            .iter_mut()
            .zip(&self.strides)
            .map(|(d, &s)| Plane::new(d, s));
        Canvas::new(self.format, self.width as u32, self.height as u32, planes)
            .unwrap()
            .with_yuv_encoding(self.yuv)
    }

    pub fn luma(&self, x: usize, y: usize) -> u8 {
        self.planes[0][y * self.strides[0] + x]
    }

    pub fn chroma(&self, cx: usize, cy: usize) -> (u8, u8) {
        match self.format {
            PixelFormat::I420 => (
                self.planes[1][cy * self.strides[1] + cx],
                self.planes[2][cy * self.strides[2] + cx],
            ),
            PixelFormat::Nv12 => {
                let i = cy * self.strides[1] + 2 * cx;
                (self.planes[1][i], self.planes[1][i + 1])
            }
            _ => panic!("not YUV"),
        }
    }

    pub fn packed(&self, x: usize, y: usize) -> &[u8] {
        let bpp = self.format.bytes_per_pixel(0);
        let i = y * self.strides[0] + x * bpp;
        &self.planes[0][i..i + bpp]
    }

    /// Bytes past the end of each row.
    pub fn padding_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (p, data) in self.planes.iter().enumerate() {
            let (pw, _) = self.format.plane_size(p, self.width, self.height);
            let row = pw * self.format.bytes_per_pixel(p);
            for r in data.chunks(self.strides[p]) {
                out.extend_from_slice(&r[row..]);
            }
        }
        out
    }
}
