//! Listeners: a JNI global reference to a Kotlin "sink" object, called from
//! the SDK's threads.
//!
//! The sink object references its Kotlin handle, so while the glue holds a
//! sink the handle cannot be garbage collected: the Kotlin side installs a
//! sink only while the handle has listeners, and the glue drops it at the
//! handle's final event, on `*Free`, or when Kotlin removes it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use jni::objects::{GlobalRef, JObject, JValue};
use jni::sys::{jint, jlong};
use jni::{JNIEnv, JavaVM};
use wilddog_video::client::Conversation;

use crate::diagnostics::{GLOBAL_REFS, LISTENER_EXCEPTIONS};
use crate::handles::{self, Entry};
use crate::names::Method;
use crate::Fail;

/// Where the glue's own diagnostics go: the SDK's log (and from there the
/// Kotlin log sink: logcat on Android, stderr on the JVM).
pub(crate) const LOG_TARGET: &str = "wilddog_video::jni";

/// One global reference to a Kotlin sink. Created by [`Sink::new`] (count
/// +1) and deleted exactly once by `Drop` (count −1), whichever thread
/// drops it; that thread is attached first, so the delete is never a JNI
/// call from an unattached thread.
pub(crate) struct Sink {
    obj: Option<GlobalRef>,
    vm: JavaVM,
    /// The sink's `reportError(Throwable)`.
    report: &'static Method,
}

impl Sink {
    /// A global reference to `obj` (which must not be null), whose class
    /// has the `report` method.
    pub(crate) fn new(
        env: &mut JNIEnv,
        obj: &JObject,
        report: &'static Method,
    ) -> Result<Sink, Fail> {
        let vm = env.get_java_vm()?;
        let global = env.new_global_ref(obj)?;
        GLOBAL_REFS.fetch_add(1, Ordering::SeqCst);
        Ok(Sink {
            obj: Some(global),
            vm,
            report,
        })
    }

    /// Runs `f` against the sink on this thread: attaches the thread as a
    /// daemon if needed (an SDK thread stays attached until it ends, and
    /// is detached then), gives `f` a local frame so its local references
    /// are freed on return, and clears any Java exception `f` left, handing
    /// it to the sink's `reportError(Throwable)`. Does nothing on a thread
    /// that has a Java exception pending (a log record from inside a
    /// native call that is failing). Never panics, never leaves an
    /// exception pending.
    pub(crate) fn call(&self, f: impl FnOnce(&mut JNIEnv, &JObject) -> jni::errors::Result<()>) {
        let Some(obj) = &self.obj else { return };
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let Ok(mut env) = self.vm.attach_current_thread_as_daemon() else {
                log::error!(target: LOG_TARGET, "cannot attach an SDK thread to the JVM; an event is lost");
                return;
            };
            if env.exception_check().unwrap_or(true) {
                return;
            }
            let _ = env.with_local_frame(16, |env| -> jni::errors::Result<()> {
                let result = f(env, obj.as_obj());
                if env.exception_check().unwrap_or(false) {
                    report(env, obj.as_obj(), self.report);
                } else if let Err(e) = result {
                    log::error!(target: LOG_TARGET, "a listener call failed: {e}");
                }
                Ok(())
            });
            // Belt and braces: nothing may stay pending on this thread.
            if env.exception_check().unwrap_or(false) {
                let _ = env.exception_clear();
            }
        }));
    }
}

impl Sink {
    /// Hands an invite's event to the sink's `on_event` (`onEvent(kind:
    /// Int, reason: Int, conversation: Long)`): the event's
    /// `WD_*_EVENT_KIND_*`, the reason it carries (`WD_*_REASON_*`, 0 for
    /// none), and, when it carries a conversation, a new `Conversation`
    /// handle the sink owns (else 0).
    pub(crate) fn invite_event(
        &self,
        on_event: &Method,
        kind: jint,
        reason: u32,
        conversation: Option<&Conversation>,
    ) {
        let conversation: jlong =
            conversation.map_or(0, |c| handles::insert(Entry::Conversation(c.clone())));
        self.call(|env, obj| {
            let args = [
                JValue::Int(kind),
                JValue::Int(reason as jint),
                JValue::Long(conversation),
            ];
            env.call_method(obj, on_event.name, on_event.sig, &args)
                .map(drop)
        });
    }
}

/// Clears the pending exception and hands it to the sink's `reportError`;
/// if that throws too (or is missing: a shrinker removed it), logs it.
fn report(env: &mut JNIEnv, sink: &JObject, method: &Method) {
    LISTENER_EXCEPTIONS.fetch_add(1, Ordering::SeqCst);
    let thrown = env.exception_occurred();
    let _ = env.exception_clear();
    let Ok(thrown) = thrown else { return };
    let reported = env.call_method(sink, method.name, method.sig, &[JValue::Object(&thrown)]);
    if reported.is_err() || env.exception_check().unwrap_or(false) {
        let _ = env.exception_clear();
        log::error!(
            target: LOG_TARGET,
            "a listener threw and {}.{} could not take the exception \
             (are the consumer ProGuard rules of wilddog-video applied?)",
            method.class,
            method.name,
        );
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(global) = self.obj.take() {
            // Attach (as a daemon, so the JVM can still exit) before the
            // GlobalRef's own Drop calls DeleteGlobalRef.
            let attached = self.vm.attach_current_thread_as_daemon().is_ok();
            if attached {
                drop(global);
                GLOBAL_REFS.fetch_sub(1, Ordering::SeqCst);
            } else {
                // Without a JVM thread the reference cannot be deleted;
                // leaking it (and counting it as live) beats calling JNI
                // unattached.
                std::mem::forget(global);
            }
        }
    }
}
