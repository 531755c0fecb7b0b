// SPDX-License-Identifier: MPL-2.0

//! A frame's index burnt into its pixels as a binary code, so that the frames of a
//! recorded file are read back after encoding and decoding and matched with the frames
//! that were pushed. Bit b is the square [block*b, block*(b+1)) x [0, block), white for 1;
//! the row of squares below holds the inverted bits as a check.

use super::run_pipeline;
use gst::prelude::*;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Bits of the code: indices below 4096.
const BITS: usize = 12;

/// The code's square size in pixels; larger survives heavier compression and scaling.
#[derive(Debug, Clone, Copy)]
pub struct FrameIndex {
    pub block: usize,
}

impl FrameIndex {
    /// Writes `index` into an RGB frame whose rows are `stride` bytes apart.
    pub fn burn(self, data: &mut [u8], stride: usize, index: u64) {
        let block = self.block;
        for b in 0..BITS {
            let bit = (index >> b) & 1 == 1;
            for (row, value) in [(0, bit), (1, !bit)] {
                let v = if value { 255 } else { 0 };
                for y in row * block..(row + 1) * block {
                    data[y * stride + 3 * b * block..y * stride + 3 * (b + 1) * block].fill(v);
                }
            }
        }
    }

    /// The index burnt into an RGB frame; `None` where a bit and its check agree.
    pub fn read(self, data: &[u8], stride: usize) -> Option<u64> {
        let block = self.block;
        let mut index = 0;
        for b in 0..BITS {
            let at =
                |row: usize| data[(row * block + block / 2) * stride + 3 * (b * block + block / 2)];
            let (bit, check) = (at(0) > 128, at(1) > 128);
            if bit == check {
                return None;
            }
            if bit {
                index |= 1 << b;
            }
        }
        Some(index)
    }

    /// Decodes an H.264 file (any container) and reads every frame's index.
    pub fn decode(self, path: &Path) -> Decoded {
        let pipeline = gst::parse::launch(&format!(
            "filesrc location={} ! parsebin ! h264parse name=p ! avdec_h264 ! videoconvert \
             ! video/x-raw,format=RGB ! appsink name=s sync=false",
            path.display()
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let first_key = Arc::new(Mutex::new(None::<bool>));
        let fk = first_key.clone();
        pipeline
            .by_name("p")
            .unwrap()
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                    fk.lock()
                        .unwrap()
                        .get_or_insert(!b.flags().contains(gst::BufferFlags::DELTA_UNIT));
                }
                gst::PadProbeReturn::Ok
            });
        let sink = pipeline
            .by_name("s")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        let got = Arc::new(Mutex::new((Vec::new(), (0, 0))));
        let g = got.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
                    let map = sample.buffer().unwrap().map_readable().unwrap();
                    let i = self
                        .read(&map, info.stride()[0] as usize)
                        .expect("a readable frame index");
                    let mut g = g.lock().unwrap();
                    g.0.push(i);
                    g.1 = (info.width() as i32, info.height() as i32);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        let out = run_pipeline(&pipeline, || {});
        assert_eq!(out.error, None, "decoding {}", path.display());
        let (indices, size) = std::mem::take(&mut *got.lock().unwrap());
        let first_is_key = first_key.lock().unwrap().unwrap_or(false);
        Decoded {
            first_is_key,
            size,
            indices,
        }
    }
}

/// What a file holds.
#[derive(Debug)]
pub struct Decoded {
    /// Whether its first frame is a keyframe.
    pub first_is_key: bool,
    /// Frame width and height.
    pub size: (i32, i32),
    /// The index burnt into each frame, in order.
    pub indices: Vec<u64>,
}
