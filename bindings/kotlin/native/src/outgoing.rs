//! `OutgoingInvite` natives.

use jni::objects::{JClass, JObject, JString};
use jni::sys::{jint, jlong};
use jni::JNIEnv;
use wilddog_video::client::OutgoingEvent;
use wilddog_video::ffi::outgoing::{wd_outgoing_event, wd_outgoing_event_kind as Kind};
use wilddog_video::ffi::types::{
    wd_cancel_reason, wd_failure_reason, wd_mode, wd_outgoing_status, wd_reject_reason,
};

use crate::handles::{self, Entry};
use crate::names::{OUTGOING_ON_EVENT, OUTGOING_REPORT_ERROR};
use crate::sink::Sink;
use crate::{boundary, jstring, opt_jstring};

/// `outgoingFree(handle)`: drops the listener (its global reference) and
/// the handle. Never cancels; a second call is a no-op.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_outgoingFree<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    boundary(&mut env, |_| {
        if let Some(Entry::Outgoing(invite)) = handles::remove(handle) {
            invite.clear_listener();
        }
        Ok(())
    })
}

/// `outgoingTo(handle): String`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_outgoingTo<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    boundary(&mut env, |env| {
        let invite = handles::outgoing(handle)?;
        jstring(env, invite.to())
    })
}

/// `outgoingConversationId(handle): String`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_outgoingConversationId<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    boundary(&mut env, |env| {
        let invite = handles::outgoing(handle)?;
        jstring(env, invite.conversation_id())
    })
}

/// `outgoingMode(handle): Int` (`WD_MODE_*`).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_outgoingMode<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    boundary(&mut env, |_| {
        Ok(wd_mode::from(handles::outgoing(handle)?.mode()) as jint)
    })
}

/// `outgoingStatus(handle): Int` (`WD_OUTGOING_STATUS_*`).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_outgoingStatus<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    boundary(&mut env, |_| {
        Ok(wd_outgoing_status::from(handles::outgoing(handle)?.status()) as jint)
    })
}

/// `outgoingFailureReason(handle): Int` (`WD_FAILURE_REASON_*`, 0 = none).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_outgoingFailureReason<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    boundary(&mut env, |_| {
        Ok(wd_failure_reason::from(handles::outgoing(handle)?.failure_reason()) as jint)
    })
}

/// `outgoingRejectReason(handle): Int` (`WD_REJECT_REASON_*`, 0 = none).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_outgoingRejectReason<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    boundary(&mut env, |_| {
        Ok(wd_reject_reason::from(handles::outgoing(handle)?.reject_reason()) as jint)
    })
}

/// `outgoingCancelReason(handle): Int` (`WD_CANCEL_REASON_*`, 0 = none).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_outgoingCancelReason<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    boundary(&mut env, |_| {
        Ok(wd_cancel_reason::from(handles::outgoing(handle)?.cancel_reason()) as jint)
    })
}

/// `outgoingAnswer(handle): String?`: the invitee's SDP answer, once
/// accepted.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_outgoingAnswer<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    boundary(&mut env, |env| {
        let answer = handles::outgoing(handle)?.answer();
        opt_jstring(env, answer.as_deref())
    })
}

/// `outgoingAnswerUserData(handle): String?`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_outgoingAnswerUserData<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    boundary(&mut env, |env| {
        let text = handles::outgoing(handle)?.answer_user_data();
        opt_jstring(env, text.as_deref())
    })
}

/// `outgoingConversation(handle): Long`: a new `Conversation` handle once
/// accepted, else 0.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_outgoingConversation<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jlong {
    boundary(&mut env, |_| {
        Ok(match handles::outgoing(handle)?.conversation() {
            Some(c) => handles::insert(Entry::Conversation(c)),
            None => 0,
        })
    })
}

/// `outgoingCancel(handle)`: `InvalidStateException` unless pending.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_outgoingCancel<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    boundary(&mut env, |_| Ok(handles::outgoing(handle)?.cancel()?))
}

/// `outgoingSetSink(handle, sink)`: events go to `sink.onEvent(kind: Int,
/// reason: Int, conversation: Long)` with `kind` a
/// `WD_OUTGOING_EVENT_KIND_*`, `reason` the reject, cancel or failure
/// reason the event carries (`WD_*_REASON_*`, 0 for the others), and
/// for `ACCEPTED` a new `Conversation` handle the sink owns. Events that
/// happened before are delivered too, once. After the outcome the sink is
/// dropped (its global reference deleted): nothing follows an outcome.
/// `null` removes the sink.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_outgoingSetSink<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    sink: JObject<'l>,
) {
    boundary(&mut env, |env| {
        let invite = handles::outgoing(handle)?;
        if sink.is_null() {
            invite.clear_listener();
            return Ok(());
        }
        let sink = Sink::new(env, &sink, &OUTGOING_REPORT_ERROR)?;
        invite.set_listener(move |invite, event| {
            let c_event = wd_outgoing_event::from(event);
            let conversation = match event {
                OutgoingEvent::Accepted { conversation, .. } => Some(conversation),
                _ => None,
            };
            sink.invite_event(
                &OUTGOING_ON_EVENT,
                c_event.kind as jint,
                c_event.reason(),
                conversation,
            );
            if c_event.kind != Kind::Ringing {
                // The outcome was the last event: release the listener now
                // (it is dropped when this call returns).
                invite.clear_listener();
            }
        });
        Ok(())
    })
}
