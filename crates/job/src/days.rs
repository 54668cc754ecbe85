//! A manifest per day, kept with the archive: every archived segment of the day in time
//! order (blob, start, duration) and the spans no replica recorded, as JSON and as an M3U
//! playlist, so a player or an indexer can walk a day without listing blobs.
//!
//! Written to `_days/YYYY-MM-DD.json` and `_days/YYYY-MM-DD.m3u8` for each day a run archived
//! something in; the day is the date in the file names, like the blob folders.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};

use crate::joins::{joins, Join, Placed, Points};
use serde::Serialize;

use crate::rows;
use crate::settings::Settings;
use crate::store::{Archive, SegmentRow, StoreResult};

#[derive(Debug, Serialize)]
pub struct DayManifest {
    pub stream: String,
    pub day: String,
    pub segments: Vec<DaySegment>,
    pub gaps: Vec<DayGap>,
    pub archived_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct DaySegment {
    pub blob: String,
    pub file: String,
    pub pod: String,
    pub start: DateTime<Utc>,
    pub duration_s: f64,
    pub frames: Option<u64>,
    /// Where to start playing this blob so that nothing earlier segments hold is heard
    /// twice (seconds into the blob), and where to stop (its duration). With a frame count,
    /// the in-point is the frame boundary nearest the join (at most half a frame off).
    pub in_s: f64,
    pub out_s: f64,
    /// The same as frame indexes: play frames `in_frame..out_frame`.
    pub in_frame: Option<u64>,
    pub out_frame: Option<u64>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct DayGap {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub seconds: f64,
    /// The pod whose audio ends where the gap starts, and the one whose audio resumes.
    pub after: String,
    pub before: String,
    /// The pods down during the gap: every pod the day's manifest holds audio from, and the
    /// pod the gap follows (which may be the previous day's). None of them recorded this span.
    /// Filled in by [`build`], which sees the whole day.
    pub pods_down: Vec<String>,
}

/// The day a file's name falls on, as the blob folders count days.
pub fn day_of(file: &str, settings: &Settings) -> Option<NaiveDate> {
    selection::parse_name(file, &settings.selection, None)
        .ok()
        .map(|n| n.local.date())
}

/// Rewrite the manifests of `days` from the table.
pub async fn write(
    archive: &dyn Archive,
    settings: &Settings,
    days: &BTreeSet<NaiveDate>,
) -> StoreResult<Vec<DayManifest>> {
    let mut written = Vec::new();
    for &day in days {
        let tz = settings.selection.time_zone;
        let midnight = |d: NaiveDate| {
            tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
                .earliest()
                .map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc))
        };
        let (from, to) = rows::key_range(
            midnight(day) - TimeDelta::hours(1),
            midnight(day + TimeDelta::days(1)) + TimeDelta::hours(1),
        );
        let rows = archive.rows_in_range(&from, &to).await?;
        let manifest = build(&rows, day, settings);
        sync_points(archive, settings, &rows, &manifest).await?;
        let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        let name = format!("_days/{}", day.format("%Y-%m-%d"));
        archive
            .put_small(&format!("{name}.json"), json, "application/json")
            .await?;
        archive
            .put_small(
                &format!("{name}.m3u8"),
                playlist(&manifest).into_bytes(),
                "application/vnd.apple.mpegurl",
            )
            .await?;
        written.push(manifest);
    }
    Ok(written)
}

/// Record in the rows and blobs of the day the in/out points that changed since they were
/// archived (an earlier segment archived later, a restamp): usually none.
async fn sync_points(
    archive: &dyn Archive,
    settings: &Settings,
    rows: &[SegmentRow],
    manifest: &DayManifest,
) -> StoreResult<()> {
    for s in &manifest.segments {
        // The original job's rows name no blob: their blobs are left as it wrote them.
        let Some(row) = rows
            .iter()
            .find(|r| r.file_name == s.file && r.blob_name.is_some())
        else {
            continue;
        };
        let updated = rows::with_points(row, &s.points());
        if updated == *row {
            continue;
        }
        archive.replace_row(&updated).await?;
        archive
            .set_blob_metadata(&s.blob, &rows::blob_metadata(&updated, &settings.stream))
            .await?;
        tracing::info!(file = %s.file, in_frame = s.in_frame, decision = "rejoined",
            "in/out points recorded anew: the segments before it changed");
    }
    Ok(())
}

/// The manifest of `day` from the table's rows (ours and the original job's). Rows of the
/// neighbouring days only join: the day's first segment skips what the previous day's last
/// one already plays.
pub fn build(rows: &[SegmentRow], day: NaiveDate, settings: &Settings) -> DayManifest {
    let mut segments = Vec::new();
    let mut gaps = Vec::new();
    let mut archived_ms = 0i64;
    let mut pods = BTreeSet::new();
    let node = rows::node_name_starts(rows, &settings.selection);
    let placed = rows
        .iter()
        .filter_map(|r| placed_row(r, settings, &node))
        .collect();
    for j in joins(placed).into_iter().filter(|j| j.placed.day == day) {
        pods.insert(j.placed.pod.clone());
        if let Some(gap) = &j.gap_before {
            pods.insert(gap.after.clone());
            gaps.push(DayGap {
                start: gap.start,
                end: gap.end,
                seconds: (gap.end - gap.start).num_milliseconds() as f64 / 1000.0,
                after: gap.after.clone(),
                before: gap.before.clone(),
                pods_down: Vec::new(),
            });
        }
        segments.push(day_segment(&j));
        archived_ms += j.new_ms;
    }
    for gap in &mut gaps {
        gap.pods_down = pods.iter().cloned().collect();
    }
    DayManifest {
        stream: settings.stream.clone(),
        day: day.format("%Y-%m-%d").to_string(),
        segments,
        gaps,
        archived_seconds: archived_ms as f64 / 1000.0,
    }
}

/// Where each planned upload will join the archive: computed before it is uploaded, so its
/// row and blob carry their in/out points from the start (no request more per file).
pub fn upload_points(
    archived: &HashMap<String, SegmentRow>,
    uploads: &[selection::Upload],
    settings: &Settings,
) -> HashMap<String, Points> {
    // By file: an upload that replaces an archived copy takes its place.
    let node = rows::node_name_starts(archived.values(), &settings.selection);
    let mut placed: HashMap<&str, Placed> = archived
        .iter()
        .filter_map(|(file, r)| Some((file.as_str(), placed_row(r, settings, &node)?)))
        .collect();
    for u in uploads {
        placed.remove(u.file.as_str());
        if let Some(p) = placed_upload(u, settings) {
            placed.insert(u.file.as_str(), p);
        }
    }
    joins(placed.into_values().collect())
        .into_iter()
        .filter(|j| uploads.iter().any(|u| u.file == j.placed.file))
        .map(|j| (j.placed.file, j.points))
        .collect()
}

/// A table row (ours or the original job's) on the timeline; `None` when its file name is not
/// a segment name or no blob can be named for it.
///
/// `node` places the original job's rows, which record no start: in an hour repeated by a
/// fall-back their names are placed as the planner places them ([`rows::node_name_starts`]).
fn placed_row(
    r: &SegmentRow,
    settings: &Settings,
    node: &HashMap<String, DateTime<Utc>>,
) -> Option<Placed> {
    let name = selection::parse_name(&r.file_name, &settings.selection, None).ok()?;
    let blob = match &r.blob_name {
        Some(b) => b.clone(),
        None => selection::blob_name(&settings.selection, &name, &r.file_name).ok()?,
    };
    Some(Placed {
        file: r.file_name.clone(),
        blob,
        day: name.local.date(),
        start: r
            .audio_start_ms
            .and_then(DateTime::from_timestamp_millis)
            .or_else(|| node.get(&r.file_name).copied())
            .unwrap_or(name.start),
        duration_us: r
            .duration_us
            .or(r.duration_ms.map(|ms| ms * 1000))
            .unwrap_or(settings.selection.segment_time.as_micros() as i64),
        frames: r.frames,
        pod: name.pod,
    })
}

/// A planned upload on the timeline, placed as its row will record it (its audio start to
/// the millisecond).
fn placed_upload(u: &selection::Upload, settings: &Settings) -> Option<Placed> {
    let name = selection::parse_name(&u.file, &settings.selection, None).ok()?;
    Some(Placed {
        file: u.file.clone(),
        blob: u.blob_name.clone(),
        day: name.local.date(),
        start: DateTime::from_timestamp_millis(u.audio_start.timestamp_millis())
            .unwrap_or(name.start),
        duration_us: u.duration.as_micros() as i64,
        frames: Some(u.frames),
        pod: name.pod,
    })
}

/// A joined segment as the day manifest lists it.
fn day_segment(j: &Join) -> DaySegment {
    let p = &j.placed;
    DaySegment {
        blob: p.blob.clone(),
        file: p.file.clone(),
        pod: p.pod.clone(),
        start: p.start,
        duration_s: p.duration_us as f64 / 1e6,
        frames: p.frames,
        in_s: j.points.in_s,
        out_s: j.points.out_s,
        in_frame: j.points.in_frame,
        out_frame: j.points.out_frame,
    }
}

impl DaySegment {
    /// Where the manifest plays this segment.
    pub fn points(&self) -> Points {
        Points {
            in_s: self.in_s,
            out_s: self.out_s,
            in_frame: self.in_frame,
            out_frame: self.out_frame,
        }
    }
}

/// The day as an HLS VOD playlist (RFC 8216); blob paths are relative to the playlist's own
/// folder. It is complete (`EXT-X-ENDLIST`: players start at the beginning instead of
/// treating it as live), declares its longest segment (`EXT-X-TARGETDURATION`, which
/// GStreamer needs), and marks a discontinuity where the recording changes (another pod, or
/// after a gap), where timestamps jump. A segment whose audio earlier segments already play
/// in full is left out. Each blob is played whole, so `EXTINF` is its whole length: the part
/// before its in-point repeats what the segment before it ended with.
pub fn playlist(m: &DayManifest) -> String {
    let playing: Vec<&DaySegment> = m
        .segments
        .iter()
        .filter(|s| s.out_s - s.in_s > 0.0005)
        .collect();
    let target = playing
        .iter()
        .map(|s| s.duration_s.round() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n"
    );
    let mut previous: Option<&DaySegment> = None;
    for s in playing {
        let after_gap = m.gaps.iter().any(|g| g.end == s.start);
        if previous.is_some_and(|p| p.pod != s.pod || after_gap) {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let _ = writeln!(out, "#EXTINF:{:.3},{}\n../{}", s.duration_s, s.file, s.blob);
        previous = Some(s);
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_vars([
            ("FOLDER".to_string(), "/x".to_string()),
            ("STREAM_NAME".into(), "hope".into()),
            ("FILE_DURATION".into(), "10".into()),
            (
                "AZURE_STORAGE_CONNECTION_STRING".into(),
                "UseDevelopmentStorage=true".into(),
            ),
        ])
        .unwrap()
    }

    fn row(file: &str, start_ms: i64, duration_ms: i64) -> SegmentRow {
        SegmentRow {
            file_name: file.into(),
            blob_name: Some(format!("26-11-2026/{file}")),
            audio_start_ms: Some(start_ms),
            duration_ms: Some(duration_ms),
            ..SegmentRow::default()
        }
    }

    #[test]
    fn node_rows_in_the_repeated_hour_are_played_in_recording_order() {
        let settings = Settings::from_vars([
            ("FOLDER".to_string(), "/x".to_string()),
            ("STREAM_NAME".into(), "hope".into()),
            ("FILE_DURATION".into(), "600".into()),
            (
                "AZURE_STORAGE_CONNECTION_STRING".into(),
                "UseDevelopmentStorage=true".into(),
            ),
            ("TIME_ZONE".into(), "Europe/Madrid".into()),
        ])
        .unwrap();
        // The Node job's rows, keyed by upload time (2 minutes after each file ended): 02:50
        // CEST is 00:50 UTC, the next file 02:00 CET is 01:00 UTC.
        let node = |file: &str, upload: &str| {
            let upload: DateTime<Utc> = upload.parse().unwrap();
            let key = rows::row_key(upload, "x");
            SegmentRow {
                row_key: key[..19].to_string(),
                file_name: file.into(),
                ..SegmentRow::default()
            }
        };
        let rows = [
            node("a_20261025T020000.mp3", "2026-10-25T01:12:00Z"),
            node("a_20261025T025000.mp3", "2026-10-25T01:02:00Z"),
        ];
        let m = build(
            &rows,
            NaiveDate::from_ymd_opt(2026, 10, 25).unwrap(),
            &settings,
        );
        let order: Vec<(&str, String)> = m
            .segments
            .iter()
            .map(|s| (s.file.as_str(), s.start.to_rfc3339()))
            .collect();
        assert_eq!(
            order,
            [
                (
                    "a_20261025T025000.mp3",
                    "2026-10-25T00:50:00+00:00".to_string()
                ),
                (
                    "a_20261025T020000.mp3",
                    "2026-10-25T01:00:00+00:00".to_string()
                ),
            ]
        );
        assert!(m.gaps.is_empty(), "{:?}", m.gaps);
    }

    #[test]
    fn segments_in_order_with_the_gaps_between() {
        let t0 = 1_795_687_200_000; // 2026-11-26T10:00:00Z
        let rows = [
            row("b_20261126T100020.mp3", t0 + 20_000, 10_000),
            row("a_20261126T100000.mp3", t0, 10_000),
            row("a_20261126T100010.mp3", t0 + 10_000, 5_000),
            row("a_20261125T235959.mp3", t0 - 36_001_000, 10_000),
        ];
        let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let m = build(&rows, day, &settings());
        let files: Vec<&str> = m.segments.iter().map(|s| s.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "a_20261126T100000.mp3",
                "a_20261126T100010.mp3",
                "b_20261126T100020.mp3"
            ]
        );
        // From the previous day's last segment (00:00:09) to 10:00, then between a and b.
        let gaps: Vec<(f64, &str, &str)> = m
            .gaps
            .iter()
            .map(|g| (g.seconds, g.after.as_str(), g.before.as_str()))
            .collect();
        assert_eq!(gaps, [(35_991.0, "a", "a"), (5.0, "a", "b")]);
        // Both pods recorded that day, and neither in either gap.
        assert!(m.gaps.iter().all(|g| g.pods_down == ["a", "b"]));
        assert_eq!(m.archived_seconds, 25.0);
        assert_eq!((m.segments[1].in_s, m.segments[2].in_s), (0.0, 0.0));
        let p = playlist(&m);
        assert!(
            p.starts_with(
                "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n\
                 #EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:10.000,a_20261126T100000.mp3\n\
                 ../26-11-2026/a_20261126T100000.mp3\n"
            ),
            "{p}"
        );
        assert!(p.ends_with("#EXT-X-ENDLIST\n"));
        // The gap before b's segment, and a new pod: a discontinuity.
        assert_eq!(p.matches("#EXT-X-DISCONTINUITY").count(), 1, "{p}");
    }

    #[test]
    fn an_overlap_is_skipped_by_the_in_point() {
        let t0 = 1_795_687_200_000;
        let rows = [
            row("a_20261126T100000.mp3", t0, 10_000),
            row("b_20261126T100007.mp3", t0 + 7_500, 10_000),
        ];
        let m = build(
            &rows,
            NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            &settings(),
        );
        assert_eq!((m.segments[1].in_s, m.segments[1].out_s), (2.5, 10.0));
        assert_eq!(m.archived_seconds, 17.5);
        assert!(m.gaps.is_empty());
    }

    #[test]
    fn the_first_segment_of_a_day_joins_the_last_of_the_day_before() {
        let midnight = 1_795_651_200_000; // 2026-11-26T00:00:00Z
        let rows = [
            row("a_20261125T235955.mp3", midnight - 5_000, 10_000),
            row("b_20261125T235958.mp3", midnight - 2_000, 10_000),
        ];
        let m = build(
            &rows,
            NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            &settings(),
        );
        assert_eq!(m.segments[1].in_s, 7.0);
        let rows = [
            row("a_20261125T235955.mp3", midnight - 5_000, 10_000),
            row("b_20261126T000002.mp3", midnight + 2_000, 10_000),
        ];
        let m = build(
            &rows,
            NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            &settings(),
        );
        assert_eq!(m.segments.len(), 1);
        assert_eq!((m.segments[0].in_s, m.archived_seconds), (3.0, 7.0));
        assert!(m.gaps.is_empty());
    }

    #[test]
    fn with_frames_the_in_point_is_the_nearest_frame_boundary() {
        // 383 frames of 576 samples at 22050 Hz (26.12 ms): 2.5 s in is 95.7 frames.
        let t0 = 1_795_687_200_000;
        let mut b = row("b_20261126T100007.mp3", t0 + 7_500, 10_004);
        b.frames = Some(383);
        b.duration_us = Some(10_004_898);
        let rows = [row("a_20261126T100000.mp3", t0, 10_000), b];
        let m = build(
            &rows,
            NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            &settings(),
        );
        let s = &m.segments[1];
        assert_eq!((s.in_frame, s.out_frame), (Some(96), Some(383)));
        assert!(
            (s.in_s - 96.0 * 576.0 / 22_050.0).abs() < 1e-6,
            "{}",
            s.in_s
        );
        assert_eq!(s.duration_s, 10.004898);
        assert_eq!(m.segments[0].in_frame, None);
    }

    #[test]
    fn an_upload_joins_the_archived_rows_before_it_and_replaces_its_own() {
        let t0 = 1_795_687_200_000;
        let s = selection::Settings::new(10, "hope").unwrap();
        let file = "b_20261126T100007.mp3";
        let name = selection::parse_name(file, &s, None).unwrap();
        let upload = selection::Upload {
            file: file.into(),
            blob_name: format!("26-11-2026/{file}"),
            pod: "b".into(),
            name_time: name.start,
            audio_start: DateTime::from_timestamp_millis(t0 + 7_500).unwrap(),
            duration: std::time::Duration::from_millis(10_000),
            frames: 0,
            size: 1,
            truncated: false,
            replaces_archived: true,
            reason: String::new(),
        };
        let archived: HashMap<String, SegmentRow> = [
            row("a_20261126T100000.mp3", t0, 10_000),
            // The shorter copy the upload replaces: it joins nothing.
            row(file, t0 + 1_000, 1_000),
        ]
        .into_iter()
        .map(|r| (r.file_name.clone(), r))
        .collect();
        let points = upload_points(&archived, &[upload], &settings());
        assert_eq!(points.len(), 1);
        assert_eq!((points[file].in_s, points[file].out_s), (2.5, 10.0));
    }
}
