//! hardattentioncrop's geometry on any region a meta or an upstream `attention-region`
//! event can carry (any u32 box, any frame size and parameters).
#![no_main]

use gstviolence::hardattentioncrop::region::{self, Aspect, CropParams, Rect};
use gstviolence::meta::Region;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (
    [u32; 4],
    (u16, u16),
    (u16, u16),
    [u32; 4],
    (f64, f64, f64, u8)
)| {
    let (b, (fw, fh), (ow, oh), prev, (margin, min_size, smoothing, aspect)) = input;
    let (fw, fh, ow, oh) = (fw as u32, fh as u32, ow as u32, oh as u32);
    if fw == 0 || fh == 0 || ow == 0 || oh == 0 {
        return;
    }
    // The element's properties are bounded like this (see gst-inspect-1.0).
    let p = CropParams {
        margin: if margin.is_finite() {
            margin.clamp(0.0, 10.0)
        } else {
            0.0
        },
        min_size: if min_size.is_finite() {
            min_size.clamp(1.0, 16384.0)
        } else {
            1.0
        },
        aspect: [Aspect::Expand, Aspect::Pad, Aspect::Stretch][aspect as usize % 3],
        smoothing: if smoothing.is_finite() {
            smoothing.clamp(0.0, 0.999)
        } else {
            0.0
        },
    };
    let rect = |b: [u32; 4]| Rect::new(b[0] as f64, b[1] as f64, b[2] as f64, b[3] as f64);
    let target = region::target_crop(rect(b), fw, fh, ow as f64 / oh as f64, &p);
    let previous = region::target_crop(rect(prev), fw, fh, ow as f64 / oh as f64, &p);
    let smoothed = region::smooth(Some(previous), target, p.smoothing);
    let crop = smoothed.to_pixels(fw, fh);
    assert!(crop.width >= 1 && crop.height >= 1);
    assert!(
        crop.x + crop.width <= fw && crop.y + crop.height <= fh,
        "{crop:?} in {fw}x{fh}"
    );
    let place = region::placement(crop, ow, oh, p.aspect);
    assert!(place.x + place.width <= ow && place.y + place.height <= oh);
    if let Some(o) = region::to_output(Region::new(b[0], b[1], b[2], b[3]), crop, place) {
        assert!(o.width >= 1 && o.height >= 1);
    }
});
