//! `wd_outgoing_invite`: an invite this client sent.

use std::ffi::{c_char, c_void};
use std::marker::{PhantomData, PhantomPinned};

use super::callback::wd_release_callback;
use super::conversation::wd_conversation;
use super::handle::{
    counted_handle, free_counted, handle_from, into_c, kept_c_str, read_into, set_handle_callback,
    CText, Out,
};
use super::panic::ffi_boundary;
use super::result::{fail, try_ffi, try_sdk, wd_result};
use super::strings::CopyOut;
use super::types::{
    carried_reason, wd_cancel_reason, wd_failure_reason, wd_outgoing_status, wd_reject_reason,
};
use crate::client::{Kind, OutgoingEvent, OutgoingInvite, OutgoingStatus};

/// An invite this client sent (`OutgoingInvite`). Each reference the
/// SDK hands out (from `wd_client_invite`) is owned by the app and
/// freed with `wd_outgoing_invite_free`; freeing never cancels the
/// invite. Every function taking one may be called from any thread,
/// including from inside callbacks.
pub struct wd_outgoing_invite {
    _private: [u8; 0],
    // Not Send, Sync or Unpin: C only ever holds a pointer.
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

counted_handle!(wd_outgoing_invite => OutgoingInvite);

/// Kind of an outgoing invite event.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum wd_outgoing_event_kind {
    /// A device of the invitee has the invite. At most once, before the
    /// outcome.
    Ringing = 0,
    /// The invitee accepted; `wd_outgoing_invite_conversation` now gives
    /// the conversation. An outcome: exactly one outcome fires, once.
    Accepted = 1,
    /// The invitee rejected; see `reject_reason`. An outcome.
    Rejected = 2,
    /// The invite was canceled: by this client, or because it lost a glare;
    /// see `cancel_reason`. An outcome.
    Canceled = 3,
    /// The invite failed; see `failure_reason`. An outcome.
    Failed = 4,
}

/// An event of an outgoing invite, valid during the callback only.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct wd_outgoing_event {
    /// What happened.
    pub kind: wd_outgoing_event_kind,
    /// Why it failed, for `WD_OUTGOING_EVENT_KIND_FAILED`; otherwise
    /// `WD_FAILURE_REASON_NONE`.
    pub failure_reason: wd_failure_reason,
    /// Why it was rejected, for `WD_OUTGOING_EVENT_KIND_REJECTED`;
    /// otherwise `WD_REJECT_REASON_NONE`.
    pub reject_reason: wd_reject_reason,
    /// Why it was canceled, for `WD_OUTGOING_EVENT_KIND_CANCELED`
    /// (`CALLER_CANCELED` when this client canceled, `GLARE` when it lost
    /// a glare); otherwise `WD_CANCEL_REASON_NONE`.
    pub cancel_reason: wd_cancel_reason,
}

impl From<&OutgoingEvent> for wd_outgoing_event {
    fn from(e: &OutgoingEvent) -> Self {
        let (kind, failure, reject, cancel) = match e {
            OutgoingEvent::Ringing => (wd_outgoing_event_kind::Ringing, None, None, None),
            OutgoingEvent::Accepted { .. } => (wd_outgoing_event_kind::Accepted, None, None, None),
            OutgoingEvent::Rejected(r) => (wd_outgoing_event_kind::Rejected, None, Some(*r), None),
            OutgoingEvent::Canceled(c) => (wd_outgoing_event_kind::Canceled, None, None, Some(*c)),
            OutgoingEvent::Failed(f) => (wd_outgoing_event_kind::Failed, Some(*f), None, None),
        };
        wd_outgoing_event {
            kind,
            failure_reason: failure.into(),
            reject_reason: reject.into(),
            cancel_reason: cancel.into(),
        }
    }
}

impl wd_outgoing_event {
    /// The reason the event carries, as the numeric value of its
    /// `wd_*_reason`: the reject reason of `REJECTED`, the cancel reason
    /// of `CANCELED`, the failure reason of `FAILED`; 0 for the others.
    pub fn reason(&self) -> u32 {
        carried_reason(self.failure_reason, self.reject_reason, self.cancel_reason)
    }
}

/// Called with each event of an outgoing invite, on the client's event
/// thread (or inside `wd_client_dispatch`,
/// or on its I/O thread with `"dispatch": "io"`), one callback at a time.
/// `invite` is borrowed: valid during the call (even if the app frees its
/// last reference inside the callback); it equals the pointer the app
/// holds. `event` is valid during the call only.
pub type wd_outgoing_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        invite: *mut wd_outgoing_invite,
        event: *const wd_outgoing_event,
    ),
>;

/// Stores the invite's status in `*out`. The status changes as soon as
/// the outcome is decided, before its event is delivered.
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_outgoing_invite_status(
    invite: *const wd_outgoing_invite,
    out: *mut wd_outgoing_status,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| invite.status().into())
    }
}

/// Stores in `*out` the invitee's user id: a NUL-terminated UTF-8 string
/// owned by the invite, valid until the app's last reference to it is
/// freed. Do not free it.
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_outgoing_invite_to(
    invite: *const wd_outgoing_invite,
    out: *mut *const c_char,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| {
            kept_c_str(&invite.shared().attached, CText::Uid, invite.to())
        })
    }
}

/// Stores in `*out` the id of the conversation this invite is for (known
/// at once): a NUL-terminated string owned by the invite, valid until the
/// app's last reference to it is freed. Do not free it.
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_outgoing_invite_conversation_id(
    invite: *const wd_outgoing_invite,
    out: *mut *const c_char,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| {
            kept_c_str(&invite.shared().attached, CText::ConversationId, invite.conversation_id())
        })
    }
}

/// Stores in `*out` why the invite failed, or `WD_FAILURE_REASON_NONE`
/// if it has not failed.
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_outgoing_invite_failure_reason(
    invite: *const wd_outgoing_invite,
    out: *mut wd_failure_reason,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| invite.failure_reason().into())
    }
}

/// Stores in `*out` why the invitee rejected, or `WD_REJECT_REASON_NONE`
/// if it was not rejected.
///
/// NULL_PARAMETER if `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_outgoing_invite_reject_reason(
    invite: *const wd_outgoing_invite,
    out: *mut wd_reject_reason,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| invite.reject_reason().into())
    }
}

/// Stores in `*out` why the invite was canceled:
/// `WD_CANCEL_REASON_CALLER_CANCELED` when this client canceled it (or
/// left the conversation it was into), `WD_CANCEL_REASON_GLARE` when the
/// invitee invited this user at the same time and this invite lost, or
/// `WD_CANCEL_REASON_NONE` if it was not canceled.
///
/// NULL_PARAMETER if `invite` or `out` is NULL. Callable from any thread.
#[no_mangle]
pub extern "C" fn wd_outgoing_invite_cancel_reason(
    invite: *const wd_outgoing_invite,
    out: *mut wd_cancel_reason,
) -> wd_result {
    ffi_boundary! {
        read_into(invite, "invite", out, |invite| invite.cancel_reason().into())
    }
}

/// Stores in `*out` a new reference to the conversation the accepted
/// invite started, owned by the app (free it with
/// `wd_conversation_free`).
///
/// INVALID_STATE unless the invite is accepted; NULL_PARAMETER if
/// `invite` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_outgoing_invite_conversation(
    invite: *mut wd_outgoing_invite,
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
            None => not_accepted(&invite),
        }
    }
}

fn not_accepted(invite: &OutgoingInvite) -> wd_result {
    fail(
        wd_result::InvalidState,
        format_args!("not valid while the status is {}", invite.status().as_str()),
    )
}

/// Copies the SDP answer the invitee sent with its accept into `buf` (the
/// empty string if it sent none), following the copy-out rules of
/// `wd_last_error` (`needed` must not be NULL and receives the size with
/// the NUL on OK and BUFFER_TOO_SMALL; `buf` may be NULL only when `len`
/// is 0). At most 64 KiB + 1.
///
/// INVALID_STATE unless the invite is accepted; NULL_PARAMETER if
/// `invite` or `needed` is NULL, or `buf` is NULL with `len` > 0.
#[no_mangle]
pub extern "C" fn wd_outgoing_invite_answer(
    invite: *const wd_outgoing_invite,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> wd_result {
    ffi_boundary! {
        let invite = try_ffi!(handle_from(invite, "invite"));
        let out = try_ffi!(CopyOut::new(buf, len, needed));
        if invite.status() != OutgoingStatus::Accepted {
            return not_accepted(&invite);
        }
        out.write(invite.answer().unwrap_or_default().as_bytes())
    }
}

/// Copies the `userData` text the invitee sent with its accept into `buf`
/// (the empty string if it sent none), following the copy-out rules of
/// `wd_last_error`. At most 8 KiB + 1.
///
/// INVALID_STATE unless the invite is accepted; NULL_PARAMETER if
/// `invite` or `needed` is NULL, or `buf` is NULL with `len` > 0.
#[no_mangle]
pub extern "C" fn wd_outgoing_invite_answer_user_data(
    invite: *const wd_outgoing_invite,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> wd_result {
    ffi_boundary! {
        let invite = try_ffi!(handle_from(invite, "invite"));
        let out = try_ffi!(CopyOut::new(buf, len, needed));
        if invite.status() != OutgoingStatus::Accepted {
            return not_accepted(&invite);
        }
        out.write(invite.answer_user_data().unwrap_or_default().as_bytes())
    }
}

/// Cancels the invite. Valid only while it is pending: on OK its status
/// is `WD_OUTGOING_STATUS_CANCELED` when this returns, the `CANCELED`
/// event fires once, and every device of the invitee stops ringing. In
/// any other status it returns INVALID_STATE and changes nothing.
///
/// NULL_PARAMETER if `invite` is NULL. Callable from any thread, including
/// from inside callbacks.
#[no_mangle]
pub extern "C" fn wd_outgoing_invite_cancel(invite: *mut wd_outgoing_invite) -> wd_result {
    ffi_boundary! {
        let invite = try_ffi!(handle_from(invite.cast_const(), "invite"));
        try_sdk!(invite.cancel());
        wd_result::Ok
    }
}

/// Sets the invite's event callback, replacing the previous one (whose
/// `release` then runs, after it returns if it is running). A NULL `cb`
/// clears it; `user_data` and `release` are then ignored. Events that
/// happened before a callback was set are delivered to it, once: no event
/// is lost to a race between creating the invite and setting the callback.
/// After the client was freed, they are delivered inside this call, on
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
pub extern "C" fn wd_outgoing_invite_set_callback(
    invite: *mut wd_outgoing_invite,
    cb: wd_outgoing_callback,
    user_data: *mut c_void,
    release: wd_release_callback,
) -> wd_result {
    ffi_boundary! {
        set_handle_callback(invite, "invite", cb, user_data, release, |cb, user_data, invite, event| {
            let event = wd_outgoing_event::from(event);
            // SAFETY: `cb` is the app's callback for this `user_data`;
            // `invite` and `&event` stay valid during the call.
            unsafe { cb(user_data, invite, &event) }
        })
    }
}

/// Frees this reference to the invite. NULL is a no-op. Freeing never
/// cancels the invite. When it is the app's last reference, the invite's
/// callback is cleared (its `release` runs; a callback running right now
/// finishes first, and `invite` stays valid for it).
///
/// Callable from any thread, including from inside the invite's own
/// callback. The pointer must not be used afterwards.
#[no_mangle]
pub extern "C" fn wd_outgoing_invite_free(invite: *mut wd_outgoing_invite) {
    ffi_boundary! {
        free_counted(invite)
    }
}
