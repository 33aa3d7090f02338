//! Gives the shared library (cdylib) a versioned soname on Linux,
//! `libwilddog_video.so.<major>` (`libwilddog_video.so.0` while the major
//! version is 0), so that programs linked against it record that name and
//! keep working across compatible (minor and patch) releases. `make
//! install` installs `libwilddog_video.so.<version>` with the
//! `.so.<major>` and `.so` symlinks (see `scripts/install.sh` and
//! `docs/abi-policy.md`).
//!
//! Programs linked in the build tree (`-Ltarget/debug -lwilddog_video`)
//! look for the soname at run time, so this script also places a
//! `libwilddog_video.so.<major>` symlink to the freshly built
//! `libwilddog_video.so` in the profile's output directory.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os != "linux" {
        return;
    }
    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    let soname = format!("libwilddog_video.so.{major}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");

    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out.
    let Some(out_dir) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let Some(profile_dir) = out_dir.ancestors().nth(3) else {
        return;
    };
    link_soname(&profile_dir.join(&soname));
}

#[cfg(unix)]
fn link_soname(link: &std::path::Path) {
    // A relative link: valid once cargo has written libwilddog_video.so
    // next to it, and still valid if the target directory moves.
    if std::fs::read_link(link).is_ok_and(|t| t == std::path::Path::new("libwilddog_video.so")) {
        return;
    }
    let _ = std::fs::remove_file(link);
    if let Err(e) = std::os::unix::fs::symlink("libwilddog_video.so", link) {
        println!("cargo:warning=cannot create {}: {e}", link.display());
    }
}

#[cfg(not(unix))]
fn link_soname(_link: &std::path::Path) {}
