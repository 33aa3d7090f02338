//! Random interleavings of an invite that reaches sleeping devices by push
//! and awake devices over the connection: pushes handed over in any order,
//! repeated and swapped, devices waking (connecting) at any moment, links
//! dropping and coming back, the fetch's answer racing the caller's
//! relayed outcome and the `invite_ended` push, answers given before the
//! fetch completes, a server that cannot serve fetches, the clock jumping.
//! Afterwards every push is handed over, everything delivered and every
//! deadline passed, and the run is checked:
//!
//! - one key per invite on each device, one `IncomingReceived`, at most one
//!   `IncomingUpdated` (between the two), exactly one terminal event and
//!   nothing after it;
//! - an answer goes out at most once per connection, never after the
//!   invite ended there, and only if the app gave one;
//! - every device's ending is explained by the caller's (see
//!   [`check_device`]), and the caller's by what the test did.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};
use wd_protocol::{
    CancelReason, ErrorCode, FailureReason, Outcome, PeerMessage, RejectReason, ServerMessage,
};

use super::harness::{request, Net, ALICE};
use crate::engine::{EngineConfig, EngineError, Event, Key, PushEvent, PushHandled};

/// How many random runs.
const CASES: u32 = 5_000;

#[derive(Clone, Debug)]
enum Step {
    /// Deliver the head of the n-th busy link.
    Deliver(usize),
    /// Hand device n its oldest push.
    Push(usize),
    /// The platform repeats device n's oldest push.
    DuplicatePush(usize),
    /// Device n's two oldest pushes arrive the other way round.
    SwapPushes(usize),
    /// Device n (not connected) connects, as a new device.
    Wake(usize),
    /// Device n loses its link and will reconnect.
    LinkLost(usize),
    /// Device n gives up for good.
    GiveUp(usize),
    Accept(usize),
    Reject(usize, RejectReason),
    Cancel,
    Advance(u64),
    ToNextDeadline,
    Drift(u64),
    DisconnectCaller,
}

#[derive(Clone, Debug)]
struct Case {
    /// For each invitee device: asleep (registered for push) at the start.
    asleep: Vec<bool>,
    lifetime_ms: u64,
    confirm_ms: u64,
    fetch_fails: Option<ErrorCode>,
    wake_at_end: bool,
    steps: Vec<Step>,
}

fn step() -> impl Strategy<Value = Step> {
    let reason = prop_oneof![Just(RejectReason::Declined), Just(RejectReason::Busy)];
    prop_oneof![
        40 => (0..16usize).prop_map(Step::Deliver),
        14 => (0..3usize).prop_map(Step::Push),
        2 => (0..3usize).prop_map(Step::DuplicatePush),
        2 => (0..3usize).prop_map(Step::SwapPushes),
        8 => (0..3usize).prop_map(Step::Wake),
        2 => (0..3usize).prop_map(Step::LinkLost),
        1 => (0..3usize).prop_map(Step::GiveUp),
        10 => (0..3usize).prop_map(Step::Accept),
        6 => (0..3usize, reason).prop_map(|(d, r)| Step::Reject(d, r)),
        4 => Just(Step::Cancel),
        6 => (0..=1000u64).prop_map(Step::Advance),
        2 => Just(Step::ToNextDeadline),
        2 => (0..=1000u64).prop_map(Step::Drift),
        1 => Just(Step::DisconnectCaller),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(any::<bool>(), 0..=2),
        prop_oneof![Just(1_000u64), 1..=5_000u64],
        prop_oneof![Just(1_000u64), 100..=8_000u64],
        prop_oneof![
            8 => Just(None),
            1 => Just(Some(ErrorCode::Unsupported)),
            1 => Just(Some(ErrorCode::NotFound)),
        ],
        any::<bool>(),
        prop::collection::vec(step(), 0..64),
    )
        .prop_map(
            |(more, lifetime_ms, confirm_ms, fetch_fails, wake_at_end, steps)| {
                // The first device always sleeps: every run pushes.
                let mut asleep = vec![true];
                asleep.extend(more);
                Case {
                    asleep,
                    lifetime_ms,
                    confirm_ms,
                    fetch_fails,
                    wake_at_end,
                    steps,
                }
            },
        )
}

/// What the test did to each node.
#[derive(Default, Debug)]
struct Ledger {
    accepted_at: Option<Instant>,
    rejected: Option<RejectReason>,
    rejected_at: Option<Instant>,
    /// Lost its link at some point.
    lost_link: bool,
    /// Gave up for good (or, for the caller, disconnected).
    gave_up: bool,
}

impl Ledger {
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

/// How often the paths that matter were taken.
#[derive(Default, Debug)]
struct Coverage {
    /// Endings of devices that were woken by push.
    pushed_endings: BTreeMap<&'static str, u32>,
    /// A pushed device answered before the fetch was answered, and the
    /// answer went out later.
    held_answer_sent: u32,
    /// A pushed device answered before the fetch, and the invite ended
    /// without the answer going out.
    held_answer_dropped: u32,
    /// An invite ended by the fetch's answer.
    ended_by_fetch: u32,
    /// An invite ended by an `invite_ended` push.
    ended_by_push: u32,
    /// A push about an invite no longer live.
    gone: u32,
    /// A push about an invite already live.
    repeated: u32,
    /// A pushed invite filled in.
    updated: u32,
}

#[test]
fn random_push_interleavings_end_once_and_agree() {
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
        let n = cov.pushed_endings.get(name).copied().unwrap_or(0);
        assert!(
            n >= CASES / 200,
            "a pushed device ended {name} only {n} times"
        );
    }
    for (what, n) in [
        ("held answer sent", cov.held_answer_sent),
        ("held answer dropped", cov.held_answer_dropped),
        ("ended by the fetch", cov.ended_by_fetch),
        ("ended by a push", cov.ended_by_push),
        ("push for a gone invite", cov.gone),
        ("push for a live invite", cov.repeated),
        ("filled in", cov.updated),
    ] {
        assert!(n >= CASES / 100, "{what}: only {n} times");
    }
}

fn run_case(case: &Case, cov: &mut Coverage) -> Result<(), TestCaseError> {
    let config = EngineConfig {
        confirm_timeout: Duration::from_millis(case.confirm_ms),
    };
    let devices = case.asleep.len();
    let mut net = Net::with_config(devices, config);
    for (i, &asleep) in case.asleep.iter().enumerate() {
        if asleep {
            net.register(1 + i);
            net.sleep(1 + i);
        }
    }
    net.fetch_fails = case.fetch_fails;
    let pushed: Vec<bool> = std::iter::once(false)
        .chain(case.asleep.iter().copied())
        .collect();
    let mut ledger: Vec<Ledger> = (0..=devices).map(|_| Ledger::default()).collect();
    // Whether device d answered while its invite was still unconfirmed.
    let mut held = vec![false; devices + 1];
    let mut canceled = false;
    let mut fresh = 0;
    let t0 = net.now;
    let out = net
        .invite(ALICE, request("bob", "i1", case.lifetime_ms))
        .expect("invite");

    for step in &case.steps {
        match *step {
            Step::Deliver(n) => {
                let busy = net.busy_links();
                if !busy.is_empty() {
                    let (from, to) = busy[n % busy.len()];
                    net.deliver(from, to);
                }
            }
            Step::Push(n) => {
                let d = 1 + n % devices;
                if !ledger[d].gave_up {
                    if let Some(r) = net.deliver_push(d) {
                        count_push(&r, cov);
                        prop_assert!(r.is_ok(), "{:?}", r);
                    }
                }
            }
            Step::DuplicatePush(n) => net.duplicate_push(1 + n % devices),
            Step::SwapPushes(n) => {
                let pushes = &mut net.nodes[1 + n % devices].pushes;
                if pushes.len() >= 2 {
                    pushes.swap(0, 1);
                }
            }
            Step::Wake(n) => {
                let d = 1 + n % devices;
                if !net.nodes[d].connected && !ledger[d].gave_up {
                    fresh += 1;
                    net.reconnect(d, &format!("n2.{fresh}"));
                }
            }
            Step::LinkLost(n) => {
                let d = 1 + n % devices;
                if net.nodes[d].connected {
                    net.link_lost(d);
                    ledger[d].lost_link = true;
                }
            }
            Step::GiveUp(n) => {
                let d = 1 + n % devices;
                if !ledger[d].gave_up {
                    if net.nodes[d].connected {
                        net.disconnect(d);
                    } else {
                        net.give_up(d);
                    }
                    ledger[d].gave_up = true;
                }
            }
            Step::Accept(n) | Step::Reject(n, _) => {
                let d = 1 + n % devices;
                let Some(key) = received(&net, d) else {
                    continue;
                };
                let expected = expected_answer(&net, d, key, &ledger[d]);
                let unconfirmed = net.nodes[d].engine.incoming_confirmed(key) == Some(false);
                let got = match *step {
                    Step::Reject(_, reason) => {
                        let got = net.reject(d, key, reason);
                        if got.is_ok() {
                            ledger[d].rejected = Some(reason);
                            ledger[d].rejected_at = Some(net.now);
                        }
                        got
                    }
                    _ => {
                        let got = net.accept(d, key);
                        if got.is_ok() {
                            ledger[d].accepted_at = Some(net.now);
                        }
                        got
                    }
                };
                prop_assert_eq!(&got, &expected, "answer on device {}", d);
                if got.is_ok() {
                    held[d] = unconfirmed;
                    if unconfirmed {
                        prop_assert!(
                            !net.sends.iter().any(|s| s.from == d && is_answer(&s.body)),
                            "an answer to an unconfirmed invite went out at once"
                        );
                    }
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
                    ledger[ALICE].gave_up = true;
                }
            }
        }
    }

    // Every device still running wakes (or not), gets its pushes, and
    // everything runs out.
    let running: Vec<usize> = (1..=devices).filter(|&d| !ledger[d].gave_up).collect();
    for &d in &running {
        if case.wake_at_end && !net.nodes[d].connected {
            fresh += 1;
            net.reconnect(d, &format!("n2.{fresh}"));
        }
    }
    loop {
        let mut any = false;
        for &d in &running {
            while let Some(r) = net.deliver_push(d) {
                count_push(&r, cov);
                prop_assert!(r.is_ok(), "{:?}", r);
                any = true;
            }
        }
        net.drain();
        if !any {
            break;
        }
    }

    for i in 0..net.nodes.len() {
        check_event_order(&net, i)?;
    }
    let caller = check_caller(&net, case, t0, out, &ledger, canceled)?;
    let mut accepted = 0;
    for d in 1..=devices {
        check_answers_sent(&net, d, &ledger[d])?;
        let Some(key) = received(&net, d) else {
            // Gone before it arrived: its link dropped first, it gave up,
            // or its pushes said the invite had ended.
            let ended = pushed[d] && net.stored["i1"].outcome.is_some();
            prop_assert!(
                ledger[d].gave_up || ledger[d].lost_link || ended,
                "device {} never got the invite",
                d
            );
            continue;
        };
        let (at, end) = terminal(&net, d, key).expect("checked by check_event_order");
        let caller_left = ledger[ALICE].gave_up;
        check_device(
            &net,
            case,
            t0,
            d,
            at,
            &end,
            &caller,
            &ledger[d],
            caller_left,
        )?;
        accepted += usize::from(matches!(end, Event::IncomingAccepted { .. }));
        if pushed[d] {
            *cov.pushed_endings.entry(ending_name(&end)).or_default() += 1;
            let answers = net
                .sends
                .iter()
                .filter(|s| s.from == d && is_answer(&s.body))
                .count();
            if held[d] {
                if answers > 0 {
                    cov.held_answer_sent += 1;
                } else {
                    cov.held_answer_dropped += 1;
                }
            }
        }
        cov.updated += u32::from(!net.nodes[d].push_events.is_empty());
        let end_index = net.nodes[d]
            .events
            .iter()
            .position(|(_, e)| e.is_terminal())
            .expect("ended");
        cov.ended_by_fetch += u32::from(net.delivered.iter().any(|(to, before, msg)| {
            *to == d
                && *before == end_index
                && matches!(
                    msg,
                    ServerMessage::InviteState {
                        outcome: Some(_),
                        ..
                    }
                )
        }));
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

fn count_push(r: &Result<PushHandled, EngineError>, cov: &mut Coverage) {
    match r {
        Ok(PushHandled::Live { created: false, .. }) => cov.repeated += 1,
        Ok(PushHandled::Ended { .. }) => cov.ended_by_push += 1,
        Ok(PushHandled::Gone { .. }) => cov.gone += 1,
        _ => {}
    }
}

fn is_answer(body: &PeerMessage) -> bool {
    matches!(
        body,
        PeerMessage::Accept { .. } | PeerMessage::Reject { .. }
    )
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

/// Per invite: one `IncomingReceived` first, at most one
/// `IncomingUpdated` between it and the end, exactly one terminal event,
/// nothing after it.
fn check_event_order(net: &Net, i: usize) -> Result<(), TestCaseError> {
    let node = &net.nodes[i];
    let mut by_key: BTreeMap<Key, Vec<(usize, &Event)>> = BTreeMap::new();
    for (index, (_, e)) in node.events.iter().enumerate() {
        if let Event::OutgoingAccepted { conversation, .. }
        | Event::IncomingAccepted { conversation, .. } = e
        {
            by_key.entry(conversation.key).or_default();
        }
        by_key.entry(e.key()).or_default().push((index, e));
    }
    let received = node
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::IncomingReceived { .. }))
        .count();
    prop_assert!(
        received <= 1,
        "{} received the invite {} times",
        &node.device,
        received
    );
    for events in by_key.values() {
        let is_invite = events.iter().any(|(_, e)| {
            matches!(
                e,
                Event::IncomingReceived { .. }
                    | Event::OutgoingRinging { .. }
                    | Event::OutgoingAccepted { .. }
                    | Event::OutgoingRejected { .. }
                    | Event::OutgoingCanceled { .. }
                    | Event::OutgoingFailed { .. }
            )
        });
        if !is_invite {
            continue;
        }
        let ends: Vec<usize> = events
            .iter()
            .filter(|(_, e)| e.is_terminal())
            .map(|(i, _)| *i)
            .collect();
        prop_assert_eq!(ends.len(), 1, "{}: {:?}", &node.device, events);
        prop_assert!(
            events.last().unwrap().1.is_terminal(),
            "{}: {:?}",
            &node.device,
            events
        );
        if let Some((first, Event::IncomingReceived { key, .. })) = events.first() {
            let updates: Vec<usize> = node
                .push_events
                .iter()
                .filter(|(_, e)| matches!(e, PushEvent::IncomingUpdated { key: k, .. } if k == key))
                .map(|(before, _)| *before)
                .collect();
            prop_assert!(updates.len() <= 1, "{} updated {:?}", &node.device, updates);
            for before in updates {
                prop_assert!(
                    before > *first && before <= ends[0],
                    "{}: update after {} events, received at {}, ended at {}",
                    &node.device,
                    before,
                    first,
                    ends[0]
                );
            }
        }
    }
    Ok(())
}

/// Answers device `d` sent: only if the app answered, at most one per
/// connection, none after the invite ended there.
fn check_answers_sent(net: &Net, d: usize, ledger: &Ledger) -> Result<(), TestCaseError> {
    let answers: Vec<_> = net
        .sends
        .iter()
        .filter(|s| s.from == d && is_answer(&s.body))
        .collect();
    if answers.is_empty() {
        return Ok(());
    }
    prop_assert!(
        ledger.answered_at().is_some(),
        "device {} answered by itself",
        d
    );
    let mut devices: Vec<&str> = answers.iter().map(|s| s.device.as_str()).collect();
    devices.sort();
    devices.dedup();
    prop_assert_eq!(
        devices.len(),
        answers.len(),
        "an answer sent twice on one connection"
    );
    if let Some(end) = net.nodes[d]
        .events
        .iter()
        .position(|(_, e)| e.is_terminal())
    {
        for s in answers {
            prop_assert!(
                s.events_before <= end,
                "device {} answered after its invite ended",
                d
            );
        }
    }
    Ok(())
}

/// The caller's single ending, explained by what the test did.
fn check_caller(
    net: &Net,
    case: &Case,
    t0: Instant,
    out: Key,
    ledger: &[Ledger],
    canceled: bool,
) -> Result<CallerEnd, TestCaseError> {
    let (at, end) = terminal(net, ALICE, out).expect("the caller's invite ended");
    let owner = |device: &str| {
        (1..net.nodes.len()).find(|&d| net.nodes[d].devices.iter().any(|x| x == device))
    };
    Ok(match end {
        Event::OutgoingAccepted { answer, .. } => {
            let d = owner(&answer.device).expect("a device of bob");
            prop_assert!(
                ledger[d].accepted_at.is_some(),
                "{} never accepted",
                &answer.device
            );
            CallerEnd::Accepted(answer.device)
        }
        Event::OutgoingRejected { reason, .. } => {
            // The device is named in the outcome the caller sent.
            let device = net
                .sends
                .iter()
                .find_map(|s| match &s.body {
                    PeerMessage::Outcome {
                        outcome: Outcome::Rejected { device, reason: r },
                        ..
                    } if s.from == ALICE => {
                        assert_eq!(*r, reason);
                        Some(device.clone())
                    }
                    _ => None,
                })
                .expect("the outcome was sent");
            let d = owner(&device).expect("a device of bob");
            prop_assert_eq!(ledger[d].rejected, Some(reason));
            CallerEnd::Rejected(device, reason)
        }
        Event::OutgoingCanceled { reason, .. } => {
            prop_assert!(canceled);
            prop_assert_eq!(reason, CancelReason::CallerCanceled);
            CallerEnd::Canceled
        }
        Event::OutgoingFailed { reason, .. } => {
            match reason {
                FailureReason::Timeout => {
                    prop_assert!(at >= t0 + Duration::from_millis(case.lifetime_ms))
                }
                FailureReason::Network => prop_assert!(ledger[ALICE].gave_up),
                other => return Err(TestCaseError::fail(format!("caller failed({other})"))),
            }
            CallerEnd::Failed(reason)
        }
        other => return Err(TestCaseError::fail(format!("caller ended with {other:?}"))),
    })
}

/// Device `d`'s ending `end` (at `at`), checked against the caller's.
#[allow(clippy::too_many_arguments)]
fn check_device(
    net: &Net,
    case: &Case,
    t0: Instant,
    d: usize,
    at: Instant,
    end: &Event,
    caller: &CallerEnd,
    ledger: &Ledger,
    caller_left: bool,
) -> Result<(), TestCaseError> {
    let mine = &net.nodes[d].devices;
    let is_mine = |device: &str| mine.iter().any(|m| m == device);
    match end {
        Event::IncomingAccepted { conversation, .. } => {
            // Accepted as the device it was then (it may have reconnected
            // since).
            let CallerEnd::Accepted(device) = caller else {
                return Err(TestCaseError::fail(format!("accepted, but {caller:?}")));
            };
            prop_assert!(is_mine(device), "accepted, but the caller took {}", device);
            prop_assert!(ledger.accepted_at.is_some());
            prop_assert_eq!(&conversation.participants[0].uid, "alice");
        }
        Event::IncomingRejected { reason, .. } => {
            prop_assert_eq!(ledger.rejected, Some(*reason));
            let CallerEnd::Rejected(device, r) = caller else {
                return Err(TestCaseError::fail(format!("rejected, but {caller:?}")));
            };
            prop_assert!(is_mine(device) && r == reason, "rejected, but {:?}", caller);
        }
        Event::IncomingCanceled {
            reason: CancelReason::CallerCanceled,
            ..
        } => prop_assert_eq!(caller, &CallerEnd::Canceled),
        Event::IncomingCanceled {
            reason: CancelReason::AnsweredElsewhere,
            ..
        } => match caller {
            CallerEnd::Accepted(dev) | CallerEnd::Rejected(dev, _) => {
                prop_assert!(!is_mine(dev), "answered elsewhere, but by {}", dev)
            }
            _ => {
                return Err(TestCaseError::fail(format!(
                    "answered elsewhere, but {caller:?}"
                )))
            }
        },
        Event::IncomingFailed { reason, .. } => match reason {
            FailureReason::Timeout => prop_assert!(
                at >= t0 + Duration::from_millis(case.lifetime_ms)
                    || *caller == CallerEnd::Failed(FailureReason::Timeout),
                "device {} timed out early, caller {:?}",
                d,
                caller
            ),
            FailureReason::ConfirmTimeout => {
                let answered = ledger.answered_at().expect("confirm_timeout unanswered");
                prop_assert!(at >= answered + Duration::from_millis(case.confirm_ms));
            }
            // The caller lost its connection before deciding; or this
            // device asked the caller (`query`: after a reconnect, or when
            // the server could not serve the fetch) and the caller was gone,
            // its decision with it (`docs/PROTOCOL.md`, "Reconnecting"); or
            // the server did not know the invite.
            FailureReason::CallerGone => prop_assert!(
                *caller == CallerEnd::Failed(FailureReason::Network)
                    || (caller_left && (ledger.lost_link || case.fetch_fails.is_some()))
                    || case.fetch_fails == Some(ErrorCode::NotFound),
                "caller gone, but {:?}",
                caller
            ),
            FailureReason::Network => {
                // Accepted as a device it no longer was.
                let accepted_old = matches!(caller, CallerEnd::Accepted(dev) if is_mine(dev));
                prop_assert!(
                    ledger.gave_up || accepted_old,
                    "device {} failed(network), caller {:?}",
                    d,
                    caller
                );
            }
            other => return Err(TestCaseError::fail(format!("device {d} failed({other})"))),
        },
        other => return Err(TestCaseError::fail(format!("device {d} ended {other:?}"))),
    }
    // The other direction: what the caller decided about this device shows
    // on it, unless it gave up waiting, lost its link, or lost its link and
    // found the caller gone when it asked.
    let asked_too_late = caller_left && (ledger.lost_link || case.fetch_fails.is_some());
    let gave_up = match end {
        Event::IncomingFailed { reason, .. } => match reason {
            FailureReason::ConfirmTimeout | FailureReason::Network => true,
            FailureReason::CallerGone => asked_too_late,
            _ => false,
        },
        _ => false,
    };
    match caller {
        CallerEnd::Accepted(dev) if is_mine(dev) => prop_assert!(
            gave_up || matches!(end, Event::IncomingAccepted { .. }),
            "caller accepted {} but it ended {:?}",
            dev,
            end
        ),
        CallerEnd::Rejected(dev, reason) if is_mine(dev) => prop_assert!(
            gave_up || matches!(end, Event::IncomingRejected { reason: r, .. } if r == reason),
            "caller was rejected by {} but it ended {:?}",
            dev,
            end
        ),
        _ => {}
    }
    Ok(())
}

/// Every node leaves every conversation it is still in.
fn hang_up_everything(net: &mut Net) {
    for i in 0..net.nodes.len() {
        let events = &net.nodes[i].events;
        let live: Vec<Key> = events
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
            .collect();
        for key in live {
            net.leave(i, key).expect("a live conversation");
        }
        net.deliver_all();
    }
}

fn ending_name(end: &Event) -> &'static str {
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
