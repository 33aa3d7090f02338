//! The client's connection state, readable without a lock, and the queue
//! that hands its changes to the connection listener.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use super::events::{Deliver, Listener, Slot};

/// The client's link to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnectionState {
    /// Opening the connection.
    Connecting = 0,
    /// Connected and authenticated.
    Connected = 1,
    /// Lost the connection; trying again.
    Reconnecting = 2,
    /// Not connected, and not trying.
    Disconnected = 3,
}

impl ConnectionState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => ConnectionState::Connecting,
            1 => ConnectionState::Connected,
            2 => ConnectionState::Reconnecting,
            _ => ConnectionState::Disconnected,
        }
    }

    /// The API name (`"connected"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Disconnected => "disconnected",
        }
    }
}

/// The connection state changes not yet heard, for the connection
/// listener (put on the client's event queue like a handle).
#[derive(Default)]
pub(crate) struct StateEvents {
    slot: Slot<(), ConnectionState>,
}

impl Deliver for StateEvents {
    fn deliver(self: Arc<Self>) {
        self.slot.run(&());
    }
}

/// The current connection state and its listener.
pub(crate) struct StateCell {
    state: AtomicU8,
    /// Serializes state changes with their events.
    order: Mutex<()>,
    events: Arc<StateEvents>,
}

impl StateCell {
    /// A cell holding `state`, with no listener.
    pub(crate) fn new(state: ConnectionState) -> Self {
        StateCell {
            state: AtomicU8::new(state as u8),
            order: Mutex::new(()),
            events: Arc::default(),
        }
    }

    /// The current state.
    pub(crate) fn get(&self) -> ConnectionState {
        ConnectionState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Changes the state and queues its event; returns what to put on the
    /// event queue, or `None` when the state is unchanged.
    pub(crate) fn set(&self, state: ConnectionState) -> Option<Arc<StateEvents>> {
        let _order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        if self.state.swap(state as u8, Ordering::AcqRel) == state as u8 {
            return None;
        }
        self.events.slot.push_latest(state);
        Some(self.events.clone())
    }

    /// Installs `listener`, which hears the current state first; returns
    /// what to put on the event queue.
    pub(crate) fn set_listener(&self, listener: Listener<(), ConnectionState>) -> Arc<StateEvents> {
        let old = {
            let _order = self.order.lock().unwrap_or_else(|p| p.into_inner());
            self.events.slot.reset_with(self.get(), listener)
        };
        drop(old);
        self.events.clone()
    }

    /// Removes the listener.
    pub(crate) fn clear_listener(&self) {
        self.events.slot.clear();
    }
}
