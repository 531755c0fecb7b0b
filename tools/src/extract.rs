// SPDX-License-Identifier: MPL-2.0

//! Clip extraction with the plugin itself (shared by the `extract-clips` tool and the
//! training test): `uridecodebin ! videoconvert ! [opticalflow !] clipbuffer ! appsink` per
//! manifest row, writing the frames clipbuffer prepared (and, with flow, the flow clip it
//! built for each of them) and the windows it emitted. Format: see
//! examples/extract_clips.rs.

use super::manifest::Row;
use gst::prelude::*;
use gstviolence::meta::{ClipInfo, ClipMeta};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// clipbuffer settings used for extraction.
#[derive(Debug, Clone)]
pub struct Params {
    pub clip_length: u32,
    pub frame_step: u32,
    pub width: u32,
    pub height: u32,
    /// Input frames between window ends (the frame step: a window on every sample).
    pub stride: u32,
    /// `opticalflow preset=fast` before clipbuffer and `inputs=rgb+flow`: the flow of every
    /// sampled frame is written too.
    pub flow: bool,
    /// Elements before clipbuffer (and opticalflow), as `evaluate --front` puts them in the
    /// pipeline the model is served with: e.g. a crop around the people.
    pub front: Option<String>,
    /// clipbuffer people-crop=true: frames cut around the moving people (needs persondetect
    /// in `front`), as a model trained on such crops is served.
    pub people_crop: bool,
}

/// The distinct frames of one stream and the windows over them.
#[derive(Default)]
pub struct Collected {
    /// Kept alive until the stream ends, so that a buffer's address identifies it.
    pub buffers: Vec<gst::Buffer>,
    /// The flow clipbuffer attached to each of `buffers` (u then v plane, f32, model size),
    /// when the clips carry flow.
    pub flows: Vec<gst::Buffer>,
    pub windows: Vec<Vec<u32>>,
    width: u32,
    height: u32,
    stride: u32,
}

impl Collected {
    pub fn add(&mut self, clip: &ClipInfo) {
        self.width = clip.rgb.width;
        self.height = clip.rgb.height;
        self.stride = clip.rgb.stride;
        let mut window = Vec::with_capacity(clip.rgb.frames.len());
        let flows = clip
            .flow
            .as_ref()
            .filter(|f| f.frames.len() == clip.rgb.frames.len());
        for (k, frame) in clip.rgb.frames.iter().enumerate() {
            let index = match self
                .buffers
                .iter()
                .rposition(|b| b.as_ptr() == frame.as_ptr())
            {
                Some(i) => i,
                None => {
                    self.buffers.push(frame.clone());
                    if let Some(f) = flows {
                        self.flows.push(f.frames[k].clone());
                    }
                    self.buffers.len() - 1
                }
            };
            window.push(index as u32);
        }
        self.windows.push(window);
    }

    pub fn write(&self, frames_path: &Path, idx_path: &Path) -> Result<(), String> {
        let row = self.width as usize * 3;
        let mut data = Vec::with_capacity(self.buffers.len() * row * self.height as usize);
        for b in &self.buffers {
            let map = b.map_readable().map_err(|_| "cannot map a frame")?;
            for y in 0..self.height as usize {
                let start = y * self.stride as usize;
                data.extend_from_slice(&map[start..start + row]);
            }
        }
        std::fs::write(frames_path, &data).map_err(|e| e.to_string())?;
        let idx: Vec<u8> = self
            .windows
            .iter()
            .flatten()
            .flat_map(|i| i.to_le_bytes())
            .collect();
        std::fs::write(idx_path, idx).map_err(|e| e.to_string())
    }

    /// Writes the flow of every frame as `[F, 2, H, W]` little-endian float16 (u plane, then
    /// v plane, model pixels per frame).
    pub fn write_flow(&self, flow_path: &Path) -> Result<(), String> {
        if self.flows.len() != self.buffers.len() {
            return Err(format!(
                "{} flow frames for {} frames: is opticalflow before clipbuffer?",
                self.flows.len(),
                self.buffers.len()
            ));
        }
        let plane = self.width as usize * self.height as usize;
        let mut data = Vec::with_capacity(self.flows.len() * plane * 4);
        for b in &self.flows {
            let map = b.map_readable().map_err(|_| "cannot map a flow frame")?;
            if map.len() != plane * 8 {
                return Err(format!(
                    "flow frame of {} bytes, expected {}",
                    map.len(),
                    plane * 8
                ));
            }
            for s in map.chunks_exact(4) {
                let v = f32::from_ne_bytes([s[0], s[1], s[2], s[3]]);
                data.extend_from_slice(&f16_bits(v).to_le_bytes());
            }
        }
        std::fs::write(flow_path, &data).map_err(|e| e.to_string())
    }
}

/// IEEE half-precision bits of `v`, rounded to nearest (ties to even); overflow gives
/// infinity, NaN stays NaN, values below the subnormal range flush to zero.
pub fn f16_bits(v: f32) -> u16 {
    let x = v.to_bits();
    let sign = ((x >> 16) & 0x8000) as u16;
    let exp = ((x >> 23) & 0xff) as i32;
    let man = x & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        // Subnormal: the implicit one joins the mantissa, shifted right by 14 - e.
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rest = m & ((1u32 << shift) - 1);
        let mut out = m >> shift;
        if rest > half || (rest == half && out & 1 == 1) {
            out += 1;
        }
        return sign | out as u16;
    }
    let rest = man & 0x1fff;
    let mut out = ((e as u32) << 10) | (man >> 13);
    if rest > 0x1000 || (rest == 0x1000 && out & 1 == 1) {
        // A carry into the exponent is the correct rounding (up to infinity).
        out += 1;
    }
    sign | out as u16
}

pub fn extract(uri: &str, p: &Params) -> Result<Collected, String> {
    let (flow, inputs) = if p.flow {
        ("opticalflow preset=fast ! ", "rgb+flow")
    } else {
        ("", "rgb")
    };
    let front = p
        .front
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map_or(String::new(), |f| format!("{f} ! "));
    let launch = format!(
        "uridecodebin uri=\"{uri}\" ! videoconvert ! {front}{flow}clipbuffer inputs={inputs} \
         clip-length={} frame-step={} stride={stride} width={} height={} people-crop={} \
         ! appsink name=sink sync=false drop=true max-buffers=1",
        p.clip_length,
        p.frame_step,
        p.width,
        p.height,
        p.people_crop,
        stride = p.stride
    );
    let pipeline = gst::parse::launch(&launch)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let collected = Arc::new(Mutex::new(Collected::default()));
    let sink = pipeline
        .by_name("sink")
        .and_then(|s| s.downcast::<gst_app::AppSink>().ok())
        .ok_or("no appsink")?;
    // Drain the appsink (it holds EOS back until its queue is empty); the clips are read
    // in the pad probe below, in stream order with the EOS clip event.
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(|s| {
                let _ = s.pull_sample();
                Ok(gst::FlowSuccess::Ok)
            })
            .new_preroll(|s| {
                let _ = s.pull_preroll();
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let pad = sink.static_pad("sink").ok_or("no appsink pad")?;
    // Buffers and the serialized EOS clip event in stream order, on the streaming thread.
    let c = collected.clone();
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => {
                    if let Some(m) = b.meta::<ClipMeta>() {
                        c.lock().unwrap().add(m.payload());
                    }
                }
                Some(gst::PadProbeData::Event(e)) => {
                    if let Some(clip) = gstviolence::query::read_eos_clip_event(e) {
                        c.lock().unwrap().add(&clip);
                    }
                }
                _ => (),
            }
            gst::PadProbeReturn::Ok
        },
    );
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start: {e}"))?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let mut result = Ok(());
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                result = Err(format!("{}: {}", e.error(), e.debug().unwrap_or_default()));
                break;
            }
            _ => (),
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    drop(pad);
    let collected = std::mem::take(&mut *collected.lock().unwrap());
    Ok(collected)
}

/// Extracts every row into `out` (`index.tsv`, `config.json`, `frames/`). Returns the
/// number of rows that failed (listed in `index.tsv` with their error).
pub fn extract_all(
    data: &Path,
    rows: &[Row],
    out: &Path,
    p: &Params,
    verbose: bool,
) -> Result<usize, String> {
    let io = |e: std::io::Error| e.to_string();
    std::fs::create_dir_all(out.join("frames")).map_err(io)?;
    std::fs::write(
        out.join("config.json"),
        serde_json::json!({
            "clip_length": p.clip_length, "frame_step": p.frame_step, "stride": p.stride,
            "size": [p.width, p.height],
            "inputs": if p.flow { vec!["rgb", "flow"] } else { vec!["rgb"] },
            "front": p.front,
            "people_crop": p.people_crop,
            "flow_format": if p.flow { "frames/ID.flow: [F,2,H,W] float16 LE, model pixels per frame" } else { "-" },
            "source": std::fs::canonicalize(data).map_err(io)?,
        })
        .to_string(),
    )
    .map_err(io)?;
    let mut index = std::fs::File::create(out.join("index.tsv")).map_err(io)?;
    writeln!(
        index,
        "id\tpath\tlabel\tviolent\tdataset\tsplit\tframes\twindows\twidth\theight\terror"
    )
    .map_err(io)?;
    let started = std::time::Instant::now();
    let mut failed = 0;
    for (n, row) in rows.iter().enumerate() {
        let id = format!("{n:05}");
        let result = row.uri(data).and_then(|uri| extract(&uri, p));
        let (frames, windows, error) = match result {
            Ok(c) if !c.windows.is_empty() => {
                c.write(
                    &out.join(format!("frames/{id}.u8")),
                    &out.join(format!("frames/{id}.idx")),
                )?;
                if p.flow {
                    c.write_flow(&out.join(format!("frames/{id}.flow")))?;
                }
                (c.buffers.len(), c.windows.len(), "-".to_string())
            }
            Ok(_) => (0, 0, "no clip".to_string()),
            Err(e) => (0, 0, e.replace(['\t', '\n'], " ")),
        };
        if error != "-" {
            failed += 1;
            eprintln!("{}: {error}", row.path);
        }
        writeln!(
            index,
            "{id}\t{}\t{}\t{}\t{}\t{}\t{frames}\t{windows}\t{}\t{}\t{error}",
            row.path,
            row.label,
            u8::from(row.violent()),
            row.dataset,
            row.split,
            p.width,
            p.height
        )
        .map_err(io)?;
        if verbose && ((n + 1) % 50 == 0 || n + 1 == rows.len()) {
            let t = started.elapsed().as_secs_f64();
            eprintln!(
                "[{}/{}] {:.1} clips/s, {failed} failed",
                n + 1,
                rows.len(),
                (n + 1) as f64 / t
            );
        }
    }
    Ok(failed)
}
