// SPDX-License-Identifier: MPL-2.0

//! The properties of `violencemqtt` and the settings they hold.

use super::link::Config;
use super::payload::{self, camera_level, Topics};
use gst::glib;
use gst::prelude::*;

const DEFAULT_HOST: &str = "localhost";
const DEFAULT_PORT: u32 = 1883;
const DEFAULT_PREFIX: &str = "gst-violence";
const DEFAULT_QOS: u32 = 1;
const DEFAULT_KEEP_ALIVE: u32 = 30;
const DEFAULT_MAX_QUEUE: u32 = 1000;
const DEFAULT_FLUSH_TIMEOUT: u32 = 3000;
const DEFAULT_DISCOVERY_PREFIX: &str = "homeassistant";

#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub client_id: Option<String>,
    pub topic_prefix: String,
    pub camera: Option<String>,
    pub qos: u32,
    pub username: Option<String>,
    pub password: Option<String>,
    pub keep_alive: u16,
    pub max_queue: u32,
    pub flush_timeout: u32,
    /// Home Assistant MQTT discovery (a retained config for a binary sensor per camera).
    pub discovery: bool,
    pub discovery_prefix: String,
    /// Names of violenceclassify elements whose events are published out-of-band.
    pub source: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            host: DEFAULT_HOST.into(),
            port: DEFAULT_PORT as u16,
            client_id: None,
            topic_prefix: DEFAULT_PREFIX.into(),
            camera: None,
            qos: DEFAULT_QOS,
            username: None,
            password: None,
            keep_alive: DEFAULT_KEEP_ALIVE as u16,
            max_queue: DEFAULT_MAX_QUEUE,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            discovery: false,
            discovery_prefix: DEFAULT_DISCOVERY_PREFIX.into(),
            source: None,
        }
    }
}

/// What a started element publishes with, the defaults resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub camera: String,
    pub topics: Topics,
    pub config: Config,
}

impl Settings {
    /// Resolves the camera (default: the element's name) and the client id (default:
    /// `gst-violence-<camera>-<pid>`, unique per process and camera, since a broker
    /// disconnects a client when another connects with the same id).
    pub fn resolve(&self, element_name: &str) -> Result<Resolved, String> {
        let camera = camera_level(
            self.camera
                .as_deref()
                .filter(|c| !c.is_empty())
                .unwrap_or(element_name),
        );
        let topics = Topics::new(&self.topic_prefix, &camera)?;
        let client_id = match self.client_id.as_deref().filter(|c| !c.is_empty()) {
            Some(id) if id.starts_with(' ') => {
                return Err(format!("client-id '{id}' starts with a space"))
            }
            Some(id) => id.to_string(),
            None => format!("gst-violence-{camera}-{}", std::process::id()),
        };
        if self.host.is_empty() {
            return Err("host is empty".into());
        }
        let availability = Some(topics.availability.clone());
        let discovery = if self.discovery {
            Some(payload::discovery(
                &self.discovery_prefix,
                &camera,
                &topics,
            )?)
        } else {
            None
        };
        Ok(Resolved {
            camera,
            topics,
            config: Config {
                host: self.host.clone(),
                port: self.port,
                client_id,
                username: self.username.clone().filter(|u| !u.is_empty()),
                password: self.password.clone(),
                keep_alive: self.keep_alive,
                qos1: self.qos >= 1,
                max_queue: self.max_queue as usize,
                availability,
                discovery,
            },
        })
    }

    pub fn properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecString::builder("host")
                .nick("Broker host")
                .blurb("Host name or address of the MQTT broker")
                .default_value(Some(DEFAULT_HOST))
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("port")
                .nick("Broker port")
                .blurb("TCP port of the MQTT broker (plain MQTT, no TLS)")
                .minimum(1)
                .maximum(65535)
                .default_value(DEFAULT_PORT)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("client-id")
                .nick("Client id")
                .blurb("MQTT client id; unset = gst-violence-<camera>-<process id>. Two clients with the same id disconnect each other")
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("topic-prefix")
                .nick("Topic prefix")
                .blurb("First levels of the topics: events go to <prefix>/<camera>/events (JSON, one message per event), the state to <prefix>/<camera>/state (ON/OFF, retained). No + or #")
                .default_value(Some(DEFAULT_PREFIX))
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("camera")
                .nick("Camera")
                .blurb("Camera name: one topic level ('/', '+' and '#' become '_') and the 'camera' field of each message; unset = the element's name")
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("source")
                .nick("Event source")
                .blurb("Names of violenceclassify elements in the same pipeline (searched from the top-level bin), separated by commas, whose violence-event signals are published instead of the in-band events: one camera's state is ON while any of them is in an event (e.g. two models on one camera). Unset = in-band events")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("qos")
                .nick("QoS")
                .blurb("MQTT quality of service of every publish: 1 = at least once (an event is kept until the broker acknowledges it and sent again after a reconnection), 0 = at most once (kept until written)")
                .minimum(0)
                .maximum(1)
                .default_value(DEFAULT_QOS)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("username")
                .nick("User name")
                .blurb("User name for the broker; unset = anonymous")
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("password")
                .nick("Password")
                .blurb("Password for the broker, with username (write-only)")
                .write_only()
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("keep-alive")
                .nick("Keep-alive")
                .blurb("MQTT keep-alive in seconds: a broker that does not answer a ping within it counts as unreachable; 0 = no pings")
                .minimum(0)
                .maximum(65535)
                .default_value(DEFAULT_KEEP_ALIVE)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("max-queue")
                .nick("Maximum queue")
                .blurb("Events kept while the broker is unreachable or has not acknowledged them. When full, the oldest event not in flight is dropped with a warning and counted in 'dropped'; the retained state is never dropped")
                .minimum(1)
                .maximum(1_000_000)
                .default_value(DEFAULT_MAX_QUEUE)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("flush-timeout")
                .nick("Flush timeout")
                .blurb("Milliseconds that stopping the element (PAUSED to READY) waits for queued events to reach the broker; what is left is reported in a warning. 0 = do not wait")
                .minimum(0)
                .maximum(600_000)
                .default_value(DEFAULT_FLUSH_TIMEOUT)
                .mutable_ready()
                .build(),
            glib::ParamSpecBoolean::builder("discovery")
                .nick("Home Assistant discovery")
                .blurb("Publish a retained Home Assistant MQTT discovery config (binary_sensor, device class safety) for the camera on every connection: <discovery-prefix>/binary_sensor/<camera>_violence/config, pointing at the state and availability topics, with the last event's fields as attributes")
                .default_value(false)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("discovery-prefix")
                .nick("Discovery prefix")
                .blurb("Topic prefix Home Assistant listens on for discovery")
                .default_value(Some(DEFAULT_DISCOVERY_PREFIX))
                .mutable_ready()
                .build(),
            glib::ParamSpecBoolean::builder("connected")
                .nick("Connected")
                .blurb("Whether the element is connected to the broker now")
                .read_only()
                .build(),
            glib::ParamSpecUInt::builder("queued")
                .nick("Queued")
                .blurb("Events not yet acknowledged by the broker")
                .read_only()
                .build(),
            glib::ParamSpecUInt64::builder("delivered")
                .nick("Delivered")
                .blurb("Events acknowledged by the broker (written, with qos=0) since the element started")
                .read_only()
                .build(),
            glib::ParamSpecUInt64::builder("dropped")
                .nick("Dropped")
                .blurb("Events dropped because max-queue was full, since the element started")
                .read_only()
                .build(),
        ]
    }

    /// Sets a writable property; false for names that are not settings.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        let string = || value.get::<Option<String>>().ok().flatten();
        match name {
            "host" => self.host = string().unwrap_or_else(|| DEFAULT_HOST.into()),
            "port" => self.port = value.get::<u32>().unwrap() as u16,
            "client-id" => self.client_id = string(),
            "topic-prefix" => self.topic_prefix = string().unwrap_or_default(),
            "camera" => self.camera = string(),
            "source" => self.source = string().filter(|s| !s.is_empty()),
            "qos" => self.qos = value.get().unwrap(),
            "username" => self.username = string(),
            "password" => self.password = string(),
            "keep-alive" => self.keep_alive = value.get::<u32>().unwrap() as u16,
            "max-queue" => self.max_queue = value.get().unwrap(),
            "flush-timeout" => self.flush_timeout = value.get().unwrap(),
            "discovery" => self.discovery = value.get().unwrap(),
            "discovery-prefix" => {
                self.discovery_prefix = string().unwrap_or_else(|| DEFAULT_DISCOVERY_PREFIX.into())
            }
            _ => return false,
        }
        true
    }

    /// Reads a setting; `None` for names that are not settings.
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        Some(match name {
            "host" => self.host.to_value(),
            "port" => (self.port as u32).to_value(),
            "client-id" => self.client_id.to_value(),
            "topic-prefix" => self.topic_prefix.to_value(),
            "camera" => self.camera.to_value(),
            "source" => self.source.to_value(),
            "qos" => self.qos.to_value(),
            "username" => self.username.to_value(),
            "keep-alive" => (self.keep_alive as u32).to_value(),
            "max-queue" => self.max_queue.to_value(),
            "flush-timeout" => self.flush_timeout.to_value(),
            "discovery" => self.discovery.to_value(),
            "discovery-prefix" => self.discovery_prefix.to_value(),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_resolve_from_the_element_name() {
        let r = Settings::default().resolve("violencemqtt0").unwrap();
        assert_eq!(r.camera, "violencemqtt0");
        assert_eq!(r.topics.events, "gst-violence/violencemqtt0/events");
        assert_eq!(
            r.config.client_id,
            format!("gst-violence-violencemqtt0-{}", std::process::id())
        );
        assert_eq!((r.config.port, r.config.keep_alive), (1883, 30));
        assert!(r.config.qos1);
        assert_eq!(r.config.username, None);
    }

    #[test]
    fn camera_and_ids_as_set() {
        let s = Settings {
            camera: Some("front/door".into()),
            client_id: Some("nvr-1".into()),
            topic_prefix: "site".into(),
            qos: 0,
            ..Settings::default()
        };
        let r = s.resolve("x").unwrap();
        assert_eq!(r.camera, "front_door");
        assert_eq!(r.topics.state, "site/front_door/state");
        assert_eq!(r.config.client_id, "nvr-1");
        assert!(!r.config.qos1);
    }

    #[test]
    fn bad_settings_are_errors() {
        let bad_prefix = Settings {
            topic_prefix: "a/#".into(),
            ..Settings::default()
        };
        assert!(bad_prefix.resolve("x").is_err());
        let bad_id = Settings {
            client_id: Some(" id".into()),
            ..Settings::default()
        };
        assert!(bad_id.resolve("x").is_err());
        let no_host = Settings {
            host: String::new(),
            ..Settings::default()
        };
        assert!(no_host.resolve("x").is_err());
    }
}
