// SPDX-License-Identifier: MPL-2.0

//! A local RTSP "camera" on loopback, for tests/rtsp_reconnect.rs and for trying
//! rtsp-detect: serves `videotestsrc is-live=true pattern=ball ! x264enc ! rtph264pay` at
//! rtsp://127.0.0.1:PORT/test until killed.
//!
//! Usage: rtsp-test-server PORT

use gst_rtsp_server::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::args()
        .nth(1)
        .ok_or("usage: rtsp-test-server PORT")?;
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
    server
        .mount_points()
        .ok_or("no mount points")?
        .add_factory("/test", factory);
    let main_loop = glib::MainLoop::new(None, false);
    let _source = server.attach(None)?;
    println!("serving rtsp://127.0.0.1:{port}/test");
    main_loop.run();
    Ok(())
}
