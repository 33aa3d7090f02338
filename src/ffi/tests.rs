//! Tests of the C ABI, called the way C calls it: raw pointers, NUL-
//! terminated strings, callbacks with `user_data`.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::client::FailureReason;

use super::client::*;
use super::conversation::*;
use super::incoming::*;
use super::outgoing::*;
use super::panic::ffi_boundary;
use super::result::*;
use super::types::*;

const OK: wd_result = wd_result::Ok;
const NULL: wd_result = wd_result::NullParameter;
const TIMEOUT: Duration = Duration::from_secs(10);

fn last() -> String {
    last_error()
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn server() -> wd_signal::ServerHandle {
    wd_signal::spawn(wd_signal::ServerConfig::dev()).expect("server starts")
}

fn connect_with(url: &str, uid: &str, extra: &str) -> *mut wd_client {
    let config = c(&format!(r#"{{"url":"{url}","token":"dev:{uid}"{extra}}}"#));
    let mut client = ptr::null_mut();
    assert_eq!(
        wd_client_new(config.as_ptr(), &mut client),
        OK,
        "{}",
        last()
    );
    assert!(!client.is_null());
    client
}

fn connect(url: &str, uid: &str) -> *mut wd_client {
    connect_with(url, uid, "")
}

fn str_out(p: *const c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: a string the SDK handed out, alive with its handle.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
}

/// Everything a test callback reports.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Invite(usize),
    Outgoing(usize, wd_outgoing_event),
    Incoming(usize, wd_incoming_event),
    Conversation(
        usize,
        wd_conversation_event_kind,
        Option<String>,
        wd_participant_left_reason,
    ),
}

/// The `user_data` of test callbacks: where events go, and how often it
/// was released.
struct Probe {
    tx: Mutex<Sender<Ev>>,
    releases: Mutex<usize>,
    released: Condvar,
}

impl Probe {
    fn new() -> (Arc<Probe>, Receiver<Ev>) {
        let (tx, rx) = channel();
        (
            Arc::new(Probe {
                tx: Mutex::new(tx),
                releases: Mutex::new(0),
                released: Condvar::new(),
            }),
            rx,
        )
    }

    /// A `user_data` owning one reference to the probe.
    fn user_data(self: &Arc<Self>) -> *mut c_void {
        Arc::into_raw(self.clone()).cast_mut().cast()
    }

    fn releases(&self) -> usize {
        *self.releases.lock().unwrap()
    }

    /// Waits (bounded) until `release` ran `n` times in all. A release may
    /// run on the event thread just after the call that caused it.
    fn wait_releases(&self, n: usize) {
        let guard = self.releases.lock().unwrap();
        let (guard, timeout) = self
            .released
            .wait_timeout_while(guard, TIMEOUT, |count| *count < n)
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "release ran {} times, expected {n}",
            *guard
        );
    }
}

fn probe_of<'a>(user_data: *mut c_void) -> &'a Probe {
    // SAFETY: test user_data is always `Probe::user_data`, alive until
    // `release_probe`.
    unsafe { &*user_data.cast_const().cast::<Probe>() }
}

fn send(user_data: *mut c_void, ev: Ev) {
    let _ = probe_of(user_data).tx.lock().unwrap().send(ev);
}

unsafe extern "C" fn release_probe(user_data: *mut c_void) {
    // SAFETY: the reference `Probe::user_data` made.
    let probe = unsafe { Arc::from_raw(user_data.cast_const().cast::<Probe>()) };
    *probe.releases.lock().unwrap() += 1;
    probe.released.notify_all();
}

unsafe extern "C" fn on_invite(user_data: *mut c_void, invite: *mut wd_incoming_invite) {
    send(user_data, Ev::Invite(invite as usize));
}

unsafe extern "C" fn on_outgoing(
    user_data: *mut c_void,
    invite: *mut wd_outgoing_invite,
    event: *const wd_outgoing_event,
) {
    // SAFETY: valid during the callback.
    let event = unsafe { *event };
    send(user_data, Ev::Outgoing(invite as usize, event));
}

unsafe extern "C" fn on_incoming(
    user_data: *mut c_void,
    invite: *mut wd_incoming_invite,
    event: *const wd_incoming_event,
) {
    // SAFETY: valid during the callback.
    let event = unsafe { *event };
    send(user_data, Ev::Incoming(invite as usize, event));
}

unsafe extern "C" fn on_conversation(
    user_data: *mut c_void,
    conversation: *mut wd_conversation,
    event: *const wd_conversation_event,
) {
    // SAFETY: valid during the callback.
    let event = unsafe { &*event };
    let uid = (!event.participant_uid.is_null()).then(|| str_out(event.participant_uid));
    send(
        user_data,
        Ev::Conversation(
            conversation as usize,
            event.kind,
            uid,
            event.participant_left_reason,
        ),
    );
}

fn recv(rx: &Receiver<Ev>) -> Ev {
    rx.recv_timeout(TIMEOUT).expect("an event arrives")
}

/// A fresh probe set as `invite`'s callback, and where its events go.
fn watch_outgoing(invite: *mut wd_outgoing_invite) -> (Arc<Probe>, Receiver<Ev>) {
    let (probe, rx) = Probe::new();
    assert_eq!(
        wd_outgoing_invite_set_callback(
            invite,
            Some(on_outgoing),
            probe.user_data(),
            Some(release_probe)
        ),
        OK
    );
    (probe, rx)
}

/// A fresh probe set as `invite`'s callback, and where its events go.
fn watch_incoming(invite: *mut wd_incoming_invite) -> (Arc<Probe>, Receiver<Ev>) {
    let (probe, rx) = Probe::new();
    assert_eq!(
        wd_incoming_invite_set_callback(
            invite,
            Some(on_incoming),
            probe.user_data(),
            Some(release_probe)
        ),
        OK
    );
    (probe, rx)
}

/// The first outgoing event after any `ringing`: the outcome.
fn outgoing_outcome(rx: &Receiver<Ev>) -> wd_outgoing_event {
    loop {
        match recv(rx) {
            Ev::Outgoing(_, e) if e.kind == wd_outgoing_event_kind::Ringing => continue,
            Ev::Outgoing(_, e) => return e,
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn invite(client: *mut wd_client, options: &str) -> *mut wd_outgoing_invite {
    let options = c(options);
    let mut out = ptr::null_mut();
    assert_eq!(
        wd_client_invite(client, options.as_ptr(), &mut out),
        OK,
        "{}",
        last()
    );
    out
}

/// Alice invites Bob; Bob's client hands the invite to its callback.
struct Ringing {
    _server: wd_signal::ServerHandle,
    alice: *mut wd_client,
    bob: *mut wd_client,
    outgoing: *mut wd_outgoing_invite,
    incoming: *mut wd_incoming_invite,
    bob_probe: Arc<Probe>,
}

fn ringing() -> Ringing {
    let server = server();
    let alice = connect(&server.url(), "alice");
    let bob = connect(&server.url(), "bob");
    let (bob_probe, rx) = Probe::new();
    assert_eq!(
        wd_client_set_invite_callback(
            bob,
            Some(on_invite),
            bob_probe.user_data(),
            Some(release_probe)
        ),
        OK
    );
    let outgoing = invite(
        alice,
        r#"{"participantId":"bob","userData":"hello","offer":"v=0 offer"}"#,
    );
    let Ev::Invite(incoming) = recv(&rx) else {
        panic!("expected an invite")
    };
    Ringing {
        _server: server,
        alice,
        bob,
        outgoing,
        incoming: incoming as *mut wd_incoming_invite,
        bob_probe,
    }
}

impl Ringing {
    /// Bob accepts; returns both sides' conversations.
    /// Waits for Bob's `accepted` through a callback of its own on his
    /// invite, so use [`Ringing::send_accept`] where the test sets one.
    fn accept(&self) -> (*mut wd_conversation, *mut wd_conversation) {
        let (_, rx) = watch_incoming(self.incoming);
        self.send_accept();
        match recv(&rx) {
            Ev::Incoming(_, e) => assert_eq!(e.kind, wd_incoming_event_kind::Accepted),
            other => panic!("unexpected {other:?}"),
        }
        self.conversations()
    }

    /// Bob accepts, with an answer and user data.
    fn send_accept(&self) {
        let answer = c("v=0 answer");
        let user_data = c("hi back");
        assert_eq!(
            wd_incoming_invite_accept(self.incoming, answer.as_ptr(), user_data.as_ptr()),
            OK
        );
    }

    /// Both sides' conversations, once Bob heard `accepted`. Alice decided
    /// before that (her status changes before the outcome leaves her), so
    /// hers is there too.
    fn conversations(&self) -> (*mut wd_conversation, *mut wd_conversation) {
        let mut a = ptr::null_mut();
        let mut b = ptr::null_mut();
        assert_eq!(wd_outgoing_invite_conversation(self.outgoing, &mut a), OK);
        assert_eq!(wd_incoming_invite_conversation(self.incoming, &mut b), OK);
        (a, b)
    }
}

impl Drop for Ringing {
    fn drop(&mut self) {
        wd_outgoing_invite_free(self.outgoing);
        wd_incoming_invite_free(self.incoming);
        wd_client_free(self.alice);
        wd_client_free(self.bob);
        assert_eq!(
            self.bob_probe.releases(),
            1,
            "invite callback released once"
        );
    }
}

#[test]
fn result_codes_and_messages() {
    for (i, code) in wd_result::ALL.iter().enumerate() {
        assert_eq!(*code as u32, i as u32);
        let text = str_out(wd_result_message(*code as u32));
        assert!(!text.is_empty());
    }
    assert_eq!(wd_result::Ok as u32, 0);
    assert_eq!(wd_result::NullParameter as u32, 1);
    assert_eq!(wd_result::BufferTooSmall as u32, 5);
    assert_eq!(wd_result::Protocol as u32, 9);
    assert_eq!(wd_result::Tls as u32, 10);
    let last = wd_result::ALL.len() as u32;
    assert_eq!(str_out(wd_result_message(last)), "unknown wd_result value");
    assert_eq!(
        str_out(wd_result_message(u32::MAX)),
        "unknown wd_result value"
    );
}

#[test]
fn failure_reasons_follow_the_protocol_order() {
    assert_eq!(wd_failure_reason::from(None) as u32, 0);
    for (i, reason) in FailureReason::ALL.iter().enumerate() {
        assert_eq!(
            wd_failure_reason::from(Some(*reason)) as u32,
            i as u32 + 1,
            "{reason}"
        );
    }
    assert_eq!(wd_cancel_reason::None as u32, 0);
    assert_eq!(wd_cancel_reason::CallerCanceled as u32, 1);
    assert_eq!(wd_cancel_reason::AnsweredElsewhere as u32, 2);
    assert_eq!(wd_reject_reason::reason_from_u32(0), None);
    assert_eq!(wd_reject_reason::reason_from_u32(3), None);
}

#[test]
fn null_handles_are_null_parameter() {
    let mut p: *const c_char = ptr::null();
    let mut buf = [0 as c_char; 8];
    let mut n = 0usize;
    let json = c("{}");

    // Client.
    let mut client = ptr::null_mut();
    assert_eq!(wd_client_new(ptr::null(), &mut client), NULL);
    assert_eq!(last(), "config_json: must not be NULL");
    assert_eq!(wd_client_new(json.as_ptr(), ptr::null_mut()), NULL);
    assert_eq!(last(), "out: must not be NULL");
    assert!(client.is_null());
    wd_client_free(ptr::null_mut());
    assert_eq!(wd_client_uid(ptr::null(), &mut p), NULL);
    assert_eq!(last(), "client: must not be NULL");
    assert_eq!(
        wd_client_device(ptr::null(), buf.as_mut_ptr(), buf.len(), &mut n),
        NULL
    );
    let mut state = wd_connection_state::Connecting;
    assert_eq!(wd_client_connection_state(ptr::null(), &mut state), NULL);
    let mut out_inv = ptr::null_mut();
    assert_eq!(
        wd_client_invite(ptr::null_mut(), json.as_ptr(), &mut out_inv),
        NULL
    );
    assert_eq!(
        wd_client_set_invite_callback(ptr::null_mut(), Some(on_invite), ptr::null_mut(), None),
        NULL
    );
    assert_eq!(
        wd_client_set_invite_callback(ptr::null_mut(), None, ptr::null_mut(), None),
        NULL
    );
    assert_eq!(wd_client_dispatch(ptr::null_mut(), 0, &mut n), NULL);
    assert_eq!(wd_client_disconnect(ptr::null_mut()), NULL);

    // Outgoing invite.
    let o: *mut wd_outgoing_invite = ptr::null_mut();
    let mut os = wd_outgoing_status::Pending;
    let mut fr = wd_failure_reason::None;
    let mut rr = wd_reject_reason::None;
    let mut conv = ptr::null_mut();
    assert_eq!(wd_outgoing_invite_status(o, &mut os), NULL);
    assert_eq!(wd_outgoing_invite_to(o, &mut p), NULL);
    assert_eq!(wd_outgoing_invite_conversation_id(o, &mut p), NULL);
    assert_eq!(wd_outgoing_invite_failure_reason(o, &mut fr), NULL);
    assert_eq!(wd_outgoing_invite_reject_reason(o, &mut rr), NULL);
    assert_eq!(wd_outgoing_invite_conversation(o, &mut conv), NULL);
    assert_eq!(
        wd_outgoing_invite_answer(o, buf.as_mut_ptr(), buf.len(), &mut n),
        NULL
    );
    assert_eq!(
        wd_outgoing_invite_answer_user_data(o, buf.as_mut_ptr(), buf.len(), &mut n),
        NULL
    );
    assert_eq!(wd_outgoing_invite_cancel(o), NULL);
    assert_eq!(
        wd_outgoing_invite_set_callback(o, Some(on_outgoing), ptr::null_mut(), None),
        NULL
    );
    assert_eq!(
        wd_outgoing_invite_set_callback(o, None, ptr::null_mut(), None),
        NULL
    );
    assert_eq!(last(), "invite: must not be NULL");
    wd_outgoing_invite_free(o);

    // Incoming invite.
    let i: *mut wd_incoming_invite = ptr::null_mut();
    let mut is = wd_incoming_status::Pending;
    let mut mode = wd_mode::P2p;
    let mut cr = wd_cancel_reason::None;
    assert_eq!(wd_incoming_invite_from(i, &mut p), NULL);
    assert_eq!(wd_incoming_invite_conversation_id(i, &mut p), NULL);
    assert_eq!(wd_incoming_invite_mode(i, &mut mode), NULL);
    assert_eq!(wd_incoming_invite_user_data(i, &mut p), NULL);
    assert_eq!(wd_incoming_invite_offer(i, &mut p), NULL);
    assert_eq!(wd_incoming_invite_status(i, &mut is), NULL);
    assert_eq!(wd_incoming_invite_failure_reason(i, &mut fr), NULL);
    assert_eq!(wd_incoming_invite_cancel_reason(i, &mut cr), NULL);
    assert_eq!(wd_incoming_invite_accept(i, ptr::null(), ptr::null()), NULL);
    assert_eq!(
        wd_incoming_invite_reject(i, wd_reject_reason::Declined as u32),
        NULL
    );
    assert_eq!(wd_incoming_invite_conversation(i, &mut conv), NULL);
    assert_eq!(
        wd_incoming_invite_set_callback(i, Some(on_incoming), ptr::null_mut(), None),
        NULL
    );
    assert_eq!(
        wd_incoming_invite_set_callback(i, None, ptr::null_mut(), None),
        NULL
    );
    wd_incoming_invite_free(i);

    // Conversation.
    let v: *mut wd_conversation = ptr::null_mut();
    let mut connected = false;
    assert_eq!(wd_conversation_id(v, &mut p), NULL);
    assert_eq!(wd_conversation_mode(v, &mut mode), NULL);
    assert_eq!(
        wd_conversation_participants(v, buf.as_mut_ptr(), buf.len(), &mut n),
        NULL
    );
    assert_eq!(wd_conversation_participant_count(v, &mut n), NULL);
    assert_eq!(wd_conversation_is_connected(v, &mut connected), NULL);
    assert_eq!(wd_conversation_disconnect(v), NULL);
    assert_eq!(
        wd_conversation_set_callback(v, Some(on_conversation), ptr::null_mut(), None),
        NULL
    );
    assert_eq!(
        wd_conversation_set_callback(v, None, ptr::null_mut(), None),
        NULL
    );
    assert_eq!(last(), "conversation: must not be NULL");
    wd_conversation_free(v);

    // Last error.
    assert_eq!(
        wd_last_error(buf.as_mut_ptr(), buf.len(), ptr::null_mut()),
        NULL
    );
    assert_eq!(wd_last_error(ptr::null_mut(), 4, &mut n), NULL);
}

#[test]
fn null_out_parameters_with_live_handles() {
    let r = ringing();
    let (a, b) = r.accept();
    let mut buf = [0 as c_char; 8];
    let mut n = 0usize;

    assert_eq!(wd_client_uid(r.alice, ptr::null_mut()), NULL);
    assert_eq!(last(), "out: must not be NULL");
    assert_eq!(
        wd_client_device(r.alice, buf.as_mut_ptr(), buf.len(), ptr::null_mut()),
        NULL
    );
    assert_eq!(wd_client_device(r.alice, ptr::null_mut(), 8, &mut n), NULL);
    assert_eq!(wd_client_connection_state(r.alice, ptr::null_mut()), NULL);
    let json = c(r#"{"participantId":"bob"}"#);
    let mut o = ptr::null_mut();
    assert_eq!(wd_client_invite(r.alice, ptr::null(), &mut o), NULL);
    assert_eq!(last(), "options_json: must not be NULL");
    assert_eq!(
        wd_client_invite(r.alice, json.as_ptr(), ptr::null_mut()),
        NULL
    );
    assert!(o.is_null());

    assert_eq!(wd_outgoing_invite_status(r.outgoing, ptr::null_mut()), NULL);
    assert_eq!(wd_outgoing_invite_to(r.outgoing, ptr::null_mut()), NULL);
    assert_eq!(
        wd_outgoing_invite_conversation_id(r.outgoing, ptr::null_mut()),
        NULL
    );
    assert_eq!(
        wd_outgoing_invite_failure_reason(r.outgoing, ptr::null_mut()),
        NULL
    );
    assert_eq!(
        wd_outgoing_invite_reject_reason(r.outgoing, ptr::null_mut()),
        NULL
    );
    assert_eq!(
        wd_outgoing_invite_conversation(r.outgoing, ptr::null_mut()),
        NULL
    );
    assert_eq!(
        wd_outgoing_invite_answer(r.outgoing, buf.as_mut_ptr(), 8, ptr::null_mut()),
        NULL
    );
    assert_eq!(
        wd_outgoing_invite_answer(r.outgoing, ptr::null_mut(), 8, &mut n),
        NULL
    );
    assert_eq!(
        wd_outgoing_invite_answer_user_data(r.outgoing, buf.as_mut_ptr(), 8, ptr::null_mut()),
        NULL
    );
    assert_eq!(
        wd_outgoing_invite_answer_user_data(r.outgoing, ptr::null_mut(), 8, &mut n),
        NULL
    );

    assert_eq!(wd_incoming_invite_from(r.incoming, ptr::null_mut()), NULL);
    assert_eq!(
        wd_incoming_invite_conversation_id(r.incoming, ptr::null_mut()),
        NULL
    );
    assert_eq!(wd_incoming_invite_mode(r.incoming, ptr::null_mut()), NULL);
    assert_eq!(
        wd_incoming_invite_user_data(r.incoming, ptr::null_mut()),
        NULL
    );
    assert_eq!(wd_incoming_invite_offer(r.incoming, ptr::null_mut()), NULL);
    assert_eq!(wd_incoming_invite_status(r.incoming, ptr::null_mut()), NULL);
    assert_eq!(
        wd_incoming_invite_failure_reason(r.incoming, ptr::null_mut()),
        NULL
    );
    assert_eq!(
        wd_incoming_invite_cancel_reason(r.incoming, ptr::null_mut()),
        NULL
    );
    assert_eq!(
        wd_incoming_invite_conversation(r.incoming, ptr::null_mut()),
        NULL
    );

    assert_eq!(wd_conversation_id(a, ptr::null_mut()), NULL);
    assert_eq!(wd_conversation_mode(a, ptr::null_mut()), NULL);
    assert_eq!(
        wd_conversation_participants(a, buf.as_mut_ptr(), 8, ptr::null_mut()),
        NULL
    );
    assert_eq!(
        wd_conversation_participants(a, ptr::null_mut(), 8, &mut n),
        NULL
    );
    assert_eq!(wd_conversation_participant_count(a, ptr::null_mut()), NULL);
    assert_eq!(wd_conversation_is_connected(a, ptr::null_mut()), NULL);

    // Optional: `dispatched` may be NULL (thread mode refuses dispatch).
    assert_eq!(
        wd_client_dispatch(r.alice, 0, ptr::null_mut()),
        wd_result::InvalidState
    );

    wd_conversation_free(a);
    wd_conversation_free(b);
}

/// Every getter checks its arguments before the handle's state: a NULL
/// out-parameter is NULL_PARAMETER while the invite is still pending too,
/// not INVALID_STATE.
#[test]
fn getters_check_arguments_before_state() {
    let r = ringing();
    let mut buf = [0 as c_char; 8];
    let mut n = 0usize;
    for getter in [
        wd_outgoing_invite_answer,
        wd_outgoing_invite_answer_user_data,
    ] {
        assert_eq!(
            getter(r.outgoing, buf.as_mut_ptr(), 8, ptr::null_mut()),
            NULL
        );
        assert_eq!(last(), "needed: must not be NULL");
        assert_eq!(getter(r.outgoing, ptr::null_mut(), 8, &mut n), NULL);
        assert_eq!(last(), "buf: must not be NULL");
        // With valid arguments, the state decides.
        assert_eq!(
            getter(r.outgoing, buf.as_mut_ptr(), 8, &mut n),
            wd_result::InvalidState
        );
        assert_eq!(
            getter(r.outgoing, ptr::null_mut(), 0, &mut n),
            wd_result::InvalidState
        );
    }
    assert_eq!(
        wd_outgoing_invite_conversation(r.outgoing, ptr::null_mut()),
        NULL
    );
    assert_eq!(
        wd_incoming_invite_conversation(r.incoming, ptr::null_mut()),
        NULL
    );
}

#[test]
fn accepted_invite_through_the_abi() {
    let r = ringing();
    let (out_probe, out_rx) = watch_outgoing(r.outgoing);
    let (in_probe, in_rx) = watch_incoming(r.incoming);

    let mut p = ptr::null();
    assert_eq!(wd_client_uid(r.alice, &mut p), OK);
    assert_eq!(str_out(p), "alice");
    assert_eq!(wd_outgoing_invite_to(r.outgoing, &mut p), OK);
    assert_eq!(str_out(p), "bob");
    assert_eq!(wd_outgoing_invite_conversation_id(r.outgoing, &mut p), OK);
    let conversation_id = str_out(p);
    assert_eq!(wd_incoming_invite_conversation_id(r.incoming, &mut p), OK);
    assert_eq!(str_out(p), conversation_id);
    assert_eq!(wd_incoming_invite_from(r.incoming, &mut p), OK);
    assert_eq!(str_out(p), "alice");
    assert_eq!(wd_incoming_invite_user_data(r.incoming, &mut p), OK);
    assert_eq!(str_out(p), "hello");
    assert_eq!(wd_incoming_invite_offer(r.incoming, &mut p), OK);
    assert_eq!(str_out(p), "v=0 offer");
    let mut state = wd_connection_state::Disconnected;
    assert_eq!(wd_client_connection_state(r.alice, &mut state), OK);
    assert_eq!(state, wd_connection_state::Connected);

    // Not accepted yet.
    let mut conv = ptr::null_mut();
    assert_eq!(
        wd_outgoing_invite_conversation(r.outgoing, &mut conv),
        wd_result::InvalidState
    );
    assert!(conv.is_null());
    let mut n = 0;
    assert_eq!(
        wd_outgoing_invite_answer(r.outgoing, ptr::null_mut(), 0, &mut n),
        wd_result::InvalidState
    );

    r.send_accept();
    // The ringing event may come first; the outcome is ACCEPTED.
    loop {
        match recv(&out_rx) {
            Ev::Outgoing(ptr, e) => {
                assert_eq!(
                    ptr, r.outgoing as usize,
                    "the callback gets the app's pointer"
                );
                if e.kind == wd_outgoing_event_kind::Ringing {
                    continue;
                }
                assert_eq!(e.kind, wd_outgoing_event_kind::Accepted);
                assert_eq!(e.failure_reason, wd_failure_reason::None);
                assert_eq!(e.reject_reason, wd_reject_reason::None);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    match recv(&in_rx) {
        Ev::Incoming(ptr, e) => {
            assert_eq!(ptr, r.incoming as usize);
            assert_eq!(e.kind, wd_incoming_event_kind::Accepted);
        }
        other => panic!("unexpected {other:?}"),
    }
    let (a, b) = r.conversations();

    // The answer, by size query then copy.
    let mut needed = 0usize;
    assert_eq!(
        wd_outgoing_invite_answer(r.outgoing, ptr::null_mut(), 0, &mut needed),
        wd_result::BufferTooSmall
    );
    assert_eq!(needed, "v=0 answer".len() + 1);
    let mut buf = vec![0 as c_char; needed];
    assert_eq!(
        wd_outgoing_invite_answer(r.outgoing, buf.as_mut_ptr(), buf.len(), &mut needed),
        OK
    );
    assert_eq!(str_out(buf.as_ptr()), "v=0 answer");
    assert_eq!(
        wd_outgoing_invite_answer_user_data(r.outgoing, buf.as_mut_ptr(), buf.len(), &mut needed),
        OK
    );
    assert_eq!(str_out(buf.as_ptr()), "hi back");

    // Conversations on both sides.
    assert_eq!(wd_conversation_id(a, &mut p), OK);
    assert_eq!(str_out(p), conversation_id);
    let mut mode = wd_mode::Server;
    assert_eq!(wd_conversation_mode(b, &mut mode), OK);
    assert_eq!(mode, wd_mode::P2p);
    let mut count = 0;
    assert_eq!(wd_conversation_participant_count(a, &mut count), OK);
    assert_eq!(count, 1);
    let mut needed = 0;
    assert_eq!(
        wd_conversation_participants(a, ptr::null_mut(), 0, &mut needed),
        wd_result::BufferTooSmall
    );
    let mut small = vec![0 as c_char; needed - 1];
    assert_eq!(
        wd_conversation_participants(a, small.as_mut_ptr(), small.len(), &mut needed),
        wd_result::BufferTooSmall
    );
    assert_eq!(small.len() + 1, needed);
    let mut buf = vec![0 as c_char; needed];
    assert_eq!(
        wd_conversation_participants(a, buf.as_mut_ptr(), buf.len(), &mut needed),
        OK
    );
    let json: serde_json::Value = serde_json::from_str(&str_out(buf.as_ptr())).unwrap();
    assert_eq!(json[0]["uid"], "bob");
    assert!(json[0]["device"].is_string());

    // Bob leaves: Alice hears the participant leave, Bob disconnected.
    let (a_probe, a_rx) = Probe::new();
    assert_eq!(
        wd_conversation_set_callback(
            a,
            Some(on_conversation),
            a_probe.user_data(),
            Some(release_probe)
        ),
        OK
    );
    let (b_probe, b_rx) = Probe::new();
    assert_eq!(
        wd_conversation_set_callback(
            b,
            Some(on_conversation),
            b_probe.user_data(),
            Some(release_probe)
        ),
        OK
    );
    let mut connected = false;
    assert_eq!(wd_conversation_is_connected(b, &mut connected), OK);
    assert!(connected);
    assert_eq!(wd_conversation_disconnect(b), OK);
    assert_eq!(wd_conversation_disconnect(b), wd_result::InvalidState);
    assert_eq!(
        recv(&b_rx),
        Ev::Conversation(
            b as usize,
            wd_conversation_event_kind::Disconnected,
            None,
            wd_participant_left_reason::None
        )
    );
    assert_eq!(
        recv(&a_rx),
        Ev::Conversation(
            a as usize,
            wd_conversation_event_kind::ParticipantDisconnected,
            Some("bob".into()),
            wd_participant_left_reason::Left
        )
    );

    // Freeing the last references releases every user_data once.
    // (A callback still running releases right after it returns.)
    wd_conversation_free(a);
    wd_conversation_free(b);
    a_probe.wait_releases(1);
    b_probe.wait_releases(1);
    drop(r);
    assert_eq!(out_probe.releases(), 1);
    assert_eq!(in_probe.releases(), 1);
    assert_eq!(a_probe.releases(), 1);
    assert_eq!(b_probe.releases(), 1);
}

#[test]
fn cancel_and_reject_states() {
    let r = ringing();
    // Invalid reject reasons change nothing.
    for bad in [wd_reject_reason::None as u32, 3, u32::MAX] {
        assert_eq!(
            wd_incoming_invite_reject(r.incoming, bad),
            wd_result::InvalidArgument
        );
        assert!(last().starts_with("reason:"), "{}", last());
    }
    let mut status = wd_incoming_status::Failed;
    assert_eq!(wd_incoming_invite_status(r.incoming, &mut status), OK);
    assert_eq!(status, wd_incoming_status::Pending);

    let (_, out_rx) = watch_outgoing(r.outgoing);
    assert_eq!(
        wd_incoming_invite_reject(r.incoming, wd_reject_reason::Busy as u32),
        OK
    );
    assert_eq!(wd_incoming_invite_status(r.incoming, &mut status), OK);
    // A proposal until the caller's outcome is back (it may be already).
    assert!(
        matches!(
            status,
            wd_incoming_status::Rejecting | wd_incoming_status::Rejected
        ),
        "{status:?}"
    );
    assert_eq!(
        wd_incoming_invite_reject(r.incoming, wd_reject_reason::Busy as u32),
        wd_result::InvalidState
    );
    assert_eq!(
        outgoing_outcome(&out_rx).kind,
        wd_outgoing_event_kind::Rejected
    );
    let mut s = wd_outgoing_status::Pending;
    assert_eq!(wd_outgoing_invite_status(r.outgoing, &mut s), OK);
    assert_eq!(s, wd_outgoing_status::Rejected);
    let mut reason = wd_reject_reason::None;
    assert_eq!(
        wd_outgoing_invite_reject_reason(r.outgoing, &mut reason),
        OK
    );
    assert_eq!(reason, wd_reject_reason::Busy);
    assert_eq!(
        wd_outgoing_invite_cancel(r.outgoing),
        wd_result::InvalidState
    );
    assert!(last().contains("rejected"), "{}", last());

    // A fresh invite can be canceled once.
    let second = invite(r.alice, r#"{"participantId":"bob"}"#);
    assert_eq!(wd_outgoing_invite_cancel(second), OK);
    let mut s = wd_outgoing_status::Pending;
    assert_eq!(wd_outgoing_invite_status(second, &mut s), OK);
    assert_eq!(s, wd_outgoing_status::Canceled);
    assert_eq!(wd_outgoing_invite_cancel(second), wd_result::InvalidState);
    // A callback set after the outcome still hears it, once.
    let (probe, rx) = watch_outgoing(second);
    assert_eq!(outgoing_outcome(&rx).kind, wd_outgoing_event_kind::Canceled);
    wd_outgoing_invite_free(second);
    // Released: the callback cannot run any more, so whatever it heard is
    // in the channel now.
    probe.wait_releases(1);
    assert!(rx.try_recv().is_err(), "the outcome fires once");

    // Bob's client gets the second invite too (and then its cancel).
    let mut fr = wd_failure_reason::Offline;
    assert_eq!(wd_incoming_invite_failure_reason(r.incoming, &mut fr), OK);
    assert_eq!(fr, wd_failure_reason::None);
    let mut cr = wd_cancel_reason::CallerCanceled;
    assert_eq!(wd_incoming_invite_cancel_reason(r.incoming, &mut cr), OK);
    assert_eq!(cr, wd_cancel_reason::None);
}

#[test]
fn bad_strings_are_invalid_argument() {
    let mut client = ptr::null_mut();
    let bad_utf8 = b"{\"url\":\"\xff\"}\0";
    assert_eq!(
        wd_client_new(bad_utf8.as_ptr().cast(), &mut client),
        wd_result::InvalidArgument
    );
    assert_eq!(last(), "config_json: not valid UTF-8 (at byte 8)");

    let huge = c(&format!(r#"{{"url":"{}"}}"#, "x".repeat(256 * 1024)));
    assert_eq!(
        wd_client_new(huge.as_ptr(), &mut client),
        wd_result::InvalidArgument
    );
    assert_eq!(last(), "config_json: longer than 262144 bytes");

    for (json, field) in [
        (r#"{"url":5,"token":"dev:a"}"#, "url"),
        (
            r#"{"url":"ws://127.0.0.1:1","token":"dev:a","color":"red"}"#,
            "color",
        ),
        (
            r#"{"url":"ws://127.0.0.1:1","token":"dev:a","connectTimeoutMs":"x"}"#,
            "connectTimeoutMs",
        ),
        (
            r#"{"url":"ws://127.0.0.1:1","token":"dev:a","dispatch":"later"}"#,
            "dispatch",
        ),
    ] {
        let json = c(json);
        assert_eq!(
            wd_client_new(json.as_ptr(), &mut client),
            wd_result::InvalidArgument
        );
        assert!(
            last().starts_with(&format!("{field}:")),
            "{json:?}: {}",
            last()
        );
    }
    assert!(client.is_null(), "out is written only on success");

    let r = ringing();
    for (json, field) in [
        (
            r#"{"participantId":"bob","lifetimeMs":"soon"}"#,
            "lifetimeMs",
        ),
        (r#"{"participantId":"bob","userData":7}"#, "userData"),
        (r#"{"mode":"p2p"}"#, "participantId"),
    ] {
        let json = c(json);
        let mut out = ptr::null_mut();
        assert_eq!(
            wd_client_invite(r.alice, json.as_ptr(), &mut out),
            wd_result::InvalidArgument
        );
        assert!(
            last().starts_with(&format!("{field}:")),
            "{json:?}: {}",
            last()
        );
        assert!(out.is_null());
    }
    let long_user_data = c(&format!(
        r#"{{"participantId":"bob","userData":"{}"}}"#,
        "u".repeat(8 * 1024 + 1)
    ));
    let mut out = ptr::null_mut();
    assert_eq!(
        wd_client_invite(r.alice, long_user_data.as_ptr(), &mut out),
        wd_result::InvalidArgument
    );
    assert!(last().starts_with("userData:"), "{}", last());

    let bad = b"\xc3\x28\0";
    assert_eq!(
        wd_incoming_invite_accept(r.incoming, bad.as_ptr().cast(), ptr::null()),
        wd_result::InvalidArgument
    );
    assert_eq!(last(), "answer: not valid UTF-8 (at byte 0)");
    let long = c(&"d".repeat(8 * 1024 + 1));
    assert_eq!(
        wd_incoming_invite_accept(r.incoming, ptr::null(), long.as_ptr()),
        wd_result::InvalidArgument
    );
    assert_eq!(last(), "user_data: longer than 8192 bytes");
    let mut status = wd_incoming_status::Failed;
    assert_eq!(wd_incoming_invite_status(r.incoming, &mut status), OK);
    assert_eq!(status, wd_incoming_status::Pending, "nothing changed");
}

#[test]
fn connect_failures_map_to_results() {
    let server = server();
    let config = c(&format!(
        r#"{{"url":"{}","token":"not-a-token"}}"#,
        server.url()
    ));
    let mut client = ptr::null_mut();
    assert_eq!(
        wd_client_new(config.as_ptr(), &mut client),
        wd_result::Unauthorized
    );
    assert!(client.is_null());
    drop(server);
    let config = c(r#"{"url":"ws://127.0.0.1:1","token":"dev:a","connectTimeoutMs":2000}"#);
    assert_eq!(
        wd_client_new(config.as_ptr(), &mut client),
        wd_result::Network
    );
    assert!(client.is_null());
}

#[test]
fn last_error_copy_out() {
    let _ = super::result::fail(
        wd_result::InvalidArgument,
        "lifetimeMs: expected a non-negative integer",
    );
    let expected = "lifetimeMs: expected a non-negative integer";
    let mut needed = 0usize;
    // Size query.
    assert_eq!(
        wd_last_error(ptr::null_mut(), 0, &mut needed),
        wd_result::BufferTooSmall
    );
    assert_eq!(needed, expected.len() + 1);
    // Too small by one: nothing written but `needed`.
    let mut buf = vec![b'#' as c_char; expected.len()];
    needed = 0;
    assert_eq!(
        wd_last_error(buf.as_mut_ptr(), buf.len(), &mut needed),
        wd_result::BufferTooSmall
    );
    assert_eq!(needed, expected.len() + 1);
    assert!(buf.iter().all(|&b| b == b'#' as c_char));
    // Its own failures leave the detail alone.
    assert_eq!(wd_last_error(ptr::null_mut(), 3, &mut needed), NULL);
    let mut buf = vec![0 as c_char; 64];
    assert_eq!(wd_last_error(buf.as_mut_ptr(), buf.len(), &mut needed), OK);
    assert_eq!(str_out(buf.as_ptr()), expected);
    assert_eq!(needed, expected.len() + 1);
}

fn panics_with_result() -> wd_result {
    ffi_boundary! {
        if true {
            panic!("boom");
        }
        wd_result::Ok
    }
}

fn panics_with_void() {
    ffi_boundary! {
        panic!("quiet")
    }
}

fn panics_with_text() -> *const c_char {
    ffi_boundary! {
        std::panic::panic_any(42_u32)
    }
}

#[test]
fn panic_boundary_converts_panics() {
    assert_eq!(panics_with_result(), wd_result::Panic);
    assert_eq!(last(), "panic: boom");
    panics_with_void();
    assert_eq!(last(), "panic: quiet");
    assert!(!panics_with_text().is_null());
    assert_eq!(last(), "panic: unknown panic payload");
}

unsafe extern "C" fn free_conversation_on_release(user_data: *mut c_void) {
    // The release frees another reference: it must not deadlock on the
    // SDK's own bookkeeping.
    wd_conversation_free(user_data.cast());
}

#[test]
fn release_runs_exactly_once() {
    let r = ringing();
    let (a, b) = r.accept();
    // A second reference to the same conversation: the same pointer.
    let mut a2 = ptr::null_mut();
    assert_eq!(wd_outgoing_invite_conversation(r.outgoing, &mut a2), OK);
    assert_eq!(a, a2);

    let (first, _rx1) = Probe::new();
    assert_eq!(
        wd_conversation_set_callback(
            a,
            Some(on_conversation),
            first.user_data(),
            Some(release_probe)
        ),
        OK
    );
    let (second, rx2) = Probe::new();
    assert_eq!(
        wd_conversation_set_callback(
            a2,
            Some(on_conversation),
            second.user_data(),
            Some(release_probe)
        ),
        OK
    );
    assert_eq!(first.releases(), 1, "replaced");
    // Freeing one of two references keeps the callback.
    wd_conversation_free(a);
    assert_eq!(second.releases(), 0);
    assert_eq!(wd_conversation_disconnect(b), OK);
    match recv(&rx2) {
        Ev::Conversation(ptr, kind, _, _) => {
            assert_eq!(ptr, a2 as usize);
            assert_eq!(kind, wd_conversation_event_kind::ParticipantDisconnected);
        }
        other => panic!("unexpected {other:?}"),
    }
    // Clearing releases; clearing again does nothing.
    assert_eq!(
        wd_conversation_set_callback(a2, None, ptr::null_mut(), None),
        OK
    );
    // The callback may still be returning on the event thread; its
    // user_data is released right after.
    second.wait_releases(1);
    assert_eq!(
        wd_conversation_set_callback(a2, None, ptr::null_mut(), None),
        OK
    );
    assert_eq!(second.releases(), 1);

    // A release that frees another reference (here: b's last one, whose
    // own callback then releases too).
    let (third, _rx3) = Probe::new();
    assert_eq!(
        wd_conversation_set_callback(
            b,
            Some(on_conversation),
            third.user_data(),
            Some(release_probe)
        ),
        OK
    );
    assert_eq!(
        wd_conversation_set_callback(
            a2,
            Some(on_conversation),
            b.cast(),
            Some(free_conversation_on_release)
        ),
        OK
    );
    wd_conversation_free(a2);
    assert_eq!(
        third.releases(),
        1,
        "b's last reference was freed by the release"
    );

    // Freeing the client releases the invite callback once (checked when
    // `r` drops); first/second stay at one.
    drop(r);
    assert_eq!(first.releases(), 1);
    assert_eq!(second.releases(), 1);
}

unsafe extern "C" fn free_invite_in_callback(
    user_data: *mut c_void,
    invite: *mut wd_outgoing_invite,
    event: *const wd_outgoing_event,
) {
    // SAFETY: valid during the callback.
    let event = unsafe { *event };
    if event.kind == wd_outgoing_event_kind::Ringing {
        return;
    }
    // Free the app's only reference from inside its own callback; the
    // handle stays usable until the callback returns.
    wd_outgoing_invite_free(invite);
    let mut status = wd_outgoing_status::Pending;
    assert_eq!(wd_outgoing_invite_status(invite, &mut status), OK);
    send(user_data, Ev::Outgoing(invite as usize, event));
}

#[test]
fn callback_may_free_its_own_handle() {
    let r = ringing();
    let extra = invite(r.alice, r#"{"participantId":"bob"}"#);
    let (probe, rx) = Probe::new();
    assert_eq!(
        wd_outgoing_invite_set_callback(
            extra,
            Some(free_invite_in_callback),
            probe.user_data(),
            Some(release_probe)
        ),
        OK
    );
    assert_eq!(wd_outgoing_invite_cancel(extra), OK);
    match recv(&rx) {
        Ev::Outgoing(_, e) => assert_eq!(e.kind, wd_outgoing_event_kind::Canceled),
        other => panic!("unexpected {other:?}"),
    }
    probe.wait_releases(1);
}

#[test]
fn a_callback_set_after_its_client_is_freed_may_free_its_handle() {
    let server = server();
    let alice = connect(&server.url(), "alice");
    let bob = connect(&server.url(), "bob");
    let outgoing = invite(alice, r#"{"participantId":"bob"}"#);
    // The invite ends failed(network) with the client; nobody heard it.
    wd_client_free(alice);
    let (probe, rx) = Probe::new();
    let (invite_ptr, user_data) = (outgoing as usize, probe.user_data() as usize);
    // The missed event is delivered inside the set_callback call, whose
    // callback frees the app's last reference. On a thread of its own, so
    // that a hang is a failed wait, not a stuck test.
    let (done_tx, done_rx) = channel();
    std::thread::spawn(move || {
        let result = wd_outgoing_invite_set_callback(
            invite_ptr as *mut wd_outgoing_invite,
            Some(free_invite_in_callback),
            user_data as *mut c_void,
            Some(release_probe),
        );
        let _ = done_tx.send(result);
    });
    assert_eq!(
        done_rx.recv_timeout(TIMEOUT),
        Ok(OK),
        "set_callback returns"
    );
    match rx.try_recv() {
        Ok(Ev::Outgoing(_, e)) => {
            assert_eq!(e.kind, wd_outgoing_event_kind::Failed);
            assert_eq!(e.failure_reason, wd_failure_reason::Network);
        }
        other => panic!("expected the missed outcome inside the call, got {other:?}"),
    }
    probe.wait_releases(1);
    wd_client_free(bob);
}

#[test]
fn manual_dispatch_runs_callbacks_on_the_caller() {
    let server = server();
    let alice = connect_with(&server.url(), "alice", r#","dispatch":"manual""#);
    let outgoing = invite(alice, r#"{"participantId":"nobody-online"}"#);
    let (probe, rx) = watch_outgoing(outgoing);
    let deadline = Instant::now() + TIMEOUT;
    let event = loop {
        let mut n = 0usize;
        assert_eq!(wd_client_dispatch(alice, 50, &mut n), OK, "{}", last());
        if let Ok(Ev::Outgoing(_, e)) = rx.try_recv() {
            break e;
        }
        assert!(Instant::now() < deadline, "no event dispatched");
    };
    assert_eq!(event.kind, wd_outgoing_event_kind::Failed);
    assert_eq!(event.failure_reason, wd_failure_reason::Offline);
    let mut reason = wd_failure_reason::None;
    assert_eq!(wd_outgoing_invite_failure_reason(outgoing, &mut reason), OK);
    assert_eq!(reason, wd_failure_reason::Offline);
    assert_eq!(wd_client_dispatch(alice, 0, ptr::null_mut()), OK);

    assert_eq!(wd_client_disconnect(alice), OK);
    let mut state = wd_connection_state::Connected;
    assert_eq!(wd_client_connection_state(alice, &mut state), OK);
    assert_eq!(state, wd_connection_state::Disconnected);
    wd_outgoing_invite_free(outgoing);
    assert_eq!(probe.releases(), 1);
    wd_client_free(alice);
}
