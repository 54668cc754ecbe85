//! The exporter's pure parts and one refresh over a real run in memory.

use std::time::Duration;

use chrono::TimeDelta;

use super::*;
use crate::outcome::{self, RunFacts, RunOutcome, RunRecord};
use crate::run::{run, Partitions};
use crate::testkit;
use store::memory::InMemoryArchive;
use store::Archive as _;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn exporter_settings_have_defaults_and_errors_name_the_variable() {
    let d = ExporterSettings::from_vars(vars(&[])).unwrap();
    assert_eq!(
        d,
        ExporterSettings {
            job_suspended: false,
            replicas_expected: 2,
            refresh: Duration::from_secs(30)
        }
    );
    let s = ExporterSettings::from_vars(vars(&[
        ("JOB_SUSPENDED", "True"),
        ("REPLICAS_EXPECTED", "3"),
        ("METRICS_REFRESH_SECONDS", " 1 "),
    ]))
    .unwrap();
    assert!(s.job_suspended);
    assert_eq!(
        (s.replicas_expected, s.refresh),
        (3, Duration::from_secs(1))
    );
    for (k, v) in [
        ("JOB_SUSPENDED", "yes"),
        ("REPLICAS_EXPECTED", "0"),
        ("REPLICAS_EXPECTED", "two"),
        ("METRICS_REFRESH_SECONDS", "0"),
        ("METRICS_REFRESH_SECONDS", "-5"),
        ("METRICS_REFRESH_SECONDS", "3601"),
    ] {
        let e = ExporterSettings::from_vars(vars(&[(k, v)]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(k), "{k}={v}: {e}");
    }
}

/// Every metric of docs/operations.md's table: (name as exposed, folder metric).
pub(crate) const CONTRACT: [(&str, bool); 29] = [
    ("segment_selector_archived_until_timestamp_seconds", false),
    ("segment_selector_recorded_until_timestamp_seconds", true),
    ("segment_selector_replicas_recording", true),
    ("segment_selector_replicas_expected", false),
    ("segment_selector_redundant_seconds_last_hour", true),
    ("segment_selector_last_run_timestamp_seconds", false),
    ("segment_selector_last_run_outcome", false),
    ("segment_selector_last_success_timestamp_seconds", false),
    ("segment_selector_runs_total", false),
    ("segment_selector_run_errors_total", false),
    ("segment_selector_files_archived_total", false),
    ("segment_selector_files_deleted_total", false),
    ("segment_selector_bytes_archived_total", false),
    ("segment_selector_folder_files", true),
    ("segment_selector_folder_bytes", true),
    (
        "segment_selector_folder_oldest_file_timestamp_seconds",
        true,
    ),
    ("segment_selector_folder_free_bytes", true),
    ("segment_selector_folder_size_bytes", true),
    ("segment_selector_gaps_total", false),
    ("segment_selector_dead_air_seconds_total", false),
    ("segment_selector_dead_air_longest_seconds", false),
    ("segment_selector_files_held", false),
    ("segment_selector_clock_skew_seconds", false),
    ("segment_selector_replica_disagreements_total", false),
    ("segment_selector_late_growth_total", false),
    ("segment_selector_storage_up", false),
    ("segment_selector_storage_auth_ok", false),
    ("segment_selector_segment_seconds", false),
    ("segment_selector_job_suspended", false),
];

/// The value of `name`'s sample whose labels contain `labels`, from an exposition.
pub(crate) fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn full_reading() -> Reading {
    let facts = RunFacts {
        summary: Some(crate::execute::Summary {
            archived: 3,
            deleted: 2,
            bytes: 4096,
            held_for_operator: 1,
            silence_seconds: 20.5,
            ..Default::default()
        }),
        clock_skew_seconds: Some(0.25),
        ..RunFacts::default()
    };
    let at: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().unwrap();
    Reading {
        stream: "hope".into(),
        segment_seconds: 600.0,
        replicas_expected: 2,
        job_suspended: true,
        storage: Some(StorageState {
            up: true,
            auth_ok: false,
        }),
        archived_until: Some(1_800_000_000.5),
        dead_air_longest: Some(31.0),
        run: Some(RunRecord::next(
            None,
            RunOutcome::Ok,
            &facts,
            at,
            at + TimeDelta::seconds(20),
        )),
        folder: Some(FolderReading {
            recorded_until: Some(1_800_000_100.0),
            replicas_recording: 2,
            files: 4,
            bytes: 1000,
            oldest: 1_799_999_000.0,
            free_bytes: Some(10),
            size_bytes: Some(100),
            redundant_seconds_last_hour: 3600.0,
        }),
    }
}

#[test]
fn every_contract_metric_is_exposed_with_the_stream_label() {
    let text = encode_reading(&full_reading());
    assert!(text.ends_with("# EOF\n"), "{text}");
    for (name, _) in CONTRACT {
        assert!(
            sample(&text, name, "stream=\"hope\"").is_some(),
            "{name} missing:\n{text}"
        );
    }
    let s = |name: &str, labels: &str| sample(&text, name, labels).unwrap();
    assert_eq!(
        s("segment_selector_last_run_outcome", "outcome=\"ok\""),
        1.0
    );
    assert_eq!(
        s("segment_selector_last_run_outcome", "outcome=\"failed\""),
        0.0
    );
    assert_eq!(s("segment_selector_runs_total", "outcome=\"ok\""), 1.0);
    assert_eq!(s("segment_selector_runs_total", "outcome=\"locked\""), 0.0);
    assert_eq!(
        s("segment_selector_archived_until_timestamp_seconds", ""),
        1_800_000_000.5
    );
    assert_eq!(s("segment_selector_dead_air_seconds_total", ""), 20.5);
    assert_eq!(s("segment_selector_files_held", ""), 1.0);
    assert_eq!(s("segment_selector_storage_auth_ok", ""), 0.0);
    assert_eq!(s("segment_selector_job_suspended", ""), 1.0);
    assert_eq!(
        s("segment_selector_last_run_timestamp_seconds", ""),
        1_796_637_620.0
    );
}

#[test]
fn folder_and_archive_metrics_are_absent_not_zero() {
    let reading = Reading {
        folder: None,
        archived_until: None,
        run: None,
        dead_air_longest: None,
        ..full_reading()
    };
    let text = encode_reading(&reading);
    for (name, folder) in CONTRACT {
        let archive_fact = matches!(
            name,
            "segment_selector_archived_until_timestamp_seconds"
                | "segment_selector_dead_air_longest_seconds"
        );
        let from_run = !folder
            && !archive_fact
            && !matches!(
                name,
                "segment_selector_replicas_expected"
                    | "segment_selector_storage_up"
                    | "segment_selector_storage_auth_ok"
                    | "segment_selector_segment_seconds"
                    | "segment_selector_job_suspended"
            );
        let present = sample(&text, name, "stream=\"hope\"").is_some();
        assert_eq!(
            present,
            !(folder || archive_fact || from_run),
            "{name}:\n{text}"
        );
    }
}

/// A real run of `steady` in memory, then a refresh: what it reads, and that it wrote nothing.
#[test]
fn a_refresh_reads_the_run_and_writes_nothing() {
    let dir = testkit::folder("steady");
    let settings = testkit::settings(dir.path());
    let archive = InMemoryArchive::new("hope");
    let partitions = testkit::memory_partitions(&archive);
    // The outcome row in the archive the exporter reads.
    let runs = archive.partition(&crate::outcome::runs_partition("hope"));
    let parts = Partitions {
        archive: &archive,
        runs: &runs,
        ..partitions.parts()
    };
    let runtime = testkit::paused_runtime();
    runtime.block_on(run(&parts, &settings, false)).unwrap();
    runtime.block_on(run(&parts, &settings, false)).unwrap();
    let record = outcome::run_record(&runtime.block_on(runs.first_rows(1)).unwrap()[0]).unwrap();
    assert_eq!(record.outcome, RunOutcome::Ok);
    assert_eq!(record.totals.runs["ok"], 2);
    assert!(record.totals.archived > 0);
    assert_eq!(record.held, Some(0));

    let before = archive.snapshot();
    let exporter = ExporterSettings::from_vars(vars(&[])).unwrap();
    let sources = Sources {
        archive: &archive,
        gone: &partitions.gone,
        runs: &runs,
    };
    let mut memory = Memory::default();
    let now = Utc::now();
    let reading = runtime.block_on(refresh(&sources, &settings, &exporter, &mut memory, now));
    assert_eq!(
        archive.snapshot(),
        before,
        "the refresh changed the archive"
    );
    assert_eq!(reading.run.as_ref(), Some(&record));
    assert_eq!(
        reading.storage,
        Some(StorageState {
            up: true,
            auth_ok: true
        })
    );
    let rows = runtime.block_on(archive.first_rows(1000)).unwrap();
    let end = rows
        .iter()
        .filter_map(|r| Some(r.audio_start_ms? as f64 / 1000.0 + r.duration_us? as f64 / 1e6))
        .fold(f64::MIN, f64::max);
    let until = reading.archived_until.unwrap();
    assert!((until - end).abs() < 0.002, "{until} vs {end}");
    // The folder: what the runs left (an hour old: nobody recording), and its space.
    let folder = reading.folder.clone().unwrap();
    assert_eq!(folder.files as usize, testkit::files(dir.path()).len());
    assert_eq!(folder.replicas_recording, 0);
    assert!(folder.size_bytes.unwrap() >= folder.free_bytes.unwrap());
    // The folder gone: its metrics are absent, the archive's stay.
    let moved = dir.path().with_extension("moved");
    std::fs::rename(dir.path(), &moved).unwrap();
    let reading = runtime.block_on(refresh(&sources, &settings, &exporter, &mut memory, now));
    std::fs::rename(&moved, dir.path()).unwrap();
    assert_eq!(reading.folder, None);
    assert_eq!(reading.archived_until, Some(until));
}

#[test]
fn a_growing_file_counts_its_recorder_and_the_hour_counts_two_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let now: DateTime<Utc> = Utc::now();
    let name_of = |pod: &str, t: DateTime<Utc>| format!("{pod}_{}.mp3", t.format("%Y%m%dT%H%M%S"));
    // Sparse files of 128 kb/s recordings: the byte rate sets the recording window.
    let write = |name: &str, bytes: u64, modified: DateTime<Utc>| {
        let f = std::fs::File::create(dir.path().join(name)).unwrap();
        f.set_len(bytes).unwrap();
        f.set_modified(modified.into()).unwrap();
    };
    // Both pods recorded the last 70 minutes in 10-minute files; pod-a writes now, pod-b
    // stopped 20 minutes ago.
    let start = now - TimeDelta::minutes(70);
    for i in 0..7 {
        let t = start + TimeDelta::minutes(10 * i);
        write(&name_of("pod-a", t), 9_600_000, t + TimeDelta::minutes(10));
        if i < 5 {
            write(&name_of("pod-b", t), 9_600_000, t + TimeDelta::minutes(10));
        }
    }
    let mut settings = testkit::settings(dir.path());
    settings.selection = selection::Settings::new(600, "hope").unwrap();
    let archive = InMemoryArchive::new("hope");
    let sources = Sources {
        archive: &archive,
        gone: &archive,
        runs: &archive,
    };
    let exporter = ExporterSettings::from_vars(vars(&[])).unwrap();
    let runtime = testkit::runtime();
    let mut memory = Memory::default();
    let reading = runtime.block_on(refresh(&sources, &settings, &exporter, &mut memory, now));
    let folder = reading.folder.unwrap();
    assert_eq!(folder.replicas_recording, 1);
    assert_eq!(folder.files, 12);
    // pod-b held up to 20 minutes ago: 40 minutes of the hour twice (names to the second).
    let twice = folder.redundant_seconds_last_hour;
    assert!((twice - 2400.0).abs() <= 1.0, "{twice}");
    assert_eq!(reading.archived_until, None);
    assert!(reading.run.is_none());
}

/// The last hour's archived and gone rows count as what their pods held, beside the folder.
#[test]
fn archived_and_gone_rows_of_the_last_hour_count_as_held() {
    let dir = tempfile::tempdir().unwrap();
    let settings = testkit::settings(dir.path());
    let archive = InMemoryArchive::new("hope");
    let gone = archive.partition(&archive_model::rows::gone_partition("hope"));
    let now: DateTime<Utc> = Utc::now();
    let row = |pod: &str, start: DateTime<Utc>, minutes: i64| store::SegmentRow {
        row_key: archive_model::rows::row_key(start, pod),
        file_name: format!("{pod}_{}.mp3", start.format("%Y%m%dT%H%M%S")),
        pod: Some(pod.into()),
        audio_start_ms: Some(start.timestamp_millis()),
        duration_us: Some(minutes * 60_000_000),
        ..Default::default()
    };
    let runtime = testkit::runtime();
    runtime.block_on(async {
        // pod-a archived the last 80 minutes; pod-b's copies of 30 of them were deleted as
        // duplicates (gone rows); a row two hours old is not read.
        for i in 0..8 {
            let start = now - TimeDelta::minutes(80 - 10 * i);
            archive.insert_row(&row("pod-a", start, 10)).await.unwrap();
        }
        archive
            .insert_row(&row("pod-a", now - TimeDelta::hours(2), 10))
            .await
            .unwrap();
        for i in 0..3 {
            let start = now - TimeDelta::minutes(50 - 10 * i);
            gone.insert_row(&row("pod-b", start, 10)).await.unwrap();
        }
    });
    let sources = Sources {
        archive: &archive,
        gone: &gone,
        runs: &archive,
    };
    let exporter = ExporterSettings::from_vars(vars(&[])).unwrap();
    let reading = runtime.block_on(refresh(
        &sources,
        &settings,
        &exporter,
        &mut Memory::default(),
        now,
    ));
    let folder = reading.folder.unwrap();
    assert!(
        (folder.redundant_seconds_last_hour - 1800.0).abs() < 0.01,
        "{}",
        folder.redundant_seconds_last_hour
    );
    assert_eq!(folder.files, 0);
    assert_eq!(folder.oldest, 0.0);
    assert_eq!(folder.recorded_until, None);
    // The newest row started 10 minutes ago and lasts 10.
    let end = now.timestamp_millis() as f64 / 1000.0;
    assert_eq!(reading.archived_until, Some(end));
}

/// A refresh whose reads fail keeps the last archive facts and says the storage is down.
#[test]
fn a_failed_read_keeps_the_last_facts_and_reports_the_storage_down() {
    use store::faulty::{Calls, Fault, FaultyArchive, Operation};
    let dir = tempfile::tempdir().unwrap();
    let settings = testkit::settings(dir.path());
    let archive = FaultyArchive::new(InMemoryArchive::new("hope"));
    let now: DateTime<Utc> = Utc::now();
    let runtime = testkit::runtime();
    let start = now - TimeDelta::minutes(10);
    runtime
        .block_on(archive.insert_row(&store::SegmentRow {
            row_key: archive_model::rows::row_key(start, "pod-a"),
            file_name: format!("pod-a_{}.mp3", start.format("%Y%m%dT%H%M%S")),
            pod: Some("pod-a".into()),
            audio_start_ms: Some(start.timestamp_millis()),
            duration_us: Some(600_000_000),
            ..Default::default()
        }))
        .unwrap();
    let sources = Sources {
        archive: &archive,
        gone: &archive,
        runs: &archive,
    };
    let exporter = ExporterSettings::from_vars(vars(&[])).unwrap();
    let mut memory = Memory::default();
    let first = runtime.block_on(refresh(&sources, &settings, &exporter, &mut memory, now));
    assert!(first.archived_until.is_some());
    assert_eq!(
        first.storage,
        Some(StorageState {
            up: true,
            auth_ok: true
        })
    );
    archive.fail(Operation::FirstRows, Calls::From(1), Fault::Before);
    archive.fail(Operation::RowsInRange, Calls::From(1), Fault::Before);
    let second = runtime.block_on(refresh(&sources, &settings, &exporter, &mut memory, now));
    assert_eq!(second.archived_until, first.archived_until);
    assert_eq!(
        second.storage,
        Some(StorageState {
            up: false,
            auth_ok: true
        })
    );
}

/// The folder's metrics are published before the archive is asked anything: while the
/// storage account does not answer (each request waiting out its retries), files waiting and
/// replicas recording are still seen, beside the archive's facts as last read.
#[test]
fn the_folder_is_published_before_the_archive_is_read() {
    use store::faulty::{Calls, Fault, FaultyArchive, Operation};
    let dir = tempfile::tempdir().unwrap();
    let now: DateTime<Utc> = Utc::now();
    let t = now - TimeDelta::minutes(12);
    let file = dir
        .path()
        .join(format!("pod-a_{}.mp3", t.format("%Y%m%dT%H%M%S")));
    std::fs::File::create(&file)
        .unwrap()
        .set_len(9_600_000)
        .unwrap();
    let settings = testkit::settings(dir.path());
    let archive = FaultyArchive::new(InMemoryArchive::new("hope"));
    let sources = Sources {
        archive: &archive,
        gone: &archive,
        runs: &archive,
    };
    let exporter = ExporterSettings::from_vars(vars(&[])).unwrap();
    let runtime = testkit::runtime();
    let mut memory = Memory::default();
    let first = runtime.block_on(refresh(&sources, &settings, &exporter, &mut memory, now));
    let asked = |a: &FaultyArchive<InMemoryArchive>| {
        a.calls(Operation::FirstRows) + a.calls(Operation::RowsInRange)
    };
    let before = asked(&archive);
    archive.fail(Operation::FirstRows, Calls::From(1), Fault::Before);
    archive.fail(Operation::RowsInRange, Calls::From(1), Fault::Before);
    let mut early = None;
    let second = runtime.block_on(refresh_with(
        &sources,
        &settings,
        &exporter,
        &mut memory,
        now,
        |r: &Reading| early = Some((r.clone(), asked(&archive))),
    ));
    let (early, asked_then) = early.expect("an early reading");
    assert_eq!(
        asked_then, before,
        "the archive was asked before the folder was published"
    );
    assert_eq!(early.folder.as_ref().map(|f| f.files), Some(1));
    assert_eq!(early.storage, first.storage, "the storage as last seen");
    assert_eq!(early.archived_until, first.archived_until);
    assert_eq!(second.folder, early.folder);
    assert_eq!(second.storage.map(|s| s.up), Some(false));
}
