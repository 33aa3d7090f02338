//! The caller's side of an invite: it decides the outcome.

use std::time::{Duration, Instant};

use wd_protocol::{
    validate_id, validate_uid, CancelReason, FailureReason, Outcome, PeerMessage, RejectReason,
    MAX_LIFETIME_MS, MAX_SDP_LEN, MAX_USER_DATA_LEN,
};

use super::{
    check_text, field, invalid, Answer, Engine, EngineError, Event, InviteRequest, Key, Participant,
};

/// A pending outgoing invite. Finished ones are forgotten at once: their
/// terminal event carries everything left to say.
#[derive(Debug)]
pub(super) struct Outgoing {
    to: String,
    invite_id: String,
    conversation_id: String,
    mode: wd_protocol::Mode,
    rang: bool,
    /// The live conversation this invite adds to, if it was made with
    /// [`Engine::invite_into`].
    conversation: Option<Key>,
}

/// Checks a request against the API's rules, naming the offending field
/// by its API name.
pub(super) fn validate_request(req: &InviteRequest) -> Result<(), EngineError> {
    validate_uid(&req.to).map_err(|e| invalid(field::PARTICIPANT_ID, e.problem))?;
    validate_id(field::INVITE_ID, &req.invite_id)
        .map_err(|e| invalid(field::INVITE_ID, e.problem))?;
    validate_id(field::CONVERSATION_ID, &req.conversation_id)
        .map_err(|e| invalid(field::CONVERSATION_ID, e.problem))?;
    check_text(
        field::USER_DATA,
        req.user_data.as_deref(),
        MAX_USER_DATA_LEN,
    )?;
    check_text(field::OFFER, req.offer.as_deref(), MAX_SDP_LEN)?;
    if req.lifetime_ms == 0 || req.lifetime_ms > MAX_LIFETIME_MS {
        return Err(invalid(field::LIFETIME_MS, "must be between 1 and 3600000"));
    }
    Ok(())
}

impl Engine {
    /// Sends a new invite. It is `pending` until its one terminal event.
    ///
    /// Inviting yourself is not refused here: the invite is created and
    /// fails at once with `invalid_participant`, as the JS API reports it.
    ///
    /// Glare: if an invite from `req.to` is pending here, the two are
    /// settled at once (the greater `invite_id` loses, see `docs/PROTOCOL.md`,
    /// "Glare"); the new invite may
    /// then already be `canceled(glare)` when this returns.
    pub fn invite(&mut self, req: InviteRequest, now: Instant) -> Result<Key, EngineError> {
        self.invite_inner(req, None, now)
    }

    pub(super) fn invite_inner(
        &mut self,
        req: InviteRequest,
        conversation: Option<Key>,
        now: Instant,
    ) -> Result<Key, EngineError> {
        validate_request(&req)?;
        let me = self.me.as_ref().ok_or(EngineError::NotConnected)?;
        if self.outgoing_by_id.contains_key(&req.invite_id) {
            return Err(invalid(field::INVITE_ID, "already in use"));
        }
        let to_self = me.uid == req.to;
        let key = self.new_key();
        self.outgoing.insert(
            key,
            Outgoing {
                to: req.to.clone(),
                invite_id: req.invite_id.clone(),
                conversation_id: req.conversation_id.clone(),
                mode: req.mode,
                rang: false,
                conversation,
            },
        );
        self.outgoing_by_id.insert(req.invite_id.clone(), key);
        if to_self {
            self.finish_outgoing(key, |key| Event::OutgoingFailed {
                key,
                reason: FailureReason::InvalidParticipant,
            });
            return Ok(key);
        }
        self.timers
            .set(key, now + Duration::from_millis(req.lifetime_ms));
        self.send(
            &req.to,
            None,
            PeerMessage::Invite {
                invite_id: req.invite_id,
                conversation_id: req.conversation_id,
                mode: req.mode,
                user_data: req.user_data,
                offer: req.offer,
                lifetime_ms: req.lifetime_ms,
            },
        );
        self.settle_glare(&req.to);
        Ok(key)
    }

    /// Cancels a pending outgoing invite: when this returns `Ok` the invite
    /// is `canceled`, its `OutgoingCanceled` event is queued, and every
    /// device of the invitee is told.
    pub fn cancel(&mut self, key: Key, _now: Instant) -> Result<(), EngineError> {
        if !self.outgoing.contains_key(&key) {
            return Err(EngineError::UnknownKey);
        }
        self.decide(key, Outcome::Canceled { reason: None }, |key| {
            Event::OutgoingCanceled {
                key,
                reason: CancelReason::CallerCanceled,
            }
        });
        Ok(())
    }

    /// Settles glare with user `uid`: while this engine holds a pending
    /// outgoing invite to `uid` and a pending (not accepting) incoming
    /// invite from `uid`, the invite with the least `invite_id` (byte-wise)
    /// survives together with every invite in its direction, and every
    /// invite in the other direction ends `canceled(glare)`. For one invite
    /// each way: the greater id loses. A losing outgoing invite is canceled
    /// as by `cancel`, with the outcome `canceled(glare)` sent to the
    /// invitee's devices; a losing incoming one ends here without an
    /// answer (its caller's engine, applying the same rule, cancels it, and
    /// that outcome is absorbed). An exact tie cancels the outgoing side,
    /// so both invites end.
    pub(super) fn settle_glare(&mut self, uid: &str) {
        let mut outs: Vec<(&str, Key)> = self
            .outgoing
            .iter()
            .filter(|(_, o)| o.to == uid)
            .map(|(k, o)| (o.invite_id.as_str(), *k))
            .collect();
        let Some(min_out) = outs.iter().map(|(id, _)| *id).min() else {
            return;
        };
        let mut ins: Vec<(&str, Key)> = self.pending_incoming_from(uid);
        let Some(min_in) = ins.iter().map(|(id, _)| *id).min() else {
            return;
        };
        if min_out >= min_in {
            let mut losers: Vec<Key> = outs.drain(..).map(|(_, k)| k).collect();
            losers.sort();
            for key in losers {
                self.decide(
                    key,
                    Outcome::Canceled {
                        reason: Some(CancelReason::Glare),
                    },
                    |key| Event::OutgoingCanceled {
                        key,
                        reason: CancelReason::Glare,
                    },
                );
            }
        } else {
            let mut losers: Vec<Key> = ins.drain(..).map(|(_, k)| k).collect();
            losers.sort();
            for key in losers {
                self.finish_incoming(
                    key,
                    Event::IncomingCanceled {
                        key,
                        reason: CancelReason::Glare,
                    },
                );
            }
        }
    }

    /// Pending outgoing invites into the conversation `conversation`.
    pub(super) fn outgoing_into(&self, conversation: Key) -> Vec<Key> {
        self.outgoing
            .iter()
            .filter(|(_, o)| o.conversation == Some(conversation))
            .map(|(k, _)| *k)
            .collect()
    }

    /// Whether `key` is a pending outgoing invite.
    pub fn is_outgoing_pending(&self, key: Key) -> bool {
        self.outgoing.contains_key(&key)
    }

    pub(super) fn receive_ringing(&mut self, from: &str, invite_id: &str) {
        let Some(key) = self.outgoing_to(from, invite_id) else {
            return;
        };
        let out = self.outgoing.get_mut(&key).expect("indexed invite exists");
        if !out.rang {
            out.rang = true;
            self.events.push_back(Event::OutgoingRinging { key });
        }
    }

    pub(super) fn receive_accept(&mut self, from: &str, invite_id: &str, answer: Answer) {
        let Some(key) = self.outgoing_to(from, invite_id) else {
            return;
        };
        let out = &self.outgoing[&key];
        let participant = Participant {
            uid: out.to.clone(),
            device: answer.device.clone(),
        };
        let (conversation_id, mode) = (out.conversation_id.clone(), out.mode);
        // One id is one conversation: an accept into a conversation this
        // device is in adds to it.
        let existing = out
            .conversation
            .filter(|k| self.conversations.contains_key(k))
            .or_else(|| self.conversations_by_id.get(&conversation_id).copied());
        let (outcome, conversation) = match existing {
            Some(conv) => self.join_existing(conv, participant),
            None => {
                let outcome = Outcome::Accepted {
                    device: answer.device.clone(),
                    participants: Vec::new(),
                };
                let info = self.start_conversation(conversation_id, mode, vec![participant]);
                (outcome, info)
            }
        };
        self.decide(key, outcome, move |key| Event::OutgoingAccepted {
            key,
            answer,
            conversation,
        });
    }

    pub(super) fn receive_reject(
        &mut self,
        from: &str,
        device: &str,
        invite_id: &str,
        reason: RejectReason,
    ) {
        let Some(key) = self.outgoing_to(from, invite_id) else {
            return;
        };
        let outcome = Outcome::Rejected {
            device: device.to_owned(),
            reason,
        };
        self.decide(key, outcome, |key| Event::OutgoingRejected { key, reason });
    }

    pub(super) fn expire_outgoing(&mut self, key: Key) {
        let reason = FailureReason::Timeout;
        self.decide(key, Outcome::Failed { reason }, |key| {
            Event::OutgoingFailed { key, reason }
        });
    }

    /// The pending invite `invite_id`, if it was sent to `from`: answers
    /// from anyone else are ignored.
    pub(super) fn outgoing_to(&self, from: &str, invite_id: &str) -> Option<Key> {
        let key = *self.outgoing_by_id.get(invite_id)?;
        (self.outgoing[&key].to == from).then_some(key)
    }

    /// Settles a pending invite with `outcome`, tells every invitee device,
    /// and reports `event`.
    pub(super) fn decide(&mut self, key: Key, outcome: Outcome, event: impl FnOnce(Key) -> Event) {
        let Some(out) = self.outgoing.get(&key) else {
            return;
        };
        let (to, invite_id) = (out.to.clone(), out.invite_id.clone());
        self.remember_decided(invite_id.clone(), to.clone(), outcome.clone());
        self.send(&to, None, PeerMessage::Outcome { invite_id, outcome });
        self.finish_outgoing(key, event);
    }

    /// The invitee and id of a pending outgoing invite.
    pub(super) fn outgoing_ids(&self, key: Key) -> Option<(String, String)> {
        self.outgoing
            .get(&key)
            .map(|o| (o.to.clone(), o.invite_id.clone()))
    }

    /// Forgets a pending invite and reports its terminal event.
    pub(super) fn finish_outgoing(&mut self, key: Key, event: impl FnOnce(Key) -> Event) {
        if let Some(out) = self.outgoing.remove(&key) {
            self.outgoing_by_id.remove(&out.invite_id);
            self.timers.clear(key);
            self.events.push_back(event(key));
        }
    }
}
