//! Ad-hoc throughput and latency of invite → accepted, one node against
//! two nodes routing through Redis (callers on one node, callees on the
//! other). A benchmark, not a test; `docs/SCALING.md` has the figures and
//! the command:
//!
//! ```text
//! cargo bench -p wd-signal --bench scaleout
//! ```
//!
//! Each of `PAIRS` pairs runs closed-loop: the caller sends an invite, the
//! callee answers `accept` at once, the caller measures invite → accept
//! and sends `outcome accepted` (as the SDK does), then the next invite.
//! Lean raw-protocol clients (tungstenite), one thread each.

#[path = "../tests/cluster/mod.rs"]
mod cluster;

use cluster::{have_redis, Node, Redis};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{connect, Message, WebSocket};
use wd_protocol::{
    decode_server, encode, ClientMessage, Mode, Outcome, PeerMessage, ServerMessage,
    PROTOCOL_VERSION,
};

const PAIRS: usize = 32;
const RUN: Duration = Duration::from_secs(5);
const NO_LIMITS: [&str; 6] = [
    "--invite-rate",
    "100000000",
    "--invite-burst",
    "100000000",
    "--message-rate",
    "0",
];

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

fn join(url: &str, uid: &str) -> (Ws, String) {
    let (mut ws, _) = connect(url).expect("connects");
    if let MaybeTlsStream::Plain(tcp) = ws.get_mut() {
        tcp.set_nodelay(true).ok();
    }
    let hello = ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        token: format!("dev:{uid}"),
    };
    ws.send(Message::text(encode(&hello))).unwrap();
    loop {
        if let Message::Text(t) = ws.read().unwrap() {
            if let Ok(ServerMessage::Welcome { device, .. }) = decode_server(&t) {
                return (ws, device);
            }
        }
    }
}

fn send(ws: &mut Ws, to: &str, device: Option<&str>, body: PeerMessage) {
    let msg = ClientMessage::Send {
        to: to.to_owned(),
        device: device.map(str::to_owned),
        body,
    };
    ws.send(Message::text(encode(&msg))).unwrap();
}

/// Runs the pairs; returns (invites per second, sorted latencies in µs).
fn run(pairs: usize, caller_url: &str, callee_url: &str, tag: &str) -> (f64, Vec<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut callees = Vec::new();
    let mut callers = Vec::new();
    for i in 0..pairs {
        let (caller, callee) = (format!("{tag}-a{i}"), format!("{tag}-b{i}"));
        let (mut bws, _) = join(callee_url, &callee);
        let stop_b = stop.clone();
        callees.push(std::thread::spawn(move || {
            if let MaybeTlsStream::Plain(tcp) = bws.get_mut() {
                tcp.set_read_timeout(Some(Duration::from_millis(200))).ok();
            }
            while !stop_b.load(Ordering::Relaxed) {
                let Ok(Message::Text(t)) = bws.read() else {
                    continue;
                };
                if let Ok(ServerMessage::Deliver {
                    from,
                    device,
                    body: PeerMessage::Invite { invite_id, .. },
                }) = decode_server(&t)
                {
                    let accept = PeerMessage::Accept {
                        invite_id,
                        answer: None,
                        user_data: None,
                    };
                    send(&mut bws, &from, Some(&device), accept);
                }
            }
        }));
        let (mut aws, _) = join(caller_url, &caller);
        callers.push(std::thread::spawn(move || {
            let mut lat = Vec::new();
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < RUN {
                n += 1;
                let invite_id = format!("i{n}");
                let sent = Instant::now();
                send(
                    &mut aws,
                    &callee,
                    None,
                    PeerMessage::Invite {
                        invite_id: invite_id.clone(),
                        conversation_id: format!("c{n}"),
                        mode: Mode::default(),
                        user_data: None,
                        offer: None,
                        lifetime_ms: 60_000,
                    },
                );
                let device = loop {
                    let Message::Text(t) = aws.read().unwrap() else {
                        continue;
                    };
                    match decode_server(&t).unwrap() {
                        ServerMessage::Deliver {
                            device,
                            body: PeerMessage::Accept { .. },
                            ..
                        } => break device,
                        ServerMessage::InviteFailed { reason, .. } => {
                            panic!("invite failed: {reason:?}")
                        }
                        _ => {}
                    }
                };
                lat.push(sent.elapsed().as_micros() as u64);
                let outcome = PeerMessage::Outcome {
                    invite_id,
                    outcome: Outcome::Accepted {
                        device,
                        participants: Vec::new(),
                    },
                };
                send(&mut aws, &callee, None, outcome);
            }
            (lat, start.elapsed())
        }));
    }
    let mut all = Vec::new();
    let mut rate = 0.0;
    for c in callers {
        let (lat, took) = c.join().unwrap();
        rate += lat.len() as f64 / took.as_secs_f64();
        all.extend(lat);
    }
    stop.store(true, Ordering::Relaxed);
    for c in callees {
        let _ = c.join();
    }
    all.sort_unstable();
    (rate, all)
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn report(what: &str, (rate, lat): (f64, Vec<u64>)) {
    println!(
        "{what:<44} {rate:>9.0} invites/s  p50 {:>5} µs  p99 {:>6} µs  ({} invites)",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.len()
    );
}

fn main() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start();
    let url = redis.url();
    let one = Node::start_with(None, "m1", &NO_LIMITS);
    let n1 = Node::start_with(Some(&url), "n1", &NO_LIMITS);
    let n2 = Node::start_with(Some(&url), "n2", &NO_LIMITS);
    for pairs in [1, PAIRS] {
        println!("{pairs} pair(s), closed loop, {RUN:?} each");
        report("one node, in memory", run(pairs, &one.url, &one.url, "mem"));
        report(
            "one node with --broker (both sides on n1)",
            run(pairs, &n1.url, &n1.url, "same"),
        );
        report(
            "two nodes (callers on n1, callees on n2)",
            run(pairs, &n1.url, &n2.url, "cross"),
        );
    }
}
