//! Event delivery: one listener slot per handle, one queue per client.
//!
//! When something happens to a handle, its event is appended to the
//! handle's [`Slot`] (in the order it happened) and the handle is put on the
//! client's queue. Whoever drains the queue — the client's event thread, or
//! the host through `dispatch` — hands the slot's events to its listener,
//! one at a time and never while a lock is held. A slot keeps its events
//! until a listener is there, so a listener registered after its event
//! happened still hears it, once.

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender};

/// A listener of events `E` about a handle `H`.
pub(crate) type Listener<H, E> = Box<dyn FnMut(&H, &E) + Send>;

/// Something with events to hand to its listener.
pub(crate) trait Deliver: Send + Sync {
    /// Hands every queued event to the listener, if there is one.
    fn deliver(self: Arc<Self>);
}

/// An entry of a client's event queue.
pub(crate) enum Job {
    /// This handle may have events to deliver.
    Wake(Arc<dyn Deliver>),
    /// The event thread should stop (after everything queued before).
    Stop,
}

/// The sending end of a client's event queue.
pub(crate) type JobSender = Sender<Job>;
/// The receiving end of a client's event queue.
pub(crate) type JobReceiver = Receiver<Job>;

thread_local! {
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is running a listener right now.
pub(crate) fn in_callback() -> bool {
    IN_CALLBACK.with(Cell::get)
}

/// Runs one job on this thread; `false` for [`Job::Stop`].
pub(crate) fn run_job(job: Job) -> bool {
    match job {
        Job::Wake(target) => {
            let outer = IN_CALLBACK.with(|f| f.replace(true));
            target.deliver();
            IN_CALLBACK.with(|f| f.set(outer));
            true
        }
        Job::Stop => false,
    }
}

/// Delivers `target`'s queued events on this thread, now, as a listener
/// call (for a handle whose client is gone: no queue is left to put it
/// on). Call with no lock held.
pub(crate) fn deliver_here(target: Arc<dyn Deliver>) {
    run_job(Job::Wake(target));
}

struct SlotState<H, E> {
    pending: VecDeque<E>,
    listener: Option<Listener<H, E>>,
    /// Bumped whenever the listener is replaced or cleared, so a listener
    /// taken out to run is not put back over its replacement.
    generation: u64,
    /// The listener is out of `listener`, running.
    running: bool,
}

/// The events of one handle not yet delivered, and its listener.
pub(crate) struct Slot<H, E> {
    state: Mutex<SlotState<H, E>>,
}

impl<H, E> Default for Slot<H, E> {
    fn default() -> Self {
        Slot {
            state: Mutex::new(SlotState {
                pending: VecDeque::new(),
                listener: None,
                generation: 0,
                running: false,
            }),
        }
    }
}

impl<H, E> Slot<H, E> {
    fn lock(&self) -> MutexGuard<'_, SlotState<H, E>> {
        // A listener never runs under this lock, so it cannot be poisoned
        // by user code; recover the data if it ever is.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an event for delivery.
    pub(crate) fn push(&self, event: E) {
        self.lock().pending.push_back(event);
    }

    /// Installs `listener`; returns whether events are waiting for it (the
    /// caller then puts the handle on the queue).
    pub(crate) fn set(&self, listener: Listener<H, E>) -> bool {
        let (old, waiting) = {
            let mut st = self.lock();
            st.generation += 1;
            (st.listener.replace(listener), !st.pending.is_empty())
        };
        drop(old);
        waiting
    }

    /// Queues an event, dropping those not yet delivered when no listener
    /// is set (for state changes, where only the latest matters).
    pub(crate) fn push_latest(&self, event: E) {
        let mut st = self.lock();
        if st.listener.is_none() && !st.running {
            st.pending.clear();
        }
        st.pending.push_back(event);
    }

    /// Replaces every queued event with `event` and installs `listener`;
    /// returns the previous listener for the caller to drop outside its
    /// own locks.
    pub(crate) fn reset_with(&self, event: E, listener: Listener<H, E>) -> Option<Listener<H, E>> {
        let mut st = self.lock();
        st.generation += 1;
        st.pending.clear();
        st.pending.push_back(event);
        st.listener.replace(listener)
    }

    /// Removes the listener (dropping it now, or when it returns if it is
    /// running).
    pub(crate) fn clear(&self) {
        let old = {
            let mut st = self.lock();
            st.generation += 1;
            st.listener.take()
        };
        drop(old);
    }

    /// Drops every queued event.
    pub(crate) fn discard_pending(&self) -> VecDeque<E> {
        std::mem::take(&mut self.lock().pending)
    }

    /// Hands queued events to the listener one by one, on this thread.
    pub(crate) fn run(&self, handle: &H) {
        loop {
            let (mut listener, event, generation) = {
                let mut st = self.lock();
                if st.listener.is_none() {
                    return;
                }
                let Some(event) = st.pending.pop_front() else {
                    return;
                };
                let listener = st.listener.take().expect("checked above");
                st.running = true;
                (listener, event, st.generation)
            };
            // A panicking Rust listener must not take the event thread
            // down; the panic is reported by the default hook and the
            // listener stays installed.
            let _ = catch_unwind(AssertUnwindSafe(|| listener(handle, &event)));
            drop(event);
            let stale = {
                let mut st = self.lock();
                st.running = false;
                if st.generation == generation && st.listener.is_none() {
                    st.listener = Some(listener);
                    None
                } else {
                    Some(listener)
                }
            };
            drop(stale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn late_listener_hears_earlier_events_once() {
        let slot: Slot<(), u32> = Slot::default();
        slot.push(1);
        slot.push(2);
        slot.run(&());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        assert!(slot.set(Box::new(move |_, e| s.lock().unwrap().push(*e))));
        slot.run(&());
        slot.run(&());
        slot.push(3);
        slot.run(&());
        assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn latest_events_queued_while_the_listener_runs_are_all_heard() {
        // A state that changes twice while the listener is busy with the
        // one before (another thread, in the client) loses neither change;
        // with no listener at all, only the latest is kept.
        let slot: Arc<Slot<(), u32>> = Arc::new(Slot::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, inner) = (seen.clone(), slot.clone());
        slot.set(Box::new(move |_, e| {
            s.lock().unwrap().push(*e);
            if *e == 1 {
                inner.push_latest(2);
                inner.push_latest(3);
            }
        }));
        slot.push_latest(1);
        slot.run(&());
        assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);

        slot.clear();
        slot.push_latest(4);
        slot.push_latest(5);
        let s = seen.clone();
        assert!(slot.set(Box::new(move |_, e| s.lock().unwrap().push(*e))));
        slot.run(&());
        assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3, 5]);
    }

    struct DropCount(Arc<AtomicUsize>);
    impl Drop for DropCount {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn replaced_listener_is_dropped_once_and_not_restored() {
        let slot: Arc<Slot<(), u32>> = Arc::new(Slot::default());
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCount(drops.clone());
        let inner = slot.clone();
        let second_calls = Arc::new(AtomicUsize::new(0));
        let sc = second_calls.clone();
        slot.set(Box::new(move |_, _| {
            let _keep = &guard;
            // Replace ourselves from inside the callback.
            let sc = sc.clone();
            inner.set(Box::new(move |_, _| {
                sc.fetch_add(1, Ordering::SeqCst);
            }));
        }));
        slot.push(1);
        slot.push(2);
        slot.run(&());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(second_calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn panicking_listener_does_not_stop_delivery() {
        let slot: Slot<(), u32> = Slot::default();
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        slot.set(Box::new(move |_, e| {
            s.fetch_add(1, Ordering::SeqCst);
            assert_ne!(*e, 1, "listener fails on purpose");
        }));
        slot.push(1);
        slot.push(2);
        slot.run(&());
        assert_eq!(seen.load(Ordering::SeqCst), 2);
    }
}
