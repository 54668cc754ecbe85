//! How archived segments are written to and read from the table.
//!
//! RowKeys follow the original job's scheme, an inverted time as digits so the newest row
//! sorts first (the Node job reads the first row as its reference), but the time is the
//! segment's name time, not the upload time, and the pod follows: a repeated insert of the
//! same segment collides instead of adding a row.
//!
//! The RowKey's time is the instant the name was resolved to when the row was written, so it
//! also says which of the two instants a name in the hour repeated by a daylight-saving
//! fall-back means ([`key_time`]); rows read back mean what they meant when written.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use selection::{Alignment, ArchivedSegment, GoneSegment, Sighting, Upload};

use crate::joins::Points;
use store::SegmentRow;

/// .NET's `DateTime.MaxValue.Ticks`: 100-ns ticks since 0001-01-01.
const MAX_TICKS: i64 = 3_155_378_975_999_999_999;
const TICKS_AT_UNIX_EPOCH: i64 = 621_355_968_000_000_000;

fn inverted(t: DateTime<Utc>) -> i64 {
    let ticks = TICKS_AT_UNIX_EPOCH
        + t.timestamp() * 10_000_000
        + i64::from(t.timestamp_subsec_nanos() / 100);
    MAX_TICKS - ticks
}

/// The RowKey of a segment.
pub fn row_key(name_time: DateTime<Utc>, pod: &str) -> String {
    format!("{:019}_{pod}", inverted(name_time))
}

/// The instant a RowKey's leading 19 digits stand for: for our rows the name time the
/// segment was resolved to when its row was written, for the Node job's rows the upload time.
/// `None` for a key that is not one of ours or the Node job's.
pub fn key_time(row_key: &str) -> Option<DateTime<Utc>> {
    let digits = row_key.get(..19)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let since_epoch = MAX_TICKS.checked_sub(digits.parse::<i64>().ok()?)? - TICKS_AT_UNIX_EPOCH;
    DateTime::from_timestamp(
        since_epoch.div_euclid(10_000_000),
        (since_epoch.rem_euclid(10_000_000) * 100) as u32,
    )
}

/// A row this job wrote: its key is an inverted name time and the pod.
fn ours(row: &SegmentRow) -> bool {
    row.row_key.len() > 20 && row.row_key.as_bytes()[19] == b'_'
}

/// The RowKey range holding every segment named between `oldest` and `newest`.
pub fn key_range(oldest: DateTime<Utc>, newest: DateTime<Utc>) -> (String, String) {
    (
        format!("{:019}", inverted(newest)),
        format!("{:019}~", inverted(oldest)),
    )
}

/// The row recording an upload.
pub fn row_for(u: &Upload, size: u64, md5: &[u8; 16]) -> SegmentRow {
    use base64::Engine;
    SegmentRow {
        row_key: row_key(u.name_time, &u.pod),
        file_name: u.file.clone(),
        blob_name: Some(u.blob_name.clone()),
        pod: Some(u.pod.clone()),
        audio_start_ms: Some(u.audio_start.timestamp_millis()),
        // Rounded, as the in/out points are (`durationUs` is exact).
        duration_ms: Some(((u.duration.as_micros() + 500) / 1000) as i64),
        duration_us: Some(u.duration.as_micros() as i64),
        frames: Some(u.frames),
        size: Some(size),
        content_md5: Some(base64::engine::general_purpose::STANDARD.encode(md5)),
        truncated: Some(u.truncated),
        ..SegmentRow::default()
    }
}

/// The row with the in/out points [`crate::joins::joins`] computed for it. Its byte offsets
/// stay only while they still name those frames; otherwise they are unknown until found again
/// (`days::sync_points`).
pub fn with_points(row: &SegmentRow, joined: &Points) -> SegmentRow {
    let mut updated = SegmentRow {
        in_frame: joined.in_frame,
        in_ms: Some((joined.in_s * 1000.0).round() as i64),
        out_frame: joined.out_frame,
        out_ms: Some((joined.out_s * 1000.0).round() as i64),
        ..row.clone()
    };
    if ranged(&updated).is_none() || ranged(&updated) != ranged(row) {
        updated.in_byte = None;
        updated.out_byte = None;
    }
    updated
}

/// The audio frames `in_frame..out_frame` a row plays, counted in its blob, where the blob
/// holds more than that: an in-point after 0, an out-point before the end, a truncated
/// recording (a partial frame at its end, which a player given the blobs one after another
/// would decode into the next one), or a frame-exact blob's warm-up frames. The part an HLS
/// byte range names. A frame-exact blob's frames start at the recording's `blob_first_frame`
/// ([`blob_frame_offset`]).
pub fn ranged(row: &SegmentRow) -> Option<(u64, u64)> {
    let offset = blob_frame_offset(row);
    let in_blob = |frame: u64| (frame as i64 - offset).max(0) as u64;
    let first = in_blob(row.in_frame?);
    let end = in_blob(row.out_frame?);
    let frames = in_blob(row.frames?);
    let partial = row.truncated == Some(true);
    (first < end && (first > 0 || end < frames || partial)).then_some((first, end))
}

/// The recording's frame that the blob's first audio frame is: the blob's frame `k` is the
/// recording's `k + offset`. 0 for a blob of the recording's own bytes, the first frame kept
/// for a cut frame-exact blob, and negative for a blob that starts with frames of the file
/// its recording continues ([`SegmentRow::lead_frames`]).
pub fn blob_frame_offset(row: &SegmentRow) -> i64 {
    row.blob_first_frame.unwrap_or(0) as i64 - row.lead_frames.unwrap_or(0) as i64
}

/// The metadata of an archived segment's blob: what its row says, so that the blob alone
/// tells where its audio belongs.
pub fn blob_metadata(row: &SegmentRow, stream: &str) -> BTreeMap<String, String> {
    let mut meta = BTreeMap::new();
    meta.insert("stream".to_string(), stream.to_string());
    let start = row.audio_start_ms.and_then(DateTime::from_timestamp_millis);
    let fields = [
        ("pod", row.pod.clone()),
        ("audiostart", start.map(|t| t.to_rfc3339())),
        ("durationms", row.duration_ms.map(|v| v.to_string())),
        ("frames", row.frames.map(|v| v.to_string())),
        ("inframe", row.in_frame.map(|v| v.to_string())),
        ("inms", row.in_ms.map(|v| v.to_string())),
        ("outframe", row.out_frame.map(|v| v.to_string())),
        ("outms", row.out_ms.map(|v| v.to_string())),
        ("inbyte", row.in_byte.map(|v| v.to_string())),
        ("outbyte", row.out_byte.map(|v| v.to_string())),
        ("mode", row.blob_mode.clone()),
        (
            "blobfirstframe",
            row.blob_first_frame.map(|v| v.to_string()),
        ),
        ("warmupframes", row.warm_up_frames.map(|v| v.to_string())),
        ("sourcestart", row.source_start.map(|v| v.to_string())),
        ("sourceend", row.source_end.map(|v| v.to_string())),
        ("leadframes", row.lead_frames.map(|v| v.to_string())),
        ("leadfrom", row.lead_from.clone()),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            meta.insert(name.to_string(), value);
        }
    }
    meta
}

/// The partition holding files deleted without being archived. `~` cannot appear in a
/// container name, so no stream's own partition can collide with it.
pub fn gone_partition(partition: &str) -> String {
    format!("{partition}~gone")
}

/// The row remembering a deleted file; `None` when its name is not a segment name.
pub fn gone_row(g: &GoneSegment, settings: &selection::Settings) -> Option<SegmentRow> {
    // The key says the instant the plan resolved the name to (its file's modification time
    // told it), so that the row means the same instant when read back.
    let name = match g.name_start.or(g.audio_start) {
        Some(t) => selection::parse_name_near(&g.file_name, settings, t),
        None => selection::parse_name(&g.file_name, settings, None),
    }
    .ok()?;
    Some(SegmentRow {
        row_key: row_key(name.start, &name.pod),
        file_name: g.file_name.clone(),
        pod: Some(name.pod),
        duration_ms: Some(g.duration.as_millis() as i64),
        duration_us: Some(g.duration.as_micros() as i64),
        truncated: Some(g.truncated),
        audio_start_ms: g.audio_start.map(|t| t.timestamp_millis()),
        ..SegmentRow::default()
    })
}

/// The partition holding content alignments measured by earlier runs.
pub fn alignment_partition(partition: &str) -> String {
    format!("{partition}~align")
}

/// The partition holding the stream's sightings row, beside the stream's own.
pub fn sightings_partition(partition: &str) -> String {
    format!("{partition}~seen")
}

/// The RowKey of the one row that keeps a stream's sightings.
pub const SIGHTINGS_KEY: &str = "sightings";

/// At most this many sightings are kept (a table property holds 32 K characters). Normally
/// there are a few: each pod's newest file and empty files not yet idle. Dropping some only
/// delays those files.
pub const MAX_SIGHTINGS: usize = 200;

/// The row keeping the files not yet known to be idle ([`selection::Plan::sightings`]): one
/// row rewritten per run costs one request, where a row per file would cost several.
pub fn sightings_row(sightings: &[Sighting]) -> SegmentRow {
    let kept = &sightings[..sightings.len().min(MAX_SIGHTINGS)];
    SegmentRow {
        row_key: SIGHTINGS_KEY.to_owned(),
        sightings: Some(serde_json::to_string(kept).unwrap_or_else(|_| "[]".to_owned())),
        ..SegmentRow::default()
    }
}

/// The sightings a row keeps; an unreadable value keeps none (files wait for the clocks).
pub fn sightings(row: &SegmentRow) -> Result<Vec<Sighting>, String> {
    let json = row.sightings.as_deref().unwrap_or("[]");
    serde_json::from_str(json).map_err(|e| {
        format!(
            "the sightings row holds {} characters that are not a JSON list of sightings: {e}",
            json.len()
        )
    })
}

/// The row keeping an alignment; `None` unless both files have segment names. Its key starts
/// with `a`'s segment key, so the alignments of a span of time are one range, like the
/// segments.
pub fn alignment_row(al: &Alignment, settings: &selection::Settings) -> Option<SegmentRow> {
    let a = selection::parse_name(&al.a, settings, None).ok()?;
    let b = selection::parse_name(&al.b, settings, None).ok()?;
    Some(SegmentRow {
        row_key: format!("{}~{}", row_key(a.start, &a.pod), row_key(b.start, &b.pod)),
        file_name: al.a.clone(),
        aligned_with: Some(al.b.clone()),
        aligned_offset_ms: Some(al.offset_ms),
        ..SegmentRow::default()
    })
}

/// What an alignment row says; `None` for a row that is not one.
pub fn alignment(row: &SegmentRow) -> Option<Alignment> {
    Some(Alignment {
        a: row.file_name.clone(),
        b: row.aligned_with.clone()?,
        offset_ms: row.aligned_offset_ms?,
    })
}

/// A row's duration, to the microsecond where the row has it.
fn duration(row: &SegmentRow) -> Option<Duration> {
    match (row.duration_us, row.duration_ms) {
        (Some(us), _) => u64::try_from(us).ok().map(Duration::from_micros),
        (None, Some(ms)) => u64::try_from(ms).ok().map(Duration::from_millis),
        (None, None) => None,
    }
}

/// What a gone row says for the planner. Its key's time is the instant its name was resolved
/// to, except in rows written before names were resolved for their keys (always the earlier
/// instant of a repeated hour): a key an hour or more away from the recorded audio start is
/// such a one, and the audio start decides.
pub fn gone(row: &SegmentRow) -> GoneSegment {
    let audio_start = row.audio_start_ms.and_then(DateTime::from_timestamp_millis);
    let name_start = key_time(&row.row_key).filter(|k| {
        ours(row) && audio_start.is_none_or(|a| (*k - a).abs() < chrono::TimeDelta::minutes(30))
    });
    GoneSegment {
        file_name: row.file_name.clone(),
        duration: duration(row).unwrap_or(Duration::ZERO),
        truncated: row.truncated.unwrap_or(true),
        audio_start,
        name_start,
    }
}

/// What a row says for the planner. Rows without a duration are the Node job's, which only
/// archived full-length segments. Rows without a `truncated` flag take a short segment as one
/// whose writer stopped, which at worst makes the planner more careful. The instant the name
/// means is our key's ([`key_time`]); for the Node job's rows see [`node_name_starts`].
pub fn archived(row: &SegmentRow, segment: Duration) -> ArchivedSegment {
    let duration = duration(row);
    ArchivedSegment {
        file_name: row.file_name.clone(),
        blob_name: row.blob_name.clone(),
        // The recording's size: a frame-exact blob holds it up to `source_end`.
        size: row.source_end.or(row.size),
        duration,
        truncated: row
            .truncated
            .unwrap_or_else(|| duration.is_some_and(|d| d + Duration::from_millis(1500) < segment)),
        audio_start: row.audio_start_ms.and_then(DateTime::from_timestamp_millis),
        name_start: key_time(&row.row_key).filter(|_| ours(row)),
    }
}

/// The instants the names of the Node job's rows mean, for the names that mean two (the hour
/// a daylight-saving fall-back repeats). Its rows record no start, but their key is the
/// upload time, and the Node job uploaded each file after it was recorded, in name order and
/// with a lag that changes slowly (its reference is the newest upload; it runs every few
/// minutes). So the rule: of the two instants, those not after the upload; of those, the one
/// whose lag (upload minus name) is nearest the lag of the nearest-uploaded row whose name
/// means one instant (its neighbour); without such a neighbour, the latest (the Node job
/// keeping up). The blob's creation time is the same upload time (the Node job inserted the
/// row right after the upload), so it says nothing more.
pub fn node_name_starts<'a>(
    rows: impl IntoIterator<Item = &'a SegmentRow>,
    settings: &selection::Settings,
) -> HashMap<String, DateTime<Utc>> {
    /// Upload time, earlier instant, later instant (the same unless repeated), file.
    type Read<'f> = (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>, &'f str);
    let mut read: Vec<Read<'a>> = rows
        .into_iter()
        .filter(|r| !ours(r) && r.blob_name.is_none())
        .filter_map(|r| {
            let upload = key_time(&r.row_key)?;
            let name = &r.file_name;
            let a = selection::parse_name(name, settings, None).ok()?.start;
            let b = selection::parse_name_near(name, settings, DateTime::<Utc>::MAX_UTC)
                .ok()?
                .start;
            Some((upload, a, b, name.as_str()))
        })
        .collect();
    read.sort();
    let lags: Vec<(DateTime<Utc>, chrono::TimeDelta)> = read
        .iter()
        .filter(|(_, a, b, _)| a == b)
        .map(|&(upload, a, _, _)| (upload, upload - a))
        .collect();
    let mut out = HashMap::new();
    for &(upload, a, b, file) in read.iter().filter(|(_, a, b, _)| a != b) {
        let lag = lags
            .iter()
            .min_by_key(|(u, _)| (*u - upload).abs())
            .map_or(chrono::TimeDelta::zero(), |(_, lag)| *lag);
        let before: Vec<DateTime<Utc>> = [a, b].into_iter().filter(|c| *c <= upload).collect();
        let candidates = if before.is_empty() {
            vec![a, b]
        } else {
            before
        };
        let pick = candidates
            .into_iter()
            .min_by_key(|c| ((upload - *c) - lag).abs())
            .unwrap_or(a);
        out.insert(file.to_string(), pick);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_segments_sort_first_and_ranges_hold_them() {
        let t1: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
        let t2: DateTime<Utc> = "2026-11-26T10:10:00Z".parse().unwrap();
        let (k1, k2) = (row_key(t1, "pod-a"), row_key(t2, "pod-a"));
        assert!(k2 < k1);
        assert_eq!(k1.len(), 19 + 1 + 5);
        let (from, to) = key_range(t1, t2);
        assert!(from <= k2 && k2 <= to && from <= k1 && k1 <= to);
        let (from, _) = key_range(t1, t1);
        assert!(k2 < from);
    }

    fn madrid() -> selection::Settings {
        let mut s = selection::Settings::new(600, "hope").unwrap();
        s.time_zone = "Europe/Madrid".parse().unwrap();
        s
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_key_gives_back_its_time() {
        let at = t("2026-10-25T01:30:07.123Z");
        assert_eq!(key_time(&row_key(at, "pod-a")), Some(at));
        assert_eq!(key_time("notdigits_pod"), None);
        assert_eq!(key_time("12"), None);
    }

    #[test]
    fn rows_in_the_repeated_hour_mean_the_instant_they_were_written_for() {
        let s = madrid();
        // 02:30 happens twice in Madrid on 2026-10-25: 00:30 UTC and 01:30 UTC.
        let file = "pod-a_20261025T023000.mp3";
        let later = t("2026-10-25T01:30:00Z");
        let u = Upload {
            file: file.into(),
            blob_name: "25-10-2026/pod-a_20261025T023000.mp3".into(),
            pod: "pod-a".into(),
            name_time: later,
            audio_start: later + chrono::TimeDelta::milliseconds(400),
            duration: Duration::from_secs(600),
            frames: 22_968,
            size: 9_600_000,
            truncated: false,
            replaces_archived: false,
            reason: String::new(),
        };
        let row = row_for(&u, u.size, &[0; 16]);
        assert_eq!(
            archived(&row, Duration::from_secs(600)).name_start,
            Some(later)
        );
        // A gone row, keyed by the instant the plan resolved, reads back as that instant.
        let g = GoneSegment {
            file_name: file.into(),
            duration: Duration::ZERO,
            truncated: true,
            audio_start: None,
            name_start: Some(later),
        };
        let row = gone_row(&g, &s).unwrap();
        assert_eq!(key_time(&row.row_key), Some(later));
        assert_eq!(gone(&row).name_start, Some(later));
        // A gone row written before keys were resolved (the earlier instant) is overruled by
        // its recorded audio start.
        let old = SegmentRow {
            row_key: row_key(t("2026-10-25T00:30:00Z"), "pod-a"),
            audio_start_ms: Some(later.timestamp_millis() - 300),
            ..row
        };
        let read = gone(&old);
        assert_eq!(read.name_start, None);
        assert_eq!(
            read.audio_start.map(|a| a.timestamp_millis()),
            old.audio_start_ms
        );
    }

    #[test]
    fn node_rows_in_the_repeated_hour_follow_their_upload_times_and_neighbours() {
        let s = madrid();
        let node = |file: &str, upload: &str| SegmentRow {
            row_key: format!("{:019}", inverted(t(upload))),
            file_name: file.into(),
            ..SegmentRow::default()
        };
        let rows = [
            // Neighbours that mean one instant, uploaded 12 minutes after their names.
            node("pod-a_20261025T014000.mp3", "2026-10-24T23:52:00Z"),
            node("pod-a_20261025T031000.mp3", "2026-10-25T02:22:00Z"),
            // Uploaded 12 minutes after the first 02:20 (00:20 UTC).
            node("pod-a_20261025T022000.mp3", "2026-10-25T00:32:00Z"),
            // Uploaded 12 minutes after the second 02:50 (01:50 UTC).
            node("pod-a_20261025T025000.mp3", "2026-10-25T02:02:00Z"),
        ];
        let starts = node_name_starts(&rows, &s);
        assert_eq!(starts.len(), 2, "{starts:?}");
        assert_eq!(
            starts["pod-a_20261025T022000.mp3"],
            t("2026-10-25T00:20:00Z")
        );
        assert_eq!(
            starts["pod-a_20261025T025000.mp3"],
            t("2026-10-25T01:50:00Z")
        );
        // A Node job running 70 minutes behind: the lag of the neighbours decides, not the
        // latest instant before the upload.
        let behind = [
            node("pod-a_20261025T014000.mp3", "2026-10-25T00:50:00Z"),
            node("pod-a_20261025T022000.mp3", "2026-10-25T01:30:00Z"),
        ];
        let starts = node_name_starts(&behind, &s);
        assert_eq!(
            starts["pod-a_20261025T022000.mp3"],
            t("2026-10-25T00:20:00Z")
        );
        // Alone, the latest instant not after the upload.
        let alone = [node("pod-a_20261025T022000.mp3", "2026-10-25T01:30:00Z")];
        assert_eq!(
            node_name_starts(&alone, &s)["pod-a_20261025T022000.mp3"],
            t("2026-10-25T01:20:00Z")
        );
    }

    #[test]
    fn an_alignment_row_is_found_with_its_first_files_segments() {
        let settings = selection::Settings::new(600, "hope").unwrap();
        let al = Alignment {
            a: "pod-a_20261126T100000.mp3".into(),
            b: "pod-b_20261126T100003.mp3".into(),
            offset_ms: 2_345,
        };
        let row = alignment_row(&al, &settings).unwrap();
        assert_eq!(alignment(&row), Some(al));
        let t: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
        let (from, to) = key_range(t, t);
        assert!(from <= row.row_key && row.row_key <= to, "{}", row.row_key);
        assert!(row.row_key.starts_with(&row_key(t, "pod-a")));
        let odd = Alignment {
            a: "notes.txt".into(),
            ..alignment(&row).unwrap()
        };
        assert_eq!(alignment_row(&odd, &settings), None);
    }
}
