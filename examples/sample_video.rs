// SPDX-License-Identifier: MPL-2.0

//! Writes the demo's sample video, as H.264 in MP4: a still, textured scene with simple drawn
//! people (head, torso, limbs: enough for persondetect to find them). A passer-by crosses in
//! the back the whole time; two people walk towards each other, scuffle in the middle third
//! (erratic bodies, fast punching arms) and walk apart.
//!
//! Usage: sample-video OUT.mp4 [SECONDS=12] [WIDTH=640] [HEIGHT=360]
//! The scuffle runs from 1/3 to 2/3 of the duration; the tool prints those times.

use gst::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .get(1)
        .ok_or("usage: sample-video OUT.mp4 [SECONDS] [WIDTH] [HEIGHT]")?;
    let seconds: u64 = args.get(2).map_or(Ok(12), |s| s.parse())?;
    let width: usize = args.get(3).map_or(Ok(640), |s| s.parse())?;
    let height: usize = args.get(4).map_or(Ok(360), |s| s.parse())?;
    const FPS: u64 = 30;
    gst::init()?;
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast key-int-max=60 \
         ! h264parse ! mp4mux ! filesink location=\"{out}\""
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let info =
        gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, width as u32, height as u32)
            .fps(gst::Fraction::new(FPS as i32, 1))
            .build()?;
    src.set_caps(Some(&info.to_caps()?));
    pipeline.set_state(gst::State::Playing)?;

    let stride = info.stride()[0] as usize;
    // A fixed background: smooth gradients plus a deterministic texture.
    let mut background = vec![0u8; info.size()];
    let mut seed = 0x2545F4914F6CDD1Du64;
    for y in 0..height {
        for x in 0..width {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed % 24) as u8;
            let px = &mut background[y * stride + 3 * x..][..3];
            px[0] = 60 + (x * 80 / width) as u8 + noise;
            px[1] = 70 + (y * 60 / height) as u8 + noise;
            px[2] = 90 + noise;
        }
    }
    let frames = seconds * FPS;
    let (motion_start, motion_end) = (frames / 3, 2 * frames / 3);
    let (w, h) = (width as f64, height as f64);
    for i in 0..frames {
        let mut data = background.clone();
        let t = i as f64 / FPS as f64;
        let third = seconds as f64 / 3.0;
        let mut canvas = Canvas {
            data: &mut data,
            stride,
            width,
            height,
        };
        // A passer-by in the back, walking across the whole time.
        let walk = (t * 9.0).sin();
        canvas.person(
            w * (0.9 - 0.6 * t / seconds as f64),
            h * 0.22,
            h * 0.3,
            [235, 235, 225],
            [40, 40, 70],
            0.2 * walk,
            walk,
        );
        // Two people walk towards each other, scuffle (fast, erratic limbs and bodies) in the
        // middle third, and walk apart.
        let (a, b, fight) = if t < third {
            let f = t / third;
            (0.12 + 0.26 * f, 0.88 - 0.26 * f, false)
        } else if t < 2.0 * third {
            let jitter = |k: f64| 0.035 * (t * 11.0 + k).sin() + 0.02 * (t * 27.0 + 2.0 * k).cos();
            (0.38 + jitter(0.0), 0.62 + jitter(1.3), true)
        } else {
            let f = (t - 2.0 * third) / third;
            (0.38 - 0.26 * f, 0.62 + 0.26 * f, false)
        };
        let step = (t * 8.0).sin();
        let (arm_a, arm_b, leg) = if fight {
            // Punches: arms thrown forward and back several times a second.
            (
                1.4 + 1.1 * (t * 37.0).sin(),
                -1.4 + 1.1 * (t * 31.0 + 1.0).sin(),
                (t * 23.0).sin(),
            )
        } else {
            (0.3 * step, -0.3 * step, step)
        };
        let lean = if fight {
            0.06 * h * (t * 19.0).sin()
        } else {
            0.0
        };
        canvas.person(
            w * a,
            h * 0.3 + lean,
            h * 0.55,
            [40, 60, 160],
            [30, 30, 40],
            arm_a,
            leg,
        );
        canvas.person(
            w * b,
            h * 0.32 - lean,
            h * 0.53,
            [170, 40, 40],
            [60, 45, 30],
            arm_b,
            -leg,
        );
        let mut buffer = gst::Buffer::from_mut_slice(data);
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::SECOND.mul_div_floor(i, FPS));
        b.set_duration(gst::ClockTime::SECOND.mul_div_floor(1, FPS));
        src.push_buffer(buffer)?;
    }
    src.end_of_stream()?;
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => return Err(format!("{}", e.error()).into()),
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null)?;
    println!(
        "sample video {out}: {seconds} s {width}x{height} at {FPS} fps, scuffle from {:.2} s to {:.2} s",
        motion_start as f64 / FPS as f64,
        motion_end as f64 / FPS as f64
    );
    Ok(())
}

/// RGB frame to draw simple people into: a head, a torso, arms and legs as thick strokes,
/// enough for a person detector to see a person.
struct Canvas<'a> {
    data: &'a mut [u8],
    stride: usize,
    width: usize,
    height: usize,
}

impl Canvas<'_> {
    /// A stroke of half-width `r` from (x0, y0) to (x1, y1).
    fn stroke(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), r: f64, colour: [u8; 3]) {
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len2 = (dx * dx + dy * dy).max(1e-9);
        let xs =
            (x0.min(x1) - r).max(0.0) as usize..((x0.max(x1) + r + 1.0) as usize).min(self.width);
        let ys =
            (y0.min(y1) - r).max(0.0) as usize..((y0.max(y1) + r + 1.0) as usize).min(self.height);
        for y in ys {
            for x in xs.clone() {
                let (px, py) = (x as f64 - x0, y as f64 - y0);
                let t = ((px * dx + py * dy) / len2).clamp(0.0, 1.0);
                let (ex, ey) = (px - t * dx, py - t * dy);
                if ex * ex + ey * ey <= r * r {
                    self.data[y * self.stride + 3 * x..][..3].copy_from_slice(&colour);
                }
            }
        }
    }

    /// A person `h` tall whose head's top is at (`cx`, `top`); `arm` swings the arms (radians
    /// from hanging, positive forward to the right), `leg` the stride (-1..1).
    #[allow(clippy::too_many_arguments)]
    fn person(
        &mut self,
        cx: f64,
        top: f64,
        h: f64,
        shirt: [u8; 3],
        trousers: [u8; 3],
        arm: f64,
        leg: f64,
    ) {
        let head = h * 0.12;
        let (neck, hip) = (top + 2.0 * head, top + h * 0.55);
        let shoulder = neck + h * 0.05;
        self.stroke((cx, neck + h * 0.04), (cx, hip), h * 0.1, shirt);
        let reach = h * 0.3;
        for (side, swing) in [(-1.0, arm), (1.0, -arm * 0.7)] {
            let from = (cx + side * h * 0.08, shoulder);
            let to = (from.0 + reach * swing.sin(), from.1 + reach * swing.cos());
            self.stroke(from, to, h * 0.035, shirt);
        }
        for (side, stride) in [(-1.0, leg), (1.0, -leg)] {
            let from = (cx + side * h * 0.05, hip);
            self.stroke(
                from,
                (from.0 + h * 0.12 * stride, top + h),
                h * 0.05,
                trousers,
            );
        }
        self.stroke((cx, top + head), (cx, top + head), head, [205, 160, 130]);
    }
}
