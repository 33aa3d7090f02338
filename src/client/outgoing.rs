//! `OutgoingInvite`: an invite this client sent, and sending one.

use std::sync::Arc;

use wd_protocol::{CancelReason, FailureReason, Mode, RejectReason};

use super::config::InviteOptions;
use super::conversation::Conversation;
use super::core::Core;
use super::error::Error;
use super::handle::{listener_methods, new_handle, Kind, Shared};
use crate::engine::{Answer, EngineError, InviteRequest, Key, OutgoingStatus};

/// Something that happened to an outgoing invite. Exactly one of
/// `Accepted`, `Rejected`, `Canceled`, `Failed` (its outcome) happens,
/// once; `Ringing` may come before it. Each carries what the invite's
/// getters report from then on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutgoingEvent {
    /// A device of the invitee has the invite.
    Ringing,
    /// The invitee accepted.
    Accepted {
        /// The conversation the invite started (for an invite made with
        /// [`Conversation::invite`], the conversation it was made from).
        conversation: Conversation,
        /// What the accepting device sent back: its SDP answer and text.
        answer: Answer,
    },
    /// The invitee rejected, for this reason.
    Rejected(RejectReason),
    /// The invite was canceled: [`CancelReason::CallerCanceled`] when this
    /// client canceled it (or left the conversation it was into),
    /// [`CancelReason::Glare`] when the invitee invited this user at the
    /// same time and this invite lost (the one with the greater invite id
    /// loses).
    Canceled(CancelReason),
    /// The invite failed, for this reason.
    Failed(FailureReason),
}

/// What never changes about an outgoing invite.
pub(crate) struct OutgoingProps {
    invite_id: String,
    to: String,
    conversation_id: String,
    mode: Mode,
}

/// An invite this client sent (`OutgoingInvite` in the JS API). Cheap to
/// clone; every clone is the same invite. Dropping it changes nothing about
/// the invite.
#[derive(Clone)]
pub struct OutgoingInvite {
    shared: Arc<Shared<OutgoingInvite>>,
}

impl Kind for OutgoingInvite {
    type Event = OutgoingEvent;
    type Props = OutgoingProps;
    /// The outcome, once there is one.
    type State = Option<OutgoingEvent>;
    type Status = OutgoingStatus;
    const STATUSES: &'static [OutgoingStatus] = &[
        OutgoingStatus::Pending,
        OutgoingStatus::Accepted,
        OutgoingStatus::Rejected,
        OutgoingStatus::Canceled,
        OutgoingStatus::Failed,
    ];

    fn wrap(shared: Arc<Shared<Self>>) -> Self {
        OutgoingInvite { shared }
    }

    fn shared(&self) -> &Arc<Shared<Self>> {
        &self.shared
    }

    fn record(
        outcome: &mut Option<OutgoingEvent>,
        event: &OutgoingEvent,
    ) -> Option<OutgoingStatus> {
        let status = match event {
            OutgoingEvent::Ringing => return None,
            OutgoingEvent::Accepted { .. } => OutgoingStatus::Accepted,
            OutgoingEvent::Rejected(_) => OutgoingStatus::Rejected,
            OutgoingEvent::Canceled(_) => OutgoingStatus::Canceled,
            OutgoingEvent::Failed(_) => OutgoingStatus::Failed,
        };
        *outcome = Some(event.clone());
        Some(status)
    }
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
    /// Sends an invite from client `core`: to a new conversation, or into
    /// the live conversation `into` (its engine key and id).
    pub(crate) fn send(
        core: &Arc<Core>,
        options: InviteOptions,
        into: Option<(Key, &str)>,
    ) -> Result<OutgoingInvite, Error> {
        let conversation_id = match into {
            Some((_, id)) => id.to_owned(),
            None => new_id()?,
        };
        let request = InviteRequest {
            to: options.participant_id,
            invite_id: new_id()?,
            conversation_id,
            mode: options.mode,
            user_data: options.user_data,
            offer: options.offer,
            lifetime_ms: options.lifetime_ms,
        };
        let props = OutgoingProps {
            invite_id: request.invite_id.clone(),
            to: request.to.clone(),
            conversation_id: request.conversation_id.clone(),
            mode: request.mode,
        };
        let weak = Arc::downgrade(core);
        core.with_engine(|st, now| {
            let key = match into {
                Some((conversation, _)) => st.engine.invite_into(conversation, request, now)?,
                None => st.engine.invite(request, now)?,
            };
            let invite: OutgoingInvite =
                new_handle(weak, key, props, OutgoingStatus::Pending, None);
            st.outgoing.insert(key, invite.clone());
            Ok(invite)
        })
    }

    /// `pending`, `accepted`, `rejected`, `canceled` or `failed`. Changes
    /// before the matching event is delivered (so a `cancel` that returned
    /// `Ok` is seen as `canceled` at once).
    pub fn status(&self) -> OutgoingStatus {
        self.shared.status()
    }

    /// The invitee's user id.
    pub fn to(&self) -> &str {
        &self.shared.props.to
    }

    /// The id of the conversation the invite is for.
    pub fn conversation_id(&self) -> &str {
        &self.shared.props.conversation_id
    }

    /// The invite's own id (as sent on the wire).
    pub fn invite_id(&self) -> &str {
        &self.shared.props.invite_id
    }

    /// The media mode asked for.
    pub fn mode(&self) -> Mode {
        self.shared.props.mode
    }

    /// Why it failed, once `failed`.
    pub fn failure_reason(&self) -> Option<FailureReason> {
        match *self.shared.lock() {
            Some(OutgoingEvent::Failed(reason)) => Some(reason),
            _ => None,
        }
    }

    /// Why it was rejected, once `rejected`.
    pub fn reject_reason(&self) -> Option<RejectReason> {
        match *self.shared.lock() {
            Some(OutgoingEvent::Rejected(reason)) => Some(reason),
            _ => None,
        }
    }

    /// Why it was canceled, once `canceled` (see
    /// [`OutgoingEvent::Canceled`]).
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        match *self.shared.lock() {
            Some(OutgoingEvent::Canceled(reason)) => Some(reason),
            _ => None,
        }
    }

    /// The conversation, once `accepted` (for an invite made with
    /// [`Conversation::invite`], the conversation it was made from).
    pub fn conversation(&self) -> Option<Conversation> {
        match &*self.shared.lock() {
            Some(OutgoingEvent::Accepted { conversation, .. }) => Some(conversation.clone()),
            _ => None,
        }
    }

    /// What the accepting device sent back, once `accepted`.
    fn accepted_answer<T>(&self, read: impl FnOnce(&Answer) -> T) -> Option<T> {
        match &*self.shared.lock() {
            Some(OutgoingEvent::Accepted { answer, .. }) => Some(read(answer)),
            _ => None,
        }
    }

    /// The SDP answer the invitee sent with its accept, once `accepted`.
    pub fn answer(&self) -> Option<String> {
        self.accepted_answer(|a| a.answer.clone()).flatten()
    }

    /// The text the invitee sent with its accept, once `accepted`.
    pub fn answer_user_data(&self) -> Option<String> {
        self.accepted_answer(|a| a.user_data.clone()).flatten()
    }

    /// Cancels the invite. Valid only while `pending`: on `Ok` the status
    /// is `canceled`, the `Canceled` event is queued (it fires once) and
    /// every device of the invitee stops ringing. In any other status it
    /// returns [`Error::InvalidState`] and changes nothing.
    pub fn cancel(&self) -> Result<(), Error> {
        let Some(core) = self.shared.core() else {
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

    listener_methods!(OutgoingInvite, OutgoingEvent);
}

/// Random hex id for invites and conversations (128 bits).
fn new_id() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Network(format!("no randomness available: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
