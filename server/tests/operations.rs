//! Operating the `wd-signal` binary: layered configuration and
//! `--print-config`, JSON logs, `/healthz`, and the graceful shutdown on
//! SIGTERM (close code 1012, a bounded drain, exit 0).

mod common;

use common::Client;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_wd-signal");

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("wd-signal-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn clean_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars() {
        if key.starts_with("WD_SIGNAL_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[test]
fn flags_win_over_env_over_file_and_print_config_redacts() {
    let file = temp_file(
        "layers.toml",
        "node = \"from-file\"\ninvite_rate = 7\ninvite_burst = 70\nsecret = \"file-secret\"\n\
         metrics_listen = \"127.0.0.1:9480\"\nlog_format = \"json\"\n",
    );
    let out = clean_env(&mut Command::new(BIN))
        .arg("--config")
        .arg(&file)
        .args(["--invite-rate", "9", "--print-config"])
        .env("WD_SIGNAL_NODE", "from-env")
        .env("WD_SIGNAL_INVITE_RATE", "8")
        .env("WD_SIGNAL_SHUTDOWN_GRACE", "2")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "listen = \"127.0.0.1:8480\"",
        "secret = \"<redacted>\"",
        "dev = false",
        "node = \"from-env\"",
        "invite_rate = 9",
        "invite_burst = 70",
        "metrics_listen = \"127.0.0.1:9480\"",
        "shutdown_grace = 2",
        "log_format = \"json\"",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(!text.contains("file-secret"), "{text}");
}

#[test]
fn bad_config_is_refused_with_the_key_named() {
    let file = temp_file("bad.toml", "dev = true\nlisen = \"127.0.0.1:1\"\n");
    let out = clean_env(&mut Command::new(BIN))
        .arg("--config")
        .arg(&file)
        .arg("--print-config")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lisen"), "{err}");

    let out = clean_env(&mut Command::new(BIN))
        .args(["--dev", "--print-config"])
        .env("WD_SIGNAL_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("xml"), "{err}");

    let out = clean_env(&mut Command::new(BIN))
        .args(["--print-config"])
        .env("WD_SIGNAL_DEV", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("dev = true"));
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).unwrap();
    raw
}

#[cfg(unix)]
#[test]
fn sigterm_tells_clients_to_reconnect_and_drains_within_the_grace() {
    let mut child = clean_env(&mut Command::new(BIN))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--dev",
            "--metrics-listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log-level",
            "info",
            "--shutdown-grace",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();

    // JSON logs: the first event names the metrics address. The dev-mode
    // warning, printed on every --dev start whatever the log format,
    // comes before it.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    if first.starts_with("wd-signal: WARNING: development mode") {
        first.clear();
        stderr.read_line(&mut first).unwrap();
    }
    let event: serde_json::Value = serde_json::from_str(&first).expect("a JSON log line");
    assert_eq!(event["message"], "wd-signal serving", "{first}");
    assert_eq!(event["level"], "INFO", "{first}");
    let metrics: SocketAddr = event["metrics"].as_str().unwrap().parse().unwrap();

    let health = http_get(metrics, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    let mut alice = Client::dev(&url, "alice");
    // A connection that never completes its handshake (10 s allowed) must
    // not hold the shutdown beyond the 1 s grace.
    let _stuck = TcpStream::connect(url.strip_prefix("ws://").unwrap()).unwrap();
    // The server accepts in order: once a later client is welcomed, the
    // stuck connection has been accepted too.
    let _later = Client::dev(&url, "bob");

    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(alice.expect_close_code(), Some(1012));
    let status = child.wait().unwrap();
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");

    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let messages: Vec<String> = rest
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("every log line is JSON");
            v["message"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    for want in ["connected", "SIGTERM received", "disconnected"] {
        assert!(
            messages.iter().any(|m| m == want),
            "no {want:?} in {messages:?}"
        );
    }
    assert!(
        messages.iter().any(|m| m.starts_with("shutting down")),
        "{messages:?}"
    );
}
