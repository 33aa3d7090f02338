//! `--connections N`: hold N idle authenticated connections and see what
//! each costs the server.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use crate::raw;
use crate::target::Target;

/// What the connections mode measured.
#[derive(Debug, Serialize)]
pub struct ConnReport {
    pub connections: usize,
    pub failed_connections: usize,
    pub source_addresses: usize,
    pub connect_s: f64,
    pub server_rss_before_bytes: Option<u64>,
    pub server_rss_after_bytes: Option<u64>,
    pub server_rss_per_connection_bytes: Option<f64>,
    pub server_peak_rss_bytes: Option<u64>,
    pub server_rss_note: String,
    /// Server CPU while the connections sat idle for `hold_s`.
    pub hold_s: f64,
    pub server_idle_cpu_s: Option<f64>,
    pub tool_rss_per_connection_bytes: Option<f64>,
    pub nofile_limit: u64,
}

impl ConnReport {
    pub fn print_text(&self) {
        println!(
            "connections: {} open ({} failed) from {} source addresses in {:.1} s",
            self.connections, self.failed_connections, self.source_addresses, self.connect_s
        );
        let mib = |b: Option<u64>| {
            b.map(|b| format!("{:.1} MiB", b as f64 / 1048576.0))
                .unwrap_or("n/a".into())
        };
        println!(
            "  server RSS {} -> {} ({}): {} per connection",
            mib(self.server_rss_before_bytes),
            mib(self.server_rss_after_bytes),
            self.server_rss_note,
            self.server_rss_per_connection_bytes
                .map(|b| format!("{:.0} B = {:.2} KiB", b, b / 1024.0))
                .unwrap_or("n/a".into())
        );
        println!(
            "  server CPU over {:.0} s idle: {} s; tool RSS per connection {}; RLIMIT_NOFILE {}",
            self.hold_s,
            self.server_idle_cpu_s
                .map(|c| format!("{c:.3}"))
                .unwrap_or("n/a".into()),
            self.tool_rss_per_connection_bytes
                .map(|b| format!("{:.0} B", b))
                .unwrap_or("n/a".into()),
            self.nofile_limit
        );
    }
}

/// The loopback address connection `i` comes from: 127.0.0.`first` for
/// the first `per_ip`, the next address for the next `per_ip`, and so on
/// (the last three octets count up together).
fn source_address(first: u32, per_ip: usize, i: usize) -> Ipv4Addr {
    let k = first as usize + i / per_ip.max(1);
    Ipv4Addr::new(127, (k >> 16) as u8, (k >> 8) as u8, k as u8)
}

/// Opens `n` connections (from 127.0.0.`first`, the next address and
/// on, `per_ip` each; users `u<first>-<k>`), holds them `hold`, measures,
/// closes them.
pub fn run(
    target: &Target,
    n: usize,
    per_ip: usize,
    first: u32,
    hold: Duration,
    nofile_limit: u64,
) -> Result<ConnReport, String> {
    let addr = target.addr();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let rss_before = target.rss();
    let tool_before = crate::procstat::rss(crate::procstat::self_pid());
    let source = |i: usize| -> Option<IpAddr> {
        match addr.ip() {
            IpAddr::V4(ip) if ip.is_loopback() => {
                Some(IpAddr::V4(source_address(first, per_ip, i)))
            }
            _ => None,
        }
    };
    let started = Instant::now();
    let (open, failed) = runtime.block_on(async {
        let mut open = 0usize;
        let mut failed = 0usize;
        let mut first_error = None;
        let mut i = 0;
        // A few hundred handshakes at a time, within the listen backlog.
        while i < n {
            let batch = (n - i).min(256);
            let connects = (i..i + batch).map(|k| {
                let src = source(k);
                async move { raw::connect(addr, &format!("u{first}-{k}"), src).await }
            });
            for r in futures_util::future::join_all(connects).await {
                match r {
                    Ok((ws, _)) => {
                        open += 1;
                        // Keep reading, so pings are answered.
                        tokio::spawn(async move {
                            let mut ws = ws;
                            while let Some(Ok(_)) = ws.next().await {}
                        });
                    }
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            i += batch;
            if failed > 0 && failed * 10 > i {
                break;
            }
        }
        if let Some(e) = first_error {
            eprintln!("wd-bench: {failed} connections failed; first: {e}");
        }
        (open, failed)
    });
    let connect_s = started.elapsed().as_secs_f64();
    // Let the server settle (tasks parked, buffers returned), then hold.
    let cpu_before = runtime.block_on(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        target.cpu()
    });
    let rss_after = target.rss();
    let tool_after = crate::procstat::rss(crate::procstat::self_pid());
    runtime.block_on(async { tokio::time::sleep(hold).await });
    let cpu_after = target.cpu();
    let per = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) if open > 0 => Some((b as f64 - a as f64) / open as f64),
        _ => None,
    };
    let report = ConnReport {
        connections: open,
        failed_connections: failed,
        source_addresses: if source(0).is_some() {
            n.div_ceil(per_ip.max(1))
        } else {
            1
        },
        connect_s,
        server_rss_before_bytes: rss_before,
        server_rss_after_bytes: rss_after,
        server_rss_per_connection_bytes: per(rss_before, rss_after),
        server_peak_rss_bytes: target.peak_rss(),
        server_rss_note: target.rss_note().to_owned(),
        hold_s: hold.as_secs_f64(),
        server_idle_cpu_s: match (cpu_before, cpu_after) {
            (Some(a), Some(b)) => Some((b - a).cpu.as_secs_f64()),
            _ => None,
        },
        tool_rss_per_connection_bytes: per(tool_before, tool_after),
        nofile_limit,
    };
    // Dropping the runtime drops every connection.
    drop(runtime);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_address_takes_per_ip_connections_from_the_first_one() {
        assert_eq!(source_address(2, 10_000, 0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(
            source_address(2, 10_000, 9_999),
            Ipv4Addr::new(127, 0, 0, 2)
        );
        assert_eq!(
            source_address(2, 10_000, 10_000),
            Ipv4Addr::new(127, 0, 0, 3)
        );
        assert_eq!(
            source_address(52, 10_000, 16_699),
            Ipv4Addr::new(127, 0, 0, 53)
        );
        assert_eq!(source_address(255, 1, 1), Ipv4Addr::new(127, 0, 1, 0));
        assert_eq!(source_address(2, 0, 5), Ipv4Addr::new(127, 0, 0, 7));
    }
}
