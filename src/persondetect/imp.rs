// SPDX-License-Identifier: MPL-2.0

use super::detector::Detector;
use super::people::{self, Person};
use crate::meta::{add_person_meta, Region};
use crate::model::DeviceRequest;
use crate::MutexExt;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "persondetect",
        gst::DebugColorFlags::empty(),
        Some("Person detector"),
    )
});

const DEFAULT_INTERVAL_MS: u32 = 1000;
const DEFAULT_THRESHOLD: f64 = 0.35;
const DEFAULT_DETECT_WIDTH: u32 = 384;
/// Width of the luma thumbnails compared between detections: 4 source pixels of a 1280-wide
/// frame per thumbnail pixel, so that a person 30 pixels tall spans a few cells.
const THUMB_WIDTH: u32 = 320;
/// While no moving person is found, persondetect looks again this often (and then twice as
/// late after each look that finds nobody, up to `interval`).
const DEFAULT_SEARCH_INTERVAL_MS: u32 = 250;
/// Without timestamps, a detection every this many frames.
const FRAMES_WITHOUT_TIME: u64 = 30;

#[derive(Debug, Clone)]
struct Settings {
    model_location: Option<String>,
    interval_ms: u32,
    search_interval_ms: u32,
    threshold: f64,
    detect_width: u32,
    motion_zoom: bool,
    device: DeviceRequest,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model_location: None,
            interval_ms: DEFAULT_INTERVAL_MS,
            search_interval_ms: DEFAULT_SEARCH_INTERVAL_MS,
            threshold: DEFAULT_THRESHOLD,
            detect_width: DEFAULT_DETECT_WIDTH,
            motion_zoom: true,
            device: DeviceRequest::Auto,
        }
    }
}

/// What the stream carries between detections.
struct Stream {
    info: gst_video::VideoInfo,
    thumb_info: gst_video::VideoInfo,
    thumbnailer: gst_video::VideoConverter,
    /// The luma thumbnail motion is measured against: the frame of the last forward (or the
    /// first frame), kept while nothing moves, so that slow motion adds up over looks.
    previous: Option<Vec<u8>>,
    /// The wait before the next look (ns), and the forwards in a row that found no moving
    /// person (`people::next_wait`).
    wait: u64,
    empty_forwards: u32,
    last_detection: Option<u64>,
    frames_since: u64,
    /// Detections (or first thumbnails) since the start or the last flush.
    ticks: u64,
    people: Vec<Person>,
}

#[derive(Default)]
pub struct PersonDetect {
    settings: Mutex<Settings>,
    // Lock order: settings, then detector, then stream.
    detector: Mutex<Option<Detector>>,
    stream: Mutex<Option<Stream>>,
}

/// A frame's pixels as one packed buffer (rows without padding), `width` x `height`.
fn packed(
    frame: &gst_video::VideoFrame<gst_video::video_frame::Writable>,
    bytes_per_pixel: usize,
) -> Vec<u8> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).unwrap_or(&[]);
    let mut out = Vec::with_capacity(w * h * bytes_per_pixel);
    for y in 0..h {
        out.extend_from_slice(&data[y * stride..y * stride + w * bytes_per_pixel]);
    }
    out
}

/// `input` (or the `region` of it) converted to `format` at `width` x `height`.
fn convert(
    input: &gst_video::VideoFrameRef<&gst::BufferRef>,
    converter: Option<&gst_video::VideoConverter>,
    region: Region,
    format: gst_video::VideoFormat,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, String> {
    let out_info = gst_video::VideoInfo::builder(format, width, height)
        .fps(input.info().fps())
        .interlace_mode(input.info().interlace_mode())
        .build()
        .map_err(|e| format!("cannot describe {width}x{height} {format:?}: {e}"))?;
    let owned;
    let converter = match converter {
        Some(c) => c,
        None => {
            let mut config = gst_video::VideoConverterConfig::new();
            config.set_resampler_method(gst_video::VideoResamplerMethod::Linear);
            config.set_dither_method(gst_video::VideoDitherMethod::None);
            config.set_src_x(region.x as i32);
            config.set_src_y(region.y as i32);
            config.set_src_width(Some(region.width as i32));
            config.set_src_height(Some(region.height as i32));
            owned = gst_video::VideoConverter::new(input.info(), &out_info, Some(config))
                .map_err(|e| format!("cannot convert {:?} to {format:?}: {e}", input.format()))?;
            &owned
        }
    };
    let buffer = gst::Buffer::with_size(out_info.size()).map_err(|e| e.to_string())?;
    let mut out = gst_video::VideoFrame::from_buffer_writable(buffer, &out_info)
        .map_err(|_| "cannot map a frame".to_string())?;
    converter.frame_ref(input, &mut out.as_mut_video_frame_ref());
    Ok(packed(
        &out,
        if format == gst_video::VideoFormat::Rgb {
            3
        } else {
            1
        },
    ))
}

impl PersonDetect {
    /// Finds the people of this frame: where something moved since the reference frame, the
    /// detector on that part (or on the whole frame), and each box's motion. Returns whether
    /// the detector ran.
    fn detect(
        &self,
        frame: &gst_video::VideoFrameRef<&gst::BufferRef>,
        stream: &mut Stream,
        detector: &Detector,
        settings: &Settings,
    ) -> Result<bool, String> {
        let (tw, th) = (stream.thumb_info.width(), stream.thumb_info.height());
        let frame_size = (stream.info.width(), stream.info.height());
        let whole = Region::new(0, 0, frame_size.0, frame_size.1);
        let thumb = convert(
            frame,
            Some(&stream.thumbnailer),
            whole,
            gst_video::VideoFormat::Gray8,
            tw,
            th,
        )?;
        let mask = stream
            .previous
            .as_deref()
            .map(|p| people::changed(p, &thumb));
        let moving = mask
            .as_deref()
            .and_then(|m| people::moving_area(m, tw as usize, th as usize));
        if settings.motion_zoom && mask.is_none() {
            // The first frame: nothing to compare with yet.
            stream.previous = Some(thumb);
            return Ok(false);
        }
        if settings.motion_zoom && moving.is_none() {
            // Nothing moved: the same people stand where they stood; no forward needed. The
            // reference stays, so motion too slow for one look adds up over the next ones.
            for p in &mut stream.people {
                p.motion = 0.0;
            }
            return Ok(false);
        }
        stream.previous = Some(thumb);
        let region = if settings.motion_zoom {
            people::detection_region(moving, (tw, th), frame_size, settings.detect_width / 3)
        } else {
            whole
        };
        let (iw, ih) = people::input_size(region, settings.detect_width);
        let rgb = convert(frame, None, region, gst_video::VideoFormat::Rgb, iw, ih)?;
        let rows = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            detector.detect(&rgb, iw, ih)
        }))
        .map_err(|_| "the person model panicked".to_string())??;
        stream.people = people::decode(&rows, region, settings.threshold as f32)
            .into_iter()
            .map(|(region, confidence)| Person {
                region,
                confidence,
                motion: people::region_motion(mask.as_deref(), (tw, th), frame_size, region),
            })
            .collect();
        gst::trace!(
            CAT,
            imp = self,
            "{} people in {:?} (input {iw}x{ih})",
            stream.people.len(),
            region
        );
        Ok(true)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for PersonDetect {
    const NAME: &'static str = "GstPersonDetect";
    type Type = super::PersonDetect;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for PersonDetect {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("model-location")
                    .nick("Model location")
                    .blurb("Path of the person detector, a TorchScript file. Unset: the bundled people.pt, from $GST_VIOLENCE_PEOPLE_MODEL, else <prefix>/share/gst-violence/models of an installed plugin, else the models/ folder of the source tree it was built from")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Interval")
                    .blurb("Milliseconds of running time between detections; the boxes found ride on every frame until the next (0: every frame)")
                    .maximum(60_000)
                    .default_value(DEFAULT_INTERVAL_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("search-interval")
                    .nick("Search interval")
                    .blurb("Milliseconds of running time between looks while no moving person is found: a look where nothing moved costs only a thumbnail; after each detection that finds nobody the wait doubles, up to interval")
                    .maximum(60_000)
                    .default_value(DEFAULT_SEARCH_INTERVAL_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("threshold")
                    .nick("Threshold")
                    .blurb("Smallest person score (0..1, the detector's person-centre score) kept as a person")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("detect-width")
                    .nick("Detection width")
                    .blurb("Width in pixels of the detector's input (rounded to a multiple of 32; the height follows the region's aspect): larger finds smaller people, at a higher cost")
                    .minimum(64)
                    .maximum(2048)
                    .default_value(DEFAULT_DETECT_WIDTH)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("motion-zoom")
                    .nick("Motion zoom")
                    .blurb("Look only where something moved since the last detection, up to 3x closer than the whole frame (finds small moving people; no forward when nothing moved); false: the whole frame every time")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("device")
                    .nick("Device")
                    .blurb("Where the detector runs: auto (CUDA if libtorch sees a GPU, else CPU), cpu, cuda or cuda:N")
                    .default_value(Some("auto"))
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.locked();
        match pspec.name() {
            "model-location" => s.model_location = value.get().unwrap(),
            "interval" => s.interval_ms = value.get().unwrap(),
            "search-interval" => s.search_interval_ms = value.get().unwrap(),
            "threshold" => s.threshold = value.get().unwrap(),
            "detect-width" => s.detect_width = value.get().unwrap(),
            "motion-zoom" => s.motion_zoom = value.get().unwrap(),
            "device" => {
                let text = value.get::<Option<String>>().unwrap().unwrap_or_default();
                match text.parse() {
                    Ok(d) => s.device = d,
                    Err(e) => gst::warning!(CAT, imp = self, "{e}; device stays {}", s.device),
                }
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.locked();
        match pspec.name() {
            "model-location" => s.model_location.to_value(),
            "interval" => s.interval_ms.to_value(),
            "search-interval" => s.search_interval_ms.to_value(),
            "threshold" => s.threshold.to_value(),
            "detect-width" => s.detect_width.to_value(),
            "motion-zoom" => s.motion_zoom.to_value(),
            "device" => s.device.to_string().to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for PersonDetect {}

impl ElementImpl for PersonDetect {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "Person detector",
                "Filter/Analyzer/Video",
                "Finds people with a TorchScript person detector (MoveNet MultiPose's person \
                 heads) at a low rate, where something moved, and attaches them to every frame as \
                 GstVideoRegionOfInterestMeta 'person' (detection params: confidence, motion)",
                "gst-violence developers",
                &[("example-launch", super::EXAMPLE_LAUNCH)],
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list(crate::clipbuffer::FORMATS.iter().copied())
                .build();
            crate::src_sink_templates(&caps)
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for PersonDetect {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.locked().clone();
        let location = match settings.model_location {
            Some(location) => location,
            None => crate::model::locate::locate(crate::model::locate::PEOPLE_MODEL)
                .map_err(|e| gst::error_msg!(gst::ResourceError::NotFound, ["{}", e]))?
                .display()
                .to_string(),
        };
        let detector = Detector::load(&PathBuf::from(&location), settings.device)
            .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ["{}", e]))?;
        gst::info!(CAT, imp = self, "person model {location} loaded");
        *self.detector.locked() = Some(detector);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.detector.locked() = None;
        *self.stream.locked() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "cannot parse caps {incaps}"))?;
        let thumb_w = THUMB_WIDTH.min(info.width()).max(1);
        let thumb_h =
            ((info.height() as u64 * thumb_w as u64) / info.width().max(1) as u64).max(1) as u32;
        let thumb_info =
            gst_video::VideoInfo::builder(gst_video::VideoFormat::Gray8, thumb_w, thumb_h)
                .fps(info.fps())
                .interlace_mode(info.interlace_mode())
                .build()
                .map_err(|e| gst::loggable_error!(CAT, "thumbnail: {e}"))?;
        let mut config = gst_video::VideoConverterConfig::new();
        config.set_resampler_method(gst_video::VideoResamplerMethod::Linear);
        config.set_dither_method(gst_video::VideoDitherMethod::None);
        let thumbnailer = gst_video::VideoConverter::new(&info, &thumb_info, Some(config))
            .map_err(|e| {
                gst::loggable_error!(
                    CAT,
                    "cannot make luma thumbnails of {:?}: {e}",
                    info.format()
                )
            })?;
        *self.stream.locked() = Some(Stream {
            info,
            thumb_info,
            thumbnailer,
            previous: None,
            last_detection: None,
            wait: 0,
            empty_forwards: 0,
            frames_since: 0,
            ticks: 0,
            people: Vec::new(),
        });
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view() {
            if let Some(stream) = self.stream.locked().as_mut() {
                stream.previous = None;
                stream.last_detection = None;
                stream.ticks = 0;
                stream.wait = 0;
                stream.empty_forwards = 0;
                stream.people.clear();
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.locked().clone();
        let detector = self.detector.locked();
        let mut guard = self.stream.locked();
        let (Some(detector), Some(stream)) = (detector.as_ref(), guard.as_mut()) else {
            return Err(gst::FlowError::NotNegotiated);
        };
        let running_time = buf
            .pts()
            .and_then(|p| crate::running_time_ns(&self.obj().segment(), p));
        stream.frames_since += 1;
        let mut wait = stream.wait;
        let mut frames = FRAMES_WITHOUT_TIME;
        if stream.ticks == 1 && settings.motion_zoom {
            // The first frame's thumbnail is kept, not detected on: the first detection
            // comes on the next frame, with motion to go by (and early in a short clip).
            wait = 0;
            frames = 1;
        }
        let due = match running_time {
            Some(now) => people::due(stream.last_detection, now, wait),
            None => stream.last_detection.is_none() || stream.frames_since >= frames,
        };
        if due {
            let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &stream.info)
                .map_err(|_| {
                    gst::element_imp_error!(self, gst::StreamError::Format, ["cannot map a frame"]);
                    gst::FlowError::Error
                })?;
            let ran = match self.detect(&frame, stream, detector, &settings) {
                Ok(ran) => ran,
                Err(e) => {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Failed,
                        ["person detection failed: {}", e]
                    );
                    return Err(gst::FlowError::Error);
                }
            };
            let interval = settings.interval_ms as u64 * 1_000_000;
            let search = settings.search_interval_ms as u64 * 1_000_000;
            let look = people::look_of(ran, &stream.people);
            (stream.wait, stream.empty_forwards) =
                people::next_wait(look, stream.empty_forwards, search, interval);
            gst::trace!(
                CAT,
                imp = self,
                "look at {:?}: {look:?}, next in {} ms",
                running_time.map(gst::ClockTime::from_nseconds),
                stream.wait / 1_000_000
            );
            stream.last_detection = Some(running_time.unwrap_or(0));
            stream.frames_since = 0;
            stream.ticks += 1;
        }
        for p in &stream.people {
            add_person_meta(buf, p.region, p.confidence as f64, p.motion as f64);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
