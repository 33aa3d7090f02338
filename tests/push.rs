//! Waking a device that is asleep, through the client API, against real
//! `wd-signal` servers on loopback that push through the test push gateway
//! (`tests/support/push_gateway.py`, a process recording every push), and
//! two nodes routing through a real Redis: registrations, the payload
//! handed to a client made with [`Client::start`] and
//! [`Client::handle_push`], the fetch that reconciles it, and what the
//! app sees in every way an invite can end while the device wakes.

mod common;
#[path = "support/proxy.rs"]
mod proxy;
#[path = "support/services.rs"]
mod services;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{incoming_events, invites, next, outgoing_events, until_terminal};
use crossbeam_channel::{unbounded, Receiver};
use proxy::Proxy;
use serde_json::{json, Value};
use services::{have_redis, Gateway, Services};
use wd_signal::{ServerConfig, ServerHandle};
use wilddog_video::client::{
    CancelReason, Client, ClientConfig, ConnectionState, DispatchMode, Error, FailureReason,
    IncomingEvent, IncomingInvite, IncomingStatus, InviteOptions, Mode, OutgoingEvent,
    OutgoingInvite, OutgoingStatus, PushEvent, PushProvider, PushRegistration, RejectReason,
};

const APP: &str = "com.example.app.voip";
/// Nothing listens there.
const NOWHERE: &str = "ws://127.0.0.1:9";

/// A `--dev` server pushing through `gateway` (`None`: a gateway that is
/// down), on a free loopback port, optionally routing through Redis.
fn push_server(gateway: Option<&str>, broker: Option<(&str, &str)>) -> ServerHandle {
    let mut config = ServerConfig::dev();
    config.push_gateway = Some(gateway.unwrap_or("http://127.0.0.1:9").to_owned());
    if let Some((redis, node)) = broker {
        config.broker = Some(redis.to_owned());
        config.node = node.to_owned();
    }
    wd_signal::spawn(config).expect("server starts")
}

fn config(url: &str, uid: &str) -> ClientConfig {
    ClientConfig::new(url, format!("dev:{uid}"))
}

fn start(url: &str, uid: &str) -> Client {
    Client::start(config(url, uid)).expect("a valid configuration")
}

fn connect(url: &str, uid: &str) -> Client {
    Client::connect(config(url, uid)).expect("client connects")
}

fn registration(key: &str) -> PushRegistration {
    PushRegistration::new(PushProvider::Apns, APP, key)
}

/// Every push event `client` reports.
fn push_events(client: &Client) -> Receiver<PushEvent> {
    let (tx, rx) = unbounded();
    client.set_push_listener(move |event| {
        let _ = tx.send(event.clone());
    });
    rx
}

/// Every connection state `client` reports, the current one first.
fn states(client: &Client) -> Receiver<ConnectionState> {
    let (tx, rx) = unbounded();
    client.set_connection_listener(move |state| {
        let _ = tx.send(state);
    });
    rx
}

fn expect_state(rx: &Receiver<ConnectionState>, want: ConnectionState) {
    loop {
        if next(rx, "a connection state") == want {
            return;
        }
    }
}

fn registered(key: &str) -> PushEvent {
    PushEvent::Registered {
        app_id: APP.into(),
        push_key: key.into(),
    }
}

/// A device of `uid` registers `key` right after [`Client::start`] (before
/// it is connected), hears it registered, and goes away: the key then gets
/// `uid`'s pushes.
fn register_and_leave(url: &str, uid: &str, key: &str) {
    let phone = start(url, uid);
    let events = push_events(&phone);
    phone.register_push(registration(key)).unwrap();
    assert_eq!(next(&events, "registered"), registered(key));
}

/// Alice's invite to `to`, and its events.
fn call(
    alice: &Client,
    to: &str,
    options: InviteOptions,
) -> (OutgoingInvite, Receiver<OutgoingEvent>) {
    let out = alice
        .invite_to_conversation(InviteOptions {
            participant_id: to.into(),
            ..options
        })
        .expect("invite sent");
    let events = outgoing_events(&out);
    (out, events)
}

/// The payload of the push of `kind` to `key` for `out`, as the gateway
/// received it.
fn pushed(gw: &Gateway, key: &str, kind: &str, out: &OutgoingInvite) -> Value {
    gw.wait_push(key, kind, out.conversation_id())["content"].clone()
}

/// The terminal event of an incoming invite, and whether `Confirmed` came
/// first.
fn incoming_outcome(rx: &Receiver<IncomingEvent>) -> (bool, IncomingEvent) {
    match next(rx, "an incoming event") {
        IncomingEvent::Confirmed => (true, next(rx, "the incoming outcome")),
        terminal => (false, terminal),
    }
}

// ---- wd_client_start ---------------------------------------------------------

#[test]
fn start_returns_at_once_and_the_connection_shows_in_its_state() {
    let gw = Gateway::start("");
    let server = push_server(Some(&gw.url), None);
    // Unreachable, and no retries: it gives up, DISCONNECTED. No error.
    let mut lost = config(NOWHERE, "bob");
    lost.reconnect = false;
    let lost = Client::start(lost).expect("no network needed");
    let rx = states(&lost);
    expect_state(&rx, ConnectionState::Disconnected);
    assert_eq!(lost.connection_state(), ConnectionState::Disconnected);
    assert_eq!(lost.uid(), "", "no uid before a connection");

    // A token the server refuses: it gives up even with retries on.
    let mut secret = ServerConfig::dev();
    secret.dev = false;
    secret.secret = Some(b"s3cret".to_vec());
    let secret = wd_signal::spawn(secret).unwrap();
    let refused = start(&secret.url(), "bob");
    expect_state(&states(&refused), ConnectionState::Disconnected);

    let ok = start(&server.url(), "bob");
    expect_state(&states(&ok), ConnectionState::Connected);
    assert_eq!(ok.uid(), "bob");

    // Only a bad configuration is an error.
    let mut bad = config(NOWHERE, "bob");
    bad.token = String::new();
    assert!(
        matches!(Client::start(bad), Err(Error::InvalidArgument { field, .. }) if field == "token")
    );
}

// ---- the main flow -------------------------------------------------------------

#[test]
fn a_woken_client_shows_the_invite_at_once_and_answers_it() {
    let gw = Gateway::start("");
    let server = push_server(Some(&gw.url), None);
    let url = server.url();
    let alice = connect(&url, "alice");
    for (bob, early) in [("bob1", true), ("bob2", false)] {
        register_and_leave(&url, bob, "key-1");
        let (out, out_events) = call(
            &alice,
            bob,
            InviteOptions {
                user_data: Some("Video call from Alice".into()),
                offer: Some("v=0 offer".into()),
                ..InviteOptions::new(bob)
            },
        );
        let payload = pushed(&gw, "key-1", "wd.invite", &out);
        assert_eq!(
            out.status(),
            OutgoingStatus::Pending,
            "delivered by push, not offline"
        );

        let woken = start(&url, bob);
        let socket_invites = invites(&woken);
        let inv = woken.handle_push(&payload.to_string()).expect("a handle");
        // From the push alone.
        assert_eq!(inv.from(), "alice");
        assert_eq!(inv.conversation_id(), out.conversation_id());
        assert_eq!(inv.mode(), Mode::P2p);
        assert_eq!(inv.user_data(), Some("Video call from Alice"));
        assert_eq!(inv.status(), IncomingStatus::Pending);
        let events = incoming_events(&inv);
        if !early {
            assert_eq!(next(&events, "confirmed"), IncomingEvent::Confirmed);
            assert!(inv.is_confirmed());
            assert_eq!(inv.offer(), Some("v=0 offer"));
        }
        inv.accept(Some("v=0 answer"), None).unwrap();
        let seen = until_terminal(&out_events);
        assert!(
            matches!(seen.last(), Some(OutgoingEvent::Accepted { answer, .. }) if answer.answer.as_deref() == Some("v=0 answer")),
            "{seen:?}"
        );
        let (confirmed, outcome) = incoming_outcome(&events);
        assert_eq!(confirmed, early, "confirmed once, before the outcome");
        let IncomingEvent::Accepted { conversation } = outcome else {
            panic!("expected accepted, got {outcome:?}");
        };
        assert_eq!(conversation.conversation_id(), out.conversation_id());
        assert_eq!(inv.status(), IncomingStatus::Accepted);
        assert!(
            socket_invites.try_recv().is_err(),
            "the invite listener does not fire for a pushed invite"
        );
        assert!(events.try_recv().is_err());
    }
}

#[test]
fn a_push_connects_a_client_that_was_disconnected_or_gave_up() {
    let gw = Gateway::start("");
    let server = push_server(Some(&gw.url), None);
    let url = server.url();
    register_and_leave(&url, "bob", "phone");
    let alice = connect(&url, "alice");
    let (out, out_events) = call(&alice, "bob", InviteOptions::new("bob"));
    let payload = pushed(&gw, "phone", "wd.invite", &out).to_string();

    let bob = connect(&url, "bob");
    bob.disconnect();
    assert_eq!(bob.connection_state(), ConnectionState::Disconnected);
    let inv = bob.handle_push(&payload).unwrap();
    // Waking already when the call returns: read now, or heard first by a
    // listener set now, the state is no longer DISCONNECTED.
    assert_ne!(bob.connection_state(), ConnectionState::Disconnected);
    let late = states(&bob);
    let first = next(&late, "the current state");
    assert_ne!(
        first,
        ConnectionState::Disconnected,
        "a listener set after the push"
    );
    let events = incoming_events(&inv);
    if first == ConnectionState::Connecting {
        expect_state(&late, ConnectionState::Connected);
    }
    assert_eq!(next(&events, "confirmed"), IncomingEvent::Confirmed);
    inv.reject(RejectReason::Busy).unwrap();
    assert_eq!(
        until_terminal(&out_events).last(),
        Some(&OutgoingEvent::Rejected(RejectReason::Busy))
    );
    assert_eq!(
        next(&events, "rejected"),
        IncomingEvent::Rejected(RejectReason::Busy)
    );

    // Nowhere to connect to, no retries: it tries once more for the
    // push, gives up again, and the invite it cannot answer fails.
    let mut cfg = config(NOWHERE, "bob");
    cfg.reconnect = false;
    let lost = Client::start(cfg).unwrap();
    let conn = states(&lost);
    expect_state(&conn, ConnectionState::Disconnected);
    let inv = lost.handle_push(&payload).unwrap();
    expect_state(&conn, ConnectionState::Connecting);
    expect_state(&conn, ConnectionState::Disconnected);
    assert_eq!(
        next(&incoming_events(&inv), "failed"),
        IncomingEvent::Failed(FailureReason::Network)
    );
}

// ---- woken too late ------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum TooLate {
    Canceled,
    AnsweredElsewhere,
    Expired,
    CallerGone,
}

#[test]
fn an_invite_that_ended_while_the_device_woke_ends_its_handle_once() {
    let gw = Gateway::start("");
    let server = push_server(Some(&gw.url), None);
    let url = server.url();
    for (i, how) in [
        TooLate::Canceled,
        TooLate::AnsweredElsewhere,
        TooLate::Expired,
        TooLate::CallerGone,
    ]
    .into_iter()
    .enumerate()
    {
        let bob = format!("bob{i}");
        register_and_leave(&url, &bob, "phone");
        let laptop = matches!(how, TooLate::AnsweredElsewhere).then(|| connect(&url, &bob));
        let laptop_invites = laptop.as_ref().map(invites);
        let alice = connect(&url, "alice");
        let lifetime_ms = if matches!(how, TooLate::Expired) {
            1000
        } else {
            60_000
        };
        let (out, out_events) = call(&alice, &bob, common::invite_opts(&bob, lifetime_ms));
        let payload = pushed(&gw, "phone", "wd.invite", &out);
        let expected = match how {
            TooLate::Canceled => {
                out.cancel().unwrap();
                IncomingEvent::Canceled(CancelReason::CallerCanceled)
            }
            TooLate::AnsweredElsewhere => {
                let other = next(laptop_invites.as_ref().unwrap(), "the laptop's invite");
                other.accept(None, None).unwrap();
                let seen = until_terminal(&out_events);
                assert!(matches!(seen.last(), Some(OutgoingEvent::Accepted { .. })));
                IncomingEvent::Canceled(CancelReason::AnsweredElsewhere)
            }
            TooLate::Expired => {
                let seen = until_terminal(&out_events);
                assert_eq!(
                    seen.last(),
                    Some(&OutgoingEvent::Failed(FailureReason::Timeout))
                );
                IncomingEvent::Failed(FailureReason::Timeout)
            }
            TooLate::CallerGone => {
                alice.disconnect();
                IncomingEvent::Failed(FailureReason::CallerGone)
            }
        };
        // The server recorded the end: it pushed invite_ended to the phone.
        let ended = pushed(&gw, "phone", "wd.invite_ended", &out);

        let woken = start(&url, &bob);
        let socket_invites = invites(&woken);
        // As an FCM data message carries it: a string.
        let fcm = json!({ "wd_push": payload.to_string() }).to_string();
        let inv = woken.handle_push(&fcm).unwrap();
        assert_eq!(inv.from(), "alice");
        let events = incoming_events(&inv);
        assert_eq!(next(&events, "the outcome"), expected, "{how:?}");
        // The invite_ended push afterwards: the same handle, nothing new,
        // even after a round trip with the server.
        let again = woken.handle_push(&ended.to_string()).unwrap();
        assert!(again == inv);
        let pushes = push_events(&woken);
        woken.register_push(registration("phone")).unwrap();
        assert_eq!(next(&pushes, "registered"), registered("phone"));
        assert!(events.try_recv().is_err(), "{how:?}: one event");
        assert!(socket_invites.try_recv().is_err());
    }
}

// ---- invite_ended pushes, without a network --------------------------------------

fn invite_payload(invite_id: &str, from: &str) -> Value {
    json!({
        "wd": 1, "type": "invite", "invite_id": invite_id,
        "conversation_id": format!("c-{invite_id}"), "from": from, "device": "n1.1",
        "mode": "server", "time_left_ms": 60_000, "sent_at_ms": 1_796_400_000_000u64,
        "user_data": "hi",
    })
}

fn ended_payload(invite_id: &str, outcome: Value) -> Value {
    json!({
        "wd": 1, "type": "invite_ended", "invite_id": invite_id,
        "conversation_id": format!("c-{invite_id}"), "from": "alice", "outcome": outcome,
    })
}

#[test]
fn invite_ended_pushes_end_the_live_handle_or_leave_a_missed_call() {
    let client = start(NOWHERE, "bob");
    let socket_invites = invites(&client);
    let inv = client
        .handle_push(&invite_payload("i-1", "alice").to_string())
        .unwrap();
    assert_eq!(
        (inv.status(), inv.is_confirmed(), inv.mode(), inv.offer()),
        (IncomingStatus::Pending, false, Mode::Server, None)
    );
    let events = incoming_events(&inv);
    let ended = client
        .handle_push(&ended_payload("i-1", json!({ "type": "canceled" })).to_string())
        .unwrap();
    assert!(ended == inv);
    assert_eq!(
        inv.status(),
        IncomingStatus::Canceled,
        "ended when it returns"
    );
    assert_eq!(
        next(&events, "canceled"),
        IncomingEvent::Canceled(CancelReason::CallerCanceled)
    );

    for (id, outcome, expected) in [
        (
            "m-1",
            json!({ "type": "accepted", "device": "n2.9" }),
            IncomingEvent::Canceled(CancelReason::AnsweredElsewhere),
        ),
        (
            "m-2",
            json!({ "type": "rejected", "device": "n2.9", "reason": "busy" }),
            IncomingEvent::Canceled(CancelReason::AnsweredElsewhere),
        ),
        (
            "m-3",
            json!({ "type": "failed", "reason": "timeout" }),
            IncomingEvent::Failed(FailureReason::Timeout),
        ),
        (
            "m-4",
            json!({ "type": "failed", "reason": "caller_gone" }),
            IncomingEvent::Failed(FailureReason::CallerGone),
        ),
    ] {
        let missed = client
            .handle_push(&ended_payload(id, outcome).to_string())
            .unwrap();
        assert_eq!(missed.from(), "alice");
        assert_ne!(missed.status(), IncomingStatus::Pending);
        let rx = incoming_events(&missed);
        assert_eq!(next(&rx, "the missed call's event"), expected);
        // The invite push for it, later, does not ring: the same handle.
        let late = client
            .handle_push(&invite_payload(id, "alice").to_string())
            .unwrap();
        assert!(late == missed);
        assert!(rx.try_recv().is_err());
    }
    drop(client);
    assert!(events.try_recv().is_err());
    assert!(socket_invites.try_recv().is_err());
}

// ---- one invite, by socket and by push ---------------------------------------------

#[test]
fn one_invite_by_socket_and_by_push_is_one_handle() {
    let gw = Gateway::start("");
    let server = push_server(Some(&gw.url), None);
    let url = server.url();
    register_and_leave(&url, "bob", "phone");
    let tablet = connect(&url, "bob");
    let tablet_invites = invites(&tablet);
    let alice = connect(&url, "alice");
    let (out, _) = call(&alice, "bob", InviteOptions::new("bob"));
    let by_socket = next(&tablet_invites, "the invite");
    assert!(by_socket.is_confirmed());
    let payload = pushed(&gw, "phone", "wd.invite", &out);
    let by_push = tablet.handle_push(&payload.to_string()).unwrap();
    assert!(by_push == by_socket);
    let events = incoming_events(&by_push);
    out.cancel().unwrap();
    assert_eq!(
        next(&events, "canceled"),
        IncomingEvent::Canceled(CancelReason::CallerCanceled)
    );
    // A second invite, after: the invite listener heard each once.
    let (second, _) = call(&alice, "bob", InviteOptions::new("bob"));
    let inv = next(&tablet_invites, "the second invite");
    assert_eq!(inv.conversation_id(), second.conversation_id());
    second.cancel().unwrap();
    assert!(tablet_invites.try_recv().is_err());
    assert!(events.try_recv().is_err());
}

// ---- registrations ---------------------------------------------------------------

#[test]
fn registrations_are_answered_sent_again_on_reconnect_and_removed() {
    let gw = Gateway::start("");
    let server = push_server(Some(&gw.url), None);
    let proxy = Proxy::start(server.addr());
    let mut cfg = config(&format!("ws://{}", proxy.addr), "bob");
    cfg.reconnect_min = Duration::from_millis(20);
    let bob = Client::start(cfg).unwrap();
    let events = push_events(&bob);
    let conn = states(&bob);
    bob.register_push(PushRegistration {
        data: json!({ "endpoint": "http://127.0.0.1:9/p" })
            .as_object()
            .cloned(),
        ..PushRegistration::new(PushProvider::Webpush, APP, "k1")
    })
    .unwrap();
    assert_eq!(next(&events, "registered"), registered("k1"));
    expect_state(&conn, ConnectionState::Connected);
    // Sent again on the new connection (resume cuts the open ones).
    proxy.resume();
    expect_state(&conn, ConnectionState::Reconnecting);
    expect_state(&conn, ConnectionState::Connected);
    assert_eq!(next(&events, "registered again"), registered("k1"));
    bob.unregister_push(APP, "k1").unwrap();
    assert_eq!(
        next(&events, "unregistered"),
        PushEvent::Unregistered {
            app_id: APP.into(),
            push_key: "k1".into()
        }
    );
    drop(bob);
    // Neither a device nor a registration: offline.
    let alice = connect(&server.url(), "alice");
    let (_, out_events) = call(&alice, "bob", InviteOptions::new("bob"));
    assert_eq!(
        until_terminal(&out_events).last(),
        Some(&OutgoingEvent::Failed(FailureReason::Offline))
    );

    // Bad registrations name the field, and change nothing.
    let client = start(NOWHERE, "carol");
    for (bad, field) in [
        (PushRegistration::new(PushProvider::Fcm, "", "k"), "appId"),
        (
            PushRegistration::new(PushProvider::Fcm, APP, "k".repeat(600)),
            "pushKey",
        ),
        (
            PushRegistration {
                data: json!({ "x": "d".repeat(3000) }).as_object().cloned(),
                ..PushRegistration::new(PushProvider::Fcm, APP, "k")
            },
            "data",
        ),
    ] {
        assert!(
            matches!(client.register_push(bad), Err(Error::InvalidArgument { field: f, .. }) if f == field),
            "{field}"
        );
    }
    assert!(matches!(
        client.unregister_push(APP, ""),
        Err(Error::InvalidArgument { field, .. }) if field == "pushKey"
    ));
    assert!(
        PushRegistration::from_json(r#"{"provider":"pigeon","appId":"a","pushKey":"k"}"#)
            .is_err_and(
                |e| matches!(e, Error::InvalidArgument { field, .. } if field == "provider")
            )
    );
    assert!(
        PushRegistration::from_json(r#"{"provider":"fcm","appId":"a","pushKey":"k","x":1}"#)
            .is_err_and(|e| matches!(e, Error::InvalidArgument { field, .. } if field == "x"))
    );
    assert_eq!(
        PushRegistration::from_json(
            r#"{"provider":"fcm","appId":"a","pushKey":"k","data":{"y":"z"}}"#
        )
        .unwrap(),
        PushRegistration {
            data: json!({ "y": "z" }).as_object().cloned(),
            ..PushRegistration::new(PushProvider::Fcm, "a", "k")
        }
    );

    // A server that sends no pushes says so.
    let plain = common::server();
    let dave = connect(&plain.url(), "dave");
    let rx = push_events(&dave);
    dave.register_push(registration("k2")).unwrap();
    match next(&rx, "registration failed") {
        PushEvent::RegistrationFailed {
            app_id,
            push_key,
            message,
        } => {
            assert_eq!((app_id.as_str(), push_key.as_str()), (APP, "k2"));
            assert!(!message.is_empty());
        }
        other => panic!("expected registration_failed, got {other:?}"),
    }
}

#[test]
fn a_key_the_gateway_rejects_is_reported_rejected() {
    let gw = Gateway::start("--reject dead");
    let server = push_server(Some(&gw.url), None);
    let url = server.url();
    let laptop = connect(&url, "bob");
    let events = push_events(&laptop);
    let laptop_invites = invites(&laptop);
    laptop.register_push(registration("dead")).unwrap();
    assert_eq!(next(&events, "registered"), registered("dead"));
    // The key moves to another device of Bob's, which goes away: it is
    // pushed, while the laptop (which holds it too) is connected.
    register_and_leave(&url, "bob", "dead");
    let alice = connect(&url, "alice");
    let (out, _) = call(&alice, "bob", InviteOptions::new("bob"));
    next(&laptop_invites, "the invite");
    assert_eq!(
        next(&events, "rejected"),
        PushEvent::Rejected {
            app_id: APP.into(),
            push_key: "dead".into()
        }
    );
    out.cancel().unwrap();
}

#[test]
fn a_dead_gateway_leaves_live_devices_ringing() {
    let server = push_server(None, None);
    let url = server.url();
    register_and_leave(&url, "bob", "phone");
    let laptop = connect(&url, "bob");
    let laptop_invites = invites(&laptop);
    let alice = connect(&url, "alice");
    for _ in 0..3 {
        let (_, out_events) = call(&alice, "bob", InviteOptions::new("bob"));
        next(&laptop_invites, "the invite")
            .accept(None, None)
            .unwrap();
        assert!(matches!(
            until_terminal(&out_events).last(),
            Some(OutgoingEvent::Accepted { .. })
        ));
    }
}

// ---- bad payloads ------------------------------------------------------------------

#[test]
fn bad_payloads_are_refused_and_change_nothing() {
    let client = start(NOWHERE, "bob");
    let socket_invites = invites(&client);
    let inv = client
        .handle_push(&invite_payload("i-1", "alice").to_string())
        .unwrap();
    let events = incoming_events(&inv);
    let mut wrong_version = invite_payload("i-2", "alice");
    wrong_version["wd"] = json!(2);
    let mut bad_id = invite_payload("i-3", "alice");
    bad_id["invite_id"] = json!("../etc");
    let mut bad_type = invite_payload("i-4", "alice");
    bad_type["time_left_ms"] = json!("soon");
    let mut too_long = invite_payload("i-5", "alice");
    too_long["time_left_ms"] = json!(7_200_000);
    for (payload, field) in [
        ("not json".to_owned(), None),
        (r#"{"aps":{"alert":"A message"}}"#.to_owned(), Some("type")),
        (r#"{"wd":1,"type":"invite"}"#.to_owned(), None),
        (
            r#"{"wd":1,"type":"ringing","invite_id":"i-1"}"#.to_owned(),
            None,
        ),
        (wrong_version.to_string(), Some("wd")),
        (
            invite_payload("i-1", "mallory").to_string(),
            Some("invite_id"),
        ),
        (bad_id.to_string(), Some("invite_id")),
        (bad_type.to_string(), None),
        (too_long.to_string(), Some("time_left_ms")),
        (format!("[{}]", " ".repeat(40 * 1024)), None),
        ("x".repeat(300 * 1024), None),
    ] {
        let err = client.handle_push(&payload).expect_err("refused");
        let Error::InvalidArgument { field: got, .. } = &err else {
            panic!("expected invalid argument, got {err:?}");
        };
        if let Some(field) = field {
            assert_eq!(got, field, "{err}");
        }
    }
    assert_eq!(inv.status(), IncomingStatus::Pending);
    assert!(events.try_recv().is_err());
    assert!(socket_invites.try_recv().is_err());
    assert_eq!(client.live_count(), 1);
}

// ---- handle_push from inside a listener -----------------------------------------------

#[test]
fn handle_push_works_from_inside_a_listener_in_every_dispatch_mode() {
    let gw = Gateway::start("");
    let server = push_server(Some(&gw.url), None);
    let url = server.url();
    let alice = connect(&url, "alice");
    for (i, mode) in [DispatchMode::Thread, DispatchMode::Io, DispatchMode::Manual]
        .into_iter()
        .enumerate()
    {
        let bob = format!("bob{i}");
        register_and_leave(&url, &bob, "phone");
        let (out, out_events) = call(&alice, &bob, InviteOptions::new(&bob));
        let payload = pushed(&gw, "phone", "wd.invite", &out).to_string();
        let mut cfg = config(&url, &bob);
        cfg.dispatch = mode;
        let woken = Client::start(cfg).unwrap();
        let (tx, rx) = unbounded();
        let taken = Arc::new(Mutex::new(false));
        let (client, flag) = (woken.clone(), taken.clone());
        woken.set_connection_listener(move |state| {
            let mut done = flag.lock().unwrap();
            if state == ConnectionState::Connected && !*done {
                *done = true;
                let _ = tx.send(client.handle_push(&payload));
            }
        });
        let inv = if mode == DispatchMode::Manual {
            loop {
                woken.dispatch(Duration::from_millis(50)).unwrap();
                if let Ok(got) = rx.try_recv() {
                    break got;
                }
            }
        } else {
            next(&rx, "the handle from inside the listener")
        }
        .expect("a handle");
        inv.reject(RejectReason::Declined).unwrap();
        assert_eq!(
            until_terminal(&out_events).last(),
            Some(&OutgoingEvent::Rejected(RejectReason::Declined))
        );
        woken.clear_connection_listener();
    }
}

// ---- after the client is gone --------------------------------------------------------

#[test]
fn handles_from_a_push_outlive_their_client_in_every_dispatch_mode() {
    let gw = Gateway::start("");
    let server = push_server(Some(&gw.url), None);
    let url = server.url();
    register_and_leave(&url, "bob", "phone");
    let alice = connect(&url, "alice");
    let (out, _) = call(&alice, "bob", InviteOptions::new("bob"));
    let payload = pushed(&gw, "phone", "wd.invite", &out).to_string();
    for mode in [DispatchMode::Thread, DispatchMode::Io, DispatchMode::Manual] {
        let mut cfg = config(&url, "bob");
        cfg.dispatch = mode;
        // Listener set before the client goes: heard by the time the last
        // clone is dropped.
        let woken = Client::start(cfg.clone()).unwrap();
        let inv = woken.handle_push(&payload).unwrap();
        let events = incoming_events(&inv);
        drop(woken);
        let (_, outcome) = incoming_outcome(&events);
        assert_eq!(
            outcome,
            IncomingEvent::Failed(FailureReason::Network),
            "{mode:?}"
        );
        assert!(events.try_recv().is_err());
        // Listener set after: it still hears it, once.
        let woken = Client::start(cfg).unwrap();
        let inv = woken.handle_push(&payload).unwrap();
        drop(woken);
        assert_eq!(inv.status(), IncomingStatus::Failed);
        let events = incoming_events(&inv);
        let (_, outcome) = incoming_outcome(&events);
        assert_eq!(
            outcome,
            IncomingEvent::Failed(FailureReason::Network),
            "{mode:?}"
        );
        assert!(events.try_recv().is_err());
    }
    out.cancel().unwrap();
}

// ---- two nodes through Redis ---------------------------------------------------------

#[test]
fn a_device_registered_on_one_node_is_woken_on_another_through_redis() {
    if !have_redis() {
        return;
    }
    let gw = Gateway::start("");
    let redis = Services::start("wd_redis_start REDIS || exit 1", &["REDIS"]);
    let n1 = push_server(Some(&gw.url), Some((redis.var("REDIS"), "n1")));
    let n2 = push_server(Some(&gw.url), Some((redis.var("REDIS"), "n2")));
    register_and_leave(&n1.url(), "bob", "phone");
    let alice = connect(&n1.url(), "alice");
    let (out, out_events) = call(&alice, "bob", InviteOptions::new("bob"));
    let payload = pushed(&gw, "phone", "wd.invite", &out);
    let woken = start(&n2.url(), "bob");
    let inv = woken.handle_push(&payload.to_string()).unwrap();
    let events = incoming_events(&inv);
    inv.accept(None, None).unwrap();
    assert!(matches!(
        until_terminal(&out_events).last(),
        Some(OutgoingEvent::Accepted { .. })
    ));
    let (confirmed, outcome) = incoming_outcome(&events);
    assert!(confirmed);
    assert!(matches!(outcome, IncomingEvent::Accepted { .. }));

    // Canceled on n1 while a second wake-up goes to n2.
    let (out, _) = call(&alice, "bob", InviteOptions::new("bob"));
    let payload = pushed(&gw, "phone", "wd.invite", &out);
    out.cancel().unwrap();
    pushed(&gw, "phone", "wd.invite_ended", &out);
    let woken = start(&n2.url(), "bob");
    let inv: IncomingInvite = woken.handle_push(&payload.to_string()).unwrap();
    assert_eq!(
        next(&incoming_events(&inv), "canceled"),
        IncomingEvent::Canceled(CancelReason::CallerCanceled)
    );
}
