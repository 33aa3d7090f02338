#![allow(dead_code)]
//! Processes a test runs the way the C, Kotlin and Swift tests run them:
//! through the shell helpers of `tests/c/server.sh` (`wd_gateway_start`,
//! `wd_redis_start`, `wd_server_start`), in a bash that holds them until the
//! test drops it and then stops them all (`wd_server_stop_all`). Plus a
//! client of the test push gateway (`tests/support/push_gateway.py`):
//! the pushes it recorded, and the answers it is told to give.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A failure bound for each wait; never waited out when things work.
pub const WAIT: Duration = Duration::from_secs(20);

/// A bash that sourced `tests/c/server.sh`, ran a script of its helpers,
/// and holds what they started until its stdin closes.
pub struct Services {
    shell: Child,
    stdin: Option<ChildStdin>,
    vars: HashMap<String, String>,
}

impl Services {
    /// Runs `script` (lines calling the helpers) and reads back the
    /// variables `vars` it set. Panics if the script fails.
    pub fn start(script: &str, vars: &[&str]) -> Services {
        let root = env!("CARGO_MANIFEST_DIR");
        let report: String = vars
            .iter()
            .map(|v| format!("printf '%s=%s\\n' {v} \"${v}\"\n"))
            .collect();
        let script = format!(
            "source tests/c/server.sh
             trap wd_server_stop_all EXIT
             {script}
             {report}
             echo .
             read -r _ || true"
        );
        let mut shell = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("bash runs");
        let mut lines = BufReader::new(shell.stdout.take().expect("piped stdout")).lines();
        let mut found = HashMap::new();
        loop {
            let line = lines
                .next()
                .and_then(Result::ok)
                .unwrap_or_else(|| panic!("the helper script failed: {script}"));
            if line == "." {
                break;
            }
            if let Some((name, value)) = line.split_once('=') {
                found.insert(name.to_owned(), value.to_owned());
            }
        }
        for v in vars {
            assert!(
                found.get(*v).is_some_and(|s| !s.is_empty()),
                "the helper script did not set {v}"
            );
        }
        Services {
            stdin: shell.stdin.take(),
            shell,
            vars: found,
        }
    }

    /// The value the script gave `name`.
    pub fn var(&self, name: &str) -> &str {
        &self.vars[name]
    }

    /// Closes the helper's stdin; its trap stops what it started. Returns
    /// once the helper (which waits for them) has exited.
    pub fn stop(mut self) {
        drop(self.stdin.take());
        let status = self.shell.wait().expect("the helper exits");
        assert!(status.success(), "{status}");
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.shell.wait();
    }
}

/// Whether `redis-server` can be run here; in CI (`CI` set) a missing one
/// is a failure, elsewhere the test that needs it is skipped.
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

/// The test push gateway, started by `wd_gateway_start`.
pub struct Gateway {
    services: Services,
    /// `http://127.0.0.1:PORT`, for `--push-gateway`.
    pub url: String,
    /// Its process id.
    pub pid: u32,
    /// The file it writes one line per push to.
    pub log: PathBuf,
}

impl Gateway {
    /// Starts one with `push_gateway.py` options (`--reject KEY`, …).
    pub fn start(options: &str) -> Gateway {
        let services = Services::start(
            &format!("wd_gateway_start GW {options} || exit 1"),
            &["GW", "GW_PID", "GW_LOG"],
        );
        Gateway {
            url: services.var("GW").to_owned(),
            pid: services.var("GW_PID").parse().expect("a pid"),
            log: PathBuf::from(services.var("GW_LOG")),
            services,
        }
    }

    /// `METHOD path` with `body`; the status and the JSON answer.
    pub fn call(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let addr = self.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("gateway reachable");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("an answer");
        let answer = String::from_utf8(answer).expect("UTF-8");
        let (head, body) = answer.split_once("\r\n\r\n").expect("headers end");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        (status, serde_json::from_str(body).expect("a JSON body"))
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call("POST", path, body.to_string().as_bytes())
    }

    /// A notification, as a push server sends one.
    pub fn notify(&self, body: &Value) -> (u16, Value) {
        self.post("/_matrix/push/v1/notify", body)
    }

    /// The recorded pushes `GET /pushes{query}` lists.
    pub fn pushes(&self, query: &str) -> Vec<Value> {
        let (status, list) = self.call("GET", &format!("/pushes{query}"), b"");
        assert_eq!(status, 200);
        list.as_array().expect("a list").clone()
    }

    /// Waits until a push of `kind` (`wd.invite`, `wd.invite_ended`) to
    /// `key` about the conversation `conversation_id` is recorded; returns
    /// it (`content` is the payload). The gateway is asked again until it
    /// has one.
    pub fn wait_push(&self, key: &str, kind: &str, conversation_id: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self
                .pushes(&format!("?pushkey={key}&type={kind}"))
                .into_iter()
                .find(|p| p["content"]["conversation_id"] == conversation_id);
            if let Some(push) = found {
                return push;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind} push to {key} for {conversation_id}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops it; returns its process id.
    pub fn stop(self) -> u32 {
        let pid = self.pid;
        self.services.stop();
        pid
    }
}
