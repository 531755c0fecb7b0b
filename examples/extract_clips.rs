// SPDX-License-Identifier: MPL-2.0

//! Training clips made by the plugin itself, so that training sees exactly the
//! preprocessing of inference: for every clip of a `MANIFEST.tsv` it runs
//!   uridecodebin ! videoconvert ! clipbuffer ! appsink
//! (with `--flow`: `... ! videoconvert ! opticalflow preset=fast ! clipbuffer inputs=rgb+flow
//! ! appsink`, the pipeline a two-stream model is served with) and writes the sampled frames
//! clipbuffer prepared (RGB at the model's size) with the windows it emitted, including the
//! EOS clip of the partial-window policy.
//!
//! Usage: extract-clips DATA_DIR OUT_DIR [--split all|train|val] [--clip-length 16]
//!        [--frame-step 2] [--size 64 | --width W --height H] [--stride N] [--every N]
//!        [--flow] [--front ELEMENTS] [--people-crop]
//!
//! `--front` puts elements before clipbuffer, as `evaluate --front` does, and
//! `--people-crop` sets clipbuffer people-crop=true: with `--front "persondetect
//! model-location=models/people.pt" --people-crop` the training clips are cut around the
//! moving people exactly as the stream serves a model trained on them.
//!
//! Output (read by models/train.py):
//! - `OUT/index.tsv`: one row per manifest row: `id path label violent dataset split frames
//!   windows width height error` (`error` is `-` when the clip was extracted);
//! - `OUT/frames/ID.u8`: the distinct sampled frames in stream order, `[F, H, W, 3]` u8 RGB;
//! - `OUT/frames/ID.idx`: the windows clipbuffer emitted, `[W, T]` little-endian u32 indices
//!   into the frames (a padded EOS clip repeats its last index);
//! - `OUT/frames/ID.flow` (with `--flow`): the flow clipbuffer built for each of those
//!   frames (from the previous input frame, resampled to the model size, in model pixels per
//!   frame; zeros on a stream's first frame), `[F, 2, H, W]` little-endian float16, u plane
//!   then v plane;
//! - `OUT/config.json`: clip length, frame step, stride, size and inputs used.
//!
//! The default stride is the frame step (a window ends on every sampled frame), so every
//! window inference can see is in the file; training picks windows from the frames.

use gstviolence_tools::{extract, manifest};
use std::path::Path;

struct Args {
    data: String,
    out: String,
    split: String,
    clip_length: u32,
    frame_step: u32,
    width: u32,
    height: u32,
    stride: Option<u32>,
    every: usize,
    flow: bool,
    front: Option<String>,
    people_crop: bool,
}

fn parse_args() -> Result<Args, String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let mut a = Args {
        data: String::new(),
        out: String::new(),
        split: "all".into(),
        clip_length: 16,
        frame_step: 2,
        width: 64,
        height: 64,
        stride: None,
        every: 1,
        flow: false,
        front: None,
        people_crop: false,
    };
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        if arg == "--flow" {
            a.flow = true;
        } else if arg == "--people-crop" {
            a.people_crop = true;
        } else if let Some(name) = arg.strip_prefix("--") {
            let value = it.next().ok_or(format!("--{name} needs a value"))?;
            let num = || {
                value
                    .parse::<u32>()
                    .map_err(|_| format!("--{name}: not a number: {value}"))
            };
            match name {
                "split" => a.split = value.clone(),
                "clip-length" => a.clip_length = num()?,
                "frame-step" => a.frame_step = num()?,
                "size" => (a.width, a.height) = (num()?, num()?),
                "width" => a.width = num()?,
                "height" => a.height = num()?,
                "stride" => a.stride = Some(num()?),
                "every" => a.every = num()?.max(1) as usize,
                "front" => a.front = Some(value.clone()),
                _ => return Err(format!("unknown option --{name}")),
            }
        } else {
            positional.push(arg);
        }
    }
    if positional.len() != 2 {
        return Err(
            "usage: extract-clips DATA_DIR OUT_DIR [--split all|train|val] [--clip-length 16] \
                    [--frame-step 2] [--size 64 | --width W --height H] [--stride N] [--every N] [--flow] [--front ELEMENTS] [--people-crop]"
                .into(),
        );
    }
    a.out = positional.pop().unwrap();
    a.data = positional.pop().unwrap();
    Ok(a)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = parse_args()?;
    gst::init()?;
    gstviolence::plugin_register_static()?;
    let data = Path::new(&a.data);
    let out = Path::new(&a.out);
    let rows: Vec<manifest::Row> = manifest::read(data, &a.split)?
        .into_iter()
        .step_by(a.every)
        .collect();
    let params = extract::Params {
        clip_length: a.clip_length,
        frame_step: a.frame_step,
        width: a.width,
        height: a.height,
        stride: a.stride.unwrap_or(a.frame_step),
        flow: a.flow,
        front: a.front,
        people_crop: a.people_crop,
    };
    let started = std::time::Instant::now();
    let failed = extract::extract_all(data, &rows, out, &params, true)?;
    println!(
        "extracted {} clips ({failed} failed) into {} in {:.0} s",
        rows.len() - failed,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
