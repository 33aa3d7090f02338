//! Invites end to end over an in-process `wd-signal`: Alice invites Bob
//! four times and each invite ends differently — accepted, rejected,
//! canceled, failed (timeout). Prints the timeline of each, seen from both
//! sides, and exits non-zero if any outcome differs from the expected one.
//!
//! Run with `cargo run --example quickstart`.

use std::process::ExitCode;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

use wilddog_video::client::{
    Client, ClientConfig, IncomingEvent, IncomingInvite, InviteOptions, OutgoingEvent,
    OutgoingInvite,
};
use wilddog_video::protocol::RejectReason;

/// What Bob does with the next invite he receives.
#[derive(Clone, Copy, Debug)]
enum BobDoes {
    Accept,
    Reject,
    Nothing,
}

/// One line of a timeline.
struct Line {
    at: Duration,
    who: &'static str,
    what: String,
}

fn main() -> ExitCode {
    let server = wd_signal::spawn(wd_signal::ServerConfig::dev()).expect("start wd-signal");
    println!("wd-signal listening on {}", server.url());
    let connect = |uid: &str| {
        Client::connect(ClientConfig::new(server.url(), format!("dev:{uid}")))
            .expect("connect to wd-signal")
    };
    let alice = connect("alice");
    let bob = connect("bob");
    println!(
        "alice connected as device {}, bob as device {}\n",
        alice.device(),
        bob.device()
    );

    let (bob_tx, bob_rx) = channel::<IncomingInvite>();
    bob.set_invite_listener(move |invite| {
        let _ = bob_tx.send(invite);
    });

    let scenarios = [
        ("accepted", BobDoes::Accept, 60_000, false),
        ("rejected", BobDoes::Reject, 60_000, false),
        ("canceled", BobDoes::Nothing, 60_000, true),
        ("failed", BobDoes::Nothing, 300, false),
    ];
    let mut all_ok = true;
    for (expected, bob_does, lifetime_ms, alice_cancels) in scenarios {
        let outcome = run(&alice, &bob_rx, bob_does, lifetime_ms, alice_cancels);
        let ok = outcome == expected;
        all_ok &= ok;
        println!(
            "=> outcome: {outcome} (expected {expected}) {}\n",
            if ok { "OK" } else { "MISMATCH" }
        );
    }
    if all_ok {
        println!("all four outcomes as expected");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs one invite and prints its timeline; returns the caller's outcome.
fn run(
    alice: &Client,
    bob_invites: &Receiver<IncomingInvite>,
    bob_does: BobDoes,
    lifetime_ms: u64,
    alice_cancels: bool,
) -> String {
    let start = Instant::now();
    let (tx, rx) = channel::<Line>();
    let note = |tx: &Sender<Line>, who, what: String| {
        let _ = tx.send(Line {
            at: start.elapsed(),
            who,
            what,
        });
    };

    let options = InviteOptions {
        user_data: Some("video call?".into()),
        lifetime_ms,
        ..InviteOptions::new("bob")
    };
    let invite: OutgoingInvite = alice.invite_to_conversation(options).expect("invite");
    note(
        &tx,
        "alice",
        format!(
            "inviteToConversation(bob) -> conversation {}, status {}",
            invite.conversation_id(),
            invite.status().as_str()
        ),
    );
    let (done_tx, done_rx) = channel::<String>();
    let alice_tx = tx.clone();
    invite.set_listener(move |inv, event| {
        let what = match event {
            OutgoingEvent::Ringing => "ringing".to_owned(),
            OutgoingEvent::Accepted { .. } => format!(
                "accepted: conversation with {:?}",
                inv.conversation()
                    .map(|c| c
                        .participants()
                        .iter()
                        .map(|p| p.uid.clone())
                        .collect::<Vec<_>>())
                    .unwrap_or_default()
            ),
            OutgoingEvent::Rejected(r) => format!("rejected ({})", r.as_str()),
            OutgoingEvent::Canceled(r) => format!("canceled ({})", r.as_str()),
            OutgoingEvent::Failed(r) => format!("failed ({r})"),
        };
        let _ = alice_tx.send(Line {
            at: start.elapsed(),
            who: "alice",
            what,
        });
        if *event != OutgoingEvent::Ringing {
            let _ = done_tx.send(inv.status().as_str().to_owned());
        }
    });

    let incoming = bob_invites
        .recv_timeout(Duration::from_secs(10))
        .expect("bob receives the invite");
    note(
        &tx,
        "bob",
        format!(
            "invite from {} saying {:?}",
            incoming.from(),
            incoming.user_data().unwrap_or("")
        ),
    );
    let (bob_done_tx, bob_done_rx) = channel::<()>();
    let bob_tx = tx.clone();
    incoming.set_listener(move |inv, event| {
        let what = match event {
            // Only invites a push made hear it; this one came over the
            // connection.
            IncomingEvent::Confirmed => return,
            IncomingEvent::Accepted { .. } => "accepted: in the conversation".to_owned(),
            IncomingEvent::Rejected(r) => format!("rejected ({})", r.as_str()),
            IncomingEvent::Canceled(r) => format!("canceled ({})", r.as_str()),
            IncomingEvent::Failed(r) => format!("failed ({r})"),
        };
        let _ = bob_tx.send(Line {
            at: start.elapsed(),
            who: "bob",
            what: format!("{what}, status {}", inv.status().as_str()),
        });
        let _ = bob_done_tx.send(());
    });
    match bob_does {
        BobDoes::Accept => {
            incoming.accept(Some("v=0 (answer)"), None).expect("accept");
            note(&tx, "bob", "accept() -> accepting".into());
        }
        BobDoes::Reject => {
            incoming.reject(RejectReason::Declined).expect("reject");
            note(&tx, "bob", "reject(declined)".into());
        }
        BobDoes::Nothing => {}
    }
    if alice_cancels {
        invite.cancel().expect("cancel while pending");
        note(
            &tx,
            "alice",
            format!("cancel() -> status {}", invite.status().as_str()),
        );
    }

    let outcome = done_rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| "no outcome".into());
    let _ = bob_done_rx.recv_timeout(Duration::from_secs(15));
    if let Some(conversation) = invite.conversation() {
        let _ = conversation.disconnect();
    }
    drop(tx);
    let mut lines: Vec<Line> = rx.try_iter().collect();
    lines.sort_by_key(|l| l.at);
    for line in lines {
        println!(
            "{:>9.3} ms  {:<5}  {}",
            line.at.as_secs_f64() * 1000.0,
            line.who,
            line.what
        );
    }
    outcome
}
