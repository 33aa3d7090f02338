//! `wd_conversation`: a conversation this client takes part in.

use std::ffi::{c_char, c_void, CString};
use std::marker::{PhantomData, PhantomPinned};
use std::ptr;

use super::callback::wd_release_callback;
use super::handle::{
    counted_handle, free_counted, handle_from, into_c, kept_c_str, read_into, set_handle_callback,
    CText, Out,
};
use super::outgoing::wd_outgoing_invite;
use super::panic::ffi_boundary;
use super::result::{fail, try_ffi, try_sdk, wd_result};
use super::strings::{c_string, opt_str_in, str_in, CopyOut};
use super::types::{wd_mode, wd_participant_left_reason};
use crate::client::{
    Conversation, ConversationEvent, InviteOptions, Kind, MAX_JSON_LEN, MAX_MESSAGE_LEN,
    MAX_UID_LEN,
};

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

counted_handle!(wd_conversation => Conversation);

/// Kind of a conversation event.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum wd_conversation_event_kind {
    /// A participant is no longer in the conversation; see
    /// `participant_uid`, `participant_device` and, for why (it left, or
    /// its connection was lost), `participant_left_reason`.
    ParticipantDisconnected = 0,
    /// This device is no longer in the conversation (it left, everyone
    /// else left, or the connection was lost). Fires once, last.
    Disconnected = 1,
    /// A device joined after this device's conversation started (it
    /// accepted an invite into the conversation); see `participant_uid`
    /// and `participant_device`.
    ParticipantConnected = 2,
    /// A participant sent this device a message (`wd_conversation_send`):
    /// `payload` is the text, `participant_uid` and `participant_device`
    /// the sender. Messages from one sender arrive in the order sent.
    Message = 3,
}

/// An event of a conversation, valid during the callback only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wd_conversation_event {
    /// What happened.
    pub kind: wd_conversation_event_kind,
    /// The user id of the participant the event is about (NUL-terminated
    /// UTF-8, valid during the callback only): who left for
    /// `PARTICIPANT_DISCONNECTED`, who joined for `PARTICIPANT_CONNECTED`,
    /// the sender for `MESSAGE`; NULL for `DISCONNECTED`.
    pub participant_uid: *const c_char,
    /// That participant's device (valid during the callback only); NULL
    /// for `DISCONNECTED`.
    pub participant_device: *const c_char,
    /// For `WD_CONVERSATION_EVENT_KIND_MESSAGE`: the message text
    /// (NUL-terminated UTF-8, at most 64 KiB, valid during the callback
    /// only; copy it to keep it); otherwise NULL.
    pub payload: *const c_char,
    /// For `WD_CONVERSATION_EVENT_KIND_PARTICIPANT_DISCONNECTED`: why the
    /// participant is gone (`LEFT`, or `CONNECTION_LOST` when its
    /// connection ended without it leaving); `NONE` for every other kind.
    /// Appended to the struct (docs/abi-policy.md): an older library does
    /// not set it, so check `wd_version()` at start-up.
    pub participant_left_reason: wd_participant_left_reason,
}

/// Called with each event of a conversation, on the client's event thread
/// (or inside `wd_client_dispatch`,
/// or on its I/O thread with `"dispatch": "io"`), one callback at a time.
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

impl From<&ConversationEvent> for wd_conversation_event_kind {
    fn from(e: &ConversationEvent) -> Self {
        match e {
            ConversationEvent::ParticipantConnected(_) => {
                wd_conversation_event_kind::ParticipantConnected
            }
            ConversationEvent::Message { .. } => wd_conversation_event_kind::Message,
            ConversationEvent::ParticipantDisconnected { .. } => {
                wd_conversation_event_kind::ParticipantDisconnected
            }
            ConversationEvent::Disconnected => wd_conversation_event_kind::Disconnected,
        }
    }
}

/// The pointer of `text`, or NULL.
fn opt_ptr(text: &Option<CString>) -> *const c_char {
    text.as_ref().map_or(ptr::null(), |s| s.as_ptr())
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
        read_into(conversation, "conversation", out, |conversation| {
            let id = conversation.conversation_id();
            kept_c_str(&conversation.shared().attached, CText::ConversationId, id)
        })
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
        read_into(conversation, "conversation", out, |conversation| conversation.mode().into())
    }
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
        let out = try_ffi!(CopyOut::new(buf, len, needed));
        let json = match serde_json::to_vec(&conversation.participants()) {
            Ok(json) => json,
            Err(e) => return fail(wd_result::Panic, format_args!("participants: {e}")),
        };
        out.write(&json)
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
        read_into(conversation, "conversation", out, |conversation| conversation.participants().len())
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
        read_into(conversation, "conversation", out, |conversation| conversation.is_connected())
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

/// Relays `payload` (NUL-terminated UTF-8 text of at most 65536 bytes,
/// e.g. an ICE candidate as JSON) to every device of participant `to` in
/// the conversation, or to every participant when `to` is NULL. Each
/// receiving device gets a `WD_CONVERSATION_EVENT_KIND_MESSAGE` event
/// naming this device as sender; messages from one device arrive in the
/// order sent. The SDK copies both strings; the app keeps ownership.
///
/// INVALID_ARGUMENT (the conversation is unchanged and still usable) if
/// `payload` is longer than 65536 bytes or not UTF-8, or `to` is not a
/// participant (`wd_last_error` names `payload` or `to`); INVALID_STATE
/// once this device is out of the conversation; NOT_CONNECTED;
/// NULL_PARAMETER if `conversation` or `payload` is NULL. Callable from
/// any thread, including from inside callbacks.
#[no_mangle]
pub extern "C" fn wd_conversation_send(
    conversation: *mut wd_conversation,
    to: *const c_char,
    payload: *const c_char,
) -> wd_result {
    ffi_boundary! {
        let conversation = try_ffi!(handle_from(conversation.cast_const(), "conversation"));
        let to = try_ffi!(opt_str_in(to, "to", MAX_UID_LEN));
        let payload = try_ffi!(str_in(payload, "payload", MAX_MESSAGE_LEN));
        try_sdk!(conversation.send(to, payload));
        wd_result::Ok
    }
}

/// Invites a user into this conversation (`Conversation.invite`), with
/// the same `options_json` as `wd_client_invite` (`participantId`
/// required; `mode` is ignored: the conversation's mode applies). The
/// invite's conversation id is this conversation's. When it is accepted,
/// `wd_outgoing_invite_conversation` gives this same conversation, the
/// new device is in its participants, and every participant gets
/// `WD_CONVERSATION_EVENT_KIND_PARTICIPANT_CONNECTED`. If this device
/// leaves the conversation while the invite is pending, the invite is
/// canceled.
///
/// On `WD_RESULT_OK`, `*out` receives a new reference to the pending
/// invite, owned by the app (free it with `wd_outgoing_invite_free`;
/// freeing does not cancel it). Other results: NULL_PARAMETER
/// (`conversation`, `options_json` or `out` NULL), INVALID_ARGUMENT (a bad
/// option, or `participantId` already in the conversation), INVALID_STATE
/// (this device is out of the conversation), NOT_CONNECTED.
///
/// Callable from any thread, including from inside callbacks.
#[no_mangle]
pub extern "C" fn wd_conversation_invite(
    conversation: *mut wd_conversation,
    options_json: *const c_char,
    out: *mut *mut wd_outgoing_invite,
) -> wd_result {
    ffi_boundary! {
        let conversation = try_ffi!(handle_from(conversation.cast_const(), "conversation"));
        let out = try_ffi!(Out::new(out, "out"));
        let json = try_ffi!(str_in(options_json, "options_json", MAX_JSON_LEN));
        let options = try_sdk!(InviteOptions::from_json(json));
        let invite = try_sdk!(conversation.invite(options));
        out.set(into_c::<wd_outgoing_invite>(&invite));
        wd_result::Ok
    }
}

/// Sets the conversation's event callback, replacing the previous one
/// (whose `release` then runs, after it returns if it is running). A NULL
/// `cb` clears it; `user_data` and `release` are then ignored. Events that
/// happened before a callback was set are delivered to it, once.
/// After the client was freed, they are delivered inside this call, on
/// the calling thread.
///
/// The SDK takes ownership of `user_data` only when this returns
/// `WD_RESULT_OK` with a non-NULL `cb`: it calls `release(user_data)`
/// (if `release` is not NULL) exactly once, when the callback is replaced
/// or cleared, or the app's last reference to the conversation is freed
/// (the handle, and its callback, may outlive the client).
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
        set_handle_callback(conversation, "conversation", cb, user_data, release, |cb, user_data, conversation, event| {
            let who = event.participant();
            let uid = who.map(|p| c_string(&p.uid));
            let device = who.map(|p| c_string(&p.device));
            let payload = event.payload().map(c_string);
            let event = wd_conversation_event {
                kind: event.into(),
                participant_uid: opt_ptr(&uid),
                participant_device: opt_ptr(&device),
                payload: opt_ptr(&payload),
                participant_left_reason: event.leave_reason().into(),
            };
            // SAFETY: `cb` is the app's callback for this `user_data`;
            // `conversation`, `&event` and the strings it points to stay
            // valid during the call.
            unsafe { cb(user_data, conversation, &event) }
        })
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
