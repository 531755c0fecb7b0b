// SPDX-License-Identifier: MPL-2.0

use super::prepare::{capped_size, model_size_flow, Scaler};
use super::window::{ClipWindow, EosAction, FrameAction, WindowParams};
use crate::clipshape::{self, ClipShape, Owner, ShapeFacts};
use crate::hardattentioncrop::region::{held_crop, people_crop, PersonBox, PEOPLE_HOLD_NS};
use crate::meta::{ClipInfo, ClipMeta, FlowPlanes, Region};
use crate::model::contract::InputKind;
use crate::query;
use crate::MutexExt;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "clipbuffer",
        gst::DebugColorFlags::empty(),
        Some("Violence clip buffer"),
    )
});

const DEFAULT_STRIDE: u32 = 8;
const DEFAULT_ATTENTION_MAX_SIZE: u32 = 640;
/// Sampled frames without any person meta, for a people-crop model, before a warning.
const NO_PEOPLE_WARNING: u32 = 100;

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

#[derive(Debug, Clone)]
struct Settings {
    /// The clip-shape properties as set (see `clipshape`).
    shape: ShapeFacts,
    stride: u32,
    attention_max_size: u32,
    people_crop: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            shape: ShapeFacts::default(),
            stride: DEFAULT_STRIDE,
            attention_max_size: DEFAULT_ATTENTION_MAX_SIZE,
            people_crop: false,
        }
    }
}

/// A sampled frame: its model-size copy, its attention-size copy and its timestamp.
#[derive(Debug, Clone)]
struct Sample {
    rgb: gst::Buffer,
    attention: Option<gst::Buffer>,
    /// u then v planes at model size, in model pixels per frame (zeros without flow).
    flow: Option<gst::Buffer>,
    /// The people crop it was cut from (source pixels); `None`: the whole frame.
    crop: Option<Region>,
    pts: gst::ClockTime,
}

struct State {
    in_info: gst_video::VideoInfo,
    shape: ClipShape,
    window: ClipWindow<Sample>,
    rgb: Scaler,
    attention: Option<Scaler>,
    /// For a model trained on people crops: the crop in use, its scaler (rebuilt when the
    /// crop moves, once per person detection) and when its group was last reported (ns).
    people: Option<(Region, Scaler, u64)>,
    sampled_without_people: u32,
}

#[derive(Default)]
pub struct ClipBuffer {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

impl ClipBuffer {
    /// The clip shape (`clipshape::decide`): set properties win, then the downstream
    /// model, then clipbuffer's defaults.
    fn effective_shape(&self, from_model: Option<&ClipShape>) -> Result<ClipShape, String> {
        let set = self.settings.locked().shape.clone();
        let model = from_model.map(ClipShape::facts).unwrap_or_default();
        let (mut shape, notes) = clipshape::decide(&set, &model, &Owner::ClipBuffer.defaults())
            .map_err(|e| format!("clip shape: {e}"))?;
        for note in notes {
            // violenceclassify refuses clips of another length or size than its model's.
            gst::warning!(
                CAT,
                imp = self,
                "{note}; set it on violenceclassify instead, so that both agree"
            );
        }
        shape.hard_attention = from_model.is_some_and(|m| m.hard_attention);
        shape.people_crop =
            from_model.is_some_and(|m| m.people_crop) || self.settings.locked().people_crop;
        Ok(shape)
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
        let shape = self.effective_shape(model.as_ref())?;
        let rgb = Scaler::new(&in_info, shape.width, shape.height, None)?;
        let attention = if shape.hard_attention {
            let cap = self.settings.locked().attention_max_size;
            let (w, h) = capped_size(in_info.width(), in_info.height(), cap);
            Some(Scaler::new(&in_info, w, h, None)?)
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
            people: None,
            sampled_without_people: 0,
        })
    }

    /// The model-size copy of a sampled frame: whole, or for a model trained on people crops,
    /// cut around the moving people of the frame's `person` metas (whole when nobody moves).
    fn prepare(
        &self,
        state: &mut State,
        frame: &gst_video::VideoFrameRef<&gst::BufferRef>,
        people: &[PersonBox],
        pts: Option<gst::ClockTime>,
    ) -> Result<(gst::Buffer, Option<Region>), String> {
        if !state.shape.people_crop {
            return Ok((state.rgb.convert(frame)?, None));
        }
        if people.is_empty() {
            state.sampled_without_people += 1;
            if state.sampled_without_people == NO_PEOPLE_WARNING {
                gst::warning!(
                    CAT,
                    imp = self,
                    "the model was trained on crops around people, but {NO_PEOPLE_WARNING} sampled frames carried no person: put persondetect before clipbuffer"
                );
            }
        }
        let (w, h) = (state.in_info.width(), state.in_info.height());
        let aspect = state.shape.width as f64 / state.shape.height as f64;
        // Without timestamps nothing says how long ago the group was seen: no hold.
        let last = state
            .people
            .as_ref()
            .filter(|_| pts.is_some())
            .map(|(r, _, seen)| (*r, *seen));
        let found = people_crop(people, w, h, aspect);
        let now = pts.map_or(0, gst::ClockTime::nseconds);
        let Some((crop, seen)) = held_crop(found, last, now, PEOPLE_HOLD_NS) else {
            state.people = None;
            return Ok((state.rgb.convert(frame)?, None));
        };
        match state.people.as_mut() {
            Some((r, _, s)) if *r == crop => *s = seen,
            _ => {
                let scaler = Scaler::new(
                    &state.in_info,
                    state.shape.width,
                    state.shape.height,
                    Some(crop),
                )?;
                state.people = Some((crop, scaler, seen));
            }
        }
        let (_, scaler, _) = state.people.as_ref().expect("set above");
        Ok((scaler.convert(frame)?, Some(crop)))
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
            crop: last.crop,
            reframed: all
                .windows(2)
                .enumerate()
                .filter(|(_, pair)| pair[0].crop != pair[1].crop)
                .map(|(i, _)| i as u32)
                .collect(),
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

#[glib::object_subclass]
impl ObjectSubclass for ClipBuffer {
    const NAME: &'static str = "GstClipBuffer";
    type Type = super::ClipBuffer;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for ClipBuffer {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut specs = ShapeFacts::properties(Owner::ClipBuffer);
            specs.extend([
                glib::ParamSpecUInt::builder("stride")
                    .nick("Stride")
                    .blurb("Input frames between the ends of two consecutive clips")
                    .minimum(1)
                    .maximum(100_000)
                    .default_value(DEFAULT_STRIDE)
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
                glib::ParamSpecBoolean::builder("people-crop")
                    .nick("People crop")
                    .blurb("Cut every sampled frame around the moving group of people (person metas of an upstream persondetect; the whole frame when nobody moves), also for a model that does not ask for it (a model trained on such crops asks for it itself)")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("clip-shape")
                    .nick("Clip shape in use")
                    .blurb("The clip shape decided at negotiation: clip-length, frame-step, width, height, inputs, hard-attention; NULL before (read-only)")
                    .read_only()
                    .build(),
            ]);
            specs
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.locked();
        match pspec.name() {
            "stride" => s.stride = value.get().unwrap(),
            "attention-max-size" => s.attention_max_size = value.get().unwrap(),
            "people-crop" => s.people_crop = value.get().unwrap(),
            name => match s.shape.set_property(name, value) {
                Ok(true) => (),
                Ok(false) => unreachable!("unknown property {name}"),
                Err(e) => gst::error!(CAT, imp = self, "invalid {name}: {e}; value kept"),
            },
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "clip-shape" {
            let state = self.state.locked();
            return state.as_ref().map(|st| st.shape.to_structure()).to_value();
        }
        // What is set (0 or NULL when unset); the shape in use is `clip-shape`.
        let s = self.settings.locked();
        match pspec.name() {
            "stride" => s.stride.to_value(),
            "attention-max-size" => s.attention_max_size.to_value(),
            "people-crop" => s.people_crop.to_value(),
            name => s
                .shape
                .property(name)
                .unwrap_or_else(|| unreachable!("unknown property {name}")),
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
            let people = if state.shape.people_crop {
                PersonBox::of_frame(buf)
            } else {
                Vec::new()
            };
            let rgb = self.prepare(state, &frame, &people, buf.pts());
            let attention = state
                .attention
                .as_ref()
                .map(|a| a.convert(&frame))
                .transpose();
            match (rgb, attention) {
                (Ok((rgb, crop)), Ok(attention)) => state.window.push(|| Sample {
                    rgb,
                    attention,
                    flow,
                    crop,
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
