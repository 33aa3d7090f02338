//! Liveness and reconnection against an in-process `wd-signal`, with a
//! test-controlled proxy in front of one client: connection state events,
//! a frozen link detected within `deadAfterMs`, and incoming invites
//! reconciled after a reconnect (still pending, canceled meanwhile, caller
//! gone meanwhile), each ending exactly once.

mod common;
#[path = "support/proxy.rs"]
mod proxy;

use std::time::{Duration, Instant};

use common::*;
use crossbeam_channel::{unbounded, Receiver};
use proxy::Proxy;
use wilddog_video::client::{Client, ClientConfig, ConnectionState, IncomingEvent, OutgoingEvent};
use wilddog_video::engine::IncomingStatus;
use wilddog_video::protocol::{CancelReason, FailureReason};

const HEARTBEAT_MS: u64 = 300;
const DEAD_AFTER_MS: u64 = 900;

fn fast_config(url: String, uid: &str) -> ClientConfig {
    let mut c = ClientConfig::new(url, format!("dev:{uid}"));
    c.heartbeat = Duration::from_millis(HEARTBEAT_MS);
    c.dead_after = Duration::from_millis(DEAD_AFTER_MS);
    c.reconnect_min = Duration::from_millis(20);
    c.reconnect_max = Duration::from_millis(200);
    c.connect_timeout = Duration::from_secs(2);
    c
}

fn states(client: &Client) -> Receiver<ConnectionState> {
    let (tx, rx) = unbounded();
    client.set_connection_listener(move |s| {
        let _ = tx.send(s);
    });
    rx
}

fn expect_state(rx: &Receiver<ConnectionState>, want: ConnectionState) {
    assert_eq!(next(rx, want.as_str()), want);
}

/// Alice connects directly, bob through a proxy; alice invites bob and it
/// rings. Returns everything with the state listeners past `Connected`.
struct Setup {
    _srv: wd_signal::ServerHandle,
    proxy: Proxy,
    alice: Client,
    bob: Client,
    bob_states: Receiver<ConnectionState>,
    out: wilddog_video::client::OutgoingInvite,
    out_rx: Receiver<OutgoingEvent>,
    inc: wilddog_video::client::IncomingInvite,
    inc_rx: Receiver<IncomingEvent>,
}

fn ringing() -> Setup {
    let srv = server();
    let proxy = Proxy::start(srv.addr());
    let alice = Client::connect(fast_config(srv.url(), "alice")).unwrap();
    let bob = Client::connect(fast_config(proxy.url(), "bob")).unwrap();
    let bob_states = states(&bob);
    expect_state(&bob_states, ConnectionState::Connected);
    let bob_invites = invites(&bob);
    let out = alice
        .invite_to_conversation(invite_opts("bob", 60_000))
        .unwrap();
    let out_rx = outgoing_events(&out);
    let inc = next(&bob_invites, "the invite");
    let inc_rx = incoming_events(&inc);
    assert_eq!(next(&out_rx, "ringing"), OutgoingEvent::Ringing);
    Setup {
        _srv: srv,
        proxy,
        alice,
        bob,
        bob_states,
        out,
        out_rx,
        inc,
        inc_rx,
    }
}

#[test]
fn a_late_listener_hears_the_current_state_once_then_changes() {
    let srv = server();
    let alice = Client::connect(fast_config(srv.url(), "alice")).unwrap();
    let rx = states(&alice);
    expect_state(&rx, ConnectionState::Connected);
    alice.disconnect();
    expect_state(&rx, ConnectionState::Disconnected);
    alice.disconnect();
    // A second listener hears only the current state.
    let rx2 = states(&alice);
    expect_state(&rx2, ConnectionState::Disconnected);
    drop(alice);
    assert_eq!(rx.try_iter().count(), 0);
    assert_eq!(rx2.try_iter().count(), 0);
}

#[test]
fn pending_incoming_invite_survives_a_cut_and_can_be_accepted() {
    let s = ringing();
    let old_device = s.bob.device();
    s.proxy.cut_and_refuse();
    expect_state(&s.bob_states, ConnectionState::Reconnecting);
    assert_eq!(s.inc.status(), IncomingStatus::Pending);
    s.proxy.resume();
    expect_state(&s.bob_states, ConnectionState::Connected);
    assert_ne!(s.bob.device(), old_device, "a new device id");
    // The caller's answer to bob's query keeps it ringing; accept it.
    s.inc.accept(None, None).unwrap();
    assert!(matches!(
        next(&s.out_rx, "accepted"),
        OutgoingEvent::Accepted { .. }
    ));
    assert!(matches!(
        next(&s.inc_rx, "accepted"),
        IncomingEvent::Accepted { .. }
    ));
    s.alice.disconnect();
    s.bob.disconnect();
    expect_state(&s.bob_states, ConnectionState::Disconnected);
    assert_eq!(s.out_rx.try_iter().count(), 0);
    assert_eq!(s.inc_rx.try_iter().count(), 0);
    assert_eq!(s.bob_states.try_iter().count(), 0);
    drop(s.out);
}

#[test]
fn invite_canceled_while_the_invitee_was_away_ends_canceled_once() {
    let s = ringing();
    s.proxy.cut_and_refuse();
    expect_state(&s.bob_states, ConnectionState::Reconnecting);
    s.out.cancel().unwrap();
    assert_eq!(
        next(&s.out_rx, "canceled"),
        OutgoingEvent::Canceled(CancelReason::CallerCanceled)
    );
    s.proxy.resume();
    expect_state(&s.bob_states, ConnectionState::Connected);
    assert_eq!(
        next(&s.inc_rx, "reconciled"),
        IncomingEvent::Canceled(CancelReason::CallerCanceled)
    );
    drop((s.alice, s.bob));
    assert_eq!(s.inc_rx.try_iter().count(), 0, "exactly once");
    assert_eq!(s.out_rx.try_iter().count(), 0);
}

#[test]
fn caller_gone_while_the_invitee_was_away_ends_caller_gone_once() {
    let s = ringing();
    s.proxy.cut_and_refuse();
    expect_state(&s.bob_states, ConnectionState::Reconnecting);
    s.alice.disconnect();
    assert_eq!(
        next(&s.out_rx, "failed"),
        OutgoingEvent::Failed(FailureReason::Network)
    );
    s.proxy.resume();
    expect_state(&s.bob_states, ConnectionState::Connected);
    assert_eq!(
        next(&s.inc_rx, "reconciled"),
        IncomingEvent::Failed(FailureReason::CallerGone)
    );
    drop(s.bob);
    assert_eq!(s.inc_rx.try_iter().count(), 0, "exactly once");
}

#[test]
fn a_frozen_link_is_detected_within_dead_after() {
    let s = ringing();
    let frozen_at = Instant::now();
    s.proxy.freeze();
    expect_state(&s.bob_states, ConnectionState::Reconnecting);
    let took = frozen_at.elapsed();
    assert!(
        took < Duration::from_millis(DEAD_AFTER_MS + 1500),
        "detected after {took:?}"
    );
    assert_eq!(s.inc.status(), IncomingStatus::Pending);
    s.proxy.resume();
    expect_state(&s.bob_states, ConnectionState::Connected);
    s.out.cancel().unwrap();
    assert_eq!(
        next(&s.inc_rx, "canceled"),
        IncomingEvent::Canceled(CancelReason::CallerCanceled)
    );
    drop((s.alice, s.bob));
    assert_eq!(s.inc_rx.try_iter().count(), 0);
}

#[test]
fn without_reconnect_a_cut_fails_the_incoming_invite_network_once() {
    let srv = server();
    let proxy = Proxy::start(srv.addr());
    let alice = Client::connect(fast_config(srv.url(), "alice")).unwrap();
    let mut c = fast_config(proxy.url(), "bob");
    c.reconnect = false;
    let bob = Client::connect(c).unwrap();
    let bob_states = states(&bob);
    expect_state(&bob_states, ConnectionState::Connected);
    let bob_invites = invites(&bob);
    let _out = alice
        .invite_to_conversation(invite_opts("bob", 60_000))
        .unwrap();
    let inc = next(&bob_invites, "invite");
    let inc_rx = incoming_events(&inc);
    proxy.cut_and_refuse();
    expect_state(&bob_states, ConnectionState::Disconnected);
    assert_eq!(
        next(&inc_rx, "failed"),
        IncomingEvent::Failed(FailureReason::Network)
    );
    drop(bob);
    assert_eq!(inc_rx.try_iter().count(), 0);
    assert_eq!(bob_states.try_iter().count(), 0);
}

#[test]
fn several_urls_are_tried_in_rotation() {
    let srv = server();
    // A port nobody listens on, then the server.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("ws://{}", dead.local_addr().unwrap());
    drop(dead);
    let mut c = fast_config(dead_url.clone(), "alice");
    c.urls = vec![dead_url, srv.url()];
    let alice = Client::connect(c).expect("the second URL answers");
    assert_eq!(alice.connection_state(), ConnectionState::Connected);
}
