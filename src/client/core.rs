//! What the I/O thread, the event thread and every handle of one client
//! share: the engine behind one lock, the link its frames go out on, the
//! live handles by engine key, and the client's event queue.
//!
//! Calls go one way: a handle runs its call on the engine
//! ([`Core::with_engine`]), whose frames go to the [`Link`]. What the I/O
//! thread reads comes back one way too: into the engine, then out to the
//! handles it concerns ([`Core::pump`]).

use std::cell::Cell;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use mio::Waker;
use rustc_hash::FxHashMap as HashMap;
use wd_protocol::encode;

use super::conversation::{Conversation, ConversationEvent};
use super::events::{deliver_here, Deliver, Job, JobSender, Listener, Slot};
use super::handle::Kind;
use super::incoming::{IncomingEvent, IncomingInvite};
use super::link::Link;
use super::outgoing::{OutgoingEvent, OutgoingInvite};
use super::state::{ConnectionState, StateCell};
use crate::engine::{ConversationInfo, Engine, Event, Key};

/// The engine and the handles that mirror its live state.
pub(crate) struct EngineState {
    pub(crate) engine: Engine,
    /// Where the I/O thread last planned to wake up at the latest (its
    /// next heartbeat, dead-link check or engine deadline); `None` while
    /// it has no plan. A call that arms an earlier engine deadline wakes
    /// it, any other does not.
    pub(crate) io_wake: Option<Instant>,
    pub(crate) outgoing: HashMap<Key, OutgoingInvite>,
    incoming: HashMap<Key, IncomingInvite>,
    conversations: HashMap<Key, Conversation>,
}

/// One client's shared state.
pub(crate) struct Core {
    state: Mutex<EngineState>,
    /// The socket and the frames queued for it.
    pub(crate) link: Link,
    waker: Waker,
    jobs: JobSender,
    /// Whether `jobs` still takes jobs (false once the client stopped it).
    events_open: Mutex<bool>,
    /// Listeners run on the I/O thread (`DispatchMode::Io`).
    inline: bool,
    /// The connection state and its listener.
    pub(crate) connection: StateCell,
    pub(crate) uid: String,
    device: Mutex<String>,
    /// Invites that arrived, for the client's invite listener.
    pub(crate) invites: Slot<(), IncomingInvite>,
}

impl Core {
    pub(crate) fn new(
        engine: Engine,
        waker: Waker,
        jobs: JobSender,
        inline: bool,
        uid: String,
        device: String,
    ) -> Self {
        Core {
            state: Mutex::new(EngineState {
                engine,
                io_wake: None,
                outgoing: HashMap::default(),
                incoming: HashMap::default(),
                conversations: HashMap::default(),
            }),
            link: Link::new(),
            waker,
            jobs,
            events_open: Mutex::new(true),
            inline,
            connection: StateCell::new(ConnectionState::Connected),
            uid,
            device: Mutex::new(device),
            invites: Slot::default(),
        }
    }

    /// Locks the engine. No listener ever runs under this lock.
    pub(crate) fn lock(&self) -> MutexGuard<'_, EngineState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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

    /// Changes the connection state and queues its event (none if the
    /// state is unchanged).
    pub(crate) fn set_connection_state(&self, state: ConnectionState) {
        if let Some(events) = self.connection.set(state) {
            log::debug!("connection state: {}", state.as_str());
            self.post(events);
        }
    }

    /// Installs the connection listener; it hears the current state first.
    pub(crate) fn set_connection_listener(&self, listener: Listener<(), ConnectionState>) {
        let events = self.connection.set_listener(listener);
        self.post(events);
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

    /// Moves everything the engine produced out of it: frames onto the
    /// link's queue, events into the handles they concern. Call after
    /// every engine input, with the lock held.
    pub(crate) fn pump(self: &Arc<Self>, st: &mut EngineState) {
        while let Some(msg) = st.engine.poll_transmit() {
            self.link.queue(encode(&msg));
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
        let (out, earlier) = {
            let mut st = self.lock();
            let out = f(&mut st, Instant::now());
            self.pump(&mut st);
            let earlier = match (st.engine.poll_timeout(), st.io_wake) {
                (Some(due), Some(planned)) => due < planned,
                (Some(_), None) => true,
                (None, _) => false,
            };
            (out, earlier)
        };
        if (self.link.has_queued() && !self.link.send_now()) || earlier {
            self.wake_io();
        }
        out
    }

    /// Hands an engine event to the handle it concerns.
    fn route(self: &Arc<Self>, st: &mut EngineState, event: Event) {
        let key = event.key();
        match event {
            Event::OutgoingRinging { .. } => {
                self.tell(st.outgoing.get(&key), OutgoingEvent::Ringing)
            }
            Event::OutgoingAccepted {
                answer,
                conversation,
                ..
            } => {
                let conversation = self.start_conversation(st, conversation);
                let event = OutgoingEvent::Accepted {
                    conversation,
                    answer,
                };
                self.tell(st.outgoing.remove(&key).as_ref(), event)
            }
            Event::OutgoingRejected { reason, .. } => self.tell(
                st.outgoing.remove(&key).as_ref(),
                OutgoingEvent::Rejected(reason),
            ),
            Event::OutgoingCanceled { reason, .. } => self.tell(
                st.outgoing.remove(&key).as_ref(),
                OutgoingEvent::Canceled(reason),
            ),
            Event::OutgoingFailed { reason, .. } => self.tell(
                st.outgoing.remove(&key).as_ref(),
                OutgoingEvent::Failed(reason),
            ),
            Event::IncomingReceived { info, .. } => {
                let invite = IncomingInvite::arrived(self, key, info);
                st.incoming.insert(key, invite.clone());
                self.invites.push(invite);
                self.post(self.clone());
            }
            Event::IncomingAccepted { conversation, .. } => {
                let conversation = self.start_conversation(st, conversation);
                let event = IncomingEvent::Accepted { conversation };
                self.tell(st.incoming.remove(&key).as_ref(), event)
            }
            Event::IncomingRejected { reason, .. } => self.tell(
                st.incoming.remove(&key).as_ref(),
                IncomingEvent::Rejected(reason),
            ),
            Event::IncomingCanceled { reason, .. } => self.tell(
                st.incoming.remove(&key).as_ref(),
                IncomingEvent::Canceled(reason),
            ),
            Event::IncomingFailed { reason, .. } => self.tell(
                st.incoming.remove(&key).as_ref(),
                IncomingEvent::Failed(reason),
            ),
            Event::ParticipantConnected { participant, .. } => self.tell(
                st.conversations.get(&key),
                ConversationEvent::ParticipantConnected(participant),
            ),
            Event::ConversationMessage { from, payload, .. } => self.tell(
                st.conversations.get(&key),
                ConversationEvent::Message { from, payload },
            ),
            Event::ParticipantDisconnected {
                participant,
                reason,
                ..
            } => self.tell(
                st.conversations.get(&key),
                ConversationEvent::ParticipantDisconnected {
                    participant,
                    reason,
                },
            ),
            Event::ConversationDisconnected { .. } => self.tell(
                st.conversations.remove(&key).as_ref(),
                ConversationEvent::Disconnected,
            ),
        }
    }

    /// Records `event` on `handle` (if it is still tracked) and queues the
    /// handle for delivery.
    fn tell<K: Kind>(&self, handle: Option<&K>, event: K::Event) {
        if let Some(handle) = handle {
            handle.shared().update(event);
            self.post(handle.shared().clone());
        }
    }

    /// The handle of a conversation that starts, or of the live one it
    /// joins (one conversation id is one conversation).
    fn start_conversation(
        self: &Arc<Self>,
        st: &mut EngineState,
        info: ConversationInfo,
    ) -> Conversation {
        st.conversations
            .entry(info.key)
            .or_insert_with(|| Conversation::started(self, info))
            .clone()
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
