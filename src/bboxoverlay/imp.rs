// SPDX-License-Identifier: MPL-2.0

//! Lock order: `style` (taken alone, cloned) → `state` → `renderer`: a frame is drawn with
//! `state` held, so that caps cannot change under it.

use super::draw::{Canvas, Matrix, OverlayRenderer, PixelFormat, Plane, Range, YuvEncoding};
use super::spec::{self, argb_from_rgba, rgba_from_argb, History, RoiBox, Style};
use crate::event::{EventKind, ViolenceEvent};
use crate::meta::{region_confidence, ViolenceMeta};
use crate::MutexExt;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "bboxoverlay",
        gst::DebugColorFlags::empty(),
        Some("Region overlay"),
    )
});

const FORMATS: &[(gst_video::VideoFormat, PixelFormat)] = &[
    (gst_video::VideoFormat::Rgba, PixelFormat::Rgba),
    (gst_video::VideoFormat::Bgra, PixelFormat::Bgra),
    (gst_video::VideoFormat::Rgbx, PixelFormat::Rgbx),
    (gst_video::VideoFormat::Bgrx, PixelFormat::Bgrx),
    (gst_video::VideoFormat::Rgb, PixelFormat::Rgb),
    (gst_video::VideoFormat::Bgr, PixelFormat::Bgr),
    (gst_video::VideoFormat::I420, PixelFormat::I420),
    (gst_video::VideoFormat::Nv12, PixelFormat::Nv12),
];

fn default_style() -> Style {
    Style {
        line_width: 3,
        font_size: 18.0,
        labels: true,
        banner: true,
        graph: false,
        graph_duration: 10_000_000_000,
        violence_colour: rgba_from_argb(0xFFFF2020),
        motion_colour: rgba_from_argb(0xFF20C0FF),
        other_colour: rgba_from_argb(0xFFFFD000),
        banner_colour: rgba_from_argb(0xC0D00000),
    }
}

struct State {
    info: gst_video::VideoInfo,
    format: PixelFormat,
    encoding: YuvEncoding,
    history: History,
}

pub struct BboxOverlay {
    style: Mutex<Style>,
    state: Mutex<Option<State>>,
    renderer: Mutex<OverlayRenderer>,
}

impl Default for BboxOverlay {
    fn default() -> Self {
        BboxOverlay {
            style: Mutex::new(default_style()),
            state: Mutex::new(None),
            renderer: Mutex::new(OverlayRenderer::new()),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for BboxOverlay {
    const NAME: &'static str = "GstBboxOverlay";
    type Type = super::BboxOverlay;
    type ParentType = gst_base::BaseTransform;
}

fn colour_spec(name: &str, nick: &str, blurb: &str, default: u32) -> glib::ParamSpec {
    glib::ParamSpecUInt::builder(name)
        .nick(nick)
        .blurb(blurb)
        .default_value(default)
        .mutable_playing()
        .build()
}

impl ObjectImpl for BboxOverlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = default_style();
            vec![
                glib::ParamSpecUInt::builder("line-width")
                    .nick("Line width")
                    .blurb("Box outline width in pixels (drawn inside the box)")
                    .minimum(1)
                    .maximum(64)
                    .default_value(d.line_width as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("font-size")
                    .nick("Font size")
                    .blurb("Label line height in pixels; the banner uses 1.5 times this")
                    .minimum(6)
                    .maximum(256)
                    .default_value(d.font_size as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw-labels")
                    .nick("Draw labels")
                    .blurb("Label each box with its type and confidence, e.g. 'violence 0.93'")
                    .default_value(d.labels)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw-banner")
                    .nick("Draw banner")
                    .blurb("Draw a 'VIOLENCE mm:ss.d' banner (time since the event started) while an event is on")
                    .default_value(d.banner)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw-graph")
                    .nick("Draw graph")
                    .blurb("Draw the recent history of p(violent) with the threshold line, bottom left")
                    .default_value(d.graph)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("graph-duration")
                    .nick("Graph duration")
                    .blurb("Span of the score graph in nanoseconds")
                    .minimum(1_000_000_000)
                    .maximum(600_000_000_000)
                    .default_value(d.graph_duration)
                    .mutable_playing()
                    .build(),
                colour_spec("violence-colour", "Violence colour", "Colour of violence regions, the graph during an event, as ARGB (0xAARRGGBB)", argb_from_rgba(d.violence_colour)),
                colour_spec("motion-colour", "Motion colour", "Colour of motion regions, as ARGB (0xAARRGGBB)", argb_from_rgba(d.motion_colour)),
                colour_spec("other-colour", "Other colour", "Colour of regions of any other type (detectors, trackers) and of the idle graph, as ARGB", argb_from_rgba(d.other_colour)),
                colour_spec("banner-colour", "Banner colour", "Colour of the violence banner, as ARGB (alpha makes it translucent)", argb_from_rgba(d.banner_colour)),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.style.locked();
        match pspec.name() {
            "line-width" => s.line_width = value.get::<u32>().unwrap() as i32,
            "font-size" => s.font_size = value.get::<u32>().unwrap() as f32,
            "draw-labels" => s.labels = value.get().unwrap(),
            "draw-banner" => s.banner = value.get().unwrap(),
            "draw-graph" => s.graph = value.get().unwrap(),
            "graph-duration" => s.graph_duration = value.get().unwrap(),
            "violence-colour" => s.violence_colour = rgba_from_argb(value.get().unwrap()),
            "motion-colour" => s.motion_colour = rgba_from_argb(value.get().unwrap()),
            "other-colour" => s.other_colour = rgba_from_argb(value.get().unwrap()),
            "banner-colour" => s.banner_colour = rgba_from_argb(value.get().unwrap()),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.style.locked();
        match pspec.name() {
            "line-width" => (s.line_width as u32).to_value(),
            "font-size" => (s.font_size as u32).to_value(),
            "draw-labels" => s.labels.to_value(),
            "draw-banner" => s.banner.to_value(),
            "draw-graph" => s.graph.to_value(),
            "graph-duration" => s.graph_duration.to_value(),
            "violence-colour" => argb_from_rgba(s.violence_colour).to_value(),
            "motion-colour" => argb_from_rgba(s.motion_colour).to_value(),
            "other-colour" => argb_from_rgba(s.other_colour).to_value(),
            "banner-colour" => argb_from_rgba(s.banner_colour).to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for BboxOverlay {}

impl ElementImpl for BboxOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "Region and violence overlay",
                "Filter/Effect/Video",
                "Draws every GstVideoRegionOfInterestMeta with its label and confidence, the \
                 violence state banner and an optional score graph, in place",
                "gst-violence developers",
                &[("example-launch", super::EXAMPLE_LAUNCH)],
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list(FORMATS.iter().map(|(f, _)| *f))
                .build();
            crate::src_sink_templates(&caps)
        });
        TEMPLATES.as_ref()
    }
}

fn encoding_of(info: &gst_video::VideoInfo) -> YuvEncoding {
    let c = info.colorimetry();
    let matrix = match c.matrix() {
        gst_video::VideoColorMatrix::Bt709 | gst_video::VideoColorMatrix::Bt2020 => Matrix::Bt709,
        gst_video::VideoColorMatrix::Bt601 => Matrix::Bt601,
        _ => YuvEncoding::guess_for_size(info.width(), info.height()).matrix,
    };
    let range = match c.range() {
        gst_video::VideoColorRange::Range0_255 => Range::Full,
        _ => Range::Limited,
    };
    YuvEncoding::new(matrix, range)
}

impl BaseTransformImpl for BboxOverlay {
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
        let format = FORMATS
            .iter()
            .find(|(f, _)| *f == info.format())
            .map(|(_, p)| *p)
            .ok_or_else(|| gst::loggable_error!(CAT, "unsupported format {:?}", info.format()))?;
        let encoding = encoding_of(&info);
        gst::debug!(
            CAT,
            imp = self,
            "drawing into {:?} with {:?}",
            info.format(),
            encoding
        );
        let history = self
            .state
            .locked()
            .take()
            .map(|s| s.history)
            .unwrap_or_default();
        *self.state.locked() = Some(State {
            info,
            format,
            encoding,
            history,
        });
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let Some(ev) = event.structure().and_then(ViolenceEvent::from_structure) {
            if let Some(state) = self.state.locked().as_mut() {
                match ev.kind {
                    EventKind::Start => state.history.on_start_event(ev.pts),
                    EventKind::End => state.history.on_end_event(),
                    EventKind::Score => (),
                }
            }
        } else if let gst::EventView::FlushStop(_) = event.view() {
            if let Some(state) = self.state.locked().as_mut() {
                state.history.reset();
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let style = self.style.locked().clone();
        let mut guard = self.state.locked();
        let Some(state) = guard.as_mut() else {
            return Err(gst::FlowError::NotNegotiated);
        };
        let rois: Vec<RoiBox> = buf
            .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
            .map(|m| RoiBox {
                roi_type: m.roi_type().to_string(),
                region: m.rect().into(),
                confidence: region_confidence(&m),
            })
            .collect();
        let violence = buf.meta::<ViolenceMeta>().map(|m| m.payload().clone());
        let pts = buf.pts().map_or(0, gst::ClockTime::nseconds);
        let frame_size = (state.info.width(), state.info.height());
        let overlay = spec::build(
            &style,
            &mut state.history,
            frame_size,
            pts,
            &rois,
            violence.as_ref(),
        );
        if overlay.is_empty() {
            // Nothing to draw: the frame is not even mapped, so it stays bit for bit.
            return Ok(gst::FlowSuccess::Ok);
        }
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &state.info)
            .map_err(|_| {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ["cannot map the frame for writing"]
                );
                gst::FlowError::Error
            })?;
        let strides: Vec<usize> = frame.plane_stride().iter().map(|s| *s as usize).collect();
        if strides.contains(&0) {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ["negative or zero strides are not supported"]
            );
            return Err(gst::FlowError::NotSupported);
        }
        let n_planes = frame.n_planes();
        let (width, height) = (frame.width(), frame.height());
        let mut planes_data = frame.planes_data_mut();
        let planes = planes_data
            .iter_mut()
            .take(n_planes as usize)
            .zip(strides)
            .map(|(data, stride)| Plane::new(data, stride));
        let mut canvas = Canvas::new(state.format, width, height, planes)
            .map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ["frame layout not drawable: {:?}", e]
                );
                gst::FlowError::Error
            })?
            .with_yuv_encoding(state.encoding);
        self.renderer.locked().draw(&mut canvas, &overlay);
        Ok(gst::FlowSuccess::Ok)
    }
}
