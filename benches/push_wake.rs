//! A woken client's cost: `Client::handle_push` until it returns the
//! incoming invite, and until the invite's fetched state is in (the
//! `Confirmed` event), over a real `wd-signal` on loopback (in this
//! process) that pushes through the test push gateway
//! (`tests/support/push_gateway.py`, a process). `docs/BENCHMARKS.md`
//! (*Push*) has the figures.
//!
//! ```sh
//! cargo bench --bench push_wake            # 200 invites per case
//! PUSH_WAKE_N=1000 cargo bench --bench push_wake
//! ```
//!
//! For each invite: Alice invites Bob, whose only device registered a push
//! key and went away; the push reaches the gateway; the bench takes its
//! payload and hands it to a Bob client. Cases:
//! - *cold*: the client is made with `Client::start` just before
//!   `handle_push`, as an app the push launched: connect, `hello`,
//!   registrations and the fetch all lie between the call and `Confirmed`;
//! - *warm*: the client is already connected: the fetch round trip alone.
//!
//! The `Confirmed` time is taken inside the listener (on the client's
//! event thread, or its I/O thread with `dispatch` `io`).

#[path = "../tests/support/services.rs"]
mod services;

use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use services::Gateway;
use wilddog_video::client::{
    Client, ClientConfig, DispatchMode, IncomingEvent, InviteOptions, PushProvider,
    PushRegistration,
};

const APP: &str = "com.example.app.voip";

struct Sample {
    returned: Duration,
    confirmed: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn report(case: &str, samples: &[Sample]) {
    let mut returned: Vec<Duration> = samples.iter().map(|s| s.returned).collect();
    let mut confirmed: Vec<Duration> = samples.iter().map(|s| s.confirmed).collect();
    returned.sort();
    confirmed.sort();
    println!(
        "{case:<12} n={:<5} handle_push returned p50 {} p99 {} | confirmed p50 {} p99 {} max {}",
        samples.len(),
        ms(percentile(&returned, 0.5)),
        ms(percentile(&returned, 0.99)),
        ms(percentile(&confirmed, 0.5)),
        ms(percentile(&confirmed, 0.99)),
        ms(*confirmed.last().unwrap()),
    );
}

/// Hands `payload` to `client` and times it: until `handle_push`
/// returns, and until the invite's `Confirmed` event.
fn wake(client: &Client, payload: &str) -> Sample {
    let (tx, rx) = bounded(1);
    let t0 = Instant::now();
    let invite = client.handle_push(payload).expect("our push");
    let returned = t0.elapsed();
    invite.set_listener(move |_, event| {
        if *event == IncomingEvent::Confirmed {
            let _ = tx.try_send(Instant::now());
        }
    });
    let at = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the fetched state");
    invite.clear_listener();
    Sample {
        returned,
        confirmed: at - t0,
    }
}

fn main() {
    let n: usize = std::env::var("PUSH_WAKE_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let gw = Gateway::start("");
    let server = wd_signal::spawn(wd_signal::ServerConfig {
        invite_rate_per_sec: 100_000_000,
        invite_burst: 100_000_000,
        message_rate_per_sec: 0,
        push_gateway: Some(gw.url.clone()),
        ..wd_signal::ServerConfig::dev()
    })
    .expect("server starts");
    let url = server.url();
    let alice = Client::connect(ClientConfig::new(&url, "dev:alice")).expect("alice connects");
    {
        let phone = Client::connect(ClientConfig::new(&url, "dev:bob")).expect("bob connects");
        let (tx, rx) = bounded(1);
        phone.set_push_listener(move |event| {
            let _ = tx.try_send(event.clone());
        });
        phone
            .register_push(PushRegistration::new(PushProvider::Apns, APP, "bench-key"))
            .unwrap();
        rx.recv_timeout(Duration::from_secs(20))
            .expect("registered");
    }
    let cases = [
        ("cold thread", DispatchMode::Thread, false),
        ("cold io", DispatchMode::Io, false),
        ("warm thread", DispatchMode::Thread, true),
        ("warm io", DispatchMode::Io, true),
    ];
    for (case, dispatch, warm) in cases {
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let out = alice
                .invite_to_conversation(InviteOptions::new("bob"))
                .expect("invite sent");
            let payload = gw.wait_push("bench-key", "wd.invite", out.conversation_id())["content"]
                .to_string();
            let mut config = ClientConfig::new(&url, "dev:bob");
            config.dispatch = dispatch;
            // Cold: started just before the push is handed over, as an
            // app the push launched. Warm: connected already (after the
            // invite was sent, so it did not get it over the connection).
            let bob = if warm {
                Client::connect(config).expect("bob connects")
            } else {
                Client::start(config).expect("valid configuration")
            };
            samples.push(wake(&bob, &payload));
            out.cancel().expect("still ringing");
            // Gone before the next invite: the server has forgotten this
            // device when the close returns, so the next one is pushed.
            drop(bob);
        }
        report(case, &samples);
    }
    drop(alice);
    server.shutdown();
    gw.stop();
}
