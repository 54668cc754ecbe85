//! Rolling back is safe: the previous release (the commit in `scripts/previous-release`, built
//! by `scripts/build-previous-release.sh`, which `scripts/test.sh` runs and passes here as
//! `PREVIOUS_RELEASE_BIN`), run over an archive this version wrote, deletes nothing whose audio
//! the archive does not hold; and this version, run again afterwards, finishes the archive.
//!
//! Every recorded fixture (those whose replicas record different audio too, issue 31) is
//! replayed into a folder and, each against a real Azurite:
//! 1. this version runs once at the snapshot (recorders still writing): it archives what is
//!    finished, frame-exact blobs and their rows included, and deletes what those hold;
//! 2. the previous release runs at the snapshot, then with every recording finished until a
//!    run archives and deletes nothing (the operator rolled back);
//! 3. this version runs again until a run archives and deletes nothing (rolled forward).
//!
//! After every run, every file gone from the folder is checked against the blobs' bytes
//! (`support::held`): a deleted file's blob holds all its frames, or the frames the blobs hold
//! cover its time code; a file holding other audio than the time code only the former. At the
//! end every recorded second of time code is in a blob, and every file of other audio has a
//! blob of all its frames.
//!
//! The issues that change what a row or a blob holds (out-points, new digests) must keep this
//! green: a row the previous release cannot verify must make it hold the file, never delete it.

mod support;
use support::held::{archived_from, archived_timecode, check_deletions, recorded};
use support::{azurite, common, fixture, spans};

use std::path::{Path, PathBuf};

/// The previous release's binary, or `None` (with a note) outside CI when it was not built.
fn previous_release() -> Option<PathBuf> {
    match std::env::var_os("PREVIOUS_RELEASE_BIN") {
        Some(bin) => {
            let bin = PathBuf::from(bin);
            assert!(
                bin.is_file(),
                "PREVIOUS_RELEASE_BIN={} is not a file: run scripts/build-previous-release.sh",
                bin.display()
            );
            Some(bin)
        }
        None if std::env::var_os("PREVIOUS_RELEASE_UNAVAILABLE").is_some() => {
            eprintln!(
                "rollback_previous: SKIPPED, the previous release cannot be built: {}",
                std::env::var("PREVIOUS_RELEASE_UNAVAILABLE").unwrap_or_default()
            );
            None
        }
        None if std::env::var_os("CI").is_some() => panic!(
            "PREVIOUS_RELEASE_BIN is not set: scripts/test.sh builds it with \
             scripts/build-previous-release.sh"
        ),
        None => {
            eprintln!(
                "rollback_previous: skipped, PREVIOUS_RELEASE_BIN is not set \
                 (PREVIOUS_RELEASE_BIN=$(scripts/build-previous-release.sh) cargo test ...)"
            );
            None
        }
    }
}

#[test]
fn the_previous_release_deletes_nothing_early_on_this_versions_archive() {
    let Some(previous) = previous_release() else {
        return;
    };
    let this = PathBuf::from(common::bin());
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let mut failures = Vec::new();
    println!(
        "scenario         runs (this / previous / this)  deleted by previous  time code archived"
    );
    for scenario in fixture::scenarios() {
        match one_scenario(&scenario, &conn, &this, &previous) {
            Ok(line) => println!("{line}"),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn one_scenario(
    scenario: &Path,
    conn: &str,
    this: &Path,
    previous: &Path,
) -> Result<String, String> {
    let name = scenario.file_name().unwrap().to_string_lossy().into_owned();
    let stream = format!("fx-rollback-{name}");
    let dir = tempfile::tempdir().unwrap();
    let manifest = fixture::replay(scenario, dir.path());
    let files = recorded(scenario, &manifest);
    let segment = manifest["segment_time"].as_u64().unwrap();
    let mut deleted_by_previous = 0;
    // One run of `bin`, checked; `true` once it archived and deleted nothing.
    let mut run = |bin: &Path, what: String| -> Result<bool, String> {
        let before = std::fs::read_dir(dir.path()).unwrap().count();
        let r = common::run(common::job_of(bin, dir.path(), conn, &stream, segment));
        r.assert_no_panic(&what);
        if !r.success() {
            return Err(format!("{what} failed:\n{}", r.describe()));
        }
        let snap = common::snapshot(conn, &stream);
        let held = archived_from(conn, &stream, scenario, &files, &snap);
        let wrong = check_deletions(dir.path(), &files, &held);
        if !wrong.is_empty() {
            return Err(format!(
                "{what}: deleted before its audio was archived:\n{}\n--- its log\n{}",
                wrong.join("\n"),
                r.stderr
            ));
        }
        if bin == previous {
            deleted_by_previous += before - std::fs::read_dir(dir.path()).unwrap().count();
        }
        Ok(r.counter("archived") == 0 && r.counter("deleted") == 0)
    };
    let fixpoint = |run: &mut dyn FnMut(&Path, String) -> Result<bool, String>,
                    bin: &Path,
                    who: &str|
     -> Result<usize, String> {
        for n in 1..=10 {
            if run(
                bin,
                format!("{name}: {who}, run {n} with every recording finished"),
            )? {
                return Ok(n);
            }
        }
        Err(format!("{name}: {who} reached no fixpoint in 10 runs"))
    };

    run(this, format!("{name}: this version at the snapshot"))?;
    run(
        previous,
        format!("{name}: the previous release at the snapshot"),
    )?;
    fixture::finish_recordings(dir.path());
    let back = fixpoint(&mut run, previous, "the previous release")?;
    let forward = fixpoint(&mut run, this, "this version again")?;

    let snap = common::snapshot(conn, &stream);
    let held = archived_from(conn, &stream, scenario, &files, &snap);
    let archived = archived_timecode(&files, &held);
    // The recorded time code as one set of spans (the replicas hold the same seconds).
    let all: Vec<(f64, f64)> = files.iter().flat_map(|f| f.timecode.clone()).collect();
    let union = spans::merge(&all);
    let recorded_s = spans::measure(&union);
    let missing_s: f64 = union
        .iter()
        .map(|&(lo, hi)| fixture::uncovered(&archived, lo, hi))
        .sum();
    if missing_s > 0.05 {
        return Err(format!(
            "{name}: {missing_s:.3} s of the recorded time code is in no blob after rolling back and forward"
        ));
    }
    // Where the replicas disagree (issue 31's fixtures), every file holding other audio than
    // the time code (another programme, a loop, silence, or a mix) keeps a blob of all its
    // frames.
    let other: Vec<&str> = files
        .iter()
        .filter(|f| f.size > 0 && f.source.as_deref() != Some("timecode"))
        .map(|f| f.name.as_str())
        .collect();
    let lost: Vec<&&str> = other.iter().filter(|f| held.get(**f) != Some(&0)).collect();
    if !lost.is_empty() {
        return Err(format!(
            "{name}: files of other audio without a blob of all their frames after rolling back and forward: {lost:?}"
        ));
    }
    Ok(format!(
        "{name:<16} 1 / {} / {}  {deleted_by_previous:>19}  {:.1} of {recorded_s:.1} s, {} of other audio",
        back + 1,
        forward,
        recorded_s - missing_s,
        other.len()
    ))
}
