// SPDX-License-Identifier: MPL-2.0

use super::link::{Link, Notice, BACKOFF_MAX, BACKOFF_MIN, OFFLINE};
use super::outbox::Message;
use super::payload::{self, Topics, VIOLENCE_RECORDING};
use super::settings::Settings;
use crate::event::{EventKind, ViolenceEvent};
use crate::sources::either::Either;
use crate::sources::{self as source, SourceConnection};
use crate::MutexExt;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "violencemqtt",
        gst::DebugColorFlags::empty(),
        Some("Violence events to MQTT"),
    )
});

/// Between start and stop.
struct Running {
    link: Link,
    camera: String,
    topics: Topics,
    /// Numbers the messages: the consumer's key against QoS 1 redeliveries.
    seq: payload::Sequence,
    flush_timeout: Duration,
    drop_warned: bool,
    /// Sent at a clean stop (the last will covers the others).
    availability_offline: Option<Message>,
    /// The start of the event going on, as published: a stop without its end ends it.
    open: Option<ViolenceEvent>,
}

#[derive(Default)]
pub struct ViolenceMqtt {
    settings: Mutex<Settings>,
    running: Mutex<Option<Running>>,
    /// source=a,b: the classifiers whose signals are published.
    sources: Mutex<Vec<SourceConnection>>,
    /// Their events merged, held while a merged event is queued so that two sources'
    /// threads cannot reorder a start and an end.
    either: Mutex<Either>,
}

#[glib::object_subclass]
impl ObjectSubclass for ViolenceMqtt {
    const NAME: &'static str = "GstViolenceMqtt";
    type Type = super::ViolenceMqtt;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for ViolenceMqtt {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(Settings::properties);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if !self.settings.locked().set(pspec.name(), value) {
            unreachable!("unknown property {}", pspec.name());
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(v) = self.settings.locked().get(pspec.name()) {
            return v;
        }
        let running = self.running.locked();
        let link = running.as_ref().map(|r| &r.link);
        let (queued, dropped, delivered) = link.map_or((0, 0, 0), Link::counts);
        match pspec.name() {
            "connected" => link.is_some_and(Link::connected).to_value(),
            "queued" => (queued as u32).to_value(),
            "dropped" => dropped.to_value(),
            "delivered" => delivered.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for ViolenceMqtt {}

impl ElementImpl for ViolenceMqtt {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "Violence events to MQTT",
                "Filter/Metadata/Network",
                "Publishes the violence-start and violence-end events it sees in-band (and \
                 violence-recording ones, if any travel in-band) as JSON to \
                 <prefix>/<camera>/events, QoS 1 (with the frame's UTC time), the camera's state \
                 ON/OFF, retained, to <prefix>/<camera>/state, and online/offline, retained, to \
                 <prefix>/<camera>/availability (offline is also the last will). Passes everything through; a thread of its own \
                 owns the connection, so the stream never waits on the network. Events are \
                 kept while the broker is unreachable (up to max-queue), retried with \
                 exponential backoff (0.2 s doubling to 5 s), and delivered in order once it \
                 is back; each message has a 'seq', rising across restarts (at least its queue time in ms since 1970), that a QoS 1 redelivery repeats",
                "gst-violence developers",
                &[("example-launch", super::EXAMPLE_LAUNCH)],
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| crate::src_sink_templates(&gst::Caps::new_any()));
        TEMPLATES.as_ref()
    }
}

/// Posts what the publishing thread reports, from that thread.
fn notifier(
    element: &super::ViolenceMqtt,
    broker: String,
    max_queue: u32,
) -> impl Fn(Notice) + Send + 'static {
    let weak = element.downgrade();
    move |notice| {
        let Some(obj) = weak.upgrade() else {
            return;
        };
        match notice {
            Notice::Connected => gst::info!(CAT, obj = obj, "connected to {broker}"),
            Notice::Unreachable(why) => gst::element_warning!(
                obj,
                gst::ResourceError::OpenWrite,
                ("MQTT broker {} unreachable: {}", broker, why),
                [
                    "events are kept (up to max-queue={}) and sent in order once it is back; \
                     retrying every {:?} to {:?}",
                    max_queue,
                    BACKOFF_MIN,
                    BACKOFF_MAX
                ]
            ),
            Notice::Retrying(why, delay) => {
                gst::debug!(CAT, obj = obj, "{broker}: {why}; next attempt in {delay:?}")
            }
            Notice::Closed { undelivered: 0 } => {
                gst::debug!(CAT, obj = obj, "disconnected from {broker}")
            }
            Notice::Closed { undelivered } => gst::element_warning!(
                obj,
                gst::ResourceError::Write,
                (
                    "{} events not delivered to the MQTT broker {} before stopping",
                    undelivered,
                    broker
                ),
                ["raise flush-timeout to wait longer for the broker"]
            ),
            Notice::Failed(why) => gst::element_warning!(
                obj,
                gst::LibraryError::Failed,
                ["MQTT publishing stopped: {}", why]
            ),
        }
    }
}

impl ViolenceMqtt {
    /// The event frame's wall-clock time (now, less how long ago the pipeline clock passed
    /// the frame's running time; `None` outside PLAYING) and now.
    fn wall_times(&self, e: &ViolenceEvent) -> payload::WallTimes {
        let now = SystemTime::now();
        let obj = self.obj();
        let frame = obj.clock().zip(obj.base_time()).map(|(clock, base)| {
            let at = base.nseconds() as i128 + e.running_time as i128;
            let ago = clock.time().nseconds() as i128 - at;
            let magnitude =
                std::time::Duration::from_nanos(ago.unsigned_abs().min(u64::MAX as u128) as u64);
            let when = if ago >= 0 {
                now.checked_sub(magnitude)
            } else {
                now.checked_add(magnitude)
            };
            payload::iso8601_utc(when.unwrap_or(now))
        });
        payload::WallTimes {
            frame,
            queued: payload::iso8601_utc(now),
        }
    }

    /// Publishes the merged events of `classifiers` (source=a,b) from their signals.
    fn connect_sources(&self, classifiers: &[gst::Element]) {
        *self.either.locked() = Either::new(classifiers.len());
        let obj = self.obj();
        let connections = classifiers
            .iter()
            .enumerate()
            .map(|(i, classifier)| {
                let weak = obj.downgrade();
                SourceConnection::connect(
                    classifier,
                    move |event| {
                        if let Some(obj) = weak.upgrade() {
                            let imp = obj.imp();
                            let mut either = imp.either.locked();
                            for event in either.event(i, event) {
                                imp.publish(&event.to_structure());
                            }
                        }
                    },
                    None::<fn(source::Level)>,
                )
            })
            .collect();
        *self.sources.locked() = connections;
    }

    /// Queues the message for an in-band event, with the state change it implies.
    fn publish(&self, s: &gst::StructureRef) {
        let mut guard = self.running.locked();
        let Some(run) = guard.as_mut() else {
            return;
        };
        let now = payload::unix_ms(SystemTime::now());
        let (json, state) = match ViolenceEvent::from_structure(s) {
            // Scores come with every clip when violenceclassify emits them; not published.
            Some(e) if e.kind == EventKind::Score => return,
            Some(e) => {
                run.open = match e.kind {
                    EventKind::Start => Some(e.clone()),
                    _ => None,
                };
                let seq = run.seq.next(now);
                (
                    payload::event_json(&e, &run.camera, seq, &self.wall_times(&e)),
                    payload::state_after(e.kind),
                )
            }
            None if s.name() == VIOLENCE_RECORDING => {
                let seq = run.seq.next(now);
                (payload::structure_json(s, &run.camera, seq), None)
            }
            None => return,
        };
        gst::debug!(CAT, imp = self, "publishing {json}");
        // The event, then the state it leaves the camera in.
        let dropped = run.link.publish(Message {
            topic: run.topics.events.clone(),
            payload: json.to_string().into_bytes(),
            retain: false,
        });
        if let Some(state) = state {
            run.link.set_state(state_message(&run.topics, state));
        }
        if let Some(dropped) = dropped {
            let payload = String::from_utf8_lossy(&dropped.payload).into_owned();
            gst::warning!(CAT, imp = self, "queue full, dropped {payload}");
            if !run.drop_warned {
                run.drop_warned = true;
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::NoSpaceLeft,
                    ("MQTT queue full: dropping the oldest events"),
                    ["first dropped: {}; see the 'dropped' property", payload]
                );
            }
        }
    }
}

impl ViolenceMqtt {
    /// A stop without EOS (an error, a lost camera, NULL) while an event goes on: the
    /// classifier sends no end then, so subscribers would keep a start without an end and a
    /// retained ON until the next run. The end is published here (reason `stopped`, at the
    /// running time the element got to), then OFF.
    fn end_open_event(&self, run: &mut Running) {
        let Some(start) = run.open.take() else {
            return;
        };
        let reached = self.obj().current_running_time().map(|t| t.nseconds());
        let running_time = reached
            .unwrap_or(start.running_time)
            .max(start.running_time);
        let end = ViolenceEvent {
            kind: EventKind::End,
            pts: start.pts + (running_time - start.running_time),
            running_time,
            latency: 0,
            reason: Some("stopped".into()),
            ..start
        };
        gst::info!(
            CAT,
            imp = self,
            "event still open at stop: published as ended"
        );
        let seq = run.seq.next(payload::unix_ms(SystemTime::now()));
        let json = payload::event_json(&end, &run.camera, seq, &self.wall_times(&end));
        let _ = run.link.publish(Message {
            topic: run.topics.events.clone(),
            payload: json.to_string().into_bytes(),
            retain: false,
        });
        run.link
            .set_state(state_message(&run.topics, payload::STATE_OFF));
    }
}

fn state_message(topics: &Topics, state: &str) -> Message {
    Message {
        topic: topics.state.clone(),
        payload: state.as_bytes().to_vec(),
        retain: true,
    }
}

impl BaseTransformImpl for ViolenceMqtt {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    // Caps in = caps out (any), so frames always go through untouched.
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.locked().clone();
        let obj = self.obj();
        let resolved = settings
            .resolve(&obj.name())
            .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ["{}", e]))?;
        let names = source::names(settings.source.as_deref());
        let classifiers = source::find_all(obj.upcast_ref(), &names)
            .map_err(|e| gst::error_msg!(gst::CoreError::Failed, ["{}", e]))?;
        let broker = format!("{}:{}", settings.host, settings.port);
        let notify = notifier(&obj, broker.clone(), settings.max_queue);
        let availability_offline = resolved.config.availability_message(OFFLINE);
        let link = Link::start(resolved.config, notify).map_err(|e| {
            gst::error_msg!(
                gst::LibraryError::Init,
                ["cannot start the MQTT thread: {}", e]
            )
        })?;
        // The stream starts idle; a retained OFF tells subscribers so.
        link.set_state(state_message(&resolved.topics, payload::STATE_OFF));
        gst::info!(
            CAT,
            imp = self,
            "publishing to {broker}: {} and {}",
            resolved.topics.events,
            resolved.topics.state
        );
        *self.running.locked() = Some(Running {
            link,
            camera: resolved.camera,
            topics: resolved.topics,
            seq: payload::Sequence::default(),
            flush_timeout: Duration::from_millis(settings.flush_timeout.into()),
            drop_warned: false,
            availability_offline,
            open: None,
        });
        if !classifiers.is_empty() {
            gst::info!(CAT, imp = self, "events of {}", names.join(", "));
            self.connect_sources(&classifiers);
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        for connection in std::mem::take(&mut *self.sources.locked()) {
            connection.disconnect();
        }
        // Taken out first: close waits for the broker, and property reads must not.
        let running = self.running.locked().take();
        if let Some(mut run) = running {
            self.end_open_event(&mut run);
            // A clean stop sends no last will: say so ourselves, after the last event.
            if let Some(offline) = run.availability_offline.clone() {
                run.link.set_availability(offline);
            }
            run.link.close(run.flush_timeout);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::CustomDownstream(c) = event.view() {
            // With source=, the classifiers' signals bring the violence events instead.
            let out_of_band = !self.sources.locked().is_empty();
            if let Some(s) = c
                .structure()
                .filter(|s| !out_of_band || ViolenceEvent::from_structure(s).is_none())
            {
                self.publish(s);
            }
        }
        self.parent_sink_event(event)
    }
}
