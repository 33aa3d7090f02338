//! `Conversation` natives.

use jni::objects::{JClass, JObject, JObjectArray, JString, JValue};
use jni::sys::{jboolean, jint, jlong, JNI_FALSE, JNI_TRUE};
use jni::JNIEnv;
use wilddog_video::client::ConversationEvent;
use wilddog_video::ffi::conversation::wd_conversation_event_kind as Kind;
use wilddog_video::ffi::types::wd_mode;

use crate::handles::{self, Entry};
use crate::sink::Sink;
use crate::{boundary, jstring, Fail};

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
        let array = env.new_object_array(len, "java/lang/String", JObject::null())?;
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
/// Int, uid: String?, device: String?)` with `kind` a
/// `WD_CONVERSATION_EVENT_KIND_*` (uid and device name the participant
/// for `PARTICIPANT_DISCONNECTED`). `DISCONNECTED` is last; the sink is
/// dropped after it.
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
        let sink = Sink::new(env, &sink)?;
        conversation.set_listener(move |conversation, event| {
            // Other sessions may add events (messages, participants
            // joining); until this glue maps them they are skipped.
            #[allow(unreachable_patterns)]
            let (kind, participant) = match event {
                ConversationEvent::ParticipantDisconnected(p) => {
                    (Kind::ParticipantDisconnected, Some(p))
                }
                ConversationEvent::Disconnected => (Kind::Disconnected, None),
                _ => return,
            };
            sink.call(|env, obj| {
                let uid = match participant {
                    Some(p) => JObject::from(env.new_string(&p.uid)?),
                    None => JObject::null(),
                };
                let device = match participant {
                    Some(p) => JObject::from(env.new_string(&p.device)?),
                    None => JObject::null(),
                };
                env.call_method(
                    obj,
                    "onEvent",
                    "(ILjava/lang/String;Ljava/lang/String;)V",
                    &[
                        JValue::Int(kind as jint),
                        JValue::Object(&uid),
                        JValue::Object(&device),
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
