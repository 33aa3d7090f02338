//! Microbenchmarks of the SDK's hot paths: the FFI status query, creating
//! and freeing an invite through the C ABI, one engine step per message,
//! and encoding/decoding an invite. `cargo bench --bench micro`;
//! `docs/BENCHMARKS.md` has the figures.

use std::ffi::CString;
use std::hint::black_box;
use std::ptr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use wilddog_video::engine::{Engine, EngineConfig, InviteRequest};
use wilddog_video::ffi::client::{wd_client, wd_client_free, wd_client_invite, wd_client_new};
use wilddog_video::ffi::outgoing::{
    wd_outgoing_invite, wd_outgoing_invite_free, wd_outgoing_invite_status,
};
use wilddog_video::ffi::result::wd_result;
use wilddog_video::ffi::types::wd_outgoing_status;
use wilddog_video::protocol::{
    decode_client, encode, ClientMessage, Mode, Outcome, PeerMessage, RejectReason, ServerMessage,
};

fn server() -> wd_signal::ServerHandle {
    wd_signal::spawn(wd_signal::ServerConfig {
        invite_rate_per_sec: 100_000_000,
        invite_burst: 100_000_000,
        message_rate_per_sec: 0,
        ..wd_signal::ServerConfig::dev()
    })
    .expect("server starts")
}

fn client(url: &str, uid: &str) -> *mut wd_client {
    let config = CString::new(format!(r#"{{"url":"{url}","token":"dev:{uid}"}}"#)).unwrap();
    let mut client = ptr::null_mut();
    assert_eq!(wd_client_new(config.as_ptr(), &mut client), wd_result::Ok);
    client
}

fn ffi(c: &mut Criterion) {
    let server = server();
    let url = server.url();
    let alice = client(&url, "bench-alice");
    // Connected, never answers: alice's invite to it stays pending.
    let bob = client(&url, "bench-bob");
    let options = CString::new(r#"{"participantId":"bench-bob","lifetimeMs":3600000}"#).unwrap();
    let mut invite: *mut wd_outgoing_invite = ptr::null_mut();
    assert_eq!(
        wd_client_invite(alice, options.as_ptr(), &mut invite),
        wd_result::Ok
    );

    let mut g = c.benchmark_group("ffi");
    g.bench_function("wd_outgoing_invite_status", |b| {
        let mut status = wd_outgoing_status::Failed;
        b.iter(|| {
            let r = wd_outgoing_invite_status(black_box(invite), &mut status);
            black_box((r, status))
        })
    });
    // To a user who is not connected: the server answers `offline`, so
    // nothing accumulates; the create itself is local (the frame is
    // queued for the I/O thread, which sends it meanwhile).
    let nobody = CString::new(r#"{"participantId":"bench-nobody"}"#).unwrap();
    g.bench_function("wd_client_invite+wd_outgoing_invite_free", |b| {
        b.iter(|| {
            let mut inv = ptr::null_mut();
            let r = wd_client_invite(alice, nobody.as_ptr(), &mut inv);
            debug_assert_eq!(r, wd_result::Ok);
            wd_outgoing_invite_free(black_box(inv));
        })
    });
    g.finish();
    wd_outgoing_invite_free(invite);
    wd_client_free(alice);
    wd_client_free(bob);
    server.shutdown();
}

fn deliver(from: &str, device: &str, body: PeerMessage) -> ServerMessage {
    ServerMessage::Deliver {
        from: from.into(),
        device: device.into(),
        body,
    }
}

fn invite_body(id: &str) -> PeerMessage {
    PeerMessage::Invite {
        invite_id: id.into(),
        conversation_id: format!("c{id}"),
        mode: Mode::P2p,
        user_data: None,
        offer: None,
        lifetime_ms: 60_000,
    }
}

fn drain(engine: &mut Engine) {
    while let Some(m) = engine.poll_transmit() {
        black_box(m);
    }
    while let Some(e) = engine.poll_event() {
        black_box(e);
    }
}

fn engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    // Callee: an invite arrives (→ ringing sent, IncomingReceived), then
    // the caller's cancel outcome (→ IncomingCanceled). Two messages.
    g.throughput(Throughput::Elements(2));
    g.bench_function("callee_invite_then_outcome", |b| {
        let mut engine = Engine::new(EngineConfig::default());
        engine.handle_connected("bob", "n1.2");
        let mut n = 0u64;
        b.iter_batched(
            || {
                n += 1;
                let id = format!("{n:x}");
                (
                    deliver("alice", "n1.1", invite_body(&id)),
                    deliver(
                        "alice",
                        "n1.1",
                        PeerMessage::Outcome {
                            invite_id: id,
                            outcome: Outcome::Canceled { reason: None },
                        },
                    ),
                )
            },
            |(invite, outcome)| {
                let now = Instant::now();
                engine.handle_message(invite, now);
                drain(&mut engine);
                engine.handle_message(outcome, now);
                drain(&mut engine);
            },
            BatchSize::SmallInput,
        )
    });
    // Caller: invite (→ invite sent), ringing arrives (→ OutgoingRinging),
    // reject arrives (→ outcome sent, OutgoingRejected). Three inputs.
    g.throughput(Throughput::Elements(3));
    g.bench_function("caller_invite_ringing_reject", |b| {
        let mut engine = Engine::new(EngineConfig::default());
        engine.handle_connected("alice", "n1.1");
        let mut n = 0u64;
        b.iter_batched(
            || {
                n += 1;
                let id = format!("{n:x}");
                (
                    InviteRequest {
                        to: "bob".into(),
                        invite_id: id.clone(),
                        conversation_id: format!("c{id}"),
                        mode: Mode::P2p,
                        user_data: None,
                        offer: None,
                        lifetime_ms: 60_000,
                    },
                    deliver(
                        "bob",
                        "n1.2",
                        PeerMessage::Ringing {
                            invite_id: id.clone(),
                        },
                    ),
                    deliver(
                        "bob",
                        "n1.2",
                        PeerMessage::Reject {
                            invite_id: id,
                            reason: RejectReason::Busy,
                        },
                    ),
                )
            },
            |(req, ringing, reject)| {
                let now = Instant::now();
                engine.invite(req, now).expect("valid invite");
                drain(&mut engine);
                engine.handle_message(ringing, now);
                drain(&mut engine);
                engine.handle_message(reject, now);
                drain(&mut engine);
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn codec(c: &mut Criterion) {
    let small = ClientMessage::Send {
        to: "bob".into(),
        device: None,
        body: invite_body("0123456789abcdef0123456789abcdef"),
    };
    // A typical audio+video offer is 2 to 6 KiB of SDP.
    let sdp = "a=candidate:1 1 udp 2122260223 192.0.2.10 54400 typ host\r\n".repeat(48);
    let with_offer = ClientMessage::Send {
        to: "bob".into(),
        device: None,
        body: PeerMessage::Invite {
            invite_id: "0123456789abcdef0123456789abcdef".into(),
            conversation_id: "fedcba9876543210fedcba9876543210".into(),
            mode: Mode::P2p,
            user_data: Some("hello".into()),
            offer: Some(sdp),
            lifetime_ms: 60_000,
        },
    };
    let mut g = c.benchmark_group("codec");
    for (name, msg) in [
        ("invite", &small),
        ("invite_with_2.8KiB_offer", &with_offer),
    ] {
        let text = encode(msg);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| encode(black_box(msg)))
        });
        g.bench_function(format!("decode_client/{name}"), |b| {
            b.iter(|| decode_client(black_box(&text)).expect("valid"))
        });
    }
    g.finish();
}

criterion_group! {
    name = micro;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = ffi, engine, codec
}
criterion_main!(micro);
