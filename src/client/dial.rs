//! Opening a connection: TCP, TLS for `wss://`, the WebSocket handshake,
//! `hello` and `welcome`; the rotation over the configured URLs, and the
//! backoff between reconnection attempts.

use std::io::ErrorKind;
use std::net::ToSocketAddrs;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Poll, Token, Waker};
use rustls::pki_types::ServerName;
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::Message;
use wd_protocol::{
    decode_server, encode, ClientMessage, ErrorCode, ServerMessage, MAX_FRAME_LEN, PROTOCOL_VERSION,
};

use super::config::ClientConfig;
use super::error::Error;
use super::link::{is_would_block, wait, write, Socket, Stream};

/// The poller token of the connection's socket.
const SOCKET: Token = Token(0);
/// The poller token of the waker that interrupts the I/O thread.
const WAKER: Token = Token(1);

/// An open, authenticated connection, ready for the I/O thread.
pub(crate) struct Connection {
    pub(crate) ws: Socket,
    pub(crate) uid: String,
    pub(crate) device: String,
}

/// What opens connections: the configuration, the TLS settings, the
/// poller every socket registers with, and where the URL rotation is.
pub(crate) struct Dialer {
    pub(crate) config: ClientConfig,
    urls: Vec<String>,
    next_url: usize,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Every socket of this client registers here; the I/O thread waits
    /// on it.
    pub(crate) poll: Poll,
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
    pub(crate) fn dial(&mut self, closing: Option<&AtomicBool>) -> Result<Connection, Error> {
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
    pub(crate) fn release(&mut self, mut ws: Socket) {
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
) -> Result<Socket, Error> {
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

/// Sends `hello` and waits for `welcome`; returns the uid and device.
fn authenticate(
    ws: &mut Socket,
    token: &str,
    poll: &mut Poll,
    deadline: Instant,
    closing: Option<&AtomicBool>,
) -> Result<(String, String), Error> {
    let hello = ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        token: token.to_owned(),
    };
    write(ws, Message::text(encode(&hello))).map_err(Error::Network)?;
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
