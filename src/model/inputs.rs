// SPDX-License-Identifier: MPL-2.0

//! Clip frames to the model's input tensors (docs/architecture.md "The model contract"): RGB normalized
//! [B,3,T,H,W], flow [B,2,T,H,W], the step one-hot of hard-attention models.
//!
//! On the CPU the RGB input is written in one pass straight from the mapped frames into the
//! tensor's memory: converting, normalizing and reordering with libtorch took five passes
//! over the clip, more than the cheap stage of the default model itself. On a GPU the bytes
//! are uploaded as they are (a quarter of the floats) and converted there.

use super::contract::{Colour, ModelConfig};
use crate::meta::{FlowPlanes, FramePlanes};
use tch::{Device, Kind, Tensor};

/// `[batch, max_steps]` one-hot of the current hard-attention step.
pub fn step_one_hot(batch: i64, step: i64, max_steps: u32, opts: (Kind, Device)) -> Tensor {
    let t = Tensor::zeros([batch, max_steps as i64], opts);
    let _ = t.narrow(1, step, 1).fill_(1.0);
    t
}

pub fn check_planes(what: &str, planes: &FramePlanes, config: &ModelConfig) -> Result<(), String> {
    if planes.frames.len() != config.clip_length as usize
        || planes.width != config.width
        || planes.height != config.height
    {
        return Err(format!(
            "{what} clip of {} frames at {}x{} does not match the model's {} frames at {}x{} \
             (a clipbuffer property overrides the shape violenceclassify asks for: set clip-length, width and height on violenceclassify only, and clipbuffer follows)",
            planes.frames.len(),
            planes.width,
            planes.height,
            config.clip_length,
            config.width,
            config.height
        ));
    }
    Ok(())
}

/// Calls `row` with each packed RGB row (3 bytes a pixel, no padding) of each frame, in
/// order: clip, frame, row.
fn for_each_row(
    clips: &[&FramePlanes],
    what: &str,
    mut row: impl FnMut(usize, usize, usize, &[u8]),
) -> Result<(), String> {
    for (b, planes) in clips.iter().enumerate() {
        let (h, stride, packed) = (
            planes.height as usize,
            planes.stride as usize,
            3 * planes.width as usize,
        );
        for (t, frame) in planes.frames.iter().enumerate() {
            let map = frame
                .map_readable()
                .map_err(|_| format!("cannot map {what} frame"))?;
            if h == 0 || map.len() < stride * (h - 1) + packed {
                return Err(format!("{what} frame of {} bytes is too small", map.len()));
            }
            for y in 0..h {
                row(b, t, y, &map[y * stride..][..packed]);
            }
        }
    }
    Ok(())
}

/// (x/255 - mean)/std == x * (1/(255 std)) - mean/std, per channel.
fn scale_and_shift(config: &ModelConfig) -> ([f32; 3], [f32; 3]) {
    let scale = config.std.map(|s| 1.0 / (255.0 * s));
    let shift = [0, 1, 2].map(|c| config.mean[c] / config.std[c]);
    (scale, shift)
}

/// The clips' RGB frames as the model's normalized input [B,3,T,H,W] of `kind` on `device`.
pub fn rgb_input(
    config: &ModelConfig,
    clips: &[&FramePlanes],
    device: Device,
    kind: Kind,
) -> Result<Tensor, String> {
    for planes in clips {
        check_planes("RGB", planes, config)?;
    }
    pack(config, clips, config.clip_length as usize, device, kind)
}

/// Frames as a batch of pictures [N,3,H,W] for a frame encoder, normalized as `rgb_input`.
pub fn frame_batch(
    config: &ModelConfig,
    frames: &[gst::Buffer],
    stride: u32,
    device: Device,
    kind: Kind,
) -> Result<Tensor, String> {
    // N clips of one frame: [N,3,1,H,W] is [N,3,H,W] in memory.
    let singles: Vec<FramePlanes> = frames
        .iter()
        .map(|frame| FramePlanes {
            frames: vec![frame.clone()],
            width: config.width,
            height: config.height,
            stride,
        })
        .collect();
    let refs: Vec<&FramePlanes> = singles.iter().collect();
    let x = pack(config, &refs, 1, device, kind)?;
    Ok(x.squeeze_dim(2))
}

fn pack(
    config: &ModelConfig,
    clips: &[&FramePlanes],
    t: usize,
    device: Device,
    kind: Kind,
) -> Result<Tensor, String> {
    let x = match device {
        Device::Cpu => rgb_input_cpu(config, clips, t)?,
        _ => rgb_input_uploaded(config, clips, t, device)?,
    };
    Ok(if x.kind() == kind { x } else { x.to_kind(kind) })
}

/// One pass: each source byte is normalized and stored at its planar place in the tensor.
fn rgb_input_cpu(config: &ModelConfig, clips: &[&FramePlanes], t: usize) -> Result<Tensor, String> {
    let (h, w) = (config.height as usize, config.width as usize);
    let dims = [clips.len() as i64, 3, t as i64, h as i64, w as i64];
    let x = Tensor::f_empty(dims, (Kind::Float, Device::Cpu)).map_err(|e| e.to_string())?;
    let len = clips.len() * 3 * t * h * w;
    if len == 0 {
        return Err("an empty clip batch".into());
    }
    // SAFETY: `x` was just allocated here as a contiguous CPU float tensor of `len`
    // elements; nothing else holds it until this function returns it.
    let data = unsafe { std::slice::from_raw_parts_mut(x.data_ptr() as *mut f32, len) };
    let (scale, shift) = scale_and_shift(config);
    // Which byte of a source pixel feeds output channel c.
    let source_channel = match config.colour {
        Colour::Rgb => [0, 1, 2],
        Colour::Bgr => [2, 1, 0],
    };
    for_each_row(clips, "a clip", |b, ti, y, row| {
        for c in 0..3 {
            let start = (((b * 3 + c) * t + ti) * h + y) * w;
            let out = &mut data[start..start + w];
            let (k, m, s) = (source_channel[c], scale[c], shift[c]);
            for (d, px) in out.iter_mut().zip(row.chunks_exact(3)) {
                *d = f32::from(px[k]) * m - s;
            }
        }
    })?;
    Ok(x)
}

/// Packs the bytes [B,T,H,W,3], uploads them once, and converts on the device.
fn rgb_input_uploaded(
    config: &ModelConfig,
    clips: &[&FramePlanes],
    t: usize,
    device: Device,
) -> Result<Tensor, String> {
    let (t, h, w) = (t as i64, config.height as i64, config.width as i64);
    let mut bytes = Vec::with_capacity(clips.len() * (t * h * w * 3) as usize);
    for_each_row(clips, "a clip", |_, _, _, row| bytes.extend_from_slice(row))?;
    let b = clips.len() as i64;
    std::panic::catch_unwind(|| {
        let x = Tensor::from_slice(&bytes)
            .view([b, t, h, w, 3])
            .to_device(device)
            .permute([0, 4, 1, 2, 3]);
        normalize(x.to_kind(Kind::Float), config, device, Kind::Float)
    })
    .map_err(|_| "building the RGB input failed".to_string())
}

/// [B,3,T,H,W] RGB on the 0..255 scale to the model's normalized input.
pub fn normalize(x: Tensor, config: &ModelConfig, device: Device, kind: Kind) -> Tensor {
    let x = match config.colour {
        Colour::Rgb => x,
        Colour::Bgr => x.flip([1]),
    };
    let (scale, shift) = scale_and_shift(config);
    let scale = Tensor::from_slice(&scale)
        .view([1, 3, 1, 1, 1])
        .to_device(device);
    let shift = Tensor::from_slice(&shift)
        .view([1, 3, 1, 1, 1])
        .to_device(device);
    (x * scale - shift).to_kind(kind).contiguous()
}

/// A clip's frames as float [T,3,H,W] on the 0..255 scale, on `device` (one upload of bytes).
pub fn frames_tensor(planes: &FramePlanes, device: Device) -> Result<Tensor, String> {
    let (h, w) = (planes.height as i64, planes.width as i64);
    let mut bytes = Vec::with_capacity(planes.frames.len() * (h * w * 3) as usize);
    for_each_row(&[planes], "an attention", |_, _, _, row| {
        bytes.extend_from_slice(row)
    })?;
    let t = planes.frames.len() as i64;
    Ok(Tensor::from_slice(&bytes)
        .view([t, h, w, 3])
        .to_device(device)
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float))
}

/// The clips' flow as the model's input [B,2,T,H,W].
pub fn flow_input(
    config: &ModelConfig,
    flows: &[Option<&FlowPlanes>],
    device: Device,
    kind: Kind,
) -> Result<Tensor, String> {
    let (t, h, w) = (
        config.clip_length as usize,
        config.height as usize,
        config.width as usize,
    );
    let mut values: Vec<f32> = Vec::with_capacity(flows.len() * 2 * t * h * w);
    let mut per_clip = vec![0f32; 2 * t * h * w];
    for flow in flows {
        let flow = flow.ok_or("the model needs a flow input but the clip has none: put opticalflow before clipbuffer and set inputs to include flow")?;
        if flow.frames.len() != t || flow.width as usize != w || flow.height as usize != h {
            return Err(format!(
                "flow clip of {} frames at {}x{} does not match the model's {t} frames at {w}x{h}",
                flow.frames.len(),
                flow.width,
                flow.height
            ));
        }
        // Each frame buffer holds u then v planes; the model wants [2,T,H,W].
        for (ti, frame) in flow.frames.iter().enumerate() {
            let map = frame
                .map_readable()
                .map_err(|_| "cannot map a flow frame".to_string())?;
            if map.len() != 2 * h * w * 4 {
                return Err(format!(
                    "flow frame of {} bytes, expected {}",
                    map.len(),
                    2 * h * w * 4
                ));
            }
            for (c, plane) in map.chunks_exact(h * w * 4).enumerate() {
                let dst = &mut per_clip[(c * t + ti) * h * w..][..h * w];
                for (d, s) in dst.iter_mut().zip(plane.chunks_exact(4)) {
                    *d = f32::from_ne_bytes([s[0], s[1], s[2], s[3]]);
                }
            }
        }
        values.extend_from_slice(&per_clip);
    }
    let b = flows.len() as i64;
    std::panic::catch_unwind(|| {
        Tensor::from_slice(&values)
            .view([b, 2, t as i64, h as i64, w as i64])
            .to_device(device)
            .to_kind(kind)
    })
    .map_err(|_| "building the flow input failed".to_string())
}

/// The warm-up input: stripes drifting across the frame from one time step to the next, shaped, typed and placed
/// like `like` ([1, C, T, H, W]), in about -1.5..1.5 (normalized units).
pub fn moving_stripes(like: &Tensor) -> Tensor {
    let size = like.size();
    let (t, h, w) = (size[2], size[3], size[4]);
    let opts = (Kind::Float, like.device());
    let phase = Tensor::arange(t, opts).view([t, 1, 1]) * 1.5
        + Tensor::arange(h, opts).view([1, h, 1]) * 0.2
        + Tensor::arange(w, opts).view([1, 1, w]) * 0.3;
    (phase.sin() * 1.5)
        .expand(&size, false)
        .to_kind(like.kind())
        .contiguous()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::contract::OutputKind;

    fn config(t: u32, w: u32, h: u32, colour: Colour) -> ModelConfig {
        ModelConfig {
            inputs: vec![crate::model::InputKind::Rgb],
            clip_length: t,
            frame_step: 1,
            width: w,
            height: h,
            mean: [0.45, 0.40, 0.35],
            std: [0.225, 0.25, 0.2],
            colour,
            output: OutputKind::Logits,
            output_len: 2,
            violent_index: 1,
            nonviolent_index: Some(0),
            prior_boxes: Vec::new(),
            max_steps: 1,
            threshold: 0.5,
            frame_encoder: false,
            screen: false,
            people_crop: false,
        }
    }

    /// Frames with rows padded to `stride` bytes and a different value in every byte.
    fn planes(t: u32, w: u32, h: u32, stride: u32, seed: u32) -> FramePlanes {
        let frames = (0..t)
            .map(|f| {
                let bytes: Vec<u8> = (0..stride * h)
                    .map(|i| ((i * 7 + f * 13 + seed * 31) % 251) as u8)
                    .collect();
                gst::Buffer::from_mut_slice(bytes)
            })
            .collect();
        FramePlanes {
            frames,
            width: w,
            height: h,
            stride,
        }
    }

    /// The one-pass CPU input equals what the device path computes, bit for bit, in both
    /// colour orders, with padded rows and several clips.
    #[test]
    fn cpu_input_matches_the_device_path() {
        gst::init().unwrap();
        for colour in [Colour::Rgb, Colour::Bgr] {
            let cfg = config(3, 5, 4, colour);
            let (a, b) = (planes(3, 5, 4, 16, 1), planes(3, 5, 4, 16, 2));
            let cpu = rgb_input(&cfg, &[&a, &b], Device::Cpu, Kind::Float).unwrap();
            let reference = rgb_input_uploaded(&cfg, &[&a, &b], 3, Device::Cpu).unwrap();
            assert_eq!(cpu.size(), [2, 3, 3, 4, 5]);
            assert!(cpu.equal(&reference), "{colour:?}");
        }
    }

    /// Frame i of the batch is frame i of the clip input, for a frame encoder.
    #[test]
    fn frame_batch_holds_the_clip_frames() {
        gst::init().unwrap();
        let cfg = config(3, 5, 4, Colour::Rgb);
        let clip = planes(3, 5, 4, 16, 3);
        let x = rgb_input(&cfg, &[&clip], Device::Cpu, Kind::Float).unwrap();
        let frames = frame_batch(&cfg, &clip.frames, 16, Device::Cpu, Kind::Float).unwrap();
        assert_eq!(frames.size(), [3, 3, 4, 5]);
        assert!(frames.equal(&x.squeeze_dim(0).transpose(0, 1)));
    }

    #[test]
    fn cpu_input_values_follow_the_contract() {
        gst::init().unwrap();
        let cfg = config(1, 2, 1, Colour::Bgr);
        let frame = gst::Buffer::from_mut_slice(vec![10u8, 20, 30, 40, 50, 60]);
        let clip = FramePlanes {
            frames: vec![frame],
            width: 2,
            height: 1,
            stride: 6,
        };
        let x = rgb_input(&cfg, &[&clip], Device::Cpu, Kind::Float).unwrap();
        // BGR model: channel 0 is the source's blue byte (30, then 60).
        let expected = |byte: f32, c: usize| (byte / 255.0 - cfg.mean[c]) / cfg.std[c];
        let got = Vec::<f32>::try_from(x.view([-1])).unwrap();
        let want = [
            expected(30.0, 0),
            expected(60.0, 0),
            expected(20.0, 1),
            expected(50.0, 1),
            expected(10.0, 2),
            expected(40.0, 2),
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn wrong_shapes_and_short_frames_are_refused() {
        gst::init().unwrap();
        let cfg = config(3, 5, 4, Colour::Rgb);
        let wrong = planes(2, 5, 4, 16, 0);
        let err = rgb_input(&cfg, &[&wrong], Device::Cpu, Kind::Float).unwrap_err();
        assert!(err.contains("2 frames at 5x4"), "{err}");
        let mut short = planes(3, 5, 4, 16, 0);
        short.frames[1] = gst::Buffer::from_mut_slice(vec![0u8; 20]);
        let err = rgb_input(&cfg, &[&short], Device::Cpu, Kind::Float).unwrap_err();
        assert!(err.contains("too small"), "{err}");
    }

    #[test]
    fn step_one_hot_marks_the_step() {
        let t = step_one_hot(2, 1, 3, (Kind::Float, Device::Cpu));
        let v = Vec::<f32>::try_from(t.view([-1])).unwrap();
        assert_eq!(v, [0.0, 1.0, 0.0, 0.0, 1.0, 0.0]);
    }
}
