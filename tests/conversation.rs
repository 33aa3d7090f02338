//! Conversations over a real `wd-signal` on loopback: messages and their
//! order, bad payloads, leaving in every order, a three-party conversation
//! built by inviting into a live one, and glare.

mod common;
#[path = "support/proxy.rs"]
mod proxy;

use common::*;
use crossbeam_channel::Receiver;
use proxy::Proxy;
use wilddog_video::client::{
    Client, ClientConfig, Conversation, ConversationEvent, Error, IncomingEvent, InviteOptions,
    OutgoingEvent, OutgoingInvite,
};
use wilddog_video::engine::{IncomingStatus, OutgoingStatus, Participant};
use wilddog_video::protocol::{CancelReason, LeaveReason};

/// The event of `participant` leaving.
fn left(participant: Participant) -> ConversationEvent {
    ConversationEvent::ParticipantDisconnected {
        participant,
        reason: LeaveReason::Left,
    }
}

fn me(client: &Client) -> Participant {
    Participant {
        uid: client.uid().into(),
        device: client.device(),
    }
}

/// `caller` invites `callee`, who accepts: both conversations, with their
/// event receivers.
fn call(
    caller: &Client,
    callee: &Client,
    callee_invites: &Receiver<wilddog_video::client::IncomingInvite>,
) -> (Conversation, Conversation) {
    let out = caller
        .invite_to_conversation(InviteOptions::new(callee.uid()))
        .unwrap();
    let out_rx = outgoing_events(&out);
    let inc = next(callee_invites, "the invite");
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
    (out.conversation().unwrap(), inc.conversation().unwrap())
}

fn message(rx: &Receiver<ConversationEvent>) -> (Participant, String) {
    match next(rx, "a message") {
        ConversationEvent::Message { from, payload } => (from, payload),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn a_thousand_messages_arrive_in_order() {
    let srv = server();
    let (alice, bob) = (connect(&srv, "alice"), connect(&srv, "bob"));
    let (ca, cb) = call(&alice, &bob, &invites(&bob));
    let rx_b = conversation_events(&cb);
    let rx_a = conversation_events(&ca);
    for n in 0..1000 {
        ca.send(Some("bob"), &format!("{n}")).unwrap();
    }
    for n in 0..1000 {
        let (from, payload) = message(&rx_b);
        assert_eq!(from, me(&alice));
        assert_eq!(payload, n.to_string());
    }
    cb.send(None, "and back").unwrap();
    assert_eq!(message(&rx_a), (me(&bob), "and back".to_string()));
    ca.disconnect().unwrap();
}

#[test]
fn bad_payloads_and_recipients_are_typed_errors_and_the_conversation_survives() {
    let srv = server();
    let (alice, bob) = (connect(&srv, "alice"), connect(&srv, "bob"));
    let _carol = connect(&srv, "carol");
    let (ca, cb) = call(&alice, &bob, &invites(&bob));
    let rx_b = conversation_events(&cb);
    let field = |r: Result<(), Error>| match r {
        Err(Error::InvalidArgument { field, .. }) => field,
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    assert_eq!(field(ca.send(None, &"x".repeat(65_537))), "payload");
    assert_eq!(field(ca.send(Some("bob"), "nul\0inside")), "payload");
    assert_eq!(field(ca.send(Some("carol"), "hi")), "to");
    assert_eq!(field(ca.send(Some("not a uid"), "hi")), "to");
    // Still works, up to the limit exactly.
    let max = "é".repeat(65_536 / 2);
    ca.send(Some("bob"), &max).unwrap();
    assert_eq!(message(&rx_b).1, max);
    // After leaving: invalid state, on both sides once it ended.
    ca.disconnect().unwrap();
    assert_eq!(
        ca.send(None, "late"),
        Err(Error::InvalidState {
            status: "disconnected"
        })
    );
    assert!(matches!(
        next(&rx_b, "alice left"),
        ConversationEvent::ParticipantDisconnected {
            reason: LeaveReason::Left,
            ..
        }
    ));
    assert_eq!(next(&rx_b, "ended"), ConversationEvent::Disconnected);
    assert_eq!(
        cb.send(Some("alice"), "late"),
        Err(Error::InvalidState {
            status: "disconnected"
        })
    );
    assert!(matches!(
        cb.invite(InviteOptions::new("carol")),
        Err(Error::InvalidState {
            status: "disconnected"
        })
    ));
}

/// Alice calls bob, then invites carol into the same conversation; checks
/// that everyone sees everyone. Returns the clients, conversations and
/// their event receivers (by alice, bob, carol).
#[allow(clippy::type_complexity)]
fn three_party(
    srv: &wd_signal::ServerHandle,
) -> (
    [Client; 3],
    [Conversation; 3],
    [Receiver<ConversationEvent>; 3],
    OutgoingInvite,
) {
    three_party_via(srv, srv.url())
}

/// [`three_party`] with bob connected to `bob_url` (a proxy in front of
/// the server).
#[allow(clippy::type_complexity)]
fn three_party_via(
    srv: &wd_signal::ServerHandle,
    bob_url: String,
) -> (
    [Client; 3],
    [Conversation; 3],
    [Receiver<ConversationEvent>; 3],
    OutgoingInvite,
) {
    let (alice, bob, carol) = (
        connect(srv, "alice"),
        Client::connect(ClientConfig::new(bob_url, "dev:bob")).expect("bob connects"),
        connect(srv, "carol"),
    );
    let carol_invites = invites(&carol);
    let (ca, cb) = call(&alice, &bob, &invites(&bob));
    let (rx_a, rx_b) = (conversation_events(&ca), conversation_events(&cb));
    let out = ca.invite(InviteOptions::new("carol")).unwrap();
    assert_eq!(out.conversation_id(), ca.conversation_id());
    let out_rx = outgoing_events(&out);
    let inc = next(&carol_invites, "carol's invite");
    assert_eq!(inc.conversation_id(), ca.conversation_id());
    let inc_rx = incoming_events(&inc);
    inc.accept(None, None).unwrap();
    assert!(matches!(
        until_terminal(&out_rx).last(),
        Some(OutgoingEvent::Accepted { .. })
    ));
    assert!(matches!(
        next(&inc_rx, "carol accepted"),
        IncomingEvent::Accepted { .. }
    ));
    let cc = inc.conversation().unwrap();
    assert_eq!(cc.conversation_id(), ca.conversation_id());
    let rx_c = conversation_events(&cc);
    assert_eq!(
        next(&rx_a, "carol joined (alice)"),
        ConversationEvent::ParticipantConnected(me(&carol))
    );
    assert_eq!(
        next(&rx_b, "carol joined (bob)"),
        ConversationEvent::ParticipantConnected(me(&carol))
    );
    // The invite's conversation is the live one, not a copy.
    let again = out.conversation().unwrap();
    assert_eq!(again.participants(), vec![me(&bob), me(&carol)]);
    assert_eq!(ca.participants(), vec![me(&bob), me(&carol)]);
    assert_eq!(cb.participants(), vec![me(&alice), me(&carol)]);
    assert_eq!(cc.participants(), vec![me(&alice), me(&bob)]);
    assert_eq!(alice.live_count(), 1, "one conversation, no leftovers");
    ([alice, bob, carol], [ca, cb, cc], [rx_a, rx_b, rx_c], out)
}

#[test]
fn three_parties_by_inviting_into_a_live_conversation() {
    let srv = server();
    let (clients, convs, rxs, _out) = three_party(&srv);
    convs[2].send(None, "hi both").unwrap();
    for i in [0, 1] {
        assert_eq!(message(&rxs[i]), (me(&clients[2]), "hi both".to_string()));
    }
    convs[1].send(Some("carol"), "hi carol").unwrap();
    assert_eq!(message(&rxs[2]), (me(&clients[1]), "hi carol".into()));
    convs[0].send(None, "hi all").unwrap();
    assert_eq!(message(&rxs[1]), (me(&clients[0]), "hi all".into()));
    assert_eq!(message(&rxs[2]), (me(&clients[0]), "hi all".into()));
    // Nothing else arrived.
    for rx in &rxs {
        assert!(rx.try_recv().is_err());
    }
}

#[test]
fn three_parties_leave_in_every_order() {
    let srv = server();
    for order in [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ] {
        let (clients, convs, rxs, _out) = three_party(&srv);
        let [first, second, last] = order;
        convs[first].disconnect().unwrap();
        assert_eq!(
            next(&rxs[first], "own disconnect"),
            ConversationEvent::Disconnected
        );
        for i in [second, last] {
            assert_eq!(
                next(&rxs[i], "first left"),
                left(me(&clients[first])),
                "{order:?}"
            );
        }
        convs[second].disconnect().unwrap();
        assert_eq!(next(&rxs[last], "second left"), left(me(&clients[second])));
        assert_eq!(
            next(&rxs[last], "last one out"),
            ConversationEvent::Disconnected
        );
        assert!(!convs[last].is_connected());
        for c in &clients {
            assert_eq!(c.live_count(), 0, "{order:?}");
        }
    }
}

#[test]
fn two_parties_leave_in_either_order() {
    let srv = server();
    for leaver in [0, 1] {
        let (alice, bob) = (connect(&srv, "alice"), connect(&srv, "bob"));
        let (ca, cb) = call(&alice, &bob, &invites(&bob));
        let convs = [ca, cb];
        let clients = [alice, bob];
        let rxs = [
            conversation_events(&convs[0]),
            conversation_events(&convs[1]),
        ];
        convs[leaver].disconnect().unwrap();
        let stayer = 1 - leaver;
        assert_eq!(next(&rxs[stayer], "left"), left(me(&clients[leaver])));
        assert_eq!(next(&rxs[stayer], "ended"), ConversationEvent::Disconnected);
        assert_eq!(next(&rxs[leaver], "ended"), ConversationEvent::Disconnected);
    }
}

#[test]
fn inviting_someone_already_in_the_conversation_is_refused() {
    let srv = server();
    let (alice, bob) = (connect(&srv, "alice"), connect(&srv, "bob"));
    let (ca, _cb) = call(&alice, &bob, &invites(&bob));
    assert!(matches!(
        ca.invite(InviteOptions::new("bob")),
        Err(Error::InvalidArgument { field, .. }) if field == "participantId"
    ));
    ca.disconnect().unwrap();
}

#[test]
fn glare_over_the_real_server_leaves_one_invite_and_one_conversation() {
    let srv = server();
    let (alice, bob) = (connect(&srv, "alice"), connect(&srv, "bob"));
    let (alice_inv, bob_inv) = (invites(&alice), invites(&bob));
    // Both invite before either hears of the other (or nearly: whichever
    // order they cross in, the outcome must be the same).
    let a_out = alice
        .invite_to_conversation(InviteOptions::new("bob"))
        .unwrap();
    let b_out = bob
        .invite_to_conversation(InviteOptions::new("alice"))
        .unwrap();
    let (a_rx, b_rx) = (outgoing_events(&a_out), outgoing_events(&b_out));
    let at_bob = next(&bob_inv, "alice's invite at bob");
    let at_alice = next(&alice_inv, "bob's invite at alice");
    let (winner, loser, w_rx, l_rx, w_in, l_in) = if a_out.invite_id() < b_out.invite_id() {
        (&a_out, &b_out, &a_rx, &b_rx, &at_bob, &at_alice)
    } else {
        (&b_out, &a_out, &b_rx, &a_rx, &at_alice, &at_bob)
    };
    // The loser: canceled(glare) on both sides.
    assert_eq!(
        until_terminal(l_rx).last(),
        Some(&OutgoingEvent::Canceled(CancelReason::Glare))
    );
    assert_eq!(loser.status(), OutgoingStatus::Canceled);
    assert_eq!(loser.cancel_reason(), Some(CancelReason::Glare));
    let l_in_rx = incoming_events(l_in);
    assert_eq!(
        next(&l_in_rx, "loser ends at the invitee"),
        IncomingEvent::Canceled(CancelReason::Glare)
    );
    assert_eq!(l_in.cancel_reason(), Some(CancelReason::Glare));
    // The survivor still rings; accepting it makes one conversation.
    assert_eq!(winner.status(), OutgoingStatus::Pending);
    assert_eq!(w_in.status(), IncomingStatus::Pending);
    let w_in_rx = incoming_events(w_in);
    w_in.accept(None, None).unwrap();
    assert!(matches!(
        until_terminal(w_rx).last(),
        Some(OutgoingEvent::Accepted { .. })
    ));
    assert!(matches!(
        next(&w_in_rx, "accepted"),
        IncomingEvent::Accepted { .. }
    ));
    assert_eq!(
        winner.conversation().unwrap().conversation_id(),
        w_in.conversation().unwrap().conversation_id()
    );
    assert_eq!(alice.live_count(), 1);
    assert_eq!(bob.live_count(), 1);
    winner.conversation().unwrap().disconnect().unwrap();
}

#[test]
fn a_local_cancel_reports_caller_canceled() {
    let srv = server();
    let (alice, _bob) = (connect(&srv, "alice"), connect(&srv, "bob"));
    let out = alice
        .invite_to_conversation(InviteOptions::new("bob"))
        .unwrap();
    assert_eq!(out.cancel_reason(), None);
    out.cancel().unwrap();
    assert_eq!(out.cancel_reason(), Some(CancelReason::CallerCanceled));
}

/// The event of `participant`'s connection ending without it leaving.
fn lost(participant: Participant) -> ConversationEvent {
    ConversationEvent::ParticipantDisconnected {
        participant,
        reason: LeaveReason::ConnectionLost,
    }
}

/// Bob's connection is cut (no `leave`, no close frame) while alice and
/// carol stay: each hears bob gone once, with reason `connection_lost`,
/// and their conversation goes on without him.
#[test]
fn a_participant_whose_connection_drops_is_announced_once() {
    let srv = server();
    let proxy = Proxy::start(srv.addr());
    let (clients, convs, rxs, _out) = three_party_via(&srv, proxy.url());
    let bob = me(&clients[1]);
    proxy.cut_and_refuse();
    assert_eq!(
        next(&rxs[1], "bob's own end"),
        ConversationEvent::Disconnected
    );
    for i in [0, 2] {
        assert_eq!(next(&rxs[i], "bob gone"), lost(bob.clone()));
    }
    assert_eq!(convs[0].participants(), vec![me(&clients[2])]);
    assert_eq!(convs[2].participants(), vec![me(&clients[0])]);
    // Once: what comes next is the others talking.
    convs[2].send(None, "still here").unwrap();
    assert_eq!(message(&rxs[0]), (me(&clients[2]), "still here".into()));
    convs[0].send(None, "me too").unwrap();
    assert_eq!(message(&rxs[2]), (me(&clients[0]), "me too".into()));
    assert!(convs[0].is_connected() && convs[2].is_connected());
    convs[0].disconnect().unwrap();
    assert_eq!(next(&rxs[2], "alice left"), left(me(&clients[0])));
    assert_eq!(
        next(&rxs[2], "carol alone"),
        ConversationEvent::Disconnected
    );
}

/// A client closed without leaving its conversation (the app quit) is
/// gone for the other side: `connection_lost`, then the two-party
/// conversation ends.
#[test]
fn a_client_closed_without_leaving_is_announced_gone() {
    let srv = server();
    let (alice, bob) = (connect(&srv, "alice"), connect(&srv, "bob"));
    let (ca, cb) = call(&alice, &bob, &invites(&bob));
    let rx_a = conversation_events(&ca);
    let who = me(&bob);
    drop(cb);
    drop(bob);
    assert_eq!(next(&rx_a, "bob gone"), lost(who));
    assert_eq!(next(&rx_a, "alice alone"), ConversationEvent::Disconnected);
    assert_eq!(alice.live_count(), 0);
}

/// A participant that left and then lost its connection was disconnected
/// once, with reason `left`: the server's later announcement is ignored.
#[test]
fn leaving_then_dropping_is_announced_once_as_left() {
    let srv = server();
    let proxy = Proxy::start(srv.addr());
    let (clients, convs, rxs, _out) = three_party_via(&srv, proxy.url());
    convs[1].disconnect().unwrap();
    assert_eq!(
        next(&rxs[1], "bob's own end"),
        ConversationEvent::Disconnected
    );
    for i in [0, 2] {
        assert_eq!(next(&rxs[i], "bob left"), left(me(&clients[1])));
    }
    let open = srv.metrics().open_connections();
    proxy.cut_and_refuse();
    // The server has announced bob gone once it counts his connection
    // closed (it announces before it counts).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while srv.metrics().open_connections() >= open {
        assert!(
            std::time::Instant::now() < deadline,
            "bob's connection never closed"
        );
        std::thread::yield_now();
    }
    convs[2].send(Some("alice"), "after bob").unwrap();
    assert_eq!(message(&rxs[0]), (me(&clients[2]), "after bob".into()));
    convs[0].send(Some("carol"), "after bob").unwrap();
    assert_eq!(message(&rxs[2]), (me(&clients[0]), "after bob".into()));
}
