//! What every handle kind (outgoing invite, incoming invite, conversation)
//! is made of: its client, its engine key, its fixed properties, its
//! status (readable without a lock), its state, its listener slot, and a
//! place for the data a binding keeps with it.
//!
//! A kind is the public handle type itself (`OutgoingInvite`, …): a
//! cheap clone of an `Arc<Shared<Self>>` that implements [`Kind`].

use std::any::Any;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use super::core::Core;
use super::events::{Deliver, Listener, Slot};
use crate::engine::Key;

/// A handle kind: the public handle type, with what its shared state
/// holds.
pub(crate) trait Kind: Clone + Send + Sync + Sized + 'static {
    /// What happens to it.
    type Event: Send + 'static;
    /// What never changes (ids, mode, the caller's texts).
    type Props: Send + Sync + 'static;
    /// What its events change (its outcome, its participants).
    type State: Send + 'static;
    /// Its status (`pending`, …), kept as an index into
    /// [`Kind::STATUSES`].
    type Status: Copy + PartialEq + 'static;
    /// Every status, in a fixed order.
    const STATUSES: &'static [Self::Status];

    /// The handle over `shared`.
    fn wrap(shared: Arc<Shared<Self>>) -> Self;
    /// The handle's shared state.
    fn shared(&self) -> &Arc<Shared<Self>>;
    /// Folds `event` into `state`; the status it leads to, if it changes
    /// it.
    fn record(state: &mut Self::State, event: &Self::Event) -> Option<Self::Status>;
}

/// Data a binding keeps with a handle for as long as it lives (the C
/// ABI's reference count and the C strings it hands out). Set once, by
/// the first that asks.
#[derive(Default)]
pub(crate) struct Attached(OnceLock<Box<dyn Any + Send + Sync>>);

impl Attached {
    /// The attached `T`, made with `T::default()` by the first call;
    /// `None` if a value of another type was attached first.
    pub(crate) fn get_or_default<T: Any + Send + Sync + Default>(&self) -> Option<&T> {
        self.0.get_or_init(|| Box::new(T::default())).downcast_ref()
    }
}

/// The state shared by every clone of one handle of kind `K`.
pub(crate) struct Shared<K: Kind> {
    core: Weak<Core>,
    pub(crate) key: Key,
    pub(crate) props: K::Props,
    /// The status as an index into `K::STATUSES`, readable without a lock
    /// (the hot getter); written under `state`'s lock, after the fields
    /// it summarises.
    status: AtomicU8,
    state: Mutex<K::State>,
    slot: Slot<K, K::Event>,
    pub(crate) attached: Attached,
}

/// A new handle of kind `K` of client `core`.
pub(crate) fn new_handle<K: Kind>(
    core: Weak<Core>,
    key: Key,
    props: K::Props,
    status: K::Status,
    state: K::State,
) -> K {
    let shared = Arc::new(Shared {
        core,
        key,
        props,
        status: AtomicU8::new(code_of::<K>(status)),
        state: Mutex::new(state),
        slot: Slot::default(),
        attached: Attached::default(),
    });
    K::wrap(shared)
}

impl<K: Kind> Shared<K> {
    /// The client, unless it is gone.
    pub(crate) fn core(&self) -> Option<Arc<Core>> {
        self.core.upgrade()
    }

    /// The current status.
    pub(crate) fn status(&self) -> K::Status {
        K::STATUSES[usize::from(self.status.load(Ordering::Acquire))]
    }

    /// Sets the status (under the engine lock, so no event overtakes it).
    pub(crate) fn set_status(&self, status: K::Status) {
        let _state = self.lock();
        self.status.store(code_of::<K>(status), Ordering::Release);
    }

    /// Locks the state. No listener ever runs under this lock.
    pub(crate) fn lock(&self) -> MutexGuard<'_, K::State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `event` (called under the engine lock, in order) and
    /// queues it for the listener; the caller puts the handle on the
    /// client's event queue.
    pub(crate) fn update(&self, event: K::Event) {
        {
            let mut state = self.lock();
            if let Some(status) = K::record(&mut state, &event) {
                self.status.store(code_of::<K>(status), Ordering::Release);
            }
        }
        self.slot.push(event);
    }

    /// Installs `listener`, replacing (and dropping) the previous one;
    /// events that happened before are delivered to it, once.
    pub(crate) fn set_listener(self: &Arc<Self>, listener: Listener<K, K::Event>) {
        if self.listen(listener) {
            self.wake();
        }
    }

    /// Installs `listener` without delivering anything yet; returns
    /// whether events wait for it (then call [`Shared::wake`], holding no
    /// lock).
    pub(crate) fn listen(&self, listener: Listener<K, K::Event>) -> bool {
        self.slot.set(listener)
    }

    /// Puts the handle on its client's event queue; once the client is
    /// gone, delivers its waiting events on this thread, now.
    pub(crate) fn wake(self: &Arc<Self>) {
        Core::post_or_deliver_here(&self.core, self.clone());
    }

    /// Removes the listener; events that follow wait for a new one.
    pub(crate) fn clear_listener(&self) {
        self.slot.clear();
    }
}

impl<K: Kind> Deliver for Shared<K> {
    fn deliver(self: Arc<Self>) {
        let handle = K::wrap(self);
        handle.shared().slot.run(&handle);
    }
}

/// The index of `status` in `K::STATUSES`.
fn code_of<K: Kind>(status: K::Status) -> u8 {
    let index = K::STATUSES.iter().position(|s| *s == status);
    // Every status is listed; the first is the fallback all the same.
    index.and_then(|i| u8::try_from(i).ok()).unwrap_or(0)
}

/// The public `set_listener` and `clear_listener` of a handle type
/// `$handle` whose events are `$event`.
macro_rules! listener_methods {
    ($handle:ty, $event:ty) => {
        /// Sets the listener, replacing (and dropping) the previous one.
        /// It runs on the client's event thread (or inside `dispatch`, or
        /// on the I/O thread with
        /// [`DispatchMode::Io`](crate::client::DispatchMode::Io)); events
        /// that happened before it was set are delivered to it, once. Once
        /// the client is gone, they are delivered on this thread, inside
        /// this call.
        pub fn set_listener(&self, listener: impl FnMut(&$handle, &$event) + Send + 'static) {
            self.shared.set_listener(Box::new(listener));
        }

        /// Removes the listener; events that follow wait for a new one.
        pub fn clear_listener(&self) {
            self.shared.clear_listener();
        }
    };
}
pub(crate) use listener_methods;
