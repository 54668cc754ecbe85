//! Issue 7: the archive plays back as one broadcast. This file checks the tools first: the
//! Rust time-code decoder reads the fixtures as the Python one that wrote their manifests.

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/timecode.rs"]
mod timecode;

use std::fmt::Write as _;

use serde_json::Value;

/// The Rust decoder agrees with the Python one that wrote the manifests, on every fixture file.
#[test]
fn the_time_code_decoder_matches_the_manifests() {
    let (mut checked, mut primed_checked) = (0, 0);
    let mut wrong = String::new();
    for scenario in fixture::scenarios() {
        let truth: Value =
            serde_json::from_str(&std::fs::read_to_string(scenario.join("manifest.json")).unwrap())
                .unwrap();
        for f in truth["files"].as_array().unwrap() {
            let name = f["name"].as_str().unwrap();
            let Some((start, end)) = fixture::span(&truth, name) else {
                continue;
            };
            let got = timecode::decode(&scenario.join(name), f["name_broadcast_s"].as_f64());
            checked += 1;
            let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() <= 0.000_1);
            if !close(got.start, start) || !close(got.end, end) {
                let _ = writeln!(
                    wrong,
                    "{}/{name}: decoded {:?}..{:?}, manifest {start}..{end} {:?}",
                    truth["scenario"], got.start, got.end, got.problems
                );
            }
            // Where the recorder finalised the file, its LAME tag's delay is a second witness
            // of priming (576: a fresh encoder; 0: a continued one).
            let path = scenario.join(name);
            let tag = job::measure::scan_file(&path).unwrap().header;
            let finalised = f["xing_frames"] == f["frames"];
            let primed = match tag.and_then(|t| t.encoder_delay) {
                Some(576) if finalised => Some(true),
                Some(0) if finalised => Some(false),
                _ => None,
            };
            let found = timecode::priming_s(&std::fs::read(&path).unwrap()) > 0.0;
            if primed.is_some_and(|p| p != found) {
                let _ = writeln!(
                    wrong,
                    "{}/{name}: priming {found}, the LAME tag says {primed:?}",
                    truth["scenario"]
                );
            }
            primed_checked += usize::from(primed.is_some());
        }
    }
    assert!(checked > 80, "only {checked} files have a time code");
    assert!(
        primed_checked > 80,
        "only {primed_checked} files have a LAME tag to check"
    );
    assert!(wrong.is_empty(), "{wrong}");
}
