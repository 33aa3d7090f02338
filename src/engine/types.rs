//! Values the engine hands out: keys, statuses, snapshots and events.

use wd_protocol::{CancelReason, FailureReason, LeaveReason, Mode, Outcome, RejectReason};

/// One device taking part in a conversation (`uid` and `device`).
pub use wd_protocol::Participant;

/// Names one outgoing invite, incoming invite or conversation inside one
/// engine. Keys are never reused by an engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub u64);

/// Status of an outgoing invite (`OutgoingInvite.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutgoingStatus {
    /// Ringing; no outcome yet.
    Pending,
    /// A device of the invitee accepted.
    Accepted,
    /// A device of the invitee rejected.
    Rejected,
    /// The caller canceled.
    Canceled,
    /// The invite failed; the event carries the reason.
    Failed,
}

impl OutgoingStatus {
    /// Whether no further change can happen.
    pub fn is_terminal(self) -> bool {
        self != OutgoingStatus::Pending
    }

    /// The name the JS API uses (`"pending"`, `"accepted"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            OutgoingStatus::Pending => "pending",
            OutgoingStatus::Accepted => "accepted",
            OutgoingStatus::Rejected => "rejected",
            OutgoingStatus::Canceled => "canceled",
            OutgoingStatus::Failed => "failed",
        }
    }
}

/// Status of an incoming invite (`IncomingInvite.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IncomingStatus {
    /// Ringing here; not answered yet.
    Pending,
    /// Accepted here; waiting for the caller to confirm.
    Accepting,
    /// Rejected here; waiting for the caller's outcome, which ends it
    /// `rejected`, or `canceled` if the caller decided otherwise first.
    Rejecting,
    /// The caller confirmed this device's accept.
    Accepted,
    /// Rejected here.
    Rejected,
    /// The caller canceled, or another device answered.
    Canceled,
    /// The invite failed; the event carries the reason.
    Failed,
}

impl IncomingStatus {
    /// Whether no further change can happen.
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            IncomingStatus::Pending | IncomingStatus::Accepting | IncomingStatus::Rejecting
        )
    }

    /// The name the JS API uses (`"pending"`, `"accepting"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            IncomingStatus::Pending => "pending",
            IncomingStatus::Accepting => "accepting",
            IncomingStatus::Rejecting => "rejecting",
            IncomingStatus::Accepted => "accepted",
            IncomingStatus::Rejected => "rejected",
            IncomingStatus::Canceled => "canceled",
            IncomingStatus::Failed => "failed",
        }
    }
}

/// How an incoming invite ended on this device: its terminal event,
/// without the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IncomingEnding {
    /// [`Event::IncomingAccepted`].
    Accepted,
    /// [`Event::IncomingRejected`].
    Rejected(RejectReason),
    /// [`Event::IncomingCanceled`].
    Canceled(CancelReason),
    /// [`Event::IncomingFailed`].
    Failed(FailureReason),
}

impl IncomingEnding {
    /// The ending a terminal incoming event stands for; `None` for any
    /// other event.
    pub fn of_event(event: &Event) -> Option<Self> {
        match event {
            Event::IncomingAccepted { .. } => Some(IncomingEnding::Accepted),
            Event::IncomingRejected { reason, .. } => Some(IncomingEnding::Rejected(*reason)),
            Event::IncomingCanceled { reason, .. } => Some(IncomingEnding::Canceled(*reason)),
            Event::IncomingFailed { reason, .. } => Some(IncomingEnding::Failed(*reason)),
            _ => None,
        }
    }

    /// How the caller's `outcome` ends the invite on a device that did not
    /// answer it: an accept or reject by any device is
    /// `canceled(answered_elsewhere)`, a cancel is `canceled` with its
    /// reason (`caller_canceled` when it gives none), a failure is `failed`
    /// with its reason (see *Invite lifecycle* in `docs/PROTOCOL.md`).
    pub fn unanswered(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Accepted { .. } | Outcome::Rejected { .. } => {
                IncomingEnding::Canceled(CancelReason::AnsweredElsewhere)
            }
            Outcome::Canceled { reason } => {
                IncomingEnding::Canceled(reason.unwrap_or(CancelReason::CallerCanceled))
            }
            Outcome::Failed { reason } => IncomingEnding::Failed(*reason),
        }
    }

    /// The status an invite that ended so is in.
    pub fn status(self) -> IncomingStatus {
        match self {
            IncomingEnding::Accepted => IncomingStatus::Accepted,
            IncomingEnding::Rejected(_) => IncomingStatus::Rejected,
            IncomingEnding::Canceled(_) => IncomingStatus::Canceled,
            IncomingEnding::Failed(_) => IncomingStatus::Failed,
        }
    }
}

/// What an invitee is told about an invite it received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingInfo {
    /// Caller's user id.
    pub from: String,
    /// Caller's device.
    pub from_device: String,
    /// The invite's id.
    pub invite_id: String,
    /// The conversation the invite is for.
    pub conversation_id: String,
    /// Media mode.
    pub mode: Mode,
    /// Text from the caller.
    pub user_data: Option<String>,
    /// SDP offer from the caller.
    pub offer: Option<String>,
}

/// A conversation as it stands when it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationInfo {
    /// The conversation's key in this engine.
    pub key: Key,
    /// The conversation's id, shared by every participant.
    pub conversation_id: String,
    /// Media mode.
    pub mode: Mode,
    /// The other devices in the conversation.
    pub participants: Vec<Participant>,
}

/// What the invitee sent back with its accept.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Answer {
    /// The accepting device.
    pub device: String,
    /// SDP answer.
    pub answer: Option<String>,
    /// Text from the invitee.
    pub user_data: Option<String>,
}

/// Something that happened, for the host to report. Every outgoing and
/// incoming invite produces exactly one terminal event (all variants but
/// [`Event::OutgoingRinging`], [`Event::IncomingReceived`] and the
/// conversation ones), and nothing about that invite after it. Every
/// conversation ends with one [`Event::ConversationDisconnected`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A device of the invitee has the invite. Fires at most once per
    /// invite, before its terminal event.
    OutgoingRinging {
        /// The outgoing invite.
        key: Key,
    },
    /// The invitee accepted; the conversation has started.
    OutgoingAccepted {
        /// The outgoing invite.
        key: Key,
        /// What the invitee sent back.
        answer: Answer,
        /// The new conversation.
        conversation: ConversationInfo,
    },
    /// The invitee rejected.
    OutgoingRejected {
        /// The outgoing invite.
        key: Key,
        /// Why.
        reason: RejectReason,
    },
    /// The invite was canceled: by the caller (`caller_canceled`, fires
    /// from within [`super::Engine::cancel`]), because its conversation
    /// ended first (`caller_canceled`), or because it lost a glare
    /// (`glare`).
    OutgoingCanceled {
        /// The outgoing invite.
        key: Key,
        /// Why.
        reason: CancelReason,
    },
    /// The invite failed.
    OutgoingFailed {
        /// The outgoing invite.
        key: Key,
        /// Why.
        reason: FailureReason,
    },
    /// A new invite arrived for this user; it is `pending`.
    IncomingReceived {
        /// The incoming invite.
        key: Key,
        /// What it says.
        info: IncomingInfo,
    },
    /// The caller confirmed this device's accept; the conversation has
    /// started.
    IncomingAccepted {
        /// The incoming invite.
        key: Key,
        /// The new conversation.
        conversation: ConversationInfo,
    },
    /// The caller's outcome is this device's reject (made with
    /// [`super::Engine::reject`]).
    IncomingRejected {
        /// The incoming invite.
        key: Key,
        /// Why.
        reason: RejectReason,
    },
    /// The caller canceled, or another device of this user answered.
    IncomingCanceled {
        /// The incoming invite.
        key: Key,
        /// Why.
        reason: CancelReason,
    },
    /// The invite failed on this side.
    IncomingFailed {
        /// The incoming invite.
        key: Key,
        /// Why.
        reason: FailureReason,
    },
    /// A device joined a conversation this device was already in (it
    /// accepted an invite into it).
    ParticipantConnected {
        /// The conversation.
        key: Key,
        /// Who joined.
        participant: Participant,
    },
    /// A participant sent this device a message.
    ConversationMessage {
        /// The conversation.
        key: Key,
        /// The sender.
        from: Participant,
        /// The text.
        payload: String,
    },
    /// A participant left a conversation, or its connection was lost.
    ParticipantDisconnected {
        /// The conversation.
        key: Key,
        /// Who left.
        participant: Participant,
        /// Why: it sent `leave`, or the server announced its connection
        /// gone.
        reason: LeaveReason,
    },
    /// This device is no longer in the conversation (it left, the last
    /// other participant left, or the connection was lost). Fires once,
    /// last.
    ConversationDisconnected {
        /// The conversation.
        key: Key,
    },
}

impl Event {
    /// The key of the invite or conversation the event is about.
    pub fn key(&self) -> Key {
        match self {
            Event::OutgoingRinging { key }
            | Event::OutgoingAccepted { key, .. }
            | Event::OutgoingRejected { key, .. }
            | Event::OutgoingCanceled { key, .. }
            | Event::OutgoingFailed { key, .. }
            | Event::IncomingReceived { key, .. }
            | Event::IncomingAccepted { key, .. }
            | Event::IncomingRejected { key, .. }
            | Event::IncomingCanceled { key, .. }
            | Event::IncomingFailed { key, .. }
            | Event::ParticipantConnected { key, .. }
            | Event::ConversationMessage { key, .. }
            | Event::ParticipantDisconnected { key, .. }
            | Event::ConversationDisconnected { key } => *key,
        }
    }

    /// Whether this is the last event of its invite or conversation.
    pub fn is_terminal(&self) -> bool {
        !matches!(
            self,
            Event::OutgoingRinging { .. }
                | Event::IncomingReceived { .. }
                | Event::ParticipantConnected { .. }
                | Event::ConversationMessage { .. }
                | Event::ParticipantDisconnected { .. }
        )
    }
}

/// Why the engine refused a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// The call is not valid in the invite's or conversation's current
    /// status (e.g. `cancel` after `accepted`).
    InvalidState {
        /// The status it is in, by its API name.
        status: &'static str,
    },
    /// There is no connection to the server.
    NotConnected,
    /// An argument broke a rule; `field` names it.
    InvalidArgument {
        /// The argument's API name.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The key names nothing this engine knows (never issued, or already
    /// finished and forgotten).
    UnknownKey,
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::InvalidState { status } => {
                write!(f, "not valid while the status is {status}")
            }
            EngineError::NotConnected => f.write_str("not connected to the server"),
            EngineError::InvalidArgument { field, problem } => write!(f, "{field}: {problem}"),
            EngineError::UnknownKey => f.write_str("no such invite or conversation"),
        }
    }
}

impl std::error::Error for EngineError {}
