// SPDX-License-Identifier: MPL-2.0

use super::region::{self, people_region, Aspect, CropParams, PersonBox, Rect};
use super::scale::{scale_plane, Axis};
use super::{AspectPolicy, NoRegion, RegionSource};
use crate::meta::{region_confidence, Region, ViolenceMeta, ROI_MOTION, ROI_VIOLENCE};
use crate::MutexExt;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::VideoFormat as F;
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "hardattentioncrop",
        gst::DebugColorFlags::empty(),
        Some("Hard attention crop"),
    )
});

/// The upstream event that steers the crop from downstream (x, y, width, height in
/// source pixels; `clear=true` returns to the configured region source).
pub const ATTENTION_REGION_EVENT: &str = "attention-region";

/// Formats cropped directly: (format, per plane: bytes per sample, chroma subsampled).
const FORMATS: &[(F, &[(usize, bool)])] = &[
    (F::I420, &[(1, false), (1, true), (1, true)]),
    (F::Yv12, &[(1, false), (1, true), (1, true)]),
    (F::Nv12, &[(1, false), (2, true)]),
    (F::Nv21, &[(1, false), (2, true)]),
    (F::Rgba, &[(4, false)]),
    (F::Bgra, &[(4, false)]),
    (F::Argb, &[(4, false)]),
    (F::Abgr, &[(4, false)]),
    (F::Rgbx, &[(4, false)]),
    (F::Bgrx, &[(4, false)]),
    (F::Xrgb, &[(4, false)]),
    (F::Xbgr, &[(4, false)]),
    (F::Rgb, &[(3, false)]),
    (F::Bgr, &[(3, false)]),
    (F::Gray8, &[(1, false)]),
];

#[derive(Debug, Clone)]
struct Settings {
    width: u32,
    height: u32,
    source: RegionSource,
    region: Option<Region>,
    margin: f64,
    min_size: u32,
    aspect: AspectPolicy,
    smoothing: f64,
    no_region: NoRegion,
}

const DEFAULT_MARGIN: f64 = 0.1;
const DEFAULT_MIN_SIZE: u32 = 64;
const DEFAULT_SMOOTHING: f64 = 0.8;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            width: 0,
            height: 0,
            source: RegionSource::Attention,
            region: None,
            margin: DEFAULT_MARGIN,
            min_size: DEFAULT_MIN_SIZE,
            aspect: AspectPolicy::Expand,
            smoothing: DEFAULT_SMOOTHING,
            no_region: NoRegion::FullFrame,
        }
    }
}

struct State {
    in_info: gst_video::VideoInfo,
    out_info: gst_video::VideoInfo,
    planes: &'static [(usize, bool)],
    previous: Option<Rect>,
    steered: Option<Rect>,
}

#[derive(Default)]
pub struct HardAttentionCrop {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

fn parse_region(s: &str) -> Result<Region, String> {
    let v: Vec<u32> = crate::parse_numbers(s, "a pixel count")?;
    match v.as_slice() {
        [x, y, w, h] if *w > 0 && *h > 0 => Ok(Region::new(*x, *y, *w, *h)),
        _ => Err(format!(
            "'{s}' is not x,y,width,height with a non-empty size"
        )),
    }
}

impl HardAttentionCrop {
    /// The region this frame asks for, in source pixels.
    fn wanted_region(&self, buf: &gst::BufferRef, settings: &Settings) -> Option<Rect> {
        let roi = |kind: &str| {
            buf.iter_meta::<gst_video::VideoRegionOfInterestMeta>()
                .filter(|m| m.roi_type() == kind)
                .max_by(|a, b| {
                    region_confidence(a)
                        .unwrap_or(0.0)
                        .total_cmp(&region_confidence(b).unwrap_or(0.0))
                })
                .map(|m| Rect::from(Region::from(m.rect())))
        };
        match settings.source {
            RegionSource::Attention => roi(ROI_VIOLENCE).or_else(|| {
                buf.meta::<ViolenceMeta>()
                    .and_then(|m| m.payload().region)
                    .map(Rect::from)
            }),
            RegionSource::Motion => roi(ROI_MOTION),
            RegionSource::Fixed => settings.region.map(Rect::from),
            RegionSource::People => people_region(&PersonBox::of_frame(buf)),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for HardAttentionCrop {
    const NAME: &'static str = "GstHardAttentionCrop";
    type Type = super::HardAttentionCrop;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for HardAttentionCrop {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("width")
                    .nick("Width")
                    .blurb("Output width in pixels; 0 keeps the input width")
                    .maximum(16384)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("height")
                    .nick("Height")
                    .blurb("Output height in pixels; 0 keeps the input height")
                    .maximum(16384)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("region-source", RegionSource::Attention)
                    .nick("Region source")
                    .blurb("Where the crop region comes from (an upstream attention-region event overrides it)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("region")
                    .nick("Region")
                    .blurb("Fixed region 'x,y,width,height' in source pixels, for region-source=fixed")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("margin")
                    .nick("Margin")
                    .blurb("Fraction of the region's size added on every side")
                    .minimum(0.0)
                    .maximum(10.0)
                    .default_value(DEFAULT_MARGIN)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-size")
                    .nick("Minimum size")
                    .blurb("Smallest crop side in source pixels (limits the zoom)")
                    .minimum(1)
                    .maximum(16384)
                    .default_value(DEFAULT_MIN_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("aspect", AspectPolicy::Expand)
                    .nick("Aspect policy")
                    .blurb("How the crop meets the output aspect ratio")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("smoothing")
                    .nick("Smoothing")
                    .blurb("Weight (0..0.999) of the previous crop in the exponential smoothing of the crop from frame to frame; 0 follows the region at once")
                    .minimum(0.0)
                    .maximum(0.999)
                    .default_value(DEFAULT_SMOOTHING)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("no-region", NoRegion::FullFrame)
                    .nick("Without a region")
                    .blurb("What to show when the frame has no region")
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.locked();
        match pspec.name() {
            "width" => s.width = value.get().unwrap(),
            "height" => s.height = value.get().unwrap(),
            "region-source" => s.source = value.get().unwrap(),
            "region" => match value
                .get::<Option<String>>()
                .unwrap()
                .as_deref()
                .map(parse_region)
                .transpose()
            {
                Ok(r) => s.region = r,
                Err(e) => gst::error!(CAT, imp = self, "invalid region: {e}; value kept"),
            },
            "margin" => s.margin = value.get().unwrap(),
            "min-size" => s.min_size = value.get().unwrap(),
            "aspect" => s.aspect = value.get().unwrap(),
            "smoothing" => s.smoothing = value.get().unwrap(),
            "no-region" => s.no_region = value.get().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.locked();
        match pspec.name() {
            "width" => s.width.to_value(),
            "height" => s.height.to_value(),
            "region-source" => s.source.to_value(),
            "region" => s
                .region
                .map(|r| format!("{},{},{},{}", r.x, r.y, r.width, r.height))
                .to_value(),
            "margin" => s.margin.to_value(),
            "min-size" => s.min_size.to_value(),
            "aspect" => s.aspect.to_value(),
            "smoothing" => s.smoothing.to_value(),
            "no-region" => s.no_region.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for HardAttentionCrop {}

impl ElementImpl for HardAttentionCrop {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "Hard attention crop",
                "Filter/Effect/Video/Scaler",
                "Crops each frame to the violence, motion or a fixed region at full source \
                 resolution, smoothed over time, and scales it to the output size; region metas \
                 follow into crop coordinates",
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

impl BaseTransformImpl for HardAttentionCrop {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn transform_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let s = self.settings.locked().clone();
        let mut out = caps.clone();
        for st in out.make_mut().iter_mut() {
            if direction == gst::PadDirection::Sink {
                // Output: the configured size, else the input's.
                if s.width > 0 {
                    st.set("width", s.width as i32);
                }
                if s.height > 0 {
                    st.set("height", s.height as i32);
                }
            } else {
                // Input: any size produces the output.
                st.set("width", gst::IntRange::new(1, i32::MAX));
                st.set("height", gst::IntRange::new(1, i32::MAX));
            }
            st.remove_field("pixel-aspect-ratio");
        }
        Some(match filter {
            Some(f) => f.intersect_with_mode(&out, gst::CapsIntersectMode::First),
            None => out,
        })
    }

    fn unit_size(&self, caps: &gst::Caps) -> Option<usize> {
        gst_video::VideoInfo::from_caps(caps)
            .ok()
            .map(|info| info.size())
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let in_info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "bad input caps {incaps}"))?;
        let out_info = gst_video::VideoInfo::from_caps(outcaps)
            .map_err(|_| gst::loggable_error!(CAT, "bad output caps {outcaps}"))?;
        if in_info.format() != out_info.format() {
            return Err(gst::loggable_error!(
                CAT,
                "format change {:?} -> {:?} is not supported",
                in_info.format(),
                out_info.format()
            ));
        }
        let planes = FORMATS
            .iter()
            .find(|(f, _)| *f == in_info.format())
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                gst::loggable_error!(CAT, "unsupported format {:?}", in_info.format())
            })?;
        gst::info!(
            CAT,
            imp = self,
            "cropping {}x{} into {}x{} {:?}",
            in_info.width(),
            in_info.height(),
            out_info.width(),
            out_info.height(),
            in_info.format()
        );
        let steered = self.state.locked().as_ref().and_then(|s| s.steered);
        *self.state.locked() = Some(State {
            in_info,
            out_info,
            planes,
            previous: None,
            steered,
        });
        Ok(())
    }

    fn src_event(&self, event: gst::Event) -> bool {
        if let Some(s) = event
            .structure()
            .filter(|s| s.name() == ATTENTION_REGION_EVENT)
        {
            let clear = s.get::<bool>("clear").unwrap_or(false);
            let rect = (|| {
                Some(Rect::new(
                    s.get::<u32>("x").ok()? as f64,
                    s.get::<u32>("y").ok()? as f64,
                    s.get::<u32>("width").ok()? as f64,
                    s.get::<u32>("height").ok()? as f64,
                ))
            })();
            if let Some(state) = self.state.locked().as_mut() {
                state.steered = if clear {
                    None
                } else {
                    rect.filter(|r| r.w > 0.0 && r.h > 0.0)
                };
                gst::debug!(CAT, imp = self, "steered to {:?}", state.steered);
            }
            return true;
        }
        self.parent_src_event(event)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view() {
            if let Some(state) = self.state.locked().as_mut() {
                state.previous = None;
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_meta<'a>(
        &self,
        outbuf: &mut gst::BufferRef,
        meta: gst::MetaRef<'a, gst::Meta>,
        inbuf: &'a gst::BufferRef,
    ) -> bool {
        // Region metas are moved into crop coordinates in transform(); the rest as usual.
        if meta.api() == gst_video::VideoRegionOfInterestMeta::meta_api()
            || meta.api() == ViolenceMeta::meta_api()
        {
            return false;
        }
        self.parent_transform_meta(outbuf, meta, inbuf)
    }

    fn transform(
        &self,
        inbuf: &gst::Buffer,
        outbuf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.locked().clone();
        let mut guard = self.state.locked();
        let Some(state) = guard.as_mut() else {
            return Err(gst::FlowError::NotNegotiated);
        };
        let (fw, fh) = (state.in_info.width(), state.in_info.height());
        let (ow, oh) = (state.out_info.width(), state.out_info.height());
        let aspect = match settings.aspect {
            AspectPolicy::Expand => Aspect::Expand,
            AspectPolicy::Pad => Aspect::Pad,
            AspectPolicy::Stretch => Aspect::Stretch,
        };
        let params = CropParams {
            margin: settings.margin,
            min_size: settings.min_size as f64,
            aspect,
            smoothing: settings.smoothing,
        };
        let wanted = state
            .steered
            .or_else(|| self.wanted_region(inbuf, &settings));
        let full = Rect::new(0.0, 0.0, fw as f64, fh as f64);
        let target = match (wanted, settings.no_region) {
            (Some(r), _) => region::target_crop(r, fw, fh, ow as f64 / oh as f64, &params),
            (None, NoRegion::Hold) => state.previous.unwrap_or(full),
            (None, NoRegion::FullFrame) => full,
        };
        let crop_f = region::smooth(state.previous, target, settings.smoothing);
        state.previous = Some(crop_f);
        let yuv = state.planes.len() > 1;
        let mut crop = crop_f.to_pixels(fw, fh);
        let mut place = region::placement(crop, ow, oh, aspect);
        if yuv {
            // Chroma is shared by 2x2 pixels: crop and place on even coordinates.
            crop.x &= !1;
            crop.y &= !1;
            place.x &= !1;
            place.y &= !1;
        }
        {
            let in_frame =
                gst_video::VideoFrameRef::from_buffer_ref_readable(inbuf.as_ref(), &state.in_info)
                    .map_err(|_| gst::FlowError::Error)?;
            let mut out_frame =
                gst_video::VideoFrameRef::from_buffer_ref_writable(outbuf, &state.out_info)
                    .map_err(|_| gst::FlowError::Error)?;
            for (p, &(channels, subsampled)) in state.planes.iter().enumerate() {
                let div = if subsampled { 2 } else { 1 };
                let sub = |v: u32| v.div_ceil(div);
                let (src_w, src_h) = (sub(fw), sub(fh));
                let (cx, cy) = (crop.x / div, crop.y / div);
                let (cw, ch) = (
                    sub(crop.width).min(src_w - cx).max(1),
                    sub(crop.height).min(src_h - cy).max(1),
                );
                let (px, py, pw, ph) = (
                    place.x / div,
                    place.y / div,
                    sub(place.width).min(sub(ow) - place.x / div),
                    sub(place.height).min(sub(oh) - place.y / div),
                );
                let src_stride = in_frame.plane_stride()[p] as usize;
                let dst_stride = out_frame.plane_stride()[p] as usize;
                let src = in_frame
                    .plane_data(p as u32)
                    .map_err(|_| gst::FlowError::Error)?;
                let dst = out_frame
                    .plane_data_mut(p as u32)
                    .map_err(|_| gst::FlowError::Error)?;
                if aspect == Aspect::Pad {
                    // Black bars: Y 16 and neutral chroma for YUV, black for RGB.
                    let fill = if !yuv {
                        0
                    } else if p == 0 {
                        16
                    } else {
                        128
                    };
                    dst.fill(fill);
                }
                let (xs, ys) = (Axis::new(cx, cw, pw), Axis::new(cy, ch, ph));
                scale_plane(
                    src,
                    src_stride,
                    channels,
                    &xs,
                    &ys,
                    src_w - 1,
                    src_h - 1,
                    dst,
                    dst_stride,
                    px as usize,
                    py as usize,
                );
            }
        }
        // Region metas follow into the crop's coordinates; those outside it are dropped.
        for m in inbuf.iter_meta::<gst_video::VideoRegionOfInterestMeta>() {
            if let Some(rect) = region::to_output(m.rect().into(), crop, place) {
                let mut out =
                    gst_video::VideoRegionOfInterestMeta::add(outbuf, m.roi_type(), rect.into());
                for param in m.params() {
                    out.add_param(param.to_owned());
                }
            }
        }
        if let Some(v) = inbuf.meta::<ViolenceMeta>() {
            let mut info = v.payload().clone();
            info.region = info.region.and_then(|r| region::to_output(r, crop, place));
            ViolenceMeta::add(outbuf, info);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn region_property_parses() {
        assert_eq!(
            super::parse_region("1, 2,3,4"),
            Ok(super::Region::new(1, 2, 3, 4))
        );
        assert!(super::parse_region("1,2,0,4").is_err());
        assert!(super::parse_region("1,2,3").is_err());
        assert!(super::parse_region("a,b,c,d").is_err());
    }
}
