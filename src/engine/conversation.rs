//! Conversations: who is in them, messages between them, joining and
//! leaving them.

use wd_protocol::{
    validate_text, CancelReason, LeaveReason, Mode, Outcome, PeerMessage, MAX_MESSAGE_LEN,
    MAX_PARTICIPANTS,
};

use super::{
    field, invalid, ConversationInfo, Engine, EngineError, Event, InviteRequest, Key, Participant,
    FINISHED_MEMORY,
};

/// A live conversation this device is in.
#[derive(Debug)]
pub(super) struct Conversation {
    pub(super) conversation_id: String,
    pub(super) mode: Mode,
    /// The other devices in it, in the order they became known here.
    pub(super) participants: Vec<Participant>,
}

impl Engine {
    /// Leaves a conversation: every other participant is told, invites
    /// into it that are still pending are canceled, and its
    /// `ConversationDisconnected` event is queued.
    pub fn disconnect(&mut self, key: Key) -> Result<(), EngineError> {
        let conv = self
            .conversations
            .get(&key)
            .ok_or(EngineError::UnknownKey)?;
        let id = conv.conversation_id.clone();
        for p in conv.participants.clone() {
            self.send(
                &p.uid,
                Some(&p.device),
                PeerMessage::Leave {
                    conversation_id: id.clone(),
                },
            );
        }
        self.end_conversation(key);
        Ok(())
    }

    /// The other participants of a live conversation; `None` once it ended.
    pub fn participants(&self, key: Key) -> Option<&[Participant]> {
        self.conversations
            .get(&key)
            .map(|c| c.participants.as_slice())
    }

    /// The id of a live conversation; `None` once it ended.
    pub fn conversation_id(&self, key: Key) -> Option<&str> {
        self.conversations
            .get(&key)
            .map(|c| c.conversation_id.as_str())
    }

    /// Sends `payload` to every device of participant `to` in the
    /// conversation, or to every participant when `to` is `None`. Each
    /// receiver reports it as a `ConversationMessage`; messages from one
    /// device arrive in the order sent.
    ///
    /// Errors: `InvalidArgument{payload}` when it is longer than
    /// [`MAX_MESSAGE_LEN`] bytes or holds a NUL; `InvalidArgument{to}`
    /// when `to` is not a participant; `UnknownKey` once the conversation
    /// ended. Nothing is sent on an error.
    pub fn send_message(
        &mut self,
        key: Key,
        to: Option<&str>,
        payload: &str,
    ) -> Result<(), EngineError> {
        let conv = self
            .conversations
            .get(&key)
            .ok_or(EngineError::UnknownKey)?;
        validate_text(field::PAYLOAD, payload, MAX_MESSAGE_LEN).map_err(|e| {
            invalid(
                field::PAYLOAD,
                if e.problem == "too long" {
                    format!("longer than {MAX_MESSAGE_LEN} bytes")
                } else {
                    e.problem.to_owned()
                },
            )
        })?;
        let targets: Vec<Participant> = conv
            .participants
            .iter()
            .filter(|p| to.is_none_or(|uid| p.uid == uid))
            .cloned()
            .collect();
        if let Some(uid) = to {
            if targets.is_empty() {
                return Err(invalid(
                    field::TO,
                    format!("{uid:?} is not a participant of this conversation"),
                ));
            }
        }
        if self.me.is_none() {
            return Err(EngineError::NotConnected);
        }
        let id = conv.conversation_id.clone();
        for p in targets {
            self.send(
                &p.uid,
                Some(&p.device),
                PeerMessage::Message {
                    conversation_id: id.clone(),
                    payload: payload.to_owned(),
                },
            );
        }
        Ok(())
    }

    /// Invites `req.to` into the live conversation `key`
    /// (`Conversation.invite`). `req.conversation_id` must be the
    /// conversation's id. The invite behaves like any other; when it is
    /// accepted the new device is added to this conversation (a
    /// `ParticipantConnected` event here, and on every other participant),
    /// and its own conversation starts with every current participant. If
    /// this device leaves the conversation while the invite is pending, the
    /// invite is canceled.
    ///
    /// Errors: `UnknownKey` once the conversation ended;
    /// `InvalidArgument{participantId}` when `to` is already in it or it
    /// has [`MAX_PARTICIPANTS`] other devices; the errors of
    /// [`Engine::invite`].
    pub fn invite_into(
        &mut self,
        key: Key,
        req: InviteRequest,
        now: std::time::Instant,
    ) -> Result<Key, EngineError> {
        let conv = self
            .conversations
            .get(&key)
            .ok_or(EngineError::UnknownKey)?;
        if req.conversation_id != conv.conversation_id {
            return Err(invalid(
                field::CONVERSATION_ID,
                "not this conversation's id",
            ));
        }
        if conv.participants.iter().any(|p| p.uid == req.to) {
            return Err(invalid(
                field::PARTICIPANT_ID,
                "already in the conversation",
            ));
        }
        if conv.participants.len() >= MAX_PARTICIPANTS {
            return Err(invalid(field::PARTICIPANT_ID, "the conversation is full"));
        }
        self.invite_inner(req, Some(key), now)
    }

    /// Starts a conversation with `participants`, or, if this device is
    /// already in conversation `conversation_id`, adds the ones it lacks
    /// to it (each with a `ParticipantConnected` event): one id is one
    /// conversation.
    pub(super) fn start_conversation(
        &mut self,
        conversation_id: String,
        mode: Mode,
        participants: Vec<Participant>,
    ) -> ConversationInfo {
        if let Some(&key) = self.conversations_by_id.get(&conversation_id) {
            for p in participants {
                self.add_participant(key, p);
            }
            let conv = &self.conversations[&key];
            return ConversationInfo {
                key,
                conversation_id,
                mode: conv.mode,
                participants: conv.participants.clone(),
            };
        }
        let key = self.new_key();
        self.conversations_by_id
            .insert(conversation_id.clone(), key);
        self.conversations.insert(
            key,
            Conversation {
                conversation_id: conversation_id.clone(),
                mode,
                participants: participants.clone(),
            },
        );
        ConversationInfo {
            key,
            conversation_id,
            mode,
            participants,
        }
    }

    /// Adds `participant` to a live conversation unless it is there;
    /// reports `ParticipantConnected` if it was added.
    fn add_participant(&mut self, key: Key, participant: Participant) -> bool {
        let Some(conv) = self.conversations.get_mut(&key) else {
            return false;
        };
        if conv.participants.contains(&participant) {
            return false;
        }
        conv.participants.push(participant.clone());
        self.events
            .push_back(Event::ParticipantConnected { key, participant });
        true
    }

    /// The caller's side of an accepted invite into a conversation this
    /// device is already in: every other participant is told `joined`
    /// (before the new device hears the outcome, so on one server node its
    /// messages never overtake that news), and the outcome lists them for
    /// the new device. Returns the outcome to send and the conversation as
    /// it now stands.
    pub(super) fn join_existing(
        &mut self,
        key: Key,
        newcomer: Participant,
    ) -> (Outcome, ConversationInfo) {
        let conv = &self.conversations[&key];
        let others = conv.participants.clone();
        let id = conv.conversation_id.clone();
        for p in &others {
            self.send(
                &p.uid,
                Some(&p.device),
                PeerMessage::Joined {
                    conversation_id: id.clone(),
                    uid: newcomer.uid.clone(),
                    device: newcomer.device.clone(),
                },
            );
        }
        let outcome = Outcome::Accepted {
            device: newcomer.device.clone(),
            participants: others.into_iter().filter(|p| *p != newcomer).collect(),
        };
        self.add_participant(key, newcomer);
        let conv = &self.conversations[&key];
        let info = ConversationInfo {
            key,
            conversation_id: id,
            mode: conv.mode,
            participants: conv.participants.clone(),
        };
        (outcome, info)
    }

    /// The live conversation `conversation_id`, if `uid`/`device` is one of
    /// its participants: conversation messages from anyone else are
    /// ignored.
    fn conversation_with(&self, conversation_id: &str, uid: &str, device: &str) -> Option<Key> {
        let key = *self.conversations_by_id.get(conversation_id)?;
        self.conversations[&key]
            .participants
            .iter()
            .any(|p| p.uid == uid && p.device == device)
            .then_some(key)
    }

    pub(super) fn receive_message(
        &mut self,
        uid: String,
        device: String,
        conversation_id: &str,
        payload: String,
    ) {
        if let Some(key) = self.conversation_with(conversation_id, &uid, &device) {
            self.events.push_back(Event::ConversationMessage {
                key,
                from: Participant { uid, device },
                payload,
            });
        }
    }

    pub(super) fn receive_joined(
        &mut self,
        from: &str,
        from_device: &str,
        conversation_id: &str,
        newcomer: Participant,
    ) {
        if self.my_device() == Some(newcomer.device.as_str())
            && self.me.as_ref().is_some_and(|me| me.uid == newcomer.uid)
        {
            return;
        }
        if let Some(key) = self.conversation_with(conversation_id, from, from_device) {
            self.add_participant(key, newcomer);
        } else if self.left_conversations.contains(conversation_id)
            && !self.conversations_by_id.contains_key(conversation_id)
        {
            // This device left before it heard of the newcomer, so the
            // newcomer may list it as a participant: tell it directly.
            self.send(
                &newcomer.uid,
                Some(&newcomer.device),
                PeerMessage::Leave {
                    conversation_id: conversation_id.to_owned(),
                },
            );
        }
    }

    /// The device `device` of `uid` is no longer in the conversation
    /// (it sent `leave`, or the server announced it gone): removed, with
    /// `ParticipantDisconnected`, if it is a participant there; ignored
    /// otherwise.
    pub(super) fn receive_leave(
        &mut self,
        uid: String,
        device: String,
        conversation_id: &str,
        reason: LeaveReason,
    ) {
        let Some(&key) = self.conversations_by_id.get(conversation_id) else {
            return;
        };
        let conv = self
            .conversations
            .get_mut(&key)
            .expect("indexed conversation");
        let Some(at) = conv
            .participants
            .iter()
            .position(|p| p.uid == uid && p.device == device)
        else {
            return;
        };
        let participant = conv.participants.remove(at);
        let now_empty = conv.participants.is_empty();
        self.events.push_back(Event::ParticipantDisconnected {
            key,
            participant,
            reason,
        });
        if now_empty {
            self.end_conversation(key);
        }
    }

    /// Ends a live conversation: invites into it still pending are
    /// canceled (`caller_canceled`), then `ConversationDisconnected`.
    pub(super) fn end_conversation(&mut self, key: Key) {
        let Some(conv) = self.conversations.remove(&key) else {
            return;
        };
        self.conversations_by_id.remove(&conv.conversation_id);
        let mut tied: Vec<Key> = self.outgoing_into(key);
        tied.sort();
        for out in tied {
            self.decide(out, Outcome::Canceled { reason: None }, |key| {
                Event::OutgoingCanceled {
                    key,
                    reason: CancelReason::CallerCanceled,
                }
            });
        }
        if self.left_order.len() == FINISHED_MEMORY {
            if let Some(old) = self.left_order.pop_front() {
                self.left_conversations.remove(&old);
            }
        }
        if self.left_conversations.insert(conv.conversation_id.clone()) {
            self.left_order.push_back(conv.conversation_id);
        }
        self.events
            .push_back(Event::ConversationDisconnected { key });
    }
}
