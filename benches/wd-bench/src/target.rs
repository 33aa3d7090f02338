//! The server under test: in this process, a child process, or a URL.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::procstat::{self, Cpu};

/// Invite rate and burst given to servers this tool starts: high enough
/// that the per-user rate limit never refuses a benchmark invite.
pub const UNLIMITED_RATE: u32 = 100_000_000;

/// Where the server runs.
pub enum Target {
    /// `wd_signal::spawn` in this process (its own thread, a
    /// current-thread tokio runtime).
    InProcess(wd_signal::ServerHandle),
    /// A `wd-signal --dev` child process.
    Process { child: Child, addr: SocketAddr },
    /// A server somebody else runs; CPU and memory unknown unless `pid`.
    Url { addr: SocketAddr, pid: Option<u32> },
}

impl Target {
    /// Starts an in-process server.
    pub fn in_process() -> Result<Target, String> {
        let config = wd_signal::ServerConfig {
            invite_rate_per_sec: UNLIMITED_RATE,
            invite_burst: UNLIMITED_RATE,
            // The per-connection frame limit would refuse the load.
            message_rate_per_sec: 0,
            ..wd_signal::ServerConfig::dev()
        };
        wd_signal::spawn(config)
            .map(Target::InProcess)
            .map_err(|e| format!("starting the in-process server: {e}"))
    }

    /// Starts `bin --dev --listen 127.0.0.1:0` and reads its address from
    /// the first line it prints.
    pub fn process(bin: &str) -> Result<Target, String> {
        let rate = UNLIMITED_RATE.to_string();
        let mut child = Command::new(bin)
            .args(["--dev", "--listen", "127.0.0.1:0"])
            .args(["--invite-rate", &rate, "--invite-burst", &rate])
            // No per-connection frame limit (0 disables it).
            .env("WD_SIGNAL_MESSAGE_RATE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Its per-connection log lines would cost the run more than
            // they tell.
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {bin}: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading {bin}'s first line: {e}"))?;
        let addr = line
            .trim()
            .strip_prefix("listening on ws://")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| {
                let _ = child.kill();
                format!("{bin} printed {line:?}, not `listening on ws://ADDR`")
            })?;
        Ok(Target::Process { child, addr })
    }

    /// A server at `url` (`ws://IP:PORT`).
    pub fn url(url: &str, pid: Option<u32>) -> Result<Target, String> {
        let addr = url
            .strip_prefix("ws://")
            .map(|rest| rest.split('/').next().unwrap_or(rest))
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("{url}: expected ws://IP:PORT"))?;
        Ok(Target::Url { addr, pid })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Target::InProcess(h) => h.addr(),
            Target::Process { addr, .. } | Target::Url { addr, .. } => *addr,
        }
    }

    /// The server's WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr())
    }

    /// What kind of target this is, for the report.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::InProcess(_) => "in-process",
            Target::Process { .. } => "process",
            Target::Url { .. } => "url",
        }
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Target::InProcess(_) => None,
            Target::Process { child, .. } => Some(child.id()),
            Target::Url { pid, .. } => *pid,
        }
    }

    /// The server's CPU time so far: the server thread's own for an
    /// in-process server, the whole process's otherwise.
    pub fn cpu(&self) -> Option<Cpu> {
        match self {
            Target::InProcess(_) => {
                let (cpu, n) = procstat::threads_cpu(&["wd-signal"]);
                (n > 0).then_some(cpu)
            }
            _ => procstat::process_cpu(self.pid()?),
        }
    }

    /// Peak RSS of the process holding the server (this one, tool
    /// included, for an in-process server).
    pub fn peak_rss(&self) -> Option<u64> {
        procstat::peak_rss(self.pid().unwrap_or_else(procstat::self_pid))
    }

    /// Current RSS of the server's process.
    pub fn rss(&self) -> Option<u64> {
        procstat::rss(self.pid().unwrap_or_else(procstat::self_pid))
    }

    /// A note on what the memory figure covers.
    pub fn rss_note(&self) -> &'static str {
        match self {
            Target::InProcess(_) => "process-wide: includes the load tool",
            Target::Process { .. } => "the wd-signal process alone",
            Target::Url { pid: Some(_), .. } => "the process given by --server-pid",
            Target::Url { pid: None, .. } => "unknown (no --server-pid)",
        }
    }

    /// Stops the server.
    pub fn stop(self) {
        match self {
            Target::InProcess(h) => h.shutdown(),
            Target::Process { mut child, .. } => {
                // SIGTERM, so it shuts down as in production.
                // SAFETY: kill with a pid we started.
                unsafe {
                    libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
                }
                for _ in 0..50 {
                    if matches!(child.try_wait(), Ok(Some(_))) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            Target::Url { .. } => {}
        }
    }
}
