//! What a folder's file held, and which recorders are recording: the pure rules behind
//! `segment_selector_redundant_seconds_last_hour` and `segment_selector_replicas_recording`.
//! Who held each moment is counted by the archive model ([`archive_model::held`]), the same
//! count the day picture's band shows. No I/O, no clock: the folder's files, the archive's
//! rows and `now` are arguments.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// What a file in the folder held: from its name's time to its modification time (its last
/// write), at most one and a half segments (`FILE_DURATION`): a name and a modification time
/// further apart than that come from disagreeing clocks, or a copied file, and say nothing
/// about when it was recorded.
pub fn file_span(
    name_start: DateTime<Utc>,
    modified: DateTime<Utc>,
    segment: Duration,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let longest = TimeDelta::from_std(segment.mul_f64(1.5)).unwrap_or(TimeDelta::MAX);
    let start = name_start.max(modified.checked_sub_signed(longest).unwrap_or(name_start));
    (start.min(modified), modified)
}

/// ffmpeg writes a segment in chunks of this many bytes (its AVIO buffer): a file being
/// recorded grows, and its modification time moves, once per chunk.
pub const WRITE_CHUNK: f64 = 256.0 * 1024.0;

/// The byte rate assumed when none is known: 32 kb/s, the lowest a stream is recorded at,
/// so the window is the longest one.
pub const DEFAULT_BYTE_RATE: f64 = 32_000.0 / 8.0;

/// How recently a recorder's newest file must have grown for it to count as recording: two of
/// ffmpeg's write intervals, plus the share's attribute cache (`SHARE_CACHE_SECONDS`),
/// through which the exporter may see a modification time that old. The write interval is a
/// chunk at the stream's byte rate (bytes per second, measured from finished files, else
/// [`DEFAULT_BYTE_RATE`]), but a segment shorter than a chunk is written once, when ffmpeg
/// closes it and opens the next: then the segment time and 2 s (the job's idle wait reasons
/// the same way, `selection::classify::grace_for`).
pub fn recording_window(
    byte_rate: Option<f64>,
    segment_time: Duration,
    share_cache: Duration,
) -> Duration {
    let rate = byte_rate
        .filter(|r| r.is_finite() && *r > 0.0)
        .unwrap_or(DEFAULT_BYTE_RATE);
    let interval = (WRITE_CHUNK / rate).min(segment_time.as_secs_f64() + 2.0);
    Duration::from_secs_f64((2.0 * interval).min(86_400.0)) + share_cache
}

/// A pod's newest file as one look at the folder saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newest {
    pub name: String,
    pub size: u64,
    pub modified: DateTime<Utc>,
}

/// Pods recording at `now`: those whose newest file was modified within `window` by the
/// modification time, or that the exporter saw grow (another newest file, or its size or
/// modification time changed) since an earlier look taken at most `window` before `now`.
/// The second rule needs no agreement between the node's and the share's clocks.
pub fn replicas_recording(
    newest: &HashMap<String, Newest>,
    earlier: Option<(DateTime<Utc>, &HashMap<String, Newest>)>,
    now: DateTime<Utc>,
    window: Duration,
) -> usize {
    let window = TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX);
    newest
        .iter()
        .filter(|(pod, file)| {
            let recent = now - file.modified <= window;
            let grew = earlier.is_some_and(|(at, before)| {
                now - at <= window && before.get(*pod).is_some_and(|b| b != *file)
            });
            recent || grew
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        format!("2026-12-07T{s}Z").parse().unwrap()
    }

    #[test]
    fn a_file_holds_from_its_name_to_its_last_write_and_at_most_a_segment_and_a_half() {
        let ten = Duration::from_secs(600);
        assert_eq!(
            file_span(t("10:00:00"), t("10:10:01"), ten),
            (t("10:00:00"), t("10:10:01"))
        );
        // A name days older than its modification time (a copied file, a recorder's clock).
        let old: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
        assert_eq!(
            file_span(old, t("10:30:00"), ten),
            (t("10:15:00"), t("10:30:00"))
        );
        // A name after its modification time: an empty span at the modification time.
        assert_eq!(
            file_span(t("10:31:00"), t("10:30:00"), ten),
            (t("10:30:00"), t("10:30:00"))
        );
    }

    #[test]
    fn a_fully_redundant_hour_is_3600_seconds() {
        use archive_model::held::{seconds_held_by_at_least, Evidence, Holding};
        let held = |pod: &str, start, end, evidence| Holding {
            pod: pod.into(),
            file: String::new(),
            start: t(start),
            end: t(end),
            evidence,
        };
        let spans = [
            held("a", "09:55:00", "11:05:00", Evidence::Kept),
            held("b", "09:58:00", "11:01:00", Evidence::Pending),
        ];
        assert_eq!(
            seconds_held_by_at_least(&spans, t("10:00:00"), t("11:00:00"), 2),
            3600.0
        );
    }

    #[test]
    fn the_window_is_two_writes_at_the_byte_rate_plus_the_cache() {
        let cache = Duration::from_secs(30);
        let segment = Duration::from_secs(600);
        // 32 kb/s: 256 KiB every 65.5 s.
        let w = recording_window(None, segment, cache).as_secs_f64();
        assert!((w - (2.0 * 262_144.0 / 4_000.0 + 30.0)).abs() < 1e-6, "{w}");
        assert_eq!(
            recording_window(Some(0.0), segment, cache),
            recording_window(None, segment, cache)
        );
        assert_eq!(
            recording_window(Some(f64::NAN), segment, cache),
            recording_window(None, segment, cache)
        );
        // 128 kb/s: four times as often.
        let w = recording_window(Some(16_000.0), segment, Duration::ZERO).as_secs_f64();
        assert!((w - 32.768).abs() < 1e-6, "{w}");
    }

    #[test]
    fn a_segment_shorter_than_a_write_is_written_once_a_segment() {
        // 10-s segments at 32 kb/s are 40 KB: ffmpeg writes each once, when it closes it, so a
        // recorder's newest file changes every 10 s, not every 65.5 s.
        let ten = Duration::from_secs(10);
        let w = recording_window(Some(4_000.0), ten, Duration::ZERO).as_secs_f64();
        assert!((w - 24.0).abs() < 1e-6, "{w}");
        let w = recording_window(None, ten, Duration::from_secs(30)).as_secs_f64();
        assert!((w - 54.0).abs() < 1e-6, "{w}");
        // Where a chunk comes sooner than the segment's end, the chunk.
        let w = recording_window(Some(16_000.0), Duration::from_secs(60), Duration::ZERO);
        assert!((w.as_secs_f64() - 32.768).abs() < 1e-6, "{w:?}");
    }

    fn newest(entries: &[(&str, &str, u64, &str)]) -> HashMap<String, Newest> {
        entries
            .iter()
            .map(|(pod, name, size, modified)| {
                (
                    pod.to_string(),
                    Newest {
                        name: name.to_string(),
                        size: *size,
                        modified: t(modified),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_pod_records_when_its_newest_file_grew_within_the_window() {
        let window = Duration::from_secs(100);
        let now = t("10:10:00");
        let seen = newest(&[
            ("a", "a_1.mp3", 500, "10:09:00"),
            ("b", "b_1.mp3", 500, "10:00:00"),
        ]);
        assert_eq!(replicas_recording(&seen, None, now, window), 1);
        // b's modification time is old by the node's clock, but it grew since a look 60 s ago.
        let before = newest(&[
            ("a", "a_1.mp3", 400, "10:08:00"),
            ("b", "b_1.mp3", 300, "10:00:00"),
        ]);
        assert_eq!(
            replicas_recording(&seen, Some((t("10:09:00"), &before)), now, window),
            2
        );
        // A look too long ago proves nothing about the window.
        assert_eq!(
            replicas_recording(&seen, Some((t("10:05:00"), &before)), now, window),
            1
        );
        // Unchanged since the last look.
        assert_eq!(
            replicas_recording(&seen, Some((t("10:09:00"), &seen)), now, window),
            1
        );
        // A new newest file counts as growth.
        let next = newest(&[
            ("a", "a_1.mp3", 500, "10:09:00"),
            ("b", "b_2.mp3", 10, "10:00:00"),
        ]);
        assert_eq!(
            replicas_recording(&next, Some((t("10:09:00"), &seen)), now, window),
            2
        );
    }
}
