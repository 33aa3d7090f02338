//! Random interleavings of one caller and one to three invitee devices:
//! deliveries in any order across links, accepts, rejects, a cancel, the
//! clock jumping across lifetimes and confirmation timeouts, connections
//! dropping. Afterwards everything is delivered and every deadline passed,
//! and the run is checked against what the design guarantees.
//!
//! # What the design guarantees, precisely
//!
//! The caller's engine decides; every invitee device ends in a state the
//! caller's decision explains, or in one of three local endings that need
//! no word from the caller:
//!
//! - `failed(timeout)` — its own copy of the lifetime, counted from receipt,
//!   ran out while it was still `pending` (the caller's decision, if any,
//!   was still in flight);
//! - `failed(confirm_timeout)` — it accepted or rejected and heard nothing
//!   for `confirm_timeout`;
//! - `failed(network)` — it lost its own connection.
//!
//! Apart from those, the endings agree exactly: a device ends `accepted`
//! iff the caller ended `accepted` with that device; `canceled
//! (caller_canceled)` only if the caller canceled; `canceled
//! (answered_elsewhere)` only if the caller accepted or was rejected by
//! another device; `failed(caller_gone)` only if the caller lost its
//! connection before deciding; `failed(timeout)` while accepting only if
//! the caller timed out; `rejected` iff the caller ended `rejected` by that
//! device, with that reason (a reject is a proposal, as an accept is: a
//! reject that crosses a cancel ends `canceled` on both sides). So when
//! messages are not held back longer
//! than `confirm_timeout` and no device drops, the caller accepted with d
//! iff d ended accepted. When they are, the caller can end `accepted` with
//! a device that already gave up (`confirm_timeout`): no timeout-based
//! protocol can rule that out, and the caller's conversation then has a
//! participant that is not there (see the test report).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};
use wd_protocol::{CancelReason, FailureReason, Outcome, PeerMessage, RejectReason, ServerMessage};

use super::harness::{Net, ALICE};
use crate::engine::{EngineConfig, EngineError, Event, Key};

/// How many random runs (about 1 ms each in a debug build).
const CASES: u32 = 10_000;

#[derive(Clone, Debug)]
enum Step {
    /// Deliver the head of the n-th busy link (modulo their number).
    Deliver(usize),
    /// Invitee device n (modulo the number of devices) accepts.
    Accept(usize),
    /// Invitee device n rejects.
    Reject(usize, RejectReason),
    /// The caller cancels.
    Cancel,
    /// The clock moves by this many thousandths of 1.5 lifetimes.
    Advance(u64),
    /// The clock moves exactly to the next deadline of any engine.
    ToNextDeadline,
    /// The clock moves like `Advance` but no engine is woken: the next
    /// inputs arrive after a deadline the host has not serviced yet.
    Drift(u64),
    DisconnectCaller,
    DisconnectDevice(usize),
}

#[derive(Clone, Debug)]
struct Case {
    devices: usize,
    lifetime_ms: u64,
    confirm_ms: u64,
    steps: Vec<Step>,
}

fn step() -> impl Strategy<Value = Step> {
    let reason = prop_oneof![Just(RejectReason::Declined), Just(RejectReason::Busy)];
    prop_oneof![
        48 => (0..16usize).prop_map(Step::Deliver),
        12 => (0..3usize).prop_map(Step::Accept),
        8 => (0..3usize, reason).prop_map(|(d, r)| Step::Reject(d, r)),
        5 => Just(Step::Cancel),
        7 => (0..=1000u64).prop_map(Step::Advance),
        3 => Just(Step::ToNextDeadline),
        2 => (0..=1000u64).prop_map(Step::Drift),
        1 => Just(Step::DisconnectCaller),
        2 => (0..3usize).prop_map(Step::DisconnectDevice),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        1..=3usize,
        prop_oneof![Just(1_000u64), 1..=5_000u64],
        prop_oneof![Just(1_000u64), 100..=8_000u64],
        prop::collection::vec(step(), 0..48),
    )
        .prop_map(|(devices, lifetime_ms, confirm_ms, steps)| Case {
            devices,
            lifetime_ms,
            confirm_ms,
            steps,
        })
}

/// What the test did to each device, to check the engines against.
#[derive(Default, Debug)]
struct Ledger {
    accepted_at: Option<Instant>,
    rejected: Option<RejectReason>,
    rejected_at: Option<Instant>,
    disconnected: bool,
}

impl Ledger {
    /// When this device answered (accepted or rejected), if it did.
    fn answered_at(&self) -> Option<Instant> {
        self.accepted_at.or(self.rejected_at)
    }
}

/// How the caller's invite ended.
#[derive(Clone, Debug, PartialEq)]
enum CallerEnd {
    Accepted(String),
    Rejected(String, RejectReason),
    Canceled,
    Failed(FailureReason),
}

/// How often each ending and race occurred, to show the generator covers
/// them.
#[derive(Default, Debug)]
struct Coverage {
    caller: BTreeMap<&'static str, u32>,
    device: BTreeMap<&'static str, u32>,
    /// Cancel returned Ok while some device was accepting.
    cancel_crossing_accept: u32,
    /// Cancel returned Ok while some device was rejecting.
    cancel_crossing_reject: u32,
    /// The caller accepted with a device that had given up.
    accepted_after_confirm_timeout: u32,
}

#[test]
fn random_interleavings_end_once_and_agree() {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let coverage = RefCell::new(Coverage::default());
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |case| run_case(&case, &mut coverage.borrow_mut()));
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, case)) => panic!("{why}\nminimal failing case: {case:#?}"),
        Err(e) => panic!("{e}"),
    }
    let cov = coverage.into_inner();
    eprintln!("coverage over {CASES} cases (with shrinking, if any): {cov:#?}");
    // The generator must keep reaching every ending and the hard races.
    for name in [
        "accepted",
        "rejected",
        "canceled",
        "failed(timeout)",
        "failed(network)",
    ] {
        let n = cov.caller.get(name).copied().unwrap_or(0);
        assert!(n >= CASES / 100, "caller ended {name} only {n} times");
    }
    for name in [
        "accepted",
        "rejected",
        "canceled(caller_canceled)",
        "canceled(answered_elsewhere)",
        "failed(timeout)",
        "failed(confirm_timeout)",
        "failed(caller_gone)",
        "failed(network)",
    ] {
        let n = cov.device.get(name).copied().unwrap_or(0);
        assert!(n >= CASES / 200, "a device ended {name} only {n} times");
    }
    assert!(cov.cancel_crossing_accept >= CASES / 100);
    assert!(cov.cancel_crossing_reject >= CASES / 200);
}

fn run_case(case: &Case, cov: &mut Coverage) -> Result<(), TestCaseError> {
    let config = EngineConfig {
        confirm_timeout: Duration::from_millis(case.confirm_ms),
    };
    let mut net = Net::with_config(case.devices, config);
    let mut ledger: Vec<Ledger> = (0..=case.devices).map(|_| Ledger::default()).collect();
    let mut canceled = false;
    let out = net.invite_bob(case.lifetime_ms);

    for step in &case.steps {
        match *step {
            Step::Deliver(n) => {
                let busy = net.busy_links();
                if !busy.is_empty() {
                    let (from, to) = busy[n % busy.len()];
                    net.deliver(from, to);
                }
            }
            Step::Accept(n) => {
                let d = 1 + n % case.devices;
                let Some(key) = received(&net, d) else {
                    continue;
                };
                let expected = expected_answer(&net, d, key, &ledger[d]);
                let got = net.accept(d, key);
                prop_assert_eq!(&got, &expected, "accept on device {}", d);
                if got.is_ok() {
                    ledger[d].accepted_at = Some(net.now);
                }
            }
            Step::Reject(n, reason) => {
                let d = 1 + n % case.devices;
                let Some(key) = received(&net, d) else {
                    continue;
                };
                let expected = expected_answer(&net, d, key, &ledger[d]);
                let got = net.reject(d, key, reason);
                prop_assert_eq!(&got, &expected, "reject on device {}", d);
                if got.is_ok() {
                    ledger[d].rejected = Some(reason);
                    ledger[d].rejected_at = Some(net.now);
                    // A proposal: no ending until the caller decides.
                    prop_assert!(terminal(&net, d, key).is_none());
                }
            }
            Step::Cancel => {
                let ended = terminal(&net, ALICE, out).is_some();
                let got = net.cancel(out);
                if ended {
                    prop_assert_eq!(got, Err(EngineError::UnknownKey));
                } else {
                    prop_assert_eq!(got, Ok(()));
                    canceled = true;
                    let last = &net.nodes[ALICE].events.last().unwrap().1;
                    prop_assert_eq!(
                        last,
                        &Event::OutgoingCanceled {
                            key: out,
                            reason: CancelReason::CallerCanceled
                        }
                    );
                    let accepting = (1..=case.devices).any(|d| {
                        ledger[d].accepted_at.is_some()
                            && terminal(&net, d, net.incoming_key(d)).is_none()
                    });
                    cov.cancel_crossing_accept += u32::from(accepting);
                    let rejecting = (1..=case.devices).any(|d| {
                        ledger[d].rejected_at.is_some()
                            && terminal(&net, d, net.incoming_key(d)).is_none()
                    });
                    cov.cancel_crossing_reject += u32::from(rejecting);
                }
            }
            Step::Advance(permille) => net.advance(case.lifetime_ms * 3 / 2 * permille / 1000),
            Step::Drift(permille) => net.drift(case.lifetime_ms * 3 / 2 * permille / 1000),
            Step::ToNextDeadline => {
                if let Some(at) = net.next_deadline() {
                    net.advance_to(at);
                }
            }
            Step::DisconnectCaller => {
                if net.nodes[ALICE].connected {
                    net.disconnect(ALICE);
                    ledger[ALICE].disconnected = true;
                }
            }
            Step::DisconnectDevice(n) => {
                let d = 1 + n % case.devices;
                if net.nodes[d].connected {
                    net.disconnect(d);
                    ledger[d].disconnected = true;
                }
            }
        }
    }
    net.drain();

    for i in 0..net.nodes.len() {
        check_event_order(&net, i)?;
    }
    let caller = check_caller(&net, case, out, &ledger, canceled)?;
    cov.caller
        .entry(caller_name(&caller))
        .and_modify(|n| *n += 1)
        .or_insert(1);
    let mut accepted = 0;
    for (d, dev_ledger) in ledger.iter().enumerate().skip(1) {
        let Some(key) = received(&net, d) else {
            prop_assert!(dev_ledger.disconnected, "device {} never got the invite", d);
            continue;
        };
        let (at, end) = terminal(&net, d, key).expect("checked by check_event_order");
        check_device(&net, case, d, key, at, &end, &caller, dev_ledger)?;
        accepted += usize::from(matches!(end, Event::IncomingAccepted { .. }));
        cov.device
            .entry(device_name(&end))
            .and_modify(|n| *n += 1)
            .or_insert(1);
        if caller == CallerEnd::Accepted(net.nodes[d].device.clone())
            && end
                == (Event::IncomingFailed {
                    key,
                    reason: FailureReason::ConfirmTimeout,
                })
        {
            cov.accepted_after_confirm_timeout += 1;
        }
    }
    prop_assert!(accepted <= 1, "{} devices ended accepted", accepted);

    hang_up_everything(&mut net);
    for node in &net.nodes {
        prop_assert_eq!(node.engine.live_count(), 0, "{} leaked state", &node.device);
        prop_assert_eq!(node.engine.poll_timeout(), None);
    }
    prop_assert!(net.busy_links().is_empty());
    Ok(())
}

/// The incoming key on device `d`, if the invite reached it.
fn received(net: &Net, d: usize) -> Option<Key> {
    net.nodes[d].events.iter().find_map(|(_, e)| match e {
        Event::IncomingReceived { key, .. } => Some(*key),
        _ => None,
    })
}

/// The terminal event of invite `key` on node `i`, with its time.
fn terminal(net: &Net, i: usize, key: Key) -> Option<(Instant, Event)> {
    net.nodes[i]
        .events
        .iter()
        .find(|(_, e)| e.key() == key && e.is_terminal())
        .cloned()
}

/// What `accept` or `reject` must return on device `d` right now.
fn expected_answer(net: &Net, d: usize, key: Key, ledger: &Ledger) -> Result<(), EngineError> {
    if terminal(net, d, key).is_some() {
        Err(EngineError::UnknownKey)
    } else if ledger.accepted_at.is_some() {
        Err(EngineError::InvalidState {
            status: "accepting",
        })
    } else if ledger.rejected_at.is_some() {
        Err(EngineError::InvalidState {
            status: "rejecting",
        })
    } else {
        Ok(())
    }
}

/// Per invite: the right first event, ringing at most once and before the
/// end, exactly one terminal event and nothing after it. Per conversation:
/// one `ConversationDisconnected` at most, last.
fn check_event_order(net: &Net, i: usize) -> Result<(), TestCaseError> {
    let node = &net.nodes[i];
    let mut by_key: BTreeMap<Key, Vec<&Event>> = BTreeMap::new();
    for (_, e) in &node.events {
        by_key.entry(e.key()).or_default().push(e);
        if let Event::OutgoingAccepted { conversation, .. }
        | Event::IncomingAccepted { conversation, .. } = e
        {
            prop_assert!(
                !by_key.contains_key(&conversation.key),
                "conversation key reused"
            );
            by_key.insert(conversation.key, Vec::new());
        }
    }
    for (key, events) in &by_key {
        let is_invite = events.iter().any(|e| {
            !matches!(
                e,
                Event::ParticipantDisconnected { .. } | Event::ConversationDisconnected { .. }
            )
        });
        let ends = events.iter().filter(|e| e.is_terminal()).count();
        if is_invite {
            prop_assert_eq!(ends, 1, "{} invite {:?}: {:?}", &node.device, key, events);
            prop_assert!(
                events.last().unwrap().is_terminal(),
                "{} events after the end: {:?}",
                &node.device,
                events
            );
            let rings = events
                .iter()
                .filter(|e| matches!(e, Event::OutgoingRinging { .. }))
                .count();
            prop_assert!(rings <= 1, "{} rang {} times", &node.device, rings);
            // Alice only calls, the bob devices only answer.
            prop_assert_eq!(
                i != ALICE,
                matches!(events[0], Event::IncomingReceived { .. }),
                "{} invite starts with {:?}",
                &node.device,
                events[0]
            );
        } else {
            prop_assert!(
                ends <= 1,
                "{} conversation {:?}: {:?}",
                &node.device,
                key,
                events
            );
            if ends == 1 {
                prop_assert!(events.last().unwrap().is_terminal());
            }
        }
    }
    Ok(())
}

/// The caller's ending, checked against what the test did and against the
/// one outcome message it sent.
fn check_caller(
    net: &Net,
    case: &Case,
    out: Key,
    ledger: &[Ledger],
    canceled: bool,
) -> Result<CallerEnd, TestCaseError> {
    let (at, end) = terminal(net, ALICE, out).expect("checked by check_event_order");
    let outcomes: Vec<Outcome> = net
        .sent
        .iter()
        .filter_map(|(from, body)| match body {
            PeerMessage::Outcome { outcome, .. } if *from == ALICE => Some(outcome.clone()),
            _ => None,
        })
        .collect();
    let device_of = |device: &str| {
        (1..=case.devices)
            .find(|&d| net.nodes[d].device == device)
            .expect("a device of bob")
    };
    let caller = match end {
        Event::OutgoingAccepted {
            answer,
            conversation,
            ..
        } => {
            let d = device_of(&answer.device);
            prop_assert!(
                ledger[d].accepted_at.is_some(),
                "{} never accepted",
                &answer.device
            );
            prop_assert_eq!(
                outcomes,
                vec![Outcome::Accepted {
                    device: answer.device.clone(),
                    participants: vec![],
                }]
            );
            prop_assert_eq!(conversation.participants.len(), 1);
            prop_assert_eq!(&conversation.participants[0].uid, "bob");
            prop_assert_eq!(&conversation.participants[0].device, &answer.device);
            CallerEnd::Accepted(answer.device)
        }
        Event::OutgoingRejected { reason, .. } => {
            let [Outcome::Rejected {
                device,
                reason: sent,
            }] = &outcomes[..]
            else {
                return Err(TestCaseError::fail(format!("outcomes sent: {outcomes:?}")));
            };
            prop_assert_eq!(*sent, reason);
            let d = device_of(device);
            prop_assert_eq!(
                ledger[d].rejected,
                Some(reason),
                "{} did not reject so",
                device
            );
            CallerEnd::Rejected(device.clone(), reason)
        }
        Event::OutgoingCanceled { .. } => {
            prop_assert!(canceled);
            prop_assert_eq!(outcomes, vec![Outcome::Canceled { reason: None }]);
            CallerEnd::Canceled
        }
        Event::OutgoingFailed { reason, .. } => {
            match reason {
                FailureReason::Timeout => {
                    prop_assert!(at >= net.t0 + Duration::from_millis(case.lifetime_ms));
                    prop_assert_eq!(outcomes, vec![Outcome::Failed { reason }]);
                }
                FailureReason::Network => {
                    prop_assert!(ledger[ALICE].disconnected);
                    prop_assert!(outcomes.is_empty(), "outcome sent: {:?}", outcomes);
                }
                other => return Err(TestCaseError::fail(format!("caller failed({other})"))),
            }
            CallerEnd::Failed(reason)
        }
        other => return Err(TestCaseError::fail(format!("caller ended with {other:?}"))),
    };
    Ok(caller)
}

/// Device `d`'s ending `end` (at `at`), checked against the caller's.
#[allow(clippy::too_many_arguments)]
fn check_device(
    net: &Net,
    case: &Case,
    d: usize,
    key: Key,
    at: Instant,
    end: &Event,
    caller: &CallerEnd,
    ledger: &Ledger,
) -> Result<(), TestCaseError> {
    let me = net.nodes[d].device.clone();
    let received_at = net.nodes[d]
        .events
        .iter()
        .find(|(_, e)| e.key() == key)
        .unwrap()
        .0;
    match end {
        Event::IncomingAccepted { conversation, .. } => {
            prop_assert_eq!(caller, &CallerEnd::Accepted(me.clone()));
            prop_assert!(ledger.accepted_at.is_some());
            prop_assert_eq!(&conversation.participants[0].uid, "alice");
            prop_assert_eq!(&conversation.participants[0].device, "n1.1");
        }
        Event::IncomingRejected { reason, .. } => {
            // Both sides agree: the caller ended rejected by this device.
            prop_assert_eq!(ledger.rejected, Some(*reason));
            prop_assert_eq!(caller, &CallerEnd::Rejected(me.clone(), *reason));
        }
        Event::IncomingCanceled {
            reason: CancelReason::CallerCanceled,
            ..
        } => {
            prop_assert_eq!(caller, &CallerEnd::Canceled);
        }
        Event::IncomingCanceled {
            reason: CancelReason::AnsweredElsewhere,
            ..
        } => {
            let other = match caller {
                CallerEnd::Accepted(dev) | CallerEnd::Rejected(dev, _) => dev,
                _ => {
                    return Err(TestCaseError::fail(format!(
                        "answered elsewhere, but {caller:?}"
                    )))
                }
            };
            prop_assert_ne!(other, &me);
        }
        Event::IncomingFailed { reason, .. } => match reason {
            FailureReason::Timeout => {
                let own_lifetime = ledger.answered_at().is_none()
                    && at >= received_at + Duration::from_millis(case.lifetime_ms);
                prop_assert!(
                    own_lifetime || *caller == CallerEnd::Failed(FailureReason::Timeout),
                    "{} timed out, caller {:?}",
                    &me,
                    caller
                );
            }
            FailureReason::ConfirmTimeout => {
                let answered_at = ledger.answered_at().expect("confirm_timeout unanswered");
                prop_assert!(at >= answered_at + Duration::from_millis(case.confirm_ms));
            }
            FailureReason::CallerGone => {
                prop_assert_eq!(caller, &CallerEnd::Failed(FailureReason::Network));
            }
            FailureReason::Network => prop_assert!(ledger.disconnected),
            other => return Err(TestCaseError::fail(format!("{me} failed({other})"))),
        },
        other => return Err(TestCaseError::fail(format!("{me} ended with {other:?}"))),
    }
    // Timeliness: once the caller's outcome reaches a device that is still
    // live, the device ends on it, as the outcome says. A device that ended
    // first ended on its own (checked above); one that never got it lost
    // its connection, or the caller sent none.
    let outcome_at = net.delivered.iter().find_map(|(to, index, msg)| match msg {
        ServerMessage::Deliver {
            body: PeerMessage::Outcome { outcome, .. },
            ..
        } if *to == d => Some((*index, outcome)),
        _ => None,
    });
    let end_index = net.nodes[d]
        .events
        .iter()
        .position(|(_, e)| e == end)
        .expect("the end is in the log");
    match outcome_at {
        Some((index, outcome)) if end_index >= index => {
            prop_assert_eq!(end_index, index, "{} ended later than its outcome", &me);
            let expected = match outcome {
                Outcome::Accepted { device, .. } if *device == me => None,
                Outcome::Rejected { device, reason } if *device == me => {
                    Some(Event::IncomingRejected {
                        key,
                        reason: *reason,
                    })
                }
                Outcome::Accepted { .. } | Outcome::Rejected { .. } => {
                    Some(Event::IncomingCanceled {
                        key,
                        reason: CancelReason::AnsweredElsewhere,
                    })
                }
                Outcome::Canceled { .. } => Some(Event::IncomingCanceled {
                    key,
                    reason: CancelReason::CallerCanceled,
                }),
                Outcome::Failed { reason } => Some(Event::IncomingFailed {
                    key,
                    reason: *reason,
                }),
            };
            match expected {
                Some(expected) => prop_assert_eq!(end, &expected),
                None => prop_assert!(matches!(end, Event::IncomingAccepted { .. }), "{:?}", end),
            }
        }
        Some(_) => {}
        None => {
            let sent = net
                .sent
                .iter()
                .any(|(from, body)| *from == ALICE && matches!(body, PeerMessage::Outcome { .. }));
            prop_assert!(
                !sent || ledger.disconnected,
                "{} never got the outcome",
                &me
            );
        }
    }
    // The other direction: what the caller decided shows on the device
    // named, unless that device gave up or dropped on its own.
    match caller {
        CallerEnd::Accepted(dev) if *dev == me => {
            let gave_up = matches!(
                end,
                Event::IncomingFailed {
                    reason: FailureReason::ConfirmTimeout | FailureReason::Network,
                    ..
                }
            );
            prop_assert!(
                gave_up || matches!(end, Event::IncomingAccepted { .. }),
                "caller accepted {} but it ended {:?}",
                &me,
                end
            );
        }
        CallerEnd::Rejected(dev, reason) if *dev == me => {
            let gave_up = matches!(
                end,
                Event::IncomingFailed {
                    reason: FailureReason::ConfirmTimeout | FailureReason::Network,
                    ..
                }
            );
            prop_assert!(
                gave_up
                    || *end
                        == Event::IncomingRejected {
                            key,
                            reason: *reason
                        },
                "caller was rejected by {} but it ended {:?}",
                &me,
                end
            );
        }
        _ => {}
    }
    Ok(())
}

/// Every node leaves every conversation it is still in (the caller first),
/// and the leaves are delivered.
fn hang_up_everything(net: &mut Net) {
    for i in 0..net.nodes.len() {
        let live: Vec<Key> = live_conversations(net, i);
        for key in live {
            net.leave(i, key).expect("a live conversation");
        }
        net.deliver_all();
    }
}

fn live_conversations(net: &Net, i: usize) -> Vec<Key> {
    let events = &net.nodes[i].events;
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::OutgoingAccepted { conversation, .. }
            | Event::IncomingAccepted { conversation, .. } => Some(conversation.key),
            _ => None,
        })
        .filter(|key| {
            !events
                .iter()
                .any(|(_, e)| *e == Event::ConversationDisconnected { key: *key })
        })
        .collect()
}

fn caller_name(end: &CallerEnd) -> &'static str {
    match end {
        CallerEnd::Accepted(_) => "accepted",
        CallerEnd::Rejected(..) => "rejected",
        CallerEnd::Canceled => "canceled",
        CallerEnd::Failed(FailureReason::Timeout) => "failed(timeout)",
        CallerEnd::Failed(FailureReason::Network) => "failed(network)",
        CallerEnd::Failed(_) => "failed(other)",
    }
}

fn device_name(end: &Event) -> &'static str {
    match end {
        Event::IncomingAccepted { .. } => "accepted",
        Event::IncomingRejected { .. } => "rejected",
        Event::IncomingCanceled {
            reason: CancelReason::CallerCanceled,
            ..
        } => "canceled(caller_canceled)",
        Event::IncomingCanceled {
            reason: CancelReason::AnsweredElsewhere,
            ..
        } => "canceled(answered_elsewhere)",
        Event::IncomingFailed {
            reason: FailureReason::Timeout,
            ..
        } => "failed(timeout)",
        Event::IncomingFailed {
            reason: FailureReason::ConfirmTimeout,
            ..
        } => "failed(confirm_timeout)",
        Event::IncomingFailed {
            reason: FailureReason::CallerGone,
            ..
        } => "failed(caller_gone)",
        Event::IncomingFailed {
            reason: FailureReason::Network,
            ..
        } => "failed(network)",
        _ => "other",
    }
}
