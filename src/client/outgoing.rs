//! `OutgoingInvite`: an invite this client sent.

use std::ffi::CStr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use wd_protocol::{CancelReason, FailureReason, Mode, RejectReason};

use super::core::Core;
use super::events::{Deliver, Slot};
use super::text::Text;
use super::{Conversation, Error};
use crate::engine::{Answer, EngineError, Key, OutgoingStatus};

/// Something that happened to an outgoing invite. Exactly one of
/// `Accepted`, `Rejected`, `Canceled`, `Failed` happens, once; `Ringing`
/// may come before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutgoingEvent {
    /// A device of the invitee has the invite.
    Ringing,
    /// The invitee accepted; [`OutgoingInvite::conversation`] is set.
    Accepted,
    /// The invitee rejected.
    Rejected(RejectReason),
    /// The invite was canceled: by this client, or because it lost a
    /// glare (see [`OutgoingInvite::cancel_reason`]).
    Canceled,
    /// The invite failed.
    Failed(FailureReason),
}

#[derive(Default)]
struct OutgoingState {
    failure: Option<FailureReason>,
    reject: Option<RejectReason>,
    cancel: Option<CancelReason>,
    conversation: Option<Conversation>,
    answer: Option<Answer>,
}

/// State shared by every clone of one [`OutgoingInvite`].
pub(crate) struct OutgoingShared {
    core: Weak<Core>,
    key: Key,
    invite_id: String,
    to: Text,
    conversation_id: Text,
    mode: Mode,
    /// The status, readable without a lock (the hot getter); written under
    /// `state`'s lock after the fields it summarises.
    status: AtomicU8,
    state: Mutex<OutgoingState>,
    slot: Slot<OutgoingInvite, OutgoingEvent>,
    c_refs: AtomicUsize,
}

impl OutgoingShared {
    pub(crate) fn new(
        core: Weak<Core>,
        key: Key,
        invite_id: String,
        to: Text,
        conversation_id: Text,
        mode: Mode,
    ) -> Arc<Self> {
        Arc::new(OutgoingShared {
            core,
            key,
            invite_id,
            to,
            conversation_id,
            mode,
            status: AtomicU8::new(status_code(OutgoingStatus::Pending)),
            state: Mutex::new(OutgoingState::default()),
            slot: Slot::default(),
            c_refs: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, OutgoingState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event (called under the engine lock, in order) and
    /// queues it for the listener.
    pub(crate) fn update(
        &self,
        event: OutgoingEvent,
        conversation: Option<Conversation>,
        answer: Option<Answer>,
        cancel: Option<CancelReason>,
    ) {
        {
            let mut st = self.lock();
            let status = match &event {
                OutgoingEvent::Ringing => None,
                OutgoingEvent::Accepted => {
                    st.conversation = conversation;
                    st.answer = answer;
                    Some(OutgoingStatus::Accepted)
                }
                OutgoingEvent::Rejected(r) => {
                    st.reject = Some(*r);
                    Some(OutgoingStatus::Rejected)
                }
                OutgoingEvent::Canceled => {
                    st.cancel = cancel.or(Some(CancelReason::CallerCanceled));
                    Some(OutgoingStatus::Canceled)
                }
                OutgoingEvent::Failed(r) => {
                    st.failure = Some(*r);
                    Some(OutgoingStatus::Failed)
                }
            };
            if let Some(status) = status {
                self.status.store(status_code(status), Ordering::Release);
            }
        }
        self.slot.push(event);
    }
}

impl Deliver for OutgoingShared {
    fn deliver(self: Arc<Self>) {
        let handle = OutgoingInvite { shared: self };
        handle.shared.slot.run(&handle);
    }
}

/// An invite this client sent (`OutgoingInvite` in the JS API). Cheap to
/// clone; every clone is the same invite. Dropping it changes nothing about
/// the invite.
#[derive(Clone)]
pub struct OutgoingInvite {
    pub(crate) shared: Arc<OutgoingShared>,
}

impl std::fmt::Debug for OutgoingInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingInvite")
            .field("to", &self.to())
            .field("conversation_id", &self.conversation_id())
            .field("status", &self.status())
            .finish()
    }
}

impl OutgoingInvite {
    /// `pending`, `accepted`, `rejected`, `canceled` or `failed`. Changes
    /// before the matching event is delivered (so a `cancel` that returned
    /// `Ok` is seen as `canceled` at once).
    pub fn status(&self) -> OutgoingStatus {
        status_from_code(self.shared.status.load(Ordering::Acquire))
    }

    /// The invitee's user id.
    pub fn to(&self) -> &str {
        self.shared.to.as_str()
    }

    pub(crate) fn to_cstr(&self) -> &CStr {
        self.shared.to.as_c_str()
    }

    /// The id of the conversation the invite is for.
    pub fn conversation_id(&self) -> &str {
        self.shared.conversation_id.as_str()
    }

    pub(crate) fn conversation_id_cstr(&self) -> &CStr {
        self.shared.conversation_id.as_c_str()
    }

    /// The invite's own id (as sent on the wire).
    pub fn invite_id(&self) -> &str {
        &self.shared.invite_id
    }

    /// The media mode asked for.
    pub fn mode(&self) -> Mode {
        self.shared.mode
    }

    /// Why it failed, once `failed`.
    pub fn failure_reason(&self) -> Option<FailureReason> {
        self.shared.lock().failure
    }

    /// Why it was rejected, once `rejected`.
    pub fn reject_reason(&self) -> Option<RejectReason> {
        self.shared.lock().reject
    }

    /// Why it was canceled, once `canceled`: `CallerCanceled` when this
    /// client canceled it (or left the conversation it was into), `Glare`
    /// when the invitee invited this user at the same time and this invite
    /// lost (the one with the greater invite id loses).
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.shared.lock().cancel
    }

    /// The conversation, once `accepted` (for an invite made with
    /// [`Conversation::invite`], the conversation it was made from).
    pub fn conversation(&self) -> Option<Conversation> {
        self.shared.lock().conversation.clone()
    }

    /// The SDP answer the invitee sent with its accept, once `accepted`.
    pub fn answer(&self) -> Option<String> {
        self.shared.lock().answer.as_ref()?.answer.clone()
    }

    /// The text the invitee sent with its accept, once `accepted`.
    pub fn answer_user_data(&self) -> Option<String> {
        self.shared.lock().answer.as_ref()?.user_data.clone()
    }

    /// Cancels the invite. Valid only while `pending`: on `Ok` the status
    /// is `canceled`, the `Canceled` event is queued (it fires once) and
    /// every device of the invitee stops ringing. In any other status it
    /// returns [`Error::InvalidState`] and changes nothing.
    pub fn cancel(&self) -> Result<(), Error> {
        let Some(core) = self.shared.core.upgrade() else {
            return Err(self.invalid_state());
        };
        let key = self.shared.key;
        core.with_engine(|st, now| st.engine.cancel(key, now))
            .map_err(|e| match e {
                EngineError::UnknownKey => self.invalid_state(),
                other => other.into(),
            })
    }

    fn invalid_state(&self) -> Error {
        Error::InvalidState {
            status: self.status().as_str(),
        }
    }

    /// Sets the listener, replacing (and dropping) the previous one. It
    /// runs on the client's event thread (or inside `dispatch`); events
    /// that happened before it was set are delivered to it, once.
    pub fn set_listener(
        &self,
        listener: impl FnMut(&OutgoingInvite, &OutgoingEvent) + Send + 'static,
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

fn status_code(status: OutgoingStatus) -> u8 {
    match status {
        OutgoingStatus::Pending => 0,
        OutgoingStatus::Accepted => 1,
        OutgoingStatus::Rejected => 2,
        OutgoingStatus::Canceled => 3,
        OutgoingStatus::Failed => 4,
    }
}

fn status_from_code(code: u8) -> OutgoingStatus {
    match code {
        1 => OutgoingStatus::Accepted,
        2 => OutgoingStatus::Rejected,
        3 => OutgoingStatus::Canceled,
        4 => OutgoingStatus::Failed,
        _ => OutgoingStatus::Pending,
    }
}
