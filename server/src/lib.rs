//! `wd-signal`, the signaling server of wilddog-video.
//!
//! It authenticates each WebSocket connection with a signed, expiring token
//! (the uid comes from the token, never from a message), routes messages by
//! uid to every connected device of that user, answers an invite to a user
//! with no device online with `offline` at once, tracks the invites each
//! connection has pending so that the invitees hear `caller_gone` when it
//! drops, rate-limits invites per user and caps message sizes. It holds no
//! other invite state. `docs/PROTOCOL.md` describes the wire protocol.
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
pub mod config;
mod connection;
pub mod ratelimit;
pub mod router;

pub use auth::{mint_token, verify_token, AuthError, Authenticator};
pub use config::ServerConfig;
pub use connection::HARD_FRAME_CAP;
pub use router::{Frame, MemoryRouter, Outbox, Router};

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

/// How long a shutting-down server waits for its connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// State every connection of a server shares.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) auth: Authenticator,
    pub(crate) router: Arc<dyn Router>,
    pub(crate) limiter: RateLimiter,
    pub(crate) next_device: AtomicU64,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Server {
    /// Checks `config` and binds its listening address, routing in memory.
    ///
    /// Fails with [`io::ErrorKind::InvalidInput`] if the configuration is
    /// unusable, e.g. neither a secret nor dev mode.
    pub async fn bind(config: ServerConfig) -> io::Result<Server> {
        Server::bind_with_router(config, Arc::new(MemoryRouter::new())).await
    }

    /// Like [`bind`](Server::bind), routing through `router`.
    pub async fn bind_with_router(
        config: ServerConfig,
        router: Arc<dyn Router>,
    ) -> io::Result<Server> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(config.listen).await?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            auth: Authenticator::new(config.secret.clone(), config.dev),
            limiter: RateLimiter::new(config.invite_rate_per_sec, config.invite_burst),
            router,
            next_device: AtomicU64::new(1),
            shutdown: shutdown_rx,
            config,
        });
        Ok(Server {
            listener,
            shared,
            shutdown,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves forever.
    pub async fn run(self) -> io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then stops accepting, sends every
    /// connection a close frame (1001, going away) and waits up to a second
    /// for them to finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let Server {
            listener,
            shared,
            shutdown: shutdown_tx,
        } = self;
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
                        eprintln!("wd-signal: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(listener);
        let _ = shutdown_tx.send(true);
        drop(alive);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, all_done.recv()).await;
        Ok(())
    }
}

/// A server running on its own thread, as [`spawn`] starts it. Dropping it
/// shuts the server down.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Starts a server on a background thread with its own single-threaded
/// tokio runtime and returns once it listens.
///
/// This is how SDK tests, examples and benchmarks run a server in-process.
pub fn spawn(config: ServerConfig) -> io::Result<ServerHandle> {
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
                let _ = ready_tx.send(server.local_addr());
                let _ = server
                    .run_until(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        })?;
    match ready_rx.recv() {
        Ok(Ok(addr)) => Ok(ServerHandle {
            addr,
            stop: Some(stop),
            thread: Some(thread),
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

    /// The WebSocket URL of the server, e.g. `ws://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Stops the server (connections get a going-away close frame) and
    /// waits for its thread to end.
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
