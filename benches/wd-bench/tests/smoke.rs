//! The regression guard: a short run of both drivers (the sdk one under
//! both dispatch modes) against an
//! in-process server must complete every cycle exactly once. It fails only
//! on functional errors (lost, doubled, unexpected or failed events),
//! never on timing.

use std::process::Command;

#[test]
fn smoke_run_loses_and_doubles_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_wd-bench"))
        .args(["--smoke", "--json"])
        .output()
        .expect("wd-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("wd-bench --smoke --json printed no JSON ({e}):\n{stdout}\n{stderr}")
    });
    let runs = report["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 4, "{report}");
    // The last run has the SDK's listeners on its I/O threads.
    assert_eq!(runs[3]["driver"], "sdk/io", "{report}");
    for run in runs {
        for field in ["failed", "lost", "doubled", "unexpected", "errors"] {
            assert_eq!(run[field], 0, "{field} in {run}");
        }
        let accepted = run["accepted"].as_u64().expect("accepted");
        assert!(accepted > 0, "no cycle completed: {run}");
        assert_eq!(run["issued"].as_u64(), Some(accepted), "{run}");
        assert_eq!(run["confirmed"].as_u64(), Some(accepted), "{run}");
        assert_eq!(run["ringing"].as_u64(), Some(accepted), "{run}");
        for field in [
            "invites_per_sec",
            "p50_us",
            "p99_us",
            "p999_us",
            "server_cpu_s",
            "server_peak_rss_bytes",
        ] {
            assert!(run.get(field).is_some(), "{field} missing from {run}");
        }
    }
    assert_eq!(report["ok"], true, "{report}");
    assert!(out.status.success(), "{stderr}");
}
