//! Issue 7: the archive plays back as one broadcast. For every recorded fixture scenario the
//! real job runs against Azurite until nothing is left; then every day manifest and every blob
//! it lists is downloaded, each blob is placed on the broadcast time axis by its own time code,
//! and the manifest's in/out points are played in order. At every join the overlap and the gap
//! must each be at most about one frame (a gap the manifest reports must be a true gap, its
//! length as close as names can tell), and together the segments must hold every second any
//! replica finished recording. `the_time_code_decoder_matches_the_manifests` checks the tools.//!
//! Scenarios whose replicas record more than one source (the manifest's `"sources"`, issue 31)
//! are left out: their files that are not wholly time code have no broadcast span, and this
//! test takes a file's span for all of its audio (`fixtures_disagree.rs` archives them).

mod support;
use support::{azurite, common, spans, timecode};

use common::fixture;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One MP3 frame is 26.1 ms: a join may repeat or miss at most that, rounded up.
const JOIN_TOLERANCE_S: f64 = 0.030;

/// Across a gap the manifest reports, the recordings on either side share no audio, so no
/// alignment can relate them: the job places each end by names, ±0.75 s each (`days.rs`), and
/// the gap's length cannot be known closer than both doubts together.
const REPORTED_GAP_TOLERANCE_S: f64 = 1.5;

/// What one archived segment plays, on the broadcast time axis.
#[derive(Debug, Clone)]
struct Played {
    file: String,
    /// The day manifest's `start`, by which a reported gap names the segment it ends at.
    start: String,
    in_s: f64,
    out_s: f64,
    /// The broadcast span it plays: decoded start of the blob plus in/out, without priming.
    from: f64,
    to: f64,
    /// Its local file was already gone when the recorders stopped: its join with what came
    /// later rests on the archive's rows alone.
    gone_early: bool,
}

impl Played {
    fn name(&self) -> String {
        let early = if self.gone_early { " [gone early]" } else { "" };
        format!("{}{early}", self.file)
    }
}

#[derive(Debug)]
struct Join {
    before: Played,
    after: Played,
    /// (after.from − before.to): positive is a gap, negative an overlap.
    error_s: f64,
    reported_gap_s: Option<f64>,
}

impl Join {
    /// How far the manifest is from the truth at this join: the error itself, or where the
    /// manifest reports a gap, how far the reported gap is from the true one.
    fn miss_s(&self) -> f64 {
        self.error_s - self.reported_gap_s.unwrap_or(0.0)
    }

    fn describe(&self) -> String {
        let what = match self.reported_gap_s {
            Some(g) => format!(
                "reported gap {g:.3} s, true gap {:.3} s (off by {:+.3} s)",
                self.error_s,
                self.miss_s()
            ),
            None if self.error_s < 0.0 => format!("overlap {:.3} s", -self.error_s),
            None => format!("gap {:.3} s", self.error_s),
        };
        format!(
            "{} (start {}, out {:.3}) -> {} (start {}, in {:.3}): {what}",
            self.before.name(),
            self.before.start,
            self.before.out_s,
            self.after.name(),
            self.after.start,
            self.after.in_s
        )
    }
}

#[derive(Debug, Default)]
struct Figures {
    joins: usize,
    worst_overlap_s: f64,
    worst_gap_s: f64,
    reported_gaps: Vec<String>,
    coverage_pct: f64,
    holes: Vec<(f64, f64)>,
    bad: Vec<String>,
}

#[test]
fn every_join_is_within_a_frame_and_the_archive_holds_every_recorded_second() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let scenarios = fixture::single_source_scenarios();
    assert_eq!(scenarios.len(), 11, "fixtures missing: {scenarios:?}");
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for scenario in &scenarios {
        let name = scenario.file_name().unwrap().to_string_lossy().to_string();
        let figures = scenario_figures(scenario, &conn, &format!("joins-{name}"));
        report.push(format!(
            "{name:<15} joins {:>2}  worst overlap {:.3} s  worst gap {:.3} s  coverage {:.2} %{}",
            figures.joins,
            figures.worst_overlap_s,
            figures.worst_gap_s,
            figures.coverage_pct,
            figures
                .reported_gaps
                .iter()
                .fold(String::new(), |s, g| s + "\n    reported: " + g)
        ));
        for b in &figures.bad {
            report.push(format!("    wrong join: {b}"));
            failures.push(format!("{name}: {b}"));
        }
        for (lo, hi) in &figures.holes {
            let hole = format!(
                "recorded but not played: broadcast {lo:.3}..{hi:.3} s ({:.3} s)",
                hi - lo
            );
            report.push(format!("    {hole}"));
            failures.push(format!("{name}: {hole}"));
        }
    }
    println!("{}", report.join("\n"));
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs the job over `scenario` until nothing is left, then measures the archive.
fn scenario_figures(scenario: &Path, conn: &str, stream: &str) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let truth = fixture::replay(scenario, dir.path());
    let segment = truth["segment_time"].as_u64().unwrap();
    // As the CronJob meets it: first while the recorders run, then long after they stopped.
    common::run_to_fixpoint(dir.path(), conn, stream, segment, 5);
    let kept: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    fixture::finish_recordings(dir.path());
    common::run_to_fixpoint(dir.path(), conn, stream, segment, 5);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{stream}: files left at the end: {left:?}");

    let blobs = tempfile::tempdir().unwrap();
    let days = download(conn, stream, blobs.path());
    assert!(!days.is_empty(), "{stream}: no day manifest");
    let mut played = place(&days, &truth, blobs.path(), stream);
    for p in &mut played {
        p.gone_early = !kept.contains(&p.file);
    }
    let gaps: Vec<(String, f64)> = days
        .iter()
        .flat_map(|d| d["gaps"].as_array().cloned().unwrap_or_default())
        .map(|g| {
            (
                g["end"].as_str().unwrap().to_owned(),
                g["seconds"].as_f64().unwrap(),
            )
        })
        .collect();

    let mut figures = Figures::default();
    let audible: Vec<&Played> = played.iter().filter(|p| p.to > p.from).collect();
    for pair in audible.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        let join = Join {
            before: before.clone(),
            after: after.clone(),
            error_s: after.from - before.to,
            reported_gap_s: gaps
                .iter()
                .find(|(end, _)| *end == after.start)
                .map(|g| g.1),
        };
        figures.joins += 1;
        match join.reported_gap_s {
            Some(_) => figures.reported_gaps.push(join.describe()),
            None if join.error_s < 0.0 => {
                figures.worst_overlap_s = figures.worst_overlap_s.max(-join.error_s)
            }
            None => figures.worst_gap_s = figures.worst_gap_s.max(join.error_s),
        }
        let wrong = match join.reported_gap_s {
            Some(_) => {
                join.error_s <= JOIN_TOLERANCE_S || join.miss_s().abs() > REPORTED_GAP_TOLERANCE_S
            }
            None => join.error_s.abs() > JOIN_TOLERANCE_S,
        };
        if wrong {
            figures.bad.push(join.describe());
        }
    }
    let unmatched: Vec<&(String, f64)> = gaps
        .iter()
        .filter(|(end, _)| !audible.iter().any(|p| p.start == *end))
        .collect();
    assert!(
        unmatched.is_empty(),
        "{stream}: reported gaps that end at no played segment: {unmatched:?}"
    );

    // Every second a replica finished recording, without the priming a first file opens with.
    let recorded: Vec<(f64, f64)> = truth["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["live"] != true)
        .filter_map(|f| {
            let name = f["name"].as_str()?;
            let (lo, hi) = fixture::span(&truth, name)?;
            Some((
                lo + timecode::priming_s(&std::fs::read(scenario.join(name)).ok()?),
                hi + 1.0 / timecode::SR,
            ))
        })
        .collect();
    let recorded = spans::merge(&recorded);
    let played = spans::merge(&audible.iter().map(|p| (p.from, p.to)).collect::<Vec<_>>());
    let holes: Vec<(f64, f64)> = recorded
        .iter()
        .flat_map(|&(lo, hi)| spans::gaps_in(&played, lo, hi))
        .collect();
    let recorded_s = spans::measure(&recorded);
    let missing_s = spans::measure(&holes);
    figures.coverage_pct = 100.0 * (recorded_s - missing_s) / recorded_s;
    // A hole no wider than a join's allowance is that join's gap, already judged above.
    figures.holes = holes
        .into_iter()
        .filter(|(a, b)| b - a > JOIN_TOLERANCE_S)
        .collect();
    figures
}

/// Every day manifest of `stream` (in day order) and every blob they list, saved under `to`
/// by blob name.
fn download(conn: &str, stream: &str, to: &Path) -> Vec<Value> {
    common::runtime().block_on(async {
        let container = common::container_client(conn, stream);
        let target = store::connection::StorageTarget::parse(conn).unwrap();
        let rows = store::azure::AzureArchive::new(
            &target,
            stream,
            "audios",
            stream,
            store::azure::AzureOptions::default(),
        )
        .unwrap();
        let rows = store::ArchiveRead::first_rows(&rows, 1000).await.unwrap();
        let mut days = Vec::new();
        for (name, day) in common::day_manifests(&container).await {
            for seg in day["segments"].as_array().unwrap() {
                let blob = seg["blob"].as_str().unwrap();
                let bytes = container
                    .blob_client(blob)
                    .get_content()
                    .await
                    .unwrap_or_else(|e| panic!("{stream}: {name} lists {blob}: {e}"));
                std::fs::write(local(to, blob), bytes).unwrap();
                // The blob and its row carry the manifest's in/out points.
                let props = container.blob_client(blob).get_properties().await.unwrap();
                let meta = props.blob.metadata.unwrap_or_default();
                let row = rows.iter().find(|r| r.blob_name.as_deref() == Some(blob));
                let row = row.unwrap_or_else(|| panic!("{stream}: no row for {blob}"));
                let points = [
                    ("inframe", seg["in_frame"].as_u64(), row.in_frame),
                    ("outframe", seg["out_frame"].as_u64(), row.out_frame),
                ];
                for (key, manifest, in_row) in points {
                    let in_meta = meta.get(key).and_then(|v| v.parse().ok());
                    assert_eq!(
                        (in_meta, in_row),
                        (manifest, manifest),
                        "{stream}: {blob}: {key} in metadata and row vs the manifest"
                    );
                }
            }
            days.push(day);
        }
        days
    })
}

fn local(dir: &Path, blob: &str) -> PathBuf {
    dir.join(blob.replace('/', "_"))
}

/// The manifests' segments in order, each placed by the time code decoded from its blob.
fn place(days: &[Value], truth: &Value, blobs: &Path, stream: &str) -> Vec<Played> {
    let mut played = Vec::new();
    for day in days {
        for seg in day["segments"].as_array().unwrap() {
            let file = seg["file"].as_str().unwrap().to_owned();
            let path = local(blobs, seg["blob"].as_str().unwrap());
            let hint = truth["files"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == file.as_str())
                .and_then(|f| f["name_broadcast_s"].as_f64());
            let decoded = timecode::decode(&path, hint);
            let b = decoded.start.unwrap_or_else(|| {
                panic!("{stream}: no time code in the blob of {file}: {decoded:?}")
            });
            // The blob must be the recording it names (a frame-exact blob: from its first
            // frame on, after the last frames of the file it continues where it starts with
            // them); the manifest's truth was decoded from the same bytes by the Python
            // original of the decoder.
            let frame_s = seg["duration_s"].as_f64().unwrap() / seg["frames"].as_f64().unwrap();
            let first_frame = seg["blob_first_frame"].as_f64().unwrap_or(0.0)
                - seg["lead_frames"].as_f64().unwrap_or(0.0);
            let first_s = first_frame * frame_s;
            if let Some((want, _)) = fixture::span(truth, &file) {
                assert!(
                    (b - want - first_s).abs() <= 0.000_2,
                    "{stream}: the blob of {file} starts at broadcast {b:.4} s, its recording's \
                     frames from {first_s:.4} s at {:.4} s",
                    want + first_s
                );
            }
            let in_s = seg["in_s"].as_f64().unwrap();
            let out_s = seg["out_s"].as_f64().unwrap();
            let length = decoded.samples as f64 / timecode::SR;
            let primed = timecode::priming_s(&std::fs::read(&path).unwrap());
            played.push(Played {
                start: seg["start"].as_str().unwrap().to_owned(),
                from: b + (in_s - first_s).max(primed),
                to: b + (out_s - first_s).min(length),
                file,
                in_s,
                out_s,
                gone_early: false,
            });
        }
    }
    played
}

/// The Rust decoder agrees with the Python one that wrote the manifests, on every fixture file.
#[test]
fn the_time_code_decoder_matches_the_manifests() {
    let (mut checked, mut primed_checked) = (0, 0);
    let mut wrong = String::new();
    for scenario in fixture::single_source_scenarios() {
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
            let tag = mp3count::scan_file(&path).unwrap().header;
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
