//! The SDK client: one connection to a `wd-signal` server, one I/O thread,
//! and one event thread (or events drained by the host with
//! [`Client::dispatch`]).
//!
//! Threading: every method may be called from any thread, including from
//! inside a listener. Listeners run one at a time, on the event thread (or
//! inside `dispatch`, or on the I/O thread with [`DispatchMode::Io`]),
//! never while the SDK holds a lock. Status getters
//! reflect a change as soon as it happened, before its event is delivered.
//!
//! Inside, a call goes one way — handle, then `core` (the engine behind
//! one lock), then `link` (the socket) — and what the I/O thread reads
//! comes back one way: `link`, `core`, the handles:
//!
//! - `mod.rs`: [`Client`], and what this layer re-exports from below;
//! - `config.rs`: the configuration and invite options, with their JSON;
//! - `error.rs`: [`Error`];
//! - `state.rs`: [`ConnectionState`] and its listener's queue;
//! - `events.rs`: listener slots and the client's event queue;
//! - `handle.rs`: what every handle kind is made of (client, key, status,
//!   state, listener, the data a binding attaches);
//! - `outgoing.rs`, `incoming.rs`, `conversation.rs`: the three handle
//!   kinds and their events;
//! - `core.rs`: the engine, the live handles, event routing;
//! - `link.rs`: the socket, its queued frames, writing them;
//! - `dial.rs`: opening a connection (TCP, TLS, WebSocket, `hello`), and
//!   the reconnection backoff;
//! - `io.rs`: the I/O thread.

mod config;
mod conversation;
mod core;
mod dial;
mod error;
mod events;
mod handle;
mod incoming;
mod io;
mod link;
mod outgoing;
mod state;

pub use config::{ClientConfig, DispatchMode, InviteOptions, MAX_JSON_LEN};
pub use conversation::{Conversation, ConversationEvent};
pub use error::Error;
pub use incoming::{IncomingEvent, IncomingInvite};
pub use outgoing::{OutgoingEvent, OutgoingInvite};
pub use state::ConnectionState;

// What the client's API speaks of, from the layers below: statuses,
// reasons, participants, the API's field names and its limits. Code above
// this layer (the C ABI, the Kotlin glue, apps) takes them from here.
pub use crate::engine::{field, Answer, IncomingStatus, OutgoingStatus, Participant};
pub use wd_protocol::{
    CancelReason, FailureReason, LeaveReason, Mode, RejectReason, DEFAULT_LIFETIME_MS,
    MAX_LIFETIME_MS, MAX_MESSAGE_LEN, MAX_SDP_LEN, MAX_UID_LEN, MAX_USER_DATA_LEN,
};

pub(crate) use events::Listener;
pub(crate) use handle::{Attached, Kind};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use self::core::Core;
use crate::engine::{Engine, EngineConfig};
use events::{in_callback, run_job, JobReceiver};

/// Owns the threads; dropping the last [`Client`] drops it and shuts down.
pub(crate) struct ClientHandle {
    core: Arc<Core>,
    closing: Arc<AtomicBool>,
    io_thread: Mutex<Option<JoinHandle<()>>>,
    /// Disconnected once the link is gone for good and every invite and
    /// conversation has ended.
    link_done: crossbeam_channel::Receiver<()>,
    event_thread: Mutex<Option<(JoinHandle<()>, ThreadId)>>,
    /// Present in manual dispatch mode: the host drains it.
    manual: Option<Mutex<JobReceiver>>,
    /// What a binding keeps with the client.
    attached: Attached,
}

/// A connected client (`wilddog.video` `Client`). Cheap to clone; the
/// connection closes when the last clone is dropped or on
/// [`Client::disconnect`].
#[derive(Clone)]
pub struct Client {
    pub(crate) handle: Arc<ClientHandle>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("uid", &self.uid())
            .field("device", &self.device())
            .field("state", &self.connection_state())
            .finish()
    }
}

impl Client {
    /// Connects to the server and authenticates, blocking until the server
    /// welcomed this client or `connect_timeout` passed.
    ///
    /// Errors: [`Error::InvalidArgument`] for a bad configuration,
    /// [`Error::Unauthorized`] when the token is refused,
    /// [`Error::Network`] when the server cannot be reached,
    /// [`Error::Protocol`] when it answers something unexpected,
    /// [`Error::Tls`] when a `wss://` server's certificate is refused.
    ///
    /// With several `urls`, each is tried once, in order. Once connected,
    /// a lost link is reconnected with backoff unless `reconnect` is off
    /// (see [`Client::set_connection_listener`]).
    pub fn connect(config: ClientConfig) -> Result<Client, Error> {
        config.validate()?;
        let (mut dialer, waker) = dial::Dialer::new(&config)?;
        let conn = dialer.connect_first()?;
        let (jobs, job_rx) = crossbeam_channel::unbounded();
        let mut engine = Engine::new(EngineConfig {
            confirm_timeout: config.confirm_timeout,
        });
        engine.handle_connected(&conn.uid, &conn.device);
        let inline = config.dispatch == DispatchMode::Io;
        let core = Arc::new(Core::new(
            engine,
            waker,
            jobs,
            inline,
            conn.uid.clone(),
            conn.device.clone(),
        ));
        let closing = Arc::new(AtomicBool::new(false));
        let (done_tx, link_done) = crossbeam_channel::bounded(0);
        let (io_jobs, job_rx) = if inline {
            (Some(io::Inline::new(job_rx)), None)
        } else {
            (None, Some(job_rx))
        };
        let io_thread = {
            let (core, closing) = (core.clone(), closing.clone());
            thread::Builder::new()
                .name("wd-io".into())
                .spawn(move || io::run(core, dialer, conn, closing, io_jobs, done_tx))
                .map_err(|e| Error::Network(format!("starting the I/O thread: {e}")))?
        };
        let (event_thread, manual) = match (config.dispatch, job_rx) {
            (DispatchMode::Thread, Some(job_rx)) => {
                let t = thread::Builder::new()
                    .name("wd-events".into())
                    .spawn(move || {
                        while let Ok(job) = job_rx.recv() {
                            if !run_job(job) {
                                break;
                            }
                        }
                    })
                    .map_err(|e| Error::Network(format!("starting the event thread: {e}")))?;
                let id = t.thread().id();
                (Some((t, id)), None)
            }
            (DispatchMode::Manual, Some(job_rx)) => (None, Some(Mutex::new(job_rx))),
            // The I/O thread serves the queue.
            _ => (None, None),
        };
        Ok(Client {
            handle: Arc::new(ClientHandle {
                core,
                closing,
                io_thread: Mutex::new(Some(io_thread)),
                link_done,
                event_thread: Mutex::new(event_thread),
                manual,
                attached: Attached::default(),
            }),
        })
    }

    fn core(&self) -> &Arc<Core> {
        &self.handle.core
    }

    /// This user's id, as the server's token named it.
    pub fn uid(&self) -> &str {
        &self.core().uid
    }

    /// What a binding keeps with this client.
    pub(crate) fn attached(&self) -> &Attached {
        &self.handle.attached
    }

    /// This device's id, given by the server (a new one after every
    /// reconnection).
    pub fn device(&self) -> String {
        self.core().device()
    }

    /// The link to the server.
    pub fn connection_state(&self) -> ConnectionState {
        self.core().connection.get()
    }

    /// Invites `options.participant_id` to a new conversation
    /// (`inviteToConversation`). The returned invite is `pending` and its
    /// `conversation_id` is known at once; its outcome arrives as exactly
    /// one event.
    ///
    /// Errors: [`Error::InvalidArgument`] naming the bad option,
    /// [`Error::NotConnected`] when the connection is gone.
    pub fn invite_to_conversation(&self, options: InviteOptions) -> Result<OutgoingInvite, Error> {
        OutgoingInvite::send(self.core(), options, None)
    }

    /// Sets the listener for incoming invites, replacing (and dropping) the
    /// previous one. Invites that arrived while no listener was set are
    /// delivered to it, in order.
    pub fn set_invite_listener(&self, mut listener: impl FnMut(IncomingInvite) + Send + 'static) {
        let core = self.core();
        if core
            .invites
            .set(Box::new(move |_, invite: &IncomingInvite| {
                listener(invite.clone())
            }))
        {
            core.post(core.clone());
        }
    }

    /// Sets the listener of connection state changes, replacing (and
    /// dropping) the previous one. It hears the current state first, then
    /// every change, in order: `Connected` → `Reconnecting` when the link
    /// is lost (or silent for `dead_after`), `Reconnecting` → `Connected`
    /// when a reconnection succeeded, and `Disconnected` once, last (after
    /// [`Client::disconnect`], when reconnecting is off, or when the server
    /// refuses the token on a reconnection).
    pub fn set_connection_listener(
        &self,
        mut listener: impl FnMut(ConnectionState) + Send + 'static,
    ) {
        self.core()
            .set_connection_listener(Box::new(move |_, state: &ConnectionState| listener(*state)));
    }

    /// Removes the connection listener.
    pub fn clear_connection_listener(&self) {
        self.core().connection.clear_listener();
    }

    /// Removes the invite listener; invites that follow wait for a new one.
    pub fn clear_invite_listener(&self) {
        self.core().invites.clear();
    }

    /// Manual dispatch mode: runs queued listeners on this thread, waiting
    /// up to `timeout` for the first; returns how many queue entries it
    /// handled. [`Error::InvalidState`] in thread or I/O dispatch mode or
    /// from inside a listener.
    pub fn dispatch(&self, timeout: Duration) -> Result<usize, Error> {
        let Some(manual) = &self.handle.manual else {
            return Err(Error::InvalidState {
                status: "thread_dispatch",
            });
        };
        if in_callback() {
            return Err(Error::InvalidState {
                status: "in_callback",
            });
        }
        let rx = manual.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = Instant::now() + timeout;
        let Ok(first) = rx.recv_deadline(deadline) else {
            return Ok(0);
        };
        run_job(first);
        // Having handled one, take only what is already queued.
        let mut handled = 1;
        while let Ok(job) = rx.try_recv() {
            handled += 1;
            run_job(job);
        }
        Ok(handled)
    }

    /// How many invites and conversations this client still tracks (live
    /// ones only; finished ones are forgotten). A diagnostic for leak
    /// checks.
    pub fn live_count(&self) -> usize {
        self.core().lock().engine.live_count()
    }

    /// How many messages about one of this client's invites came from a
    /// user who is neither its caller nor its invitee. They are ignored;
    /// the server refuses to relay them, so a count above 0 means a server
    /// that does not check who takes part in an invite.
    pub fn foreign_messages(&self) -> u64 {
        self.core().lock().engine.foreign_messages()
    }

    /// Whether the client has an engine deadline armed (an invite's
    /// lifetime or an accept's confirmation). With nothing pending there
    /// is none, and the I/O thread wakes only for heartbeats. A
    /// diagnostic for idle checks.
    pub fn has_engine_deadline(&self) -> bool {
        self.core().lock().engine.poll_timeout().is_some()
    }

    /// Closes the connection: every pending invite ends `failed(network)`
    /// (events still delivered), every conversation ends. Idempotent.
    /// Blocks until that is done, except from a listener running on this
    /// client's I/O thread ([`DispatchMode::Io`]), where it returns at once
    /// and the connection closes when the listener returns.
    pub fn disconnect(&self) {
        self.handle.close();
    }
}

impl ClientHandle {
    /// Stops the I/O thread (which ends every invite and conversation) and
    /// waits for it. Safe to call more than once, from any thread.
    fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.core.wake_io();
        if self.core.inline_dispatch() {
            // The I/O thread serves the event queue until the client is
            // dropped; wait only for the link to end (unless this is the
            // I/O thread itself, inside a listener).
            if !self.core.on_io_thread() {
                let _ = self.link_done.recv();
            }
            return;
        }
        let io = self
            .io_thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(io) = io {
            let _ = io.join();
        }
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        self.close();
        // Invites nobody listened for would otherwise keep their client
        // state alive.
        self.core.invites.clear();
        drop(self.core.invites.discard_pending());
        self.core.connection.clear_listener();
        self.core.stop_events();
        if let Some(manual) = &self.manual {
            // Manual dispatch: what the end of the link queued (each
            // pending invite's `failed(network)`, each conversation's end)
            // is delivered here, inside the free, on the freeing thread. A
            // dispatch in progress holds the client, so nothing else drains
            // this queue now.
            if let Ok(rx) = manual.try_lock() {
                while let Ok(job) = rx.try_recv() {
                    if !run_job(job) {
                        break;
                    }
                }
            }
        }
        if self.core.inline_dispatch() {
            let io = self
                .io_thread
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            // From a listener the I/O thread cannot wait for itself; it
            // ends on its own after the listener returns.
            if let Some(io) = io.filter(|_| !self.core.on_io_thread()) {
                let _ = io.join();
            }
            return;
        }
        let event_thread = self
            .event_thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((t, id)) = event_thread {
            // From inside a listener the event thread cannot wait for
            // itself; it stops on its own after the listener returns.
            if thread::current().id() != id {
                let _ = t.join();
            }
        }
    }
}
