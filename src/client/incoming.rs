//! `IncomingInvite`: an invite this client received.

use std::sync::Arc;
use std::time::Instant;

use wd_protocol::{CancelReason, FailureReason, Mode, RejectReason};

use super::conversation::Conversation;
use super::core::Core;
use super::error::Error;
use super::handle::{listener_methods, new_handle, Kind, Shared};
use crate::engine::{Engine, EngineError, IncomingInfo, IncomingStatus, Key};

/// How an incoming invite ended. Exactly one of these happens, once; each
/// carries what the invite's getters report from then on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IncomingEvent {
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
/// to clone; every clone is the same invite. Dropping it changes nothing:
/// an invite nobody answers rings until its lifetime ends.
#[derive(Clone)]
pub struct IncomingInvite {
    shared: Arc<Shared<IncomingInvite>>,
}

impl Kind for IncomingInvite {
    type Event = IncomingEvent;
    type Props = IncomingInfo;
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
        *outcome = Some(event.clone());
        Some(match event {
            IncomingEvent::Accepted { .. } => IncomingStatus::Accepted,
            IncomingEvent::Rejected(_) => IncomingStatus::Rejected,
            IncomingEvent::Canceled(_) => IncomingStatus::Canceled,
            IncomingEvent::Failed(_) => IncomingStatus::Failed,
        })
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
    /// The handle of an invite that just arrived at client `core`.
    pub(crate) fn arrived(core: &Arc<Core>, key: Key, info: IncomingInfo) -> Self {
        new_handle(
            Arc::downgrade(core),
            key,
            info,
            IncomingStatus::Pending,
            None,
        )
    }

    /// The caller's user id.
    pub fn from(&self) -> &str {
        &self.shared.props.from
    }

    /// The conversation the invite is for.
    pub fn conversation_id(&self) -> &str {
        &self.shared.props.conversation_id
    }

    /// Media mode.
    pub fn mode(&self) -> Mode {
        self.shared.props.mode
    }

    /// The caller's text, if any.
    pub fn user_data(&self) -> Option<&str> {
        self.shared.props.user_data.as_deref()
    }

    /// The caller's SDP offer, if any.
    pub fn offer(&self) -> Option<&str> {
        self.shared.props.offer.as_deref()
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
