//! `wd-signal`, the signaling server of wilddog-video.
//!
//! It authenticates each WebSocket connection with a signed, expiring token
//! (the uid comes from the token, never from a message), routes messages by
//! uid to every connected device of that user, answers an invite to a user
//! with no device online with `offline` at once, tracks the invites each
//! connection has pending so that the invitees hear `caller_gone` when it
//! drops, rate-limits invites per user and caps message sizes. With a push
//! gateway it also wakes devices that hold no connection ([`push`]). Of the rest
//! of an invite's state it knows only who takes part in it (and in each
//! conversation), so that it relays messages about an invite or a
//! conversation only between its parties ([`authz`]); the outcome is the
//! caller's engine's. `docs/PROTOCOL.md` describes the wire protocol.
//!
//! In-process use (tests, examples, benchmarks):
//!
//! ```no_run
//! let server = wd_signal::spawn(wd_signal::ServerConfig::dev()).unwrap();
//! println!("connect to {}", server.url());
//! // ... connect clients with tokens "dev:alice", "dev:bob" ...
//! server.shutdown();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod authz;
pub mod broker;
pub mod config;
mod connection;
mod histogram;
pub mod limits;
pub mod metrics;
pub mod push;
pub mod ratelimit;
pub mod router;
pub mod settings;
pub mod tls;

pub use auth::{mint_token, verify_token, AuthError, Authenticator};
pub use config::ServerConfig;
pub use connection::HARD_FRAME_CAP;
pub use metrics::Metrics;
pub use router::{
    Frame, MemoryRouter, Origin, Outbox, OutboxLimits, Pushed, RouteError, Routed, Router, Then,
};
pub use settings::Settings;
pub use tls::TlsConfig;

use ratelimit::RateLimiter;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

/// State every connection of a server shares.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) auth: Authenticator,
    pub(crate) router: Arc<dyn Router>,
    pub(crate) limiter: RateLimiter,
    pub(crate) next_device: AtomicU64,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) devices: limits::DeviceCounter,
    pub(crate) membership: authz::Membership,
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    /// Pushes to devices without a connection, with a push gateway.
    pub(crate) push: Option<Arc<push::Push>>,
}

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("metrics_addr", &self.metrics_addr())
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Server {
    /// Checks `config` and binds its listening address, routing in memory.
    ///
    /// Fails with [`io::ErrorKind::InvalidInput`] if the configuration is
    /// unusable, e.g. neither a secret nor dev mode.
    /// With [`ServerConfig::broker`] set it routes through that Redis
    /// ([`broker::RedisRouter`]), connecting first.
    pub async fn bind(config: ServerConfig) -> io::Result<Server> {
        let router: Arc<dyn Router> = match &config.broker {
            None => Arc::new(MemoryRouter::new()),
            Some(url) => {
                config
                    .validate()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                Arc::new(broker::RedisRouter::connect(url, &config.node).await?)
            }
        };
        Server::bind_with_router(config, router).await
    }

    /// Like [`bind`](Server::bind), routing through `router`.
    pub async fn bind_with_router(
        config: ServerConfig,
        router: Arc<dyn Router>,
    ) -> io::Result<Server> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = bind_listener(config.listen).await?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(bind_listener(addr).await?),
            None => None,
        };
        let tls = config.tls.as_ref().map(TlsConfig::acceptor).transpose()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let metrics = Arc::new(Metrics::new());
        let push = push::Push::start(&config, router.clone(), metrics.clone())?;
        let shared = Arc::new(Shared {
            auth: Authenticator::new(config.secret.clone(), config.dev)
                .with_max_lifetime(config.max_token_lifetime),
            limiter: RateLimiter::new(config.invite_rate_per_sec, config.invite_burst),
            router,
            next_device: AtomicU64::new(1),
            shutdown: shutdown_rx,
            metrics,
            devices: limits::DeviceCounter::default(),
            membership: authz::Membership::default(),
            tls,
            push,
            config,
        });
        Ok(Server {
            listener,
            metrics_listener,
            shared,
            shutdown,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the `/metrics` and `/healthz` endpoint, if
    /// [`ServerConfig::metrics_listen`] asked for one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The server's metrics (also served on [`metrics_addr`](Server::metrics_addr)).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// Serves forever.
    pub async fn run(self) -> io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then shuts down gracefully:
    /// stops accepting, turns `/healthz` to 503, sends every connection
    /// what is queued for it and a close frame with code 1012 (service
    /// restart: reconnect, to another node if there is one), and waits up
    /// to [`ServerConfig::shutdown_grace`] for the connections to finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let Server {
            listener,
            metrics_listener,
            shared,
            shutdown: shutdown_tx,
        } = self;
        let (metrics_stop, metrics_stop_rx) = watch::channel(false);
        if let Some(l) = metrics_listener {
            tokio::spawn(metrics::serve(l, shared.metrics.clone(), metrics_stop_rx));
        }
        let (alive, mut all_done) = mpsc::channel::<()>(1);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _peer)) => {
                        tokio::spawn(connection::serve(shared.clone(), tcp, alive.clone()));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off
                        // instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(listener);
        shared.metrics.set_shutting_down();
        let grace = shared.config.shutdown_grace;
        tracing::info!(
            connections = shared.metrics.open_connections(),
            grace_ms = grace.as_millis() as u64,
            "shutting down: no longer accepting; telling clients to reconnect (close 1012)"
        );
        let _ = shutdown_tx.send(true);
        drop(alive);
        if tokio::time::timeout(grace, all_done.recv()).await.is_ok() {
            tracing::info!("shutdown complete: every connection closed");
        } else {
            tracing::warn!(
                connections = shared.metrics.open_connections(),
                "shutdown grace expired; dropping the remaining connections"
            );
        }
        let _ = metrics_stop.send(true);
        Ok(())
    }
}

/// A server running on its own thread, as [`spawn`] starts it. Dropping it
/// shuts the server down.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    tls: bool,
}

/// Starts a server on a background thread with its own single-threaded
/// tokio runtime and returns once it listens.
///
/// This is how SDK tests, examples and benchmarks run a server in-process.
pub fn spawn(config: ServerConfig) -> io::Result<ServerHandle> {
    let tls = config.tls.is_some();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("wd-signal".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let server = match Server::bind(config).await {
                    Ok(server) => server,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let ready = server
                    .local_addr()
                    .map(|addr| (addr, server.metrics_addr(), server.metrics()));
                let _ = ready_tx.send(ready);
                let _ = server
                    .run_until(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        })?;
    match ready_rx.recv() {
        Ok(Ok((addr, metrics_addr, metrics))) => Ok(ServerHandle {
            addr,
            metrics_addr,
            metrics,
            stop: Some(stop),
            thread: Some(thread),
            tls,
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(io::Error::other("wd-signal server thread failed to start"))
        }
    }
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket URL of the server, e.g. `ws://127.0.0.1:41234`, or
    /// `wss://127.0.0.1:41234` when [`ServerConfig::tls`] is set (connect
    /// with the host name the certificate names, e.g.
    /// `wss://localhost:41234`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}", self.addr)
    }

    /// The address of the `/metrics` and `/healthz` endpoint, if
    /// [`ServerConfig::metrics_listen`] asked for one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The server's metrics, as `/metrics` would serve them.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Stops the server (connections get a close frame with code 1012,
    /// service restart) and waits for its thread to end.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Binds a TCP listener on `addr`; the error names the address (`cannot
/// listen on 127.0.0.1:8480: Address already in use`).
async fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}
