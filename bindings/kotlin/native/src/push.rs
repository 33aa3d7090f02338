//! Push natives of `WilddogVideoClient`: handing a push to the client,
//! registering the device's push key, and the push events.

use jni::objects::{JClass, JObject, JString, JValue};
use jni::sys::{jint, jlong};
use jni::JNIEnv;
use wilddog_video::client::{PushEvent, PushRegistration};
use wilddog_video::ffi::push::wd_push_event_kind;

use crate::handles::{self, Entry};
use crate::names::{CLIENT_ON_PUSH_EVENT, CLIENT_REPORT_ERROR};
use crate::sink::Sink;
use crate::{boundary, string_arg};

/// `clientHandlePush(handle, payloadJson): Long`: a new `IncomingInvite`
/// handle for the invite the push announces (the client's existing invite
/// when it has one), made without the network; the client then connects
/// and fetches it. A payload that is not one of this SDK's pushes is an
/// `InvalidArgumentException` naming the field, and changes nothing.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientHandlePush<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    payload_json: JString<'l>,
) -> jlong {
    boundary(&mut env, |env| {
        let client = handles::client(handle)?;
        let payload = string_arg(env, &payload_json, "payload")?;
        let invite = client.handle_push(&payload)?;
        Ok(handles::insert(Entry::Incoming(invite)))
    })
}

/// `clientRegisterPush(handle, optionsJson)`: registers the device's push
/// key (the options JSON of `wd_client_register_push`, which
/// `PushRegistration.toJson` wrote); remembered and sent on every
/// connection. A bad field is an `InvalidArgumentException` naming it.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientRegisterPush<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    options_json: JString<'l>,
) {
    boundary(&mut env, |env| {
        let client = handles::client(handle)?;
        let json = string_arg(env, &options_json, "options")?;
        Ok(client.register_push(PushRegistration::from_json(&json)?)?)
    })
}

/// `clientUnregisterPush(handle, appId, pushKey)`: removes the device's
/// registration of that key, now or on the next connection.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientUnregisterPush<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    app_id: JString<'l>,
    push_key: JString<'l>,
) {
    boundary(&mut env, |env| {
        let client = handles::client(handle)?;
        let app_id = string_arg(env, &app_id, "appId")?;
        let push_key = string_arg(env, &push_key, "pushKey")?;
        Ok(client.unregister_push(&app_id, &push_key)?)
    })
}

/// `clientSetPushSink(handle, sink)`: every push event goes to
/// `sink.onPushEvent(kind: Int, appId: String, pushKey: String,
/// message: String?)` with `kind` a `WD_PUSH_EVENT_KIND_*` and `message`
/// the reason of a failed registration. Events that came while no sink was
/// set are delivered to the next one. `null` removes the sink.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_clientSetPushSink<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    sink: JObject<'l>,
) {
    boundary(&mut env, |env| {
        let client = handles::client(handle)?;
        if sink.is_null() {
            client.clear_push_listener();
            return Ok(());
        }
        let sink = Sink::new(env, &sink, &CLIENT_REPORT_ERROR)?;
        client.set_push_listener(move |event: &PushEvent| {
            let kind = wd_push_event_kind::from(event) as jint;
            sink.call(|env, obj| {
                let app_id = JObject::from(env.new_string(event.app_id())?);
                let push_key = JObject::from(env.new_string(event.push_key())?);
                let message = match event.message() {
                    Some(m) => JObject::from(env.new_string(m)?),
                    None => JObject::null(),
                };
                env.call_method(
                    obj,
                    CLIENT_ON_PUSH_EVENT.name,
                    CLIENT_ON_PUSH_EVENT.sig,
                    &[
                        JValue::Int(kind),
                        JValue::Object(&app_id),
                        JValue::Object(&push_key),
                        JValue::Object(&message),
                    ],
                )
                .map(drop)
            });
        });
        Ok(())
    })
}
