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
    /// Servers somebody else runs: one node, or several nodes of one
    /// cluster (`--broker`) that the clients are split over. CPU and
    /// memory unknown unless `pids` (one per node, summed).
    Url {
        addrs: Vec<SocketAddr>,
        pids: Vec<u32>,
    },
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

    /// Servers at `urls` (`ws://IP:PORT` each: one node, or the nodes of
    /// one cluster), with no pid or one pid per URL.
    pub fn url(urls: &[String], pids: &[u32]) -> Result<Target, String> {
        let addrs = urls
            .iter()
            .map(|url| {
                url.strip_prefix("ws://")
                    .map(|rest| rest.split('/').next().unwrap_or(rest))
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| format!("{url}: expected ws://IP:PORT"))
            })
            .collect::<Result<Vec<SocketAddr>, String>>()?;
        if !pids.is_empty() && pids.len() != addrs.len() {
            return Err(format!(
                "{} --server-pid for {} --url: give one per node, or none",
                pids.len(),
                addrs.len()
            ));
        }
        Ok(Target::Url {
            addrs,
            pids: pids.to_vec(),
        })
    }

    /// The (first) server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs()[0]
    }

    /// Every node's address (one unless several `--url`).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        match self {
            Target::InProcess(h) => vec![h.addr()],
            Target::Process { addr, .. } => vec![*addr],
            Target::Url { addrs, .. } => addrs.clone(),
        }
    }

    /// Every node's WebSocket URL.
    pub fn ws_urls(&self) -> Vec<String> {
        self.addrs().iter().map(|a| format!("ws://{a}")).collect()
    }

    /// The (first) server's WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr())
    }

    /// What kind of target this is, for the report.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::InProcess(_) => "in-process",
            Target::Process { .. } => "process",
            Target::Url { addrs, .. } if addrs.len() > 1 => "urls",
            Target::Url { .. } => "url",
        }
    }

    /// The server processes' pids (none in-process or without
    /// `--server-pid`).
    fn pids(&self) -> Vec<u32> {
        match self {
            Target::InProcess(_) => Vec::new(),
            Target::Process { child, .. } => vec![child.id()],
            Target::Url { pids, .. } => pids.clone(),
        }
    }

    /// Sums `f` over the server processes, or applies it to this process
    /// for an in-process server.
    fn sum_over(&self, f: impl Fn(u32) -> Option<u64>) -> Option<u64> {
        match self {
            Target::InProcess(_) => f(procstat::self_pid()),
            Target::Url { pids, .. } if pids.is_empty() => None,
            _ => self.pids().into_iter().map(f).sum(),
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
            Target::Url { pids, .. } if pids.is_empty() => None,
            _ => self
                .pids()
                .into_iter()
                .map(procstat::process_cpu)
                .collect::<Option<Vec<Cpu>>>()
                .map(|v| v.into_iter().fold(Cpu::default(), |a, b| a + b)),
        }
    }

    /// Peak RSS of the process holding the server (this one, tool
    /// included, for an in-process server; the sum over the nodes for
    /// several `--server-pid`).
    pub fn peak_rss(&self) -> Option<u64> {
        self.sum_over(procstat::peak_rss)
    }

    /// Current RSS of the server's process (summed over the nodes).
    pub fn rss(&self) -> Option<u64> {
        self.sum_over(procstat::rss)
    }

    /// A note on what the memory figure covers.
    pub fn rss_note(&self) -> &'static str {
        match self {
            Target::InProcess(_) => "process-wide: includes the load tool",
            Target::Process { .. } => "the wd-signal process alone",
            Target::Url { pids, .. } if pids.is_empty() => "unknown (no --server-pid)",
            Target::Url { pids, .. } if pids.len() > 1 => {
                "the sum of the processes given by --server-pid"
            }
            Target::Url { .. } => "the process given by --server-pid",
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
