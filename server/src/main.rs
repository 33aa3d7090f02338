//! `wd-signal`: the wilddog-video signaling server.
//!
//! `wd-signal [--config FILE] [--listen ADDR] [--secret S] [--dev] ...`
//! serves; `wd-signal --print-config` prints the effective configuration;
//! `wd-signal token --uid alice [--ttl 3600] [--secret S]` prints a token.
//! Settings come from flags, then `WD_SIGNAL_*` variables, then the TOML
//! file, then the defaults (`docs/operations.md`).

#![deny(unsafe_code)]
#![warn(missing_docs)]

use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use wd_signal::settings::{LogFormat, Resolved};
use wd_signal::{mint_token, Server, Settings};

/// mimalloc returns the memory freed after a burst (an attack, a spike
/// of traffic) to the system, where the system allocator keeps most of it
/// (docs/SECURITY.md, "Memory after an attack").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (its 16th option;
/// `include/mimalloc.h` of the libmimalloc-sys version in Cargo.lock).
const MI_OPTION_PURGE_DELAY: i32 = 15;

/// Makes mimalloc hand pages it freed back to the system at once. By
/// default it waits (1 s, 10 s for its arenas) and purges only when the
/// allocator is next entered by the thread that freed them, so a server
/// that goes quiet after a burst (an attack) would keep the memory; with
/// no delay the RSS falls back to within a few MiB of idle
/// (docs/SECURITY.md, "Memory after an attack").
#[allow(unsafe_code)]
fn return_freed_memory_at_once() {
    // mimalloc's own API (linked in with the `mimalloc` crate).
    extern "C" {
        fn mi_option_set(option: i32, value: std::ffi::c_long);
    }
    // SAFETY: mi_option_set takes no pointers and may be called from any
    // thread at any time; this option only changes when memory is purged.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

/// Signaling server for wilddog-video: authenticates, routes and tracks
/// invites.
///
/// Every setting can come from a flag, a WD_SIGNAL_* environment variable
/// or the TOML file given with --config, in that order of precedence.
#[derive(Parser, Debug)]
#[command(name = "wd-signal", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a signed token for a user.
    Token(TokenArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// TOML configuration file (keys as the flags, with `_` for `-`).
    #[arg(long, env = "WD_SIGNAL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the effective configuration (secret redacted) as TOML and
    /// exit.
    #[arg(long)]
    print_config: bool,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8480].
    #[arg(long, env = "WD_SIGNAL_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Secret that signs tokens (HMAC-SHA256).
    #[arg(long, env = "WD_SIGNAL_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Development mode: also accept unsigned `dev:<uid>` tokens.
    #[arg(
        long,
        env = "WD_SIGNAL_DEV",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new(),
        value_name = "BOOL"
    )]
    dev: Option<bool>,
    /// Node name, the prefix of device ids [default: n1].
    #[arg(long, env = "WD_SIGNAL_NODE")]
    node: Option<String>,
    /// Seconds a connection has to send `hello` [default: 10].
    #[arg(long, env = "WD_SIGNAL_HANDSHAKE_TIMEOUT", value_name = "SECS")]
    handshake_timeout: Option<u64>,
    /// Invites per second each user may send [default: 200].
    #[arg(long, env = "WD_SIGNAL_INVITE_RATE")]
    invite_rate: Option<u32>,
    /// Invites each user may send in a burst [default: 1000].
    #[arg(long, env = "WD_SIGNAL_INVITE_BURST")]
    invite_burst: Option<u32>,
    /// Invites one connection may have pending [default: 1024].
    #[arg(long, env = "WD_SIGNAL_MAX_PENDING_INVITES")]
    max_pending_invites: Option<usize>,
    /// Frames queued for one connection before it is dropped as too slow
    /// [default: 1024].
    #[arg(long, env = "WD_SIGNAL_OUTBOX_CAPACITY")]
    outbox_capacity: Option<usize>,
    /// Bytes queued for one connection; one sender may hold a quarter
    /// [default: 4194304].
    #[arg(long, env = "WD_SIGNAL_OUTBOX_BYTES", value_name = "BYTES")]
    outbox_bytes: Option<usize>,
    /// Bytes queued for all the connections of one user [default: 16777216].
    #[arg(long, env = "WD_SIGNAL_USER_OUTBOX_BYTES", value_name = "BYTES")]
    user_outbox_bytes: Option<usize>,
    /// Seconds a client may take to read one batch of frames before it is
    /// dropped [default: 30].
    #[arg(long, env = "WD_SIGNAL_WRITE_TIMEOUT", value_name = "SECS")]
    write_timeout: Option<u64>,
    /// Seconds a signed token's exp may lie in the future; later ones are
    /// refused; 0: no maximum [default: 604800, 7 days].
    #[arg(long, env = "WD_SIGNAL_MAX_TOKEN_LIFETIME", value_name = "SECS")]
    max_token_lifetime: Option<u64>,
    /// Bad frames one connection may send before it is closed [default: 5].
    #[arg(long, env = "WD_SIGNAL_MAX_BAD_FRAMES")]
    max_bad_frames: Option<u32>,
    /// Seconds between pings of an idle connection; 0 disables
    /// [default: 30].
    #[arg(long, env = "WD_SIGNAL_PING_INTERVAL", value_name = "SECS")]
    ping_interval: Option<u64>,
    /// Address of the HTTP endpoint serving Prometheus /metrics and
    /// /healthz [default: none].
    #[arg(long, env = "WD_SIGNAL_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Seconds a shutdown (SIGTERM, SIGINT) waits for connections to close
    /// [default: 5].
    #[arg(
        long,
        env = "WD_SIGNAL_SHUTDOWN_GRACE",
        value_name = "SECS",
        alias = "shutdown-grace-secs"
    )]
    shutdown_grace: Option<u64>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "WD_SIGNAL_LOG_FORMAT", value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `wd_signal=debug,info` [default: RUST_LOG,
    /// else info].
    #[arg(long, env = "WD_SIGNAL_LOG_LEVEL", value_name = "FILTER")]
    log_level: Option<String>,
    /// PEM file of the TLS certificate chain; with --tls-key, serve wss://.
    #[arg(long, env = "WD_SIGNAL_TLS_CERT", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// PEM file of the TLS private key.
    #[arg(long, env = "WD_SIGNAL_TLS_KEY", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// Frames per second each connection may send; 0 disables [default: 200].
    #[arg(long, env = "WD_SIGNAL_MESSAGE_RATE")]
    message_rate: Option<u32>,
    /// Frames each connection may send in a burst [default: 2000].
    #[arg(long, env = "WD_SIGNAL_MESSAGE_BURST")]
    message_burst: Option<u32>,
    /// Connections one uid may have at once; 0: no limit [default: 16].
    #[arg(long, env = "WD_SIGNAL_MAX_DEVICES")]
    max_devices: Option<usize>,
    /// Deepest nesting of JSON arrays/objects in a frame [default: 16].
    #[arg(long, env = "WD_SIGNAL_MAX_JSON_DEPTH")]
    max_json_depth: Option<usize>,
    /// Route through this Redis so that several nodes act as one
    /// (`redis://HOST:PORT`; each node needs its own --node) [default:
    /// none, route in memory].
    #[arg(long, env = "WD_SIGNAL_BROKER", value_name = "URL")]
    broker: Option<String>,
    /// Wake devices that hold no connection through this Matrix push
    /// gateway (Sygnal), `http://HOST:PORT` (docs/push.md) [default: none,
    /// no pushes].
    #[arg(long, env = "WD_SIGNAL_PUSH_GATEWAY", value_name = "URL")]
    push_gateway: Option<String>,
    /// Seconds a push registration lasts unless registered again
    /// [default: 2592000, 30 days].
    #[arg(long, env = "WD_SIGNAL_PUSH_RETENTION", value_name = "SECS")]
    push_retention: Option<u64>,
    /// Push registrations one user may hold; one more replaces the least
    /// recently registered [default: 16].
    #[arg(long, env = "WD_SIGNAL_PUSH_MAX_REGISTRATIONS")]
    push_max_registrations: Option<usize>,
    /// Pushes waiting for the gateway; more are dropped and counted
    /// [default: 1024].
    #[arg(long, env = "WD_SIGNAL_PUSH_QUEUE")]
    push_queue: Option<usize>,
    /// Attempts at delivering one push to the gateway before it is dropped
    /// [default: 4].
    #[arg(long, env = "WD_SIGNAL_PUSH_ATTEMPTS")]
    push_attempts: Option<u32>,
    /// Runtime threads; 0: one per CPU; 1: a single-threaded runtime, which
    /// answers soonest when the node shares its CPUs (docs/operations.md)
    /// [default: 0].
    #[arg(long, env = "WD_SIGNAL_WORKERS", value_name = "N")]
    workers: Option<usize>,
}

impl ServeArgs {
    /// The flags and environment variables, as one settings layer (clap
    /// already prefers a flag to its variable).
    fn settings(&self) -> Settings {
        Settings {
            listen: self.listen,
            secret: self.secret.clone(),
            dev: self.dev,
            node: self.node.clone(),
            handshake_timeout: self.handshake_timeout,
            invite_rate: self.invite_rate,
            invite_burst: self.invite_burst,
            max_pending_invites: self.max_pending_invites,
            outbox_capacity: self.outbox_capacity,
            outbox_bytes: self.outbox_bytes,
            user_outbox_bytes: self.user_outbox_bytes,
            write_timeout: self.write_timeout,
            max_token_lifetime: self.max_token_lifetime,
            max_bad_frames: self.max_bad_frames,
            ping_interval: self.ping_interval,
            metrics_listen: self.metrics_listen,
            shutdown_grace: self.shutdown_grace,
            log_format: self.log_format,
            log_level: self.log_level.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            message_rate: self.message_rate,
            message_burst: self.message_burst,
            max_devices: self.max_devices,
            max_json_depth: self.max_json_depth,
            broker: self.broker.clone(),
            push_gateway: self.push_gateway.clone(),
            push_retention: self.push_retention,
            push_max_registrations: self.push_max_registrations,
            push_queue: self.push_queue,
            push_attempts: self.push_attempts,
            workers: self.workers,
        }
    }
}

#[derive(Args, Debug)]
struct TokenArgs {
    /// User id the token names.
    #[arg(long)]
    uid: String,
    /// Seconds until the token expires.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
    /// Secret that signs tokens (HMAC-SHA256).
    #[arg(long, env = "WD_SIGNAL_SECRET", hide_env_values = true)]
    secret: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Token(args)) => token(args),
        None => serve(cli.serve),
    }
}

fn token(args: TokenArgs) -> ExitCode {
    if let Err(e) = wd_protocol::validate_uid(&args.uid) {
        eprintln!("wd-signal: invalid uid: {e}");
        return ExitCode::FAILURE;
    }
    if args.secret.is_empty() {
        eprintln!("wd-signal: the secret must not be empty");
        return ExitCode::FAILURE;
    }
    let exp = wd_signal::auth::now_unix().saturating_add(args.ttl);
    println!("{}", mint_token(args.secret.as_bytes(), &args.uid, exp));
    ExitCode::SUCCESS
}

/// Merges flags, environment and file, then applies the defaults.
fn resolve(args: &ServeArgs) -> Result<Resolved, String> {
    let file = match &args.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    args.settings().or(file).resolve()
}

fn init_logging(resolved: &Resolved) {
    use tracing_subscriber::EnvFilter;
    let filter = match &resolved.log_level {
        Some(directive) => EnvFilter::new(directive),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match resolved.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// One thread: a single-threaded runtime, so a frame is read, routed and
/// written without waking another thread. More: a work-stealing runtime.
fn build_runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let resolved = match resolve(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wd-signal: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.print_config {
        print!("{}", resolved.to_toml());
        return ExitCode::SUCCESS;
    }
    init_logging(&resolved);
    return_freed_memory_at_once();
    let runtime = match build_runtime(resolved.workers) {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let workers = resolved.workers;
    let config = resolved.server;
    if config.dev {
        // Every start, whatever the log level: anyone can claim any uid. A
        // log line (JSON in the JSON format) where warnings are logged, a
        // plain line on stderr where they are filtered out.
        const DEV: &str = "development mode (--dev): unsigned `dev:<uid>` tokens are accepted, \
                           so anyone can connect as any user; never use it in production";
        if tracing::enabled!(tracing::Level::WARN) {
            tracing::warn!("{DEV}");
        } else {
            eprintln!("wd-signal: WARNING: {DEV}");
        }
    }
    let scheme = if config.tls.is_some() { "wss" } else { "ws" };
    let result = runtime.block_on(async move {
        let server = Server::bind(config).await?;
        let addr = server.local_addr()?;
        let metrics = server.metrics_addr();
        tracing::info!(
            listen = %addr,
            metrics = metrics.map(tracing::field::display),
            workers,
            version = env!("CARGO_PKG_VERSION"),
            "wd-signal serving"
        );
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {scheme}://{addr}")?;
        out.flush()?;
        drop(out);
        server.run_until(shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the log (stderr, in the configured format) says it.
            tracing::error!(error = %e, "wd-signal failed");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
