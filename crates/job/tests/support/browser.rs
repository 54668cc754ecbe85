//! Debian's headless Chromium for the browser tests, driven by playwright-core from the
//! scripts in `tests/browser/` (their flags: `browser/chromium.mjs`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The repository's root: the scripts, `node_modules` and `docs/` are found from it.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Chromium and playwright-core, or why not.
pub fn missing() -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is missing (apt-get install chromium)"));
    }
    if !repo().join("node_modules/playwright-core").exists() {
        return Some("node_modules/playwright-core is missing (npm ci)".into());
    }
    None
}

/// Whether a browser test can run here. Outside CI a missing Chromium or playwright-core skips
/// it, with a note; under CI it fails.
pub fn available() -> bool {
    let Some(why) = missing() else {
        return true;
    };
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipped: {why}");
    false
}
