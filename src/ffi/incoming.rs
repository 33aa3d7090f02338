//! `wd_incoming_invite`: an invite this client received.

use std::ffi::{c_char, c_void};
use std::marker::{PhantomData, PhantomPinned};

use super::callback::wd_release_callback;
use super::conversation::wd_conversation;
use super::handle::{
    counted_handle, free_counted, handle_from, into_c, kept_c_str, kept_opt_c_str, read_into,
    set_handle_callback, CText, Out,
};
use super::panic::ffi_boundary;
use super::result::{fail, try_ffi, try_sdk, wd_result};
use super::strings::opt_str_in;
use super::types::{
    carried_reason, wd_cancel_reason, wd_failure_reason, wd_incoming_status, wd_mode,
    wd_reject_reason,
};
use crate::client::{IncomingEvent, IncomingInvite, Kind, MAX_SDP_LEN, MAX_USER_DATA_LEN};

/// An invite this client received (`IncomingInvite`). Each reference
/// the SDK hands out (to the invite callback) is owned by the app and
/// freed with `wd_incoming_invite_free`; freeing never rejects the
/// invite (an invite nobody answers rings until its lifetime ends).
/// Every function taking one may be called from any thread, including
/// from inside callbacks.
pub struct wd_incoming_invite {
    _private: [u8; 0],
    // Not Send, Sync or Unpin: C only ever holds a pointer.
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

counted_handle!(wd_incoming_invite => IncomingInvite);

/// Kind of an incoming invite event. Exactly one of `ACCEPTED`,
/// `REJECTED`, `CANCELED` and `FAILED` fires, once (the end); an invite
/// made by `wd_client_handle_push` may hear `CONFIRMED` once before it.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum wd_incoming_event_kind {
    /// The caller confirmed this device's accept;
    /// `wd_incoming_invite_conversation` now gives the conversation.
    Accepted = 0,
    /// The caller confirmed this device's reject; see `reject_reason`.
    Rejected = 1,
    /// The caller canceled, or another device of this user answered; see
    /// `cancel_reason`.
    Canceled = 2,
    /// The invite failed here; see `failure_reason`.
    Failed = 3,
    /// Only for an invite made by `wd_client_handle_push`, at most once,
    /// before its end: the server confirmed that the invite still rings.
    /// Its offer and full user data are readable now
    /// (`wd_incoming_invite_offer`, `wd_incoming_invite_user_data`), and
    /// an accept or reject given before it goes out now. Not an end.
    /// Appended (docs/abi-policy.md): an older library never sends it.
    Confirmed = 4,
}

/// An event of an incoming invite, valid during the callback only.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct wd_incoming_event {
    /// What happened.
    pub kind: wd_incoming_event_kind,
    /// Why it failed, for `WD_INCOMING_EVENT_KIND_FAILED`; otherwise
    /// `WD_FAILURE_REASON_NONE`.
    pub failure_reason: wd_failure_reason,
    /// Why it was rejected, for `WD_INCOMING_EVENT_KIND_REJECTED`;
    /// otherwise `WD_REJECT_REASON_NONE`.
    pub reject_reason: wd_reject_reason,
    /// Why it was canceled, for `WD_INCOMING_EVENT_KIND_CANCELED`;
    /// otherwise `WD_CANCEL_REASON_NONE`.
    pub cancel_reason: wd_cancel_reason,
}

impl From<&IncomingEvent> for wd_incoming_event {
    fn from(e: &IncomingEvent) -> Self {
        let (kind, failure, reject, cancel) = match e {
            IncomingEvent::Confirmed => (wd_incoming_event_kind::Confirmed, None, None, None),
            IncomingEvent::Accepted { .. } => (wd_incoming_event_kind::Accepted, None, None, None),
            IncomingEvent::Rejected(r) => (wd_incoming_event_kind::Rejected, None, Some(*r), None),
            IncomingEvent::Canceled(c) => (wd_incoming_event_kind::Canceled, None, None, Some(*c)),
            IncomingEvent::Failed(f) => (wd_incoming_event_kind::Failed, Some(*f), None, None),
        };
        wd_incoming_event {
            kind,
            failure_reason: failure.into(),
            reject_reason: reject.into(),
            cancel_reason: cancel.into(),
        }
    }
}

impl wd_incoming_event {
    /// The reason the event carries, as the numeric value of its
    /// `wd_*_reason`: the reject reason of `REJECTED`, the cancel reason
    /// of `CANCELED`, the failure reason of `FAILED`; 0 for `ACCEPTED` and
    /// `CONFIRMED`.
    pub fn reason(&self) -> u32 {
        carried_reason(self.failure_reason, self.reject_reason, self.cancel_reason)
    }
}

/// Called with the event of an incoming invite, on the client's event
/// thread (or inside `wd_client_dispatch`,
/// or on its I/O thread with `"dispatch": "io"`), one callback at a time.
/// `invite` is borrowed: valid during the call (even if the app frees its
/// last reference inside the callback); it equals the pointer the app
/// holds. `event` is valid during the call only.
pub type wd_incoming_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        invite: *mut wd_incoming_invite,
        event: *const wd_incoming_event,
    ),
>;

/// Stores in `*out` the caller's user id: a NUL-terminated UTF-8 string
/// owned by the invite, valid until the app's last reference to it is
/// freed. Do not free it.
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_from(
    invite: *const wd_incoming_invite,
    out: *mut *const c_char,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| {
            kept_c_str(&invite.shared().attached, CText::Uid, invite.from())
        })
    }
}

/// Stores in `*out` the id of the conversation the invite is for: a
/// NUL-terminated string owned by the invite, valid until the app's last
/// reference to it is freed. Do not free it.
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_conversation_id(
    invite: *const wd_incoming_invite,
    out: *mut *const c_char,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| {
            kept_c_str(&invite.shared().attached, CText::ConversationId, invite.conversation_id())
        })
    }
}

/// Stores the conversation's media mode in `*out`.
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_mode(
    invite: *const wd_incoming_invite,
    out: *mut wd_mode,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| invite.mode().into())
    }
}

/// Stores in `*out` the `userData` text the caller sent (at most 8 KiB),
/// or NULL if it sent none. The string is owned by the invite, valid
/// until the app's last reference to it is freed. Do not free it.
///
/// For an invite made by `wd_client_handle_push`: the text the push
/// carried (NULL when it did not fit in the push) until
/// `WD_INCOMING_EVENT_KIND_CONFIRMED`, then the text as the caller sent
/// it (a string read before stays valid).
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_user_data(
    invite: *const wd_incoming_invite,
    out: *mut *const c_char,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| {
            let which = if invite.filled_in() { CText::FetchedUserData } else { CText::UserData };
            kept_opt_c_str(&invite.shared().attached, which, invite.user_data())
        })
    }
}

/// Stores in `*out` the SDP offer the caller sent (at most 64 KiB), or
/// NULL if it sent none. The string is owned by the invite, valid until
/// the app's last reference to it is freed. Do not free it.
///
/// A push never carries the offer: for an invite made by
/// `wd_client_handle_push` it is NULL until
/// `WD_INCOMING_EVENT_KIND_CONFIRMED`.
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_offer(
    invite: *const wd_incoming_invite,
    out: *mut *const c_char,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| {
            let which = if invite.filled_in() { CText::FetchedOffer } else { CText::Offer };
            kept_opt_c_str(&invite.shared().attached, which, invite.offer())
        })
    }
}

/// Stores in `*out` whether the caller's side has confirmed that the
/// invite rings: true for an invite delivered over the connection (the
/// invite callback's); for one made by `wd_client_handle_push`, false
/// until its `WD_INCOMING_EVENT_KIND_CONFIRMED` event, true from then on.
/// An invite that ended before it was confirmed stays false.
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_confirmed(
    invite: *const wd_incoming_invite,
    out: *mut bool,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, IncomingInvite::is_confirmed)
    }
}

/// Stores the invite's status in `*out`. The status changes as soon as
/// the outcome is known, before its event is delivered.
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_status(
    invite: *const wd_incoming_invite,
    out: *mut wd_incoming_status,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| invite.status().into())
    }
}

/// Stores in `*out` why the invite failed, or `WD_FAILURE_REASON_NONE`
/// if it has not failed.
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_failure_reason(
    invite: *const wd_incoming_invite,
    out: *mut wd_failure_reason,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| invite.failure_reason().into())
    }
}

/// Stores in `*out` why the invite was canceled, or
/// `WD_CANCEL_REASON_NONE` if it was not.
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_cancel_reason(
    invite: *const wd_incoming_invite,
    out: *mut wd_cancel_reason,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| invite.cancel_reason().into())
    }
}

/// Accepts the invite, sending `answer` (SDP, at most 64 KiB) and
/// `user_data` (text, at most 8 KiB) to the caller; either may be NULL
/// for none. Valid only while pending: the status becomes `ACCEPTING`,
/// then `ACCEPTED` once the caller confirms (the `ACCEPTED` event fires),
/// or `CANCELED` / `FAILED` (`CONFIRM_TIMEOUT`) if it does not.
///
/// INVALID_STATE if not pending (nothing changes); INVALID_ARGUMENT for a
/// string that is too long or not UTF-8; NOT_CONNECTED; NULL_PARAMETER if
/// `invite` is NULL. Callable from any thread, including from inside
/// callbacks.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_accept(
    invite: *mut wd_incoming_invite,
    answer: *const c_char,
    user_data: *const c_char,
) -> wd_result {
    ffi_boundary! {
        let invite = try_ffi!(handle_from(invite.cast_const(), "invite"));
        let answer = try_ffi!(opt_str_in(answer, "answer", MAX_SDP_LEN));
        let user_data = try_ffi!(opt_str_in(user_data, "user_data", MAX_USER_DATA_LEN));
        try_sdk!(invite.accept(answer, user_data));
        wd_result::Ok
    }
}

/// Rejects the invite with `reason` (`WD_REJECT_REASON_DECLINED` or
/// `WD_REJECT_REASON_BUSY`). Valid only while pending: on OK the status
/// is `REJECTING` when this returns and the caller is told. The caller
/// decides, as for an accept: the invite ends `REJECTED` (the `REJECTED`
/// event, once) when the caller's outcome is this reject, `CANCELED` when
/// the caller canceled (or another device of this user answered) first,
/// or `FAILED` (`confirm_timeout`) when no outcome comes within
/// `confirmTimeoutMs`. So the caller and this device always end the same
/// way.
///
/// INVALID_ARGUMENT for any other `reason` value (including
/// `WD_REJECT_REASON_NONE`); INVALID_STATE if not pending (nothing
/// changes); NOT_CONNECTED; NULL_PARAMETER if `invite` is NULL. Callable
/// from any thread, including from inside callbacks.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_reject(
    invite: *mut wd_incoming_invite,
    reason: u32,
) -> wd_result {
    ffi_boundary! {
        let invite = try_ffi!(handle_from(invite.cast_const(), "invite"));
        let Some(reason) = wd_reject_reason::reason_from_u32(reason) else {
            return fail(
                wd_result::InvalidArgument,
                format_args!("reason: {reason} is not a wd_reject_reason for a reject (1 or 2)"),
            );
        };
        try_sdk!(invite.reject(reason));
        wd_result::Ok
    }
}

/// Stores in `*out` a new reference to the conversation the accepted
/// invite joined, owned by the app (free it with `wd_conversation_free`).
///
/// INVALID_STATE unless the invite is accepted; NULL_PARAMETER if
/// `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_conversation(
    invite: *mut wd_incoming_invite,
    out: *mut *mut wd_conversation,
) -> wd_result {
    ffi_boundary! {
        let invite = try_ffi!(handle_from(invite.cast_const(), "invite"));
        let out = try_ffi!(Out::new(out, "out"));
        match invite.conversation() {
            Some(conversation) => {
                out.set(into_c::<wd_conversation>(&conversation));
                wd_result::Ok
            }
            None => fail(
                wd_result::InvalidState,
                format_args!("not valid while the status is {}", invite.status().as_str()),
            ),
        }
    }
}

/// Sets the invite's event callback, replacing the previous one (whose
/// `release` then runs, after it returns if it is running). A NULL `cb`
/// clears it; `user_data` and `release` are then ignored. An event that
/// happened before a callback was set is delivered to it, once.
/// After the client was freed, it is delivered inside this call, on
/// the calling thread.
///
/// The SDK takes ownership of `user_data` only when this returns
/// `WD_RESULT_OK` with a non-NULL `cb`: it calls `release(user_data)`
/// (if `release` is not NULL) exactly once, when the callback is replaced
/// or cleared, or the app's last reference to the invite is freed (the
/// handle, and its callback, may outlive the client).
///
/// NULL_PARAMETER if `invite` is NULL. Callable from any thread, including
/// from inside callbacks.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_set_callback(
    invite: *mut wd_incoming_invite,
    cb: wd_incoming_callback,
    user_data: *mut c_void,
    release: wd_release_callback,
) -> wd_result {
    ffi_boundary! {
        set_handle_callback(invite, "invite", cb, user_data, release, |cb, user_data, invite, event| {
            let event = wd_incoming_event::from(event);
            // SAFETY: `cb` is the app's callback for this `user_data`;
            // `invite` and `&event` stay valid during the call.
            unsafe { cb(user_data, invite, &event) }
        })
    }
}

/// Frees this reference to the invite. NULL is a no-op. Freeing never
/// rejects the invite. When it is the app's last reference, the invite's
/// callback is cleared (its `release` runs; a callback running right now
/// finishes first, and `invite` stays valid for it).
///
/// Callable from any thread, including from inside the invite's own
/// callback. The pointer must not be used afterwards.
#[no_mangle]
pub extern "C" fn wd_incoming_invite_free(invite: *mut wd_incoming_invite) {
    ffi_boundary! {
        free_counted(invite)
    }
}
