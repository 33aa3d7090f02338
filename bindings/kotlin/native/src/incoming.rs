//! `IncomingInvite` natives.

use jni::objects::{JClass, JObject, JString};
use jni::sys::{jboolean, jint, jlong};
use jni::JNIEnv;
use wilddog_video::client::IncomingEvent;
use wilddog_video::ffi::incoming::wd_incoming_event;
use wilddog_video::ffi::types::{
    wd_cancel_reason, wd_failure_reason, wd_incoming_status, wd_mode, wd_reject_reason,
};

use crate::handles::{self, Entry};
use crate::names::{INCOMING_ON_EVENT, INCOMING_REPORT_ERROR};
use crate::sink::Sink;
use crate::{boundary, jstring, opt_jstring, opt_string_arg, Fail};

/// `incomingFree(handle)`: drops the listener and the handle. Never
/// rejects; a second call is a no-op.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingFree<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    boundary(&mut env, |_| {
        if let Some(Entry::Incoming(invite)) = handles::remove(handle) {
            invite.clear_listener();
        }
        Ok(())
    })
}

/// `incomingForget(handle)`: drops one handle of an invite that another
/// handle still serves (a second handle the client gave for the same
/// invite), leaving the invite's listener in place; a second call is a
/// no-op.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingForget<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    boundary(&mut env, |_| {
        handles::remove(handle);
        Ok(())
    })
}

/// `incomingSame(handle, other): Boolean`: whether both handles are the
/// same invite (one invite delivered by a push and over the connection).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingSame<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    other: jlong,
) -> jboolean {
    boundary(&mut env, |_| {
        let same = handles::incoming(handle)? == handles::incoming(other)?;
        Ok(jboolean::from(same))
    })
}

/// `incomingIsConfirmed(handle): Boolean`: whether the server confirmed
/// that the invite rings (at once for one delivered over the connection).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingIsConfirmed<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jboolean {
    boundary(&mut env, |_| {
        Ok(jboolean::from(handles::incoming(handle)?.is_confirmed()))
    })
}

/// `incomingFrom(handle): String`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingFrom<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    boundary(&mut env, |env| {
        let invite = handles::incoming(handle)?;
        jstring(env, invite.from())
    })
}

/// `incomingConversationId(handle): String`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingConversationId<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    boundary(&mut env, |env| {
        let invite = handles::incoming(handle)?;
        jstring(env, invite.conversation_id())
    })
}

/// `incomingUserData(handle): String?`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingUserData<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    boundary(&mut env, |env| {
        let invite = handles::incoming(handle)?;
        opt_jstring(env, invite.user_data())
    })
}

/// `incomingOffer(handle): String?`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingOffer<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    boundary(&mut env, |env| {
        let invite = handles::incoming(handle)?;
        opt_jstring(env, invite.offer())
    })
}

/// `incomingMode(handle): Int` (`WD_MODE_*`).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingMode<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    boundary(&mut env, |_| {
        Ok(wd_mode::from(handles::incoming(handle)?.mode()) as jint)
    })
}

/// `incomingStatus(handle): Int` (`WD_INCOMING_STATUS_*`).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingStatus<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    boundary(&mut env, |_| {
        Ok(wd_incoming_status::from(handles::incoming(handle)?.status()) as jint)
    })
}

/// `incomingFailureReason(handle): Int` (0 = none).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingFailureReason<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    boundary(&mut env, |_| {
        Ok(wd_failure_reason::from(handles::incoming(handle)?.failure_reason()) as jint)
    })
}

/// `incomingCancelReason(handle): Int` (0 = none).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingCancelReason<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    boundary(&mut env, |_| {
        Ok(wd_cancel_reason::from(handles::incoming(handle)?.cancel_reason()) as jint)
    })
}

/// `incomingConversation(handle): Long`: a new `Conversation` handle once
/// accepted, else 0.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingConversation<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jlong {
    boundary(&mut env, |_| {
        Ok(match handles::incoming(handle)?.conversation() {
            Some(c) => handles::insert(Entry::Conversation(c)),
            None => 0,
        })
    })
}

/// `incomingAccept(handle, answer, userData)`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingAccept<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    answer: JString<'l>,
    user_data: JString<'l>,
) {
    boundary(&mut env, |env| {
        let invite = handles::incoming(handle)?;
        let answer = opt_string_arg(env, &answer)?;
        let user_data = opt_string_arg(env, &user_data)?;
        Ok(invite.accept(answer.as_deref(), user_data.as_deref())?)
    })
}

/// `incomingReject(handle, reason)`: `reason` is `WD_REJECT_REASON_DECLINED`
/// or `_BUSY`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingReject<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    reason: jint,
) {
    boundary(&mut env, |_| {
        let invite = handles::incoming(handle)?;
        let reason = u32::try_from(reason)
            .ok()
            .and_then(wd_reject_reason::reason_from_u32)
            .ok_or_else(|| Fail::Arg {
                field: "reason".to_owned(),
                message: format!("unknown reject reason {reason}"),
            })?;
        Ok(invite.reject(reason)?)
    })
}

/// `incomingSetSink(handle, sink)`: events go to `sink.onEvent(kind: Int,
/// reason: Int, conversation: Long)` with `kind` a
/// `WD_INCOMING_EVENT_KIND_*`, `reason` the reject, cancel or failure
/// reason, and for `ACCEPTED` a new `Conversation` handle the sink owns.
/// `CONFIRMED` (an invite a push made is still ringing) comes first, if at
/// all; every other event is the outcome, and the sink is dropped after
/// it.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_incomingSetSink<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    sink: JObject<'l>,
) {
    boundary(&mut env, |env| {
        let invite = handles::incoming(handle)?;
        if sink.is_null() {
            invite.clear_listener();
            return Ok(());
        }
        let sink = Sink::new(env, &sink, &INCOMING_REPORT_ERROR)?;
        invite.set_listener(move |invite, event| {
            let c_event = wd_incoming_event::from(event);
            let conversation = match event {
                IncomingEvent::Accepted { conversation } => Some(conversation),
                _ => None,
            };
            sink.invite_event(
                &INCOMING_ON_EVENT,
                c_event.kind as jint,
                c_event.reason(),
                conversation,
            );
            if *event != IncomingEvent::Confirmed {
                invite.clear_listener();
            }
        });
        Ok(())
    })
}
