//! The panic boundary and the mapping of failures to Kotlin exceptions.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use jni::objects::{JObject, JThrowable, JValue};
use jni::JNIEnv;
use wilddog_video::client::Error;

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
    /// exception is what Kotlin sees.
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

/// The Kotlin exception class (in `com.wilddog.video`) and constructor
/// arguments for a failure. Constructors take one or two `String`s.
fn exception_for(fail: Fail) -> (&'static str, Vec<String>) {
    match fail {
        Fail::Sdk(e) => sdk_exception(e),
        Fail::Closed(what) => ("HandleClosedException", vec![what.to_owned()]),
        Fail::Arg { field, message } => ("InvalidArgumentException", vec![field, message]),
        Fail::Jni(e) => ("WilddogException", vec![format!("JNI: {e}")]),
        Fail::Panic(message) => ("NativePanicException", vec![message]),
    }
}

// Later versions may add `Error` variants; the fallback arm keeps this
// compiling and still throws the base class.
#[allow(unreachable_patterns)]
fn sdk_exception(e: Error) -> (&'static str, Vec<String>) {
    let text = e.to_string();
    match e {
        Error::InvalidArgument { field, message } => {
            ("InvalidArgumentException", vec![field, message])
        }
        Error::InvalidState { status } => ("InvalidStateException", vec![status.to_owned(), text]),
        Error::NotConnected => ("NotConnectedException", vec![text]),
        Error::Unauthorized(_) => ("UnauthorizedException", vec![text]),
        Error::Network(_) => ("NetworkException", vec![text]),
        Error::Protocol(_) => ("ProtocolException", vec![text]),
        Error::Tls(_) => ("TlsException", vec![text]),
        _ => ("WilddogException", vec![text]),
    }
}

/// Leaves the Kotlin exception for `fail` pending on `env`. A Java
/// exception already pending (from a failed JNI call) wins.
fn throw(env: &mut JNIEnv, fail: Fail) {
    if env.exception_check().unwrap_or(true) {
        return;
    }
    let (class, args) = exception_for(fail);
    let text = args.join(": ");
    let thrown = (|| -> jni::errors::Result<()> {
        let class = env.find_class(format!("com/wilddog/video/{class}"))?;
        let mut strings = Vec::with_capacity(args.len());
        for a in &args {
            strings.push(JObject::from(env.new_string(a)?));
        }
        let values: Vec<JValue> = strings.iter().map(JValue::Object).collect();
        let sig = if values.len() == 2 {
            "(Ljava/lang/String;Ljava/lang/String;)V"
        } else {
            "(Ljava/lang/String;)V"
        };
        let obj = env.new_object(class, sig, &values)?;
        env.throw(JThrowable::from(obj))
    })();
    if thrown.is_err() {
        // The wrapper's classes are missing or broken; still never crash.
        let _ = env.exception_clear();
        let _ = env.throw_new("java/lang/RuntimeException", text);
    }
}
