//! Wire protocol between the wilddog-video SDK and the `wd-signal` server.
//!
//! Every message is one JSON object in one WebSocket text frame. A client
//! speaks [`ClientMessage`]s, the server answers with [`ServerMessage`]s.
//! Messages from one client to another travel as a [`PeerMessage`] body: the
//! sender wraps it in [`ClientMessage::Send`] naming the recipient, and the
//! server hands it over as [`ServerMessage::Deliver`], stamped with the
//! sender's uid and device, which it takes from the authenticated connection,
//! never from the message. `docs/PROTOCOL.md` describes every message.
//!
//! Receivers ignore fields they do not know (so a minor revision may add
//! optional fields); an unknown `type` or `kind` is malformed.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use std::fmt;

pub mod push;

pub use push::{decode_push, PushPayload, PushProvider, UnregisterReason};

/// Version of this protocol, sent in [`ClientMessage::Hello`] and
/// [`ServerMessage::Welcome`]. Bumped only for incompatible changes.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest user id, in bytes.
pub const MAX_UID_LEN: usize = 128;
/// Longest invite, conversation or device id, in bytes.
pub const MAX_ID_LEN: usize = 64;
/// Longest `userData`, in bytes.
pub const MAX_USER_DATA_LEN: usize = 8 * 1024;
/// Longest SDP text (`offer` or `answer`), in bytes.
pub const MAX_SDP_LEN: usize = 64 * 1024;
/// Longest invite lifetime, in milliseconds (one hour).
pub const MAX_LIFETIME_MS: u64 = 3_600_000;
/// Longest conversation message payload ([`PeerMessage::Message`]), in
/// bytes.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;
/// Most participants an [`Outcome::Accepted`] may list (so the outcome
/// always fits in a frame); the SDK refuses to grow a conversation beyond
/// this many other devices.
pub const MAX_PARTICIPANTS: usize = 256;
/// Default invite lifetime, in milliseconds.
pub const DEFAULT_LIFETIME_MS: u64 = 60_000;
/// Longest token accepted in [`ClientMessage::Hello`], in bytes.
pub const MAX_TOKEN_LEN: usize = 4 * 1024;
/// Largest frame a conforming peer sends, in bytes. It leaves room for the
/// largest fields above after JSON escaping (which can grow text sixfold in
/// the worst case for control characters, so the SDK refuses those fields
/// when they would not fit).
pub const MAX_FRAME_LEN: usize = 512 * 1024;

/// How a conversation carries media.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Media flows directly between the participants.
    #[default]
    P2p,
    /// Media flows through a media server.
    Server,
}

impl Mode {
    /// The wire name (`"p2p"` or `"server"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::P2p => "p2p",
            Mode::Server => "server",
        }
    }
}

/// Why an invite failed. A closed set: every failure carries one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// No device of the invitee is online.
    Offline,
    /// Nobody answered within the invite's lifetime.
    Timeout,
    /// This client lost its connection to the server.
    Network,
    /// The server refused this client's credentials.
    Unauthorized,
    /// The invitee is unknown, malformed, or the caller itself.
    InvalidParticipant,
    /// The caller sent too many invites.
    RateLimited,
    /// Invitee side: the caller never confirmed an accept.
    ConfirmTimeout,
    /// Invitee side: the caller's connection went away.
    CallerGone,
    /// The server could not handle the invite.
    ServerError,
}

impl FailureReason {
    /// Every reason, in the order of their numeric codes in the C ABI.
    pub const ALL: [FailureReason; 9] = [
        FailureReason::Offline,
        FailureReason::Timeout,
        FailureReason::Network,
        FailureReason::Unauthorized,
        FailureReason::InvalidParticipant,
        FailureReason::RateLimited,
        FailureReason::ConfirmTimeout,
        FailureReason::CallerGone,
        FailureReason::ServerError,
    ];

    /// The wire name, e.g. `"confirm_timeout"`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Offline => "offline",
            FailureReason::Timeout => "timeout",
            FailureReason::Network => "network",
            FailureReason::Unauthorized => "unauthorized",
            FailureReason::InvalidParticipant => "invalid_participant",
            FailureReason::RateLimited => "rate_limited",
            FailureReason::ConfirmTimeout => "confirm_timeout",
            FailureReason::CallerGone => "caller_gone",
            FailureReason::ServerError => "server_error",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an invitee rejected an invite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The invitee declined.
    #[default]
    Declined,
    /// The invitee is busy in another call.
    Busy,
}

impl RejectReason {
    /// The wire name (`"declined"` or `"busy"`).
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Declined => "declined",
            RejectReason::Busy => "busy",
        }
    }
}

/// Why an incoming invite was canceled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The caller canceled the invite.
    CallerCanceled,
    /// Another device of the invitee accepted or rejected it first.
    AnsweredElsewhere,
    /// The caller and the invitee invited each other at the same time and
    /// this invite lost (the one with the greater `invite_id` loses).
    Glare,
}

impl CancelReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::CallerCanceled => "caller_canceled",
            CancelReason::AnsweredElsewhere => "answered_elsewhere",
            CancelReason::Glare => "glare",
        }
    }
}

/// Why a participant is no longer in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The participant left ([`PeerMessage::Leave`]).
    Left,
    /// The participant's connection to the server ended without it
    /// leaving ([`ServerMessage::ParticipantGone`]).
    ConnectionLost,
}

impl LeaveReason {
    /// The wire name (`"left"` or `"connection_lost"`).
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Left => "left",
            LeaveReason::ConnectionLost => "connection_lost",
        }
    }
}

impl fmt::Display for LeaveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One device taking part in a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Participant {
    /// The user's id.
    pub uid: String,
    /// The device's id, given by the server.
    pub device: String,
}

impl Participant {
    /// Checks both ids.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_uid(&self.uid)?;
        validate_id("device", &self.device)
    }
}

/// The outcome the caller's engine decided for an invite.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    /// The device `device` of the invitee accepted; it is now in the
    /// conversation.
    Accepted {
        /// The accepting device.
        device: String,
        /// The conversation's other participants besides the caller and
        /// the accepting device (empty, and omitted, for a two-party
        /// conversation). The accepting device starts its conversation with
        /// the caller plus these.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        participants: Vec<Participant>,
    },
    /// The device `device` of the invitee rejected.
    Rejected {
        /// The rejecting device.
        device: String,
        /// Why it rejected.
        reason: RejectReason,
    },
    /// The caller canceled.
    Canceled {
        /// Why: `caller_canceled` when absent; `glare` when the invite lost
        /// a glare.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<CancelReason>,
    },
    /// The invite failed.
    Failed {
        /// Why.
        reason: FailureReason,
    },
}

/// A message from one client to another, routed by the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PeerMessage {
    /// Caller → every device of the invitee: please join this conversation.
    Invite {
        /// Id of the invite, chosen by the caller.
        invite_id: String,
        /// Id of the conversation the invite is for.
        conversation_id: String,
        /// Media mode of the conversation.
        #[serde(default)]
        mode: Mode,
        /// Free text shown to the invitee.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_data: Option<String>,
        /// SDP offer for the invitee's media engine.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offer: Option<String>,
        /// How long the invite may ring, counted by each receiver from the
        /// moment it receives the invite.
        lifetime_ms: u64,
    },
    /// Invitee device → caller device: the invite is ringing here.
    Ringing {
        /// The invite.
        invite_id: String,
    },
    /// Invitee device → caller device: accept the invite.
    Accept {
        /// The invite.
        invite_id: String,
        /// SDP answer for the caller's media engine.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<String>,
        /// Free text shown to the caller.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_data: Option<String>,
    },
    /// Invitee device → caller device: reject the invite.
    Reject {
        /// The invite.
        invite_id: String,
        /// Why.
        #[serde(default)]
        reason: RejectReason,
    },
    /// Caller device → every device of the invitee: the decided outcome.
    Outcome {
        /// The invite.
        invite_id: String,
        /// What the caller decided.
        outcome: Outcome,
    },
    /// Participant → other participants: this device left the conversation.
    Leave {
        /// The conversation.
        conversation_id: String,
    },
    /// Participant device → one participant device: an application message
    /// (ICE candidates, SDP, anything) relayed through the conversation.
    Message {
        /// The conversation.
        conversation_id: String,
        /// The text, at most [`MAX_MESSAGE_LEN`] bytes, no NUL.
        payload: String,
    },
    /// Inviting participant → every other participant: the device `device`
    /// of user `uid` accepted an invite into the conversation and is now
    /// in it.
    Joined {
        /// The conversation.
        conversation_id: String,
        /// The new participant's user id.
        uid: String,
        /// The new participant's device.
        device: String,
    },
    /// Invitee device → caller device, after the invitee reconnected (with
    /// a new device id): what became of this invite? The caller answers
    /// with [`PeerMessage::Status`] or [`PeerMessage::Outcome`]; if the
    /// caller's device is not connected the server answers
    /// [`ServerMessage::Undeliverable`].
    Query {
        /// The invite.
        invite_id: String,
    },
    /// Caller device → invitee device: the answer to a
    /// [`PeerMessage::Query`] when no outcome is to be told.
    Status {
        /// The invite.
        invite_id: String,
        /// Where the invite stands.
        state: InviteState,
    },
}

/// Where an invite stands, as told in [`PeerMessage::Status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InviteState {
    /// Still ringing: no outcome yet.
    Pending,
    /// The caller's device knows nothing of it (it is not the device that
    /// sent it, or forgot it long ago).
    Unknown,
}

impl PeerMessage {
    /// The invite this message is about, if any.
    pub fn invite_id(&self) -> Option<&str> {
        match self {
            PeerMessage::Invite { invite_id, .. }
            | PeerMessage::Ringing { invite_id }
            | PeerMessage::Accept { invite_id, .. }
            | PeerMessage::Reject { invite_id, .. }
            | PeerMessage::Outcome { invite_id, .. }
            | PeerMessage::Query { invite_id }
            | PeerMessage::Status { invite_id, .. } => Some(invite_id),
            PeerMessage::Leave { .. }
            | PeerMessage::Message { .. }
            | PeerMessage::Joined { .. } => None,
        }
    }

    /// Checks every field against the protocol's limits.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            PeerMessage::Invite {
                invite_id,
                conversation_id,
                user_data,
                offer,
                lifetime_ms,
                ..
            } => {
                validate_id("invite_id", invite_id)?;
                validate_id("conversation_id", conversation_id)?;
                validate_len("user_data", user_data.as_deref(), MAX_USER_DATA_LEN)?;
                validate_len("offer", offer.as_deref(), MAX_SDP_LEN)?;
                if *lifetime_ms == 0 || *lifetime_ms > MAX_LIFETIME_MS {
                    return Err(ValidationError::new(
                        "lifetime_ms",
                        "must be between 1 and 3600000",
                    ));
                }
                Ok(())
            }
            PeerMessage::Ringing { invite_id }
            | PeerMessage::Reject { invite_id, .. }
            | PeerMessage::Query { invite_id }
            | PeerMessage::Status { invite_id, .. } => validate_id("invite_id", invite_id),
            PeerMessage::Accept {
                invite_id,
                answer,
                user_data,
            } => {
                validate_id("invite_id", invite_id)?;
                validate_len("answer", answer.as_deref(), MAX_SDP_LEN)?;
                validate_len("user_data", user_data.as_deref(), MAX_USER_DATA_LEN)
            }
            PeerMessage::Outcome { invite_id, outcome } => {
                validate_id("invite_id", invite_id)?;
                match outcome {
                    Outcome::Accepted {
                        device,
                        participants,
                    } => {
                        validate_id("device", device)?;
                        if participants.len() > MAX_PARTICIPANTS {
                            return Err(ValidationError::new(
                                "participants",
                                "more than 256 participants",
                            ));
                        }
                        participants
                            .iter()
                            .try_for_each(|p| p.validate().map_err(|e| e.field("participants")))
                    }
                    Outcome::Rejected { device, .. } => validate_id("device", device),
                    Outcome::Canceled { .. } | Outcome::Failed { .. } => Ok(()),
                }
            }
            PeerMessage::Leave { conversation_id } => {
                validate_id("conversation_id", conversation_id)
            }
            PeerMessage::Message {
                conversation_id,
                payload,
            } => {
                validate_id("conversation_id", conversation_id)?;
                validate_text("payload", payload, MAX_MESSAGE_LEN)
            }
            PeerMessage::Joined {
                conversation_id,
                uid,
                device,
            } => {
                validate_id("conversation_id", conversation_id)?;
                validate_uid(uid)?;
                validate_id("device", device)
            }
        }
    }
}

/// Error codes the server sends in [`ServerMessage::Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not a valid message (bad JSON, unknown type, a field
    /// of the wrong type or over its limit).
    Malformed,
    /// The frame was larger than the server accepts.
    TooLarge,
    /// The token was missing, forged or expired.
    Unauthorized,
    /// The client speaks a protocol version the server does not.
    UnsupportedVersion,
    /// A message arrived out of order (anything before `hello`, or a second
    /// `hello`).
    Protocol,
    /// The client exceeded a rate limit.
    RateLimited,
    /// The server failed internally.
    Internal,
    /// The sender has no part in what it tried to relay: an invite it is
    /// neither the caller nor the invitee of, or a conversation it (or the
    /// recipient) is not in. Nothing was delivered.
    Forbidden,
    /// What was asked for does not exist, or not for this user.
    NotFound,
    /// This server does not offer what was asked (push, when it has no
    /// push gateway).
    Unsupported,
}

/// What a client sends to the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message on every connection: authenticate.
    Hello {
        /// The protocol version the client speaks.
        protocol: u32,
        /// The signed token naming the user.
        token: String,
    },
    /// Route `body` to the user `to`: to the one device `device` if given,
    /// else to every connected device of that user.
    Send {
        /// Recipient user id.
        to: String,
        /// Recipient device, if one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
        /// The message.
        body: PeerMessage,
    },
    /// Register this device's push key for the authenticated user, so that
    /// invites reach the device through a push while it is not connected.
    /// Registering the same `app_id` and `push_key` again refreshes it.
    /// Answered with [`ServerMessage::PushRegistered`] or
    /// [`ServerMessage::PushRegistrationFailed`].
    RegisterPush {
        /// The push service.
        provider: PushProvider,
        /// The app id the push gateway knows the app by (for Sygnal, the
        /// key of its `apps` configuration).
        app_id: String,
        /// The device's push key (APNs token, FCM token, Web Push key).
        push_key: String,
        /// Extra fields for the gateway's `devices[].data` (a Web Push
        /// subscription's `endpoint` and `auth`, say), at most
        /// [`push::MAX_PUSH_DATA_LEN`] bytes of JSON.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<serde_json::Map<String, serde_json::Value>>,
    },
    /// Remove a push registration of the authenticated user. Answered with
    /// [`ServerMessage::PushUnregistered`] (also when there was none).
    UnregisterPush {
        /// The app id it was registered with.
        app_id: String,
        /// The push key it was registered with.
        push_key: String,
    },
    /// Where does the invite `invite_id` from user `from` stand? Only a
    /// device of the invitee may ask. Answered with
    /// [`ServerMessage::InviteState`] or [`ServerMessage::FetchFailed`].
    FetchInvite {
        /// The invite.
        invite_id: String,
        /// Its caller's user id.
        from: String,
    },
}

impl ClientMessage {
    /// Checks every field against the protocol's limits.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            ClientMessage::Hello { token, .. } => validate_len("token", Some(token), MAX_TOKEN_LEN),
            ClientMessage::Send { to, device, body } => {
                validate_uid(to).map_err(|e| e.field("to"))?;
                if let Some(device) = device {
                    validate_id("device", device)?;
                }
                body.validate()
            }
            ClientMessage::RegisterPush {
                app_id,
                push_key,
                data,
                ..
            } => push::validate_registration(app_id, push_key, data.as_ref()),
            ClientMessage::UnregisterPush { app_id, push_key } => {
                push::validate_registration(app_id, push_key, None)
            }
            ClientMessage::FetchInvite { invite_id, from } => push::validate_fetch(invite_id, from),
        }
    }
}

/// What the server sends to a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answer to a valid `hello`: who this connection is.
    Welcome {
        /// The protocol version the server speaks.
        protocol: u32,
        /// The user id taken from the token.
        uid: String,
        /// The id the server gave this connection (this device).
        device: String,
    },
    /// A message from another client.
    Deliver {
        /// Sender's user id (from its token).
        from: String,
        /// Sender's device.
        device: String,
        /// The message.
        body: PeerMessage,
    },
    /// The server could not deliver an invite this client sent.
    InviteFailed {
        /// The invite.
        invite_id: String,
        /// Why (`offline`, `invalid_participant`, `rate_limited`,
        /// `server_error`).
        reason: FailureReason,
    },
    /// The caller of an invite this client received went away while the
    /// invite was pending.
    CallerGone {
        /// Caller's user id.
        from: String,
        /// Caller's device.
        device: String,
        /// The invite.
        invite_id: String,
    },
    /// A message this client sent to one device (`send` with `device`)
    /// could not be delivered: that device is not connected. Sent only for
    /// [`PeerMessage::Query`], so the invitee learns at once that the
    /// caller's device is gone.
    Undeliverable {
        /// The recipient user id of the message.
        to: String,
        /// The recipient device that is not connected.
        device: String,
        /// The invite the message was about, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invite_id: Option<String>,
    },
    /// The connection of device `device` of user `uid` ended while that
    /// user was a member of conversation `conversation_id` (as the server
    /// knows it), without the device leaving first. The receiver removes
    /// that device from the conversation if it is a participant there, and
    /// ignores the message otherwise.
    ParticipantGone {
        /// The conversation.
        conversation_id: String,
        /// The user whose device is gone.
        uid: String,
        /// The device that is gone.
        device: String,
        /// Why it is gone (`connection_lost`).
        reason: LeaveReason,
    },
    /// A [`ClientMessage::RegisterPush`] was stored.
    PushRegistered {
        /// The registration's app id.
        app_id: String,
        /// The registration's push key.
        push_key: String,
    },
    /// A [`ClientMessage::RegisterPush`] was refused.
    PushRegistrationFailed {
        /// The registration's app id.
        app_id: String,
        /// The registration's push key.
        push_key: String,
        /// Why: `unsupported` (this server sends no pushes), `malformed`,
        /// `rate_limited` or `internal`.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
    /// A push registration of this user is gone: removed on request, or
    /// because the push gateway reported its key dead.
    PushUnregistered {
        /// The registration's app id.
        app_id: String,
        /// The registration's push key.
        push_key: String,
        /// Why it is gone.
        reason: UnregisterReason,
    },
    /// The answer to [`ClientMessage::FetchInvite`].
    InviteState {
        /// The invite.
        invite_id: String,
        /// Its caller's user id.
        from: String,
        /// Its caller's device.
        device: String,
        /// The invite as the caller sent it (a [`PeerMessage::Invite`]).
        invite: Box<PeerMessage>,
        /// How much of its lifetime is left, in milliseconds (0 once it
        /// ended).
        time_left_ms: u64,
        /// How it ended, if it has; absent while it is still ringing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<Outcome>,
    },
    /// A [`ClientMessage::FetchInvite`] could not be answered.
    FetchFailed {
        /// The invite asked for.
        invite_id: String,
        /// `not_found` (no such invite from that caller to this user, or
        /// it ended too long ago), `rate_limited`, `unsupported` or
        /// `internal`.
        code: ErrorCode,
    },
    /// Something this client sent was refused.
    Error {
        /// What kind of error.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
}

/// A field that broke the protocol's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    /// The field's wire name.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl ValidationError {
    /// A new error about `field`.
    pub fn new(field: &'static str, problem: &'static str) -> Self {
        ValidationError { field, problem }
    }

    fn field(mut self, field: &'static str) -> Self {
        self.field = field;
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for ValidationError {}

/// Checks a user id: 1 to [`MAX_UID_LEN`] bytes of ASCII letters, digits
/// and `_ - . @ :`.
pub fn validate_uid(uid: &str) -> Result<(), ValidationError> {
    if uid.is_empty() {
        return Err(ValidationError::new("uid", "must not be empty"));
    }
    if uid.len() > MAX_UID_LEN {
        return Err(ValidationError::new("uid", "longer than 128 bytes"));
    }
    if !uid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@' | b':'))
    {
        return Err(ValidationError::new(
            "uid",
            "may hold only ASCII letters, digits and _ - . @ :",
        ));
    }
    Ok(())
}

/// Checks an invite, conversation or device id: 1 to [`MAX_ID_LEN`] bytes
/// of ASCII letters, digits and `_ - .`.
pub fn validate_id(field: &'static str, id: &str) -> Result<(), ValidationError> {
    if id.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(ValidationError::new(field, "longer than 64 bytes"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(ValidationError::new(
            field,
            "may hold only ASCII letters, digits and _ - .",
        ));
    }
    Ok(())
}

/// Checks a free-text field: at most `max` bytes and no NUL character (so
/// every field can be handed to C as a NUL-terminated string).
pub fn validate_text(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.len() > max {
        return Err(ValidationError::new(field, "too long"));
    }
    if value.contains('\0') {
        return Err(ValidationError::new(
            field,
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

fn validate_len(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<(), ValidationError> {
    match value {
        Some(v) => validate_text(field, v, max),
        None => Ok(()),
    }
}

/// Why a frame could not be decoded.
#[derive(Debug)]
pub enum DecodeError {
    /// Larger than [`MAX_FRAME_LEN`].
    TooLarge(usize),
    /// Not JSON, or not one of the messages.
    Json(serde_json::Error),
    /// Well-formed, but a field breaks a limit.
    Invalid(ValidationError),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge(n) => write!(f, "frame of {n} bytes exceeds {MAX_FRAME_LEN}"),
            DecodeError::Json(e) => write!(f, "malformed message: {e}"),
            DecodeError::Invalid(e) => write!(f, "invalid message: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes and validates a frame a client sent.
pub fn decode_client(frame: &str) -> Result<ClientMessage, DecodeError> {
    if frame.len() > MAX_FRAME_LEN {
        return Err(DecodeError::TooLarge(frame.len()));
    }
    let msg: ClientMessage = serde_json::from_str(frame).map_err(DecodeError::Json)?;
    msg.validate().map_err(DecodeError::Invalid)?;
    Ok(msg)
}

/// Decodes and validates a frame the server sent.
pub fn decode_server(frame: &str) -> Result<ServerMessage, DecodeError> {
    if frame.len() > MAX_FRAME_LEN {
        return Err(DecodeError::TooLarge(frame.len()));
    }
    let msg: ServerMessage = serde_json::from_str(frame).map_err(DecodeError::Json)?;
    if let ServerMessage::Deliver { from, device, body } = &msg {
        validate_uid(from).map_err(|e| DecodeError::Invalid(e.field("from")))?;
        validate_id("device", device).map_err(DecodeError::Invalid)?;
        body.validate().map_err(DecodeError::Invalid)?;
    }
    if let ServerMessage::ParticipantGone {
        conversation_id,
        uid,
        device,
        ..
    } = &msg
    {
        validate_id("conversation_id", conversation_id).map_err(DecodeError::Invalid)?;
        validate_uid(uid).map_err(DecodeError::Invalid)?;
        validate_id("device", device).map_err(DecodeError::Invalid)?;
    }
    if let ServerMessage::InviteState {
        invite_id,
        from,
        device,
        invite,
        ..
    } = &msg
    {
        push::validate_fetch(invite_id, from).map_err(DecodeError::Invalid)?;
        validate_id("device", device).map_err(DecodeError::Invalid)?;
        match &**invite {
            PeerMessage::Invite {
                invite_id: inner, ..
            } if inner == invite_id => {}
            _ => {
                return Err(DecodeError::Invalid(ValidationError::new(
                    "invite",
                    "must be the invite asked for",
                )))
            }
        }
        invite.validate().map_err(DecodeError::Invalid)?;
    }
    Ok(msg)
}

/// Encodes a message as one frame.
pub fn encode<T: Serialize>(msg: &T) -> String {
    // Serializing these types cannot fail: every map key is a string and
    // every value is plain data.
    serde_json::to_string(msg).expect("protocol messages always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invite_round_trips_with_wire_names() {
        let msg = ClientMessage::Send {
            to: "bob".into(),
            device: None,
            body: PeerMessage::Invite {
                invite_id: "i1".into(),
                conversation_id: "c1".into(),
                mode: Mode::P2p,
                user_data: Some("hi".into()),
                offer: None,
                lifetime_ms: 60_000,
            },
        };
        let text = encode(&msg);
        assert_eq!(
            text,
            r#"{"type":"send","to":"bob","body":{"kind":"invite","invite_id":"i1","conversation_id":"c1","mode":"p2p","user_data":"hi","lifetime_ms":60000}}"#
        );
        assert_eq!(decode_client(&text).unwrap(), msg);
    }

    #[test]
    fn outcome_round_trips() {
        let msg = ServerMessage::Deliver {
            from: "alice".into(),
            device: "n1.7".into(),
            body: PeerMessage::Outcome {
                invite_id: "i1".into(),
                outcome: Outcome::Failed {
                    reason: FailureReason::ConfirmTimeout,
                },
            },
        };
        let text = encode(&msg);
        assert!(text.contains(r#""outcome":{"type":"failed","reason":"confirm_timeout"}"#));
        assert_eq!(decode_server(&text).unwrap(), msg);
    }

    #[test]
    fn unknown_fields_are_ignored_but_unknown_kinds_are_not() {
        let ok = r#"{"type":"send","to":"bob","extra":1,"body":{"kind":"ringing","invite_id":"i","new":true}}"#;
        assert!(decode_client(ok).is_ok());
        let bad = r#"{"type":"send","to":"bob","body":{"kind":"teleport","invite_id":"i"}}"#;
        assert!(matches!(decode_client(bad), Err(DecodeError::Json(_))));
    }

    #[test]
    fn limits_are_enforced() {
        let long = "x".repeat(MAX_USER_DATA_LEN + 1);
        let msg = ClientMessage::Send {
            to: "bob".into(),
            device: None,
            body: PeerMessage::Accept {
                invite_id: "i".into(),
                answer: None,
                user_data: Some(long),
            },
        };
        let err = decode_client(&encode(&msg)).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Invalid(ValidationError {
                field: "user_data",
                ..
            })
        ));
        assert!(validate_uid("").is_err());
        assert!(validate_uid("a b").is_err());
        assert!(validate_uid(&"a".repeat(MAX_UID_LEN + 1)).is_err());
        assert!(validate_uid("alice@example.com").is_ok());
        assert!(validate_id("invite_id", "../etc").is_err());
        let huge = "x".repeat(MAX_FRAME_LEN + 1);
        assert!(matches!(
            decode_client(&huge),
            Err(DecodeError::TooLarge(_))
        ));
    }

    #[test]
    fn conversation_messages_round_trip_and_are_checked() {
        let msg = PeerMessage::Message {
            conversation_id: "c1".into(),
            payload: "{\"candidate\":\"a=1\"}".into(),
        };
        let text = encode(&msg);
        assert!(text.starts_with(r#"{"kind":"message","conversation_id":"c1","payload":"#));
        assert_eq!(serde_json::from_str::<PeerMessage>(&text).unwrap(), msg);
        let joined = PeerMessage::Joined {
            conversation_id: "c1".into(),
            uid: "carol".into(),
            device: "n1.3".into(),
        };
        assert_eq!(
            encode(&joined),
            r#"{"kind":"joined","conversation_id":"c1","uid":"carol","device":"n1.3"}"#
        );
        assert!(joined.validate().is_ok());
        let big = PeerMessage::Message {
            conversation_id: "c1".into(),
            payload: "x".repeat(MAX_MESSAGE_LEN + 1),
        };
        assert_eq!(big.validate().unwrap_err().field, "payload");
        let nul = PeerMessage::Message {
            conversation_id: "c1".into(),
            payload: "a\0b".into(),
        };
        assert_eq!(nul.validate().unwrap_err().field, "payload");
        // The largest payload of control characters still fits in a frame.
        let worst = ClientMessage::Send {
            to: "bob".into(),
            device: Some("n1.2".into()),
            body: PeerMessage::Message {
                conversation_id: "c".repeat(MAX_ID_LEN),
                payload: "\u{1}".repeat(MAX_MESSAGE_LEN),
            },
        };
        assert!(decode_client(&encode(&worst)).is_ok());
    }

    #[test]
    fn new_outcome_fields_are_optional_on_the_wire() {
        // What a peer without them sends still decodes...
        let old: PeerMessage = serde_json::from_str(
            r#"{"kind":"outcome","invite_id":"i","outcome":{"type":"canceled"}}"#,
        )
        .unwrap();
        assert_eq!(
            old,
            PeerMessage::Outcome {
                invite_id: "i".into(),
                outcome: Outcome::Canceled { reason: None }
            }
        );
        let old: Outcome = serde_json::from_str(r#"{"type":"accepted","device":"n1.2"}"#).unwrap();
        assert_eq!(
            old,
            Outcome::Accepted {
                device: "n1.2".into(),
                participants: vec![]
            }
        );
        // ...and without the new fields the encoding is unchanged.
        assert_eq!(
            encode(&Outcome::Canceled { reason: None }),
            r#"{"type":"canceled"}"#
        );
        assert_eq!(
            encode(&Outcome::Canceled {
                reason: Some(CancelReason::Glare)
            }),
            r#"{"type":"canceled","reason":"glare"}"#
        );
        let three = Outcome::Accepted {
            device: "n1.2".into(),
            participants: vec![Participant {
                uid: "carol".into(),
                device: "n1.3".into(),
            }],
        };
        assert_eq!(
            encode(&three),
            r#"{"type":"accepted","device":"n1.2","participants":[{"uid":"carol","device":"n1.3"}]}"#
        );
        let bad = PeerMessage::Outcome {
            invite_id: "i".into(),
            outcome: Outcome::Accepted {
                device: "n1.2".into(),
                participants: vec![Participant {
                    uid: "no spaces".into(),
                    device: "n1.3".into(),
                }],
            },
        };
        assert_eq!(bad.validate().unwrap_err().field, "participants");
    }

    #[test]
    fn reconciliation_messages_round_trip() {
        let q = PeerMessage::Query {
            invite_id: "i1".into(),
        };
        assert_eq!(encode(&q), r#"{"kind":"query","invite_id":"i1"}"#);
        let s = PeerMessage::Status {
            invite_id: "i1".into(),
            state: InviteState::Pending,
        };
        assert_eq!(
            encode(&s),
            r#"{"kind":"status","invite_id":"i1","state":"pending"}"#
        );
        assert_eq!(serde_json::from_str::<PeerMessage>(&encode(&s)).unwrap(), s);
        assert!(PeerMessage::Query {
            invite_id: "../x".into()
        }
        .validate()
        .is_err());
        let u = ServerMessage::Undeliverable {
            to: "alice".into(),
            device: "n1.1".into(),
            invite_id: Some("i1".into()),
        };
        assert_eq!(
            encode(&u),
            r#"{"type":"undeliverable","to":"alice","device":"n1.1","invite_id":"i1"}"#
        );
        assert_eq!(decode_server(&encode(&u)).unwrap(), u);
    }

    #[test]
    fn participant_gone_round_trips_and_is_checked() {
        let g = ServerMessage::ParticipantGone {
            conversation_id: "c-1".into(),
            uid: "bob".into(),
            device: "n1.9".into(),
            reason: LeaveReason::ConnectionLost,
        };
        assert_eq!(
            encode(&g),
            r#"{"type":"participant_gone","conversation_id":"c-1","uid":"bob","device":"n1.9","reason":"connection_lost"}"#
        );
        assert_eq!(decode_server(&encode(&g)).unwrap(), g);
        let bad = r#"{"type":"participant_gone","conversation_id":"../c","uid":"bob","device":"n1.9","reason":"connection_lost"}"#;
        assert!(matches!(decode_server(bad), Err(DecodeError::Invalid(_))));
        let unknown = r#"{"type":"participant_gone","conversation_id":"c","uid":"bob","device":"n1.9","reason":"eaten"}"#;
        assert!(matches!(decode_server(unknown), Err(DecodeError::Json(_))));
    }

    #[test]
    fn bad_recipient_is_named() {
        let frame = r#"{"type":"send","to":"","body":{"kind":"ringing","invite_id":"i"}}"#;
        let err = decode_client(frame).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Invalid(ValidationError { field: "to", .. })
        ));
    }
}
