//! `wd-bench`: load tool for wilddog-video.
//!
//! Runs invite → ringing → accept → confirmed cycles against a `wd-signal`
//! (in this process, a child process, or a URL), through the real SDK
//! (`--driver sdk`) or a lean client speaking the wire protocol
//! (`--driver raw`), at maximum rate (closed loop, `--window` invites in
//! flight per pair) or at a fixed rate (`--rate`, open loop: latency counts
//! from when each invite was due, so a slow server cannot hide its delay
//! by slowing the load). `--connections N` holds N idle connections and
//! reports the server's memory per connection; `--idle-client SECS`
//! reports what an idle SDK client costs; `--smoke` is the short
//! functional check the test suite runs. `docs/BENCHMARKS.md` has the
//! figures and the commands behind them.

mod conns;
mod procstat;
mod raw;
mod report;
mod sdk;
mod target;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::json;

use report::{Counts, Report};
use target::Target;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Driver {
    /// Lean tokio client speaking the wire protocol: the server's ceiling.
    Raw,
    /// Real SDK clients: what an app sees.
    Sdk,
}

impl Driver {
    fn name(self, dispatch: Dispatch) -> &'static str {
        match (self, dispatch) {
            (Driver::Raw, _) => "raw",
            (Driver::Sdk, Dispatch::Thread) => "sdk",
            (Driver::Sdk, Dispatch::Io) => "sdk/io",
        }
    }
}

/// Where the sdk driver's clients run their listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Dispatch {
    /// On each client's event thread (the SDK's default).
    Thread,
    /// On each client's I/O thread (`"dispatch": "io"`).
    Io,
}

impl Dispatch {
    fn mode(self) -> wilddog_video::client::DispatchMode {
        match self {
            Dispatch::Thread => wilddog_video::client::DispatchMode::Thread,
            Dispatch::Io => wilddog_video::client::DispatchMode::Io,
        }
    }
}

/// Load tool for wd-signal and the wilddog-video SDK.
#[derive(Parser, Debug)]
#[command(name = "wd-bench", version, about)]
struct Cli {
    /// Which client drives the cycles.
    #[arg(long, value_enum, default_value = "raw")]
    driver: Driver,
    /// Caller/callee pairs (default: 16 raw, 4 sdk).
    #[arg(long)]
    pairs: Option<usize>,
    /// Where the sdk driver's clients run listeners (reported as driver
    /// `sdk` or `sdk/io`).
    #[arg(long, value_enum, default_value = "thread")]
    dispatch: Dispatch,
    /// Invites in flight per pair at maximum rate (default: 32 raw, 8 sdk).
    #[arg(long)]
    window: Option<usize>,
    /// Invites per second, open loop; maximum rate if absent.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Start this wd-signal binary (`--dev --listen 127.0.0.1:0`) and
    /// measure it as a separate process.
    #[arg(long, value_name = "PATH", conflicts_with = "url")]
    server_bin: Option<String>,
    /// Use the server already running at this URL (ws://IP:PORT); its
    /// rate limit must allow the load. Repeat it for the nodes of one
    /// cluster (`wd-signal --broker`): pair i's caller connects to node
    /// i mod N and its callee to node (i+1) mod N, so with two or more
    /// nodes every invite crosses nodes and each node holds as many
    /// callers as callees.
    #[arg(long)]
    url: Vec<String>,
    /// With --url: the server's pid, for its CPU and memory; with several
    /// --url, one per node in the same order (CPU and RSS are summed).
    #[arg(long, requires = "url")]
    server_pid: Vec<u32>,
    /// Tokio worker threads of the raw driver (1: one thread, which leaves
    /// the other core to the server on a 2-core machine).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Hold this many idle authenticated connections and report the
    /// server's RSS per connection (needs --server-bin, or --url with
    /// --server-pid).
    #[arg(long, value_name = "N")]
    connections: Option<usize>,
    /// Connections per source address 127.0.0.x in --connections mode.
    #[arg(long, default_value_t = 20_000)]
    per_ip: usize,
    /// First source address of --connections mode (127.0.0.N, then on),
    /// which also names its users (`u<N>-<k>`): tool processes holding
    /// connections side by side (one per node, each within its own
    /// RLIMIT_NOFILE) each take their own addresses and users.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..16_000_000))]
    first_source: u32,
    /// Connect two SDK clients, run one cycle, then report the CPU time and
    /// wake-ups of their threads over this many idle seconds.
    #[arg(long, value_name = "SECS")]
    idle_client: Option<f64>,
    /// Short functional check (both drivers, 2 pairs, 1 s each, the sdk
    /// driver at 100/s, and the sdk driver with listeners on the I/O
    /// thread): exits non-zero only on lost, doubled or
    /// failed events, never on timing.
    #[arg(long)]
    smoke: bool,
}

/// When a run starts, measures and stops; shared by every pair.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Origin of the open-loop schedule.
    pub start: Instant,
    /// Latencies and the rate count from here.
    pub measure_from: Instant,
    /// No new invite after this.
    pub deadline: Instant,
    /// How long to wait for the last outcomes after the deadline.
    pub drain: Duration,
    /// Invites in flight per pair (closed loop).
    pub window: usize,
    /// Invites per second (open loop).
    pub rate: Option<f64>,
}

impl Plan {
    /// When invite `g` of the open-loop schedule is due.
    pub fn intended(&self, g: u64) -> Instant {
        let rate = self.rate.unwrap_or(1.0);
        self.start + Duration::from_secs_f64(g as f64 / rate)
    }
}

struct RunSpec {
    driver: Driver,
    dispatch: Dispatch,
    pairs: usize,
    window: usize,
    rate: Option<f64>,
    duration: f64,
    warmup: f64,
    client_threads: usize,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn pct(h: &Histogram<u64>, q: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(q)
    }
}

/// Runs one load run against `target`.
fn run(target: &Target, spec: &RunSpec) -> Result<Report, String> {
    let mut cpu_before = None;
    let mut process_before = None;
    let mut machine_before = None;
    let on_ready = || {
        cpu_before = target.cpu();
        machine_before = procstat::machine_busy();
        process_before = procstat::process_cpu(procstat::self_pid());
        let start = Instant::now() + Duration::from_millis(10);
        let measure_from = start + Duration::from_secs_f64(spec.warmup);
        Plan {
            start,
            measure_from,
            deadline: measure_from + Duration::from_secs_f64(spec.duration),
            drain: Duration::from_secs(10),
            window: spec.window,
            rate: spec.rate,
        }
    };
    let (counts, lost, latency, lag, sdk_cpu): (Counts, u64, _, _, _) = match spec.driver {
        Driver::Raw => {
            let r = raw::run(&target.addrs(), spec.pairs, spec.client_threads, on_ready)?;
            (r.counts, r.lost, r.latency, r.lag, None)
        }
        Driver::Sdk => {
            let r = sdk::run(
                &target.ws_urls(),
                spec.pairs,
                spec.dispatch.mode(),
                on_ready,
            )?;
            (r.counts, r.lost, r.latency, r.lag, Some(r.sdk_cpu))
        }
    };
    let elapsed = spec.warmup + spec.duration;
    let server_cpu = match (cpu_before, target.cpu()) {
        (Some(a), Some(b)) => Some(secs((b - a).cpu)),
        _ => None,
    };
    let process_cpu = match (process_before, procstat::process_cpu(procstat::self_pid())) {
        (Some(a), Some(b)) => Some(secs((b - a).cpu)),
        _ => None,
    };
    let other_cpu = match (machine_before, procstat::machine_busy(), process_cpu) {
        (Some(a), Some(b), Some(tool)) => {
            let server_outside = match target {
                Target::InProcess(_) => 0.0,
                _ => server_cpu.unwrap_or(0.0),
            };
            Some((secs(b.saturating_sub(a)) - tool - server_outside).max(0.0))
        }
        _ => None,
    };
    Ok(Report {
        driver: spec.driver.name(spec.dispatch).to_owned(),
        server: target.kind().to_owned(),
        nodes: target.addrs().len(),
        pairs: spec.pairs,
        rate: spec.rate,
        window: spec.window,
        duration_s: spec.duration,
        issued: counts.issued,
        accepted: counts.accepted,
        confirmed: counts.confirmed,
        ringing: counts.ringing,
        invites_per_sec: counts.accepted_in_window as f64 / spec.duration,
        p50_us: pct(&latency, 0.5),
        p90_us: pct(&latency, 0.9),
        p99_us: pct(&latency, 0.99),
        p999_us: pct(&latency, 0.999),
        max_us: latency.max(),
        send_lag_p99_us: lag.as_ref().map(|h| pct(h, 0.99)),
        failed: counts.failed,
        lost,
        doubled: counts.doubled,
        unexpected: counts.unexpected,
        errors: counts.errors,
        server_cpu_s: server_cpu,
        // CPU over the whole run (warm-up included) per wall second.
        server_cpu_util: server_cpu.map(|c| c / elapsed),
        server_cpu_us_per_cycle: server_cpu
            .filter(|_| counts.accepted > 0)
            .map(|c| c * 1e6 / counts.accepted as f64),
        server_peak_rss_bytes: target.peak_rss(),
        server_rss_note: target.rss_note().to_owned(),
        sdk_cpu_s: sdk_cpu.map(|c| secs(c.cpu)),
        process_cpu_s: process_cpu,
        other_cpu_s: other_cpu,
    })
}

/// Two SDK clients, one cycle, then idle: CPU and wake-ups of their
/// threads.
fn idle_client(target: &Target, idle: f64) -> Result<serde_json::Value, String> {
    let url = target.ws_url();
    let connect = |uid: &str| {
        wilddog_video::client::Client::connect(wilddog_video::client::ClientConfig::new(
            url.clone(),
            format!("dev:{uid}"),
        ))
        .map_err(|e| format!("connecting {uid}: {e}"))
    };
    let alice = connect("idle-a")?;
    let bob = connect("idle-b")?;
    let (tx, rx) = crossbeam_channel::unbounded();
    bob.set_invite_listener(move |inv| {
        let _ = inv.accept(None, None);
        let _ = tx.send(inv);
    });
    let invite = alice
        .invite_to_conversation(wilddog_video::client::InviteOptions::new("idle-b"))
        .map_err(|e| e.to_string())?;
    let _incoming = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "no invite arrived".to_owned())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while invite.status() != wilddog_video::engine::OutgoingStatus::Accepted {
        if Instant::now() > deadline {
            return Err("the idle clients' invite was not accepted".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_secs(1));
    let (before, threads) = procstat::threads_cpu(&["wd-io", "wd-events"]);
    std::thread::sleep(Duration::from_secs_f64(idle));
    let (after, _) = procstat::threads_cpu(&["wd-io", "wd-events"]);
    let delta = after - before;
    Ok(json!({
        "idle_s": idle,
        "clients": 2,
        "threads": threads,
        "sdk_idle_cpu_s": secs(delta.cpu),
        "sdk_idle_context_switches": delta.switches,
        "server": target.kind(),
    }))
}

fn make_target(cli: &Cli) -> Result<Target, String> {
    match (&cli.server_bin, cli.url.is_empty()) {
        (Some(bin), _) => Target::process(bin),
        (None, false) => Target::url(&cli.url, &cli.server_pid),
        (None, true) => Target::in_process(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let nofile = procstat::raise_nofile();
    let target = match make_target(&cli) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("wd-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = run_cli(&cli, &target, nofile);
    target.stop();
    code
}

fn run_cli(cli: &Cli, target: &Target, nofile: u64) -> ExitCode {
    let fail = |e: String| {
        eprintln!("wd-bench: {e}");
        ExitCode::FAILURE
    };
    if let Some(n) = cli.connections {
        if matches!(target, Target::InProcess(_)) {
            return fail("--connections needs --server-bin (or --url with --server-pid)".into());
        }
        let hold = Duration::from_secs_f64(cli.duration);
        return match conns::run(target, n, cli.per_ip, cli.first_source, hold, nofile) {
            Ok(r) => {
                if cli.json {
                    println!("{}", serde_json::to_string(&r).expect("serializes"));
                } else {
                    r.print_text();
                }
                if r.failed_connections > 0 {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => fail(e),
        };
    }
    if let Some(idle) = cli.idle_client {
        return match idle_client(target, idle) {
            Ok(v) => {
                if cli.json {
                    println!("{v}");
                } else {
                    println!(
                        "idle SDK clients: {} threads used {} s CPU and {} context switches in {} s",
                        v["threads"], v["sdk_idle_cpu_s"], v["sdk_idle_context_switches"], idle
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    let specs: Vec<RunSpec> = if cli.smoke {
        let base = |driver, rate| RunSpec {
            driver,
            dispatch: Dispatch::Thread,
            pairs: cli.pairs.unwrap_or(2),
            window: cli.window.unwrap_or(4),
            rate,
            duration: 1.0,
            warmup: 0.0,
            client_threads: 1,
        };
        vec![
            base(Driver::Raw, None),
            base(Driver::Sdk, None),
            base(Driver::Sdk, Some(100.0)),
            RunSpec {
                dispatch: Dispatch::Io,
                ..base(Driver::Sdk, None)
            },
        ]
    } else {
        let raw = cli.driver == Driver::Raw;
        vec![RunSpec {
            driver: cli.driver,
            dispatch: cli.dispatch,
            pairs: cli.pairs.unwrap_or(if raw { 16 } else { 4 }),
            window: cli.window.unwrap_or(if raw { 32 } else { 8 }),
            rate: cli.rate,
            duration: cli.duration,
            warmup: cli.warmup,
            client_threads: cli.client_threads,
        }]
    };
    let mut reports = Vec::new();
    for spec in &specs {
        match run(target, spec) {
            Ok(r) => reports.push(r),
            Err(e) => return fail(e),
        }
    }
    let errors: Vec<String> = reports.iter().flat_map(Report::functional_errors).collect();
    if cli.json {
        if cli.smoke {
            let v =
                json!({"smoke": true, "ok": errors.is_empty(), "errors": errors, "runs": reports});
            println!("{v}");
        } else {
            println!(
                "{}",
                serde_json::to_string(&reports[0]).expect("serializes")
            );
        }
    } else {
        for r in &reports {
            r.print_text();
        }
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        for e in &errors {
            eprintln!("wd-bench: functional error: {e}");
        }
        ExitCode::FAILURE
    }
}
