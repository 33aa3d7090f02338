//! The client of the push gateway: a bounded queue of notifications and a
//! few workers that POST them to the gateway's
//! `/_matrix/push/v1/notify` (the Matrix push gateway API, as Sygnal
//! serves it), retrying with backoff.
//!
//! Routing never waits for it: a push is queued with `try_send`; a full
//! queue drops it (counted). So a slow or dead gateway costs at most the
//! queue plus one notification per worker, and shows in `/metrics`.

use crate::metrics::Metrics;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex};

/// Workers sending notifications at once.
pub(crate) const WORKERS: usize = 8;

/// Bound of one attempt: connecting, sending and reading the answer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Wait before the first retry; doubled for each further one, up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Largest gateway answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// The path of the Matrix push gateway API's notify endpoint.
pub const NOTIFY_PATH: &str = "/_matrix/push/v1/notify";

/// Where the gateway listens, parsed from `--push-gateway`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayUrl {
    /// `host:port` to connect to.
    pub authority: String,
    /// The notify endpoint's path.
    pub path: String,
}

impl GatewayUrl {
    /// Parses `http://HOST[:PORT][/PATH]`; the path gets
    /// `/_matrix/push/v1/notify` appended unless it ends with it already.
    /// `https://` is refused: this server does not speak TLS to the
    /// gateway (run the gateway next to it, or a local TLS proxy).
    pub fn parse(url: &str) -> Result<GatewayUrl, String> {
        let bad = |why: &str| format!("invalid push_gateway {url:?}: {why}");
        if url.starts_with("https://") {
            return Err(bad(
                "https is not supported; reach the gateway over http on a private network \
                 or through a local TLS proxy",
            ));
        }
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("expected http://HOST:PORT"));
        }
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        if uri.query().is_some() {
            return Err(bad("no query string allowed"));
        }
        let port = uri.port_u16().unwrap_or(80);
        let base = uri.path().trim_end_matches('/');
        let path = if base.ends_with(NOTIFY_PATH) {
            base.to_owned()
        } else {
            format!("{base}{NOTIFY_PATH}")
        };
        Ok(GatewayUrl {
            authority: format!("{host}:{port}"),
            path,
        })
    }
}

/// One notification for the gateway.
pub(crate) struct Job {
    /// `invite` or `invite_ended`, for the metrics.
    pub(crate) kind: &'static str,
    /// The JSON request body.
    pub(crate) body: Bytes,
    /// The (app id, push key) of each of its devices, to find the
    /// registrations of the keys the gateway rejects.
    pub(crate) keys: Vec<(String, String)>,
}

/// The gateway's answer.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    rejected: Vec<String>,
}

/// Why an attempt failed.
enum Failure {
    /// Worth another attempt (label for the metrics).
    Retry(&'static str),
    /// The gateway refused the notification itself (a 4xx other than
    /// 429): retrying would not help.
    Refused(StatusCode),
}

/// Hands notifications to the workers.
pub(crate) struct Gateway {
    queue: mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
}

impl Gateway {
    /// Starts the workers (on the current tokio runtime). The keys the
    /// gateway rejects are sent to `rejected`, as (app id, push key); when
    /// it is full they are not (and stay registered until rejected again).
    pub(crate) fn start(
        url: GatewayUrl,
        queue: usize,
        attempts: u32,
        metrics: Arc<Metrics>,
        rejected: mpsc::Sender<Vec<(String, String)>>,
    ) -> Gateway {
        let (tx, rx) = mpsc::channel(queue);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WORKERS {
            let worker = Worker {
                url: url.clone(),
                attempts,
                metrics: metrics.clone(),
                rejected: rejected.clone(),
                conn: None,
            };
            tokio::spawn(worker.run(rx.clone()));
        }
        Gateway { queue: tx, metrics }
    }

    /// Queues `job`; a full queue drops it (counted). Never waits.
    pub(crate) fn send(&self, job: Job) {
        match self.queue.try_send(job) {
            Ok(()) => self.metrics.push_queue(1),
            Err(mpsc::error::TrySendError::Full(job)) => {
                tracing::warn!(kind = job.kind, "push queue full: push dropped");
                self.metrics.push_dropped("queue_full");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.metrics.push_dropped("closed"),
        }
    }
}

struct Worker {
    url: GatewayUrl,
    attempts: u32,
    metrics: Arc<Metrics>,
    rejected: mpsc::Sender<Vec<(String, String)>>,
    /// A kept-alive connection to the gateway, if one is open.
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl Worker {
    async fn run(mut self, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
        loop {
            let job = { queue.lock().await.recv().await };
            let Some(job) = job else { return };
            self.metrics.push_queue(-1);
            self.deliver(job).await;
        }
    }

    /// Sends one notification, retrying with backoff up to the attempt
    /// limit.
    async fn deliver(&mut self, job: Job) {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=self.attempts {
            let failure = match tokio::time::timeout(ATTEMPT_TIMEOUT, self.post(&job.body)).await {
                Ok(Ok(rejected)) => {
                    self.metrics.push_sent(job.kind);
                    if !rejected.is_empty() {
                        let keys: Vec<(String, String)> = job
                            .keys
                            .iter()
                            .filter(|(_, key)| rejected.contains(key))
                            .cloned()
                            .collect();
                        if !keys.is_empty() && self.rejected.try_send(keys).is_err() {
                            tracing::warn!(
                                "too many rejected push keys waiting: some stay registered"
                            );
                        }
                    }
                    return;
                }
                Ok(Err(failure)) => failure,
                Err(_) => {
                    self.conn = None;
                    Failure::Retry("timeout")
                }
            };
            match failure {
                Failure::Refused(status) => {
                    tracing::warn!(kind = job.kind, %status, "the push gateway refused a notification");
                    self.metrics.push_failed("status");
                    self.metrics.push_dropped("refused");
                    return;
                }
                Failure::Retry(reason) => {
                    self.metrics.push_failed(reason);
                    if attempt < self.attempts {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
        tracing::warn!(
            kind = job.kind,
            attempts = self.attempts,
            "push gateway unreachable or failing: push dropped"
        );
        self.metrics.push_dropped("attempts");
    }

    /// One attempt: POSTs `body` on the kept-alive connection (opening
    /// one if needed); the push keys the gateway rejected.
    async fn post(&mut self, body: &Bytes) -> Result<Vec<String>, Failure> {
        let mut sender = match self.conn.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.connect().await?,
        };
        if sender.ready().await.is_err() {
            sender = self.connect().await?;
            sender
                .ready()
                .await
                .map_err(|_| Failure::Retry("connect"))?;
        }
        let request = Request::builder()
            .method(Method::POST)
            .uri(&self.url.path)
            .header(hyper::header::HOST, &self.url.authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))
            .map_err(|_| Failure::Refused(StatusCode::BAD_REQUEST))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| Failure::Retry("connect"))?;
        let status = response.status();
        let answer = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|_| Failure::Retry("connect"))?
            .to_bytes();
        self.conn = Some(sender);
        if status.is_success() {
            // An answer without a readable `rejected` list rejects nothing.
            return Ok(serde_json::from_slice::<Answer>(&answer)
                .map(|a| a.rejected)
                .unwrap_or_default());
        }
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Failure::Retry("status"));
        }
        Err(Failure::Refused(status))
    }

    async fn connect(&mut self) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let tcp = TcpStream::connect(&self.url.authority)
            .await
            .map_err(|_| Failure::Retry("connect"))?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|_| Failure::Retry("connect"))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "push gateway connection ended");
            }
        });
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_get_the_notify_path_and_https_is_refused() {
        let u = GatewayUrl::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(u.authority, "127.0.0.1:5000");
        assert_eq!(u.path, NOTIFY_PATH);
        let u = GatewayUrl::parse("http://push.internal/sygnal/").unwrap();
        assert_eq!(u.authority, "push.internal:80");
        assert_eq!(u.path, "/sygnal/_matrix/push/v1/notify");
        let u = GatewayUrl::parse("http://h:1/_matrix/push/v1/notify").unwrap();
        assert_eq!(u.path, NOTIFY_PATH);
        let e = GatewayUrl::parse("https://push.example.com").unwrap_err();
        assert!(e.contains("https is not supported"), "{e}");
        assert!(GatewayUrl::parse("ftp://h").is_err());
        assert!(GatewayUrl::parse("not a url").is_err());
        assert!(GatewayUrl::parse("http://h:1/x?y=1").is_err());
    }
}
