//! `Conversation` natives.

use jni::objects::{JClass, JObject, JObjectArray, JString, JValue};
use jni::sys::{jboolean, jint, jlong, JNI_FALSE, JNI_TRUE};
use jni::JNIEnv;
use wilddog_video::ffi::conversation::wd_conversation_event_kind as Kind;
use wilddog_video::ffi::types::{wd_mode, wd_participant_left_reason};

use crate::client::invite_options;
use crate::handles::{self, Entry};
use crate::names::{CONVERSATION_ON_EVENT, CONVERSATION_REPORT_ERROR, STRING};
use crate::sink::Sink;
use crate::{boundary, jstring, opt_string_arg, string_arg, Fail};

/// `conversationFree(handle)`: drops the listener and the handle. Never
/// leaves the conversation; a second call is a no-op.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_conversationFree<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    boundary(&mut env, |_| {
        if let Some(Entry::Conversation(conversation)) = handles::remove(handle) {
            conversation.clear_listener();
        }
        Ok(())
    })
}

/// `conversationForget(handle)`: drops one handle of a conversation that
/// another handle still serves (a duplicate the glue handed out), leaving
/// the conversation's listener in place; a second call is a no-op.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_conversationForget<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    boundary(&mut env, |_| {
        handles::remove(handle);
        Ok(())
    })
}

/// `conversationSend(handle, to: String?, payload: String)`: relays
/// `payload` to every device of participant `to`, or to every participant
/// when `to` is null.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_conversationSend<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    to: JString<'l>,
    payload: JString<'l>,
) {
    boundary(&mut env, |env| {
        let conversation = handles::conversation(handle)?;
        let to = opt_string_arg(env, &to)?;
        let payload = string_arg(env, &payload, "payload")?;
        Ok(conversation.send(to.as_deref(), &payload)?)
    })
}

/// `conversationInvite(handle, participantId, userData, offer,
/// lifetimeMs): Long`: a new `OutgoingInvite` handle for an invite into
/// this conversation (in its mode).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_conversationInvite<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    participant_id: JString<'l>,
    user_data: JString<'l>,
    offer: JString<'l>,
    lifetime_ms: jlong,
) -> jlong {
    boundary(&mut env, |env| {
        let conversation = handles::conversation(handle)?;
        let options = invite_options(env, &participant_id, &user_data, &offer, lifetime_ms)?;
        let invite = conversation.invite(options)?;
        Ok(handles::insert(Entry::Outgoing(invite)))
    })
}

/// `conversationId(handle): String`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_conversationId<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    boundary(&mut env, |env| {
        let conversation = handles::conversation(handle)?;
        jstring(env, conversation.conversation_id())
    })
}

/// `conversationMode(handle): Int` (`WD_MODE_*`).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_conversationMode<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    boundary(&mut env, |_| {
        Ok(wd_mode::from(handles::conversation(handle)?.mode()) as jint)
    })
}

/// `conversationIsConnected(handle): Boolean`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_conversationIsConnected<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jboolean {
    boundary(&mut env, |_| {
        Ok(if handles::conversation(handle)?.is_connected() {
            JNI_TRUE
        } else {
            JNI_FALSE
        })
    })
}

/// `conversationParticipants(handle): Array<String>`: the other devices,
/// flattened as `[uid0, device0, uid1, device1, …]`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_conversationParticipants<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JObjectArray<'l> {
    boundary(&mut env, |env| {
        let participants = handles::conversation(handle)?.participants();
        let len = i32::try_from(participants.len() * 2).map_err(|_| Fail::Arg {
            field: "participants".to_owned(),
            message: "too many".to_owned(),
        })?;
        let array = env.new_object_array(len, STRING, JObject::null())?;
        for (i, p) in participants.iter().enumerate() {
            let uid = jstring(env, &p.uid)?;
            env.set_object_array_element(&array, (2 * i) as i32, &uid)?;
            env.delete_local_ref(uid)?;
            let device = jstring(env, &p.device)?;
            env.set_object_array_element(&array, (2 * i + 1) as i32, &device)?;
            env.delete_local_ref(device)?;
        }
        Ok(array)
    })
}

/// `conversationDisconnect(handle)`: leaves; `InvalidStateException` if
/// already disconnected.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_conversationDisconnect<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    boundary(&mut env, |_| {
        Ok(handles::conversation(handle)?.disconnect()?)
    })
}

/// `conversationSetSink(handle, sink)`: events go to `sink.onEvent(kind:
/// Int, uid: String?, device: String?, payload: String?, leftReason: Int)`
/// with `kind` a `WD_CONVERSATION_EVENT_KIND_*` (uid and device name the
/// participant for `PARTICIPANT_CONNECTED`, `PARTICIPANT_DISCONNECTED` and
/// the sender of a `MESSAGE`, whose text is `payload`; `leftReason` is the
/// `WD_PARTICIPANT_LEFT_REASON_*` of a `PARTICIPANT_DISCONNECTED`, `NONE`
/// otherwise). `DISCONNECTED` is last; the
/// sink is dropped after it.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_conversationSetSink<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    sink: JObject<'l>,
) {
    boundary(&mut env, |env| {
        let conversation = handles::conversation(handle)?;
        if sink.is_null() {
            conversation.clear_listener();
            return Ok(());
        }
        let sink = Sink::new(env, &sink, &CONVERSATION_REPORT_ERROR)?;
        conversation.set_listener(move |conversation, event| {
            let kind = Kind::from(event);
            let (participant, payload) = (event.participant(), event.payload());
            let left = wd_participant_left_reason::from(event.leave_reason()) as jint;
            sink.call(|env, obj| {
                let uid = opt_jstring(env, participant.map(|p| p.uid.as_str()))?;
                let device = opt_jstring(env, participant.map(|p| p.device.as_str()))?;
                let payload = opt_jstring(env, payload)?;
                env.call_method(
                    obj,
                    CONVERSATION_ON_EVENT.name,
                    CONVERSATION_ON_EVENT.sig,
                    &[
                        JValue::Int(kind as jint),
                        JValue::Object(&uid),
                        JValue::Object(&device),
                        JValue::Object(&payload),
                        JValue::Int(left),
                    ],
                )
                .map(drop)
            });
            if kind == Kind::Disconnected {
                conversation.clear_listener();
            }
        });
        Ok(())
    })
}

/// `s` as a Java string, or null.
fn opt_jstring<'l>(env: &mut JNIEnv<'l>, s: Option<&str>) -> jni::errors::Result<JObject<'l>> {
    Ok(match s {
        Some(s) => JObject::from(env.new_string(s)?),
        None => JObject::null(),
    })
}
