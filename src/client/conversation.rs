//! `Conversation`: what an accepted invite starts, on both sides.

use std::ffi::CStr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use wd_protocol::{LeaveReason, Mode};

use super::core::Core;
use super::events::{Deliver, Slot};
use super::text::Text;
use super::{Error, InviteOptions, OutgoingInvite};
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

struct ConversationState {
    participants: Vec<Participant>,
    connected: bool,
}

/// State shared by every clone of one [`Conversation`].
pub(crate) struct ConversationShared {
    core: Weak<Core>,
    key: Key,
    conversation_id: Text,
    mode: Mode,
    state: Mutex<ConversationState>,
    slot: Slot<Conversation, ConversationEvent>,
    c_refs: AtomicUsize,
}

impl ConversationShared {
    pub(crate) fn new(core: Weak<Core>, info: ConversationInfo) -> Arc<Self> {
        Arc::new(ConversationShared {
            core,
            key: info.key,
            conversation_id: Text::from_checked(info.conversation_id),
            mode: info.mode,
            state: Mutex::new(ConversationState {
                participants: info.participants,
                connected: true,
            }),
            slot: Slot::default(),
            c_refs: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ConversationState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event (under the engine lock) and queues it.
    pub(crate) fn update(&self, event: ConversationEvent) {
        {
            let mut st = self.lock();
            match &event {
                ConversationEvent::ParticipantConnected(p) => {
                    if !st.participants.contains(p) {
                        st.participants.push(p.clone());
                    }
                }
                ConversationEvent::Message { .. } => {}
                ConversationEvent::ParticipantDisconnected { participant, .. } => {
                    st.participants.retain(|q| q != participant);
                }
                ConversationEvent::Disconnected => {
                    st.connected = false;
                    st.participants.clear();
                }
            }
        }
        self.slot.push(event);
    }
}

/// The engine's "no such conversation" is this handle's `disconnected`.
fn map_gone(e: impl Into<MaybeGone>) -> Error {
    match e.into() {
        MaybeGone::Engine(EngineError::UnknownKey) => Error::InvalidState {
            status: "disconnected",
        },
        MaybeGone::Engine(other) => other.into(),
        MaybeGone::Sdk(Error::InvalidState { status: "finished" }) => Error::InvalidState {
            status: "disconnected",
        },
        MaybeGone::Sdk(other) => other,
    }
}

/// An error from the engine or from the SDK layer.
enum MaybeGone {
    Engine(EngineError),
    Sdk(Error),
}

impl From<EngineError> for MaybeGone {
    fn from(e: EngineError) -> Self {
        MaybeGone::Engine(e)
    }
}

impl From<Error> for MaybeGone {
    fn from(e: Error) -> Self {
        MaybeGone::Sdk(e)
    }
}

impl Deliver for ConversationShared {
    fn deliver(self: Arc<Self>) {
        let handle = Conversation { shared: self };
        handle.shared.slot.run(&handle);
    }
}

/// A conversation this device is in (`Conversation` in the JS API). Cheap
/// to clone; every clone is the same conversation. Dropping it does not
/// leave the conversation: call [`Conversation::disconnect`].
#[derive(Clone)]
pub struct Conversation {
    pub(crate) shared: Arc<ConversationShared>,
}

impl std::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversation")
            .field("conversation_id", &self.conversation_id())
            .field("participants", &self.participants())
            .finish()
    }
}

impl Conversation {
    /// The conversation's id, the same on every participant.
    pub fn conversation_id(&self) -> &str {
        self.shared.conversation_id.as_str()
    }

    pub(crate) fn conversation_id_cstr(&self) -> &CStr {
        self.shared.conversation_id.as_c_str()
    }

    /// Media mode.
    pub fn mode(&self) -> Mode {
        self.shared.mode
    }

    /// The other devices in the conversation.
    pub fn participants(&self) -> Vec<Participant> {
        self.shared.lock().participants.clone()
    }

    /// Whether this device is still in the conversation.
    pub fn is_connected(&self) -> bool {
        self.shared.lock().connected
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
            mode: self.shared.mode,
            ..options
        };
        super::invite(
            &core,
            options,
            Some((self.shared.key, self.conversation_id().to_owned())),
        )
        .map_err(map_gone)
    }

    fn live_core(&self) -> Result<Arc<Core>, Error> {
        self.shared.core.upgrade().ok_or(Error::InvalidState {
            status: "disconnected",
        })
    }

    /// Sets the listener, replacing (and dropping) the previous one; events
    /// that happened before are delivered to it, once.
    pub fn set_listener(
        &self,
        listener: impl FnMut(&Conversation, &ConversationEvent) + Send + 'static,
    ) {
        if self.shared.slot.set(Box::new(listener)) {
            Core::post_or_deliver_here(&self.shared.core, self.shared.clone());
        }
    }

    /// Removes the listener; events that follow wait for a new one.
    pub fn clear_listener(&self) {
        self.shared.slot.clear();
    }

    /// How many C references the FFI holds to this conversation.
    pub(crate) fn c_refs(&self) -> &AtomicUsize {
        &self.shared.c_refs
    }
}
