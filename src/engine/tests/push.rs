//! Push: an invite that reaches a sleeping device through a push, the
//! fetch that reconciles it once the device connects, answers given before
//! that, copies arriving by push and over the connection in every order,
//! `invite_ended`, and push registrations. Each flow runs through the
//! simulated server of [`super::harness`], which pushes, stores and serves
//! invites as `wd-signal` does.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use wd_protocol::push::{MAX_PUSH_DATA_LEN, MAX_PUSH_KEY_LEN, PUSH_PAYLOAD_VERSION};
use wd_protocol::{
    CancelReason, ClientMessage, ErrorCode, FailureReason, Mode, Outcome, PeerMessage, PushPayload,
    PushProvider, RejectReason, ServerMessage, UnregisterReason, MAX_LIFETIME_MS,
    MAX_USER_DATA_LEN,
};

use super::harness::{request, Net, ALICE, APP_ID, BOB1, BOB2, LIFETIME_MS, SERVER};
use crate::engine::{
    Engine, EngineConfig, EngineError, Event, IncomingEnding, IncomingInfo, IncomingStatus, Key,
    PushEvent, PushHandled, PushRegistration,
};

// ---- helpers ----

/// Alice and bob's `devices` devices, all connected; each of `asleep`
/// registered a push key and went to sleep.
fn setup(devices: usize, asleep: &[usize]) -> Net {
    let mut net = Net::new(devices);
    for &d in asleep {
        net.register(d);
        net.sleep(d);
    }
    net
}

/// Alice invites bob (`i1`, conversation `c1`) with an offer and user data.
fn invite(net: &mut Net, lifetime_ms: u64) -> Key {
    let mut req = request("bob", "i1", lifetime_ms);
    req.offer = Some("v=0 offer".into());
    req.user_data = Some("video call from alice".into());
    net.invite(ALICE, req).expect("invite")
}

/// Hands device `d` its next push, which must be the invite, and returns
/// the key it created.
fn push_rings(net: &mut Net, d: usize) -> Key {
    match net.deliver_push(d) {
        Some(Ok(PushHandled::Live { key, created: true })) => key,
        other => panic!("{other:?}"),
    }
}

/// Device `d` wakes: it connects as a new device.
fn wake(net: &mut Net, d: usize) {
    let device = format!("n1.{}", 10 + d);
    net.reconnect(d, &device);
}

fn invite_payload(invite_id: &str, from: &str, time_left_ms: u64) -> PushPayload {
    PushPayload::Invite {
        wd: PUSH_PAYLOAD_VERSION,
        invite_id: invite_id.to_owned(),
        conversation_id: "c1".to_owned(),
        from: from.to_owned(),
        device: "n1.1".to_owned(),
        mode: Mode::P2p,
        time_left_ms,
        sent_at_ms: 1_800_000_000_000,
        user_data: Some("hi".to_owned()),
        user_data_omitted: false,
    }
}

fn ended_payload(invite_id: &str, outcome: Outcome) -> PushPayload {
    PushPayload::InviteEnded {
        wd: PUSH_PAYLOAD_VERSION,
        invite_id: invite_id.to_owned(),
        conversation_id: "c1".to_owned(),
        from: "alice".to_owned(),
        outcome,
    }
}

/// How many `fetch_invite` device `d` sent.
fn fetches(net: &Net, d: usize) -> usize {
    net.requests
        .iter()
        .filter(|(from, m)| *from == d && matches!(m, ClientMessage::FetchInvite { .. }))
        .count()
}

/// The bodies device `d` sent that match `f`.
fn sent_by(net: &Net, d: usize, f: impl Fn(&PeerMessage) -> bool) -> usize {
    net.sends
        .iter()
        .filter(|s| s.from == d && f(&s.body))
        .count()
}

fn is_answer(body: &PeerMessage) -> bool {
    matches!(
        body,
        PeerMessage::Accept { .. } | PeerMessage::Reject { .. }
    )
}

/// The conversation key of an accepted event.
fn conversation_of(events: &[Event]) -> Key {
    events
        .iter()
        .find_map(|e| match e {
            Event::OutgoingAccepted { conversation, .. }
            | Event::IncomingAccepted { conversation, .. } => Some(conversation.key),
            _ => None,
        })
        .expect("an accepted event")
}

/// The caller leaves its conversation (`conv`) with one device; the leave
/// ends that device's conversation too.
fn hang_up(net: &mut Net, conv: Key) {
    net.leave(ALICE, conv).unwrap();
    net.deliver_all();
}

fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

// ---- a push rings at once ----

#[test]
fn a_push_rings_at_once_without_any_connection() {
    let mut engine = Engine::new(EngineConfig::default());
    let t0 = Instant::now();
    let handled = engine
        .handle_push(invite_payload("i1", "alice", 30_000), t0)
        .unwrap();
    let PushHandled::Live { key, created: true } = handled else {
        panic!("{handled:?}")
    };
    assert_eq!(
        engine.poll_event(),
        Some(Event::IncomingReceived {
            key,
            info: IncomingInfo {
                from: "alice".into(),
                from_device: "n1.1".into(),
                invite_id: "i1".into(),
                conversation_id: "c1".into(),
                mode: Mode::P2p,
                user_data: Some("hi".into()),
                offer: None,
            }
        })
    );
    assert_eq!(engine.poll_event(), None);
    assert_eq!(engine.incoming_status(key), Some(IncomingStatus::Pending));
    assert_eq!(engine.incoming_confirmed(key), Some(false));
    assert_eq!(
        engine.poll_transmit(),
        None,
        "nothing to send without a link"
    );
    assert_eq!(engine.poll_timeout(), Some(at(t0, 30_000)));
    // The lifetime counts from the push's receipt.
    engine.handle_timeout(at(t0, 29_999));
    assert_eq!(engine.poll_event(), None);
    engine.handle_timeout(at(t0, 30_000));
    assert_eq!(
        engine.poll_event(),
        Some(Event::IncomingFailed {
            key,
            reason: FailureReason::Timeout
        })
    );
    assert_eq!(engine.live_count(), 0);
}

#[test]
fn the_woken_device_fetches_the_invite_accepts_and_the_caller_hears_accepted() {
    let mut net = setup(1, &[BOB1]);
    let out = invite(&mut net, LIFETIME_MS);
    net.deliver_all();
    assert_eq!(net.take(ALICE), vec![], "pushed: not offline");
    assert_eq!(net.nodes[BOB1].pushes.len(), 1);

    let key = push_rings(&mut net, BOB1);
    let received = net.take(BOB1);
    let [Event::IncomingReceived { info, .. }] = &received[..] else {
        panic!("{received:?}")
    };
    assert_eq!(
        (info.from.as_str(), info.user_data.as_deref(), &info.offer),
        ("alice", Some("video call from alice"), &None)
    );
    assert_eq!(fetches(&net, BOB1), 0, "not connected yet");

    wake(&mut net, BOB1);
    assert_eq!(fetches(&net, BOB1), 1);
    assert_eq!(
        sent_by(&net, BOB1, |_| true),
        0,
        "nothing before the answer"
    );
    net.deliver_all();
    assert_eq!(net.nodes[BOB1].engine.incoming_confirmed(key), Some(true));
    let updated = net.push_events(BOB1);
    let [PushEvent::IncomingUpdated { key: k, info }] = &updated[..] else {
        panic!("{updated:?}")
    };
    assert_eq!(*k, key);
    assert_eq!(info.offer.as_deref(), Some("v=0 offer"));
    assert_eq!(info.from_device, "n1.1");
    assert_eq!(net.take(ALICE), vec![Event::OutgoingRinging { key: out }]);

    net.accept_with(BOB1, key, Some("v=0 answer"), None)
        .unwrap();
    net.deliver_all();
    let alice = net.take(ALICE);
    let [Event::OutgoingAccepted { answer, .. }] = &alice[..] else {
        panic!("{alice:?}")
    };
    assert_eq!(answer.device, "n1.11");
    assert_eq!(answer.answer.as_deref(), Some("v=0 answer"));
    let bob = net.take(BOB1);
    assert!(
        matches!(bob[..], [Event::IncomingAccepted { .. }]),
        "{bob:?}"
    );
    assert!(
        net.nodes[BOB1].pushes.is_empty(),
        "answered on the woken device: no invite_ended push"
    );
    hang_up(&mut net, conversation_of(&alice));
    net.assert_quiet();
}

#[test]
fn an_accept_before_the_fetch_is_held_and_goes_out_once_when_the_invite_rings() {
    let mut net = setup(1, &[BOB1]);
    let out = invite(&mut net, LIFETIME_MS);
    let key = push_rings(&mut net, BOB1);
    // Connected, the fetch on its way: the accept still waits for it.
    wake(&mut net, BOB1);
    net.accept(BOB1, key).unwrap();
    assert_eq!(
        net.incoming_status(BOB1, key),
        Some(IncomingStatus::Accepting)
    );
    assert_eq!(
        net.accept(BOB1, key),
        Err(EngineError::InvalidState {
            status: "accepting"
        })
    );
    assert_eq!(sent_by(&net, BOB1, is_answer), 0, "held until the fetch");
    // The answer to the fetch: ringing and the accept go out, in order.
    net.deliver_link(SERVER, BOB1);
    let bodies: Vec<&PeerMessage> = net
        .sends
        .iter()
        .filter(|s| s.from == BOB1)
        .map(|s| &s.body)
        .collect();
    assert!(
        matches!(
            bodies[..],
            [PeerMessage::Ringing { .. }, PeerMessage::Accept { .. }]
        ),
        "{bodies:?}"
    );
    net.deliver_all();
    let alice = net.take(ALICE);
    assert!(
        matches!(&alice[..], [Event::OutgoingRinging { key }, Event::OutgoingAccepted { .. }] if *key == out),
        "{alice:?}"
    );
    let bob = net.take(BOB1);
    assert!(
        matches!(
            bob[..],
            [
                Event::IncomingReceived { .. },
                Event::IncomingAccepted { .. }
            ]
        ),
        "{bob:?}"
    );
    assert_eq!(sent_by(&net, BOB1, is_answer), 1);
    hang_up(&mut net, conversation_of(&alice));
    net.assert_quiet();
}

#[test]
fn a_reject_before_the_fetch_is_held_and_both_sides_end_rejected() {
    let mut net = setup(1, &[BOB1]);
    let out = invite(&mut net, LIFETIME_MS);
    let key = push_rings(&mut net, BOB1);
    net.reject(BOB1, key, RejectReason::Busy).unwrap();
    assert_eq!(
        net.incoming_status(BOB1, key),
        Some(IncomingStatus::Rejecting)
    );
    wake(&mut net, BOB1);
    net.drain();
    assert_eq!(
        net.take(ALICE),
        vec![
            Event::OutgoingRinging { key: out },
            Event::OutgoingRejected {
                key: out,
                reason: RejectReason::Busy
            }
        ]
    );
    assert_eq!(
        net.take(BOB1)[1..],
        [Event::IncomingRejected {
            key,
            reason: RejectReason::Busy
        }]
    );
    assert_eq!(sent_by(&net, BOB1, is_answer), 1);
    net.assert_quiet();
}

// ---- ended while the app was waking ----

#[test]
fn canceled_while_waking_ends_canceled_once_and_the_held_accept_never_goes_out() {
    let mut net = setup(1, &[BOB1]);
    let out = invite(&mut net, LIFETIME_MS);
    net.cancel(out).unwrap();
    assert_eq!(net.nodes[BOB1].pushes.len(), 2, "invite, then invite_ended");
    let key = push_rings(&mut net, BOB1);
    net.accept(BOB1, key).unwrap();
    wake(&mut net, BOB1);
    net.drain();
    assert_eq!(
        net.take(BOB1)[1..],
        [Event::IncomingCanceled {
            key,
            reason: CancelReason::CallerCanceled
        }]
    );
    assert_eq!(
        net.deliver_push(BOB1),
        Some(Ok(PushHandled::Gone {
            ending: IncomingEnding::Canceled(CancelReason::CallerCanceled)
        }))
    );
    assert_eq!(net.take(BOB1), vec![], "ended once");
    assert_eq!(sent_by(&net, BOB1, |_| true), 0, "no ringing, no accept");
    net.assert_quiet();
}

#[test]
fn answered_on_another_device_while_waking_ends_answered_elsewhere() {
    let mut net = setup(2, &[BOB1]);
    let out = invite(&mut net, LIFETIME_MS);
    net.deliver_all();
    let other = net.incoming_key(BOB2);
    net.accept(BOB2, other).unwrap();
    net.deliver_all();
    let alice = net.take(ALICE);
    let bob2 = net.take(BOB2);
    assert!(
        matches!(
            bob2[..],
            [
                Event::IncomingReceived { .. },
                Event::IncomingAccepted { .. }
            ]
        ),
        "{bob2:?}"
    );
    assert!(matches!(
        alice[..],
        [
            Event::OutgoingRinging { .. },
            Event::OutgoingAccepted { .. }
        ]
    ));

    let key = push_rings(&mut net, BOB1);
    wake(&mut net, BOB1);
    net.deliver_all();
    assert_eq!(
        net.take(BOB1)[1..],
        [Event::IncomingCanceled {
            key,
            reason: CancelReason::AnsweredElsewhere
        }]
    );
    // The invite_ended push comes after: absorbed, reported as gone.
    assert_eq!(
        net.deliver_push(BOB1),
        Some(Ok(PushHandled::Gone {
            ending: IncomingEnding::Canceled(CancelReason::AnsweredElsewhere)
        }))
    );
    assert_eq!(net.take(BOB1), vec![]);
    assert!(net.stored["i1"].outcome.is_some());
    let _ = out;
    hang_up(&mut net, conversation_of(&alice));
    net.assert_quiet();
}

#[test]
fn expired_while_waking_ends_failed_timeout() {
    let mut net = setup(1, &[BOB1]);
    let out = invite(&mut net, 1_000);
    net.advance(1_000);
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingFailed {
            key: out,
            reason: FailureReason::Timeout
        }]
    );
    // The push arrives late: by its own count it still has a second.
    let key = push_rings(&mut net, BOB1);
    wake(&mut net, BOB1);
    net.deliver_all();
    assert_eq!(
        net.take(BOB1)[1..],
        [Event::IncomingFailed {
            key,
            reason: FailureReason::Timeout
        }]
    );
    assert_eq!(
        net.deliver_push(BOB1),
        Some(Ok(PushHandled::Gone {
            ending: IncomingEnding::Failed(FailureReason::Timeout)
        }))
    );
    net.assert_quiet();
}

#[test]
fn caller_gone_while_waking_ends_failed_caller_gone() {
    let mut net = setup(1, &[BOB1]);
    invite(&mut net, LIFETIME_MS);
    net.disconnect(ALICE);
    let key = push_rings(&mut net, BOB1);
    wake(&mut net, BOB1);
    net.deliver_all();
    assert_eq!(
        net.take(BOB1)[1..],
        [Event::IncomingFailed {
            key,
            reason: FailureReason::CallerGone
        }]
    );
    net.assert_quiet();
}

#[test]
fn an_invite_ended_push_ends_a_live_invite_once_and_the_relayed_copy_is_absorbed() {
    let mut net = setup(1, &[BOB1]);
    let out = invite(&mut net, LIFETIME_MS);
    let key = push_rings(&mut net, BOB1);
    wake(&mut net, BOB1);
    net.deliver_all();
    net.cancel(out).unwrap();
    // The outcome travels over the connection and as a push; the push
    // comes first.
    assert_eq!(net.in_flight(ALICE, BOB1), 1);
    assert_eq!(
        net.deliver_push(BOB1),
        Some(Ok(PushHandled::Ended {
            key,
            ending: IncomingEnding::Canceled(CancelReason::CallerCanceled)
        }))
    );
    net.deliver_all();
    assert_eq!(
        net.take(BOB1)[1..],
        [Event::IncomingCanceled {
            key,
            reason: CancelReason::CallerCanceled
        }]
    );
    net.assert_quiet();
}

#[test]
fn an_invite_ended_push_before_the_invite_push_is_a_missed_call_that_never_rings() {
    let mut net = setup(1, &[BOB1]);
    let out = invite(&mut net, LIFETIME_MS);
    net.cancel(out).unwrap();
    net.nodes[BOB1].pushes.swap(0, 1);
    let gone = PushHandled::Gone {
        ending: IncomingEnding::Canceled(CancelReason::CallerCanceled),
    };
    assert_eq!(net.deliver_push(BOB1), Some(Ok(gone.clone())));
    assert_eq!(net.deliver_push(BOB1), Some(Ok(gone)));
    assert_eq!(net.take(BOB1), vec![], "never rang");
    wake(&mut net, BOB1);
    assert_eq!(fetches(&net, BOB1), 0);
    net.assert_quiet();
}

#[test]
fn an_ended_push_naming_a_decision_this_device_did_not_make_keeps_nothing_live() {
    let mut engine = Engine::new(EngineConfig::default());
    let now = Instant::now();
    // Accepted elsewhere, for an invite this device never held.
    let outcome = Outcome::Accepted {
        device: "n1.3".into(),
        participants: vec![],
    };
    assert_eq!(
        engine.handle_push(ended_payload("i9", outcome), now),
        Ok(PushHandled::Gone {
            ending: IncomingEnding::Canceled(CancelReason::AnsweredElsewhere)
        })
    );
    assert_eq!(engine.poll_event(), None);
    assert_eq!(engine.live_count(), 0);
}

#[test]
fn a_server_timeout_crossing_this_devices_accept_is_left_to_the_caller() {
    let mut net = setup(1, &[BOB1]);
    invite(&mut net, 1_000);
    let key = push_rings(&mut net, BOB1);
    wake(&mut net, BOB1);
    net.deliver_link(SERVER, BOB1);
    net.accept(BOB1, key).unwrap();
    // The lifetime runs out by the server's clock before the caller's
    // engine services its timer; the accept reaches it first.
    net.drift(1_000);
    let timeout = Outcome::Failed {
        reason: FailureReason::Timeout,
    };
    assert_eq!(
        net.handle_push(BOB1, ended_payload("i1", timeout.clone())),
        Ok(PushHandled::Live {
            key,
            created: false
        })
    );
    assert_eq!(
        net.incoming_status(BOB1, key),
        Some(IncomingStatus::Accepting)
    );
    net.deliver_all();
    let alice = net.take(ALICE);
    assert!(
        matches!(
            alice[..],
            [
                Event::OutgoingRinging { .. },
                Event::OutgoingAccepted { .. }
            ]
        ),
        "{alice:?}"
    );
    let bob = net.take(BOB1);
    assert!(
        matches!(
            bob[..],
            [
                Event::IncomingReceived { .. },
                Event::IncomingAccepted { .. }
            ]
        ),
        "{bob:?}"
    );
    hang_up(&mut net, conversation_of(&alice));
    net.assert_quiet();
}

#[test]
fn a_server_timeout_ends_a_device_that_did_not_answer() {
    let mut net = setup(1, &[BOB1]);
    invite(&mut net, LIFETIME_MS);
    let key = push_rings(&mut net, BOB1);
    let timeout = Outcome::Failed {
        reason: FailureReason::Timeout,
    };
    assert_eq!(
        net.handle_push(BOB1, ended_payload("i1", timeout)),
        Ok(PushHandled::Ended {
            key,
            ending: IncomingEnding::Failed(FailureReason::Timeout)
        })
    );
    net.drain();
    net.assert_quiet();
}

// ---- the same invite, twice ----

#[test]
fn delivered_over_the_connection_then_pushed_is_one_invite() {
    let mut net = Net::new(1);
    invite(&mut net, LIFETIME_MS);
    net.deliver_all();
    let key = net.incoming_key(BOB1);
    net.take(BOB1);
    let requests = net.requests.len();
    assert_eq!(
        net.handle_push(BOB1, invite_payload("i1", "alice", 50_000)),
        Ok(PushHandled::Live {
            key,
            created: false
        })
    );
    assert_eq!(net.take(BOB1), vec![]);
    assert_eq!(net.requests.len(), requests, "no fetch: it is known");
    assert_eq!(net.nodes[BOB1].engine.incoming_confirmed(key), Some(true));
    net.drain();
    net.assert_quiet();
}

#[test]
fn pushed_then_delivered_over_the_connection_is_one_invite_filled_in_once() {
    let mut net = Net::new(1);
    net.sleep(BOB1);
    // The push arrives before the invite does (from another node, say).
    let key = match net.handle_push(BOB1, invite_payload("i1", "alice", 50_000)) {
        Ok(PushHandled::Live { key, created: true }) => key,
        other => panic!("{other:?}"),
    };
    wake(&mut net, BOB1);
    assert_eq!(fetches(&net, BOB1), 1);
    let out = invite(&mut net, LIFETIME_MS);
    // The delivery overtakes the fetch's answer (not found: this
    // simulated server stores only what it pushed).
    net.deliver_link(ALICE, BOB1);
    assert_eq!(net.nodes[BOB1].engine.incoming_confirmed(key), Some(true));
    assert_eq!(net.take(BOB1).len(), 1, "only the push's IncomingReceived");
    net.deliver_all();
    let updated = net.push_events(BOB1);
    assert!(
        matches!(&updated[..], [PushEvent::IncomingUpdated { key: k, info }] if *k == key && info.offer.as_deref() == Some("v=0 offer")),
        "{updated:?}"
    );
    assert_eq!(net.take(ALICE), vec![Event::OutgoingRinging { key: out }]);
    assert_eq!(
        net.incoming_status(BOB1, key),
        Some(IncomingStatus::Pending),
        "the late not_found is absorbed"
    );
    net.reject(BOB1, key, RejectReason::Declined).unwrap();
    net.drain();
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingRejected {
            key,
            reason: RejectReason::Declined
        }]
    );
    assert_eq!(
        sent_by(&net, BOB1, |b| matches!(b, PeerMessage::Ringing { .. })),
        1
    );
    net.assert_quiet();
}

#[test]
fn two_pushes_of_one_invite_are_one_invite_fetched_once() {
    let mut net = setup(1, &[BOB1]);
    invite(&mut net, LIFETIME_MS);
    net.duplicate_push(BOB1);
    let key = push_rings(&mut net, BOB1);
    assert_eq!(
        net.deliver_push(BOB1),
        Some(Ok(PushHandled::Live {
            key,
            created: false
        }))
    );
    wake(&mut net, BOB1);
    assert_eq!(fetches(&net, BOB1), 1);
    net.deliver_all();
    assert_eq!(net.take(BOB1).len(), 1);
    assert_eq!(net.push_events(BOB1).len(), 1);
    net.drain();
    net.assert_quiet();
}

// ---- what the fetch can answer ----

#[test]
fn fetch_not_found_ends_failed_caller_gone() {
    let mut net = Net::new(1);
    net.sleep(BOB1);
    let key = match net.handle_push(BOB1, invite_payload("i7", "alice", 50_000)) {
        Ok(PushHandled::Live { key, .. }) => key,
        other => panic!("{other:?}"),
    };
    wake(&mut net, BOB1);
    net.deliver_all();
    assert_eq!(
        net.take(BOB1)[1..],
        [Event::IncomingFailed {
            key,
            reason: FailureReason::CallerGone
        }]
    );
    net.assert_quiet();
}

#[test]
fn a_server_that_cannot_fetch_is_bypassed_by_asking_the_caller() {
    let mut net = setup(1, &[BOB1]);
    net.fetch_fails = Some(ErrorCode::Unsupported);
    let out = invite(&mut net, LIFETIME_MS);
    let key = push_rings(&mut net, BOB1);
    net.accept(BOB1, key).unwrap();
    wake(&mut net, BOB1);
    net.deliver_link(SERVER, BOB1);
    assert_eq!(
        sent_by(&net, BOB1, |b| matches!(b, PeerMessage::Query { .. })),
        1
    );
    assert_eq!(net.take(BOB1).len(), 1, "still ringing by its lifetime");
    net.deliver_all();
    let alice = net.take(ALICE);
    assert!(
        matches!(&alice[..], [Event::OutgoingRinging { key }, Event::OutgoingAccepted { .. }] if *key == out),
        "{alice:?}"
    );
    let bob = net.take(BOB1);
    assert!(
        matches!(bob[..], [Event::IncomingAccepted { .. }]),
        "{bob:?}"
    );
    assert!(
        net.push_events(BOB1).is_empty(),
        "the caller's answer carries no offer"
    );
    hang_up(&mut net, conversation_of(&alice));
    net.assert_quiet();
}

#[test]
fn a_server_that_cannot_fetch_and_a_caller_gone_end_failed_caller_gone() {
    let mut net = setup(1, &[BOB1]);
    net.fetch_fails = Some(ErrorCode::Internal);
    invite(&mut net, LIFETIME_MS);
    net.disconnect(ALICE);
    let key = push_rings(&mut net, BOB1);
    wake(&mut net, BOB1);
    net.deliver_all();
    assert_eq!(
        net.take(BOB1)[1..],
        [Event::IncomingFailed {
            key,
            reason: FailureReason::CallerGone
        }]
    );
    net.assert_quiet();
}

#[test]
fn a_held_accept_ends_failed_timeout_when_the_lifetime_runs_out_unconfirmed() {
    let mut net = setup(1, &[BOB1]);
    let out = invite(&mut net, 2_000);
    net.advance(500);
    let key = push_rings(&mut net, BOB1);
    net.accept(BOB1, key).unwrap();
    net.advance(1_500);
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingFailed {
            key: out,
            reason: FailureReason::Timeout
        }]
    );
    assert_eq!(net.take(BOB1)[1..], [], "its own count runs 500 ms later");
    net.advance(500);
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingFailed {
            key,
            reason: FailureReason::Timeout
        }]
    );
    assert_eq!(sent_by(&net, BOB1, |_| true), 0);
    net.assert_quiet();
}

#[test]
fn the_fetch_sets_the_lifetime_to_what_the_server_has_left() {
    let mut net = setup(1, &[BOB1]);
    invite(&mut net, 10_000);
    net.advance(4_000);
    // Delivered 4 s late: by its own count it would ring until 14 s.
    let key = push_rings(&mut net, BOB1);
    assert_eq!(net.nodes[BOB1].engine.poll_timeout(), Some(net.at(14_000)));
    net.advance(1_000);
    wake(&mut net, BOB1);
    net.deliver_all();
    assert_eq!(net.nodes[BOB1].engine.poll_timeout(), Some(net.at(10_000)));
    net.advance(5_000);
    net.deliver_all();
    assert_eq!(
        net.take(BOB1)[1..],
        [Event::IncomingFailed {
            key,
            reason: FailureReason::Timeout
        }]
    );
    net.assert_quiet();
}

#[test]
fn user_data_too_large_for_the_push_comes_with_the_fetch() {
    let mut net = setup(1, &[BOB1]);
    let mut req = request("bob", "i1", LIFETIME_MS);
    req.user_data = Some("u".repeat(MAX_USER_DATA_LEN));
    net.invite(ALICE, req).unwrap();
    assert!(matches!(
        net.nodes[BOB1].pushes[0],
        PushPayload::Invite {
            user_data: None,
            user_data_omitted: true,
            ..
        }
    ));
    let key = push_rings(&mut net, BOB1);
    let Event::IncomingReceived { info, .. } = &net.take(BOB1)[0] else {
        panic!()
    };
    assert_eq!(info.user_data, None);
    wake(&mut net, BOB1);
    net.deliver_all();
    let updated = net.push_events(BOB1);
    let [PushEvent::IncomingUpdated { key: k, info }] = &updated[..] else {
        panic!("{updated:?}")
    };
    assert_eq!(*k, key);
    assert_eq!(
        info.user_data.as_deref().map(str::len),
        Some(MAX_USER_DATA_LEN)
    );
    net.drain();
    net.assert_quiet();
}

#[test]
fn a_fetch_goes_out_once_per_connection_until_answered() {
    let mut net = setup(1, &[BOB1]);
    invite(&mut net, LIFETIME_MS);
    let key = push_rings(&mut net, BOB1);
    wake(&mut net, BOB1);
    assert_eq!(fetches(&net, BOB1), 1);
    // The link drops before the answer arrives: asked again.
    net.link_lost(BOB1);
    net.reconnect(BOB1, "n1.20");
    assert_eq!(fetches(&net, BOB1), 2);
    net.deliver_all();
    assert_eq!(net.nodes[BOB1].engine.incoming_confirmed(key), Some(true));
    // Once answered, a reconnect reconciles it like any invite: `query`.
    net.link_lost(BOB1);
    net.reconnect(BOB1, "n1.21");
    assert_eq!(fetches(&net, BOB1), 2);
    assert_eq!(
        sent_by(&net, BOB1, |b| matches!(b, PeerMessage::Query { .. })),
        1
    );
    net.drain();
    net.assert_quiet();
}

#[test]
fn an_outcome_naming_this_device_while_its_accept_is_held_is_ignored() {
    let mut net = setup(1, &[BOB1]);
    invite(&mut net, LIFETIME_MS);
    let key = push_rings(&mut net, BOB1);
    net.accept(BOB1, key).unwrap();
    wake(&mut net, BOB1);
    let forged = Net::forged(
        "alice",
        "n1.1",
        PeerMessage::Outcome {
            invite_id: "i1".into(),
            outcome: Outcome::Accepted {
                device: "n1.11".into(),
                participants: vec![],
            },
        },
    );
    net.inject(BOB1, forged);
    assert_eq!(net.take(BOB1).len(), 1, "its accept never went out");
    assert_eq!(
        net.incoming_status(BOB1, key),
        Some(IncomingStatus::Accepting)
    );
    net.deliver_all();
    let alice = net.take(ALICE);
    let bob = net.take(BOB1);
    assert!(
        matches!(bob[..], [Event::IncomingAccepted { .. }]),
        "{bob:?}"
    );
    hang_up(&mut net, conversation_of(&alice));
    net.assert_quiet();
}

#[test]
fn an_invite_state_about_another_callers_invite_is_ignored() {
    let mut net = setup(1, &[BOB1]);
    invite(&mut net, LIFETIME_MS);
    let key = push_rings(&mut net, BOB1);
    wake(&mut net, BOB1);
    let body = PeerMessage::Invite {
        invite_id: "i1".into(),
        conversation_id: "c1".into(),
        mode: Mode::P2p,
        user_data: None,
        offer: None,
        lifetime_ms: 1,
    };
    for outcome in [None, Some(Outcome::Canceled { reason: None })] {
        net.inject(
            BOB1,
            ServerMessage::InviteState {
                invite_id: "i1".into(),
                from: "mallory".into(),
                device: "n1.7".into(),
                invite: Box::new(body.clone()),
                time_left_ms: 1,
                outcome,
            },
        );
    }
    net.inject(
        BOB1,
        ServerMessage::FetchFailed {
            invite_id: "i9".into(),
            code: ErrorCode::NotFound,
        },
    );
    assert_eq!(net.take(BOB1).len(), 1);
    assert_eq!(net.nodes[BOB1].engine.incoming_confirmed(key), Some(false));
    net.drain();
    net.assert_quiet();
}

// ---- bad pushes ----

#[test]
fn malformed_and_foreign_pushes_are_refused_by_field_and_change_nothing() {
    let mut net = Net::new(1);
    invite(&mut net, LIFETIME_MS);
    net.deliver_all();
    net.take(BOB1);
    let live = net.nodes[BOB1].engine.live_count();
    let with = |f: fn(&mut PushPayload)| {
        let mut p = invite_payload("i2", "carol", 1_000);
        f(&mut p);
        p
    };
    let cases: Vec<(PushPayload, &str)> = vec![
        (
            with(|p| {
                if let PushPayload::Invite { wd, .. } = p {
                    *wd = 2
                }
            }),
            "wd",
        ),
        (
            with(|p| {
                if let PushPayload::Invite { invite_id, .. } = p {
                    *invite_id = "../x".into()
                }
            }),
            "invite_id",
        ),
        (
            with(|p| {
                if let PushPayload::Invite { time_left_ms, .. } = p {
                    *time_left_ms = MAX_LIFETIME_MS + 1
                }
            }),
            "time_left_ms",
        ),
        (
            with(|p| {
                if let PushPayload::Invite { user_data, .. } = p {
                    *user_data = Some("u".repeat(MAX_USER_DATA_LEN + 1))
                }
            }),
            "user_data",
        ),
        (invite_payload("i2", "bob", 1_000), "from"),
        (invite_payload("i1", "carol", 1_000), "invite_id"),
        (
            PushPayload::InviteEnded {
                wd: PUSH_PAYLOAD_VERSION,
                invite_id: "i1".into(),
                conversation_id: "c1".into(),
                from: "carol".into(),
                outcome: Outcome::Canceled { reason: None },
            },
            "invite_id",
        ),
    ];
    for (payload, field) in cases {
        let got = net.handle_push(BOB1, payload.clone());
        assert!(
            matches!(&got, Err(EngineError::InvalidArgument { field: f, .. }) if *f == field),
            "{payload:?}: {got:?}"
        );
        assert_eq!(net.take(BOB1), vec![]);
        assert_eq!(net.nodes[BOB1].engine.live_count(), live);
    }
    net.drain();
    net.assert_quiet();
}

// ---- registrations ----

fn registration(key: &str) -> PushRegistration {
    PushRegistration {
        provider: PushProvider::Fcm,
        app_id: APP_ID.to_owned(),
        push_key: key.to_owned(),
        data: None,
    }
}

fn transmits(engine: &mut Engine) -> Vec<ClientMessage> {
    std::iter::from_fn(|| engine.poll_transmit()).collect()
}

fn push_events(engine: &mut Engine) -> Vec<PushEvent> {
    std::iter::from_fn(|| engine.poll_push_event()).collect()
}

fn register_message(key: &str) -> ClientMessage {
    ClientMessage::RegisterPush {
        provider: PushProvider::Fcm,
        app_id: APP_ID.to_owned(),
        push_key: key.to_owned(),
        data: None,
    }
}

#[test]
fn a_registration_goes_out_on_connect_and_again_after_every_reconnect() {
    let mut engine = Engine::new(EngineConfig::default());
    let now = Instant::now();
    engine.register_push(registration("k1")).unwrap();
    assert_eq!(transmits(&mut engine), vec![], "not connected");
    engine.handle_connected("bob", "n1.2");
    assert_eq!(transmits(&mut engine), vec![register_message("k1")]);
    engine.handle_message(
        ServerMessage::PushRegistered {
            app_id: APP_ID.into(),
            push_key: "k1".into(),
        },
        now,
    );
    assert_eq!(
        push_events(&mut engine),
        vec![PushEvent::Registered {
            app_id: APP_ID.into(),
            push_key: "k1".into()
        }]
    );
    engine.handle_link_lost(now);
    engine.handle_connected("bob", "n1.3");
    assert_eq!(transmits(&mut engine), vec![register_message("k1")]);
    // Registered while connected: sent at once; the same key again
    // replaces it.
    engine.register_push(registration("k2")).unwrap();
    let mut again = registration("k1");
    again.provider = PushProvider::Webpush;
    engine.register_push(again.clone()).unwrap();
    assert_eq!(transmits(&mut engine).len(), 2);
    assert_eq!(
        engine.push_registrations(),
        &[registration("k2"), again][..]
    );
}

#[test]
fn an_unregister_goes_out_until_confirmed_and_the_registration_is_not_sent_again() {
    let mut engine = Engine::new(EngineConfig::default());
    let now = Instant::now();
    engine.register_push(registration("k1")).unwrap();
    engine.unregister_push(APP_ID, "k1").unwrap();
    assert_eq!(engine.push_registrations(), &[]);
    let unregister = ClientMessage::UnregisterPush {
        app_id: APP_ID.into(),
        push_key: "k1".into(),
    };
    engine.handle_connected("bob", "n1.2");
    assert_eq!(transmits(&mut engine), vec![unregister.clone()]);
    engine.handle_link_lost(now);
    engine.handle_connected("bob", "n1.3");
    assert_eq!(transmits(&mut engine), vec![unregister.clone()]);
    // A stale answer to the registration is not reported.
    engine.handle_message(
        ServerMessage::PushRegistered {
            app_id: APP_ID.into(),
            push_key: "k1".into(),
        },
        now,
    );
    let done = ServerMessage::PushUnregistered {
        app_id: APP_ID.into(),
        push_key: "k1".into(),
        reason: UnregisterReason::Requested,
    };
    engine.handle_message(done.clone(), now);
    engine.handle_message(done, now);
    assert_eq!(
        push_events(&mut engine),
        vec![PushEvent::Unregistered {
            app_id: APP_ID.into(),
            push_key: "k1".into(),
            reason: UnregisterReason::Requested
        }],
        "once"
    );
    engine.handle_link_lost(now);
    engine.handle_connected("bob", "n1.4");
    assert_eq!(transmits(&mut engine), vec![]);
}

#[test]
fn a_key_the_gateway_rejected_is_dropped_and_reported_only_to_its_device() {
    let mut engine = Engine::new(EngineConfig::default());
    let now = Instant::now();
    engine.handle_connected("bob", "n1.2");
    engine.register_push(registration("k1")).unwrap();
    transmits(&mut engine);
    for key in ["k-of-another-device", "k1"] {
        engine.handle_message(
            ServerMessage::PushUnregistered {
                app_id: APP_ID.into(),
                push_key: key.into(),
                reason: UnregisterReason::Rejected,
            },
            now,
        );
    }
    assert_eq!(
        push_events(&mut engine),
        vec![PushEvent::Unregistered {
            app_id: APP_ID.into(),
            push_key: "k1".into(),
            reason: UnregisterReason::Rejected
        }]
    );
    assert_eq!(engine.push_registrations(), &[]);
    engine.handle_link_lost(now);
    engine.handle_connected("bob", "n1.3");
    assert_eq!(
        transmits(&mut engine),
        vec![],
        "a dead key is not sent again"
    );
}

#[test]
fn a_refused_registration_is_dropped_unless_the_refusal_is_passing() {
    let mut engine = Engine::new(EngineConfig::default());
    let now = Instant::now();
    engine.handle_connected("bob", "n1.2");
    engine.register_push(registration("k1")).unwrap();
    engine.register_push(registration("k2")).unwrap();
    transmits(&mut engine);
    let failed = |key: &str, code| ServerMessage::PushRegistrationFailed {
        app_id: APP_ID.into(),
        push_key: key.into(),
        code,
        message: "no".into(),
    };
    engine.handle_message(failed("k1", ErrorCode::Unsupported), now);
    engine.handle_message(failed("k2", ErrorCode::RateLimited), now);
    engine.handle_message(failed("k3", ErrorCode::Unsupported), now);
    let events = push_events(&mut engine);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(
        &events[0],
        PushEvent::RegistrationFailed { push_key, code: ErrorCode::Unsupported, .. } if push_key == "k1"
    ));
    assert_eq!(engine.push_registrations(), &[registration("k2")]);
    engine.handle_link_lost(now);
    engine.handle_connected("bob", "n1.3");
    assert_eq!(transmits(&mut engine), vec![register_message("k2")]);
}

#[test]
fn registrations_are_bounded_and_bad_fields_are_named() {
    let mut engine = Engine::new(EngineConfig::default());
    for i in 0..=16 {
        engine
            .register_push(registration(&format!("k{i}")))
            .unwrap();
    }
    let keys: Vec<&str> = engine
        .push_registrations()
        .iter()
        .map(|r| r.push_key.as_str())
        .collect();
    assert_eq!(keys.len(), 16);
    assert_eq!(keys[0], "k1", "the least recently registered went");

    let mut big = Map::new();
    big.insert("x".into(), Value::from("d".repeat(MAX_PUSH_DATA_LEN)));
    let bad = [
        (
            PushRegistration {
                app_id: String::new(),
                ..registration("k")
            },
            "appId",
        ),
        (registration(&"k".repeat(MAX_PUSH_KEY_LEN + 1)), "pushKey"),
        (registration("k\n"), "pushKey"),
        (
            PushRegistration {
                data: Some(big),
                ..registration("k")
            },
            "data",
        ),
    ];
    for (reg, field) in bad {
        let got = engine.register_push(reg);
        assert!(
            matches!(&got, Err(EngineError::InvalidArgument { field: f, .. }) if *f == field),
            "{got:?}"
        );
    }
    assert!(matches!(
        engine.unregister_push("", "k"),
        Err(EngineError::InvalidArgument { field: "appId", .. })
    ));
    assert_eq!(engine.push_registrations().len(), 16);
    assert_eq!(engine.poll_transmit(), None);
}
