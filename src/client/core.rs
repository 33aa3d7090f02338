//! What the I/O thread, the event thread and every handle of one client
//! share: the engine behind one lock, the link its frames go out on, the
//! live handles by engine key, and the client's event queue.
//!
//! Calls go one way: a handle runs its call on the engine
//! ([`Core::with_engine`]), whose frames go to the [`Link`]. What the I/O
//! thread reads comes back one way too: into the engine, then out to the
//! handles it concerns ([`Core::pump`]).

use std::cell::Cell;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

use mio::Waker;
use rustc_hash::FxHashMap as HashMap;
use wd_protocol::{encode, PushPayload};

use super::conversation::{Conversation, ConversationEvent};
use super::error::Error;
use super::events::{deliver_here, Deliver, Job, JobSender, Listener, Slot};
use super::handle::Kind;
use super::incoming::{IncomingEvent, IncomingInvite, WeakInvite};
use super::link::Link;
use super::outgoing::{OutgoingEvent, OutgoingInvite};
use super::push::{PushEvent, PushEvents};
use super::state::{ConnectionState, StateCell};
use crate::engine::{
    self, ConversationInfo, Engine, Event, IncomingEnding, IncomingInfo, Key, PushHandled,
};

/// How many incoming handles by invite id are kept (dead ones are pruned
/// when this many are, and the bound doubles with the live ones).
const MIN_BY_INVITE: usize = 64;

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
    /// Every incoming handle the app may still hold, live or finished, by
    /// invite id: a push about an invite that already has a handle gets
    /// that handle.
    by_invite: HashMap<String, WeakInvite>,
    /// When `by_invite` is pruned next.
    by_invite_cap: usize,
    /// The invite a push is creating right now: the invite listener does
    /// not hear of it, and it is not confirmed yet.
    pushed: Option<Key>,
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
    /// This user's id, known from the first connection on.
    uid: OnceLock<String>,
    device: Mutex<String>,
    /// Invites that arrived, for the client's invite listener.
    pub(crate) invites: Slot<(), IncomingInvite>,
    /// Events about push registrations, for the push listener.
    pub(crate) pushes: Arc<PushEvents>,
}

impl Core {
    /// A client's state around `engine`, its connection in `state`
    /// (`Connected` when the caller connected it, `Connecting` when the
    /// I/O thread is to connect it).
    pub(crate) fn new(
        engine: Engine,
        waker: Waker,
        jobs: JobSender,
        inline: bool,
        state: ConnectionState,
    ) -> Self {
        Core {
            state: Mutex::new(EngineState {
                engine,
                io_wake: None,
                outgoing: HashMap::default(),
                incoming: HashMap::default(),
                conversations: HashMap::default(),
                by_invite: HashMap::default(),
                by_invite_cap: MIN_BY_INVITE,
                pushed: None,
            }),
            link: Link::new(),
            waker,
            jobs,
            events_open: Mutex::new(true),
            inline,
            connection: StateCell::new(state),
            uid: OnceLock::new(),
            device: Mutex::new(String::new()),
            invites: Slot::default(),
            pushes: Arc::default(),
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

    /// This user's id; empty until the first connection.
    pub(crate) fn uid(&self) -> &str {
        self.uid.get().map_or("", String::as_str)
    }

    /// Records who the server says this client is, on each connection
    /// (the uid never changes: it comes from the token).
    pub(crate) fn set_identity(&self, uid: &str, device: &str) {
        let _ = self.uid.set(uid.to_owned());
        self.set_device(device);
    }

    /// This device's id (a new one after every reconnection); empty until
    /// the first connection.
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
    /// link's queue, events into the handles they concern (invite events
    /// first, then push events: one input never queues both about one
    /// invite). Call after every engine input, with the lock held, so
    /// that events of different inputs keep their order.
    pub(crate) fn pump(self: &Arc<Self>, st: &mut EngineState) {
        while let Some(msg) = st.engine.poll_transmit() {
            self.link.queue(encode(&msg));
        }
        while let Some(event) = st.engine.poll_event() {
            self.route(st, event);
        }
        while let Some(event) = st.engine.poll_push_event() {
            self.route_push(st, event);
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
                // A push made it: the app has it from `handle_push`, and
                // the invite listener does not hear of it.
                let pushed = st.pushed == Some(key);
                let invite = IncomingInvite::arrived(self, key, info, !pushed);
                st.incoming.insert(key, invite.clone());
                remember(st, &invite);
                if !pushed {
                    self.invites.push(invite);
                    self.post(self.clone());
                }
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

    /// Hands an engine push event to the invite it fills in, or to the
    /// push listener.
    fn route_push(self: &Arc<Self>, st: &mut EngineState, event: engine::PushEvent) {
        if let engine::PushEvent::IncomingUpdated { key, info } = event {
            if let Some(invite) = st.incoming.get(&key) {
                invite.fill_in(info);
                self.tell(Some(invite), IncomingEvent::Confirmed);
            }
            return;
        }
        if let Some(event) = PushEvent::from_engine(event) {
            self.pushes.push(event);
            self.post(self.pushes.clone());
        }
    }

    /// Turns a push into the incoming invite it stands for, without the
    /// network: the live invite (made now, or the handle it already has),
    /// that invite ended by an `invite_ended` push, or, for an invite that
    /// is over here (or was never here), a handle already ended as the
    /// push says, for a missed call. The same invite always gets the same
    /// handle while the app holds one. An invalid push changes nothing.
    pub(crate) fn handle_push(
        self: &Arc<Self>,
        payload: PushPayload,
    ) -> Result<IncomingInvite, Error> {
        let invite_id = payload.invite_id().to_owned();
        self.with_engine(|st, now| {
            let handled = st.engine.handle_push(payload.clone(), now)?;
            if let PushHandled::Live { key, created: true } = handled {
                st.pushed = Some(key);
            }
            self.pump(st);
            st.pushed = None;
            let held = st.by_invite.get(&invite_id).and_then(WeakInvite::upgrade);
            let invite = match (handled, held) {
                (PushHandled::Live { key, .. }, held) => match st.incoming.get(&key) {
                    Some(live) => live.clone(),
                    // Every live invite has its handle; should one be
                    // missing, the push makes it.
                    None => held.unwrap_or_else(|| {
                        let invite =
                            IncomingInvite::arrived(self, key, pushed_info(&payload), false);
                        st.incoming.insert(key, invite.clone());
                        invite
                    }),
                },
                (_, Some(held)) => held,
                (PushHandled::Ended { ending, .. } | PushHandled::Gone { ending }, None) => {
                    let info = pushed_info(&payload);
                    let event = self.ending_event(st, ending, &info);
                    IncomingInvite::ended(self, info, event)
                }
            };
            remember(st, &invite);
            Ok(invite)
        })
    }

    /// The terminal event of an invite that ended with `ending` before this
    /// client made a handle for it.
    fn ending_event(
        self: &Arc<Self>,
        st: &EngineState,
        ending: IncomingEnding,
        info: &IncomingInfo,
    ) -> IncomingEvent {
        match ending {
            IncomingEnding::Accepted => {
                let live = st
                    .conversations
                    .values()
                    .find(|c| c.conversation_id() == info.conversation_id);
                let conversation = live.cloned().unwrap_or_else(|| {
                    Conversation::gone(self, info.conversation_id.clone(), info.mode)
                });
                IncomingEvent::Accepted { conversation }
            }
            IncomingEnding::Rejected(reason) => IncomingEvent::Rejected(reason),
            IncomingEnding::Canceled(reason) => IncomingEvent::Canceled(reason),
            IncomingEnding::Failed(reason) => IncomingEvent::Failed(reason),
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

/// Keeps `invite` findable by its invite id while the app holds it.
fn remember(st: &mut EngineState, invite: &IncomingInvite) {
    if st.by_invite.len() >= st.by_invite_cap {
        st.by_invite.retain(|_, held| held.alive());
        st.by_invite_cap = (2 * st.by_invite.len()).max(MIN_BY_INVITE);
    }
    st.by_invite
        .insert(invite.invite_id().to_owned(), invite.downgrade());
}

/// What a push says about its invite (no offer: pushes never carry one;
/// an `invite_ended` push names neither the caller's device nor the mode).
fn pushed_info(payload: &PushPayload) -> IncomingInfo {
    match payload.clone() {
        PushPayload::Invite {
            invite_id,
            conversation_id,
            from,
            device,
            mode,
            user_data,
            ..
        } => IncomingInfo {
            from,
            from_device: device,
            invite_id,
            conversation_id,
            mode,
            user_data,
            offer: None,
        },
        PushPayload::InviteEnded {
            invite_id,
            conversation_id,
            from,
            ..
        } => IncomingInfo {
            from,
            from_device: String::new(),
            invite_id,
            conversation_id,
            mode: Default::default(),
            user_data: None,
            offer: None,
        },
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
