//! Push: invites that reach this device through a push, and the device's
//! push registrations.
//!
//! A push ([`PushPayload`]) says enough to show an invite before the app
//! has any network: [`Engine::handle_push`] turns it into an incoming
//! invite at once, `pending`. Nothing is sent about it (no `ringing`, no
//! answer) until the server, asked with `fetch_invite` on each connection,
//! says where the invite stands (`invite_state`): still ringing, the invite
//! is filled in ([`PushEvent::IncomingUpdated`]), rings for the time it has
//! left, `ringing` goes out and so does an answer given meanwhile; already
//! ended, it ends as a relayed `outcome` would have ended it. A server that
//! cannot serve the fetch (`unsupported`, `internal`, `rate_limited`) is
//! bypassed: the caller is asked instead (`query`, as after a reconnect).
//! The same invite arriving again — by push or over the connection, in any
//! order — is the same invite, with one key and one set of events.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use wd_protocol::push::{validate_registration, MAX_PUSH_REGISTRATIONS, PUSH_PAYLOAD_VERSION};
use wd_protocol::{
    ClientMessage, ErrorCode, FailureReason, Outcome, PeerMessage, PushPayload, PushProvider,
    UnregisterReason,
};

use super::incoming::{Heard, Incoming};
use super::{field, invalid, Engine, EngineError, Event, IncomingEnding, IncomingInfo, Key};

/// A push registration of this device: the push service, the app id the
/// push gateway knows the app by, the device's token, and extra fields for
/// the gateway (`register_push` in `docs/PROTOCOL.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushRegistration {
    /// The push service.
    pub provider: PushProvider,
    /// The app id at the push gateway (`appId`).
    pub app_id: String,
    /// The device's push token (`pushKey`).
    pub push_key: String,
    /// Extra fields for the gateway's `devices[].data` (`data`).
    pub data: Option<Map<String, Value>>,
}

/// What [`Engine::handle_push`] made of a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushHandled {
    /// The invite is live here as `key`. `created`: this push created it
    /// (its [`Event::IncomingReceived`] is queued); otherwise it was
    /// already here (delivered over the connection, or pushed before) and
    /// nothing new is queued.
    Live {
        /// The incoming invite.
        key: Key,
        /// Whether this push created it.
        created: bool,
    },
    /// An `invite_ended` push ended the live invite `key`: its terminal
    /// event is queued.
    Ended {
        /// The incoming invite.
        key: Key,
        /// How it ended.
        ending: IncomingEnding,
    },
    /// The invite is not live here: it ended on this device before, or
    /// (for `invite_ended`) this device never held it. Nothing is queued.
    /// `ending` is how it ended here, or how it would have ended on a
    /// device that did not answer; the app may show a missed call.
    Gone {
        /// How it ended.
        ending: IncomingEnding,
    },
}

/// Something about push for the host to report; drained with
/// [`Engine::poll_push_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushEvent {
    /// An invite known from a push is now known as its caller sent it
    /// (fetched from the server, or delivered over the connection): `info`
    /// now has the offer and the full user data. Fires at most once per
    /// invite, after its [`Event::IncomingReceived`] and before its
    /// terminal event.
    IncomingUpdated {
        /// The incoming invite.
        key: Key,
        /// What it says now.
        info: IncomingInfo,
    },
    /// The server stored a registration of this device.
    Registered {
        /// The registration's app id.
        app_id: String,
        /// The registration's push key.
        push_key: String,
    },
    /// The server refused a registration of this device. With `code`
    /// `rate_limited` or `internal` it is sent again on the next
    /// connection; with any other (`unsupported`: the server sends no
    /// pushes) it is dropped.
    RegistrationFailed {
        /// The registration's app id.
        app_id: String,
        /// The registration's push key.
        push_key: String,
        /// Why.
        code: ErrorCode,
        /// Human-readable detail from the server.
        message: String,
    },
    /// A registration of this device is gone: removed as asked
    /// (`requested`), or because the push gateway reported the key dead
    /// (`rejected`: the app should get a fresh token and register it).
    Unregistered {
        /// The registration's app id.
        app_id: String,
        /// The registration's push key.
        push_key: String,
        /// Why.
        reason: UnregisterReason,
    },
}

/// Maps a protocol field name to its API name.
fn api_field(name: &'static str) -> &'static str {
    match name {
        "app_id" => field::APP_ID,
        "push_key" => field::PUSH_KEY,
        "data" => field::DATA,
        other => other,
    }
}

impl Engine {
    /// A push arrived for this device (decoded with
    /// [`wd_protocol::decode_push`]); it needs no connection.
    ///
    /// An `invite` push creates a `pending` incoming invite at once (caller,
    /// conversation, mode, and the user data when the push carries it; no
    /// offer), ringing for the push's `time_left_ms` from `now`, or finds
    /// the one already here. The server's clock (`sent_at_ms`) is not used:
    /// a phone's clock may be off by minutes, and the fetch that follows
    /// sets the lifetime from the server's own count. Once connected, the
    /// engine fetches the invite (`fetch_invite`) and reconciles it (see
    /// the module's documentation); an answer given before that is held.
    ///
    /// An `invite_ended` push ends the live invite as the relayed
    /// `outcome` would have (exactly once: a copy arriving over the
    /// connection too is absorbed), or, for an invite not live here,
    /// changes nothing but is remembered, so that an `invite` push for it
    /// arriving later does not ring.
    ///
    /// Errors: a field over its limit, another payload version, an invite
    /// from this user itself, or an invite id this device holds from
    /// another caller (`InvalidArgument`, naming the field). Nothing
    /// changes then.
    pub fn handle_push(
        &mut self,
        payload: PushPayload,
        now: Instant,
    ) -> Result<PushHandled, EngineError> {
        payload
            .validate()
            .map_err(|e| invalid(e.field, e.problem))?;
        match payload {
            PushPayload::Invite {
                wd,
                invite_id,
                conversation_id,
                from,
                device,
                mode,
                time_left_ms,
                user_data,
                ..
            } => {
                check_version(wd)?;
                let info = IncomingInfo {
                    from,
                    from_device: device,
                    invite_id,
                    conversation_id,
                    mode,
                    user_data,
                    offer: None,
                };
                self.pushed_invite(info, time_left_ms, now)
            }
            PushPayload::InviteEnded {
                wd,
                invite_id,
                from,
                outcome,
                ..
            } => {
                check_version(wd)?;
                self.pushed_end(invite_id, from, outcome)
            }
        }
    }

    fn pushed_invite(
        &mut self,
        info: IncomingInfo,
        time_left_ms: u64,
        now: Instant,
    ) -> Result<PushHandled, EngineError> {
        if let Some(done) = self.known_push(&info.invite_id, &info.from)? {
            return Ok(done);
        }
        if self.me.as_ref().is_some_and(|me| me.uid == info.from) {
            return Err(invalid("from", "is this user"));
        }
        let key = self.new_key();
        self.timers
            .set(key, now + Duration::from_millis(time_left_ms));
        self.incoming_by_id.insert(info.invite_id.clone(), key);
        let from = info.from.clone();
        self.incoming.insert(
            key,
            Incoming::new(info.clone(), Heard::Fetch { asked: false }),
        );
        self.events.push_back(Event::IncomingReceived { key, info });
        self.settle_glare(&from);
        if self.incoming.contains_key(&key) {
            self.ask_server(key);
        }
        Ok(PushHandled::Live { key, created: true })
    }

    fn pushed_end(
        &mut self,
        invite_id: String,
        from: String,
        outcome: Outcome,
    ) -> Result<PushHandled, EngineError> {
        if let Some(&key) = self.incoming_by_id.get(&invite_id) {
            if self.incoming[&key].info().from != from {
                return Err(invalid("invite_id", "names an invite from another caller"));
            }
            self.end_by_server(key, outcome);
            return Ok(match self.finished_incoming.get(&invite_id) {
                Some(done) if !self.incoming.contains_key(&key) => PushHandled::Ended {
                    key,
                    ending: done.ending,
                },
                _ => PushHandled::Live {
                    key,
                    created: false,
                },
            });
        }
        if let Some(done) = self.known_push(&invite_id, &from)? {
            return Ok(done);
        }
        let ending = IncomingEnding::unanswered(&outcome);
        self.remember_finished(invite_id, from, ending);
        Ok(PushHandled::Gone { ending })
    }

    /// The invite `invite_id` from `from` if this device holds it or
    /// remembers it finished; an error if it names another caller's.
    fn known_push(&self, invite_id: &str, from: &str) -> Result<Option<PushHandled>, EngineError> {
        let (caller, handled) = if let Some(&key) = self.incoming_by_id.get(invite_id) {
            let live = PushHandled::Live {
                key,
                created: false,
            };
            (self.incoming[&key].info().from.as_str(), live)
        } else if let Some(done) = self.finished_incoming.get(invite_id) {
            let gone = PushHandled::Gone {
                ending: done.ending,
            };
            (done.from.as_str(), gone)
        } else {
            return Ok(None);
        };
        if caller != from {
            return Err(invalid("invite_id", "names an invite from another caller"));
        }
        Ok(Some(handled))
    }

    /// Whether the live incoming invite `key` was confirmed by the
    /// caller's side (delivered over the connection, fetched, or confirmed
    /// by the caller); `false` while it is known from a push only, `None`
    /// once it finished.
    pub fn incoming_confirmed(&self, key: Key) -> Option<bool> {
        self.incoming
            .get(&key)
            .map(|inc| inc.heard == Heard::Confirmed)
    }

    /// Asks the server about the pushed invite `key` (`fetch_invite`),
    /// once per connection.
    pub(super) fn ask_server(&mut self, key: Key) {
        if self.me.is_none() {
            return;
        }
        let Some(inc) = self.incoming.get_mut(&key) else {
            return;
        };
        if inc.heard != (Heard::Fetch { asked: false }) {
            return;
        }
        inc.heard = Heard::Fetch { asked: true };
        let msg = ClientMessage::FetchInvite {
            invite_id: inc.info().invite_id.clone(),
            from: inc.info().from.clone(),
        };
        self.transmits.push_back(msg);
    }

    /// Asks the caller about the pushed invite `key` (`query`), once per
    /// connection.
    pub(super) fn ask_caller(&mut self, key: Key) {
        if self.me.is_none() {
            return;
        }
        let Some(inc) = self.incoming.get_mut(&key) else {
            return;
        };
        if matches!(inc.heard, Heard::Confirmed | Heard::Query { asked: true }) {
            return;
        }
        inc.heard = Heard::Query { asked: true };
        let info = inc.info();
        let (from, device) = (info.from.clone(), info.from_device.clone());
        let invite_id = info.invite_id.clone();
        self.send(&from, Some(&device), PeerMessage::Query { invite_id });
    }

    /// The link is gone: questions asked on it are asked again on the
    /// next connection.
    pub(super) fn forget_questions(&mut self) {
        for inc in self.incoming.values_mut() {
            inc.heard = match inc.heard {
                Heard::Fetch { .. } => Heard::Fetch { asked: false },
                Heard::Query { .. } => Heard::Query { asked: false },
                Heard::Confirmed => Heard::Confirmed,
            };
        }
    }

    /// The caller's side says the pushed invite `key` is ringing: it
    /// rings for `time_left` from now (when known; otherwise by its
    /// lifetime so far), the caller hears `ringing`, and an answer held
    /// meanwhile goes out.
    pub(super) fn confirm_pushed(&mut self, key: Key, time_left: Option<Duration>, now: Instant) {
        let Some(inc) = self.incoming.get_mut(&key) else {
            return;
        };
        if inc.heard == Heard::Confirmed {
            return;
        }
        inc.heard = Heard::Confirmed;
        if let Some(left) = time_left {
            self.timers.set(key, now + left);
        }
        let info = self.incoming[&key].info();
        let (from, device) = (info.from.clone(), info.from_device.clone());
        let invite_id = info.invite_id.clone();
        self.send(&from, Some(&device), PeerMessage::Ringing { invite_id });
        self.release_reply(key, now);
    }

    /// The pushed invite `key` arrived over the connection too: it is
    /// filled in and confirmed, as if fetched.
    pub(super) fn confirm_by_delivery(
        &mut self,
        key: Key,
        info: IncomingInfo,
        lifetime_ms: u64,
        now: Instant,
    ) {
        let inc = &self.incoming[&key];
        let known = inc.info();
        if inc.heard == Heard::Confirmed
            || known.from != info.from
            || known.from_device != info.from_device
        {
            return;
        }
        self.fill_in(key, info);
        self.confirm_pushed(key, Some(Duration::from_millis(lifetime_ms)), now);
    }

    /// Replaces what the push said about `key` with the invite as its
    /// caller sent it, and reports it.
    fn fill_in(&mut self, key: Key, info: IncomingInfo) {
        let Some(inc) = self.incoming.get_mut(&key) else {
            return;
        };
        *inc.info_mut() = info.clone();
        self.push_events
            .push_back(PushEvent::IncomingUpdated { key, info });
    }

    /// Ends `key` as the server reports the invite's outcome (in an
    /// `invite_ended` push or a fetched `invite_state`): as a relayed
    /// outcome, except `failed(timeout)` while this device's answer is out.
    /// The server decides that one on its own clock when the caller said
    /// nothing, and it can cross an answer the caller still takes; the
    /// caller's own outcome, relayed over the connection, or the
    /// confirmation timeout settles it instead.
    fn end_by_server(&mut self, key: Key, outcome: Outcome) {
        let timeout = matches!(
            outcome,
            Outcome::Failed {
                reason: FailureReason::Timeout
            }
        );
        if timeout && self.incoming.get(&key).is_some_and(Incoming::answer_sent) {
            return;
        }
        self.end_by_outcome(key, outcome);
    }

    /// The server's answer to `fetch_invite`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn receive_invite_state(
        &mut self,
        invite_id: &str,
        from: &str,
        device: String,
        invite: PeerMessage,
        time_left_ms: u64,
        outcome: Option<Outcome>,
        now: Instant,
    ) {
        let Some(&key) = self.incoming_by_id.get(invite_id) else {
            // Ended here already (a copy of the outcome, or an
            // `invite_ended` push, came first), or never held.
            return;
        };
        let inc = &self.incoming[&key];
        if inc.info().from != from {
            return;
        }
        let heard = inc.heard;
        if let Some(outcome) = outcome {
            self.end_by_server(key, outcome);
            return;
        }
        if !matches!(heard, Heard::Fetch { .. }) {
            // Confirmed meanwhile (delivered over the connection), or no
            // longer waiting for the server: nothing new.
            return;
        }
        let PeerMessage::Invite {
            conversation_id,
            mode,
            user_data,
            offer,
            ..
        } = invite
        else {
            return;
        };
        let info = IncomingInfo {
            from: from.to_owned(),
            from_device: device,
            invite_id: invite_id.to_owned(),
            conversation_id,
            mode,
            user_data,
            offer,
        };
        self.fill_in(key, info);
        self.confirm_pushed(key, Some(Duration::from_millis(time_left_ms)), now);
    }

    /// The server could not answer `fetch_invite`.
    pub(super) fn receive_fetch_failed(&mut self, invite_id: &str, code: ErrorCode) {
        let Some(&key) = self.incoming_by_id.get(invite_id) else {
            return;
        };
        if self.incoming[&key].heard != (Heard::Fetch { asked: true }) {
            return;
        }
        if code == ErrorCode::NotFound {
            // No such invite from that caller to this user, or it ended
            // long ago: as a caller that no longer knows it (`status
            // unknown` after a reconnect).
            self.finish_incoming(
                key,
                Event::IncomingFailed {
                    key,
                    reason: FailureReason::CallerGone,
                },
            );
            return;
        }
        // The server cannot say; the caller can. The invite keeps ringing
        // by its lifetime meanwhile.
        self.incoming.get_mut(&key).expect("live invite").heard = Heard::Query { asked: false };
        self.ask_caller(key);
    }

    /// The next push event to report, if any. Push events are queued apart
    /// from [`Engine::poll_event`]'s; an input that queues an
    /// [`PushEvent::IncomingUpdated`] queues no [`Event`] about that
    /// invite, so a host that drains `poll_event` first after each input
    /// reports them in the order they happened.
    pub fn poll_push_event(&mut self) -> Option<PushEvent> {
        self.push_events.pop_front()
    }

    // ---- registrations ----

    /// Registers this device's push key: sent now if connected, and again
    /// on every connection (the server ties a registration to the device
    /// it was last registered from). Registering the same `app_id` and
    /// `push_key` again replaces it; a device holds at most
    /// [`MAX_PUSH_REGISTRATIONS`], registering one more drops the least
    /// recently registered (as the server does). The answer comes as a
    /// [`PushEvent::Registered`] or [`PushEvent::RegistrationFailed`].
    /// A field over its limit is `InvalidArgument` (`appId`, `pushKey`,
    /// `data`) and changes nothing.
    pub fn register_push(&mut self, registration: PushRegistration) -> Result<(), EngineError> {
        validate_registration(
            &registration.app_id,
            &registration.push_key,
            registration.data.as_ref(),
        )
        .map_err(|e| invalid(api_field(e.field), e.problem))?;
        let id = (registration.app_id.clone(), registration.push_key.clone());
        self.registrations
            .retain(|r| (&r.app_id, &r.push_key) != (&id.0, &id.1));
        self.unregistering.retain(|u| *u != id);
        if self.registrations.len() == MAX_PUSH_REGISTRATIONS {
            self.registrations.remove(0);
        }
        self.registrations.push(registration.clone());
        self.send_to_server(register_message(registration));
        Ok(())
    }

    /// Removes a push registration of this user (made by this engine or
    /// not, e.g. an old token from an earlier run): sent now if connected,
    /// otherwise on the next connection, until the server confirms with
    /// [`PushEvent::Unregistered`] (`requested`). A field over its limit is
    /// `InvalidArgument` and changes nothing.
    pub fn unregister_push(&mut self, app_id: &str, push_key: &str) -> Result<(), EngineError> {
        validate_registration(app_id, push_key, None)
            .map_err(|e| invalid(api_field(e.field), e.problem))?;
        self.registrations
            .retain(|r| (r.app_id.as_str(), r.push_key.as_str()) != (app_id, push_key));
        let id = (app_id.to_owned(), push_key.to_owned());
        if !self.unregistering.contains(&id) {
            if self.unregistering.len() == MAX_PUSH_REGISTRATIONS {
                self.unregistering.remove(0);
            }
            self.unregistering.push(id);
        }
        self.send_to_server(ClientMessage::UnregisterPush {
            app_id: app_id.to_owned(),
            push_key: push_key.to_owned(),
        });
        Ok(())
    }

    /// This device's push registrations, least recently registered first.
    pub fn push_registrations(&self) -> &[PushRegistration] {
        &self.registrations
    }

    /// Sends every removal not yet confirmed, then every registration (on
    /// a new connection).
    pub(super) fn send_registrations(&mut self) {
        let removals: Vec<ClientMessage> = self
            .unregistering
            .iter()
            .map(|(app_id, push_key)| ClientMessage::UnregisterPush {
                app_id: app_id.clone(),
                push_key: push_key.clone(),
            })
            .collect();
        let registrations: Vec<ClientMessage> = self
            .registrations
            .iter()
            .cloned()
            .map(register_message)
            .collect();
        for msg in removals.into_iter().chain(registrations) {
            self.send_to_server(msg);
        }
    }

    fn send_to_server(&mut self, msg: ClientMessage) {
        if self.me.is_some() {
            self.transmits.push_back(msg);
        }
    }

    fn registered(&self, app_id: &str, push_key: &str) -> Option<usize> {
        self.registrations
            .iter()
            .position(|r| r.app_id == app_id && r.push_key == push_key)
    }

    pub(super) fn receive_registered(&mut self, app_id: String, push_key: String) {
        // An answer about a registration removed since is stale.
        if self.registered(&app_id, &push_key).is_some() {
            self.push_events
                .push_back(PushEvent::Registered { app_id, push_key });
        }
    }

    pub(super) fn receive_registration_failed(
        &mut self,
        app_id: String,
        push_key: String,
        code: ErrorCode,
        message: String,
    ) {
        let Some(index) = self.registered(&app_id, &push_key) else {
            return;
        };
        if !matches!(code, ErrorCode::RateLimited | ErrorCode::Internal) {
            self.registrations.remove(index);
        }
        self.push_events.push_back(PushEvent::RegistrationFailed {
            app_id,
            push_key,
            code,
            message,
        });
    }

    pub(super) fn receive_unregistered(
        &mut self,
        app_id: String,
        push_key: String,
        reason: UnregisterReason,
    ) {
        let known = match reason {
            UnregisterReason::Requested => {
                let before = self.unregistering.len();
                self.unregistering
                    .retain(|(a, k)| (a.as_str(), k.as_str()) != (&app_id, &push_key));
                self.unregistering.len() != before
            }
            // Another device's key, or one this device no longer holds,
            // is not this device's concern.
            UnregisterReason::Rejected => match self.registered(&app_id, &push_key) {
                Some(index) => {
                    self.registrations.remove(index);
                    true
                }
                None => false,
            },
        };
        if known {
            self.push_events.push_back(PushEvent::Unregistered {
                app_id,
                push_key,
                reason,
            });
        }
    }
}

fn check_version(wd: u32) -> Result<(), EngineError> {
    if wd == PUSH_PAYLOAD_VERSION {
        Ok(())
    } else {
        Err(invalid("wd", "unsupported push payload version"))
    }
}

fn register_message(registration: PushRegistration) -> ClientMessage {
    ClientMessage::RegisterPush {
        provider: registration.provider,
        app_id: registration.app_id,
        push_key: registration.push_key,
        data: registration.data,
    }
}
