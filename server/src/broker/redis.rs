//! [`RedisRouter`]: presence in Redis hashes, frames over one pub/sub
//! channel per node, liveness by a heartbeat key with a TTL.

use super::scripts;
use crate::authz::{Fact, Question, CONVERSATION_IDLE};
use crate::router::{Frame, MemoryRouter, Origin, Outbox, RouteError, Routed, Router, Then};
use futures_util::stream::FuturesOrdered;
use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubStream};
use redis::{AsyncConnectionConfig, RedisResult, Script};
use serde::Deserialize;
use std::borrow::Cow;
use std::io;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use wd_protocol::{encode, ServerMessage};

/// How often a node refreshes its heartbeat key and looks for dead nodes.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// How long a node's heartbeat key lives: a node that stopped refreshing
/// it (killed, or cut off from Redis) counts as dead after this long.
pub const NODE_TTL: Duration = Duration::from_secs(3);

/// Bound of one Redis command; past it the command fails (typed error to
/// the client) rather than hanging a connection.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long start-up waits for Redis, and for a previous instance's
/// heartbeat key to expire.
const STARTUP_WAIT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Frames submitted and not yet sent to Redis, across all connections of
/// the node. A connection that finds the queue full waits (and stops
/// reading its socket) until there is room.
const QUEUE: usize = 8192;

/// Most frames sent to Redis as one pipeline.
const BATCH: usize = 512;

/// Most batches sent to Redis and not yet answered. Redis runs the
/// commands of one connection in the order they arrive, so a batch need
/// not wait for the one before it to be answered: a frame that arrives
/// while a batch is in flight (an accept right behind its ringing) leaves
/// at once instead of one round trip later.
const IN_FLIGHT: usize = 4;

/// Routes through Redis. Create it with [`RedisRouter::connect`] and pass
/// it to [`Server::bind_with_router`](crate::Server::bind_with_router).
pub struct RedisRouter {
    inner: Arc<Inner>,
    supervisor: AbortHandle,
    sender: AbortHandle,
}

impl std::fmt::Debug for RedisRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRouter")
            .field("node", &self.inner.node)
            .field("connected", &self.inner.connected())
            .finish()
    }
}

impl Drop for RedisRouter {
    fn drop(&mut self) {
        self.supervisor.abort();
        self.sender.abort();
    }
}

struct Scripts {
    deliver_one: Script,
    deliver_batch: Script,
    online: Script,
    live_devices: Script,
    heartbeat: Script,
    announce: Script,
    reap_own: Script,
    reap_dead: Script,
}

struct Inner {
    node: String,
    instance: String,
    client: redis::Client,
    local: MemoryRouter,
    /// The command connection while the broker is reachable.
    conn: RwLock<Option<MultiplexedConnection>>,
    /// Serialises presence changes with a re-announce.
    presence: tokio::sync::Mutex<()>,
    scripts: Scripts,
    /// Frames waiting to be sent, in submission order.
    queue: mpsc::Sender<Job>,
}

/// One submitted frame.
struct Job {
    to: String,
    device: Option<String>,
    frame: Frame,
    origin: Option<Origin>,
    then: Then,
}

/// How one frame of a batch is routed.
enum Plan {
    /// A device of this node: handed over in-process.
    Local,
    /// Through the batch script, whose reply has its count at `index`;
    /// `local` if devices of this node may get it too (a frame to a
    /// user), `invite` if it is an invite (fails as a whole).
    Remote {
        index: usize,
        local: bool,
        invite: bool,
    },
}

/// A batch sent to Redis (or that could not be): its frames, what each
/// one's result is made of, and Redis's answer.
struct Sent {
    jobs: Vec<Job>,
    /// What each frame's result is made of, Redis's answer, and the
    /// connection it came on; `None` when there was no connection.
    answer: Option<Answer>,
}

/// A sent batch's plans (one per frame), Redis's delivery counts and the
/// connection they came on.
type Answer = (Vec<Plan>, RedisResult<Vec<usize>>, MultiplexedConnection);

fn presence_key(uid: &str) -> String {
    format!("wd:presence:{uid}")
}

fn node_key(node: &str) -> String {
    format!("wd:node:{node}")
}

fn members_key(node: &str) -> String {
    format!("wd:members:{node}")
}

fn pending_key(node: &str) -> String {
    format!("wd:pending:{node}")
}

fn channel(node: &str) -> String {
    format!("wd:route:{node}")
}

/// The invites with id `invite_id`: a hash caller → `"<invitee>
/// <conversation> <expiry, unix ms>"`, expiring with the last invite
/// recorded (ids are chosen by callers, so several may share one; each
/// field carries its own expiry).
fn invite_key(invite_id: &str) -> String {
    format!("wd:invite:{invite_id}")
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The members (uids) of a conversation, expiring when it is idle.
fn conversation_key(conversation: &str) -> String {
    format!("wd:conv:{conversation}")
}

/// Who relayed a frame another node published (its `from` and `device`),
/// so that it gets only its fair share of each queue here too.
fn origin_of(frame: &str) -> Option<Origin> {
    let p = serde_json::from_str::<Peek<'_>>(frame).ok()?;
    if p.from.is_empty() {
        return None;
    }
    Some(Origin {
        key: std::sync::Arc::from(format!("{} {}", p.from, p.device)),
        notify: None,
    })
}

/// Appends one frame to a channel message: `"<to>\n<device or
/// empty>\n<length>\n<frame>"`, the frame's length in bytes, so that a
/// message can carry several frames whatever their text.
fn push_record(buf: &mut Vec<u8>, to: &str, device: Option<&str>, frame: &str) {
    buf.extend_from_slice(to.as_bytes());
    buf.push(b'\n');
    buf.extend_from_slice(device.unwrap_or("").as_bytes());
    buf.push(b'\n');
    buf.extend_from_slice(frame.len().to_string().as_bytes());
    buf.push(b'\n');
    buf.extend_from_slice(frame.as_bytes());
}

/// Splits a channel message into its frames: (to, device, frame).
fn records(mut payload: &[u8]) -> impl Iterator<Item = (&str, Option<&str>, &str)> {
    std::iter::from_fn(move || {
        let mut field = || {
            let nl = payload.iter().position(|&b| b == b'\n')?;
            let (head, rest) = payload.split_at(nl);
            payload = &rest[1..];
            std::str::from_utf8(head).ok()
        };
        let to = field()?;
        let device = field()?;
        let len: usize = field()?.parse().ok()?;
        if len > payload.len() {
            return None;
        }
        let (frame, rest) = payload.split_at(len);
        payload = rest;
        let frame = std::str::from_utf8(frame).ok()?;
        Some((to, (!device.is_empty()).then_some(device), frame))
    })
}

/// The node a device id (`"<node>.<counter>"`) belongs to.
fn node_of(device: &str) -> Option<&str> {
    device.rsplit_once('.').map(|(node, _)| node)
}

/// What the router needs to know about a frame: invites are recorded as
/// pending (for `caller_gone` if this node dies), outcomes and
/// `caller_gone` end that record.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(default, borrow)]
    from: Cow<'a, str>,
    #[serde(default, borrow)]
    device: Cow<'a, str>,
    #[serde(default, borrow)]
    invite_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    body: Option<PeekBody<'a>>,
}

/// Borrowed wherever the text has no escapes, so that looking at a frame
/// allocates nothing.
#[derive(Deserialize)]
struct PeekBody<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    invite_id: Option<Cow<'a, str>>,
}

enum PendingOp {
    None,
    Add(String),
    Del(String),
}

fn pending_op(to: &str, frame: &str) -> PendingOp {
    if !frame.contains("\"invite_id\"") {
        return PendingOp::None;
    }
    let Ok(p) = serde_json::from_str::<Peek<'_>>(frame) else {
        return PendingOp::None;
    };
    let entry = |id: &str| format!("{} {} {} {}", p.from, p.device, to, id);
    match (&*p.ty, &p.body, &p.invite_id) {
        ("deliver", Some(b), _) => match (&*b.kind, &b.invite_id) {
            ("invite", Some(id)) => PendingOp::Add(entry(id)),
            ("outcome", Some(id)) => PendingOp::Del(entry(id)),
            _ => PendingOp::None,
        },
        ("caller_gone", _, Some(id)) => PendingOp::Del(entry(id)),
        _ => PendingOp::None,
    }
}

/// A routed `query`: who asked, from which device, about which invite.
#[derive(Debug, PartialEq)]
struct Query {
    from: String,
    device: String,
    invite_id: String,
}

/// The `query` a routed frame carries, if it is one.
fn query_of(frame: &str) -> Option<Query> {
    if !frame.contains("\"query\"") {
        return None;
    }
    let p = serde_json::from_str::<Peek<'_>>(frame).ok()?;
    let body = p.body?;
    if p.ty != "deliver" || body.kind != "query" {
        return None;
    }
    Some(Query {
        from: p.from.into_owned(),
        device: p.device.into_owned(),
        invite_id: body.invite_id?.into_owned(),
    })
}

fn broker_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("broker: {e}"))
}

impl RedisRouter {
    /// Connects to the Redis at `url` (`redis://HOST:PORT[/DB]`) as node
    /// `node`, which must be unique among the nodes sharing that Redis.
    ///
    /// Waits up to a few seconds for Redis, and for the heartbeat key of a
    /// previous instance of the same node to expire (a node restarted right
    /// after a crash); then ends that instance's pending invites
    /// (`caller_gone`), announces this node and subscribes to its channel.
    /// Must be called within a tokio runtime; the router keeps a task there
    /// that refreshes the heartbeat, receives frames from other nodes,
    /// reaps dead nodes and reconnects after a Redis outage.
    pub async fn connect(url: &str, node: &str) -> io::Result<RedisRouter> {
        let client = redis::Client::open(url).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("broker {url}: {e}"))
        })?;
        let mut nonce = [0u8; 8];
        for (i, b) in std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_le_bytes()
            .iter()
            .take(8)
            .enumerate()
        {
            nonce[i] = *b;
        }
        let instance = format!(
            "{}-{}-{:x}",
            node,
            std::process::id(),
            u64::from_le_bytes(nonce)
        );
        let (queue, jobs) = mpsc::channel(QUEUE);
        let inner = Arc::new(Inner {
            node: node.to_owned(),
            instance,
            client,
            local: MemoryRouter::new(),
            conn: RwLock::new(None),
            presence: tokio::sync::Mutex::new(()),
            scripts: Scripts {
                deliver_one: Script::new(&scripts::deliver_one()),
                deliver_batch: Script::new(&scripts::deliver_batch()),
                online: Script::new(scripts::ONLINE),
                live_devices: Script::new(scripts::LIVE_DEVICES),
                heartbeat: Script::new(scripts::HEARTBEAT),
                announce: Script::new(&scripts::announce()),
                reap_own: Script::new(&scripts::reap_own()),
                reap_dead: Script::new(&scripts::reap_dead()),
            },
            queue,
        });
        let deadline = tokio::time::Instant::now() + STARTUP_WAIT;
        let mut conn = loop {
            match inner.open().await {
                Ok(conn) => break conn,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::info!(error = %e, "waiting for the broker");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(broker_error(format!("cannot reach {url}: {e}"))),
            }
        };
        // Take the node name; a previous instance's key expires within
        // NODE_TTL of its death.
        let name_deadline = tokio::time::Instant::now() + NODE_TTL + HEARTBEAT;
        loop {
            let taken: Option<String> = redis::cmd("SET")
                .arg(node_key(node))
                .arg(&inner.instance)
                .arg("NX")
                .arg("PX")
                .arg(NODE_TTL.as_millis() as u64)
                .query_async(&mut conn)
                .await
                .map_err(broker_error)?;
            if taken.is_some() {
                break;
            }
            if tokio::time::Instant::now() >= name_deadline {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("node name {node:?} is in use by a live node on this broker: give every node its own --node"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let leftovers: Vec<String> = inner
            .scripts
            .reap_own
            .arg(node)
            .invoke_async(&mut conn)
            .await
            .map_err(broker_error)?;
        let stream = inner.establish().await.map_err(broker_error)?;
        if !leftovers.is_empty() {
            tracing::info!(
                invites = leftovers.len(),
                "ending the invites a previous instance of this node left pending"
            );
            inner.clone().callers_gone(leftovers);
        }
        tracing::info!(node, broker = url, "routing through the broker");
        let supervisor = tokio::spawn(inner.clone().supervise(stream)).abort_handle();
        let sender = tokio::spawn(inner.clone().send_queued(jobs)).abort_handle();
        Ok(RedisRouter {
            inner,
            supervisor,
            sender,
        })
    }

    /// Whether the broker is reachable right now.
    pub fn connected(&self) -> bool {
        self.inner.connected()
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }
}

impl Inner {
    fn connected(&self) -> bool {
        self.conn
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    fn conn(&self) -> Option<MultiplexedConnection> {
        self.conn.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_conn(&self, conn: Option<MultiplexedConnection>) {
        *self.conn.write().unwrap_or_else(|e| e.into_inner()) = conn;
    }

    async fn open(&self) -> RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// Connects, subscribes to this node's channel and (re-)announces every
    /// local device; from then on routing uses the new connection.
    async fn establish(&self) -> RedisResult<PubSubStream> {
        let mut conn = self.open().await?;
        let mut pubsub = tokio::time::timeout(CONNECT_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "subscribing timed out"))??;
        tokio::time::timeout(RESPONSE_TIMEOUT, pubsub.subscribe(channel(&self.node)))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "subscribing timed out"))??;
        self.load_scripts(&mut conn).await?;
        let _guard = self.presence.lock().await;
        self.announce(&mut conn).await?;
        self.set_conn(Some(conn));
        Ok(pubsub.into_on_message())
    }

    /// Takes the heartbeat key and replaces this node's presence entries
    /// with its current devices. Call with the presence lock held.
    async fn announce(&self, conn: &mut MultiplexedConnection) -> RedisResult<()> {
        let devices = self.local.devices();
        let mut inv = self.scripts.announce.prepare_invoke();
        inv.arg(&self.node)
            .arg(&self.instance)
            .arg(NODE_TTL.as_millis() as u64);
        for (uid, device) in &devices {
            inv.arg(format!("{uid} {device}"));
        }
        let _: i64 = inv.invoke_async(conn).await?;
        tracing::info!(devices = devices.len(), "presence announced to the broker");
        Ok(())
    }

    /// Serves sessions with Redis forever, reconnecting after failures.
    async fn supervise(self: Arc<Self>, first: PubSubStream) {
        let mut stream = Some(first);
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Some(s) = stream.take() {
                backoff = Duration::from_millis(50);
                let e = self.session(s).await;
                tracing::warn!(error = %e, "lost the broker; routing to other nodes fails until it is back");
            }
            self.set_conn(None);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match self.establish().await {
                Ok(s) => {
                    tracing::info!("reconnected to the broker; presence re-announced");
                    stream = Some(s);
                }
                Err(e) => tracing::debug!(error = %e, "broker still unreachable"),
            }
        }
    }

    /// Receives frames for local devices and keeps the heartbeat until the
    /// connection to Redis fails.
    async fn session(self: &Arc<Self>, mut stream: PubSubStream) -> String {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => self.on_route(msg.get_payload_bytes()),
                    None => return "subscription closed".to_owned(),
                },
                _ = tick.tick() => {
                    if let Err(e) = self.beat().await {
                        return e.to_string();
                    }
                }
            }
        }
    }

    /// Refreshes the heartbeat and reaps dead nodes.
    async fn beat(self: &Arc<Self>) -> RedisResult<()> {
        let Some(mut conn) = self.conn() else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "no connection").into());
        };
        let alive: i64 = self
            .scripts
            .heartbeat
            .key(node_key(&self.node))
            .arg(&self.instance)
            .arg(NODE_TTL.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        match alive {
            1 => {}
            0 => {
                tracing::warn!("heartbeat key had expired (other nodes may have taken this node for dead): announcing again");
                let _guard = self.presence.lock().await;
                self.announce(&mut conn).await?;
            }
            _ => tracing::error!(
                node = %self.node,
                "another wd-signal instance uses this node name on the broker: give every node its own --node"
            ),
        }
        let gone: Vec<String> = self
            .scripts
            .reap_dead
            .arg(&self.node)
            .invoke_async(&mut conn)
            .await?;
        if !gone.is_empty() {
            tracing::info!(
                invites = gone.len(),
                "a node died: telling the invitees of its pending invites that the caller is gone"
            );
            self.clone().callers_gone(gone);
        }
        Ok(())
    }

    /// Sends `caller_gone` for pending-invite entries of a dead node.
    fn callers_gone(self: Arc<Self>, entries: Vec<String>) {
        tokio::spawn(async move {
            for entry in entries {
                let mut parts = entry.splitn(4, ' ');
                let (Some(from), Some(device), Some(to), Some(invite_id)) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let frame = Frame::from(encode(&ServerMessage::CallerGone {
                    from: from.to_owned(),
                    device: device.to_owned(),
                    invite_id: invite_id.to_owned(),
                }));
                if let Err(e) = self.deliver(to, None, &frame).await {
                    tracing::warn!(error = %e, to, "could not send caller_gone");
                }
            }
        });
    }

    /// Frames another node published for devices of this node.
    ///
    /// A `query` for one device that is no longer here is answered
    /// `undeliverable`, as a single node answers it: the sending node saw
    /// this node subscribed and counted the frame delivered, so only this
    /// node can tell that the device is gone.
    fn on_route(self: &Arc<Self>, payload: &[u8]) {
        for (to, device, frame) in records(payload) {
            let origin = origin_of(frame);
            let taken =
                self.local
                    .push(to, device, &Frame::from(frame.to_owned()), origin.as_ref());
            if let (0, Some(device)) = (taken, device) {
                if let Some(query) = query_of(frame) {
                    self.clone().bounce(to, device, query);
                }
            }
        }
    }

    /// Tells the sender of `query` that `device` of `to` is not connected.
    fn bounce(self: Arc<Self>, to: &str, device: &str, query: Query) {
        let frame = Frame::from(encode(&ServerMessage::Undeliverable {
            to: to.to_owned(),
            device: device.to_owned(),
            invite_id: Some(query.invite_id),
        }));
        tokio::spawn(async move {
            if let Err(e) = self.deliver(&query.from, Some(&query.device), &frame).await {
                tracing::warn!(error = %e, to = %query.from, "could not answer a query undeliverable");
            }
        });
    }

    /// Sends submitted frames to Redis: whatever is queued goes as one
    /// pipeline (one round trip), with up to [`IN_FLIGHT`] batches sent
    /// before the first is answered; the results are handed back in
    /// submission order.
    async fn send_queued(self: Arc<Self>, mut rx: mpsc::Receiver<Job>) {
        let mut in_flight = FuturesOrdered::new();
        let mut open = true;
        while open || !in_flight.is_empty() {
            let mut jobs = Vec::new();
            tokio::select! {
                biased;
                Some(sent) = in_flight.next(), if !in_flight.is_empty() => self.complete(sent).await,
                n = rx.recv_many(&mut jobs, BATCH), if open && in_flight.len() < IN_FLIGHT => {
                    if n == 0 {
                        open = false;
                    } else {
                        // Futures in a `FuturesOrdered` are first polled in
                        // the order they are pushed, so the batches reach
                        // the connection's queue, and Redis, in order.
                        in_flight.push_back(self.clone().send_batch(jobs));
                    }
                }
            }
        }
    }

    /// The result of a frame that could not go through Redis: an invite
    /// fails as a whole; anything else still reaches the devices of this
    /// node.
    fn failed(&self, job: &Job, invite: bool, message: String) -> Result<usize, RouteError> {
        let local = if invite {
            0
        } else {
            self.local.push(
                &job.to,
                job.device.as_deref(),
                &job.frame,
                job.origin.as_ref(),
            )
        };
        Err(RouteError { local, message })
    }

    /// Routes one batch of frames with one run of the batch script (one
    /// round trip): Redis publishes all of the batch's frames for one node
    /// as one message (one wake-up of that node), in submission order.
    /// The answer is handed back to [`Inner::complete`], which runs
    /// the frames' callbacks.
    async fn send_batch(self: Arc<Self>, jobs: Vec<Job>) -> Sent {
        let Some(mut conn) = self.conn() else {
            return Sent { jobs, answer: None };
        };
        // A batch of one remote frame (the usual case on a quiet node) runs
        // the one-frame script: same arguments and reply, less work.
        let remote_frames = jobs
            .iter()
            .filter(|job| job.device.as_deref().and_then(node_of) != Some(self.node.as_str()))
            .count();
        let script = if remote_frames == 1 {
            &self.scripts.deliver_one
        } else {
            &self.scripts.deliver_batch
        };
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash())
            .arg(1)
            .arg(pending_key(&self.node))
            .arg(&self.node);
        let mut remote = 0usize;
        let mut plans = Vec::with_capacity(jobs.len());
        let mut record = Vec::new();
        // The same batch as one message per node, in case every frame is
        // for one device of another node and changes no pending record
        // (ringing, accept, conversation messages): then plain PUBLISHes
        // do, without running the script.
        let mut publish_only = true;
        let mut groups: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut group_of: Vec<usize> = Vec::new();
        for job in jobs.iter() {
            let device = job.device.as_deref();
            let node = device.and_then(node_of);
            if node == Some(self.node.as_str()) {
                plans.push(Plan::Local);
                continue;
            }
            let op = pending_op(&job.to, job.frame.as_str());
            record.clear();
            push_record(&mut record, &job.to, device, job.frame.as_str());
            let (op, entry) = match &op {
                PendingOp::None => ("", ""),
                PendingOp::Add(e) => ("add", e.as_str()),
                PendingOp::Del(e) => ("del", e.as_str()),
            };
            match node {
                Some(node) if publish_only && op.is_empty() => {
                    let g = match groups.iter().position(|(n, _)| *n == node) {
                        Some(g) => g,
                        None => {
                            groups.push((node, Vec::new()));
                            groups.len() - 1
                        }
                    };
                    groups[g].1.extend_from_slice(&record);
                    group_of.push(g);
                }
                _ => publish_only = false,
            }
            cmd.arg(&job.to)
                .arg(device.unwrap_or(""))
                .arg(node.unwrap_or(""))
                .arg(&record[..])
                .arg(op)
                .arg(entry);
            plans.push(Plan::Remote {
                index: remote,
                local: node.is_none(),
                invite: op == "add",
            });
            remote += 1;
        }
        let counts: RedisResult<Vec<usize>> = if remote == 0 {
            Ok(Vec::new())
        } else if publish_only {
            let mut pipe = redis::pipe();
            for (node, message) in &groups {
                pipe.cmd("PUBLISH").arg(channel(node)).arg(&message[..]);
            }
            // A dead node's subscription ended with its connection, so
            // PUBLISH counts 0 for it.
            let subscribers: RedisResult<Vec<usize>> = pipe.query_async(&mut conn).await;
            subscribers.map(|per_group| {
                group_of
                    .iter()
                    .map(|&g| per_group.get(g).copied().unwrap_or(0).min(1))
                    .collect()
            })
        } else {
            cmd.query_async(&mut conn).await
        };
        Sent {
            jobs,
            answer: Some((plans, counts, conn)),
        }
    }

    /// Hands each frame of a batch Redis answered (or that could not be
    /// sent) its result, in submission order.
    async fn complete(&self, sent: Sent) {
        let Sent { jobs, answer } = sent;
        let Some((plans, counts, mut conn)) = answer else {
            for job in jobs {
                let invite = matches!(pending_op(&job.to, job.frame.as_str()), PendingOp::Add(_));
                let result = self.failed(&job, invite, "not connected".to_owned());
                (job.then)(result);
            }
            return;
        };
        let noscript = matches!(&counts, Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript));
        for (job, plan) in jobs.into_iter().zip(plans) {
            let local = |job: &Job| {
                self.local.push(
                    &job.to,
                    job.device.as_deref(),
                    &job.frame,
                    job.origin.as_ref(),
                )
            };
            let result = match plan {
                Plan::Local => Ok(local(&job)),
                Plan::Remote {
                    index,
                    local: also_local,
                    invite,
                } => match &counts {
                    Ok(counts) => {
                        let n = counts.get(index).copied().unwrap_or(0);
                        Ok(if also_local { n + local(&job) } else { n })
                    }
                    Err(e) => self.failed(&job, invite, e.to_string()),
                },
            };
            (job.then)(result);
        }
        if noscript {
            // Redis lost its scripts (SCRIPT FLUSH): load again for the
            // next batch; the frames of this one failed typed.
            if let Err(e) = self.load_scripts(&mut conn).await {
                tracing::warn!(error = %e, "could not load the deliver script");
            }
        }
    }

    /// Loads the scripts batches call by hash (EVALSHA).
    async fn load_scripts(&self, conn: &mut MultiplexedConnection) -> RedisResult<()> {
        let mut pipe = redis::pipe();
        for script in [scripts::deliver_one(), scripts::deliver_batch()] {
            pipe.cmd("SCRIPT").arg("LOAD").arg(script);
        }
        let _: Vec<String> = pipe.query_async(conn).await?;
        Ok(())
    }

    async fn deliver(
        &self,
        to: &str,
        device: Option<&str>,
        frame: &Frame,
    ) -> Result<usize, RouteError> {
        let op = pending_op(to, frame.as_str());
        let invite = matches!(op, PendingOp::Add(_));
        let fail = |message: String| {
            // An invite fails as a whole; anything else still reaches the
            // devices of this node.
            let local = if invite {
                0
            } else {
                self.local.push(to, device, frame, None)
            };
            Err(RouteError { local, message })
        };
        let Some(mut conn) = self.conn() else {
            return fail("not connected".to_owned());
        };
        let mut payload = Vec::new();
        push_record(&mut payload, to, device, frame.as_str());
        // One device of another node (ringing, accept, conversation
        // messages): publish straight to its node. A dead node's
        // subscription ended with its connection, so PUBLISH counts 0.
        if let (PendingOp::None, Some(node)) = (&op, device.and_then(node_of)) {
            let subscribers: RedisResult<usize> = redis::cmd("PUBLISH")
                .arg(channel(node))
                .arg(payload)
                .query_async(&mut conn)
                .await;
            return match subscribers {
                Ok(n) => Ok(n.min(1)),
                Err(e) => fail(e.to_string()),
            };
        }
        let (op, entry) = match &op {
            PendingOp::None => ("", ""),
            PendingOp::Add(e) => ("add", e.as_str()),
            PendingOp::Del(e) => ("del", e.as_str()),
        };
        let remote: RedisResult<Vec<usize>> = self
            .scripts
            .deliver_one
            .key(pending_key(&self.node))
            .arg(&self.node)
            .arg(to)
            .arg(device.unwrap_or(""))
            .arg(
                device
                    .and_then(node_of)
                    .filter(|node| *node != self.node)
                    .unwrap_or(""),
            )
            .arg(payload)
            .arg(op)
            .arg(entry)
            .invoke_async(&mut conn)
            .await;
        let remote = remote.map(|counts| counts.first().copied().unwrap_or(0));
        match remote {
            Ok(remote) => Ok(remote + self.local.push(to, device, frame, None)),
            Err(e) => fail(e.to_string()),
        }
    }
}

impl Router for RedisRouter {
    fn register<'a>(
        &'a self,
        uid: &'a str,
        device: &'a str,
        outbox: Outbox,
        welcome: Frame,
    ) -> Routed<'a, ()> {
        let inner = &self.inner;
        Routed::pending(async move {
            let _guard = inner.presence.lock().await;
            if let Some(mut conn) = inner.conn() {
                let r: RedisResult<()> = redis::pipe()
                    .atomic()
                    .hset(presence_key(uid), device, &inner.node)
                    .ignore()
                    .sadd(members_key(&inner.node), format!("{uid} {device}"))
                    .ignore()
                    .query_async(&mut conn)
                    .await;
                if let Err(e) = r {
                    tracing::warn!(error = %e, uid, device, "could not announce a device; it is announced when the broker is back");
                }
            }
            // Visible to the other nodes first, then welcomed: whoever
            // learns of the device from its welcome can reach it.
            inner.local.insert(uid, device, outbox, welcome);
        })
    }

    fn unregister<'a>(&'a self, uid: &'a str, device: &'a str) -> Routed<'a, ()> {
        let inner = &self.inner;
        Routed::pending(async move {
            let _guard = inner.presence.lock().await;
            inner.local.remove(uid, device);
            if let Some(mut conn) = inner.conn() {
                let r: RedisResult<()> = redis::pipe()
                    .atomic()
                    .hdel(presence_key(uid), device)
                    .ignore()
                    .srem(members_key(&inner.node), format!("{uid} {device}"))
                    .ignore()
                    .query_async(&mut conn)
                    .await;
                if let Err(e) = r {
                    tracing::warn!(error = %e, uid, device, "could not withdraw a device; the next announce does");
                }
            }
        })
    }

    fn deliver<'a>(
        &'a self,
        to: &'a str,
        device: Option<&'a str>,
        frame: &'a Frame,
    ) -> Routed<'a, Result<usize, RouteError>> {
        // A device of this node: no need to ask Redis.
        if let Some(d) = device {
            if node_of(d) == Some(self.inner.node.as_str()) {
                return Routed::ready(Ok(self.inner.local.push(to, device, frame, None)));
            }
        }
        Routed::pending(self.inner.deliver(to, device, frame))
    }

    fn submit<'a>(
        &'a self,
        to: String,
        device: Option<String>,
        frame: Frame,
        origin: Option<Origin>,
        then: Then,
    ) -> Routed<'a, ()> {
        let job = Job {
            to,
            device,
            frame,
            origin,
            then,
        };
        match self.inner.queue.try_send(job) {
            Ok(()) => Routed::ready(()),
            Err(mpsc::error::TrySendError::Full(job)) => Routed::pending(async move {
                let _ = self.inner.queue.send(job).await;
            }),
            // The sending task is gone only when the router is dropped.
            Err(mpsc::error::TrySendError::Closed(_)) => Routed::ready(()),
        }
    }

    fn share(&self, facts: Vec<Fact>) -> Routed<'_, Result<(), RouteError>> {
        let inner = &self.inner;
        Routed::pending(async move {
            let Some(mut conn) = inner.conn() else {
                return Err(RouteError {
                    local: 0,
                    message: "not connected".to_owned(),
                });
            };
            let mut pipe = redis::pipe();
            for fact in &facts {
                match fact {
                    Fact::Invite {
                        caller,
                        invite_id,
                        invitee,
                        conversation,
                        ttl,
                    } => {
                        let ttl_ms = ttl.as_millis().max(1) as u64;
                        let key = invite_key(invite_id);
                        pipe.cmd("HSET")
                            .arg(&key)
                            .arg(caller)
                            .arg(format!("{invitee} {conversation} {}", unix_ms() + ttl_ms))
                            .ignore();
                        pipe.cmd("PEXPIRE").arg(&key).arg(ttl_ms).ignore();
                    }
                    Fact::Members {
                        conversation,
                        members,
                    } => {
                        let key = conversation_key(conversation);
                        pipe.cmd("SADD").arg(&key).arg(members).ignore();
                        pipe.cmd("PEXPIRE")
                            .arg(&key)
                            .arg(CONVERSATION_IDLE.as_millis() as u64)
                            .ignore();
                    }
                }
            }
            let r: RedisResult<()> = pipe.query_async(&mut conn).await;
            r.map_err(|e| RouteError {
                local: 0,
                message: e.to_string(),
            })
        })
    }

    fn has_other_nodes(&self) -> bool {
        true
    }

    fn fetch(&self, questions: Vec<Question>) -> Routed<'_, Result<Vec<Fact>, RouteError>> {
        let inner = &self.inner;
        Routed::pending(async move {
            let fail = |message: String| RouteError { local: 0, message };
            let Some(mut conn) = inner.conn() else {
                return Err(fail("not connected".to_owned()));
            };
            let mut pipe = redis::pipe();
            for q in &questions {
                match q {
                    Question::Invite { invite_id } => {
                        pipe.cmd("HGETALL").arg(invite_key(invite_id));
                    }
                    Question::Members { conversation } => {
                        pipe.cmd("SMEMBERS").arg(conversation_key(conversation));
                    }
                }
            }
            let mut replies: Vec<redis::Value> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| fail(e.to_string()))?;
            replies.reverse();
            let mut facts = Vec::new();
            for q in questions {
                match q {
                    Question::Invite { invite_id } => {
                        let records: Vec<(String, String)> = replies
                            .pop()
                            .and_then(|v| redis::from_redis_value(v).ok())
                            .unwrap_or_default();
                        let now = unix_ms();
                        for (caller, record) in records {
                            let mut parts = record.splitn(3, ' ');
                            let (Some(invitee), Some(conversation), Some(expires)) =
                                (parts.next(), parts.next(), parts.next())
                            else {
                                continue;
                            };
                            let Some(left) = expires
                                .parse::<u64>()
                                .ok()
                                .and_then(|e| e.checked_sub(now))
                                .filter(|left| *left > 0)
                            else {
                                continue;
                            };
                            facts.push(Fact::Invite {
                                caller,
                                invite_id: invite_id.clone(),
                                invitee: invitee.to_owned(),
                                conversation: conversation.to_owned(),
                                ttl: Duration::from_millis(left),
                            });
                        }
                    }
                    Question::Members { conversation } => {
                        let members: Vec<String> = replies
                            .pop()
                            .and_then(|v| redis::from_redis_value(v).ok())
                            .unwrap_or_default();
                        if !members.is_empty() {
                            facts.push(Fact::Members {
                                conversation,
                                members,
                            });
                        }
                    }
                }
            }
            Ok(facts)
        })
    }

    fn live_devices<'a>(&'a self, uid: &'a str) -> Routed<'a, Result<Vec<String>, RouteError>> {
        Routed::pending(self.live_devices_of(uid))
    }

    fn is_online<'a>(&'a self, uid: &'a str) -> Routed<'a, Result<bool, RouteError>> {
        if self.inner.local.contains(uid) {
            return Routed::ready(Ok(true));
        }
        let inner = &self.inner;
        Routed::pending(async move {
            let Some(mut conn) = inner.conn() else {
                return Err(RouteError {
                    local: 0,
                    message: "not connected".to_owned(),
                });
            };
            let online: RedisResult<i64> = inner
                .scripts
                .online
                .key(presence_key(uid))
                .arg(&inner.node)
                .invoke_async(&mut conn)
                .await;
            online.map(|n| n == 1).map_err(|e| RouteError {
                local: 0,
                message: e.to_string(),
            })
        })
    }
}

impl RedisRouter {
    /// The devices of `uid` on this node and, through Redis, on the other
    /// live nodes.
    async fn live_devices_of(&self, uid: &str) -> Result<Vec<String>, RouteError> {
        let inner = &self.inner;
        let mut devices = inner.local.devices_of(uid);
        let Some(mut conn) = inner.conn() else {
            return Err(RouteError {
                local: devices.len(),
                message: "not connected".to_owned(),
            });
        };
        let remote: RedisResult<Vec<String>> = inner
            .scripts
            .live_devices
            .key(presence_key(uid))
            .arg(&inner.node)
            .invoke_async(&mut conn)
            .await;
        match remote {
            Ok(remote) => {
                devices.extend(remote);
                Ok(devices)
            }
            Err(e) => Err(RouteError {
                local: devices.len(),
                message: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeks_invites_outcomes_and_caller_gone() {
        let invite = r#"{"type":"deliver","from":"alice","device":"n1.1","body":{"kind":"invite","invite_id":"i-1","lifetime_ms":1000}}"#;
        assert!(
            matches!(pending_op("bob", invite), PendingOp::Add(e) if e == "alice n1.1 bob i-1")
        );
        let outcome = r#"{"type":"deliver","from":"alice","device":"n1.1","body":{"kind":"outcome","invite_id":"i-1","outcome":{"type":"canceled"}}}"#;
        assert!(
            matches!(pending_op("bob", outcome), PendingOp::Del(e) if e == "alice n1.1 bob i-1")
        );
        let gone = r#"{"type":"caller_gone","from":"alice","device":"n1.1","invite_id":"i-1"}"#;
        assert!(matches!(pending_op("bob", gone), PendingOp::Del(e) if e == "alice n1.1 bob i-1"));
        let ringing = r#"{"type":"deliver","from":"bob","device":"n2.1","body":{"kind":"ringing","invite_id":"i-1"}}"#;
        assert!(matches!(pending_op("alice", ringing), PendingOp::None));
        assert!(matches!(pending_op("alice", "{}"), PendingOp::None));
    }

    #[test]
    fn finds_the_query_in_a_routed_frame() {
        let query = r#"{"type":"deliver","from":"bob","device":"n2.4","body":{"kind":"query","invite_id":"i-1"}}"#;
        assert_eq!(
            query_of(query),
            Some(Query {
                from: "bob".into(),
                device: "n2.4".into(),
                invite_id: "i-1".into(),
            })
        );
        // Anything else, including a message whose text says "query".
        let message = r#"{"type":"deliver","from":"bob","device":"n2.4","body":{"kind":"message","conversation_id":"c","payload":"query"}}"#;
        assert_eq!(query_of(message), None);
        let status = r#"{"type":"deliver","from":"bob","device":"n2.4","body":{"kind":"status","invite_id":"query","state":"pending"}}"#;
        assert_eq!(query_of(status), None);
        assert_eq!(query_of(r#"{"type":"query"}"#), None);
        assert_eq!(query_of("\"query\" not json"), None);
    }

    #[test]
    fn channel_messages_carry_several_frames_whatever_their_text() {
        let mut message = Vec::new();
        push_record(&mut message, "bob", Some("n2.1"), "{\"a\":\"x\"}");
        push_record(&mut message, "bob", None, "{\n \"b\" : 1\n}\n");
        push_record(&mut message, "carol", Some("n2.7"), "");
        let got: Vec<_> = records(&message).collect();
        assert_eq!(
            got,
            vec![
                ("bob", Some("n2.1"), "{\"a\":\"x\"}"),
                ("bob", None, "{\n \"b\" : 1\n}\n"),
                ("carol", Some("n2.7"), ""),
            ]
        );
        // A truncated or garbled message yields the frames before the
        // damage and nothing after it.
        assert_eq!(records(&message[..message.len() - 3]).count(), 2);
        assert_eq!(records(b"bob\n\nnope\n{}").count(), 0);
        assert_eq!(records(b"bob\n\n99\n{}").count(), 0);
    }

    #[test]
    fn device_ids_name_their_node() {
        assert_eq!(node_of("n1.17"), Some("n1"));
        assert_eq!(node_of("eu.west.3"), Some("eu.west"));
        assert_eq!(node_of("x"), None);
    }
}
