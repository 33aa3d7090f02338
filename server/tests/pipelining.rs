//! Routing through Redis is pipelined (a connection reads on while its
//! frames are in flight, and a node sends what is queued as one
//! pipeline): the order of one sender's frames holds end to end, answers
//! still reach the sender, and many connections batched together all get
//! their frames. Real processes (redis-server, `wd-signal` nodes) and raw
//! protocol clients.

mod cluster;
mod common;

use cluster::{have_redis, Node, Redis};
use common::{invite, ringing, Client};
use wd_protocol::{ErrorCode, FailureReason, Outcome, PeerMessage, ServerMessage};

/// Node flags that lift the per-connection rate limits, so that floods of
/// frames are routed rather than refused, and let one sender hold up to
/// 1024 frames of a recipient's queue (a quarter of it), so that a device
/// read only after a burst of 1000 frames still gets them all.
const UNLIMITED: &[&str] = &[
    "--outbox-capacity",
    "4096",
    "--message-rate",
    "0",
    "--invite-rate",
    "1000000",
    "--invite-burst",
    "1000000",
];

fn cluster(n: usize) -> (Redis, Vec<Node>) {
    let redis = Redis::start();
    let nodes = (1..=n)
        .map(|i| Node::start_with(Some(&redis.url()), &format!("n{i}"), UNLIMITED))
        .collect();
    (redis, nodes)
}

fn message(n: usize) -> PeerMessage {
    PeerMessage::Message {
        conversation_id: "c".into(),
        payload: n.to_string(),
    }
}

/// Makes `caller` and the user of `invitees` (its devices) members of
/// conversation `c`, the one [`message`] is in: the server relays
/// conversation messages only between members. An invite accepted by the
/// first device; every device reads the invite and the outcome.
fn converse(caller: &mut Client, invitees: &mut [&mut Client]) {
    let to = invitees[0].uid.clone();
    let id = format!("talk-{}", caller.uid);
    caller.send_to(
        &to,
        None,
        PeerMessage::Invite {
            invite_id: id.clone(),
            conversation_id: "c".into(),
            mode: Default::default(),
            user_data: None,
            offer: None,
            lifetime_ms: 60_000,
        },
    );
    for d in invitees.iter_mut() {
        d.expect_deliver();
    }
    let device = invitees[0].device.clone();
    caller.send_to(
        &to,
        None,
        PeerMessage::Outcome {
            invite_id: id,
            outcome: Outcome::Accepted {
                device,
                participants: Vec::new(),
            },
        },
    );
    for d in invitees.iter_mut() {
        d.expect_deliver();
    }
}

fn payload(body: &PeerMessage) -> usize {
    match body {
        PeerMessage::Message { payload, .. } => payload.parse().expect("numbered"),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn a_thousand_numbered_messages_across_nodes_arrive_in_order() {
    if !have_redis() {
        return;
    }
    let (_redis, nodes) = cluster(2);
    let mut alice = Client::dev(&nodes[0].url, "alice");
    // Bob has one device on each node: frames to the user reach both (the
    // one beside alice in-process, the other through Redis), frames to
    // one device only that device.
    let mut far = Client::dev(&nodes[1].url, "bob");
    let mut near = Client::dev(&nodes[0].url, "bob");
    converse(&mut alice, &mut [&mut far, &mut near]);
    let far_device = far.device.clone();
    const N: usize = 1000;
    let sender = std::thread::spawn(move || {
        for n in 0..N {
            // Alternate the two routes (one PUBLISH batched per node, the
            // deliver script for a user) so that both interleave.
            let device = (n % 2 == 1).then_some(far_device.as_str());
            alice.send_to("bob", device, message(n));
        }
        alice
    });
    for n in 0..N {
        let (from, _, body) = far.expect_deliver();
        assert_eq!(from, "alice");
        assert_eq!(payload(&body), n, "far device, frame {n}");
    }
    for n in (0..N).step_by(2) {
        let (_, _, body) = near.expect_deliver();
        assert_eq!(payload(&body), n, "near device, frame {n}");
    }
    // Nothing else was queued for the near device: the next frame is the
    // one sent after all of the above.
    let mut alice = sender.join().unwrap();
    alice.send_to("bob", Some(&near.device.clone()), message(N));
    assert_eq!(payload(&near.expect_deliver().2), N);
}

#[test]
fn an_invite_followed_at_once_by_its_cancel_ends_canceled_on_both_sides() {
    if !have_redis() {
        return;
    }
    let (redis, nodes) = cluster(2);
    let mut alice = Client::dev(&nodes[0].url, "alice");
    let mut bob = Client::dev(&nodes[1].url, "bob");
    converse(&mut alice, &mut [&mut bob]);
    for i in 0..50 {
        let id = format!("i-{i}");
        alice.send_to("bob", None, invite(&id));
        alice.send_to(
            "bob",
            None,
            PeerMessage::Outcome {
                invite_id: id.clone(),
                outcome: Outcome::Canceled { reason: None },
            },
        );
        let (_, _, body) = bob.expect_deliver();
        assert!(
            matches!(&body, PeerMessage::Invite { invite_id, .. } if *invite_id == id),
            "invite first, got {body:?}"
        );
        let (_, _, body) = bob.expect_deliver();
        assert!(
            matches!(&body, PeerMessage::Outcome { invite_id, outcome: Outcome::Canceled { .. } } if *invite_id == id),
            "then its cancel, got {body:?}"
        );
    }
    // The caller heard nothing about its invites (no invite_failed): the
    // next frame it gets is bob's answer sent after all of them.
    bob.send_to("alice", Some(&alice.device.clone()), message(7));
    assert_eq!(payload(&alice.expect_deliver().2), 7);
    // Every invite ended, whether its cancel came in its batch or a later
    // one: nothing is left pending for caller_gone. (The script that
    // published each cancel changed the record in the same step.)
    assert_eq!(redis.cli(&["SCARD", "wd:pending:n1"]).as_deref(), Some("0"));
    // And an invite without an outcome is recorded.
    alice.invite("bob", "open");
    bob.expect_deliver();
    assert_eq!(
        redis.cli(&["SMEMBERS", "wd:pending:n1"]).as_deref(),
        Some(format!("alice {} bob open", alice.device).as_str())
    );
}

#[test]
fn answers_reach_the_sender_in_order_while_routing_is_pipelined() {
    if !have_redis() {
        return;
    }
    let (_redis, nodes) = cluster(2);
    let mut alice = Client::dev(&nodes[0].url, "alice");
    let mut bob = Client::dev(&nodes[1].url, "bob");
    // Bob's invite, which alice may then query.
    bob.invite("alice", "q");
    alice.expect_deliver();
    // Invites to an offline user and to bob, interleaved and sent without
    // waiting: each offline one fails, in the order sent.
    for i in 0..100 {
        alice.invite("nobody", &format!("off-{i}"));
        alice.invite("bob", &format!("on-{i}"));
    }
    for i in 0..100 {
        alice.expect_invite_failed(&format!("off-{i}"), FailureReason::Offline);
    }
    for i in 0..100 {
        let (_, _, body) = bob.expect_deliver();
        assert_eq!(body.invite_id(), Some(format!("on-{i}").as_str()));
    }
    // A query to a device that is gone is answered `undeliverable`, in
    // order with the failures before it.
    alice.invite("nobody", "off-last");
    alice.send_to(
        "bob",
        Some("n1.999999"),
        PeerMessage::Query {
            invite_id: "q".into(),
        },
    );
    alice.expect_invite_failed("off-last", FailureReason::Offline);
    match alice.recv() {
        ServerMessage::Undeliverable { invite_id, .. } => {
            assert_eq!(invite_id.as_deref(), Some("q"))
        }
        other => panic!("expected undeliverable, got {other:?}"),
    }
}

#[test]
fn a_query_to_a_gone_device_of_another_node_is_answered_undeliverable_once() {
    if !have_redis() {
        return;
    }
    let (_redis, nodes) = cluster(2);
    let mut alice = Client::dev(&nodes[0].url, "alice");
    let mut bob = Client::dev(&nodes[1].url, "bob");
    let query = |id: &str| PeerMessage::Query {
        invite_id: id.into(),
    };
    // Bob's invites, which alice may then query, and a conversation.
    for id in ["q1", "q2"] {
        bob.invite("alice", id);
        alice.expect_deliver();
    }
    converse(&mut alice, &mut [&mut bob]);
    // A device id of n2 that is not connected. n2 is alive and subscribed,
    // so n1 counts the frame as delivered: the answer comes from n2.
    let gone = "n2.999999";
    alice.send_to("bob", Some(gone), query("q1"));
    match alice.recv() {
        ServerMessage::Undeliverable {
            to,
            device,
            invite_id,
        } => {
            assert_eq!(to, "bob");
            assert_eq!(device, gone);
            assert_eq!(invite_id.as_deref(), Some("q1"));
        }
        other => panic!("expected undeliverable, got {other:?}"),
    }
    // A query to bob's connected device reaches it and is not answered
    // by the server.
    let bob_device = bob.device.clone();
    alice.send_to("bob", Some(&bob_device), query("q2"));
    let (from, _, body) = bob.expect_deliver();
    assert_eq!(from, "alice");
    assert_eq!(body, query("q2"));
    // Exactly one answer each: the next frame alice gets is the message
    // bob sends after both queries.
    bob.send_to("alice", Some(&alice.device.clone()), message(3));
    assert_eq!(payload(&alice.expect_deliver().2), 3);
}

#[test]
fn many_connections_batched_together_all_complete_their_cycles() {
    if !have_redis() {
        return;
    }
    let (_redis, nodes) = cluster(2);
    const PAIRS: usize = 32;
    const INVITES: usize = 20;
    let mut pairs = Vec::new();
    for p in 0..PAIRS {
        // Callers on both nodes, every invite crosses to the other one.
        let (a, b) = (p % 2, (p + 1) % 2);
        let caller = Client::dev(&nodes[a].url, &format!("caller{p}"));
        let callee = Client::dev(&nodes[b].url, &format!("callee{p}"));
        pairs.push((p, caller, callee));
    }
    let threads: Vec<_> = pairs
        .into_iter()
        .map(|(p, mut caller, mut callee)| {
            std::thread::spawn(move || {
                let to = format!("callee{p}");
                for i in 0..INVITES {
                    caller.invite(&to, &format!("{p}-{i}"));
                }
                for i in 0..INVITES {
                    let id = format!("{p}-{i}");
                    let (from, device, body) = callee.expect_deliver();
                    assert_eq!(from, format!("caller{p}"));
                    assert_eq!(body.invite_id(), Some(id.as_str()));
                    callee.send_to(&from, Some(&device), ringing(&id));
                    callee.send_to(
                        &from,
                        Some(&device),
                        PeerMessage::Accept {
                            invite_id: id,
                            answer: None,
                            user_data: None,
                        },
                    );
                }
                let callee_device = callee.device.clone();
                for i in 0..INVITES {
                    let id = format!("{p}-{i}");
                    let (_, _, body) = caller.expect_deliver();
                    assert!(matches!(body, PeerMessage::Ringing { .. }));
                    assert_eq!(body.invite_id(), Some(id.as_str()));
                    let (_, _, body) = caller.expect_deliver();
                    assert!(matches!(body, PeerMessage::Accept { .. }));
                    assert_eq!(body.invite_id(), Some(id.as_str()));
                    caller.send_to(
                        &to,
                        None,
                        PeerMessage::Outcome {
                            invite_id: id,
                            outcome: Outcome::Accepted {
                                device: callee_device.clone(),
                                participants: Vec::new(),
                            },
                        },
                    );
                }
                for i in 0..INVITES {
                    let (_, _, body) = callee.expect_deliver();
                    assert!(matches!(body, PeerMessage::Outcome { .. }));
                    assert_eq!(body.invite_id(), Some(format!("{p}-{i}").as_str()));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("every pair completes its cycles in order");
    }
}

#[test]
fn a_node_with_one_node_cluster_still_serves_local_devices_in_order() {
    if !have_redis() {
        return;
    }
    // Both sides on one node with the broker: frames to a device of the
    // node itself and frames to the user (through Redis) keep their order.
    let (_redis, nodes) = cluster(1);
    let mut alice = Client::dev(&nodes[0].url, "alice");
    let mut bob = Client::dev(&nodes[0].url, "bob");
    converse(&mut alice, &mut [&mut bob]);
    let device = bob.device.clone();
    for n in 0..200 {
        let to_device = (n % 3 == 0).then_some(device.as_str());
        alice.send_to("bob", to_device, message(n));
    }
    for n in 0..200 {
        assert_eq!(payload(&bob.expect_deliver().2), n);
    }
}

#[test]
fn scripts_flushed_from_redis_fail_typed_then_routing_resumes() {
    if !have_redis() {
        return;
    }
    let (redis, nodes) = cluster(2);
    let mut alice = Client::dev(&nodes[0].url, "alice");
    let mut bob = Client::dev(&nodes[1].url, "bob");
    redis.cli(&["SCRIPT", "FLUSH"]).expect("SCRIPT FLUSH");
    // Each attempt: an invite to bob, then an invite to a user nobody is
    // (`offline`, or `server_error` while the scripts are missing) that
    // marks the end of the attempt's answers. The first invite after the
    // flush fails `server_error` (never silence); the node then loads its
    // script again and a later invite reaches bob.
    for attempt in 0..10 {
        let id = format!("i-{attempt}");
        let marker = format!("m-{attempt}");
        alice.invite("bob", &id);
        alice.invite("nobody", &marker);
        let mut failed = false;
        loop {
            match alice.recv() {
                ServerMessage::InviteFailed { invite_id, .. } if invite_id == marker => break,
                ServerMessage::InviteFailed { invite_id, reason } => {
                    assert_eq!(invite_id, id);
                    assert_eq!(reason, FailureReason::ServerError);
                    failed = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(
            failed || attempt > 0,
            "the first invite after the flush fails typed"
        );
        if !failed {
            let (_, _, body) = bob.expect_deliver();
            assert_eq!(body.invite_id(), Some(id.as_str()));
            return;
        }
    }
    panic!("routing did not resume after the scripts were flushed");
}

#[test]
fn bodies_with_newlines_cross_nodes_intact() {
    if !have_redis() {
        return;
    }
    let (_redis, nodes) = cluster(2);
    let mut alice = Client::dev(&nodes[0].url, "alice");
    let mut bob = Client::dev(&nodes[1].url, "bob");
    converse(&mut alice, &mut [&mut bob]);
    // Newlines, the record separator of a channel message, inside and
    // around the body; several frames in one batch.
    let body =
        "{\n\"kind\":\"message\",\n\"conversation_id\":\"c\",\"payload\":\"1\\n2\\n\\n3\\n\"\n}\n";
    for _ in 0..20 {
        alice.send_text(format!(
            "{{\"type\":\"send\",\"to\":\"bob\",\n\"body\":{body}}}\n"
        ));
    }
    let meant: PeerMessage = serde_json::from_str(body).unwrap();
    for _ in 0..20 {
        let (from, _, got) = bob.expect_deliver();
        assert_eq!(from, "alice");
        assert_eq!(got, meant);
    }
}

/// Who is in an invite and in a conversation is known to every node
/// (through Redis): relays from a third party on another node are
/// refused (`error forbidden`), the parties' own relays pass.
#[test]
fn foreign_relays_are_refused_across_nodes() {
    if !have_redis() {
        return;
    }
    let (_redis, nodes) = cluster(2);
    let mut alice = Client::dev(&nodes[0].url, "alice");
    let mut bob = Client::dev(&nodes[1].url, "bob");
    let mut mallory = Client::dev(&nodes[1].url, "mallory");
    alice.invite("bob", "x1");
    bob.expect_deliver();
    mallory.send_to("alice", None, ringing("x1"));
    mallory.expect_error(ErrorCode::Forbidden);
    mallory.send_to(
        "bob",
        None,
        PeerMessage::Outcome {
            invite_id: "x1".into(),
            outcome: Outcome::Canceled { reason: None },
        },
    );
    mallory.expect_error(ErrorCode::Forbidden);
    // Bob, on the other node, may answer alice's invite.
    bob.send_to("alice", Some(&alice.device.clone()), ringing("x1"));
    assert_eq!(alice.expect_deliver().2, ringing("x1"));
    converse(&mut alice, &mut [&mut bob]);
    mallory.send_to("bob", None, message(1));
    mallory.expect_error(ErrorCode::Forbidden);
    mallory.send_to("alice", None, message(1));
    mallory.expect_error(ErrorCode::Forbidden);
    bob.send_to("alice", None, message(2));
    assert_eq!(payload(&alice.expect_deliver().2), 2);
}
