// SPDX-License-Identifier: MPL-2.0

//! What start() does before the first frame: the model loaded on its device, its
//! configuration resolved against the properties, and the decision parameters checked.

use super::{Running, ViolenceClassify, CAT, NEXT_STREAM};
use crate::model::contract::{inputs_to_string, ModelConfig};
use crate::model::device::device_name;
use crate::model::{self, DeviceRequest, SharedModel};
use crate::violenceclassify::calibration::{
    Calibrating, Calibration, ModelFingerprint, WindowKind,
};
use crate::violenceclassify::decision::{Decider, DecisionParams};
use crate::violenceclassify::scene_cut;
use crate::violenceclassify::scoring::{QueueParams, ScoringQueue, StatsTimer};
use crate::violenceclassify::settings::Settings;
use crate::violenceclassify::{CalibrationMode, Mode, ModelErrorPolicy};
use crate::MutexExt;
use gst::subclass::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

impl ViolenceClassify {
    /// Loads the model and resolves its configuration: everything start() needs.
    pub(super) fn load(&self) -> Result<Running, gst::ErrorMessage> {
        let settings = self.settings.locked().clone();
        let location = match settings.model_location.clone() {
            Some(location) => location,
            None => {
                let found = model::locate::locate(model::locate::DEFAULT_MODEL)
                    .map_err(|e| gst::error_msg!(gst::ResourceError::NotFound, ["{}", e]))?;
                gst::info!(
                    CAT,
                    imp = self,
                    "model-location not set: the bundled model {}",
                    found.display()
                );
                found.display().to_string()
            }
        };
        let model = self.open_model(&settings, &location)?;
        let config = self.resolve_config(&model, &settings, &location)?;
        let warmup = model
            // A stream that waits for each score is never screened: no second copy for it.
            .probe(
                &config,
                settings.screen_after > 0 && settings.mode != Mode::Sync,
            )
            .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ["{}", e]))?;
        let params = decision_params(&settings, &config, &location)?;
        gst::info!(
            CAT,
            imp = self,
            "model {} on {} ({}loaded in {:?}, warm-up forward {:?}): inputs={} T={} step={} {}x{} threshold={} release={}",
            location,
            device_name(model.info().device),
            if model.info().fp16 { "fp16, " } else { "" },
            model.info().load_time,
            warmup,
            inputs_to_string(&config.inputs),
            config.clip_length,
            config.frame_step,
            config.width,
            config.height,
            params.threshold,
            params.release_threshold
        );
        let calibrating = self.open_calibration(&settings, &location)?;
        let (results_tx, results_rx) = mpsc::channel();
        *self.results.locked() = Some(results_rx);
        let mut queue = ScoringQueue::new(
            Decider::new(params),
            QueueParams {
                max_pending: settings.max_pending as usize,
                skip_failed: settings.on_model_error == ModelErrorPolicy::Skip,
                emit_scores: settings.emit_scores,
            },
        );
        queue.set_calibration(calibrating);
        // Two windows' frames: at the default stride a frame is in two windows.
        let thumbnails_kept = 2 * config.clip_length as usize;
        let screen_after = (settings.screen_after > 0 && config.screen)
            .then(|| Duration::from_nanos(settings.screen_after));
        Ok(Running {
            model,
            config,
            results_tx,
            queue,
            stall_timeout: (settings.stall_timeout > 0)
                .then(|| Duration::from_nanos(settings.stall_timeout)),
            async_mode: match settings.mode {
                Mode::Sync => Some(false),
                Mode::Async => Some(true),
                Mode::Auto => None,
            },
            scene_cut_guard: settings.scene_cut_guard,
            thumbnails: scene_cut::ThumbnailCache::new(thumbnails_kept),
            last_running_time: 0,
            last_activity: Instant::now(),
            stall_reported: false,
            playing: false,
            stream: NEXT_STREAM.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            batch_size: settings.batch_size as usize,
            batch_timeout: Duration::from_nanos(settings.batch_timeout),
            screen_after,
            stats_timer: StatsTimer::new(settings.stats_interval),
        })
    }

    /// The calibration to apply or to learn, checked against the model file now rather than
    /// at the first window or at stop.
    fn open_calibration(
        &self,
        settings: &Settings,
        model_location: &str,
    ) -> Result<Option<Calibrating>, gst::ErrorMessage> {
        let Some(file) = settings.calibration_location.as_deref().map(PathBuf::from) else {
            return Ok(None);
        };
        let error = |e: String| gst::error_msg!(gst::ResourceError::Settings, ["{}", e]);
        let model = ModelFingerprint::of_file(Path::new(model_location)).map_err(error)?;
        let kind = match settings.calibration_mode {
            CalibrationMode::Apply => {
                if !file.exists() {
                    return Err(gst::error_msg!(
                        gst::ResourceError::NotFound,
                        [
                            "calibration file {} does not exist: make it with calibration-mode=learn on this camera's ordinary footage",
                            file.display()
                        ]
                    ));
                }
                let calibration = Calibration::load(&file, &model).map_err(error)?;
                gst::info!(
                    CAT,
                    imp = self,
                    "calibration {}: {} windows ({:.0} s normal, {:.0} s false alarms), radius {}, margin {}",
                    file.display(),
                    calibration.windows.len(),
                    calibration.normal_seconds,
                    calibration.false_alarm_seconds,
                    calibration.radius,
                    calibration.margin
                );
                return Ok(Some(Calibrating::Apply(calibration)));
            }
            CalibrationMode::Learn => WindowKind::Normal,
            CalibrationMode::LearnFalseAlarm => WindowKind::FalseAlarm,
        };
        if file.exists() {
            Calibration::load(&file, &model).map_err(error)?;
        } else {
            // Found now, not after an hour of learning.
            let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
            if dir.is_some_and(|d| !d.is_dir()) {
                return Err(error(format!(
                    "calibration file {}: its folder does not exist",
                    file.display()
                )));
            }
        }
        Ok(Some(Calibrating::learn(kind, file, model)))
    }

    /// The shared model for the file and the device the settings ask for.
    fn open_model(
        &self,
        settings: &Settings,
        location: &str,
    ) -> Result<Arc<SharedModel>, gst::ErrorMessage> {
        let device = settings.device.resolve().map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::Settings,
                ["model file {}: {}", location, e]
            )
        })?;
        if settings.device == DeviceRequest::Auto {
            gst::info!(CAT, imp = self, "device=auto chose {}", device_name(device));
        }
        if settings.fp16 && !device.is_cuda() {
            gst::warning!(
                CAT,
                imp = self,
                "fp16 only applies on CUDA; running in fp32 on {}",
                device_name(device)
            );
        }
        let path = std::path::Path::new(location);
        model::acquire(
            path,
            device,
            settings.fp16,
            settings.inference_workers as usize,
        )
        .map_err(|e| {
            let kind = if path.exists() {
                gst::ResourceError::OpenRead
            } else {
                gst::ResourceError::NotFound
            };
            gst::error_msg!(kind, ["{}", e])
        })
    }

    /// The model's metadata() with the properties set on this element applied over it.
    fn resolve_config(
        &self,
        model: &SharedModel,
        settings: &Settings,
        location: &str,
    ) -> Result<Arc<ModelConfig>, gst::ErrorMessage> {
        let info = model.info();
        let mut overrides = settings.overrides.clone();
        overrides.threshold = settings.threshold;
        let (config, notes) = model::resolve(info.metadata.as_ref(), &overrides).map_err(|e| {
            gst::error_msg!(
                gst::LibraryError::Settings,
                ["model file {}: {}", location, e]
            )
        })?;
        for note in &notes {
            gst::info!(CAT, imp = self, "model file {location}: {note}");
        }
        if info.metadata.as_ref().is_some_and(|m| m.interim) {
            gst::warning!(
                CAT,
                imp = self,
                "model file {location} is an interim model, not trained for accuracy"
            );
        }
        Ok(Arc::new(config))
    }
}

/// θ_on from the resolved configuration, θ_off from the settings (θ_on when unset), and the
/// timing of the decisions.
fn decision_params(
    settings: &Settings,
    config: &ModelConfig,
    location: &str,
) -> Result<DecisionParams, gst::ErrorMessage> {
    let threshold = config.threshold;
    let release = settings.release_threshold.unwrap_or(threshold);
    if release > threshold {
        return Err(gst::error_msg!(
            gst::LibraryError::Settings,
            [
                "model file {}: release-threshold {} is above threshold {}",
                location,
                release,
                threshold
            ]
        ));
    }
    Ok(DecisionParams {
        threshold,
        release_threshold: release,
        min_consecutive: settings.min_consecutive,
        hold_time: settings.hold_time,
    })
}
