//! Arbitrary file names, name formats, time zones and modification times through
//! `selection::parse_name` (and `selection::blob_name` for what it accepts): nothing may panic,
//! and whatever is accepted must be a well-formed segment name whose blob name cannot climb out
//! of its container.
//!
//! Input: three header lines, then the file name (which may hold anything, newlines too):
//!
//! ```text
//! NAME_FORMAT      (empty: the default %Y%m%dT%H%M%S)
//! TIME_ZONE        (not an IANA name: UTC)
//! hint             (the file's mtime, RFC 3339; anything else: none)
//! file name...
//! ```
//!
//! In the fuzz crate this is the libFuzzer target `name_parse` (`cargo +nightly fuzz run
//! name_parse`); `crates/job/tests/reliability_fuzz_corpus.rs` includes it as a module (where
//! `cfg(test)` holds, so the libFuzzer parts drop out) to run the seed corpus as a plain test
//! on stable Rust.
#![cfg_attr(not(test), no_main)]

use std::fmt::Write as _;

use chrono::{DateTime, TimeZone, Utc};

#[cfg(not(test))]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check(data);
});

/// What one input did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The format itself was refused (the name was then checked with the default format).
    FormatRefused,
    /// The name was refused.
    NameRefused,
    /// The name was accepted; whether a blob name could be built for it.
    Accepted { blob: bool },
}

/// Runs one input through the parser and checks what it says. Panics on a violation.
pub fn check(data: &[u8]) -> Checked {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let format = parts.next().unwrap_or("");
    let zone = parts.next().unwrap_or("");
    let hint = parts.next().unwrap_or("");
    let name = parts.next().unwrap_or("");

    let mut settings = selection::Settings::new(600, "hope").expect("default settings");
    let mut format_refused = false;
    if !format.is_empty() {
        match settings.clone().with_name_format(format) {
            Ok(s) => settings = s,
            Err(e) => {
                assert!(!e.to_string().is_empty(), "an empty error for {format:?}");
                format_refused = true;
            }
        }
    }
    if let Ok(tz) = zone.trim().parse() {
        settings.time_zone = tz;
    }
    let hint: Option<DateTime<Utc>> = DateTime::parse_from_rfc3339(hint.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc));

    let parsed = selection::parse_name(name, &settings, hint);
    // Deterministic: the same input, the same answer.
    assert_eq!(parsed, selection::parse_name(name, &settings, hint));
    let accepted = match parsed {
        Err(e) => {
            assert_eq!(e.name, name);
            assert!(!e.expected.is_empty());
            let _ = e.to_string();
            None
        }
        Ok(n) => Some(check_accepted(name, &settings, hint, &n)),
    };
    match (format_refused, accepted) {
        (true, _) => Checked::FormatRefused,
        (false, None) => Checked::NameRefused,
        (false, Some(blob)) => Checked::Accepted { blob },
    }
}

/// Checks an accepted name; returns whether the default template gives it a blob name.
fn check_accepted(
    name: &str,
    settings: &selection::Settings,
    hint: Option<DateTime<Utc>>,
    n: &selection::SegmentName,
) -> bool {
    assert!(name.ends_with(".mp3"), "accepted {name:?} without .mp3");
    assert!(
        !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\'),
        "accepted {name:?} with a control character or a path separator"
    );
    assert!(
        n.pod
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
        "pod {:?} of {name:?} is not a pod name",
        n.pod
    );
    // A name that carries its UTC offset (`%z`) means the instant it writes, whatever the zone.
    let format = settings.name_format();
    if format.contains("%z") || format.contains("%:z") {
        let stem = name.strip_suffix(".mp3").unwrap_or(name);
        let stamp = match n.pod.as_str() {
            "" => stem,
            pod => stem
                .strip_prefix(pod)
                .and_then(|s| s.strip_prefix('_'))
                .unwrap_or(stem),
        };
        let written = DateTime::parse_from_str(stamp, format)
            .unwrap_or_else(|e| panic!("{name:?}: accepted, but {stamp:?} is not {format:?}: {e}"));
        assert_eq!(
            n.start,
            written.with_timezone(&Utc),
            "{name:?}: not the instant it writes"
        );
        assert_eq!(
            n.local,
            written.naive_local(),
            "{name:?}: not the time it writes"
        );
    } else {
        check_instant(name, settings, hint, n);
    }
    check_rebuilt_and_blobs(name, settings, hint, n)
}

/// The instant is the name's wall-clock time in the zone, the later one of a repeated hour
/// only when the hint allows it.
fn check_instant(
    name: &str,
    settings: &selection::Settings,
    hint: Option<DateTime<Utc>>,
    n: &selection::SegmentName,
) {
    let candidates: Vec<DateTime<Utc>> = match settings.time_zone.from_local_datetime(&n.local) {
        chrono::LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
        chrono::LocalResult::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
        chrono::LocalResult::None => vec![],
    };
    assert!(
        candidates.contains(&n.start),
        "{name:?}: start {} is not {} in {}",
        n.start,
        n.local,
        settings.time_zone
    );
    // The hint (a modification time) may trail the name by up to a minute of attribute lag.
    if candidates.len() == 2 && n.start == candidates[1] {
        assert!(
            hint.is_some_and(|h| candidates[1] <= h + chrono::TimeDelta::seconds(60)),
            "{name:?}: later instant without a hint for it"
        );
    }
}

/// Formatting the time back gives the same name, and every template gives a valid blob name;
/// returns whether the default template does.
fn check_rebuilt_and_blobs(
    name: &str,
    settings: &selection::Settings,
    hint: Option<DateTime<Utc>>,
    n: &selection::SegmentName,
) -> bool {
    // Formatting the time back and parsing `<pod>_<stamp>.mp3` gives the same pod and time
    // whenever the rebuilt name is accepted at all.
    let mut stamp = String::new();
    if write!(stamp, "{}", n.local.format(settings.name_format())).is_ok() {
        let rebuilt = if n.pod.is_empty() {
            format!("{stamp}.mp3")
        } else {
            format!("{}_{stamp}.mp3", n.pod)
        };
        if let Ok(again) = selection::parse_name(&rebuilt, settings, hint) {
            assert_eq!(
                (&again.pod, again.local),
                (&n.pod, n.local),
                "{name:?} rebuilt as {rebuilt:?}"
            );
        }
    }

    // Blob names, with the default template and with the pod as a folder.
    let mut blob_ok = false;
    for template in [
        selection::DEFAULT_BLOB_TEMPLATE,
        "{pod}/{file}",
        "{stream}/%Y/{pod}/{file}",
    ] {
        let Ok(s) = settings.clone().with_blob_template(template) else {
            continue;
        };
        if let Ok(blob) = selection::blob_name(&s, n, name) {
            assert!(
                !blob.starts_with('/'),
                "blob {blob:?} of {name:?} is absolute"
            );
            assert!(
                blob.split('/')
                    .all(|p| !p.is_empty() && p != "." && p != ".."),
                "blob {blob:?} of {name:?} has an empty, '.' or '..' part"
            );
            assert!(
                !blob.chars().any(|c| c.is_control() || c == '\\'),
                "blob {blob:?} of {name:?} has a control character or a backslash"
            );
            assert!(blob.len() <= 1024, "blob name of {name:?} is too long");
            assert!(
                blob.ends_with(name),
                "blob {blob:?} does not end in {name:?}"
            );
            blob_ok |= template == selection::DEFAULT_BLOB_TEMPLATE;
        }
    }
    blob_ok
}
