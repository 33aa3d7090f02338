//! The I/O thread: it connects (at once, or in the background for a client
//! made with `Client::start`), serves the connection (reads frames into
//! the engine, writes what the engine queued, fires the engine's timers,
//! sends heartbeats), reconnects with backoff when the link is lost, and
//! ends every invite and conversation when the link is gone for good. It
//! then waits, idle, until the app wants a connection again (a push was
//! handed to the client) or drops the client.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Instant;

use mio::Events;
use tungstenite::Message;
use wd_protocol::{decode_server, ServerMessage};

use super::control::Control;
use super::core::Core;
use super::dial::{backoff, Connection, Dialer};
use super::error::Error;
use super::events::{run_job, JobReceiver};
use super::link::{is_would_block, write, Socket, CLIENT_CLOSED};
use super::state::ConnectionState;

/// How one connection ended.
enum End {
    /// The app closed the client, or disconnected it.
    Closed,
    /// The link broke (or went silent); why.
    Lost(String),
}

/// Listeners run on the I/O thread (`DispatchMode::Io`): the client's
/// event queue, drained by the I/O thread whenever it is not holding a
/// lock.
pub(crate) struct Inline {
    jobs: JobReceiver,
    /// [`Job::Stop`](super::events::Job::Stop) was seen: the client was
    /// dropped from a listener on this thread while the link was open.
    stop_seen: bool,
}

impl Inline {
    pub(crate) fn new(jobs: JobReceiver) -> Self {
        Inline {
            jobs,
            stop_seen: false,
        }
    }

    /// Runs every job queued now (and those they queue), in order.
    fn drain(&mut self) {
        while !self.stop_seen {
            match self.jobs.try_recv() {
                Ok(job) => self.stop_seen = !run_job(job),
                Err(_) => return,
            }
        }
    }

    /// After the client was dropped: runs jobs until its stop. If it was
    /// dropped from a listener on this thread, runs what the end of the
    /// link queued (as the event thread would have before stopping).
    fn until_stop(&mut self) {
        if self.stop_seen {
            while let Ok(job) = self.jobs.try_recv() {
                if !run_job(job) {
                    return;
                }
            }
            return;
        }
        while let Ok(job) = self.jobs.recv() {
            if !run_job(job) {
                return;
            }
        }
    }
}

/// The I/O thread: serves `first` (a connection the client made before
/// starting it) or connects; when the link breaks, reconnects with backoff
/// (if configured) until the app disconnects or drops the client or the
/// server refuses the token; then ends every invite and conversation and
/// waits until the app wants a connection again. `done` is dropped once
/// the client is dropped and its link is gone (before any inline job
/// queue is served to its end).
pub(crate) fn run(
    core: Arc<Core>,
    mut dialer: Dialer,
    first: Option<Connection>,
    ctl: Arc<Control>,
    mut inline: Option<Inline>,
    done: crossbeam_channel::Sender<()>,
) {
    core.enter_io_thread();
    let mut ready = first;
    // The first attempt of a connection goes at once; reconnections after
    // a lost link wait their backoff first.
    let mut at_once = true;
    loop {
        let conn = match ready.take() {
            Some(conn) => conn,
            None => match connect(&core, &mut dialer, &ctl, inline.as_mut(), at_once) {
                Some(conn) => {
                    connected(&core, &conn);
                    conn
                }
                None => {
                    if !idle(&core, &mut dialer, &ctl, inline.as_mut()) {
                        break;
                    }
                    at_once = true;
                    continue;
                }
            },
        };
        *core.link.socket() = Some(conn.ws);
        let end = serve(&core, &mut dialer, &ctl, inline.as_mut());
        let old = core.link.socket().take();
        core.lock().io_wake = None;
        if let Some(old) = old {
            dialer.release(old);
        }
        let why = match end {
            End::Closed => {
                log::info!("disconnected: {CLIENT_CLOSED}");
                String::new()
            }
            End::Lost(why) => {
                log::warn!("connection lost: {why}");
                why
            }
        };
        if why.is_empty() || !dialer.config.reconnect {
            if !idle(&core, &mut dialer, &ctl, inline.as_mut()) {
                break;
            }
            at_once = true;
            continue;
        }
        core.set_connection_state(ConnectionState::Reconnecting);
        {
            let mut st = core.lock();
            st.engine.handle_link_lost(Instant::now());
            core.link.clear_queued();
            core.pump(&mut st);
        }
        at_once = false;
    }
    drop(done);
    if let Some(inline) = &mut inline {
        inline.until_stop();
    }
}

/// A connection is open: the engine learns who this client is and sends
/// what it holds for the server (registrations, fetches of pushed
/// invites, questions about invites that rang meanwhile).
fn connected(core: &Arc<Core>, conn: &Connection) {
    core.set_identity(&conn.uid, &conn.device);
    {
        let mut st = core.lock();
        st.engine.handle_connected(&conn.uid, &conn.device);
        core.pump(&mut st);
    }
    core.set_connection_state(ConnectionState::Connected);
}

/// The link is gone for good: every invite and conversation ends, and the
/// thread waits until the app wants a connection again (`true`) or drops
/// the client (`false`). Engine timers and inline listeners keep running
/// meanwhile.
fn idle(
    core: &Arc<Core>,
    dialer: &mut Dialer,
    ctl: &Control,
    mut inline: Option<&mut Inline>,
) -> bool {
    finish(core, ctl);
    let mut events = Events::with_capacity(4);
    loop {
        if ctl.closing() {
            return false;
        }
        if ctl.take_wanted() {
            core.set_connection_state(ConnectionState::Connecting);
            return true;
        }
        fire_timers(core);
        if let Some(inline) = inline.as_deref_mut() {
            inline.drain();
        }
        let next = {
            let mut st = core.lock();
            let next = st.engine.poll_timeout();
            st.io_wake = next;
            next
        };
        let timeout = next.map(|t| t.saturating_duration_since(Instant::now()));
        if let Err(e) = dialer.poll.poll(&mut events, timeout) {
            if e.kind() != ErrorKind::Interrupted {
                // Without a poller nothing can wake this thread: it ends
                // (connections wanted later do not come).
                log::warn!("polling: {e}");
                return false;
            }
        }
    }
}

/// The link is gone for good: every invite and conversation ends, and
/// the link is marked down. All of it under the engine's lock, so a push
/// handed to the client meanwhile either makes an invite that ends here,
/// or comes after the link is down and wants a connection again — never
/// an invite left waiting for a connection nobody asked for, whatever the
/// app did on hearing `Disconnected`.
fn finish(core: &Arc<Core>, ctl: &Control) {
    let mut st = core.lock();
    core.set_connection_state(ConnectionState::Disconnected);
    st.engine.handle_disconnected(Instant::now());
    core.link.clear_queued();
    core.pump(&mut st);
    ctl.link_down();
}

/// Connects: the first attempt `at_once` or after its backoff, the next
/// ones with growing backoff, until one works (`Some`); `None` when the
/// app stops it, the token is refused, or attempts run out (one round of
/// the server URLs when `reconnect` is off). Engine timers keep firing
/// meanwhile.
fn connect(
    core: &Arc<Core>,
    dialer: &mut Dialer,
    ctl: &Control,
    mut inline: Option<&mut Inline>,
    at_once: bool,
) -> Option<Connection> {
    let config = &dialer.config;
    let (min, max) = (config.reconnect_min, config.reconnect_max);
    let rounds = if config.reconnect {
        None
    } else {
        Some(config.server_urls().len())
    };
    let mut events = Events::with_capacity(4);
    for attempt in 0u32.. {
        if rounds.is_some_and(|n| attempt as usize >= n) {
            return None;
        }
        let until = if at_once || !dialer.config.reconnect {
            Instant::now()
        } else {
            Instant::now() + backoff(min, max, attempt)
        };
        loop {
            if ctl.stopping() {
                return None;
            }
            fire_timers(core);
            if let Some(inline) = inline.as_deref_mut() {
                inline.drain();
            }
            let now = Instant::now();
            if now >= until {
                break;
            }
            let next = {
                let mut st = core.lock();
                let next = st.engine.poll_timeout().map_or(until, |t| t.min(until));
                st.io_wake = Some(next);
                next
            };
            if let Err(e) = dialer
                .poll
                .poll(&mut events, Some(next.saturating_duration_since(now)))
            {
                if e.kind() != ErrorKind::Interrupted {
                    log::warn!("polling: {e}");
                    return None;
                }
            }
        }
        // While dialing the thread does not watch the engine's deadlines;
        // a call that arms one wakes it (which ends no attempt early).
        core.lock().io_wake = None;
        match dialer.dial(Some(ctl.stop_flag())) {
            Ok(conn) => return Some(conn),
            Err(Error::Unauthorized(why)) => {
                log::warn!("giving up connecting: the token was refused: {why}");
                return None;
            }
            Err(_) if ctl.stopping() => return None,
            Err(_) => {}
        }
    }
    None
}

/// Serves the connection in the client's link until it breaks, goes
/// silent for `dead_after`, or the app disconnects or drops the client.
fn serve(
    core: &Arc<Core>,
    dialer: &mut Dialer,
    ctl: &Control,
    mut inline: Option<&mut Inline>,
) -> End {
    let (heartbeat, dead_after) = (dialer.config.heartbeat, dialer.config.dead_after);
    let mut events = Events::with_capacity(16);
    let mut last_heard = Instant::now();
    let mut next_ping = last_heard + heartbeat;
    let mut inbox = Vec::new();
    // Work first, then sleep: frames read along with `welcome` and the
    // engine's queries after a reconnection must not wait for an event.
    loop {
        if ctl.stopping() {
            if let Some(ws) = core.link.socket().as_mut() {
                core.link.close(ws, &mut dialer.poll);
            }
            return End::Closed;
        }
        let read = match core.link.socket().as_mut() {
            Some(ws) => read_all(core, ws, &mut inbox),
            None => Err("the link is gone".into()),
        };
        match read {
            Ok(true) => last_heard = Instant::now(),
            Ok(false) => {}
            Err(why) => return End::Lost(why),
        }
        fire_timers(core);
        // Listeners run here, with no lock held; what they send goes out
        // from this thread at once (the link is free).
        if let Some(inline) = inline.as_deref_mut() {
            inline.drain();
        }
        let now = Instant::now();
        if now >= last_heard + dead_after {
            return End::Lost(format!(
                "nothing heard from the server for {} ms",
                dead_after.as_millis()
            ));
        }
        {
            let mut socket = core.link.socket();
            let Some(ws) = socket.as_mut() else {
                return End::Lost("the link is gone".into());
            };
            if now >= next_ping {
                if let Err(why) = write(ws, Message::Ping(Default::default())) {
                    return End::Lost(why);
                }
                next_ping = now + heartbeat;
            }
            if let Err(why) = core.link.write_queued(ws) {
                return End::Lost(why);
            }
        }
        let wake = {
            let mut st = core.lock();
            let wake = st
                .engine
                .poll_timeout()
                .map_or(next_ping, |t| t.min(next_ping))
                .min(last_heard + dead_after);
            st.io_wake = Some(wake);
            wake
        };
        if let Err(e) = dialer.poll.poll(
            &mut events,
            Some(wake.saturating_duration_since(Instant::now())),
        ) {
            if e.kind() != ErrorKind::Interrupted {
                return End::Lost(format!("polling: {e}"));
            }
        }
    }
}

/// Most frames read before they are handed to the engine together.
const READ_BATCH: usize = 64;

/// Reads every frame available now and hands them to the engine, under
/// one engine lock per batch; `Ok(true)` if any frame (of any kind)
/// arrived. `inbox` is a reused buffer.
fn read_all(
    core: &Arc<Core>,
    ws: &mut Socket,
    inbox: &mut Vec<ServerMessage>,
) -> Result<bool, String> {
    let mut heard = false;
    let result = loop {
        if inbox.len() >= READ_BATCH {
            handle_all(core, inbox);
        }
        match ws.read() {
            Ok(Message::Text(text)) => {
                heard = true;
                // A frame the SDK cannot decode is dropped: the server
                // validates what it routes, so this is a version skew or
                // a server bug, and one bad frame must not end the link.
                match decode_server(&text) {
                    Ok(msg) => inbox.push(msg),
                    Err(e) => log::warn!(
                        "dropped an undecodable frame from the server ({} bytes): {e}",
                        text.len()
                    ),
                }
            }
            Ok(Message::Close(frame)) => {
                break Err(match frame {
                    Some(f) => format!(
                        "closed by the server (code {}: {})",
                        u16::from(f.code),
                        f.reason
                    ),
                    None => "closed by the server".into(),
                })
            }
            Ok(_) => heard = true,
            Err(e) if is_would_block(&e) => break Ok(heard),
            Err(e) => break Err(format!("reading: {e}")),
        }
    };
    // Frames that arrived before a close or an error still count.
    handle_all(core, inbox);
    result
}

/// Hands the frames in `inbox` to the engine in order, under one lock,
/// pumping after each (so that invite and push events keep their order).
fn handle_all(core: &Arc<Core>, inbox: &mut Vec<ServerMessage>) {
    if inbox.is_empty() {
        return;
    }
    let mut st = core.lock();
    let now = Instant::now();
    for msg in inbox.drain(..) {
        st.engine.handle_message(msg, now);
        core.pump(&mut st);
    }
}

fn fire_timers(core: &Arc<Core>) {
    let mut st = core.lock();
    let now = Instant::now();
    if st.engine.poll_timeout().is_some_and(|at| at <= now) {
        st.engine.handle_timeout(now);
        core.pump(&mut st);
    }
}
