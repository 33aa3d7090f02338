//! `wd_client`: one connection to a `wd-signal` server.

use std::ffi::{c_char, c_void};
use std::marker::{PhantomData, PhantomPinned};
use std::ptr::NonNull;
use std::time::Duration;

use super::callback::{call_guarded, wd_release_callback};
use super::handle::{
    arc_handle, borrow_handle, borrowed_ptr, handle_from, into_c, into_c_uncounted, kept_c_str,
    read_into, set_callback, take_uncounted, CText, Listened, Out,
};
use super::incoming::wd_incoming_invite;
use super::outgoing::wd_outgoing_invite;
use super::panic::ffi_boundary;
use super::result::{fail, try_ffi, try_sdk, wd_result};
use super::strings::{copy_out, str_in};
use super::types::wd_connection_state;
use crate::client::{
    Client, ClientConfig, ConnectionState, IncomingInvite, InviteOptions, MAX_JSON_LEN,
};

/// A client: one connection to a `wd-signal` server, with its own I/O
/// thread and event thread. Created by `wd_client_new`, freed by
/// `wd_client_free`. Every function taking a `wd_client` may be called
/// from any thread, including from inside callbacks, unless its
/// documentation says otherwise.
pub struct wd_client {
    _private: [u8; 0],
    // Not Send, Sync or Unpin: C only ever holds a pointer.
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

arc_handle!(wd_client => Client.handle);

/// Called on the client's event thread (or inside `wd_client_dispatch`,
/// or on its I/O thread with `"dispatch": "io"`)
/// for every invite that arrives, in order. `invite` is a NEW reference
/// owned by the app: free it with `wd_incoming_invite_free` when done
/// (it stays valid after the callback returns). Invites that arrived
/// while no callback was set are delivered to the next one set.
pub type wd_invite_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, invite: *mut wd_incoming_invite)>;

/// Called on the client's event thread (or inside `wd_client_dispatch`,
/// or on its I/O thread with `"dispatch": "io"`)
/// for the connection's state: once with the current state when the
/// callback is set, then at every change, in order
/// (`CONNECTED` → `RECONNECTING` → `CONNECTED` …, `DISCONNECTED` last;
/// a client made with `wd_client_start` begins with `CONNECTING`).
/// `client` is borrowed: valid during the call, do not free it.
pub type wd_connection_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        client: *mut wd_client,
        state: wd_connection_state,
    ),
>;

/// Connects a new client and waits until the server has authenticated it
/// (or `connectTimeoutMs` passed).
///
/// `config_json` is a NUL-terminated UTF-8 JSON object of at most 256 KiB:
/// `{"url": "ws://host:port" or "wss://host:port", "token": "...",
/// "dispatch": "thread" | "manual" | "io", "connectTimeoutMs": n,
/// "confirmTimeoutMs": n, "urls": ["wss://a", "wss://b"], "heartbeatMs": n,
/// "deadAfterMs": n, "reconnect": true | false, "reconnectMinMs": n,
/// "reconnectMaxMs": n, "caFile": "/path/ca.pem", "caPem": "PEM text"}`;
/// `token` and `url` (or `urls`) are required. An unknown or ill-typed
/// field is `WD_RESULT_INVALID_ARGUMENT` naming the field in
/// `wd_last_error` (e.g. `heartbeatMs: expected a non-negative integer`).
///
/// Keys and defaults:
/// - `url` / `urls`: the server (`ws://` or `wss://`); several `urls` are
///   tried in rotation when connecting and reconnecting;
/// - `token`: the signed token (`dev:<uid>` on a `--dev` server);
/// - `dispatch`: `"thread"` (default), `"manual"` or `"io"` (below);
/// - `connectTimeoutMs`: 10000, one connection attempt (TCP, TLS,
///   WebSocket, hello);
/// - `confirmTimeoutMs`: 10000, how long an invitee that accepted or
///   rejected waits for the caller's outcome;
/// - `heartbeatMs`: 5000, the ping interval;
/// - `deadAfterMs`: 15000, the link counts as dead after this long with
///   nothing heard;
/// - `reconnect`: true, reconnect after a lost link (else the state
///   becomes `DISCONNECTED`);
/// - `reconnectMinMs` / `reconnectMaxMs`: 250 / 10000, the bounds of the
///   full-jitter exponential backoff;
/// - `caFile` / `caPem`: the CA certificates trusted for `wss://` (a PEM
///   file / PEM text); default: the built-in web roots.
///
/// `dispatch` says where callbacks run: `"thread"` (default) on the
/// client's own event thread; `"manual"` inside `wd_client_dispatch`;
/// `"io"` directly on the client's I/O thread, as soon as it has read
/// what caused them, which saves two thread wake-ups per event. With
/// `"io"` callbacks must not block (while one runs, the client reads,
/// writes and heartbeats nothing); calling SDK functions from them is
/// allowed, and what they send leaves at once. `wd_client_disconnect`
/// called from such a callback returns at once; the connection closes
/// when the callback returns.
///
/// On `WD_RESULT_OK`, `*out` receives a new client that the app owns and
/// must free with `wd_client_free`. Other results: NULL_PARAMETER
/// (`config_json` or `out` NULL), INVALID_ARGUMENT, UNAUTHORIZED (token
/// refused), NETWORK (server unreachable), PROTOCOL, TLS (the server's
/// certificate is untrusted, expired or for another host).
///
/// Blocks the calling thread while connecting. Callable from any thread;
/// not from inside a callback of another client in manual dispatch mode
/// (that would block its dispatch).
#[no_mangle]
pub extern "C" fn wd_client_new(config_json: *const c_char, out: *mut *mut wd_client) -> wd_result {
    ffi_boundary! {
        let out = try_ffi!(Out::new(out, "out"));
        let json = try_ffi!(str_in(config_json, "config_json", MAX_JSON_LEN));
        let config = try_sdk!(ClientConfig::from_json(json));
        let client = try_sdk!(Client::connect(config));
        out.set(into_c_uncounted::<wd_client>(&client));
        wd_result::Ok
    }
}

/// Makes a client that connects in the background, and returns at once,
/// without waiting for the network: what an app woken by a push uses, so
/// that it can hand the push to `wd_client_handle_push` first.
///
/// `config_json` is the configuration of `wd_client_new` (same keys,
/// defaults and errors). The client connects on its I/O thread; the
/// connection callback reports how it goes (`CONNECTING`, then
/// `CONNECTED`, …). An unreachable server is tried again with the
/// reconnection backoff (with `"reconnect": false`, once per server URL);
/// a refused token, or running out of attempts, ends `DISCONNECTED`
/// (`wd_client_handle_push` makes it try again). None of that is a
/// result. Until the first connection, `wd_client_uid` and
/// `wd_client_device` are INVALID_STATE, and `wd_client_invite` is
/// NOT_CONNECTED.
///
/// On `WD_RESULT_OK`, `*out` receives a new client that the app owns and
/// must free with `wd_client_free`. Other results: NULL_PARAMETER
/// (`config_json` or `out` NULL), INVALID_ARGUMENT (a bad configuration,
/// the field named in `wd_last_error`).
///
/// Callable from any thread, including from inside callbacks; it never
/// blocks on the network.
#[no_mangle]
pub extern "C" fn wd_client_start(
    config_json: *const c_char,
    out: *mut *mut wd_client,
) -> wd_result {
    ffi_boundary! {
        let out = try_ffi!(Out::new(out, "out"));
        let json = try_ffi!(str_in(config_json, "config_json", MAX_JSON_LEN));
        let config = try_sdk!(ClientConfig::from_json(json));
        let client = try_sdk!(Client::start(config));
        out.set(into_c_uncounted::<wd_client>(&client));
        wd_result::Ok
    }
}

/// Frees the client. NULL is a no-op.
///
/// Removes the invite, connection and push callbacks (their `release` runs;
/// the final `DISCONNECTED` is not delivered), then closes the
/// connection, as dropping the client does: every pending outgoing invite
/// ends `failed` (`network`) and every conversation `disconnected`; those
/// events are still delivered to the callbacks of handles the app still
/// holds, before this returns: by the client's thread, or with
/// `"dispatch": "manual"` on the calling thread, inside this call. A
/// callback set on such a handle later hears its event inside its
/// `*_set_callback` call, on the calling thread. Handles obtained from
/// the client stay valid until freed, but can no longer reach the server.
///
/// Blocks until the connection's I/O thread has ended. Callable from any
/// thread, including from inside a callback (the event thread, or with
/// `"dispatch": "io"` the I/O thread, then ends after the callback
/// returns). `client` must not be used afterwards.
#[no_mangle]
pub extern "C" fn wd_client_free(client: *mut wd_client) {
    ffi_boundary! {
        let Some(ptr) = NonNull::new(client) else {
            return;
        };
        let client = take_uncounted::<wd_client>(ptr);
        client.clear_invite_listener();
        client.clear_connection_listener();
        client.clear_push_listener();
        drop(client);
    }
}

/// Stores in `*out` this client's user id (taken by the server from the
/// token): a NUL-terminated UTF-8 string owned by the client, valid until
/// `wd_client_free`. Do not free it.
///
/// INVALID_STATE before the client's first connection (a client made with
/// `wd_client_start` learns its uid from the server); NULL_PARAMETER if
/// `client` or `out` is NULL. Callable from any thread.
#[no_mangle]
pub extern "C" fn wd_client_uid(client: *const wd_client, out: *mut *const c_char) -> wd_result {
    ffi_boundary! {
        let client = try_ffi!(borrow_handle(client, "client"));
        let out = try_ffi!(Out::new(out, "out"));
        if client.uid().is_empty() {
            return fail(wd_result::InvalidState, NOT_CONNECTED_YET);
        }
        out.set(kept_c_str(client.attached(), CText::Uid, client.uid()));
        wd_result::Ok
    }
}

/// Why `wd_client_uid` and `wd_client_device` have nothing to say yet.
const NOT_CONNECTED_YET: &str = "the client has not connected to the server yet";

/// Copies the id the server gave this connection (this device) into
/// `buf`, following the copy-out rules of `wd_last_error` (`needed` must
/// not be NULL and receives the size with the NUL on OK and
/// BUFFER_TOO_SMALL; `buf` may be NULL only when `len` is 0).
///
/// INVALID_STATE before the client's first connection (`wd_client_start`);
/// NULL_PARAMETER if `client` or `needed` is NULL, or `buf` is NULL with
/// `len` > 0. Callable from any thread.
#[no_mangle]
pub extern "C" fn wd_client_device(
    client: *const wd_client,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> wd_result {
    ffi_boundary! {
        let client = try_ffi!(handle_from(client, "client"));
        let device = client.device();
        if device.is_empty() {
            return fail(wd_result::InvalidState, NOT_CONNECTED_YET);
        }
        copy_out(device.as_bytes(), buf, len, needed)
    }
}

/// Stores the state of the client's connection in `*out`.
///
/// NULL_PARAMETER if `client` or `out` is NULL. Callable from any thread.
#[no_mangle]
pub extern "C" fn wd_client_connection_state(
    client: *const wd_client,
    out: *mut wd_connection_state,
) -> wd_result {
    ffi_boundary! {
        read_into(client, "client", out, |client| client.connection_state().into())
    }
}

/// Invites a user to a new conversation (`inviteToConversation`).
///
/// `options_json` is a NUL-terminated UTF-8 JSON object of at most 256 KiB:
/// `{"participantId": "bob", "mode": "p2p" | "server", "userData": "...",
/// "offer": "<SDP>", "lifetimeMs": n}`; `participantId` is required,
/// `userData` is at most 8 KiB, `offer` at most 64 KiB, `lifetimeMs`
/// defaults to 60000. An unknown or ill-typed field is INVALID_ARGUMENT
/// naming the field in `wd_last_error`.
///
/// On `WD_RESULT_OK`, `*out` receives a new reference to the pending
/// invite, owned by the app (free it with `wd_outgoing_invite_free`;
/// freeing does not cancel it). Its outcome arrives as an event; set a
/// callback with `wd_outgoing_invite_set_callback` (events that happened
/// before are still delivered). Other results: NULL_PARAMETER,
/// INVALID_ARGUMENT, NOT_CONNECTED.
///
/// Callable from any thread, including from inside callbacks.
#[no_mangle]
pub extern "C" fn wd_client_invite(
    client: *mut wd_client,
    options_json: *const c_char,
    out: *mut *mut wd_outgoing_invite,
) -> wd_result {
    ffi_boundary! {
        let client = try_ffi!(handle_from(client.cast_const(), "client"));
        let out = try_ffi!(Out::new(out, "out"));
        let json = try_ffi!(str_in(options_json, "options_json", MAX_JSON_LEN));
        let options = try_sdk!(InviteOptions::from_json(json));
        let invite = try_sdk!(client.invite_to_conversation(options));
        out.set(into_c::<wd_outgoing_invite>(&invite));
        wd_result::Ok
    }
}

/// Sets the callback that receives incoming invites, replacing the
/// previous one (whose `release` then runs, after it returns if it is
/// running). A NULL `cb` clears it; `user_data` and `release` are then
/// ignored. Invites that arrive while no callback is set wait for the next
/// one.
///
/// The SDK takes ownership of `user_data` only when this returns
/// `WD_RESULT_OK` with a non-NULL `cb`: it calls `release(user_data)`
/// (if `release` is not NULL) exactly once, when the callback is replaced
/// or cleared, or the client is freed. `cb` runs on the client's event
/// thread (or inside `wd_client_dispatch`,
/// or on its I/O thread with `"dispatch": "io"`), one callback at a time.
///
/// NULL_PARAMETER if `client` is NULL. Callable from any thread, including
/// from inside callbacks.
#[no_mangle]
pub extern "C" fn wd_client_set_invite_callback(
    client: *mut wd_client,
    cb: wd_invite_callback,
    user_data: *mut c_void,
    release: wd_release_callback,
) -> wd_result {
    ffi_boundary! {
        let client = try_ffi!(handle_from(client.cast_const(), "client"));
        let invites = ClientCallback {
            client: &client,
            set: |client, listener: Box<dyn FnMut(IncomingInvite) + Send>| {
                client.set_invite_listener(listener)
            },
            clear: Client::clear_invite_listener,
        };
        set_callback(&invites, cb, user_data, release, |cb, user_data| {
            Box::new(move |invite| {
                let ptr = into_c::<wd_incoming_invite>(&invite);
                // SAFETY: `cb` is the app's callback for this `user_data`;
                // `ptr` is a new reference the app now owns.
                call_guarded(|| unsafe { cb(user_data.ptr(), ptr) });
            })
        })
    }
}

/// Manual dispatch mode (`"dispatch": "manual"` in the configuration):
/// runs the callbacks that are due on the calling thread, waiting up to
/// `timeout_ms` milliseconds for the first one. If `dispatched` is not
/// NULL it receives how many queued deliveries were handled (0 when the
/// wait timed out).
///
/// INVALID_STATE in thread dispatch mode and when called from inside a
/// callback; NULL_PARAMETER if `client` is NULL. Call it from one thread
/// at a time (usually the app's main loop).
#[no_mangle]
pub extern "C" fn wd_client_dispatch(
    client: *mut wd_client,
    timeout_ms: u32,
    dispatched: *mut usize,
) -> wd_result {
    ffi_boundary! {
        let client = try_ffi!(handle_from(client.cast_const(), "client"));
        let n = try_sdk!(client.dispatch(Duration::from_millis(u64::from(timeout_ms))));
        if !dispatched.is_null() {
            // `dispatched` is optional; it is written only when given.
            try_ffi!(Out::new(dispatched, "dispatched")).set(n);
        }
        wd_result::Ok
    }
}

/// Closes the connection: every pending outgoing invite ends `failed`
/// (`network`), every conversation `disconnected` (their events are still
/// delivered). The client stays valid (its state is then
/// `WD_CONNECTION_STATE_DISCONNECTED`) until freed; a push handed to it
/// (`wd_client_handle_push`) makes it connect again. Calling it again
/// does nothing.
///
/// NULL_PARAMETER if `client` is NULL. Blocks until the connection has
/// ended (every invite and conversation with it). Callable from any
/// thread, including from inside callbacks; from a callback running on
/// this client's I/O thread (`"dispatch": "io"`) it returns at once and
/// the connection ends when the callback returns.
#[no_mangle]
pub extern "C" fn wd_client_disconnect(client: *mut wd_client) -> wd_result {
    ffi_boundary! {
        let client = try_ffi!(handle_from(client.cast_const(), "client"));
        client.disconnect();
        wd_result::Ok
    }
}

/// Sets the callback that hears the client's connection state, replacing
/// the previous one (whose `release` then runs, after it returns if it is
/// running). A NULL `cb` clears it; `user_data` and `release` are then
/// ignored. The new callback first hears the current state, once, then
/// every change in order: `RECONNECTING` when the link is lost or silent
/// for `deadAfterMs`, `CONNECTED` when a reconnection succeeded (with a
/// new device id), `DISCONNECTED` last (after `wd_client_disconnect`, with
/// `"reconnect": false`, or when a reconnection is refused as
/// unauthorized). A client made with `wd_client_start` goes `CONNECTING`
/// → `CONNECTED` first (or `CONNECTING` → `DISCONNECTED` when it gives
/// up); after `DISCONNECTED`, a push handed to `wd_client_handle_push`
/// makes it go `CONNECTING` again.
///
/// Ownership of `user_data` follows `wd_client_set_invite_callback`:
/// `release(user_data)` runs exactly once, when the callback is replaced or
/// cleared, or the client is freed. `cb` runs on the client's event thread
/// (or inside `wd_client_dispatch`,
/// or on its I/O thread with `"dispatch": "io"`), one callback at a time.
///
/// NULL_PARAMETER if `client` is NULL. Callable from any thread, including
/// from inside callbacks.
#[no_mangle]
pub extern "C" fn wd_client_set_connection_callback(
    client: *mut wd_client,
    cb: wd_connection_callback,
    user_data: *mut c_void,
    release: wd_release_callback,
) -> wd_result {
    ffi_boundary! {
        let client = try_ffi!(handle_from(client.cast_const(), "client"));
        // The same pointer the app holds; not a new reference (capturing a
        // `Client` here would keep the client alive forever).
        let ptr = borrowed_ptr::<wd_client>(&client) as usize;
        let states = ClientCallback {
            client: &client,
            set: |client, listener: Box<dyn FnMut(ConnectionState) + Send>| {
                client.set_connection_listener(listener)
            },
            clear: Client::clear_connection_listener,
        };
        set_callback(&states, cb, user_data, release, |cb, user_data| {
            Box::new(move |state| {
                // SAFETY: `cb` is the app's callback for this `user_data`;
                // the client outlives its callbacks (`wd_client_free`
                // clears this one before the client goes away).
                call_guarded(|| unsafe { cb(user_data.ptr(), ptr as *mut wd_client, state.into()) });
            })
        })
    }
}

/// One of the client's own callbacks (invites, connection states, push
/// events), for [`set_callback`]: the client queues what waits for a new
/// listener itself.
pub(crate) struct ClientCallback<'a, L> {
    pub(crate) client: &'a Client,
    pub(crate) set: fn(&Client, L),
    pub(crate) clear: fn(&Client),
}

impl<L> Listened for ClientCallback<'_, L> {
    type Listener = L;

    fn listen(&self, listener: L) -> bool {
        (self.set)(self.client, listener);
        false
    }

    fn clear(&self) {
        (self.clear)(self.client);
    }

    fn wake(&self) {}
}
