//! A cluster of real processes for the scale-out tests: one
//! `redis-server` on a free loopback port and several `wd-signal --broker`
//! nodes, each stopped (killed) when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `redis-server` can be run here. `scripts/setup-tools.sh`
/// installs it; without it (outside CI) the scale-out tests are skipped.
pub fn have_redis() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server is missing: run scripts/setup-tools.sh"
        );
        eprintln!("skipped: redis-server is not installed (scripts/setup-tools.sh installs it)");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits, at most `bound`, until `cond` holds; panics naming `what`.
pub fn wait_until(what: &str, bound: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `redis-server` without persistence on a loopback port.
pub struct Redis {
    pub port: u16,
    child: Child,
}

impl Redis {
    /// Starts one on a free port.
    pub fn start() -> Redis {
        Redis::start_on(free_port())
    }

    /// Starts one on `port` (after a restart: the same port).
    pub fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let redis = Redis { port, child };
        wait_until(
            "redis-server to answer PING",
            Duration::from_secs(10),
            || redis.cli(&["PING"]).as_deref() == Some("PONG"),
        );
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `redis-cli` against it; its output (trimmed), or None if it
    /// could not connect.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        // A bare TCP check first: redis-cli retries a refused connection.
        TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_millis(200),
        )
        .ok()?;
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .filter(|s| !s.starts_with("Could not connect"))
    }

    /// The devices of `uid` that Redis holds, as "device node" lines.
    pub fn presence(&self, uid: &str) -> String {
        self.cli(&["HGETALL", &format!("wd:presence:{uid}")])
            .unwrap_or_default()
    }

    /// Kills it (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One `wd-signal --dev --broker ...` process.
pub struct Node {
    pub name: String,
    pub url: String,
    child: Child,
}

impl Node {
    pub fn start(broker: &str, name: &str) -> Node {
        Node::start_with(Some(broker), name, &[])
    }

    /// A node with extra flags; without a broker it routes in memory.
    pub fn start_with(broker: Option<&str>, name: &str, extra: &[&str]) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wd-signal"));
        cmd.args(["--dev", "--listen", "127.0.0.1:0", "--node", name])
            .args(extra)
            .stdout(Stdio::piped());
        if let Some(broker) = broker {
            cmd.args(["--broker", broker]);
        }
        if std::env::var_os("WD_TEST_LOG").is_some() {
            cmd.stderr(Stdio::inherit());
        } else {
            cmd.stderr(Stdio::null()).args(["--log-level", "error"]);
        }
        let mut child = cmd.spawn().expect("wd-signal starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("wd-signal prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("node {name} did not start: {line:?}"))
            .to_owned();
        Node {
            name: name.to_owned(),
            url: addr,
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no cleanup, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Redis and `n` nodes named n1, n2, ...
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub redis: Redis,
}

impl Cluster {
    pub fn start(n: usize) -> Cluster {
        let redis = Redis::start();
        let nodes = (1..=n)
            .map(|i| Node::start(&redis.url(), &format!("n{i}")))
            .collect();
        Cluster { nodes, redis }
    }

    pub fn url(&self, i: usize) -> &str {
        &self.nodes[i].url
    }
}
