//! Every transition and race of the engine, one ordering per test, on a
//! fake clock. Each test ends with `assert_quiet`: nothing in flight, no
//! timer, `live_count() == 0` in every engine.

use wd_protocol::{
    CancelReason, FailureReason, LeaveReason, Mode, Outcome, PeerMessage, RejectReason,
    ServerMessage, MAX_LIFETIME_MS, MAX_SDP_LEN, MAX_USER_DATA_LEN,
};

use super::harness::{request, Net, ALICE, BOB1, BOB2, BOB3, LIFETIME_MS};
use crate::engine::{
    Answer, Engine, EngineConfig, EngineError, Event, IncomingStatus, Key, Participant,
    DEFAULT_CONFIRM_TIMEOUT,
};

// ---- helpers ----

/// Alice invites bob's `devices` devices and the invite reaches all of them.
/// Returns the net, alice's key and each device's incoming key (index 0 is
/// unused so `keys[BOB1]` reads naturally). Events so far are taken.
fn rung(devices: usize) -> (Net, Key, Vec<Key>) {
    let mut net = Net::new(devices);
    let out = net.invite_bob(LIFETIME_MS);
    net.deliver_all();
    let mut keys = vec![Key(0)];
    for d in 1..=devices {
        keys.push(net.incoming_key(d));
        assert!(matches!(net.take(d)[..], [Event::IncomingReceived { .. }]));
    }
    assert_eq!(net.take(ALICE), vec![Event::OutgoingRinging { key: out }]);
    (net, out, keys)
}

fn participant(uid: &str, device: &str) -> Participant {
    Participant {
        uid: uid.to_owned(),
        device: device.to_owned(),
    }
}

fn canceled(key: Key, reason: CancelReason) -> Event {
    Event::IncomingCanceled { key, reason }
}

fn in_failed(key: Key, reason: FailureReason) -> Event {
    Event::IncomingFailed { key, reason }
}

fn out_failed(key: Key, reason: FailureReason) -> Event {
    Event::OutgoingFailed { key, reason }
}

/// The conversation key of an `OutgoingAccepted` / `IncomingAccepted`.
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

/// Both sides of an accepted invite leave their conversation (alice first)
/// and the leave reaches the other side.
fn hang_up(net: &mut Net, alice_conv: Key, bob: usize, bob_conv: Key) {
    net.leave(ALICE, alice_conv).unwrap();
    net.deliver_all();
    assert_eq!(
        net.take(bob),
        vec![
            Event::ParticipantDisconnected {
                key: bob_conv,
                participant: participant("alice", "n1.1"),
                reason: LeaveReason::Left,
            },
            Event::ConversationDisconnected { key: bob_conv },
        ]
    );
    assert_eq!(
        net.take(ALICE),
        vec![Event::ConversationDisconnected { key: alice_conv }]
    );
}

fn outcome(invite_id: &str, outcome: Outcome) -> PeerMessage {
    PeerMessage::Outcome {
        invite_id: invite_id.to_owned(),
        outcome,
    }
}

// ---- accept ----

#[test]
fn accept_starts_the_conversation_on_both_sides() {
    let mut net = Net::new(1);
    let mut req = request("bob", "i1", LIFETIME_MS);
    req.user_data = Some("hello bob".into());
    req.offer = Some("v=0 offer".into());
    req.mode = Mode::Server;
    let out = net.invite(ALICE, req).unwrap();
    assert!(net.nodes[ALICE].engine.is_outgoing_pending(out));
    net.deliver_all();

    let bob = net.incoming_key(BOB1);
    let Event::IncomingReceived { info, .. } = &net.take(BOB1)[0] else {
        panic!("no invite")
    };
    assert_eq!(info.from, "alice");
    assert_eq!(info.from_device, "n1.1");
    assert_eq!(info.invite_id, "i1");
    assert_eq!(info.conversation_id, "c1");
    assert_eq!(info.mode, Mode::Server);
    assert_eq!(info.user_data.as_deref(), Some("hello bob"));
    assert_eq!(info.offer.as_deref(), Some("v=0 offer"));
    assert_eq!(
        net.incoming_status(BOB1, bob),
        Some(IncomingStatus::Pending)
    );
    assert_eq!(net.take(ALICE), vec![Event::OutgoingRinging { key: out }]);

    net.accept_with(BOB1, bob, Some("v=0 answer"), Some("hi alice"))
        .unwrap();
    assert_eq!(
        net.incoming_status(BOB1, bob),
        Some(IncomingStatus::Accepting)
    );
    assert_eq!(net.take(BOB1), vec![], "accepting is not terminal");
    net.deliver_link(BOB1, ALICE);

    let alice_events = net.take(ALICE);
    let [Event::OutgoingAccepted {
        key,
        answer,
        conversation,
    }] = &alice_events[..]
    else {
        panic!("{alice_events:?}")
    };
    assert_eq!(*key, out);
    assert_eq!(
        *answer,
        Answer {
            device: "n1.2".into(),
            answer: Some("v=0 answer".into()),
            user_data: Some("hi alice".into()),
        }
    );
    assert_eq!(conversation.conversation_id, "c1");
    assert_eq!(conversation.mode, Mode::Server);
    assert_eq!(conversation.participants, vec![participant("bob", "n1.2")]);
    assert!(!net.nodes[ALICE].engine.is_outgoing_pending(out));
    let alice_conv = conversation.key;
    assert_eq!(
        net.nodes[ALICE].engine.participants(alice_conv),
        Some(&[participant("bob", "n1.2")][..])
    );

    net.deliver_all();
    let bob_events = net.take(BOB1);
    let [Event::IncomingAccepted { key, conversation }] = &bob_events[..] else {
        panic!("{bob_events:?}")
    };
    assert_eq!(*key, bob);
    assert_eq!(conversation.conversation_id, "c1");
    assert_eq!(conversation.mode, Mode::Server);
    assert_eq!(
        conversation.participants,
        vec![participant("alice", "n1.1")]
    );
    assert_eq!(net.incoming_status(BOB1, bob), None);
    assert_eq!(
        net.nodes[BOB1].engine.poll_timeout(),
        None,
        "confirm timer cleared"
    );

    // Two live conversations, nothing else.
    assert_eq!(net.nodes[ALICE].engine.live_count(), 1);
    assert_eq!(net.nodes[BOB1].engine.live_count(), 1);
    let bob_conv = conversation.key;
    hang_up(&mut net, alice_conv, BOB1, bob_conv);
    net.assert_quiet();
}

#[test]
fn accept_twice_is_invalid_state() {
    let (mut net, _, keys) = rung(1);
    net.accept(BOB1, keys[BOB1]).unwrap();
    assert_eq!(
        net.accept(BOB1, keys[BOB1]),
        Err(EngineError::InvalidState {
            status: "accepting"
        })
    );
    assert_eq!(net.in_flight(BOB1, ALICE), 1, "one accept sent");
    net.drain();
    let conv = conversation_of(&net.take(ALICE));
    assert_eq!(net.accept(BOB1, keys[BOB1]), Err(EngineError::UnknownKey));
    let bob_conv = conversation_of(&net.take(BOB1));
    hang_up(&mut net, conv, BOB1, bob_conv);
    net.assert_quiet();
}

#[test]
fn reject_while_accepting_is_invalid_state() {
    let (mut net, out, keys) = rung(1);
    net.accept(BOB1, keys[BOB1]).unwrap();
    assert_eq!(
        net.reject(BOB1, keys[BOB1], RejectReason::Declined),
        Err(EngineError::InvalidState {
            status: "accepting"
        })
    );
    assert_eq!(
        net.incoming_status(BOB1, keys[BOB1]),
        Some(IncomingStatus::Accepting)
    );
    net.deliver_all();
    let alice = net.take(ALICE);
    assert!(matches!(alice[..], [Event::OutgoingAccepted { key, .. }] if key == out));
    let bob = net.take(BOB1);
    assert!(matches!(bob[..], [Event::IncomingAccepted { .. }]));
    hang_up(
        &mut net,
        conversation_of(&alice),
        BOB1,
        conversation_of(&bob),
    );
    net.assert_quiet();
}

#[test]
fn oversized_answer_or_user_data_is_refused_and_changes_nothing() {
    let (mut net, _, keys) = rung(1);
    let big_sdp = "x".repeat(MAX_SDP_LEN + 1);
    let big_text = "x".repeat(MAX_USER_DATA_LEN + 1);
    let err = net
        .accept_with(BOB1, keys[BOB1], Some(&big_sdp), None)
        .unwrap_err();
    assert!(matches!(
        err,
        EngineError::InvalidArgument {
            field: "answer",
            ..
        }
    ));
    let err = net
        .accept_with(BOB1, keys[BOB1], None, Some(&big_text))
        .unwrap_err();
    assert!(matches!(
        err,
        EngineError::InvalidArgument {
            field: "userData",
            ..
        }
    ));
    assert_eq!(
        net.incoming_status(BOB1, keys[BOB1]),
        Some(IncomingStatus::Pending)
    );
    assert_eq!(net.busy_links(), vec![]);
    net.reject(BOB1, keys[BOB1], RejectReason::Declined)
        .unwrap();
    net.drain();
    net.assert_quiet();
}

// ---- reject ----

#[test]
fn reject_declined_and_busy_reach_the_caller() {
    for reason in [RejectReason::Declined, RejectReason::Busy] {
        let (mut net, out, keys) = rung(1);
        net.reject(BOB1, keys[BOB1], reason).unwrap();
        // A proposal, as an accept is: rejecting until the caller decides.
        assert_eq!(net.take(BOB1), vec![]);
        assert_eq!(
            net.incoming_status(BOB1, keys[BOB1]),
            Some(IncomingStatus::Rejecting)
        );
        assert_eq!(
            net.reject(BOB1, keys[BOB1], reason),
            Err(EngineError::InvalidState {
                status: "rejecting"
            }),
            "a second reject"
        );
        assert_eq!(
            net.accept(BOB1, keys[BOB1]),
            Err(EngineError::InvalidState {
                status: "rejecting"
            })
        );
        net.deliver_all();
        assert_eq!(
            net.take(ALICE),
            vec![Event::OutgoingRejected { key: out, reason }]
        );
        // Alice's outcome (rejected by n1.2) ends it on n1.2, the same way.
        assert_eq!(
            net.take(BOB1),
            vec![Event::IncomingRejected {
                key: keys[BOB1],
                reason
            }]
        );
        assert_eq!(net.incoming_status(BOB1, keys[BOB1]), None);
        assert_eq!(net.nodes[BOB1].engine.poll_timeout(), None);
        assert_eq!(
            net.reject(BOB1, keys[BOB1], reason),
            Err(EngineError::UnknownKey)
        );
        assert_eq!(net.cancel(out), Err(EngineError::UnknownKey));
        net.assert_quiet();
    }
}

// ---- cancel ----

#[test]
fn cancel_is_final_when_it_returns_and_the_invitee_ends_caller_canceled() {
    let (mut net, out, keys) = rung(1);
    assert_eq!(net.cancel(out), Ok(()));
    assert!(!net.nodes[ALICE].engine.is_outgoing_pending(out));
    assert_eq!(net.nodes[ALICE].engine.poll_timeout(), None);
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingCanceled {
            key: out,
            reason: CancelReason::CallerCanceled
        }]
    );
    net.deliver_all();
    assert_eq!(
        net.take(BOB1),
        vec![canceled(keys[BOB1], CancelReason::CallerCanceled)]
    );
    net.assert_quiet();
}

#[test]
fn cancel_before_the_invite_arrives_still_cancels_it_there() {
    let mut net = Net::new(1);
    let out = net.invite_bob(LIFETIME_MS);
    net.cancel(out).unwrap();
    net.deliver_all();
    let bob = net.take(BOB1);
    let key = net.incoming_key(BOB1);
    assert!(matches!(bob[0], Event::IncomingReceived { .. }));
    assert_eq!(bob[1..], [canceled(key, CancelReason::CallerCanceled)]);
    // The ringing arrived after the cancel: no ringing event.
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingCanceled {
            key: out,
            reason: CancelReason::CallerCanceled
        }]
    );
    net.assert_quiet();
}

#[test]
fn cancel_twice_is_unknown_key() {
    let (mut net, out, _) = rung(1);
    net.cancel(out).unwrap();
    // The engine forgets finished outgoing invites, so it cannot tell a
    // finished key from a never-issued one; the client layer reports this
    // as "invalid state".
    assert_eq!(net.cancel(out), Err(EngineError::UnknownKey));
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingCanceled {
            key: out,
            reason: CancelReason::CallerCanceled
        }],
        "one event"
    );
    assert_eq!(net.in_flight(ALICE, BOB1), 1, "one outcome sent");
    net.drain();
    net.assert_quiet();
}

#[test]
fn cancel_after_accepted_is_refused_and_changes_nothing() {
    let (mut net, out, keys) = rung(1);
    net.accept(BOB1, keys[BOB1]).unwrap();
    net.deliver_all();
    let alice = net.take(ALICE);
    assert_eq!(net.cancel(out), Err(EngineError::UnknownKey));
    assert_eq!(net.take(ALICE), vec![]);
    assert_eq!(net.busy_links(), vec![]);
    let bob = net.take(BOB1);
    assert!(matches!(bob[..], [Event::IncomingAccepted { .. }]));
    hang_up(
        &mut net,
        conversation_of(&alice),
        BOB1,
        conversation_of(&bob),
    );
    net.assert_quiet();
}

#[test]
fn accept_after_canceled_is_unknown_key() {
    let (mut net, out, keys) = rung(1);
    net.cancel(out).unwrap();
    net.deliver_all();
    assert_eq!(net.accept(BOB1, keys[BOB1]), Err(EngineError::UnknownKey));
    assert_eq!(
        net.reject(BOB1, keys[BOB1], RejectReason::Busy),
        Err(EngineError::UnknownKey)
    );
    assert_eq!(net.busy_links(), vec![]);
    net.assert_quiet();
}

#[test]
fn unknown_keys_are_refused() {
    let mut net = Net::new(1);
    assert_eq!(net.cancel(Key(42)), Err(EngineError::UnknownKey));
    assert_eq!(net.accept(BOB1, Key(42)), Err(EngineError::UnknownKey));
    assert_eq!(
        net.reject(BOB1, Key(42), RejectReason::Declined),
        Err(EngineError::UnknownKey)
    );
    assert_eq!(net.leave(BOB1, Key(42)), Err(EngineError::UnknownKey));
    // An incoming key is not an outgoing one and vice versa.
    let out = net.invite_bob(LIFETIME_MS);
    net.deliver_all();
    let inc = net.incoming_key(BOB1);
    assert_eq!(
        net.nodes[ALICE].engine.accept(out, None, None, net.now),
        Err(EngineError::UnknownKey)
    );
    assert_eq!(
        net.nodes[BOB1].engine.cancel(inc, net.now),
        Err(EngineError::UnknownKey)
    );
    net.cancel(out).unwrap();
    net.drain();
    net.assert_quiet();
}

// ---- cancel crossing accept ----

#[test]
fn cancel_reaching_the_caller_before_the_accept_wins() {
    let (mut net, out, keys) = rung(1);
    net.accept(BOB1, keys[BOB1]).unwrap(); // in flight to alice
    net.cancel(out).unwrap(); // alice decides first
    net.deliver_all(); // the accept is absorbed, the cancel reaches bob
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingCanceled {
            key: out,
            reason: CancelReason::CallerCanceled
        }]
    );
    assert_eq!(
        net.take(BOB1),
        vec![canceled(keys[BOB1], CancelReason::CallerCanceled)]
    );
    net.assert_quiet();
}

#[test]
fn accept_reaching_the_caller_before_the_cancel_wins() {
    let (mut net, out, keys) = rung(1);
    net.accept(BOB1, keys[BOB1]).unwrap();
    net.deliver_link(BOB1, ALICE);
    assert_eq!(net.cancel(out), Err(EngineError::UnknownKey));
    net.deliver_all();
    let alice = net.take(ALICE);
    let bob = net.take(BOB1);
    assert!(matches!(alice[..], [Event::OutgoingAccepted { key, .. }] if key == out));
    assert!(matches!(bob[..], [Event::IncomingAccepted { key, .. }] if key == keys[BOB1]));
    hang_up(
        &mut net,
        conversation_of(&alice),
        BOB1,
        conversation_of(&bob),
    );
    net.assert_quiet();
}

// ---- lifetime ----

#[test]
fn caller_lifetime_expiry_fails_both_sides_with_timeout() {
    let mut net = Net::new(1);
    let out = net.invite_bob(10_000);
    assert_eq!(net.nodes[ALICE].engine.poll_timeout(), Some(net.at(10_000)));
    net.advance(100);
    net.deliver_all(); // bob's own deadline is 10 100
    let bob = net.incoming_key(BOB1);
    net.advance_to(net.at(9_999));
    assert!(net.nodes[ALICE].engine.is_outgoing_pending(out));
    net.advance_to(net.at(10_000));
    assert_eq!(
        net.take(ALICE),
        vec![
            Event::OutgoingRinging { key: out },
            out_failed(out, FailureReason::Timeout)
        ]
    );
    assert_eq!(net.cancel(out), Err(EngineError::UnknownKey));
    net.deliver_all();
    assert_eq!(
        net.take(BOB1)[1..],
        [in_failed(bob, FailureReason::Timeout)]
    );
    net.assert_quiet();
}

#[test]
fn invitee_lifetime_counts_from_receipt() {
    let mut net = Net::new(1);
    let out = net.invite_bob(10_000);
    net.advance(5_000);
    net.deliver_link(ALICE, BOB1); // the invite arrives late
    let bob = net.incoming_key(BOB1);
    assert_eq!(net.nodes[BOB1].engine.poll_timeout(), Some(net.at(15_000)));
    net.advance_to(net.at(10_000)); // alice gives up; her outcome is held back
    assert_eq!(
        net.take(ALICE),
        vec![out_failed(out, FailureReason::Timeout)]
    );
    net.advance_to(net.at(14_999));
    assert_eq!(
        net.incoming_status(BOB1, bob),
        Some(IncomingStatus::Pending)
    );
    net.advance_to(net.at(15_000));
    assert_eq!(
        net.take(BOB1)[1..],
        [in_failed(bob, FailureReason::Timeout)]
    );
    // The late outcome (and the ringing to alice) are absorbed.
    net.deliver_all();
    assert_eq!(net.take(BOB1), vec![]);
    assert_eq!(net.take(ALICE), vec![]);
    net.assert_quiet();
}

#[test]
fn accepting_waits_for_confirmation_then_fails_with_confirm_timeout() {
    let config = EngineConfig {
        confirm_timeout: std::time::Duration::from_millis(3_000),
    };
    let mut net = Net::with_config(1, config);
    let out = net.invite_bob(LIFETIME_MS);
    net.deliver_all();
    let bob = net.incoming_key(BOB1);
    net.advance(1_000);
    net.accept(BOB1, bob).unwrap();
    // The lifetime timer is replaced by the confirmation timer.
    assert_eq!(net.nodes[BOB1].engine.poll_timeout(), Some(net.at(4_000)));
    net.advance_to(net.at(3_999));
    assert_eq!(
        net.incoming_status(BOB1, bob),
        Some(IncomingStatus::Accepting)
    );
    net.advance_to(net.at(4_000));
    assert_eq!(
        net.take(BOB1)[1..],
        [in_failed(bob, FailureReason::ConfirmTimeout)]
    );
    // Alice cancels before the (held) accept reaches her: the accept and
    // then her outcome are absorbed.
    net.cancel(out).unwrap();
    net.deliver_all();
    assert_eq!(
        net.take(ALICE),
        vec![
            Event::OutgoingRinging { key: out },
            Event::OutgoingCanceled {
                key: out,
                reason: CancelReason::CallerCanceled
            }
        ]
    );
    assert_eq!(net.take(BOB1), vec![]);
    net.assert_quiet();
}

#[test]
fn reject_crossing_caller_expiry_ends_both_sides_failed_timeout() {
    let mut net = Net::new(1);
    let out = net.invite_bob(10_000);
    net.advance(1_000);
    net.deliver_all();
    let bob = net.incoming_key(BOB1);
    net.advance_to(net.at(9_000));
    net.reject(BOB1, bob, RejectReason::Busy).unwrap(); // held back
    net.advance_to(net.at(10_000)); // alice expires first
    net.deliver_all(); // the reject is absorbed; alice's outcome ends bob
    assert_eq!(
        net.take(ALICE),
        vec![
            Event::OutgoingRinging { key: out },
            out_failed(out, FailureReason::Timeout)
        ]
    );
    assert_eq!(
        net.take(BOB1)[1..],
        [Event::IncomingFailed {
            key: bob,
            reason: FailureReason::Timeout
        }]
    );
    net.assert_quiet();
}

/// The race independent testing found: the caller cancels while the
/// invitee's reject is on its way. The caller decided first, so both
/// sides end canceled; the reject is absorbed.
#[test]
fn cancel_crossing_reject_ends_both_sides_canceled() {
    let (mut net, out, keys) = rung(1);
    net.reject(BOB1, keys[BOB1], RejectReason::Declined)
        .unwrap();
    net.cancel(out).unwrap(); // before the reject reaches alice
    net.deliver_all();
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingCanceled {
            key: out,
            reason: CancelReason::CallerCanceled
        }]
    );
    assert_eq!(
        net.take(BOB1),
        vec![canceled(keys[BOB1], CancelReason::CallerCanceled)]
    );
    net.assert_quiet();
}

/// The other order: the reject reaches the caller first, so a cancel
/// made afterwards finds nothing pending, and both sides end rejected.
#[test]
fn reject_reaching_the_caller_before_its_cancel_ends_both_sides_rejected() {
    let (mut net, out, keys) = rung(1);
    net.reject(BOB1, keys[BOB1], RejectReason::Busy).unwrap();
    net.deliver_link(BOB1, ALICE);
    assert_eq!(net.cancel(out), Err(EngineError::UnknownKey));
    net.deliver_all();
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingRejected {
            key: out,
            reason: RejectReason::Busy
        }]
    );
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingRejected {
            key: keys[BOB1],
            reason: RejectReason::Busy
        }]
    );
    net.assert_quiet();
}

/// A reject that the caller never answers ends `failed(confirm_timeout)`,
/// as an accept does.
#[test]
fn unanswered_reject_ends_confirm_timeout() {
    let (mut net, _out, keys) = rung(1);
    net.reject(BOB1, keys[BOB1], RejectReason::Declined)
        .unwrap();
    // The reject is held back on its way; the confirmation runs out.
    net.advance(DEFAULT_CONFIRM_TIMEOUT.as_millis() as u64);
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingFailed {
            key: keys[BOB1],
            reason: FailureReason::ConfirmTimeout
        }]
    );
}

/// A false claim that this device rejected (it never did) is ignored.
#[test]
fn outcome_naming_a_device_that_did_not_reject_is_ignored() {
    let (mut net, _out, keys) = rung(1);
    let outcome = PeerMessage::Outcome {
        invite_id: "i1".into(),
        outcome: Outcome::Rejected {
            device: "n1.2".into(),
            reason: RejectReason::Busy,
        },
    };
    net.inject(BOB1, Net::forged("alice", "n1.1", outcome));
    assert_eq!(net.take(BOB1), vec![]);
    assert_eq!(
        net.incoming_status(BOB1, keys[BOB1]),
        Some(IncomingStatus::Pending)
    );
}

#[test]
fn reject_reaching_the_caller_before_expiry_wins() {
    let mut net = Net::new(1);
    let out = net.invite_bob(10_000);
    net.deliver_all();
    let bob = net.incoming_key(BOB1);
    net.advance_to(net.at(9_999));
    net.reject(BOB1, bob, RejectReason::Declined).unwrap();
    net.deliver_all();
    net.advance_to(net.at(20_000));
    assert_eq!(
        net.take(ALICE),
        vec![
            Event::OutgoingRinging { key: out },
            Event::OutgoingRejected {
                key: out,
                reason: RejectReason::Declined
            }
        ]
    );
    net.assert_quiet();
}

// ---- connections ----

#[test]
fn caller_disconnect_fails_caller_with_network_and_invitees_with_caller_gone() {
    let (mut net, out, keys) = rung(2);
    net.accept(BOB1, keys[BOB1]).unwrap(); // accepting, accept in flight
    net.disconnect(ALICE);
    assert_eq!(
        net.take(ALICE),
        vec![out_failed(out, FailureReason::Network)]
    );
    assert_eq!(net.cancel(out), Err(EngineError::UnknownKey));
    net.deliver_all();
    assert_eq!(
        net.take(BOB1),
        vec![in_failed(keys[BOB1], FailureReason::CallerGone)]
    );
    assert_eq!(
        net.take(BOB2),
        vec![in_failed(keys[BOB2], FailureReason::CallerGone)]
    );
    net.assert_quiet();
}

#[test]
fn caller_gone_comes_after_the_callers_earlier_messages() {
    // The invite has not reached bob when alice drops: bob still gets it
    // first, then hears the caller is gone.
    let mut net = Net::new(1);
    let out = net.invite_bob(LIFETIME_MS);
    net.disconnect(ALICE);
    assert_eq!(
        net.take(ALICE),
        vec![out_failed(out, FailureReason::Network)]
    );
    net.deliver_all();
    let bob = net.incoming_key(BOB1);
    assert_eq!(
        net.take(BOB1)[1..],
        [in_failed(bob, FailureReason::CallerGone)]
    );
    net.assert_quiet();
}

#[test]
fn no_caller_gone_for_an_invite_already_decided() {
    let (mut net, out, keys) = rung(1);
    net.cancel(out).unwrap();
    net.disconnect(ALICE);
    net.deliver_all();
    assert_eq!(
        net.take(BOB1),
        vec![canceled(keys[BOB1], CancelReason::CallerCanceled)]
    );
    net.assert_quiet();
}

#[test]
fn caller_gone_from_another_device_or_for_another_invite_is_ignored() {
    let (mut net, out, keys) = rung(1);
    for (from, device, invite_id) in [
        ("alice", "n1.9", "i1"),
        ("mallory", "n1.1", "i1"),
        ("alice", "n1.1", "i2"),
    ] {
        let gone = ServerMessage::CallerGone {
            from: from.into(),
            device: device.into(),
            invite_id: invite_id.into(),
        };
        net.inject(BOB1, gone);
    }
    assert_eq!(
        net.incoming_status(BOB1, keys[BOB1]),
        Some(IncomingStatus::Pending)
    );
    net.cancel(out).unwrap();
    net.drain();
    net.assert_quiet();
}

#[test]
fn invitee_disconnect_while_accepting() {
    let (mut net, out, keys) = rung(2);
    net.accept(BOB1, keys[BOB1]).unwrap();
    net.disconnect(BOB1);
    assert_eq!(
        net.take(BOB1),
        vec![in_failed(keys[BOB1], FailureReason::Network)]
    );
    assert_eq!(net.accept(BOB1, keys[BOB1]), Err(EngineError::UnknownKey));
    // The accept had already passed the server: alice takes it, and tells
    // n1.3 (n1.2 is gone, its copy is dropped).
    net.deliver_all();
    let alice = net.take(ALICE);
    assert!(
        matches!(&alice[..], [Event::OutgoingAccepted { key, answer, .. }]
        if *key == out && answer.device == "n1.2")
    );
    assert_eq!(
        net.take(BOB2),
        vec![canceled(keys[BOB2], CancelReason::AnsweredElsewhere)]
    );
    // Nobody tells alice that n1.2 is gone; she hangs up herself.
    net.leave(ALICE, conversation_of(&alice)).unwrap();
    net.deliver_all();
    net.assert_quiet();
}

#[test]
fn invitee_disconnect_before_answering_lets_the_caller_time_out() {
    let (mut net, out, keys) = rung(1);
    net.disconnect(BOB1);
    assert_eq!(
        net.take(BOB1),
        vec![in_failed(keys[BOB1], FailureReason::Network)]
    );
    net.drain();
    assert_eq!(
        net.take(ALICE),
        vec![out_failed(out, FailureReason::Timeout)]
    );
    net.assert_quiet();
}

#[test]
fn disconnect_ends_conversations_and_later_calls_need_a_connection() {
    let (mut net, _, keys) = rung(1);
    net.accept(BOB1, keys[BOB1]).unwrap();
    net.deliver_all();
    let conv = conversation_of(&net.take(ALICE));
    net.disconnect(ALICE);
    assert_eq!(
        net.take(ALICE),
        vec![Event::ConversationDisconnected { key: conv }]
    );
    assert!(!net.nodes[ALICE].engine.is_connected());
    assert_eq!(net.leave(ALICE, conv), Err(EngineError::UnknownKey));
    assert_eq!(
        net.invite(ALICE, request("bob", "i2", LIFETIME_MS)),
        Err(EngineError::NotConnected)
    );
    let bob_conv = conversation_of(&net.take(BOB1));
    net.leave(BOB1, bob_conv).unwrap();
    net.deliver_all();
    net.assert_quiet();
}

// ---- refused invites ----

#[test]
fn invite_to_a_user_with_no_device_online_fails_offline() {
    let mut net = Net::new(1);
    let out = net
        .invite(ALICE, request("carol", "i1", LIFETIME_MS))
        .unwrap();
    assert!(net.nodes[ALICE].engine.is_outgoing_pending(out));
    net.deliver_all();
    assert_eq!(
        net.take(ALICE),
        vec![out_failed(out, FailureReason::Offline)]
    );
    assert_eq!(net.take(BOB1), vec![]);
    net.assert_quiet();
}

#[test]
fn invite_failed_after_the_outcome_is_absorbed() {
    let mut net = Net::new(1);
    let out = net
        .invite(ALICE, request("carol", "i1", LIFETIME_MS))
        .unwrap();
    net.cancel(out).unwrap();
    net.deliver_all();
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingCanceled {
            key: out,
            reason: CancelReason::CallerCanceled
        }]
    );
    net.assert_quiet();
}

#[test]
fn self_invite_fails_invalid_participant_at_once() {
    let mut net = Net::new(1);
    let out = net
        .invite(ALICE, request("alice", "i1", LIFETIME_MS))
        .unwrap();
    assert_eq!(
        net.take(ALICE),
        vec![out_failed(out, FailureReason::InvalidParticipant)]
    );
    assert_eq!(net.busy_links(), vec![], "nothing sent");
    assert_eq!(net.cancel(out), Err(EngineError::UnknownKey));
    net.assert_quiet();
}

#[test]
fn invalid_request_fields_are_named() {
    let mut net = Net::new(1);
    type Spoil = Box<dyn Fn(&mut crate::engine::InviteRequest)>;
    let cases: Vec<(&str, Spoil)> = vec![
        ("participantId", Box::new(|r| r.to = String::new())),
        ("participantId", Box::new(|r| r.to = "bob smith".into())),
        ("participantId", Box::new(|r| r.to = "b".repeat(129))),
        ("inviteId", Box::new(|r| r.invite_id = "../x".into())),
        (
            "conversationId",
            Box::new(|r| r.conversation_id = String::new()),
        ),
        (
            "userData",
            Box::new(|r| r.user_data = Some("u".repeat(MAX_USER_DATA_LEN + 1))),
        ),
        (
            "offer",
            Box::new(|r| r.offer = Some("o".repeat(MAX_SDP_LEN + 1))),
        ),
        ("lifetimeMs", Box::new(|r| r.lifetime_ms = 0)),
        (
            "lifetimeMs",
            Box::new(|r| r.lifetime_ms = MAX_LIFETIME_MS + 1),
        ),
    ];
    for (field, spoil) in cases {
        let mut req = request("bob", "i1", LIFETIME_MS);
        spoil(&mut req);
        match net.invite(ALICE, req) {
            Err(EngineError::InvalidArgument { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    // The limits themselves are fine.
    let mut req = request("bob", "i1", MAX_LIFETIME_MS);
    req.user_data = Some("u".repeat(MAX_USER_DATA_LEN));
    req.offer = Some("o".repeat(MAX_SDP_LEN));
    let out = net.invite(ALICE, req).unwrap();
    assert_eq!(net.take(ALICE), vec![]);
    // A second invite with the same id while the first is live is refused.
    match net.invite(ALICE, request("bob", "i1", 1)) {
        Err(EngineError::InvalidArgument {
            field: "inviteId", ..
        }) => {}
        other => panic!("{other:?}"),
    }
    net.cancel(out).unwrap();
    net.drain();
    net.assert_quiet();
}

#[test]
fn invite_while_not_connected_is_refused() {
    let mut engine = Engine::new(EngineConfig::default());
    let t0 = std::time::Instant::now();
    assert!(!engine.is_connected());
    assert_eq!(
        engine.invite(request("bob", "i1", LIFETIME_MS), t0),
        Err(EngineError::NotConnected)
    );
    engine.handle_connected("alice", "n1.1");
    engine.handle_disconnected(t0);
    assert_eq!(
        engine.invite(request("bob", "i1", LIFETIME_MS), t0),
        Err(EngineError::NotConnected)
    );
    assert_eq!(engine.poll_transmit(), None);
    assert_eq!(engine.poll_event(), None);
    assert_eq!(engine.live_count(), 0);
}

#[test]
fn welcome_connects_the_engine() {
    let mut engine = Engine::new(EngineConfig::default());
    let t0 = std::time::Instant::now();
    engine.handle_message(
        ServerMessage::Welcome {
            protocol: wd_protocol::PROTOCOL_VERSION,
            uid: "alice".into(),
            device: "n1.1".into(),
        },
        t0,
    );
    assert!(engine.is_connected());
    assert!(engine.invite(request("bob", "i1", LIFETIME_MS), t0).is_ok());
    assert!(matches!(
        engine.poll_transmit(),
        Some(wd_protocol::ClientMessage::Send { ref to, device: None, body: PeerMessage::Invite { .. } }) if to == "bob"
    ));
}

#[test]
fn an_invite_arriving_while_disconnected_is_dropped() {
    let mut engine = Engine::new(EngineConfig::default());
    let t0 = std::time::Instant::now();
    let invite = PeerMessage::Invite {
        invite_id: "i1".into(),
        conversation_id: "c1".into(),
        mode: Mode::P2p,
        user_data: None,
        offer: None,
        lifetime_ms: 1_000,
    };
    engine.handle_message(Net::forged("alice", "n1.1", invite), t0);
    assert_eq!(engine.poll_event(), None);
    assert_eq!(engine.live_count(), 0);
}

// ---- two and three devices ----

#[test]
fn first_accept_wins_the_other_device_ends_answered_elsewhere() {
    let (mut net, out, keys) = rung(2);
    net.accept(BOB1, keys[BOB1]).unwrap();
    net.accept(BOB2, keys[BOB2]).unwrap();
    net.deliver_link(BOB1, ALICE);
    net.deliver_all(); // n1.3's accept comes second and is absorbed
    let alice = net.take(ALICE);
    assert!(
        matches!(&alice[..], [Event::OutgoingAccepted { key, answer, .. }]
        if *key == out && answer.device == "n1.2")
    );
    let bob1 = net.take(BOB1);
    assert!(matches!(bob1[..], [Event::IncomingAccepted { key, .. }] if key == keys[BOB1]));
    assert_eq!(
        net.take(BOB2),
        vec![canceled(keys[BOB2], CancelReason::AnsweredElsewhere)]
    );
    hang_up(
        &mut net,
        conversation_of(&alice),
        BOB1,
        conversation_of(&bob1),
    );
    net.assert_quiet();
}

#[test]
fn accept_on_one_device_crossing_reject_on_the_other_accept_first() {
    let (mut net, out, keys) = rung(2);
    net.accept(BOB1, keys[BOB1]).unwrap();
    net.reject(BOB2, keys[BOB2], RejectReason::Busy).unwrap();
    net.deliver_link(BOB1, ALICE);
    net.deliver_all();
    let alice = net.take(ALICE);
    assert!(
        matches!(&alice[..], [Event::OutgoingAccepted { key, answer, .. }]
        if *key == out && answer.device == "n1.2")
    );
    let bob1 = net.take(BOB1);
    assert!(matches!(bob1[..], [Event::IncomingAccepted { .. }]));
    // BOB2's reject lost: the caller decided for BOB1's accept first.
    assert_eq!(
        net.take(BOB2),
        vec![canceled(keys[BOB2], CancelReason::AnsweredElsewhere)]
    );
    hang_up(
        &mut net,
        conversation_of(&alice),
        BOB1,
        conversation_of(&bob1),
    );
    net.assert_quiet();
}

#[test]
fn accept_on_one_device_crossing_reject_on_the_other_reject_first() {
    let (mut net, out, keys) = rung(2);
    net.accept(BOB1, keys[BOB1]).unwrap();
    net.reject(BOB2, keys[BOB2], RejectReason::Busy).unwrap();
    net.deliver_link(BOB2, ALICE);
    net.deliver_all();
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingRejected {
            key: out,
            reason: RejectReason::Busy
        }]
    );
    assert_eq!(
        net.take(BOB1),
        vec![canceled(keys[BOB1], CancelReason::AnsweredElsewhere)]
    );
    assert_eq!(
        net.take(BOB2),
        vec![Event::IncomingRejected {
            key: keys[BOB2],
            reason: RejectReason::Busy
        }]
    );
    net.assert_quiet();
}

#[test]
fn reject_on_one_device_cancels_the_others_answered_elsewhere() {
    let (mut net, out, keys) = rung(3);
    net.reject(BOB2, keys[BOB2], RejectReason::Declined)
        .unwrap();
    net.deliver_all();
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingRejected {
            key: out,
            reason: RejectReason::Declined
        }]
    );
    assert_eq!(
        net.take(BOB1),
        vec![canceled(keys[BOB1], CancelReason::AnsweredElsewhere)]
    );
    assert_eq!(
        net.take(BOB2)[0],
        Event::IncomingRejected {
            key: keys[BOB2],
            reason: RejectReason::Declined
        }
    );
    assert_eq!(
        net.take(BOB3),
        vec![canceled(keys[BOB3], CancelReason::AnsweredElsewhere)]
    );
    net.assert_quiet();
}

#[test]
fn ringing_fires_once_with_several_devices() {
    let mut net = Net::new(3);
    let out = net.invite_bob(LIFETIME_MS);
    net.deliver_all();
    // Three ringings arrived; one event.
    assert_eq!(net.take(ALICE), vec![Event::OutgoingRinging { key: out }]);
    // A repeated ringing is absorbed too.
    net.inject(
        ALICE,
        Net::forged(
            "bob",
            "n1.2",
            PeerMessage::Ringing {
                invite_id: "i1".into(),
            },
        ),
    );
    assert_eq!(net.take(ALICE), vec![]);
    net.cancel(out).unwrap();
    net.drain();
    net.assert_quiet();
}

#[test]
fn ringing_after_the_terminal_event_is_absorbed() {
    let mut net = Net::new(1);
    let out = net.invite_bob(LIFETIME_MS);
    net.deliver_link(ALICE, BOB1); // bob's ringing is now in flight
    net.cancel(out).unwrap();
    net.deliver_all();
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingCanceled {
            key: out,
            reason: CancelReason::CallerCanceled
        }]
    );
    net.assert_quiet();
}

// ---- duplicates, late and forged messages ----

#[test]
fn duplicate_invite_delivery_is_one_invite() {
    let mut net = Net::new(1);
    let out = net.invite_bob(LIFETIME_MS);
    net.duplicate_head(ALICE, BOB1);
    net.deliver_all();
    let bob = net.take(BOB1);
    assert_eq!(bob.len(), 1, "{bob:?}");
    let key = net.incoming_key(BOB1);
    assert_eq!(net.nodes[BOB1].engine.live_count(), 1);
    net.reject(BOB1, key, RejectReason::Declined).unwrap();
    net.deliver_all();
    // A late copy after the invite finished is not a new invite either.
    let invite = PeerMessage::Invite {
        invite_id: "i1".into(),
        conversation_id: "c1".into(),
        mode: Mode::P2p,
        user_data: None,
        offer: None,
        lifetime_ms: LIFETIME_MS,
    };
    net.inject(BOB1, Net::forged("alice", "n1.1", invite));
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingRejected {
            key,
            reason: RejectReason::Declined
        }]
    );
    assert_eq!(
        net.take(ALICE),
        vec![
            Event::OutgoingRinging { key: out },
            Event::OutgoingRejected {
                key: out,
                reason: RejectReason::Declined
            }
        ]
    );
    net.assert_quiet();
}

#[test]
fn duplicate_accept_and_duplicate_outcome_are_absorbed() {
    let (mut net, out, keys) = rung(1);
    net.accept(BOB1, keys[BOB1]).unwrap();
    net.duplicate_head(BOB1, ALICE);
    net.deliver_link(BOB1, ALICE);
    let alice = net.take(ALICE);
    assert!(matches!(alice[..], [Event::OutgoingAccepted { key, .. }] if key == out));
    assert_eq!(net.in_flight(ALICE, BOB1), 1, "one outcome for two accepts");
    net.duplicate_head(ALICE, BOB1);
    net.deliver_all();
    let bob = net.take(BOB1);
    assert!(matches!(bob[..], [Event::IncomingAccepted { .. }]));
    assert_eq!(net.nodes[BOB1].engine.live_count(), 1, "one conversation");
    hang_up(
        &mut net,
        conversation_of(&alice),
        BOB1,
        conversation_of(&bob),
    );
    net.assert_quiet();
}

#[test]
fn late_messages_after_the_terminal_event_are_absorbed() {
    let (mut net, out, keys) = rung(2);
    net.reject(BOB1, keys[BOB1], RejectReason::Declined)
        .unwrap();
    net.deliver_all();
    net.take(ALICE);
    net.take(BOB1);
    net.take(BOB2);
    // Every kind of message about i1, arriving after it ended everywhere.
    let late = [
        (
            ALICE,
            "bob",
            "n1.2",
            PeerMessage::Ringing {
                invite_id: "i1".into(),
            },
        ),
        (
            ALICE,
            "bob",
            "n1.3",
            PeerMessage::Accept {
                invite_id: "i1".into(),
                answer: None,
                user_data: None,
            },
        ),
        (
            ALICE,
            "bob",
            "n1.3",
            PeerMessage::Reject {
                invite_id: "i1".into(),
                reason: RejectReason::Busy,
            },
        ),
        (
            BOB1,
            "alice",
            "n1.1",
            outcome(
                "i1",
                Outcome::Accepted {
                    device: "n1.2".into(),
                    participants: vec![],
                },
            ),
        ),
        (
            BOB2,
            "alice",
            "n1.1",
            outcome("i1", Outcome::Canceled { reason: None }),
        ),
        (
            BOB2,
            "alice",
            "n1.1",
            outcome(
                "i1",
                Outcome::Failed {
                    reason: FailureReason::Timeout,
                },
            ),
        ),
    ];
    for (to, uid, dev, body) in late {
        net.inject(to, Net::forged(uid, dev, body));
    }
    let gone = ServerMessage::CallerGone {
        from: "alice".into(),
        device: "n1.1".into(),
        invite_id: "i1".into(),
    };
    net.inject(BOB2, gone);
    net.inject(
        ALICE,
        ServerMessage::InviteFailed {
            invite_id: "i1".into(),
            reason: FailureReason::Offline,
        },
    );
    for i in [ALICE, BOB1, BOB2] {
        assert_eq!(net.take(i), vec![], "{}", net.nodes[i].device);
    }
    assert_eq!(net.busy_links(), vec![]);
    assert_eq!(net.cancel(out), Err(EngineError::UnknownKey));
    net.assert_quiet();
}

#[test]
fn an_accept_from_another_user_is_ignored() {
    let (mut net, out, _) = rung(1);
    let forged = PeerMessage::Accept {
        invite_id: "i1".into(),
        answer: None,
        user_data: None,
    };
    net.inject(ALICE, Net::forged("mallory", "n1.2", forged));
    let forged = PeerMessage::Reject {
        invite_id: "i1".into(),
        reason: RejectReason::Busy,
    };
    net.inject(ALICE, Net::forged("mallory", "n1.2", forged));
    net.inject(
        ALICE,
        Net::forged(
            "mallory",
            "n1.2",
            PeerMessage::Ringing {
                invite_id: "i1".into(),
            },
        ),
    );
    assert_eq!(net.take(ALICE), vec![]);
    assert!(net.nodes[ALICE].engine.is_outgoing_pending(out));
    assert_eq!(net.busy_links(), vec![]);
    net.cancel(out).unwrap();
    net.drain();
    net.assert_quiet();
}

#[test]
fn an_outcome_from_anyone_but_the_calling_device_is_ignored() {
    let (mut net, out, keys) = rung(1);
    net.accept(BOB1, keys[BOB1]).unwrap();
    let fakes = [
        (
            "alice",
            "n1.9",
            Outcome::Accepted {
                device: "n1.2".into(),
                participants: vec![],
            },
        ),
        ("alice", "n1.9", Outcome::Canceled { reason: None }),
        ("mallory", "n1.1", Outcome::Canceled { reason: None }),
        (
            "mallory",
            "n1.1",
            Outcome::Accepted {
                device: "n1.2".into(),
                participants: vec![],
            },
        ),
    ];
    for (uid, dev, o) in fakes {
        net.inject(BOB1, Net::forged(uid, dev, outcome("i1", o)));
    }
    assert_eq!(net.take(BOB1), vec![]);
    assert_eq!(
        net.incoming_status(BOB1, keys[BOB1]),
        Some(IncomingStatus::Accepting)
    );
    // A leave for the conversation from a stranger does nothing either.
    net.deliver_all();
    let alice = net.take(ALICE);
    let bob = net.take(BOB1);
    let bob_conv = conversation_of(&bob);
    let leave = PeerMessage::Leave {
        conversation_id: "c1".into(),
    };
    net.inject(BOB1, Net::forged("mallory", "n1.1", leave.clone()));
    net.inject(BOB1, Net::forged("alice", "n1.9", leave));
    assert_eq!(net.take(BOB1), vec![]);
    assert!(matches!(alice[..], [Event::OutgoingAccepted { key, .. }] if key == out));
    hang_up(&mut net, conversation_of(&alice), BOB1, bob_conv);
    net.assert_quiet();
}

#[test]
fn a_confirmation_for_a_device_that_did_not_accept_is_ignored() {
    // Only a caller bug could send it; the pending device keeps ringing
    // and ends by its own lifetime.
    let mut net = Net::new(1);
    let out = net.invite_bob(10_000);
    net.deliver_all();
    let key = net.incoming_key(BOB1);
    let claim = outcome(
        "i1",
        Outcome::Accepted {
            device: "n1.2".into(),
            participants: vec![],
        },
    );
    net.inject(BOB1, Net::forged("alice", "n1.1", claim));
    assert_eq!(
        net.incoming_status(BOB1, key),
        Some(IncomingStatus::Pending)
    );
    net.drain();
    assert_eq!(
        net.take(BOB1)[1..],
        [in_failed(key, FailureReason::Timeout)]
    );
    assert_eq!(
        net.take(ALICE)[1..],
        [out_failed(out, FailureReason::Timeout)]
    );
    net.assert_quiet();
}

#[test]
fn an_invite_from_yourself_is_ignored() {
    let mut net = Net::new(1);
    let invite = PeerMessage::Invite {
        invite_id: "i9".into(),
        conversation_id: "c9".into(),
        mode: Mode::P2p,
        user_data: None,
        offer: None,
        lifetime_ms: 1_000,
    };
    net.inject(BOB1, Net::forged("bob", "n1.5", invite));
    assert_eq!(net.take(BOB1), vec![]);
    net.assert_quiet();
}

// ---- conversations ----

#[test]
fn leaving_tells_the_other_side_then_disconnect_twice_is_unknown_key() {
    for caller_leaves in [true, false] {
        let (mut net, _, keys) = rung(1);
        net.accept(BOB1, keys[BOB1]).unwrap();
        net.deliver_all();
        let alice_conv = conversation_of(&net.take(ALICE));
        let bob_conv = conversation_of(&net.take(BOB1));
        let (leaver, lconv, stayer, sconv, who) = if caller_leaves {
            (
                ALICE,
                alice_conv,
                BOB1,
                bob_conv,
                participant("alice", "n1.1"),
            )
        } else {
            (
                BOB1,
                bob_conv,
                ALICE,
                alice_conv,
                participant("bob", "n1.2"),
            )
        };
        net.leave(leaver, lconv).unwrap();
        assert_eq!(
            net.take(leaver),
            vec![Event::ConversationDisconnected { key: lconv }]
        );
        assert_eq!(net.leave(leaver, lconv), Err(EngineError::UnknownKey));
        assert_eq!(net.nodes[leaver].engine.participants(lconv), None);
        net.deliver_all();
        assert_eq!(
            net.take(stayer),
            vec![
                Event::ParticipantDisconnected {
                    key: sconv,
                    participant: who,
                    reason: LeaveReason::Left
                },
                Event::ConversationDisconnected { key: sconv },
            ]
        );
        assert_eq!(net.leave(stayer, sconv), Err(EngineError::UnknownKey));
        // A repeated leave is absorbed.
        let leave = PeerMessage::Leave {
            conversation_id: "c1".into(),
        };
        let (uid, dev) = (
            net.nodes[leaver].uid.clone(),
            net.nodes[leaver].device.clone(),
        );
        net.inject(stayer, Net::forged(&uid, &dev, leave));
        assert_eq!(net.take(stayer), vec![]);
        net.assert_quiet();
    }
}

#[test]
fn two_invites_at_once_are_independent() {
    let mut net = Net::new(1);
    let first = net
        .invite(ALICE, request("bob", "i1", LIFETIME_MS))
        .unwrap();
    let mut req = request("bob", "i2", 5_000);
    req.conversation_id = "c2".into();
    let second = net.invite(ALICE, req).unwrap();
    net.deliver_all();
    let keys: Vec<Key> = net
        .take(BOB1)
        .iter()
        .map(|e| match e {
            Event::IncomingReceived { key, .. } => *key,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(net.nodes[BOB1].engine.poll_timeout(), Some(net.at(5_000)));
    net.accept(BOB1, keys[0]).unwrap();
    net.deliver_all();
    net.advance(5_000); // only the second expires
    net.deliver_all();
    let alice = net.take(ALICE);
    assert!(matches!(alice[2], Event::OutgoingAccepted { key, .. } if key == first));
    assert_eq!(alice[3], out_failed(second, FailureReason::Timeout));
    let bob = net.take(BOB1);
    assert!(matches!(bob[0], Event::IncomingAccepted { key, .. } if key == keys[0]));
    assert_eq!(bob[1], in_failed(keys[1], FailureReason::Timeout));
    hang_up(
        &mut net,
        conversation_of(&alice),
        BOB1,
        conversation_of(&bob),
    );
    net.assert_quiet();
}

#[test]
fn a_late_confirmation_does_not_leave_the_caller_with_a_ghost_participant() {
    // Bob gives up waiting for the confirmation just before it arrives:
    // his leave ends the conversation Alice had already started.
    let config = EngineConfig {
        confirm_timeout: std::time::Duration::from_millis(500),
    };
    let mut net = Net::with_config(1, config);
    let out = net.invite_bob(LIFETIME_MS);
    net.deliver_all();
    let bob = net.incoming_key(BOB1);
    net.accept(BOB1, bob).unwrap();
    net.deliver_link(BOB1, ALICE);
    let alice_events = net.take(ALICE);
    let Some(Event::OutgoingAccepted { conversation, .. }) = alice_events.last() else {
        panic!("alice accepted: {alice_events:?}");
    };
    let conv = conversation.key;
    net.advance(500);
    assert_eq!(
        net.take(BOB1)[1..],
        [in_failed(bob, FailureReason::ConfirmTimeout)]
    );
    net.deliver_all();
    let ended = net.take(ALICE);
    assert!(
        matches!(
            ended.as_slice(),
            [
                Event::ParticipantDisconnected { key: a, .. },
                Event::ConversationDisconnected { key: b }
            ] if *a == conv && *b == conv
        ),
        "{ended:?} (outgoing {out:?})"
    );
    net.assert_quiet();
}
