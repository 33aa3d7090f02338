//! Who is connected where, and handing frames to them.
//!
//! [`Router`] is the one interface the connections use, so that a
//! broker-backed router (Redis pub/sub, NATS) can replace the in-memory
//! [`MemoryRouter`] when users outgrow one node.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};
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

/// Routes frames to the connected devices of a user.
///
/// The methods are synchronous and must not block: a connection calls them
/// for every message. A broker-backed router keeps its local devices in
/// memory as [`MemoryRouter`] does, publishes frames for other nodes to a
/// background task's queue, and answers [`is_online`](Router::is_online)
/// and the delivery count from a presence set replicated over the broker.
pub trait Router: Send + Sync + 'static {
    /// Records that device `device` of user `uid` is connected and receives
    /// its frames through `outbox`.
    fn register(&self, uid: &str, device: &str, outbox: Outbox);

    /// Forgets device `device` of user `uid`.
    fn unregister(&self, uid: &str, device: &str);

    /// Hands `frame` to every connected device of `to`, or only to
    /// `device` if given. Returns how many devices it was handed to
    /// (0: none connected, or all of them too slow to take it).
    fn deliver(&self, to: &str, device: Option<&str>, frame: &Frame) -> usize;

    /// Whether any device of `uid` is connected.
    fn is_online(&self, uid: &str) -> bool;
}

const SHARDS: usize = 16;

type Devices = Vec<(Box<str>, Outbox)>;
type Shard = RwLock<HashMap<Box<str>, Devices>>;

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
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, uid: &str) -> &Shard {
        let mut h = DefaultHasher::new();
        uid.hash(&mut h);
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

impl Router for MemoryRouter {
    fn register(&self, uid: &str, device: &str, outbox: Outbox) {
        let mut map = self.shard(uid).write().unwrap_or_else(|e| e.into_inner());
        map.entry(uid.into())
            .or_default()
            .push((device.into(), outbox));
    }

    fn unregister(&self, uid: &str, device: &str) {
        let mut map = self.shard(uid).write().unwrap_or_else(|e| e.into_inner());
        if let Some(devices) = map.get_mut(uid) {
            devices.retain(|(d, _)| &**d != device);
            if devices.is_empty() {
                map.remove(uid);
            }
        }
    }

    fn deliver(&self, to: &str, device: Option<&str>, frame: &Frame) -> usize {
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

    fn is_online(&self, uid: &str) -> bool {
        let map = self.shard(uid).read().unwrap_or_else(|e| e.into_inner());
        map.contains_key(uid)
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
        r.register("alice", "n1.1", a1);
        r.register("alice", "n1.2", a2);
        assert!(r.is_online("alice"));
        assert!(!r.is_online("bob"));
        assert_eq!(r.deliver("alice", None, &Frame::from("x")), 2);
        assert_eq!(r.deliver("alice", Some("n1.2"), &Frame::from("y")), 1);
        assert_eq!(r.deliver("alice", Some("n1.9"), &Frame::from("z")), 0);
        assert_eq!(r.deliver("bob", None, &Frame::from("z")), 0);
        assert_eq!(r1.rx.try_recv().unwrap(), Message::text("x"));
        assert!(r1.rx.try_recv().is_err());
        assert_eq!(r2.rx.try_recv().unwrap(), Message::text("x"));
        assert_eq!(r2.rx.try_recv().unwrap(), Message::text("y"));
        r.unregister("alice", "n1.1");
        assert_eq!(r.device_count(), 1);
        r.unregister("alice", "n1.2");
        assert!(!r.is_online("alice"));
    }

    #[test]
    fn full_queue_signals_overflow() {
        let r = MemoryRouter::new();
        let (a, rx) = Outbox::new(1);
        r.register("alice", "n1.1", a);
        assert_eq!(r.deliver("alice", None, &Frame::from("1")), 1);
        assert_eq!(r.deliver("alice", None, &Frame::from("2")), 0);
        // The overflow left a permit: this completes at once.
        futures_util::FutureExt::now_or_never(rx.overflow.notified()).unwrap();
    }
}
