//! The planner over every recorded fixture scenario (real ffmpeg files from a real Icecast,
//! described by `fixtures/*/manifest.json`): planned at the snapshot, carried out, then
//! planned again long after every recorder stopped. What it deletes is covered by what it
//! archived, and in the end every recorded second is archived (checked with the time code
//! decoded from the recordings, not with the planner's own estimates).
//!
//! It answers every comparison the planner asks for "same audio" and takes a file's span for
//! all of its audio, so it leaves out the scenarios whose replicas record more than one source
//! (the manifest's `"sources"`, issue 31: `other-source`, `fallback-loop`, `fallback-silence`);
//! `crates/job/tests/fixtures_disagree.rs` runs the real job, comparisons and all, over them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use selection::{
    alignment_candidates, Alignment, ArchiveState, ArchivedSegment, Audio, AudioFacts, Comparison,
    Plan, Planning, SeenFile, Settings, Verdict,
};
use serde_json::Value;

/// The fixture scenarios whose replicas all recorded the time code (no `"sources"` listing
/// another).
fn scenarios() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let single_source = |p: &Path| {
        let m: Value =
            serde_json::from_str(&std::fs::read_to_string(p.join("manifest.json")).unwrap())
                .unwrap();
        m["sources"]
            .as_array()
            .is_none_or(|s| s.iter().all(|x| x == "timecode"))
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.json").exists() && single_source(p))
        .collect();
    v.sort();
    v
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// What the job would measure: counted frames, the header's claim, a clean end when they agree.
fn seen(f: &Value, modified: DateTime<Utc>) -> SeenFile {
    let frames = f["frames"].as_u64().unwrap_or(0);
    let header = f["xing_frames"].as_u64();
    SeenFile {
        name: f["name"].as_str().unwrap().into(),
        size: f["size"].as_u64().unwrap(),
        modified,
        audio: Audio::Measured(AudioFacts {
            frames,
            sample_rate: 22_050,
            samples_per_frame: 576,
            clean_end: header == Some(frames),
            header_frames: header,
        }),
    }
}

fn span(f: &Value) -> Option<(f64, f64)> {
    Some((
        f["broadcast_start_s"].as_f64()?,
        f["broadcast_end_s"].as_f64()?,
    ))
}

fn uncovered(spans: &[(f64, f64)], lo: f64, hi: f64) -> f64 {
    let mut v = spans.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (mut at, mut missing) = (lo, 0.0);
    for (s, e) in v {
        if e > at && s < hi {
            missing += (s - at).max(0.0);
            at = at.max(e);
        }
    }
    missing + (hi - at).max(0.0)
}

struct Run {
    state: ArchiveState,
    archived: Vec<(f64, f64)>,
    deleted: Vec<String>,
    /// Each upload's planned audio start (ms) and its true broadcast span (s).
    starts: Vec<(i64, f64, f64)>,
    /// The file of each entry of `starts`.
    uploads: Vec<String>,
}

impl Run {
    fn apply(&mut self, p: &Plan, files: &[Value], name: &str) {
        let by_name = |n: &str| files.iter().find(|f| f["name"] == n).unwrap();
        for u in &p.uploads {
            self.state.segments.push(ArchivedSegment {
                file_name: u.file.clone(),
                blob_name: Some(u.blob_name.clone()),
                size: Some(u.size),
                duration: Some(u.duration),
                truncated: u.truncated,
                audio_start: Some(u.audio_start),
                name_start: Some(u.name_time),
            });
            self.archived.extend(span(by_name(&u.file)));
            if let Some((start, end)) = span(by_name(&u.file)) {
                self.starts
                    .push((u.audio_start.timestamp_millis(), start, end));
                self.uploads.push(u.file.clone());
            }
        }
        for d in &p.deletions {
            if let Some((lo, hi)) = span(by_name(&d.file)) {
                let missing = uncovered(&self.archived, lo, hi);
                assert!(
                    missing <= 0.05,
                    "{name}: {} deleted with {missing:.3} s not archived",
                    d.file
                );
            }
            self.state.gone.extend(d.remember.clone());
            self.deleted.push(d.file.clone());
        }
    }
}

/// Content alignment as the job would measure it, here taken from the time code.
fn aligned(
    files: &[SeenFile],
    state: &ArchiveState,
    settings: &Settings,
    now: DateTime<Utc>,
    truth: &[Value],
    on: bool,
) -> Vec<Alignment> {
    if !on {
        return vec![];
    }
    let start = |n: &str| {
        truth
            .iter()
            .find(|f| f["name"] == n)
            .and_then(|f| f["broadcast_start_s"].as_f64())
    };
    alignment_candidates(files, state, settings, now)
        .into_iter()
        // The time code is never in doubt: as the job, no alternate pair is measured.
        .filter(|c| !c.alternate)
        .filter_map(|c| {
            let offset = start(&c.b)? - start(&c.a)?;
            Some(Alignment {
                a: c.a,
                b: c.b,
                offset_ms: (offset * 1000.0).round() as i64,
            })
        })
        .collect()
}

#[test]
fn every_scenario_ends_fully_archived() {
    scenarios_end_fully_archived(false);
}

#[test]
fn every_scenario_ends_fully_archived_with_content_alignment() {
    scenarios_end_fully_archived(true);
}

/// Plan as the job does: compare the files a plan asks about, and plan again with the
/// verdicts. Every fixture's replicas record one stream, so the time code says: the same.
fn compared(
    files: &[SeenFile],
    state: &ArchiveState,
    alignments: &[Alignment],
    settings: &Settings,
    now: DateTime<Utc>,
) -> Plan {
    let mut planning = Planning::new(files, state, alignments, settings, now);
    while let Some(asked) = planning.questions() {
        let same = asked.iter().map(|c| Comparison {
            file: c.file.clone(),
            with: c.with.clone(),
            verdict: Verdict::Same,
        });
        let same: Vec<Comparison> = same.collect();
        planning.answer(same);
    }
    planning.finish().0
}

fn scenarios_end_fully_archived(align: bool) {
    let mut report = Vec::new();
    for dir in scenarios() {
        let m: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        let name = m["scenario"].as_str().unwrap().to_string();
        let files = m["files"].as_array().unwrap().clone();
        let mut settings = Settings::new(m["segment_time"].as_u64().unwrap(), "hope").unwrap();
        settings.finish_grace = Duration::from_secs(35);
        let snapshot = time(&m["snapshot_at"]);
        let mut run = Run {
            state: ArchiveState::default(),
            archived: vec![],
            deleted: vec![],
            starts: vec![],
            uploads: vec![],
        };

        let now_files: Vec<SeenFile> = files.iter().map(|f| seen(f, time(&f["mtime"]))).collect();
        let al = aligned(&now_files, &run.state, &settings, snapshot, &files, align);
        let p = compared(&now_files, &run.state, &al, &settings, snapshot);
        run.state.alignments.extend(al);
        for f in files.iter().filter(|f| f["live"].as_bool() == Some(true)) {
            let n = f["name"].as_str().unwrap();
            assert!(
                !p.uploads.iter().any(|u| u.file == n) && !p.deletions.iter().any(|d| d.file == n),
                "{name}: live {n} touched"
            );
        }
        run.apply(&p, &files, &name);

        // Long after: every recorder stopped, every file is finished.
        let later = snapshot + TimeDelta::hours(1);
        for _ in 0..2 {
            let left: Vec<SeenFile> = files
                .iter()
                .filter(|f| !run.deleted.iter().any(|d| f["name"] == d.as_str()))
                .map(|f| seen(f, time(&f["mtime"])))
                .collect();
            let al = aligned(&left, &run.state, &settings, later, &files, align);
            let p = compared(&left, &run.state, &al, &settings, later);
            run.state.alignments.extend(al);
            run.apply(&p, &files, &name);
        }
        let again: Vec<SeenFile> = files
            .iter()
            .filter(|f| !run.deleted.iter().any(|d| f["name"] == d.as_str()))
            .map(|f| seen(f, time(&f["mtime"])))
            .collect();
        assert!(
            again.is_empty(),
            "{name}: files left: {:?}",
            again.iter().map(|f| &f.name).collect::<Vec<_>>()
        );

        let recorded: Vec<(f64, f64)> = files.iter().filter_map(span).collect();
        let (lo, hi) = recorded
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &(s, e)| (l.min(s), h.max(e)));
        let recorded_s = (hi - lo) - uncovered(&recorded, lo, hi);
        let archived_s = (hi - lo) - uncovered(&run.archived, lo, hi);
        let total: f64 = run.archived.iter().map(|(s, e)| e - s).sum();
        assert!(
            recorded_s - archived_s <= 0.05,
            "{name}: recorded {recorded_s:.2} s, archived {archived_s:.2} s"
        );
        // Where the plan places audio on the broadcast clock (the recorders' wall clock, the
        // source's start plus the time code): what a range cut by wall time relies on.
        let source_start = time(&m["source_started_at"]).timestamp_millis() as f64 / 1000.0;
        let (worst_abs, worst_file) = run
            .starts
            .iter()
            .map(|&(planned, start, _)| (planned as f64 / 1000.0 - (source_start + start)).abs())
            .zip(&run.uploads)
            .fold((0.0f64, String::new()), |(w, f), (e, u)| {
                if e > w {
                    (e, u.clone())
                } else {
                    (w, f)
                }
            });
        assert!(
            worst_abs <= 1.0,
            "{name}: {worst_file} is placed {worst_abs:.3} s off the broadcast clock"
        );
        // Where the plan places archived audio relative to the previous archived segment,
        // against the time code: the join error a player using the day manifest would hear.
        // Across a span nobody recorded there is nothing to join, only a gap to report.
        run.starts.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap());
        let (mut worst_join, mut worst_across_gap) = (0.0f64, 0.0f64);
        let mut reach = f64::MIN;
        for w in run.starts.windows(2) {
            let error = (((w[1].0 - w[0].0) as f64 / 1000.0) - (w[1].1 - w[0].1)).abs();
            reach = reach.max(w[0].2);
            let touching = w[1].1 <= reach + 0.03;
            let worst = if touching {
                &mut worst_join
            } else {
                &mut worst_across_gap
            };
            *worst = worst.max(error);
        }
        report.push(format!(
            "{name}: {:.2} % of {recorded_s:.1} s archived, {:.1} s twice, joins placed within \
             {:.0} ms ({:.0} ms across unrecorded spans), starts within {:.0} ms of the \
             broadcast clock (worst {worst_file})",
            100.0 * archived_s / recorded_s,
            total - archived_s,
            worst_join * 1000.0,
            worst_across_gap * 1000.0,
            worst_abs * 1000.0,
        ));
        if align {
            // Content alignments place recordings to the millisecond, and records keep what
            // one run placed where the next one finds it: joins are exact to a frame.
            assert!(
                worst_join <= 0.030,
                "{name}: a join is placed {:.0} ms off",
                worst_join * 1000.0
            );
        }
    }
    println!("{}", report.join("\n"));
}
