//! How archived segments are written to and read from the table.
//!
//! RowKeys follow the original job's scheme, an inverted time as digits so the newest row
//! sorts first (the Node job reads the first row as its reference), but the time is the
//! segment's name time, not the upload time, and the pod follows: a repeated insert of the
//! same segment collides instead of adding a row.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use selection::{Alignment, ArchivedSegment, GoneSegment, Sighting, Upload};

use crate::joins::Points;
use crate::store::SegmentRow;

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
        duration_ms: Some(u.duration.as_millis() as i64),
        duration_us: Some(u.duration.as_micros() as i64),
        frames: Some(u.frames),
        size: Some(size),
        content_md5: Some(base64::engine::general_purpose::STANDARD.encode(md5)),
        truncated: Some(u.truncated),
        ..SegmentRow::default()
    }
}

/// The row with the in/out points [`crate::joins::joins`] computed for it.
pub fn with_points(row: &SegmentRow, joined: &Points) -> SegmentRow {
    SegmentRow {
        in_frame: joined.in_frame,
        in_ms: Some((joined.in_s * 1000.0).round() as i64),
        out_frame: joined.out_frame,
        out_ms: Some((joined.out_s * 1000.0).round() as i64),
        ..row.clone()
    }
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
    let name = selection::parse_name(&g.file_name, settings, None).ok()?;
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

/// What a gone row says for the planner.
pub fn gone(row: &SegmentRow) -> GoneSegment {
    GoneSegment {
        file_name: row.file_name.clone(),
        duration: duration(row).unwrap_or(Duration::ZERO),
        truncated: row.truncated.unwrap_or(true),
        audio_start: row.audio_start_ms.and_then(DateTime::from_timestamp_millis),
    }
}

/// What a row says for the planner. Rows without a duration are the Node job's, which only
/// archived full-length segments. Rows without a `truncated` flag take a short segment as one
/// whose writer stopped, which at worst makes the planner more careful.
pub fn archived(row: &SegmentRow, segment: Duration) -> ArchivedSegment {
    let duration = duration(row);
    ArchivedSegment {
        file_name: row.file_name.clone(),
        blob_name: row.blob_name.clone(),
        size: row.size,
        duration,
        truncated: row
            .truncated
            .unwrap_or_else(|| duration.is_some_and(|d| d + Duration::from_millis(1500) < segment)),
        audio_start: row.audio_start_ms.and_then(DateTime::from_timestamp_millis),
    }
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
