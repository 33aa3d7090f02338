//! Layered settings of the `wd-signal` binary: a TOML file, the
//! environment (`WD_SIGNAL_*`) and flags.
//!
//! Every source fills the same [`Settings`] (all fields optional); they
//! are merged with [`Settings::or`] — flags win, then the environment,
//! then the file — and [`Settings::resolve`] applies the defaults and
//! checks the result. Keys (TOML) are the flag names with `_` for `-`:
//!
//! ```toml
//! listen = "0.0.0.0:8480"
//! secret = "…"                 # better: WD_SIGNAL_SECRET or a file readable by the service only
//! dev = false
//! node = "n1"
//! handshake_timeout = 10       # seconds
//! invite_rate = 200            # invites per second per user
//! invite_burst = 1000
//! max_pending_invites = 1024   # per connection
//! outbox_capacity = 1024       # frames queued per connection
//! outbox_bytes = 4194304       # bytes queued per connection
//! user_outbox_bytes = 16777216 # bytes queued for all connections of a user
//! write_timeout = 30           # seconds a client may take to read a batch
//! max_token_lifetime = 604800  # seconds a token's exp may lie ahead; 0: no maximum
//! max_bad_frames = 5
//! ping_interval = 30           # seconds; 0 disables pings
//! metrics_listen = "127.0.0.1:9480"
//! shutdown_grace = 5           # seconds
//! tls_cert = "/etc/wd-signal/cert.pem"   # both set: serve wss://
//! tls_key = "/etc/wd-signal/key.pem"
//! message_rate = 200           # frames per second per connection; 0 disables
//! message_burst = 2000
//! max_devices = 16             # connections per uid; 0: no limit
//! max_json_depth = 16          # nesting of arrays/objects in a frame
//! broker = "redis://127.0.0.1:6379"  # several nodes routing through Redis (docs/SCALING.md)
//! push_gateway = "http://127.0.0.1:5000"  # Matrix push gateway (Sygnal) for sleeping devices (docs/push.md)
//! push_retention = 2592000     # seconds a push registration lasts unless registered again
//! push_max_registrations = 16  # per user
//! push_queue = 1024            # pushes waiting for the gateway; more are dropped
//! push_attempts = 4            # tries per push before it is dropped
//! workers = 0                  # runtime threads; 0: one per CPU; 1: a single-threaded runtime
//! log_format = "text"          # or "json"
//! log_level = "info"           # an EnvFilter directive, e.g. "wd_signal=debug,info"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ServerConfig;
use crate::tls::TlsConfig;

/// Most runtime threads `workers` may ask for.
pub const MAX_WORKERS: usize = 1024;

/// How the binary writes its logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?}: text or json")),
        }
    }
}

/// Settings from one source; `None` means "this source does not say".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on for WebSocket clients.
    pub listen: Option<SocketAddr>,
    /// Token secret (HMAC-SHA256).
    pub secret: Option<String>,
    /// Development mode (accepts `dev:<uid>` tokens).
    pub dev: Option<bool>,
    /// Node name, the prefix of device ids.
    pub node: Option<String>,
    /// Seconds a connection has to send `hello`.
    pub handshake_timeout: Option<u64>,
    /// Invites per second each user may send.
    pub invite_rate: Option<u32>,
    /// Invites each user may send in a burst.
    pub invite_burst: Option<u32>,
    /// Invites one connection may have pending.
    pub max_pending_invites: Option<usize>,
    /// Frames queued for one connection before it is dropped as too slow.
    pub outbox_capacity: Option<usize>,
    /// Bytes queued for one connection.
    pub outbox_bytes: Option<usize>,
    /// Bytes queued for all the connections of one user.
    pub user_outbox_bytes: Option<usize>,
    /// Seconds a client may take to read one batch of frames.
    pub write_timeout: Option<u64>,
    /// Seconds a token's `exp` may lie in the future; 0: no maximum.
    pub max_token_lifetime: Option<u64>,
    /// Bad frames one connection may send before it is closed.
    pub max_bad_frames: Option<u32>,
    /// Seconds between pings of an idle connection; 0 disables them.
    pub ping_interval: Option<u64>,
    /// Address of the `/metrics` and `/healthz` HTTP endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds a shutdown waits for connections to close.
    pub shutdown_grace: Option<u64>,
    /// Log format.
    pub log_format: Option<LogFormat>,
    /// Log filter (`tracing_subscriber::EnvFilter` syntax). When no source
    /// sets it, `RUST_LOG` is used, else `info`.
    pub log_level: Option<String>,
    /// PEM file of the TLS certificate chain (with `tls_key`: serve
    /// `wss://`).
    pub tls_cert: Option<PathBuf>,
    /// PEM file of the TLS private key.
    pub tls_key: Option<PathBuf>,
    /// Frames per second each connection may send; 0 disables the limit.
    pub message_rate: Option<u32>,
    /// Frames each connection may send in a burst.
    pub message_burst: Option<u32>,
    /// Connections one uid may have at once; 0: no limit.
    pub max_devices: Option<usize>,
    /// Deepest JSON nesting a frame may have.
    pub max_json_depth: Option<usize>,
    /// Redis URL that several nodes route through.
    pub broker: Option<String>,
    /// URL of the Matrix push gateway (`http://HOST:PORT`).
    pub push_gateway: Option<String>,
    /// Seconds a push registration lasts unless registered again.
    pub push_retention: Option<u64>,
    /// Most push registrations per user.
    pub push_max_registrations: Option<usize>,
    /// Pushes waiting for the gateway before more are dropped.
    pub push_queue: Option<usize>,
    /// Attempts at delivering one push.
    pub push_attempts: Option<u32>,
    /// Runtime threads serving connections; 0: one per CPU; 1: one
    /// single-threaded runtime (no hand-over between threads).
    pub workers: Option<usize>,
}

/// The merged, checked settings.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// What the server runs with.
    pub server: ServerConfig,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter, if a source set one (else `RUST_LOG`, else `info`).
    pub log_level: Option<String>,
    /// The TLS certificate and key files, if TLS is on.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    /// Runtime threads (at least 1; 1 means a single-threaded runtime).
    pub workers: usize,
}

/// The effective configuration as `--print-config` shows it: every key,
/// the secret redacted.
#[derive(Serialize)]
struct Effective<'a> {
    listen: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
    dev: bool,
    node: &'a str,
    handshake_timeout: u64,
    invite_rate: u32,
    invite_burst: u32,
    max_pending_invites: usize,
    outbox_capacity: usize,
    outbox_bytes: usize,
    user_outbox_bytes: usize,
    write_timeout: u64,
    max_token_lifetime: u64,
    max_bad_frames: u32,
    ping_interval: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_listen: Option<String>,
    shutdown_grace: u64,
    log_format: LogFormat,
    log_level: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_cert: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_key: Option<String>,
    message_rate: u32,
    message_burst: u32,
    max_devices: usize,
    max_json_depth: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    broker: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    push_gateway: Option<&'a str>,
    push_retention: u64,
    push_max_registrations: usize,
    push_queue: usize,
    push_attempts: u32,
    workers: usize,
}

impl Settings {
    /// Parses a TOML configuration file's text. Unknown keys are errors.
    pub fn from_toml(text: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Reads and parses the TOML file at `path`.
    pub fn from_file(path: &std::path::Path) -> Result<Settings, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Settings::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Field by field: this source's value if it has one, else `lower`'s.
    pub fn or(self, lower: Settings) -> Settings {
        Settings {
            listen: self.listen.or(lower.listen),
            secret: self.secret.or(lower.secret),
            dev: self.dev.or(lower.dev),
            node: self.node.or(lower.node),
            handshake_timeout: self.handshake_timeout.or(lower.handshake_timeout),
            invite_rate: self.invite_rate.or(lower.invite_rate),
            invite_burst: self.invite_burst.or(lower.invite_burst),
            max_pending_invites: self.max_pending_invites.or(lower.max_pending_invites),
            outbox_capacity: self.outbox_capacity.or(lower.outbox_capacity),
            outbox_bytes: self.outbox_bytes.or(lower.outbox_bytes),
            user_outbox_bytes: self.user_outbox_bytes.or(lower.user_outbox_bytes),
            write_timeout: self.write_timeout.or(lower.write_timeout),
            max_token_lifetime: self.max_token_lifetime.or(lower.max_token_lifetime),
            max_bad_frames: self.max_bad_frames.or(lower.max_bad_frames),
            ping_interval: self.ping_interval.or(lower.ping_interval),
            metrics_listen: self.metrics_listen.or(lower.metrics_listen),
            shutdown_grace: self.shutdown_grace.or(lower.shutdown_grace),
            log_format: self.log_format.or(lower.log_format),
            log_level: self.log_level.or(lower.log_level),
            tls_cert: self.tls_cert.or(lower.tls_cert),
            tls_key: self.tls_key.or(lower.tls_key),
            message_rate: self.message_rate.or(lower.message_rate),
            message_burst: self.message_burst.or(lower.message_burst),
            max_devices: self.max_devices.or(lower.max_devices),
            max_json_depth: self.max_json_depth.or(lower.max_json_depth),
            broker: self.broker.or(lower.broker),
            push_gateway: self.push_gateway.or(lower.push_gateway),
            push_retention: self.push_retention.or(lower.push_retention),
            push_max_registrations: self.push_max_registrations.or(lower.push_max_registrations),
            push_queue: self.push_queue.or(lower.push_queue),
            push_attempts: self.push_attempts.or(lower.push_attempts),
            workers: self.workers.or(lower.workers),
        }
    }

    /// Applies the defaults ([`ServerConfig::default`]) and checks the
    /// result.
    pub fn resolve(self) -> Result<Resolved, String> {
        let d = ServerConfig::default();
        let server = ServerConfig {
            listen: self.listen.unwrap_or(d.listen),
            secret: self.secret.map(String::into_bytes),
            dev: self.dev.unwrap_or(d.dev),
            node: self.node.unwrap_or(d.node),
            handshake_timeout: self
                .handshake_timeout
                .map_or(d.handshake_timeout, Duration::from_secs),
            invite_rate_per_sec: self.invite_rate.unwrap_or(d.invite_rate_per_sec),
            invite_burst: self.invite_burst.unwrap_or(d.invite_burst),
            max_pending_invites: self.max_pending_invites.unwrap_or(d.max_pending_invites),
            outbox_capacity: self.outbox_capacity.unwrap_or(d.outbox_capacity),
            outbox_bytes: self.outbox_bytes.unwrap_or(d.outbox_bytes),
            user_outbox_bytes: self.user_outbox_bytes.unwrap_or(d.user_outbox_bytes),
            write_timeout: self
                .write_timeout
                .map_or(d.write_timeout, Duration::from_secs),
            max_token_lifetime: match self.max_token_lifetime {
                None => d.max_token_lifetime,
                Some(0) => None,
                Some(secs) => Some(Duration::from_secs(secs)),
            },
            max_bad_frames: self.max_bad_frames.unwrap_or(d.max_bad_frames),
            ping_interval: match self.ping_interval {
                None => d.ping_interval,
                Some(0) => None,
                Some(secs) => Some(Duration::from_secs(secs)),
            },
            metrics_listen: self.metrics_listen,
            shutdown_grace: self
                .shutdown_grace
                .map_or(d.shutdown_grace, Duration::from_secs),
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsConfig::from_files(cert, key)?),
                (None, None) => None,
                _ => return Err("tls_cert and tls_key go together: set both or neither".to_owned()),
            },
            message_rate_per_sec: self.message_rate.unwrap_or(d.message_rate_per_sec),
            message_burst: self.message_burst.unwrap_or(d.message_burst),
            max_devices_per_uid: self.max_devices.unwrap_or(d.max_devices_per_uid),
            max_json_depth: self.max_json_depth.unwrap_or(d.max_json_depth),
            broker: self.broker,
            open_relay: false,
            push_gateway: self.push_gateway,
            push_retention: self
                .push_retention
                .map_or(d.push_retention, Duration::from_secs),
            push_max_registrations: self
                .push_max_registrations
                .unwrap_or(d.push_max_registrations),
            push_queue: self.push_queue.unwrap_or(d.push_queue),
            push_attempts: self.push_attempts.unwrap_or(d.push_attempts),
        };
        if server.handshake_timeout.is_zero() {
            return Err("handshake_timeout must be at least 1 second".to_owned());
        }
        if server.max_bad_frames == 0 {
            return Err("max_bad_frames must be at least 1".to_owned());
        }
        server.validate()?;
        if let Some(filter) = &self.log_level {
            tracing_subscriber::EnvFilter::builder()
                .parse(filter)
                .map_err(|e| format!("log_level {filter:?}: {e}"))?;
        }
        let workers = match self.workers {
            None | Some(0) => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Some(n) if n > MAX_WORKERS => {
                return Err(format!("workers must be at most {MAX_WORKERS}, got {n}"))
            }
            Some(n) => n,
        };
        Ok(Resolved {
            server,
            log_format: self.log_format.unwrap_or_default(),
            log_level: self.log_level,
            tls_files: self.tls_cert.zip(self.tls_key),
            workers,
        })
    }
}

impl Resolved {
    /// The effective configuration as TOML, the secret redacted: what
    /// `wd-signal --print-config` prints. Feeding it back as a config file
    /// (with a real secret) gives the same configuration.
    pub fn to_toml(&self) -> String {
        let s = &self.server;
        let effective = Effective {
            listen: s.listen.to_string(),
            secret: s.secret.as_ref().map(|_| "<redacted>"),
            dev: s.dev,
            node: &s.node,
            handshake_timeout: s.handshake_timeout.as_secs(),
            invite_rate: s.invite_rate_per_sec,
            invite_burst: s.invite_burst,
            max_pending_invites: s.max_pending_invites,
            outbox_capacity: s.outbox_capacity,
            outbox_bytes: s.outbox_bytes,
            user_outbox_bytes: s.user_outbox_bytes,
            write_timeout: s.write_timeout.as_secs(),
            max_token_lifetime: s.max_token_lifetime.map_or(0, |d| d.as_secs()),
            max_bad_frames: s.max_bad_frames,
            ping_interval: s.ping_interval.map_or(0, |d| d.as_secs()),
            metrics_listen: s.metrics_listen.map(|a| a.to_string()),
            shutdown_grace: s.shutdown_grace.as_secs(),
            log_format: self.log_format,
            log_level: self.log_level.as_deref().unwrap_or("info"),
            tls_cert: self.tls_files.as_ref().map(|f| f.0.display().to_string()),
            tls_key: self.tls_files.as_ref().map(|f| f.1.display().to_string()),
            message_rate: s.message_rate_per_sec,
            message_burst: s.message_burst,
            max_devices: s.max_devices_per_uid,
            max_json_depth: s.max_json_depth,
            broker: s.broker.as_deref(),
            push_gateway: s.push_gateway.as_deref(),
            push_retention: s.push_retention.as_secs(),
            push_max_registrations: s.push_max_registrations,
            push_queue: s.push_queue,
            push_attempts: s.push_attempts,
            workers: self.workers,
        };
        toml::to_string(&effective).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_env_over_file_over_defaults() {
        let file = Settings::from_toml(
            "listen = \"127.0.0.1:1\"\nnode = \"file\"\ninvite_rate = 7\ndev = true\nping_interval = 0\n",
        )
        .unwrap();
        let env = Settings {
            node: Some("env".into()),
            invite_rate: Some(8),
            ..Settings::default()
        };
        let flags = Settings {
            invite_rate: Some(9),
            ..Settings::default()
        };
        let r = flags.or(env).or(file).resolve().unwrap();
        assert_eq!(r.server.listen, "127.0.0.1:1".parse().unwrap());
        assert_eq!(r.server.node, "env");
        assert_eq!(r.server.invite_rate_per_sec, 9);
        assert!(r.server.dev);
        assert_eq!(r.server.ping_interval, None);
        assert_eq!(r.server.invite_burst, 1000);
        assert_eq!(r.server.shutdown_grace, Duration::from_secs(5));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let e = Settings::from_toml("lsten = \"127.0.0.1:1\"").unwrap_err();
        assert!(e.contains("lsten"), "{e}");
        let e = Settings::from_toml("listen = \"nowhere\"").unwrap_err();
        assert!(e.contains("listen") || e.contains("address"), "{e}");
        let e = Settings::from_toml("log_format = \"xml\"").unwrap_err();
        assert!(e.contains("xml") || e.contains("log_format"), "{e}");
        let e = Settings {
            dev: Some(true),
            log_level: Some("info,=[".into()),
            ..Settings::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.contains("log_level"), "{e}");
        let e = Settings::default().resolve().unwrap_err();
        assert!(e.contains("secret"), "{e}");
        let e = Settings::from_toml("workers = -1").unwrap_err();
        assert!(e.contains("workers") || e.contains("invalid"), "{e}");
        let e = Settings {
            dev: Some(true),
            workers: Some(MAX_WORKERS + 1),
            ..Settings::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.contains("workers"), "{e}");
    }

    #[test]
    fn push_settings_are_read_checked_and_printed() {
        let r = Settings::from_toml(
            "dev = true\npush_gateway = \"http://127.0.0.1:5000\"\npush_retention = 60\n\
             push_max_registrations = 4\npush_queue = 8\npush_attempts = 2\n",
        )
        .unwrap()
        .resolve()
        .unwrap();
        assert_eq!(
            r.server.push_gateway.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(r.server.push_retention, Duration::from_secs(60));
        assert_eq!(
            (
                r.server.push_max_registrations,
                r.server.push_queue,
                r.server.push_attempts
            ),
            (4, 8, 2)
        );
        let text = r.to_toml();
        assert!(
            text.contains("push_gateway = \"http://127.0.0.1:5000\""),
            "{text}"
        );
        assert_eq!(
            Settings::from_toml(&text)
                .unwrap()
                .resolve()
                .unwrap()
                .to_toml(),
            text
        );
        let d = Settings {
            dev: Some(true),
            ..Settings::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(d.server.push_gateway, None);
        assert_eq!(d.server.push_retention, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(d.server.push_max_registrations, 16);
        for (bad, names) in [
            (
                "push_gateway = \"https://push.example.com\"",
                "https is not supported",
            ),
            ("push_gateway = \"nowhere\"", "push_gateway"),
            ("push_max_registrations = 17", "push_max_registrations"),
            ("push_max_registrations = 0", "push_max_registrations"),
            ("push_queue = 0", "push_queue"),
            ("push_attempts = 0", "push_attempts"),
            ("push_retention = 0", "push_retention"),
        ] {
            let e = Settings::from_toml(&format!("dev = true\n{bad}\n"))
                .unwrap()
                .resolve()
                .unwrap_err();
            assert!(e.contains(names), "{bad}: {e}");
        }
    }

    #[test]
    fn workers_default_to_one_per_cpu() {
        let dev = |workers| Settings {
            dev: Some(true),
            workers,
            ..Settings::default()
        };
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(dev(None).resolve().unwrap().workers, cpus);
        assert_eq!(dev(Some(0)).resolve().unwrap().workers, cpus);
        assert_eq!(dev(Some(1)).resolve().unwrap().workers, 1);
        assert_eq!(dev(Some(3)).resolve().unwrap().workers, 3);
    }

    #[test]
    fn printed_config_redacts_the_secret_and_reads_back() {
        let r = Settings {
            secret: Some("hunter2".into()),
            metrics_listen: Some("127.0.0.1:9480".parse().unwrap()),
            ..Settings::default()
        }
        .resolve()
        .unwrap();
        let text = r.to_toml();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("secret = \"<redacted>\""), "{text}");
        let back = Settings::from_toml(&text).unwrap().resolve().unwrap();
        assert_eq!(back.server.metrics_listen, r.server.metrics_listen);
        assert_eq!(back.server.listen, r.server.listen);
        assert_eq!(back.to_toml(), text);
    }
}
