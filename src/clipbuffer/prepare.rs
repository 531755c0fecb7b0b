// SPDX-License-Identifier: MPL-2.0

//! What a sampled frame becomes: packed RGB at the model size (and at the attention size)
//! in clipbuffer's own pool, and the frame's flow at the model size.

use super::area::{yuv420_to_rgb_area, Chroma, YuvToRgb};
use crate::meta::{FlowMeta, FramePlanes, Region};
use crate::opticalflow::motion::resample_flow;
use gst_video::prelude::*;

/// Conversion of source frames into packed RGB at a given size, into our own pool.
pub(super) struct Scaler {
    converter: gst_video::VideoConverter,
    /// Set for 4:2:0 input reduced at least 2x: the area average replaces the converter.
    area: Option<YuvToRgb>,
    out_info: gst_video::VideoInfo,
    pool: gst::BufferPool,
}

impl Scaler {
    /// Converts whole frames, or only `crop` (source pixels) of them.
    pub(super) fn new(
        in_info: &gst_video::VideoInfo,
        width: u32,
        height: u32,
        crop: Option<Region>,
    ) -> Result<Self, String> {
        let out_info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, width, height)
            .fps(in_info.fps())
            .interlace_mode(in_info.interlace_mode())
            .build()
            .map_err(|e| format!("cannot describe {width}x{height} RGB: {e}"))?;
        let mut config = gst_video::VideoConverterConfig::new();
        // Bilinear with its kernel widened on downscale (the resampler does this) is a
        // proper anti-aliased filter at a fraction of cubic's cost for big reductions.
        config.set_resampler_method(gst_video::VideoResamplerMethod::Linear);
        config.set_chroma_resampler_method(gst_video::VideoResamplerMethod::Linear);
        config.set_dither_method(gst_video::VideoDitherMethod::None);
        if let Some(c) = crop {
            config.set_src_x(c.x as i32);
            config.set_src_y(c.y as i32);
            config.set_src_width(Some(c.width as i32));
            config.set_src_height(Some(c.height as i32));
        }
        let converter = gst_video::VideoConverter::new(in_info, &out_info, Some(config))
            .map_err(|e| format!("cannot convert {:?} to RGB: {e}", in_info.format()))?;
        let pool = gst::BufferPool::new();
        let mut pool_config = pool.config();
        pool_config.set_params(None, out_info.size() as u32, 0, 0);
        pool.set_config(pool_config)
            .map_err(|e| format!("cannot configure the frame pool: {e}"))?;
        pool.set_active(true)
            .map_err(|e| format!("cannot activate the frame pool: {e}"))?;
        let yuv420 = matches!(
            in_info.format(),
            gst_video::VideoFormat::I420
                | gst_video::VideoFormat::Yv12
                | gst_video::VideoFormat::Nv12
                | gst_video::VideoFormat::Nv21
        );
        let reduced = in_info.width() >= 2 * width && in_info.height() >= 2 * height;
        // The area average reads whole frames only.
        let area = (yuv420 && reduced && crop.is_none() && !in_info.is_interlaced()).then(|| {
            let c = in_info.colorimetry();
            let bt601 = matches!(
                c.matrix(),
                gst_video::VideoColorMatrix::Bt601
                    | gst_video::VideoColorMatrix::Fcc
                    | gst_video::VideoColorMatrix::Smpte240m
            );
            YuvToRgb::new(!bt601, c.range() == gst_video::VideoColorRange::Range0_255)
        });
        Ok(Scaler {
            converter,
            area,
            out_info,
            pool,
        })
    }

    pub(super) fn convert(
        &self,
        input: &gst_video::VideoFrameRef<&gst::BufferRef>,
    ) -> Result<gst::Buffer, String> {
        let buffer = self
            .pool
            .acquire_buffer(None)
            .map_err(|e| format!("frame pool: {e:?}"))?;
        let mut out = gst_video::VideoFrame::from_buffer_writable(buffer, &self.out_info)
            .map_err(|_| "cannot map a pool buffer".to_string())?;
        match &self.area {
            Some(coefficients) => {
                let (w, h) = (input.width() as usize, input.height() as usize);
                let strides = input.plane_stride();
                let plane = |p: u32| {
                    input
                        .plane_data(p)
                        .map_err(|_| "cannot read a plane".to_string())
                };
                let chroma = match input.format() {
                    gst_video::VideoFormat::I420 => Chroma {
                        u: plane(1)?,
                        u_stride: strides[1] as usize,
                        v: plane(2)?,
                        v_stride: strides[2] as usize,
                        step: 1,
                    },
                    gst_video::VideoFormat::Yv12 => Chroma {
                        u: plane(2)?,
                        u_stride: strides[2] as usize,
                        v: plane(1)?,
                        v_stride: strides[1] as usize,
                        step: 1,
                    },
                    gst_video::VideoFormat::Nv12 => Chroma {
                        u: plane(1)?,
                        u_stride: strides[1] as usize,
                        v: &plane(1)?[1..],
                        v_stride: strides[1] as usize,
                        step: 2,
                    },
                    _ => Chroma {
                        u: &plane(1)?[1..],
                        u_stride: strides[1] as usize,
                        v: plane(1)?,
                        v_stride: strides[1] as usize,
                        step: 2,
                    },
                };
                let (ow, oh) = (
                    self.out_info.width() as usize,
                    self.out_info.height() as usize,
                );
                let out_stride = self.out_info.stride()[0] as usize;
                let dst = out
                    .plane_data_mut(0)
                    .map_err(|_| "cannot write a pool buffer".to_string())?;
                yuv420_to_rgb_area(
                    plane(0)?,
                    strides[0] as usize,
                    chroma,
                    w,
                    h,
                    coefficients,
                    dst,
                    ow,
                    oh,
                    out_stride,
                );
            }
            None => {
                let mut out_ref = out.as_mut_video_frame_ref();
                self.converter.frame_ref(input, &mut out_ref);
            }
        }
        Ok(out.into_buffer())
    }

    pub(super) fn planes(&self, frames: Vec<gst::Buffer>) -> FramePlanes {
        FramePlanes {
            frames,
            width: self.out_info.width(),
            height: self.out_info.height(),
            stride: self.out_info.stride()[0] as u32,
        }
    }
}

impl Drop for Scaler {
    fn drop(&mut self) {
        let _ = self.pool.set_active(false);
    }
}

/// The frame's flow resampled to the model size and expressed in model pixels per frame,
/// as one buffer holding the u plane then the v plane (f32). No flow yet: zeros.
pub(super) fn model_size_flow(
    buf: &gst::BufferRef,
    width: usize,
    height: usize,
) -> Result<gst::Buffer, String> {
    let meta = buf.meta::<FlowMeta>().ok_or(
        "inputs include flow but the frame has no FlowMeta: put opticalflow before clipbuffer",
    )?;
    let info = meta.payload();
    let mut values = vec![0f32; 2 * width * height];
    if info.valid {
        resample_flow(
            info.u(),
            info.v(),
            info.width as usize,
            info.height as usize,
            width,
            height,
            &mut values,
        );
    }
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
    Ok(gst::Buffer::from_mut_slice(bytes))
}

/// Size with the longer side at most `cap`, aspect kept, even dimensions.
pub(super) fn capped_size(width: u32, height: u32, cap: u32) -> (u32, u32) {
    let long = width.max(height).max(1);
    if long <= cap {
        return (width, height);
    }
    let scale = |v: u32| (((v as u64 * cap as u64) / long as u64) as u32 & !1).max(2);
    (scale(width), scale(height))
}

#[cfg(test)]
mod tests {
    #[test]
    fn capped_size_keeps_aspect() {
        assert_eq!(super::capped_size(3840, 2160, 640), (640, 360));
        assert_eq!(super::capped_size(320, 240, 640), (320, 240));
        assert_eq!(super::capped_size(1080, 1920, 640), (360, 640));
    }
}
