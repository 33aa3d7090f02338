//! Client configuration and invite options, with their JSON forms.
//!
//! Both JSON forms are strict: an unknown field, or a field of the wrong
//! type, is an [`Error::InvalidArgument`] naming the field.

use std::time::Duration;

use serde_json::{Map, Value};
use wd_protocol::{Mode, DEFAULT_LIFETIME_MS, MAX_TOKEN_LEN};

use super::error::Error;
use crate::engine::{field, DEFAULT_CONFIRM_TIMEOUT};

/// Longest JSON text accepted for a configuration or options object.
pub const MAX_JSON_LEN: usize = 256 * 1024;

/// Who runs event callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DispatchMode {
    /// The client's own event thread runs them.
    #[default]
    Thread,
    /// The host runs them by calling
    /// [`Client::dispatch`](crate::client::Client::dispatch).
    Manual,
    /// The client's I/O thread runs them, as soon as it has read what
    /// caused them (`"dispatch": "io"`). This saves the hand-over to
    /// the event thread (two thread wake-ups per event), but while a
    /// listener runs the client reads, writes and heartbeats nothing:
    /// listeners must not block. Calls from inside listeners are
    /// allowed, as in the other modes; what they send leaves at once
    /// from the I/O thread.
    /// [`Client::disconnect`](crate::client::Client::disconnect) called
    /// from a listener returns at once and the connection closes right
    /// after the listener returns.
    Io,
}

/// How to reach the server and who this client is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Server address, `ws://host:port[/path]`.
    pub url: String,
    /// Signed token naming the user (`dev:<uid>` against a server in dev
    /// mode).
    pub token: String,
    /// Who runs event callbacks.
    pub dispatch: DispatchMode,
    /// How long [`Client::connect`](crate::client::Client::connect) may take.
    pub connect_timeout: Duration,
    /// How long an accepted incoming invite waits for the caller's
    /// confirmation.
    pub confirm_timeout: Duration,
    /// Every server address to try, in rotation, when (re)connecting;
    /// empty: `url` alone. When set, `url` is its first entry.
    pub urls: Vec<String>,
    /// How often to ping the server (`heartbeatMs`, 5 s).
    pub heartbeat: Duration,
    /// The link counts as dead when nothing (no frame, no pong) arrived
    /// for this long (`deadAfterMs`, 15 s).
    pub dead_after: Duration,
    /// Whether to reconnect after losing the link (`reconnect`, true).
    pub reconnect: bool,
    /// Backoff before the first reconnection attempt, at most
    /// (`reconnectMinMs`, 250 ms); doubles per failed attempt, with full
    /// jitter.
    pub reconnect_min: Duration,
    /// Longest backoff between attempts (`reconnectMaxMs`, 10 s).
    pub reconnect_max: Duration,
    /// PEM file of the CA certificates to trust for `wss://` (`caFile`),
    /// instead of the built-in web roots.
    pub ca_file: Option<String>,
    /// PEM text of the CA certificates to trust for `wss://` (`caPem`),
    /// instead of the built-in web roots.
    pub ca_pem: Option<String>,
}

impl ClientConfig {
    /// A configuration with the defaults: thread dispatch, 10 s connect
    /// timeout, 10 s confirm timeout.
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            token: token.into(),
            dispatch: DispatchMode::Thread,
            connect_timeout: Duration::from_secs(10),
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
            urls: Vec::new(),
            heartbeat: Duration::from_secs(5),
            dead_after: Duration::from_secs(15),
            reconnect: true,
            reconnect_min: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(10),
            ca_file: None,
            ca_pem: None,
        }
    }

    /// The addresses to connect to, in rotation order.
    pub(crate) fn server_urls(&self) -> Vec<String> {
        if self.urls.is_empty() {
            vec![self.url.clone()]
        } else {
            self.urls.clone()
        }
    }

    /// Parses the JSON form: `{"url": "...", "token": "...", "dispatch":
    /// "thread"|"manual"|"io", "connectTimeoutMs": n, "confirmTimeoutMs": n,
    /// "urls": ["wss://..", ..], "heartbeatMs": n, "deadAfterMs": n,
    /// "reconnect": bool, "reconnectMinMs": n, "reconnectMaxMs": n,
    /// "caFile": "/path/ca.pem", "caPem": "-----BEGIN CERTIFICATE-----.."}`;
    /// `token` and one of `url` or `urls` are required.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let obj = parse_object(json)?;
        let mut config = ClientConfig::new("", "");
        let (mut url, mut token) = (None, None);
        for (field, value) in &obj {
            match field.as_str() {
                "url" => url = Some(string(field, value)?),
                "token" => token = Some(string(field, value)?),
                "dispatch" => {
                    config.dispatch = match string(field, value)?.as_str() {
                        "thread" => DispatchMode::Thread,
                        "manual" => DispatchMode::Manual,
                        "io" => DispatchMode::Io,
                        _ => {
                            return Err(Error::invalid(
                                field,
                                "expected \"thread\", \"manual\" or \"io\"",
                            ))
                        }
                    }
                }
                "connectTimeoutMs" => {
                    config.connect_timeout = Duration::from_millis(millis(field, value)?)
                }
                "confirmTimeoutMs" => {
                    config.confirm_timeout = Duration::from_millis(millis(field, value)?)
                }
                "urls" => {
                    let list = value
                        .as_array()
                        .ok_or_else(|| Error::invalid(field, "expected an array of strings"))?;
                    config.urls = list
                        .iter()
                        .map(|v| string(field, v))
                        .collect::<Result<_, _>>()?;
                    if config.urls.is_empty() {
                        return Err(Error::invalid(field, "must not be empty"));
                    }
                }
                "heartbeatMs" => config.heartbeat = Duration::from_millis(millis(field, value)?),
                "deadAfterMs" => config.dead_after = Duration::from_millis(millis(field, value)?),
                "reconnect" => {
                    config.reconnect = value
                        .as_bool()
                        .ok_or_else(|| Error::invalid(field, "expected true or false"))?
                }
                "reconnectMinMs" => {
                    config.reconnect_min = Duration::from_millis(millis(field, value)?)
                }
                "reconnectMaxMs" => {
                    config.reconnect_max = Duration::from_millis(millis(field, value)?)
                }
                "caFile" => config.ca_file = Some(string(field, value)?),
                "caPem" => config.ca_pem = Some(string(field, value)?),
                _ => return Err(Error::invalid(field, "unknown field")),
            }
        }
        config.url = match (url, config.urls.first()) {
            (Some(url), _) => url,
            (None, Some(first)) => first.clone(),
            (None, None) => return Err(Error::invalid("url", "required")),
        };
        config.token = token.ok_or_else(|| Error::invalid("token", "required"))?;
        config.validate()?;
        Ok(config)
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let scheme_ok = |u: &str| u.starts_with("ws://") || u.starts_with("wss://");
        if !self.urls.iter().all(|u| scheme_ok(u)) {
            return Err(Error::invalid("urls", "must start with ws:// or wss://"));
        }
        if !scheme_ok(&self.url) {
            return Err(Error::invalid("url", "must start with ws:// or wss://"));
        }
        if self.heartbeat.is_zero() {
            return Err(Error::invalid("heartbeatMs", "must be positive"));
        }
        if self.dead_after <= self.heartbeat {
            return Err(Error::invalid(
                "deadAfterMs",
                "must be greater than heartbeatMs",
            ));
        }
        if self.reconnect_min.is_zero() || self.reconnect_max < self.reconnect_min {
            return Err(Error::invalid(
                "reconnectMinMs",
                "must be positive and at most reconnectMaxMs",
            ));
        }
        if self.ca_file.is_some() && self.ca_pem.is_some() {
            return Err(Error::invalid("caPem", "give caFile or caPem, not both"));
        }
        if self.token.is_empty() || self.token.len() > MAX_TOKEN_LEN {
            return Err(Error::invalid("token", "must be 1 to 4096 bytes"));
        }
        if self.connect_timeout.is_zero() {
            return Err(Error::invalid("connectTimeoutMs", "must be positive"));
        }
        if self.confirm_timeout.is_zero() {
            return Err(Error::invalid("confirmTimeoutMs", "must be positive"));
        }
        Ok(())
    }
}

/// What `inviteToConversation` takes, named as in the JS API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteOptions {
    /// The invitee's user id (required).
    pub participant_id: String,
    /// Media mode; `p2p` unless set.
    pub mode: Mode,
    /// Text shown to the invitee, up to 8 KiB.
    pub user_data: Option<String>,
    /// SDP offer, up to 64 KiB.
    pub offer: Option<String>,
    /// How long it may ring, in milliseconds (1 to 3 600 000; 60 000
    /// unless set).
    pub lifetime_ms: u64,
}

impl InviteOptions {
    /// Options inviting `participant_id` with every default.
    pub fn new(participant_id: impl Into<String>) -> Self {
        InviteOptions {
            participant_id: participant_id.into(),
            mode: Mode::P2p,
            user_data: None,
            offer: None,
            lifetime_ms: DEFAULT_LIFETIME_MS,
        }
    }

    /// Parses the JSON form: `{"participantId": "bob", "mode":
    /// "p2p"|"server", "userData": "...", "offer": "...", "lifetimeMs":
    /// n}`.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let obj = parse_object(json)?;
        let mut options = InviteOptions::new("");
        let mut participant = None;
        for (name, value) in &obj {
            match name.as_str() {
                field::PARTICIPANT_ID => participant = Some(string(name, value)?),
                field::MODE => {
                    options.mode = match string(name, value)?.as_str() {
                        "p2p" => Mode::P2p,
                        "server" => Mode::Server,
                        _ => return Err(Error::invalid(name, "expected \"p2p\" or \"server\"")),
                    }
                }
                field::USER_DATA => options.user_data = Some(string(name, value)?),
                field::OFFER => options.offer = Some(string(name, value)?),
                field::LIFETIME_MS => options.lifetime_ms = millis(name, value)?,
                _ => return Err(Error::invalid(name, "unknown field")),
            }
        }
        options.participant_id =
            participant.ok_or_else(|| Error::invalid(field::PARTICIPANT_ID, "required"))?;
        Ok(options)
    }
}

/// `json` as a JSON object, or [`Error::InvalidArgument`] (`json`).
pub(crate) fn parse_object(json: &str) -> Result<Map<String, Value>, Error> {
    if json.len() > MAX_JSON_LEN {
        return Err(Error::invalid(
            "json",
            format!("longer than {MAX_JSON_LEN} bytes"),
        ));
    }
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(Error::invalid("json", "expected a JSON object")),
        Err(e) => Err(Error::invalid("json", format!("not valid JSON: {e}"))),
    }
}

/// `value` as a string, or [`Error::InvalidArgument`] naming `field`.
pub(crate) fn string(field: &str, value: &Value) -> Result<String, Error> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid(field, "expected a string"))
}

fn millis(field: &str, value: &Value) -> Result<u64, Error> {
    value
        .as_u64()
        .ok_or_else(|| Error::invalid(field, "expected a non-negative integer"))
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
    fn options_parse_every_field() {
        let o = InviteOptions::from_json(
            r#"{"participantId":"bob","mode":"server","userData":"hi","offer":"v=0","lifetimeMs":5000}"#,
        )
        .unwrap();
        assert_eq!(o.participant_id, "bob");
        assert_eq!(o.mode, Mode::Server);
        assert_eq!(o.user_data.as_deref(), Some("hi"));
        assert_eq!(o.offer.as_deref(), Some("v=0"));
        assert_eq!(o.lifetime_ms, 5000);
        let d = InviteOptions::from_json(r#"{"participantId":"bob"}"#).unwrap();
        assert_eq!(d, InviteOptions::new("bob"));
    }

    #[test]
    fn options_errors_name_the_field() {
        let cases = [
            (r#"{"participantId":1}"#, "participantId"),
            (r#"{"participantId":"b","lifetimeMs":"5"}"#, "lifetimeMs"),
            (r#"{"participantId":"b","lifetimeMs":-1}"#, "lifetimeMs"),
            (r#"{"participantId":"b","mode":"mesh"}"#, "mode"),
            (r#"{"participantId":"b","userData":{}}"#, "userData"),
            (r#"{"participantId":"b","offer":null}"#, "offer"),
            (r#"{"participantId":"b","color":"red"}"#, "color"),
            (r#"{"mode":"p2p"}"#, "participantId"),
            (r#"[1,2]"#, "json"),
            (r#"{"participantId":"#, "json"),
        ];
        for (json, field) in cases {
            assert_eq!(
                field_of(InviteOptions::from_json(json).unwrap_err()),
                field,
                "{json}"
            );
        }
    }

    #[test]
    fn config_parses_and_checks() {
        let c = ClientConfig::from_json(
            r#"{"url":"ws://127.0.0.1:1","token":"dev:a","dispatch":"manual","connectTimeoutMs":50,"confirmTimeoutMs":70}"#,
        )
        .unwrap();
        assert_eq!(c.dispatch, DispatchMode::Manual);
        let io = ClientConfig::from_json(r#"{"url":"ws://x","token":"t","dispatch":"io"}"#);
        assert_eq!(io.unwrap().dispatch, DispatchMode::Io);
        assert_eq!(c.connect_timeout, Duration::from_millis(50));
        assert_eq!(c.confirm_timeout, Duration::from_millis(70));
        assert!(c.reconnect);
        assert_eq!(c.heartbeat, Duration::from_secs(5));
        assert_eq!(c.dead_after, Duration::from_secs(15));
        let r = ClientConfig::from_json(
            r#"{"urls":["wss://a:1","ws://b:2"],"token":"t","heartbeatMs":300,"deadAfterMs":900,"reconnect":false,"reconnectMinMs":5,"reconnectMaxMs":50,"caPem":"x"}"#,
        )
        .unwrap();
        assert_eq!(r.url, "wss://a:1");
        assert_eq!(r.server_urls(), vec!["wss://a:1", "ws://b:2"]);
        assert_eq!(
            (r.heartbeat, r.dead_after, r.reconnect),
            (
                Duration::from_millis(300),
                Duration::from_millis(900),
                false
            )
        );
        assert_eq!(
            (r.reconnect_min, r.reconnect_max),
            (Duration::from_millis(5), Duration::from_millis(50))
        );
        assert_eq!(r.ca_pem.as_deref(), Some("x"));
        let cases = [
            (r#"{"token":"t"}"#, "url"),
            (r#"{"url":"ws://x"}"#, "token"),
            (r#"{"url":"http://x","token":"t"}"#, "url"),
            (r#"{"url":"ws://x","token":"t","dispatch":1}"#, "dispatch"),
            (
                r#"{"url":"ws://x","token":"t","connectTimeoutMs":0}"#,
                "connectTimeoutMs",
            ),
            (r#"{"url":"ws://x","token":"t","extra":0}"#, "extra"),
            (r#"{"urls":[],"token":"t"}"#, "urls"),
            (r#"{"urls":["http://x"],"token":"t"}"#, "urls"),
            (r#"{"urls":[1],"token":"t"}"#, "urls"),
            (
                r#"{"url":"ws://x","token":"t","heartbeatMs":0}"#,
                "heartbeatMs",
            ),
            (
                r#"{"url":"ws://x","token":"t","heartbeatMs":500,"deadAfterMs":400}"#,
                "deadAfterMs",
            ),
            (r#"{"url":"ws://x","token":"t","reconnect":1}"#, "reconnect"),
            (
                r#"{"url":"ws://x","token":"t","reconnectMinMs":20,"reconnectMaxMs":10}"#,
                "reconnectMinMs",
            ),
            (
                r#"{"url":"ws://x","token":"t","caFile":"a","caPem":"b"}"#,
                "caPem",
            ),
        ];
        for (json, field) in cases {
            assert_eq!(
                field_of(ClientConfig::from_json(json).unwrap_err()),
                field,
                "{json}"
            );
        }
        let huge = format!(r#"{{"url":"{}"}}"#, "x".repeat(MAX_JSON_LEN));
        assert_eq!(
            field_of(ClientConfig::from_json(&huge).unwrap_err()),
            "json"
        );
    }
}
