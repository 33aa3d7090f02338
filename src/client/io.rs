//! The connection: opening it (handshake, `hello`, `welcome`) and the I/O
//! thread that reads frames into the engine, writes its frames out and
//! fires its timers.

use std::io::ErrorKind;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};
use wd_protocol::{
    decode_server, encode, ClientMessage, ErrorCode, ServerMessage, MAX_FRAME_LEN, PROTOCOL_VERSION,
};

use super::core::Core;
use super::{ClientConfig, ConnectionState, Error};

/// Why the I/O thread ends when the app closes the client.
const CLIENT_CLOSED: &str = "client closed";

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);

/// An open, authenticated connection, ready for the I/O thread.
pub(crate) struct Connection {
    ws: WebSocket<TcpStream>,
    poll: Poll,
    pub(crate) uid: String,
    pub(crate) device: String,
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_LEN))
        .max_frame_size(Some(MAX_FRAME_LEN))
}

fn network(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Network(format!("{context}: {e}"))
}

/// Opens a connection to `config.url` and authenticates with
/// `config.token`, within `config.connect_timeout`.
/// Returns the connection and the waker that interrupts its I/O thread.
pub(crate) fn connect(config: &ClientConfig) -> Result<(Connection, Waker), Error> {
    log::debug!("connecting to {}", config.url);
    match open(config) {
        Ok((conn, waker)) => {
            log::info!(
                "connected to {} as {} (device {})",
                config.url,
                conn.uid,
                conn.device
            );
            Ok((conn, waker))
        }
        Err(e) => {
            log::warn!("connecting to {} failed: {e}", config.url);
            Err(e)
        }
    }
}

fn open(config: &ClientConfig) -> Result<(Connection, Waker), Error> {
    let deadline = Instant::now() + config.connect_timeout;
    let uri: tungstenite::http::Uri = config
        .url
        .parse()
        .map_err(|e| Error::invalid("url", format!("not a valid URL: {e}")))?;
    let host = uri
        .host()
        .ok_or_else(|| Error::invalid("url", "has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| network("resolving the server", e))?
        .next()
        .ok_or_else(|| Error::Network("the server's name has no address".into()))?;
    let std_stream = std::net::TcpStream::connect_timeout(&addr, config.connect_timeout)
        .map_err(|e| network("connecting", e))?;
    std_stream
        .set_nodelay(true)
        .and_then(|_| std_stream.set_nonblocking(true))
        .map_err(|e| network("configuring the socket", e))?;
    let mut stream = TcpStream::from_std(std_stream);
    let mut poll = Poll::new().map_err(|e| network("creating the poller", e))?;
    poll.registry()
        .register(&mut stream, SOCKET, Interest::READABLE | Interest::WRITABLE)
        .map_err(|e| network("registering the socket", e))?;
    let waker = Waker::new(poll.registry(), WAKER).map_err(|e| network("creating the waker", e))?;
    let mut conn = Connection {
        ws: handshake(&config.url, stream, &mut poll, deadline)?,
        poll,
        uid: String::new(),
        device: String::new(),
    };
    conn.authenticate(&config.token, deadline)?;
    Ok((conn, waker))
}

fn handshake(
    url: &str,
    stream: TcpStream,
    poll: &mut Poll,
    deadline: Instant,
) -> Result<WebSocket<TcpStream>, Error> {
    let mut attempt = tungstenite::client::client_with_config(url, stream, Some(ws_config()));
    loop {
        match attempt {
            Ok((ws, _response)) => {
                log::debug!("WebSocket handshake with {url} done; sending hello");
                return Ok(ws);
            }
            Err(HandshakeError::Interrupted(mid)) => {
                wait(poll, deadline)?;
                attempt = mid.handshake();
            }
            Err(HandshakeError::Failure(e)) => return Err(network("WebSocket handshake", e)),
        }
    }
}

/// Blocks until the socket may be ready or `deadline` passes.
fn wait(poll: &mut Poll, deadline: Instant) -> Result<(), Error> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Error::Network("timed out connecting to the server".into()));
    }
    let mut events = Events::with_capacity(4);
    match poll.poll(&mut events, Some(left)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
        Err(e) => Err(network("polling", e)),
    }
}

impl Connection {
    fn authenticate(&mut self, token: &str, deadline: Instant) -> Result<(), Error> {
        let hello = ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            token: token.to_owned(),
        };
        queue(&mut self.ws, Message::text(encode(&hello))).map_err(Error::Network)?;
        loop {
            match self.ws.flush() {
                Ok(()) => break,
                Err(e) if is_would_block(&e) => self.wait(deadline)?,
                Err(e) => return Err(network("sending hello", e)),
            }
        }
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    return match decode_server(&text) {
                        Ok(ServerMessage::Welcome {
                            protocol,
                            uid,
                            device,
                        }) if protocol == PROTOCOL_VERSION => {
                            log::debug!("welcome: protocol {protocol}, uid {uid}, device {device}");
                            self.uid = uid;
                            self.device = device;
                            Ok(())
                        }
                        Ok(ServerMessage::Error {
                            code: ErrorCode::Unauthorized,
                            message,
                        }) => Err(Error::Unauthorized(message)),
                        Ok(other) => Err(Error::Protocol(format!(
                            "expected welcome, got {}",
                            encode(&other)
                        ))),
                        Err(e) => Err(Error::Protocol(e.to_string())),
                    };
                }
                Ok(Message::Close(frame)) => {
                    return Err(Error::Network(format!(
                        "the server closed the connection: {}",
                        frame.map(|f| f.reason.to_string()).unwrap_or_default()
                    )))
                }
                Ok(_) => {}
                Err(e) if is_would_block(&e) => self.wait(deadline)?,
                Err(e) => return Err(network("waiting for welcome", e)),
            }
        }
    }

    fn wait(&mut self, deadline: Instant) -> Result<(), Error> {
        wait(&mut self.poll, deadline)
    }
}

fn is_would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == ErrorKind::WouldBlock)
}

/// Sends `msg`; a socket that cannot take it now is not an error (the
/// frame waits in tungstenite's buffer for the next flush).
fn queue(ws: &mut WebSocket<TcpStream>, msg: Message) -> Result<(), String> {
    match ws.write(msg) {
        Err(e) if !is_would_block(&e) => Err(format!("writing: {e}")),
        _ => Ok(()),
    }
}

/// The I/O thread: runs until the connection breaks or `closing` is set,
/// then ends every invite and conversation through the engine.
pub(crate) fn run(core: Arc<Core>, mut conn: Connection, closing: Arc<AtomicBool>) {
    let mut events = Events::with_capacity(16);
    let why = loop {
        let timeout = core
            .lock()
            .engine
            .poll_timeout()
            .map(|at| at.saturating_duration_since(Instant::now()));
        if let Err(e) = conn.poll.poll(&mut events, timeout) {
            if e.kind() != ErrorKind::Interrupted {
                break format!("polling: {e}");
            }
        }
        if closing.load(Ordering::Acquire) {
            let _ = conn.ws.close(None);
            let _ = conn.ws.flush();
            break CLIENT_CLOSED.to_owned();
        }
        if let Err(why) = read_all(&core, &mut conn.ws) {
            break why;
        }
        fire_timers(&core);
        if let Err(why) = write_all(&core, &mut conn.ws) {
            break why;
        }
    };
    if why == CLIENT_CLOSED {
        log::info!("disconnected: {why}");
    } else {
        log::warn!("disconnected: {why}");
    }
    core.set_connection_state(ConnectionState::Disconnected);
    let mut st = core.lock();
    st.engine.handle_disconnected(Instant::now());
    st.outbox.clear();
    core.pump(&mut st);
}

/// Reads every frame available now into the engine.
fn read_all(core: &Arc<Core>, ws: &mut WebSocket<TcpStream>) -> Result<(), String> {
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => {
                // A frame the SDK cannot decode is dropped: the server
                // validates what it routes, so this is a version skew or
                // a server bug, and one bad frame must not end the link.
                match decode_server(&text) {
                    Ok(msg) => {
                        let mut st = core.lock();
                        st.engine.handle_message(msg, Instant::now());
                        core.pump(&mut st);
                    }
                    Err(e) => log::warn!(
                        "dropped an undecodable frame from the server ({} bytes): {e}",
                        text.len()
                    ),
                }
            }
            Ok(Message::Close(frame)) => {
                return Err(match frame {
                    Some(f) => format!(
                        "closed by the server (code {}: {})",
                        u16::from(f.code),
                        f.reason
                    ),
                    None => "closed by the server".into(),
                })
            }
            Ok(_) => {}
            Err(e) if is_would_block(&e) => return Ok(()),
            Err(e) => return Err(format!("reading: {e}")),
        }
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

/// Writes every queued frame; what the socket cannot take now stays in
/// tungstenite's buffer and goes out when the socket is writable again.
fn write_all(core: &Arc<Core>, ws: &mut WebSocket<TcpStream>) -> Result<(), String> {
    let frames = std::mem::take(&mut core.lock().outbox);
    for frame in frames {
        queue(ws, Message::text(frame))?;
    }
    match ws.flush() {
        Ok(()) => Ok(()),
        Err(e) if is_would_block(&e) => Ok(()),
        Err(e) => Err(format!("writing: {e}")),
    }
}
