//! Process-wide natives: the library's version and its log sink.

use std::ffi::{c_char, c_void, CStr};

use jni::objects::{JClass, JObject, JString, JValue};
use jni::sys::jint;
use jni::JNIEnv;
use wilddog_video::ffi::log::{wd_log_level, wd_set_log_callback};
use wilddog_video::ffi::result::wd_result;
use wilddog_video::ffi::version::wd_version;

use crate::names::{LOG, LOG_REPORT_ERROR};
use crate::sink::Sink;
use crate::{boundary, jstring, Fail};

/// `version(): String`: the SDK's version, `"MAJOR.MINOR.PATCH"`
/// (`wd_version`).
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_version<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
) -> JString<'l> {
    boundary(&mut env, |env| {
        // SAFETY: wd_version returns a static NUL-terminated string.
        let version = unsafe { CStr::from_ptr(wd_version()) };
        jstring(env, &version.to_string_lossy())
    })
}

/// `setLogSink(sink, maxLevel)`: routes the SDK's log records (and the
/// glue's own, target `wilddog_video::jni`) up to `maxLevel` (a
/// `WD_LOG_LEVEL_*`) to `sink.log(level: Int, target: String, message:
/// String)`, replacing the previous sink; `null` silences the SDK. The
/// sink may be called on any thread, several at once, possibly while the
/// SDK holds a lock: it must not call back into the SDK. Records made on a
/// thread whose native call is already failing are dropped.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_setLogSink<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    sink: JObject<'l>,
    max_level: jint,
) {
    boundary(&mut env, |env| {
        if sink.is_null() {
            // Clearing always succeeds.
            let _ = wd_set_log_callback(None, 0, std::ptr::null_mut(), None);
            return Ok(());
        }
        let level = u32::try_from(max_level).map_err(|_| Fail::Arg {
            field: "level".to_owned(),
            message: format!("unknown log level {max_level}"),
        })?;
        let user_data = Box::into_raw(Box::new(Sink::new(env, &sink, &LOG_REPORT_ERROR)?));
        let result = wd_set_log_callback(Some(on_log), level, user_data.cast(), Some(release_sink));
        if result != wd_result::Ok {
            // Not taken: the SDK owns `user_data` only on success.
            // SAFETY: made by Box::into_raw above and not handed over.
            drop(unsafe { Box::from_raw(user_data) });
            return Err(Fail::Arg {
                field: "level".to_owned(),
                message: format!("the SDK refused the log sink ({result:?})"),
            });
        }
        Ok(())
    })
}

/// The SDK's log callback: forwards one record to the Kotlin sink.
unsafe extern "C" fn on_log(
    user_data: *mut c_void,
    level: wd_log_level,
    target: *const c_char,
    message: *const c_char,
) {
    // SAFETY: `user_data` is the `Sink` boxed in `setLogSink`, alive until
    // `release_sink`; the strings are valid NUL-terminated text during the
    // call (the SDK's contract).
    let (sink, target, message) = unsafe {
        (
            &*(user_data as *const Sink),
            CStr::from_ptr(target).to_string_lossy(),
            CStr::from_ptr(message).to_string_lossy(),
        )
    };
    sink.call(|env, obj| {
        let target = JObject::from(env.new_string(&*target)?);
        let message = JObject::from(env.new_string(&*message)?);
        env.call_method(
            obj,
            LOG.name,
            LOG.sig,
            &[
                JValue::Int(level as jint),
                JValue::Object(&target),
                JValue::Object(&message),
            ],
        )
        .map(drop)
    });
}

/// Drops the boxed `Sink` (deleting its global reference).
unsafe extern "C" fn release_sink(user_data: *mut c_void) {
    // SAFETY: made by Box::into_raw in `setLogSink`; the SDK calls this
    // exactly once.
    drop(unsafe { Box::from_raw(user_data as *mut Sink) });
}
