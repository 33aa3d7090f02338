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
//!
//! Push, as `docs/PROTOCOL.md` ("Push") has the server do it: a node's
//! `register_push` is stored against that node; an invite to a user also
//! goes, as a push, to every registered node of the user that is not
//! connected (and is then not `offline`), and is stored: a device of the
//! invitee may fetch it (`fetch_invite`) until the end of the test, with
//! its outcome once the caller's `outcome` passed through, the caller's
//! connection dropped (`failed caller_gone`) or its lifetime ran out with
//! no outcome (`failed timeout`). When a pushed invite ends, every pushed
//! node that did not answer it gets an `invite_ended` push. Pushes wait in
//! a queue per node until the test hands them to the node's engine
//! ([`Net::deliver_push`]), in any order with everything else.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use wd_protocol::push::{MAX_PUSH_PAYLOAD_LEN, PUSH_PAYLOAD_VERSION};
use wd_protocol::{
    decode_push, encode, ClientMessage, ErrorCode, FailureReason, Mode, Outcome, PeerMessage,
    PushPayload, PushProvider, RejectReason, ServerMessage, UnregisterReason,
};

use crate::engine::{
    Engine, EngineConfig, EngineError, Event, IncomingStatus, InviteRequest, Key, PushEvent,
    PushHandled, PushRegistration,
};

/// The caller's node index.
pub const ALICE: usize = 0;
/// The invitee's first device.
pub const BOB1: usize = 1;
/// The invitee's second device.
pub const BOB2: usize = 2;
/// The invitee's third device.
pub const BOB3: usize = 3;

/// Sender index of messages the server itself originates.
pub const SERVER: usize = usize::MAX;

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
    /// Every push event, with how many events came out before it.
    pub push_events: Vec<(usize, PushEvent)>,
    /// Pushes for this node not yet handed to its engine.
    pub pushes: VecDeque<PushPayload>,
    /// Every device id this node had, in order.
    pub devices: Vec<String>,
}

/// A message body the server received from an engine.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The sending node.
    pub from: usize,
    /// Its device then.
    pub device: String,
    /// How many events the node had reported when it sent this (those of
    /// the same engine call included).
    pub events_before: usize,
    /// The message.
    pub body: PeerMessage,
}

/// An invite the server pushed, as it keeps it for `fetch_invite`.
#[derive(Clone, Debug)]
pub struct Stored {
    /// The caller's uid, node and device.
    pub from: String,
    from_node: usize,
    device: String,
    /// The invitee's uid.
    pub to: String,
    body: PeerMessage,
    /// When the server routed it.
    pub sent_at: Instant,
    /// Its lifetime.
    pub lifetime_ms: u64,
    /// How it ended, as the server saw it.
    pub outcome: Option<Outcome>,
    /// The nodes it was pushed to.
    pub pushed: BTreeSet<usize>,
    /// The nodes that sent an accept or reject for it.
    pub answered: BTreeSet<usize>,
}

/// The app id every test registration uses.
pub const APP_ID: &str = "com.example.app";

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
    /// Every message body the server received, in order, with who sent it
    /// and when.
    pub sends: Vec<Sent>,
    /// Every other message the server received (push registrations,
    /// fetches), with its sender.
    pub requests: Vec<(usize, ClientMessage)>,
    /// Push registrations: (`app_id`, `push_key`) → the node that made it.
    pub registrations: BTreeMap<(String, String), usize>,
    /// Pushed invites by id.
    pub stored: BTreeMap<String, Stored>,
    /// Every push the server sent: to which node, the payload.
    pub pushes_sent: Vec<(usize, PushPayload)>,
    /// When set, `fetch_invite` is answered `fetch_failed` with this code.
    pub fetch_fails: Option<ErrorCode>,
    config: EngineConfig,
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
                devices: vec![device.clone()],
                device,
                engine,
                connected: true,
                events: Vec::new(),
                seen: 0,
                push_events: Vec::new(),
                pushes: VecDeque::new(),
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
            sends: Vec::new(),
            requests: Vec::new(),
            registrations: BTreeMap::new(),
            stored: BTreeMap::new(),
            pushes_sent: Vec::new(),
            fetch_fails: None,
            config,
        }
    }

    /// The fake instant `ms` milliseconds after the start.
    pub fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    // ---- the network ----

    /// Moves node `i`'s events to its log and its outgoing messages to
    /// the server.
    fn flush(&mut self, i: usize) {
        let now = self.now;
        let node = &mut self.nodes[i];
        while let Some(ev) = node.engine.poll_event() {
            node.events.push((now, ev));
        }
        while let Some(ev) = node.engine.poll_push_event() {
            node.push_events.push((node.events.len(), ev));
        }
        while let Some(msg) = self.nodes[i].engine.poll_transmit() {
            assert!(
                msg.validate().is_ok(),
                "{} sent an invalid message: {msg:?}",
                self.nodes[i].device
            );
            self.route(i, msg);
        }
    }

    fn route(&mut self, from: usize, msg: ClientMessage) {
        let (to, device, body) = match msg {
            ClientMessage::Send { to, device, body } => (to, device, body),
            ClientMessage::Hello { .. } => panic!("engines never send hello"),
            other => {
                self.serve(from, other);
                return;
            }
        };
        self.sent.push((from, body.clone()));
        self.sends.push(Sent {
            from,
            device: self.nodes[from].device.clone(),
            events_before: self.nodes[from].events.len(),
            body: body.clone(),
        });
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
                let asleep = self.asleep_devices(&to);
                if targets.is_empty() && asleep.is_empty() {
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
                if !asleep.is_empty() {
                    self.push_invite(from, &to, &body, asleep);
                }
            }
            PeerMessage::Outcome { invite_id, outcome } => {
                if let Some(p) = self.pending.get_mut(&from) {
                    p.remove(&(invite_id.clone(), to.clone()));
                }
                let caller = self.nodes[from].uid.clone();
                if self
                    .stored
                    .get(invite_id)
                    .is_some_and(|s| s.from == caller && s.to == to)
                {
                    self.end_stored(invite_id, outcome.clone());
                }
            }
            PeerMessage::Accept { invite_id, .. } | PeerMessage::Reject { invite_id, .. } => {
                let uid = &self.nodes[from].uid;
                if let Some(s) = self.stored.get_mut(invite_id) {
                    if s.to == *uid {
                        s.answered.insert(from);
                    }
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

    // ---- the server's push half ----

    /// Registered nodes of `uid` that are not connected.
    fn asleep_devices(&self, uid: &str) -> BTreeSet<usize> {
        self.registrations
            .values()
            .copied()
            .filter(|&n| self.nodes[n].uid == uid && !self.nodes[n].connected)
            .collect()
    }

    /// Stores the invite `body` from node `from` to `to` and pushes it to
    /// the nodes `asleep`.
    fn push_invite(&mut self, from: usize, to: &str, body: &PeerMessage, asleep: BTreeSet<usize>) {
        let PeerMessage::Invite {
            invite_id,
            conversation_id,
            mode,
            user_data,
            lifetime_ms,
            ..
        } = body
        else {
            unreachable!("only invites are pushed");
        };
        let mut payload = PushPayload::Invite {
            wd: PUSH_PAYLOAD_VERSION,
            invite_id: invite_id.clone(),
            conversation_id: conversation_id.clone(),
            from: self.nodes[from].uid.clone(),
            device: self.nodes[from].device.clone(),
            mode: *mode,
            time_left_ms: *lifetime_ms,
            sent_at_ms: 1_800_000_000_000,
            user_data: user_data.clone(),
            user_data_omitted: false,
        };
        if encode(&payload).len() > MAX_PUSH_PAYLOAD_LEN {
            if let PushPayload::Invite {
                user_data,
                user_data_omitted,
                ..
            } = &mut payload
            {
                *user_data = None;
                *user_data_omitted = true;
            }
        }
        for &n in &asleep {
            self.send_push(n, payload.clone());
        }
        let stored = Stored {
            from: self.nodes[from].uid.clone(),
            from_node: from,
            device: self.nodes[from].device.clone(),
            to: to.to_owned(),
            body: body.clone(),
            sent_at: self.now,
            lifetime_ms: *lifetime_ms,
            outcome: None,
            pushed: asleep,
            answered: BTreeSet::new(),
        };
        self.stored.insert(invite_id.clone(), stored);
    }

    fn send_push(&mut self, node: usize, payload: PushPayload) {
        self.pushes_sent.push((node, payload.clone()));
        self.nodes[node].pushes.push_back(payload);
    }

    /// A stored invite ends (the first end counts): every pushed node that
    /// did not answer it gets `invite_ended`.
    fn end_stored(&mut self, invite_id: &str, outcome: Outcome) {
        let Some(s) = self.stored.get_mut(invite_id) else {
            return;
        };
        if s.outcome.is_some() {
            return;
        }
        s.outcome = Some(outcome.clone());
        let payload = PushPayload::InviteEnded {
            wd: PUSH_PAYLOAD_VERSION,
            invite_id: invite_id.to_owned(),
            conversation_id: match &s.body {
                PeerMessage::Invite {
                    conversation_id, ..
                } => conversation_id.clone(),
                _ => unreachable!(),
            },
            from: s.from.clone(),
            outcome,
        };
        let targets: Vec<usize> = s.pushed.difference(&s.answered).copied().collect();
        for n in targets {
            self.send_push(n, payload.clone());
        }
    }

    /// Ends, `failed timeout`, every stored invite whose lifetime ran out
    /// with no outcome.
    fn expire_stored(&mut self) {
        let due: Vec<String> = self
            .stored
            .iter()
            .filter(|(_, s)| {
                s.outcome.is_none() && self.now >= s.sent_at + Duration::from_millis(s.lifetime_ms)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let reason = FailureReason::Timeout;
            self.end_stored(&id, Outcome::Failed { reason });
        }
    }

    /// What the server does with a message other than `send`.
    fn serve(&mut self, from: usize, msg: ClientMessage) {
        self.requests.push((from, msg.clone()));
        let answer = match msg {
            ClientMessage::RegisterPush {
                app_id, push_key, ..
            } => {
                self.registrations
                    .insert((app_id.clone(), push_key.clone()), from);
                ServerMessage::PushRegistered { app_id, push_key }
            }
            ClientMessage::UnregisterPush { app_id, push_key } => {
                let uid = &self.nodes[from].uid;
                let id = (app_id.clone(), push_key.clone());
                if self
                    .registrations
                    .get(&id)
                    .is_some_and(|&n| self.nodes[n].uid == *uid)
                {
                    self.registrations.remove(&id);
                }
                ServerMessage::PushUnregistered {
                    app_id,
                    push_key,
                    reason: UnregisterReason::Requested,
                }
            }
            ClientMessage::FetchInvite {
                invite_id,
                from: caller,
            } => self.fetch(from, invite_id, caller),
            ClientMessage::Hello { .. } | ClientMessage::Send { .. } => unreachable!(),
        };
        self.push(SERVER, from, answer);
    }

    fn fetch(&mut self, node: usize, invite_id: String, caller: String) -> ServerMessage {
        if let Some(code) = self.fetch_fails {
            return ServerMessage::FetchFailed { invite_id, code };
        }
        self.expire_stored();
        let uid = &self.nodes[node].uid;
        let Some(s) = self
            .stored
            .get(&invite_id)
            .filter(|s| s.from == caller && s.to == *uid)
        else {
            return ServerMessage::FetchFailed {
                invite_id,
                code: ErrorCode::NotFound,
            };
        };
        let end = s.sent_at + Duration::from_millis(s.lifetime_ms);
        let time_left_ms = match s.outcome {
            Some(_) => 0,
            None => end.saturating_duration_since(self.now).as_millis() as u64,
        };
        ServerMessage::InviteState {
            invite_id,
            from: s.from.clone(),
            device: s.device.clone(),
            invite: Box::new(s.body.clone()),
            time_left_ms,
            outcome: s.outcome.clone(),
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
        self.expire_stored();
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
        self.nodes[i].devices.push(device.to_owned());
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
            if self
                .stored
                .get(&invite_id)
                .is_some_and(|s| s.from_node == i && s.to == to)
            {
                let reason = FailureReason::CallerGone;
                self.end_stored(&invite_id, Outcome::Failed { reason });
            }
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

    // ---- push ----

    /// Node `i` registers the push key `key-<i>` (answer delivered).
    pub fn register(&mut self, i: usize) {
        let registration = PushRegistration {
            provider: PushProvider::Apns,
            app_id: APP_ID.to_owned(),
            push_key: format!("key-{i}"),
            data: None,
        };
        self.nodes[i]
            .engine
            .register_push(registration)
            .expect("a valid registration");
        self.flush(i);
        self.deliver_link(SERVER, i);
    }

    /// Node `i`'s app is suspended and then killed: the server sees its
    /// connection go, and when it runs again it is a new process with a
    /// fresh engine (and a fresh event log). Its push registration stays.
    pub fn sleep(&mut self, i: usize) {
        if self.nodes[i].connected {
            self.drop_link(i);
        }
        self.nodes[i].engine = Engine::new(self.config.clone());
        self.nodes[i].events.clear();
        self.nodes[i].push_events.clear();
        self.nodes[i].seen = 0;
    }

    /// Hands node `i`'s oldest push to its engine; `None` if it has none.
    /// The payload goes through the wire encoding and `decode_push`, as an
    /// app hands it over.
    pub fn deliver_push(&mut self, i: usize) -> Option<Result<PushHandled, EngineError>> {
        let payload = self.nodes[i].pushes.pop_front()?;
        let text = encode(&serde_json::json!({ "notification": { "content": payload } }));
        let decoded = decode_push(&text).expect("the server's pushes decode");
        assert_eq!(decoded, payload);
        let r = self.nodes[i].engine.handle_push(decoded, self.now);
        self.flush(i);
        Some(r)
    }

    /// The platform repeats node `i`'s oldest push.
    pub fn duplicate_push(&mut self, i: usize) {
        if let Some(head) = self.nodes[i].pushes.front().cloned() {
            self.nodes[i].pushes.push_front(head);
        }
    }

    /// Hands `payload` to node `i`'s engine at once.
    pub fn handle_push(
        &mut self,
        i: usize,
        payload: PushPayload,
    ) -> Result<PushHandled, EngineError> {
        let r = self.nodes[i].engine.handle_push(payload, self.now);
        self.flush(i);
        r
    }

    /// The push events node `i` reported, without the counts.
    pub fn push_events(&self, i: usize) -> Vec<PushEvent> {
        self.nodes[i]
            .push_events
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
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
