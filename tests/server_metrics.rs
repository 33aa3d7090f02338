//! `wd-signal`'s Prometheus endpoint after a scripted run of the real SDK
//! client: every counter the run should move matches it exactly.
//!
//! The run: alice invites bob 10 times (bob accepts), 3 times (bob
//! rejects), once (alice cancels while it rings), invites carol (offline)
//! twice, and then once more than her invite burst allows; a client with a
//! forged token is refused.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::*;
use wilddog_video::client::{Client, ClientConfig, Error, IncomingEvent, OutgoingEvent};
use wilddog_video::protocol::{FailureReason, RejectReason};

/// GETs `path` from `addr` over HTTP/1.1; returns (status line, body).
fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut tcp = TcpStream::connect(addr).expect("metrics endpoint accepts");
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// The value of the sample named exactly `series` (name plus labels), 0
/// if the exposition has no such sample.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().expect("a number"))
        })
        .unwrap_or(0.0)
}

fn invites(text: &str, outcome: &str, reason: &str) -> f64 {
    sample(
        text,
        &format!("wd_signal_invites_total{{outcome=\"{outcome}\",reason=\"{reason}\"}}"),
    )
}

#[test]
fn metrics_count_a_scripted_run_exactly() {
    let config = wd_signal::ServerConfig {
        metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        // 16 invites get through, the 17th is rate limited.
        invite_rate_per_sec: 0,
        invite_burst: 16,
        ..wd_signal::ServerConfig::dev()
    };
    let srv = wd_signal::spawn(config).expect("server starts");
    let metrics = srv.metrics_addr().expect("metrics endpoint");

    let (status, body) = http_get(metrics, "/healthz");
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(body, "ok\n");
    let (status, _) = http_get(metrics, "/nope");
    assert!(status.contains(" 404 "), "{status}");

    let alice = connect(&srv, "alice");
    let bob = connect(&srv, "bob");
    let refused = Client::connect(ClientConfig::new(srv.url(), "forged.token"));
    assert!(
        matches!(refused, Err(Error::Unauthorized(_))),
        "{refused:?}"
    );
    let bob_invites = common::invites(&bob);

    for i in 0..14 {
        let out = alice
            .invite_to_conversation(invite_opts("bob", 60_000))
            .unwrap();
        let out_rx = outgoing_events(&out);
        let inc = next(&bob_invites, "bob's invite");
        let inc_rx = incoming_events(&inc);
        assert_eq!(next(&out_rx, "ringing"), OutgoingEvent::Ringing);
        match i {
            0..10 => {
                inc.accept(Some("v=0 answer"), None).unwrap();
                assert!(matches!(
                    next(&out_rx, "accepted"),
                    OutgoingEvent::Accepted { .. }
                ));
                assert!(matches!(
                    next(&inc_rx, "accepted"),
                    IncomingEvent::Accepted { .. }
                ));
            }
            10..13 => {
                inc.reject(RejectReason::Busy).unwrap();
                assert!(matches!(
                    next(&out_rx, "rejected"),
                    OutgoingEvent::Rejected(_)
                ));
            }
            _ => {
                out.cancel().unwrap();
                assert!(matches!(
                    next(&inc_rx, "canceled"),
                    IncomingEvent::Canceled(_)
                ));
            }
        }
    }
    for _ in 0..2 {
        let out = alice
            .invite_to_conversation(invite_opts("carol", 60_000))
            .unwrap();
        let ev = until_terminal(&outgoing_events(&out));
        assert_eq!(ev, vec![OutgoingEvent::Failed(FailureReason::Offline)]);
    }
    let out = alice
        .invite_to_conversation(invite_opts("bob", 60_000))
        .unwrap();
    let ev = until_terminal(&outgoing_events(&out));
    assert_eq!(ev, vec![OutgoingEvent::Failed(FailureReason::RateLimited)]);

    // Alice's frames reach the server in the order she sent them, and it
    // counts each as it routes it: by the time her last invite was
    // answered `rate_limited`, every outcome she sent before it (the
    // rejections' among them) has been counted.
    let (status, text) = http_get(metrics, "/metrics");
    assert!(status.contains(" 200 "), "{status}");

    let expect = [
        ("wd_signal_connections_total", 2.0),
        ("wd_signal_connections_open", 2.0),
        ("wd_signal_messages_routed_total{kind=\"invite\"}", 16.0),
        ("wd_signal_messages_undelivered_total{kind=\"invite\"}", 2.0),
        ("wd_signal_messages_routed_total{kind=\"ringing\"}", 14.0),
        ("wd_signal_messages_routed_total{kind=\"accept\"}", 10.0),
        ("wd_signal_messages_routed_total{kind=\"reject\"}", 3.0),
        ("wd_signal_messages_routed_total{kind=\"outcome\"}", 14.0),
        ("wd_signal_errors_total{code=\"unauthorized\"}", 1.0),
        ("wd_signal_limits_hit_total{limit=\"invite_rate\"}", 1.0),
        ("wd_signal_limits_hit_total{limit=\"pending_invites\"}", 0.0),
        (
            "wd_signal_invite_duration_seconds_count{outcome=\"accepted\"}",
            10.0,
        ),
        (
            "wd_signal_invite_duration_seconds_count{outcome=\"rejected\"}",
            3.0,
        ),
        (
            "wd_signal_invite_duration_seconds_count{outcome=\"canceled\"}",
            1.0,
        ),
        (
            "wd_signal_invite_duration_seconds_bucket{le=\"+Inf\",outcome=\"accepted\"}",
            10.0,
        ),
        ("wd_signal_build_info{version=\"0.1.0\"}", 1.0),
    ];
    for (series, want) in expect {
        assert_eq!(sample(&text, series), want, "{series}\n{text}");
    }
    assert_eq!(invites(&text, "accepted", "none"), 10.0, "{text}");
    assert_eq!(invites(&text, "rejected", "busy"), 3.0, "{text}");
    assert_eq!(invites(&text, "canceled", "caller_canceled"), 1.0, "{text}");
    assert_eq!(invites(&text, "failed", "offline"), 2.0, "{text}");
    assert_eq!(invites(&text, "failed", "rate_limited"), 1.0, "{text}");
    let all_invites: f64 = text
        .lines()
        .filter(|l| l.starts_with("wd_signal_invites_total{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum();
    assert_eq!(
        all_invites, 17.0,
        "every invite has exactly one outcome\n{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");

    drop((alice, bob));
    srv.shutdown();
}
