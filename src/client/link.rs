//! The WebSocket under a client: its byte stream (plain TCP, or TLS over
//! TCP), the frames queued for it, and writing them out in order.
//!
//! A [`Link`] knows nothing of the engine: it takes encoded frames and
//! writes them in the order they were queued, from whichever thread holds
//! the socket (the I/O thread, or a calling thread that got it without
//! waiting).

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Poll};
use tungstenite::{Message, WebSocket};

use super::error::Error;

/// Why the I/O thread ends when the app closes the client.
pub(crate) const CLIENT_CLOSED: &str = "client closed";

/// How long a closing client waits for the server to take its last frames
/// and answer its close.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The byte stream under the WebSocket: plain TCP or TLS over TCP, both
/// nonblocking (a read or write that cannot proceed is `WouldBlock`).
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// A WebSocket over a [`Stream`].
pub(crate) type Socket = WebSocket<Stream>;

impl Stream {
    /// The TCP socket (to register with, or deregister from, a poller).
    pub(crate) fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &mut s.sock,
        }
    }

    /// Whether a write can go straight to the socket: always for plain
    /// TCP, once the handshake is over for TLS (before, a write could
    /// have to read).
    fn writes_alone(&self) -> bool {
        match self {
            Stream::Plain(_) => true,
            Stream::Tls(s) => !s.conn.is_handshaking(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => {
                s.flush()?;
                // Push out what rustls still holds.
                while s.conn.wants_write() {
                    s.conn.write_tls(&mut s.sock)?;
                }
                Ok(())
            }
        }
    }
}

/// A client's socket (while a connection is open) and the frames waiting
/// to be written to it.
///
/// Lock order: the socket, then the engine (the I/O thread hands what it
/// reads to the engine while it holds the socket), then the queue (the
/// engine queues frames under its lock). A calling thread never waits for
/// the socket: it only tries it ([`Link::send_now`]).
pub(crate) struct Link {
    socket: Mutex<Option<Socket>>,
    queued: Mutex<VecDeque<String>>,
}

impl Link {
    /// A link with no socket yet and nothing queued.
    pub(crate) fn new() -> Self {
        Link {
            socket: Mutex::new(None),
            queued: Mutex::new(VecDeque::new()),
        }
    }

    fn queue_lock(&self) -> MutexGuard<'_, VecDeque<String>> {
        self.queued.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an encoded frame behind those already queued.
    pub(crate) fn queue(&self, frame: String) {
        self.queue_lock().push_back(frame);
    }

    /// Whether frames wait to be written.
    pub(crate) fn has_queued(&self) -> bool {
        !self.queue_lock().is_empty()
    }

    /// Drops every queued frame (the connection they were for is gone).
    pub(crate) fn clear_queued(&self) {
        self.queue_lock().clear();
    }

    /// Locks the socket slot (the I/O thread only: callers use
    /// [`Link::send_now`]).
    pub(crate) fn socket(&self) -> MutexGuard<'_, Option<Socket>> {
        self.socket.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the queued frames on this thread if the socket can be had
    /// without waiting; `true` when everything queued went out (nothing
    /// is left for the I/O thread).
    pub(crate) fn send_now(&self) -> bool {
        let mut socket = match self.socket.try_lock() {
            Ok(socket) => socket,
            // Held by the I/O thread or another caller: the I/O thread
            // writes what is queued once woken.
            Err(TryLockError::WouldBlock) | Err(TryLockError::Poisoned(_)) => return false,
        };
        match socket.as_mut() {
            Some(ws) if ws.get_ref().writes_alone() => self.write_queued(ws) == Ok(true),
            _ => false,
        }
    }

    /// Writes every queued frame, in order, and flushes; `Ok(true)` when
    /// all of it reached the socket, `Ok(false)` when some waits in
    /// tungstenite's buffer for the socket to be writable again (the I/O
    /// thread then finishes it). The caller holds the socket, so frames
    /// from different threads cannot interleave.
    pub(crate) fn write_queued(&self, ws: &mut Socket) -> Result<bool, String> {
        let frames = std::mem::take(&mut *self.queue_lock());
        for frame in frames {
            write(ws, Message::text(frame))?;
        }
        match ws.flush() {
            Ok(()) => Ok(true),
            Err(e) if is_would_block(&e) => Ok(false),
            Err(e) => Err(format!("writing: {e}")),
        }
    }

    /// Closes `ws` as the app asked. First every frame already queued (a
    /// `cancel`'s outcome or a `reject` made just before the free must
    /// reach the server, or the server would tell the peer `caller_gone`
    /// while this side ended otherwise), then the close frame; then it
    /// reads until the server's own close (what else arrives is dropped:
    /// the engine is done with this link) or the end of the stream.
    /// Dropping the socket earlier could make the kernel answer a late
    /// server write with a reset, which discards frames the server had
    /// received but not read yet. Waits at most [`CLOSE_GRACE`].
    pub(crate) fn close(&self, ws: &mut Socket, poll: &mut Poll) {
        let _ = self.write_queued(ws);
        let _ = ws.close(None);
        let deadline = Instant::now() + CLOSE_GRACE;
        loop {
            let step = match ws.flush() {
                Ok(()) => ws.read().map(|_| ()),
                Err(e) => Err(e),
            };
            match step {
                Ok(()) => {}
                Err(e) if is_would_block(&e) => {
                    if wait(poll, deadline, None).is_err() {
                        return;
                    }
                }
                // The close handshake is done, or the link is gone.
                Err(_) => return,
            }
        }
    }
}

/// Whether `e` only says the socket cannot proceed now.
pub(crate) fn is_would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == ErrorKind::WouldBlock)
}

/// Writes `msg`; a socket that cannot take it now is not an error (the
/// frame waits in tungstenite's buffer for the next flush).
pub(crate) fn write(ws: &mut Socket, msg: Message) -> Result<(), String> {
    match ws.write(msg) {
        Err(e) if !is_would_block(&e) => Err(format!("writing: {e}")),
        _ => Ok(()),
    }
}

/// Blocks until the socket registered with `poll` may be ready or
/// `deadline` passes (an error then); gives up at once when `closing` is
/// set.
pub(crate) fn wait(
    poll: &mut Poll,
    deadline: Instant,
    closing: Option<&AtomicBool>,
) -> Result<(), Error> {
    if closing.is_some_and(|c| c.load(Ordering::Acquire)) {
        return Err(Error::Network(CLIENT_CLOSED.into()));
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Error::Network("timed out connecting to the server".into()));
    }
    let mut events = Events::with_capacity(4);
    match poll.poll(&mut events, Some(left)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
        Err(e) => Err(Error::Network(format!("polling: {e}"))),
    }
}
