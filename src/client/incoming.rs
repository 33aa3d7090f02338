//! `IncomingInvite`: an invite this client received.

use std::ffi::CStr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use wd_protocol::{CancelReason, FailureReason, Mode, RejectReason};

use super::core::Core;
use super::events::{Deliver, Slot};
use super::text::Text;
use super::{Conversation, Error};
use crate::engine::{EngineError, IncomingInfo, IncomingStatus, Key};

/// How an incoming invite ended. Exactly one of these happens, once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IncomingEvent {
    /// The caller confirmed this device's accept;
    /// [`IncomingInvite::conversation`] is set.
    Accepted,
    /// The caller's outcome is this device's reject.
    Rejected(RejectReason),
    /// The caller canceled, or another device of this user answered.
    Canceled(CancelReason),
    /// The invite failed here.
    Failed(FailureReason),
}

struct IncomingState {
    status: IncomingStatus,
    failure: Option<FailureReason>,
    cancel: Option<CancelReason>,
    conversation: Option<Conversation>,
}

/// State shared by every clone of one [`IncomingInvite`].
pub(crate) struct IncomingShared {
    core: Weak<Core>,
    key: Key,
    from: Text,
    conversation_id: Text,
    mode: Mode,
    user_data: Option<Text>,
    offer: Option<Text>,
    state: Mutex<IncomingState>,
    slot: Slot<IncomingInvite, IncomingEvent>,
    c_refs: AtomicUsize,
}

impl IncomingShared {
    pub(crate) fn new(core: Weak<Core>, key: Key, info: IncomingInfo) -> Arc<Self> {
        Arc::new(IncomingShared {
            core,
            key,
            from: Text::from_checked(info.from),
            conversation_id: Text::from_checked(info.conversation_id),
            mode: info.mode,
            user_data: info.user_data.map(Text::from_checked),
            offer: info.offer.map(Text::from_checked),
            state: Mutex::new(IncomingState {
                status: IncomingStatus::Pending,
                failure: None,
                cancel: None,
                conversation: None,
            }),
            slot: Slot::default(),
            c_refs: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, IncomingState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a terminal event (under the engine lock) and queues it.
    pub(crate) fn update(&self, event: IncomingEvent, conversation: Option<Conversation>) {
        {
            let mut st = self.lock();
            st.status = match &event {
                IncomingEvent::Accepted => {
                    st.conversation = conversation;
                    IncomingStatus::Accepted
                }
                IncomingEvent::Rejected(_) => IncomingStatus::Rejected,
                IncomingEvent::Canceled(r) => {
                    st.cancel = Some(*r);
                    IncomingStatus::Canceled
                }
                IncomingEvent::Failed(r) => {
                    st.failure = Some(*r);
                    IncomingStatus::Failed
                }
            };
        }
        self.slot.push(event);
    }
}

impl Deliver for IncomingShared {
    fn deliver(self: Arc<Self>) {
        let handle = IncomingInvite { shared: self };
        handle.shared.slot.run(&handle);
    }
}

/// An invite this client received (`IncomingInvite` in the JS API). Cheap
/// to clone; every clone is the same invite. Dropping it changes nothing:
/// an invite nobody answers rings until its lifetime ends.
#[derive(Clone)]
pub struct IncomingInvite {
    pub(crate) shared: Arc<IncomingShared>,
}

impl std::fmt::Debug for IncomingInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingInvite")
            .field("from", &self.from())
            .field("conversation_id", &self.conversation_id())
            .field("status", &self.status())
            .finish()
    }
}

impl IncomingInvite {
    /// The caller's user id.
    pub fn from(&self) -> &str {
        self.shared.from.as_str()
    }

    pub(crate) fn caller_cstr(&self) -> &CStr {
        self.shared.from.as_c_str()
    }

    /// The conversation the invite is for.
    pub fn conversation_id(&self) -> &str {
        self.shared.conversation_id.as_str()
    }

    pub(crate) fn conversation_id_cstr(&self) -> &CStr {
        self.shared.conversation_id.as_c_str()
    }

    /// Media mode.
    pub fn mode(&self) -> Mode {
        self.shared.mode
    }

    /// The caller's text, if any.
    pub fn user_data(&self) -> Option<&str> {
        self.shared.user_data.as_ref().map(Text::as_str)
    }

    pub(crate) fn user_data_cstr(&self) -> Option<&CStr> {
        self.shared.user_data.as_ref().map(Text::as_c_str)
    }

    /// The caller's SDP offer, if any.
    pub fn offer(&self) -> Option<&str> {
        self.shared.offer.as_ref().map(Text::as_str)
    }

    pub(crate) fn offer_cstr(&self) -> Option<&CStr> {
        self.shared.offer.as_ref().map(Text::as_c_str)
    }

    /// `pending`, `accepting`, `rejecting`, `accepted`, `rejected`,
    /// `canceled` or `failed`.
    pub fn status(&self) -> IncomingStatus {
        self.shared.lock().status
    }

    /// Why it failed, once `failed`.
    pub fn failure_reason(&self) -> Option<FailureReason> {
        self.shared.lock().failure
    }

    /// Why it was canceled, once `canceled`.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.shared.lock().cancel
    }

    /// The conversation, once `accepted`.
    pub fn conversation(&self) -> Option<Conversation> {
        self.shared.lock().conversation.clone()
    }

    /// Accepts the invite, sending `answer` (SDP) and `user_data` to the
    /// caller. Valid only while `pending`; the status becomes `accepting`
    /// and then `accepted` once the caller confirms (or `canceled` /
    /// `failed(confirm_timeout)`).
    pub fn accept(&self, answer: Option<&str>, user_data: Option<&str>) -> Result<(), Error> {
        let core = self.core()?;
        let key = self.shared.key;
        let (answer, user_data) = (answer.map(str::to_owned), user_data.map(str::to_owned));
        core.with_engine(|st, now| {
            st.engine.accept(key, answer, user_data, now)?;
            // Still under the engine lock, so no event can overtake it.
            self.shared.lock().status = IncomingStatus::Accepting;
            Ok(())
        })
        .map_err(|e| self.map_err(e))
    }

    /// Rejects the invite. Valid only while `pending`: on `Ok` the status
    /// is `rejecting` and the caller is told; it ends `rejected` once the
    /// caller's outcome is this reject (or `canceled` if the caller
    /// canceled, or another device answered, first; or
    /// `failed(confirm_timeout)`), so both sides end the same way.
    pub fn reject(&self, reason: RejectReason) -> Result<(), Error> {
        let core = self.core()?;
        let key = self.shared.key;
        core.with_engine(|st, now| {
            st.engine.reject(key, reason, now)?;
            // Still under the engine lock, so no event can overtake it.
            self.shared.lock().status = IncomingStatus::Rejecting;
            Ok(())
        })
        .map_err(|e| self.map_err(e))
    }

    fn core(&self) -> Result<Arc<Core>, Error> {
        self.shared.core.upgrade().ok_or(Error::InvalidState {
            status: self.status().as_str(),
        })
    }

    fn map_err(&self, e: EngineError) -> Error {
        match e {
            EngineError::UnknownKey => Error::InvalidState {
                status: self.status().as_str(),
            },
            other => other.into(),
        }
    }

    /// Sets the listener, replacing (and dropping) the previous one. It
    /// runs on the client's event thread (or inside `dispatch`); an event
    /// that happened before it was set is delivered to it, once.
    pub fn set_listener(
        &self,
        listener: impl FnMut(&IncomingInvite, &IncomingEvent) + Send + 'static,
    ) {
        if self.shared.slot.set(Box::new(listener)) {
            Core::post_or_deliver_here(&self.shared.core, self.shared.clone());
        }
    }

    /// Removes the listener; events that follow wait for a new one.
    pub fn clear_listener(&self) {
        self.shared.slot.clear();
    }

    /// How many C references the FFI holds to this invite.
    pub(crate) fn c_refs(&self) -> &AtomicUsize {
        &self.shared.c_refs
    }
}
