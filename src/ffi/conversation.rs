//! `wd_conversation`: a conversation this client takes part in.

use std::ffi::{c_char, c_void, CString};
use std::marker::{PhantomData, PhantomPinned};
use std::ptr;
use std::sync::atomic::AtomicUsize;

use serde::Serialize;

use super::callback::{call_guarded, wd_release_callback, UserData};
use super::handle::{
    arc_handle, borrowed_ptr, free_counted, handle_from, with_ref_lock, CountedHandle, Out,
};
use super::panic::ffi_boundary;
use super::result::{fail, try_ffi, try_sdk, wd_result};
use super::strings::copy_out;
use super::types::wd_mode;
use crate::client::{Conversation, ConversationEvent};

/// A conversation this client takes part in (`Conversation`). Each
/// reference the SDK hands out (from `wd_outgoing_invite_conversation`
/// or `wd_incoming_invite_conversation`) is owned by the app and freed
/// with `wd_conversation_free`; freeing never leaves the conversation.
/// Every function taking one may be called from any thread, including
/// from inside callbacks.
pub struct wd_conversation {
    _private: [u8; 0],
    // Not Send, Sync or Unpin: C only ever holds a pointer.
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

arc_handle!(wd_conversation => Conversation.shared);

impl CountedHandle for wd_conversation {
    fn c_refs(handle: &Conversation) -> &AtomicUsize {
        handle.c_refs()
    }

    fn clear_listener(handle: &Conversation) {
        handle.clear_listener();
    }
}

/// Kind of a conversation event.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum wd_conversation_event_kind {
    /// A participant left; see `participant_uid` and `participant_device`.
    ParticipantDisconnected = 0,
    /// This device is no longer in the conversation (it left, everyone
    /// else left, or the connection was lost). Fires once, last.
    Disconnected = 1,
}

/// An event of a conversation, valid during the callback only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wd_conversation_event {
    /// What happened.
    pub kind: wd_conversation_event_kind,
    /// For `WD_CONVERSATION_EVENT_KIND_PARTICIPANT_DISCONNECTED`: the user
    /// id of the participant that left (NUL-terminated UTF-8, valid during
    /// the callback only); otherwise NULL.
    pub participant_uid: *const c_char,
    /// For `WD_CONVERSATION_EVENT_KIND_PARTICIPANT_DISCONNECTED`: the
    /// device of the participant that left (valid during the callback
    /// only); otherwise NULL.
    pub participant_device: *const c_char,
}

/// Called with each event of a conversation, on the client's event thread
/// (or inside `wd_client_dispatch`), one callback at a time.
/// `conversation` is borrowed: valid during the call (even if the app
/// frees its last reference inside the callback); it equals the pointer
/// the app holds. `event` is valid during the call only.
pub type wd_conversation_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        conversation: *mut wd_conversation,
        event: *const wd_conversation_event,
    ),
>;

/// NUL-terminated copy of `s` (wire ids hold no NUL; one would end it).
fn c_text(s: &str) -> CString {
    let end = s.find('\0').unwrap_or(s.len());
    CString::new(&s[..end]).unwrap_or_default()
}

/// Stores in `*out` the conversation's id, shared by every participant: a
/// NUL-terminated string owned by the conversation, valid until the app's
/// last reference to it is freed. Do not free it.
///
/// NULL_PARAMETER if `conversation` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_conversation_id(
    conversation: *const wd_conversation,
    out: *mut *const c_char,
) -> wd_result {
    ffi_boundary! {
        let conversation = try_ffi!(handle_from(conversation, "conversation"));
        let out = try_ffi!(Out::new(out, "out"));
        out.set(conversation.conversation_id_cstr().as_ptr());
        wd_result::Ok
    }
}

/// Stores the conversation's media mode in `*out`.
///
/// NULL_PARAMETER if `conversation` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_conversation_mode(
    conversation: *const wd_conversation,
    out: *mut wd_mode,
) -> wd_result {
    ffi_boundary! {
        let conversation = try_ffi!(handle_from(conversation, "conversation"));
        let out = try_ffi!(Out::new(out, "out"));
        out.set(conversation.mode().into());
        wd_result::Ok
    }
}

#[derive(Serialize)]
struct ParticipantJson<'a> {
    uid: &'a str,
    device: &'a str,
}

/// Copies the conversation's other participants (every device in it but
/// this one) into `buf` as a JSON array, e.g.
/// `[{"uid":"bob","device":"n1.2"}]` (`[]` when none are left), following
/// the copy-out rules of `wd_last_error` (`needed` must not be NULL and
/// receives the size with the NUL on OK and BUFFER_TOO_SMALL; `buf` may
/// be NULL only when `len` is 0). The list can change between a size
/// query and the copy; on BUFFER_TOO_SMALL, grow the buffer and retry.
///
/// NULL_PARAMETER if `conversation` or `needed` is NULL, or `buf` is NULL
/// with `len` > 0.
#[no_mangle]
pub extern "C" fn wd_conversation_participants(
    conversation: *const wd_conversation,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> wd_result {
    ffi_boundary! {
        let conversation = try_ffi!(handle_from(conversation, "conversation"));
        let participants = conversation.participants();
        let list: Vec<ParticipantJson<'_>> = participants
            .iter()
            .map(|p| ParticipantJson {
                uid: &p.uid,
                device: &p.device,
            })
            .collect();
        let json = match serde_json::to_vec(&list) {
            Ok(json) => json,
            Err(e) => return fail(wd_result::Panic, format_args!("participants: {e}")),
        };
        copy_out(&json, buf, len, needed)
    }
}

/// Stores in `*out` how many other participants (devices) are in the
/// conversation.
///
/// NULL_PARAMETER if `conversation` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_conversation_participant_count(
    conversation: *const wd_conversation,
    out: *mut usize,
) -> wd_result {
    ffi_boundary! {
        let conversation = try_ffi!(handle_from(conversation, "conversation"));
        let out = try_ffi!(Out::new(out, "out"));
        out.set(conversation.participants().len());
        wd_result::Ok
    }
}

/// Stores in `*out` whether this device is still in the conversation.
///
/// NULL_PARAMETER if `conversation` or `out` is NULL.
#[no_mangle]
pub extern "C" fn wd_conversation_is_connected(
    conversation: *const wd_conversation,
    out: *mut bool,
) -> wd_result {
    ffi_boundary! {
        let conversation = try_ffi!(handle_from(conversation, "conversation"));
        let out = try_ffi!(Out::new(out, "out"));
        out.set(conversation.is_connected());
        wd_result::Ok
    }
}

/// Leaves the conversation: the other participants are told, and the
/// `DISCONNECTED` event fires once.
///
/// INVALID_STATE if this device is already out of it; NULL_PARAMETER if
/// `conversation` is NULL. Callable from any thread, including from
/// inside callbacks.
#[no_mangle]
pub extern "C" fn wd_conversation_disconnect(conversation: *mut wd_conversation) -> wd_result {
    ffi_boundary! {
        let conversation = try_ffi!(handle_from(conversation.cast_const(), "conversation"));
        try_sdk!(conversation.disconnect());
        wd_result::Ok
    }
}

/// Sets the conversation's event callback, replacing the previous one
/// (whose `release` then runs, after it returns if it is running). A NULL
/// `cb` clears it; `user_data` and `release` are then ignored. Events that
/// happened before a callback was set are delivered to it, once.
///
/// The SDK takes ownership of `user_data` only when this returns
/// `WD_RESULT_OK` with a non-NULL `cb`: it calls `release(user_data)`
/// (if `release` is not NULL) exactly once, when the callback is replaced
/// or cleared, the app's last reference to the conversation is freed, or
/// the client shuts down.
///
/// NULL_PARAMETER if `conversation` is NULL. Callable from any thread,
/// including from inside callbacks.
#[no_mangle]
pub extern "C" fn wd_conversation_set_callback(
    conversation: *mut wd_conversation,
    cb: wd_conversation_callback,
    user_data: *mut c_void,
    release: wd_release_callback,
) -> wd_result {
    ffi_boundary! {
        let conversation = try_ffi!(handle_from(conversation.cast_const(), "conversation"));
        with_ref_lock(|| match cb {
            None => conversation.clear_listener(),
            Some(cb) => {
                let user_data = UserData::new(user_data, release);
                conversation.set_listener(
                    move |conversation: &Conversation, event: &ConversationEvent| {
                        let (kind, uid, device) = match event {
                            ConversationEvent::ParticipantDisconnected(p) => (
                                wd_conversation_event_kind::ParticipantDisconnected,
                                Some(c_text(&p.uid)),
                                Some(c_text(&p.device)),
                            ),
                            ConversationEvent::Disconnected => {
                                (wd_conversation_event_kind::Disconnected, None, None)
                            }
                        };
                        let event = wd_conversation_event {
                            kind,
                            participant_uid: uid.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
                            participant_device: device
                                .as_ref()
                                .map_or(ptr::null(), |s| s.as_ptr()),
                        };
                        let ptr = borrowed_ptr::<wd_conversation>(conversation);
                        // SAFETY: `cb` is the app's callback for this
                        // `user_data`; `ptr`, `&event` and the strings it
                        // points to stay valid during the call.
                        call_guarded(|| unsafe { cb(user_data.ptr(), ptr, &event) });
                    },
                );
            }
        });
        wd_result::Ok
    }
}

/// Frees this reference to the conversation. NULL is a no-op. Freeing
/// never leaves the conversation. When it is the app's last reference,
/// the conversation's callback is cleared (its `release` runs; a callback
/// running right now finishes first, and `conversation` stays valid for
/// it).
///
/// Callable from any thread, including from inside the conversation's own
/// callback. The pointer must not be used afterwards.
#[no_mangle]
pub extern "C" fn wd_conversation_free(conversation: *mut wd_conversation) {
    ffi_boundary! {
        free_counted(conversation)
    }
}
