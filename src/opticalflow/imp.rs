// SPDX-License-Identifier: MPL-2.0

use super::motion::{self, MotionChange, MotionTracker};
use super::{downscale_luma, FlowPreset, FlowSolver};
use crate::meta::{add_region_meta, FlowInfo, FlowMeta, Region, ROI_MOTION};
use crate::MutexExt;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::VideoFormat as F;
use std::sync::{Arc, LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "opticalflow",
        gst::DebugColorFlags::empty(),
        Some("Dense optical flow"),
    )
});

const DEFAULT_WORKING_WIDTH: u32 = 320;
const DEFAULT_MOTION_THRESHOLD: f64 = 1.0;
const DEFAULT_MOTION_FRACTION: f64 = 0.01;
/// Flow buffers kept for reuse once every consumer has dropped them.
const POOL_SIZE: usize = 8;

/// Formats whose first plane is 8-bit luma.
const LUMA_FORMATS: &[F] = &[
    F::I420,
    F::Yv12,
    F::Nv12,
    F::Nv21,
    F::Y42b,
    F::Y444,
    F::Gray8,
];
/// Packed RGB formats and the byte offsets of R, G, B.
const RGB_FORMATS: &[(F, [usize; 3])] = &[
    (F::Rgb, [0, 1, 2]),
    (F::Bgr, [2, 1, 0]),
    (F::Rgbx, [0, 1, 2]),
    (F::Rgba, [0, 1, 2]),
    (F::Bgrx, [2, 1, 0]),
    (F::Bgra, [2, 1, 0]),
    (F::Xrgb, [1, 2, 3]),
    (F::Argb, [1, 2, 3]),
    (F::Xbgr, [3, 2, 1]),
    (F::Abgr, [3, 2, 1]),
];

#[derive(Debug, Clone)]
struct Settings {
    preset: FlowPreset,
    working_width: u32,
    threads: u32,
    motion_threshold: f64,
    motion_fraction: f64,
    visualize: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            preset: FlowPreset::Fast,
            working_width: DEFAULT_WORKING_WIDTH,
            threads: 1,
            motion_threshold: DEFAULT_MOTION_THRESHOLD,
            motion_fraction: DEFAULT_MOTION_FRACTION,
            visualize: false,
        }
    }
}

struct State {
    info: gst_video::VideoInfo,
    rgb_offsets: Option<[usize; 3]>,
    working: (usize, usize),
    solver: FlowSolver,
    full_luma: Vec<u8>,
    previous: Vec<u8>,
    current: Vec<u8>,
    has_previous: bool,
    pool: Vec<Arc<[f32]>>,
    tracker: MotionTracker,
}

impl State {
    /// A flow buffer that no FlowMeta holds any more (taken out of the pool, so it is
    /// unshared), or a new one.
    fn take_buffer(&mut self) -> Arc<[f32]> {
        match self
            .pool
            .iter()
            .position(|a| Arc::strong_count(a) == 1 && Arc::weak_count(a) == 0)
        {
            Some(i) => self.pool.swap_remove(i),
            None => vec![0f32; 2 * self.working.0 * self.working.1].into(),
        }
    }

    /// Keeps a handle on a buffer handed out in a FlowMeta, to reuse once it is dropped.
    fn recycle(&mut self, buffer: &Arc<[f32]>) {
        if self.pool.len() < POOL_SIZE {
            self.pool.push(buffer.clone());
        }
    }
}

#[derive(Default)]
pub struct OpticalFlow {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

fn working_size(width: u32, height: u32, working_width: u32) -> (usize, usize) {
    if working_width == 0 || working_width >= width {
        return (width as usize, height as usize);
    }
    let h = ((height as u64 * working_width as u64 + width as u64 / 2) / width as u64).max(8);
    (working_width.max(8) as usize, h as usize)
}

impl OpticalFlow {
    fn post_motion(
        &self,
        change: MotionChange,
        pts: Option<gst::ClockTime>,
        mean: f32,
        fraction: f32,
    ) {
        let name = match change {
            MotionChange::Start => "motion-start",
            MotionChange::Stop => "motion-stop",
        };
        let obj = self.obj();
        let running_time = pts.and_then(|p| crate::running_time_ns(&obj.segment(), p));
        let s = gst::Structure::builder(name)
            .field("pts", pts.map_or(0, gst::ClockTime::nseconds))
            .field("running-time", running_time.unwrap_or(0))
            .field("mean-magnitude", mean as f64)
            .field("moving-fraction", fraction as f64)
            .build();
        let _ = obj.post_message(gst::message::Element::builder(s).src(&*obj).build());
    }

    fn reset(&self, why: &str) {
        let change = self.state.locked().as_mut().and_then(|s| {
            s.has_previous = false;
            s.tracker.reset()
        });
        gst::debug!(CAT, imp = self, "flow restarts: {why}");
        if let Some(c) = change {
            self.post_motion(c, None, 0.0, 0.0);
        }
    }
}

/// Draws the colour-coded flow over the frame (nearest working pixel per frame pixel).
fn visualize(
    frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    rgb_offsets: Option<[usize; 3]>,
    u: &[f32],
    v: &[f32],
    working: (usize, usize),
) {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let (ww, wh) = working;
    let max = u
        .iter()
        .zip(v)
        .map(|(a, b)| a * a + b * b)
        .fold(1.0f32, f32::max)
        .sqrt();
    let colour_at = |x: usize, y: usize| {
        let i = (y * wh / h) * ww + x * ww / w;
        motion::flow_colour(u[i], v[i], max)
    };
    let pixel_stride = frame.format_info().pixel_stride()[0] as usize;
    let stride = frame.plane_stride()[0] as usize;
    let format = frame.format();
    match rgb_offsets {
        Some(offsets) => {
            let data = frame.plane_data_mut(0).unwrap();
            for y in 0..h {
                for x in 0..w {
                    let c = colour_at(x, y);
                    let px = &mut data[y * stride + x * pixel_stride..];
                    for k in 0..3 {
                        px[offsets[k]] = c[k];
                    }
                }
            }
        }
        None => {
            // Luma shows the colour's brightness; chroma of I420/NV12 gets its hue.
            let yuv = |c: [u8; 3]| {
                let (r, g, b) = (c[0] as f32, c[1] as f32, c[2] as f32);
                let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
                let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
                let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
                [y as u8, u as u8, v as u8]
            };
            {
                let data = frame.plane_data_mut(0).unwrap();
                for y in 0..h {
                    for x in 0..w {
                        data[y * stride + x] = yuv(colour_at(x, y))[0];
                    }
                }
            }
            let chroma_planes: &[(u32, usize, usize)] = match format {
                F::I420 => &[(1, 1, 1), (2, 2, 1)],
                F::Yv12 => &[(2, 1, 1), (1, 2, 1)],
                F::Nv12 => &[(1, 1, 2), (1, 2, 2)],
                F::Nv21 => &[(1, 2, 2), (1, 1, 2)],
                _ => &[],
            };
            // (plane, which component: 1 = U 2 = V, bytes per chroma pixel) at 2x2 subsampling.
            for &(plane, component, step) in chroma_planes {
                let cstride = frame.plane_stride()[plane as usize] as usize;
                let offset = if step == 2 && component == 2 && matches!(format, F::Nv12)
                    || step == 2 && component == 1 && matches!(format, F::Nv21)
                {
                    1
                } else {
                    0
                };
                let data = frame.plane_data_mut(plane).unwrap();
                for cy in 0..h.div_ceil(2) {
                    for cx in 0..w.div_ceil(2) {
                        data[cy * cstride + cx * step + offset] =
                            yuv(colour_at((2 * cx).min(w - 1), (2 * cy).min(h - 1)))[component];
                    }
                }
            }
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for OpticalFlow {
    const NAME: &'static str = "GstOpticalFlow";
    type Type = super::OpticalFlow;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for OpticalFlow {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecEnum::builder_with_default("preset", FlowPreset::Fast)
                    .nick("Preset")
                    .blurb("Solver preset: speed against accuracy")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("working-width")
                    .nick("Working width")
                    .blurb("Width in pixels at which flow is computed, aspect kept; 0 or at least the frame width: full resolution")
                    .maximum(8192)
                    .default_value(DEFAULT_WORKING_WIDTH)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("Threads of the solver (a pool started with the solver; no allocation per frame with any count)")
                    .minimum(1)
                    .maximum(64)
                    .default_value(1)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("motion-threshold")
                    .nick("Motion threshold")
                    .blurb("Flow magnitude, in working-resolution pixels per frame, above which a pixel counts as moving")
                    .minimum(0.0)
                    .maximum(1000.0)
                    .default_value(DEFAULT_MOTION_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("motion-fraction")
                    .nick("Motion fraction")
                    .blurb("Fraction of moving pixels (0..1) that starts motion (motion-start message after 2 frames; motion-stop after 10 frames below half of it)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MOTION_FRACTION)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("visualize")
                    .nick("Visualize")
                    .blurb("Draw the colour-coded flow into the frame (hue: direction, saturation: speed)")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.locked();
        match pspec.name() {
            "preset" => s.preset = value.get().unwrap(),
            "working-width" => s.working_width = value.get().unwrap(),
            "threads" => s.threads = value.get().unwrap(),
            "motion-threshold" => s.motion_threshold = value.get().unwrap(),
            "motion-fraction" => s.motion_fraction = value.get().unwrap(),
            "visualize" => s.visualize = value.get().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.locked();
        match pspec.name() {
            "preset" => s.preset.to_value(),
            "working-width" => s.working_width.to_value(),
            "threads" => s.threads.to_value(),
            "motion-threshold" => s.motion_threshold.to_value(),
            "motion-fraction" => s.motion_fraction.to_value(),
            "visualize" => s.visualize.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for OpticalFlow {}

impl ElementImpl for OpticalFlow {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "Dense optical flow",
                "Filter/Analyzer/Video",
                "Computes dense optical flow on luma from the previous frame to the current one \
                 at a working resolution; attaches FlowMeta, motion statistics and a motion region, \
                 posts motion-start/motion-stop",
                "gst-violence developers",
                &[("example-launch", super::EXAMPLE_LAUNCH)],
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let formats = LUMA_FORMATS
                .iter()
                .copied()
                .chain(RGB_FORMATS.iter().map(|(f, _)| *f));
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list(formats)
                .build();
            crate::src_sink_templates(&caps)
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for OpticalFlow {
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
        let s = self.settings.locked().clone();
        let rgb_offsets = RGB_FORMATS
            .iter()
            .find(|(f, _)| *f == info.format())
            .map(|(_, o)| *o);
        let working = working_size(info.width(), info.height(), s.working_width);
        gst::info!(
            CAT,
            imp = self,
            "flow at {}x{} ({:?}) from {}x{} {:?}",
            working.0,
            working.1,
            s.preset,
            info.width(),
            info.height(),
            info.format()
        );
        let full = if rgb_offsets.is_some() {
            (info.width() * info.height()) as usize
        } else {
            0
        };
        // A caps change restarts the flow: the first frame after it has none.
        let change = self
            .state
            .locked()
            .take()
            .and_then(|mut old| old.tracker.reset());
        *self.state.locked() = Some(State {
            solver: FlowSolver::new(working.0, working.1, s.preset.into(), s.threads as usize),
            full_luma: vec![0; full],
            previous: vec![0; working.0 * working.1],
            current: vec![0; working.0 * working.1],
            has_previous: false,
            pool: Vec::with_capacity(POOL_SIZE),
            tracker: MotionTracker::default(),
            info,
            rgb_offsets,
            working,
        });
        if let Some(c) = change {
            self.post_motion(c, None, 0.0, 0.0);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view() {
            self.reset("flush");
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.locked().clone();
        let mut guard = self.state.locked();
        let Some(state) = guard.as_mut() else {
            return Err(gst::FlowError::NotNegotiated);
        };
        {
            let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &state.info)
                .map_err(|_| {
                    gst::element_imp_error!(self, gst::StreamError::Format, ["cannot map a frame"]);
                    gst::FlowError::Error
                })?;
            let (w, h) = (state.info.width() as usize, state.info.height() as usize);
            let stride = frame.plane_stride()[0] as usize;
            let plane = frame.plane_data(0).map_err(|_| gst::FlowError::Error)?;
            let (luma, luma_stride): (&[u8], usize) = match state.rgb_offsets {
                Some(offsets) => {
                    let ps = frame.format_info().pixel_stride()[0] as usize;
                    motion::luma_from_packed(
                        plane,
                        w,
                        h,
                        stride,
                        ps,
                        offsets,
                        &mut state.full_luma,
                    );
                    (&state.full_luma, w)
                }
                None => (plane, stride),
            };
            let (ww, wh) = state.working;
            downscale_luma(luma, w, h, luma_stride, &mut state.current, ww, wh);
        }
        let pts = buf.pts();
        let flow = if state.has_previous {
            let mut uv = state.take_buffer();
            let (ww, wh) = state.working;
            {
                let data = Arc::get_mut(&mut uv).expect("pool buffers are unshared when taken");
                let (u, v) = data.split_at_mut(ww * wh);
                state
                    .solver
                    .compute(&state.previous, ww, &state.current, ww, u, v);
            }
            state.recycle(&uv);
            let (u, v) = uv.split_at(ww * wh);
            let threshold = settings.motion_threshold as f32;
            let (mean, fraction) = motion::statistics(u, v, threshold);
            let region = motion::motion_region(u, v, ww, wh, threshold).filter(|_| fraction > 0.0);
            Some((uv, mean, fraction, region))
        } else {
            None
        };
        std::mem::swap(&mut state.previous, &mut state.current);
        state.has_previous = true;
        let (ww, wh) = state.working;
        let (fw, fh) = (state.info.width(), state.info.height());
        let change = flow.as_ref().and_then(|(_, _, fraction, _)| {
            state
                .tracker
                .update(*fraction, settings.motion_fraction as f32)
        });
        match &flow {
            Some((uv, mean, fraction, region)) => {
                FlowMeta::add(
                    buf,
                    FlowInfo {
                        width: ww as u32,
                        height: wh as u32,
                        uv: uv.clone(),
                        valid: true,
                        mean_magnitude: *mean,
                        moving_fraction: *fraction,
                    },
                );
                if let Some(r) = region {
                    let to_source = |v: u32, from: usize, to: u32| {
                        ((v as u64 * to as u64) / from as u64) as u32
                    };
                    let region = Region {
                        x: to_source(r.x, ww, fw),
                        y: to_source(r.y, wh, fh),
                        width: to_source(r.width, ww, fw).max(1),
                        height: to_source(r.height, wh, fh).max(1),
                    };
                    add_region_meta(buf, ROI_MOTION, region, (*fraction as f64).min(1.0));
                }
                if settings.visualize {
                    let (u, v) = uv.split_at(ww * wh);
                    let mut frame =
                        gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &state.info)
                            .map_err(|_| gst::FlowError::Error)?;
                    visualize(&mut frame, state.rgb_offsets, u, v, state.working);
                }
            }
            None => FlowMeta::add(
                buf,
                FlowInfo {
                    width: ww as u32,
                    height: wh as u32,
                    uv: Arc::from(Vec::new()),
                    valid: false,
                    mean_magnitude: 0.0,
                    moving_fraction: 0.0,
                },
            ),
        }
        drop(guard);
        if let (Some(change), Some((_, mean, fraction, _))) = (change, &flow) {
            self.post_motion(change, pts, *mean, *fraction);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn working_size_keeps_aspect() {
        assert_eq!(super::working_size(1280, 720, 320), (320, 180));
        assert_eq!(super::working_size(640, 480, 0), (640, 480));
        assert_eq!(super::working_size(200, 100, 320), (200, 100));
    }
}
