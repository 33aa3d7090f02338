//! Hostile clients over loopback: each attack is refused or dropped, only
//! the attacker hears about it, and during every attack a legitimate
//! invite between two real SDK clients still completes.
//!
//! No sleeps synchronise anything here: every wait is bounded by
//! `READ_TIMEOUT`/`WAIT`, which are failure bounds.

mod common;

use common::*;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::Message;
use wd_protocol::{ErrorCode, FailureReason, Outcome, PeerMessage, ServerMessage};
use wd_signal::{mint_token, ServerConfig, ServerHandle};
use wilddog_video::client::{
    Client as Sdk, ClientConfig, IncomingEvent, IncomingInvite, IncomingStatus, InviteOptions,
    OutgoingEvent, OutgoingStatus,
};

const WAIT: Duration = Duration::from_secs(10);
const SECRET: &[u8] = b"hostile-secret";

fn sdk(url: &str, uid: &str) -> Sdk {
    Sdk::connect(ClientConfig::new(url, format!("dev:{uid}"))).expect("SDK client connects")
}

fn invites(client: &Sdk) -> Receiver<IncomingInvite> {
    let (tx, rx) = channel();
    client.set_invite_listener(move |inv| {
        let _ = tx.send(inv);
    });
    rx
}

/// Two real SDK clients, `carol` and `dave`, that have nothing to do with
/// the attack: carol invites dave, dave accepts, carol hears `accepted`.
fn legit_invite_completes(url: &str) {
    let carol = sdk(url, "carol");
    let dave = sdk(url, "dave");
    let dave_invites = invites(&dave);
    let out = carol
        .invite_to_conversation(InviteOptions::new("dave"))
        .expect("carol invites");
    let (tx, events) = channel();
    out.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    let inc = dave_invites
        .recv_timeout(WAIT)
        .expect("dave hears the invite");
    assert_eq!(inc.from(), "carol");
    inc.accept(None, None).expect("dave accepts");
    loop {
        match events
            .recv_timeout(WAIT)
            .expect("an event of carol's invite")
        {
            OutgoingEvent::Ringing => continue,
            OutgoingEvent::Accepted { .. } => break,
            other => panic!("the legitimate invite ended {other:?}"),
        }
    }
    assert_eq!(out.status(), OutgoingStatus::Accepted);
    carol.disconnect();
    dave.disconnect();
}

/// Runs `attack` on another thread while a legitimate invite completes,
/// then returns what the attack returned.
fn during<T: Send + 'static>(url: &str, attack: impl FnOnce() -> T + Send + 'static) -> T {
    let attacker = std::thread::spawn(attack);
    legit_invite_completes(url);
    attacker.join().expect("the attack thread")
}

fn signed_and_dev_server() -> ServerHandle {
    wd_signal::spawn(ServerConfig {
        secret: Some(SECRET.to_vec()),
        ..ServerConfig::dev()
    })
    .expect("server starts")
}

/// Says hello with `token` and expects `unauthorized` and the close.
fn refused(url: &str, hello: &str) -> String {
    let mut c = Client::raw(url);
    c.send_text(hello);
    let detail = c.expect_error(ErrorCode::Unauthorized);
    c.expect_closed();
    detail
}

#[test]
fn no_token_is_unauthorized() {
    let server = dev_server();
    let url = server.url();
    let mut holder = Client::raw(&url);
    let details = during(&url.clone(), move || {
        vec![
            refused(&url, r#"{"type":"hello","protocol":1}"#),
            refused(&url, r#"{"type":"hello","protocol":1,"token":null}"#),
            refused(&url, r#"{"type":"hello","protocol":1,"token":""}"#),
        ]
    });
    assert!(details[0].contains("missing token"), "{details:?}");
    // A connection that sends a message instead of hello is refused too.
    holder.send_to("bob", None, ringing("i1"));
    holder.expect_error(ErrorCode::Protocol);
    holder.expect_closed();
}

#[test]
fn bad_forged_and_expired_tokens_are_unauthorized_with_a_reason() {
    let server = signed_and_dev_server();
    let url = server.url();
    let details = during(&url.clone(), move || {
        let now = wd_signal::auth::now_unix();
        let other_secret = mint_token(b"not-the-secret", "alice", now + 60);
        let expired = mint_token(SECRET, "alice", now - 3600);
        let good = mint_token(SECRET, "alice", now + 60);
        let (_, sig) = good.split_once('.').unwrap();
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!(r#"{{"uid":"mallory","exp":{}}}"#, now + 60));
        let forged = format!("{payload}.{sig}");
        [
            "garbage".to_owned(),
            other_secret,
            forged,
            expired,
            "a.b".to_owned(),
        ]
        .map(|t| {
            refused(
                &url,
                &format!(r#"{{"type":"hello","protocol":1,"token":"{t}"}}"#),
            )
        })
    });
    assert_eq!(details[0], "malformed token");
    assert_eq!(details[1], "token signature does not match");
    assert_eq!(details[2], "token signature does not match");
    assert_eq!(details[3], "token expired");
    assert!(!details[4].is_empty());
}

#[test]
fn forged_sender_is_ignored() {
    let server = dev_server();
    let url = server.url();
    let mut bob = Client::dev(&url, "bob");
    let mut mallory = Client::dev(&url, "mallory");
    let bob_device = bob.device.clone();
    // Bob invited mallory, so mallory may answer about these invites.
    for id in ["i1", "i2", "i3"] {
        bob.invite("mallory", id);
        mallory.expect_deliver();
    }
    let got = during(&url, move || {
        // A `from` at the top level and inside the body: neither is a
        // field of the protocol, so neither reaches bob as the sender.
        mallory.send_text(
            r#"{"type":"send","to":"bob","from":"alice","body":{"kind":"ringing","invite_id":"i1","from":"alice"}}"#,
        );
        mallory.send_text(format!(
            r#"{{"type":"send","to":"bob","device":"{}","from":"alice","body":{{"kind":"ringing","invite_id":"i2"}}}}"#,
            bob_device
        ));
        mallory.send_to("bob", None, ringing("i3"));
        let mut got = Vec::new();
        loop {
            match bob.recv() {
                ServerMessage::Deliver { from, body, .. } => {
                    let last = body == ringing("i3");
                    got.push(from);
                    if last {
                        break;
                    }
                }
                other => panic!("bob got {other:?}"),
            }
        }
        got
    });
    assert!(!got.is_empty());
    assert!(got.iter().all(|f| f == "mallory"), "{got:?}");
}

#[test]
fn answering_or_cancelling_someone_elses_invite_changes_nothing() {
    let server = dev_server();
    let url = server.url();
    let alice = sdk(&url, "alice");
    let bob = sdk(&url, "bob");
    let alice_invites = invites(&alice);
    let bob_invites = invites(&bob);
    let out = alice
        .invite_to_conversation(InviteOptions::new("bob"))
        .unwrap();
    let (tx, events) = channel();
    out.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    let inc = bob_invites
        .recv_timeout(WAIT)
        .expect("bob hears the invite");
    let (tx, inc_events) = channel();
    inc.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    let id = out.invite_id().to_owned();

    let mut mallory = Client::dev(&url, "mallory");
    let forged = [
        (
            "bob",
            PeerMessage::Outcome {
                invite_id: id.clone(),
                outcome: Outcome::Canceled { reason: None },
            },
        ),
        (
            "bob",
            PeerMessage::Outcome {
                invite_id: id.clone(),
                outcome: Outcome::Accepted {
                    device: mallory.device.clone(),
                    participants: vec![],
                },
            },
        ),
        (
            "alice",
            PeerMessage::Accept {
                invite_id: id.clone(),
                answer: None,
                user_data: None,
            },
        ),
        (
            "alice",
            PeerMessage::Reject {
                invite_id: id.clone(),
                reason: Default::default(),
            },
        ),
        (
            "alice",
            PeerMessage::Outcome {
                invite_id: id.clone(),
                outcome: Outcome::Canceled { reason: None },
            },
        ),
    ];
    for (to, body) in forged {
        mallory.send_to(to, None, body);
    }
    // The server relays a sender's messages to a recipient in order, and
    // the SDK handles them in order: once alice and bob hear an invite
    // mallory sent after the forgeries, they have handled the forgeries.
    mallory.invite("alice", "m-sync-a");
    mallory.invite("bob", "m-sync-b");
    let from_mallory = alice_invites.recv_timeout(WAIT).expect("sync invite");
    assert_eq!(from_mallory.from(), "mallory");
    let from_mallory = bob_invites.recv_timeout(WAIT).expect("sync invite");
    assert_eq!(from_mallory.from(), "mallory");

    assert_eq!(out.status(), OutgoingStatus::Pending);
    assert_eq!(inc.status(), IncomingStatus::Pending);
    assert!(inc_events.try_recv().is_err(), "bob's invite changed");
    assert!(
        events.try_iter().all(|ev| ev == OutgoingEvent::Ringing),
        "alice's invite changed"
    );
    // And the real invite completes normally, during another attack-free
    // legitimate invite.
    legit_invite_completes(&url);
    inc.accept(None, None).expect("bob accepts");
    let mut seen = Vec::new();
    loop {
        let ev = events
            .recv_timeout(WAIT)
            .expect("an event of alice's invite");
        let done = ev != OutgoingEvent::Ringing;
        seen.push(ev);
        if done {
            break;
        }
    }
    assert!(
        matches!(seen.last(), Some(OutgoingEvent::Accepted { .. })),
        "{seen:?}"
    );
    assert!(matches!(
        inc_events.recv_timeout(WAIT).expect("bob's invite event"),
        IncomingEvent::Accepted { .. }
    ));
    assert_eq!(inc.status(), IncomingStatus::Accepted);
    let conv = out.conversation().expect("alice's conversation");
    assert!(
        conv.participants().iter().any(|p| p.uid == "bob"),
        "{:?}",
        conv.participants()
    );
    assert!(conv.participants().iter().all(|p| p.uid != "mallory"));
}

#[test]
fn invite_flood_is_rate_limited_for_the_flooder_only() {
    let server = server_with(|c| {
        c.invite_rate_per_sec = 1;
        c.invite_burst = 5;
    });
    let url = server.url();
    let mut mallory = Client::dev(&url, "mallory");
    let reasons = during(&url, move || {
        for i in 0..50 {
            mallory.invite("nobody", &format!("f{i}"));
        }
        let mut reasons = Vec::new();
        for _ in 0..50 {
            match mallory.recv() {
                ServerMessage::InviteFailed { reason, .. } => reasons.push(reason),
                other => panic!("mallory got {other:?}"),
            }
        }
        reasons
    });
    let limited = reasons
        .iter()
        .filter(|r| **r == FailureReason::RateLimited)
        .count();
    assert!(limited >= 40, "{reasons:?}");
    assert!(server
        .metrics()
        .encode()
        .contains("wd_signal_limits_hit_total{limit=\"invite_rate\"}"));
}

#[test]
fn message_flood_is_rate_limited_for_the_flooder_only() {
    let server = server_with(|c| {
        c.message_rate_per_sec = 1;
        c.message_burst = 10;
    });
    let url = server.url();
    let mut mallory = Client::dev(&url, "mallory");
    during(&url, move || {
        for i in 0..100 {
            mallory.send_to("nobody", None, ringing(&format!("r{i}")));
        }
        // An invite over the message rate fails as an invite.
        mallory.invite("nobody", "over");
        // Frames within the burst are refused as foreign relays (mallory
        // has no invite with nobody), the rest as over the rate.
        let mut limited = 0;
        loop {
            match mallory.recv() {
                ServerMessage::Error {
                    code: ErrorCode::RateLimited,
                    ..
                } => limited += 1,
                ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::Forbidden),
                ServerMessage::InviteFailed { invite_id, reason } => {
                    assert_eq!(invite_id, "over");
                    assert_eq!(reason, FailureReason::RateLimited);
                    break;
                }
                other => panic!("mallory got {other:?}"),
            }
        }
        assert!(limited >= 50, "{limited} rate limited");
    });
    assert!(server
        .metrics()
        .encode()
        .contains("wd_signal_limits_hit_total{limit=\"message_rate\"}"));
}

#[test]
fn devices_per_uid_are_capped() {
    let server = server_with(|c| c.max_devices_per_uid = 2);
    let url = server.url();
    let first = Client::dev(&url, "mallory");
    let _second = Client::dev(&url, "mallory");
    let url2 = url.clone();
    let detail = during(&url, move || {
        let mut third = Client::raw(&url2);
        third.hello("dev:mallory");
        let detail = third.expect_error(ErrorCode::RateLimited);
        third.expect_closed();
        detail
    });
    assert!(detail.contains("devices"), "{detail}");
    // A slot frees when a device leaves.
    first.close();
    let _third = Client::dev(&url, "mallory");
}

#[test]
fn ten_megabyte_frames_close_the_connection() {
    let server = dev_server();
    let url = server.url();
    for binary in [false, true] {
        let mut mallory = Client::dev(&url, "mallory");
        during(&url, move || {
            let payload = vec![b'x'; 10 * 1024 * 1024];
            let msg = if binary {
                Message::binary(payload)
            } else {
                Message::text(String::from_utf8(payload).unwrap())
            };
            // The server may close while this is still being written.
            let _ = mallory.ws.send(msg);
            loop {
                match mallory.next_event() {
                    Event::Closed => break,
                    Event::Msg(ServerMessage::Error { code, .. }) => {
                        assert_eq!(code, ErrorCode::TooLarge)
                    }
                    Event::Msg(other) => panic!("unexpected {other:?}"),
                }
            }
        });
    }
    // Before hello, too.
    let mut mallory = Client::raw(&url);
    during(&url, move || {
        let _ = mallory.ws.send(Message::text("y".repeat(10 * 1024 * 1024)));
        loop {
            match mallory.next_event() {
                Event::Closed => break,
                Event::Msg(ServerMessage::Error { code, .. }) => {
                    assert_eq!(code, ErrorCode::TooLarge)
                }
                Event::Msg(other) => panic!("unexpected {other:?}"),
            }
        }
    });
}

#[test]
fn deeply_nested_json_is_malformed() {
    let server = dev_server();
    let url = server.url();
    let mut mallory = Client::dev(&url, "mallory");
    let url2 = url.clone();
    let (detail, hello_detail) = during(&url, move || {
        let n = 100_000;
        let deep = format!(
            r#"{{"type":"send","to":"bob","body":{}{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        );
        mallory.send_text(deep);
        let detail = mallory.expect_error(ErrorCode::Malformed);
        // 17 levels: just over the default of 16.
        let just_over = format!(
            r#"{{"type":"send","to":"bob","body":{{"kind":"ringing","invite_id":"i","x":{}1{}}}}}"#,
            "[".repeat(15),
            "]".repeat(15)
        );
        mallory.send_text(just_over);
        mallory.expect_error(ErrorCode::Malformed);
        // Still connected: a valid message is answered.
        mallory.invite("nobody", "still-here");
        mallory.expect_invite_failed("still-here", FailureReason::Offline);
        // Before hello: refused and closed.
        let mut early = Client::raw(&url2);
        early.send_text(format!(
            r#"{{"type":"hello","protocol":1,"token":{}"dev:x"{}}}"#,
            "{\"a\":".repeat(50),
            "}".repeat(50)
        ));
        let hello_detail = early.expect_error(ErrorCode::Malformed);
        early.expect_closed();
        (detail, hello_detail)
    });
    assert!(detail.contains("nested"), "{detail}");
    assert!(hello_detail.contains("nested"), "{hello_detail}");
    assert!(server
        .metrics()
        .encode()
        .contains("wd_signal_limits_hit_total{limit=\"json_depth\"}"));
}

#[test]
fn invalid_utf8_closes_only_that_connection() {
    let server = dev_server();
    let url = server.url();
    let mut mallory = Client::dev(&url, "mallory");
    let mut early = Client::raw(&url);
    during(&url, move || {
        for c in [&mut mallory, &mut early] {
            let frame =
                Frame::message(vec![0xff, 0xfe, b'{', 0xc3], OpCode::Data(Data::Text), true);
            let _ = c.ws.send(Message::Frame(frame));
            loop {
                match c.next_event() {
                    Event::Closed => break,
                    Event::Msg(ServerMessage::Error { code, .. }) => {
                        assert_eq!(code, ErrorCode::Malformed)
                    }
                    Event::Msg(other) => panic!("unexpected {other:?}"),
                }
            }
        }
    });
}

#[test]
fn silent_connections_are_closed_after_the_handshake_timeout() {
    let timeout = Duration::from_secs(1);
    let server = server_with(|c| c.handshake_timeout = timeout);
    let url = server.url();
    let addr = server.addr();
    let started = Instant::now();
    // TCP connections that never start the WebSocket handshake, and
    // WebSocket connections that never say hello.
    let tcp: Vec<_> = (0..20)
        .map(|_| {
            let s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
            s
        })
        .collect();
    let ws: Vec<_> = (0..20).map(|_| Client::raw(&url)).collect();
    legit_invite_completes(&url);
    for mut s in tcp {
        use std::io::Read;
        let mut buf = [0u8; 64];
        // EOF (0) or a reset: either way, closed by the server.
        match s.read(&mut buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("a silent TCP client was not closed")
            }
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("the server sent {n} bytes to a silent TCP client"),
        }
    }
    for mut c in ws {
        let detail = c.expect_error(ErrorCode::Protocol);
        assert!(detail.contains("no hello"), "{detail}");
        c.expect_closed();
    }
    assert!(
        started.elapsed() < timeout + READ_TIMEOUT,
        "closed after {:?}",
        started.elapsed()
    );
    assert!(server
        .metrics()
        .encode()
        .contains("wd_signal_limits_hit_total{limit=\"handshake_timeout\"} 40"));
}

/// Every relay a third party could send about alice's invite to bob and
/// about their conversation: (recipient, body).
fn foreign_relays(
    invite_id: &str,
    conversation: &str,
    device: &str,
) -> Vec<(&'static str, PeerMessage)> {
    let id = || invite_id.to_owned();
    let conv = || conversation.to_owned();
    vec![
        ("alice", PeerMessage::Ringing { invite_id: id() }),
        (
            "alice",
            PeerMessage::Accept {
                invite_id: id(),
                answer: None,
                user_data: None,
            },
        ),
        (
            "alice",
            PeerMessage::Reject {
                invite_id: id(),
                reason: Default::default(),
            },
        ),
        ("alice", PeerMessage::Query { invite_id: id() }),
        (
            "bob",
            PeerMessage::Outcome {
                invite_id: id(),
                outcome: Outcome::Canceled { reason: None },
            },
        ),
        (
            "bob",
            PeerMessage::Outcome {
                invite_id: id(),
                outcome: Outcome::Accepted {
                    device: device.to_owned(),
                    participants: vec![],
                },
            },
        ),
        (
            "bob",
            PeerMessage::Status {
                invite_id: id(),
                state: wd_protocol::InviteState::Unknown,
            },
        ),
        (
            "bob",
            PeerMessage::Message {
                conversation_id: conv(),
                payload: "hi".into(),
            },
        ),
        (
            "alice",
            PeerMessage::Leave {
                conversation_id: conv(),
            },
        ),
        (
            "bob",
            PeerMessage::Joined {
                conversation_id: conv(),
                uid: "mallory".into(),
                device: device.to_owned(),
            },
        ),
    ]
}

/// How many of [`foreign_relays`] are about the invite (the rest are
/// about the conversation).
const ABOUT_THE_INVITE: usize = 7;

/// The server knows who is in each invite and conversation: every relay
/// about alice's invite to bob, or their conversation, from mallory is
/// refused (`error forbidden`), before and after the conversation
/// exists, and the parties hear none of it.
#[test]
fn foreign_relays_are_refused_by_the_server() {
    let server = dev_server();
    let url = server.url();
    let alice = sdk(&url, "alice");
    let bob = sdk(&url, "bob");
    let bob_invites = invites(&bob);
    let out = alice
        .invite_to_conversation(InviteOptions::new("bob"))
        .unwrap();
    let inc = bob_invites
        .recv_timeout(WAIT)
        .expect("bob hears the invite");
    let (tx, events) = channel();
    out.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    let mut mallory = Client::dev(&url, "mallory");
    let forged = foreign_relays(out.invite_id(), out.conversation_id(), &mallory.device);
    for (to, body) in &forged {
        mallory.send_to(to, None, body.clone());
    }
    for (to, body) in &forged {
        let detail = mallory.expect_error(ErrorCode::Forbidden);
        assert!(!detail.is_empty(), "{to}: {body:?}");
    }
    assert_eq!(out.status(), OutgoingStatus::Pending);
    assert_eq!(inc.status(), IncomingStatus::Pending);
    inc.accept(None, None).expect("bob accepts");
    loop {
        match events.recv_timeout(WAIT).expect("alice's invite event") {
            OutgoingEvent::Ringing => continue,
            OutgoingEvent::Accepted { .. } => break,
            other => panic!("alice's invite ended {other:?}"),
        }
    }
    // The conversation exists now; mallory is still not in it.
    for (to, body) in &forged {
        mallory.send_to(to, None, body.clone());
    }
    for _ in &forged {
        mallory.expect_error(ErrorCode::Forbidden);
    }
    assert_eq!(alice.foreign_messages(), 0);
    assert_eq!(bob.foreign_messages(), 0);
    let conv = out.conversation().expect("alice's conversation");
    assert!(conv.participants().iter().all(|p| p.uid != "mallory"));
    assert!(server
        .metrics()
        .encode()
        .contains("wd_signal_limits_hit_total{limit=\"forbidden\"}"));
}

/// Behind a server that relays anything (one that does not check who is
/// in an invite), the SDK ignores every message about an invite from
/// someone who is neither its caller nor its invitee, and counts it;
/// the invite then completes normally.
#[test]
fn the_sdk_ignores_and_counts_foreign_invite_messages() {
    let server = server_with(|c| c.open_relay = true);
    let url = server.url();
    let alice = sdk(&url, "alice");
    let bob = sdk(&url, "bob");
    let alice_invites = invites(&alice);
    let bob_invites = invites(&bob);
    let out = alice
        .invite_to_conversation(InviteOptions::new("bob"))
        .unwrap();
    let inc = bob_invites
        .recv_timeout(WAIT)
        .expect("bob hears the invite");
    let mut mallory = Client::dev(&url, "mallory");
    let forged = foreign_relays(out.invite_id(), out.conversation_id(), &mallory.device);
    let (to_alice, to_bob) = forged[..ABOUT_THE_INVITE]
        .iter()
        .fold((0, 0), |(a, b), (to, _)| {
            if *to == "alice" {
                (a + 1, b)
            } else {
                (a, b + 1)
            }
        });
    for (to, body) in &forged[..ABOUT_THE_INVITE] {
        mallory.send_to(to, None, body.clone());
    }
    // Messages from one sender reach a recipient in order, and the SDK
    // handles them in order: an invite from mallory sent after the
    // forgeries arrives once they have been handled.
    mallory.invite("alice", "m-sync-a");
    mallory.invite("bob", "m-sync-b");
    assert_eq!(alice_invites.recv_timeout(WAIT).unwrap().from(), "mallory");
    assert_eq!(bob_invites.recv_timeout(WAIT).unwrap().from(), "mallory");
    assert_eq!(alice.foreign_messages(), to_alice);
    assert_eq!(bob.foreign_messages(), to_bob);
    assert_eq!(out.status(), OutgoingStatus::Pending);
    assert_eq!(inc.status(), IncomingStatus::Pending);
    let (tx, events) = channel();
    out.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    inc.accept(None, None).expect("bob accepts");
    loop {
        match events.recv_timeout(WAIT).expect("alice's invite event") {
            OutgoingEvent::Ringing => continue,
            OutgoingEvent::Accepted { .. } => break,
            other => panic!("alice's invite ended {other:?}"),
        }
    }
}
