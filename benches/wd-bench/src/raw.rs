//! The raw driver: a lean tokio client that speaks the wire protocol
//! itself, many pairs, pipelined, to find the server's own ceiling.
//!
//! One pair is a caller `c<i>` and a callee `e<i>`, each on its own
//! connection. A cycle: the caller sends `invite`; the callee answers
//! `ringing` then `accept` (as the SDK does when the app accepts at once);
//! the caller, on `accept`, records the latency and sends the `accepted`
//! outcome; the callee counts the confirmation.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::report::{histogram, Counts};
use crate::Plan;

pub type Ws = WebSocketStream<TcpStream>;

#[derive(Deserialize)]
struct In<'a> {
    #[serde(rename = "type", borrow)]
    ty: &'a str,
    #[serde(default, borrow)]
    device: Option<&'a str>,
    #[serde(default, borrow)]
    invite_id: Option<&'a str>,
    #[serde(default, borrow)]
    body: Option<Body<'a>>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    invite_id: Option<&'a str>,
    #[serde(default, borrow)]
    outcome: Option<OutcomeIn<'a>>,
}

#[derive(Deserialize)]
struct OutcomeIn<'a> {
    #[serde(rename = "type", borrow)]
    ty: &'a str,
    #[serde(default, borrow)]
    device: Option<&'a str>,
}

fn id_of(s: Option<&str>) -> Option<u64> {
    u64::from_str_radix(s?, 16).ok()
}

/// Opens a WebSocket to `addr` (from `source` if given), says `hello` with
/// `dev:<uid>` and returns the stream and the device id of the welcome.
pub async fn connect(
    addr: SocketAddr,
    uid: &str,
    source: Option<IpAddr>,
) -> Result<(Ws, String), String> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {e}"))?;
    if let Some(ip) = source {
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(|e| format!("bind {ip}: {e}"))?;
    }
    let tcp = socket
        .connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/"), tcp)
        .await
        .map_err(|e| format!("WebSocket handshake: {e}"))?;
    let hello = format!(r#"{{"type":"hello","protocol":1,"token":"dev:{uid}"}}"#);
    ws.send(Message::text(hello))
        .await
        .map_err(|e| format!("hello: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let msg: In<'_> =
                    serde_json::from_str(&text).map_err(|e| format!("welcome: {e}"))?;
                return match (msg.ty, msg.device) {
                    ("welcome", Some(device)) => Ok((ws, device.to_owned())),
                    _ => Err(format!("expected welcome, got {text}")),
                };
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("waiting for welcome: {e}")),
            None => return Err("closed before welcome".into()),
        }
    }
}

type Out = mpsc::UnboundedSender<Message>;

/// Writes what is queued, flushing once per batch.
async fn write_loop(mut sink: SplitSink<Ws, Message>, mut rx: mpsc::UnboundedReceiver<Message>) {
    while let Some(msg) = rx.recv().await {
        if sink.feed(msg).await.is_err() {
            return;
        }
        while let Ok(msg) = rx.try_recv() {
            if sink.feed(msg).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

fn writer(ws: Ws) -> (Out, SplitStream<Ws>) {
    let (sink, stream) = ws.split();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(write_loop(sink, rx));
    (tx, stream)
}

fn invite_frame(to: &str, id: u64) -> Message {
    Message::text(format!(
        r#"{{"type":"send","to":"{to}","body":{{"kind":"invite","invite_id":"{id:x}","conversation_id":"{id:x}","lifetime_ms":60000}}}}"#
    ))
}

/// What a caller reports at the end.
pub struct CallerResult {
    pub counts: Counts,
    pub latency: Histogram<u64>,
    pub lag: Histogram<u64>,
}

struct Pending {
    sent: Instant,
    rang: bool,
}

/// The caller of one pair. Closed loop (`cmds` is `None`): keeps
/// `plan.window` invites in flight until the deadline. Open loop: sends
/// invite `g` when the scheduler says so; its latency counts from its
/// intended time `start + g / rate`.
#[allow(clippy::too_many_arguments)]
async fn caller(
    ws: Ws,
    callee_uid: String,
    plan: Plan,
    mut cmds: Option<mpsc::UnboundedReceiver<u64>>,
    first_id: u64,
    id_step: u64,
    done: oneshot::Sender<()>,
) -> CallerResult {
    let (out, mut stream) = writer(ws);
    let mut counts = Counts::default();
    let mut latency = histogram();
    let mut lag = histogram();
    let mut pending: HashMap<u64, Pending> = HashMap::new();
    let mut finished: HashSet<u64> = HashSet::new();
    let mut next_id = first_id;
    let closed_loop = cmds.is_none();
    let send = |pending: &mut HashMap<u64, Pending>, id: u64, at: Instant| {
        pending.insert(
            id,
            Pending {
                sent: at,
                rang: false,
            },
        );
        let _ = out.send(invite_frame(&callee_uid, id));
    };
    if closed_loop {
        for _ in 0..plan.window {
            send(&mut pending, next_id, Instant::now());
            next_id += id_step;
            counts.issued += 1;
        }
    }
    let drain_end = tokio::time::Instant::from_std(plan.deadline + plan.drain);
    loop {
        let idle = if closed_loop {
            Instant::now() >= plan.deadline
        } else {
            cmds.is_none()
        };
        if pending.is_empty() && idle {
            break;
        }
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(drain_end) => break,
            cmd = async { cmds.as_mut().expect("open loop").recv().await }, if cmds.is_some() => {
                match cmd {
                    Some(id) => {
                        let intended = plan.intended(id);
                        let now = Instant::now();
                        let _ = lag.record(now.saturating_duration_since(intended).as_micros() as u64);
                        send(&mut pending, id, intended);
                        counts.issued += 1;
                    }
                    None => cmds = None,
                }
            }
            msg = stream.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    _ => break,
                };
                let Ok(msg) = serde_json::from_str::<In<'_>>(&text) else {
                    counts.unexpected += 1;
                    continue;
                };
                let now = Instant::now();
                match (msg.ty, msg.body) {
                    ("deliver", Some(body)) => {
                        let Some(id) = id_of(body.invite_id) else {
                            counts.unexpected += 1;
                            continue;
                        };
                        match body.kind {
                            "ringing" => match pending.get_mut(&id) {
                                Some(p) if !p.rang => {
                                    p.rang = true;
                                    counts.ringing += 1;
                                }
                                Some(_) => counts.doubled += 1,
                                None if finished.contains(&id) => counts.doubled += 1,
                                None => counts.unexpected += 1,
                            },
                            "accept" => match pending.remove(&id) {
                                Some(p) => {
                                    finished.insert(id);
                                    counts.accepted += 1;
                                    if p.sent >= plan.measure_from {
                                        let _ = latency.record(
                                            now.saturating_duration_since(p.sent).as_micros() as u64,
                                        );
                                    }
                                    if now >= plan.measure_from && now < plan.deadline {
                                        counts.accepted_in_window += 1;
                                    }
                                    let device = msg.device.unwrap_or_default();
                                    let _ = out.send(Message::text(format!(
                                        r#"{{"type":"send","to":"{callee_uid}","body":{{"kind":"outcome","invite_id":"{id:x}","outcome":{{"type":"accepted","device":"{device}"}}}}}}"#
                                    )));
                                    if closed_loop && now < plan.deadline {
                                        send(&mut pending, next_id, Instant::now());
                                        next_id += id_step;
                                        counts.issued += 1;
                                    }
                                }
                                None if finished.contains(&id) => counts.doubled += 1,
                                None => counts.unexpected += 1,
                            },
                            _ => counts.unexpected += 1,
                        }
                    }
                    ("invite_failed", _) => {
                        match id_of(msg.invite_id).and_then(|id| pending.remove(&id)) {
                            Some(_) => counts.failed += 1,
                            None => counts.unexpected += 1,
                        }
                    }
                    ("error", _) => counts.errors += 1,
                    _ => counts.unexpected += 1,
                }
            }
        }
    }
    let _ = done.send(());
    drop(out);
    CallerResult {
        counts,
        latency,
        lag,
    }
}

/// The callee of one pair: answers every invite with ringing and accept,
/// counts the confirmations. Ends when its caller is done and nothing is
/// awaiting confirmation, or at the drain deadline. Returns its counts
/// and how many accepts were never confirmed.
async fn callee(
    ws: Ws,
    caller_uid: String,
    plan: Plan,
    caller_done: oneshot::Receiver<()>,
) -> (Counts, u64) {
    let (out, mut stream) = writer(ws);
    let mut counts = Counts::default();
    let mut awaiting: HashSet<u64> = HashSet::new();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut caller_done = Some(caller_done);
    let drain_end = tokio::time::Instant::from_std(plan.deadline + plan.drain);
    loop {
        if caller_done.is_none() && awaiting.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(drain_end) => break,
            _ = async { caller_done.as_mut().expect("checked").await }, if caller_done.is_some() => {
                caller_done = None;
            }
            msg = stream.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    _ => break,
                };
                let Ok(msg) = serde_json::from_str::<In<'_>>(&text) else {
                    counts.unexpected += 1;
                    continue;
                };
                match (msg.ty, msg.body) {
                    ("deliver", Some(body)) => {
                        let Some(id) = id_of(body.invite_id) else {
                            counts.unexpected += 1;
                            continue;
                        };
                        match body.kind {
                            "invite" => {
                                if !seen.insert(id) {
                                    counts.doubled += 1;
                                    continue;
                                }
                                awaiting.insert(id);
                                let device = msg.device.unwrap_or_default();
                                let _ = out.send(Message::text(format!(
                                    r#"{{"type":"send","to":"{caller_uid}","device":"{device}","body":{{"kind":"ringing","invite_id":"{id:x}"}}}}"#
                                )));
                                let _ = out.send(Message::text(format!(
                                    r#"{{"type":"send","to":"{caller_uid}","device":"{device}","body":{{"kind":"accept","invite_id":"{id:x}"}}}}"#
                                )));
                            }
                            "outcome" => {
                                let accepted = body.outcome.is_some_and(|o| o.ty == "accepted" && o.device.is_some());
                                if !awaiting.remove(&id) {
                                    if seen.contains(&id) {
                                        counts.doubled += 1;
                                    } else {
                                        counts.unexpected += 1;
                                    }
                                } else if accepted {
                                    counts.confirmed += 1;
                                } else {
                                    counts.failed += 1;
                                }
                            }
                            _ => counts.unexpected += 1,
                        }
                    }
                    ("error", _) => counts.errors += 1,
                    _ => counts.unexpected += 1,
                }
            }
        }
    }
    drop(out);
    (counts, awaiting.len() as u64)
}

/// What the raw driver measured.
pub struct RawResult {
    pub counts: Counts,
    pub lost: u64,
    pub latency: Histogram<u64>,
    pub lag: Option<Histogram<u64>>,
}

/// Connects every pair (pair i's caller to `addrs[i % N]`, its callee to
/// `addrs[(i + 1) % N]`: with several nodes every invite crosses nodes),
/// then hands control to `on_ready` (which snapshots
/// the server's CPU and returns the plan: the run starts then), runs the
/// cycles and merges what every pair saw.
pub fn run(
    addrs: &[SocketAddr],
    pairs: usize,
    threads: usize,
    on_ready: impl FnOnce() -> Plan,
) -> Result<RawResult, String> {
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("tokio runtime: {e}"))?;
    let n = addrs.len();
    runtime.block_on(async move {
        let mut conns = Vec::with_capacity(pairs);
        for i in 0..pairs {
            let (cws, _) = connect(addrs[i % n], &format!("c{i}"), None).await?;
            let (ews, _) = connect(addrs[(i + 1) % n], &format!("e{i}"), None).await?;
            conns.push((cws, ews));
        }
        let plan = on_ready();
        let mut cmd_txs = Vec::new();
        let mut callers = Vec::new();
        let mut callees = Vec::new();
        for (i, (cws, ews)) in conns.into_iter().enumerate() {
            let (done_tx, done_rx) = oneshot::channel();
            let cmds = if plan.rate.is_some() {
                let (tx, rx) = mpsc::unbounded_channel();
                cmd_txs.push(tx);
                Some(rx)
            } else {
                None
            };
            callers.push(tokio::spawn(caller(
                cws,
                format!("e{i}"),
                plan.clone(),
                cmds,
                i as u64,
                pairs as u64,
                done_tx,
            )));
            callees.push(tokio::spawn(callee(
                ews,
                format!("c{i}"),
                plan.clone(),
                done_rx,
            )));
        }
        if let Some(rate) = plan.rate {
            // The open-loop schedule runs on its own thread with precise
            // timers: invite g is due at start + g / rate, whatever
            // happened to the ones before it.
            let plan = plan.clone();
            std::thread::Builder::new()
                .name("wd-bench-sched".into())
                .spawn(move || {
                    crate::procstat::precise_timers();
                    let mut g: u64 = 0;
                    loop {
                        let at = plan.intended(g);
                        if at >= plan.deadline {
                            break;
                        }
                        crate::procstat::sleep_until(at);
                        let _ = cmd_txs[(g % cmd_txs.len() as u64) as usize].send(g);
                        g += 1;
                    }
                    let _ = rate;
                })
                .map_err(|e| format!("scheduler thread: {e}"))?;
        }
        let mut counts = Counts::default();
        let mut latency = histogram();
        let mut lag = histogram();
        let mut lost = 0;
        for c in callers {
            let r = c.await.map_err(|e| format!("caller task: {e}"))?;
            lost += r.counts.issued - r.counts.accepted - r.counts.failed;
            counts.merge(&r.counts);
            latency.add(&r.latency).map_err(|e| e.to_string())?;
            lag.add(&r.lag).map_err(|e| e.to_string())?;
        }
        for c in callees {
            let (r, unconfirmed) = c.await.map_err(|e| format!("callee task: {e}"))?;
            lost += unconfirmed;
            counts.merge(&r);
        }
        Ok(RawResult {
            counts,
            lost,
            latency,
            lag: plan.rate.map(|_| lag),
        })
    })
}
