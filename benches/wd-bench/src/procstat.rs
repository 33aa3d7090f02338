//! CPU time, context switches and memory of a process or of some threads
//! of this process, read from `/proc`.

use std::fs;
use std::time::Duration;

/// CPU time and wake-ups of a process or thread.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cpu {
    /// utime + stime.
    pub cpu: Duration,
    /// Voluntary plus involuntary context switches (0 for a process, where
    /// `/proc/PID/status` sums only the main thread).
    pub switches: u64,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, rhs: Cpu) -> Cpu {
        Cpu {
            cpu: self.cpu.saturating_sub(rhs.cpu),
            switches: self.switches.saturating_sub(rhs.switches),
        }
    }
}

impl std::ops::Add for Cpu {
    type Output = Cpu;
    fn add(self, rhs: Cpu) -> Cpu {
        Cpu {
            cpu: self.cpu + rhs.cpu,
            switches: self.switches + rhs.switches,
        }
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// utime + stime from a `stat` file (fields 14 and 15, after the comm).
fn stat_cpu(path: &str) -> Option<Duration> {
    let text = fs::read_to_string(path).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = clock_ticks();
    Some(Duration::from_nanos(
        (utime + stime) * 1_000_000_000 / ticks,
    ))
}

fn status_field(path: &str, name: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// CPU time of process `pid` (all its threads).
pub fn process_cpu(pid: u32) -> Option<Cpu> {
    Some(Cpu {
        cpu: stat_cpu(&format!("/proc/{pid}/stat"))?,
        switches: 0,
    })
}

/// Peak resident set size (VmHWM) of process `pid`, in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    status_field(&format!("/proc/{pid}/status"), "VmHWM:").map(|kib| kib * 1024)
}

/// Current resident set size (VmRSS) of process `pid`, in bytes.
pub fn rss(pid: u32) -> Option<u64> {
    status_field(&format!("/proc/{pid}/status"), "VmRSS:").map(|kib| kib * 1024)
}

/// This process's id.
pub fn self_pid() -> u32 {
    std::process::id()
}

/// CPU time and context switches summed over the threads of this process
/// whose name (comm) is one of `names`, with how many there were.
pub fn threads_cpu(names: &[&str]) -> (Cpu, usize) {
    let mut total = Cpu::default();
    let mut count = 0;
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return (total, 0);
    };
    for entry in dir.flatten() {
        let tid = entry.file_name().to_string_lossy().into_owned();
        let comm = fs::read_to_string(format!("/proc/self/task/{tid}/comm")).unwrap_or_default();
        if !names.contains(&comm.trim()) {
            continue;
        }
        let status = format!("/proc/self/task/{tid}/status");
        let switches = status_field(&status, "voluntary_ctxt_switches:").unwrap_or(0)
            + status_field(&status, "nonvoluntary_ctxt_switches:").unwrap_or(0);
        if let Some(cpu) = stat_cpu(&format!("/proc/self/task/{tid}/stat")) {
            total = total + Cpu { cpu, switches };
            count += 1;
        }
    }
    (total, count)
}

/// Raises the soft limit on open files to the hard limit; returns the new
/// soft limit.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill in / read from.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        // Try for a million first (works with CAP_SYS_RESOURCE), then the
        // hard limit.
        let want = libc::rlimit {
            rlim_cur: 1_048_576,
            rlim_max: 1_048_576,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
            return want.rlim_cur;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// Makes this thread's timers precise (timer slack 1 µs instead of 50 µs),
/// so open-loop schedules are kept to within a wake-up.
pub fn precise_timers() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong);
    }
}

/// Sleeps until `at` (a thread sleep, precise to a wake-up after
/// [`precise_timers`]).
pub fn sleep_until(at: std::time::Instant) {
    let now = std::time::Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// Busy CPU time of the whole machine so far (every state of the `cpu`
/// line of `/proc/stat` but idle and iowait).
pub fn machine_busy() -> Option<Duration> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest counted in user)
    let busy = v.get(..8)?.iter().sum::<u64>() - v[3] - v[4];
    Some(Duration::from_nanos(busy * 1_000_000_000 / clock_ticks()))
}
