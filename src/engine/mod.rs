//! The sans-IO core: invite and conversation state machines.
//!
//! The engine reads no clock and touches no socket or thread. The host
//! feeds it what happened — a message from the server, a call from the
//! user, the passing of time — each with the current [`Instant`], and then
//! drains what it must do: messages to send ([`Engine::poll_transmit`]),
//! events to report ([`Engine::poll_event`]) and when to wake it next
//! ([`Engine::poll_timeout`]). So every race can be replayed exactly in a
//! test with a made-up clock.
//!
//! The caller's engine decides each invite's outcome: the first of an
//! accept from any invitee device, a reject, a local cancel, lifetime
//! expiry or loss of the connection wins, everything after it is absorbed,
//! and the outcome is sent to every device of the invitee. Two users
//! inviting each other at once (glare) is settled by the same rule on both
//! engines: the greater `invite_id` loses (`docs/PROTOCOL.md`, "Glare").

mod conversation;
pub mod field;
mod incoming;
mod outgoing;
mod push;
mod timers;
mod types;

pub use push::{PushEvent, PushHandled, PushRegistration};
pub use types::*;

use std::collections::VecDeque;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::time::{Duration, Instant};

use wd_protocol::{
    ClientMessage, FailureReason, InviteState, LeaveReason, Mode, Outcome, PeerMessage,
    ServerMessage,
};

use conversation::Conversation;
use incoming::{Finished, Heard, Incoming};
use outgoing::Outgoing;
use timers::Timers;

/// How long an invitee that accepted waits for the caller's confirmation
/// before it gives up with `confirm_timeout`, unless configured otherwise.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// How many finished incoming invites an engine remembers, so that a late
/// or repeated copy of one is not taken for a new invite.
const FINISHED_MEMORY: usize = 4096;

/// How many decided outgoing invites an engine remembers (with their
/// outcome), to answer an invitee that reconnected and asks about one
/// (`query`).
pub const DECIDED_MEMORY: usize = 1024;

/// Settings of an [`Engine`].
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// How long an accepting invitee waits for the caller's confirmation.
    pub confirm_timeout: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
        }
    }
}

/// What a new outgoing invite is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteRequest {
    /// The invitee's user id (`participantId`).
    pub to: String,
    /// A fresh, unique id for the invite.
    pub invite_id: String,
    /// The conversation's id.
    pub conversation_id: String,
    /// Media mode.
    pub mode: Mode,
    /// Text for the invitee (`userData`).
    pub user_data: Option<String>,
    /// SDP offer (`offer`).
    pub offer: Option<String>,
    /// How long it may ring, in milliseconds (`lifetimeMs`).
    pub lifetime_ms: u64,
}

/// This device, as the server named it.
#[derive(Clone, Debug)]
struct Me {
    uid: String,
    device: String,
}

/// The state machines of one client connection (one device).
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    me: Option<Me>,
    next_key: u64,
    outgoing: HashMap<Key, Outgoing>,
    outgoing_by_id: HashMap<String, Key>,
    incoming: HashMap<Key, Incoming>,
    incoming_by_id: HashMap<String, Key>,
    /// Incoming invites that finished here, by id (bounded by
    /// `FINISHED_MEMORY`).
    finished_incoming: HashMap<String, Finished>,
    finished_order: VecDeque<String>,
    conversations: HashMap<Key, Conversation>,
    conversations_by_id: HashMap<String, Key>,
    /// Ids of conversations this device left, remembered for a while (a
    /// late `joined` for one is answered with `leave`).
    left_conversations: HashSet<String>,
    left_order: VecDeque<String>,
    /// Outcomes of finished outgoing invites by invite id, with the
    /// invitee's uid, for answering `query` (bounded by
    /// [`DECIDED_MEMORY`]).
    decided: HashMap<String, (String, Outcome)>,
    decided_order: VecDeque<String>,
    /// The link was lost and the host is reconnecting: incoming invites
    /// stay live (answers given meanwhile go out after the reconnection).
    reconnecting: bool,
    timers: Timers,
    transmits: VecDeque<ClientMessage>,
    events: VecDeque<Event>,
    /// Messages about an invite this engine knows, from a user who is
    /// neither its caller nor its invitee: ignored, and counted.
    foreign_messages: u64,
    /// This device's push registrations, least recently registered first:
    /// sent on every connection.
    registrations: Vec<PushRegistration>,
    /// Registrations to remove, as (`app_id`, `push_key`): sent on every
    /// connection until the server confirms.
    unregistering: Vec<(String, String)>,
    /// What [`Engine::poll_push_event`] hands out.
    push_events: VecDeque<PushEvent>,
}

impl Engine {
    /// A new engine, not connected.
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            config,
            me: None,
            next_key: 1,
            outgoing: HashMap::default(),
            outgoing_by_id: HashMap::default(),
            incoming: HashMap::default(),
            incoming_by_id: HashMap::default(),
            finished_incoming: HashMap::default(),
            finished_order: VecDeque::new(),
            conversations: HashMap::default(),
            conversations_by_id: HashMap::default(),
            left_conversations: HashSet::default(),
            left_order: VecDeque::new(),
            foreign_messages: 0,
            decided: HashMap::default(),
            decided_order: VecDeque::new(),
            reconnecting: false,
            timers: Timers::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            registrations: Vec::new(),
            unregistering: Vec::new(),
            push_events: VecDeque::new(),
        }
    }

    /// Whether the engine has a connection (between
    /// [`Engine::handle_connected`] and [`Engine::handle_disconnected`]).
    pub fn is_connected(&self) -> bool {
        self.me.is_some()
    }

    /// The server accepted this connection as user `uid`, device `device`.
    ///
    /// Every push registration is sent (again), and every removal not yet
    /// confirmed. Every incoming invite known only from a push is fetched
    /// from the server (`fetch_invite`; see [`Engine::handle_push`]).
    ///
    /// After [`Engine::handle_link_lost`] this is a reconnection (with a
    /// new device id): the caller of every other incoming invite still
    /// live is asked what became of it (`query`), so an invite decided
    /// meanwhile ends here once, and an answer given meanwhile goes out
    /// once the caller says it is still pending.
    pub fn handle_connected(&mut self, uid: &str, device: &str) {
        self.me = Some(Me {
            uid: uid.to_owned(),
            device: device.to_owned(),
        });
        let reconnected = std::mem::take(&mut self.reconnecting);
        self.send_registrations();
        let mut incoming: Vec<(Key, Heard)> = self
            .incoming
            .iter()
            .map(|(k, inc)| (*k, inc.heard))
            .collect();
        incoming.sort_by_key(|(k, _)| *k);
        for (key, heard) in incoming {
            match heard {
                Heard::Fetch { .. } => self.ask_server(key),
                Heard::Query { .. } => self.ask_caller(key),
                Heard::Confirmed if reconnected => {
                    let info = self.incoming[&key].info();
                    let (from, from_device) = (info.from.clone(), info.from_device.clone());
                    let invite_id = info.invite_id.clone();
                    self.send(&from, Some(&from_device), PeerMessage::Query { invite_id });
                }
                Heard::Confirmed => {}
            }
        }
    }

    /// The connection is gone and the host will try to reconnect: every
    /// pending outgoing invite fails with `network`, every conversation
    /// ends, messages not yet sent are dropped, but incoming invites stay
    /// live (their timers keep running) until the next
    /// [`Engine::handle_connected`] reconciles them, or
    /// [`Engine::handle_disconnected`] gives up.
    pub fn handle_link_lost(&mut self, _now: Instant) {
        self.me = None;
        self.reconnecting = true;
        self.transmits.clear();
        self.forget_questions();
        self.fail_outgoing_for_network();
        let mut conversations: Vec<Key> = self.conversations.keys().copied().collect();
        conversations.sort();
        for key in conversations {
            self.end_conversation(key);
        }
    }

    /// Whether the engine is between [`Engine::handle_link_lost`] and the
    /// next connect or final disconnect.
    pub fn is_reconnecting(&self) -> bool {
        self.reconnecting
    }

    fn fail_outgoing_for_network(&mut self) {
        let mut outgoing: Vec<Key> = self.outgoing.keys().copied().collect();
        outgoing.sort();
        for key in outgoing {
            if let Some((to, invite_id)) = self.outgoing_ids(key) {
                // An invitee that asks later hears that the caller is gone.
                self.remember_decided(
                    invite_id,
                    to,
                    Outcome::Failed {
                        reason: FailureReason::CallerGone,
                    },
                );
            }
            self.finish_outgoing(key, |key| Event::OutgoingFailed {
                key,
                reason: FailureReason::Network,
            });
        }
    }

    /// Remembers the outcome of a finished outgoing invite for `query`.
    pub(super) fn remember_decided(&mut self, invite_id: String, to: String, outcome: Outcome) {
        if self.decided.contains_key(&invite_id) {
            return;
        }
        if self.decided_order.len() == DECIDED_MEMORY {
            if let Some(old) = self.decided_order.pop_front() {
                self.decided.remove(&old);
            }
        }
        self.decided_order.push_back(invite_id.clone());
        self.decided.insert(invite_id, (to, outcome));
    }

    /// The connection is gone for good: every pending outgoing invite fails with
    /// `network`, every incoming one that is not finished fails with
    /// `network`, every conversation ends. Messages not yet sent are
    /// dropped.
    pub fn handle_disconnected(&mut self, _now: Instant) {
        self.me = None;
        self.reconnecting = false;
        self.transmits.clear();
        self.forget_questions();
        self.fail_outgoing_for_network();
        let mut incoming: Vec<Key> = self.incoming.keys().copied().collect();
        incoming.sort();
        for key in incoming {
            self.finish_incoming(
                key,
                Event::IncomingFailed {
                    key,
                    reason: FailureReason::Network,
                },
            );
        }
        let mut conversations: Vec<Key> = self.conversations.keys().copied().collect();
        conversations.sort();
        for key in conversations {
            self.end_conversation(key);
        }
    }

    /// A message arrived from the server.
    pub fn handle_message(&mut self, msg: ServerMessage, now: Instant) {
        match msg {
            ServerMessage::Welcome { uid, device, .. } => self.handle_connected(&uid, &device),
            ServerMessage::Deliver { from, device, body } => {
                self.handle_peer(from, device, body, now)
            }
            ServerMessage::InviteFailed { invite_id, reason } => {
                if let Some(&key) = self.outgoing_by_id.get(&invite_id) {
                    if let Some((to, id)) = self.outgoing_ids(key) {
                        self.remember_decided(id, to, Outcome::Failed { reason });
                    }
                    self.finish_outgoing(key, |key| Event::OutgoingFailed { key, reason });
                }
            }
            ServerMessage::CallerGone {
                from,
                device,
                invite_id,
            } => {
                if let Some(key) = self.incoming_from(&from, &device, &invite_id) {
                    self.finish_incoming(
                        key,
                        Event::IncomingFailed {
                            key,
                            reason: FailureReason::CallerGone,
                        },
                    );
                }
            }
            ServerMessage::Undeliverable {
                to,
                device,
                invite_id: Some(invite_id),
            } => {
                // Only a `query` is answered so: the caller's device is
                // gone, and with it the invite.
                if let Some(key) = self.incoming_from(&to, &device, &invite_id) {
                    self.finish_incoming(
                        key,
                        Event::IncomingFailed {
                            key,
                            reason: FailureReason::CallerGone,
                        },
                    );
                }
            }
            ServerMessage::ParticipantGone {
                conversation_id,
                uid,
                device,
                reason,
            } => self.receive_leave(uid, device, &conversation_id, reason),
            ServerMessage::PushRegistered { app_id, push_key } => {
                self.receive_registered(app_id, push_key)
            }
            ServerMessage::PushRegistrationFailed {
                app_id,
                push_key,
                code,
                message,
            } => self.receive_registration_failed(app_id, push_key, code, message),
            ServerMessage::PushUnregistered {
                app_id,
                push_key,
                reason,
            } => self.receive_unregistered(app_id, push_key, reason),
            ServerMessage::InviteState {
                invite_id,
                from,
                device,
                invite,
                time_left_ms,
                outcome,
            } => self.receive_invite_state(
                &invite_id,
                &from,
                device,
                *invite,
                time_left_ms,
                outcome,
                now,
            ),
            ServerMessage::FetchFailed { invite_id, code } => {
                self.receive_fetch_failed(&invite_id, code)
            }
            ServerMessage::Undeliverable { .. } | ServerMessage::Error { .. } => {}
        }
    }

    fn handle_peer(&mut self, from: String, device: String, body: PeerMessage, now: Instant) {
        if !matches!(body, PeerMessage::Invite { .. })
            && body
                .invite_id()
                .is_some_and(|id| self.foreign_to_invite(&from, id))
        {
            self.foreign_messages += 1;
            return;
        }
        match body {
            PeerMessage::Invite {
                invite_id,
                conversation_id,
                mode,
                user_data,
                offer,
                lifetime_ms,
            } => {
                let info = IncomingInfo {
                    from,
                    from_device: device,
                    invite_id,
                    conversation_id,
                    mode,
                    user_data,
                    offer,
                };
                self.receive_invite(info, lifetime_ms, now);
            }
            PeerMessage::Ringing { invite_id } => self.receive_ringing(&from, &invite_id),
            PeerMessage::Accept {
                invite_id,
                answer,
                user_data,
            } => {
                let answer = Answer {
                    device,
                    answer,
                    user_data,
                };
                self.receive_accept(&from, &invite_id, answer);
            }
            PeerMessage::Reject { invite_id, reason } => {
                self.receive_reject(&from, &device, &invite_id, reason)
            }
            PeerMessage::Outcome { invite_id, outcome } => {
                self.receive_outcome(&from, &device, &invite_id, outcome)
            }
            PeerMessage::Leave { conversation_id } => {
                self.receive_leave(from, device, &conversation_id, LeaveReason::Left)
            }
            PeerMessage::Message {
                conversation_id,
                payload,
            } => self.receive_message(from, device, &conversation_id, payload),
            PeerMessage::Joined {
                conversation_id,
                uid,
                device: joined_device,
            } => self.receive_joined(
                &from,
                &device,
                &conversation_id,
                Participant {
                    uid,
                    device: joined_device,
                },
            ),
            PeerMessage::Query { invite_id } => self.receive_query(&from, &device, invite_id),
            PeerMessage::Status { invite_id, state } => {
                self.receive_status(&from, &device, &invite_id, state, now)
            }
        }
    }

    /// An invitee that reconnected asks about `invite_id`: still pending,
    /// the outcome decided, or unknown here.
    fn receive_query(&mut self, from: &str, device: &str, invite_id: String) {
        let body = if self.outgoing_to(from, &invite_id).is_some() {
            PeerMessage::Status {
                invite_id,
                state: InviteState::Pending,
            }
        } else {
            match self.decided.get(&invite_id) {
                Some((to, outcome)) if to == from => PeerMessage::Outcome {
                    outcome: outcome.clone(),
                    invite_id,
                },
                _ => PeerMessage::Status {
                    invite_id,
                    state: InviteState::Unknown,
                },
            }
        };
        self.send(from, Some(device), body);
    }

    /// Time has passed: fire every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(key) = self.timers.pop_due(now) {
            if self.outgoing.contains_key(&key) {
                self.expire_outgoing(key);
            } else if self.incoming.contains_key(&key) {
                self.expire_incoming(key);
            }
        }
    }

    /// The next message to send to the server, if any.
    pub fn poll_transmit(&mut self) -> Option<ClientMessage> {
        self.transmits.pop_front()
    }

    /// The next event to report, if any. Events come out in the order they
    /// happened.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Engine::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// How many messages about an invite this engine knows came from a
    /// user who is neither its caller nor its invitee (and were ignored).
    pub fn foreign_messages(&self) -> u64 {
        self.foreign_messages
    }

    /// Whether `from` is a stranger to the invite `invite_id` that this
    /// engine knows (live, or decided and remembered): neither the invitee
    /// of it as an outgoing invite nor the caller of it as an incoming one.
    /// An invite id this engine does not know is nobody's to judge.
    fn foreign_to_invite(&self, from: &str, invite_id: &str) -> bool {
        let mut known = false;
        if self.outgoing_by_id.contains_key(invite_id) {
            known = true;
            if self.outgoing_to(from, invite_id).is_some() {
                return false;
            }
        }
        if let Some((to, _)) = self.decided.get(invite_id) {
            known = true;
            if to == from {
                return false;
            }
        }
        if let Some(key) = self.incoming_by_id.get(invite_id) {
            known = true;
            if self
                .incoming
                .get(key)
                .is_some_and(|i| i.info().from == from)
            {
                return false;
            }
        }
        known
    }

    /// How many invites and conversations are live (for leak checks).
    pub fn live_count(&self) -> usize {
        self.outgoing.len() + self.incoming.len() + self.conversations.len()
    }

    fn new_key(&mut self) -> Key {
        let key = Key(self.next_key);
        self.next_key += 1;
        key
    }

    /// Queues `body` for `to` (one `device`, or all of them); nothing while
    /// the link is down.
    fn send(&mut self, to: &str, device: Option<&str>, body: PeerMessage) {
        if self.me.is_some() {
            self.transmits.push_back(ClientMessage::Send {
                to: to.to_owned(),
                device: device.map(str::to_owned),
                body,
            });
        }
    }

    fn my_device(&self) -> Option<&str> {
        self.me.as_ref().map(|me| me.device.as_str())
    }
}

fn invalid(field: &'static str, problem: impl Into<String>) -> EngineError {
    EngineError::InvalidArgument {
        field,
        problem: problem.into(),
    }
}

/// Checks an optional free-text argument: at most `max` bytes, no NUL.
fn check_text(field: &'static str, value: Option<&str>, max: usize) -> Result<(), EngineError> {
    match value {
        Some(v) => wd_protocol::validate_text(field, v, max).map_err(|e| {
            invalid(
                field,
                if e.problem == "too long" {
                    format!("longer than {max} bytes")
                } else {
                    e.problem.to_owned()
                },
            )
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
