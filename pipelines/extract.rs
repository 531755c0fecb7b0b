//! Clip extraction with the plugin itself (shared by the `extract-clips` tool and the
//! training test): `uridecodebin ! videoconvert ! clipbuffer ! appsink` per manifest row,
//! writing the frames clipbuffer prepared and the windows it emitted. Format: see
//! pipelines/extract_clips.rs.

use crate::manifest::Row;
use gst::prelude::*;
use gstviolence::meta::{ClipInfo, ClipMeta};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// clipbuffer settings used for extraction.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub clip_length: u32,
    pub frame_step: u32,
    pub width: u32,
    pub height: u32,
    /// Input frames between window ends (the frame step: a window on every sample).
    pub stride: u32,
}

/// The distinct frames of one stream and the windows over them.
#[derive(Default)]
pub struct Collected {
    /// Kept alive until the stream ends, so that a buffer's address identifies it.
    pub buffers: Vec<gst::Buffer>,
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
        for frame in &clip.rgb.frames {
            let index = match self
                .buffers
                .iter()
                .rposition(|b| b.as_ptr() == frame.as_ptr())
            {
                Some(i) => i,
                None => {
                    self.buffers.push(frame.clone());
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
}

pub fn extract(uri: &str, p: &Params) -> Result<Collected, String> {
    let launch = format!(
        "uridecodebin uri=\"{uri}\" ! videoconvert ! clipbuffer clip-length={} frame-step={} \
         stride={stride} width={} height={} ! appsink name=sink sync=false drop=true max-buffers=1",
        p.clip_length,
        p.frame_step,
        p.width,
        p.height,
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
            "size": [p.width, p.height], "inputs": ["rgb"],
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
