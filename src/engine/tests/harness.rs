//! A simulated server and network for engine tests.
//!
//! It does what `wd-signal` does with the engines' messages: a
//! `Send{to, device, body}` from node X becomes `Deliver{from: X.uid,
//! device: X.device, body}` to every connected device of `to` (or the one
//! named), an invite to a user with no connected device is answered with
//! `InviteFailed{offline}`, and when X disconnects every invitee device of
//! each invite X still has pending at the server (sent, no `outcome` from X
//! yet) hears `CallerGone`. Each (sender, receiver) link is one FIFO queue
//! that only moves when the test says so, so messages can be held back,
//! raced and reordered across links, never within one.
//!
//! Engines hand their messages to the server as soon as they produce them
//! (the client layer writes them out at once); the delay a test controls is
//! the server-to-receiver hop.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use wd_protocol::{ClientMessage, FailureReason, Mode, PeerMessage, RejectReason, ServerMessage};

use crate::engine::{Engine, EngineConfig, EngineError, Event, IncomingStatus, InviteRequest, Key};

/// The caller's node index.
pub const ALICE: usize = 0;
/// The invitee's first device.
pub const BOB1: usize = 1;
/// The invitee's second device.
pub const BOB2: usize = 2;
/// The invitee's third device.
pub const BOB3: usize = 3;

/// Sender index of messages the server itself originates.
const SERVER: usize = usize::MAX;

/// A lifetime long enough that nothing expires unless a test says so.
pub const LIFETIME_MS: u64 = 60_000;

/// One client connection: an engine plus everything it reported.
pub struct Node {
    pub uid: String,
    pub device: String,
    pub engine: Engine,
    pub connected: bool,
    /// Every event, stamped with the fake time it came out.
    pub events: Vec<(Instant, Event)>,
    /// How many of `events` [`Net::take`] has handed out.
    seen: usize,
}

/// The simulated server, network and clock.
pub struct Net {
    pub t0: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    links: BTreeMap<(usize, usize), VecDeque<ServerMessage>>,
    /// What the server tracks per caller node: (invite id, invitee uid) of
    /// invites that passed through it with no outcome yet.
    pending: BTreeMap<usize, BTreeSet<(String, String)>>,
    /// Every message body the server received, with its sender.
    pub sent: Vec<(usize, PeerMessage)>,
    /// Every delivery: receiver, how many events it had reported before,
    /// and the message.
    pub delivered: Vec<(usize, usize, ServerMessage)>,
}

impl Net {
    /// Alice (`n1.1`) and `invitees` devices of bob (`n1.2`, `n1.3`, …),
    /// all connected, with the default engine config.
    pub fn new(invitees: usize) -> Self {
        Self::with_config(invitees, EngineConfig::default())
    }

    pub fn with_config(invitees: usize, config: EngineConfig) -> Self {
        let uids: Vec<&str> = (0..=invitees)
            .map(|i| if i == ALICE { "alice" } else { "bob" })
            .collect();
        Self::build(&uids, config)
    }

    /// One connected device for each of `uids`, in order (`n1.1`, `n1.2`,
    /// …); a uid may repeat for a user with several devices.
    pub fn users(uids: &[&str]) -> Self {
        Self::build(uids, EngineConfig::default())
    }

    fn build(uids: &[&str], config: EngineConfig) -> Self {
        let t0 = Instant::now();
        let mut nodes = Vec::new();
        for (i, uid) in uids.iter().copied().enumerate() {
            let device = format!("n1.{}", i + 1);
            let mut engine = Engine::new(config.clone());
            engine.handle_connected(uid, &device);
            nodes.push(Node {
                uid: uid.to_owned(),
                device,
                engine,
                connected: true,
                events: Vec::new(),
                seen: 0,
            });
        }
        Net {
            t0,
            now: t0,
            nodes,
            links: BTreeMap::new(),
            pending: BTreeMap::new(),
            sent: Vec::new(),
            delivered: Vec::new(),
        }
    }

    /// The fake instant `ms` milliseconds after the start.
    pub fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    // ---- the network ----

    /// Moves node `i`'s outgoing messages to the server and its events to
    /// its log.
    fn flush(&mut self, i: usize) {
        while let Some(msg) = self.nodes[i].engine.poll_transmit() {
            assert!(
                msg.validate().is_ok(),
                "{} sent an invalid message: {msg:?}",
                self.nodes[i].device
            );
            self.route(i, msg);
        }
        let now = self.now;
        while let Some(ev) = self.nodes[i].engine.poll_event() {
            self.nodes[i].events.push((now, ev));
        }
    }

    fn route(&mut self, from: usize, msg: ClientMessage) {
        let ClientMessage::Send { to, device, body } = msg else {
            panic!("engines never send hello");
        };
        self.sent.push((from, body.clone()));
        let targets: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| {
                let node = &self.nodes[n];
                node.connected
                    && node.uid == to
                    && device.as_deref().is_none_or(|d| d == node.device)
            })
            .collect();
        match &body {
            PeerMessage::Invite { invite_id, .. } => {
                if targets.is_empty() {
                    let failed = ServerMessage::InviteFailed {
                        invite_id: invite_id.clone(),
                        reason: FailureReason::Offline,
                    };
                    self.push(SERVER, from, failed);
                    return;
                }
                self.pending
                    .entry(from)
                    .or_default()
                    .insert((invite_id.clone(), to.clone()));
            }
            PeerMessage::Outcome { invite_id, .. } => {
                if let Some(p) = self.pending.get_mut(&from) {
                    p.remove(&(invite_id.clone(), to.clone()));
                }
            }
            PeerMessage::Query { invite_id } if targets.is_empty() => {
                if let Some(device) = device {
                    let undeliverable = ServerMessage::Undeliverable {
                        to,
                        device,
                        invite_id: Some(invite_id.clone()),
                    };
                    self.push(SERVER, from, undeliverable);
                }
                return;
            }
            _ => {}
        }
        let (uid, dev) = (
            self.nodes[from].uid.clone(),
            self.nodes[from].device.clone(),
        );
        for t in targets {
            let deliver = ServerMessage::Deliver {
                from: uid.clone(),
                device: dev.clone(),
                body: body.clone(),
            };
            self.push(from, t, deliver);
        }
    }

    fn push(&mut self, from: usize, to: usize, msg: ServerMessage) {
        if to == SERVER || !self.nodes[to].connected {
            return;
        }
        self.links.entry((from, to)).or_default().push_back(msg);
    }

    /// Links with something in flight, in a fixed order. The server's own
    /// messages come from sender `usize::MAX`.
    pub fn busy_links(&self) -> Vec<(usize, usize)> {
        self.links
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(&k, _)| k)
            .collect()
    }

    /// How many messages are in flight from `from` to `to`.
    pub fn in_flight(&self, from: usize, to: usize) -> usize {
        self.links.get(&(from, to)).map_or(0, VecDeque::len)
    }

    /// Delivers the oldest message from `from` to `to`; false if none.
    pub fn deliver(&mut self, from: usize, to: usize) -> bool {
        let Some(msg) = self
            .links
            .get_mut(&(from, to))
            .and_then(VecDeque::pop_front)
        else {
            return false;
        };
        self.delivered
            .push((to, self.nodes[to].events.len(), msg.clone()));
        self.nodes[to].engine.handle_message(msg, self.now);
        self.flush(to);
        true
    }

    /// Delivers everything from `from` to `to` (not what that provokes on
    /// other links).
    pub fn deliver_link(&mut self, from: usize, to: usize) {
        while self.deliver(from, to) {}
    }

    /// Delivers messages until no link holds any.
    pub fn deliver_all(&mut self) {
        while let Some(&(from, to)) = self.busy_links().first() {
            self.deliver(from, to);
        }
    }

    /// Duplicates the message at the head of a link (the server or network
    /// repeating it).
    pub fn duplicate_head(&mut self, from: usize, to: usize) {
        let q = self.links.get_mut(&(from, to)).expect("busy link");
        let head = q.front().expect("busy link").clone();
        q.push_front(head);
    }

    /// Hands `msg` to node `to` at once, as if the server sent it.
    pub fn inject(&mut self, to: usize, msg: ServerMessage) {
        self.nodes[to].engine.handle_message(msg, self.now);
        self.flush(to);
    }

    /// A `Deliver` of `body` as if sent by `uid` on `device`.
    pub fn forged(uid: &str, device: &str, body: PeerMessage) -> ServerMessage {
        ServerMessage::Deliver {
            from: uid.to_owned(),
            device: device.to_owned(),
            body,
        }
    }

    // ---- the clock ----

    /// Moves the clock forward and fires every engine's due timers.
    pub fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.fire_timers();
    }

    /// Moves the clock forward without waking any engine (a host late to
    /// service its timers).
    pub fn drift(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
    }

    /// Moves the clock to `at` (never backwards) and fires due timers.
    pub fn advance_to(&mut self, at: Instant) {
        self.now = self.now.max(at);
        self.fire_timers();
    }

    fn fire_timers(&mut self) {
        for i in 0..self.nodes.len() {
            self.nodes[i].engine.handle_timeout(self.now);
            self.flush(i);
        }
    }

    /// The earliest deadline of any engine.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.nodes
            .iter()
            .filter_map(|n| n.engine.poll_timeout())
            .min()
    }

    /// Delivers everything and runs the clock past every deadline, until
    /// nothing is in flight and no timer is set.
    pub fn drain(&mut self) {
        loop {
            self.deliver_all();
            match self.next_deadline() {
                Some(at) => self.advance_to(at),
                None => break,
            }
        }
    }

    // ---- connections ----

    /// Node `i` loses its connection: its engine is told, messages to it
    /// are dropped from now on, and if it was a caller, the invitee devices
    /// of its pending invites hear `CallerGone`.
    pub fn disconnect(&mut self, i: usize) {
        assert!(self.nodes[i].connected, "already disconnected");
        self.nodes[i].engine.handle_disconnected(self.now);
        self.drop_link(i);
    }

    /// Node `i` loses its connection and will reconnect: its engine is
    /// told with `handle_link_lost`; the server side is as in
    /// [`Net::disconnect`].
    pub fn link_lost(&mut self, i: usize) {
        assert!(self.nodes[i].connected, "already disconnected");
        self.nodes[i].engine.handle_link_lost(self.now);
        self.drop_link(i);
    }

    /// Node `i` gives up reconnecting (after [`Net::link_lost`]).
    pub fn give_up(&mut self, i: usize) {
        assert!(!self.nodes[i].connected);
        self.nodes[i].engine.handle_disconnected(self.now);
        self.flush(i);
    }

    /// Node `i` connects again, as the new device `device`.
    pub fn reconnect(&mut self, i: usize, device: &str) {
        assert!(!self.nodes[i].connected, "still connected");
        self.nodes[i].device = device.to_owned();
        self.nodes[i].connected = true;
        let uid = self.nodes[i].uid.clone();
        self.nodes[i].engine.handle_connected(&uid, device);
        self.flush(i);
    }

    fn drop_link(&mut self, i: usize) {
        self.nodes[i].connected = false;
        self.flush(i);
        self.links.retain(|&(_, to), _| to != i);
        let (uid, dev) = (self.nodes[i].uid.clone(), self.nodes[i].device.clone());
        for (invite_id, to) in self.pending.remove(&i).unwrap_or_default() {
            for t in 0..self.nodes.len() {
                if self.nodes[t].uid == to {
                    let gone = ServerMessage::CallerGone {
                        from: uid.clone(),
                        device: dev.clone(),
                        invite_id: invite_id.clone(),
                    };
                    self.push(i, t, gone);
                }
            }
        }
    }

    // ---- user calls, each followed by flushing the engine ----

    pub fn invite(&mut self, i: usize, req: InviteRequest) -> Result<Key, EngineError> {
        let r = self.nodes[i].engine.invite(req, self.now);
        self.flush(i);
        r
    }

    /// Alice invites bob with invite id `i1` and the given lifetime.
    pub fn invite_bob(&mut self, lifetime_ms: u64) -> Key {
        self.invite(ALICE, request("bob", "i1", lifetime_ms))
            .expect("invite")
    }

    pub fn cancel(&mut self, key: Key) -> Result<(), EngineError> {
        self.cancel_on(ALICE, key)
    }

    /// Node `i` cancels its outgoing invite `key`.
    pub fn cancel_on(&mut self, i: usize, key: Key) -> Result<(), EngineError> {
        let r = self.nodes[i].engine.cancel(key, self.now);
        self.flush(i);
        r
    }

    /// Node `i` invites into its live conversation `conv`.
    pub fn invite_into(
        &mut self,
        i: usize,
        conv: Key,
        req: InviteRequest,
    ) -> Result<Key, EngineError> {
        let r = self.nodes[i].engine.invite_into(conv, req, self.now);
        self.flush(i);
        r
    }

    /// Node `i` sends `payload` in conversation `conv`.
    pub fn send(
        &mut self,
        i: usize,
        conv: Key,
        to: Option<&str>,
        payload: &str,
    ) -> Result<(), EngineError> {
        let r = self.nodes[i].engine.send_message(conv, to, payload);
        self.flush(i);
        r
    }

    pub fn accept(&mut self, i: usize, key: Key) -> Result<(), EngineError> {
        self.accept_with(i, key, None, None)
    }

    pub fn accept_with(
        &mut self,
        i: usize,
        key: Key,
        answer: Option<&str>,
        user_data: Option<&str>,
    ) -> Result<(), EngineError> {
        let (answer, user_data) = (answer.map(str::to_owned), user_data.map(str::to_owned));
        let r = self.nodes[i]
            .engine
            .accept(key, answer, user_data, self.now);
        self.flush(i);
        r
    }

    pub fn reject(&mut self, i: usize, key: Key, reason: RejectReason) -> Result<(), EngineError> {
        let r = self.nodes[i].engine.reject(key, reason, self.now);
        self.flush(i);
        r
    }

    /// Node `i` leaves conversation `key`.
    pub fn leave(&mut self, i: usize, key: Key) -> Result<(), EngineError> {
        let r = self.nodes[i].engine.disconnect(key);
        self.flush(i);
        r
    }

    // ---- looking at what happened ----

    /// The events node `i` reported since the last `take(i)`.
    pub fn take(&mut self, i: usize) -> Vec<Event> {
        let node = &mut self.nodes[i];
        let new = node.events[node.seen..]
            .iter()
            .map(|(_, e)| e.clone())
            .collect();
        node.seen = node.events.len();
        new
    }

    /// The key of the (only) incoming invite node `i` received.
    pub fn incoming_key(&self, i: usize) -> Key {
        self.nodes[i]
            .events
            .iter()
            .find_map(|(_, e)| match e {
                Event::IncomingReceived { key, .. } => Some(*key),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{} received no invite", self.nodes[i].device))
    }

    pub fn incoming_status(&self, i: usize, key: Key) -> Option<IncomingStatus> {
        self.nodes[i].engine.incoming_status(key)
    }

    /// Nothing in flight, no timer set, nothing live in any engine.
    pub fn assert_quiet(&self) {
        assert_eq!(self.busy_links(), vec![], "messages still in flight");
        for node in &self.nodes {
            assert_eq!(node.engine.live_count(), 0, "{} leaked state", node.device);
            assert_eq!(
                node.engine.poll_timeout(),
                None,
                "{} has a timer",
                node.device
            );
        }
    }
}

/// A valid request from the caller to `to`.
pub fn request(to: &str, invite_id: &str, lifetime_ms: u64) -> InviteRequest {
    InviteRequest {
        to: to.to_owned(),
        invite_id: invite_id.to_owned(),
        conversation_id: "c1".to_owned(),
        mode: Mode::P2p,
        user_data: None,
        offer: None,
        lifetime_ms,
    }
}
