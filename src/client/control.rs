//! How the app steers a client's I/O thread: end the link and keep it
//! down ([`Control::disconnect`]), want it up again (a push was handed to
//! the client, [`Control::want_connection`]), or end the thread (the
//! client is dropped, [`Control::close`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// How the app steers the I/O thread, shared by the client and the thread.
#[derive(Default)]
pub(crate) struct Control {
    /// Ends the current link, or connection attempt, now: the client is
    /// dropped ([`Control::close`]) or disconnected
    /// ([`Control::disconnect`]).
    stop: AtomicBool,
    /// The client is dropped: the thread ends.
    closing: AtomicBool,
    link: Mutex<LinkPlan>,
    /// Signalled when the link has gone down for good.
    went_down: Condvar,
}

/// Whether the link is down for good, and whether the app wants it up.
#[derive(Default)]
struct LinkPlan {
    /// The link is gone for good (every invite and conversation ended
    /// with it) and the thread is idle.
    down: bool,
    /// Connect again, out of `down`.
    wanted: bool,
}

impl Control {
    fn plan(&self) -> MutexGuard<'_, LinkPlan> {
        self.link.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The client is being dropped: the link ends and the thread with it.
    /// The caller wakes the thread.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.stop.store(true, Ordering::Release);
    }

    /// Whether the current link, or attempt to connect, is to end now.
    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// The flag [`Control::stopping`] reads, for a connection attempt to
    /// watch.
    pub(super) fn stop_flag(&self) -> &AtomicBool {
        &self.stop
    }

    /// Whether the client is being dropped.
    pub(crate) fn closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Ends the link (or the attempt to connect) and keeps it down until a
    /// connection is wanted again; `false` when it is down already. The
    /// caller wakes the thread, then may [`Control::wait_down`].
    pub(crate) fn disconnect(&self) -> bool {
        let mut plan = self.plan();
        plan.wanted = false;
        if plan.down {
            return false;
        }
        self.stop.store(true, Ordering::Release);
        true
    }

    /// Waits until the link is down for good.
    pub(crate) fn wait_down(&self) {
        let mut plan = self.plan();
        while !plan.down && !self.closing() {
            plan = self.went_down.wait(plan).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Asks for a connection if the link is down for good, and then runs
    /// `asked` before the I/O thread can take the wish (so a state it sets
    /// comes before any the thread sets); whether the thread must be woken
    /// for it.
    pub(crate) fn want_connection(&self, asked: impl FnOnce()) -> bool {
        let mut plan = self.plan();
        if plan.down && !plan.wanted {
            plan.wanted = true;
            asked();
            return true;
        }
        false
    }

    /// The link went down for good; a connection wanted before is not.
    pub(super) fn link_down(&self) {
        let mut plan = self.plan();
        plan.down = true;
        plan.wanted = false;
        self.stop.store(self.closing(), Ordering::Release);
        self.went_down.notify_all();
    }

    /// Takes the app's wish for a connection: `true` when it wants one
    /// (the link is no longer down).
    pub(super) fn take_wanted(&self) -> bool {
        let mut plan = self.plan();
        if plan.wanted {
            plan.wanted = false;
            plan.down = false;
            return true;
        }
        false
    }
}
