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
//! - `push.rs`: push registrations, their events, and decoding a push;
//! - `core.rs`: the engine, the live handles, event routing;
//! - `link.rs`: the socket, its queued frames, writing them;
//! - `dial.rs`: opening a connection (TCP, TLS, WebSocket, `hello`), and
//!   the reconnection backoff;
//! - `io.rs`: the I/O thread;
//! - `control.rs`: how the app steers it (disconnect, connect again, stop).

mod config;
mod control;
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
mod push;
mod state;

pub use config::{ClientConfig, DispatchMode, InviteOptions, MAX_JSON_LEN};
pub use conversation::{Conversation, ConversationEvent};
pub use error::Error;
pub use incoming::{IncomingEvent, IncomingInvite};
pub use outgoing::{OutgoingEvent, OutgoingInvite};
pub use push::{PushEvent, PushProvider};
pub use state::ConnectionState;

// What the client's API speaks of, from the layers below: statuses,
// reasons, participants, the API's field names and its limits. Code above
// this layer (the C ABI, the Kotlin glue, apps) takes them from here.
pub use crate::engine::{
    field, Answer, IncomingStatus, OutgoingStatus, Participant, PushRegistration,
};
pub use wd_protocol::{
    CancelReason, FailureReason, LeaveReason, Mode, RejectReason, DEFAULT_LIFETIME_MS,
    MAX_LIFETIME_MS, MAX_MESSAGE_LEN, MAX_SDP_LEN, MAX_UID_LEN, MAX_USER_DATA_LEN,
};

pub(crate) use events::Listener;
pub(crate) use handle::{Attached, Kind};

use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use self::core::Core;
use crate::engine::{Engine, EngineConfig};
use events::{in_callback, run_job, JobReceiver};

/// Owns the threads; dropping the last [`Client`] drops it and shuts down.
pub(crate) struct ClientHandle {
    core: Arc<Core>,
    /// How the app steers the I/O thread (disconnect, connect again, stop).
    ctl: Arc<control::Control>,
    io_thread: Mutex<Option<JoinHandle<()>>>,
    /// Disconnected once the client is closing, its link is gone and every
    /// invite and conversation has ended.
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
        Client::run(config, dialer, waker, Some(conn))
    }

    /// Makes a client that connects in the background, and returns at once:
    /// what an app woken by a push uses, so that it can hand the push to
    /// [`Client::handle_push`] before any network. The connection
    /// listener reports how connecting goes (`Connecting`, `Connected`, …);
    /// an unreachable server is retried with backoff (once per server URL
    /// when `reconnect` is off), and a refused token, or running out of
    /// attempts, ends `Disconnected`. [`Client::uid`] is empty until the
    /// first connection.
    ///
    /// Errors: [`Error::InvalidArgument`] for a bad configuration (and
    /// [`Error::Network`] if the client's threads cannot be started).
    pub fn start(config: ClientConfig) -> Result<Client, Error> {
        config.validate()?;
        let (dialer, waker) = dial::Dialer::new(&config)?;
        Client::run(config, dialer, waker, None)
    }

    /// Builds the client around `conn` (a connection made already), or
    /// around none (the I/O thread connects), and starts its threads.
    fn run(
        config: ClientConfig,
        dialer: dial::Dialer,
        waker: mio::Waker,
        conn: Option<dial::Connection>,
    ) -> Result<Client, Error> {
        let (jobs, job_rx) = crossbeam_channel::unbounded();
        let engine = Engine::new(EngineConfig {
            confirm_timeout: config.confirm_timeout,
        });
        let inline = config.dispatch == DispatchMode::Io;
        let state = if conn.is_some() {
            ConnectionState::Connected
        } else {
            ConnectionState::Connecting
        };
        let core = Arc::new(Core::new(engine, waker, jobs, inline, state));
        if let Some(conn) = &conn {
            core.set_identity(&conn.uid, &conn.device);
            let mut st = core.lock();
            st.engine.handle_connected(&conn.uid, &conn.device);
            // What the engine sends on a connection goes out first.
            core.pump(&mut st);
        }
        let ctl = Arc::new(control::Control::default());
        let (done_tx, link_done) = crossbeam_channel::bounded(0);
        let (io_jobs, job_rx) = if inline {
            (Some(io::Inline::new(job_rx)), None)
        } else {
            (None, Some(job_rx))
        };
        let io_thread = {
            let (core, ctl) = (core.clone(), ctl.clone());
            thread::Builder::new()
                .name("wd-io".into())
                .spawn(move || io::run(core, dialer, conn, ctl, io_jobs, done_tx))
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
                ctl,
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

    /// This user's id, as the server's token named it; empty until the
    /// first connection of a client made with [`Client::start`].
    pub fn uid(&self) -> &str {
        self.core().uid()
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
    /// when a reconnection succeeded, and `Disconnected` last (after
    /// [`Client::disconnect`], when reconnecting is off, or when the server
    /// refuses the token on a reconnection). A client made with
    /// [`Client::start`] goes `Connecting` → `Connected` first (or
    /// `Connecting` → `Disconnected` when it gives up); after
    /// `Disconnected`, a push handed to [`Client::handle_push`] makes it go
    /// `Connecting` again.
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
    /// (events still delivered), every conversation ends, and the state
    /// is `Disconnected`. Idempotent. The client stays usable: a push
    /// handed to it ([`Client::handle_push`]) connects it again. Blocks
    /// until that is done, except from a listener running on this
    /// client's I/O thread ([`DispatchMode::Io`]), where it returns at once
    /// and the connection closes when the listener returns.
    pub fn disconnect(&self) {
        let ctl = &self.handle.ctl;
        if ctl.disconnect() {
            self.core().wake_io();
            if !self.core().on_io_thread() {
                ctl.wait_down();
            }
        }
    }

    /// Turns a push the app received into the incoming invite it stands
    /// for, without waiting for the network, so that the app can report
    /// the call to the system at once (CallKit, ConnectionService), and
    /// makes the client connect if it is not connected (a client that was
    /// [`ConnectionState::Disconnected`] is `Connecting` when this returns).
    ///
    /// `payload` is the push as JSON text: the payload itself, or any
    /// envelope a push gateway and platform put around it (a Matrix push
    /// notification, an APNs payload or FCM data map carrying it as
    /// `wd_push`). It returns:
    /// - for an `invite` push: the invite, `pending` (or as the app
    ///   answered it), its caller, mode and user data readable (the user
    ///   data when it fitted in the push). Once connected, the client
    ///   fetches the invite's state: still ringing, its listener hears
    ///   [`IncomingEvent::Confirmed`] (the offer and the full user data are
    ///   then readable); already over, the end it would have had
    ///   (`Canceled` with `CallerCanceled` or `AnsweredElsewhere`, `Failed`
    ///   with `Timeout` or `CallerGone`), once. An answer given before is
    ///   carried out then.
    /// - for an `invite_ended` push about an invite ringing here: that
    ///   invite, ended when this returns (its listener hears it once);
    /// - for a push about an invite that is over here, or that this client
    ///   never held: a handle already ended as the push says, whose
    ///   listener hears it once (a missed call).
    ///
    /// The same invite always gets the same handle while the app holds one
    /// (an invite delivered over the connection too: one handle, one set of
    /// events). The invite listener never hears of an invite a push made.
    ///
    /// Errors: [`Error::InvalidArgument`] for a payload that is not one of
    /// ours, malformed, of another version, too large, or that names an
    /// invite this client holds from another caller (the field is named:
    /// `payload`, `type`, `wd`, `invite_id`, …); nothing changes then.
    pub fn handle_push(&self, payload: &str) -> Result<IncomingInvite, Error> {
        let payload = push::decode_payload(payload)?;
        let core = self.core();
        let invite = core.handle_push(payload)?;
        // CONNECTING before this returns: a state read right after it, or a
        // listener set right after it, already sees the client waking.
        if (self.handle.ctl)
            .want_connection(|| core.set_connection_state(ConnectionState::Connecting))
        {
            core.wake_io();
        }
        Ok(invite)
    }

    /// Registers this device's push key with the server (the server then
    /// pushes invites to it while this device holds no connection). It may
    /// be called before the client is connected: the client keeps it (16
    /// at most; one more drops the least recently registered) and sends it
    /// on every connection. The answer comes to the push listener:
    /// [`PushEvent::Registered`] or [`PushEvent::RegistrationFailed`].
    ///
    /// Errors: [`Error::InvalidArgument`] naming a field over its limit
    /// (`appId` 128 bytes, `pushKey` 512 bytes, `data` 2 KiB of JSON) or
    /// empty; nothing changes then.
    pub fn register_push(&self, registration: PushRegistration) -> Result<(), Error> {
        self.core()
            .with_engine(|st, _| st.engine.register_push(registration))
            .map_err(Error::from)
    }

    /// Removes a push registration of this user (made by this client or
    /// another, such as an old token of an earlier run); sent now, or on
    /// the next connection, until the server confirms it with
    /// [`PushEvent::Unregistered`].
    ///
    /// Errors: [`Error::InvalidArgument`] naming a field (`appId`,
    /// `pushKey`) that is empty or over its limit.
    pub fn unregister_push(&self, app_id: &str, push_key: &str) -> Result<(), Error> {
        self.core()
            .with_engine(|st, _| st.engine.unregister_push(app_id, push_key))
            .map_err(Error::from)
    }

    /// Sets the listener of push registration events, replacing (and
    /// dropping) the previous one. Events that came while no listener was
    /// set are delivered to it, in order. It runs like every listener of
    /// this client (event thread, `dispatch`, or the I/O thread).
    pub fn set_push_listener(&self, mut listener: impl FnMut(&PushEvent) + Send + 'static) {
        let pushes = &self.core().pushes;
        if pushes.set(Box::new(move |_, event: &PushEvent| listener(event))) {
            self.core().post(pushes.clone());
        }
    }

    /// Removes the push listener; events that follow wait for a new one.
    pub fn clear_push_listener(&self) {
        self.core().pushes.clear();
    }
}

impl ClientHandle {
    /// Stops the I/O thread (which ends every invite and conversation) and
    /// waits for it. Safe to call more than once, from any thread.
    fn close(&self) {
        self.ctl.close();
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
        self.core.pushes.clear();
        self.core.pushes.discard();
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
