//! Faults over real processes: `wd-signal` runs as a child process that
//! the test kills (`SIGKILL`), freezes (`SIGSTOP`), restarts, or cuts off
//! (a proxy between client and server). Each test asserts every handle's
//! final state and the count of every event: exactly one terminal event
//! per invite, connection events in order.

mod common;
#[path = "support/proxy.rs"]
mod proxy;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use crossbeam_channel::{unbounded, Receiver};
use proxy::Proxy;
use wilddog_video::client::{Client, ClientConfig, ConnectionState, IncomingEvent, OutgoingEvent};
use wilddog_video::engine::{IncomingStatus, OutgoingStatus};
use wilddog_video::protocol::{CancelReason, FailureReason};

const HEARTBEAT_MS: u64 = 300;
const DEAD_AFTER_MS: u64 = 900;

/// The `wd-signal` binary, built once per test run.
fn binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--locked",
                "-q",
                "-p",
                "wd-signal",
                "--bin",
                "wd-signal",
            ])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building wd-signal failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let bin = target.join("debug").join("wd-signal");
        assert!(bin.exists(), "{} missing", bin.display());
        bin
    })
}

/// A `wd-signal --dev` child process.
struct Signal {
    child: Child,
    addr: SocketAddr,
}

impl Signal {
    /// Starts on `listen` (port 0: a free one) and waits until it listens.
    fn start(listen: &str) -> Signal {
        let mut child = Command::new(binary())
            .args(["--dev", "--listen", listen, "--ping-interval", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("wd-signal starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("reads the listening line");
        let addr = line
            .trim()
            .rsplit("://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        Signal { child, addr }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill {sig}");
    }

    /// `kill -9`, and reap it.
    fn kill9(mut self) -> SocketAddr {
        self.signal("-KILL");
        let _ = self.child.wait();
        self.addr
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(url: String, uid: &str) -> ClientConfig {
    let mut c = ClientConfig::new(url, format!("dev:{uid}"));
    c.heartbeat = Duration::from_millis(HEARTBEAT_MS);
    c.dead_after = Duration::from_millis(DEAD_AFTER_MS);
    c.reconnect_min = Duration::from_millis(20);
    c.reconnect_max = Duration::from_millis(200);
    c.connect_timeout = Duration::from_millis(1000);
    c
}

struct Peer {
    client: Client,
    states: Receiver<ConnectionState>,
    seen: Vec<ConnectionState>,
}

impl Peer {
    fn connect(url: String, uid: &str) -> Peer {
        let client = Client::connect(config(url, uid)).expect("connects");
        let (tx, states) = unbounded();
        client.set_connection_listener(move |s| {
            let _ = tx.send(s);
        });
        let mut p = Peer {
            client,
            states,
            seen: Vec::new(),
        };
        p.expect(ConnectionState::Connected);
        p
    }

    fn expect(&mut self, want: ConnectionState) {
        let got = next(&self.states, want.as_str());
        self.seen.push(got);
        assert_eq!(got, want, "states so far: {:?}", self.seen);
    }

    /// Ends the client; returns every state it went through.
    fn finish(mut self) -> Vec<ConnectionState> {
        self.client.disconnect();
        self.expect(ConnectionState::Disconnected);
        drop(self.client);
        assert_eq!(self.states.try_iter().count(), 0, "no further state");
        self.seen
    }
}

/// An invite from `a` to `b` that completes (accepted both sides).
fn invite_completes(a: &Peer, b: &Peer) {
    let rx = invites(&b.client);
    let out = a
        .client
        .invite_to_conversation(invite_opts(b.client.uid(), 30_000))
        .unwrap();
    let out_rx = outgoing_events(&out);
    let inc = next(&rx, "the invite");
    let inc_rx = incoming_events(&inc);
    inc.accept(None, None).unwrap();
    assert!(matches!(
        until_terminal(&out_rx).last(),
        Some(OutgoingEvent::Accepted { .. })
    ));
    assert!(matches!(
        next(&inc_rx, "accepted"),
        IncomingEvent::Accepted { .. }
    ));
    b.client.clear_invite_listener();
}

use wilddog_video::client::{IncomingInvite, OutgoingInvite};

/// Alice invites bob; it rings. Returns both handles and their events.
fn ring(
    alice: &Peer,
    bob: &Peer,
) -> (
    OutgoingInvite,
    Receiver<OutgoingEvent>,
    IncomingInvite,
    Receiver<IncomingEvent>,
) {
    let rx = invites(&bob.client);
    let out = alice
        .client
        .invite_to_conversation(invite_opts("bob", 60_000))
        .unwrap();
    let out_rx = outgoing_events(&out);
    let inc = next(&rx, "the invite");
    let inc_rx = incoming_events(&inc);
    assert_eq!(next(&out_rx, "ringing"), OutgoingEvent::Ringing);
    bob.client.clear_invite_listener();
    (out, out_rx, inc, inc_rx)
}

const FULL_CYCLE: [ConnectionState; 4] = [
    ConnectionState::Connected,
    ConnectionState::Reconnecting,
    ConnectionState::Connected,
    ConnectionState::Disconnected,
];

#[test]
fn kill_9_mid_invite_then_restart_on_the_same_port() {
    let srv = Signal::start("127.0.0.1:0");
    let mut alice = Peer::connect(srv.url(), "alice");
    let mut bob = Peer::connect(srv.url(), "bob");
    let (out, out_rx, inc, inc_rx) = ring(&alice, &bob);

    let addr = srv.kill9();
    alice.expect(ConnectionState::Reconnecting);
    bob.expect(ConnectionState::Reconnecting);
    assert_eq!(
        next(&out_rx, "failed"),
        OutgoingEvent::Failed(FailureReason::Network)
    );
    assert_eq!(out.status(), OutgoingStatus::Failed);
    assert_eq!(
        inc.status(),
        IncomingStatus::Pending,
        "kept through the drop"
    );

    let _srv = Signal::start(&addr.to_string());
    alice.expect(ConnectionState::Connected);
    bob.expect(ConnectionState::Connected);
    // Bob's query finds alice's old device gone (or alice remembering the
    // invite failed): either way the caller is gone.
    assert_eq!(
        next(&inc_rx, "reconciled"),
        IncomingEvent::Failed(FailureReason::CallerGone)
    );
    assert_eq!(inc.status(), IncomingStatus::Failed);
    invite_completes(&alice, &bob);

    assert_eq!(alice.finish(), FULL_CYCLE);
    assert_eq!(bob.finish(), FULL_CYCLE);
    assert_eq!(out_rx.try_iter().count(), 0, "one terminal event");
    assert_eq!(inc_rx.try_iter().count(), 0, "one terminal event");
}

#[test]
fn sigstop_beyond_the_heartbeat_bound_is_detected_then_sigcont() {
    let srv = Signal::start("127.0.0.1:0");
    let mut alice = Peer::connect(srv.url(), "alice");
    let mut bob = Peer::connect(srv.url(), "bob");
    let (out, out_rx, inc, inc_rx) = ring(&alice, &bob);

    let stopped = Instant::now();
    srv.signal("-STOP");
    alice.expect(ConnectionState::Reconnecting);
    bob.expect(ConnectionState::Reconnecting);
    let took = stopped.elapsed();
    assert!(
        took < Duration::from_millis(DEAD_AFTER_MS + 1500),
        "a frozen server detected after {took:?}"
    );
    assert_eq!(
        next(&out_rx, "failed"),
        OutgoingEvent::Failed(FailureReason::Network)
    );
    assert_eq!(inc.status(), IncomingStatus::Pending);

    srv.signal("-CONT");
    alice.expect(ConnectionState::Connected);
    bob.expect(ConnectionState::Connected);
    assert_eq!(
        next(&inc_rx, "reconciled"),
        IncomingEvent::Failed(FailureReason::CallerGone)
    );
    invite_completes(&alice, &bob);
    assert_eq!(alice.finish(), FULL_CYCLE);
    assert_eq!(bob.finish(), FULL_CYCLE);
    assert_eq!(out.status(), OutgoingStatus::Failed);
    assert_eq!(out_rx.try_iter().count(), 0);
    assert_eq!(inc_rx.try_iter().count(), 0);
    drop(srv);
}

#[test]
fn a_connection_cut_by_the_test_reconciles_a_canceled_invite() {
    let srv = Signal::start("127.0.0.1:0");
    let proxy = Proxy::start(srv.addr);
    let alice = Peer::connect(srv.url(), "alice");
    let mut bob = Peer::connect(proxy.url(), "bob");
    let (out, out_rx, inc, inc_rx) = ring(&alice, &bob);

    proxy.cut_and_refuse();
    bob.expect(ConnectionState::Reconnecting);
    out.cancel().unwrap();
    assert_eq!(
        next(&out_rx, "canceled"),
        OutgoingEvent::Canceled(CancelReason::CallerCanceled)
    );
    proxy.resume();
    bob.expect(ConnectionState::Connected);
    assert_eq!(
        next(&inc_rx, "reconciled"),
        IncomingEvent::Canceled(CancelReason::CallerCanceled)
    );
    assert_eq!(inc.status(), IncomingStatus::Canceled);
    invite_completes(&alice, &bob);
    alice.expect_none();
    assert_eq!(
        alice.finish(),
        [ConnectionState::Connected, ConnectionState::Disconnected]
    );
    assert_eq!(bob.finish(), FULL_CYCLE);
    assert_eq!(out_rx.try_iter().count(), 0);
    assert_eq!(inc_rx.try_iter().count(), 0);
}

impl Peer {
    fn expect_none(&self) {
        assert_eq!(self.states.try_iter().count(), 0, "no state change");
    }
}

#[test]
fn server_restart_fails_pending_invites_once_and_clients_come_back() {
    let srv = Signal::start("127.0.0.1:0");
    let mut alice = Peer::connect(srv.url(), "alice");
    let mut bob = Peer::connect(srv.url(), "bob");
    let (out, out_rx, inc, inc_rx) = ring(&alice, &bob);

    // A graceful restart: SIGTERM (close 1012 to every client), then a new
    // process on the same port.
    srv.signal("-TERM");
    alice.expect(ConnectionState::Reconnecting);
    bob.expect(ConnectionState::Reconnecting);
    let mut srv = srv;
    let _ = srv.child.wait();
    let addr = srv.addr;
    drop(srv);
    assert_eq!(
        next(&out_rx, "failed"),
        OutgoingEvent::Failed(FailureReason::Network)
    );
    let _srv = Signal::start(&addr.to_string());
    alice.expect(ConnectionState::Connected);
    bob.expect(ConnectionState::Connected);
    assert_eq!(
        next(&inc_rx, "reconciled"),
        IncomingEvent::Failed(FailureReason::CallerGone)
    );
    invite_completes(&alice, &bob);
    assert_eq!(alice.finish(), FULL_CYCLE);
    assert_eq!(bob.finish(), FULL_CYCLE);
    assert_eq!(out.status(), OutgoingStatus::Failed);
    assert_eq!(inc.status(), IncomingStatus::Failed);
    assert_eq!(out_rx.try_iter().count(), 0);
    assert_eq!(inc_rx.try_iter().count(), 0);
}
