//! `IncomingInvite`: an invite this client received.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use wd_protocol::{CancelReason, FailureReason, Mode, RejectReason};

use super::conversation::Conversation;
use super::core::Core;
use super::error::Error;
use super::handle::{listener_methods, new_handle, Kind, Shared};
use crate::engine::{Engine, EngineError, IncomingInfo, IncomingStatus, Key};

/// What happens to an incoming invite: for an invite a push made
/// ([`Client::handle_push`](super::Client::handle_push)), at most one
/// [`IncomingEvent::Confirmed`] first; then, for every invite, exactly
/// one of the others, once (how it ended), carrying what the invite's
/// getters report from then on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IncomingEvent {
    /// The server confirmed that the invite, known until now from a push
    /// alone, still rings: the offer and the full user data are readable
    /// now. Not terminal; fires at most once, never after the end, and
    /// only for invites a push made.
    Confirmed,
    /// The caller confirmed this device's accept.
    Accepted {
        /// The conversation this device is now in.
        conversation: Conversation,
    },
    /// The caller's outcome is this device's reject, for this reason.
    Rejected(RejectReason),
    /// The caller canceled ([`CancelReason::CallerCanceled`]), another
    /// device of this user answered ([`CancelReason::AnsweredElsewhere`]),
    /// or the invite lost a glare ([`CancelReason::Glare`]).
    Canceled(CancelReason),
    /// The invite failed here, for this reason.
    Failed(FailureReason),
}

/// An invite this client received (`IncomingInvite` in the JS API). Cheap
/// to clone; every clone is the same invite, and two handles are equal
/// when they are the same invite. Dropping it changes nothing: an invite
/// nobody answers rings until its lifetime ends.
#[derive(Clone)]
pub struct IncomingInvite {
    shared: Arc<Shared<IncomingInvite>>,
}

impl PartialEq for IncomingInvite {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for IncomingInvite {}

/// A handle kept without keeping it alive: the client finds the handle of
/// an invite by its id (a push about an invite it already has) for as long
/// as the app holds it.
pub(crate) struct WeakInvite(Weak<Shared<IncomingInvite>>);

impl WeakInvite {
    /// The handle, if the app still holds it.
    pub(crate) fn upgrade(&self) -> Option<IncomingInvite> {
        self.0.upgrade().map(|shared| IncomingInvite { shared })
    }

    /// Whether the handle is still held.
    pub(crate) fn alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

/// The key of a handle no engine holds: an invite already over when a
/// push told this client of it. Engines count their keys up from 1.
const DETACHED: Key = Key(u64::MAX);

/// What an incoming invite says: as first known (delivered over the
/// connection, or from a push), then, for a pushed invite, as its caller
/// sent it, once the server confirmed it (set once, so the texts read
/// before stay valid as long as the handle).
pub(crate) struct IncomingProps {
    first: IncomingInfo,
    filled: OnceLock<IncomingInfo>,
    confirmed: AtomicBool,
}

impl IncomingProps {
    fn info(&self) -> &IncomingInfo {
        self.filled.get().unwrap_or(&self.first)
    }
}

impl Kind for IncomingInvite {
    type Event = IncomingEvent;
    type Props = IncomingProps;
    /// The outcome, once there is one.
    type State = Option<IncomingEvent>;
    type Status = IncomingStatus;
    const STATUSES: &'static [IncomingStatus] = &[
        IncomingStatus::Pending,
        IncomingStatus::Accepting,
        IncomingStatus::Rejecting,
        IncomingStatus::Accepted,
        IncomingStatus::Rejected,
        IncomingStatus::Canceled,
        IncomingStatus::Failed,
    ];

    fn wrap(shared: Arc<Shared<Self>>) -> Self {
        IncomingInvite { shared }
    }

    fn shared(&self) -> &Arc<Shared<Self>> {
        &self.shared
    }

    fn record(
        outcome: &mut Option<IncomingEvent>,
        event: &IncomingEvent,
    ) -> Option<IncomingStatus> {
        let status = match event {
            IncomingEvent::Confirmed => return None,
            IncomingEvent::Accepted { .. } => IncomingStatus::Accepted,
            IncomingEvent::Rejected(_) => IncomingStatus::Rejected,
            IncomingEvent::Canceled(_) => IncomingStatus::Canceled,
            IncomingEvent::Failed(_) => IncomingStatus::Failed,
        };
        *outcome = Some(event.clone());
        Some(status)
    }
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
    /// The handle of an invite that just arrived at client `core`:
    /// `confirmed` over the connection, or not yet, from a push.
    pub(crate) fn arrived(core: &Arc<Core>, key: Key, info: IncomingInfo, confirmed: bool) -> Self {
        new_handle(
            Arc::downgrade(core),
            key,
            IncomingProps {
                first: info,
                filled: OnceLock::new(),
                confirmed: AtomicBool::new(confirmed),
            },
            IncomingStatus::Pending,
            None,
        )
    }

    /// The handle of an invite that a push told client `core` of when it
    /// was already over here: it ended with `event`, which its listener
    /// hears once. No engine holds it: an answer is `InvalidState`.
    pub(crate) fn ended(core: &Arc<Core>, info: IncomingInfo, event: IncomingEvent) -> Self {
        let invite = IncomingInvite::arrived(core, DETACHED, info, false);
        invite.shared.update(event);
        invite
    }

    /// The invite as its caller sent it, fetched from the server (or
    /// delivered over the connection too) after a push made it: its texts
    /// are replaced and it counts as confirmed. Call under the engine
    /// lock, before its [`IncomingEvent::Confirmed`] is told.
    pub(crate) fn fill_in(&self, info: IncomingInfo) {
        let props = &self.shared.props;
        let _ = props.filled.set(info);
        props.confirmed.store(true, Ordering::Release);
    }

    /// Whether the texts are those fetched after a push
    /// ([`IncomingInvite::fill_in`]) rather than those first known.
    pub(crate) fn filled_in(&self) -> bool {
        self.shared.props.filled.get().is_some()
    }

    /// This handle, without keeping it alive.
    pub(crate) fn downgrade(&self) -> WeakInvite {
        WeakInvite(Arc::downgrade(&self.shared))
    }

    /// The invite's id.
    pub(crate) fn invite_id(&self) -> &str {
        &self.shared.props.first.invite_id
    }

    /// Whether the caller's side has confirmed that this invite rings:
    /// `true` for an invite delivered over the connection; for one a push
    /// made ([`Client::handle_push`](super::Client::handle_push)), `true`
    /// from its [`IncomingEvent::Confirmed`] on.
    pub fn is_confirmed(&self) -> bool {
        self.shared.props.confirmed.load(Ordering::Acquire)
    }

    /// The caller's user id.
    pub fn from(&self) -> &str {
        &self.shared.props.first.from
    }

    /// The conversation the invite is for.
    pub fn conversation_id(&self) -> &str {
        &self.shared.props.first.conversation_id
    }

    /// Media mode.
    pub fn mode(&self) -> Mode {
        self.shared.props.first.mode
    }

    /// The caller's text, if any. For an invite a push made: the text the
    /// push carried (none when it did not fit in a push), then, from its
    /// [`IncomingEvent::Confirmed`] on, the text as the caller sent it.
    pub fn user_data(&self) -> Option<&str> {
        self.shared.props.info().user_data.as_deref()
    }

    /// The caller's SDP offer, if any. A push never carries it: for an
    /// invite a push made it is known from its [`IncomingEvent::Confirmed`]
    /// on.
    pub fn offer(&self) -> Option<&str> {
        self.shared.props.info().offer.as_deref()
    }

    /// `pending`, `accepting`, `rejecting`, `accepted`, `rejected`,
    /// `canceled` or `failed`.
    pub fn status(&self) -> IncomingStatus {
        self.shared.status()
    }

    /// Why it failed, once `failed`.
    pub fn failure_reason(&self) -> Option<FailureReason> {
        match *self.shared.lock() {
            Some(IncomingEvent::Failed(reason)) => Some(reason),
            _ => None,
        }
    }

    /// Why it was canceled, once `canceled`.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        match *self.shared.lock() {
            Some(IncomingEvent::Canceled(reason)) => Some(reason),
            _ => None,
        }
    }

    /// The conversation, once `accepted`.
    pub fn conversation(&self) -> Option<Conversation> {
        match &*self.shared.lock() {
            Some(IncomingEvent::Accepted { conversation }) => Some(conversation.clone()),
            _ => None,
        }
    }

    /// Accepts the invite, sending `answer` (SDP) and `user_data` to the
    /// caller. Valid only while `pending`; the status becomes `accepting`
    /// and then `accepted` once the caller confirms (or `canceled` /
    /// `failed(confirm_timeout)`).
    pub fn accept(&self, answer: Option<&str>, user_data: Option<&str>) -> Result<(), Error> {
        let (answer, user_data) = (answer.map(str::to_owned), user_data.map(str::to_owned));
        self.answer(IncomingStatus::Accepting, |engine, key, now| {
            engine.accept(key, answer, user_data, now)
        })
    }

    /// Rejects the invite. Valid only while `pending`: on `Ok` the status
    /// is `rejecting` and the caller is told; it ends `rejected` once the
    /// caller's outcome is this reject (or `canceled` if the caller
    /// canceled, or another device answered, first; or
    /// `failed(confirm_timeout)`), so both sides end the same way.
    pub fn reject(&self, reason: RejectReason) -> Result<(), Error> {
        self.answer(IncomingStatus::Rejecting, |engine, key, now| {
            engine.reject(key, reason, now)
        })
    }

    /// Gives the engine this device's answer; on success the status is
    /// `status` (set under the engine lock, so no event can overtake it).
    fn answer(
        &self,
        status: IncomingStatus,
        give: impl FnOnce(&mut Engine, Key, Instant) -> Result<(), EngineError>,
    ) -> Result<(), Error> {
        let core = self.shared.core().ok_or_else(|| self.invalid_state())?;
        let key = self.shared.key;
        core.with_engine(|st, now| {
            give(&mut st.engine, key, now)?;
            self.shared.set_status(status);
            Ok(())
        })
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

    listener_methods!(IncomingInvite, IncomingEvent);
}
