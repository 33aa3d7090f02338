//! A cluster of real processes for the scale-out tests: one
//! `redis-server` on a free loopback port, several `wd-signal --broker`
//! nodes and, for the deployment sample, `haproxy` in front, each stopped
//! (killed) when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Whether `redis-server` can be run here. `scripts/setup-tools.sh`
/// installs it; without it (outside CI) the scale-out tests are skipped.
pub fn have_redis() -> bool {
    have("redis-server", "--version")
}

/// Whether `haproxy` can be run here, as [`have_redis`] for Redis.
pub fn have_haproxy() -> bool {
    have("haproxy", "-v")
}

/// Whether `program version_flag` runs; missing in CI is a failure,
/// elsewhere a skip.
fn have(program: &str, version_flag: &str) -> bool {
    let found = Command::new(program)
        .arg(version_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is missing: run scripts/setup-tools.sh"
        );
        eprintln!("skipped: {program} is not installed (scripts/setup-tools.sh installs it)");
    }
    found
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The lines `from` writes, as they come, on a thread of their own that
/// reads until the end (so the writer never blocks on a full pipe).
fn lines(from: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            // Nobody listening any more: keep draining.
            let _ = tx.send(line);
        }
    });
    rx
}

/// Waits (at most 10 s) for the first line of `lines` that `is` accepts;
/// panics with `what` if none comes.
fn await_line(lines: &Receiver<String>, what: &str, is: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if is(&line) => return,
            Ok(_) => {}
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Redis's keyspace events for the keys matching a pattern (`redis-cli
/// psubscribe`): what a test waits on for a change of Redis's state,
/// instead of polling it.
pub struct KeyEvents {
    child: Child,
    events: Receiver<String>,
}

impl KeyEvents {
    /// Waits, at most `bound`, until `cond` holds, checking it now and
    /// after each event; panics naming `what`.
    pub fn until(&self, what: &str, bound: Duration, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + bound;
        while !cond() {
            match self
                .events
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for {what}"),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the keyspace subscription ended while waiting for {what}")
                }
            }
        }
    }
}

impl Drop for KeyEvents {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

    /// Starts one on `port` (after a restart: the same port), with
    /// keyspace events on for [`Redis::key_events`], and returns once it
    /// says it accepts connections.
    pub fn start_on(port: u16) -> Redis {
        Redis::start_with(None, port)
    }

    /// Starts one with the settings of the file `config` (as
    /// `redis-server FILE`), on a free port and with keyspace events on.
    pub fn start_from(config: &Path) -> Redis {
        Redis::start_with(Some(config), free_port())
    }

    fn start_with(config: Option<&Path>, port: u16) -> Redis {
        let mut cmd = Command::new("redis-server");
        if let Some(config) = config {
            cmd.arg(config);
        }
        let mut child = cmd
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--loglevel", "notice", "--notify-keyspace-events", "KA"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let log = lines(child.stdout.take().expect("piped stdout"));
        // Made first, so that a panic below still stops the process.
        let redis = Redis { port, child };
        await_line(
            &log,
            &format!("waiting for redis-server on port {port} to get ready"),
            |line| line.contains("Ready to accept connections"),
        );
        redis
    }

    /// Subscribes to the keyspace events of the keys matching `pattern`
    /// (a glob, such as `wd:presence:*`); returns once the subscription
    /// is confirmed, so that no later change is missed.
    pub fn key_events(&self, pattern: &str) -> KeyEvents {
        let mut child = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--csv", "psubscribe"])
            .arg(format!("__keyspace@0__:{pattern}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-cli starts");
        let events = lines(child.stdout.take().expect("piped stdout"));
        let watch = KeyEvents { child, events };
        await_line(
            &watch.events,
            &format!("subscribing to keyspace events of {pattern}"),
            |line| line.starts_with("\"psubscribe\""),
        );
        watch
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
            .args(extra);
        if let Some(broker) = broker {
            cmd.args(["--broker", broker]);
        }
        Node::spawn(cmd, name)
    }

    /// A node with the settings of the file `config` (`--config FILE`)
    /// and the token secret `secret` in its environment, as a service
    /// would run it.
    pub fn start_from(config: &Path, name: &str, secret: &str) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wd-signal"));
        cmd.arg("--config")
            .arg(config)
            .env("WD_SIGNAL_SECRET", secret);
        Node::spawn(cmd, name)
    }

    /// Runs `cmd` and returns once the node says where it listens.
    fn spawn(mut cmd: Command, name: &str) -> Node {
        cmd.stdout(Stdio::piped());
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

    /// SIGTERM: the node drains (close 1012 to every client) and exits;
    /// returns once it has, with whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        sent && self.child.wait().is_ok_and(|s| s.success())
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

/// One `haproxy` daemon, stopped (killed) when dropped.
pub struct Balancer {
    pub url: String,
    pid: String,
}

impl Balancer {
    /// Starts `haproxy -f config` as a daemon, whose frontend binds
    /// 127.0.0.1:`port`. haproxy binds its listeners before it forks, so
    /// once the starting process has exited successfully the port takes
    /// connections. `-n 1000` caps its connections so that it starts under
    /// any file descriptor limit.
    pub fn start(config: &Path, port: u16) -> Balancer {
        let pid_file = config.with_extension("pid");
        let out = Command::new("haproxy")
            .arg("-f")
            .arg(config)
            .args(["-n", "1000", "-D", "-p"])
            .arg(&pid_file)
            .stdin(Stdio::null())
            .output()
            .expect("haproxy runs");
        assert!(
            out.status.success(),
            "haproxy did not start ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = std::fs::read_to_string(&pid_file).expect("haproxy's pid file");
        Balancer {
            url: format!("ws://127.0.0.1:{port}"),
            pid: pid.trim().to_owned(),
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", &self.pid]).status();
    }
}
