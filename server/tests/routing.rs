//! Routing, invites, caller_gone and rate limits, over real WebSockets.

mod common;

use common::*;
use std::time::Duration;
use tungstenite::Message;
use wd_protocol::{ErrorCode, FailureReason, LeaveReason, Outcome, PeerMessage, ServerMessage};

#[test]
fn delivers_to_every_device_or_to_one() {
    let server = relay_server();
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    let mut bob1 = Client::dev(&url, "bob");
    let mut bob2 = Client::dev(&url, "bob");

    alice.send_to("bob", None, ringing("i1"));
    for bob in [&mut bob1, &mut bob2] {
        let (from, device, body) = bob.expect_deliver();
        assert_eq!(
            (from.as_str(), device.as_str()),
            ("alice", alice.device.as_str())
        );
        assert_eq!(body, ringing("i1"));
    }

    alice.send_to("bob", Some(&bob2.device.clone()), ringing("only2"));
    alice.send_to("bob", None, ringing("all"));
    assert_eq!(bob2.expect_deliver().2, ringing("only2"));
    assert_eq!(bob2.expect_deliver().2, ringing("all"));
    // bob1 never saw "only2": the next thing it gets is "all".
    assert_eq!(bob1.expect_deliver().2, ringing("all"));
}

#[test]
fn sender_uid_comes_from_the_token() {
    let server = relay_server();
    let url = server.url();
    let mut mallory = Client::dev(&url, "mallory");
    let mut bob = Client::dev(&url, "bob");
    mallory.send_text(
        r#"{"type":"send","from":"alice","device":null,"to":"bob","body":{"kind":"ringing","invite_id":"i1","from":"alice"}}"#,
    );
    let (from, device, _) = bob.expect_deliver();
    assert_eq!(from, "mallory");
    assert_eq!(device, mallory.device);
}

#[test]
fn invite_to_offline_user_fails_at_once() {
    let server = relay_server();
    let mut alice = Client::dev(&server.url(), "alice");
    alice.invite("carol", "i1");
    alice.expect_invite_failed("i1", FailureReason::Offline);
    // A named device that is not connected is offline too.
    let _bob = Client::dev(&server.url(), "bob");
    alice.send_to("bob", Some("n1.9999"), invite("i2"));
    alice.expect_invite_failed("i2", FailureReason::Offline);
}

#[test]
fn messages_to_offline_users_are_dropped_silently() {
    let server = relay_server();
    let mut alice = Client::dev(&server.url(), "alice");
    let mut bob = Client::dev(&server.url(), "bob");
    alice.send_to("carol", None, ringing("i1"));
    alice.send_to("bob", None, ringing("i2"));
    assert_eq!(bob.expect_deliver().2, ringing("i2"));
    // Nothing came back to alice for carol: her next message is bob's.
    bob.send_to("alice", None, ringing("back"));
    assert_eq!(alice.expect_deliver().2, ringing("back"));
}

#[test]
fn self_and_invalid_invites_are_invalid_participant() {
    let server = relay_server();
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    let _alice2 = Client::dev(&url, "alice");
    alice.invite("alice", "i1");
    alice.expect_invite_failed("i1", FailureReason::InvalidParticipant);
    alice.invite("not a uid", "i2");
    alice.expect_invite_failed("i2", FailureReason::InvalidParticipant);
    alice.invite("", "i3");
    alice.expect_invite_failed("i3", FailureReason::InvalidParticipant);
}

#[test]
fn caller_gone_when_caller_drops_with_pending_invite() {
    let server = relay_server();
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    let mut bob1 = Client::dev(&url, "bob");
    let mut bob2 = Client::dev(&url, "bob");
    alice.invite("bob", "i1");
    bob1.expect_deliver();
    bob2.expect_deliver();
    let alice_device = alice.device.clone();
    drop(alice); // abrupt: no close handshake
    for bob in [&mut bob1, &mut bob2] {
        match bob.recv() {
            ServerMessage::CallerGone {
                from,
                device,
                invite_id,
            } => {
                assert_eq!(from, "alice");
                assert_eq!(device, alice_device);
                assert_eq!(invite_id, "i1");
            }
            other => panic!("expected caller_gone, got {other:?}"),
        }
    }
}

#[test]
fn no_caller_gone_after_outcome() {
    let server = relay_server();
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    let mut bob = Client::dev(&url, "bob");
    let mut carol = Client::dev(&url, "carol");
    alice.invite("bob", "i1");
    alice.invite("bob", "i2");
    bob.expect_deliver();
    bob.expect_deliver();
    alice.send_to(
        "bob",
        None,
        PeerMessage::Outcome {
            invite_id: "i1".into(),
            outcome: Outcome::Canceled { reason: None },
        },
    );
    assert!(matches!(
        bob.expect_deliver().2,
        PeerMessage::Outcome { .. }
    ));
    // A complete close handshake: the server has cleaned up when it returns.
    alice.close();
    match bob.recv() {
        ServerMessage::CallerGone { invite_id, .. } => assert_eq!(invite_id, "i2"),
        other => panic!("expected caller_gone for i2, got {other:?}"),
    }
    carol.send_to("bob", None, ringing("sentinel"));
    // No caller_gone for i1 came before the sentinel.
    assert_eq!(bob.expect_deliver().2, ringing("sentinel"));
}

#[test]
fn invite_rate_limit_trips() {
    let server = server_with(|c| {
        c.invite_rate_per_sec = 0;
        c.invite_burst = 2;
        c.open_relay = true;
    });
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    let mut alice2 = Client::dev(&url, "alice");
    let mut bob = Client::dev(&url, "bob");
    alice.invite("bob", "i1");
    alice2.invite("bob", "i2");
    bob.expect_deliver();
    bob.expect_deliver();
    // The bucket is per user, shared by both devices.
    alice.invite("bob", "i3");
    alice.expect_invite_failed("i3", FailureReason::RateLimited);
    alice2.invite("bob", "i4");
    alice2.expect_invite_failed("i4", FailureReason::RateLimited);
    // Other users have their own bucket; other messages are not limited.
    let mut carol = Client::dev(&url, "carol");
    carol.invite("bob", "c1");
    assert_eq!(bob.expect_deliver().0, "carol");
    alice.send_to("bob", None, ringing("r"));
    assert_eq!(bob.expect_deliver().2, ringing("r"));
}

#[test]
fn pending_invites_per_connection_are_bounded() {
    let server = server_with(|c| {
        c.max_pending_invites = 2;
        c.open_relay = true;
    });
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    let mut bob = Client::dev(&url, "bob");
    alice.invite("bob", "i1");
    alice.invite("bob", "i2");
    alice.invite("bob", "i3");
    alice.expect_invite_failed("i3", FailureReason::RateLimited);
    alice.send_to(
        "bob",
        None,
        PeerMessage::Outcome {
            invite_id: "i1".into(),
            outcome: Outcome::Failed {
                reason: FailureReason::Timeout,
            },
        },
    );
    alice.invite("bob", "i4");
    let ids: Vec<_> = (0..4)
        .map(|_| bob.expect_deliver().2.invite_id().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["i1", "i2", "i1", "i4"]);
}

#[test]
fn a_thousand_quick_invites_pass_the_default_limits() {
    let server = relay_server();
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    let mut bob = Client::dev(&url, "bob");
    for i in 0..1000 {
        let id = format!("i{i}");
        alice.invite("bob", &id);
        alice.send_to(
            "bob",
            None,
            PeerMessage::Outcome {
                invite_id: id,
                outcome: Outcome::Canceled { reason: None },
            },
        );
    }
    for i in 0..1000 {
        let (_, _, body) = bob.expect_deliver();
        assert!(matches!(body, PeerMessage::Invite { .. }));
        assert_eq!(body.invite_id().unwrap(), format!("i{i}"));
        bob.expect_deliver();
    }
}

/// A recipient that reads slowly costs the sender, not the recipient:
/// one sender holds at most its share of the recipient's queue, its
/// excess is refused to it (`error rate_limited`, one per frame), and the
/// recipient stays connected and gets every frame that was not refused.
#[test]
fn a_flood_to_a_slow_reader_is_refused_to_the_sender() {
    let server = relay_server();
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    let mut bob = Client::dev(&url, "bob");
    let big = PeerMessage::Accept {
        invite_id: "i".into(),
        answer: Some("a".repeat(60_000)),
        user_data: None,
    };
    // About 24 MB while bob does not read: far more than one sender's
    // share of his queue (1 MiB of 4 MiB), the write buffer (1 MiB) and
    // the socket buffers (at most 10 MB on Linux loopback by default).
    const SENT: usize = 400;
    for _ in 0..SENT {
        alice.send_to("bob", None, big.clone());
    }
    alice.invite("carol", "i1");
    let mut refused = 0;
    loop {
        match alice.recv() {
            ServerMessage::Error { code, .. } => {
                assert_eq!(code, ErrorCode::RateLimited);
                refused += 1;
            }
            ServerMessage::InviteFailed { invite_id, reason } => {
                assert_eq!((invite_id.as_str(), reason), ("i1", FailureReason::Offline));
                break;
            }
            other => panic!("alice got {other:?}"),
        }
    }
    assert!(refused > 0, "nothing was refused: the flood fit");
    for _ in 0..SENT - refused {
        assert_eq!(bob.expect_deliver().2, big);
    }
    // Bob is still connected, and nothing else is queued for him.
    alice.send_to("bob", None, ringing("after"));
    assert_eq!(bob.expect_deliver().2, ringing("after"));
}

/// A client that does not read for `write_timeout` is dropped.
#[test]
fn a_client_that_does_not_read_is_closed() {
    let server = server_with(|c| {
        c.open_relay = true;
        c.write_timeout = Duration::from_secs(1);
    });
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    let mut bob = Client::dev(&url, "bob");
    let big = PeerMessage::Accept {
        invite_id: "i".into(),
        answer: Some("a".repeat(60_000)),
        user_data: None,
    };
    // About 24 MB: more than the socket buffers hold while bob does not
    // read, so the server's writes to him stall.
    const SENT: usize = 400;
    for _ in 0..SENT {
        alice.send_to("bob", None, big.clone());
    }
    alice.invite("carol", "i1");
    loop {
        match alice.recv() {
            ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::RateLimited),
            ServerMessage::InviteFailed { invite_id, .. } if invite_id == "i1" => break,
            other => panic!("alice got {other:?}"),
        }
    }
    // Bob is cut off once a write to him has stalled for the write
    // timeout: wait for that (he must not read before, or the write
    // would complete), then he reads what reached his socket, then the
    // end.
    let deadline = std::time::Instant::now() + READ_TIMEOUT;
    while server.metrics().open_connections() > 1 {
        assert!(std::time::Instant::now() < deadline, "bob was not dropped");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut got = 0;
    while let Event::Msg(_) = bob.next_event() {
        got += 1;
    }
    assert!(
        got < SENT,
        "bob got all {got} frames but should have been cut off"
    );
}

/// The server relays a body as it decoded it, encoded again: whitespace,
/// field order and escapes may change, fields the protocol does not
/// define are stripped, so the field limits bound what is relayed; the
/// recipient's body decodes to what the sender meant.
#[test]
fn bodies_are_relayed_without_undefined_fields() {
    let server = relay_server();
    let mut alice = Client::dev(&server.url(), "alice");
    let mut bob = Client::dev(&server.url(), "bob");
    let bodies = [
        "{\n  \"payload\" : \"line\\nbreak \\u00e9 \\ud83d\\ude00 \\\" \\\\ }{\",\n  \"kind\":\"message\",\n  \"conversation_id\":\"c\", \"unknown\": {\"x\":[1,2,{}]}\n}",
        r#"{"kind":"message","conversation_id":"c","payload":"}],\"type\":\"welcome\"","from":"mallory","device":"x.1"}"#,
    ];
    for body in bodies {
        alice.send_text(format!(r#"{{"type":"send","to":"bob","body":{body}}}"#));
        let text = match bob.ws.read().expect("a frame") {
            Message::Text(t) => t.to_string(),
            other => panic!("expected text, got {other:?}"),
        };
        assert!(
            !text.contains("unknown") && !text.contains("mallory"),
            "{text}"
        );
        let Ok(ServerMessage::Deliver {
            from,
            device,
            body: got,
        }) = wd_protocol::decode_server(&text)
        else {
            panic!("not a deliver: {text}")
        };
        assert_eq!(
            (from.as_str(), device.as_str()),
            ("alice", alice.device.as_str())
        );
        let meant: PeerMessage = serde_json::from_str(body).unwrap();
        assert_eq!(got, meant);
    }
    // Padding with an undefined field up to the frame limit: the relayed
    // frame is the short message it carries.
    let pad = "x".repeat(wd_protocol::MAX_FRAME_LEN - 200);
    alice.send_text(format!(
        r#"{{"type":"send","to":"bob","body":{{"kind":"message","conversation_id":"c","payload":"p","pad":"{pad}"}}}}"#
    ));
    let text = match bob.ws.read().expect("a frame") {
        Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    };
    assert!(text.len() < 200, "{} bytes relayed", text.len());
    let Ok(ServerMessage::Deliver { body: got, .. }) = wd_protocol::decode_server(&text) else {
        panic!("not a deliver: {text}")
    };
    assert_eq!(
        got,
        PeerMessage::Message {
            conversation_id: "c".into(),
            payload: "p".into()
        }
    );
}

/// Alice invites bob into `c-<invite_id>` and accepts for him as his
/// caller would: both are members of that conversation on the server.
fn converse(alice: &mut Client, bob: &mut Client, invite_id: &str) {
    let to = bob.uid.clone();
    alice.invite(&to, invite_id);
    bob.expect_deliver();
    // Bob accepts, as the SDK does: the server learns from his own frame
    // that this device is in the conversation.
    let (caller, caller_device) = (alice.uid.clone(), alice.device.clone());
    bob.send_to(
        &caller,
        Some(&caller_device),
        PeerMessage::Accept {
            invite_id: invite_id.into(),
            answer: None,
            user_data: None,
        },
    );
    assert!(matches!(
        alice.expect_deliver().2,
        PeerMessage::Accept { .. }
    ));
    alice.send_to(
        &to,
        None,
        PeerMessage::Outcome {
            invite_id: invite_id.into(),
            outcome: Outcome::Accepted {
                device: bob.device.clone(),
                participants: Vec::new(),
            },
        },
    );
    assert!(matches!(
        bob.expect_deliver().2,
        PeerMessage::Outcome { .. }
    ));
}

fn message(conversation_id: &str, payload: &str) -> PeerMessage {
    PeerMessage::Message {
        conversation_id: conversation_id.into(),
        payload: payload.into(),
    }
}

#[test]
fn participant_gone_when_a_member_drops_without_leaving() {
    let server = dev_server();
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    let mut bob = Client::dev(&url, "bob");
    let mut bob2 = Client::dev(&url, "bob");
    let mut carol = Client::dev(&url, "carol");
    converse(&mut alice, &mut bob, "i1");
    bob2.expect_deliver(); // the invite reached both of bob's devices
    bob2.expect_deliver(); // and so did the outcome
    let bob_device = bob.device.clone();
    drop(bob); // abrupt: no close handshake, no leave
    assert_eq!(
        alice.recv(),
        ServerMessage::ParticipantGone {
            conversation_id: "c-i1".into(),
            uid: "bob".into(),
            device: bob_device,
            reason: LeaveReason::ConnectionLost,
        }
    );
    // Once: the next frame is bob's other device speaking, and bob's other
    // device (not a participant it could miss) and strangers hear nothing.
    bob2.send_to("alice", None, message("c-i1", "sentinel"));
    assert_eq!(alice.expect_deliver().2, message("c-i1", "sentinel"));
    alice.send_to("bob", None, message("c-i1", "to bob2"));
    assert_eq!(bob2.expect_deliver().2, message("c-i1", "to bob2"));
    converse(&mut alice, &mut carol, "i2");
    carol.send_to("alice", None, message("c-i2", "sentinel"));
    assert_eq!(alice.expect_deliver().2, message("c-i2", "sentinel"));
}

#[test]
fn participant_gone_after_a_clean_close_too() {
    let server = dev_server();
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    let mut bob = Client::dev(&url, "bob");
    converse(&mut alice, &mut bob, "i1");
    let bob_device = bob.device.clone();
    // A complete close handshake, but no `leave`: bob is gone all the same.
    bob.close();
    assert_eq!(
        alice.recv(),
        ServerMessage::ParticipantGone {
            conversation_id: "c-i1".into(),
            uid: "bob".into(),
            device: bob_device,
            reason: LeaveReason::ConnectionLost,
        }
    );
}
