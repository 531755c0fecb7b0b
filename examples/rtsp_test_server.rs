// SPDX-License-Identifier: MPL-2.0

//! A local RTSP "camera" on loopback, for tests/rtsp_reconnect.rs and for rehearsing the
//! NVR pipelines: serves `videotestsrc is-live=true pattern=ball ! x264enc ! rtph264pay` at
//! rtsp://127.0.0.1:PORT/test until killed. With FILE, a camera with a main stream and a
//! sub-stream as NVRs use them: `/main` is FILE as it is, `/sub` is SUBFILE, or FILE scaled to
//! 640x360, both played in real time (the pair `pipelines/substream-record.sh` takes).
//!
//! Usage: rtsp-test-server PORT [FILE [SUBFILE]]

use gst_rtsp_server::prelude::*;

/// H.264 as a camera sends it: a keyframe every second, headers with every keyframe.
const ENCODE: &str = "! x264enc speed-preset=ultrafast tune=zerolatency key-int-max=25 \
                      ! rtph264pay name=pay0 pt=96 config-interval=1";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let port = args
        .get(1)
        .cloned()
        .ok_or("usage: rtsp-test-server PORT [FILE [SUBFILE]]")?;
    gst::init()?;
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&port);
    let factory = gst_rtsp_server::RTSPMediaFactory::new();
    factory.set_launch(
        "( videotestsrc is-live=true pattern=ball \
         ! video/x-raw,width=160,height=120,framerate=15/1 \
         ! x264enc speed-preset=ultrafast tune=zerolatency key-int-max=15 \
         ! rtph264pay name=pay0 pt=96 config-interval=1 )",
    );
    // One pipeline for every client, as a camera has.
    factory.set_shared(true);
    let mounts = server.mount_points().ok_or("no mount points")?;
    mounts.add_factory("/test", factory);
    let mut served = vec!["/test"];
    if let Some(file) = args.get(2) {
        let uri = |f: &str| -> Result<String, Box<dyn std::error::Error>> {
            Ok(glib::filename_to_uri(std::fs::canonicalize(f)?, None)?.to_string())
        };
        let (main, sub) = (uri(file)?, uri(args.get(3).unwrap_or(file))?);
        let scale = if args.get(3).is_some() {
            ""
        } else {
            "! videoscale ! video/x-raw,width=640,height=360 "
        };
        for (mount, launch) in [
            (
                "/main",
                format!("( uridecodebin uri=\"{main}\" ! videoconvert {ENCODE} )"),
            ),
            (
                "/sub",
                format!("( uridecodebin uri=\"{sub}\" ! videoconvert {scale}{ENCODE} )"),
            ),
        ] {
            let factory = gst_rtsp_server::RTSPMediaFactory::new();
            factory.set_launch(&launch);
            factory.set_shared(true);
            mounts.add_factory(mount, factory);
            served.push(mount);
        }
    }
    let main_loop = glib::MainLoop::new(None, false);
    let _source = server.attach(None)?;
    // Printed once it listens: tests wait for these lines.
    for mount in served {
        println!("serving rtsp://127.0.0.1:{port}{mount}");
    }
    main_loop.run();
    Ok(())
}
