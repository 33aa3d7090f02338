//! `WilddogVideoClient` natives.

use std::time::Duration;

use jni::objects::{JClass, JObject, JString, JValue};
use jni::sys::{jint, jlong};
use jni::JNIEnv;
use wilddog_video::client::{field, Client, ClientConfig, Error, InviteOptions, Mode};
use wilddog_video::ffi::types::wd_connection_state;

use crate::handles::{self, Entry};
use crate::names::{CLIENT_ON_CONNECTION_STATE, CLIENT_ON_INVITE, CLIENT_REPORT_ERROR};
use crate::sink::Sink;
use crate::{boundary, jstring, opt_string_arg, string_arg, Fail};

/// `clientConnectWith(configJson): Long`: connects with the C
/// configuration JSON that `ClientOptions.toJson` wrote (every key of
/// `wd_client_new`; a bad one is an `InvalidArgumentException` naming it).
/// Blocks until the server welcomed the client.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientConnectWith<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    config_json: JString<'l>,
) -> jlong {
    boundary(&mut env, |env| {
        let json = string_arg(env, &config_json, "options")?;
        let config = ClientConfig::from_json(&json)?;
        let client = Client::connect(config)?;
        Ok(handles::insert(Entry::Client(client)))
    })
}

/// `clientStartWith(configJson): Long`: makes a client with the same
/// configuration JSON as `clientConnectWith` and returns at once; it
/// connects in the background (the connection sink reports how). Only a
/// bad configuration is an exception.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientStartWith<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    config_json: JString<'l>,
) -> jlong {
    boundary(&mut env, |env| {
        let json = string_arg(env, &config_json, "options")?;
        let config = ClientConfig::from_json(&json)?;
        let client = Client::start(config)?;
        Ok(handles::insert(Entry::Client(client)))
    })
}

/// The state named by the `InvalidStateException` of a uid or device asked
/// for before the client's first connection (`ObjectState.NOT_YET_CONNECTED`).
const NOT_YET_CONNECTED: &str = "not_yet_connected";

/// `clientFree(handle)`: removes the invite, connection and push listeners
/// (deleting their global references), closes the connection (pending invites end
/// `failed(network)`, their events still delivered) and drops the client.
/// A second call is a no-op.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientFree<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    boundary(&mut env, |_| {
        if let Some(Entry::Client(client)) = handles::remove(handle) {
            client.clear_invite_listener();
            client.clear_connection_listener();
            client.clear_push_listener();
            client.disconnect();
            drop(client);
        }
        Ok(())
    })
}

/// `clientUid(handle): String`; `InvalidStateException`
/// (`not_yet_connected`) before the first connection of a started client.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientUid<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    boundary(&mut env, |env| {
        let client = handles::client(handle)?;
        jstring(env, known(client.uid())?)
    })
}

/// `clientDevice(handle): String`: the device id of the current connection
/// (a new one after every reconnection); `InvalidStateException`
/// (`not_yet_connected`) before the first connection of a started client.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientDevice<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    boundary(&mut env, |env| {
        let client = handles::client(handle)?;
        jstring(env, known(&client.device())?)
    })
}

/// `text`, or the error of a client that has not connected yet (the
/// client reports an empty uid and device until then).
fn known(text: &str) -> Result<&str, Fail> {
    if text.is_empty() {
        Err(Fail::Sdk(Error::InvalidState {
            status: NOT_YET_CONNECTED,
        }))
    } else {
        Ok(text)
    }
}

/// `clientConnectionState(handle): Int` (`WD_CONNECTION_STATE_*`).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientConnectionState<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    boundary(&mut env, |_| {
        let client = handles::client(handle)?;
        Ok(wd_connection_state::from(client.connection_state()) as jint)
    })
}

/// `clientLiveCount(handle): Int`: invites and conversations the SDK still
/// tracks (a leak diagnostic).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientLiveCount<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    boundary(&mut env, |_| {
        let client = handles::client(handle)?;
        Ok(client.live_count() as jint)
    })
}

/// `clientInvite(handle, participantId, mode, userData, offer, lifetimeMs):
/// Long`: a new `OutgoingInvite` handle.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientInvite<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    participant_id: JString<'l>,
    mode: jint,
    user_data: JString<'l>,
    offer: JString<'l>,
    lifetime_ms: jlong,
) -> jlong {
    boundary(&mut env, |env| {
        let client = handles::client(handle)?;
        let mut options = invite_options(env, &participant_id, &user_data, &offer, lifetime_ms)?;
        options.mode = mode_arg(mode)?;
        let invite = client.invite_to_conversation(options)?;
        Ok(handles::insert(Entry::Outgoing(invite)))
    })
}

/// Invite options from Kotlin's arguments (the mode is left at its
/// default).
pub(crate) fn invite_options(
    env: &mut JNIEnv,
    participant_id: &JString,
    user_data: &JString,
    offer: &JString,
    lifetime_ms: jlong,
) -> Result<InviteOptions, Fail> {
    let mut options = InviteOptions::new(string_arg(env, participant_id, field::PARTICIPANT_ID)?);
    options.user_data = opt_string_arg(env, user_data)?;
    options.offer = opt_string_arg(env, offer)?;
    options.lifetime_ms = u64::try_from(lifetime_ms).map_err(|_| Fail::Arg {
        field: field::LIFETIME_MS.to_owned(),
        message: "expected a non-negative integer".to_owned(),
    })?;
    Ok(options)
}

/// A `WD_MODE_*` value from Kotlin.
pub(crate) fn mode_arg(mode: jint) -> Result<Mode, Fail> {
    match mode {
        0 => Ok(Mode::P2p),
        1 => Ok(Mode::Server),
        _ => Err(Fail::Arg {
            field: field::MODE.to_owned(),
            message: format!("unknown mode {mode}"),
        }),
    }
}

/// `clientSetInviteSink(handle, sink)`: every incoming invite becomes a new
/// `IncomingInvite` handle passed to `sink.onInvite(Long)`. Invites that
/// arrived before a sink was set are delivered to it. `null` removes the
/// sink; replacing or removing deletes the old global reference.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientSetInviteSink<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    sink: JObject<'l>,
) {
    boundary(&mut env, |env| {
        let client = handles::client(handle)?;
        if sink.is_null() {
            client.clear_invite_listener();
            return Ok(());
        }
        let sink = Sink::new(env, &sink, &CLIENT_REPORT_ERROR)?;
        client.set_invite_listener(move |incoming| {
            let id = handles::insert(Entry::Incoming(incoming));
            let mut delivered = false;
            sink.call(|env, obj| {
                env.call_method(
                    obj,
                    CLIENT_ON_INVITE.name,
                    CLIENT_ON_INVITE.sig,
                    &[JValue::Long(id)],
                )?;
                delivered = !env.exception_check()?;
                Ok(())
            });
            if !delivered {
                // Kotlin never took ownership of the id.
                drop(handles::remove(id));
            }
        });
        Ok(())
    })
}

/// `clientSetConnectionSink(handle, sink)`: the connection state goes to
/// `sink.onConnectionState(Int)` (`WD_CONNECTION_STATE_*`): the current
/// state first, then every change. The Kotlin side removes the client's
/// sinks after `DISCONNECTED` (unless a push woke the client): the glue
/// does not, since it cannot tell that `DISCONNECTED` from one a push
/// already superseded. `null` removes the sink.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientSetConnectionSink<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    sink: JObject<'l>,
) {
    boundary(&mut env, |env| {
        let client = handles::client(handle)?;
        if sink.is_null() {
            client.clear_connection_listener();
            return Ok(());
        }
        let sink = Sink::new(env, &sink, &CLIENT_REPORT_ERROR)?;
        client.set_connection_listener(move |state| {
            sink.call(|env, obj| {
                env.call_method(
                    obj,
                    CLIENT_ON_CONNECTION_STATE.name,
                    CLIENT_ON_CONNECTION_STATE.sig,
                    &[JValue::Int(wd_connection_state::from(state) as jint)],
                )
                .map(drop)
            });
        });
        Ok(())
    })
}

/// `clientDisconnect(handle)`: closes the connection (pending invites end
/// `failed(network)`, conversations end; their events are still
/// delivered) and keeps the client, whose state is then `DISCONNECTED`.
/// Blocks until the connection has ended; a second call does nothing.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientDisconnect<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    boundary(&mut env, |_| {
        handles::client(handle)?.disconnect();
        Ok(())
    })
}

/// `clientDispatch(handle, timeoutMs): Int`: with `"dispatch": "manual"`,
/// runs the callbacks that are due on this thread, waiting up to
/// `timeoutMs` for the first; returns how many queued deliveries it
/// handled. `InvalidStateException` in the other modes and from inside a
/// callback.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientDispatch<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    timeout_ms: jlong,
) -> jint {
    boundary(&mut env, |_| {
        let timeout = u64::try_from(timeout_ms).map_err(|_| Fail::Arg {
            field: "timeout".to_owned(),
            message: "must not be negative".to_owned(),
        })?;
        let handled = handles::client(handle)?.dispatch(Duration::from_millis(timeout))?;
        Ok(jint::try_from(handled).unwrap_or(jint::MAX))
    })
}
