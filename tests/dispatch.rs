//! Listeners on the I/O thread (`DispatchMode::Io`) next to the event
//! thread, the same scenarios under both; frames written by the calling
//! thread under concurrency; and an idle client with no deadline armed.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};

use common::*;
use crossbeam_channel::unbounded;
use wilddog_video::client::{
    Client, ClientConfig, ConnectionState, DispatchMode, IncomingEvent, InviteOptions,
    OutgoingEvent, OutgoingInvite,
};
use wilddog_video::engine::OutgoingStatus;
use wilddog_video::protocol::{CancelReason, FailureReason, RejectReason};

const MODES: [DispatchMode; 2] = [DispatchMode::Thread, DispatchMode::Io];

fn connect_mode(srv: &wd_signal::ServerHandle, uid: &str, mode: DispatchMode) -> Client {
    let mut cfg = ClientConfig::new(srv.url(), format!("dev:{uid}"));
    cfg.dispatch = mode;
    Client::connect(cfg).expect("client connects")
}

/// The thread listeners must run on in `mode`.
fn listener_thread(mode: DispatchMode) -> &'static str {
    match mode {
        DispatchMode::Io => "wd-io",
        _ => "wd-events",
    }
}

/// Bob accepts every invite from inside his invite listener; every
/// invite of alice's ends accepted once on both sides, each listener runs
/// on the mode's thread, and nothing is left behind.
#[test]
fn accepting_from_the_invite_listener_works_in_both_modes() {
    for mode in MODES {
        let srv = server();
        let alice = connect_mode(&srv, "alice", mode);
        let bob = connect_mode(&srv, "bob", mode);
        let (ends_tx, ends_rx) = unbounded();
        let wrong_thread = Arc::new(Mutex::new(0usize));
        let wt = wrong_thread.clone();
        bob.set_invite_listener(move |inv| {
            if std::thread::current().name() != Some(listener_thread(mode)) {
                *wt.lock().unwrap() += 1;
            }
            let tx = ends_tx.clone();
            let mut seen = 0;
            inv.set_listener(move |_, ev| {
                seen += 1;
                let _ = tx.send((ev.clone(), seen));
            });
            inv.accept(None, None).expect("accept from the listener");
        });
        let n = 100;
        let (out_tx, out_rx) = unbounded();
        let mut outs = Vec::new();
        for i in 0..n {
            let out = alice
                .invite_to_conversation(InviteOptions::new("bob"))
                .unwrap();
            let tx = out_tx.clone();
            let wt = wrong_thread.clone();
            out.set_listener(move |_, ev| {
                if std::thread::current().name() != Some(listener_thread(mode)) {
                    *wt.lock().unwrap() += 1;
                }
                let _ = tx.send((i, ev.clone()));
            });
            outs.push(out);
        }
        let mut terminal: HashMap<usize, Vec<OutgoingEvent>> = HashMap::new();
        let mut rang = vec![0usize; n];
        while terminal.len() < n {
            let (i, ev) = next(&out_rx, "caller event");
            if ev == OutgoingEvent::Ringing {
                rang[i] += 1;
            } else {
                terminal.entry(i).or_default().push(ev);
            }
        }
        for _ in 0..n {
            let (ev, seen) = next(&ends_rx, "invitee outcome");
            assert!(
                matches!((&ev, seen), (IncomingEvent::Accepted { .. }, 1)),
                "{mode:?}: {ev:?}, {seen}"
            );
        }
        assert!(terminal
            .values()
            .all(|evs| matches!(evs.as_slice(), [OutgoingEvent::Accepted { .. }])));
        assert!(rang.iter().all(|&r| r <= 1), "{mode:?}: ringing twice");
        assert!(outs.iter().all(|o| o.status() == OutgoingStatus::Accepted));
        // No event is doubled: nothing more arrives once everything ended
        // and both clients closed (their final events are delivered
        // before `disconnect` returns in thread mode or the drop ends).
        for o in &outs {
            o.conversation().unwrap().disconnect().unwrap();
        }
        alice.disconnect();
        bob.disconnect();
        drop((alice, bob, outs));
        assert!(out_rx
            .try_iter()
            .all(|(_, ev)| ev == OutgoingEvent::Ringing));
        assert!(ends_rx.try_iter().next().is_none(), "{mode:?}");
        assert_eq!(*wrong_thread.lock().unwrap(), 0, "{mode:?}");
    }
}

/// Rejects, cancels and expiries from inside listeners, under both modes:
/// each invite hears exactly one terminal event, the right one.
#[test]
fn reject_cancel_and_timeout_from_listeners_in_both_modes() {
    for mode in MODES {
        let srv = server();
        let alice = connect_mode(&srv, "alice", mode);
        let bob = connect_mode(&srv, "bob", mode);
        bob.set_invite_listener(|inv| {
            if inv.user_data() == Some("reject") {
                inv.reject(RejectReason::Busy).unwrap();
            }
        });
        let cancel_in_listener = |lifetime| {
            let out = alice
                .invite_to_conversation(InviteOptions {
                    user_data: Some("ring".into()),
                    ..invite_opts("bob", lifetime)
                })
                .unwrap();
            let (tx, rx) = unbounded();
            out.set_listener(move |inv, ev| {
                if *ev == OutgoingEvent::Ringing {
                    let _ = tx.send(("cancel", inv.cancel().is_ok()));
                } else {
                    let _ = tx.send((
                        "end",
                        *ev == OutgoingEvent::Canceled(CancelReason::CallerCanceled),
                    ));
                }
            });
            (out, rx)
        };
        let (out, rx) = cancel_in_listener(60_000);
        assert_eq!(next(&rx, "cancel"), ("cancel", true));
        assert_eq!(next(&rx, "canceled"), ("end", true));
        assert_eq!(out.cancel_reason(), Some(CancelReason::CallerCanceled));

        let rejected = alice
            .invite_to_conversation(InviteOptions {
                user_data: Some("reject".into()),
                ..InviteOptions::new("bob")
            })
            .unwrap();
        let rx = outgoing_events(&rejected);
        assert_eq!(
            until_terminal(&rx).pop(),
            Some(OutgoingEvent::Rejected(RejectReason::Busy))
        );

        let expiring = alice
            .invite_to_conversation(invite_opts("bob", 50))
            .unwrap();
        let rx = outgoing_events(&expiring);
        assert_eq!(
            until_terminal(&rx).pop(),
            Some(OutgoingEvent::Failed(FailureReason::Timeout))
        );
        assert_eq!(alice.live_count(), 0, "{mode:?}");
        assert!(!alice.has_engine_deadline(), "{mode:?}");
    }
}

/// The client held where its own invite's listener can reach it, the
/// invite (to a user who is not online, so it ends `offline`), and that
/// listener's events; the listener runs `act` on the holder before it
/// passes each event on.
fn invite_nobody_from_listener(
    client: Client,
    act: impl Fn(&Mutex<Option<Client>>) + Send + 'static,
) -> (
    OutgoingInvite,
    Arc<Mutex<Option<Client>>>,
    crossbeam_channel::Receiver<OutgoingEvent>,
) {
    let (tx, rx) = unbounded();
    let out = client
        .invite_to_conversation(InviteOptions::new("nobody"))
        .unwrap();
    let holder = Arc::new(Mutex::new(Some(client)));
    let held = holder.clone();
    out.set_listener(move |_, ev| {
        act(&held);
        let _ = tx.send(ev.clone());
    });
    (out, holder, rx)
}

/// A listener on the I/O thread may disconnect its own client: the link
/// closes once it returns.
#[test]
fn io_listener_may_disconnect_its_client() {
    let srv = server();
    let alice = connect_mode(&srv, "alice", DispatchMode::Io);
    let (state_tx, state_rx) = unbounded();
    alice.set_connection_listener(move |s| {
        let _ = state_tx.send(s);
    });
    assert_eq!(next(&state_rx, "current state"), ConnectionState::Connected);
    let (_out, holder, rx) = invite_nobody_from_listener(alice, |held| {
        if let Some(client) = held.lock().unwrap().as_ref() {
            client.disconnect();
        }
    });
    assert_eq!(
        next(&rx, "event"),
        OutgoingEvent::Failed(FailureReason::Offline)
    );
    assert_eq!(
        next(&state_rx, "disconnected"),
        ConnectionState::Disconnected
    );
    drop(holder.lock().unwrap().take());
}

/// In every mode a listener may drop the last `Client`: it then shuts down
/// from its own event or I/O thread, after the listener returns.
#[test]
fn a_listener_may_drop_its_own_client() {
    for mode in MODES {
        let srv = server();
        let alice = connect_mode(&srv, "alice", mode);
        let (_out, holder, rx) =
            invite_nobody_from_listener(alice, |held| drop(held.lock().unwrap().take()));
        assert_eq!(
            next(&rx, "event"),
            OutgoingEvent::Failed(FailureReason::Offline),
            "{mode:?}"
        );
        assert!(holder.lock().unwrap().is_none(), "{mode:?}");
    }
}

/// Many threads invite on one client at once (so frames are written by
/// calling threads and by the I/O thread, racing for the socket): every
/// invite arrives, and each thread's invites arrive in the order it made
/// them.
#[test]
fn concurrent_invites_on_one_client_keep_their_order() {
    for mode in MODES {
        let srv = server();
        let alice = connect_mode(&srv, "alice", mode);
        let bob = connect_mode(&srv, "bob", mode);
        let arrived = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, done_rx) = unbounded();
        let a = arrived.clone();
        bob.set_invite_listener(move |inv| {
            a.lock()
                .unwrap()
                .push(inv.user_data().unwrap_or_default().to_owned());
            inv.reject(RejectReason::Declined).unwrap();
        });
        let (threads, per_thread) = (8, 60);
        let start = Arc::new(Barrier::new(threads));
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (alice, start, done_tx) = (alice.clone(), start.clone(), done_tx.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..per_thread {
                        let out = alice
                            .invite_to_conversation(InviteOptions {
                                user_data: Some(format!("{t}:{i}")),
                                ..InviteOptions::new("bob")
                            })
                            .unwrap();
                        let tx = done_tx.clone();
                        out.set_listener(move |_, ev| {
                            if *ev != OutgoingEvent::Ringing {
                                let _ = tx.send(ev.clone());
                            }
                        });
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        for _ in 0..threads * per_thread {
            assert_eq!(
                next(&done_rx, "outcome"),
                OutgoingEvent::Rejected(RejectReason::Declined),
                "{mode:?}"
            );
        }
        let arrived = arrived.lock().unwrap().clone();
        assert_eq!(arrived.len(), threads * per_thread, "{mode:?}");
        let mut last = vec![None; threads];
        for tag in &arrived {
            let (t, i) = tag.split_once(':').unwrap();
            let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
            assert!(
                !matches!(last[t], Some(prev) if prev >= i),
                "{mode:?}: thread {t}'s invite {i} arrived after {:?}",
                last[t]
            );
            last[t] = Some(i);
        }
        assert!(last.iter().all(|l| *l == Some(per_thread - 1)));
        assert_eq!(alice.live_count(), 0);
    }
}

/// After invites end in every way, no engine deadline is left armed, so
/// the I/O thread sleeps until its next heartbeat.
#[test]
fn finished_invites_leave_no_deadline_armed() {
    let srv = server();
    let alice = connect(&srv, "alice");
    let bob = connect(&srv, "bob");
    let bob_invites = invites(&bob);
    assert!(!alice.has_engine_deadline());

    let out = alice
        .invite_to_conversation(InviteOptions::new("bob"))
        .unwrap();
    assert!(alice.has_engine_deadline(), "the lifetime is armed");
    let out_rx = outgoing_events(&out);
    let inc = next(&bob_invites, "invite");
    let inc_rx = incoming_events(&inc);
    inc.accept(None, None).unwrap();
    assert!(matches!(
        until_terminal(&out_rx).pop(),
        Some(OutgoingEvent::Accepted { .. })
    ));
    assert!(matches!(
        next(&inc_rx, "confirmed"),
        IncomingEvent::Accepted { .. }
    ));

    let out2 = alice
        .invite_to_conversation(InviteOptions::new("bob"))
        .unwrap();
    let rx2 = outgoing_events(&out2);
    let inc2 = next(&bob_invites, "invite");
    let inc2_rx = incoming_events(&inc2);
    out2.cancel().unwrap();
    assert_eq!(
        until_terminal(&rx2).pop(),
        Some(OutgoingEvent::Canceled(CancelReason::CallerCanceled))
    );
    assert_eq!(
        next(&inc2_rx, "canceled"),
        IncomingEvent::Canceled(CancelReason::CallerCanceled)
    );

    let out3 = alice
        .invite_to_conversation(InviteOptions::new("bob"))
        .unwrap();
    let rx3 = outgoing_events(&out3);
    let inc3 = next(&bob_invites, "invite");
    let inc3_rx = incoming_events(&inc3);
    inc3.reject(RejectReason::Declined).unwrap();
    assert_eq!(
        until_terminal(&rx3).pop(),
        Some(OutgoingEvent::Rejected(RejectReason::Declined))
    );
    assert_eq!(
        next(&inc3_rx, "rejected"),
        IncomingEvent::Rejected(RejectReason::Declined)
    );

    for c in [&alice, &bob] {
        assert!(!c.has_engine_deadline());
    }
    // The conversation stays live and arms nothing.
    assert!(out.conversation().is_some());
}
