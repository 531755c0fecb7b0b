// SPDX-License-Identifier: MPL-2.0

//! The thread that owns the MQTT client: it connects, publishes what the outbox holds,
//! tracks acknowledgements and reconnects with backoff. The streaming thread only puts
//! messages into the outbox and never waits on the network.

use super::outbox::{Backoff, Message, Outbox};
use crate::MutexExt;
use rumqttc::{Client, ConnectionError, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a connected link looks for new messages in the outbox.
const POLL: Duration = Duration::from_millis(20);
/// How long the client may take to open the TCP connection and get CONNACK.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages in flight (sent, not acknowledged).
const WINDOW: usize = 16;
pub const BACKOFF_MIN: Duration = Duration::from_millis(200);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Seconds; 0 = no keep-alive.
    pub keep_alive: u16,
    pub qos1: bool,
    pub max_queue: usize,
    /// The availability topic: `online` (retained) on every connection, and `offline` as the
    /// client's last will, which the broker publishes when the connection is lost without a
    /// DISCONNECT (a killed process, a cut network).
    pub availability: Option<String>,
    /// A retained message sent on every connection before `online` (Home Assistant's
    /// discovery config), as a broker without persistence forgets it when it restarts.
    pub discovery: Option<Message>,
}

pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";

impl Config {
    fn options(&self) -> MqttOptions {
        let mut o = MqttOptions::new(&self.client_id, &self.host, self.port);
        // A clean session: the outbox, not the broker, keeps what is undelivered.
        o.set_clean_session(true)
            .set_keep_alive(Duration::from_secs(self.keep_alive.into()))
            .set_inflight(WINDOW as u16)
            .set_request_channel_capacity(WINDOW + 2);
        if let Some(user) = &self.username {
            o.set_credentials(user, self.password.as_deref().unwrap_or(""));
        }
        if let Some(topic) = &self.availability {
            o.set_last_will(LastWill::new(topic, OFFLINE, QoS::AtLeastOnce, true));
        }
        o
    }

    /// What every connection starts with: the discovery config, then `online`.
    pub fn on_connection(&self) -> Vec<Message> {
        self.discovery
            .iter()
            .cloned()
            .chain(self.availability_message(ONLINE))
            .collect()
    }

    /// The retained availability message `value` (`online` / `offline`), if any.
    pub fn availability_message(&self, value: &str) -> Option<Message> {
        self.availability.as_ref().map(|topic| Message {
            topic: topic.clone(),
            payload: value.as_bytes().to_vec(),
            retain: true,
        })
    }
}

/// What the link tells the element about.
#[derive(Debug)]
pub enum Notice {
    Connected,
    /// The first failure of an outage (later attempts are only logged).
    Unreachable(String),
    Retrying(String, Duration),
    /// The thread stopped: undelivered events at that point.
    Closed {
        undelivered: usize,
    },
    /// The thread stopped on an error (a panic, a refused publish): nothing more goes out.
    Failed(String),
}

#[derive(Debug, Default)]
struct Control {
    connected: bool,
    /// Set by `close`: deliver what is left until this instant, then disconnect.
    closing: Option<Instant>,
    finished: bool,
}

struct Shared {
    outbox: Mutex<Outbox>,
    control: Mutex<Control>,
    changed: Condvar,
}

/// The element's handle on the publishing thread.
pub struct Link {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Link {
    /// Starts the thread; it connects in the background.
    pub fn start(
        config: Config,
        notify: impl Fn(Notice) + Send + 'static,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            outbox: Mutex::new(Outbox::new(config.max_queue, WINDOW, config.qos1)),
            control: Mutex::new(Control::default()),
            changed: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("violencemqtt".into())
            .spawn(move || {
                // A panic here must not go unnoticed, nor cross into GStreamer.
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run(&config, &thread_shared, &notify)
                }));
                if let Err(panic) = run {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    notify(Notice::Failed(what));
                }
                let mut c = thread_shared.control.locked();
                c.connected = false;
                c.finished = true;
                thread_shared.changed.notify_all();
            })?;
        Ok(Link {
            shared,
            thread: Some(thread),
        })
    }

    /// Queues an event; returns the event dropped to make room, if any.
    pub fn publish(&self, message: Message) -> Option<Message> {
        self.shared.outbox.locked().push(message)
    }

    pub fn set_state(&self, message: Message) {
        self.shared.outbox.locked().set_state(message);
    }

    /// Queues the retained availability after everything else (`offline` before a clean stop,
    /// which sends no last will).
    pub fn set_availability(&self, message: Message) {
        self.shared.outbox.locked().set_availability(message);
    }

    pub fn connected(&self) -> bool {
        self.shared.control.locked().connected
    }

    /// (undelivered, dropped, delivered) events.
    pub fn counts(&self) -> (usize, u64, u64) {
        let o = self.shared.outbox.locked();
        (o.waiting(), o.dropped(), o.delivered())
    }

    /// Gives the thread up to `grace` to deliver what is left, then stops it. Waits at most
    /// `grace` and one second for the DISCONNECT; a thread still inside a connection attempt
    /// (a host that does not answer) is left to end on its own; its `Closed` notice then
    /// reports what it could not deliver.
    pub fn close(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let mut c = self.shared.control.locked();
        c.closing = Some(deadline);
        self.shared.changed.notify_all();
        let limit = deadline + Duration::from_secs(1);
        while !c.finished {
            let now = Instant::now();
            if now >= limit {
                return;
            }
            c = self
                .shared
                .changed
                .wait_timeout(c, limit - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        drop(c);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Without close (e.g. a failed start): stop at once.
        let mut c = self.shared.control.locked();
        if c.closing.is_none() {
            c.closing = Some(Instant::now());
            self.shared.changed.notify_all();
        }
    }
}

fn run(config: &Config, shared: &Shared, notify: &dyn Fn(Notice)) {
    let (client, mut connection) = Client::new(config.options(), WINDOW + 2);
    let qos = if config.qos1 {
        QoS::AtLeastOnce
    } else {
        QoS::AtMostOnce
    };
    let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
    let mut connected = false;
    let mut outage_reported = false;
    loop {
        let closing = shared.control.locked().closing;
        if let Some(deadline) = closing {
            // Events wait for the broker until the deadline; the state only when connected,
            // so that a pipeline without a broker and without events stops at once.
            let done = {
                let o = shared.outbox.locked();
                o.is_empty() || (!connected && o.waiting() == 0)
            };
            if done || Instant::now() >= deadline {
                break;
            }
        }
        if connected {
            let mut outbox = shared.outbox.locked();
            while let Some(m) = outbox.take_next() {
                if let Err(e) = client.try_publish(m.topic, qos, m.retain, m.payload) {
                    // Only a bad topic or a full channel, which the window rules out.
                    notify(Notice::Failed(format!("publish refused: {e}")));
                    return;
                }
            }
        }
        let wait = if connected {
            POLL
        } else {
            CONNECT_TIMEOUT + Duration::from_secs(1)
        };
        match connection.recv_timeout(wait) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                shared.outbox.locked().announce(config.on_connection());
                connected = true;
                outage_reported = false;
                backoff.reset();
                shared.control.locked().connected = true;
                notify(Notice::Connected);
            }
            Ok(Ok(Event::Incoming(Packet::PubAck(ack)))) => {
                shared.outbox.locked().on_acked(ack.pkid);
            }
            Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => {
                shared.outbox.locked().on_sent(pkid);
            }
            Ok(Ok(_)) => (),
            Ok(Err(e)) => {
                connected = false;
                shared.control.locked().connected = false;
                // The client dropped its queue with the session: all goes again.
                shared.outbox.locked().on_disconnected();
                let delay = backoff.delay();
                let why = describe(&e);
                if outage_reported {
                    notify(Notice::Retrying(why, delay));
                } else {
                    outage_reported = true;
                    notify(Notice::Unreachable(why));
                }
                // Sleeps the backoff, no later than the closing deadline, and wakes when
                // asked to close.
                let c = shared.control.locked();
                let closing = c.closing;
                let sleep = closing.map_or(delay, |d| {
                    delay.min(d.saturating_duration_since(Instant::now()))
                });
                let _ = shared
                    .changed
                    .wait_timeout_while(c, sleep, |c| c.closing == closing);
            }
            Err(rumqttc::RecvTimeoutError::Timeout) => (),
            Err(rumqttc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if connected {
        // A polite DISCONNECT, so that the broker does not wait for the keep-alive.
        if client.try_disconnect().is_ok() {
            let until = Instant::now() + Duration::from_millis(500);
            while Instant::now() < until {
                match connection.recv_timeout(Duration::from_millis(100)) {
                    Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(_)) => (),
                }
            }
        }
    }
    notify(Notice::Closed {
        undelivered: shared.outbox.locked().waiting(),
    });
}

fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}
