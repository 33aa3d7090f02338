//! The panic boundary and the mapping of failures to Kotlin exceptions.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use jni::objects::{JObject, JThrowable, JValue};
use jni::JNIEnv;
use wilddog_video::client::Error;

use crate::names::{ERRORS_CREATE, FALLBACK_EXCEPTION, JAVA_ERROR};

/// Why a native call failed; [`boundary`] turns it into a Kotlin exception.
#[derive(Debug)]
pub(crate) enum Fail {
    /// The SDK refused the call.
    Sdk(Error),
    /// The handle id is not (or no longer) live; `what` names its type.
    Closed(&'static str),
    /// An argument the glue itself checks.
    Arg { field: String, message: String },
    /// A JNI call failed. When it left a Java exception pending, that
    /// exception is the `cause` of the `InternalException` Kotlin sees.
    Jni(jni::errors::Error),
    /// Native code panicked.
    Panic(String),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Sdk(e)
    }
}

impl From<jni::errors::Error> for Fail {
    fn from(e: jni::errors::Error) -> Self {
        Fail::Jni(e)
    }
}

/// Runs one native entry point: catches panics, and turns a failure into a
/// pending Kotlin exception, returning `T::default()` (0, `false`, `null`)
/// to the JVM, which throws it as soon as the native method returns.
pub(crate) fn boundary<'l, T: Default>(
    env: &mut JNIEnv<'l>,
    f: impl FnOnce(&mut JNIEnv<'l>) -> Result<T, Fail>,
) -> T {
    let outcome = catch_unwind(AssertUnwindSafe(|| f(env)));
    let fail = match outcome {
        Ok(Ok(value)) => return value,
        Ok(Err(fail)) => fail,
        Err(payload) => Fail::Panic(panic_message(payload.as_ref())),
    };
    // Throwing must not unwind either (a broken JVM could make it panic).
    let _ = catch_unwind(AssertUnwindSafe(|| throw(env, fail)));
    T::default()
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("native panic: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("native panic: {s}")
    } else {
        "native panic".to_owned()
    }
}

/// What kind of exception `NativeErrors.create` makes; the Kotlin side
/// (`NativeErrors` in `Exceptions.kt`) has the same numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
enum Kind {
    /// `InvalidArgumentException(field, problem)`.
    InvalidArgument = 1,
    /// `InvalidStateException(status, message)`.
    InvalidState = 2,
    /// `HandleClosedException(what)`.
    HandleClosed = 3,
    /// `NotConnectedException(message)`.
    NotConnected = 4,
    /// `UnauthorizedException(message)`.
    Unauthorized = 5,
    /// `NetworkException(message)`.
    Network = 6,
    /// `TlsException(message)`.
    Tls = 7,
    /// `ProtocolException(message)`.
    Protocol = 8,
    /// `NativePanicException(message)`.
    Panic = 9,
    /// `InternalException(message)`: a JNI failure, or an SDK error this
    /// glue does not know.
    Internal = 10,
}

/// The exception kind and its two string arguments (the second is empty
/// where the constructor takes one).
fn exception_for(fail: Fail) -> (Kind, String, String) {
    match fail {
        Fail::Sdk(e) => sdk_exception(e),
        Fail::Closed(what) => (Kind::HandleClosed, what.to_owned(), String::new()),
        Fail::Arg { field, message } => (Kind::InvalidArgument, field, message),
        Fail::Jni(e) => (Kind::Internal, format!("JNI: {e}"), String::new()),
        Fail::Panic(message) => (Kind::Panic, message, String::new()),
    }
}

// Later versions may add `Error` variants; the fallback arm keeps this
// compiling and still throws (`InternalException`).
#[allow(unreachable_patterns)]
fn sdk_exception(e: Error) -> (Kind, String, String) {
    let text = e.to_string();
    match e {
        Error::InvalidArgument { field, message } => (Kind::InvalidArgument, field, message),
        Error::InvalidState { status } => (Kind::InvalidState, status.to_owned(), text),
        Error::NotConnected => (Kind::NotConnected, text, String::new()),
        Error::Unauthorized(_) => (Kind::Unauthorized, text, String::new()),
        Error::Network(_) => (Kind::Network, text, String::new()),
        Error::Protocol(_) => (Kind::Protocol, text, String::new()),
        Error::Tls(_) => (Kind::Tls, text, String::new()),
        _ => (Kind::Internal, text, String::new()),
    }
}

/// Leaves the Kotlin exception for `fail` pending on `env`. A Java
/// exception already pending (a JNI call of the glue failed) becomes the
/// `cause` of an `InternalException`, except an error of the JVM itself
/// (`java.lang.Error`: out of memory, …), which is thrown as it is.
fn throw(env: &mut JNIEnv, fail: Fail) {
    let pending = match env.exception_check() {
        Ok(false) => None,
        Ok(true) => {
            let thrown = env.exception_occurred();
            let _ = env.exception_clear();
            match thrown {
                Ok(t) if !env.is_instance_of(&t, JAVA_ERROR).unwrap_or(true) => Some(t),
                Ok(t) => {
                    let _ = env.throw(t);
                    return;
                }
                Err(_) => None,
            }
        }
        Err(_) => return,
    };
    let (kind, first, second) = exception_for(fail);
    let text = if second.is_empty() {
        first.clone()
    } else {
        format!("{first}: {second}")
    };
    let thrown = (|| -> jni::errors::Result<()> {
        let first = JObject::from(env.new_string(&first)?);
        let second = JObject::from(env.new_string(&second)?);
        let cause = pending.unwrap_or_else(|| JThrowable::from(JObject::null()));
        let made = env
            .call_static_method(
                ERRORS_CREATE.class,
                ERRORS_CREATE.name,
                ERRORS_CREATE.sig,
                &[
                    JValue::Int(kind as i32),
                    JValue::Object(&first),
                    JValue::Object(&second),
                    JValue::Object(&cause),
                ],
            )?
            .l()?;
        env.throw(JThrowable::from(made))
    })();
    if thrown.is_err() {
        // The wrapper's classes are missing or broken; still never crash.
        let _ = env.exception_clear();
        let _ = env.throw_new(FALLBACK_EXCEPTION, text);
    }
}
