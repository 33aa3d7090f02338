//! What a run measured, and the functional checks it made.

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency histogram in microseconds (1 µs to 100 s, 3 digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid bounds")
}

/// Counts a driver collects; merged over every pair.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Invites sent.
    pub issued: u64,
    /// Invites the caller saw accepted.
    pub accepted: u64,
    /// Accepted within the measurement window (for the rate).
    pub accepted_in_window: u64,
    /// Invites that ended otherwise (failed, rejected, canceled) on the
    /// caller's side.
    pub failed: u64,
    /// Callee-side confirmations (the caller's `accepted` outcome reached
    /// the accepting device).
    pub confirmed: u64,
    /// Ringing events at the caller.
    pub ringing: u64,
    /// Events seen twice (a second ringing, a second outcome, an invite
    /// delivered twice).
    pub doubled: u64,
    /// Events for invites nobody sent.
    pub unexpected: u64,
    /// Error frames from the server.
    pub errors: u64,
}

impl Counts {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Counts) {
        self.issued += other.issued;
        self.accepted += other.accepted;
        self.accepted_in_window += other.accepted_in_window;
        self.failed += other.failed;
        self.confirmed += other.confirmed;
        self.ringing += other.ringing;
        self.doubled += other.doubled;
        self.unexpected += other.unexpected;
        self.errors += other.errors;
    }
}

/// One run's figures; `--json` prints it as one object.
#[derive(Debug, Serialize)]
pub struct Report {
    pub driver: String,
    pub server: String,
    /// Server nodes the clients were split over (callers on node i mod N,
    /// callees on node (i+1) mod N).
    pub nodes: usize,
    pub pairs: usize,
    /// Invites per second asked for; absent at maximum rate.
    pub rate: Option<f64>,
    pub window: usize,
    pub duration_s: f64,
    pub issued: u64,
    pub accepted: u64,
    pub confirmed: u64,
    pub ringing: u64,
    pub invites_per_sec: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// How late the open-loop schedule sent its invites (p99), already
    /// included in the latencies; absent at maximum rate.
    pub send_lag_p99_us: Option<u64>,
    /// Invites that ended in anything but `accepted`.
    pub failed: u64,
    /// Invites with no outcome at the end, and accepts never confirmed.
    pub lost: u64,
    pub doubled: u64,
    pub unexpected: u64,
    pub errors: u64,
    pub server_cpu_s: Option<f64>,
    /// Server CPU seconds per wall-clock second (1.0 = one core busy).
    pub server_cpu_util: Option<f64>,
    /// Server CPU microseconds per accepted cycle: the figure least
    /// disturbed by other load on the machine.
    pub server_cpu_us_per_cycle: Option<f64>,
    pub server_peak_rss_bytes: Option<u64>,
    pub server_rss_note: String,
    /// CPU of the SDK's threads (sdk driver: every client's I/O and event
    /// threads).
    pub sdk_cpu_s: Option<f64>,
    /// CPU of the whole tool process (server included when in-process).
    pub process_cpu_s: Option<f64>,
    /// CPU the rest of the machine used meanwhile (other processes): a
    /// figure taken while this is large is disturbed.
    pub other_cpu_s: Option<f64>,
}

impl Report {
    /// Whether the run saw a functional error: a failed, lost, doubled or
    /// unexpected invite event, or an error frame. Timing never counts.
    pub fn functional_errors(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |n: u64, what: &str| {
            if n > 0 {
                out.push(format!("{}: {n} {what}", self.driver));
            }
        };
        check(self.failed, "failed invites");
        check(self.lost, "lost events");
        check(self.doubled, "doubled events");
        check(self.unexpected, "unexpected events");
        check(self.errors, "error frames");
        if self.ringing != self.accepted + self.failed && self.failed == 0 {
            out.push(format!(
                "{}: {} ringing for {} accepted invites",
                self.driver, self.ringing, self.accepted
            ));
        }
        if self.accepted == 0 {
            out.push(format!("{}: no invite completed", self.driver));
        }
        out
    }

    /// A human-readable summary.
    pub fn print_text(&self) {
        let rate = self
            .rate
            .map(|r| format!("{r} /s open loop"))
            .unwrap_or_else(|| format!("max (window {} per pair)", self.window));
        println!(
            "driver {} | server {} ({} node{}) | {} pairs | rate {} | {:.1} s",
            self.driver,
            self.server,
            self.nodes,
            if self.nodes == 1 { "" } else { "s" },
            self.pairs,
            rate,
            self.duration_s
        );
        println!(
            "  cycles: {} issued, {} accepted, {} confirmed, {} ringing -> {:.0} invites/s",
            self.issued, self.accepted, self.confirmed, self.ringing, self.invites_per_sec
        );
        println!(
            "  invite -> accepted: p50 {} us, p90 {} us, p99 {} us, p99.9 {} us, max {} us{}",
            self.p50_us,
            self.p90_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
            self.send_lag_p99_us
                .map(|l| format!(" (schedule lag p99 {l} us, included)"))
                .unwrap_or_default()
        );
        println!(
            "  failed {}, lost {}, doubled {}, unexpected {}, error frames {}",
            self.failed, self.lost, self.doubled, self.unexpected, self.errors
        );
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or("n/a".into());
        println!(
            "  server CPU {} s ({} cores busy, {} us per cycle), peak RSS {} ({})",
            opt(self.server_cpu_s),
            opt(self.server_cpu_util),
            opt(self.server_cpu_us_per_cycle),
            self.server_peak_rss_bytes
                .map(|b| format!("{:.1} MiB", b as f64 / 1048576.0))
                .unwrap_or("n/a".into()),
            self.server_rss_note
        );
        println!(
            "  SDK threads CPU {} s, tool process CPU {} s, other processes {} s",
            opt(self.sdk_cpu_s),
            opt(self.process_cpu_s),
            opt(self.other_cpu_s)
        );
    }
}
