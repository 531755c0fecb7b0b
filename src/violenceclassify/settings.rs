// SPDX-License-Identifier: MPL-2.0

//! The properties of `violenceclassify` and the settings they hold.

use super::{CalibrationMode, Mode, ModelErrorPolicy};
use crate::clipshape::{Owner, ShapeFacts};
use crate::model::contract::{Colour, Overrides};
use crate::model::DeviceRequest;
use gst::glib;
use gst::prelude::*;

const DEFAULT_MIN_CONSECUTIVE: u32 = 2;
const DEFAULT_HOLD_TIME: u64 = 2_000_000_000;
const DEFAULT_STALL_TIMEOUT: u64 = 5_000_000_000;
const DEFAULT_MAX_PENDING: u32 = 4;
const DEFAULT_BATCH_SIZE: u32 = 8;
const DEFAULT_BATCH_TIMEOUT: u64 = 0;
/// Half the operator's alert budget of about a second from a clip's last frame to its decision
/// (make bench-budget).
const DEFAULT_SCREEN_AFTER: u64 = 500_000_000;
const DEFAULT_INFERENCE_WORKERS: u32 = 1;
const DEFAULT_STATS_INTERVAL: u64 = 1_000_000_000;

#[derive(Debug, Clone)]
pub struct Settings {
    pub model_location: Option<String>,
    pub device: DeviceRequest,
    pub fp16: bool,
    pub threshold: Option<f32>,
    pub release_threshold: Option<f32>,
    pub min_consecutive: u32,
    pub scene_cut_guard: bool,
    pub hold_time: u64,
    pub stall_timeout: u64,
    pub mode: Mode,
    pub emit_scores: bool,
    pub max_pending: u32,
    pub batch_size: u32,
    pub batch_timeout: u64,
    pub screen_after: u64,
    pub inference_workers: u32,
    pub stats_interval: u64,
    pub on_model_error: ModelErrorPolicy,
    pub calibration_location: Option<String>,
    pub calibration_mode: CalibrationMode,
    pub overrides: Overrides,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model_location: None,
            device: DeviceRequest::Auto,
            fp16: false,
            threshold: None,
            release_threshold: None,
            min_consecutive: DEFAULT_MIN_CONSECUTIVE,
            scene_cut_guard: true,
            hold_time: DEFAULT_HOLD_TIME,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            mode: Mode::Auto,
            emit_scores: false,
            max_pending: DEFAULT_MAX_PENDING,
            batch_size: DEFAULT_BATCH_SIZE,
            batch_timeout: DEFAULT_BATCH_TIMEOUT,
            screen_after: DEFAULT_SCREEN_AFTER,
            inference_workers: DEFAULT_INFERENCE_WORKERS,
            stats_interval: DEFAULT_STATS_INTERVAL,
            on_model_error: ModelErrorPolicy::Error,
            calibration_location: None,
            calibration_mode: CalibrationMode::Apply,
            overrides: Overrides::default(),
        }
    }
}

impl Settings {
    /// Every property of the element, the read-only statistics included.
    pub fn properties() -> Vec<glib::ParamSpec> {
        let mut specs = vec![
                glib::ParamSpecString::builder("model-location")
                    .nick("Model location")
                    .blurb("Path of the TorchScript model file (with a metadata() method per the model contract). Unset: the bundled default.pt, from $GST_VIOLENCE_MODEL, else <prefix>/share/gst-violence/models of an installed plugin, else the models/ folder of the source tree it was built from")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("device")
                    .nick("Device")
                    .blurb("Where the model runs: auto (CUDA if libtorch sees a GPU, else CPU), cpu, cuda or cuda:N")
                    .default_value(Some("auto"))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("fp16")
                    .nick("Half precision")
                    .blurb("Run the model in float16 (CUDA only; ignored with a warning on the CPU)")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("threshold")
                    .nick("Threshold")
                    .blurb("θ_on: p(violent) at or above it counts towards a start. -1: the model's threshold (0.5 when it has none)")
                    .minimum(-1.0)
                    .maximum(1.0)
                    .default_value(-1.0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("release-threshold")
                    .nick("Release threshold")
                    .blurb("θ_off ≤ θ_on: p(violent) below it releases an event (hysteresis). -1: equal to threshold")
                    .minimum(-1.0)
                    .maximum(1.0)
                    .default_value(-1.0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("min-consecutive")
                    .nick("Minimum consecutive clips")
                    .blurb("Consecutive scored clips at or above threshold needed to start an event (dropped clips neither count nor break the run)")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_MIN_CONSECUTIVE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("scene-cut-guard")
                    .nick("Scene cut guard")
                    .blurb("A clip whose frames span a scene cut (one isolated jump of the whole picture: edited video, a camera switching to night mode or to a preset) is scored but cannot start an event. Turn off for footage that cuts faster than a clip lasts (movie fights)")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("hold-time")
                    .nick("Hold time")
                    .blurb("Nanoseconds of running time that p(violent) must stay below release-threshold before the event ends")
                    .minimum(0)
                    .maximum(u64::MAX / 2)
                    .default_value(DEFAULT_HOLD_TIME)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("stall-timeout")
                    .nick("Stall timeout")
                    .blurb("Nanoseconds (wall clock, in PLAYING) without frames after which the source counts as stalled: a warning and a violence-stalled message (violence-resumed when frames come again), and an event in progress ends; 0 disables")
                    .minimum(0)
                    .maximum(u64::MAX / 2)
                    .default_value(DEFAULT_STALL_TIMEOUT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("mode", Mode::Auto)
                    .nick("Mode")
                    .blurb("Whether the stream waits for each clip's score (sync) or never blocks (async)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("emit-scores")
                    .nick("Emit scores")
                    .blurb("Post a violence-score message and event for every scored clip")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-pending")
                    .nick("Maximum pending clips")
                    .blurb("Async mode: clips of this stream waiting for the model (4 span about 1 s at 30 fps with clipbuffer's default stride); a clip beyond it is dropped and counted. A screened result that came back before an earlier clip's (screen-after) waits for it, to be decided in order, and does not count")
                    .minimum(1)
                    .maximum(64)
                    .default_value(DEFAULT_MAX_PENDING)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb("Most clips forwarded together, one per stream of those sharing the model's inference worker (a stream's next window waits for the next forward, where the model's memo has its frames), when this stream's clip is the oldest queued")
                    .minimum(1)
                    .maximum(256)
                    .default_value(DEFAULT_BATCH_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("batch-timeout")
                    .nick("Batch timeout")
                    .blurb("Nanoseconds this stream's oldest queued clip may wait for others to fill a batch; 0 forwards what is queued at once")
                    .maximum(10_000_000_000)
                    .default_value(DEFAULT_BATCH_TIMEOUT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("screen-after")
                    .nick("Screen after")
                    .blurb("Async mode: nanoseconds from a clip's arrival at the inference worker by which it should be scored. A clip that a full forward would score later (its wait plus the worker's recent forward time, counted up to half of this) is scored by the model's cheaper screen instead (metadata screen; the default cascade's cheap stage deciding alone at its own threshold), and so are the following clips of its stream for at least 2 s, until the worker keeps up again, so that a box that falls behind still scores every camera's clips rather than dropping them. A stream in an event, or whose last score reached the threshold, gets its full forward before the other screened streams; a stream new to a busy worker starts screened. Counted in clips-screened. 0 never screens; models without a screen ignore it")
                    .maximum(10_000_000_000)
                    .default_value(DEFAULT_SCREEN_AFTER)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("inference-workers")
                    .nick("Inference workers")
                    .blurb("Inference threads for this model, device and precision, each with its own copy of the model; a stream keeps its worker (the model's memo of its frames lives there) unless that worker falls behind the others. Elements share workers only when they also agree on this number")
                    .minimum(1)
                    .maximum(64)
                    .default_value(DEFAULT_INFERENCE_WORKERS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("stats-interval")
                    .nick("Statistics interval")
                    .blurb("Nanoseconds of running time between two violence-stats messages (queue length, drops, latency); 0 disables them")
                    .maximum(u64::MAX / 2)
                    .default_value(DEFAULT_STATS_INTERVAL)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("on-model-error", ModelErrorPolicy::Error)
                    .nick("On model error")
                    .blurb("What a failed forward (exception, NaN or infinite outputs) does: an element error, or skip the clip with a warning")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("calibration-location")
                    .nick("Calibration location")
                    .blurb("Per-camera calibration file (JSON, tied to the model file). calibration-mode=apply: windows whose motion resembles this camera's calibrated normal windows must score above them to count; learn modes: this stream's windows are added to it at stop (created if missing). Unset: no calibration")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("calibration-mode", CalibrationMode::Apply)
                    .nick("Calibration mode")
                    .blurb("Whether calibration-location is applied to the decisions or learned from this stream (as normal footage, or as a recorded false alarm)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("clips-failed")
                    .nick("Clips failed")
                    .blurb("Clips whose forward failed and were skipped (on-model-error=skip) (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt::builder("queue-length")
                    .nick("Queue length")
                    .blurb("Clips of this stream waiting for the model (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("latency")
                    .nick("Detection latency")
                    .blurb("Nanoseconds of running time from the first frame of the last scored clip to the frame its score was applied on (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("max-latency")
                    .nick("Maximum detection latency")
                    .blurb("Largest detection latency so far, in nanoseconds (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("mean")
                    .nick("Mean")
                    .blurb("Overrides the per-channel mean on the 0..1 scale, 'r,g,b' or one value. Unset: from metadata(), else 0.45")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("std")
                    .nick("Standard deviation")
                    .blurb("Overrides the per-channel std on the 0..1 scale, 'r,g,b' or one value. Unset: from metadata(), else 0.225")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("colour")
                    .nick("Colour order")
                    .blurb("Overrides the model's channel order: rgb or bgr. Unset: from metadata(), else rgb")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("clips-scored")
                    .nick("Clips scored")
                    .blurb("Clips the model has scored for this element since it started (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("clips-dropped")
                    .nick("Clips dropped")
                    .blurb("Clips dropped in async mode because max-pending clips were waiting (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("clips-screened")
                    .nick("Clips screened")
                    .blurb("Clips of clips-scored that were scored by the model's screen because the inference worker was behind (screen-after) (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("frames-encoded")
                    .nick("Frames encoded")
                    .blurb("Sampled frames encoded once by a model with a frame encoder (metadata frame_encoder), however many clips share them; 0 for other models (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("device-used")
                    .nick("Device used")
                    .blurb("The device the model runs on once started, e.g. cpu or cuda:0 (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("clip-shape")
                    .nick("Clip shape in use")
                    .blurb("The clip shape decided once the model is loaded, as answered to clipbuffer: clip-length, frame-step, width, height, inputs, hard-attention; NULL before (read-only)")
                    .read_only()
                    .build(),
        ];
        specs.extend(ShapeFacts::properties(Owner::ViolenceClassify));
        specs
    }

    /// Sets a writable property. An invalid value is an error and the old one stays.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> Result<(), String> {
        if self.overrides.shape.set_property(name, value)? {
            return Ok(());
        }
        let opt_f32 = |v: &glib::Value| Some(v.get::<f64>().unwrap() as f32).filter(|v| *v >= 0.0);
        let text = || {
            value
                .get::<Option<String>>()
                .unwrap()
                .filter(|t| !t.trim().is_empty())
        };
        let s = self;
        match name {
            "model-location" => s.model_location = text(),
            "device" => s.device = text().as_deref().unwrap_or("auto").parse()?,
            "fp16" => s.fp16 = value.get().unwrap(),
            "threshold" => s.threshold = opt_f32(value),
            "release-threshold" => s.release_threshold = opt_f32(value),
            "min-consecutive" => s.min_consecutive = value.get().unwrap(),
            "scene-cut-guard" => s.scene_cut_guard = value.get().unwrap(),
            "hold-time" => s.hold_time = value.get().unwrap(),
            "stall-timeout" => s.stall_timeout = value.get().unwrap(),
            "mode" => s.mode = value.get().unwrap(),
            "emit-scores" => s.emit_scores = value.get().unwrap(),
            "max-pending" => s.max_pending = value.get().unwrap(),
            "batch-size" => s.batch_size = value.get().unwrap(),
            "batch-timeout" => s.batch_timeout = value.get().unwrap(),
            "screen-after" => s.screen_after = value.get().unwrap(),
            "inference-workers" => s.inference_workers = value.get().unwrap(),
            "stats-interval" => s.stats_interval = value.get().unwrap(),
            "on-model-error" => s.on_model_error = value.get().unwrap(),
            "calibration-location" => s.calibration_location = text(),
            "calibration-mode" => s.calibration_mode = value.get().unwrap(),
            "mean" => s.overrides.mean = text().map(|t| parse_triple(&t)).transpose()?,
            "std" => s.overrides.std = text().map(|t| parse_triple(&t)).transpose()?,
            "colour" => {
                s.overrides.colour = match text().as_deref() {
                    None => None,
                    Some("rgb") => Some(Colour::Rgb),
                    Some("bgr") => Some(Colour::Bgr),
                    Some(other) => return Err(format!("'{other}' is not rgb or bgr")),
                }
            }
            other => unreachable!("unknown property {other}"),
        }
        Ok(())
    }

    /// The value of a setting; `None` for the read-only properties, which only the running
    /// element knows.
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        if let Some(value) = self.overrides.shape.property(name) {
            return Some(value);
        }
        let s = self;
        let value = match name {
            "model-location" => s.model_location.to_value(),
            "device" => s.device.to_string().to_value(),
            "fp16" => s.fp16.to_value(),
            "threshold" => s.threshold.map_or(-1.0, f64::from).to_value(),
            "release-threshold" => s.release_threshold.map_or(-1.0, f64::from).to_value(),
            "min-consecutive" => s.min_consecutive.to_value(),
            "scene-cut-guard" => s.scene_cut_guard.to_value(),
            "hold-time" => s.hold_time.to_value(),
            "stall-timeout" => s.stall_timeout.to_value(),
            "mode" => s.mode.to_value(),
            "emit-scores" => s.emit_scores.to_value(),
            "max-pending" => s.max_pending.to_value(),
            "batch-size" => s.batch_size.to_value(),
            "batch-timeout" => s.batch_timeout.to_value(),
            "screen-after" => s.screen_after.to_value(),
            "inference-workers" => s.inference_workers.to_value(),
            "stats-interval" => s.stats_interval.to_value(),
            "on-model-error" => s.on_model_error.to_value(),
            "calibration-location" => s.calibration_location.to_value(),
            "calibration-mode" => s.calibration_mode.to_value(),
            "mean" => triple_to_string(s.overrides.mean).to_value(),
            "std" => triple_to_string(s.overrides.std).to_value(),
            "colour" => s
                .overrides
                .colour
                .map(|c| match c {
                    Colour::Rgb => "rgb",
                    Colour::Bgr => "bgr",
                })
                .to_value(),
            _ => return None,
        };
        Some(value)
    }
}

fn parse_triple(s: &str) -> Result<[f32; 3], String> {
    let values: Vec<f32> = crate::parse_numbers(s, "a number")?;
    match values.as_slice() {
        [v] => Ok([*v; 3]),
        [a, b, c] => Ok([*a, *b, *c]),
        _ => Err(format!("'{s}' needs 1 or 3 comma-separated numbers")),
    }
}

fn triple_to_string(v: Option<[f32; 3]>) -> Option<String> {
    v.map(|[a, b, c]| format!("{a},{b},{c}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_reads_back_as_its_default() {
        gst::init().unwrap();
        let settings = Settings::default();
        for pspec in Settings::properties() {
            if let Some(value) = settings.get(pspec.name()) {
                let default = pspec.default_value();
                assert_eq!(value.type_(), default.type_(), "{}", pspec.name());
                assert_eq!(
                    value.serialize().ok(),
                    default.serialize().ok(),
                    "{}",
                    pspec.name()
                );
            }
        }
    }

    #[test]
    fn invalid_values_are_refused_and_the_old_one_stays() {
        let mut s = Settings::default();
        s.set("mean", &"0.5".to_value()).unwrap();
        assert_eq!(s.overrides.mean, Some([0.5; 3]));
        assert!(s.set("mean", &"1,2".to_value()).is_err());
        assert_eq!(s.overrides.mean, Some([0.5; 3]));
        assert!(s.set("colour", &"yuv".to_value()).is_err());
        assert_eq!(s.overrides.colour, None);
        s.set("colour", &"bgr".to_value()).unwrap();
        assert_eq!(s.get("colour").unwrap().get::<String>().unwrap(), "bgr");
    }

    #[test]
    fn unset_values_read_back_as_their_sentinels() {
        let mut s = Settings::default();
        s.set("threshold", &0.7f64.to_value()).unwrap();
        assert_eq!(s.threshold, Some(0.7));
        s.set("threshold", &(-1.0f64).to_value()).unwrap();
        assert_eq!(s.threshold, None);
        assert_eq!(s.get("threshold").unwrap().get::<f64>().unwrap(), -1.0);
        s.set("clip-length", &0u32.to_value()).unwrap();
        assert_eq!(s.get("clip-length").unwrap().get::<u32>().unwrap(), 0);
        assert!(s.get("clips-scored").is_none(), "read-only: the element's");
    }
}
