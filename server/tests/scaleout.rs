//! Several `wd-signal` nodes routing through Redis behave as one: the
//! foundation's invite scenarios with the caller and the callee devices on
//! different nodes, plus a node killed with `kill -9` and a Redis restart.
//! Real processes (redis-server, three wd-signal) and the real SDK.

mod cluster;

use cluster::{have_redis, Cluster, Node, Redis};
use crossbeam_channel::{unbounded, Receiver};
use std::time::Duration;
use wilddog_video::client::{
    CancelReason, Client, ClientConfig, ConnectionState, Conversation, ConversationEvent,
    FailureReason, IncomingEvent, IncomingInvite, IncomingStatus, InviteOptions, LeaveReason,
    OutgoingEvent, OutgoingInvite, OutgoingStatus, Participant, RejectReason,
};

/// Failure bound of one wait: tests never wait this long when all works.
const WAIT: Duration = Duration::from_secs(20);

fn connect(url: &str, uid: &str) -> Client {
    Client::connect(ClientConfig::new(url, format!("dev:{uid}"))).expect("client connects")
}

fn next<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn invites(client: &Client) -> Receiver<IncomingInvite> {
    let (tx, rx) = unbounded();
    client.set_invite_listener(move |inv| {
        let _ = tx.send(inv);
    });
    rx
}

fn outgoing_events(invite: &OutgoingInvite) -> Receiver<OutgoingEvent> {
    let (tx, rx) = unbounded();
    invite.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    rx
}

fn incoming_events(invite: &IncomingInvite) -> Receiver<IncomingEvent> {
    let (tx, rx) = unbounded();
    invite.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    rx
}

/// The outgoing invite's events up to and including its terminal one.
fn terminal(rx: &Receiver<OutgoingEvent>) -> OutgoingEvent {
    loop {
        let ev = next(rx, "an outgoing event");
        if ev != OutgoingEvent::Ringing {
            return ev;
        }
    }
}

fn invite(from: &Client, to: &str, lifetime_ms: u64) -> (OutgoingInvite, Receiver<OutgoingEvent>) {
    let out = from
        .invite_to_conversation(InviteOptions {
            lifetime_ms,
            ..InviteOptions::new(to)
        })
        .expect("invite sent");
    let rx = outgoing_events(&out);
    (out, rx)
}

#[test]
fn accepted_rejected_canceled_timeout_and_offline_across_nodes() {
    if !have_redis() {
        return;
    }
    let c = Cluster::start(3);
    let alice = connect(c.url(0), "alice");
    let bob = connect(c.url(1), "bob");
    let bob_inv = invites(&bob);

    // Accepted.
    let (out, out_rx) = invite(&alice, "bob", 60_000);
    let inc = next(&bob_inv, "invite at bob");
    assert_eq!(inc.from(), "alice");
    let inc_rx = incoming_events(&inc);
    assert_eq!(next(&out_rx, "ringing"), OutgoingEvent::Ringing);
    inc.accept(Some("answer"), None).unwrap();
    assert!(matches!(terminal(&out_rx), OutgoingEvent::Accepted { .. }));
    assert!(matches!(
        next(&inc_rx, "accepted"),
        IncomingEvent::Accepted { .. }
    ));
    assert_eq!(out.answer().as_deref(), Some("answer"));
    let conv = out.conversation().unwrap();
    assert_eq!(conv.participants()[0].device, bob.device());
    conv.disconnect().unwrap();

    // Rejected.
    let (out, out_rx) = invite(&alice, "bob", 60_000);
    let inc = next(&bob_inv, "invite at bob");
    inc.reject(RejectReason::Busy).unwrap();
    assert_eq!(
        terminal(&out_rx),
        OutgoingEvent::Rejected(RejectReason::Busy)
    );
    assert_eq!(out.reject_reason(), Some(RejectReason::Busy));

    // Canceled.
    let (out, out_rx) = invite(&alice, "bob", 60_000);
    let inc = next(&bob_inv, "invite at bob");
    let inc_rx = incoming_events(&inc);
    assert_eq!(next(&out_rx, "ringing"), OutgoingEvent::Ringing);
    out.cancel().unwrap();
    assert_eq!(
        next(&out_rx, "canceled"),
        OutgoingEvent::Canceled(CancelReason::CallerCanceled)
    );
    assert_eq!(
        next(&inc_rx, "canceled at bob"),
        IncomingEvent::Canceled(CancelReason::CallerCanceled)
    );

    // Timeout.
    let (_out, out_rx) = invite(&alice, "bob", 200);
    let inc = next(&bob_inv, "invite at bob");
    let inc_rx = incoming_events(&inc);
    assert_eq!(
        terminal(&out_rx),
        OutgoingEvent::Failed(FailureReason::Timeout)
    );
    assert_eq!(
        next(&inc_rx, "timeout at bob"),
        IncomingEvent::Failed(FailureReason::Timeout)
    );

    // Offline: nobody named carol on any node; then carol on the third
    // node is reachable from the first at once (her welcome means every
    // node sees her).
    let (_out, out_rx) = invite(&alice, "carol", 60_000);
    assert_eq!(
        terminal(&out_rx),
        OutgoingEvent::Failed(FailureReason::Offline)
    );
    let carol = connect(c.url(2), "carol");
    let carol_inv = invites(&carol);
    let (_out, out_rx) = invite(&alice, "carol", 60_000);
    next(&carol_inv, "invite at carol")
        .reject(RejectReason::Declined)
        .unwrap();
    assert_eq!(
        terminal(&out_rx),
        OutgoingEvent::Rejected(RejectReason::Declined)
    );
    // And offline again once she left.
    let presence = c.redis.key_events("wd:presence:carol");
    drop(carol);
    presence.until("carol's presence to go", WAIT, || {
        c.redis.presence("carol").is_empty()
    });
    let (_out, out_rx) = invite(&alice, "carol", 60_000);
    assert_eq!(
        terminal(&out_rx),
        OutgoingEvent::Failed(FailureReason::Offline)
    );
}

#[test]
fn devices_on_different_nodes_all_ring_and_the_first_answer_wins() {
    if !have_redis() {
        return;
    }
    let c = Cluster::start(3);
    let alice = connect(c.url(0), "alice");
    let phone = connect(c.url(1), "bob");
    let laptop = connect(c.url(2), "bob");
    let desk = connect(c.url(0), "bob");
    let (phone_inv, laptop_inv, desk_inv) = (invites(&phone), invites(&laptop), invites(&desk));
    let (out, out_rx) = invite(&alice, "bob", 60_000);
    let on_phone = next(&phone_inv, "phone rings");
    let on_laptop = next(&laptop_inv, "laptop rings");
    let on_desk = next(&desk_inv, "desk rings");
    let (phone_rx, laptop_rx, desk_rx) = (
        incoming_events(&on_phone),
        incoming_events(&on_laptop),
        incoming_events(&on_desk),
    );
    on_laptop.accept(None, None).unwrap();
    assert!(matches!(terminal(&out_rx), OutgoingEvent::Accepted { .. }));
    assert!(matches!(
        next(&laptop_rx, "laptop accepted"),
        IncomingEvent::Accepted { .. }
    ));
    for (rx, what) in [(&phone_rx, "phone"), (&desk_rx, "desk")] {
        assert_eq!(
            next(rx, what),
            IncomingEvent::Canceled(CancelReason::AnsweredElsewhere)
        );
    }
    assert_eq!(
        out.conversation().unwrap().participants()[0].device,
        laptop.device()
    );
    drop((alice, phone, laptop, desk));
    for rx in [&phone_rx, &laptop_rx, &desk_rx] {
        assert_eq!(rx.try_iter().count(), 0, "one terminal event each");
    }
}

#[test]
fn caller_gone_reaches_invitees_on_other_nodes() {
    if !have_redis() {
        return;
    }
    let c = Cluster::start(3);
    let alice = connect(c.url(0), "alice");
    let phone = connect(c.url(1), "bob");
    let laptop = connect(c.url(2), "bob");
    let (phone_inv, laptop_inv) = (invites(&phone), invites(&laptop));
    let (_out, out_rx) = invite(&alice, "bob", 60_000);
    let rxs = [
        incoming_events(&next(&phone_inv, "phone rings")),
        incoming_events(&next(&laptop_inv, "laptop rings")),
    ];
    drop(alice);
    assert_eq!(
        terminal(&out_rx),
        OutgoingEvent::Failed(FailureReason::Network)
    );
    for rx in &rxs {
        assert_eq!(
            next(rx, "caller gone"),
            IncomingEvent::Failed(FailureReason::CallerGone)
        );
    }
}

#[test]
fn glare_across_nodes_leaves_one_invite() {
    if !have_redis() {
        return;
    }
    let c = Cluster::start(2);
    let (alice, bob) = (connect(c.url(0), "alice"), connect(c.url(1), "bob"));
    let (alice_inv, bob_inv) = (invites(&alice), invites(&bob));
    let (a_out, a_rx) = invite(&alice, "bob", 60_000);
    let (b_out, b_rx) = invite(&bob, "alice", 60_000);
    let at_bob = next(&bob_inv, "alice's invite at bob");
    let at_alice = next(&alice_inv, "bob's invite at alice");
    let (winner, loser, w_rx, l_rx, w_in, l_in) = if a_out.invite_id() < b_out.invite_id() {
        (&a_out, &b_out, &a_rx, &b_rx, &at_bob, &at_alice)
    } else {
        (&b_out, &a_out, &b_rx, &a_rx, &at_alice, &at_bob)
    };
    assert_eq!(terminal(l_rx), OutgoingEvent::Canceled(CancelReason::Glare));
    assert_eq!(loser.cancel_reason(), Some(CancelReason::Glare));
    let l_in_rx = incoming_events(l_in);
    assert_eq!(
        next(&l_in_rx, "loser ends at its invitee"),
        IncomingEvent::Canceled(CancelReason::Glare)
    );
    assert_eq!(winner.status(), OutgoingStatus::Pending);
    assert_eq!(w_in.status(), IncomingStatus::Pending);
    w_in.accept(None, None).unwrap();
    assert!(matches!(terminal(w_rx), OutgoingEvent::Accepted { .. }));
}

#[test]
fn a_killed_node_ends_its_invites_once_and_the_others_keep_serving() {
    if !have_redis() {
        return;
    }
    let mut c = Cluster::start(3);
    // Alice calls from n1, which dies; bob's devices are on n2 and n3.
    let alice = connect(c.url(0), "alice");
    let phone = connect(c.url(1), "bob");
    let laptop = connect(c.url(2), "bob");
    // Dave is on n1 too; carol on n2 calls him.
    let dave = connect(c.url(0), "dave");
    let carol = connect(c.url(1), "carol");
    let dave_inv = invites(&dave);
    let (phone_inv, laptop_inv) = (invites(&phone), invites(&laptop));
    let (_a_out, a_rx) = invite(&alice, "bob", 60_000);
    let bob_rxs = [
        incoming_events(&next(&phone_inv, "phone rings")),
        incoming_events(&next(&laptop_inv, "laptop rings")),
    ];
    assert_eq!(next(&a_rx, "ringing"), OutgoingEvent::Ringing);
    let (_c_out, c_rx) = invite(&carol, "dave", 3_000);
    let dave_rx = incoming_events(&next(&dave_inv, "dave rings"));
    assert_eq!(next(&c_rx, "ringing"), OutgoingEvent::Ringing);
    assert!(c.redis.presence("alice").contains("n1"));

    let presence = c.redis.key_events("wd:presence:*");
    let killed = std::time::Instant::now();
    c.nodes[0].kill();

    // The caller lost its node; the invitees on the survivors hear
    // caller_gone from whichever survivor reaped n1.
    assert_eq!(
        next(&a_rx, "alice's failure"),
        OutgoingEvent::Failed(FailureReason::Network)
    );
    for rx in &bob_rxs {
        assert_eq!(
            next(rx, "caller gone"),
            IncomingEvent::Failed(FailureReason::CallerGone)
        );
    }
    let heard = killed.elapsed();
    // Dave lost his node (his engine ends the invite as network, or as
    // timeout if its lifetime ran out first); carol's invite times out.
    let ev = next(&dave_rx, "dave's failure");
    assert!(
        ev == IncomingEvent::Failed(FailureReason::Network)
            || ev == IncomingEvent::Failed(FailureReason::Timeout),
        "{ev:?}"
    );
    assert_eq!(
        terminal(&c_rx),
        OutgoingEvent::Failed(FailureReason::Timeout)
    );
    // n1's presence is gone within the heartbeat bound (TTL + one beat).
    presence.until("n1's presence to go", WAIT, || {
        c.redis.presence("alice").is_empty() && c.redis.presence("dave").is_empty()
    });
    assert!(
        heard < wd_signal::broker::NODE_TTL + 2 * wd_signal::broker::HEARTBEAT,
        "caller_gone took {heard:?}"
    );

    // Alice reconnects to another node and calls again.
    let alice = connect(c.url(2), "alice");
    let (_out, out_rx) = invite(&alice, "bob", 60_000);
    let on_phone = next(&phone_inv, "phone rings again");
    next(&laptop_inv, "laptop rings again");
    on_phone.accept(None, None).unwrap();
    assert!(matches!(terminal(&out_rx), OutgoingEvent::Accepted { .. }));
    // Dave is offline now, not ringing into the void.
    let (_out, out_rx) = invite(&carol, "dave", 60_000);
    assert_eq!(
        terminal(&out_rx),
        OutgoingEvent::Failed(FailureReason::Offline)
    );
    // Exactly once: nothing more arrived for the ended invites.
    for rx in &bob_rxs {
        assert_eq!(rx.try_iter().count(), 0);
    }
    assert_eq!(a_rx.try_iter().count(), 0);
    assert_eq!(dave_rx.try_iter().count(), 0);
}

/// A client that reconnects by itself over `urls` (in that order), with
/// short heartbeat and backoff so that a test does not wait on defaults.
fn connect_reconnecting(urls: &[&str], uid: &str) -> Client {
    let config = ClientConfig {
        urls: urls.iter().map(|u| u.to_string()).collect(),
        heartbeat: Duration::from_millis(200),
        dead_after: Duration::from_secs(1),
        reconnect: true,
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(200),
        ..ClientConfig::new(urls[0], format!("dev:{uid}"))
    };
    Client::connect(config).expect("client connects")
}

fn connection_events(client: &Client) -> Receiver<ConnectionState> {
    let (tx, rx) = unbounded();
    client.set_connection_listener(move |state| {
        let _ = tx.send(state);
    });
    rx
}

/// The node a device id (`"<node>.<n>"`) belongs to.
fn node_of(device: &str) -> &str {
    device.split('.').next().unwrap_or_default()
}

#[test]
fn a_killed_nodes_clients_reconnect_by_themselves_to_a_survivor() {
    if !have_redis() {
        return;
    }
    let mut c = Cluster::start(3);
    // Alice is on n1 with all three URLs, n1 first; bob's devices are on
    // n2 and n3.
    let alice = connect_reconnecting(&[c.url(0), c.url(1), c.url(2)], "alice");
    let a_conn = connection_events(&alice);
    assert_eq!(next(&a_conn, "alice's state"), ConnectionState::Connected);
    assert_eq!(node_of(&alice.device()), "n1");
    let phone = connect(c.url(1), "bob");
    let laptop = connect(c.url(2), "bob");
    let (phone_inv, laptop_inv) = (invites(&phone), invites(&laptop));
    let (_a_out, a_rx) = invite(&alice, "bob", 60_000);
    let bob_rxs = [
        incoming_events(&next(&phone_inv, "phone rings")),
        incoming_events(&next(&laptop_inv, "laptop rings")),
    ];
    assert_eq!(next(&a_rx, "ringing"), OutgoingEvent::Ringing);

    let presence = c.redis.key_events("wd:presence:*");
    c.nodes[0].kill();

    // Alice's engine ends the invite through the dead node; her client
    // reconnects on its own to a survivor.
    assert_eq!(
        next(&a_rx, "alice's failure"),
        OutgoingEvent::Failed(FailureReason::Network)
    );
    assert_eq!(
        next(&a_conn, "alice reconnecting"),
        ConnectionState::Reconnecting
    );
    assert_eq!(
        next(&a_conn, "alice reconnected"),
        ConnectionState::Connected
    );
    let moved_to = node_of(&alice.device()).to_owned();
    assert!(moved_to == "n2" || moved_to == "n3", "alice on {moved_to}");
    // Bob's devices hear caller_gone from whichever survivor reaped n1.
    for rx in &bob_rxs {
        assert_eq!(
            next(rx, "caller gone"),
            IncomingEvent::Failed(FailureReason::CallerGone)
        );
    }
    presence.until("n1's presence to go", WAIT, || {
        let p = c.redis.presence("alice");
        !p.contains("n1") && p.contains(&moved_to)
    });

    // A new invite from the moved client; the device of bob on the other
    // survivor answers, so it crosses nodes.
    let (_out, out_rx) = invite(&alice, "bob", 60_000);
    let on_phone = next(&phone_inv, "phone rings again");
    let on_laptop = next(&laptop_inv, "laptop rings again");
    let (answer, other) = if moved_to == "n2" {
        (on_laptop, on_phone)
    } else {
        (on_phone, on_laptop)
    };
    let other_rx = incoming_events(&other);
    answer.accept(None, None).unwrap();
    assert!(matches!(terminal(&out_rx), OutgoingEvent::Accepted { .. }));
    assert_eq!(
        next(&other_rx, "answered elsewhere"),
        IncomingEvent::Canceled(CancelReason::AnsweredElsewhere)
    );
    // Exactly once: nothing more arrived for the invite through n1, and
    // the link did not drop again.
    for rx in &bob_rxs {
        assert_eq!(rx.try_iter().count(), 0);
    }
    assert_eq!(a_rx.try_iter().count(), 0);
    assert_eq!(a_conn.try_iter().count(), 0);
    assert_eq!(alice.connection_state(), ConnectionState::Connected);
}

#[test]
fn a_restarted_node_ends_what_its_previous_instance_left_pending() {
    if !have_redis() {
        return;
    }
    let mut c = Cluster::start(1);
    let url = c.redis.url();
    let n2 = Node::start(&url, "n2");
    let alice = connect(c.url(0), "alice");
    let bob = connect(&n2.url, "bob");
    let bob_inv = invites(&bob);
    let (_out, _out_rx) = invite(&alice, "bob", 60_000);
    let bob_rx = incoming_events(&next(&bob_inv, "bob rings"));
    c.nodes[0].kill();
    // Back at once under the same name: it waits for the old heartbeat to
    // lapse, then ends its predecessor's invites itself (or n2 did).
    let _n1 = Node::start(&url, "n1");
    assert_eq!(
        next(&bob_rx, "caller gone"),
        IncomingEvent::Failed(FailureReason::CallerGone)
    );
}

#[test]
fn a_redis_restart_fails_invites_typed_then_routing_resumes() {
    if !have_redis() {
        return;
    }
    let mut c = Cluster::start(2);
    let alice = connect(c.url(0), "alice");
    let bob = connect(c.url(1), "bob");
    let bob_inv = invites(&bob);
    let port = c.redis.port;
    c.redis.kill();

    // During the outage: a typed failure, not silence.
    let (_out, out_rx) = invite(&alice, "bob", 60_000);
    assert_eq!(
        terminal(&out_rx),
        OutgoingEvent::Failed(FailureReason::ServerError)
    );
    assert!(bob_inv.try_recv().is_err(), "nothing half-delivered");

    // Redis comes back empty; the nodes reconnect and announce their
    // devices again.
    c.redis = Redis::start_on(port);
    let presence = c.redis.key_events("wd:presence:*");
    presence.until("presence to be announced again", WAIT, || {
        c.redis.presence("alice").contains("n1") && c.redis.presence("bob").contains("n2")
    });
    let (_out, out_rx) = invite(&alice, "bob", 60_000);
    next(&bob_inv, "bob rings after the restart")
        .accept(None, None)
        .unwrap();
    assert!(matches!(terminal(&out_rx), OutgoingEvent::Accepted { .. }));
    // A device that connects after the restart is seen too.
    let carol = connect(c.url(0), "carol");
    let carol_inv = invites(&carol);
    let (_out, out_rx) = invite(&bob, "carol", 60_000);
    next(&carol_inv, "carol rings")
        .reject(RejectReason::Declined)
        .unwrap();
    assert_eq!(
        terminal(&out_rx),
        OutgoingEvent::Rejected(RejectReason::Declined)
    );
}

fn conversation_events(conv: &Conversation) -> Receiver<ConversationEvent> {
    let (tx, rx) = unbounded();
    conv.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    rx
}

fn lost(client: &Client) -> ConversationEvent {
    ConversationEvent::ParticipantDisconnected {
        participant: Participant {
            uid: client.uid().into(),
            device: client.device(),
        },
        reason: LeaveReason::ConnectionLost,
    }
}

/// A conversation over three nodes (alice on n1 invites bob on n2, then
/// carol on n3 into it): when a member's connection drops, the members on
/// the other nodes hear `participant_gone` (SDK: `connection_lost`). Alice's
/// node relayed both outcomes; carol's learns the conversation when she
/// sends in it.
#[test]
fn participant_gone_reaches_members_on_other_nodes() {
    if !have_redis() {
        return;
    }
    let c = Cluster::start(3);
    let alice = connect(c.url(0), "alice");
    let bob = connect(c.url(1), "bob");
    let carol = connect(c.url(2), "carol");
    let (bob_inv, carol_inv) = (invites(&bob), invites(&carol));
    let (out, out_rx) = invite(&alice, "bob", 60_000);
    let bob_invite = next(&bob_inv, "bob rings");
    let bob_invite_rx = incoming_events(&bob_invite);
    bob_invite.accept(None, None).unwrap();
    assert!(matches!(terminal(&out_rx), OutgoingEvent::Accepted { .. }));
    assert!(matches!(
        next(&bob_invite_rx, "bob accepted"),
        IncomingEvent::Accepted { .. }
    ));
    let cb = bob_invite.conversation().expect("bob's conversation");
    let rx_b = conversation_events(&cb);
    let ca = out.conversation().expect("alice's conversation");
    let to_carol = ca.invite(InviteOptions::new("carol")).unwrap();
    let to_carol_rx = outgoing_events(&to_carol);
    let carol_invite = next(&carol_inv, "carol rings");
    let carol_invite_rx = incoming_events(&carol_invite);
    carol_invite.accept(None, None).unwrap();
    assert!(matches!(
        terminal(&to_carol_rx),
        OutgoingEvent::Accepted { .. }
    ));
    assert!(matches!(
        next(&carol_invite_rx, "carol accepted"),
        IncomingEvent::Accepted { .. }
    ));
    let cc = carol_invite.conversation().expect("carol's conversation");
    let rx_c = conversation_events(&cc);
    assert!(matches!(
        next(&rx_b, "carol joined, at bob"),
        ConversationEvent::ParticipantConnected(_)
    ));

    let gone_alice = lost(&alice);
    drop(ca);
    drop(alice);
    assert_eq!(next(&rx_b, "alice gone, at bob"), gone_alice);
    assert_eq!(next(&rx_c, "alice gone, at carol"), gone_alice);

    cc.send(Some("bob"), "still here").unwrap();
    assert!(matches!(
        next(&rx_b, "carol's message"),
        ConversationEvent::Message { .. }
    ));
    let gone_carol = lost(&carol);
    drop(cc);
    drop(carol);
    assert_eq!(next(&rx_b, "carol gone, at bob"), gone_carol);
    assert_eq!(next(&rx_b, "bob alone"), ConversationEvent::Disconnected);
}
