//! What the I/O thread, the event thread and every handle of one client
//! share: the engine behind one lock, the frames waiting to be written,
//! and the live handles by engine key.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};
use std::time::Instant;

use mio::Waker;
use rustc_hash::FxHashMap as HashMap;
use tungstenite::WebSocket;
use wd_protocol::encode;

use super::conversation::ConversationShared;
use super::events::{deliver_here, Deliver, Job, JobSender, Listener, Slot};
use super::incoming::IncomingShared;
use super::io::{self, Stream};
use super::outgoing::OutgoingShared;
use super::text::Text;
use super::{
    ConnectionState, Conversation, ConversationEvent, IncomingEvent, IncomingInvite, OutgoingEvent,
};
use crate::engine::{Engine, Event, Key};

/// The engine and the objects that mirror its live state.
pub(crate) struct EngineState {
    pub(crate) engine: Engine,
    /// Encoded frames waiting to be written, in order. Whoever holds the
    /// link (the I/O thread, or a calling thread that got it without
    /// waiting) takes them out and writes them.
    pub(crate) outbox: VecDeque<String>,
    /// Where the I/O thread last planned to wake up at the latest (its
    /// next heartbeat, dead-link check or engine deadline); `None` while
    /// it has no plan. A call that arms an earlier engine deadline wakes
    /// it, any other does not.
    pub(crate) io_wake: Option<Instant>,
    outgoing: HashMap<Key, Arc<OutgoingShared>>,
    incoming: HashMap<Key, Arc<IncomingShared>>,
    conversations: HashMap<Key, Arc<ConversationShared>>,
}

/// The shared heart of one client.
pub(crate) struct Core {
    state: Mutex<EngineState>,
    /// The WebSocket while a connection is open. Lock order: this before
    /// `state`. No listener ever runs under it, and nobody waits for it
    /// but the I/O thread: a calling thread only tries it.
    link: Mutex<Option<WebSocket<Stream>>>,
    waker: Waker,
    jobs: JobSender,
    /// Whether `jobs` still takes jobs (false once the client stopped it).
    events_open: Mutex<bool>,
    /// Listeners run on the I/O thread (`DispatchMode::Io`).
    inline: bool,
    connection: AtomicU8,
    /// Serializes connection state changes with their events.
    connection_events: Mutex<()>,
    pub(crate) uid: Text,
    device: Mutex<String>,
    /// Invites that arrived, for the client's invite listener.
    pub(crate) invites: Slot<(), IncomingInvite>,
    /// Connection state changes, for the connection listener.
    pub(crate) states: Arc<StateEvents>,
}

/// The queue of connection state changes (delivered like a handle's).
#[derive(Default)]
pub(crate) struct StateEvents {
    pub(crate) slot: Slot<(), super::ConnectionState>,
}

impl Deliver for StateEvents {
    fn deliver(self: Arc<Self>) {
        self.slot.run(&());
    }
}

impl Core {
    pub(crate) fn new(
        engine: Engine,
        waker: Waker,
        jobs: JobSender,
        inline: bool,
        uid: Text,
        device: String,
    ) -> Self {
        Core {
            state: Mutex::new(EngineState {
                engine,
                outbox: VecDeque::new(),
                io_wake: None,
                outgoing: HashMap::default(),
                incoming: HashMap::default(),
                conversations: HashMap::default(),
            }),
            link: Mutex::new(None),
            waker,
            jobs,
            events_open: Mutex::new(true),
            inline,
            connection: AtomicU8::new(ConnectionState::Connected as u8),
            connection_events: Mutex::new(()),
            uid,
            device: Mutex::new(device),
            invites: Slot::default(),
            states: Arc::new(StateEvents::default()),
        }
    }

    /// Locks the engine. No listener ever runs under this lock.
    pub(crate) fn lock(&self) -> MutexGuard<'_, EngineState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Locks the link (I/O thread only: callers use [`Core::send_now`]).
    pub(crate) fn link(&self) -> MutexGuard<'_, Option<WebSocket<Stream>>> {
        self.link.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks this thread as the I/O thread of this client.
    pub(crate) fn enter_io_thread(&self) {
        IO_CORE.with(|c| c.set(self as *const Core as usize));
    }

    /// Whether this thread is the I/O thread of this client.
    pub(crate) fn on_io_thread(&self) -> bool {
        IO_CORE.with(|c| c.get() == self as *const Core as usize)
    }

    /// Whether listeners run on the I/O thread.
    pub(crate) fn inline_dispatch(&self) -> bool {
        self.inline
    }

    /// Wakes the I/O thread so it writes queued frames and re-reads the
    /// engine's next deadline.
    pub(crate) fn wake_io(&self) {
        // Failing to wake means the poller is gone, i.e. the I/O thread
        // has ended; there is nobody left to wake.
        let _ = self.waker.wake();
    }

    pub(crate) fn connection_state(&self) -> ConnectionState {
        ConnectionState::from_u8(self.connection.load(Ordering::Acquire))
    }

    /// Changes the connection state and queues its event (none if the
    /// state is unchanged).
    pub(crate) fn set_connection_state(&self, state: ConnectionState) {
        {
            let _order = self
                .connection_events
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if self.connection.swap(state as u8, Ordering::AcqRel) == state as u8 {
                return;
            }
            self.states.slot.push_latest(state);
        }
        log::debug!("connection state: {}", state.as_str());
        self.post(self.states.clone());
    }

    /// Installs the connection listener; it hears the current state first.
    pub(crate) fn set_connection_listener(&self, listener: Listener<(), ConnectionState>) {
        let old = {
            let _order = self
                .connection_events
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            self.states
                .slot
                .reset_with(self.connection_state(), listener)
        };
        drop(old);
        self.post(self.states.clone());
    }

    /// This device's id (a new one after every reconnection).
    pub(crate) fn device(&self) -> String {
        self.device
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_device(&self, device: &str) {
        *self.device.lock().unwrap_or_else(|p| p.into_inner()) = device.to_owned();
    }

    /// Puts a handle on the event queue. Once the client stopped its
    /// queue ([`Core::stop_events`]) nothing is queued: no engine event
    /// follows the stop (the link ended every invite and conversation
    /// before it), and a listener set afterwards goes through
    /// [`Core::post_or_deliver_here`].
    pub(crate) fn post(&self, target: Arc<dyn Deliver>) {
        let _ = self.try_post(target);
    }

    /// Puts a handle on the event queue of its client `core`, or, once
    /// that client stopped its queue or is gone (the app freed it),
    /// delivers the handle's events on this thread now: a listener set
    /// after its client is gone still hears what happened, once. Call with
    /// no lock held.
    pub(crate) fn post_or_deliver_here(core: &Weak<Core>, target: Arc<dyn Deliver>) {
        let target = match core.upgrade() {
            Some(core) => match core.try_post(target) {
                Ok(()) => return,
                Err(target) => target,
            },
            None => target,
        };
        deliver_here(target);
    }

    /// Queues `target` unless the queue is stopped; gives it back if so.
    fn try_post(&self, target: Arc<dyn Deliver>) -> Result<(), Arc<dyn Deliver>> {
        {
            // Held across the send, so no job lands behind `Job::Stop`.
            let open = self.events_open.lock().unwrap_or_else(|p| p.into_inner());
            if !*open {
                return Err(target);
            }
            if let Err(e) = self.jobs.send(Job::Wake(target)) {
                // The receiver is gone (a manual-dispatch client dropped).
                return match e.into_inner() {
                    Job::Wake(target) => Err(target),
                    Job::Stop => Ok(()),
                };
            }
        }
        // With inline dispatch the I/O thread drains the queue; it does so
        // before it sleeps, so only another thread needs to wake it.
        if self.inline && !self.on_io_thread() {
            self.wake_io();
        }
        Ok(())
    }

    /// Stops the event queue after the jobs already in it: the client is
    /// being freed.
    pub(crate) fn stop_events(&self) {
        let mut open = self.events_open.lock().unwrap_or_else(|p| p.into_inner());
        *open = false;
        let _ = self.jobs.send(Job::Stop);
    }

    /// Moves everything the engine produced out of it: frames into the
    /// outbox, events into the handles they concern. Call after every
    /// engine input, with the lock held.
    pub(crate) fn pump(self: &Arc<Self>, st: &mut EngineState) {
        while let Some(msg) = st.engine.poll_transmit() {
            st.outbox.push_back(encode(&msg));
        }
        while let Some(event) = st.engine.poll_event() {
            self.route(st, event);
        }
    }

    /// Runs `f` on the engine with the current time, pumps, and sends the
    /// frames it produced: on this thread when the link is free and the
    /// socket takes them, else through the I/O thread. Wakes the I/O
    /// thread only when that is needed for the frames or for an engine
    /// deadline earlier than the one it sleeps towards.
    pub(crate) fn with_engine<T>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut EngineState, Instant) -> T,
    ) -> T {
        let (out, frames, earlier) = {
            let mut st = self.lock();
            let out = f(&mut st, Instant::now());
            self.pump(&mut st);
            let earlier = match (st.engine.poll_timeout(), st.io_wake) {
                (Some(due), Some(planned)) => due < planned,
                (Some(_), None) => true,
                (None, _) => false,
            };
            (out, !st.outbox.is_empty(), earlier)
        };
        if (frames && !self.send_now()) || earlier {
            self.wake_io();
        }
        out
    }

    /// Writes the outbox on this thread if the link can be had without
    /// waiting; `true` when everything queued went out (nothing is left
    /// for the I/O thread). Never called with the engine locked.
    pub(crate) fn send_now(&self) -> bool {
        let mut link = match self.link.try_lock() {
            Ok(link) => link,
            // Held by the I/O thread or another caller: the I/O thread
            // writes what is queued once woken.
            Err(TryLockError::WouldBlock) | Err(TryLockError::Poisoned(_)) => return false,
        };
        match link.as_mut() {
            Some(ws) if ws.get_ref().writes_alone() => io::write_outbox(self, ws) == Ok(true),
            _ => false,
        }
    }

    /// Takes every queued frame out (under the engine lock).
    pub(crate) fn take_outbox(&self) -> VecDeque<String> {
        std::mem::take(&mut self.lock().outbox)
    }

    pub(crate) fn track_outgoing(st: &mut EngineState, key: Key, shared: Arc<OutgoingShared>) {
        st.outgoing.insert(key, shared);
    }

    fn route(self: &Arc<Self>, st: &mut EngineState, event: Event) {
        let key = event.key();
        match event {
            Event::OutgoingRinging { .. } => {
                if let Some(h) = st.outgoing.get(&key) {
                    h.update(OutgoingEvent::Ringing, None, None, None);
                    self.post(h.clone());
                }
            }
            Event::OutgoingAccepted {
                answer,
                conversation,
                ..
            } => {
                let conv = self.start_conversation(st, conversation);
                if let Some(h) = st.outgoing.remove(&key) {
                    h.update(OutgoingEvent::Accepted, Some(conv), Some(answer), None);
                    self.post(h);
                }
            }
            Event::OutgoingRejected { reason, .. } => {
                self.finish_outgoing(st, key, OutgoingEvent::Rejected(reason), None)
            }
            Event::OutgoingCanceled { reason, .. } => {
                self.finish_outgoing(st, key, OutgoingEvent::Canceled, Some(reason))
            }
            Event::OutgoingFailed { reason, .. } => {
                self.finish_outgoing(st, key, OutgoingEvent::Failed(reason), None)
            }
            Event::IncomingReceived { info, .. } => {
                let shared = IncomingShared::new(Arc::downgrade(self), key, info);
                st.incoming.insert(key, shared.clone());
                self.invites.push(IncomingInvite { shared });
                self.post(self.clone());
            }
            Event::IncomingAccepted { conversation, .. } => {
                let conv = self.start_conversation(st, conversation);
                if let Some(h) = st.incoming.remove(&key) {
                    h.update(IncomingEvent::Accepted, Some(conv));
                    self.post(h);
                }
            }
            Event::IncomingRejected { reason, .. } => {
                self.finish_incoming(st, key, IncomingEvent::Rejected(reason))
            }
            Event::IncomingCanceled { reason, .. } => {
                self.finish_incoming(st, key, IncomingEvent::Canceled(reason))
            }
            Event::IncomingFailed { reason, .. } => {
                self.finish_incoming(st, key, IncomingEvent::Failed(reason))
            }
            Event::ParticipantConnected { participant, .. } => self.conversation_event(
                st,
                key,
                ConversationEvent::ParticipantConnected(participant),
            ),
            Event::ConversationMessage { from, payload, .. } => {
                self.conversation_event(st, key, ConversationEvent::Message { from, payload })
            }
            Event::ParticipantDisconnected {
                participant,
                reason,
                ..
            } => {
                if let Some(h) = st.conversations.get(&key) {
                    h.update(ConversationEvent::ParticipantDisconnected {
                        participant,
                        reason,
                    });
                    self.post(h.clone());
                }
            }
            Event::ConversationDisconnected { .. } => {
                if let Some(h) = st.conversations.remove(&key) {
                    h.update(ConversationEvent::Disconnected);
                    self.post(h);
                }
            }
        }
    }

    fn conversation_event(self: &Arc<Self>, st: &EngineState, key: Key, ev: ConversationEvent) {
        if let Some(h) = st.conversations.get(&key) {
            h.update(ev);
            self.post(h.clone());
        }
    }

    /// The handle of a conversation that starts, or of the live one it
    /// joins (one conversation id is one conversation).
    fn start_conversation(
        self: &Arc<Self>,
        st: &mut EngineState,
        info: crate::engine::ConversationInfo,
    ) -> Conversation {
        let key = info.key;
        if let Some(shared) = st.conversations.get(&key) {
            return Conversation {
                shared: shared.clone(),
            };
        }
        let shared = ConversationShared::new(Arc::downgrade(self), info);
        st.conversations.insert(key, shared.clone());
        Conversation { shared }
    }

    fn finish_outgoing(
        self: &Arc<Self>,
        st: &mut EngineState,
        key: Key,
        event: OutgoingEvent,
        cancel: Option<wd_protocol::CancelReason>,
    ) {
        if let Some(h) = st.outgoing.remove(&key) {
            h.update(event, None, None, cancel);
            self.post(h);
        }
    }

    fn finish_incoming(self: &Arc<Self>, st: &mut EngineState, key: Key, event: IncomingEvent) {
        if let Some(h) = st.incoming.remove(&key) {
            h.update(event, None);
            self.post(h);
        }
    }
}

thread_local! {
    /// The client whose I/O thread this is (its `Core`'s address), or 0.
    static IO_CORE: Cell<usize> = const { Cell::new(0) };
}

impl Deliver for Core {
    fn deliver(self: Arc<Self>) {
        self.invites.run(&());
    }
}
