// SPDX-License-Identifier: MPL-2.0

//! Scoring with a frame encoder (`"frame_encoder": true` in the model's metadata): the
//! module's `encode` runs once per sampled frame, on the frames no earlier clip brought,
//! and its `head` once per clip over the cached features.

use super::contract::ModelConfig;
use super::frame_cache::FrameCache;
use super::inputs::{check_planes, frame_batch};
use crate::meta::FramePlanes;
use tch::{CModule, Device, Kind, Tensor};

/// Largest |forward - head(encode)| accepted at load, in logits.
const CONTRACT_TOLERANCE: f64 = 1e-3;

/// Calls `method` of the module (`forward` when `None`), with panics and libtorch errors
/// as one-line messages.
pub fn call(module: &CModule, method: Option<&str>, inputs: &[Tensor]) -> Result<Tensor, String> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match method {
        None => module.forward_ts(inputs),
        Some(name) => module.method_ts(name, inputs),
    }));
    let what = method.unwrap_or("forward");
    result
        .map_err(|_| format!("{what}() panicked"))?
        .map_err(|e| format!("{what}(): {}", informative_line(&e.to_string())))
}

/// The informative line of a libtorch error: TorchScript puts the Python-style exception
/// (`RuntimeError: ...`) last, after a traceback; other errors lead with it.
pub fn informative_line(s: &str) -> &str {
    let lines = || s.lines().map(str::trim).filter(|l| !l.is_empty());
    lines()
        .rfind(|l| l.contains("Error: "))
        .or_else(|| lines().next())
        .unwrap_or(s)
}

/// The head's output for each clip, and how many of each clip's frames were encoded now
/// (a frame shared by several clips of the batch counts for the first).
pub fn score(
    module: &CModule,
    cache: &mut FrameCache,
    config: &ModelConfig,
    clips: &[&FramePlanes],
    device: Device,
    kind: Kind,
) -> Result<(Tensor, Vec<u32>), String> {
    let t = config.clip_length as usize;
    // Features needed by this batch must all stay until its head has run.
    cache.ensure_capacity(2 * clips.len() * t);
    let mut missing: Vec<(gst::Buffer, u32)> = Vec::new();
    let mut new_frames = Vec::with_capacity(clips.len());
    for planes in clips {
        check_planes("RGB", planes, config)?;
        let before = missing.len();
        for frame in cache.missing(&planes.frames) {
            if !missing.iter().any(|(m, _)| m.as_ptr() == frame.as_ptr()) {
                missing.push((frame, planes.stride));
            }
        }
        new_frames.push((missing.len() - before) as u32);
    }
    // Frames of one stride are packed together (every clip of a batch has the same shape).
    let mut rest = missing.as_slice();
    while let Some((_, stride)) = rest.first() {
        let n = rest.iter().take_while(|(_, s)| s == stride).count();
        let (group, tail) = rest.split_at(n);
        let frames: Vec<gst::Buffer> = group.iter().map(|(f, _)| f.clone()).collect();
        let pictures = frame_batch(config, &frames, *stride, device, kind)?;
        let features = call(module, Some("encode"), &[pictures])?;
        if features.dim() != 2 || features.size()[0] != n as i64 {
            return Err(format!(
                "encode() of {n} frames returned shape {:?}, expected [{n}, D]",
                features.size()
            ));
        }
        for (i, frame) in frames.into_iter().enumerate() {
            cache.insert(frame, features.get(i as i64));
        }
        rest = tail;
    }
    let per_clip = clips
        .iter()
        .map(|planes| {
            let rows = planes
                .frames
                .iter()
                .map(|f| cache.get(f).map(Tensor::shallow_clone))
                .collect::<Option<Vec<Tensor>>>()
                .ok_or("a frame's features left the cache before its clip was scored")?;
            Ok(Tensor::stack(&rows, 0))
        })
        .collect::<Result<Vec<Tensor>, String>>()?;
    let output = call(module, Some("head"), &[Tensor::stack(&per_clip, 0)])?;
    Ok((output, new_frames))
}

/// At load: head(encode(frames)) must give forward's output on a clip with content, or
/// the cached scores would not be the model's.
pub fn check_contract(
    module: &CModule,
    config: &ModelConfig,
    device: Device,
    kind: Kind,
) -> Result<(), String> {
    let (t, h, w) = (
        config.clip_length as i64,
        config.height as i64,
        config.width as i64,
    );
    // A smooth pattern that changes from frame to frame, on the normalized scale.
    let x = Tensor::arange(3 * t * h * w, (Kind::Float, device))
        .view([1, 3, t, h, w])
        .g_mul_scalar(0.37)
        .sin()
        .to_kind(kind);
    let forward = call(module, None, &[x.shallow_clone()])?;
    let frames = x.squeeze_dim(0).transpose(0, 1).contiguous();
    let features = call(module, Some("encode"), &[frames])?;
    let headed = call(module, Some("head"), &[features.unsqueeze(0)])?;
    if forward.size() != headed.size() {
        return Err(format!(
            "head(encode(frames)) has shape {:?}, forward {:?}",
            headed.size(),
            forward.size()
        ));
    }
    let gap = (forward.to_kind(Kind::Float) - headed.to_kind(Kind::Float))
        .abs()
        .max()
        .double_value(&[]);
    let tolerance = if kind == Kind::Half { 50.0 } else { 1.0 } * CONTRACT_TOLERANCE;
    if gap.is_nan() || gap > tolerance {
        return Err(format!(
            "head(encode(frames)) differs from forward by {gap:.2e} (more than {tolerance:.0e}): \
             the frame_encoder contract does not hold"
        ));
    }
    Ok(())
}
