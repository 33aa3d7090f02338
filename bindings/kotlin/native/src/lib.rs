//! JNI glue between the wilddog-video Rust client ([`wilddog_video::client`])
//! and its Kotlin wrapper (`com.wilddog.video`, `bindings/kotlin/src/main`).
//!
//! Every `Java_com_wilddog_video_NativeLib_*` export is a static method of
//! the Kotlin `internal object NativeLib`. The rules it keeps:
//!
//! - **Handles.** Kotlin holds a `Long` id, never a pointer: the id names an
//!   entry of one handle table ([`handles`]) that owns an SDK clone (`Client`,
//!   `OutgoingInvite`, …, each an `Arc` inside). Every call looks the id up
//!   and works on its own clone, so a handle freed by another thread while a
//!   call runs cannot dangle, and a stale or forged id is a
//!   `HandleClosedException`, never a crash. `*Free` removes the entry once;
//!   a second free is a no-op. Ids are never reused.
//! - **Errors.** Every export runs inside [`boundary`]: a panic becomes a
//!   `NativePanicException`, an SDK [`Error`] becomes the matching Kotlin
//!   exception (`InvalidArgumentException` with the field, …), and the export
//!   returns a neutral value with the exception pending.
//! - **Listeners.** A listener is a [`sink::Sink`]: one JNI global reference
//!   to a Kotlin object, created in the `*SetSink` call and deleted exactly
//!   once by `Drop` (when replaced or removed, when the handle is freed, or
//!   when its final event was delivered). The sink object references its
//!   Kotlin handle, so a handle the glue holds a sink for is never garbage
//!   collected: Kotlin installs one only while the handle has listeners.
//!   Callbacks run on the SDK's threads, attached to the JVM as daemons
//!   before any JNI call; a Java exception a callback throws is cleared
//!   there and handed to the sink's `reportError`, so the thread never dies
//!   of it.
//! - **Names.** Every class and method looked up by name is in [`names`]
//!   (the consumer ProGuard rules keep each of them; a Kotlin test checks).
//! - **Logs.** The glue's own diagnostics go through the SDK's log (target
//!   `wilddog_video::jni`) to the Kotlin log sink, never to stderr alone:
//!   on Android stderr goes nowhere.

#![deny(unsafe_op_in_unsafe_fn)]

mod client;
mod conversation;
mod diagnostics;
mod errors;
mod handles;
mod incoming;
mod library;
mod names;
mod outgoing;
mod push;
mod sink;

pub(crate) use errors::{boundary, Fail};

use jni::objects::{JObject, JString};
use jni::JNIEnv;

/// Reads a required Java string argument; `null` is an invalid argument
/// naming `field`.
pub(crate) fn string_arg(env: &mut JNIEnv, s: &JString, field: &str) -> Result<String, Fail> {
    if s.is_null() {
        return Err(Fail::Arg {
            field: field.to_owned(),
            message: "must not be null".to_owned(),
        });
    }
    Ok(env.get_string(s)?.into())
}

/// Reads an optional Java string argument.
pub(crate) fn opt_string_arg(env: &mut JNIEnv, s: &JString) -> Result<Option<String>, Fail> {
    if s.is_null() {
        return Ok(None);
    }
    Ok(Some(env.get_string(s)?.into()))
}

/// A new Java string (a local reference) for `s`.
pub(crate) fn jstring<'l>(env: &mut JNIEnv<'l>, s: &str) -> Result<JString<'l>, Fail> {
    Ok(env.new_string(s)?)
}

/// A new Java string for `s`, or `null`.
pub(crate) fn opt_jstring<'l>(env: &mut JNIEnv<'l>, s: Option<&str>) -> Result<JString<'l>, Fail> {
    match s {
        Some(s) => jstring(env, s),
        None => Ok(JString::from(JObject::null())),
    }
}
