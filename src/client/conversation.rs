//! `Conversation`: what an accepted invite starts, on both sides.

use std::sync::Arc;

use wd_protocol::{LeaveReason, Mode};

use super::config::InviteOptions;
use super::core::Core;
use super::error::Error;
use super::handle::{listener_methods, new_handle, Kind, Shared};
use super::outgoing::OutgoingInvite;
use crate::engine::{ConversationInfo, EngineError, Key, Participant};

/// Something that happened in a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConversationEvent {
    /// A device joined after this device's conversation started (it
    /// accepted an invite into it, made by any participant).
    ParticipantConnected(Participant),
    /// A participant sent this device a message
    /// ([`Conversation::send`]). Messages from one sender arrive in the
    /// order it sent them.
    Message {
        /// The sending device.
        from: Participant,
        /// The text.
        payload: String,
    },
    /// A participant is no longer in the conversation: it left
    /// ([`LeaveReason::Left`]), or its connection to the server ended
    /// without it leaving ([`LeaveReason::ConnectionLost`]). Fires once per
    /// participant device.
    ParticipantDisconnected {
        /// The device that is gone.
        participant: Participant,
        /// Why.
        reason: LeaveReason,
    },
    /// This device is no longer in the conversation (it left, everyone
    /// else left, or the connection was lost). Fires once, last.
    Disconnected,
}

impl ConversationEvent {
    /// The device the event is about: who joined, who sent the message,
    /// who is gone; `None` for [`ConversationEvent::Disconnected`].
    pub fn participant(&self) -> Option<&Participant> {
        match self {
            ConversationEvent::ParticipantConnected(p)
            | ConversationEvent::Message { from: p, .. }
            | ConversationEvent::ParticipantDisconnected { participant: p, .. } => Some(p),
            ConversationEvent::Disconnected => None,
        }
    }

    /// A message's text; `None` for every other event.
    pub fn payload(&self) -> Option<&str> {
        match self {
            ConversationEvent::Message { payload, .. } => Some(payload),
            _ => None,
        }
    }

    /// Why a participant is gone; `None` for every other event.
    pub fn leave_reason(&self) -> Option<LeaveReason> {
        match self {
            ConversationEvent::ParticipantDisconnected { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}

/// What never changes about a conversation.
pub(crate) struct ConversationProps {
    conversation_id: String,
    mode: Mode,
}

/// A conversation this device is in (`Conversation` in the JS API). Cheap
/// to clone; every clone is the same conversation, and two handles are
/// equal when they are the same conversation. Dropping it does not leave
/// the conversation: call [`Conversation::disconnect`].
#[derive(Clone)]
pub struct Conversation {
    shared: Arc<Shared<Conversation>>,
}

impl Kind for Conversation {
    type Event = ConversationEvent;
    type Props = ConversationProps;
    /// The other devices in the conversation.
    type State = Vec<Participant>;
    /// Whether this device is still in the conversation.
    type Status = bool;
    const STATUSES: &'static [bool] = &[true, false];

    fn wrap(shared: Arc<Shared<Self>>) -> Self {
        Conversation { shared }
    }

    fn shared(&self) -> &Arc<Shared<Self>> {
        &self.shared
    }

    fn record(participants: &mut Vec<Participant>, event: &ConversationEvent) -> Option<bool> {
        match event {
            ConversationEvent::ParticipantConnected(p) => {
                if !participants.contains(p) {
                    participants.push(p.clone());
                }
            }
            ConversationEvent::Message { .. } => {}
            ConversationEvent::ParticipantDisconnected { participant, .. } => {
                participants.retain(|q| q != participant);
            }
            ConversationEvent::Disconnected => {
                participants.clear();
                return Some(false);
            }
        }
        None
    }
}

impl std::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversation")
            .field("conversation_id", &self.conversation_id())
            .field("participants", &self.participants())
            .finish()
    }
}

/// The key of a conversation no engine holds (engines count from 1).
const GONE: Key = Key(u64::MAX);

impl PartialEq for Conversation {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for Conversation {}

/// The engine's "no such conversation" is this handle's `disconnected`.
fn map_gone(e: EngineError) -> Error {
    match e {
        EngineError::UnknownKey => gone(),
        other => other.into(),
    }
}

/// The error of a call on a conversation this device is out of.
fn gone() -> Error {
    Error::InvalidState {
        status: "disconnected",
    }
}

impl Conversation {
    /// The handle of a conversation that starts at client `core`.
    pub(crate) fn started(core: &Arc<Core>, info: ConversationInfo) -> Self {
        let props = ConversationProps {
            conversation_id: info.conversation_id,
            mode: info.mode,
        };
        new_handle(
            Arc::downgrade(core),
            info.key,
            props,
            true,
            info.participants,
        )
    }

    /// The handle of a conversation this device was in and is no longer:
    /// one a push reported accepted here after the app let go of it. No
    /// engine holds it; it is disconnected.
    pub(crate) fn gone(core: &Arc<Core>, conversation_id: String, mode: Mode) -> Self {
        new_handle(
            Arc::downgrade(core),
            GONE,
            ConversationProps {
                conversation_id,
                mode,
            },
            false,
            Vec::new(),
        )
    }

    /// The conversation's id, the same on every participant.
    pub fn conversation_id(&self) -> &str {
        &self.shared.props.conversation_id
    }

    /// Media mode.
    pub fn mode(&self) -> Mode {
        self.shared.props.mode
    }

    /// The other devices in the conversation.
    pub fn participants(&self) -> Vec<Participant> {
        self.shared.lock().clone()
    }

    /// Whether this device is still in the conversation.
    pub fn is_connected(&self) -> bool {
        self.shared.status()
    }

    /// Leaves the conversation: the others are told (each sees
    /// `ParticipantDisconnected`; the last one left alone is disconnected
    /// too), invites this device made into it that are still pending are
    /// canceled, and the `Disconnected` event fires once.
    /// [`Error::InvalidState`] if already disconnected.
    pub fn disconnect(&self) -> Result<(), Error> {
        let core = self.live_core()?;
        let key = self.shared.key;
        core.with_engine(|st, _| st.engine.disconnect(key))
            .map_err(map_gone)
    }

    /// Relays `payload` (any text up to 64 KiB, e.g. an ICE candidate as
    /// JSON) to every device of participant `to` in this conversation, or
    /// to every participant when `to` is `None`. Each receiving device gets
    /// a [`ConversationEvent::Message`] with this device as sender;
    /// messages from one device arrive in the order sent.
    ///
    /// Errors: [`Error::InvalidArgument`] naming `payload` (longer than
    /// 65 536 bytes, or holding a NUL) or `to` (not a participant); the
    /// conversation is unchanged and still usable.
    /// [`Error::InvalidState`] (`disconnected`) once this device is out of
    /// the conversation.
    pub fn send(&self, to: Option<&str>, payload: &str) -> Result<(), Error> {
        let core = self.live_core()?;
        let key = self.shared.key;
        core.with_engine(|st, _| st.engine.send_message(key, to, payload))
            .map_err(map_gone)
    }

    /// Invites `options.participant_id` into this conversation
    /// (`Conversation.invite`): the returned invite is `pending`, its
    /// `conversation_id` is this conversation's. When it is accepted, the
    /// new device is added here and every participant sees
    /// [`ConversationEvent::ParticipantConnected`];
    /// [`OutgoingInvite::conversation`] is then this conversation. The
    /// conversation's mode applies (`options.mode` is ignored). If this
    /// device leaves the conversation first, the invite is canceled.
    ///
    /// Errors: [`Error::InvalidArgument`] naming the bad option
    /// (`participantId` also when that user is already a participant),
    /// [`Error::InvalidState`] (`disconnected`) once this device is out of
    /// the conversation, [`Error::NotConnected`].
    pub fn invite(&self, options: InviteOptions) -> Result<OutgoingInvite, Error> {
        let core = self.live_core()?;
        let options = InviteOptions {
            mode: self.shared.props.mode,
            ..options
        };
        let into = (self.shared.key, self.conversation_id());
        OutgoingInvite::send(&core, options, Some(into)).map_err(|e| match e {
            // The engine forgot the conversation: it ended.
            Error::InvalidState { status: "finished" } => gone(),
            other => other,
        })
    }

    fn live_core(&self) -> Result<Arc<Core>, Error> {
        self.shared.core().ok_or_else(gone)
    }

    listener_methods!(Conversation, ConversationEvent);
}
