//! Conversations beyond two parties, messages, and glare, one ordering
//! per test on a fake clock. Each test ends with `assert_quiet`.

use wd_protocol::{
    CancelReason, LeaveReason, Outcome, PeerMessage, ServerMessage, MAX_MESSAGE_LEN,
};

use super::harness::{request, Net, LIFETIME_MS};
use crate::engine::{EngineError, Event, Key, Participant};

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

fn who(net: &Net, i: usize) -> Participant {
    Participant {
        uid: net.nodes[i].uid.clone(),
        device: net.nodes[i].device.clone(),
    }
}

/// The key of the last invite node `i` received.
fn last_received(net: &Net, i: usize) -> Key {
    net.nodes[i]
        .events
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            Event::IncomingReceived { key, .. } => Some(*key),
            _ => None,
        })
        .expect("an invite arrived")
}

fn conversation_of(events: &[Event]) -> Key {
    events
        .iter()
        .find_map(|e| match e {
            Event::OutgoingAccepted { conversation, .. }
            | Event::IncomingAccepted { conversation, .. } => Some(conversation.key),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no accepted event in {events:?}"))
}

/// Node `a` calls node `b` (conversation `c-<invite_id>`) and `b`
/// accepts; returns both conversation keys. Events so far are taken.
fn call(net: &mut Net, a: usize, b: usize, invite_id: &str) -> (Key, Key) {
    let to = net.nodes[b].uid.clone();
    let mut req = request(&to, invite_id, LIFETIME_MS);
    req.conversation_id = format!("c-{invite_id}");
    net.invite(a, req).unwrap();
    net.deliver_all();
    let inc = last_received(net, b);
    net.accept(b, inc).unwrap();
    net.deliver_all();
    let (ea, eb) = (net.take(a), net.take(b));
    (conversation_of(&ea), conversation_of(&eb))
}

/// Alice calls bob, then invites carol into that conversation and carol
/// accepts. Checks what each side sees; returns the three conversation
/// keys (by node).
fn three_party() -> (Net, [Key; 3]) {
    let mut net = Net::users(&["alice", "bob", "carol"]);
    let (a, b) = call(&mut net, A, B, "i1");
    let mut req = request("carol", "i2", LIFETIME_MS);
    req.conversation_id = "c-i1".into();
    let out = net.invite_into(A, a, req).unwrap();
    net.deliver_all();
    let carol_inc = last_received(&net, C);
    let Event::IncomingReceived { info, .. } = &net.take(C)[0] else {
        panic!("no invite")
    };
    assert_eq!(info.conversation_id, "c-i1");
    net.accept(C, carol_inc).unwrap();
    net.deliver_all();

    let alice = net.take(A);
    let [Event::OutgoingRinging { .. }, Event::ParticipantConnected {
        key: k1,
        participant: p1,
    }, Event::OutgoingAccepted {
        key, conversation, ..
    }] = &alice[..]
    else {
        panic!("alice: {alice:?}")
    };
    assert_eq!((*k1, p1), (a, &who(&net, C)));
    assert_eq!(*key, out);
    assert_eq!(conversation.key, a, "the same conversation, not a new one");
    assert_eq!(conversation.participants, vec![who(&net, B), who(&net, C)]);
    assert_eq!(
        net.take(B),
        vec![Event::ParticipantConnected {
            key: b,
            participant: who(&net, C)
        }]
    );
    let carol = net.take(C);
    let [Event::IncomingAccepted { conversation, .. }] = &carol[..] else {
        panic!("carol: {carol:?}")
    };
    assert_eq!(conversation.conversation_id, "c-i1");
    assert_eq!(conversation.participants, vec![who(&net, A), who(&net, B)]);
    // The outcome told carol about bob; bob heard `joined` first.
    let joined_at = net
        .sent
        .iter()
        .position(|(from, m)| *from == A && matches!(m, PeerMessage::Joined { .. }))
        .expect("joined sent");
    let outcome_at = net
        .sent
        .iter()
        .position(|(from, m)| {
            *from == A
                && matches!(
                    m,
                    PeerMessage::Outcome {
                        outcome: Outcome::Accepted { participants, .. },
                        ..
                    } if participants == &vec![who(&net, B)]
                )
        })
        .expect("outcome listing bob");
    assert!(joined_at < outcome_at);
    let c = conversation.key;
    for (i, k) in [(A, a), (B, b), (C, c)] {
        assert_eq!(net.nodes[i].engine.participants(k).unwrap().len(), 2);
        assert_eq!(net.nodes[i].engine.conversation_id(k), Some("c-i1"));
    }
    (net, [a, b, c])
}

// ---- messages ----

#[test]
fn messages_reach_the_named_participant_in_order() {
    let mut net = Net::users(&["alice", "bob"]);
    let (a, b) = call(&mut net, A, B, "i1");
    for n in 0..1000 {
        net.send(A, a, Some("bob"), &n.to_string()).unwrap();
    }
    net.send(B, b, None, "to everyone").unwrap();
    net.deliver_all();
    let got: Vec<String> = net
        .take(B)
        .into_iter()
        .map(|e| match e {
            Event::ConversationMessage { key, from, payload } => {
                assert_eq!(key, b);
                assert_eq!(from.uid, "alice");
                payload
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, (0..1000).map(|n| n.to_string()).collect::<Vec<_>>());
    assert_eq!(
        net.take(A),
        vec![Event::ConversationMessage {
            key: a,
            from: who(&net, B),
            payload: "to everyone".into()
        }]
    );
    net.leave(A, a).unwrap();
    net.drain();
    net.assert_quiet();
}

#[test]
fn bad_messages_are_refused_by_field_and_the_conversation_still_works() {
    let mut net = Net::users(&["alice", "bob", "carol"]);
    let (a, b) = call(&mut net, A, B, "i1");
    let sent = net.sent.len();
    let big = "x".repeat(MAX_MESSAGE_LEN + 1);
    for (to, payload, field) in [
        (None, big.as_str(), "payload"),
        (Some("bob"), "a\0b", "payload"),
        (Some("carol"), "hi", "to"),
        (Some("alice"), "hi", "to"),
    ] {
        let err = net.send(A, a, to, payload).unwrap_err();
        assert!(
            matches!(&err, EngineError::InvalidArgument { field: f, .. } if *f == field),
            "{err:?}"
        );
    }
    assert_eq!(net.sent.len(), sent, "nothing sent");
    let max = "y".repeat(MAX_MESSAGE_LEN);
    net.send(A, a, Some("bob"), &max).unwrap();
    net.deliver_all();
    assert!(matches!(
        &net.take(B)[..],
        [Event::ConversationMessage { payload, .. }] if payload.len() == MAX_MESSAGE_LEN
    ));
    net.leave(B, b).unwrap();
    assert_eq!(
        net.send(B, b, None, "late"),
        Err(EngineError::UnknownKey),
        "after leaving"
    );
    net.drain();
    assert_eq!(net.send(A, a, None, "late"), Err(EngineError::UnknownKey));
    net.assert_quiet();
}

#[test]
fn messages_from_non_participants_are_ignored() {
    let mut net = Net::users(&["alice", "bob"]);
    let (a, b) = call(&mut net, A, B, "i1");
    let msg = |id: &str| PeerMessage::Message {
        conversation_id: id.into(),
        payload: "psst".into(),
    };
    net.inject(B, Net::forged("mallory", "n1.9", msg("c-i1")));
    net.inject(B, Net::forged("alice", "n1.9", msg("c-i1")));
    net.inject(B, Net::forged("alice", "n1.1", msg("c-other")));
    let joined = PeerMessage::Joined {
        conversation_id: "c-i1".into(),
        uid: "mallory".into(),
        device: "n1.9".into(),
    };
    net.inject(B, Net::forged("mallory", "n1.8", joined));
    assert_eq!(net.take(B), vec![]);
    assert_eq!(net.nodes[B].engine.participants(b).unwrap().len(), 1);
    net.leave(A, a).unwrap();
    net.drain();
    net.assert_quiet();
}

// ---- three parties ----

#[test]
fn inviting_into_a_live_conversation_makes_three_who_all_talk() {
    let (mut net, [a, b, c]) = three_party();
    net.send(C, c, None, "hello both").unwrap();
    net.send(B, b, Some("carol"), "hi carol").unwrap();
    net.deliver_all();
    for (i, k) in [(A, a), (B, b)] {
        assert_eq!(
            net.take(i),
            vec![Event::ConversationMessage {
                key: k,
                from: who(&net, C),
                payload: "hello both".into()
            }]
        );
    }
    assert_eq!(
        net.take(C),
        vec![Event::ConversationMessage {
            key: c,
            from: who(&net, B),
            payload: "hi carol".into()
        }]
    );
    net.leave(A, a).unwrap();
    net.leave(B, b).unwrap();
    net.drain();
    net.assert_quiet();
}

#[test]
fn participants_leave_in_every_order() {
    let orders = [
        [A, B, C],
        [A, C, B],
        [B, A, C],
        [B, C, A],
        [C, A, B],
        [C, B, A],
    ];
    for order in orders {
        let (mut net, keys) = three_party();
        let [first, second, last] = order;
        net.leave(first, keys[first]).unwrap();
        net.deliver_all();
        assert_eq!(
            net.take(first),
            vec![Event::ConversationDisconnected { key: keys[first] }]
        );
        for i in [second, last] {
            assert_eq!(
                net.take(i),
                vec![Event::ParticipantDisconnected {
                    key: keys[i],
                    participant: who(&net, first),
                    reason: LeaveReason::Left
                }],
                "{order:?}"
            );
        }
        net.leave(second, keys[second]).unwrap();
        net.deliver_all();
        assert_eq!(
            net.take(last),
            vec![
                Event::ParticipantDisconnected {
                    key: keys[last],
                    participant: who(&net, second),
                    reason: LeaveReason::Left
                },
                Event::ConversationDisconnected { key: keys[last] }
            ],
            "{order:?}"
        );
        net.assert_quiet();
    }
}

#[test]
fn two_party_leaving_in_either_order() {
    for leaver in [A, B] {
        let mut net = Net::users(&["alice", "bob"]);
        let (a, b) = call(&mut net, A, B, "i1");
        let keys = [a, b];
        let stayer = 1 - leaver;
        net.leave(leaver, keys[leaver]).unwrap();
        net.deliver_all();
        assert_eq!(
            net.take(stayer),
            vec![
                Event::ParticipantDisconnected {
                    key: keys[stayer],
                    participant: who(&net, leaver),
                    reason: LeaveReason::Left
                },
                Event::ConversationDisconnected { key: keys[stayer] }
            ]
        );
        net.assert_quiet();
    }
}

#[test]
fn invite_into_is_checked() {
    let mut net = Net::users(&["alice", "bob", "carol"]);
    let (a, b) = call(&mut net, A, B, "i1");
    let mut req = request("bob", "i2", LIFETIME_MS);
    req.conversation_id = "c-i1".into();
    assert!(matches!(
        net.invite_into(A, a, req.clone()),
        Err(EngineError::InvalidArgument {
            field: "participantId",
            ..
        })
    ));
    req.to = "carol".into();
    req.conversation_id = "c-other".into();
    assert!(matches!(
        net.invite_into(A, a, req.clone()),
        Err(EngineError::InvalidArgument {
            field: "conversationId",
            ..
        })
    ));
    assert_eq!(
        net.invite_into(A, Key(999), req),
        Err(EngineError::UnknownKey)
    );
    net.leave(B, b).unwrap();
    net.drain();
    net.assert_quiet();
}

#[test]
fn leaving_cancels_invites_into_the_conversation() {
    let mut net = Net::users(&["alice", "bob", "carol"]);
    let (a, _b) = call(&mut net, A, B, "i1");
    let mut req = request("carol", "i2", LIFETIME_MS);
    req.conversation_id = "c-i1".into();
    let out = net.invite_into(A, a, req).unwrap();
    net.deliver_all();
    let carol = last_received(&net, C);
    net.take(A);
    net.leave(A, a).unwrap();
    assert_eq!(
        net.take(A),
        vec![
            Event::OutgoingCanceled {
                key: out,
                reason: CancelReason::CallerCanceled
            },
            Event::ConversationDisconnected { key: a }
        ]
    );
    net.deliver_all();
    assert_eq!(
        net.take(C)[1..],
        [Event::IncomingCanceled {
            key: carol,
            reason: CancelReason::CallerCanceled
        }]
    );
    net.assert_quiet();
}

#[test]
fn a_second_accepted_invite_with_the_same_id_adds_to_the_conversation() {
    // Two plain invites naming one conversation id: one conversation.
    let mut net = Net::users(&["alice", "bob", "carol"]);
    let (a, b) = call(&mut net, A, B, "i1");
    let mut req = request("carol", "i2", LIFETIME_MS);
    req.conversation_id = "c-i1".into();
    net.invite(A, req).unwrap();
    net.deliver_all();
    let carol = last_received(&net, C);
    net.accept(C, carol).unwrap();
    net.deliver_all();
    assert_eq!(conversation_of(&net.take(A)), a);
    assert_eq!(net.nodes[A].engine.live_count(), 1);
    assert_eq!(net.nodes[A].engine.participants(a).unwrap().len(), 2);
    assert_eq!(net.nodes[B].engine.participants(b).unwrap().len(), 2);
    let c = conversation_of(&net.take(C));
    assert_eq!(net.nodes[C].engine.participants(c).unwrap().len(), 2);
    // The last one left alone is disconnected without leaving.
    for (i, k) in [(A, a), (B, b)] {
        net.leave(i, k).unwrap();
        net.deliver_all();
    }
    assert!(net
        .take(C)
        .contains(&Event::ConversationDisconnected { key: c }));
    net.drain();
    net.assert_quiet();
}

#[test]
fn a_late_joined_after_leaving_is_answered_with_leave() {
    // Bob leaves before he hears that carol joined; carol's conversation
    // lists bob until bob's answer to the late `joined` reaches her.
    let mut net = Net::users(&["alice", "bob", "carol"]);
    let (a, b) = call(&mut net, A, B, "i1");
    let mut req = request("carol", "i2", LIFETIME_MS);
    req.conversation_id = "c-i1".into();
    net.invite_into(A, a, req).unwrap();
    net.deliver_all();
    let carol = last_received(&net, C);
    net.accept(C, carol).unwrap();
    net.leave(B, b).unwrap();
    net.deliver_link(C, A); // the accept: joined → bob, outcome → carol
    net.deliver_link(A, C);
    let c = conversation_of(&net.take(C));
    assert_eq!(net.nodes[C].engine.participants(c).unwrap().len(), 2);
    net.deliver_all();
    assert!(net.take(C).contains(&Event::ParticipantDisconnected {
        key: c,
        participant: who(&net, B),
        reason: LeaveReason::Left
    }));
    assert_eq!(
        net.nodes[C].engine.participants(c),
        Some(&[who(&net, A)][..])
    );
    net.leave(C, c).unwrap();
    net.drain();
    net.assert_quiet();
}

// ---- glare ----

/// The terminal event of `key` on node `i`.
fn end_of(net: &Net, i: usize, key: Key) -> Option<Event> {
    net.nodes[i]
        .events
        .iter()
        .map(|(_, e)| e)
        .find(|e| e.key() == key && e.is_terminal())
        .cloned()
}

/// Alice and bob invite each other with the given ids, in one of four
/// orders: 0 alice's invite reaches bob before he invites; 1 crossing,
/// alice's delivered first; 2 crossing, bob's first; 3 bob's reaches alice
/// before she invites.
fn glare(alice_id: &str, bob_id: &str, order: u8) {
    let ctx = format!("alice {alice_id}, bob {bob_id}, order {order}");
    let mut net = Net::users(&["alice", "bob"]);
    let alice_req = request("bob", alice_id, LIFETIME_MS);
    let mut bob_req = request("alice", bob_id, LIFETIME_MS);
    bob_req.conversation_id = "c2".into();
    let (a_out, b_out) = match order {
        0 => {
            let a = net.invite(A, alice_req).unwrap();
            net.deliver_link(A, B);
            (a, net.invite(B, bob_req).unwrap())
        }
        1 | 2 => {
            let a = net.invite(A, alice_req).unwrap();
            let b = net.invite(B, bob_req).unwrap();
            if order == 1 {
                net.deliver_link(A, B);
            } else {
                net.deliver_link(B, A);
            }
            (a, b)
        }
        _ => {
            let b = net.invite(B, bob_req).unwrap();
            net.deliver_link(B, A);
            (net.invite(A, alice_req).unwrap(), b)
        }
    };
    net.deliver_all();

    let alice_wins = alice_id < bob_id;
    let (w, l, w_out, l_out) = if alice_wins {
        (A, B, a_out, b_out)
    } else {
        (B, A, b_out, a_out)
    };
    assert!(net.nodes[w].engine.is_outgoing_pending(w_out), "{ctx}");
    assert_eq!(
        end_of(&net, l, l_out),
        Some(Event::OutgoingCanceled {
            key: l_out,
            reason: CancelReason::Glare
        }),
        "{ctx}"
    );
    let w_in = last_received(&net, w);
    assert_eq!(
        end_of(&net, w, w_in),
        Some(Event::IncomingCanceled {
            key: w_in,
            reason: CancelReason::Glare
        }),
        "{ctx}"
    );
    let l_in = last_received(&net, l);
    assert_eq!(end_of(&net, l, l_in), None, "{ctx}: survivor still rings");
    let outcomes: Vec<(usize, Outcome)> = net
        .sent
        .iter()
        .filter_map(|(from, m)| match m {
            PeerMessage::Outcome { outcome, .. } => Some((*from, outcome.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![(
            l,
            Outcome::Canceled {
                reason: Some(CancelReason::Glare)
            }
        )],
        "{ctx}"
    );
    // The loser of the glare answers the surviving invite: one
    // conversation.
    net.accept(l, l_in).unwrap();
    net.deliver_all();
    let (ew, el) = (net.take(w), net.take(l));
    let (cw, cl) = (conversation_of(&ew), conversation_of(&el));
    assert_eq!(net.nodes[w].engine.live_count(), 1, "{ctx}");
    assert_eq!(net.nodes[l].engine.live_count(), 1, "{ctx}");
    net.leave(w, cw).unwrap();
    net.deliver_all();
    assert!(net.nodes[l].engine.participants(cl).is_none());
    net.drain();
    net.assert_quiet();
}

#[test]
fn glare_the_greater_invite_id_loses_in_every_order() {
    for order in 0..4 {
        glare("i1", "i2", order);
        glare("i2", "i1", order);
    }
}

#[test]
fn glare_outcome_reaches_the_other_devices_of_the_loser() {
    // Bob has two devices; bob's first device invites alice while alice
    // invites bob: alice's invite (the greater id) loses, and bob's second
    // device, which only rang, ends canceled(glare) too.
    let mut net = Net::users(&["alice", "bob", "bob"]);
    let a_out = net.invite(A, request("bob", "i9", LIFETIME_MS)).unwrap();
    let mut req = request("alice", "i1", LIFETIME_MS);
    req.conversation_id = "c2".into();
    let b_out = net.invite(B, req).unwrap();
    net.deliver_all();
    assert_eq!(
        end_of(&net, A, a_out),
        Some(Event::OutgoingCanceled {
            key: a_out,
            reason: CancelReason::Glare
        })
    );
    let bob2 = last_received(&net, C);
    assert_eq!(
        end_of(&net, C, bob2),
        Some(Event::IncomingCanceled {
            key: bob2,
            reason: CancelReason::Glare
        })
    );
    assert!(net.nodes[B].engine.is_outgoing_pending(b_out));
    net.cancel_on(B, b_out).unwrap();
    net.drain();
    net.assert_quiet();
}

#[test]
fn an_accepting_invite_is_not_glare() {
    let mut net = Net::users(&["alice", "bob"]);
    let a_out = net.invite(A, request("bob", "i1", LIFETIME_MS)).unwrap();
    net.deliver_all();
    let inc = last_received(&net, B);
    net.accept(B, inc).unwrap();
    let mut req = request("alice", "i0", LIFETIME_MS);
    req.conversation_id = "c2".into();
    let b_out = net.invite(B, req).unwrap();
    assert!(net.nodes[B].engine.is_outgoing_pending(b_out));
    net.deliver_all();
    assert!(matches!(
        end_of(&net, A, a_out),
        Some(Event::OutgoingAccepted { .. })
    ));
    assert!(net.nodes[B].engine.is_outgoing_pending(b_out));
    net.cancel_on(B, b_out).unwrap();
    let (ea, eb) = (net.take(A), net.take(B));
    let (ca, _) = (conversation_of(&ea), conversation_of(&eb));
    net.leave(A, ca).unwrap();
    net.drain();
    net.assert_quiet();
}

fn gone(net: &Net, i: usize, conversation_id: &str) -> ServerMessage {
    ServerMessage::ParticipantGone {
        conversation_id: conversation_id.to_owned(),
        uid: net.nodes[i].uid.clone(),
        device: net.nodes[i].device.clone(),
        reason: LeaveReason::ConnectionLost,
    }
}

/// The server announces a participant's connection gone: each other
/// participant removes it once, with reason `connection_lost`; an
/// announcement about a device that is not a participant there (again,
/// another device of the user, another conversation) is ignored; the last
/// one left alone ends its conversation.
#[test]
fn a_participant_announced_gone_is_disconnected_once() {
    let (mut net, keys) = three_party();
    net.disconnect(B);
    net.take(B);
    for i in [A, C] {
        let msg = gone(&net, B, "c-i1");
        net.inject(i, msg);
        assert_eq!(
            net.take(i),
            vec![Event::ParticipantDisconnected {
                key: keys[i],
                participant: who(&net, B),
                reason: LeaveReason::ConnectionLost,
            }]
        );
        let again = gone(&net, B, "c-i1");
        net.inject(i, again);
        assert_eq!(net.take(i), vec![], "announced twice");
    }
    let mut other_device = gone(&net, C, "c-i1");
    if let ServerMessage::ParticipantGone { device, .. } = &mut other_device {
        *device = "n1.elsewhere".into();
    }
    net.inject(A, other_device);
    let other_conversation = gone(&net, C, "c-other");
    net.inject(A, other_conversation);
    assert_eq!(net.take(A), vec![]);
    assert_eq!(
        net.nodes[A].engine.participants(keys[A]),
        Some(&[who(&net, C)][..])
    );
    let msg = gone(&net, C, "c-i1");
    net.inject(A, msg);
    assert_eq!(
        net.take(A),
        vec![
            Event::ParticipantDisconnected {
                key: keys[A],
                participant: who(&net, C),
                reason: LeaveReason::ConnectionLost,
            },
            Event::ConversationDisconnected { key: keys[A] },
        ]
    );
    // Too late: the conversation is over here.
    let late = gone(&net, C, "c-i1");
    net.inject(A, late);
    assert_eq!(net.take(A), vec![]);
    net.leave(C, keys[C]).unwrap();
    net.deliver_all();
    assert_eq!(net.take(A), vec![]);
    net.take(C);
    net.assert_quiet();
}

/// A participant that left, then lost its connection, is disconnected
/// once, with reason `left`: the later announcement is ignored.
#[test]
fn leaving_then_going_is_one_disconnect_with_reason_left() {
    let (mut net, keys) = three_party();
    net.leave(B, keys[B]).unwrap();
    net.deliver_all();
    net.take(B);
    net.disconnect(B);
    net.take(B);
    let msg = gone(&net, B, "c-i1");
    net.inject(A, msg);
    assert_eq!(
        net.take(A),
        vec![Event::ParticipantDisconnected {
            key: keys[A],
            participant: who(&net, B),
            reason: LeaveReason::Left,
        }]
    );
    net.leave(A, keys[A]).unwrap();
    net.deliver_all();
    net.take(A);
    net.take(C);
    net.assert_quiet();
}
