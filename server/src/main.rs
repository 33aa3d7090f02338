//! `wd-signal`: the wilddog-video signaling server.
//!
//! `wd-signal [--listen ADDR] [--secret S] [--dev] [--node NAME]` serves;
//! `wd-signal token --uid alice [--ttl 3600] [--secret S]` prints a token.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;
use wd_signal::{mint_token, Server, ServerConfig};

/// Signaling server for wilddog-video: authenticates, routes and tracks
/// invites.
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
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = wd_signal::config::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Secret that signs tokens (HMAC-SHA256).
    #[arg(long, env = "WD_SIGNAL_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Development mode: also accept unsigned `dev:<uid>` tokens.
    #[arg(long)]
    dev: bool,
    /// Node name, the prefix of device ids.
    #[arg(long, default_value = "n1")]
    node: String,
    /// Seconds a connection has to send `hello`.
    #[arg(long, default_value_t = 10)]
    handshake_timeout: u64,
    /// Invites per second each user may send.
    #[arg(long, default_value_t = 200)]
    invite_rate: u32,
    /// Invites each user may send in a burst.
    #[arg(long, default_value_t = 1000)]
    invite_burst: u32,
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

fn serve(args: ServeArgs) -> ExitCode {
    let config = ServerConfig {
        listen: args.listen,
        secret: args.secret.map(String::into_bytes),
        dev: args.dev,
        node: args.node,
        handshake_timeout: Duration::from_secs(args.handshake_timeout),
        invite_rate_per_sec: args.invite_rate,
        invite_burst: args.invite_burst,
        ..ServerConfig::default()
    };
    if let Err(e) = config.validate() {
        eprintln!("wd-signal: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wd-signal: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let server = Server::bind(config).await?;
        let addr = server.local_addr()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on ws://{addr}")?;
        out.flush()?;
        drop(out);
        server.run_until(shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wd-signal: {e}");
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
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
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
