//! `wd_set_log_callback`: the SDK's logs, routed into the host's logging.
//!
//! The SDK logs through the `log` crate facade (`log::info!` and friends,
//! with targets like `wilddog_video::client::io`). The first
//! `wd_set_log_callback` with a callback installs, once per process, a
//! global logger that forwards every record at or below the chosen level
//! to the app's callback. Until then, and after a NULL callback, the SDK
//! is silent and a disabled log statement costs one atomic load.
//!
//! The callback and its `user_data` live in an `Arc`: a thread that is
//! logging holds a clone while it calls the callback, so replacing the
//! callback never releases a `user_data` that a running callback still
//! uses; the release runs when the last such call returns.

use std::cell::Cell;
use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, RwLock};

use super::callback::{call_guarded, wd_release_callback};
use super::panic::ffi_boundary;
use super::result::{fail, wd_result};

/// Severity of a log message; higher values are more verbose. Passed to
/// the log callback, and as the `max_level` of `wd_set_log_callback`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum wd_log_level {
    /// Something failed (the SDK reports it to the app as well).
    Error = 1,
    /// Something unexpected that the SDK handled: a dropped connection, an
    /// undecodable frame.
    Warn = 2,
    /// Milestones: connected (uid, device), disconnected and why.
    Info = 3,
    /// Detail for debugging: connection steps, the welcome.
    Debug = 4,
    /// Everything, including per-frame detail.
    Trace = 5,
}

impl wd_log_level {
    fn from_u32(value: u32) -> Option<wd_log_level> {
        Some(match value {
            1 => wd_log_level::Error,
            2 => wd_log_level::Warn,
            3 => wd_log_level::Info,
            4 => wd_log_level::Debug,
            5 => wd_log_level::Trace,
            _ => return None,
        })
    }

    fn from_log(level: log::Level) -> wd_log_level {
        match level {
            log::Level::Error => wd_log_level::Error,
            log::Level::Warn => wd_log_level::Warn,
            log::Level::Info => wd_log_level::Info,
            log::Level::Debug => wd_log_level::Debug,
            log::Level::Trace => wd_log_level::Trace,
        }
    }

    fn filter(self) -> log::LevelFilter {
        match self {
            wd_log_level::Error => log::LevelFilter::Error,
            wd_log_level::Warn => log::LevelFilter::Warn,
            wd_log_level::Info => log::LevelFilter::Info,
            wd_log_level::Debug => log::LevelFilter::Debug,
            wd_log_level::Trace => log::LevelFilter::Trace,
        }
    }
}

/// Receives one log message of the SDK.
///
/// `level` is the message's severity; `target` names the SDK module that
/// logged it (e.g. `"wilddog_video::client::io"`; only the SDK's own
/// messages are delivered, never those of the libraries it uses); `message` is the text,
/// UTF-8, one line or more, never NULL. Both strings are valid only during
/// the call: copy them to keep them.
///
/// Thread rules: the callback may run on any thread of the SDK — the I/O
/// thread, the event thread, or an app thread inside an SDK call — and on
/// several of them at the same time, so it must be thread-safe. It should
/// return quickly (it delays the SDK's I/O while it runs). It must not call
/// SDK functions other than `wd_version`, `wd_result_message` and
/// `wd_set_log_callback` (it may run while the SDK holds internal locks;
/// in particular never `wd_client_free`, `wd_client_new` or
/// `wd_client_dispatch`). Messages the SDK would log from inside the
/// callback are dropped.
pub type wd_log_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        level: wd_log_level,
        target: *const c_char,
        message: *const c_char,
    ),
>;

/// The app's callback, its `user_data`, and the release function.
struct Sink {
    cb: unsafe extern "C" fn(*mut c_void, wd_log_level, *const c_char, *const c_char),
    user_data: *mut c_void,
    release: wd_release_callback,
}

// SAFETY: the SDK never dereferences `user_data`; it hands it to the
// app's callback, which the documentation requires to be callable from
// any thread, concurrently, and finally to `release`.
unsafe impl Send for Sink {}
// SAFETY: as above; `Sink` is never mutated after creation.
unsafe impl Sync for Sink {}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let ptr = self.user_data;
            // SAFETY: the app's release function for this `user_data`,
            // called once (taken out of the Option).
            call_guarded(|| unsafe { release(ptr) });
        }
    }
}

static SINK: RwLock<Option<Arc<Sink>>> = RwLock::new(None);

thread_local! {
    /// Set while this thread runs the app's log callback.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Whether a record comes from the SDK itself. Records of its
/// dependencies (tungstenite, mio) are never forwarded: they are noise to
/// the host, and at trace level tungstenite prints whole frames, including
/// the `hello` with the app's token.
fn is_sdk_target(target: &str) -> bool {
    target == "wilddog_video" || target.starts_with("wilddog_video::")
}

/// The process-wide logger of the `log` crate that forwards to [`SINK`].
struct FfiLogger;

static LOGGER: FfiLogger = FfiLogger;

fn to_c_string(text: String) -> CString {
    let mut bytes = text.into_bytes();
    bytes.retain(|&b| b != 0);
    CString::new(bytes).unwrap_or_default()
}

impl log::Log for FfiLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level() && is_sdk_target(metadata.target())
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) || IN_CALLBACK.with(Cell::get) {
            return;
        }
        let sink = match SINK.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let Some(sink) = sink else { return };
        let target = to_c_string(record.target().to_owned());
        let message = to_c_string(record.args().to_string());
        let level = wd_log_level::from_log(record.level());
        IN_CALLBACK.with(|c| c.set(true));
        // SAFETY: the app's callback with its `user_data`; the strings
        // outlive the call.
        call_guarded(|| unsafe {
            (sink.cb)(sink.user_data, level, target.as_ptr(), message.as_ptr())
        });
        IN_CALLBACK.with(|c| c.set(false));
        // If the callback was replaced meanwhile, this drop releases the
        // old `user_data`, after its last call returned.
        drop(sink);
    }

    fn flush(&self) {}
}

/// Installs the forwarding logger once per process.
fn install_logger() -> Result<(), String> {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            log::set_logger(&LOGGER).map_err(|_| {
                "another logger of the `log` crate is already installed in this process".to_owned()
            })
        })
        .clone()
}

fn replace_sink(new: Option<Arc<Sink>>) {
    let old = {
        let mut slot = SINK.write().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *slot, new)
    };
    // Released outside the lock: `release` may call wd_set_log_callback.
    drop(old);
}

/// Routes the SDK's log messages to `cb`, replacing the previous callback
/// (whose `release` then runs, once no call of it is running). The SDK is
/// silent until this is called, and again after a NULL `cb`, which clears
/// the callback; `max_level`, `user_data` and `release` are then ignored.
///
/// `max_level` is a `wd_log_level` value: messages up to that verbosity
/// are delivered (`WD_LOG_LEVEL_INFO` gives errors, warnings and
/// milestones such as "connected"; `WD_LOG_LEVEL_DEBUG` adds detail).
/// Another value is `WD_RESULT_INVALID_ARGUMENT` and changes nothing.
///
/// The SDK takes ownership of `user_data` only when this returns
/// `WD_RESULT_OK` with a non-NULL `cb`: it calls `release(user_data)` (if
/// `release` is not NULL) exactly once, when the callback is replaced or
/// cleared and no call of it is still running — possibly on the SDK
/// thread that made the last call, under the same rules as the callback.
///
/// The callback's thread rules (see `wd_log_callback`): it may run on any
/// SDK thread, concurrently; it must be thread-safe, return quickly, and
/// call no SDK function except `wd_version`, `wd_result_message` and
/// `wd_set_log_callback`.
///
/// The setting is process-wide (not per client). `WD_RESULT_INVALID_STATE`
/// if a Rust host already installed another logger of the `log` crate
/// (then the SDK's records go to that logger). Callable from any thread,
/// at any time, including from inside the log callback.
#[no_mangle]
pub extern "C" fn wd_set_log_callback(
    cb: wd_log_callback,
    max_level: u32,
    user_data: *mut c_void,
    release: wd_release_callback,
) -> wd_result {
    ffi_boundary! {
        let Some(cb) = cb else {
            log::set_max_level(log::LevelFilter::Off);
            replace_sink(None);
            return wd_result::Ok;
        };
        let Some(level) = wd_log_level::from_u32(max_level) else {
            return fail(
                wd_result::InvalidArgument,
                format_args!("max_level: {max_level} is not a wd_log_level (1 to 5)"),
            );
        };
        if let Err(e) = install_logger() {
            return fail(wd_result::InvalidState, e);
        }
        replace_sink(Some(Arc::new(Sink { cb, user_data, release })));
        log::set_max_level(level.filter());
        wd_result::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    #[derive(Default)]
    struct Collector {
        records: Mutex<Vec<(wd_log_level, String, String)>>,
        releases: Mutex<usize>,
        released: Condvar,
    }

    impl Collector {
        fn releases(&self) -> usize {
            *self.releases.lock().unwrap()
        }

        /// Waits (bounded) until `release` ran once: a call of the
        /// callback still running on another thread (other tests log
        /// too) holds the old callback until it returns.
        fn wait_released(&self) {
            let guard = self.releases.lock().unwrap();
            let (guard, _) = self
                .released
                .wait_timeout_while(guard, Duration::from_secs(20), |n| *n == 0)
                .unwrap();
            assert_eq!(*guard, 1, "released exactly once");
        }

        fn has(&self, what: impl Fn(&(wd_log_level, String, String)) -> bool) -> bool {
            self.records.lock().unwrap().iter().any(what)
        }
    }

    unsafe extern "C" fn collect(
        user_data: *mut c_void,
        level: wd_log_level,
        target: *const c_char,
        message: *const c_char,
    ) {
        // SAFETY: the tests pass a `Collector` that outlives the callback.
        let c = unsafe { &*user_data.cast_const().cast::<Collector>() };
        // SAFETY: the SDK passes valid NUL-terminated strings.
        let (target, message) = unsafe {
            (
                CStr::from_ptr(target).to_string_lossy().into_owned(),
                CStr::from_ptr(message).to_string_lossy().into_owned(),
            )
        };
        c.records.lock().unwrap().push((level, target, message));
        // Allowed inside the callback; what it logs is dropped, not
        // recursed into.
        // SAFETY: wd_version returns a static string.
        assert!(!unsafe { CStr::from_ptr(crate::ffi::version::wd_version()) }.is_empty());
        log::warn!("from inside the callback");
    }

    unsafe extern "C" fn release(user_data: *mut c_void) {
        // SAFETY: as in `collect`.
        let c = unsafe { &*user_data.cast_const().cast::<Collector>() };
        *c.releases.lock().unwrap() += 1;
        c.released.notify_all();
    }

    fn ptr(c: &'static Collector) -> *mut c_void {
        (c as *const Collector).cast_mut().cast()
    }

    /// Connects a client and drops it; dropping joins its threads, so
    /// everything it logs has been logged when this returns.
    fn connect_and_drop(server: &wd_signal::ServerHandle, uid: &str) {
        let client = crate::client::Client::connect(crate::client::ClientConfig::new(
            server.url(),
            format!("dev:{uid}"),
        ))
        .expect("client connects");
        client.disconnect();
        drop(client);
    }

    /// One test: the logger is process-wide state.
    #[test]
    fn messages_arrive_filtered_and_null_silences() {
        let server = wd_signal::spawn(wd_signal::ServerConfig::dev()).unwrap();
        let c: &'static Collector = Box::leak(Box::default());

        // A bad level changes nothing and takes no ownership.
        let r = wd_set_log_callback(Some(collect), 9, ptr(c), Some(release));
        assert_eq!(r, wd_result::InvalidArgument);
        assert!(crate::ffi::result::last_error().contains("max_level"));
        assert_eq!(c.releases(), 0);

        // Warnings only: the "connected" milestone (info) is filtered out.
        let warn_only: &'static Collector = Box::leak(Box::default());
        assert_eq!(
            wd_set_log_callback(Some(collect_no_reset), 2, ptr(warn_only), Some(release)),
            wd_result::Ok
        );
        connect_and_drop(&server, "alice");
        assert!(warn_only
            .records
            .lock()
            .unwrap()
            .iter()
            .all(|(level, _, _)| *level <= wd_log_level::Warn));

        // Replacing the callback releases the previous user_data once.
        assert_eq!(
            wd_set_log_callback(Some(collect), 5, ptr(c), Some(release)),
            wd_result::Ok
        );
        warn_only.wait_released();

        connect_and_drop(&server, "bob");
        assert!(
            c.has(|(level, target, message)| *level == wd_log_level::Info
                && target == "wilddog_video::client::dial"
                && message.contains("connected")
                && message.contains("bob")),
            "{:?}",
            c.records.lock().unwrap()
        );
        assert!(c.has(|(_, _, m)| m.contains("disconnected")));
        assert!(
            c.records
                .lock()
                .unwrap()
                .iter()
                .all(|(_, target, _)| target.starts_with("wilddog_video")),
            "only the SDK's own records are forwarded"
        );
        assert!(
            c.records
                .lock()
                .unwrap()
                .iter()
                .all(|(_, _, m)| !m.contains("dev:bob")),
            "tokens are never logged: {:?}",
            c.records.lock().unwrap()
        );

        // NULL silences, and releases the last user_data once no call of
        // the callback (on another test's thread) is running any more.
        assert_eq!(
            wd_set_log_callback(None, 0, std::ptr::null_mut(), None),
            wd_result::Ok
        );
        c.wait_released();
        assert!(c
            .records
            .lock()
            .unwrap()
            .iter()
            .all(|(_, _, m)| m != "from inside the callback"));
        // Released, the callback is never called again: nothing carol's
        // client logs (all of it, by the time it is dropped) arrives.
        let before = c.records.lock().unwrap().len();
        connect_and_drop(&server, "carol");
        assert_eq!(c.records.lock().unwrap().len(), before);
        assert_eq!(c.releases(), 1);
    }

    unsafe extern "C" fn collect_no_reset(
        user_data: *mut c_void,
        level: wd_log_level,
        target: *const c_char,
        message: *const c_char,
    ) {
        // SAFETY: as in `collect`.
        let c = unsafe { &*user_data.cast_const().cast::<Collector>() };
        // SAFETY: the SDK passes valid NUL-terminated strings.
        let (target, message) = unsafe {
            (
                CStr::from_ptr(target).to_string_lossy().into_owned(),
                CStr::from_ptr(message).to_string_lossy().into_owned(),
            )
        };
        c.records.lock().unwrap().push((level, target, message));
    }
}
