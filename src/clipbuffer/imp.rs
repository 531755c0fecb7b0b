// SPDX-License-Identifier: MPL-2.0

use super::area::{yuv420_to_rgb_area, Chroma, YuvToRgb};
use super::window::{ClipWindow, EosAction, FrameAction, WindowParams};
use crate::meta::{ClipInfo, ClipMeta, FlowMeta, FlowPlanes, FramePlanes};
use crate::model::contract::{inputs_to_string, parse_inputs, InputKind};
use crate::opticalflow::motion::resample_flow;
use crate::query::{self, ClipShape};
use crate::MutexExt;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "clipbuffer",
        gst::DebugColorFlags::empty(),
        Some("Violence clip buffer"),
    )
});

const DEFAULT_CLIP_LENGTH: u32 = 16;
const DEFAULT_FRAME_STEP: u32 = 1;
const DEFAULT_STRIDE: u32 = 8;
const DEFAULT_SIZE: u32 = 112;
const DEFAULT_INPUTS: &str = "rgb";
const DEFAULT_ATTENTION_MAX_SIZE: u32 = 640;

/// Raw formats accepted: what videoconvert commonly produces and VideoConverter reads.
pub(crate) const FORMATS: &[gst_video::VideoFormat] = &[
    gst_video::VideoFormat::I420,
    gst_video::VideoFormat::Yv12,
    gst_video::VideoFormat::Nv12,
    gst_video::VideoFormat::Nv21,
    gst_video::VideoFormat::Y42b,
    gst_video::VideoFormat::Y444,
    gst_video::VideoFormat::Yuy2,
    gst_video::VideoFormat::Uyvy,
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Argb,
    gst_video::VideoFormat::Abgr,
    gst_video::VideoFormat::Rgbx,
    gst_video::VideoFormat::Bgrx,
    gst_video::VideoFormat::Xrgb,
    gst_video::VideoFormat::Xbgr,
    gst_video::VideoFormat::Rgb,
    gst_video::VideoFormat::Bgr,
    gst_video::VideoFormat::Gray8,
];

/// Properties; `None` means "not set": the downstream model's value, else the default.
#[derive(Debug, Clone, Default)]
struct Settings {
    clip_length: Option<u32>,
    frame_step: Option<u32>,
    stride: u32,
    width: Option<u32>,
    height: Option<u32>,
    inputs: Option<Vec<InputKind>>,
    attention_max_size: u32,
}

/// A sampled frame: its model-size copy, its attention-size copy and its timestamp.
#[derive(Debug, Clone)]
struct Sample {
    rgb: gst::Buffer,
    attention: Option<gst::Buffer>,
    /// u then v planes at model size, in model pixels per frame (zeros without flow).
    flow: Option<gst::Buffer>,
    pts: gst::ClockTime,
}

/// Conversion of source frames into packed RGB at a given size, into our own pool.
struct Scaler {
    converter: gst_video::VideoConverter,
    /// Set for 4:2:0 input reduced at least 2x: the area average replaces the converter.
    area: Option<YuvToRgb>,
    out_info: gst_video::VideoInfo,
    pool: gst::BufferPool,
}

impl Scaler {
    fn new(in_info: &gst_video::VideoInfo, width: u32, height: u32) -> Result<Self, String> {
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
        let area = (yuv420 && reduced && !in_info.is_interlaced()).then(|| {
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

    fn convert(
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

    fn planes(&self, frames: Vec<gst::Buffer>) -> FramePlanes {
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

struct State {
    in_info: gst_video::VideoInfo,
    shape: ClipShape,
    window: ClipWindow<Sample>,
    rgb: Scaler,
    attention: Option<Scaler>,
}

#[derive(Default)]
pub struct ClipBuffer {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

impl ClipBuffer {
    /// The clip shape: set properties win, then the downstream model, then defaults.
    fn effective_shape(&self, from_model: Option<&ClipShape>) -> ClipShape {
        let s = self.settings.locked().clone();
        let pick =
            |set: Option<u32>, model: Option<u32>, default: u32, name: &str| match (set, model) {
                (Some(v), Some(m)) if v != m => {
                    gst::info!(
                        CAT,
                        imp = self,
                        "property {name}={v} overrides the model's {m}"
                    );
                    v
                }
                (Some(v), _) => v,
                (None, Some(m)) => m,
                (None, None) => default,
            };
        ClipShape {
            clip_length: pick(
                s.clip_length,
                from_model.map(|m| m.clip_length),
                DEFAULT_CLIP_LENGTH,
                "clip-length",
            ),
            frame_step: pick(
                s.frame_step,
                from_model.map(|m| m.frame_step),
                DEFAULT_FRAME_STEP,
                "frame-step",
            ),
            width: pick(s.width, from_model.map(|m| m.width), DEFAULT_SIZE, "width"),
            height: pick(
                s.height,
                from_model.map(|m| m.height),
                DEFAULT_SIZE,
                "height",
            ),
            inputs: s
                .inputs
                .or_else(|| from_model.map(|m| m.inputs.clone()))
                .unwrap_or_else(|| vec![InputKind::Rgb]),
            hard_attention: from_model.is_some_and(|m| m.hard_attention),
        }
    }

    fn ask_downstream(&self) -> Option<ClipShape> {
        let mut q = query::new_model_config_query();
        if self.obj().src_pad().peer_query(&mut q) {
            let shape = query::read_model_config_query(&q);
            gst::debug!(CAT, imp = self, "downstream model wants {shape:?}");
            shape
        } else {
            gst::debug!(
                CAT,
                imp = self,
                "no violenceclassify downstream answered; using properties"
            );
            None
        }
    }

    fn build_state(&self, in_info: gst_video::VideoInfo) -> Result<State, String> {
        let model = self.ask_downstream();
        let shape = self.effective_shape(model.as_ref());
        let rgb = Scaler::new(&in_info, shape.width, shape.height)?;
        let attention = if shape.hard_attention {
            let cap = self.settings.locked().attention_max_size;
            let (w, h) = capped_size(in_info.width(), in_info.height(), cap);
            Some(Scaler::new(&in_info, w, h)?)
        } else {
            None
        };
        let stride = self.settings.locked().stride;
        gst::info!(
            CAT,
            imp = self,
            "clips of {} frames every {} frames, step {}, at {}x{} from {}x{} {:?}",
            shape.clip_length,
            stride,
            shape.frame_step,
            shape.width,
            shape.height,
            in_info.width(),
            in_info.height(),
            in_info.format()
        );
        Ok(State {
            window: ClipWindow::new(WindowParams {
                clip_length: shape.clip_length as usize,
                frame_step: shape.frame_step as u64,
                stride: stride as u64,
            }),
            in_info,
            shape,
            rgb,
            attention,
        })
    }

    fn clip_from(state: &State, samples: Vec<&Sample>, padded: usize) -> ClipInfo {
        let last = *samples.last().expect("clips are never empty");
        let pad = std::iter::repeat_n(last, padded);
        let all: Vec<&Sample> = samples.iter().copied().chain(pad).collect();
        ClipInfo {
            rgb: state
                .rgb
                .planes(all.iter().map(|s| s.rgb.clone()).collect()),
            attention: state
                .attention
                .as_ref()
                .map(|a| a.planes(all.iter().filter_map(|s| s.attention.clone()).collect())),
            flow: state
                .shape
                .inputs
                .contains(&InputKind::Flow)
                .then(|| FlowPlanes {
                    frames: all.iter().filter_map(|s| s.flow.clone()).collect(),
                    width: state.shape.width,
                    height: state.shape.height,
                }),
            first_pts: all[0].pts,
            last_pts: last.pts,
            source_size: (state.in_info.width(), state.in_info.height()),
            padded_frames: padded as u32,
        }
    }

    /// Sends the EOS clip (see `EosAction`) as a serialized event ahead of EOS.
    fn push_eos_clip(&self) {
        let clip = {
            let guard = self.state.locked();
            let Some(state) = guard.as_ref() else { return };
            let samples: Vec<&Sample> = state.window.frames().collect();
            match state.window.at_eos() {
                EosAction::Nothing => None,
                EosAction::Padded(n) => Some(Self::clip_from(state, samples, n)),
                EosAction::Final => Some(Self::clip_from(state, samples, 0)),
            }
        };
        if let Some(clip) = clip {
            gst::debug!(
                CAT,
                imp = self,
                "EOS clip {}..{} ({} padded)",
                clip.first_pts,
                clip.last_pts,
                clip.padded_frames
            );
            let mut carrier = gst::Buffer::new();
            ClipMeta::add(carrier.get_mut().unwrap(), clip);
            self.obj()
                .src_pad()
                .push_event(query::new_eos_clip_event(carrier));
        }
    }

    fn reset_window(&self, why: &str) {
        if let Some(state) = self.state.locked().as_mut() {
            if !state.window.is_empty() {
                gst::debug!(CAT, imp = self, "window reset: {why}");
            }
            state.window.reset();
        }
    }
}

/// The frame's flow resampled to the model size and expressed in model pixels per frame,
/// as one buffer holding the u plane then the v plane (f32). No flow yet: zeros.
fn model_size_flow(
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
fn capped_size(width: u32, height: u32, cap: u32) -> (u32, u32) {
    let long = width.max(height).max(1);
    if long <= cap {
        return (width, height);
    }
    let scale = |v: u32| (((v as u64 * cap as u64) / long as u64) as u32 & !1).max(2);
    (scale(width), scale(height))
}

#[glib::object_subclass]
impl ObjectSubclass for ClipBuffer {
    const NAME: &'static str = "GstClipBuffer";
    type Type = super::ClipBuffer;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for ClipBuffer {
    fn constructed(&self) {
        self.parent_constructed();
        let mut s = self.settings.locked();
        s.stride = DEFAULT_STRIDE;
        s.attention_max_size = DEFAULT_ATTENTION_MAX_SIZE;
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("clip-length")
                    .nick("Clip length")
                    .blurb("Frames per clip (T). Unset: the downstream model's clip_length, else 16")
                    .minimum(1)
                    .maximum(1024)
                    .default_value(DEFAULT_CLIP_LENGTH)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("frame-step")
                    .nick("Frame step")
                    .blurb("Sample every Nth input frame into the clip. Unset: the model's frame_step, else 1")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_FRAME_STEP)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("stride")
                    .nick("Stride")
                    .blurb("Input frames between the ends of two consecutive clips")
                    .minimum(1)
                    .maximum(100_000)
                    .default_value(DEFAULT_STRIDE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("width")
                    .nick("Width")
                    .blurb("Clip frame width in pixels. Unset: the model's size, else 112")
                    .minimum(8)
                    .maximum(4096)
                    .default_value(DEFAULT_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("height")
                    .nick("Height")
                    .blurb("Clip frame height in pixels. Unset: the model's size, else 112")
                    .minimum(8)
                    .maximum(4096)
                    .default_value(DEFAULT_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("inputs")
                    .nick("Inputs")
                    .blurb("What clips carry: rgb, or rgb+flow (needs opticalflow upstream). Unset: the model's inputs, else rgb")
                    .default_value(Some(DEFAULT_INPUTS))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("attention-max-size")
                    .nick("Attention resolution cap")
                    .blurb("Longer side in pixels of the full-resolution frames kept for hard-attention models (only when the model selects regions)")
                    .minimum(64)
                    .maximum(8192)
                    .default_value(DEFAULT_ATTENTION_MAX_SIZE)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.locked();
        match pspec.name() {
            "clip-length" => s.clip_length = Some(value.get().unwrap()),
            "frame-step" => s.frame_step = Some(value.get().unwrap()),
            "stride" => s.stride = value.get().unwrap(),
            "width" => s.width = Some(value.get().unwrap()),
            "height" => s.height = Some(value.get().unwrap()),
            "inputs" => {
                let text: Option<String> = value.get().unwrap();
                match text.as_deref().map(parse_inputs) {
                    None => s.inputs = None,
                    Some(Ok(inputs)) => s.inputs = Some(inputs),
                    Some(Err(e)) => {
                        gst::error!(
                            CAT,
                            imp = self,
                            "invalid inputs: {e}; keeping {:?}",
                            s.inputs
                        )
                    }
                }
            }
            "attention-max-size" => s.attention_max_size = value.get().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        // Reports what is in effect once negotiated, else what is set, else the default.
        let negotiated = self.state.locked().as_ref().map(|st| st.shape.clone());
        let s = self.settings.locked();
        let shape = |f: fn(&ClipShape) -> u32, set: Option<u32>, default: u32| {
            negotiated.as_ref().map(f).or(set).unwrap_or(default)
        };
        match pspec.name() {
            "clip-length" => {
                shape(|c| c.clip_length, s.clip_length, DEFAULT_CLIP_LENGTH).to_value()
            }
            "frame-step" => shape(|c| c.frame_step, s.frame_step, DEFAULT_FRAME_STEP).to_value(),
            "stride" => s.stride.to_value(),
            "width" => shape(|c| c.width, s.width, DEFAULT_SIZE).to_value(),
            "height" => shape(|c| c.height, s.height, DEFAULT_SIZE).to_value(),
            "inputs" => negotiated
                .map(|c| c.inputs)
                .or(s.inputs.clone())
                .map_or(DEFAULT_INPUTS.to_string(), |i| inputs_to_string(&i))
                .to_value(),
            "attention-max-size" => s.attention_max_size.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for ClipBuffer {}

impl ElementImpl for ClipBuffer {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "Violence clip buffer",
                "Filter/Analyzer/Video",
                "Samples frames into windows of T frames at the model's size and attaches each \
                 completed window as ClipMeta; video passes unchanged",
                "gst-violence developers",
                &[("example-launch", super::EXAMPLE_LAUNCH)],
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list(FORMATS.iter().copied())
                .build();
            crate::src_sink_templates(&caps)
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for ClipBuffer {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.locked() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "cannot parse caps {incaps}"))?;
        // A new format or size changes every frame's preparation: start a new window.
        let state = self.build_state(info).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["{}", e]);
            gst::loggable_error!(CAT, "{e}")
        })?;
        *self.state.locked() = Some(state);
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Eos(_) => self.push_eos_clip(),
            gst::EventView::FlushStop(_) => self.reset_window("flush"),
            gst::EventView::Gap(_) => self.reset_window("gap"),
            _ => (),
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.locked();
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["buffer before caps"]);
            return Err(gst::FlowError::NotNegotiated);
        };
        if buf.flags().contains(gst::BufferFlags::DISCONT) && !state.window.is_empty() {
            gst::debug!(
                CAT,
                imp = self,
                "window reset: discontinuity at {:?}",
                buf.pts()
            );
            state.window.reset();
        }
        let pts = buf.pts().unwrap_or(gst::ClockTime::ZERO);
        let mut failure = None;
        let flow = if state.shape.inputs.contains(&InputKind::Flow)
            && state.window.next_is_sampled()
        {
            match model_size_flow(buf, state.shape.width as usize, state.shape.height as usize) {
                Ok(f) => Some(f),
                Err(e) => {
                    drop(guard);
                    gst::element_imp_error!(self, gst::CoreError::Negotiation, ["{}", e]);
                    return Err(gst::FlowError::NotNegotiated);
                }
            }
        } else {
            None
        };
        let action = if state.window.next_is_sampled() {
            let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &state.in_info)
                .map_err(|_| {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ["cannot map a frame of {} bytes", buf.size()]
                    );
                    gst::FlowError::Error
                })?;
            let rgb = state.rgb.convert(&frame);
            let attention = state
                .attention
                .as_ref()
                .map(|a| a.convert(&frame))
                .transpose();
            match (rgb, attention) {
                (Ok(rgb), Ok(attention)) => state.window.push(|| Sample {
                    rgb,
                    attention,
                    flow,
                    pts,
                }),
                (Err(e), _) | (_, Err(e)) => {
                    failure = Some(e);
                    FrameAction::Skip
                }
            }
        } else {
            state.window.push(|| unreachable!("not sampled"))
        };
        if let Some(e) = failure {
            drop(guard);
            gst::element_imp_error!(
                self,
                gst::StreamError::Failed,
                ["cannot prepare a frame: {}", e]
            );
            return Err(gst::FlowError::Error);
        }
        if action == FrameAction::SampleAndEmit {
            let clip = Self::clip_from(state, state.window.frames().collect(), 0);
            gst::log!(
                CAT,
                imp = self,
                "clip {}..{}",
                clip.first_pts,
                clip.last_pts
            );
            ClipMeta::add(buf, clip);
        }
        Ok(gst::FlowSuccess::Ok)
    }
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
