//! The sdk driver: pairs of real SDK clients (`wilddog_video::client`),
//! what an app sees. Latency is from `invite_to_conversation` (or, at a
//! fixed rate, from the moment the schedule said to call it) to the
//! caller's `Accepted` listener call.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use hdrhistogram::Histogram;
use wilddog_video::client::{
    Client, ClientConfig, DispatchMode, IncomingEvent, IncomingInvite, InviteOptions, OutgoingEvent,
};

use crate::procstat::{self, Cpu};
use crate::report::{histogram, Counts};
use crate::Plan;

/// What one pair saw, updated from its clients' event threads.
struct Stats {
    counts: Counts,
    latency: Histogram<u64>,
    /// Invites the callee accepted (its `accept` returned `Ok`).
    callee_accepts: u64,
    /// Terminal events the callee saw.
    callee_ends: u64,
    /// Callee-side invites that ended otherwise than accepted.
    callee_failed: u64,
}

struct Pair {
    caller: Client,
    callee_uid: String,
    stats: Arc<Mutex<Stats>>,
    /// A token per finished invite, for the closed loop.
    finished_tx: Sender<()>,
    finished_rx: Receiver<()>,
}

fn lock(stats: &Mutex<Stats>) -> std::sync::MutexGuard<'_, Stats> {
    stats.lock().unwrap_or_else(|p| p.into_inner())
}

/// Answers every invite: accept at once, then count the confirmation.
fn callee_listener(stats: Arc<Mutex<Stats>>) -> impl FnMut(IncomingInvite) + Send + 'static {
    move |invite: IncomingInvite| {
        let st = stats.clone();
        let mut ended = false;
        invite.set_listener(move |_, event| {
            let mut s = lock(&st);
            if ended {
                s.counts.doubled += 1;
                return;
            }
            ended = true;
            s.callee_ends += 1;
            match event {
                IncomingEvent::Accepted { .. } => s.counts.confirmed += 1,
                other => {
                    s.callee_failed += 1;
                    if std::env::var_os("WD_BENCH_DEBUG").is_some() {
                        eprintln!("wd-bench: callee invite ended {other:?}");
                    }
                }
            }
        });
        let ok = invite.accept(None, None).is_ok();
        let mut s = lock(&stats);
        if ok {
            s.callee_accepts += 1;
        } else {
            s.callee_failed += 1;
        }
    }
}

/// Sends one invite for `pair`; its latency counts from `t0`.
fn issue(pair: &Pair, plan: &Plan, t0: Instant) {
    let invite = pair
        .caller
        .invite_to_conversation(InviteOptions::new(pair.callee_uid.clone()));
    lock(&pair.stats).counts.issued += 1;
    let invite = match invite {
        Ok(invite) => invite,
        Err(_) => {
            lock(&pair.stats).counts.failed += 1;
            let _ = pair.finished_tx.try_send(());
            return;
        }
    };
    let st = pair.stats.clone();
    let finished = pair.finished_tx.clone();
    let (measure_from, deadline) = (plan.measure_from, plan.deadline);
    let (mut rang, mut ended) = (false, false);
    invite.set_listener(move |_, event| {
        let now = Instant::now();
        let mut s = lock(&st);
        if ended {
            s.counts.doubled += 1;
            return;
        }
        match event {
            OutgoingEvent::Ringing => {
                if rang {
                    s.counts.doubled += 1;
                } else {
                    rang = true;
                    s.counts.ringing += 1;
                }
                return;
            }
            OutgoingEvent::Accepted { .. } => {
                s.counts.accepted += 1;
                if t0 >= measure_from {
                    let _ = s
                        .latency
                        .record(now.saturating_duration_since(t0).as_micros() as u64);
                }
                if now >= measure_from && now < deadline {
                    s.counts.accepted_in_window += 1;
                }
            }
            other => {
                s.counts.failed += 1;
                if std::env::var_os("WD_BENCH_DEBUG").is_some() {
                    eprintln!("wd-bench: caller invite ended {other:?}");
                }
            }
        }
        ended = true;
        drop(s);
        let _ = finished.try_send(());
    });
}

/// What the sdk driver measured.
pub struct SdkResult {
    pub counts: Counts,
    pub lost: u64,
    pub latency: Histogram<u64>,
    pub lag: Option<Histogram<u64>>,
    /// CPU of every client's I/O and event threads during the run.
    pub sdk_cpu: Cpu,
}

/// Connects `pairs` caller/callee clients (listeners run where
/// `dispatch` says) (pair i's caller to
/// `urls[i % N]`, its callee to `urls[(i + 1) % N]`: with several nodes
/// every invite crosses nodes), then runs the plan `on_ready` returns.
pub fn run(
    urls: &[String],
    pairs: usize,
    dispatch: DispatchMode,
    on_ready: impl FnOnce() -> Plan,
) -> Result<SdkResult, String> {
    let connect = |uid: String, node: usize| {
        let mut config = ClientConfig::new(urls[node % urls.len()].clone(), format!("dev:{uid}"));
        config.dispatch = dispatch;
        Client::connect(config).map_err(|e| format!("connecting {uid}: {e}"))
    };
    let mut callees = Vec::new();
    let mut all = Vec::new();
    for i in 0..pairs {
        let stats = Arc::new(Mutex::new(Stats {
            counts: Counts::default(),
            latency: histogram(),
            callee_accepts: 0,
            callee_ends: 0,
            callee_failed: 0,
        }));
        let callee = connect(format!("e{i}"), i + 1)?;
        callee.set_invite_listener(callee_listener(stats.clone()));
        callees.push(callee);
        // Room for every token the pair can produce: the closed loop
        // waits on it, the open loop never reads it.
        let (finished_tx, finished_rx) = bounded(1 << 20);
        all.push(Arc::new(Pair {
            caller: connect(format!("c{i}"), i)?,
            callee_uid: format!("e{i}"),
            stats,
            finished_tx,
            finished_rx,
        }));
    }
    let plan = on_ready();
    let cpu_before = procstat::threads_cpu(&["wd-io", "wd-events"]).0;
    let mut lag = None;
    match plan.rate {
        None => {
            // Closed loop: each pair keeps `window` invites in flight.
            let threads: Vec<_> = all
                .iter()
                .map(|pair| {
                    let (pair, plan) = (pair.clone(), plan.clone());
                    std::thread::spawn(move || {
                        for _ in 0..plan.window {
                            issue(&pair, &plan, Instant::now());
                        }
                        while Instant::now() < plan.deadline {
                            let left = plan.deadline.saturating_duration_since(Instant::now());
                            if pair.finished_rx.recv_timeout(left).is_ok()
                                && Instant::now() < plan.deadline
                            {
                                issue(&pair, &plan, Instant::now());
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                let _ = t.join();
            }
        }
        Some(_) => {
            // Open loop on this thread: invite g is due at its intended
            // time whatever happened to the ones before it, and its
            // latency counts from then.
            procstat::precise_timers();
            let mut lags = histogram();
            let mut g: u64 = 0;
            loop {
                let at = plan.intended(g);
                if at >= plan.deadline {
                    break;
                }
                procstat::sleep_until(at);
                let _ =
                    lags.record(Instant::now().saturating_duration_since(at).as_micros() as u64);
                issue(&all[(g % pairs as u64) as usize], &plan, at);
                g += 1;
            }
            lag = Some(lags);
        }
    }
    // Drain: wait until every invite ended and every accept was
    // confirmed, or the drain time is up.
    let drain_end = plan.deadline + plan.drain;
    loop {
        let settled = all.iter().all(|p| {
            let s = lock(&p.stats);
            s.counts.issued == s.counts.accepted + s.counts.failed
                && s.callee_accepts == s.callee_ends
        });
        if settled || Instant::now() >= drain_end {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let sdk_cpu = procstat::threads_cpu(&["wd-io", "wd-events"]).0 - cpu_before;
    let mut counts = Counts::default();
    let mut latency = histogram();
    let mut lost = 0;
    for p in &all {
        let s = lock(&p.stats);
        lost += s.counts.issued - s.counts.accepted - s.counts.failed;
        lost += s.callee_accepts.saturating_sub(s.callee_ends);
        counts.merge(&s.counts);
        counts.failed += s.callee_failed;
        latency.add(&s.latency).map_err(|e| e.to_string())?;
    }
    drop(all);
    drop(callees);
    Ok(SdkResult {
        counts,
        lost,
        latency,
        lag,
        sdk_cpu,
    })
}
