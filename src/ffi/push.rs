//! Push: registering this device's push key, hearing how registrations
//! go, and turning a push the app received into an incoming invite.

use std::ffi::{c_char, c_void};
use std::ptr;

use super::callback::{call_guarded, wd_release_callback};
use super::client::{wd_client, ClientCallback};
use super::handle::{borrowed_ptr, handle_from, into_c, set_callback, Out};
use super::incoming::wd_incoming_invite;
use super::panic::ffi_boundary;
use super::result::{try_ffi, try_sdk, wd_result};
use super::strings::{c_string, str_in};
use crate::client::{Client, PushEvent, PushRegistration, MAX_JSON_LEN};

/// Kind of a push event: how a push registration of this device went.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum wd_push_event_kind {
    /// The server stored the registration.
    Registered = 0,
    /// The server refused the registration; `message` says why (a server
    /// without a push gateway, a rate limit…).
    RegistrationFailed = 1,
    /// The registration was removed, as `wd_client_unregister_push` asked.
    Unregistered = 2,
    /// The push gateway reported the key dead (an uninstalled app, an
    /// expired token) and the registration is gone: get a fresh token from
    /// the platform and register it.
    Rejected = 3,
}

impl From<&PushEvent> for wd_push_event_kind {
    fn from(event: &PushEvent) -> Self {
        match event {
            PushEvent::Registered { .. } => wd_push_event_kind::Registered,
            PushEvent::RegistrationFailed { .. } => wd_push_event_kind::RegistrationFailed,
            PushEvent::Unregistered { .. } => wd_push_event_kind::Unregistered,
            PushEvent::Rejected { .. } => wd_push_event_kind::Rejected,
        }
    }
}

/// An event about a push registration, valid during the callback only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wd_push_event {
    /// What happened.
    pub kind: wd_push_event_kind,
    /// The registration's app id (NUL-terminated UTF-8, valid during the
    /// callback only).
    pub app_id: *const c_char,
    /// The registration's push key (valid during the callback only).
    pub push_key: *const c_char,
    /// For `WD_PUSH_EVENT_KIND_REGISTRATION_FAILED`: why, for a person to
    /// read (the server's error code, then its detail; valid during the
    /// callback only); otherwise NULL.
    pub message: *const c_char,
}

/// Called with each event about this device's push registrations, on the
/// client's event thread (or inside `wd_client_dispatch`, or on its I/O
/// thread with `"dispatch": "io"`), one callback at a time. `client` is
/// borrowed: valid during the call, do not free it. `event` and its
/// strings are valid during the call only.
pub type wd_push_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        client: *mut wd_client,
        event: *const wd_push_event,
    ),
>;

/// Turns a push the app received into the incoming invite it stands for,
/// without waiting for the network, so that the app can report the call
/// to the system at once (CallKit, ConnectionService) inside its push
/// callback; and makes the client connect if it is not connected (also
/// when it gave up, or after `wd_client_disconnect`: its state is then
/// `WD_CONNECTION_STATE_CONNECTING` when this returns).
///
/// `payload_json` is the push as NUL-terminated UTF-8 JSON text (at most
/// 256 KiB): the payload itself, or an envelope around it (a Matrix push
/// notification, PushKit's `dictionaryPayload`, an FCM data map with the
/// payload as its `wd_push` string).
///
/// On `WD_RESULT_OK`, `*out` always receives an incoming invite, a new
/// reference owned by the app (free it with `wd_incoming_invite_free`):
/// - for an `invite` push: the invite, `PENDING` (or as the app answered
///   it), its caller, conversation, mode and user data readable at once
///   (the user data when it fitted in the push; the offer is NULL). Once
///   connected, the client fetches the invite's state: still ringing, its
///   callback hears `WD_INCOMING_EVENT_KIND_CONFIRMED` (offer and full
///   user data readable then); already over, the end it would have had
///   (`CANCELED`: `CALLER_CANCELED` or `ANSWERED_ELSEWHERE`; `FAILED`:
///   `TIMEOUT` or `CALLER_GONE`), once. `wd_incoming_invite_accept` or
///   `_reject` called before that is carried out when it comes;
/// - for an `invite_ended` push about an invite ringing here: that invite,
///   already ended when this returns; its callback hears the end once;
/// - for a push about an invite that is over here, or that this client
///   never held: an invite already ended as the push says (status and
///   reasons readable; its callback hears the end once): a missed call.
///
/// If the invite already has a handle (delivered over the connection, or
/// pushed before), `*out` is another reference to the SAME handle (an
/// equal pointer): one set of events. The invite callback
/// (`wd_client_set_invite_callback`) never fires for an invite a push
/// made, nor twice for one invite.
///
/// INVALID_ARGUMENT for a payload that is not one of ours, malformed, of
/// another version, too large, or that names an invite this client holds
/// from another caller (`wd_last_error` names the field, e.g. `type`,
/// `wd`, `invite_id`); nothing changes then. NULL_PARAMETER if `client`,
/// `payload_json` or `out` is NULL.
///
/// Callable from any thread, including from inside callbacks; never
/// blocks on the network.
#[no_mangle]
pub extern "C" fn wd_client_handle_push(
    client: *mut wd_client,
    payload_json: *const c_char,
    out: *mut *mut wd_incoming_invite,
) -> wd_result {
    ffi_boundary! {
        let client = try_ffi!(handle_from(client.cast_const(), "client"));
        let out = try_ffi!(Out::new(out, "out"));
        let json = try_ffi!(str_in(payload_json, "payload_json", MAX_JSON_LEN));
        let invite = try_sdk!(client.handle_push(json));
        out.set(into_c::<wd_incoming_invite>(&invite));
        wd_result::Ok
    }
}

/// Registers this device's push key with the server, which then pushes
/// this user's invites to it while this device holds no connection.
///
/// `options_json` is a NUL-terminated UTF-8 JSON object (at most 256 KiB):
/// `{"provider": "apns" | "fcm" | "webpush", "appId": "...", "pushKey":
/// "...", "data": {...}}`: the push service, the app id the push gateway
/// knows the app by (at most 128 bytes), the device's token (at most 512
/// bytes; an APNs token hex-encoded), and optional extra fields for the
/// gateway (an object, at most 2 KiB of JSON). An unknown, missing or
/// ill-typed field, or one over its limit, is INVALID_ARGUMENT naming it
/// in `wd_last_error` (`pushKey: longer than 512 bytes`); nothing changes
/// then.
///
/// Callable before the client is connected: the client keeps the
/// registration (16 at most; one more drops the least recently
/// registered) and sends it on every connection, so register at every
/// start with the token the platform gives. The push callback
/// (`wd_client_set_push_callback`) hears `REGISTERED` or
/// `REGISTRATION_FAILED`.
///
/// NULL_PARAMETER if `client` or `options_json` is NULL. Callable from any
/// thread, including from inside callbacks.
#[no_mangle]
pub extern "C" fn wd_client_register_push(
    client: *mut wd_client,
    options_json: *const c_char,
) -> wd_result {
    ffi_boundary! {
        let client = try_ffi!(handle_from(client.cast_const(), "client"));
        let json = try_ffi!(str_in(options_json, "options_json", MAX_JSON_LEN));
        let registration = try_sdk!(PushRegistration::from_json(json));
        try_sdk!(client.register_push(registration));
        wd_result::Ok
    }
}

/// Removes a push registration of this user: `app_id` and `push_key` as
/// registered (by this client, or by an earlier run of the app). Sent now,
/// or on the next connection, until the server confirms it: the push
/// callback then hears `UNREGISTERED`.
///
/// INVALID_ARGUMENT for an empty or over-long `app_id` (`appId`, 128
/// bytes) or `push_key` (`pushKey`, 512 bytes); NULL_PARAMETER if any
/// parameter is NULL. Callable from any thread, including from inside
/// callbacks.
#[no_mangle]
pub extern "C" fn wd_client_unregister_push(
    client: *mut wd_client,
    app_id: *const c_char,
    push_key: *const c_char,
) -> wd_result {
    ffi_boundary! {
        let client = try_ffi!(handle_from(client.cast_const(), "client"));
        let app_id = try_ffi!(str_in(app_id, "app_id", MAX_JSON_LEN));
        let push_key = try_ffi!(str_in(push_key, "push_key", MAX_JSON_LEN));
        try_sdk!(client.unregister_push(app_id, push_key));
        wd_result::Ok
    }
}

/// Sets the callback that hears how this device's push registrations go
/// (`wd_push_event_kind`), replacing the previous one (whose `release`
/// then runs, after it returns if it is running). A NULL `cb` clears it;
/// `user_data` and `release` are then ignored. Events that came while no
/// callback was set are delivered to the next one, in order.
///
/// Ownership of `user_data` follows `wd_client_set_invite_callback`:
/// `release(user_data)` runs exactly once, when the callback is replaced or
/// cleared, or the client is freed. `cb` runs on the client's event thread
/// (or inside `wd_client_dispatch`, or on its I/O thread with
/// `"dispatch": "io"`), one callback at a time.
///
/// NULL_PARAMETER if `client` is NULL. Callable from any thread, including
/// from inside callbacks.
#[no_mangle]
pub extern "C" fn wd_client_set_push_callback(
    client: *mut wd_client,
    cb: wd_push_callback,
    user_data: *mut c_void,
    release: wd_release_callback,
) -> wd_result {
    ffi_boundary! {
        let client = try_ffi!(handle_from(client.cast_const(), "client"));
        // The same pointer the app holds; not a new reference (capturing a
        // `Client` here would keep the client alive forever).
        let ptr = borrowed_ptr::<wd_client>(&client) as usize;
        let pushes = ClientCallback {
            client: &client,
            set: |client, listener: Box<dyn FnMut(&PushEvent) + Send>| {
                client.set_push_listener(listener)
            },
            clear: Client::clear_push_listener,
        };
        set_callback(&pushes, cb, user_data, release, |cb, user_data| {
            Box::new(move |event: &PushEvent| {
                let app_id = c_string(event.app_id());
                let push_key = c_string(event.push_key());
                let message = event.message().map(c_string);
                let event = wd_push_event {
                    kind: event.into(),
                    app_id: app_id.as_ptr(),
                    push_key: push_key.as_ptr(),
                    message: message.as_ref().map_or(ptr::null(), |m| m.as_ptr()),
                };
                // SAFETY: `cb` is the app's callback for this `user_data`;
                // the client outlives its callbacks (`wd_client_free`
                // clears this one before the client goes away); `event`
                // and its strings live until the call returns.
                call_guarded(|| unsafe { cb(user_data.ptr(), ptr as *mut wd_client, &event) });
            })
        })
    }
}
