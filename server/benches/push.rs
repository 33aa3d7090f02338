//! Latency of push delivery: from an invite leaving the caller to its
//! notification arriving at the push gateway, at a steady 200 invites per
//! second, on one node and on two nodes routing through Redis (caller on
//! one, the sleeping callees registered on the other); and the round trip
//! of a woken device's `fetch_invite`. A benchmark, not a test;
//! `docs/BENCHMARKS.md` has the figures and the command:
//!
//! ```text
//! cargo bench -p wd-signal --bench push
//! ```
//!
//! Real processes: `wd-signal` (and `redis-server`), the loopback push
//! gateway of the push tests (a hyper server answering as the Matrix push
//! gateway API says), raw-protocol clients (tungstenite).

#[path = "../tests/cluster/mod.rs"]
mod cluster;
#[path = "../tests/gateway/mod.rs"]
mod gateway;

use cluster::{have_redis, Node, Redis};
use gateway::Gateway;
use std::collections::HashMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{connect, Message, WebSocket};
use wd_protocol::{
    decode_server, encode, ClientMessage, Mode, PeerMessage, PushProvider, ServerMessage,
    PROTOCOL_VERSION,
};

/// Invites per second.
const RATE: u64 = 200;
/// Invites per run.
const INVITES: usize = 2000;
/// Sleeping callees the invites go to, round robin.
const CALLEES: usize = 50;
/// Fetches timed per run.
const FETCHES: usize = 500;

const FLAGS: [&str; 8] = [
    "--invite-rate",
    "100000000",
    "--invite-burst",
    "100000000",
    "--message-rate",
    "0",
    "--max-pending-invites",
    "100000",
];

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

fn join(url: &str, uid: &str) -> Ws {
    let (mut ws, _) = connect(url).expect("connects");
    if let MaybeTlsStream::Plain(tcp) = ws.get_mut() {
        tcp.set_nodelay(true).ok();
    }
    let hello = ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        token: format!("dev:{uid}"),
    };
    ws.send(Message::text(encode(&hello))).unwrap();
    while !matches!(next(&mut ws), ServerMessage::Welcome { .. }) {}
    ws
}

fn next(ws: &mut Ws) -> ServerMessage {
    loop {
        if let Message::Text(t) = ws.read().expect("reads") {
            return decode_server(&t).expect("decodes");
        }
    }
}

/// Registers a push key for each callee from a connection that then
/// closes, so that every invite to them is pushed.
fn sleeping_callees(url: &str, tag: &str) -> Vec<String> {
    (0..CALLEES)
        .map(|i| {
            let uid = format!("{tag}-callee{i}");
            let mut ws = join(url, &uid);
            let register = ClientMessage::RegisterPush {
                provider: PushProvider::Fcm,
                app_id: "com.example.app".into(),
                push_key: format!("{uid}-key"),
                data: None,
            };
            ws.send(Message::text(encode(&register))).unwrap();
            assert!(matches!(
                next(&mut ws),
                ServerMessage::PushRegistered { .. }
            ));
            ws.close(None).ok();
            while ws.read().is_ok() {}
            uid
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sends `INVITES` invites at `RATE`/s from `caller_url` to callees
/// registered through `callee_url`; the latencies invite → notification
/// at the gateway, sorted, and the invites' (callee, id).
fn run(
    gw: &Gateway,
    caller_url: &str,
    callee_url: &str,
    tag: &str,
) -> (Vec<Duration>, Vec<(String, String)>) {
    let callees = sleeping_callees(callee_url, tag);
    let caller = format!("{tag}-caller");
    let mut ws = join(caller_url, &caller);
    let mut sent = HashMap::new();
    let mut invites = Vec::new();
    let start = Instant::now();
    let every = Duration::from_nanos(1_000_000_000 / RATE);
    for i in 0..INVITES {
        let due = start + every * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let to = &callees[i % CALLEES];
        let invite_id = format!("{tag}-i{i}");
        let send = ClientMessage::Send {
            to: to.clone(),
            device: None,
            body: PeerMessage::Invite {
                invite_id: invite_id.clone(),
                conversation_id: format!("{tag}-c{i}"),
                mode: Mode::P2p,
                user_data: Some("Video call".into()),
                offer: Some("v=0".into()),
                lifetime_ms: 600_000,
            },
        };
        sent.insert(invite_id.clone(), Instant::now());
        ws.send(Message::text(encode(&send))).unwrap();
        invites.push((to.clone(), invite_id));
    }
    let mut latencies = Vec::with_capacity(INVITES);
    while latencies.len() < INVITES {
        let n = gw.next();
        let id = n.field("event_id").as_str().unwrap_or_default().to_owned();
        if let Some(at) = sent.remove(&id) {
            latencies.push(n.at.saturating_duration_since(at));
        }
    }
    latencies.sort();
    (latencies, invites)
}

/// Times `FETCHES` `fetch_invite` round trips by woken callees on
/// `url`; sorted.
fn fetches(url: &str, caller: &str, invites: &[(String, String)]) -> Vec<Duration> {
    let mut woken: HashMap<String, Ws> = HashMap::new();
    let mut times = Vec::with_capacity(FETCHES);
    for (to, invite_id) in invites.iter().take(FETCHES) {
        let ws = woken.entry(to.clone()).or_insert_with(|| join(url, to));
        let fetch = ClientMessage::FetchInvite {
            invite_id: invite_id.clone(),
            from: caller.to_owned(),
        };
        let t0 = Instant::now();
        ws.send(Message::text(encode(&fetch))).unwrap();
        loop {
            match next(ws) {
                ServerMessage::InviteState { .. } => break,
                ServerMessage::FetchFailed { code, .. } => panic!("fetch failed: {code:?}"),
                _ => continue,
            }
        }
        times.push(t0.elapsed());
    }
    times.sort();
    times
}

fn report(what: &str, push: &[Duration], fetch: &[Duration]) {
    println!(
        "{what:<36} invite -> push at gateway: p50 {:6.2} ms  p99 {:6.2} ms  max {:6.2} ms  ({} invites at {RATE}/s); \
         fetch_invite -> invite_state: p50 {:5.2} ms  p99 {:5.2} ms",
        ms(percentile(push, 0.5)),
        ms(percentile(push, 0.99)),
        ms(*push.last().unwrap()),
        push.len(),
        ms(percentile(fetch, 0.5)),
        ms(percentile(fetch, 0.99)),
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this once
    // as a smoke check without it: skip the measurement then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let gw = Gateway::start();
    let mut flags: Vec<&str> = FLAGS.to_vec();
    flags.extend(["--push-gateway", &gw.url, "--workers", "1"]);
    {
        let node = Node::start_with(None, "n1", &flags);
        let (push, invites) = run(&gw, &node.url, &node.url, "one");
        let fetch = fetches(&node.url, "one-caller", &invites);
        report("one node", &push, &fetch);
    }
    if !have_redis() {
        println!("two nodes through Redis: skipped (no redis-server)");
        return;
    }
    let redis = Redis::start();
    let n1 = Node::start_with(Some(&redis.url()), "n1", &flags);
    let n2 = Node::start_with(Some(&redis.url()), "n2", &flags);
    let (push, invites) = run(&gw, &n1.url, &n2.url, "two");
    let fetch = fetches(&n2.url, "two-caller", &invites);
    report("two nodes (caller n1, callees n2)", &push, &fetch);
}
