//! Push: this device's registrations with the server's push gateway, the
//! events about them, and the payload a push hands the app.
//!
//! What a push payload turns into (an incoming invite) is
//! [`Client::handle_push`](super::Client::handle_push); the invite side of
//! it lives with the other invite handles, in `core.rs` and `incoming.rs`.

use std::sync::Arc;

use serde_json::Value;
use wd_protocol::{decode_push, DecodeError, ErrorCode, PushPayload, UnregisterReason};

use super::config::{parse_object, string};
use super::error::Error;
use super::events::{Deliver, Listener, Slot};
use crate::engine::{self, field, PushRegistration};

pub use wd_protocol::PushProvider;

/// Something about this device's push registrations, for the push
/// listener ([`Client::set_push_listener`](super::Client::set_push_listener)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushEvent {
    /// The server stored the registration.
    Registered {
        /// The registration's app id.
        app_id: String,
        /// The registration's push key.
        push_key: String,
    },
    /// The server refused the registration; `message` says why (a server
    /// without a push gateway, a rate limit…).
    RegistrationFailed {
        /// The registration's app id.
        app_id: String,
        /// The registration's push key.
        push_key: String,
        /// Why, for a person to read: the server's error code, then its
        /// detail.
        message: String,
    },
    /// The registration was removed, as
    /// [`Client::unregister_push`](super::Client::unregister_push) asked.
    Unregistered {
        /// The registration's app id.
        app_id: String,
        /// The registration's push key.
        push_key: String,
    },
    /// The push gateway reported the key dead (an uninstalled app, an
    /// expired token): the registration is gone. Get a fresh token from
    /// the platform and register it.
    Rejected {
        /// The registration's app id.
        app_id: String,
        /// The registration's push key.
        push_key: String,
    },
}

impl PushEvent {
    /// The event the client reports for an engine push event about a
    /// registration; `None` for one about an invite.
    pub(crate) fn from_engine(event: engine::PushEvent) -> Option<Self> {
        Some(match event {
            engine::PushEvent::IncomingUpdated { .. } => return None,
            engine::PushEvent::Registered { app_id, push_key } => {
                PushEvent::Registered { app_id, push_key }
            }
            engine::PushEvent::RegistrationFailed {
                app_id,
                push_key,
                code,
                message,
            } => PushEvent::RegistrationFailed {
                app_id,
                push_key,
                message: format!("{}: {message}", code_name(code)),
            },
            engine::PushEvent::Unregistered {
                app_id,
                push_key,
                reason: UnregisterReason::Requested,
            } => PushEvent::Unregistered { app_id, push_key },
            engine::PushEvent::Unregistered {
                app_id,
                push_key,
                reason: UnregisterReason::Rejected,
            } => PushEvent::Rejected { app_id, push_key },
        })
    }

    /// The registration's app id.
    pub fn app_id(&self) -> &str {
        match self {
            PushEvent::Registered { app_id, .. }
            | PushEvent::RegistrationFailed { app_id, .. }
            | PushEvent::Unregistered { app_id, .. }
            | PushEvent::Rejected { app_id, .. } => app_id,
        }
    }

    /// The registration's push key.
    pub fn push_key(&self) -> &str {
        match self {
            PushEvent::Registered { push_key, .. }
            | PushEvent::RegistrationFailed { push_key, .. }
            | PushEvent::Unregistered { push_key, .. }
            | PushEvent::Rejected { push_key, .. } => push_key,
        }
    }

    /// Why a registration failed; `None` for every other event.
    pub fn message(&self) -> Option<&str> {
        match self {
            PushEvent::RegistrationFailed { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// The wire name of an error code (`"unsupported"`, …).
fn code_name(code: ErrorCode) -> String {
    match serde_json::to_value(code) {
        Ok(Value::String(name)) => name,
        _ => format!("{code:?}"),
    }
}

impl PushRegistration {
    /// A registration with no extra `data`.
    pub fn new(
        provider: PushProvider,
        app_id: impl Into<String>,
        push_key: impl Into<String>,
    ) -> Self {
        PushRegistration {
            provider,
            app_id: app_id.into(),
            push_key: push_key.into(),
            data: None,
        }
    }

    /// Parses the JSON form: `{"provider": "apns"|"fcm"|"webpush",
    /// "appId": "...", "pushKey": "...", "data": {...}}`; `data` is
    /// optional. An unknown or ill-typed field is
    /// [`Error::InvalidArgument`] naming it. Limits are checked when the
    /// registration is made ([`Client::register_push`](super::Client::register_push)).
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let obj = parse_object(json)?;
        let (mut provider, mut app_id, mut push_key, mut data) = (None, None, None, None);
        for (name, value) in &obj {
            match name.as_str() {
                field::PROVIDER => {
                    provider = Some(match string(name, value)?.as_str() {
                        "apns" => PushProvider::Apns,
                        "fcm" => PushProvider::Fcm,
                        "webpush" => PushProvider::Webpush,
                        _ => {
                            return Err(Error::invalid(
                                name,
                                "expected \"apns\", \"fcm\" or \"webpush\"",
                            ))
                        }
                    })
                }
                field::APP_ID => app_id = Some(string(name, value)?),
                field::PUSH_KEY => push_key = Some(string(name, value)?),
                field::DATA => {
                    data = Some(
                        value
                            .as_object()
                            .cloned()
                            .ok_or_else(|| Error::invalid(name, "expected a JSON object"))?,
                    )
                }
                _ => return Err(Error::invalid(name, "unknown field")),
            }
        }
        Ok(PushRegistration {
            provider: provider.ok_or_else(|| Error::invalid(field::PROVIDER, "required"))?,
            app_id: app_id.ok_or_else(|| Error::invalid(field::APP_ID, "required"))?,
            push_key: push_key.ok_or_else(|| Error::invalid(field::PUSH_KEY, "required"))?,
            data,
        })
    }
}

/// Decodes a push as the app received it (the payload, or an envelope
/// around it); a payload that is not ours, malformed, of another version
/// or too large is [`Error::InvalidArgument`] naming the field (`payload`
/// when it is not a payload at all).
pub(crate) fn decode_payload(json: &str) -> Result<PushPayload, Error> {
    decode_push(json).map_err(|e| match e {
        DecodeError::Invalid(v) => Error::invalid(v.field, v.problem),
        DecodeError::Json(e) => Error::invalid(field::PAYLOAD, format!("not a push payload: {e}")),
        DecodeError::TooLarge(n) => Error::invalid(
            field::PAYLOAD,
            format!("{n} bytes is too large for a push payload"),
        ),
    })
}

/// The push events not yet heard, for the push listener (put on the
/// client's event queue like a handle).
#[derive(Default)]
pub(crate) struct PushEvents {
    slot: Slot<(), PushEvent>,
}

impl PushEvents {
    /// Queues `event`; the caller puts this on the event queue.
    pub(crate) fn push(&self, event: PushEvent) {
        self.slot.push(event);
    }

    /// Installs `listener`; whether events wait for it.
    pub(crate) fn set(&self, listener: Listener<(), PushEvent>) -> bool {
        self.slot.set(listener)
    }

    /// Removes the listener.
    pub(crate) fn clear(&self) {
        self.slot.clear();
    }

    /// Drops every event not yet heard.
    pub(crate) fn discard(&self) {
        drop(self.slot.discard_pending());
    }
}

impl Deliver for PushEvents {
    fn deliver(self: Arc<Self>) {
        self.slot.run(&());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: Error) -> String {
        match err {
            Error::InvalidArgument { field, .. } => field,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn registrations_parse_and_name_bad_fields() {
        let r = PushRegistration::from_json(
            r#"{"provider":"webpush","appId":"a","pushKey":"k","data":{"endpoint":"e"}}"#,
        )
        .unwrap();
        assert_eq!(r.provider, PushProvider::Webpush);
        assert_eq!((r.app_id.as_str(), r.push_key.as_str()), ("a", "k"));
        assert_eq!(r.data.unwrap()["endpoint"], "e");
        assert_eq!(
            PushRegistration::from_json(r#"{"provider":"fcm","appId":"a","pushKey":"k"}"#).unwrap(),
            PushRegistration::new(PushProvider::Fcm, "a", "k")
        );
        for (json, field) in [
            (
                r#"{"provider":"pigeon","appId":"a","pushKey":"k"}"#,
                "provider",
            ),
            (r#"{"provider":1,"appId":"a","pushKey":"k"}"#, "provider"),
            (r#"{"appId":"a","pushKey":"k"}"#, "provider"),
            (r#"{"provider":"apns","pushKey":"k"}"#, "appId"),
            (r#"{"provider":"apns","appId":[],"pushKey":"k"}"#, "appId"),
            (r#"{"provider":"apns","appId":"a"}"#, "pushKey"),
            (
                r#"{"provider":"apns","appId":"a","pushKey":"k","data":"x"}"#,
                "data",
            ),
            (
                r#"{"provider":"apns","appId":"a","pushKey":"k","x":1}"#,
                "x",
            ),
            (r#"["apns"]"#, "json"),
        ] {
            assert_eq!(
                field_of(PushRegistration::from_json(json).unwrap_err()),
                field,
                "{json}"
            );
        }
    }

    #[test]
    fn payload_errors_name_the_field() {
        for (json, field) in [
            ("not json", "payload"),
            (r#"{"aps":{"alert":"hi"}}"#, "type"),
            (
                r#"{"wd":2,"type":"invite_ended","invite_id":"i","conversation_id":"c","from":"a","outcome":{"type":"canceled"}}"#,
                "wd",
            ),
            (
                r#"{"wd":1,"type":"invite_ended","invite_id":"../i","conversation_id":"c","from":"a","outcome":{"type":"canceled"}}"#,
                "invite_id",
            ),
        ] {
            assert_eq!(field_of(decode_payload(json).unwrap_err()), field, "{json}");
        }
        let huge = format!("[{}]", " ".repeat(64 * 1024));
        assert_eq!(field_of(decode_payload(&huge).unwrap_err()), "payload");
    }

    #[test]
    fn registration_events_map_and_invite_updates_do_not() {
        let failed = engine::PushEvent::RegistrationFailed {
            app_id: "a".into(),
            push_key: "k".into(),
            code: ErrorCode::Unsupported,
            message: "no push gateway".into(),
        };
        let event = PushEvent::from_engine(failed).unwrap();
        assert_eq!(event.message(), Some("unsupported: no push gateway"));
        assert_eq!((event.app_id(), event.push_key()), ("a", "k"));
        let rejected = engine::PushEvent::Unregistered {
            app_id: "a".into(),
            push_key: "k".into(),
            reason: UnregisterReason::Rejected,
        };
        assert!(matches!(
            PushEvent::from_engine(rejected),
            Some(PushEvent::Rejected { .. })
        ));
    }
}
