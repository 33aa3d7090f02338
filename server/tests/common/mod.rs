//! A raw blocking WebSocket client for the server tests.

#![allow(dead_code)]

use std::net::TcpStream;
use std::time::Duration;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};
use wd_protocol::{
    decode_server, encode, ClientMessage, ErrorCode, FailureReason, Mode, PeerMessage,
    ServerMessage, PROTOCOL_VERSION,
};
use wd_signal::{ServerConfig, ServerHandle};

/// Upper bound on any single wait: a failure bound, not a synchronisation.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub fn dev_server() -> ServerHandle {
    wd_signal::spawn(ServerConfig::dev()).expect("server starts")
}

/// A dev server that relays between any two users (no check that they
/// share an invite or a conversation): for tests of routing alone.
pub fn relay_server() -> ServerHandle {
    server_with(|c| c.open_relay = true)
}

pub fn server_with(f: impl FnOnce(&mut ServerConfig)) -> ServerHandle {
    let mut config = ServerConfig::dev();
    f(&mut config);
    wd_signal::spawn(config).expect("server starts")
}

/// What a read produced.
#[derive(Debug)]
pub enum Event {
    Msg(ServerMessage),
    /// The server closed the connection (close frame, EOF or reset).
    Closed,
}

pub struct Client {
    pub ws: WebSocket<MaybeTlsStream<TcpStream>>,
    pub uid: String,
    pub device: String,
}

impl Client {
    /// Connects without saying hello.
    pub fn raw(url: &str) -> Client {
        let (mut ws, _) = tungstenite::connect(url).expect("connect");
        match ws.get_mut() {
            MaybeTlsStream::Plain(s) => {
                s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
                s.set_nodelay(true).unwrap();
            }
            _ => unreachable!("plain ws"),
        }
        Client {
            ws,
            uid: String::new(),
            device: String::new(),
        }
    }

    /// Connects, says hello with `token` and expects a welcome.
    pub fn login(url: &str, token: &str) -> Client {
        let mut c = Client::raw(url);
        c.hello(token);
        match c.recv() {
            ServerMessage::Welcome {
                protocol,
                uid,
                device,
            } => {
                assert_eq!(protocol, PROTOCOL_VERSION);
                c.uid = uid;
                c.device = device;
            }
            other => panic!("expected welcome, got {other:?}"),
        }
        c
    }

    /// Logs in with the dev token of `uid`.
    pub fn dev(url: &str, uid: &str) -> Client {
        let c = Client::login(url, &format!("dev:{uid}"));
        assert_eq!(c.uid, uid);
        c
    }

    pub fn hello(&mut self, token: &str) {
        self.send(&ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            token: token.into(),
        });
    }

    pub fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::text(text.into())).expect("send");
    }

    pub fn send(&mut self, msg: &ClientMessage) {
        self.send_text(encode(msg));
    }

    pub fn send_to(&mut self, to: &str, device: Option<&str>, body: PeerMessage) {
        self.send(&ClientMessage::Send {
            to: to.into(),
            device: device.map(Into::into),
            body,
        });
    }

    pub fn invite(&mut self, to: &str, invite_id: &str) {
        self.send_to(to, None, invite(invite_id));
    }

    /// Reads the next message or the close; panics on timeout.
    pub fn next_event(&mut self) -> Event {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    return Event::Msg(decode_server(&t).expect("server frames decode"))
                }
                Ok(Message::Close(_)) => return Event::Closed,
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
                Ok(Message::Binary(b)) => panic!("server sent binary {b:?}"),
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("timed out waiting for the server")
                }
                Err(_) => return Event::Closed,
            }
        }
    }

    /// Reads the next message; panics on close or timeout.
    pub fn recv(&mut self) -> ServerMessage {
        match self.next_event() {
            Event::Msg(m) => m,
            Event::Closed => panic!("connection closed while waiting for a message"),
        }
    }

    /// Reads the next message, which must be an error with `code`; returns
    /// its detail.
    pub fn expect_error(&mut self, code: ErrorCode) -> String {
        match self.recv() {
            ServerMessage::Error { code: c, message } => {
                assert_eq!(c, code, "error detail: {message}");
                message
            }
            other => panic!("expected error {code:?}, got {other:?}"),
        }
    }

    /// Reads the next message, which must be a delivery; returns it.
    pub fn expect_deliver(&mut self) -> (String, String, PeerMessage) {
        match self.recv() {
            ServerMessage::Deliver { from, device, body } => (from, device, body),
            other => panic!("expected deliver, got {other:?}"),
        }
    }

    pub fn expect_invite_failed(&mut self, invite_id: &str, reason: FailureReason) {
        match self.recv() {
            ServerMessage::InviteFailed {
                invite_id: id,
                reason: r,
            } => {
                assert_eq!((id.as_str(), r), (invite_id, reason));
            }
            other => panic!("expected invite_failed {reason}, got {other:?}"),
        }
    }

    /// Expects the server to close the connection next.
    pub fn expect_closed(&mut self) {
        match self.next_event() {
            Event::Closed => {}
            Event::Msg(m) => panic!("expected the connection to close, got {m:?}"),
        }
    }

    /// Reads until the server's close frame and returns its code (None:
    /// the connection ended without a close frame).
    pub fn expect_close_code(&mut self) -> Option<u16> {
        loop {
            match self.ws.read() {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(Message::Text(t)) => panic!("expected a close frame, got {t}"),
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("timed out waiting for the close frame")
                }
                Err(_) => return None,
            }
        }
    }

    /// Closes with a complete close handshake: when this returns, the
    /// server has processed the close.
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        loop {
            match self.ws.read() {
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("timed out waiting for the close reply")
                }
                Err(_) => return,
            }
        }
    }
}

pub fn invite(invite_id: &str) -> PeerMessage {
    PeerMessage::Invite {
        invite_id: invite_id.into(),
        conversation_id: format!("c-{invite_id}"),
        mode: Mode::P2p,
        user_data: None,
        offer: None,
        lifetime_ms: 60_000,
    }
}

pub fn ringing(invite_id: &str) -> PeerMessage {
    PeerMessage::Ringing {
        invite_id: invite_id.into(),
    }
}
