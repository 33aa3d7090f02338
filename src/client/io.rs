//! The connection: opening it (TCP, TLS for `wss://`, WebSocket handshake,
//! `hello`, `welcome`), the I/O thread that reads frames into the engine,
//! writes its frames out, fires its timers and sends heartbeats, and
//! reconnecting with backoff when the link is lost.

use std::io::{ErrorKind, Read, Write};
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use rustls::pki_types::ServerName;
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};
use wd_protocol::{
    decode_server, encode, ClientMessage, ErrorCode, ServerMessage, MAX_FRAME_LEN, PROTOCOL_VERSION,
};

use super::core::Core;
use super::events::{run_job, JobReceiver};
use super::{ClientConfig, ConnectionState, Error};

/// Why the I/O thread ends when the app closes the client.
const CLIENT_CLOSED: &str = "client closed";

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);

/// The byte stream under the WebSocket: plain TCP or TLS over TCP, both
/// nonblocking (a read or write that cannot proceed is `WouldBlock`).
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &mut s.sock,
        }
    }

    /// Whether a write can go straight to the socket: always for plain
    /// TCP, once the handshake is over for TLS (before, a write could
    /// have to read).
    pub(crate) fn writes_alone(&self) -> bool {
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

/// An open, authenticated connection, ready for the I/O thread.
pub(crate) struct Connection {
    ws: WebSocket<Stream>,
    pub(crate) uid: String,
    pub(crate) device: String,
}

/// What opens connections: the configuration, the TLS settings, the
/// poller every socket registers with, and where the URL rotation is.
pub(crate) struct Dialer {
    config: ClientConfig,
    urls: Vec<String>,
    next_url: usize,
    tls: Option<Arc<rustls::ClientConfig>>,
    poll: Poll,
}

fn ws_config() -> WebSocketConfig {
    // tungstenite zeroes its whole read buffer before each read; the
    // default 128 KiB made that the top symbol of the SDK's profile.
    // Frames are small, so 4 KiB reads cost nothing extra.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_message_size(Some(MAX_FRAME_LEN))
        .max_frame_size(Some(MAX_FRAME_LEN))
}

fn network(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Network(format!("{context}: {e}"))
}

/// The rustls client settings for `config`: its CA (file or PEM text)
/// when given, else the built-in web roots.
fn tls_config(config: &ClientConfig) -> Result<Arc<rustls::ClientConfig>, Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let pem: Option<(&str, Vec<u8>)> = match (&config.ca_file, &config.ca_pem) {
        (Some(path), _) => Some((
            "caFile",
            std::fs::read(path)
                .map_err(|e| Error::invalid("caFile", format!("cannot read {path}: {e}")))?,
        )),
        (None, Some(text)) => Some(("caPem", text.as_bytes().to_vec())),
        (None, None) => None,
    };
    match pem {
        Some((field, bytes)) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<_, _>>()
                .map_err(|e| Error::invalid(field, format!("not PEM certificates: {e}")))?;
            if certs.is_empty() {
                return Err(Error::invalid(field, "holds no certificate"));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| Error::invalid(field, format!("bad CA certificate: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(tls))
}

impl Dialer {
    /// Checks the configuration's TLS settings and makes the poller and
    /// the waker that interrupts the I/O thread.
    pub(crate) fn new(config: &ClientConfig) -> Result<(Dialer, Waker), Error> {
        let urls = config.server_urls();
        let tls = if urls.iter().any(|u| u.starts_with("wss://"))
            || config.ca_file.is_some()
            || config.ca_pem.is_some()
        {
            Some(tls_config(config)?)
        } else {
            None
        };
        let poll = Poll::new().map_err(|e| network("creating the poller", e))?;
        let waker =
            Waker::new(poll.registry(), WAKER).map_err(|e| network("creating the waker", e))?;
        Ok((
            Dialer {
                config: config.clone(),
                urls,
                next_url: 0,
                tls,
                poll,
            },
            waker,
        ))
    }

    /// Connects to the first URL that answers, trying each once. Stops at
    /// once on an error that another server would give too (bad
    /// configuration, refused token).
    pub(crate) fn connect_first(&mut self) -> Result<Connection, Error> {
        let mut last = None;
        for _ in 0..self.urls.len() {
            match self.dial(None) {
                Ok(conn) => return Ok(conn),
                Err(e @ (Error::InvalidArgument { .. } | Error::Unauthorized(_))) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Network("no server address".into())))
    }

    /// One attempt on the next URL of the rotation, within
    /// `connect_timeout`; gives up early when `closing` is set.
    fn dial(&mut self, closing: Option<&AtomicBool>) -> Result<Connection, Error> {
        let url = self.urls[self.next_url % self.urls.len()].clone();
        self.next_url = (self.next_url + 1) % self.urls.len();
        log::debug!("connecting to {url}");
        match self.open(&url, closing) {
            Ok(conn) => {
                log::info!(
                    "connected to {url} as {} (device {})",
                    conn.uid,
                    conn.device
                );
                Ok(conn)
            }
            Err(e) => {
                log::warn!("connecting to {url} failed: {e}");
                Err(e)
            }
        }
    }

    fn open(&mut self, url: &str, closing: Option<&AtomicBool>) -> Result<Connection, Error> {
        let deadline = Instant::now() + self.config.connect_timeout;
        let uri: tungstenite::http::Uri = url
            .parse()
            .map_err(|e| Error::invalid("url", format!("not a valid URL: {e}")))?;
        let secure = uri.scheme_str() == Some("wss");
        let host = uri
            .host()
            .ok_or_else(|| Error::invalid("url", "has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| network("resolving the server", e))?
            .next()
            .ok_or_else(|| Error::Network("the server's name has no address".into()))?;
        let std_stream = std::net::TcpStream::connect_timeout(&addr, self.config.connect_timeout)
            .map_err(|e| network("connecting", e))?;
        std_stream
            .set_nodelay(true)
            .and_then(|_| std_stream.set_nonblocking(true))
            .map_err(|e| network("configuring the socket", e))?;
        let mut tcp = TcpStream::from_std(std_stream);
        self.poll
            .registry()
            .register(&mut tcp, SOCKET, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| network("registering the socket", e))?;
        let result = self.upgrade(url, secure, &host, tcp, deadline, closing);
        if let Err(e) = &result {
            log::debug!("handshake with {url} failed: {e}");
        }
        result
    }

    fn upgrade(
        &mut self,
        url: &str,
        secure: bool,
        host: &str,
        tcp: TcpStream,
        deadline: Instant,
        closing: Option<&AtomicBool>,
    ) -> Result<Connection, Error> {
        let stream = if secure {
            let tls = self
                .tls
                .clone()
                .ok_or_else(|| Error::Tls("no TLS configuration".into()))?;
            let name = ServerName::try_from(host.to_owned())
                .map_err(|e| Error::invalid("url", format!("bad host name: {e}")))?;
            let conn =
                rustls::ClientConnection::new(tls, name).map_err(|e| Error::Tls(e.to_string()))?;
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            // The TLS handshake first, so its failure is a typed error.
            while tls.conn.is_handshaking() {
                match tls.conn.complete_io(&mut tls.sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        wait(&mut self.poll, deadline, closing)?
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(tls_error(e)),
                }
            }
            Stream::Tls(Box::new(tls))
        } else {
            Stream::Plain(tcp)
        };
        let mut ws = handshake(url, stream, &mut self.poll, deadline, closing)?;
        let (uid, device) = authenticate(
            &mut ws,
            &self.config.token,
            &mut self.poll,
            deadline,
            closing,
        )?;
        Ok(Connection { ws, uid, device })
    }

    /// Forgets a connection's socket.
    fn release(&mut self, mut ws: WebSocket<Stream>) {
        let _ = self.poll.registry().deregister(ws.get_mut().tcp());
    }
}

/// The typed error of a failed TLS handshake.
fn tls_error(e: std::io::Error) -> Error {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => Error::Tls(tls.to_string()),
        None => network("TLS handshake", e),
    }
}

fn handshake(
    url: &str,
    stream: Stream,
    poll: &mut Poll,
    deadline: Instant,
    closing: Option<&AtomicBool>,
) -> Result<WebSocket<Stream>, Error> {
    let mut attempt = tungstenite::client::client_with_config(url, stream, Some(ws_config()));
    loop {
        match attempt {
            Ok((ws, _response)) => {
                log::debug!("WebSocket handshake with {url} done; sending hello");
                return Ok(ws);
            }
            Err(HandshakeError::Interrupted(mid)) => {
                wait(poll, deadline, closing)?;
                attempt = mid.handshake();
            }
            Err(HandshakeError::Failure(tungstenite::Error::Io(e)))
                if e.get_ref()
                    .is_some_and(|i| i.downcast_ref::<rustls::Error>().is_some()) =>
            {
                return Err(tls_error(e))
            }
            Err(HandshakeError::Failure(e)) => return Err(network("WebSocket handshake", e)),
        }
    }
}

/// Blocks until the socket may be ready or `deadline` passes.
fn wait(poll: &mut Poll, deadline: Instant, closing: Option<&AtomicBool>) -> Result<(), Error> {
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
        Err(e) => Err(network("polling", e)),
    }
}

/// Sends `hello` and waits for `welcome`; returns the uid and device.
fn authenticate(
    ws: &mut WebSocket<Stream>,
    token: &str,
    poll: &mut Poll,
    deadline: Instant,
    closing: Option<&AtomicBool>,
) -> Result<(String, String), Error> {
    let hello = ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        token: token.to_owned(),
    };
    queue(ws, Message::text(encode(&hello))).map_err(Error::Network)?;
    loop {
        match ws.flush() {
            Ok(()) => break,
            Err(e) if is_would_block(&e) => wait(poll, deadline, closing)?,
            Err(e) => return Err(network("sending hello", e)),
        }
    }
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => {
                return match decode_server(&text) {
                    Ok(ServerMessage::Welcome {
                        protocol,
                        uid,
                        device,
                    }) if protocol == PROTOCOL_VERSION => {
                        log::debug!("welcome: protocol {protocol}, uid {uid}, device {device}");
                        Ok((uid, device))
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
            Err(e) if is_would_block(&e) => wait(poll, deadline, closing)?,
            Err(e) => return Err(network("waiting for welcome", e)),
        }
    }
}

fn is_would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == ErrorKind::WouldBlock)
}

/// Sends `msg`; a socket that cannot take it now is not an error (the
/// frame waits in tungstenite's buffer for the next flush).
fn queue(ws: &mut WebSocket<Stream>, msg: Message) -> Result<(), String> {
    match ws.write(msg) {
        Err(e) if !is_would_block(&e) => Err(format!("writing: {e}")),
        _ => Ok(()),
    }
}

/// How one connection ended.
enum End {
    /// The app closed the client.
    Closed,
    /// The link broke (or went silent); why.
    Lost(String),
}

/// A random number in `0..=max` (full jitter).
fn jitter(max: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return max / 2;
    }
    let ms = max.as_millis().min(u128::from(u64::MAX)) as u64;
    Duration::from_millis(u64::from_le_bytes(bytes) % ms.saturating_add(1))
}

/// The backoff before reconnection attempt `attempt` (0 first): a random
/// time up to `min * 2^attempt`, capped at `max`.
pub(crate) fn backoff(min: Duration, max: Duration, attempt: u32) -> Duration {
    let ceiling = min.saturating_mul(1u32 << attempt.min(20)).min(max);
    jitter(ceiling)
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

    /// After the link is gone for good: runs jobs until the client is
    /// dropped. If it was dropped already, runs what the end of the link
    /// queued (as the event thread would have before stopping).
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

/// The I/O thread: serves the connection; when it breaks, reconnects with
/// backoff (if configured) until the app closes the client or the server
/// refuses the token; then ends every invite and conversation. `done`
/// is dropped once the link is gone for good (before any inline job
/// queue is served to its end).
pub(crate) fn run(
    core: Arc<Core>,
    mut dialer: Dialer,
    conn: Connection,
    closing: Arc<AtomicBool>,
    mut inline: Option<Inline>,
    done: crossbeam_channel::Sender<()>,
) {
    core.enter_io_thread();
    let Connection { mut ws, .. } = conn;
    loop {
        *core.link() = Some(ws);
        let end = serve(&core, &mut dialer, &closing, inline.as_mut());
        let old = core.link().take();
        core.lock().io_wake = None;
        if let Some(old) = old {
            dialer.release(old);
        }
        let why = match end {
            End::Closed => {
                log::info!("disconnected: {CLIENT_CLOSED}");
                break;
            }
            End::Lost(why) => why,
        };
        log::warn!("connection lost: {why}");
        if !dialer.config.reconnect {
            break;
        }
        core.set_connection_state(ConnectionState::Reconnecting);
        {
            let mut st = core.lock();
            st.engine.handle_link_lost(Instant::now());
            st.outbox.clear();
            core.pump(&mut st);
        }
        let conn = match reconnect(&core, &mut dialer, &closing, inline.as_mut()) {
            Some(conn) => conn,
            None => break,
        };
        core.set_device(&conn.device);
        {
            let mut st = core.lock();
            st.engine.handle_connected(&conn.uid, &conn.device);
            core.pump(&mut st);
        }
        core.set_connection_state(ConnectionState::Connected);
        ws = conn.ws;
    }
    finish(&core);
    drop(done);
    if let Some(inline) = &mut inline {
        inline.until_stop();
    }
}

/// The link is gone for good: every invite and conversation ends.
fn finish(core: &Arc<Core>) {
    core.set_connection_state(ConnectionState::Disconnected);
    let mut st = core.lock();
    st.engine.handle_disconnected(Instant::now());
    st.outbox.clear();
    core.pump(&mut st);
}

/// Tries to connect again, with backoff, until it works (`Some`), the app
/// closes the client or the token is refused (`None`). Engine timers keep
/// firing meanwhile.
fn reconnect(
    core: &Arc<Core>,
    dialer: &mut Dialer,
    closing: &AtomicBool,
    mut inline: Option<&mut Inline>,
) -> Option<Connection> {
    let (min, max) = (dialer.config.reconnect_min, dialer.config.reconnect_max);
    let mut events = Events::with_capacity(4);
    for attempt in 0u32.. {
        let until = Instant::now() + backoff(min, max, attempt);
        loop {
            if closing.load(Ordering::Acquire) {
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
        match dialer.dial(Some(closing)) {
            Ok(conn) => return Some(conn),
            Err(Error::Unauthorized(why)) => {
                log::warn!("giving up reconnecting: the token was refused: {why}");
                return None;
            }
            Err(_) if closing.load(Ordering::Acquire) => return None,
            Err(_) => {}
        }
    }
    None
}

/// Serves the connection in the client's link until it breaks, goes
/// silent for `dead_after`, or the app closes the client.
fn serve(
    core: &Arc<Core>,
    dialer: &mut Dialer,
    closing: &AtomicBool,
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
        if closing.load(Ordering::Acquire) {
            if let Some(ws) = core.link().as_mut() {
                close_link(core, ws, &mut dialer.poll);
            }
            return End::Closed;
        }
        let read = match core.link().as_mut() {
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
            let mut link = core.link();
            let Some(ws) = link.as_mut() else {
                return End::Lost("the link is gone".into());
            };
            if now >= next_ping {
                if let Err(why) = queue(ws, Message::Ping(Default::default())) {
                    return End::Lost(why);
                }
                next_ping = now + heartbeat;
            }
            if let Err(why) = write_outbox(core, ws) {
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

/// How long a closing client waits for the server to take its last frames
/// and answer its close.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Closes the link as the app asked. First every frame already queued (a
/// `cancel`'s outcome or a `reject` made just before the free must reach
/// the server, or the server would tell the peer `caller_gone` while this
/// side ended otherwise), then the close frame; then it reads until the
/// server's own close (what else arrives is dropped: the engine is done
/// with this link) or the end of the stream. Dropping the socket earlier
/// could make the kernel answer a late server write with a reset, which
/// discards frames the server had received but not read yet. Waits at
/// most [`CLOSE_GRACE`].
fn close_link(core: &Core, ws: &mut WebSocket<Stream>, poll: &mut Poll) {
    let _ = write_outbox(core, ws);
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

/// Most frames read before they are handed to the engine together.
const READ_BATCH: usize = 64;

/// Reads every frame available now and hands them to the engine, under
/// one engine lock per batch; `Ok(true)` if any frame (of any kind)
/// arrived. `inbox` is a reused buffer.
fn read_all(
    core: &Arc<Core>,
    ws: &mut WebSocket<Stream>,
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

/// Hands the frames in `inbox` to the engine in order and pumps once.
fn handle_all(core: &Arc<Core>, inbox: &mut Vec<ServerMessage>) {
    if inbox.is_empty() {
        return;
    }
    let mut st = core.lock();
    let now = Instant::now();
    for msg in inbox.drain(..) {
        st.engine.handle_message(msg, now);
    }
    core.pump(&mut st);
}

fn fire_timers(core: &Arc<Core>) {
    let mut st = core.lock();
    let now = Instant::now();
    if st.engine.poll_timeout().is_some_and(|at| at <= now) {
        st.engine.handle_timeout(now);
        core.pump(&mut st);
    }
}

/// Writes every queued frame, in order, and flushes; `Ok(true)` when all
/// of it reached the socket, `Ok(false)` when some waits in tungstenite's
/// buffer for the socket to be writable again (the I/O thread then
/// finishes it). The caller holds the link, so frames from different
/// threads cannot interleave.
pub(crate) fn write_outbox(core: &Core, ws: &mut WebSocket<Stream>) -> Result<bool, String> {
    for frame in core.take_outbox() {
        queue(ws, Message::text(frame))?;
    }
    match ws.flush() {
        Ok(()) => Ok(true),
        Err(e) if is_would_block(&e) => Ok(false),
        Err(e) => Err(format!("writing: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_full_jitter_and_is_capped() {
        let (min, max) = (Duration::from_millis(100), Duration::from_millis(1000));
        for attempt in 0..40 {
            let ceiling = (min * 2u32.pow(attempt.min(10))).min(max);
            for _ in 0..20 {
                assert!(backoff(min, max, attempt) <= ceiling);
            }
        }
        // Full jitter spreads the delays (not all equal).
        let samples: std::collections::HashSet<_> = (0..50).map(|_| backoff(min, max, 5)).collect();
        assert!(samples.len() > 1);
    }
}
