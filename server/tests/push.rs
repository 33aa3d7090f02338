//! Push: registrations, pushes to a real HTTP push gateway on loopback
//! (speaking the Matrix push gateway API), the `invite_ended` push, fetching
//! a pushed invite, a slow or dead gateway, and the same flows across two
//! `wd-signal` processes routing through a real Redis.

mod cluster;
mod common;
mod gateway;

use cluster::{have_redis, Node, Redis};
use common::{invite, server_with, Client};
use gateway::{Gateway, Notification, WAIT};
use serde_json::json;
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use wd_protocol::push::MAX_PUSH_PAYLOAD_LEN;
use wd_protocol::{
    CancelReason, ClientMessage, ErrorCode, FailureReason, Mode, Outcome, PeerMessage, PushPayload,
    PushProvider, ServerMessage, UnregisterReason,
};
use wd_signal::{ServerConfig, ServerHandle};

const APP: &str = "com.example.app.voip";

fn push_server(gw: &Gateway, f: impl FnOnce(&mut ServerConfig)) -> ServerHandle {
    server_with(|c| {
        c.push_gateway = Some(gw.url.clone());
        f(c)
    })
}

/// Registers `key` for the client's user and expects it stored.
fn register(c: &mut Client, key: &str) {
    c.send(&ClientMessage::RegisterPush {
        provider: PushProvider::Webpush,
        app_id: APP.into(),
        push_key: key.into(),
        data: json!({ "endpoint": "http://127.0.0.1:9/p", "auth": "secret" })
            .as_object()
            .cloned(),
    });
    match c.recv() {
        ServerMessage::PushRegistered { app_id, push_key } => {
            assert_eq!((app_id.as_str(), push_key.as_str()), (APP, key));
        }
        other => panic!("expected push_registered, got {other:?}"),
    }
}

/// Fetches an invite; the answer (peer messages the device receives
/// meanwhile, as a connected device of the invitee, are skipped).
fn fetch(c: &mut Client, from: &str, invite_id: &str) -> ServerMessage {
    c.send(&ClientMessage::FetchInvite {
        invite_id: invite_id.into(),
        from: from.into(),
    });
    loop {
        match c.recv() {
            ServerMessage::Deliver { .. }
            | ServerMessage::CallerGone { .. }
            | ServerMessage::ParticipantGone { .. } => continue,
            answer => return answer,
        }
    }
}

/// The fetched state: (time left, outcome); panics on anything else.
fn fetched(c: &mut Client, from: &str, invite_id: &str) -> (u64, Option<Outcome>) {
    match fetch(c, from, invite_id) {
        ServerMessage::InviteState {
            invite_id: id,
            from: f,
            invite,
            time_left_ms,
            outcome,
            ..
        } => {
            assert_eq!((id.as_str(), f.as_str()), (invite_id, from));
            assert_eq!(invite.invite_id(), Some(invite_id));
            (time_left_ms, outcome)
        }
        other => panic!("expected invite_state, got {other:?}"),
    }
}

fn expect_not_found(c: &mut Client, from: &str, invite_id: &str) {
    match fetch(c, from, invite_id) {
        ServerMessage::FetchFailed {
            invite_id: id,
            code,
        } => {
            assert_eq!((id.as_str(), code), (invite_id, ErrorCode::NotFound));
        }
        other => panic!("expected fetch_failed not_found, got {other:?}"),
    }
}

fn invite_with(invite_id: &str, lifetime_ms: u64, user_data: Option<String>) -> PeerMessage {
    PeerMessage::Invite {
        invite_id: invite_id.into(),
        conversation_id: format!("c-{invite_id}"),
        mode: Mode::Server,
        user_data,
        offer: Some("v=0 offer".into()),
        lifetime_ms,
    }
}

fn outcome(invite_id: &str, outcome: Outcome) -> PeerMessage {
    PeerMessage::Outcome {
        invite_id: invite_id.into(),
        outcome,
    }
}

fn ended_outcome(n: &Notification) -> Outcome {
    match n.payload() {
        PushPayload::InviteEnded { outcome, .. } => outcome,
        other => panic!("expected an invite_ended payload, got {other:?}"),
    }
}

/// Waits (bounded) until the metric line named `name` (with its labels)
/// has a value `ok` accepts; returns it.
fn wait_metric(server: &ServerHandle, name: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = metric(&server.metrics().encode(), name);
        if ok(v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{name} stayed at {v}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_sleeping_callee_is_pushed_and_can_fetch_the_invite() {
    let gw = Gateway::start();
    let server = push_server(&gw, |_| {});
    let mut phone = Client::dev(&server.url(), "bob");
    register(&mut phone, "bob-phone");
    phone.close();
    let mut alice = Client::dev(&server.url(), "alice");
    alice.send_to(
        "bob",
        None,
        invite_with("i1", 60_000, Some("Video call".into())),
    );
    let n = gw.next_about("wd.invite", "i1");
    assert_eq!(n.keys(), ["bob-phone"]);
    assert_eq!(n.field("room_id"), "c-i1");
    assert_eq!(n.field("sender"), "alice");
    assert_eq!(n.field("prio"), "high");
    let device = &n.field("devices")[0];
    assert_eq!(device["app_id"], APP);
    assert_eq!(device["data"]["endpoint"], "http://127.0.0.1:9/p");
    let payload = n.payload();
    assert_eq!(n.device_payload(0), payload);
    match payload {
        PushPayload::Invite {
            wd,
            invite_id,
            conversation_id,
            from,
            device,
            mode,
            time_left_ms,
            user_data,
            user_data_omitted,
            ..
        } => {
            assert_eq!(wd, 1);
            assert_eq!(
                (invite_id.as_str(), conversation_id.as_str()),
                ("i1", "c-i1")
            );
            assert_eq!(
                (from.as_str(), device.as_str()),
                ("alice", alice.device.as_str())
            );
            assert_eq!(mode, Mode::Server);
            assert!(time_left_ms > 0 && time_left_ms <= 60_000, "{time_left_ms}");
            assert_eq!(user_data.as_deref(), Some("Video call"));
            assert!(!user_data_omitted);
        }
        other => panic!("expected an invite payload, got {other:?}"),
    }
    // The woken device fetches it: pending, with its offer and time left.
    let mut woken = Client::dev(&server.url(), "bob");
    match fetch(&mut woken, "alice", "i1") {
        ServerMessage::InviteState {
            device,
            invite,
            time_left_ms,
            outcome,
            ..
        } => {
            assert_eq!(device, alice.device);
            assert_eq!(
                *invite,
                invite_with("i1", 60_000, Some("Video call".into()))
            );
            assert!(time_left_ms > 0 && time_left_ms <= 60_000);
            assert_eq!(outcome, None);
        }
        other => panic!("expected invite_state, got {other:?}"),
    }
    // It answers like any invitee; the caller's outcome ends it for the
    // fetch too, and no invite_ended goes to the device that answered.
    register(&mut woken, "bob-phone");
    woken.send_to(
        "alice",
        Some(&alice.device.clone()),
        PeerMessage::Accept {
            invite_id: "i1".into(),
            answer: Some("v=0 answer".into()),
            user_data: None,
        },
    );
    let (_, _, body) = alice.expect_deliver();
    assert!(matches!(body, PeerMessage::Accept { .. }));
    let accepted = Outcome::Accepted {
        device: woken.device.clone(),
        participants: vec![],
    };
    alice.send_to("bob", None, outcome("i1", accepted.clone()));
    let (_, _, body) = woken.expect_deliver();
    assert!(matches!(body, PeerMessage::Outcome { .. }));
    let state = fetched(&mut woken, "alice", "i1");
    assert_eq!(state, (0, Some(accepted)));
    // The next push is the next invite's, not an invite_ended for i1.
    woken.close();
    alice.send_to("bob", None, invite("i2"));
    let next = gw.next();
    assert_eq!(
        (next.kind(), next.field("event_id")),
        ("wd.invite", &json!("i2"))
    );
}

#[test]
fn an_invite_to_nobody_reachable_still_fails_offline() {
    let gw = Gateway::start();
    let server = push_server(&gw, |_| {});
    let mut alice = Client::dev(&server.url(), "alice");
    alice.invite("nobody", "i1");
    alice.expect_invite_failed("i1", FailureReason::Offline);
    // Unregistered: offline again.
    let mut bob = Client::dev(&server.url(), "bob");
    register(&mut bob, "k1");
    bob.send(&ClientMessage::UnregisterPush {
        app_id: APP.into(),
        push_key: "k1".into(),
    });
    match bob.recv() {
        ServerMessage::PushUnregistered {
            push_key, reason, ..
        } => assert_eq!(
            (push_key.as_str(), reason),
            ("k1", UnregisterReason::Requested)
        ),
        other => panic!("expected push_unregistered, got {other:?}"),
    }
    bob.close();
    alice.invite("bob", "i2");
    alice.expect_invite_failed("i2", FailureReason::Offline);
}

#[test]
fn canceled_answered_elsewhere_expired_and_caller_gone_reach_the_pushed_device() {
    let gw = Gateway::start();
    let server = push_server(&gw, |_| {});
    let mut phone = Client::dev(&server.url(), "bob");
    register(&mut phone, "bob-phone");
    phone.close();
    let laptop = Client::dev(&server.url(), "bob");
    let mut alice = Client::dev(&server.url(), "alice");
    let mut woken = Client::dev(&server.url(), "bob");

    // Canceled while the phone wakes.
    alice.send_to("bob", None, invite("i-cancel"));
    assert_eq!(gw.next_about("wd.invite", "i-cancel").keys(), ["bob-phone"]);
    let canceled = Outcome::Canceled {
        reason: Some(CancelReason::CallerCanceled),
    };
    alice.send_to("bob", None, outcome("i-cancel", canceled.clone()));
    let n = gw.next_about("wd.invite_ended", "i-cancel");
    assert_eq!(n.keys(), ["bob-phone"]);
    assert_eq!(ended_outcome(&n), canceled);
    assert_eq!(
        fetched(&mut woken, "alice", "i-cancel"),
        (0, Some(canceled))
    );

    // Answered on the laptop while the phone wakes.
    alice.send_to("bob", None, invite("i-else"));
    gw.next_about("wd.invite", "i-else");
    let accepted = Outcome::Accepted {
        device: laptop.device.clone(),
        participants: vec![],
    };
    alice.send_to("bob", None, outcome("i-else", accepted.clone()));
    let n = gw.next_about("wd.invite_ended", "i-else");
    assert_eq!(ended_outcome(&n), accepted);
    assert_eq!(fetched(&mut woken, "alice", "i-else"), (0, Some(accepted)));

    // Nobody answers before it expires.
    alice.send_to("bob", None, invite_with("i-expire", 200, None));
    gw.next_about("wd.invite", "i-expire");
    let n = gw.next_about("wd.invite_ended", "i-expire");
    let timeout = Outcome::Failed {
        reason: FailureReason::Timeout,
    };
    assert_eq!(ended_outcome(&n), timeout);
    assert_eq!(fetched(&mut woken, "alice", "i-expire"), (0, Some(timeout)));

    // The caller goes away while it rings.
    alice.send_to("bob", None, invite("i-gone"));
    gw.next_about("wd.invite", "i-gone");
    alice.close();
    let n = gw.next_about("wd.invite_ended", "i-gone");
    let gone = Outcome::Failed {
        reason: FailureReason::CallerGone,
    };
    assert_eq!(ended_outcome(&n), gone);
    assert_eq!(fetched(&mut woken, "alice", "i-gone"), (0, Some(gone)));
    drop(laptop);
}

#[test]
fn only_a_device_of_the_invitee_may_fetch() {
    let gw = Gateway::start();
    let server = push_server(&gw, |_| {});
    let mut phone = Client::dev(&server.url(), "bob");
    register(&mut phone, "bob-phone");
    phone.close();
    let mut alice = Client::dev(&server.url(), "alice");
    alice.send_to("bob", None, invite("i1"));
    gw.next_about("wd.invite", "i1");
    let mut mallory = Client::dev(&server.url(), "mallory");
    expect_not_found(&mut mallory, "alice", "i1");
    expect_not_found(&mut alice, "alice", "i1");
    let mut bob = Client::dev(&server.url(), "bob");
    expect_not_found(&mut bob, "mallory", "i1");
    expect_not_found(&mut bob, "alice", "i-unknown");
    assert_eq!(fetched(&mut bob, "alice", "i1").1, None);
    // An invite to live devices alone is not stored.
    let mut carol = Client::dev(&server.url(), "carol");
    alice.send_to("carol", None, invite("i2"));
    carol.expect_deliver();
    expect_not_found(&mut carol, "alice", "i2");
    // A malformed fetch is a malformed frame.
    bob.send_text(r#"{"type":"fetch_invite","invite_id":"../x","from":"alice"}"#);
    bob.expect_error(ErrorCode::Malformed);
}

#[test]
fn a_woken_device_that_answers_gets_no_invite_ended_but_the_others_do() {
    let gw = Gateway::start();
    let server = push_server(&gw, |_| {});
    let mut phone = Client::dev(&server.url(), "bob");
    register(&mut phone, "bob-phone");
    phone.close();
    let mut tablet = Client::dev(&server.url(), "bob");
    register(&mut tablet, "bob-tablet");
    tablet.close();
    let mut alice = Client::dev(&server.url(), "alice");
    alice.send_to("bob", None, invite("i1"));
    let mut keys = gw.next_about("wd.invite", "i1").keys();
    keys.sort();
    assert_eq!(keys, ["bob-phone", "bob-tablet"]);
    // The phone wakes, registers again from its new connection, rejects.
    let mut woken = Client::dev(&server.url(), "bob");
    register(&mut woken, "bob-phone");
    assert_eq!(fetched(&mut woken, "alice", "i1").1, None);
    let rejected = Outcome::Rejected {
        device: woken.device.clone(),
        reason: wd_protocol::RejectReason::Busy,
    };
    alice.send_to("bob", None, outcome("i1", rejected.clone()));
    let n = gw.next_about("wd.invite_ended", "i1");
    assert_eq!(n.keys(), ["bob-tablet"], "not to the phone, which answered");
    assert_eq!(ended_outcome(&n), rejected);
}

#[test]
fn user_data_too_big_for_a_push_is_left_to_the_fetch() {
    let gw = Gateway::start();
    let server = push_server(&gw, |_| {});
    let mut phone = Client::dev(&server.url(), "bob");
    register(&mut phone, "bob-phone");
    phone.close();
    let mut alice = Client::dev(&server.url(), "alice");
    let big = "é".repeat(MAX_PUSH_PAYLOAD_LEN);
    alice.send_to("bob", None, invite_with("i1", 60_000, Some(big.clone())));
    let n = gw.next_about("wd.invite", "i1");
    assert!(n.field("content").to_string().len() <= MAX_PUSH_PAYLOAD_LEN);
    assert!(matches!(
        n.payload(),
        PushPayload::Invite {
            user_data: None,
            user_data_omitted: true,
            ..
        }
    ));
    let mut woken = Client::dev(&server.url(), "bob");
    match fetch(&mut woken, "alice", "i1") {
        ServerMessage::InviteState { invite, .. } => match *invite {
            PeerMessage::Invite { user_data, .. } => assert_eq!(user_data, Some(big)),
            other => panic!("expected the invite body, got {other:?}"),
        },
        other => panic!("expected invite_state, got {other:?}"),
    }
}

#[test]
fn registrations_outlive_the_connection_follow_the_live_device_and_are_capped() {
    let gw = Gateway::start();
    let server = push_server(&gw, |c| c.push_max_registrations = 2);
    let mut first = Client::dev(&server.url(), "bob");
    for key in ["k1", "k2", "k3"] {
        register(&mut first, key);
    }
    first.close();
    let mut alice = Client::dev(&server.url(), "alice");
    alice.send_to("bob", None, invite("i1"));
    let mut keys = gw.next_about("wd.invite", "i1").keys();
    keys.sort();
    assert_eq!(keys, ["k2", "k3"], "the least recent of three went");
    // k3's device is back and says so: it gets invites over its
    // connection, k2 still by push.
    let mut back = Client::dev(&server.url(), "bob");
    register(&mut back, "k3");
    alice.send_to("bob", None, invite("i2"));
    let (_, _, body) = back.expect_deliver();
    assert_eq!(body.invite_id(), Some("i2"));
    assert_eq!(gw.next_about("wd.invite", "i2").keys(), ["k2"]);
    // A push key belongs to one device: carol registering k2 takes it.
    let mut carol = Client::dev(&server.url(), "carol");
    register(&mut carol, "k2");
    back.close();
    alice.send_to("bob", None, invite("i3"));
    assert_eq!(gw.next_about("wd.invite", "i3").keys(), ["k3"]);
}

#[test]
fn a_key_the_gateway_rejects_is_unregistered_and_its_user_told() {
    let gw = Gateway::start();
    let server = push_server(&gw, |_| {});
    gw.reject("dead");
    let mut phone = Client::dev(&server.url(), "bob");
    register(&mut phone, "dead");
    register(&mut phone, "good");
    phone.close();
    let mut laptop = Client::dev(&server.url(), "bob");
    let mut alice = Client::dev(&server.url(), "alice");
    alice.send_to("bob", None, invite("i1"));
    let (_, _, body) = laptop.expect_deliver();
    assert_eq!(body.invite_id(), Some("i1"));
    match laptop.recv() {
        ServerMessage::PushUnregistered {
            app_id,
            push_key,
            reason,
        } => assert_eq!(
            (app_id.as_str(), push_key.as_str(), reason),
            (APP, "dead", UnregisterReason::Rejected)
        ),
        other => panic!("expected push_unregistered rejected, got {other:?}"),
    }
    let mut keys = gw.next_about("wd.invite", "i1").keys();
    keys.sort();
    assert_eq!(keys, ["dead", "good"]);
    alice.send_to("bob", None, invite("i2"));
    assert_eq!(gw.next_about("wd.invite", "i2").keys(), ["good"]);
    assert_eq!(
        metric(
            &server.metrics().encode(),
            "wd_signal_push_rejected_keys_total"
        ),
        1.0
    );
}

/// GET /metrics from the server's metrics endpoint.
fn scrape(server: &ServerHandle) -> String {
    let mut tcp = std::net::TcpStream::connect(server.metrics_addr().unwrap()).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    tcp.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn a_dead_gateway_costs_bounded_retries_and_invites_still_route() {
    let dead = format!("http://127.0.0.1:{}", cluster::free_port());
    let server = server_with(|c| {
        c.push_gateway = Some(dead);
        c.push_attempts = 2;
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    });
    let mut phone = Client::dev(&server.url(), "bob");
    register(&mut phone, "bob-phone");
    phone.close();
    let mut carol = Client::dev(&server.url(), "carol");
    let mut alice = Client::dev(&server.url(), "alice");
    for i in 0..3 {
        alice.send_to("bob", None, invite(&format!("i{i}")));
    }
    alice.send_to("carol", None, invite("to-carol"));
    let (_, _, body) = carol.expect_deliver();
    assert_eq!(body.invite_id(), Some("to-carol"));
    // Each push: two failed attempts, then dropped.
    wait_metric(
        &server,
        "wd_signal_push_dropped_total{reason=\"attempts\"}",
        |v| v == 3.0,
    );
    let text = scrape(&server);
    assert_eq!(
        metric(&text, "wd_signal_push_failed_total{reason=\"connect\"}"),
        6.0
    );
    assert_eq!(metric(&text, "wd_signal_push_queue_depth"), 0.0);
    assert_eq!(
        metric(&text, "wd_signal_push_sent_total{type=\"invite\"}"),
        0.0
    );
}

#[test]
fn a_stalled_gateway_fills_a_bounded_queue_and_routing_goes_on() {
    let gw = Gateway::start();
    let server = push_server(&gw, |c| c.push_queue = 4);
    let mut phone = Client::dev(&server.url(), "bob");
    register(&mut phone, "bob-phone");
    phone.close();
    let mut carol = Client::dev(&server.url(), "carol");
    let mut alice = Client::dev(&server.url(), "alice");
    gw.hold();
    const N: usize = 40;
    for i in 0..N {
        alice.send_to("bob", None, invite(&format!("i{i}")));
    }
    alice.send_to("carol", None, invite("to-carol"));
    let (_, _, body) = carol.expect_deliver();
    assert_eq!(
        body.invite_id(),
        Some("to-carol"),
        "routing does not wait for pushes"
    );
    // At most the queue and one push per worker are held; the rest is
    // dropped and counted.
    let held = 4 + 8;
    let dropped = wait_metric(
        &server,
        "wd_signal_push_dropped_total{reason=\"queue_full\"}",
        |v| v >= (N - held) as f64,
    );
    assert!(metric(&server.metrics().encode(), "wd_signal_push_queue_depth") <= 4.0);
    gw.release();
    let delivered = N - dropped as usize;
    for _ in 0..delivered {
        assert_eq!(gw.next().kind(), "wd.invite");
    }
    wait_metric(&server, "wd_signal_push_sent_total{type=\"invite\"}", |v| {
        v == delivered as f64
    });
    assert_eq!(
        metric(&server.metrics().encode(), "wd_signal_push_queue_depth"),
        0.0
    );
    assert!(gw.pending().is_empty());
}

#[test]
fn a_gateway_error_status_is_retried_and_a_refusal_is_not() {
    let gw = Gateway::start();
    let server = push_server(&gw, |c| c.push_attempts = 3);
    let mut phone = Client::dev(&server.url(), "bob");
    register(&mut phone, "bob-phone");
    phone.close();
    let mut alice = Client::dev(&server.url(), "alice");
    gw.set_status(Some(503));
    alice.send_to("bob", None, invite("i1"));
    wait_metric(
        &server,
        "wd_signal_push_dropped_total{reason=\"attempts\"}",
        |v| v == 1.0,
    );
    assert_eq!(
        metric(
            &server.metrics().encode(),
            "wd_signal_push_failed_total{reason=\"status\"}"
        ),
        3.0
    );
    gw.set_status(Some(400));
    alice.send_to("bob", None, invite("i2"));
    wait_metric(
        &server,
        "wd_signal_push_dropped_total{reason=\"refused\"}",
        |v| v == 1.0,
    );
    gw.set_status(None);
    alice.send_to("bob", None, invite("i3"));
    gw.next_about("wd.invite", "i3");
}

#[test]
fn without_a_gateway_push_requests_are_unsupported() {
    let server = server_with(|_| {});
    let mut bob = Client::dev(&server.url(), "bob");
    bob.send(&ClientMessage::RegisterPush {
        provider: PushProvider::Apns,
        app_id: APP.into(),
        push_key: "k".into(),
        data: None,
    });
    assert!(matches!(
        bob.recv(),
        ServerMessage::PushRegistrationFailed {
            code: ErrorCode::Unsupported,
            ..
        }
    ));
    match fetch(&mut bob, "alice", "i1") {
        ServerMessage::FetchFailed { code, .. } => assert_eq!(code, ErrorCode::Unsupported),
        other => panic!("expected fetch_failed unsupported, got {other:?}"),
    }
    bob.close();
    let mut alice = Client::dev(&server.url(), "alice");
    alice.invite("bob", "i1");
    alice.expect_invite_failed("i1", FailureReason::Offline);
}

#[test]
fn push_requests_over_the_frame_rate_get_their_own_answer() {
    let gw = Gateway::start();
    let server = push_server(&gw, |c| {
        c.message_rate_per_sec = 1;
        c.message_burst = 1;
    });
    let mut bob = Client::dev(&server.url(), "bob");
    register(&mut bob, "k1");
    bob.send(&ClientMessage::RegisterPush {
        provider: PushProvider::Fcm,
        app_id: APP.into(),
        push_key: "k2".into(),
        data: None,
    });
    assert!(matches!(
        bob.recv(),
        ServerMessage::PushRegistrationFailed {
            code: ErrorCode::RateLimited,
            ..
        }
    ));
    match fetch(&mut bob, "alice", "i1") {
        ServerMessage::FetchFailed { code, .. } => assert_eq!(code, ErrorCode::RateLimited),
        other => panic!("expected fetch_failed rate_limited, got {other:?}"),
    }
}

// ---- Two nodes through Redis -------------------------------------------

fn connect(node: &Node, uid: &str) -> Client {
    Client::dev(&node.url, uid)
}

fn push_node(redis: &Redis, name: &str, gw: &Gateway) -> Node {
    Node::start_with(Some(&redis.url()), name, &["--push-gateway", &gw.url])
}

#[test]
fn across_two_nodes_a_registration_on_one_is_pushed_from_the_other() {
    if !have_redis() {
        return;
    }
    let gw = Gateway::start();
    let redis = Redis::start();
    let (n1, n2) = (push_node(&redis, "n1", &gw), push_node(&redis, "n2", &gw));
    let mut phone = connect(&n2, "bob");
    register(&mut phone, "bob-phone");
    phone.close();
    let mut live = connect(&n2, "bob");
    register(&mut live, "bob-live");
    let mut alice = connect(&n1, "alice");

    // Pushed from n1 to the phone only: the other registration's device
    // is connected (to n2), and gets the invite over its connection.
    alice.send_to("bob", None, invite("i1"));
    let (_, _, body) = live.expect_deliver();
    assert_eq!(body.invite_id(), Some("i1"));
    assert_eq!(gw.next_about("wd.invite", "i1").keys(), ["bob-phone"]);
    live.close();

    // Fetched on n2, canceled on n1, fetched again on n2.
    let mut woken = connect(&n2, "bob");
    assert_eq!(fetched(&mut woken, "alice", "i1").1, None);
    let mut mallory = connect(&n2, "mallory");
    expect_not_found(&mut mallory, "alice", "i1");
    let canceled = Outcome::Canceled { reason: None };
    alice.send_to("bob", None, outcome("i1", canceled.clone()));
    let n = gw.next_about("wd.invite_ended", "i1");
    assert_eq!(ended_outcome(&n), canceled);
    assert_eq!(fetched(&mut woken, "alice", "i1"), (0, Some(canceled)));

    // Offline still means nobody at all, on any node.
    alice.invite("carol", "i2");
    alice.expect_invite_failed("i2", FailureReason::Offline);

    // The caller's node answers for the caller's death.
    alice.send_to("bob", None, invite("i3"));
    gw.next_about("wd.invite", "i3");
    alice.close();
    let n = gw.next_about("wd.invite_ended", "i3");
    let gone = Outcome::Failed {
        reason: FailureReason::CallerGone,
    };
    assert_eq!(ended_outcome(&n), gone);
    assert_eq!(fetched(&mut woken, "alice", "i3"), (0, Some(gone)));
}

#[test]
fn across_two_nodes_a_woken_device_answers_and_a_rejected_key_is_told() {
    if !have_redis() {
        return;
    }
    let gw = Gateway::start();
    gw.reject("dead");
    let redis = Redis::start();
    let (n1, n2) = (push_node(&redis, "n1", &gw), push_node(&redis, "n2", &gw));
    let mut phone = connect(&n1, "bob");
    register(&mut phone, "bob-phone");
    register(&mut phone, "dead");
    phone.close();
    let mut laptop = connect(&n2, "bob");
    let mut alice = connect(&n1, "alice");
    alice.send_to("bob", None, invite("i1"));
    let (_, _, body) = laptop.expect_deliver();
    assert_eq!(body.invite_id(), Some("i1"));
    match laptop.recv() {
        ServerMessage::PushUnregistered {
            push_key, reason, ..
        } => assert_eq!(
            (push_key.as_str(), reason),
            ("dead", UnregisterReason::Rejected)
        ),
        other => panic!("expected push_unregistered rejected, got {other:?}"),
    }
    gw.next_about("wd.invite", "i1");
    // The phone wakes on n2 and accepts; the caller on n1 decides.
    let mut woken = connect(&n2, "bob");
    register(&mut woken, "bob-phone");
    let (_, caller_device) = match fetch(&mut woken, "alice", "i1") {
        ServerMessage::InviteState { from, device, .. } => (from, device),
        other => panic!("expected invite_state, got {other:?}"),
    };
    woken.send_to(
        "alice",
        Some(&caller_device),
        PeerMessage::Accept {
            invite_id: "i1".into(),
            answer: None,
            user_data: None,
        },
    );
    let (_, _, body) = alice.expect_deliver();
    assert!(matches!(body, PeerMessage::Accept { .. }));
    let accepted = Outcome::Accepted {
        device: woken.device.clone(),
        participants: vec![],
    };
    alice.send_to("bob", None, outcome("i1", accepted.clone()));
    let (_, _, body) = woken.expect_deliver();
    assert!(matches!(body, PeerMessage::Outcome { .. }));
    assert_eq!(fetched(&mut woken, "alice", "i1"), (0, Some(accepted)));
    // The next invite goes to the phone's key only.
    alice.send_to("bob", None, invite("i2"));
    laptop.expect_deliver();
    woken.expect_deliver();
    woken.close();
    alice.send_to("bob", None, invite("i3"));
    laptop.expect_deliver();
    assert_eq!(gw.next_about("wd.invite", "i3").keys(), ["bob-phone"]);
}

// ---- Through a real Sygnal (server/tests/sygnal-e2e.sh) -----------------

/// One HTTP request a Web Push endpoint received: its head and body.
fn receive_one(listener: &std::net::TcpListener) -> (String, Vec<u8>) {
    let (mut tcp, _) = listener.accept().expect("a Web Push request");
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let (head, len) = loop {
        let n = tcp.read(&mut buf).expect("reads the request");
        assert!(n > 0, "the request ended early");
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            data.drain(..end + 4);
            break (head, len);
        }
    };
    while data.len() < len {
        let n = tcp.read(&mut buf).expect("reads the body");
        assert!(n > 0, "the body ended early");
        data.extend_from_slice(&buf[..n]);
    }
    tcp.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    (head, data)
}

#[test]
#[ignore = "needs a running Sygnal: server/tests/sygnal-e2e.sh"]
fn through_a_real_sygnal() {
    use base64::Engine;
    let (Ok(url), Ok(app)) = (
        std::env::var("WD_SYGNAL_URL"),
        std::env::var("WD_SYGNAL_APP"),
    ) else {
        panic!(
            "WD_SYGNAL_URL and WD_SYGNAL_APP name the Sygnal to use (server/tests/sygnal-e2e.sh)"
        );
    };
    let endpoint = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = server_with(|c| c.push_gateway = Some(url));
    // A Web Push subscription: the P-256 base point as its public key
    // (any valid point does: only the encrypted body's arrival is checked)
    // and a random auth secret.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let point = "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
    let point: Vec<u8> = (0..point.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&point[i..i + 2], 16).unwrap())
        .collect();
    let mut bob = Client::dev(&server.url(), "bob");
    bob.send(&ClientMessage::RegisterPush {
        provider: PushProvider::Webpush,
        app_id: app,
        push_key: b64.encode(&point),
        data: json!({
            "endpoint": format!("http://{}/push/bob", endpoint.local_addr().unwrap()),
            "auth": b64.encode([7u8; 16]),
        })
        .as_object()
        .cloned(),
    });
    assert!(matches!(bob.recv(), ServerMessage::PushRegistered { .. }));
    bob.close();
    let mut alice = Client::dev(&server.url(), "alice");
    alice.send_to("bob", None, invite("i1"));
    let (head, body) = receive_one(&endpoint);
    assert!(head.starts_with("post /push/bob"), "{head}");
    assert!(head.contains("content-encoding: aes128gcm"), "{head}");
    assert!(!body.is_empty(), "an encrypted payload");
    wait_metric(&server, "wd_signal_push_sent_total{type=\"invite\"}", |v| {
        v == 1.0
    });
}
