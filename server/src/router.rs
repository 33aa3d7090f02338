//! Who is connected where, and handing frames to them.
//!
//! [`Router`] is the one interface the connections use, so that a
//! broker-backed router (Redis pub/sub, NATS) can replace the in-memory
//! [`MemoryRouter`] when users outgrow one node.

use crate::authz::{Fact, Question};
use rustc_hash::FxHashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::task::{Context, Poll};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// One encoded text frame. Cloning it is cheap (reference counted), so one
/// encoding serves every device it goes to.
pub type Frame = Utf8Bytes;

/// Bytes a queued frame is counted as beyond its text: so that many tiny
/// frames are bounded too.
pub const FRAME_OVERHEAD: usize = 128;

/// How much of a connection's outgoing queue may be held at once: in
/// total (frames and bytes), by the frames of one sender, and by all the
/// connections of one user together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Frames queued for one connection.
    pub frames: usize,
    /// Bytes queued for one connection (each frame counted as its length
    /// plus [`FRAME_OVERHEAD`]).
    pub bytes: usize,
    /// Bytes queued for all the connections of one user together.
    pub user_bytes: usize,
}

impl OutboxLimits {
    /// Limits of `frames` frames and `bytes` bytes per connection, with no
    /// per-user limit beyond 16 connections' worth.
    pub fn new(frames: usize, bytes: usize) -> Self {
        OutboxLimits {
            frames,
            bytes,
            user_bytes: bytes.saturating_mul(16),
        }
    }

    /// The most one sender's frames may hold of a queue (a quarter, so
    /// that a flood from one sender leaves room for the others).
    fn share(&self) -> (usize, usize) {
        ((self.frames / 4).max(1), (self.bytes / 4).max(1))
    }

    /// The most relayed frames may hold of a queue together (three
    /// quarters): the rest stays for the server's own frames (pings,
    /// errors), so that relayed frames can never make the queue overflow.
    fn relayed(&self) -> (usize, usize) {
        ((self.frames * 3 / 4).max(1), (self.bytes * 3 / 4).max(1))
    }
}

/// Who a relayed frame comes from, so that one sender can hold only its
/// fair share of a recipient's queue, and hears it when its frame is
/// refused.
#[derive(Clone, Debug)]
pub struct Origin {
    /// The sending device (unique per connection).
    pub key: Arc<str>,
    /// Told (`error rate_limited`) when a frame of this sender is refused;
    /// `None` for a sender on another node.
    pub notify: Option<Outbox>,
}

/// What [`Outbox::push_from`] did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued.
    Queued,
    /// Refused: the sender already holds its share of this queue, or the
    /// queue (or the user's) is full. The recipient is not affected.
    Refused,
    /// The connection is gone.
    Gone,
}

/// One queued frame and what it is counted as.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) msg: Message,
    cost: usize,
    sender: Option<Arc<str>>,
}

#[derive(Debug, Default)]
struct Counts {
    frames: usize,
    bytes: usize,
    /// (frames, bytes) queued per sender.
    senders: FxHashMap<Arc<str>, (usize, usize)>,
}

#[derive(Debug)]
struct OutboxState {
    limits: OutboxLimits,
    counts: Mutex<Counts>,
    /// Bytes queued for every connection of this connection's user, once
    /// it has authenticated.
    user: OnceLock<Arc<AtomicUsize>>,
    /// Told when the connection must end (its queue overflowed, or its
    /// socket failed).
    overflow: Arc<Notify>,
}

impl OutboxState {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts `cost` more bytes for `sender` if every limit allows it.
    fn admit(&self, cost: usize, sender: Option<&Arc<str>>) -> bool {
        let mut c = self.lock();
        if c.frames >= self.limits.frames || c.bytes + cost > self.limits.bytes {
            return false;
        }
        if let Some(sender) = sender {
            let (frames, bytes) = self.limits.relayed();
            if c.frames >= frames || c.bytes + cost > bytes {
                return false;
            }
            let (frames, bytes) = self.limits.share();
            let held = c.senders.get(sender).copied().unwrap_or((0, 0));
            if held.0 >= frames || held.1 + cost > bytes {
                return false;
            }
        }
        if let Some(user) = self.user.get() {
            let before = user.fetch_add(cost, Ordering::Relaxed);
            if before + cost > self.limits.user_bytes {
                user.fetch_sub(cost, Ordering::Relaxed);
                return false;
            }
        }
        c.frames += 1;
        c.bytes += cost;
        if let Some(sender) = sender {
            let e = c.senders.entry(sender.clone()).or_default();
            e.0 += 1;
            e.1 += cost;
        }
        true
    }

    fn release(&self, q: &Queued) {
        let mut c = self.lock();
        c.frames = c.frames.saturating_sub(1);
        c.bytes = c.bytes.saturating_sub(q.cost);
        if let Some(sender) = &q.sender {
            if let Some(e) = c.senders.get_mut(sender) {
                e.0 = e.0.saturating_sub(1);
                e.1 = e.1.saturating_sub(q.cost);
                if e.0 == 0 {
                    c.senders.remove(sender);
                }
            }
        }
        drop(c);
        if let Some(user) = self.user.get() {
            user.fetch_sub(q.cost, Ordering::Relaxed);
        }
    }
}

/// The outgoing queue of one connection: bounded in frames and in bytes
/// (and, with the other connections of its user, in bytes per user), so
/// that a client that does not read is closed instead of making the server
/// grow without bound. Frames relayed from other clients
/// ([`push_from`](Outbox::push_from)) may hold only a fair share of it per
/// sender; their excess is refused to the sender, not held against the
/// recipient.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Queued>,
    state: Arc<OutboxState>,
}

/// The connection's side of an [`Outbox`].
#[derive(Debug)]
pub(crate) struct OutboxReceiver {
    pub(crate) rx: mpsc::UnboundedReceiver<Queued>,
    state: Arc<OutboxState>,
    pub(crate) overflow: Arc<Notify>,
}

impl OutboxReceiver {
    /// Takes `q` off the books once it is written (or dropped).
    pub(crate) fn written(&self, q: &Queued) {
        self.state.release(q);
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        // What is still queued is dropped with the receiver: give its
        // bytes back to the user's count.
        self.rx.close();
        while let Ok(q) = self.rx.try_recv() {
            self.state.release(&q);
        }
    }
}

impl Outbox {
    /// A new queue holding up to `capacity` frames (and 64 MiB).
    #[cfg(test)]
    pub(crate) fn new(capacity: usize) -> (Outbox, OutboxReceiver) {
        Outbox::with_limits(OutboxLimits::new(capacity, 64 << 20))
    }

    /// A new queue with these limits.
    pub(crate) fn with_limits(limits: OutboxLimits) -> (Outbox, OutboxReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let overflow = Arc::new(Notify::new());
        let state = Arc::new(OutboxState {
            limits,
            counts: Mutex::default(),
            user: OnceLock::new(),
            overflow: overflow.clone(),
        });
        (
            Outbox {
                tx,
                state: state.clone(),
            },
            OutboxReceiver {
                rx,
                state,
                overflow,
            },
        )
    }

    /// Counts this queue's bytes in `user`, the count of every connection
    /// of its user, from now on (once).
    pub(crate) fn set_user(&self, user: Arc<AtomicUsize>) {
        let _ = self.state.user.set(user);
    }

    /// Queues `frame`, a frame of the server's own. Returns false if the
    /// connection is gone or its queue is full; in the latter case the
    /// connection is told to close, since it cannot keep up.
    pub fn push(&self, frame: Frame) -> bool {
        self.push_message(Message::Text(frame))
    }

    pub(crate) fn push_message(&self, msg: Message) -> bool {
        let cost = msg.len() + FRAME_OVERHEAD;
        if self.tx.is_closed() {
            return false;
        }
        if !self.state.admit(cost, None) {
            self.state.overflow.notify_one();
            return false;
        }
        let q = Queued {
            msg,
            cost,
            sender: None,
        };
        match self.tx.send(q) {
            Ok(()) => true,
            Err(e) => {
                self.state.release(&e.0);
                false
            }
        }
    }

    /// Queues `frame` relayed from `origin`, within that sender's fair
    /// share of the queue. A refused frame is dropped and the sender told
    /// (`error rate_limited`); the recipient stays connected.
    pub fn push_from(&self, frame: Frame, origin: &Origin) -> Pushed {
        if self.tx.is_closed() {
            return Pushed::Gone;
        }
        let cost = frame.len() + FRAME_OVERHEAD;
        if !self.state.admit(cost, Some(&origin.key)) {
            if let Some(sender) = &origin.notify {
                sender.push(Frame::from(wd_protocol::encode(
                    &wd_protocol::ServerMessage::Error {
                        code: wd_protocol::ErrorCode::RateLimited,
                        message: "the recipient is not reading fast enough: frame dropped"
                            .to_owned(),
                    },
                )));
            }
            return Pushed::Refused;
        }
        let q = Queued {
            msg: Message::Text(frame),
            cost,
            sender: Some(origin.key.clone()),
        };
        match self.tx.send(q) {
            Ok(()) => Pushed::Queued,
            Err(e) => {
                self.state.release(&e.0);
                Pushed::Gone
            }
        }
    }
}

/// What a router's methods return: a future that is already complete for
/// the in-memory router (no allocation) and a boxed one for a router that
/// has to ask a broker.
pub enum Routed<'a, T> {
    /// The answer, known at once.
    Ready(Option<T>),
    /// The answer, once the broker replied.
    Pending(Pin<Box<dyn Future<Output = T> + Send + 'a>>),
}

impl<'a, T> Routed<'a, T> {
    /// An answer known at once.
    pub fn ready(value: T) -> Self {
        Routed::Ready(Some(value))
    }

    /// An answer that needs `fut` to complete.
    pub fn pending(fut: impl Future<Output = T> + Send + 'a) -> Self {
        Routed::Pending(Box::pin(fut))
    }
}

impl<T: Unpin> Future for Routed<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut() {
            Routed::Ready(value) => {
                Poll::Ready(value.take().expect("Routed polled after completion"))
            }
            Routed::Pending(fut) => fut.as_mut().poll(cx),
        }
    }
}

/// The broker could not be asked: devices on other nodes may not have
/// received the frame. `local` devices of this node did (for invites the
/// router delivers nothing, so that an invite fails as a whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteError {
    /// Devices of this node the frame was handed to.
    pub local: usize,
    /// What went wrong, for the log.
    pub message: String,
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "broker unavailable: {}", self.message)
    }
}

impl std::error::Error for RouteError {}

/// Routes frames to the connected devices of a user.
///
/// The methods return [`Routed`] futures: [`MemoryRouter`] answers at once;
/// a broker-backed router ([`crate::broker::RedisRouter`]) serves devices
/// of its own node in-process and asks the broker about the others, so
/// that `offline` (a delivery count of 0) is decided across all nodes at
/// the moment of the invite. A connection hands its frames to
/// [`submit`](Router::submit), which keeps the frames of one sender in
/// order without waiting for the broker between them.
pub trait Router: Send + Sync + 'static {
    /// Records that device `device` of user `uid` is connected and receives
    /// its frames through `outbox`. `welcome` is queued on `outbox` before
    /// any frame routed to the device, and only once the device is visible
    /// to every node.
    fn register<'a>(
        &'a self,
        uid: &'a str,
        device: &'a str,
        outbox: Outbox,
        welcome: Frame,
    ) -> Routed<'a, ()>;

    /// Forgets device `device` of user `uid`.
    fn unregister<'a>(&'a self, uid: &'a str, device: &'a str) -> Routed<'a, ()>;

    /// Hands `frame` to every connected device of `to`, or only to
    /// `device` if given. Returns how many devices it was handed to
    /// (0: none connected, or all of them too slow to take it), or an
    /// error if the broker could not be asked.
    fn deliver<'a>(
        &'a self,
        to: &'a str,
        device: Option<&'a str>,
        frame: &'a Frame,
    ) -> Routed<'a, Result<usize, RouteError>>;

    /// Whether any device of `uid` is connected (on any node).
    fn is_online<'a>(&'a self, uid: &'a str) -> Routed<'a, Result<bool, RouteError>>;

    /// The ids of the connected devices of `uid` (on any node), so that
    /// a push goes only to devices that hold no connection.
    fn live_devices<'a>(&'a self, uid: &'a str) -> Routed<'a, Result<Vec<String>, RouteError>>;

    /// Makes what this node recorded about invites and conversations
    /// ([`crate::authz`]) known to the other nodes, before the frame that
    /// established it is submitted. The default (one node) shares nothing.
    fn share(&self, facts: Vec<Fact>) -> Routed<'_, Result<(), RouteError>> {
        let _ = facts;
        Routed::ready(Ok(()))
    }

    /// Whether other nodes keep records that [`fetch`](Router::fetch) can
    /// ask about. The default (one node) has none: a relay is then decided
    /// on this node's records alone, without first checking what it lacks
    /// (one lock of the records fewer per relayed frame).
    fn has_other_nodes(&self) -> bool {
        false
    }

    /// Asks the other nodes' records what this node does not know. The
    /// default (one node) knows nothing more.
    fn fetch(&self, questions: Vec<Question>) -> Routed<'_, Result<Vec<Fact>, RouteError>> {
        let _ = questions;
        Routed::ready(Ok(Vec::new()))
    }

    /// Queues `frame` for `to` (or only its device `device`) behind every
    /// frame submitted before it, and calls `then` with what
    /// [`deliver`](Router::deliver) would have returned once it is routed.
    /// The returned future completes when the frame is queued, not when it
    /// is delivered: a connection submits its frames in the order it read
    /// them and reads on without waiting for a broker, while frames and
    /// the calls of `then` keep that order. The queue is bounded: when it
    /// is full, the future waits for room, so a sender that floods stops
    /// being read instead of growing memory.
    ///
    /// The default awaits [`deliver`](Router::deliver) (one frame at a
    /// time); [`MemoryRouter`] delivers at once and
    /// [`crate::broker::RedisRouter`] sends everything queued as one Redis
    /// pipeline.
    ///
    /// `origin` is the sending client of a relayed frame (`None` for the
    /// server's own frames): each recipient queue holds only a fair share
    /// of one sender's frames (see [`Outbox::push_from`]).
    fn submit<'a>(
        &'a self,
        to: String,
        device: Option<String>,
        frame: Frame,
        origin: Option<Origin>,
        then: Then,
    ) -> Routed<'a, ()> {
        let _ = origin;
        Routed::pending(async move {
            let result = self.deliver(&to, device.as_deref(), &frame).await;
            then(result);
        })
    }
}

/// What the sender's side does with the result of a frame given to
/// [`Router::submit`]: called exactly once, in submission order.
pub type Then = Box<dyn FnOnce(Result<usize, RouteError>) + Send>;

const SHARDS: usize = 16;

type Devices = Vec<(Box<str>, Outbox)>;
type Shard = RwLock<FxHashMap<Box<str>, Devices>>;

/// The single-node router: a sharded map from uid to its devices.
#[derive(Debug)]
pub struct MemoryRouter {
    shards: Box<[Shard]>,
}

impl Default for MemoryRouter {
    fn default() -> Self {
        MemoryRouter::new()
    }
}

impl MemoryRouter {
    /// An empty router.
    pub fn new() -> Self {
        MemoryRouter {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(FxHashMap::default()))
                .collect(),
        }
    }

    fn shard(&self, uid: &str) -> &Shard {
        // A fast hash: uids are authenticated, and a shard only spreads
        // lock contention.
        let mut h = rustc_hash::FxBuildHasher.build_hasher();
        h.write(uid.as_bytes());
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    /// How many devices are connected in all.
    pub fn device_count(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .map(Vec::len)
                    .sum::<usize>()
            })
            .sum()
    }
}

impl MemoryRouter {
    /// Queues `welcome` on `outbox`, then records the device, under one
    /// lock so that no frame overtakes the welcome.
    pub fn insert(&self, uid: &str, device: &str, outbox: Outbox, welcome: Frame) {
        let mut map = self.shard(uid).write().unwrap_or_else(|e| e.into_inner());
        outbox.push(welcome);
        map.entry(uid.into())
            .or_default()
            .push((device.into(), outbox));
    }

    /// Forgets a device.
    pub fn remove(&self, uid: &str, device: &str) {
        let mut map = self.shard(uid).write().unwrap_or_else(|e| e.into_inner());
        if let Some(devices) = map.get_mut(uid) {
            devices.retain(|(d, _)| &**d != device);
            if devices.is_empty() {
                map.remove(uid);
            }
        }
    }

    /// Hands `frame` to the devices of `to` (or to `device` only) on this
    /// node; returns how many took it.
    ///
    /// A frame with an `origin` (relayed from a client) is queued within
    /// that sender's fair share of each queue; one refused there counts as
    /// handed over (the sender was told), so that it is not taken for
    /// `offline`.
    pub fn push(
        &self,
        to: &str,
        device: Option<&str>,
        frame: &Frame,
        origin: Option<&Origin>,
    ) -> usize {
        let map = self.shard(to).read().unwrap_or_else(|e| e.into_inner());
        let Some(devices) = map.get(to) else {
            return 0;
        };
        devices
            .iter()
            .filter(|(d, _)| device.is_none_or(|want| &**d == want))
            .filter(|(_, outbox)| match origin {
                None => outbox.push(frame.clone()),
                Some(origin) => outbox.push_from(frame.clone(), origin) != Pushed::Gone,
            })
            .count()
    }

    /// Whether `uid` has a device on this node.
    pub fn contains(&self, uid: &str) -> bool {
        let map = self.shard(uid).read().unwrap_or_else(|e| e.into_inner());
        map.contains_key(uid)
    }

    /// The devices of `uid` on this node.
    pub fn devices_of(&self, uid: &str) -> Vec<String> {
        let map = self.shard(uid).read().unwrap_or_else(|e| e.into_inner());
        map.get(uid)
            .map(|devices| devices.iter().map(|(d, _)| d.to_string()).collect())
            .unwrap_or_default()
    }

    /// Every (uid, device) on this node.
    pub fn devices(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            let map = shard.read().unwrap_or_else(|e| e.into_inner());
            for (uid, devices) in map.iter() {
                all.extend(
                    devices
                        .iter()
                        .map(|(d, _)| (uid.to_string(), d.to_string())),
                );
            }
        }
        all
    }
}

impl Router for MemoryRouter {
    fn register<'a>(
        &'a self,
        uid: &'a str,
        device: &'a str,
        outbox: Outbox,
        welcome: Frame,
    ) -> Routed<'a, ()> {
        self.insert(uid, device, outbox, welcome);
        Routed::ready(())
    }

    fn unregister<'a>(&'a self, uid: &'a str, device: &'a str) -> Routed<'a, ()> {
        self.remove(uid, device);
        Routed::ready(())
    }

    fn deliver<'a>(
        &'a self,
        to: &'a str,
        device: Option<&'a str>,
        frame: &'a Frame,
    ) -> Routed<'a, Result<usize, RouteError>> {
        Routed::ready(Ok(self.push(to, device, frame, None)))
    }

    fn is_online<'a>(&'a self, uid: &'a str) -> Routed<'a, Result<bool, RouteError>> {
        Routed::ready(Ok(self.contains(uid)))
    }

    fn live_devices<'a>(&'a self, uid: &'a str) -> Routed<'a, Result<Vec<String>, RouteError>> {
        Routed::ready(Ok(self.devices_of(uid)))
    }

    fn submit<'a>(
        &'a self,
        to: String,
        device: Option<String>,
        frame: Frame,
        origin: Option<Origin>,
        then: Then,
    ) -> Routed<'a, ()> {
        then(Ok(self.push(
            &to,
            device.as_deref(),
            &frame,
            origin.as_ref(),
        )));
        Routed::ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(rx: &mut OutboxReceiver) -> Message {
        let q = rx.rx.try_recv().unwrap();
        rx.written(&q);
        q.msg
    }

    #[test]
    fn delivers_to_all_or_one_device() {
        let r = MemoryRouter::new();
        let (a1, mut r1) = Outbox::new(4);
        let (a2, mut r2) = Outbox::new(4);
        r.insert("alice", "n1.1", a1, Frame::from("w1"));
        r.insert("alice", "n1.2", a2, Frame::from("w2"));
        assert!(r.contains("alice"));
        assert!(!r.contains("bob"));
        assert_eq!(r.push("alice", None, &Frame::from("x"), None), 2);
        assert_eq!(r.push("alice", Some("n1.2"), &Frame::from("y"), None), 1);
        assert_eq!(r.push("alice", Some("n1.9"), &Frame::from("z"), None), 0);
        assert_eq!(r.push("bob", None, &Frame::from("z"), None), 0);
        assert_eq!(next(&mut r1), Message::text("w1"));
        assert_eq!(next(&mut r2), Message::text("w2"));
        assert_eq!(next(&mut r1), Message::text("x"));
        assert!(r1.rx.try_recv().is_err());
        assert_eq!(next(&mut r2), Message::text("x"));
        assert_eq!(next(&mut r2), Message::text("y"));
        assert_eq!(r.devices().len(), 2);
        assert_eq!(r.devices_of("alice"), vec!["n1.1", "n1.2"]);
        assert!(r.devices_of("bob").is_empty());
        r.remove("alice", "n1.1");
        assert_eq!(r.device_count(), 1);
        r.remove("alice", "n1.2");
        assert!(!r.contains("alice"));
    }

    #[test]
    fn full_queue_signals_overflow() {
        let r = MemoryRouter::new();
        let (a, mut rx) = Outbox::new(1);
        r.insert("alice", "n1.1", a, Frame::from("w"));
        assert_eq!(next(&mut rx), Message::text("w"));
        assert_eq!(r.push("alice", None, &Frame::from("1"), None), 1);
        assert_eq!(r.push("alice", None, &Frame::from("2"), None), 0);
        // The overflow left a permit: this completes at once.
        futures_util::FutureExt::now_or_never(rx.overflow.notified()).unwrap();
    }

    /// Bytes are bounded as well as frames, per connection and per user.
    #[test]
    fn bytes_are_bounded_per_connection_and_per_user() {
        let limits = OutboxLimits {
            frames: 100,
            bytes: 4 * (1000 + FRAME_OVERHEAD),
            user_bytes: 6 * (1000 + FRAME_OVERHEAD),
        };
        let user = Arc::new(AtomicUsize::new(0));
        let (a, mut ra) = Outbox::with_limits(limits);
        let (b, _rb) = Outbox::with_limits(limits);
        a.set_user(user.clone());
        b.set_user(user.clone());
        let big = Frame::from("x".repeat(1000));
        assert!((0..4).all(|_| a.push(big.clone())));
        assert!(!a.push(big.clone()), "a connection's bytes are capped");
        assert!(b.push(big.clone()) && b.push(big.clone()));
        assert!(!b.push(big.clone()), "the user's bytes are capped");
        next(&mut ra);
        assert!(b.push(big.clone()), "a written frame frees its bytes");
        drop(ra);
        assert_eq!(
            user.load(Ordering::Relaxed),
            3 * (1000 + FRAME_OVERHEAD),
            "a dropped queue gives its bytes back"
        );
    }

    /// One sender holds at most a quarter of a queue; its excess is
    /// refused to it (with an error) while other senders still get in and
    /// the recipient is not dropped.
    #[test]
    fn one_sender_gets_a_fair_share_and_hears_its_refusals() {
        let (victim, mut rv) = Outbox::new(8);
        let (flooder, mut rf) = Outbox::new(8);
        let flood = Origin {
            key: "n1.f".into(),
            notify: Some(flooder),
        };
        let friend = Origin {
            key: "n1.g".into(),
            notify: None,
        };
        let f = Frame::from("m");
        assert_eq!(victim.push_from(f.clone(), &flood), Pushed::Queued);
        assert_eq!(victim.push_from(f.clone(), &flood), Pushed::Queued);
        assert_eq!(victim.push_from(f.clone(), &flood), Pushed::Refused);
        assert_eq!(victim.push_from(f.clone(), &friend), Pushed::Queued);
        let Message::Text(err) = next(&mut rf) else {
            panic!("the flooder hears a text frame")
        };
        assert!(err.contains("rate_limited"), "{err}");
        assert!(
            futures_util::FutureExt::now_or_never(rv.overflow.notified()).is_none(),
            "the recipient is not dropped"
        );
        next(&mut rv);
        assert_eq!(victim.push_from(f, &flood), Pushed::Queued);
    }
}
