//! The SDK client against a real `wd-signal` on loopback: every outcome of
//! an invite, seen from both sides, with real threads and sockets.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use crossbeam_channel::unbounded;
use wilddog_video::client::{
    Client, ClientConfig, ConnectionState, ConversationEvent, DispatchMode, Error, IncomingEvent,
    InviteOptions, OutgoingEvent,
};
use wilddog_video::engine::{IncomingStatus, OutgoingStatus, Participant};
use wilddog_video::protocol::{CancelReason, FailureReason, Mode, RejectReason};

#[test]
fn accepted_invite_starts_a_conversation_on_both_sides() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let bob = connect(&srv, "bob");
    let bob_invites = invites(&bob);

    let opts = InviteOptions {
        user_data: Some("lunch?".into()),
        offer: Some("v=0 offer".into()),
        mode: Mode::Server,
        ..InviteOptions::new("bob")
    };
    let out = alice.invite_to_conversation(opts).unwrap();
    assert_eq!(out.status(), OutgoingStatus::Pending);
    assert_eq!(out.to(), "bob");
    assert_eq!(out.conversation_id().len(), 32);
    assert!(out.conversation().is_none());
    let out_rx = outgoing_events(&out);

    let inc = next(&bob_invites, "bob's invite");
    assert_eq!(inc.from(), "alice");
    assert_eq!(inc.conversation_id(), out.conversation_id());
    assert_eq!(inc.mode(), Mode::Server);
    assert_eq!(inc.user_data(), Some("lunch?"));
    assert_eq!(inc.offer(), Some("v=0 offer"));
    assert_eq!(inc.status(), IncomingStatus::Pending);
    let inc_rx = incoming_events(&inc);
    assert_eq!(next(&out_rx, "ringing"), OutgoingEvent::Ringing);

    inc.accept(Some("v=0 answer"), Some("sure")).unwrap();
    // Accepting until the caller's confirmation arrives (which over
    // loopback may already have happened).
    assert!(matches!(
        inc.status(),
        IncomingStatus::Accepting | IncomingStatus::Accepted
    ));
    assert!(matches!(
        next(&out_rx, "accepted"),
        OutgoingEvent::Accepted { .. }
    ));
    assert!(matches!(
        next(&inc_rx, "accepted"),
        IncomingEvent::Accepted { .. }
    ));
    assert_eq!(out.status(), OutgoingStatus::Accepted);
    assert_eq!(inc.status(), IncomingStatus::Accepted);
    assert_eq!(out.answer().as_deref(), Some("v=0 answer"));
    assert_eq!(out.answer_user_data().as_deref(), Some("sure"));

    let conv_a = out.conversation().expect("caller's conversation");
    let conv_b = inc.conversation().expect("invitee's conversation");
    assert_eq!(conv_a.conversation_id(), conv_b.conversation_id());
    assert_eq!(conv_a.mode(), Mode::Server);
    assert_eq!(
        conv_a.participants(),
        vec![Participant {
            uid: "bob".into(),
            device: bob.device()
        }]
    );
    assert_eq!(
        conv_b.participants(),
        vec![Participant {
            uid: "alice".into(),
            device: alice.device()
        }]
    );

    // Accepted is final: cancel and accept are now invalid and change nothing.
    assert!(matches!(
        out.cancel(),
        Err(Error::InvalidState { status: "accepted" })
    ));
    assert!(matches!(
        inc.accept(None, None),
        Err(Error::InvalidState { .. })
    ));
    assert!(matches!(
        inc.reject(RejectReason::Busy),
        Err(Error::InvalidState { .. })
    ));

    // Bob leaves: Alice hears it, and, being alone, is disconnected too.
    let conv_a_rx = conversation_events(&conv_a);
    let conv_b_rx = conversation_events(&conv_b);
    conv_b.disconnect().unwrap();
    assert!(matches!(
        conv_b.disconnect(),
        Err(Error::InvalidState { .. })
    ));
    assert_eq!(
        next(&conv_b_rx, "own disconnect"),
        ConversationEvent::Disconnected
    );
    assert_eq!(
        next(&conv_a_rx, "participant left"),
        ConversationEvent::ParticipantDisconnected {
            participant: Participant {
                uid: "bob".into(),
                device: bob.device()
            },
            reason: wilddog_video::protocol::LeaveReason::Left,
        }
    );
    assert_eq!(
        next(&conv_a_rx, "conversation over"),
        ConversationEvent::Disconnected
    );
    assert!(!conv_a.is_connected());
    assert!(conv_a.participants().is_empty());

    drop((alice, bob));
    assert_eq!(
        out_rx.try_iter().count(),
        0,
        "no event after the terminal one"
    );
    assert_eq!(
        inc_rx.try_iter().count(),
        0,
        "no event after the terminal one"
    );
}

#[test]
fn rejected_invite_reports_the_reason_on_both_sides() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let bob = connect(&srv, "bob");
    let bob_invites = invites(&bob);
    let out = alice
        .invite_to_conversation(InviteOptions::new("bob"))
        .unwrap();
    let out_rx = outgoing_events(&out);
    let inc = next(&bob_invites, "invite");
    inc.reject(RejectReason::Busy).unwrap();
    // Rejecting until the caller's outcome is back (it may be already).
    assert!(
        matches!(
            inc.status(),
            IncomingStatus::Rejecting | IncomingStatus::Rejected
        ),
        "{:?}",
        inc.status()
    );
    let inc_rx = incoming_events(&inc);
    assert_eq!(
        next(&inc_rx, "rejected"),
        IncomingEvent::Rejected(RejectReason::Busy)
    );
    assert_eq!(inc.status(), IncomingStatus::Rejected);
    let events = until_terminal(&out_rx);
    assert_eq!(
        events.last(),
        Some(&OutgoingEvent::Rejected(RejectReason::Busy))
    );
    assert_eq!(out.status(), OutgoingStatus::Rejected);
    assert_eq!(out.reject_reason(), Some(RejectReason::Busy));
    assert!(out.conversation().is_none());
}

#[test]
fn cancel_is_immediate_and_stops_the_ringing() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let bob = connect(&srv, "bob");
    let bob_invites = invites(&bob);
    let out = alice
        .invite_to_conversation(InviteOptions::new("bob"))
        .unwrap();
    let out_rx = outgoing_events(&out);
    let inc = next(&bob_invites, "invite");
    let inc_rx = incoming_events(&inc);
    assert_eq!(next(&out_rx, "ringing"), OutgoingEvent::Ringing);

    out.cancel().unwrap();
    assert_eq!(
        out.status(),
        OutgoingStatus::Canceled,
        "canceled when cancel returns"
    );
    assert!(matches!(
        out.cancel(),
        Err(Error::InvalidState { status: "canceled" })
    ));
    assert_eq!(
        next(&out_rx, "canceled"),
        OutgoingEvent::Canceled(CancelReason::CallerCanceled)
    );
    assert_eq!(
        next(&inc_rx, "canceled"),
        IncomingEvent::Canceled(CancelReason::CallerCanceled)
    );
    assert_eq!(inc.cancel_reason(), Some(CancelReason::CallerCanceled));
    assert!(matches!(
        inc.accept(None, None),
        Err(Error::InvalidState { status: "canceled" })
    ));
    drop((alice, bob));
    assert_eq!(out_rx.try_iter().count(), 0);
    assert_eq!(inc_rx.try_iter().count(), 0);
}

#[test]
fn unanswered_invite_times_out_on_both_sides() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let bob = connect(&srv, "bob");
    let bob_invites = invites(&bob);
    let out = alice
        .invite_to_conversation(invite_opts("bob", 150))
        .unwrap();
    let out_rx = outgoing_events(&out);
    let inc = next(&bob_invites, "invite");
    let inc_rx = incoming_events(&inc);
    let events = until_terminal(&out_rx);
    assert_eq!(
        events.last(),
        Some(&OutgoingEvent::Failed(FailureReason::Timeout))
    );
    assert_eq!(out.failure_reason(), Some(FailureReason::Timeout));
    assert_eq!(
        next(&inc_rx, "timeout"),
        IncomingEvent::Failed(FailureReason::Timeout)
    );
}

#[test]
fn invite_to_nobody_online_fails_offline_and_to_self_fails_invalid() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let out = alice
        .invite_to_conversation(InviteOptions::new("nobody"))
        .unwrap();
    let rx = outgoing_events(&out);
    assert_eq!(
        until_terminal(&rx),
        vec![OutgoingEvent::Failed(FailureReason::Offline)]
    );

    let me = alice
        .invite_to_conversation(InviteOptions::new("alice"))
        .unwrap();
    assert_eq!(me.status(), OutgoingStatus::Failed);
    assert_eq!(me.failure_reason(), Some(FailureReason::InvalidParticipant));
    let rx = outgoing_events(&me);
    assert_eq!(
        next(&rx, "failed"),
        OutgoingEvent::Failed(FailureReason::InvalidParticipant)
    );
}

#[test]
fn bad_options_are_typed_errors_naming_the_field() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let field = |r: Result<_, Error>| match r {
        Err(Error::InvalidArgument { field, .. }) => field,
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    assert_eq!(
        field(alice.invite_to_conversation(InviteOptions::new(""))),
        "participantId"
    );
    assert_eq!(
        field(alice.invite_to_conversation(InviteOptions::new("b\0b"))),
        "participantId"
    );
    let big = InviteOptions {
        user_data: Some("x".repeat(8 * 1024 + 1)),
        ..InviteOptions::new("bob")
    };
    assert_eq!(field(alice.invite_to_conversation(big)), "userData");
    let long = invite_opts("bob", 3_600_001);
    assert_eq!(field(alice.invite_to_conversation(long)), "lifetimeMs");
    let zero = invite_opts("bob", 0);
    assert_eq!(field(alice.invite_to_conversation(zero)), "lifetimeMs");
}

#[test]
fn losing_the_server_fails_every_pending_invite_once() {
    let srv = server();
    // Without reconnecting (see tests/reconnect.rs for the default).
    let once = |uid: &str| {
        let mut config = ClientConfig::new(srv.url(), format!("dev:{uid}"));
        config.reconnect = false;
        Client::connect(config).expect("client connects")
    };
    let alice = once("alice");
    let bob = once("bob");
    let bob_invites = invites(&bob);
    let outs: Vec<_> = (0..3)
        .map(|_| {
            alice
                .invite_to_conversation(InviteOptions::new("bob"))
                .unwrap()
        })
        .collect();
    let rxs: Vec<_> = outs.iter().map(outgoing_events).collect();
    let incs: Vec<_> = (0..3).map(|_| next(&bob_invites, "invite")).collect();
    let inc_rxs: Vec<_> = incs.iter().map(incoming_events).collect();
    for rx in &rxs {
        assert_eq!(next(rx, "ringing"), OutgoingEvent::Ringing);
    }
    srv.shutdown();
    for (out, rx) in outs.iter().zip(&rxs) {
        assert_eq!(
            next(rx, "failure"),
            OutgoingEvent::Failed(FailureReason::Network)
        );
        assert_eq!(out.status(), OutgoingStatus::Failed);
    }
    for rx in &inc_rxs {
        // Bob either loses the server himself first, or hears from it that
        // Alice's connection went away first; both end the invite failed.
        let ev = next(rx, "failure");
        assert!(
            ev == IncomingEvent::Failed(FailureReason::Network)
                || ev == IncomingEvent::Failed(FailureReason::CallerGone),
            "{ev:?}"
        );
    }
    assert_eq!(alice.connection_state(), ConnectionState::Disconnected);
    assert!(matches!(
        alice.invite_to_conversation(InviteOptions::new("bob")),
        Err(Error::NotConnected)
    ));
    drop((alice, bob));
    for rx in rxs.iter() {
        assert_eq!(rx.try_iter().count(), 0, "failed exactly once");
    }
}

#[test]
fn invitee_hears_caller_gone_when_the_caller_drops() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let bob = connect(&srv, "bob");
    let bob_invites = invites(&bob);
    let out = alice
        .invite_to_conversation(InviteOptions::new("bob"))
        .unwrap();
    let out_rx = outgoing_events(&out);
    let inc = next(&bob_invites, "invite");
    let inc_rx = incoming_events(&inc);
    drop(alice);
    assert_eq!(
        until_terminal(&out_rx).last(),
        Some(&OutgoingEvent::Failed(FailureReason::Network))
    );
    assert_eq!(
        next(&inc_rx, "caller gone"),
        IncomingEvent::Failed(FailureReason::CallerGone)
    );
}

#[test]
fn first_device_to_answer_wins_and_the_others_stop_ringing() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let phone = connect(&srv, "bob");
    let laptop = connect(&srv, "bob");
    let (phone_inv, laptop_inv) = (invites(&phone), invites(&laptop));
    let out = alice
        .invite_to_conversation(InviteOptions::new("bob"))
        .unwrap();
    let out_rx = outgoing_events(&out);
    let on_phone = next(&phone_inv, "phone rings");
    let on_laptop = next(&laptop_inv, "laptop rings");
    assert_eq!(on_phone.conversation_id(), on_laptop.conversation_id());
    let (phone_rx, laptop_rx) = (incoming_events(&on_phone), incoming_events(&on_laptop));
    on_laptop.accept(None, None).unwrap();
    assert!(matches!(
        until_terminal(&out_rx).last(),
        Some(OutgoingEvent::Accepted { .. })
    ));
    assert!(matches!(
        next(&laptop_rx, "laptop accepted"),
        IncomingEvent::Accepted { .. }
    ));
    assert_eq!(
        next(&phone_rx, "phone canceled"),
        IncomingEvent::Canceled(CancelReason::AnsweredElsewhere)
    );
    let conv = out.conversation().unwrap();
    assert_eq!(conv.participants()[0].device, laptop.device());
    // The phone's late accept changes nothing.
    assert!(matches!(
        on_phone.accept(None, None),
        Err(Error::InvalidState { .. })
    ));
}

#[test]
fn listener_set_after_the_event_hears_it_once() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let out = alice
        .invite_to_conversation(InviteOptions::new("nobody"))
        .unwrap();
    // Wait for the outcome without a listener, through a second invite
    // whose listener is set at once: the server answers in order.
    let probe = alice
        .invite_to_conversation(InviteOptions::new("nobody2"))
        .unwrap();
    until_terminal(&outgoing_events(&probe));
    assert_eq!(out.status(), OutgoingStatus::Failed);
    let rx = outgoing_events(&out);
    assert_eq!(
        next(&rx, "late listener"),
        OutgoingEvent::Failed(FailureReason::Offline)
    );
    // Replacing the listener does not replay what was delivered.
    let rx2 = outgoing_events(&out);
    drop(alice);
    assert_eq!(rx.try_iter().count(), 0);
    assert_eq!(rx2.try_iter().count(), 0);
}

#[test]
fn invites_that_arrive_before_the_listener_are_not_lost() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let bob = connect(&srv, "bob");
    let outs: Vec<_> = (0..5)
        .map(|_| {
            alice
                .invite_to_conversation(InviteOptions::new("bob"))
                .unwrap()
        })
        .collect();
    for out in &outs {
        let rx = outgoing_events(out);
        assert_eq!(next(&rx, "ringing"), OutgoingEvent::Ringing);
    }
    let bob_invites = invites(&bob);
    let got: Vec<String> = (0..5)
        .map(|_| {
            next(&bob_invites, "queued invite")
                .conversation_id()
                .to_owned()
        })
        .collect();
    let sent: Vec<String> = outs
        .iter()
        .map(|o| o.conversation_id().to_owned())
        .collect();
    assert_eq!(got, sent, "every invite, in order");
}

#[test]
fn callbacks_may_cancel_and_drop_their_own_handles() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let bob = connect(&srv, "bob");
    let _bob_invites = invites(&bob);
    let (tx, rx) = unbounded();
    let out = alice
        .invite_to_conversation(InviteOptions::new("bob"))
        .unwrap();
    let slot = Arc::new(Mutex::new(Some(out.clone())));
    let held = slot.clone();
    out.set_listener(move |inv, ev| {
        if *ev == OutgoingEvent::Ringing {
            // Cancel from inside the callback, then drop the handle we held.
            let _ = tx.send(("cancel", inv.cancel().is_ok(), inv.status()));
            held.lock().unwrap().take();
        } else {
            let _ = tx.send((
                "terminal",
                *ev == OutgoingEvent::Canceled(CancelReason::CallerCanceled),
                inv.status(),
            ));
        }
    });
    drop(out);
    assert_eq!(
        next(&rx, "cancel"),
        ("cancel", true, OutgoingStatus::Canceled)
    );
    assert_eq!(
        next(&rx, "canceled"),
        ("terminal", true, OutgoingStatus::Canceled)
    );
    assert!(slot.lock().unwrap().is_none());
}

#[test]
fn manual_dispatch_runs_listeners_on_the_calling_thread() {
    let srv = server();
    let mut cfg = ClientConfig::new(srv.url(), "dev:alice");
    cfg.dispatch = DispatchMode::Manual;
    let alice = Client::connect(cfg).unwrap();
    let out = alice
        .invite_to_conversation(InviteOptions::new("nobody"))
        .unwrap();
    let me = std::thread::current().id();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    out.set_listener(move |_, ev| {
        assert_eq!(std::thread::current().id(), me);
        s.lock().unwrap().push(ev.clone());
    });
    while seen.lock().unwrap().is_empty() {
        alice.dispatch(WAIT).unwrap();
    }
    assert_eq!(
        *seen.lock().unwrap(),
        vec![OutgoingEvent::Failed(FailureReason::Offline)]
    );
    // Thread-mode clients refuse dispatch.
    let other = connect(&srv, "carol");
    assert!(matches!(
        other.dispatch(Duration::ZERO),
        Err(Error::InvalidState { .. })
    ));
}

#[test]
fn refused_token_and_unreachable_server_are_typed_errors() {
    let mut cfg = wd_signal::ServerConfig::dev();
    cfg.dev = false;
    cfg.secret = Some(b"s3cret".to_vec());
    let srv = wd_signal::spawn(cfg).unwrap();
    let err = Client::connect(ClientConfig::new(srv.url(), "dev:alice")).unwrap_err();
    assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");
    let token = wd_signal::mint_token(b"s3cret", "alice", wd_signal::auth::now_unix() + 60);
    let alice = Client::connect(ClientConfig::new(srv.url(), token)).unwrap();
    assert_eq!(alice.uid(), "alice");
    let url = srv.url();
    drop((alice, srv));
    let mut cfg = ClientConfig::new(url, "dev:alice");
    cfg.connect_timeout = Duration::from_secs(2);
    assert!(matches!(Client::connect(cfg), Err(Error::Network(_))));
}

/// Cancel races accept over the real server, many times: whatever order
/// they reach the caller's engine in, both sides end in the same outcome
/// and each side hears exactly one terminal event.
#[test]
fn cancel_racing_accept_always_agrees() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let bob = connect(&srv, "bob");
    let bob_invites = invites(&bob);
    let (mut accepted, mut canceled) = (0, 0);
    for _ in 0..300 {
        let out = alice
            .invite_to_conversation(InviteOptions::new("bob"))
            .unwrap();
        let out_rx = outgoing_events(&out);
        let inc = next(&bob_invites, "invite");
        let inc_rx = incoming_events(&inc);
        // Both fire as close together as two threads allow.
        let racer = {
            let inc = inc.clone();
            std::thread::spawn(move || inc.accept(None, None))
        };
        let cancel = out.cancel();
        let accept = racer.join().unwrap();
        let caller = until_terminal(&out_rx).pop().unwrap();
        let callee = next(&inc_rx, "invitee outcome");
        match caller {
            OutgoingEvent::Accepted { .. } => {
                assert!(accept.is_ok());
                assert!(matches!(
                    cancel,
                    Err(Error::InvalidState { status: "accepted" })
                ));
                assert!(matches!(callee, IncomingEvent::Accepted { .. }));
                accepted += 1;
            }
            OutgoingEvent::Canceled(CancelReason::CallerCanceled) => {
                assert!(cancel.is_ok());
                // Bob's accept either crossed the cancel (and was absorbed)
                // or came after the cancel reached him (and was refused).
                if let Err(e) = &accept {
                    assert_eq!(*e, Error::InvalidState { status: "canceled" });
                }
                assert_eq!(
                    callee,
                    IncomingEvent::Canceled(CancelReason::CallerCanceled)
                );
                canceled += 1;
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(accepted + canceled, 300);
}

#[test]
fn thousand_invites_leave_no_state_behind() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let bob = connect(&srv, "bob");
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let (ended_tx, ended) = unbounded();
    bob.set_invite_listener(move |inv| {
        c.fetch_add(1, Ordering::SeqCst);
        inv.reject(RejectReason::Declined).unwrap();
        let ended_tx = ended_tx.clone();
        inv.set_listener(move |_, ev| {
            let _ = ended_tx.send(ev.clone());
        });
    });
    for _ in 0..1000 {
        let out = alice
            .invite_to_conversation(InviteOptions::new("bob"))
            .unwrap();
        let rx = outgoing_events(&out);
        assert_eq!(
            until_terminal(&rx).last(),
            Some(&OutgoingEvent::Rejected(RejectReason::Declined))
        );
    }
    assert_eq!(count.load(Ordering::SeqCst), 1000);
    // Each reject ends on bob's side once alice's outcome is back there.
    for _ in 0..1000 {
        assert_eq!(
            next(&ended, "bob's ending"),
            IncomingEvent::Rejected(RejectReason::Declined)
        );
    }
    assert_eq!(alice.live_count(), 0);
    assert_eq!(bob.live_count(), 0);
}
