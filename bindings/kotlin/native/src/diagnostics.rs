//! Counters the Kotlin tests read through `NativeDiagnostics`.

use std::sync::atomic::{AtomicI64, Ordering};

use jni::objects::JClass;
use jni::sys::jlong;
use jni::JNIEnv;

use crate::{boundary, handles, Fail};

/// Live JNI global references the glue holds (one per installed listener).
pub(crate) static GLOBAL_REFS: AtomicI64 = AtomicI64::new(0);

/// Java exceptions a listener call left pending, cleared by the glue.
pub(crate) static LISTENER_EXCEPTIONS: AtomicI64 = AtomicI64::new(0);

/// `NativeLib.globalRefCount(): Long`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_globalRefCount<'l>(
    _env: JNIEnv<'l>,
    _class: JClass<'l>,
) -> jlong {
    GLOBAL_REFS.load(Ordering::SeqCst)
}

/// `NativeLib.liveHandleCount(): Long`: ids not yet freed.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_liveHandleCount<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
) -> jlong {
    boundary(&mut env, |_| Ok(handles::live() as jlong))
}

/// `NativeLib.listenerExceptionCount(): Long`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_listenerExceptionCount<'l>(
    _env: JNIEnv<'l>,
    _class: JClass<'l>,
) -> jlong {
    LISTENER_EXCEPTIONS.load(Ordering::SeqCst)
}

/// `NativeLib.panicForTest()`: panics inside the boundary, so tests can
/// see a panic arrive as `NativePanicException`.
#[no_mangle]
pub extern "system" fn Java_com_wilddog_video_NativeLib_panicForTest<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
) {
    boundary(&mut env, |_| -> Result<(), Fail> {
        panic!("panicForTest was called");
    })
}
