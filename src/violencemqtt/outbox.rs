// SPDX-License-Identifier: MPL-2.0

//! What `violencemqtt` still has to deliver, free of any network: the events in order, the
//! retained state, which of them the client has sent under which packet id, and which the
//! broker has acknowledged. An event leaves the outbox only when the broker has it.
//!
//! The MQTT client keeps its own queue too, but drops it when the broker comes back with a
//! fresh session (a restarted broker without persistence): so the outbox is the one queue
//! that counts, and everything not acknowledged is sent again after each reconnection.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// One MQTT publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Queued,
    /// Handed to the client, which has not written it yet.
    Submitted,
    /// Written, waiting for its PUBACK.
    Sent,
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Event,
    /// A retained state change (`ON` / `OFF`).
    State,
    /// The retained availability (`online` / `offline`).
    Availability,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    message: Message,
    kind: Kind,
    stage: Stage,
}

#[derive(Debug)]
pub struct Outbox {
    /// Events and state changes, in the order they happened.
    entries: VecDeque<Entry>,
    /// Submitted entries in submission order: the client assigns packet ids in this order.
    submitted: VecDeque<u64>,
    sent: HashMap<u16, u64>,
    /// The last state the broker acknowledged, sent again after each reconnection.
    confirmed_state: Option<Message>,
    max_queue: usize,
    window: usize,
    qos1: bool,
    next_id: u64,
    dropped: u64,
    delivered: u64,
}

impl Outbox {
    /// At most `max_queue` (≥ 1) undelivered events, at most `window` (≥ 1) messages in
    /// flight. With `qos1` false (QoS 0) a message is done once written.
    pub fn new(max_queue: usize, window: usize, qos1: bool) -> Self {
        Outbox {
            entries: VecDeque::new(),
            submitted: VecDeque::new(),
            sent: HashMap::new(),
            confirmed_state: None,
            max_queue: max_queue.max(1),
            window: window.max(1),
            qos1,
            next_id: 0,
            dropped: 0,
            delivered: 0,
        }
    }

    fn count(&self, kind: Kind) -> usize {
        self.entries.iter().filter(|e| e.kind == kind).count()
    }

    /// Drops the oldest entry of this kind that is not in flight.
    fn drop_oldest(&mut self, kind: Kind) -> Option<Message> {
        let i = self
            .entries
            .iter()
            .position(|e| e.kind == kind && e.stage == Stage::Queued)?;
        self.entries.remove(i).map(|e| e.message)
    }

    fn entry(&mut self, message: Message, kind: Kind) -> Entry {
        self.next_id += 1;
        Entry {
            id: self.next_id,
            message,
            kind,
            stage: Stage::Queued,
        }
    }

    fn append(&mut self, message: Message, kind: Kind) {
        let entry = self.entry(message, kind);
        self.entries.push_back(entry);
    }

    /// What each connection starts with, in order, first of all that is queued (the discovery
    /// config, then `online`: the broker published the will when the last connection was
    /// lost). Older ones not yet in flight are replaced.
    pub fn announce(&mut self, messages: Vec<Message>) {
        while self.drop_oldest(Kind::Availability).is_some() {}
        for message in messages.into_iter().rev() {
            let entry = self.entry(message, Kind::Availability);
            self.entries.push_front(entry);
        }
    }

    /// The availability, after everything queued (`offline` when the element stops).
    pub fn set_availability(&mut self, message: Message) {
        while self.drop_oldest(Kind::Availability).is_some() {}
        self.append(message, Kind::Availability);
    }

    /// Queues an event. When `max_queue` events wait, the oldest event not yet in flight is
    /// dropped (the newest facts matter most to whoever reads them later) and returned;
    /// when every queued event is in flight, the new one is.
    pub fn push(&mut self, message: Message) -> Option<Message> {
        let mut dropped = None;
        if self.count(Kind::Event) >= self.max_queue {
            self.dropped += 1;
            match self.drop_oldest(Kind::Event) {
                Some(m) => dropped = Some(m),
                None => return Some(message),
            }
        }
        self.append(message, Kind::Event);
        dropped
    }

    /// Queues a retained state change, in order with the events, so that a subscriber sees
    /// even a short ON. Never dropped for events; only an older state change waiting
    /// behind `max_queue` others goes, as the newest one decides the retained value.
    pub fn set_state(&mut self, message: Message) {
        if self.count(Kind::State) >= self.max_queue {
            self.drop_oldest(Kind::State);
        }
        self.append(message, Kind::State);
    }

    fn in_flight(&self) -> usize {
        self.submitted.len() + self.sent.len()
    }

    /// The next message to hand to the client, in order, if the window allows.
    pub fn take_next(&mut self) -> Option<Message> {
        if self.in_flight() >= self.window {
            return None;
        }
        let entry = self.entries.iter_mut().find(|e| e.stage == Stage::Queued)?;
        entry.stage = Stage::Submitted;
        self.submitted.push_back(entry.id);
        Some(entry.message.clone())
    }

    /// The client wrote the oldest submitted message under `pkid`.
    pub fn on_sent(&mut self, pkid: u16) {
        let Some(id) = self.submitted.pop_front() else {
            return;
        };
        if !self.qos1 {
            self.complete(id);
            return;
        }
        if let Some(e) = self.entries.iter_mut().find(|e| e.id == id) {
            e.stage = Stage::Sent;
        }
        self.sent.insert(pkid, id);
    }

    /// The broker acknowledged `pkid`.
    pub fn on_acked(&mut self, pkid: u16) {
        if let Some(id) = self.sent.remove(&pkid) {
            self.complete(id);
        }
    }

    fn complete(&mut self, id: u64) {
        let Some(i) = self.entries.iter().position(|e| e.id == id) else {
            return;
        };
        let e = self.entries.remove(i).expect("found");
        match e.kind {
            Kind::State => self.confirmed_state = Some(e.message),
            Kind::Event => self.delivered += 1,
            Kind::Availability => (),
        }
    }

    /// The connection is gone, and with a fresh session the client forgets what it had not
    /// delivered: everything unacknowledged goes again, in order, on the next connection.
    /// The retained state goes again first, as a broker that restarted may have lost it.
    pub fn on_disconnected(&mut self) {
        for e in &mut self.entries {
            e.stage = Stage::Queued;
        }
        self.submitted.clear();
        self.sent.clear();
        if let Some(state) = self.confirmed_state.take() {
            let entry = self.entry(state, Kind::State);
            self.entries.push_front(entry);
        }
    }

    /// Events not acknowledged yet.
    pub fn waiting(&self) -> usize {
        self.count(Kind::Event)
    }

    /// Nothing left to deliver, state included.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Events the broker acknowledged (QoS 1) or that were written (QoS 0).
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
}

/// Exponential reconnection delay: `min`, doubling up to `max`, back to `min` once connected.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The delay before the next attempt.
    pub fn delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u32) -> Message {
        Message {
            topic: "p/cam/events".into(),
            payload: n.to_string().into_bytes(),
            retain: false,
        }
    }

    fn state(v: &str) -> Message {
        Message {
            topic: "p/cam/state".into(),
            payload: v.as_bytes().to_vec(),
            retain: true,
        }
    }

    /// Hands every message the window allows to a fake client that numbers packets from
    /// `*pkid`, and returns them with their packet ids.
    fn send_all(o: &mut Outbox, pkid: &mut u16) -> Vec<(u16, Message)> {
        let mut out = Vec::new();
        while let Some(m) = o.take_next() {
            *pkid += 1;
            o.on_sent(*pkid);
            out.push((*pkid, m));
        }
        out
    }

    fn available(v: &str) -> Message {
        Message {
            topic: "p/cam/availability".into(),
            payload: v.as_bytes().to_vec(),
            retain: true,
        }
    }

    #[test]
    fn availability_goes_first_on_connection_and_last_at_stop_and_is_not_an_event() {
        let mut o = Outbox::new(1, 8, true);
        o.push(msg(1));
        o.set_state(state("ON"));
        o.announce(vec![available("online")]);
        o.announce(vec![available("online")]);
        let mut pkid = 0;
        let sent: Vec<_> = send_all(&mut o, &mut pkid)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert_eq!(sent, vec![available("online"), msg(1), state("ON")]);
        // A full event queue (max 1) does not drop the availability, nor count it.
        assert_eq!(o.waiting(), 1);
        for p in 1..=pkid {
            o.on_acked(p);
        }
        assert_eq!((o.waiting(), o.delivered()), (0, 1));
        o.push(msg(2));
        o.set_availability(available("offline"));
        let sent: Vec<_> = send_all(&mut o, &mut pkid)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert_eq!(sent, vec![msg(2), available("offline")]);
        // Reconnected: the confirmed state goes again, after the new availability.
        o.on_disconnected();
        o.announce(vec![available("online")]);
        let sent: Vec<_> = send_all(&mut o, &mut pkid)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert_eq!(sent, vec![available("online"), state("ON"), msg(2)]);
    }

    #[test]
    fn events_leave_only_when_acknowledged() {
        let mut o = Outbox::new(10, 4, true);
        o.push(msg(1));
        o.push(msg(2));
        let mut pkid = 0;
        let sent = send_all(&mut o, &mut pkid);
        assert_eq!(sent.len(), 2);
        assert_eq!(o.waiting(), 2);
        o.on_acked(sent[0].0);
        assert_eq!(o.waiting(), 1);
        o.on_acked(sent[1].0);
        assert!(o.is_empty());
        assert_eq!(o.delivered(), 2);
        o.on_acked(99); // unknown ids are ignored
    }

    #[test]
    fn window_limits_what_is_in_flight() {
        let mut o = Outbox::new(10, 2, true);
        for i in 0..5 {
            o.push(msg(i));
        }
        let mut pkid = 0;
        assert_eq!(send_all(&mut o, &mut pkid).len(), 2);
        assert_eq!(o.take_next(), None);
        o.on_acked(1);
        let next = send_all(&mut o, &mut pkid);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].1, msg(2));
    }

    #[test]
    fn after_a_disconnection_everything_unacknowledged_goes_again_in_order() {
        let mut o = Outbox::new(10, 3, true);
        for i in 0..5 {
            o.push(msg(i));
        }
        let mut pkid = 0;
        let first = send_all(&mut o, &mut pkid);
        o.on_acked(first[0].0);
        o.on_disconnected();
        // Queued while disconnected.
        o.push(msg(5));
        let mut again = Vec::new();
        loop {
            let batch = send_all(&mut o, &mut pkid);
            if batch.is_empty() {
                break;
            }
            for (id, m) in batch {
                o.on_acked(id);
                again.push(m);
            }
        }
        assert_eq!(again, (1..6).map(msg).collect::<Vec<_>>());
        assert!(o.is_empty());
    }

    #[test]
    fn a_full_queue_drops_its_oldest_waiting_event() {
        let mut o = Outbox::new(3, 1, true);
        for i in 0..3 {
            assert_eq!(o.push(msg(i)), None);
        }
        let mut pkid = 0;
        send_all(&mut o, &mut pkid); // 0 in flight
        assert_eq!(
            o.push(msg(3)),
            Some(msg(1)),
            "0 is in flight, 1 is the oldest waiting"
        );
        assert_eq!(o.dropped(), 1);
        o.on_acked(1);
        let rest: Vec<_> = std::iter::from_fn(|| {
            let m = o.take_next()?;
            pkid += 1;
            o.on_sent(pkid);
            o.on_acked(pkid);
            Some(m)
        })
        .collect();
        assert_eq!(rest, vec![msg(2), msg(3)]);
    }

    #[test]
    fn a_queue_entirely_in_flight_drops_the_new_event() {
        let mut o = Outbox::new(1, 1, true);
        o.push(msg(0));
        let mut pkid = 0;
        send_all(&mut o, &mut pkid);
        assert_eq!(o.push(msg(1)), Some(msg(1)));
        assert_eq!(o.dropped(), 1);
    }

    #[test]
    fn state_changes_keep_their_place_and_the_last_goes_again_after_reconnecting() {
        let mut o = Outbox::new(10, 8, true);
        o.set_state(state("OFF"));
        o.push(msg(0));
        o.set_state(state("ON"));
        o.push(msg(1));
        o.set_state(state("OFF"));
        let mut pkid = 0;
        let sent: Vec<_> = send_all(&mut o, &mut pkid);
        let order: Vec<_> = sent.iter().map(|(_, m)| m.clone()).collect();
        assert_eq!(
            order,
            vec![state("OFF"), msg(0), state("ON"), msg(1), state("OFF")],
            "a short ON is published"
        );
        for (id, _) in &sent {
            o.on_acked(*id);
        }
        assert!(o.is_empty());
        o.on_disconnected();
        o.push(msg(2));
        assert_eq!(
            o.take_next(),
            Some(state("OFF")),
            "a restarted broker may have lost it"
        );
        assert_eq!(o.take_next(), Some(msg(2)));
    }

    #[test]
    fn state_is_not_dropped_for_events() {
        let mut o = Outbox::new(1, 1, true);
        o.set_state(state("ON"));
        o.push(msg(0));
        assert_eq!(o.push(msg(1)), Some(msg(0)));
        assert_eq!(o.take_next(), Some(state("ON")));
        // Only older state changes beyond max-queue go: the newest decides.
        o.set_state(state("OFF"));
        o.set_state(state("ON"));
        o.on_sent(1);
        o.on_acked(1);
        assert_eq!(o.take_next(), Some(msg(1)));
        o.on_sent(2);
        o.on_acked(2);
        assert_eq!(o.take_next(), Some(state("ON")));
        assert_eq!(o.dropped(), 1);
    }

    #[test]
    fn qos0_is_done_once_written() {
        let mut o = Outbox::new(10, 1, false);
        o.push(msg(0));
        o.push(msg(1));
        assert_eq!(o.take_next(), Some(msg(0)));
        o.on_sent(0);
        assert_eq!(o.take_next(), Some(msg(1)));
        o.on_sent(0);
        assert!(o.is_empty());
        assert_eq!(o.delivered(), 2);
    }

    #[test]
    fn backoff_doubles_to_its_maximum_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(200), ms(1000));
        let delays: Vec<_> = (0..5).map(|_| b.delay()).collect();
        assert_eq!(delays, vec![ms(200), ms(400), ms(800), ms(1000), ms(1000)]);
        b.reset();
        assert_eq!(b.delay(), ms(200));
    }
}
