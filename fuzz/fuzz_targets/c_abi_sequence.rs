//! The C ABI driven by random call sequences against an in-process
//! `wd-signal` (started once per fuzzing process): clients connecting
//! with valid, invalid and unreachable configurations; invites, cancels,
//! accepts, rejects and frees in any order (so on handles in every
//! state); every getter with NULL, short and garbage arguments; invalid
//! enum values; oversized strings; and calls made from inside callbacks.
//!
//! Each input byte picks an operation, the following bytes its
//! arguments. Whatever the sequence, no call may crash, hang or panic
//! across the boundary; at the end every handle is freed.
//! What the ABI forbids (use after free, non-NUL-terminated strings,
//! wrong-type pointers) is not generated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ffi::{c_char, c_void, CString};
use std::ptr;
use std::sync::{Mutex, OnceLock};
use wilddog_video::ffi::client::*;
use wilddog_video::ffi::incoming::*;
use wilddog_video::ffi::outgoing::*;
use wilddog_video::ffi::result::{wd_last_error, wd_result, wd_result_message};

fn server_url() -> &'static str {
    static SERVER: OnceLock<(wd_signal::ServerHandle, String)> = OnceLock::new();
    &SERVER
        .get_or_init(|| {
            let server = wd_signal::spawn(wd_signal::ServerConfig {
                invite_rate_per_sec: 1_000_000,
                invite_burst: 1_000_000,
                message_rate_per_sec: 0,
                max_devices_per_uid: 0,
                ..wd_signal::ServerConfig::dev()
            })
            .expect("in-process wd-signal starts");
            let url = server.url();
            (server, url)
        })
        .1
}

/// Incoming invites handed to the invite callback, to be driven later.
static INBOX: Mutex<Vec<usize>> = Mutex::new(Vec::new());

unsafe extern "C" fn on_invite(_user: *mut c_void, invite: *mut wd_incoming_invite) {
    // Calls from inside a callback: getters, then keep it for later.
    let mut s: *const c_char = ptr::null();
    let _ = wd_incoming_invite_from(invite, &mut s);
    let _ = wd_incoming_invite_conversation_id(invite, ptr::null_mut());
    let mut status = std::mem::MaybeUninit::uninit();
    let _ = wd_incoming_invite_status(invite, status.as_mut_ptr());
    INBOX.lock().unwrap().push(invite as usize);
}

unsafe extern "C" fn on_outgoing(
    _user: *mut c_void,
    invite: *mut wd_outgoing_invite,
    _event: *const wd_outgoing_event,
) {
    // From inside its own callback: query and cancel (usually stale).
    let mut status = std::mem::MaybeUninit::uninit();
    let _ = wd_outgoing_invite_status(invite, status.as_mut_ptr());
    let _ = wd_outgoing_invite_cancel(invite);
}

fn last_error() {
    let mut buf = [0 as c_char; 16];
    let mut needed = 0usize;
    let _ = wd_last_error(buf.as_mut_ptr(), buf.len(), &mut needed);
    let _ = wd_last_error(ptr::null_mut(), 0, &mut needed);
}

unsafe extern "C" fn release(_user: *mut c_void) {}

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn pick<'b, T>(&mut self, v: &'b [T]) -> Option<&'b T> {
        if v.is_empty() {
            return None;
        }
        Some(&v[self.byte().unwrap_or(0) as usize % v.len()])
    }

    /// A short string from the input (lossy UTF-8, no NULs), sometimes
    /// oversized.
    fn string(&mut self) -> CString {
        let n = self.byte().unwrap_or(0);
        if n == 0xff {
            return CString::new("x".repeat(300 * 1024)).unwrap();
        }
        let n = (n as usize % 24).min(self.data.len());
        let (s, rest) = self.data.split_at(n);
        self.data = rest;
        let s: Vec<u8> = s.iter().map(|&b| if b == 0 { b'0' } else { b }).collect();
        CString::new(s).unwrap()
    }
}

#[derive(Default)]
struct Handles {
    clients: Vec<*mut wd_client>,
    outgoing: Vec<*mut wd_outgoing_invite>,
    incoming: Vec<*mut wd_incoming_invite>,
}

const UIDS: [&str; 3] = ["fa", "fb", "fc"];

fn new_client(inp: &mut Input, h: &mut Handles) {
    let url = server_url();
    let uid = *inp.pick(&UIDS).unwrap();
    let config = match inp.byte().unwrap_or(0) % 6 {
        0 | 1 | 2 => format!(
            r#"{{"url":"{url}","token":"dev:{uid}","connectTimeoutMs":2000,"reconnect":false}}"#
        ),
        3 => {
            r#"{"url":"ws://127.0.0.1:1","token":"dev:x","connectTimeoutMs":200,"reconnect":false}"#
                .to_owned()
        }
        4 => format!(r#"{{"url":"{url}","token":"forged.token"}}"#),
        _ => inp.string().into_string().unwrap_or_default(),
    };
    let config = CString::new(config).unwrap();
    let mut out = ptr::null_mut();
    let null_out = inp.byte().unwrap_or(1) == 0;
    let r = if null_out {
        wd_client_new(config.as_ptr(), ptr::null_mut())
    } else {
        wd_client_new(config.as_ptr(), &mut out)
    };
    let _ = wd_result_message(r as u32);
    let _ = last_error();
    if !out.is_null() {
        let _ = wd_client_set_invite_callback(out, Some(on_invite), ptr::null_mut(), Some(release));
        h.clients.push(out);
    }
}

fn step(op: u8, inp: &mut Input, h: &mut Handles) {
    match op % 20 {
        0 => new_client(inp, h),
        1 => {
            // Invite someone (maybe nobody, maybe oneself, maybe garbage).
            let Some(&c) = inp.pick(&h.clients) else {
                return;
            };
            let to = match inp.byte().unwrap_or(0) % 4 {
                0 => CString::new(*inp.pick(&UIDS).unwrap()).unwrap(),
                1 => CString::new("nobody").unwrap(),
                2 => inp.string(),
                _ => CString::new("fa").unwrap(),
            };
            let options = match inp.byte().unwrap_or(0) % 3 {
                0 => format!(
                    r#"{{"participantId":{:?},"lifetimeMs":2000}}"#,
                    to.to_string_lossy()
                ),
                1 => format!(
                    r#"{{"participantId":{:?},"mode":"bogus"}}"#,
                    to.to_string_lossy()
                ),
                _ => inp.string().into_string().unwrap_or_default(),
            };
            let options = CString::new(options).unwrap();
            let mut out = ptr::null_mut();
            if wd_client_invite(c, options.as_ptr(), &mut out) == wd_result::Ok && !out.is_null() {
                if inp.byte().unwrap_or(0) % 2 == 0 {
                    let _ = wd_outgoing_invite_set_callback(
                        out,
                        Some(on_outgoing),
                        ptr::null_mut(),
                        Some(release),
                    );
                }
                h.outgoing.push(out);
            }
        }
        2 => {
            if let Some(&o) = inp.pick(&h.outgoing) {
                let _ = wd_outgoing_invite_cancel(o);
            }
        }
        3 => {
            if let Some(&i) = inp.pick(&h.incoming) {
                let answer = inp.string();
                let null = inp.byte().unwrap_or(0) % 2 == 0;
                let _ = wd_incoming_invite_accept(
                    i,
                    if null { ptr::null() } else { answer.as_ptr() },
                    ptr::null(),
                );
            }
        }
        4 => {
            if let Some(&i) = inp.pick(&h.incoming) {
                // Any u32, most of them invalid reasons.
                let reason = u32::from(inp.byte().unwrap_or(0));
                let _ = wd_incoming_invite_reject(i, reason);
            }
        }
        5 => {
            // Take what the invite callback queued.
            h.incoming.extend(
                INBOX
                    .lock()
                    .unwrap()
                    .drain(..)
                    .map(|p| p as *mut wd_incoming_invite),
            );
        }
        6 => {
            if !h.outgoing.is_empty() {
                let i = inp.byte().unwrap_or(0) as usize % h.outgoing.len();
                wd_outgoing_invite_free(h.outgoing.swap_remove(i));
            }
        }
        7 => {
            if !h.incoming.is_empty() {
                let i = inp.byte().unwrap_or(0) as usize % h.incoming.len();
                wd_incoming_invite_free(h.incoming.swap_remove(i));
            }
        }
        8 => {
            if !h.clients.is_empty() {
                let i = inp.byte().unwrap_or(0) as usize % h.clients.len();
                wd_client_free(h.clients.swap_remove(i));
            }
        }
        9 => {
            if let Some(&c) = inp.pick(&h.clients) {
                let _ = wd_client_disconnect(c);
            }
        }
        10 => {
            // Getters on clients, with short buffers and NULLs.
            let c = inp.pick(&h.clients).copied().unwrap_or(ptr::null_mut());
            let mut s: *const c_char = ptr::null();
            let _ = wd_client_uid(c, &mut s);
            let _ = wd_client_uid(c, ptr::null_mut());
            let mut buf = [0 as c_char; 8];
            let mut needed = 0usize;
            let len = inp.byte().unwrap_or(0) as usize % (buf.len() + 1);
            let _ = wd_client_device(c, buf.as_mut_ptr(), len, &mut needed);
            let _ = wd_client_device(c, ptr::null_mut(), 0, &mut needed);
            let _ = wd_client_device(c, ptr::null_mut(), 0, ptr::null_mut());
            let mut state = std::mem::MaybeUninit::uninit();
            let _ = wd_client_connection_state(c, state.as_mut_ptr());
            let _ = wd_client_connection_state(c, ptr::null_mut());
        }
        11 => {
            let o = inp.pick(&h.outgoing).copied().unwrap_or(ptr::null_mut());
            let mut s: *const c_char = ptr::null();
            let _ = wd_outgoing_invite_to(o, &mut s);
            let _ = wd_outgoing_invite_conversation_id(o, ptr::null_mut());
            let mut st = std::mem::MaybeUninit::uninit();
            let _ = wd_outgoing_invite_status(o, st.as_mut_ptr());
            let mut f = std::mem::MaybeUninit::uninit();
            let _ = wd_outgoing_invite_failure_reason(o, f.as_mut_ptr());
            let mut r = std::mem::MaybeUninit::uninit();
            let _ = wd_outgoing_invite_reject_reason(o, r.as_mut_ptr());
            let mut cr = std::mem::MaybeUninit::uninit();
            let _ = wd_outgoing_invite_cancel_reason(o, cr.as_mut_ptr());
            let mut buf = [0 as c_char; 4];
            let mut needed = 0usize;
            let _ = wd_outgoing_invite_answer(o, buf.as_mut_ptr(), buf.len(), &mut needed);
            let _ = wd_outgoing_invite_answer_user_data(o, ptr::null_mut(), 0, &mut needed);
            let mut conv = ptr::null_mut();
            if wd_outgoing_invite_conversation(o, &mut conv) == wd_result::Ok && !conv.is_null() {
                wilddog_video::ffi::conversation::wd_conversation_free(conv);
            }
        }
        12 => {
            let i = inp.pick(&h.incoming).copied().unwrap_or(ptr::null_mut());
            let mut s: *const c_char = ptr::null();
            let _ = wd_incoming_invite_from(i, &mut s);
            let _ = wd_incoming_invite_user_data(i, &mut s);
            let _ = wd_incoming_invite_offer(i, ptr::null_mut());
            let mut m = std::mem::MaybeUninit::uninit();
            let _ = wd_incoming_invite_mode(i, m.as_mut_ptr());
            let mut st = std::mem::MaybeUninit::uninit();
            let _ = wd_incoming_invite_status(i, st.as_mut_ptr());
            let mut f = std::mem::MaybeUninit::uninit();
            let _ = wd_incoming_invite_failure_reason(i, f.as_mut_ptr());
            let mut cr = std::mem::MaybeUninit::uninit();
            let _ = wd_incoming_invite_cancel_reason(i, cr.as_mut_ptr());
            let mut conv = ptr::null_mut();
            if wd_incoming_invite_conversation(i, &mut conv) == wd_result::Ok && !conv.is_null() {
                wilddog_video::ffi::conversation::wd_conversation_free(conv);
            }
        }
        13 => {
            // Replace or clear callbacks, on live handles and NULL.
            let c = inp.pick(&h.clients).copied().unwrap_or(ptr::null_mut());
            let _ = wd_client_set_invite_callback(c, None, ptr::null_mut(), None);
            let _ = wd_client_set_invite_callback(c, Some(on_invite), ptr::null_mut(), None);
            let o = inp.pick(&h.outgoing).copied().unwrap_or(ptr::null_mut());
            let _ = wd_outgoing_invite_set_callback(o, None, ptr::null_mut(), Some(release));
        }
        14 => {
            // Manual dispatch is refused on thread-dispatch clients; with
            // a NULL client it is a NULL_PARAMETER.
            let c = inp.pick(&h.clients).copied().unwrap_or(ptr::null_mut());
            let _ = wd_client_dispatch(c, 0, ptr::null_mut());
        }
        15 => {
            // NULL everything.
            let _ = wd_client_new(ptr::null(), ptr::null_mut());
            let _ = wd_client_invite(ptr::null_mut(), ptr::null(), ptr::null_mut());
            let _ = wd_outgoing_invite_cancel(ptr::null_mut());
            let _ = wd_incoming_invite_accept(ptr::null_mut(), ptr::null(), ptr::null());
            let _ = wd_incoming_invite_reject(ptr::null_mut(), 1);
            wd_client_free(ptr::null_mut());
            wd_outgoing_invite_free(ptr::null_mut());
            wd_incoming_invite_free(ptr::null_mut());
            let _ = wd_client_disconnect(ptr::null_mut());
        }
        16 => {
            let _ = wd_result_message(u32::from(inp.byte().unwrap_or(0)));
            let _ = last_error();
        }
        _ => {
            // Let the event threads run for a moment (bounded).
            std::thread::yield_now();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input { data };
    let mut h = Handles::default();
    let mut steps = 0;
    while let Some(op) = inp.byte() {
        step(op, &mut inp, &mut h);
        steps += 1;
        if steps > 64 {
            break;
        }
    }
    // Free everything, in an order that leaves handles outliving their
    // client.
    for c in h.clients.drain(..) {
        wd_client_free(c);
    }
    h.incoming.extend(
        INBOX
            .lock()
            .unwrap()
            .drain(..)
            .map(|p| p as *mut wd_incoming_invite),
    );
    for o in h.outgoing.drain(..) {
        wd_outgoing_invite_free(o);
    }
    for i in h.incoming.drain(..) {
        wd_incoming_invite_free(i);
    }
});
