// SPDX-License-Identifier: MPL-2.0

//! violencemqtt against a real broker: Debian's `mosquitto` on a free loopback port, a
//! subscriber made with the same MQTT crate, and the motion test model on synthetic video,
//! so that every event the bus reports can be compared with what the subscriber received;
//! and two classifiers behind one camera (`source=a,b`).
//! Skipped, with a message, where `mosquitto` is not installed (scripts/setup.sh installs it).

mod common;
use common::*;
use gst::prelude::*;
use gstviolence::event::ViolenceEvent;
use gstviolence::violencemqtt::payload::event_json;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PREFIX: &str = "test";
const CAMERA: &str = "cam1";

fn mosquitto() -> Option<PathBuf> {
    let found = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        eprintln!("SKIPPED: mosquitto is not installed (scripts/setup.sh installs it: apt-get install mosquitto)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mqtt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // mosquitto started as root drops to its own user, which writes its database here.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// A mosquitto on 127.0.0.1:`port`, configured in `dir`.
struct Broker {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    /// `persistent`: the broker saves its sessions at exit and loads them at start, so that a
    /// subscriber's session (subscription and queued messages) survives a restart.
    fn start(bin: &Path, dir: &Path, persistent: bool) -> Broker {
        let port = free_port();
        let mut conf = format!("listener {port} 127.0.0.1\nallow_anonymous true\n");
        if persistent {
            conf += &format!(
                "persistence true\npersistence_location {}/\n",
                dir.display()
            );
        } else {
            conf += "persistence false\n";
        }
        std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
        let mut broker = Broker {
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            port,
            child: None,
        };
        broker.restart();
        broker
    }

    fn restart(&mut self) {
        let log = std::fs::File::create(self.dir.join("mosquitto.log")).unwrap();
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < until,
                "mosquitto did not listen on {}: {}",
                self.port,
                std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
            );
            wait(Duration::from_millis(20));
        }
    }

    /// SIGTERM, as a service stop does: mosquitto saves its database and exits.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Debug, Clone)]
struct Received {
    topic: String,
    payload: String,
}

/// A subscriber to `<prefix>/#` that reconnects by itself and keeps what it receives.
struct Subscriber {
    received: Arc<Mutex<Vec<Received>>>,
    subscribed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Subscriber {
    /// `persistent`: a session the broker keeps while this client is away.
    fn start(port: u16, id: &str, persistent: bool) -> Subscriber {
        Self::start_on(port, id, persistent, &format!("{PREFIX}/#"))
    }

    fn start_on(port: u16, id: &str, persistent: bool, filter: &str) -> Subscriber {
        let filter = filter.to_string();
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_clean_session(!persistent);
        let (client, mut connection) = Client::new(options, 10);
        let received = Arc::new(Mutex::new(Vec::new()));
        let subscribed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, st) = (received.clone(), subscribed.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match connection.recv_timeout(Duration::from_millis(100)) {
                    Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                        if !ack.session_present {
                            client
                                .try_subscribe(filter.as_str(), QoS::AtLeastOnce)
                                .unwrap();
                        } else {
                            s.store(true, Ordering::SeqCst);
                        }
                    }
                    Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => s.store(true, Ordering::SeqCst),
                    Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                        r.lock().unwrap().push(Received {
                            topic: p.topic.clone(),
                            payload: String::from_utf8_lossy(&p.payload).into_owned(),
                        })
                    }
                    Ok(Ok(_)) | Err(_) => (),
                    Ok(Err(_)) => wait(Duration::from_millis(50)),
                }
            }
            let _ = client.try_disconnect();
            let _ = connection.recv_timeout(Duration::from_millis(200));
        });
        let sub = Subscriber {
            received,
            subscribed,
            stop,
            thread: Some(thread),
        };
        sub.wait_until("the subscription", |_| {
            sub.subscribed.load(Ordering::SeqCst)
        });
        sub
    }

    fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn topic(&self, topic: &str) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.topic == topic)
            .map(|r| r.payload.clone())
            .collect()
    }

    fn events(&self) -> Vec<serde_json::Value> {
        self.topic(&format!("{PREFIX}/{CAMERA}/events"))
            .iter()
            .map(|p| serde_json::from_str(p).expect("JSON payload"))
            .collect()
    }

    fn wait_until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let until = Instant::now() + Duration::from_secs(20);
        while !done(self) {
            assert!(
                Instant::now() < until,
                "timed out waiting for {what}; received {:?}",
                self.received.lock().unwrap()
            );
            wait(Duration::from_millis(20));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a new subscriber gets as the retained state of the camera.
fn retained_state(port: u16) -> String {
    retained(port, &format!("{PREFIX}/{CAMERA}/state"))
}

/// What a new subscriber gets as the retained value of `topic`.
fn retained(port: u16, topic: &str) -> String {
    let sub = Subscriber::start_on(port, &format!("retained-{}", free_port()), false, topic);
    sub.wait_until(topic, |s| !s.topic(topic).is_empty());
    sub.topic(topic)[0].clone()
}

/// Synthetic 64x64 video with the white block moving on the frames of `motion` ranges.
fn frame(i: u64, motion: &[std::ops::Range<u64>]) -> gst::Buffer {
    let range = motion.iter().find(|r| r.contains(&i)).cloned();
    video(range.unwrap_or(0..0)).frame(i)
}

fn video(motion: std::ops::Range<u64>) -> Synthetic {
    Synthetic {
        width: 64,
        height: 64,
        frames: 0,
        motion,
    }
}

fn pipeline(port: u16, extra: &str) -> (gst::Pipeline, gst_app::AppSrc, gst::Element) {
    let (pipeline, src) = appsrc_pipeline(
        &format!(
            "appsrc name=src format=time ! clipbuffer stride=2 \
             ! violenceclassify model-location={} mode=sync min-consecutive=1 hold-time=160000000 \
             ! violencemqtt name={CAMERA} host=127.0.0.1 port={port} topic-prefix={PREFIX} {extra} \
             ! fakesink sync=false",
            model("motion.pt")
        ),
        &video(0..0).caps(),
    );
    let mqtt = pipeline.by_name(CAMERA).unwrap();
    (pipeline, src, mqtt)
}

fn push(src: &gst_app::AppSrc, frames: std::ops::Range<u64>, motion: &[std::ops::Range<u64>]) {
    for i in frames {
        src.push_buffer(frame(i, motion)).unwrap();
    }
}

/// The events and warnings on the bus up to EOS; panics on an error.
fn until_eos(pipeline: &gst::Pipeline) -> (Vec<ViolenceEvent>, Vec<String>) {
    let (mut events, mut warnings) = (Vec::new(), Vec::new());
    for msg in pipeline
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(60))
    {
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(ev) = e.structure().and_then(ViolenceEvent::from_structure) {
                    events.push(ev);
                }
            }
            gst::MessageView::Warning(w) => {
                warnings.push(format!("{} ({})", w.error(), w.debug().unwrap_or_default()))
            }
            gst::MessageView::Error(e) => panic!("{} ({:?})", e.error(), e.debug()),
            gst::MessageView::Eos(_) => return (events, warnings),
            _ => (),
        }
    }
    panic!("no EOS within 60 s");
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        wait(Duration::from_millis(20));
    }
}

/// Each received payload is the JSON of the bus event at the same place, numbered in rising
/// order from about the queue time in milliseconds since 1970.
/// The received messages are the bus events, field for field, plus their wall-clock times:
/// the frame's and the queueing's, ISO 8601 UTC with milliseconds.
fn assert_same_events(received: &[serde_json::Value], bus: &[ViolenceEvent]) {
    let without_times = |mut v: serde_json::Value| {
        for key in ["utc", "queued-utc"] {
            let t = v[key]
                .as_str()
                .unwrap_or_else(|| panic!("no {key} in {v}"))
                .to_string();
            let b = t.as_bytes();
            assert!(
                t.len() == 24 && b[10] == b'T' && b[19] == b'.' && t.ends_with('Z'),
                "{key} {t}"
            );
            v.as_object_mut().unwrap().remove(key);
        }
        v
    };
    let seqs: Vec<u64> = received
        .iter()
        .map(|v| v["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {v}")))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // 2023-11-14 in ms: seq counts from the clock, not from 1.
    assert!(seqs.iter().all(|&s| s > 1_700_000_000_000), "{seqs:?}");
    let received: Vec<_> = received.iter().cloned().map(without_times).collect();
    let expected: Vec<_> = bus
        .iter()
        .zip(&seqs)
        .map(|(e, &seq)| {
            let mut v = event_json(e, CAMERA, seq, &Default::default());
            v.as_object_mut()
                .unwrap()
                .retain(|k, _| k != "utc" && k != "queued-utc");
            v
        })
        .collect();
    assert_eq!(received, expected);
}

#[test]
fn events_and_retained_state_reach_a_subscriber() {
    init();
    let Some(bin) = mosquitto() else { return };
    let dir = temp_dir("basic");
    let broker = Broker::start(&bin, &dir, false);
    let sub = Subscriber::start(broker.port, "basic-sub", false);
    let (pipeline, src, mqtt) = pipeline(broker.port, "");
    pipeline.set_state(gst::State::Playing).unwrap();
    let motion = [20..40, 80..100];

    // In the middle of the first event, a new subscriber learns that it is on.
    push(&src, 0..32, &motion);
    sub.wait_until("the first start", |s| s.events().len() == 1);
    assert!(mqtt.property::<bool>("connected"));
    assert_eq!(retained_state(broker.port), "ON");

    push(&src, 32..130, &motion);
    src.end_of_stream().unwrap();
    let (bus, warnings) = until_eos(&pipeline);
    assert_eq!(bus.len(), 4, "two events: {bus:?}");
    // Stopping waits (flush-timeout) for what is still queued.
    pipeline.set_state(gst::State::Null).unwrap();
    sub.wait_until("every event", |s| s.events().len() == bus.len());
    assert_same_events(&sub.events(), &bus);
    assert_eq!(bus[0].kind.name(), "violence-start");
    assert_eq!(
        sub.events()[1]["reason"],
        "released",
        "fields of the bus message: {:?}",
        sub.events()[1]
    );
    let states = sub.topic(&format!("{PREFIX}/{CAMERA}/state"));
    assert_eq!(states, ["OFF", "ON", "OFF", "ON", "OFF"]);
    assert_eq!(retained_state(broker.port), "OFF");
    // A clean stop says the camera's analysis is offline (no last will is sent then).
    let availability = format!("{PREFIX}/{CAMERA}/availability");
    assert_eq!(sub.topic(&availability), ["online", "offline"]);
    assert_eq!(retained(broker.port, &availability), "offline");
    assert!(warnings.is_empty(), "{warnings:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stop without EOS in the middle of an event (an error, a lost camera): the classifier
/// sends no end, so violencemqtt publishes one (reason `stopped`) and leaves the retained
/// state OFF before going offline, instead of a start without an end and a retained ON. The
/// camera coming back numbers its messages on.
#[test]
fn a_stop_mid_event_publishes_its_end_and_leaves_the_state_off() {
    init();
    let Some(bin) = mosquitto() else { return };
    let dir = temp_dir("stop-mid-event");
    let broker = Broker::start(&bin, &dir, false);
    let sub = Subscriber::start(broker.port, "stop-sub", false);
    let (pipeline, src, _mqtt) = pipeline(broker.port, "");
    pipeline.set_state(gst::State::Playing).unwrap();
    // Motion to the last frame pushed: the event is still going on at the stop.
    #[allow(clippy::single_range_in_vec_init)]
    let motion = [20..40];
    push(&src, 0..40, &motion);
    sub.wait_until("the start", |s| s.events().len() == 1);
    assert_eq!(retained_state(broker.port), "ON");
    pipeline.set_state(gst::State::Null).unwrap();
    sub.wait_until("the end", |s| s.events().len() == 2);
    let events = sub.events();
    assert_eq!(events[0]["kind"], "violence-start", "{events:?}");
    assert_eq!(events[1]["kind"], "violence-end", "{events:?}");
    assert_eq!(events[1]["reason"], "stopped", "{events:?}");
    assert!(
        events[1]["seq"].as_u64() > events[0]["seq"].as_u64(),
        "{events:?}"
    );
    assert!(
        events[1]["running-time"].as_u64() >= events[0]["running-time"].as_u64(),
        "{events:?}"
    );
    assert_eq!(
        sub.topic(&format!("{PREFIX}/{CAMERA}/state")),
        ["OFF", "ON", "OFF"]
    );
    assert_eq!(retained_state(broker.port), "OFF");
    let availability = format!("{PREFIX}/{CAMERA}/availability");
    assert_eq!(sub.topic(&availability), ["online", "offline"]);
    // The camera comes back (the pipeline played again): the next run's messages number on
    // above the first run's, so a consumer dropping repeated `seq`s keeps them.
    pipeline.set_state(gst::State::Playing).unwrap();
    push(&src, 0..40, &motion);
    sub.wait_until("the second run's start", |s| s.events().len() == 3);
    pipeline.set_state(gst::State::Null).unwrap();
    sub.wait_until("the second run's end", |s| s.events().len() == 4);
    let events = sub.events();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{events:?}");
    assert_eq!(events[2]["kind"], "violence-start", "{events:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_classifiers_as_sources_publish_one_camera_state() {
    init();
    let Some(bin) = mosquitto() else { return };
    let dir = temp_dir("two-sources");
    let broker = Broker::start(&bin, &dir, false);
    let sub = Subscriber::start(broker.port, "two-sources-sub", false);
    // Two identical classifiers on a tee (two models on one camera): each decides both
    // events; the camera has one event each time, and one state. violencemqtt is on a branch
    // of its own, where no event travels in-band.
    let classify = format!(
        "clipbuffer stride=2 ! violenceclassify model-location={} mode=sync min-consecutive=1 \
         hold-time=160000000",
        model("motion.pt")
    );
    let (pipeline, src) = appsrc_pipeline(
        &format!(
            "appsrc name=src format=time ! tee name=t \
             t. ! queue ! {classify} name=a ! fakesink sync=false \
             t. ! queue ! {classify} name=b ! fakesink sync=false \
             t. ! queue ! violencemqtt name={CAMERA} source=a,b host=127.0.0.1 port={} \
                topic-prefix={PREFIX} ! fakesink sync=false",
            broker.port
        ),
        &video(0..0).caps(),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    push(&src, 0..130, &[20..40, 80..100]);
    src.end_of_stream().unwrap();
    let (bus, warnings) = until_eos(&pipeline);
    assert_eq!(bus.len(), 8, "both classifiers decide both events: {bus:?}");
    pipeline.set_state(gst::State::Null).unwrap();
    sub.wait_until("the merged events", |s| s.events().len() >= 4);
    let kinds: Vec<String> = sub
        .events()
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "violence-start",
            "violence-end",
            "violence-start",
            "violence-end"
        ],
        "one start and one end per event, not one per classifier"
    );
    let states = sub.topic(&format!("{PREFIX}/{CAMERA}/state"));
    assert_eq!(states, ["OFF", "ON", "OFF", "ON", "OFF"]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unknown_source_is_named_at_start() {
    init();
    let err = start_error(
        "videotestsrc num-buffers=5 ! violencemqtt host=127.0.0.1 port=1 source=nope ! fakesink",
    )
    .expect("an error");
    assert!(err.contains("named nope"), "{err}");
}

#[test]
fn a_killed_pipeline_leaves_offline_availability_by_its_last_will() {
    init();
    let Some(bin) = mosquitto() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join("target/release/libgstviolence.so").exists() {
        eprintln!(
            "SKIPPED: this test runs gst-launch-1.0 with the plugin in target/release (make build)"
        );
        return;
    }
    let dir = temp_dir("will");
    let broker = Broker::start(&bin, &dir, false);
    let availability = format!("{PREFIX}/{CAMERA}/availability");
    let sub = Subscriber::start_on(broker.port, "will-sub", false, &format!("{PREFIX}/#"));
    let mut child = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "videotestsrc",
            "is-live=true",
            "!",
            "violencemqtt",
            "host=127.0.0.1",
        ])
        .arg(format!("port={}", broker.port))
        .arg(format!("camera={CAMERA}"))
        .arg(format!("topic-prefix={PREFIX}"))
        .args(["!", "fakesink"])
        .env("GST_PLUGIN_PATH", root.join("target/release"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    sub.wait_until("online", |s| s.topic(&availability) == ["online"]);
    // kill -9: no DISCONNECT, so the broker publishes the will.
    child.kill().unwrap();
    let _ = child.wait();
    sub.wait_until("the last will", |s| {
        s.topic(&availability) == ["online", "offline"]
    });
    assert_eq!(retained(broker.port, &availability), "offline");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn broker_outage_loses_no_event() {
    init();
    let Some(bin) = mosquitto() else { return };
    let dir = temp_dir("outage");
    // The subscriber's session survives the restart, so that it gets what the element
    // publishes after the restart even if the element reconnects first.
    let mut broker = Broker::start(&bin, &dir, true);
    let sub = Subscriber::start(broker.port, "outage-sub", true);
    let (pipeline, src, mqtt) = pipeline(broker.port, "");
    pipeline.set_state(gst::State::Playing).unwrap();
    let motion = [20..40, 100..120, 160..180, 220..240, 320..340];

    push(&src, 0..80, &motion);
    sub.wait_until("the events before the outage", |s| s.events().len() == 2);
    // Nothing in flight when the broker goes (so that no QoS 1 redelivery can happen): the
    // subscriber may get an event before the element gets its PUBACK.
    wait_for("the PUBACKs", || mqtt.property::<u32>("queued") == 0);

    broker.stop();
    let t = Instant::now();
    push(&src, 80..280, &motion);
    // The stream goes on while the broker is away: three events wait in the element.
    wait_for("six queued events", || mqtt.property::<u32>("queued") == 6);
    assert!(!mqtt.property::<bool>("connected"));
    assert!(t.elapsed() < Duration::from_secs(20));
    wait(Duration::from_millis(500));

    broker.restart();
    push(&src, 280..380, &motion);
    src.end_of_stream().unwrap();
    let (bus, warnings) = until_eos(&pipeline);
    assert_eq!(bus.len(), 10, "five events: {bus:?}");
    sub.wait_until("every event", |s| s.events().len() >= bus.len());
    pipeline.set_state(gst::State::Null).unwrap();
    // Each once and in order, compared field by field with the bus messages.
    assert_same_events(&sub.events(), &bus);
    assert_eq!(mqtt.property::<u64>("dropped"), 0);
    assert!(
        warnings.iter().any(|w| w.contains("unreachable")),
        "the outage is a warning: {warnings:?}"
    );
    assert_eq!(retained_state(broker.port), "OFF");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreachable_broker_is_a_warning_and_stop_does_not_hang() {
    init();
    let port = free_port();
    let (pipeline, src, mqtt) = pipeline(port, "flush-timeout=300 max-queue=3");
    pipeline.set_state(gst::State::Playing).unwrap();
    let motion = [10..20, 60..70, 110..120];
    push(&src, 0..160, &motion);
    src.end_of_stream().unwrap();
    let (bus, mut warnings) = until_eos(&pipeline);
    assert_eq!(bus.len(), 6);
    // The first connection attempt may fail after the stream ended.
    let bus_ = pipeline.bus().unwrap();
    while !warnings.iter().any(|w| w.contains("unreachable")) {
        let Some(msg) = bus_.timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Warning],
        ) else {
            break;
        };
        if let gst::MessageView::Warning(w) = msg.view() {
            warnings.push(format!("{} ({})", w.error(), w.debug().unwrap_or_default()));
        }
    }
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("unreachable") && w.contains(&port.to_string())),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("queue full")),
        "{warnings:?}"
    );
    assert_eq!(mqtt.property::<u32>("queued"), 3);
    assert_eq!(mqtt.property::<u64>("dropped"), 3);
    let t = Instant::now();
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        t.elapsed()
    );
}

#[test]
fn pipelines_mqtt_sh_publishes_the_events_of_a_file() {
    init();
    let Some(bin) = mosquitto() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join("target/release/libgstviolence.so").exists() {
        eprintln!("SKIPPED: pipelines/mqtt.sh needs the plugin in target/release (make build)");
        return;
    }
    let dir = temp_dir("script");
    // A moving ball: every clip of the motion model is violent, so one event, ended by EOS.
    let video = dir.join("ball.mp4");
    write_ball_video(&video);

    let broker = Broker::start(&bin, &dir, false);
    // The script keeps the default topic prefix.
    let sub = Subscriber::start_on(broker.port, "script-sub", false, "gst-violence/#");
    let out = Command::new(root.join("pipelines/mqtt.sh"))
        .arg(&video)
        .args(["127.0.0.1", &broker.port.to_string(), CAMERA])
        .env("MODEL", model("motion.pt"))
        .env("GST_PLUGIN_PATH", "")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    sub.wait_until("the script's messages", |s| s.all().len() >= 7);
    let got = sub.all();
    let kinds: Vec<_> = got
        .iter()
        .map(
            |r| match serde_json::from_str::<serde_json::Value>(&r.payload) {
                Ok(v) => format!("{} {}", r.topic, v["kind"].as_str().unwrap_or("?")),
                Err(_) => format!("{} {}", r.topic, r.payload),
            },
        )
        .collect();
    assert_eq!(
        kinds,
        [
            "gst-violence/cam1/availability online",
            "gst-violence/cam1/state OFF",
            "gst-violence/cam1/events violence-start",
            "gst-violence/cam1/state ON",
            "gst-violence/cam1/events violence-end",
            "gst-violence/cam1/state OFF",
            "gst-violence/cam1/availability offline",
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn home_assistant_discovery_config_is_retained_and_points_at_the_camera_topics() {
    init();
    let Some(bin) = mosquitto() else { return };
    let dir = temp_dir("discovery");
    let broker = Broker::start(&bin, &dir, false);
    let (pipeline, src, _mqtt) = pipeline(broker.port, "discovery=true discovery-prefix=ha");
    pipeline.set_state(gst::State::Playing).unwrap();
    push(&src, 0..40, std::slice::from_ref(&(20..40)));
    src.end_of_stream().unwrap();
    let _ = until_eos(&pipeline);
    pipeline.set_state(gst::State::Null).unwrap();
    // A subscriber that comes later (Home Assistant starting) gets the retained config.
    let config_topic = format!("ha/binary_sensor/{CAMERA}_violence/config");
    let config: serde_json::Value =
        serde_json::from_str(&retained(broker.port, &config_topic)).unwrap();
    assert_eq!(config["state_topic"], format!("{PREFIX}/{CAMERA}/state"));
    assert_eq!(
        config["availability_topic"],
        format!("{PREFIX}/{CAMERA}/availability")
    );
    assert_eq!(config["device_class"], "safety");
    assert_eq!(config["unique_id"], format!("gst_violence_{CAMERA}"));
    // And the state and availability it points at are there, retained.
    assert_eq!(retained_state(broker.port), "OFF");
    assert_eq!(
        retained(broker.port, &format!("{PREFIX}/{CAMERA}/availability")),
        "offline"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
