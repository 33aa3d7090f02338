//! One WebSocket connection: the `hello` handshake, the read loop that
//! checks and routes what the client sends, the write loop that drains its
//! outgoing queue, and the cleanup when it goes away.

use crate::authz::{Check, Question, Refusal};
use crate::limits::{decode_frame, decode_frame_raw, Decoded, FrameError, MessageBucket};
use crate::metrics::{message_kind, outcome_labels, Limit};
use crate::router::{Frame, Origin, Outbox, OutboxLimits, OutboxReceiver, Then};
use crate::Shared;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rustc_hash::FxHashSet;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{timeout, timeout_at, Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use wd_protocol::{
    encode, ClientMessage, DecodeError, ErrorCode, FailureReason, LeaveReason, PeerMessage,
    ServerMessage, PROTOCOL_VERSION,
};

/// Frames (and messages) larger than this make the WebSocket layer close
/// the connection. Frames between [`wd_protocol::MAX_FRAME_LEN`] and this are answered
/// with `error too_large` and the connection stays open.
pub const HARD_FRAME_CAP: usize = 1024 * 1024;

/// How long a closing connection may take to flush what it has queued, and
/// then how long the server waits for the client's close reply.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Reason text of the close frame (code 1012, service restart) that tells
/// clients the server is shutting down and they should reconnect.
const SHUTDOWN_REASON: &str = "service restart: reconnect";

/// Most frames written before the write loop flushes.
const WRITE_BATCH: usize = 64;

/// Bytes tungstenite buffers before it writes to the socket, and the most
/// it may hold unwritten (frames, and the pong and close replies it queues
/// by itself, of a client that does not read). A pong that does not fit
/// replaces the one waiting; a frame that does not fit ends the
/// connection.
const WRITE_BUFFER: usize = 64 * 1024;
const MAX_WRITE_BUFFER: usize = HARD_FRAME_CAP + WRITE_BUFFER;

/// Most bytes read and discarded after a close for a frame over the hard
/// cap, so that the client reads the close frame instead of a reset.
const DISCARD_AFTER_CLOSE: usize = 2 * HARD_FRAME_CAP;

/// A client's byte stream: plain TCP or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Ws = WebSocketStream<Box<dyn Io>>;

/// How a connection ends.
enum End {
    /// Send what is queued, then a close frame, then wait for the reply.
    Close(CloseCode, &'static str),
    /// The client closed: answer its close frame.
    PeerClosed,
    /// The client is gone or too slow: drop the socket.
    Abort,
    /// A frame over the hard cap: send what is queued and close (1009),
    /// then discard what the client still sends for a while.
    TooLarge,
}

/// A device id nobody can guess: this node's name, a dot and 80 random
/// bits in hex.
fn new_device_id(shared: &Shared) -> String {
    let mut bytes = [0u8; 10];
    if getrandom::fill(&mut bytes).is_err() {
        // No system randomness: still unique on this node.
        let n = shared.next_device.fetch_add(1, Ordering::Relaxed);
        bytes[..8].copy_from_slice(&n.to_le_bytes());
    }
    let mut id = String::with_capacity(shared.config.node.len() + 21);
    id.push_str(&shared.config.node);
    id.push('.');
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// Reads and discards what a client still sends after its connection was
/// closed for a frame over the hard cap, for at most [`CLOSE_GRACE`] and
/// [`DISCARD_AFTER_CLOSE`] bytes, then shuts the socket down cleanly.
async fn discard(io: &mut Box<dyn Io>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = io.shutdown().await;
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = DISCARD_AFTER_CLOSE;
    let _ = timeout(CLOSE_GRACE, async {
        while left > 0 {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Serves one accepted TCP connection until it closes. `_alive` is held
/// until the connection is done, so that the server can wait for its
/// connections when it shuts down.
pub(crate) async fn serve(shared: Arc<Shared>, tcp: TcpStream, _alive: mpsc::Sender<()>) {
    let _ = tcp.set_nodelay(true);
    let peer = tcp.peer_addr().ok();
    let deadline = Instant::now() + shared.config.handshake_timeout;
    // tungstenite's default 128 KiB read buffer is zeroed before every
    // read and held by every connection, idle or not; 4 KiB serves the
    // small frames of this protocol and keeps an idle connection small.
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(HARD_FRAME_CAP))
        .max_frame_size(Some(HARD_FRAME_CAP));
    let io: Box<dyn Io> = match &shared.tls {
        None => Box::new(tcp),
        Some(acceptor) => match timeout_at(deadline, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => Box::new(tls),
            Ok(Err(e)) => {
                tracing::debug!(peer = ?peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                shared.metrics.limit(Limit::HandshakeTimeout);
                tracing::debug!(peer = ?peer, "TLS handshake timed out");
                return;
            }
        },
    };
    let ws = match timeout_at(
        deadline,
        tokio_tungstenite::accept_async_with_config(io, Some(ws_config)),
    )
    .await
    {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tracing::debug!(peer = ?peer, error = %e, "WebSocket handshake failed");
            return;
        }
        Err(_) => {
            shared.metrics.limit(Limit::HandshakeTimeout);
            tracing::debug!(peer = ?peer, "WebSocket handshake timed out");
            return;
        }
    };
    let (sink, mut stream) = ws.split();
    let (outbox, receiver) = Outbox::with_limits(OutboxLimits {
        frames: shared.config.outbox_capacity,
        bytes: shared.config.outbox_bytes,
        user_bytes: shared.config.user_outbox_bytes,
    });
    let overflow = receiver.overflow.clone();
    let (close_tx, close_rx) = oneshot::channel();
    let mut writer = tokio::spawn(write_loop(
        sink,
        receiver,
        close_rx,
        shared.config.write_timeout,
    ));
    let mut bucket = MessageBucket::new(
        shared.config.message_rate_per_sec,
        shared.config.message_burst,
    );

    let end = match handshake(&shared, &outbox, &mut stream, deadline, &mut bucket).await {
        Err(end) => end,
        Ok(uid)
            if !shared
                .devices
                .acquire(&uid, shared.config.max_devices_per_uid) =>
        {
            shared.metrics.limit(Limit::Devices);
            tracing::info!(uid = %uid, peer = ?peer, "refused: too many devices");
            error(
                &shared,
                &outbox,
                ErrorCode::RateLimited,
                format!(
                    "too many devices: at most {} connections per user",
                    shared.config.max_devices_per_uid
                ),
            );
            End::Close(CloseCode::Policy, "too many devices")
        }
        Ok(uid) => {
            outbox.set_user(shared.devices.queued_bytes(&uid));
            let device = new_device_id(&shared);
            // Welcome goes first, before anyone can route to this device.
            let welcome = Frame::from(encode(&ServerMessage::Welcome {
                protocol: PROTOCOL_VERSION,
                uid: uid.clone(),
                device: device.clone(),
            }));
            shared
                .router
                .register(&uid, &device, outbox.clone(), welcome)
                .await;
            shared.metrics.connection_opened();
            tracing::info!(uid = %uid, device = %device, peer = ?peer, "connected");
            let mut conn = Connection {
                shared: shared.clone(),
                origin: Origin {
                    key: Arc::from(format!("{uid} {device}")),
                    notify: Some(outbox.clone()),
                },
                outbox,
                uid,
                device,
                pending: Arc::default(),
                conversations: FxHashSet::default(),
                bad_frames: 0,
                bucket,
            };
            let end = conn
                .run(&mut stream, &overflow, shared.shutdown.clone())
                .await;
            conn.cleanup().await;
            shared.devices.release(&conn.uid);
            shared.metrics.connection_closed();
            tracing::info!(
                uid = %conn.uid,
                device = %conn.device,
                reason = end.describe(),
                "disconnected"
            );
            end
        }
    };

    match end {
        End::Abort => writer.abort(),
        End::TooLarge => {
            let _ = close_tx.send(CloseFrame {
                code: CloseCode::Size,
                reason: "frame too large".into(),
            });
            // The client may still be sending the rest of the frame: read
            // and discard it (bounded) so that it gets the close frame,
            // not a reset for unread data.
            let sink = match timeout(CLOSE_GRACE, &mut writer).await {
                Ok(Ok(Some(sink))) => sink,
                _ => {
                    writer.abort();
                    return;
                }
            };
            if let Ok(mut ws) = sink.reunite(stream) {
                discard(ws.get_mut()).await;
            }
        }
        End::PeerClosed => {
            writer.abort();
            // Reading drives tungstenite to send the reply close frame.
            drain(&mut stream).await;
        }
        End::Close(code, reason) => {
            let _ = close_tx.send(CloseFrame {
                code,
                reason: reason.into(),
            });
            if timeout(CLOSE_GRACE, &mut writer).await.is_err() {
                writer.abort();
            }
            // When the server shuts down it does not wait for the replies.
            if code != CloseCode::Restart {
                drain(&mut stream).await;
            }
        }
    }
}

impl End {
    /// Why the connection ended, for the log.
    fn describe(&self) -> &'static str {
        match self {
            End::Close(_, reason) => reason,
            End::TooLarge => "frame too large",
            End::PeerClosed => "closed by the client",
            End::Abort => "connection lost, idle or too slow",
        }
    }
}

/// Reads until the client's close reply (or EOF), for at most
/// [`CLOSE_GRACE`].
async fn drain(stream: &mut SplitStream<Ws>) {
    let _ = timeout(CLOSE_GRACE, async {
        while let Some(Ok(msg)) = stream.next().await {
            if msg.is_close() {
                // Reading once more flushes our reply, if one is owed.
                let _ = stream.next().await;
                break;
            }
        }
    })
    .await;
}

/// Writes queued frames to the socket, flushing after each batch. On a
/// close request, writes what is queued at that moment, then the close
/// frame, and returns the sink. A client that takes more than
/// `write_timeout` to take one batch (it does not read), or a socket that
/// fails, ends the connection (`overflow` tells it).
async fn write_loop(
    mut sink: SplitSink<Ws, Message>,
    mut queue: OutboxReceiver,
    mut close: oneshot::Receiver<CloseFrame>,
    write_timeout: Duration,
) -> Option<SplitSink<Ws, Message>> {
    let overflow = queue.overflow.clone();
    let failed = || {
        overflow.notify_one();
        None
    };
    loop {
        tokio::select! {
            biased;
            frame = &mut close => {
                if let Ok(frame) = frame {
                    let flushed = timeout(write_timeout, async {
                        for _ in 0..queue.rx.len() {
                            match queue.rx.try_recv() {
                                Ok(q) => {
                                    queue.written(&q);
                                    if sink.feed(q.msg).await.is_err() {
                                        return false;
                                    }
                                }
                                Err(_) => break,
                            }
                        }
                        sink.send(Message::Close(Some(frame))).await.is_ok()
                    })
                    .await;
                    if !matches!(flushed, Ok(true)) {
                        return None;
                    }
                }
                return Some(sink);
            }
            q = queue.rx.recv() => {
                let q = q?;
                let batch = timeout(write_timeout, async {
                    queue.written(&q);
                    if sink.feed(q.msg).await.is_err() {
                        return false;
                    }
                    for _ in 1..WRITE_BATCH {
                        match queue.rx.try_recv() {
                            Ok(q) => {
                                queue.written(&q);
                                if sink.feed(q.msg).await.is_err() {
                                    return false;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                    sink.flush().await.is_ok()
                })
                .await;
                if !matches!(batch, Ok(true)) {
                    return failed();
                }
            }
        }
    }
}

/// Queues a message for this connection's client.
fn push(outbox: &Outbox, msg: &ServerMessage) -> bool {
    outbox.push(Frame::from(encode(msg)))
}

fn error(shared: &Shared, outbox: &Outbox, code: ErrorCode, message: impl Into<String>) {
    shared.metrics.error(code);
    push(
        outbox,
        &ServerMessage::Error {
            code,
            message: message.into(),
        },
    );
}

/// Waits for `hello` and checks it; returns the authenticated uid.
async fn handshake(
    shared: &Shared,
    outbox: &Outbox,
    stream: &mut SplitStream<Ws>,
    deadline: Instant,
    bucket: &mut MessageBucket,
) -> Result<String, End> {
    let refuse = |code: ErrorCode, message: String| {
        tracing::info!(code = ?code, message = %message, "handshake refused");
        error(shared, outbox, code, message);
        Err(End::Close(CloseCode::Policy, "handshake refused"))
    };
    loop {
        let msg = match timeout_at(deadline, stream.next()).await {
            Err(_) => {
                shared.metrics.limit(Limit::HandshakeTimeout);
                return refuse(
                    ErrorCode::Protocol,
                    format!(
                        "no hello within {} ms",
                        shared.config.handshake_timeout.as_millis()
                    ),
                );
            }
            Ok(None) => return Err(End::Abort),
            Ok(Some(Err(WsError::Capacity(_)))) => {
                shared.metrics.limit(Limit::FrameHardCap);
                error(
                    shared,
                    outbox,
                    ErrorCode::TooLarge,
                    "frame exceeds the hard cap",
                );
                return Err(End::TooLarge);
            }
            Ok(Some(Err(_))) => return Err(End::Abort),
            Ok(Some(Ok(msg))) => msg,
        };
        let text = match msg {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return refuse(
                    ErrorCode::Malformed,
                    "binary frames are not accepted".into(),
                )
            }
            Message::Close(_) => return Err(End::PeerClosed),
            // Pings (answered by the WebSocket layer) count against the
            // frame rate like any frame; before `hello` there is no
            // leniency: over the rate, the connection is closed.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {
                if bucket.allow() {
                    continue;
                }
                shared.metrics.limit(Limit::MessageRate);
                return refuse(
                    ErrorCode::RateLimited,
                    "too many frames before hello".into(),
                );
            }
        };
        return match decode_frame(&text, shared.config.max_json_depth) {
            Ok(ClientMessage::Hello { protocol, token }) => {
                if protocol != PROTOCOL_VERSION {
                    return refuse(
                        ErrorCode::UnsupportedVersion,
                        format!("protocol {protocol} not supported; this server speaks {PROTOCOL_VERSION}"),
                    );
                }
                match shared.auth.authenticate(&token, crate::auth::now_unix()) {
                    Ok(uid) => Ok(uid),
                    Err(e) => refuse(ErrorCode::Unauthorized, e.to_string()),
                }
            }
            Ok(
                ClientMessage::Send { .. }
                | ClientMessage::RegisterPush { .. }
                | ClientMessage::UnregisterPush { .. }
                | ClientMessage::FetchInvite { .. },
            ) => refuse(
                ErrorCode::Protocol,
                "the first message must be hello".into(),
            ),
            Err(FrameError::Decode(DecodeError::Invalid(e))) if e.field == "token" => {
                refuse(ErrorCode::Unauthorized, e.to_string())
            }
            Err(e @ FrameError::TooLarge(_)) => refuse(ErrorCode::TooLarge, e.to_string()),
            Err(e @ FrameError::Decode(_)) if hello_without_token(&text) => {
                refuse(ErrorCode::Unauthorized, format!("missing token: {e}"))
            }
            Err(e) => refuse(ErrorCode::Malformed, e.to_string()),
        };
    }
}

/// Whether `text` is a `hello` object without a string `token` (it has
/// already passed the size and nesting checks).
fn hello_without_token(text: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(o)) => {
            o.get("type").and_then(|t| t.as_str()) == Some("hello")
                && !o.get("token").is_some_and(|t| t.is_string())
        }
        _ => false,
    }
}

/// Invites a connection sent that have no outcome yet, (to, invite_id),
/// when they were routed and whether they were pushed ([`crate::push`]).
/// Shared with the routing results of its invites, which remove an
/// invite that reached no device.
type Pending = Arc<Mutex<HashMap<(String, String), Sent>>>;

/// When a pending invite was routed, and whether it was pushed.
#[derive(Clone, Copy, Debug)]
struct Sent {
    at: Instant,
    pushed: bool,
}

fn lock(pending: &Pending) -> MutexGuard<'_, HashMap<(String, String), Sent>> {
    pending.lock().unwrap_or_else(|e| e.into_inner())
}

/// An authenticated connection.
struct Connection {
    shared: Arc<Shared>,
    outbox: Outbox,
    uid: String,
    device: String,
    /// This connection as the sender of relayed frames.
    origin: Origin,
    pending: Pending,
    /// The conversations this device has taken part in and not left, as
    /// far as its own frames tell (an invite it sent, an accept, a
    /// message or `joined` in one, less each `leave`): the ones told when
    /// it goes away without leaving. At most [`MAX_DEVICE_CONVERSATIONS`].
    conversations: FxHashSet<String>,
    bad_frames: u32,
    /// Frames this connection may still send now.
    bucket: MessageBucket,
}

/// Most conversations one connection is remembered to take part in (for
/// `participant_gone`); past it, new ones are not recorded.
const MAX_DEVICE_CONVERSATIONS: usize = 1024;

async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Connection {
    async fn run(
        &mut self,
        stream: &mut SplitStream<Ws>,
        overflow: &tokio::sync::Notify,
        mut shutdown: watch::Receiver<bool>,
    ) -> End {
        let ping_every = self.shared.config.ping_interval;
        let mut pinger = ping_every.map(|every| {
            let mut i = tokio::time::interval_at(Instant::now() + every, every);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        });
        let mut last_heard = Instant::now();
        if *shutdown.borrow_and_update() {
            return End::Close(CloseCode::Restart, SHUTDOWN_REASON);
        }
        loop {
            tokio::select! {
                biased;
                _ = overflow.notified() => {
                    self.shared.metrics.limit(Limit::OutboxFull);
                    tracing::warn!(uid = %self.uid, device = %self.device, "outgoing queue full, or a write stalled for the write timeout: dropping a client that does not read");
                    return End::Abort;
                }
                _ = shutdown.changed() => {
                    return End::Close(CloseCode::Restart, SHUTDOWN_REASON);
                }
                _ = tick(&mut pinger) => {
                    let every = ping_every.unwrap_or(Duration::MAX);
                    if last_heard.elapsed() >= every.saturating_mul(2) {
                        self.shared.metrics.limit(Limit::Idle);
                        return End::Abort;
                    }
                    self.outbox.push_message(Message::Ping(Default::default()));
                }
                msg = stream.next() => {
                    last_heard = Instant::now();
                    let msg = match msg {
                        None => return End::Abort,
                        Some(Ok(msg)) => msg,
                        Some(Err(WsError::Capacity(_))) => {
                            self.shared.metrics.limit(Limit::FrameHardCap);
                            self.error(ErrorCode::TooLarge, "frame exceeds the hard cap");
                            return End::TooLarge;
                        }
                        Some(Err(_)) => return End::Abort,
                    };
                    let end = match msg {
                        Message::Text(text) => self.on_text(&text).await,
                        Message::Binary(_) if !self.bucket.allow() => {
                            self.rate_limited(None);
                            None
                        }
                        Message::Binary(_) => {
                            self.bad(ErrorCode::Malformed, "binary frames are not accepted".into())
                        }
                        Message::Close(_) => Some(End::PeerClosed),
                        // Pings and pongs count against the frame rate
                        // like any frame (the WebSocket layer answers a
                        // ping by itself, replacing a pong not yet sent).
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_)
                            if !self.bucket.allow() =>
                        {
                            self.rate_limited(None);
                            None
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
                    };
                    if let Some(end) = end {
                        return end;
                    }
                    // Frames already buffered are parsed without touching
                    // the socket, so a fast sender would otherwise keep the
                    // thread until its recipients' queues overflow.
                    tokio::task::coop::consume_budget().await;
                }
            }
        }
    }

    fn error(&self, code: ErrorCode, message: impl Into<String>) {
        error(&self.shared, &self.outbox, code, message);
    }

    /// Answers a bad frame; closes the connection after too many.
    fn bad(&mut self, code: ErrorCode, message: String) -> Option<End> {
        tracing::debug!(uid = %self.uid, device = %self.device, code = ?code, message = %message, "bad frame");
        self.error(code, message);
        self.bad_frames += 1;
        if self.bad_frames < self.shared.config.max_bad_frames {
            return None;
        }
        self.shared.metrics.limit(Limit::BadFrames);
        tracing::info!(uid = %self.uid, device = %self.device, "closing: too many bad frames");
        Some(End::Close(CloseCode::Policy, "too many bad frames"))
    }

    /// Answers a frame dropped for the message rate: an invite fails
    /// `rate_limited`, anything else gets `error rate_limited`.
    fn rate_limited(&self, invite_id: Option<&str>) {
        self.shared.metrics.limit(Limit::MessageRate);
        match invite_id {
            Some(id) => self.invite_failed(id, FailureReason::RateLimited),
            None => self.error(
                ErrorCode::RateLimited,
                format!(
                    "more than {} messages per second (burst {}): frame dropped",
                    self.shared.config.message_rate_per_sec, self.shared.config.message_burst
                ),
            ),
        }
    }

    async fn on_text(&mut self, text: &str) -> Option<End> {
        let decoded = decode_frame_raw(text, self.shared.config.max_json_depth);
        if !self.bucket.allow() {
            // Push requests have answers of their own.
            match decoded {
                Ok(Decoded::Other(ClientMessage::RegisterPush {
                    app_id, push_key, ..
                })) => {
                    self.shared.metrics.limit(Limit::MessageRate);
                    push(
                        &self.outbox,
                        &ServerMessage::PushRegistrationFailed {
                            app_id,
                            push_key,
                            code: ErrorCode::RateLimited,
                            message: "too many messages: registration dropped".into(),
                        },
                    );
                    return None;
                }
                Ok(Decoded::Other(ClientMessage::FetchInvite { invite_id, .. })) => {
                    self.shared.metrics.limit(Limit::MessageRate);
                    push(
                        &self.outbox,
                        &ServerMessage::FetchFailed {
                            invite_id,
                            code: ErrorCode::RateLimited,
                        },
                    );
                    return None;
                }
                _ => {}
            }
            let invite_id = match &decoded {
                Ok(
                    Decoded::Send { body, .. } | Decoded::Other(ClientMessage::Send { body, .. }),
                ) => body
                    .invite_id()
                    .filter(|_| matches!(body, PeerMessage::Invite { .. })),
                _ => None,
            };
            self.rate_limited(invite_id);
            return None;
        }
        match decoded {
            // The body as the client wrote it is not relayed: it is
            // encoded again from what it decoded to, so fields the
            // protocol does not define are stripped and the field limits
            // bound what is relayed.
            Ok(Decoded::Send {
                to, device, body, ..
            })
            | Ok(Decoded::Other(ClientMessage::Send { to, device, body })) => {
                self.route(to, device, body).await;
                None
            }
            Ok(Decoded::Other(ClientMessage::Hello { .. })) => {
                self.error(ErrorCode::Protocol, "hello was already received");
                Some(End::Close(CloseCode::Policy, "second hello"))
            }
            Ok(Decoded::Other(ClientMessage::RegisterPush {
                provider,
                app_id,
                push_key,
                data,
            })) => {
                let answer = match &self.shared.push {
                    Some(p) => {
                        p.register(&self.uid, &self.device, provider, app_id, push_key, data)
                            .await
                    }
                    None => ServerMessage::PushRegistrationFailed {
                        app_id,
                        push_key,
                        code: ErrorCode::Unsupported,
                        message: "this server has no push gateway".into(),
                    },
                };
                push(&self.outbox, &answer);
                None
            }
            Ok(Decoded::Other(ClientMessage::UnregisterPush { app_id, push_key })) => {
                let answer = match &self.shared.push {
                    Some(p) => p.unregister(&self.uid, app_id, push_key).await,
                    None => ServerMessage::PushUnregistered {
                        app_id,
                        push_key,
                        reason: wd_protocol::UnregisterReason::Requested,
                    },
                };
                push(&self.outbox, &answer);
                None
            }
            Ok(Decoded::Other(ClientMessage::FetchInvite { invite_id, from })) => {
                let answer = match &self.shared.push {
                    Some(p) => p.fetch(&self.uid, &from, invite_id).await,
                    None => ServerMessage::FetchFailed {
                        invite_id,
                        code: ErrorCode::Unsupported,
                    },
                };
                push(&self.outbox, &answer);
                None
            }
            Err(FrameError::Decode(DecodeError::Invalid(e))) if e.field == "to" => {
                // An otherwise valid invite to an invalid user id fails as
                // an invite, so the caller's engine hears a typed reason.
                if let Ok(ClientMessage::Send {
                    body: body @ PeerMessage::Invite { .. },
                    ..
                }) = serde_json::from_str::<ClientMessage>(text)
                {
                    if body.validate().is_ok() {
                        if let Some(invite_id) = body.invite_id() {
                            self.invite_failed(invite_id, FailureReason::InvalidParticipant);
                            return None;
                        }
                    }
                }
                self.bad(ErrorCode::Malformed, DecodeError::Invalid(e).to_string())
            }
            Err(FrameError::TooDeep(max)) => {
                self.shared.metrics.limit(Limit::JsonDepth);
                self.bad(ErrorCode::Malformed, FrameError::TooDeep(max).to_string())
            }
            Err(e @ FrameError::TooLarge(_)) => self.bad(ErrorCode::TooLarge, e.to_string()),
            Err(e) => self.bad(ErrorCode::Malformed, e.to_string()),
        }
    }

    fn invite_failed(&self, invite_id: &str, reason: FailureReason) {
        invite_failed(&self.shared, &self.outbox, invite_id, reason);
    }

    /// Routes `body` to `to`, if the sender has a part in what it is
    /// about (see [`crate::authz`]).
    async fn route(&mut self, to: String, device: Option<String>, body: PeerMessage) {
        let shared = &*self.shared;
        let check = Check::of(&body);
        let invite = match &body {
            PeerMessage::Invite { invite_id, .. } => {
                if to == self.uid {
                    self.invite_failed(invite_id, FailureReason::InvalidParticipant);
                    return;
                }
                let key = (to.clone(), invite_id.clone());
                let mut pending = lock(&self.pending);
                let limit = if pending.len() >= shared.config.max_pending_invites
                    && !pending.contains_key(&key)
                {
                    Some(Limit::PendingInvites)
                } else if !shared.limiter.allow(&self.uid) {
                    Some(Limit::InviteRate)
                } else {
                    None
                };
                if let Some(limit) = limit {
                    drop(pending);
                    shared.metrics.limit(limit);
                    self.invite_failed(invite_id, FailureReason::RateLimited);
                    return;
                }
                // Counted as pending from now on (for the limit and for
                // `caller_gone`); the routing result takes it back if the
                // invite reached no device.
                pending.insert(
                    key.clone(),
                    Sent {
                        at: Instant::now(),
                        pushed: false,
                    },
                );
                Some(key)
            }
            _ => None,
        };
        if let Err(refusal) = self.authorize(&check, &to, &body).await {
            if let Some(key) = &invite {
                lock(&self.pending).remove(key);
            }
            self.refuse(&check, &body, refusal);
            return;
        }
        note_conversation(&mut self.conversations, &shared.membership, &to, &body);
        // [push] An invite to the user as a whole also goes to its
        // registered devices that hold no connection; it then counts as
        // delivered even if no device is connected.
        let pushed = match (&invite, &shared.push, &device) {
            (Some(key), Some(p), None) => {
                let pushed = p.invite(&self.uid, &self.device, &to, &body).await;
                if pushed {
                    if let Some(sent) = lock(&self.pending).get_mut(key) {
                        sent.pushed = true;
                    }
                }
                pushed
            }
            _ => false,
        };
        if let PeerMessage::Outcome { invite_id, outcome } = &body {
            let (label, reason) = outcome_labels(outcome);
            shared.metrics.invite_outcome(label, reason);
            let sent = lock(&self.pending).remove(&(to.clone(), invite_id.clone()));
            if let Some(sent) = sent {
                shared.metrics.invite_latency(label, sent.at.elapsed());
                // Recorded before the outcome is relayed: a device that
                // heard the outcome and fetches sees the invite ended.
                if let (true, Some(p)) = (sent.pushed, &shared.push) {
                    p.end(&self.uid, invite_id, outcome.clone()).await;
                }
            }
        }
        let kind = message_kind(&body);
        // [SDK reconnect] A `query` (an invitee that reconnected asking its
        // caller's device about an invite) to a device that is not
        // connected is answered `undeliverable`: the caller is gone.
        let query = match (&body, &device) {
            (PeerMessage::Query { invite_id }, Some(device)) => {
                Some((to.clone(), device.clone(), invite_id.clone()))
            }
            _ => None,
        };
        let frame = Frame::from(encode(&ServerMessage::Deliver {
            from: self.uid.clone(),
            device: self.device.clone(),
            body,
        }));
        let then: Then = {
            let caller = invite.as_ref().map(|_| self.uid.clone());
            let shared = self.shared.clone();
            let outbox = self.outbox.clone();
            let pending = self.pending.clone();
            Box::new(move |result| {
                let delivered = match result {
                    Ok(n) => n,
                    Err(e) => {
                        // The broker is unreachable: say so instead of
                        // staying silent.
                        tracing::warn!(error = %e, "routing through the broker failed");
                        shared.metrics.routed(kind, e.local);
                        match invite {
                            Some(key) => {
                                lock(&pending).remove(&key);
                                if let (true, Some(p), Some(caller)) =
                                    (pushed, &shared.push, &caller)
                                {
                                    p.ended(
                                        caller,
                                        &key.1,
                                        wd_protocol::Outcome::Failed {
                                            reason: FailureReason::ServerError,
                                        },
                                    );
                                }
                                invite_failed(&shared, &outbox, &key.1, FailureReason::ServerError);
                            }
                            None => error(&shared, &outbox, ErrorCode::Internal, e.to_string()),
                        }
                        return;
                    }
                };
                shared.metrics.routed(kind, delivered);
                // A pushed invite rings on the woken devices: not offline.
                if delivered > 0 || pushed {
                    return;
                }
                if let Some((to, device, invite_id)) = query {
                    push(
                        &outbox,
                        &ServerMessage::Undeliverable {
                            to,
                            device,
                            invite_id: Some(invite_id),
                        },
                    );
                } else if let Some(key) = invite {
                    lock(&pending).remove(&key);
                    if let Some(caller) = &caller {
                        shared.membership.forget(caller, &key.1);
                    }
                    invite_failed(&shared, &outbox, &key.1, FailureReason::Offline);
                }
            })
        };
        shared
            .router
            .submit(to, device, frame, Some(self.origin.clone()), then)
            .await;
    }

    /// Checks with the membership records that this connection's user
    /// has a part in what `body` is about, asking the broker first if
    /// this node does not know; shares what the message establishes with
    /// the other nodes.
    async fn authorize(&self, check: &Check, to: &str, body: &PeerMessage) -> Result<(), Refusal> {
        let shared = &*self.shared;
        if shared.config.open_relay {
            return Ok(());
        }
        let members = &shared.membership;
        // One node has nobody to ask: its records decide.
        let unknown = match shared.router.has_other_nodes() {
            true => check.question(members, &self.uid, to),
            false => None,
        };
        if let Some(questions) = unknown {
            match shared.router.fetch(questions).await {
                Ok(facts) => facts.iter().for_each(|f| members.learn(f)),
                // Decided on what this node knows.
                Err(e) => tracing::warn!(error = %e, "could not ask the broker about a relay"),
            }
        }
        let facts = members.admit(check, &self.uid, to, body)?;
        if !facts.is_empty() {
            if let Err(e) = shared.router.share(facts).await {
                tracing::warn!(error = %e, "could not share membership with the broker");
            }
        }
        Ok(())
    }

    /// Answers a relay the sender has no part in: an invite fails
    /// (`unauthorized`, or `rate_limited` when the caller has too many
    /// invites recorded), anything else gets `error forbidden`.
    fn refuse(&self, check: &Check, body: &PeerMessage, refusal: Refusal) {
        self.shared.metrics.limit(Limit::Forbidden);
        tracing::debug!(uid = %self.uid, device = %self.device, check = ?check, "relay refused");
        if let PeerMessage::Invite { invite_id, .. } = body {
            let reason = match refusal {
                Refusal::Forbidden => FailureReason::Unauthorized,
                Refusal::TooManyInvites => FailureReason::RateLimited,
            };
            self.invite_failed(invite_id, reason);
            return;
        }
        let message = match check {
            Check::Parties { invite_id } => format!(
                "invite {invite_id}: only its caller and its invitee may send each other messages about it"
            ),
            Check::Members { conversation } => format!(
                "conversation {conversation}: the sender and the recipient must both be in it"
            ),
            Check::Invite { conversation } => {
                format!("conversation {conversation}: only its members may invite into it")
            }
            Check::Free => "refused".to_owned(),
        };
        self.error(ErrorCode::Forbidden, message);
    }

    /// Forgets this device and tells the invitees of its pending invites
    /// that the caller is gone, and the other members of its user's
    /// conversations that this device is gone. `caller_gone` and
    /// `participant_gone` are submitted behind every frame this
    /// connection routed, so they never overtake its invite or its
    /// `leave`.
    async fn cleanup(&mut self) {
        let router = &self.shared.router;
        router.unregister(&self.uid, &self.device).await;
        let pending: Vec<_> = lock(&self.pending).drain().collect();
        for ((to, invite_id), sent) in pending {
            self.shared.membership.decided(&self.uid, &invite_id);
            if let (true, Some(p)) = (sent.pushed, &self.shared.push) {
                p.end(
                    &self.uid,
                    &invite_id,
                    wd_protocol::Outcome::Failed {
                        reason: FailureReason::CallerGone,
                    },
                )
                .await;
            }
            self.shared
                .metrics
                .invite_outcome("failed", FailureReason::CallerGone.as_str());
            let frame = Frame::from(encode(&ServerMessage::CallerGone {
                from: self.uid.clone(),
                device: self.device.clone(),
                invite_id,
            }));
            // Within the gone device's share of each queue, like its
            // other frames: a flood of invites cannot end in a flood of
            // `caller_gone` that drops the invitee.
            let origin = Origin {
                key: self.origin.key.clone(),
                notify: None,
            };
            router
                .submit(to, None, frame, Some(origin), Box::new(|_| {}))
                .await;
        }
        self.announce_gone().await;
    }

    /// Tells every other member of each conversation this connection's
    /// user is in that this device is gone (`participant_gone`). Receivers
    /// that have no such participant (it left, or was never there from
    /// this device) ignore it. The members are those this node knows,
    /// completed from the broker's records of those conversations.
    async fn announce_gone(&mut self) {
        let shared = &*self.shared;
        let mine: Vec<String> = std::mem::take(&mut self.conversations)
            .into_iter()
            .collect();
        if mine.is_empty() {
            return;
        }
        let mut conversations = shared.membership.members_of(&mine, &self.uid);
        let questions = mine
            .iter()
            .map(|conversation| Question::Members {
                conversation: conversation.clone(),
            })
            .collect();
        match shared.router.fetch(questions).await {
            Ok(facts) if !facts.is_empty() => {
                facts.iter().for_each(|f| shared.membership.learn(f));
                conversations = shared.membership.members_of(&mine, &self.uid);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not ask the broker for the members of a gone device's conversations")
            }
        }
        for (conversation, others) in conversations {
            let frame = Frame::from(encode(&ServerMessage::ParticipantGone {
                conversation_id: conversation,
                uid: self.uid.clone(),
                device: self.device.clone(),
                reason: LeaveReason::ConnectionLost,
            }));
            for to in others {
                let origin = Origin {
                    key: self.origin.key.clone(),
                    notify: None,
                };
                shared
                    .router
                    .submit(to, None, frame.clone(), Some(origin), Box::new(|_| {}))
                    .await;
            }
        }
    }
}

/// Records in `mine` (a connection's conversations) the conversation a
/// frame it relays shows it taking part in, or leaving.
fn note_conversation(
    mine: &mut FxHashSet<String>,
    membership: &crate::authz::Membership,
    to: &str,
    body: &PeerMessage,
) {
    let joined = match body {
        PeerMessage::Leave { conversation_id } => {
            mine.remove(conversation_id);
            return;
        }
        PeerMessage::Invite {
            conversation_id, ..
        }
        | PeerMessage::Message {
            conversation_id, ..
        }
        | PeerMessage::Joined {
            conversation_id, ..
        } => Some(conversation_id.clone()),
        // `to` is the invite's caller.
        PeerMessage::Accept { invite_id, .. } => membership.conversation_of(to, invite_id),
        _ => None,
    };
    if let Some(conversation) = joined {
        if mine.len() < MAX_DEVICE_CONVERSATIONS {
            mine.insert(conversation);
        }
    }
}

fn invite_failed(shared: &Shared, outbox: &Outbox, invite_id: &str, reason: FailureReason) {
    shared.metrics.invite_outcome("failed", reason.as_str());
    push(
        outbox,
        &ServerMessage::InviteFailed {
            invite_id: invite_id.to_owned(),
            reason,
        },
    );
}
