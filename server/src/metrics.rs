//! The server's Prometheus metrics and the small HTTP server that exposes
//! them (`/metrics`) next to a health check (`/healthz`).
//!
//! Every metric is named `wd_signal_*`; `docs/operations.md` lists them.
//! The registry is always kept (counting is a few atomic adds); the HTTP
//! endpoint runs only when [`ServerConfig::metrics_listen`] is set.
//!
//! [`ServerConfig::metrics_listen`]: crate::ServerConfig::metrics_listen

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use wd_protocol::{ErrorCode, Outcome, PeerMessage};

use crate::histogram::AtomicHistogram;

/// Upper bounds (seconds) of the invite → outcome latency buckets: from a
/// machine answering at once to an invite that rang for its full minute.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 60.0,
];

/// `outcome` and `reason` of an invite.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InviteLabels {
    outcome: &'static str,
    reason: &'static str,
}

/// `outcome` of an invite (for the latency histogram).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// `kind` of a routed peer message.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// `code` of an `error` frame.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

/// `limit` that was hit.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: &'static str,
}

/// `type` of a push (`invite`, `invite_ended`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PushTypeLabel {
    r#type: &'static str,
}

/// `reason` a push attempt failed or a push was dropped.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// `result` of a push request from a client.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// `version` of the server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// A limit the server enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// A user sent invites faster than `invite_rate`/`invite_burst`.
    InviteRate,
    /// A connection had `max_pending_invites` invites pending.
    PendingInvites,
    /// A connection's outgoing queue was full of the server's own frames,
    /// or a write to it stalled for `write_timeout` (it does not read);
    /// it was dropped.
    OutboxFull,
    /// A connection sent `max_bad_frames` bad frames; it was closed.
    BadFrames,
    /// A frame over the hard cap (1 MiB); the connection was closed.
    FrameHardCap,
    /// A connection did not complete the handshake in time.
    HandshakeTimeout,
    /// A connection sent nothing for two ping intervals; it was dropped.
    Idle,
    /// A connection sent frames faster than `message_rate`/`message_burst`.
    MessageRate,
    /// A uid already had `max_devices` connections; one more was refused.
    Devices,
    /// A frame nested deeper than `max_json_depth`.
    JsonDepth,
    /// A relay about an invite or conversation the sender (or the
    /// recipient) has no part in was refused.
    Forbidden,
}

impl Limit {
    fn as_str(self) -> &'static str {
        match self {
            Limit::InviteRate => "invite_rate",
            Limit::PendingInvites => "pending_invites",
            Limit::OutboxFull => "outbox_full",
            Limit::BadFrames => "bad_frames",
            Limit::FrameHardCap => "frame_hard_cap",
            Limit::HandshakeTimeout => "handshake_timeout",
            Limit::Idle => "idle",
            Limit::MessageRate => "message_rate",
            Limit::Devices => "devices",
            Limit::JsonDepth => "json_depth",
            Limit::Forbidden => "forbidden",
        }
    }
}

fn error_code(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Malformed => "malformed",
        ErrorCode::TooLarge => "too_large",
        ErrorCode::Unauthorized => "unauthorized",
        ErrorCode::UnsupportedVersion => "unsupported_version",
        ErrorCode::Protocol => "protocol",
        ErrorCode::RateLimited => "rate_limited",
        ErrorCode::Internal => "internal",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::NotFound => "not_found",
        ErrorCode::Unsupported => "unsupported",
    }
}

/// The `kind` label values of routed peer messages; a kind's position
/// here is its [`MessageKind`].
const KINDS: [&str; 9] = [
    "invite", "ringing", "accept", "reject", "outcome", "leave", "message", "joined", "other",
];

/// The `kind` of a routed peer message, as a position in [`KINDS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MessageKind(usize);

impl MessageKind {
    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        KINDS[self.0]
    }
}

/// The `kind` of a peer message (its wire name, or `other`).
pub(crate) fn message_kind(body: &PeerMessage) -> MessageKind {
    MessageKind(match body {
        PeerMessage::Invite { .. } => 0,
        PeerMessage::Ringing { .. } => 1,
        PeerMessage::Accept { .. } => 2,
        PeerMessage::Reject { .. } => 3,
        PeerMessage::Outcome { .. } => 4,
        PeerMessage::Leave { .. } => 5,
        PeerMessage::Message { .. } => 6,
        PeerMessage::Joined { .. } => 7,
        #[allow(unreachable_patterns)]
        _ => 8,
    })
}

/// The `outcome` label values of the latency histogram; an outcome's
/// position here is its slot in [`Metrics`]' resolved histograms.
const OUTCOMES: [&str; 4] = ["accepted", "rejected", "canceled", "failed"];

/// Members of a family for a fixed set of label values, each looked up in
/// the family once and then used directly: a family lookup takes the
/// family's lock (a read lock, but one written by every reader), which
/// every runtime thread would otherwise meet on every event. A member is
/// created on its first use, as with a lookup, so the encoded metrics are
/// the same.
#[derive(Debug)]
struct Resolved<M, const N: usize> {
    slots: [OnceLock<M>; N],
}

impl<M, const N: usize> Default for Resolved<M, N> {
    fn default() -> Self {
        Resolved {
            slots: std::array::from_fn(|_| OnceLock::new()),
        }
    }
}

impl<M, const N: usize> Resolved<M, N> {
    /// The member in slot `i`, made by `lookup` the first time.
    fn get(&self, i: usize, lookup: impl FnOnce() -> M) -> &M {
        self.slots[i].get_or_init(lookup)
    }
}

/// `(outcome, reason)` labels of an outcome body.
pub(crate) fn outcome_labels(outcome: &Outcome) -> (&'static str, &'static str) {
    match outcome {
        Outcome::Accepted { .. } => ("accepted", "none"),
        Outcome::Rejected { reason, .. } => ("rejected", reason.as_str()),
        Outcome::Canceled { reason } => {
            ("canceled", reason.map_or("caller_canceled", |r| r.as_str()))
        }
        Outcome::Failed { reason } => ("failed", reason.as_str()),
    }
}

/// The metrics of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections_open: Gauge,
    connections: Counter,
    invites: Family<InviteLabels, Counter>,
    invite_latency: Family<OutcomeLabel, AtomicHistogram>,
    latency_by_outcome: Resolved<AtomicHistogram, { OUTCOMES.len() }>,
    routed: Family<KindLabel, Counter>,
    routed_by_kind: Resolved<Counter, { KINDS.len() }>,
    undelivered: Family<KindLabel, Counter>,
    undelivered_by_kind: Resolved<Counter, { KINDS.len() }>,
    errors: Family<CodeLabel, Counter>,
    limits: Family<LimitLabel, Counter>,
    push_sent: Family<PushTypeLabel, Counter>,
    push_failed: Family<ReasonLabel, Counter>,
    push_dropped: Family<ReasonLabel, Counter>,
    push_rejected_keys: Counter,
    push_queue: Gauge,
    push_requests: Family<ResultLabel, Counter>,
    shutting_down: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("wd_signal");
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "Authenticated WebSocket connections open now",
            connections_open.clone(),
        );
        let connections = Counter::default();
        registry.register(
            "connections",
            "Connections that completed the hello handshake",
            connections.clone(),
        );
        let invites = Family::<InviteLabels, Counter>::default();
        registry.register(
            "invites",
            "Invite outcomes seen by the server: outcome bodies routed from callers, \
             its own invite_failed answers, and caller_gone notices (failed/caller_gone)",
            invites.clone(),
        );
        let invite_latency =
            Family::<OutcomeLabel, AtomicHistogram>::new_with_constructor(new_latency_histogram);
        registry.register(
            "invite_duration_seconds",
            "Time from routing an invite to routing its outcome, by outcome",
            invite_latency.clone(),
        );
        let routed = Family::<KindLabel, Counter>::default();
        registry.register(
            "messages_routed",
            "Peer messages (send frames) routed, by body kind",
            routed.clone(),
        );
        let undelivered = Family::<KindLabel, Counter>::default();
        registry.register(
            "messages_undelivered",
            "Routed peer messages that reached no device, by body kind",
            undelivered.clone(),
        );
        let errors = Family::<CodeLabel, Counter>::default();
        registry.register(
            "errors",
            "error frames sent to clients, by code",
            errors.clone(),
        );
        let limits = Family::<LimitLabel, Counter>::default();
        registry.register("limits_hit", "Limits enforced, by limit", limits.clone());
        let push_sent = Family::<PushTypeLabel, Counter>::default();
        registry.register(
            "push_sent",
            "Pushes the push gateway accepted, by type (invite, invite_ended)",
            push_sent.clone(),
        );
        let push_failed = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "push_failed",
            "Attempts at delivering a push to the gateway that failed, by reason \
             (connect, timeout, status); a failed attempt is retried",
            push_failed.clone(),
        );
        let push_dropped = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "push_dropped",
            "Pushes given up, by reason (queue_full, attempts, refused, store)",
            push_dropped.clone(),
        );
        let push_rejected_keys = Counter::default();
        registry.register(
            "push_rejected_keys",
            "Push keys the gateway reported dead; their registrations were removed",
            push_rejected_keys.clone(),
        );
        let push_queue = Gauge::default();
        registry.register(
            "push_queue_depth",
            "Pushes waiting for the gateway now",
            push_queue.clone(),
        );
        let push_requests = Family::<ResultLabel, Counter>::default();
        registry.register(
            "push_requests",
            "Push requests from clients, by result (registered, unregistered, \
             fetched, not_found, failed)",
            push_requests.clone(),
        );
        let build = Family::<VersionLabel, Gauge>::default();
        build
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "Version of this wd-signal (always 1)", build);
        Metrics {
            registry,
            connections_open,
            connections,
            invites,
            invite_latency,
            latency_by_outcome: Resolved::default(),
            routed,
            routed_by_kind: Resolved::default(),
            undelivered,
            undelivered_by_kind: Resolved::default(),
            errors,
            limits,
            push_sent,
            push_failed,
            push_dropped,
            push_rejected_keys,
            push_queue,
            push_requests,
            shutting_down: AtomicBool::new(false),
        }
    }

    /// The metrics in the Prometheus/OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
            let _ = writeln!(out, "# encoding the metrics failed");
        }
        out
    }

    pub(crate) fn connection_opened(&self) {
        self.connections.inc();
        self.connections_open.inc();
    }

    pub(crate) fn connection_closed(&self) {
        self.connections_open.dec();
    }

    /// Connections open now.
    pub fn open_connections(&self) -> i64 {
        self.connections_open.get()
    }

    pub(crate) fn invite_outcome(&self, outcome: &'static str, reason: &'static str) {
        self.invites
            .get_or_create(&InviteLabels { outcome, reason })
            .inc();
    }

    pub(crate) fn invite_latency(&self, outcome: &'static str, elapsed: Duration) {
        let lookup = || {
            self.invite_latency
                .get_or_create(&OutcomeLabel { outcome })
                .clone()
        };
        let seconds = elapsed.as_secs_f64();
        match OUTCOMES.iter().position(|o| *o == outcome) {
            Some(i) => self.latency_by_outcome.get(i, lookup).observe(seconds),
            None => lookup().observe(seconds),
        }
    }

    pub(crate) fn routed(&self, kind: MessageKind, delivered: usize) {
        let label = KindLabel {
            kind: kind.as_str(),
        };
        self.routed_by_kind
            .get(kind.0, || self.routed.get_or_create(&label).clone())
            .inc();
        if delivered == 0 {
            self.undelivered_by_kind
                .get(kind.0, || self.undelivered.get_or_create(&label).clone())
                .inc();
        }
    }

    pub(crate) fn error(&self, code: ErrorCode) {
        self.errors
            .get_or_create(&CodeLabel {
                code: error_code(code),
            })
            .inc();
    }

    pub(crate) fn limit(&self, limit: Limit) {
        self.limits
            .get_or_create(&LimitLabel {
                limit: limit.as_str(),
            })
            .inc();
    }

    pub(crate) fn push_sent(&self, r#type: &'static str) {
        self.push_sent
            .get_or_create(&PushTypeLabel { r#type })
            .inc();
    }

    pub(crate) fn push_failed(&self, reason: &'static str) {
        self.push_failed
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub(crate) fn push_dropped(&self, reason: &'static str) {
        self.push_dropped
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub(crate) fn push_rejected_keys(&self, n: u64) {
        self.push_rejected_keys.inc_by(n);
    }

    pub(crate) fn push_queue(&self, delta: i64) {
        self.push_queue.inc_by(delta);
    }

    pub(crate) fn push_request(&self, result: &'static str) {
        self.push_requests
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    pub(crate) fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }
}

fn new_latency_histogram() -> AtomicHistogram {
    AtomicHistogram::new(LATENCY_BUCKETS)
}

type Body = Full<Bytes>;

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn handle(metrics: &Metrics, method: &Method, path: &str) -> Response<Body> {
    const TEXT: &str = "text/plain; charset=utf-8";
    if method != Method::GET && method != Method::HEAD {
        return respond(StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET only\n");
    }
    match path {
        "/metrics" => respond(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        "/healthz" if metrics.is_shutting_down() => {
            respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, "shutting down\n")
        }
        "/healthz" => respond(StatusCode::OK, TEXT, "ok\n"),
        _ => respond(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found; try /metrics or /healthz\n",
        ),
    }
}

/// Completes once `stop` is (or was) set to true.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Serves `/metrics` and `/healthz` on `listener` until `stop` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let tcp = tokio::select! {
            _ = stopped(&mut stop) => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let metrics = metrics.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let response = handle(&metrics, req.method(), req.uri().path());
                async move { Ok::<_, Infallible>(response) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(tcp), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "metrics endpoint: connection error");
                    }
                }
                _ = stopped(&mut stop) => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthz_turns_503_when_shutting_down() {
        let m = Metrics::new();
        assert_eq!(
            handle(&m, &Method::GET, "/healthz").status(),
            StatusCode::OK
        );
        m.set_shutting_down();
        assert_eq!(
            handle(&m, &Method::GET, "/healthz").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            handle(&m, &Method::GET, "/metrics").status(),
            StatusCode::OK
        );
        assert_eq!(
            handle(&m, &Method::POST, "/metrics").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            handle(&m, &Method::GET, "/").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn every_family_is_exposed_with_help() {
        let m = Metrics::new();
        m.connection_opened();
        m.invite_outcome("failed", "offline");
        m.invite_latency("accepted", Duration::from_millis(30));
        m.routed(MessageKind(0), 0);
        m.error(ErrorCode::Malformed);
        m.limit(Limit::OutboxFull);
        m.push_sent("invite");
        m.push_failed("connect");
        m.push_dropped("queue_full");
        m.push_rejected_keys(2);
        m.push_queue(3);
        m.push_request("fetched");
        let text = m.encode();
        for line in [
            "wd_signal_connections_open 1",
            "wd_signal_connections_total 1",
            "wd_signal_invites_total{outcome=\"failed\",reason=\"offline\"} 1",
            "wd_signal_invite_duration_seconds_count{outcome=\"accepted\"} 1",
            "wd_signal_messages_routed_total{kind=\"invite\"} 1",
            "wd_signal_messages_undelivered_total{kind=\"invite\"} 1",
            "wd_signal_errors_total{code=\"malformed\"} 1",
            "wd_signal_limits_hit_total{limit=\"outbox_full\"} 1",
            "wd_signal_push_sent_total{type=\"invite\"} 1",
            "wd_signal_push_failed_total{reason=\"connect\"} 1",
            "wd_signal_push_dropped_total{reason=\"queue_full\"} 1",
            "wd_signal_push_rejected_keys_total 2",
            "wd_signal_push_queue_depth 3",
            "wd_signal_push_requests_total{result=\"fetched\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(text.contains("# HELP wd_signal_invites "), "{text}");
    }
}
