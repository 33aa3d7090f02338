//! The hello/welcome handshake and token checks, over real WebSockets.

mod common;

use common::*;
use std::time::Duration;
use wd_protocol::{ClientMessage, ErrorCode, ServerMessage, PROTOCOL_VERSION};
use wd_signal::{mint_token, ServerConfig};

const SECRET: &[u8] = b"test-secret";

fn signed_server(dev: bool) -> wd_signal::ServerHandle {
    wd_signal::spawn(ServerConfig {
        secret: Some(SECRET.to_vec()),
        dev,
        ..ServerConfig::dev()
    })
    .unwrap()
}

fn refused(url: &str, token: &str, code: ErrorCode) -> String {
    let mut c = Client::raw(url);
    c.hello(token);
    let detail = c.expect_error(code);
    c.expect_closed();
    detail
}

#[test]
fn hello_gets_welcome_with_unique_devices() {
    let server = dev_server();
    let a = Client::dev(&server.url(), "alice");
    let b = Client::dev(&server.url(), "alice");
    assert!(a.device.starts_with("n1."), "{}", a.device);
    assert_ne!(a.device, b.device);
    wd_protocol::validate_id("device", &a.device).unwrap();
    // Not guessable: 80 random bits in hex after the node name, not a
    // counter.
    for d in [&a.device, &b.device] {
        let random = d.strip_prefix("n1.").unwrap();
        assert_eq!(random.len(), 20, "{d}");
        assert!(random.bytes().all(|b| b.is_ascii_hexdigit()), "{d}");
    }
    assert_ne!(a.device[3..13], b.device[3..13]);
}

/// A signed token whose `exp` lies further ahead than the server's
/// maximum token lifetime (7 days by default) is refused, however well
/// signed; one within it is accepted.
#[test]
fn tokens_living_longer_than_the_maximum_are_refused() {
    let server = signed_server(false);
    let now = wd_signal::auth::now_unix();
    for exp in [u64::MAX, now + 8 * 24 * 3600] {
        let token = mint_token(SECRET, "alice", exp);
        let detail = refused(&server.url(), &token, ErrorCode::Unauthorized);
        assert!(detail.contains("lifetime"), "{detail}");
    }
    let ok = mint_token(SECRET, "alice", now + 6 * 24 * 3600);
    Client::login(&server.url(), &ok);
    // Configurable: 60 s at most.
    let strict = wd_signal::spawn(ServerConfig {
        secret: Some(SECRET.to_vec()),
        max_token_lifetime: Some(Duration::from_secs(60)),
        ..ServerConfig::dev()
    })
    .unwrap();
    let detail = refused(&strict.url(), &ok, ErrorCode::Unauthorized);
    assert!(detail.contains("lifetime"), "{detail}");
    Client::login(&strict.url(), &mint_token(SECRET, "alice", now + 60));
}

#[test]
fn node_name_prefixes_devices() {
    let server = server_with(|c| c.node = "eu-2".into());
    let a = Client::dev(&server.url(), "alice");
    assert!(a.device.starts_with("eu-2."), "{}", a.device);
}

#[test]
fn signed_token_is_accepted() {
    let server = signed_server(false);
    let token = mint_token(SECRET, "alice", wd_signal::auth::now_unix() + 60);
    let c = Client::login(&server.url(), &token);
    assert_eq!(c.uid, "alice");
}

#[test]
fn bad_expired_and_forged_tokens_are_unauthorized_and_closed() {
    let server = signed_server(false);
    let url = server.url();
    refused(&url, "garbage", ErrorCode::Unauthorized);
    refused(&url, "", ErrorCode::Unauthorized);
    let expired = mint_token(SECRET, "alice", wd_signal::auth::now_unix() - 120);
    let detail = refused(&url, &expired, ErrorCode::Unauthorized);
    assert!(detail.contains("expired"), "{detail}");
    let other_secret = mint_token(b"not-the-secret", "alice", u64::MAX / 2);
    refused(&url, &other_secret, ErrorCode::Unauthorized);
    // Keep the MAC, swap the payload for one naming someone else.
    let good = mint_token(SECRET, "alice", wd_signal::auth::now_unix() + 60);
    let mallory = mint_token(SECRET, "mallory", wd_signal::auth::now_unix() + 60);
    let forged = format!(
        "{}.{}",
        mallory.split('.').next().unwrap(),
        good.split('.').nth(1).unwrap()
    );
    let detail = refused(&url, &forged, ErrorCode::Unauthorized);
    assert!(detail.contains("signature"), "{detail}");
    // Too long a token is unauthorized too.
    refused(&url, &"x".repeat(5000), ErrorCode::Unauthorized);
}

#[test]
fn dev_token_refused_unless_dev_mode() {
    let server = signed_server(false);
    refused(&server.url(), "dev:alice", ErrorCode::Unauthorized);
    let server = signed_server(true);
    let c = Client::dev(&server.url(), "alice");
    assert_eq!(c.uid, "alice");
    let token = mint_token(SECRET, "bob", wd_signal::auth::now_unix() + 60);
    assert_eq!(Client::login(&server.url(), &token).uid, "bob");
}

#[test]
fn server_without_secret_or_dev_refuses_to_start() {
    let err = wd_signal::spawn(ServerConfig {
        dev: false,
        ..ServerConfig::dev()
    })
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("secret"), "{err}");
}

#[test]
fn wrong_version_is_unsupported_and_closed() {
    let server = dev_server();
    let mut c = Client::raw(&server.url());
    c.send(&ClientMessage::Hello {
        protocol: PROTOCOL_VERSION + 1,
        token: "dev:alice".into(),
    });
    c.expect_error(ErrorCode::UnsupportedVersion);
    c.expect_closed();
}

#[test]
fn message_before_hello_is_protocol_error_and_closed() {
    let server = dev_server();
    let mut c = Client::raw(&server.url());
    c.send_to("bob", None, ringing("i1"));
    c.expect_error(ErrorCode::Protocol);
    c.expect_closed();
}

#[test]
fn garbage_before_hello_is_malformed_and_closed() {
    let server = dev_server();
    let mut c = Client::raw(&server.url());
    c.send_text("{not json");
    c.expect_error(ErrorCode::Malformed);
    c.expect_closed();
}

#[test]
fn second_hello_is_protocol_error_and_closed() {
    let server = dev_server();
    let mut c = Client::dev(&server.url(), "alice");
    c.hello("dev:bob");
    c.expect_error(ErrorCode::Protocol);
    c.expect_closed();
}

#[test]
fn silent_connection_times_out() {
    let server = server_with(|c| c.handshake_timeout = Duration::from_millis(200));
    let mut c = Client::raw(&server.url());
    let detail = c.expect_error(ErrorCode::Protocol);
    assert!(detail.contains("hello"), "{detail}");
    c.expect_closed();
}

#[test]
fn shutdown_closes_connections() {
    let server = dev_server();
    let mut c = Client::dev(&server.url(), "alice");
    server.shutdown();
    c.expect_closed();
}

#[test]
fn welcome_is_the_first_frame() {
    let server = dev_server();
    let mut c = Client::raw(&server.url());
    c.hello("dev:alice");
    assert!(matches!(c.recv(), ServerMessage::Welcome { .. }));
}
