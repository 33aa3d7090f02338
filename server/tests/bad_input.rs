//! Bad frames get typed errors; repeated ones close the connection without
//! disturbing other clients.

mod common;

use common::*;
use tungstenite::Message;
use wd_protocol::{ErrorCode, PeerMessage, MAX_FRAME_LEN, MAX_USER_DATA_LEN};

#[test]
fn malformed_json_and_unknown_type() {
    let server = relay_server();
    let mut alice = Client::dev(&server.url(), "alice");
    alice.send_text("{oops");
    alice.expect_error(ErrorCode::Malformed);
    alice.send_text(r#"{"type":"teleport","to":"bob"}"#);
    let detail = alice.expect_error(ErrorCode::Malformed);
    assert!(detail.contains("teleport"), "{detail}");
    alice.send_text(r#"{"type":"send","to":"bob","body":{"kind":"dance"}}"#);
    alice.expect_error(ErrorCode::Malformed);
    alice.ws.send(Message::binary(vec![1, 2, 3])).unwrap();
    alice.expect_error(ErrorCode::Malformed);
}

#[test]
fn oversize_field_is_malformed_naming_the_field() {
    let server = relay_server();
    let mut alice = Client::dev(&server.url(), "alice");
    alice.send_to(
        "bob",
        None,
        PeerMessage::Accept {
            invite_id: "i1".into(),
            answer: None,
            user_data: Some("x".repeat(MAX_USER_DATA_LEN + 1)),
        },
    );
    let detail = alice.expect_error(ErrorCode::Malformed);
    assert!(detail.contains("user_data"), "{detail}");
    alice.send_to("bob", None, ringing("bad/id"));
    let detail = alice.expect_error(ErrorCode::Malformed);
    assert!(detail.contains("invite_id"), "{detail}");
}

#[test]
fn too_large_frame_is_answered_and_connection_survives() {
    let server = relay_server();
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    let mut bob = Client::dev(&url, "bob");
    alice.send_text("x".repeat(MAX_FRAME_LEN + 1));
    alice.expect_error(ErrorCode::TooLarge);
    alice.send_to("bob", None, ringing("still-here"));
    assert_eq!(bob.expect_deliver().2, ringing("still-here"));
}

#[test]
fn frame_over_the_hard_cap_closes() {
    let server = relay_server();
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    // The server may close while this is still being written.
    let _ = alice
        .ws
        .send(Message::text("x".repeat(wd_signal::HARD_FRAME_CAP + 1)));
    loop {
        match alice.next_event() {
            Event::Closed => break,
            Event::Msg(wd_protocol::ServerMessage::Error { code, .. }) => {
                assert_eq!(code, ErrorCode::TooLarge)
            }
            Event::Msg(other) => panic!("unexpected {other:?}"),
        }
    }
    // The server still serves others.
    let mut bob = Client::dev(&url, "bob");
    let mut carol = Client::dev(&url, "carol");
    carol.send_to("bob", None, ringing("ok"));
    assert_eq!(bob.expect_deliver().2, ringing("ok"));
}

#[test]
fn repeated_bad_frames_close_only_that_connection() {
    let server = relay_server();
    let url = server.url();
    let mut mallory = Client::dev(&url, "mallory");
    let mut alice = Client::dev(&url, "alice");
    let mut bob = Client::dev(&url, "bob");
    for i in 0..4 {
        mallory.send_text(format!("bad {i}"));
        mallory.expect_error(ErrorCode::Malformed);
        alice.send_to("bob", None, ringing(&format!("r{i}")));
        assert_eq!(bob.expect_deliver().2, ringing(&format!("r{i}")));
    }
    mallory.send_text("bad 5");
    mallory.expect_error(ErrorCode::Malformed);
    mallory.expect_closed();
    alice.send_to("bob", None, ringing("after"));
    assert_eq!(bob.expect_deliver().2, ringing("after"));
    bob.send_to("alice", None, ringing("back"));
    assert_eq!(alice.expect_deliver().2, ringing("back"));
}

#[test]
fn good_frames_do_not_count_as_bad() {
    let server = relay_server();
    let url = server.url();
    let mut alice = Client::dev(&url, "alice");
    let mut bob = Client::dev(&url, "bob");
    for i in 0..20 {
        if i % 5 == 0 {
            alice.send_text("nope");
            alice.expect_error(ErrorCode::Malformed);
        }
        alice.send_to("bob", None, ringing("ok"));
        bob.expect_deliver();
    }
}
