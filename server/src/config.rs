//! The server's settings.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::tls::TlsConfig;

/// Default address the CLI listens on.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8480";

/// Everything a [`Server`](crate::Server) needs to know.
///
/// `Default` gives a production-like configuration on
/// `127.0.0.1:8480` with no secret and dev mode off, which [`Server::bind`]
/// refuses until a secret is set or dev mode is turned on;
/// [`ServerConfig::dev`] gives one ready for tests on a free loopback port.
///
/// [`Server::bind`]: crate::Server::bind
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// HMAC-SHA256 secret that signs tokens. Without it only dev tokens
    /// work, and only in dev mode.
    pub secret: Option<Vec<u8>>,
    /// Dev mode: also accept unsigned `dev:<uid>` tokens. Never in
    /// production.
    pub dev: bool,
    /// This node's name, the prefix of the device ids it hands out
    /// (`"<node>.<counter>"`). ASCII letters, digits, `_ - .`, at most 32
    /// bytes.
    pub node: String,
    /// How long a new connection has to complete the WebSocket handshake
    /// and then send `hello`.
    pub handshake_timeout: Duration,
    /// Invites each user may send per second (token bucket refill rate),
    /// summed over all its devices. 0: the bucket never refills.
    pub invite_rate_per_sec: u32,
    /// Invites a user may send in a burst (token bucket size).
    pub invite_burst: u32,
    /// Invites one connection may have pending (sent, no outcome yet) at
    /// once; more are answered `invite_failed rate_limited`.
    pub max_pending_invites: usize,
    /// Frames queued for one connection before it counts as too slow and
    /// is closed.
    pub outbox_capacity: usize,
    /// Bytes queued for one connection (each frame counted as its length
    /// plus [`crate::router::FRAME_OVERHEAD`]); frames of the server's own
    /// over it close the connection as too slow, frames relayed from other
    /// clients are refused to their sender. One sender may hold at most a
    /// quarter of it (and a quarter of `outbox_capacity` frames).
    pub outbox_bytes: usize,
    /// Bytes queued for all the connections of one user together.
    pub user_outbox_bytes: usize,
    /// How long writing one batch of frames to a client may take; a client
    /// that does not read for that long is dropped.
    pub write_timeout: Duration,
    /// The furthest in the future a signed token's `exp` may be: a token
    /// that expires later is refused (`token lifetime exceeds the
    /// maximum`). `None`: no maximum.
    pub max_token_lifetime: Option<Duration>,
    /// Relay peer messages between any two users, without checking that
    /// they share an invite or a conversation ([`crate::authz`]). Off by
    /// default; only for tests and benchmarks of routing alone, and not
    /// settable from the command line, the environment or a config file.
    pub open_relay: bool,
    /// Bad frames (malformed, too large, binary) one connection may send
    /// before it is closed.
    pub max_bad_frames: u32,
    /// How often to ping an idle connection; a connection that sends
    /// nothing (not even a pong) for two intervals is closed. `None`
    /// disables pings and the idle check.
    pub ping_interval: Option<Duration>,
    /// Address of the HTTP endpoint serving Prometheus `/metrics` and
    /// `/healthz` (port 0 picks a free port); `None`: no endpoint (the
    /// metrics are still counted).
    pub metrics_listen: Option<SocketAddr>,
    /// How long a shutting-down server waits for its connections to flush
    /// and close after telling them to reconnect elsewhere (close code
    /// 1012) before it exits anyway.
    pub shutdown_grace: Duration,
    /// Serve `wss://` with this certificate and key; `None`: plain `ws://`.
    pub tls: Option<TlsConfig>,
    /// Frames (text or binary) one connection may send per second (token
    /// bucket refill rate); frames over it are dropped and answered
    /// `error rate_limited` (an invite: `invite_failed rate_limited`).
    /// 0 disables the limit.
    pub message_rate_per_sec: u32,
    /// Frames one connection may send in a burst (token bucket size).
    pub message_burst: u32,
    /// Devices (connections) one uid may have on this server at once;
    /// one more is answered `error rate_limited` and closed. 0: no limit.
    pub max_devices_per_uid: usize,
    /// Deepest nesting of JSON arrays and objects a frame may have; deeper
    /// frames are answered `error malformed` without being parsed.
    pub max_json_depth: usize,
    /// URL of the Redis that several nodes route through
    /// (`redis://HOST:PORT[/DB]`); `None`: route in memory, one node.
    /// Every node sharing a broker needs its own [`node`](Self::node).
    pub broker: Option<String>,
    /// URL of the push gateway that wakes devices without a connection
    /// (`http://HOST:PORT[/PATH]`, speaking the Matrix push gateway API;
    /// `/_matrix/push/v1/notify` is appended unless the path already ends
    /// with it). `None`: no pushes; `register_push` and `fetch_invite` are
    /// answered `unsupported` ([`crate::push`]).
    pub push_gateway: Option<String>,
    /// How long a push registration lasts without being registered again.
    pub push_retention: Duration,
    /// Most push registrations one user may hold (at most
    /// [`wd_protocol::push::MAX_PUSH_REGISTRATIONS`]); one more replaces
    /// the least recently registered.
    pub push_max_registrations: usize,
    /// Pushes waiting for the gateway; one more is dropped (and counted in
    /// `wd_signal_push_dropped_total{reason="queue_full"}`).
    pub push_queue: usize,
    /// Attempts at delivering one push to the gateway (the first and the
    /// retries after a connection failure, a timeout or a 5xx/429
    /// answer), after which it is dropped and counted.
    pub push_attempts: u32,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("dev", &self.dev)
            .field("node", &self.node)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("invite_rate_per_sec", &self.invite_rate_per_sec)
            .field("invite_burst", &self.invite_burst)
            .field("max_pending_invites", &self.max_pending_invites)
            .field("outbox_capacity", &self.outbox_capacity)
            .field("outbox_bytes", &self.outbox_bytes)
            .field("user_outbox_bytes", &self.user_outbox_bytes)
            .field("write_timeout", &self.write_timeout)
            .field("max_token_lifetime", &self.max_token_lifetime)
            .field("open_relay", &self.open_relay)
            .field("max_bad_frames", &self.max_bad_frames)
            .field("ping_interval", &self.ping_interval)
            .field("metrics_listen", &self.metrics_listen)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("tls", &self.tls)
            .field("message_rate_per_sec", &self.message_rate_per_sec)
            .field("message_burst", &self.message_burst)
            .field("max_devices_per_uid", &self.max_devices_per_uid)
            .field("max_json_depth", &self.max_json_depth)
            .field("broker", &self.broker)
            .field("push_gateway", &self.push_gateway)
            .field("push_retention", &self.push_retention)
            .field("push_max_registrations", &self.push_max_registrations)
            .field("push_queue", &self.push_queue)
            .field("push_attempts", &self.push_attempts)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            secret: None,
            dev: false,
            node: "n1".to_owned(),
            handshake_timeout: Duration::from_secs(10),
            invite_rate_per_sec: 200,
            invite_burst: 1000,
            max_pending_invites: 1024,
            outbox_capacity: 1024,
            outbox_bytes: 4 << 20,
            user_outbox_bytes: 16 << 20,
            write_timeout: Duration::from_secs(30),
            max_token_lifetime: Some(Duration::from_secs(7 * 24 * 3600)),
            open_relay: false,
            max_bad_frames: 5,
            ping_interval: Some(Duration::from_secs(30)),
            metrics_listen: None,
            shutdown_grace: Duration::from_secs(5),
            tls: None,
            message_rate_per_sec: 200,
            message_burst: 2000,
            max_devices_per_uid: 16,
            max_json_depth: crate::limits::DEFAULT_MAX_JSON_DEPTH,
            broker: None,
            push_gateway: None,
            push_retention: Duration::from_secs(30 * 24 * 3600),
            push_max_registrations: wd_protocol::push::MAX_PUSH_REGISTRATIONS,
            push_queue: 1024,
            push_attempts: 4,
        }
    }
}

impl ServerConfig {
    /// A configuration for tests, examples and benchmarks: dev mode on
    /// (`dev:<uid>` tokens accepted), listening on a free port of
    /// 127.0.0.1, everything else as [`Default`].
    pub fn dev() -> Self {
        ServerConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            dev: true,
            ..ServerConfig::default()
        }
    }

    /// Checks the settings; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.secret.is_none() && !self.dev {
            return Err(
                "no token secret: set --secret or WD_SIGNAL_SECRET, or use --dev for development"
                    .to_owned(),
            );
        }
        if matches!(&self.secret, Some(s) if s.is_empty()) {
            return Err("the token secret must not be empty".to_owned());
        }
        if self.node.len() > 32 || wd_protocol::validate_id("node", &self.node).is_err() {
            return Err(format!(
                "invalid node name {:?}: 1 to 32 ASCII letters, digits, _ - .",
                self.node
            ));
        }
        if self.invite_burst == 0 {
            return Err("invite_burst must be at least 1".to_owned());
        }
        if self.outbox_capacity == 0 {
            return Err("outbox_capacity must be at least 1".to_owned());
        }
        // One frame of the largest size must fit in one sender's share.
        let min_bytes = 4 * (crate::HARD_FRAME_CAP / 2 + crate::router::FRAME_OVERHEAD);
        if self.outbox_bytes < min_bytes {
            return Err(format!("outbox_bytes must be at least {min_bytes}"));
        }
        if self.user_outbox_bytes < self.outbox_bytes {
            return Err("user_outbox_bytes must be at least outbox_bytes".to_owned());
        }
        if self.write_timeout.is_zero() {
            return Err("write_timeout must not be zero".to_owned());
        }
        if self.message_burst == 0 {
            return Err("message_burst must be at least 1".to_owned());
        }
        if let Some(url) = &self.broker {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(format!(
                    "invalid broker {url:?}: expected redis://HOST:PORT"
                ));
            }
        }
        if self.max_json_depth == 0 {
            return Err("max_json_depth must be at least 1".to_owned());
        }
        if let Some(tls) = &self.tls {
            tls.check()?;
        }
        if matches!(self.ping_interval, Some(d) if d.is_zero()) {
            return Err("ping_interval must not be zero".to_owned());
        }
        if let Some(url) = &self.push_gateway {
            crate::push::GatewayUrl::parse(url)?;
        }
        if self.push_retention.is_zero() {
            return Err("push_retention must be at least 1 second".to_owned());
        }
        let most = wd_protocol::push::MAX_PUSH_REGISTRATIONS;
        if !(1..=most).contains(&self.push_max_registrations) {
            return Err(format!(
                "push_max_registrations must be between 1 and {most}"
            ));
        }
        if self.push_queue == 0 {
            return Err("push_queue must be at least 1".to_owned());
        }
        if self.push_attempts == 0 {
            return Err("push_attempts must be at least 1".to_owned());
        }
        Ok(())
    }
}
