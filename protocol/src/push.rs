//! Push: waking a device that holds no connection.
//!
//! A device registers a push key ([`ClientMessage::RegisterPush`]); when an
//! invite reaches its user while the device is not connected, the server
//! asks a push gateway to deliver a [`PushPayload`] to it. The woken app
//! hands that payload to the SDK, which shows the invite at once and then
//! asks the server where it stands ([`ClientMessage::FetchInvite`]).
//!
//! [`ClientMessage::RegisterPush`]: crate::ClientMessage::RegisterPush
//! [`ClientMessage::FetchInvite`]: crate::ClientMessage::FetchInvite

use crate::{
    validate_id, validate_text, validate_uid, DecodeError, Mode, Outcome, ValidationError,
    MAX_USER_DATA_LEN,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest push key (an APNs device token, an FCM registration token, a
/// Web Push subscription's public key), in bytes.
pub const MAX_PUSH_KEY_LEN: usize = 512;
/// Longest push `app_id`, in bytes.
pub const MAX_APP_ID_LEN: usize = 128;
/// Largest push registration `data` object, in bytes of JSON.
pub const MAX_PUSH_DATA_LEN: usize = 2048;
/// Most push registrations one user may hold; registering one more
/// replaces the least recently registered.
pub const MAX_PUSH_REGISTRATIONS: usize = 16;
/// Largest encoded [`PushPayload`], in bytes. APNs and FCM carry about
/// 4 KiB of payload; this leaves room for the gateway's own envelope. The
/// invite's user data travels in the push only when the payload stays
/// within this size; otherwise `user_data_omitted` is set and the SDK
/// reads it from the fetched invite.
pub const MAX_PUSH_PAYLOAD_LEN: usize = 2048;
/// Version of the push payload format, the payload's `wd` field.
pub const PUSH_PAYLOAD_VERSION: u32 = 1;

/// The push service a registration is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushProvider {
    /// Apple Push Notification service (PushKit VoIP pushes on iOS).
    Apns,
    /// Firebase Cloud Messaging (Android).
    Fcm,
    /// Web Push (RFC 8030).
    Webpush,
}

impl PushProvider {
    /// The wire name (`"apns"`, `"fcm"` or `"webpush"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PushProvider::Apns => "apns",
            PushProvider::Fcm => "fcm",
            PushProvider::Webpush => "webpush",
        }
    }
}

/// Why a registration was removed ([`ServerMessage::PushUnregistered`]).
///
/// [`ServerMessage::PushUnregistered`]: crate::ServerMessage::PushUnregistered
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnregisterReason {
    /// The device asked ([`ClientMessage::UnregisterPush`]).
    ///
    /// [`ClientMessage::UnregisterPush`]: crate::ClientMessage::UnregisterPush
    Requested,
    /// The push gateway reported the key dead (uninstalled app, expired
    /// token).
    Rejected,
}

/// Checks a push registration's fields.
pub fn validate_registration(
    app_id: &str,
    push_key: &str,
    data: Option<&Map<String, Value>>,
) -> Result<(), ValidationError> {
    validate_nonempty_text("app_id", app_id, MAX_APP_ID_LEN)?;
    validate_nonempty_text("push_key", push_key, MAX_PUSH_KEY_LEN)?;
    if let Some(data) = data {
        let len = serde_json::to_string(data)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if len > MAX_PUSH_DATA_LEN {
            return Err(ValidationError::new(
                "data",
                "longer than 2048 bytes of JSON",
            ));
        }
    }
    Ok(())
}

fn validate_nonempty_text(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    validate_text(field, value, max)
}

/// What a push carries to a device: enough to show the invite before the
/// app has any network, then to find it on the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PushPayload {
    /// An invite is ringing for this device's user.
    Invite {
        /// Payload format version ([`PUSH_PAYLOAD_VERSION`]).
        wd: u32,
        /// The invite.
        invite_id: String,
        /// The conversation it is for.
        conversation_id: String,
        /// The caller's user id.
        from: String,
        /// The caller's device.
        device: String,
        /// Media mode.
        #[serde(default)]
        mode: Mode,
        /// How much of the invite's lifetime was left when the server sent
        /// the push, in milliseconds.
        time_left_ms: u64,
        /// When the server sent the push, in milliseconds since the Unix
        /// epoch (by the server's clock).
        sent_at_ms: u64,
        /// The caller's user data, when it fits in the push.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_data: Option<String>,
        /// True when the invite has user data that did not fit in the push.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        user_data_omitted: bool,
    },
    /// An invite this device was woken for ended without being answered on
    /// it: stop ringing, show a missed call if the app wants to.
    InviteEnded {
        /// Payload format version ([`PUSH_PAYLOAD_VERSION`]).
        wd: u32,
        /// The invite.
        invite_id: String,
        /// The conversation it was for.
        conversation_id: String,
        /// The caller's user id.
        from: String,
        /// How it ended, as the caller decided it (or `failed` with
        /// `timeout` or `caller_gone`).
        outcome: Outcome,
    },
}

impl PushPayload {
    /// The invite this push is about.
    pub fn invite_id(&self) -> &str {
        match self {
            PushPayload::Invite { invite_id, .. } | PushPayload::InviteEnded { invite_id, .. } => {
                invite_id
            }
        }
    }

    /// The caller's user id.
    pub fn from(&self) -> &str {
        match self {
            PushPayload::Invite { from, .. } | PushPayload::InviteEnded { from, .. } => from,
        }
    }

    /// Checks every field against the protocol's limits.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            PushPayload::Invite {
                invite_id,
                conversation_id,
                from,
                device,
                time_left_ms,
                user_data,
                ..
            } => {
                validate_id("invite_id", invite_id)?;
                validate_id("conversation_id", conversation_id)?;
                validate_uid(from).map_err(|e| ValidationError::new("from", e.problem))?;
                validate_id("device", device)?;
                if *time_left_ms > crate::MAX_LIFETIME_MS {
                    return Err(ValidationError::new("time_left_ms", "longer than one hour"));
                }
                if let Some(data) = user_data {
                    validate_text("user_data", data, MAX_USER_DATA_LEN)?;
                }
                Ok(())
            }
            PushPayload::InviteEnded {
                invite_id,
                conversation_id,
                from,
                outcome,
                ..
            } => {
                validate_id("invite_id", invite_id)?;
                validate_id("conversation_id", conversation_id)?;
                validate_uid(from).map_err(|e| ValidationError::new("from", e.problem))?;
                match outcome {
                    Outcome::Accepted { device, .. } | Outcome::Rejected { device, .. } => {
                        validate_id("device", device)
                    }
                    Outcome::Canceled { .. } | Outcome::Failed { .. } => Ok(()),
                }
            }
        }
    }
}

/// Decodes a push as the app received it.
///
/// Accepts the payload object itself, or any envelope a push gateway and
/// platform put around it: the object under `content` (a Matrix push
/// gateway notification, or Sygnal's Web Push body), under
/// `notification.content`, or `content` as a JSON string (FCM data
/// messages carry only strings). Anything else, a payload of another
/// version, or a field over its limit is an error.
pub fn decode_push(json: &str) -> Result<PushPayload, DecodeError> {
    // A push is small; anything far larger is not one of ours.
    if json.len() > 8 * MAX_PUSH_PAYLOAD_LEN + MAX_USER_DATA_LEN {
        return Err(DecodeError::TooLarge(json.len()));
    }
    let value: Value = serde_json::from_str(json).map_err(DecodeError::Json)?;
    let payload = find_payload(&value, 0).ok_or_else(|| {
        DecodeError::Invalid(ValidationError::new(
            "type",
            "not a wilddog-video push payload",
        ))
    })?;
    let payload: PushPayload = serde_json::from_value(payload).map_err(DecodeError::Json)?;
    let wd = match &payload {
        PushPayload::Invite { wd, .. } | PushPayload::InviteEnded { wd, .. } => *wd,
    };
    if wd != PUSH_PAYLOAD_VERSION {
        return Err(DecodeError::Invalid(ValidationError::new(
            "wd",
            "unsupported push payload version",
        )));
    }
    payload.validate().map_err(DecodeError::Invalid)?;
    Ok(payload)
}

fn find_payload(value: &Value, depth: usize) -> Option<Value> {
    if depth > 3 {
        return None;
    }
    match value {
        Value::Object(map) if map.contains_key("wd") => Some(value.clone()),
        Value::Object(map) => ["content", "notification", "data", "wd_push"]
            .iter()
            .filter_map(|key| map.get(*key))
            .find_map(|inner| find_payload(inner, depth + 1)),
        Value::String(text) if text.len() <= 2 * MAX_PUSH_PAYLOAD_LEN + MAX_USER_DATA_LEN => {
            serde_json::from_str::<Value>(text)
                .ok()
                .filter(Value::is_object)
                .and_then(|inner| find_payload(&inner, depth + 1))
        }
        _ => None,
    }
}

/// Checks a fetched invite id (for [`ClientMessage::FetchInvite`]).
///
/// [`ClientMessage::FetchInvite`]: crate::ClientMessage::FetchInvite
pub(crate) fn validate_fetch(invite_id: &str, from: &str) -> Result<(), ValidationError> {
    validate_id("invite_id", invite_id)?;
    validate_uid(from).map_err(|e| ValidationError::new("from", e.problem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_client, decode_server, encode, ClientMessage, ErrorCode, ServerMessage};
    use crate::{CancelReason, FailureReason, PeerMessage};

    fn invite_payload() -> PushPayload {
        PushPayload::Invite {
            wd: PUSH_PAYLOAD_VERSION,
            invite_id: "i1".into(),
            conversation_id: "c1".into(),
            from: "alice".into(),
            device: "n1.4".into(),
            mode: Mode::P2p,
            time_left_ms: 59_000,
            sent_at_ms: 1_780_000_000_000,
            user_data: Some("hi".into()),
            user_data_omitted: false,
        }
    }

    #[test]
    fn registration_round_trips_and_is_checked() {
        let mut data = Map::new();
        data.insert("endpoint".into(), Value::from("http://127.0.0.1:1/p"));
        let msg = ClientMessage::RegisterPush {
            provider: PushProvider::Webpush,
            app_id: "com.example.app".into(),
            push_key: "key-1".into(),
            data: Some(data),
        };
        let text = encode(&msg);
        assert_eq!(
            text,
            r#"{"type":"register_push","provider":"webpush","app_id":"com.example.app","push_key":"key-1","data":{"endpoint":"http://127.0.0.1:1/p"}}"#
        );
        assert_eq!(decode_client(&text).unwrap(), msg);
        let long_key = format!(
            r#"{{"type":"register_push","provider":"apns","app_id":"a","push_key":"{}"}}"#,
            "k".repeat(MAX_PUSH_KEY_LEN + 1)
        );
        assert!(matches!(
            decode_client(&long_key),
            Err(DecodeError::Invalid(ValidationError {
                field: "push_key",
                ..
            }))
        ));
        let empty = r#"{"type":"unregister_push","app_id":"","push_key":"k"}"#;
        assert!(matches!(
            decode_client(empty),
            Err(DecodeError::Invalid(ValidationError {
                field: "app_id",
                ..
            }))
        ));
        let big_data = format!(
            r#"{{"type":"register_push","provider":"fcm","app_id":"a","push_key":"k","data":{{"x":"{}"}}}}"#,
            "d".repeat(MAX_PUSH_DATA_LEN)
        );
        assert!(matches!(
            decode_client(&big_data),
            Err(DecodeError::Invalid(ValidationError { field: "data", .. }))
        ));
        let unknown = r#"{"type":"register_push","provider":"pigeon","app_id":"a","push_key":"k"}"#;
        assert!(matches!(decode_client(unknown), Err(DecodeError::Json(_))));
        let fetch = ClientMessage::FetchInvite {
            invite_id: "i1".into(),
            from: "alice".into(),
        };
        assert_eq!(
            encode(&fetch),
            r#"{"type":"fetch_invite","invite_id":"i1","from":"alice"}"#
        );
        let bad_fetch = r#"{"type":"fetch_invite","invite_id":"../i","from":"alice"}"#;
        assert!(decode_client(bad_fetch).is_err());
    }

    #[test]
    fn invite_state_round_trips_and_must_hold_the_invite_asked_for() {
        let invite = PeerMessage::Invite {
            invite_id: "i1".into(),
            conversation_id: "c1".into(),
            mode: Mode::P2p,
            user_data: None,
            offer: Some("v=0".into()),
            lifetime_ms: 60_000,
        };
        let state = ServerMessage::InviteState {
            invite_id: "i1".into(),
            from: "alice".into(),
            device: "n1.4".into(),
            invite: Box::new(invite),
            time_left_ms: 0,
            outcome: Some(Outcome::Canceled {
                reason: Some(CancelReason::CallerCanceled),
            }),
        };
        assert_eq!(decode_server(&encode(&state)).unwrap(), state);
        let wrong =
            encode(&state).replace(r#""invite_id":"i1","from""#, r#""invite_id":"i2","from""#);
        assert!(matches!(
            decode_server(&wrong),
            Err(DecodeError::Invalid(ValidationError {
                field: "invite",
                ..
            }))
        ));
        let failed = ServerMessage::FetchFailed {
            invite_id: "i1".into(),
            code: ErrorCode::NotFound,
        };
        assert_eq!(
            encode(&failed),
            r#"{"type":"fetch_failed","invite_id":"i1","code":"not_found"}"#
        );
    }

    #[test]
    fn a_payload_decodes_bare_and_inside_the_envelopes_gateways_use() {
        let payload = invite_payload();
        let bare = encode(&payload);
        assert!(bare.len() < MAX_PUSH_PAYLOAD_LEN);
        assert_eq!(decode_push(&bare).unwrap(), payload);
        // A Matrix push gateway notification, and Sygnal's Web Push body.
        let matrix = format!(r#"{{"notification":{{"event_id":"i1","content":{bare}}}}}"#);
        assert_eq!(decode_push(&matrix).unwrap(), payload);
        // FCM data messages carry strings only.
        let fcm = serde_json::json!({ "event_id": "i1", "content": bare }).to_string();
        assert_eq!(decode_push(&fcm).unwrap(), payload);
        let ended = PushPayload::InviteEnded {
            wd: PUSH_PAYLOAD_VERSION,
            invite_id: "i1".into(),
            conversation_id: "c1".into(),
            from: "alice".into(),
            outcome: Outcome::Failed {
                reason: FailureReason::Timeout,
            },
        };
        assert_eq!(decode_push(&encode(&ended)).unwrap(), ended);
    }

    #[test]
    fn foreign_malformed_and_hostile_payloads_are_refused() {
        for bad in [
            "",
            "null",
            "[]",
            r#"{"aps":{"alert":"hello"}}"#,
            r#"{"content":{"msgtype":"m.text"}}"#,
            r#"{"wd":1,"type":"teleport","invite_id":"i1"}"#,
            r#"{"wd":1,"type":"invite","invite_id":"i1"}"#,
        ] {
            assert!(decode_push(bad).is_err(), "{bad}");
        }
        let newer = encode(&invite_payload()).replace(r#""wd":1"#, r#""wd":2"#);
        assert!(matches!(
            decode_push(&newer),
            Err(DecodeError::Invalid(ValidationError { field: "wd", .. }))
        ));
        let bad_id =
            encode(&invite_payload()).replace(r#""invite_id":"i1""#, r#""invite_id":"../x""#);
        assert!(matches!(decode_push(&bad_id), Err(DecodeError::Invalid(_))));
        let deep = (0..10).fold(encode(&invite_payload()), |inner, _| {
            format!(r#"{{"content":{inner}}}"#)
        });
        assert!(decode_push(&deep).is_err(), "nesting is bounded");
        let huge = "x".repeat(64 * 1024);
        assert!(matches!(decode_push(&huge), Err(DecodeError::TooLarge(_))));
    }
}
