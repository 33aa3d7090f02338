//! Conversations: who is in them, and leaving them.

use wd_protocol::{Mode, PeerMessage};

use super::{ConversationInfo, Engine, EngineError, Event, Key, Participant};

/// A live conversation this device is in.
#[derive(Debug)]
pub(super) struct Conversation {
    conversation_id: String,
    participants: Vec<Participant>,
}

impl Engine {
    /// Leaves a conversation: every other participant is told, and its
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

    pub(super) fn start_conversation(
        &mut self,
        conversation_id: String,
        mode: Mode,
        participants: Vec<Participant>,
    ) -> ConversationInfo {
        let key = self.new_key();
        self.conversations_by_id
            .insert(conversation_id.clone(), key);
        self.conversations.insert(
            key,
            Conversation {
                conversation_id: conversation_id.clone(),
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

    pub(super) fn receive_leave(&mut self, uid: String, device: String, conversation_id: &str) {
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
        self.events
            .push_back(Event::ParticipantDisconnected { key, participant });
        if now_empty {
            self.end_conversation(key);
        }
    }

    pub(super) fn end_conversation(&mut self, key: Key) {
        if let Some(conv) = self.conversations.remove(&key) {
            self.conversations_by_id.remove(&conv.conversation_id);
            self.events
                .push_back(Event::ConversationDisconnected { key });
        }
    }
}
