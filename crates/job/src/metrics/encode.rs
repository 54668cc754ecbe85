//! The exposition: a [`Reading`] → OpenMetrics text, every metric built with the
//! `prometheus-client` crate and labelled with the stream. Pure.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use super::Reading;
use crate::outcome::RunOutcome;

/// The exposition of `reading` (OpenMetrics text, `# EOF` at the end), every metric with the
/// label `stream`, encoded by `prometheus-client`. Metrics without a value are absent.
pub fn encode_reading(reading: &Reading) -> String {
    let mut r = Registry::with_prefix_and_labels(
        "segment_selector",
        [("stream".into(), reading.stream.clone().into())].into_iter(),
    );
    let gauge = |r: &mut Registry, name: &str, help: &str, v: f64| {
        r.register(name, help, ConstGauge::new(v));
    };
    let counter = |r: &mut Registry, name: &str, help: &str, v: u64| {
        r.register(name, help, ConstCounter::new(v));
    };
    if let Some(v) = reading.archived_until {
        gauge(
            &mut r,
            "archived_until_timestamp_seconds",
            "Where the newest archived audio ends (Unix time)",
            v,
        );
    }
    if let Some(f) = &reading.folder {
        if let Some(v) = f.recorded_until {
            gauge(
                &mut r,
                "recorded_until_timestamp_seconds",
                "Where the newest recorded audio in the folder ends (Unix time)",
                v,
            );
        }
        gauge(
            &mut r,
            "replicas_recording",
            "Pods whose files grew within the recording window",
            f.replicas_recording as f64,
        );
        gauge(
            &mut r,
            "redundant_seconds_last_hour",
            "Seconds of the last hour held by at least 2 replicas",
            f.redundant_seconds_last_hour,
        );
        gauge(
            &mut r,
            "folder_files",
            "Recordings in the stream's folder",
            f.files as f64,
        );
        gauge(
            &mut r,
            "folder_bytes",
            "Their size in bytes",
            f.bytes as f64,
        );
        gauge(
            &mut r,
            "folder_oldest_file_timestamp_seconds",
            "Modification time of the oldest recording waiting (0: none)",
            f.oldest,
        );
        if let Some(v) = f.free_bytes {
            gauge(
                &mut r,
                "folder_free_bytes",
                "Free space of the share in bytes",
                v as f64,
            );
        }
        if let Some(v) = f.size_bytes {
            gauge(
                &mut r,
                "folder_size_bytes",
                "Size of the share in bytes",
                v as f64,
            );
        }
    }
    gauge(
        &mut r,
        "replicas_expected",
        "Recorders the configuration asks for",
        reading.replicas_expected as f64,
    );
    if let Some(run) = &reading.run {
        gauge(
            &mut r,
            "last_run_timestamp_seconds",
            "When the last run ended (Unix time)",
            run.ended_ms as f64 / 1000.0,
        );
        let outcome = Family::<Vec<(String, String)>, Gauge>::default();
        let runs =
            Family::<Vec<(String, String)>, prometheus_client::metrics::counter::Counter>::default(
            );
        for o in RunOutcome::ALL {
            let label = vec![("outcome".to_owned(), o.as_str().to_owned())];
            outcome
                .get_or_create(&label)
                .set(i64::from(o == run.outcome));
            runs.get_or_create(&label)
                .inc_by(run.totals.runs.get(o.as_str()).copied().unwrap_or(0));
        }
        r.register(
            "last_run_outcome",
            "1 for the last run's outcome, 0 for the others",
            outcome,
        );
        r.register("runs", "Runs by outcome", runs);
        if let Some(ms) = run.last_success_ms {
            gauge(
                &mut r,
                "last_success_timestamp_seconds",
                "When the last run with outcome ok ended (Unix time)",
                ms as f64 / 1000.0,
            );
        }
        let t = &run.totals;
        counter(&mut r, "run_errors", "Errors counted in runs", t.errors);
        counter(
            &mut r,
            "files_archived",
            "Recordings archived (blob and row)",
            t.archived,
        );
        counter(
            &mut r,
            "files_deleted",
            "Local recordings deleted (archived or superseded)",
            t.deleted,
        );
        counter(&mut r, "bytes_archived", "Bytes uploaded", t.bytes);
        counter(
            &mut r,
            "gaps",
            "New gaps (spans no replica recorded) found behind the archived-until point",
            t.gaps,
        );
        r.register(
            "dead_air_seconds",
            "Dead air found in archived segments, seconds",
            ConstCounter::new(t.dead_air_seconds),
        );
        counter(
            &mut r,
            "replica_disagreements",
            "Spans where the replicas recorded different audio",
            t.disagreements,
        );
        counter(
            &mut r,
            "late_growth",
            "Archived files found longer than their archived bytes, archived again",
            t.late_growth,
        );
        if let Some(held) = run.held {
            gauge(
                &mut r,
                "files_held",
                "Recordings held for an operator (never deleted by the job)",
                held as f64,
            );
        }
        if let Some(skew) = run.clock_skew_seconds {
            gauge(
                &mut r,
                "clock_skew_seconds",
                "The node's clock minus the share's, seconds",
                skew,
            );
        }
    }
    if let Some(v) = reading.dead_air_longest {
        gauge(
            &mut r,
            "dead_air_longest_seconds",
            "The longest dead-air span among recently archived segments, seconds",
            v,
        );
    }
    if let Some(s) = reading.storage {
        gauge(
            &mut r,
            "storage_up",
            "The storage account answered",
            f64::from(u8::from(s.up)),
        );
        gauge(
            &mut r,
            "storage_auth_ok",
            "It accepted the exporter's authentication",
            f64::from(u8::from(s.auth_ok)),
        );
    }
    gauge(
        &mut r,
        "segment_seconds",
        "The configured FILE_DURATION, seconds",
        reading.segment_seconds,
    );
    gauge(
        &mut r,
        "job_suspended",
        "1 while the chart's CronJob is suspended (JOB_SUSPENDED)",
        f64::from(u8::from(reading.job_suspended)),
    );
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &r);
    text
}
