//! Who is connected where, and handing frames to them.
//!
//! [`Router`] is the one interface the connections use, so that a
//! broker-backed router (Redis pub/sub, NATS) can replace the in-memory
//! [`MemoryRouter`] when users outgrow one node.

use rustc_hash::FxHashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// One encoded text frame. Cloning it is cheap (reference counted), so one
/// encoding serves every device it goes to.
pub type Frame = Utf8Bytes;

/// The outgoing queue of one connection: bounded, so a client that does
/// not read is closed instead of making the server grow without bound.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: mpsc::Sender<Message>,
    overflow: Arc<Notify>,
}

/// The connection's side of an [`Outbox`].
#[derive(Debug)]
pub(crate) struct OutboxReceiver {
    pub(crate) rx: mpsc::Receiver<Message>,
    pub(crate) overflow: Arc<Notify>,
}

impl Outbox {
    /// A new queue holding up to `capacity` frames.
    pub(crate) fn new(capacity: usize) -> (Outbox, OutboxReceiver) {
        let (tx, rx) = mpsc::channel(capacity);
        let overflow = Arc::new(Notify::new());
        (
            Outbox {
                tx,
                overflow: overflow.clone(),
            },
            OutboxReceiver { rx, overflow },
        )
    }

    /// Queues `frame`. Returns false if the connection is gone or its queue
    /// is full; in the latter case the connection is told to close, since
    /// it cannot keep up.
    pub fn push(&self, frame: Frame) -> bool {
        self.push_message(Message::Text(frame))
    }

    pub(crate) fn push_message(&self, msg: Message) -> bool {
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.overflow.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
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
    fn submit<'a>(
        &'a self,
        to: String,
        device: Option<String>,
        frame: Frame,
        then: Then,
    ) -> Routed<'a, ()> {
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
    pub fn push(&self, to: &str, device: Option<&str>, frame: &Frame) -> usize {
        let map = self.shard(to).read().unwrap_or_else(|e| e.into_inner());
        let Some(devices) = map.get(to) else {
            return 0;
        };
        devices
            .iter()
            .filter(|(d, _)| device.is_none_or(|want| &**d == want))
            .filter(|(_, outbox)| outbox.push(frame.clone()))
            .count()
    }

    /// Whether `uid` has a device on this node.
    pub fn contains(&self, uid: &str) -> bool {
        let map = self.shard(uid).read().unwrap_or_else(|e| e.into_inner());
        map.contains_key(uid)
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
        Routed::ready(Ok(self.push(to, device, frame)))
    }

    fn is_online<'a>(&'a self, uid: &'a str) -> Routed<'a, Result<bool, RouteError>> {
        Routed::ready(Ok(self.contains(uid)))
    }

    fn submit<'a>(
        &'a self,
        to: String,
        device: Option<String>,
        frame: Frame,
        then: Then,
    ) -> Routed<'a, ()> {
        then(Ok(self.push(&to, device.as_deref(), &frame)));
        Routed::ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_to_all_or_one_device() {
        let r = MemoryRouter::new();
        let (a1, mut r1) = Outbox::new(4);
        let (a2, mut r2) = Outbox::new(4);
        r.insert("alice", "n1.1", a1, Frame::from("w1"));
        r.insert("alice", "n1.2", a2, Frame::from("w2"));
        assert!(r.contains("alice"));
        assert!(!r.contains("bob"));
        assert_eq!(r.push("alice", None, &Frame::from("x")), 2);
        assert_eq!(r.push("alice", Some("n1.2"), &Frame::from("y")), 1);
        assert_eq!(r.push("alice", Some("n1.9"), &Frame::from("z")), 0);
        assert_eq!(r.push("bob", None, &Frame::from("z")), 0);
        assert_eq!(r1.rx.try_recv().unwrap(), Message::text("w1"));
        assert_eq!(r2.rx.try_recv().unwrap(), Message::text("w2"));
        assert_eq!(r1.rx.try_recv().unwrap(), Message::text("x"));
        assert!(r1.rx.try_recv().is_err());
        assert_eq!(r2.rx.try_recv().unwrap(), Message::text("x"));
        assert_eq!(r2.rx.try_recv().unwrap(), Message::text("y"));
        assert_eq!(r.devices().len(), 2);
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
        assert_eq!(rx.rx.try_recv().unwrap(), Message::text("w"));
        assert_eq!(r.push("alice", None, &Frame::from("1")), 1);
        assert_eq!(r.push("alice", None, &Frame::from("2")), 0);
        // The overflow left a permit: this completes at once.
        futures_util::FutureExt::now_or_never(rx.overflow.notified()).unwrap();
    }
}
