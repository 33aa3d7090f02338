//! The `wd-signal` binary: serving, the `listening on` line, tokens, and a
//! clean exit on SIGTERM.

mod common;

use common::Client;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_wd-signal");

#[test]
fn token_subcommand_prints_a_verifiable_token() {
    let out = Command::new(BIN)
        .args(["token", "--uid", "alice", "--ttl", "60", "--secret", "s3"])
        .env_remove("WD_SIGNAL_SECRET")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap();
    let now = wd_signal::auth::now_unix();
    assert_eq!(
        wd_signal::verify_token(b"s3", token.trim(), now).unwrap(),
        "alice"
    );
    assert!(wd_signal::verify_token(b"s3", token.trim(), now + 120).is_err());
}

#[test]
fn refuses_to_start_without_secret() {
    let out = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("WD_SIGNAL_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("secret"), "{err}");
}

/// Starts the binary with `--workers WORKERS`, logs in through it, checks
/// its thread count, and stops it with SIGTERM.
#[cfg(unix)]
fn serve_and_stop(workers: &str, threads: impl Fn(usize) -> bool) {
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--node",
            "cli",
            "--workers",
            workers,
        ])
        .env("WD_SIGNAL_SECRET", "from-env")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    let token = wd_signal::mint_token(b"from-env", "alice", wd_signal::auth::now_unix() + 60);
    let mut alice = Client::login(&url, &token);
    assert!(alice.device.starts_with("cli."));
    let count = std::fs::read_dir(format!("/proc/{}/task", child.id()))
        .unwrap()
        .count();
    assert!(threads(count), "--workers {workers}: {count} threads");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    alice.expect_closed();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[cfg(unix)]
#[test]
fn serves_prints_address_and_exits_on_sigterm() {
    // The main thread and two runtime workers.
    serve_and_stop("2", |threads| threads >= 3);
}

#[cfg(unix)]
#[test]
fn one_worker_serves_on_the_main_thread_alone() {
    serve_and_stop("1", |threads| threads == 1);
}

/// `--dev` accepts unsigned tokens: the server says so on every start,
/// whatever the log level. A taken address is named, in one error line.
#[test]
fn dev_mode_warns_and_a_taken_address_is_named_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN)
        .args(["--dev", "--listen", &addr, "--log-level", "error"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("development mode (--dev)").count(), 1, "{err}");
    let named = format!("cannot listen on {addr}");
    assert_eq!(err.matches(&named).count(), 1, "{err}");
    assert!(err.contains("in use"), "{err}");
    drop(taken);
}

/// The warning is a log line like any other: JSON in the JSON format.
#[test]
fn dev_mode_warning_is_a_json_log_line_in_json_format() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN)
        .args(["--dev", "--listen", &addr, "--log-format", "json"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let warning = err
        .lines()
        .find(|l| l.contains("development mode (--dev)"))
        .unwrap_or_else(|| panic!("no warning in {err}"));
    let line: serde_json::Value = serde_json::from_str(warning).expect("a JSON log line");
    assert_eq!(line["level"], "WARN", "{warning}");
}

#[test]
fn signed_mode_prints_no_dev_warning() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN)
        .args(["--listen", &addr, "--secret", "s3"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("development mode"), "{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}
