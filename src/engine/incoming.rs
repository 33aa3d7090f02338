//! The invitee's side of an invite: it answers, the caller decides.

use std::time::{Duration, Instant};

use wd_protocol::{
    CancelReason, FailureReason, InviteState, Outcome, PeerMessage, RejectReason, MAX_SDP_LEN,
    MAX_USER_DATA_LEN,
};

use super::{
    check_text, field, Engine, EngineError, Event, IncomingEnding, IncomingInfo, IncomingStatus,
    Key, Participant, FINISHED_MEMORY,
};

/// An incoming invite that is `pending`, `accepting` or `rejecting`.
/// Finished ones are forgotten, but their ids are remembered for a while
/// (so a late copy is not a new invite).
#[derive(Debug)]
pub(super) struct Incoming {
    info: IncomingInfo,
    status: IncomingStatus,
    /// This device's answer, once it gave one (`accepting` or
    /// `rejecting`): sent again after a reconnection if the caller never
    /// got it.
    reply: Option<Reply>,
    /// The device this one was when its answer went out (`None` while
    /// unanswered, answered while the link was down, or answered before
    /// the invite was confirmed).
    answered_as: Option<String>,
    /// Whether this device has heard from the caller's side that the
    /// invite is real and still ringing.
    pub(super) heard: Heard,
}

/// What this device has heard about an incoming invite from the caller's
/// side. An invite that arrived over the connection was heard at once; one
/// that arrived in a push is known only from the push until the server (or
/// the caller) confirms it. Until then nothing is sent about it: no
/// `ringing`, and an answer given meanwhile is held (see
/// [`Engine::accept`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Heard {
    /// Delivered over the connection, fetched from the server, or
    /// confirmed by the caller.
    Confirmed,
    /// Known from a push only: `fetch_invite` goes out on each connection
    /// until the server answers (`asked`: it went out on this one).
    Fetch {
        /// Sent on the current connection.
        asked: bool,
    },
    /// The server could not serve the fetch: the caller is asked
    /// (`query`) instead, on each connection until it answers.
    Query {
        /// Sent on the current connection.
        asked: bool,
    },
}

/// An incoming invite that finished here, remembered for a while.
#[derive(Clone, Debug)]
pub(super) struct Finished {
    /// Its caller.
    pub(super) from: String,
    /// How it ended here.
    pub(super) ending: IncomingEnding,
}

/// An answer given on this device, waiting for the caller's outcome.
#[derive(Clone, Debug)]
enum Reply {
    /// Accepted, with this SDP answer and user data.
    Accept {
        answer: Option<String>,
        user_data: Option<String>,
    },
    /// Rejected, for this reason.
    Reject(RejectReason),
}

impl Reply {
    fn message(&self, invite_id: String) -> PeerMessage {
        match self.clone() {
            Reply::Accept { answer, user_data } => PeerMessage::Accept {
                invite_id,
                answer,
                user_data,
            },
            Reply::Reject(reason) => PeerMessage::Reject { invite_id, reason },
        }
    }
}

impl Incoming {
    /// A new pending invite; `heard` says whether the caller's side
    /// confirmed it yet.
    pub(super) fn new(info: IncomingInfo, heard: Heard) -> Self {
        Incoming {
            info,
            status: IncomingStatus::Pending,
            reply: None,
            answered_as: None,
            heard,
        }
    }

    pub(super) fn info(&self) -> &IncomingInfo {
        &self.info
    }

    pub(super) fn info_mut(&mut self) -> &mut IncomingInfo {
        &mut self.info
    }

    /// Whether this device's answer went out (and the caller may have
    /// taken it).
    pub(super) fn answer_sent(&self) -> bool {
        self.answered_as.is_some()
    }
}

impl Engine {
    /// Accepts a pending incoming invite: it becomes `accepting` and the
    /// caller is asked to confirm. It ends `accepted` when the caller
    /// confirms, `canceled` if the caller decided otherwise first, or
    /// `failed(confirm_timeout)` if nothing comes back in time.
    ///
    /// An invite known only from a push ([`Engine::handle_push`]) holds
    /// the accept until the server says where the invite stands: still
    /// ringing, the accept goes out then (once) and the confirmation
    /// timeout starts; already ended, the invite ends as it did and the
    /// accept is never sent. Until then the invite's lifetime still
    /// applies (`failed(timeout)`: nothing was sent, so the caller cannot
    /// have taken the accept).
    pub fn accept(
        &mut self,
        key: Key,
        answer: Option<String>,
        user_data: Option<String>,
        now: Instant,
    ) -> Result<(), EngineError> {
        check_text(field::ANSWER, answer.as_deref(), MAX_SDP_LEN)?;
        check_text(field::USER_DATA, user_data.as_deref(), MAX_USER_DATA_LEN)?;
        self.answer(
            key,
            IncomingStatus::Accepting,
            Reply::Accept { answer, user_data },
            now,
        )
    }

    /// Rejects a pending incoming invite: it becomes `rejecting` and the
    /// caller is told. Like an accept, a reject is only a proposal: the
    /// caller decides. It ends `rejected` when the caller's outcome is
    /// this reject, `canceled` if the caller decided otherwise first
    /// (it canceled, or another device answered), or
    /// `failed(confirm_timeout)` if nothing comes back in time. So both
    /// sides always end in the same outcome.
    pub fn reject(
        &mut self,
        key: Key,
        reason: RejectReason,
        now: Instant,
    ) -> Result<(), EngineError> {
        self.answer(key, IncomingStatus::Rejecting, Reply::Reject(reason), now)
    }

    /// Records this device's answer to a pending invite and sends it.
    fn answer(
        &mut self,
        key: Key,
        status: IncomingStatus,
        reply: Reply,
        now: Instant,
    ) -> Result<(), EngineError> {
        let mine = self.my_device().map(str::to_owned);
        let inc = self.incoming.get_mut(&key).ok_or(EngineError::UnknownKey)?;
        if inc.status != IncomingStatus::Pending {
            return Err(EngineError::InvalidState {
                status: inc.status.as_str(),
            });
        }
        inc.status = status;
        if inc.heard != Heard::Confirmed {
            // Held until the invite is confirmed (`release_reply`); its
            // lifetime timer keeps running meanwhile.
            inc.reply = Some(reply);
            return Ok(());
        }
        inc.answered_as = mine;
        let msg = reply.message(inc.info.invite_id.clone());
        inc.reply = Some(reply);
        let (to, device) = (inc.info.from.clone(), inc.info.from_device.clone());
        self.timers.set(key, now + self.config.confirm_timeout);
        // While the link is down this sends nothing: the answer goes out
        // after the reconnection, once the caller says it is still
        // pending (`receive_status`).
        self.send(&to, Some(&device), msg);
        Ok(())
    }

    /// The status of a live incoming invite (`pending` or `accepting`);
    /// `None` once it finished.
    pub fn incoming_status(&self, key: Key) -> Option<IncomingStatus> {
        self.incoming.get(&key).map(|inc| inc.status)
    }

    /// Sends this device's held answer to a confirmed invite, once, and
    /// starts waiting for the caller's confirmation.
    pub(super) fn release_reply(&mut self, key: Key, now: Instant) {
        let mine = self.my_device().map(str::to_owned);
        let Some(inc) = self.incoming.get_mut(&key) else {
            return;
        };
        let Some(reply) = inc.reply.clone() else {
            return;
        };
        if inc.answered_as.is_some() || mine.is_none() {
            return;
        }
        inc.answered_as = mine;
        let msg = reply.message(inc.info.invite_id.clone());
        let (to, device) = (inc.info.from.clone(), inc.info.from_device.clone());
        self.timers.set(key, now + self.config.confirm_timeout);
        self.send(&to, Some(&device), msg);
    }

    pub(super) fn receive_invite(&mut self, info: IncomingInfo, lifetime_ms: u64, now: Instant) {
        let Some(me) = &self.me else {
            return;
        };
        if info.from == me.uid {
            return;
        }
        if let Some(&key) = self.incoming_by_id.get(&info.invite_id) {
            // Known from a push, and now delivered: the invite as its
            // caller sent it, ringing.
            self.confirm_by_delivery(key, info, lifetime_ms, now);
            return;
        }
        if self.finished_incoming.contains_key(&info.invite_id) {
            return;
        }
        let key = self.new_key();
        self.timers
            .set(key, now + Duration::from_millis(lifetime_ms));
        self.incoming_by_id.insert(info.invite_id.clone(), key);
        let (to, device, invite_id) = (
            info.from.clone(),
            info.from_device.clone(),
            info.invite_id.clone(),
        );
        self.incoming
            .insert(key, Incoming::new(info.clone(), Heard::Confirmed));
        self.events.push_back(Event::IncomingReceived { key, info });
        self.settle_glare(&to);
        // An invite that lost a glare at once is not answered at all.
        if self.incoming.contains_key(&key) {
            self.send(&to, Some(&device), PeerMessage::Ringing { invite_id });
        }
    }

    /// Pending (not accepting) incoming invites from `uid`, with their ids.
    pub(super) fn pending_incoming_from(&self, uid: &str) -> Vec<(&str, Key)> {
        self.incoming
            .iter()
            .filter(|(_, inc)| inc.info.from == uid && inc.status == IncomingStatus::Pending)
            .map(|(k, inc)| (inc.info.invite_id.as_str(), *k))
            .collect()
    }

    pub(super) fn receive_outcome(
        &mut self,
        from: &str,
        device: &str,
        invite_id: &str,
        outcome: Outcome,
    ) {
        let Some(key) = self.incoming_from(from, device, invite_id) else {
            return;
        };
        self.end_by_outcome(key, outcome);
    }

    /// Ends the live invite `key` as the caller's `outcome` says, as if
    /// the caller had relayed it (the table in *Invite lifecycle*). An
    /// outcome naming this device's answer when none went out from it is
    /// ignored (the invite stays live).
    pub(super) fn end_by_outcome(&mut self, key: Key, outcome: Outcome) {
        if !self.incoming.contains_key(&key) {
            return;
        }
        let status = self.incoming[&key].status;
        let answered_as = self.incoming[&key].answered_as.clone();
        let mine = self.my_device().unwrap_or_default().to_owned();
        let event = match outcome {
            Outcome::Accepted {
                device,
                participants,
            } if device == mine || answered_as.as_deref() == Some(device.as_str()) => {
                if status != IncomingStatus::Accepting || answered_as.is_none() {
                    // The caller claims this device accepted, but it did
                    // not (or its accept never went out): ignore it and
                    // let the confirmation (or the lifetime) run out.
                    return;
                }
                if device != mine {
                    // Accepted as the device this one was before a
                    // reconnection: that conversation cannot be joined
                    // from the new connection.
                    self.finish_incoming(
                        key,
                        Event::IncomingFailed {
                            key,
                            reason: FailureReason::Network,
                        },
                    );
                    return;
                }
                let info = &self.incoming[&key].info;
                let participant = Participant {
                    uid: info.from.clone(),
                    device: info.from_device.clone(),
                };
                let (id, mode) = (info.conversation_id.clone(), info.mode);
                // The caller, then everyone else already in the
                // conversation (never this device itself).
                let mut members = vec![participant];
                for p in participants {
                    let is_me =
                        p.device == mine && self.me.as_ref().is_some_and(|me| me.uid == p.uid);
                    if !is_me && !members.contains(&p) {
                        members.push(p);
                    }
                }
                let conversation = self.start_conversation(id, mode, members);
                Event::IncomingAccepted { key, conversation }
            }
            Outcome::Rejected { ref device, .. }
                if *device == mine || answered_as.as_deref() == Some(device.as_str()) =>
            {
                let (Some(Reply::Reject(reason)), Some(_)) =
                    (&self.incoming[&key].reply, &answered_as)
                else {
                    // The caller claims this device rejected, but it did
                    // not (or its reject never went out): ignore it, as a
                    // false accept.
                    return;
                };
                let reason = *reason;
                // The caller's outcome is this device's own reject (made
                // on this connection or the one before).
                Event::IncomingRejected { key, reason }
            }
            Outcome::Accepted { .. } | Outcome::Rejected { .. } => Event::IncomingCanceled {
                key,
                reason: CancelReason::AnsweredElsewhere,
            },
            Outcome::Canceled { reason } => Event::IncomingCanceled {
                key,
                reason: reason.unwrap_or(CancelReason::CallerCanceled),
            },
            Outcome::Failed { reason } => Event::IncomingFailed { key, reason },
        };
        self.finish_incoming(key, event);
    }

    /// The caller answered this device's `query` after a reconnection.
    pub(super) fn receive_status(
        &mut self,
        from: &str,
        device: &str,
        invite_id: &str,
        state: InviteState,
        now: Instant,
    ) {
        let Some(key) = self.incoming_from(from, device, invite_id) else {
            return;
        };
        match state {
            InviteState::Pending if self.incoming[&key].heard != Heard::Confirmed => {
                // A pushed invite the server could not serve: the caller
                // confirms it is ringing.
                self.confirm_pushed(key, None, now);
            }
            InviteState::Pending => {
                // Still ringing: keep ringing. An answer the caller never
                // got (lost with the old link, or given while it was down)
                // goes out again from this connection.
                let mine = self.my_device().map(str::to_owned);
                let inc = self.incoming.get_mut(&key).expect("live invite");
                if let Some(reply) = inc.reply.clone().filter(|_| inc.answered_as != mine) {
                    inc.answered_as = mine;
                    let msg = reply.message(invite_id.to_owned());
                    self.send(from, Some(device), msg);
                }
            }
            InviteState::Unknown => self.finish_incoming(
                key,
                Event::IncomingFailed {
                    key,
                    reason: FailureReason::CallerGone,
                },
            ),
        }
    }

    pub(super) fn expire_incoming(&mut self, key: Key) {
        let inc = &self.incoming[&key];
        let reason = match inc.status {
            // Not confirmed yet: nothing went out, an answer is still held,
            // so this is the lifetime running out.
            _ if inc.heard != Heard::Confirmed => FailureReason::Timeout,
            IncomingStatus::Accepting => {
                // The caller may yet have accepted this device after all
                // (its confirmation is late, not lost): tell it this device
                // is not in the conversation, so it does not wait for a
                // participant that gave up.
                let (to, device, conversation_id) = (
                    inc.info.from.clone(),
                    inc.info.from_device.clone(),
                    inc.info.conversation_id.clone(),
                );
                self.send(&to, Some(&device), PeerMessage::Leave { conversation_id });
                FailureReason::ConfirmTimeout
            }
            // Nothing came back for the reject either.
            IncomingStatus::Rejecting => FailureReason::ConfirmTimeout,
            _ => FailureReason::Timeout,
        };
        self.finish_incoming(key, Event::IncomingFailed { key, reason });
    }

    /// The live incoming invite `invite_id`, if it came from `from` on
    /// `device`: messages about it from anyone else are ignored.
    pub(super) fn incoming_from(&self, from: &str, device: &str, invite_id: &str) -> Option<Key> {
        let key = *self.incoming_by_id.get(invite_id)?;
        let info = &self.incoming[&key].info;
        (info.from == from && info.from_device == device).then_some(key)
    }

    /// Forgets a live incoming invite and reports its terminal event.
    pub(super) fn finish_incoming(&mut self, key: Key, event: Event) {
        let Some(inc) = self.incoming.remove(&key) else {
            return;
        };
        self.timers.clear(key);
        self.incoming_by_id.remove(&inc.info.invite_id);
        if let Some(ending) = IncomingEnding::of_event(&event) {
            self.remember_finished(inc.info.invite_id, inc.info.from, ending);
        }
        self.events.push_back(event);
    }

    /// Remembers that the invite `invite_id` from `from` ended here so
    /// (bounded by [`FINISHED_MEMORY`]), so a late or repeated copy of it
    /// is not a new invite.
    pub(super) fn remember_finished(
        &mut self,
        invite_id: String,
        from: String,
        ending: IncomingEnding,
    ) {
        if self.finished_incoming.contains_key(&invite_id) {
            return;
        }
        if self.finished_order.len() == FINISHED_MEMORY {
            if let Some(old) = self.finished_order.pop_front() {
                self.finished_incoming.remove(&old);
            }
        }
        self.finished_order.push_back(invite_id.clone());
        self.finished_incoming
            .insert(invite_id, Finished { from, ending });
    }
}
