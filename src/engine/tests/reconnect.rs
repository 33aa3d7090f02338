//! Losing the link and reconnecting: outgoing invites fail `network` at
//! once, incoming ones stay live and are reconciled with their caller
//! (`query` → `status` / `outcome` / `undeliverable`) after the reconnect,
//! each ending exactly once.

use wd_protocol::{CancelReason, FailureReason, PeerMessage, RejectReason};

use super::harness::{Net, ALICE, BOB1, BOB2, LIFETIME_MS};
use crate::engine::{Engine, EngineConfig, Event, IncomingStatus, Key};

/// Alice invites bob's `devices` devices; the invite rings on all of them.
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

fn queries(net: &Net) -> usize {
    net.sent
        .iter()
        .filter(|(_, b)| matches!(b, PeerMessage::Query { .. }))
        .count()
}

#[test]
fn pending_invite_survives_a_reconnect_and_can_still_be_accepted() {
    let (mut net, out, keys) = rung(1);
    net.link_lost(BOB1);
    assert_eq!(net.take(BOB1), vec![], "nothing ends on a lost link");
    assert!(net.nodes[BOB1].engine.is_reconnecting());
    net.reconnect(BOB1, "n1.9");
    assert_eq!(queries(&net), 1);
    net.deliver_all();
    assert_eq!(net.take(BOB1), vec![], "still pending: keeps ringing");
    assert_eq!(
        net.incoming_status(BOB1, keys[BOB1]),
        Some(IncomingStatus::Pending)
    );
    net.accept(BOB1, keys[BOB1]).unwrap();
    net.deliver_all();
    let a = net.take(ALICE);
    let [Event::OutgoingAccepted { key, answer, .. }] = &a[..] else {
        panic!("{a:?}")
    };
    assert_eq!((*key, answer.device.as_str()), (out, "n1.9"));
    let b = net.take(BOB1);
    assert!(matches!(b[..], [Event::IncomingAccepted { .. }]), "{b:?}");
}

#[test]
fn remaining_lifetime_counts_from_the_original_receipt() {
    let (mut net, out, keys) = rung(1);
    net.advance(LIFETIME_MS / 2);
    net.link_lost(BOB1);
    net.reconnect(BOB1, "n1.9");
    net.deliver_all();
    net.advance(LIFETIME_MS / 2 - 1);
    assert_eq!(net.take(BOB1), vec![]);
    net.advance(1);
    net.deliver_all();
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingFailed {
            key: keys[BOB1],
            reason: FailureReason::Timeout
        }]
    );
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingFailed {
            key: out,
            reason: FailureReason::Timeout
        }]
    );
    net.assert_quiet();
}

#[test]
fn canceled_meanwhile_ends_canceled_once_after_the_reconnect() {
    let (mut net, out, keys) = rung(1);
    net.link_lost(BOB1);
    net.cancel(out).unwrap();
    net.reconnect(BOB1, "n1.9");
    net.drain();
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingCanceled {
            key: keys[BOB1],
            reason: CancelReason::CallerCanceled
        }]
    );
    net.assert_quiet();
}

#[test]
fn answered_elsewhere_meanwhile_ends_canceled_once() {
    let (mut net, _out, keys) = rung(2);
    net.link_lost(BOB1);
    net.reject(BOB2, keys[BOB2], RejectReason::Busy).unwrap();
    net.deliver_all();
    net.reconnect(BOB1, "n1.9");
    net.drain();
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingCanceled {
            key: keys[BOB1],
            reason: CancelReason::AnsweredElsewhere
        }]
    );
    net.assert_quiet();
}

#[test]
fn caller_gone_meanwhile_is_reported_by_the_server() {
    let (mut net, out, keys) = rung(1);
    net.link_lost(BOB1);
    net.disconnect(ALICE);
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingFailed {
            key: out,
            reason: FailureReason::Network
        }]
    );
    net.reconnect(BOB1, "n1.9");
    net.drain();
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingFailed {
            key: keys[BOB1],
            reason: FailureReason::CallerGone
        }]
    );
    net.assert_quiet();
}

#[test]
fn a_caller_that_reconnected_answers_what_it_remembers() {
    let (mut net, out, keys) = rung(1);
    net.link_lost(BOB1);
    net.link_lost(ALICE);
    // A restarted server hands alice's old device id to alice again.
    net.reconnect(ALICE, "n1.1");
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingFailed {
            key: out,
            reason: FailureReason::Network
        }]
    );
    net.reconnect(BOB1, "n1.9");
    net.drain();
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingFailed {
            key: keys[BOB1],
            reason: FailureReason::CallerGone
        }]
    );
    net.assert_quiet();
}

#[test]
fn a_device_that_never_sent_the_invite_answers_unknown() {
    let (mut net, _out, keys) = rung(1);
    net.link_lost(BOB1);
    net.link_lost(ALICE);
    // Another app instance of alice gets the old device id.
    net.nodes[ALICE].engine = Engine::new(EngineConfig::default());
    net.reconnect(ALICE, "n1.1");
    net.reconnect(BOB1, "n1.9");
    net.drain();
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingFailed {
            key: keys[BOB1],
            reason: FailureReason::CallerGone
        }]
    );
    net.assert_quiet();
}

#[test]
fn giving_up_fails_incoming_invites_with_network_once() {
    let (mut net, out, keys) = rung(1);
    net.link_lost(BOB1);
    net.give_up(BOB1);
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingFailed {
            key: keys[BOB1],
            reason: FailureReason::Network
        }]
    );
    assert!(!net.nodes[BOB1].engine.is_reconnecting());
    net.cancel(out).unwrap();
    net.drain();
    assert_eq!(net.take(BOB1), vec![]);
    net.assert_quiet();
}

#[test]
fn accept_made_while_the_link_was_down_is_sent_after_the_reconnect() {
    let (mut net, out, keys) = rung(1);
    net.link_lost(BOB1);
    net.accept(BOB1, keys[BOB1]).unwrap();
    net.reconnect(BOB1, "n1.9");
    net.deliver_all();
    let a = net.take(ALICE);
    assert!(
        matches!(&a[..], [Event::OutgoingAccepted { key, answer, .. }] if *key == out && answer.device == "n1.9"),
        "{a:?}"
    );
    let b = net.take(BOB1);
    assert!(matches!(b[..], [Event::IncomingAccepted { .. }]), "{b:?}");
}

#[test]
fn accepted_as_the_old_device_fails_network() {
    let (mut net, out, keys) = rung(1);
    net.accept(BOB1, keys[BOB1]).unwrap();
    net.deliver_link(BOB1, ALICE);
    let a = net.take(ALICE);
    let [Event::OutgoingAccepted {
        key, conversation, ..
    }] = &a[..]
    else {
        panic!("{a:?}")
    };
    assert_eq!(*key, out);
    // The confirmation is lost with bob's link.
    net.link_lost(BOB1);
    net.reconnect(BOB1, "n1.9");
    net.deliver_all();
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingFailed {
            key: keys[BOB1],
            reason: FailureReason::Network
        }]
    );
    net.leave(ALICE, conversation.key).unwrap();
    net.drain();
    net.assert_quiet();
}

#[test]
fn reject_made_while_the_link_was_down_reaches_the_caller() {
    let (mut net, out, keys) = rung(1);
    net.link_lost(BOB1);
    net.reject(BOB1, keys[BOB1], RejectReason::Declined)
        .unwrap();
    // Rejecting until the caller, reached after the reconnection, decides.
    assert_eq!(net.take(BOB1), vec![]);
    assert_eq!(
        net.incoming_status(BOB1, keys[BOB1]),
        Some(IncomingStatus::Rejecting)
    );
    net.reconnect(BOB1, "n1.9");
    net.drain();
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingRejected {
            key: out,
            reason: RejectReason::Declined
        }]
    );
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingRejected {
            key: keys[BOB1],
            reason: RejectReason::Declined
        }]
    );
    net.assert_quiet();
}

/// The caller canceled while the invitee's link was down and its reject
/// waited: after the reconnection both sides end canceled.
#[test]
fn reject_made_while_the_link_was_down_loses_to_a_cancel_made_meanwhile() {
    let (mut net, out, keys) = rung(1);
    net.link_lost(BOB1);
    net.reject(BOB1, keys[BOB1], RejectReason::Busy).unwrap();
    net.cancel(out).unwrap();
    net.reconnect(BOB1, "n1.9");
    net.drain();
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingCanceled {
            key: out,
            reason: CancelReason::CallerCanceled
        }]
    );
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingCanceled {
            key: keys[BOB1],
            reason: CancelReason::CallerCanceled
        }]
    );
    net.assert_quiet();
}

/// The reject reached the caller, but its outcome was lost with the
/// invitee's link: the query after the reconnection brings it back, and
/// the invitee ends rejected, as the caller did.
#[test]
fn rejected_as_the_old_device_ends_rejected_after_the_reconnect() {
    let (mut net, out, keys) = rung(1);
    net.reject(BOB1, keys[BOB1], RejectReason::Declined)
        .unwrap();
    net.deliver_link(BOB1, ALICE);
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingRejected {
            key: out,
            reason: RejectReason::Declined
        }]
    );
    net.link_lost(BOB1); // the outcome is lost with it
    net.reconnect(BOB1, "n1.9");
    net.drain();
    assert_eq!(
        net.take(BOB1),
        vec![Event::IncomingRejected {
            key: keys[BOB1],
            reason: RejectReason::Declined
        }]
    );
    net.assert_quiet();
}

#[test]
fn caller_losing_its_link_fails_outgoing_network_and_ends_conversations() {
    let (mut net, out, _keys) = rung(1);
    net.link_lost(ALICE);
    assert_eq!(
        net.take(ALICE),
        vec![Event::OutgoingFailed {
            key: out,
            reason: FailureReason::Network
        }]
    );
    net.reconnect(ALICE, "n1.5");
    net.drain();
    let b = net.take(BOB1);
    assert!(
        matches!(
            b[..],
            [Event::IncomingFailed {
                reason: FailureReason::CallerGone,
                ..
            }]
        ),
        "{b:?}"
    );
    net.assert_quiet();
}
