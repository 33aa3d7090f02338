//! The deployment sample in `deploy/cluster/` works as its README says:
//! Redis with `redis.conf`, three nodes with `node.toml` and one shared
//! token secret, HAProxy with `haproxy.cfg` in front, clients given only
//! the balancer's address. The files are used as they are, with only
//! their ports (and each node's name) changed to free ones.

mod cluster;

use cluster::{free_port, have_haproxy, have_redis, Balancer, Node, Redis};
use crossbeam_channel::{unbounded, Receiver};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wilddog_video::client::{
    Client, ClientConfig, ConnectionState, FailureReason, IncomingEvent, IncomingInvite,
    InviteOptions, OutgoingEvent, OutgoingInvite, RejectReason,
};

/// Failure bound of one wait: tests never wait this long when all works.
const WAIT: Duration = Duration::from_secs(20);
/// The token secret every node is given, as the sample's README asks.
const SECRET: &str = "the same on every node";

/// The path of the sample's file `name`.
fn sample_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/cluster")
        .join(name)
}

/// The sample's file `name`, read.
fn sample(name: &str) -> String {
    let path = sample_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with each `(from, to)` replaced; every `from` must occur, so a
/// change to the sample that this test no longer follows fails here.
fn rewrite(text: &str, changes: &[(String, String)]) -> String {
    changes.iter().fold(text.to_owned(), |t, (from, to)| {
        assert!(
            t.contains(from.as_str()),
            "the sample no longer has {from:?}"
        );
        t.replace(from.as_str(), to)
    })
}

/// Redis, three nodes and HAProxy, each from the sample's files; stopped
/// front first when dropped, the scratch files removed last.
struct Deployment {
    balancer: Balancer,
    nodes: Vec<Node>,
    redis: Redis,
    _dir: TempDir,
}

/// A scratch directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Deployment {
    fn start(test: &str) -> Deployment {
        let dir = std::env::temp_dir().join(format!("wd-deploy-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let dir = TempDir(dir);
        let file = |name: &str, text: String| {
            let path = dir.0.join(name);
            std::fs::write(&path, text).expect("config written");
            path
        };
        // Its port is set on the command line, which overrides the file's.
        let redis = Redis::start_from(&sample_path("redis.conf"));
        let node_toml = sample("node.toml");
        let lb_port = free_port();
        let mut lb_changes = vec![(":8480".to_owned(), format!("127.0.0.1:{lb_port}"))];
        let mut nodes = Vec::new();
        for i in 1..=3 {
            let (ws, metrics) = (free_port(), free_port());
            let config = rewrite(
                &node_toml,
                &[
                    ("127.0.0.1:8481".into(), format!("127.0.0.1:{ws}")),
                    ("127.0.0.1:9481".into(), format!("127.0.0.1:{metrics}")),
                    ("node = \"n1\"".into(), format!("node = \"n{i}\"")),
                    ("127.0.0.1:6379".into(), format!("127.0.0.1:{}", redis.port)),
                ],
            );
            let name = format!("n{i}");
            nodes.push(Node::start_from(
                &file(&format!("{name}.toml"), config),
                &name,
                SECRET,
            ));
            lb_changes.push((
                format!("127.0.0.1:848{i} check port 948{i}"),
                format!("127.0.0.1:{ws} check port {metrics}"),
            ));
        }
        let balancer = Balancer::start(
            &file("haproxy.cfg", rewrite(&sample("haproxy.cfg"), &lb_changes)),
            lb_port,
        );
        Deployment {
            balancer,
            nodes,
            redis,
            _dir: dir,
        }
    }

    /// A client of `uid` given only the balancer's address, with a token
    /// signed by the nodes' secret; it reconnects by itself, with short
    /// heartbeat and backoff so that a test does not wait on defaults.
    fn connect(&self, uid: &str) -> (Client, Receiver<ConnectionState>) {
        let exp = wd_signal::auth::now_unix() + 600;
        let token = wd_signal::auth::mint_token(SECRET.as_bytes(), uid, exp);
        let config = ClientConfig {
            heartbeat: Duration::from_millis(200),
            dead_after: Duration::from_secs(1),
            reconnect: true,
            reconnect_min: Duration::from_millis(20),
            reconnect_max: Duration::from_millis(200),
            ..ClientConfig::new(&self.balancer.url, token)
        };
        let client = Client::connect(config).expect("client connects");
        let (tx, rx) = unbounded();
        client.set_connection_listener(move |state| {
            let _ = tx.send(state);
        });
        assert_eq!(next(&rx, "connected"), ConnectionState::Connected);
        (client, rx)
    }
}

fn next<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The node a client's device id (`"<node>.<n>"`) belongs to.
fn node_of(client: &Client) -> String {
    client
        .device()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn invites(client: &Client) -> Receiver<IncomingInvite> {
    let (tx, rx) = unbounded();
    client.set_invite_listener(move |inv| {
        let _ = tx.send(inv);
    });
    rx
}

fn invite(from: &Client, to: &str) -> (OutgoingInvite, Receiver<OutgoingEvent>) {
    let out = from
        .invite_to_conversation(InviteOptions {
            lifetime_ms: 60_000,
            ..InviteOptions::new(to)
        })
        .expect("invite sent");
    let (tx, rx) = unbounded();
    out.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    (out, rx)
}

fn incoming_events(invite: &IncomingInvite) -> Receiver<IncomingEvent> {
    let (tx, rx) = unbounded();
    invite.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    rx
}

/// The outgoing invite's events after `ringing`, up to its terminal one.
fn outcome(rx: &Receiver<OutgoingEvent>) -> OutgoingEvent {
    assert_eq!(next(rx, "ringing"), OutgoingEvent::Ringing);
    next(rx, "the outcome")
}

#[test]
fn the_balancer_spreads_clients_over_the_nodes_and_invites_cross_them() {
    if !have_redis() || !have_haproxy() {
        return;
    }
    let d = Deployment::start("spread");
    // `leastconn` sends each new connection to a node with the fewest.
    let (alice, _) = d.connect("alice");
    let (bob, _) = d.connect("bob");
    let (carol, _) = d.connect("carol");
    let mut on: Vec<String> = [&alice, &bob, &carol].iter().map(|c| node_of(c)).collect();
    on.sort();
    assert_eq!(on, ["n1", "n2", "n3"], "one client per node");

    let (bob_inv, carol_inv) = (invites(&bob), invites(&carol));
    let (_to_bob, to_bob) = invite(&alice, "bob");
    next(&bob_inv, "bob rings").accept(None, None).unwrap();
    assert!(matches!(outcome(&to_bob), OutgoingEvent::Accepted { .. }));
    let (_to_carol, to_carol) = invite(&bob, "carol");
    next(&carol_inv, "carol rings")
        .reject(RejectReason::Busy)
        .unwrap();
    assert_eq!(
        outcome(&to_carol),
        OutgoingEvent::Rejected(RejectReason::Busy)
    );
    let (_to_dave, to_dave) = invite(&carol, "dave");
    assert_eq!(
        next(&to_dave, "offline"),
        OutgoingEvent::Failed(FailureReason::Offline)
    );
    assert!(d.redis.presence("carol").contains(&node_of(&carol)));
}

/// Alice, on one node, rings bob, on another; then `stop` ends alice's
/// node. The invite must end once on each side (alice's engine fails it
/// when her link drops, bob hears `caller_gone`), alice must come back
/// through the balancer's address to a survivor, her presence must move
/// there, and a new invite from her must go through.
fn callers_node_stops(test: &str, stop: impl FnOnce(&mut Node)) {
    let mut d = Deployment::start(test);
    let (alice, alice_conn) = d.connect("alice");
    let (bob, _) = d.connect("bob");
    let left = node_of(&alice);
    assert_ne!(node_of(&bob), left);
    let bob_inv = invites(&bob);
    let (_out, out_rx) = invite(&alice, "bob");
    let ringing = incoming_events(&next(&bob_inv, "bob rings"));
    assert_eq!(next(&out_rx, "ringing"), OutgoingEvent::Ringing);

    let presence = d.redis.key_events("wd:presence:*");
    let i = d
        .nodes
        .iter()
        .position(|n| n.name == left)
        .expect("alice's node");
    stop(&mut d.nodes[i]);

    assert_eq!(
        next(&out_rx, "alice's failure"),
        OutgoingEvent::Failed(FailureReason::Network)
    );
    assert_eq!(
        next(&ringing, "caller gone"),
        IncomingEvent::Failed(FailureReason::CallerGone)
    );
    assert_eq!(
        next(&alice_conn, "alice reconnecting"),
        ConnectionState::Reconnecting
    );
    assert_eq!(
        next(&alice_conn, "alice reconnected"),
        ConnectionState::Connected
    );
    let moved_to = node_of(&alice);
    assert_ne!(moved_to, left);
    presence.until("alice's presence to move", WAIT, || {
        let p = d.redis.presence("alice");
        !p.contains(&left) && p.contains(&moved_to)
    });

    let (_again, again) = invite(&alice, "bob");
    next(&bob_inv, "bob rings again")
        .accept(None, None)
        .unwrap();
    assert!(matches!(outcome(&again), OutgoingEvent::Accepted { .. }));
    // Nothing more for the first invite on either side, and alice's link
    // did not drop again.
    assert_eq!(ringing.try_iter().count(), 0);
    assert_eq!(out_rx.try_iter().count(), 0);
    assert_eq!(alice_conn.try_iter().count(), 0);
}

#[test]
fn a_killed_nodes_clients_come_back_through_the_balancer() {
    if !have_redis() || !have_haproxy() {
        return;
    }
    // `kill -9`: a survivor reaps the node once its heartbeat lapses.
    callers_node_stops("kill", Node::kill);
}

#[test]
fn a_draining_nodes_clients_move_through_the_balancer_at_once() {
    if !have_redis() || !have_haproxy() {
        return;
    }
    // SIGTERM: the node stops accepting and tells its clients to
    // reconnect (close 1012). Its listener is closed, so the balancer's
    // health check may not have marked it down yet when alice comes back:
    // `option redispatch` retries her refused connection on another node.
    callers_node_stops("drain", |node| {
        assert!(node.terminate(), "the node drains and exits cleanly")
    });
}
