//! The checked-in `include/wilddog_video.h` is exactly what the pinned
//! cbindgen (`cbindgen.version`) generates from `src/ffi` with
//! `cbindgen.toml`.
//!
//! Without the cbindgen binary the check is skipped with a message, unless
//! the environment variable `CI` is set: under CI a missing or differently
//! versioned cbindgen fails. The binary is `$CBINDGEN` if set, else
//! `cbindgen` on the `PATH`, else `~/.cargo/bin/cbindgen`. Install it with
//! `cargo install cbindgen --version "$(cat cbindgen.version)" --locked`.
//! Regenerate the header with
//! `cbindgen --config cbindgen.toml --output include/wilddog_video.h`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn under_ci() -> bool {
    env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Fails under CI, otherwise prints why the check is skipped.
fn skip(why: &str) {
    if under_ci() {
        panic!("{why} (required because CI is set)");
    }
    eprintln!("SKIPPED header check: {why}; set CI=1 to make this a failure");
}

/// The cbindgen version `binary` reports, if it runs.
fn version_of(binary: &Path) -> Option<String> {
    let out = Command::new(binary).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // "cbindgen 0.29.2"
    text.split_whitespace().nth(1).map(str::to_owned)
}

fn find_cbindgen() -> Option<(PathBuf, String)> {
    let mut candidates = Vec::new();
    if let Some(path) = env::var_os("CBINDGEN") {
        candidates.push(PathBuf::from(path));
    }
    candidates.push(PathBuf::from("cbindgen"));
    if let Some(home) = env::var_os("CARGO_HOME") {
        candidates.push(Path::new(&home).join("bin/cbindgen"));
    }
    if let Some(home) = env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cargo/bin/cbindgen"));
    }
    candidates
        .into_iter()
        .find_map(|c| version_of(&c).map(|v| (c, v)))
}

#[test]
fn header_matches_pinned_cbindgen_output() {
    let pinned = fs::read_to_string(root().join("cbindgen.version"))
        .expect("cbindgen.version is readable")
        .trim()
        .to_owned();
    let Some((binary, version)) = find_cbindgen() else {
        skip(&format!("cbindgen {pinned} not found"));
        return;
    };
    if version != pinned {
        skip(&format!(
            "{} is cbindgen {version}, but cbindgen.version pins {pinned}",
            binary.display()
        ));
        return;
    }

    let generated = env::temp_dir().join(format!("wilddog_video-{}.h", std::process::id()));
    let out = Command::new(&binary)
        .current_dir(root())
        .arg("--config")
        .arg(root().join("cbindgen.toml"))
        .arg("--output")
        .arg(&generated)
        .arg("--quiet")
        .arg(root())
        .output()
        .expect("cbindgen runs");
    assert!(
        out.status.success(),
        "cbindgen failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = fs::read_to_string(&generated).expect("generated header is readable");
    let _ = fs::remove_file(&generated);
    let checked_in = fs::read_to_string(root().join("include/wilddog_video.h"))
        .expect("include/wilddog_video.h is readable");

    if fresh != checked_in {
        let first = fresh
            .lines()
            .zip(checked_in.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| fresh.lines().count().min(checked_in.lines().count()));
        panic!(
            "include/wilddog_video.h is out of date (first difference at line {}):\n  \
             generated:  {:?}\n  checked in: {:?}\nregenerate it with \
             `cbindgen --config cbindgen.toml --output include/wilddog_video.h`",
            first + 1,
            fresh.lines().nth(first).unwrap_or("<end of file>"),
            checked_in.lines().nth(first).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn header_version_macros_match_cargo() {
    let header = fs::read_to_string(root().join("include/wilddog_video.h"))
        .expect("include/wilddog_video.h is readable");
    for (name, value) in [
        ("WD_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("WD_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("WD_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        let line = format!("#define {name} {value}");
        assert!(
            header.lines().any(|l| l.trim() == line),
            "the header lacks `{line}`: update `after_includes` in cbindgen.toml and regenerate"
        );
    }
}

/// The header's overview quotes a `wd_last_error` text as an example:
/// it must be one the SDK really produces.
#[test]
fn header_example_error_is_a_real_message() {
    let header = fs::read_to_string(root().join("include/wilddog_video.h")).unwrap();
    let start = header
        .find("last failure (e.g. \"")
        .expect("the overview quotes an example error")
        + "last failure (e.g. \"".len();
    let quoted = &header[start..start + header[start..].find('"').unwrap()];
    let err = wilddog_video::client::InviteOptions::from_json(
        r#"{"participantId":"bob","lifetimeMs":"soon"}"#,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), quoted);
}
