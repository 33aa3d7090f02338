//! The C enums for statuses, modes and reasons, and their conversions.
//!
//! Every enum has explicit values that never change; new values are only
//! added at the end. Values coming *from* C are taken as `uint32_t` and
//! converted with a `match` (an unknown value is INVALID_ARGUMENT), never
//! transmuted.

use crate::client::{
    CancelReason, ConnectionState, FailureReason, IncomingStatus, LeaveReason, Mode,
    OutgoingStatus, RejectReason,
};

/// Status of an outgoing invite.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum wd_outgoing_status {
    /// Ringing; no outcome yet.
    Pending = 0,
    /// A device of the invitee accepted; the conversation exists.
    Accepted = 1,
    /// A device of the invitee rejected.
    Rejected = 2,
    /// This client canceled.
    Canceled = 3,
    /// The invite failed; see its failure reason.
    Failed = 4,
}

impl From<OutgoingStatus> for wd_outgoing_status {
    fn from(s: OutgoingStatus) -> Self {
        match s {
            OutgoingStatus::Pending => wd_outgoing_status::Pending,
            OutgoingStatus::Accepted => wd_outgoing_status::Accepted,
            OutgoingStatus::Rejected => wd_outgoing_status::Rejected,
            OutgoingStatus::Canceled => wd_outgoing_status::Canceled,
            OutgoingStatus::Failed => wd_outgoing_status::Failed,
        }
    }
}

/// Status of an incoming invite.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum wd_incoming_status {
    /// Ringing here; not answered yet.
    Pending = 0,
    /// Accepted here; waiting for the caller to confirm.
    Accepting = 1,
    /// The caller confirmed this device's accept; the conversation exists.
    Accepted = 2,
    /// The caller's outcome is this device's reject.
    Rejected = 3,
    /// The caller canceled, or another device answered; see the cancel
    /// reason.
    Canceled = 4,
    /// The invite failed; see its failure reason.
    Failed = 5,
    /// Rejected here; waiting for the caller's outcome (`REJECTED`, or
    /// `CANCELED` when the caller decided otherwise first). Appended, so
    /// the values above keep theirs.
    Rejecting = 6,
}

impl From<IncomingStatus> for wd_incoming_status {
    fn from(s: IncomingStatus) -> Self {
        match s {
            IncomingStatus::Pending => wd_incoming_status::Pending,
            IncomingStatus::Accepting => wd_incoming_status::Accepting,
            IncomingStatus::Rejecting => wd_incoming_status::Rejecting,
            IncomingStatus::Accepted => wd_incoming_status::Accepted,
            IncomingStatus::Rejected => wd_incoming_status::Rejected,
            IncomingStatus::Canceled => wd_incoming_status::Canceled,
            IncomingStatus::Failed => wd_incoming_status::Failed,
        }
    }
}

/// How a conversation carries media.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum wd_mode {
    /// Media flows directly between the participants (`"p2p"`).
    P2p = 0,
    /// Media flows through a media server (`"server"`).
    Server = 1,
}

impl From<Mode> for wd_mode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::P2p => wd_mode::P2p,
            Mode::Server => wd_mode::Server,
        }
    }
}

/// Why an invite failed; `WD_FAILURE_REASON_NONE` when it did not.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum wd_failure_reason {
    /// The invite did not fail.
    None = 0,
    /// No device of the invitee is online.
    Offline = 1,
    /// Nobody answered within the invite's lifetime.
    Timeout = 2,
    /// This client lost its connection to the server.
    Network = 3,
    /// The server refused this client's credentials.
    Unauthorized = 4,
    /// The invitee is unknown, malformed, or the caller itself.
    InvalidParticipant = 5,
    /// The caller sent too many invites.
    RateLimited = 6,
    /// Invitee side: the caller never confirmed the accept.
    ConfirmTimeout = 7,
    /// Invitee side: the caller's connection went away.
    CallerGone = 8,
    /// The server could not handle the invite.
    ServerError = 9,
}

impl From<Option<FailureReason>> for wd_failure_reason {
    fn from(r: Option<FailureReason>) -> Self {
        match r {
            None => wd_failure_reason::None,
            Some(FailureReason::Offline) => wd_failure_reason::Offline,
            Some(FailureReason::Timeout) => wd_failure_reason::Timeout,
            Some(FailureReason::Network) => wd_failure_reason::Network,
            Some(FailureReason::Unauthorized) => wd_failure_reason::Unauthorized,
            Some(FailureReason::InvalidParticipant) => wd_failure_reason::InvalidParticipant,
            Some(FailureReason::RateLimited) => wd_failure_reason::RateLimited,
            Some(FailureReason::ConfirmTimeout) => wd_failure_reason::ConfirmTimeout,
            Some(FailureReason::CallerGone) => wd_failure_reason::CallerGone,
            Some(FailureReason::ServerError) => wd_failure_reason::ServerError,
        }
    }
}

/// Why an invitee rejected; `WD_REJECT_REASON_NONE` when it did not.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum wd_reject_reason {
    /// The invite was not rejected. Not valid for
    /// `wd_incoming_invite_reject`.
    None = 0,
    /// The invitee declined.
    Declined = 1,
    /// The invitee is busy in another call.
    Busy = 2,
}

impl From<Option<RejectReason>> for wd_reject_reason {
    fn from(r: Option<RejectReason>) -> Self {
        match r {
            None => wd_reject_reason::None,
            Some(RejectReason::Declined) => wd_reject_reason::Declined,
            Some(RejectReason::Busy) => wd_reject_reason::Busy,
        }
    }
}

impl wd_reject_reason {
    /// The reason with numeric value `value`, for a reject (so not NONE).
    pub fn reason_from_u32(value: u32) -> Option<RejectReason> {
        match value {
            1 => Some(RejectReason::Declined),
            2 => Some(RejectReason::Busy),
            _ => None,
        }
    }
}

/// Why an invite was canceled; `WD_CANCEL_REASON_NONE` when it was not.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum wd_cancel_reason {
    /// The invite was not canceled.
    None = 0,
    /// The caller canceled the invite.
    CallerCanceled = 1,
    /// Another device of this user accepted or rejected it first.
    AnsweredElsewhere = 2,
    /// Caller and invitee invited each other at the same time and this
    /// invite lost: of two crossing invites, the one with the greater
    /// invite id ends canceled on both sides.
    Glare = 3,
}

impl From<Option<CancelReason>> for wd_cancel_reason {
    fn from(r: Option<CancelReason>) -> Self {
        match r {
            None => wd_cancel_reason::None,
            Some(CancelReason::CallerCanceled) => wd_cancel_reason::CallerCanceled,
            Some(CancelReason::AnsweredElsewhere) => wd_cancel_reason::AnsweredElsewhere,
            Some(CancelReason::Glare) => wd_cancel_reason::Glare,
        }
    }
}

/// State of a client's connection to the server.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum wd_connection_state {
    /// Connecting for the first time (a client made with
    /// `wd_client_start`), or again after `DISCONNECTED` for a push
    /// (`wd_client_handle_push`).
    Connecting = 0,
    /// Connected and authenticated.
    Connected = 1,
    /// The connection was lost; trying again.
    Reconnecting = 2,
    /// Not connected, and not trying (after `wd_client_disconnect`, when
    /// the connection was lost or could not be made, or the token was
    /// refused).
    Disconnected = 3,
}

impl From<ConnectionState> for wd_connection_state {
    fn from(s: ConnectionState) -> Self {
        match s {
            ConnectionState::Connecting => wd_connection_state::Connecting,
            ConnectionState::Connected => wd_connection_state::Connected,
            ConnectionState::Reconnecting => wd_connection_state::Reconnecting,
            ConnectionState::Disconnected => wd_connection_state::Disconnected,
        }
    }
}

/// Why a participant is no longer in a conversation (the
/// `participant_left_reason` of a `PARTICIPANT_DISCONNECTED` conversation
/// event); `WD_PARTICIPANT_LEFT_REASON_NONE` for every other event.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum wd_participant_left_reason {
    /// The event is not about a participant leaving.
    None = 0,
    /// The participant left (`wd_conversation_disconnect` on its device).
    Left = 1,
    /// The participant's connection to the server ended without it
    /// leaving; the server announced it gone.
    ConnectionLost = 2,
}

impl From<Option<LeaveReason>> for wd_participant_left_reason {
    fn from(r: Option<LeaveReason>) -> Self {
        match r {
            None => wd_participant_left_reason::None,
            Some(LeaveReason::Left) => wd_participant_left_reason::Left,
            Some(LeaveReason::ConnectionLost) => wd_participant_left_reason::ConnectionLost,
        }
    }
}

/// The one reason an event carries, as its numeric value: an event sets at
/// most one of its reasons, the others are `NONE` (0).
pub(crate) fn carried_reason(
    failure: wd_failure_reason,
    reject: wd_reject_reason,
    cancel: wd_cancel_reason,
) -> u32 {
    [failure as u32, reject as u32, cancel as u32]
        .into_iter()
        .find(|&code| code != 0)
        .unwrap_or(0)
}
