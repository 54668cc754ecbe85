//! The day manifest: every archived segment of a day in time order (blob, start, duration,
//! in and out points), the spans no replica recorded, and dead air, built from the table's
//! rows alone; and where planned uploads will join the archive ([`upload_points`]), and
//! which of them a frame-exact blob may cut ([`upload_cuts`]) or lead ([`upload_leads`]).
//!
//! The job writes the manifests to `_days/YYYY-MM-DD.json` and `.m3u8` ([`playlist`]); the day
//! is the date in the file names, like the blob folders.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use crate::joins::{joins, Join, Placed, Points};
use crate::rows;
use crate::SegmentRow;

mod cut;
mod manifest;
pub mod playlist;
mod silence;
#[cfg(test)]
mod tests;
pub use cut::{upload_cuts, upload_leads, Cut, Lead};
pub use manifest::{DayGap, DayManifest, DaySegment, DaySilence, Silence};

/// The day a file's name falls on, as the blob folders count days.
pub fn day_of(file: &str, settings: &selection::Settings) -> Option<NaiveDate> {
    selection::parse_name(file, settings, None)
        .ok()
        .map(|n| n.local.date())
}

/// The days whose manifests an upload changes: the day its name falls on, which lists it, and
/// the next one where its audio reaches past that day's end (local midnight), since that
/// day's first segment joins it: the in-point and the gap before it are computed across
/// midnight ([`build`]).
pub fn days_of_upload(u: &selection::Upload, settings: &selection::Settings) -> Vec<NaiveDate> {
    let Some(day) = day_of(&u.file, settings) else {
        return Vec::new();
    };
    let end = u.audio_start + chrono::TimeDelta::from_std(u.duration).unwrap_or_default();
    let ends_on = end.with_timezone(&settings.time_zone).date_naive();
    if ends_on > day {
        vec![day, day + chrono::TimeDelta::days(1)]
    } else {
        vec![day]
    }
}

/// The manifest of `day` from the table's rows (ours and the original job's). Rows of the
/// neighbouring days only join: the day's first segment skips what the previous day's last
/// one already plays.
pub fn build(
    rows: &[SegmentRow],
    day: NaiveDate,
    stream: &str,
    settings: &selection::Settings,
) -> DayManifest {
    let mut segments = Vec::new();
    let mut gaps = Vec::new();
    let mut archived_ms = 0i64;
    let mut pods = BTreeSet::new();
    let mut silences = Vec::new();
    let by_file: HashMap<&str, &SegmentRow> =
        rows.iter().map(|r| (r.file_name.as_str(), r)).collect();
    for j in joins(placed_rows(rows, settings))
        .into_iter()
        .filter(|j| j.placed.day == day)
    {
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
        let mut segment = day_segment(&j);
        // The row's byte offsets, while they name the frames the manifest plays.
        if let Some(row) = rows
            .iter()
            .find(|r| r.file_name == segment.file && r.blob_name.is_some())
            .filter(|r| {
                (r.in_frame, r.out_frame) == (segment.in_frame, segment.out_frame)
                    && rows::ranged(r).is_some()
            })
        {
            (segment.in_byte, segment.out_byte) = (row.in_byte, row.out_byte);
        }
        if let Some(row) = by_file.get(segment.file.as_str()) {
            segment.silences = silence::of_row(row);
        }
        silences.extend(silence::on_timeline(&segment));
        segments.push(segment);
        archived_ms += j.new_ms;
    }
    for gap in &mut gaps {
        gap.pods_down = pods.iter().cloned().collect();
    }
    DayManifest {
        stream: stream.to_owned(),
        day: day.format("%Y-%m-%d").to_string(),
        segments,
        gaps,
        archived_seconds: archived_ms as f64 / 1000.0,
        silences,
    }
}

/// The table's rows (ours and the original job's) placed on the timeline, as the day
/// manifests place them; rows whose file name is no segment name are left out.
pub fn placed_rows(rows: &[SegmentRow], settings: &selection::Settings) -> Vec<Placed> {
    let node = rows::node_name_starts(rows, settings);
    rows.iter()
        .filter_map(|r| placed_row(r, settings, &node))
        .collect()
}

/// Where each planned upload will join the archive: computed before it is uploaded, so its
/// row and blob carry their in/out points from the start (no request more per file).
pub fn upload_points(
    archived: &HashMap<String, SegmentRow>,
    uploads: &[selection::Upload],
    settings: &selection::Settings,
) -> HashMap<String, Points> {
    joins(
        placed_with_uploads(archived, uploads, settings)
            .into_values()
            .collect(),
    )
    .into_iter()
    .filter(|j| uploads.iter().any(|u| u.file == j.placed.file))
    .map(|j| (j.placed.file, j.points))
    .collect()
}

/// The archived rows and a plan's uploads on the timeline, by file: an upload that replaces
/// an archived copy takes its place.
pub(crate) fn placed_with_uploads<'a>(
    archived: &'a HashMap<String, SegmentRow>,
    uploads: &'a [selection::Upload],
    settings: &selection::Settings,
) -> HashMap<&'a str, Placed> {
    let node = rows::node_name_starts(archived.values(), settings);
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
    placed
}

/// A table row (ours or the original job's) on the timeline; `None` when its file name is not
/// a segment name or no blob can be named for it.
///
/// `node` places the original job's rows, which record no start: in an hour repeated by a
/// fall-back their names are placed as the planner places them ([`rows::node_name_starts`]).
fn placed_row(
    r: &SegmentRow,
    settings: &selection::Settings,
    node: &HashMap<String, DateTime<Utc>>,
) -> Option<Placed> {
    let name = selection::parse_name(&r.file_name, settings, None).ok()?;
    let blob = match &r.blob_name {
        Some(b) => b.clone(),
        None => selection::blob_name(settings, &name, &r.file_name).ok()?,
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
            .unwrap_or(settings.segment_time.as_micros() as i64),
        frames: r.frames,
        frame_exact: r.blob_first_frame.map(|_| {
            let offset = rows::blob_frame_offset(r);
            let playable = offset + r.warm_up_frames.unwrap_or(0) as i64;
            (offset, playable.max(0) as u64)
        }),
        pod: name.pod,
    })
}

/// A planned upload on the timeline, placed as its row will record it (its audio start to
/// the millisecond).
fn placed_upload(u: &selection::Upload, settings: &selection::Settings) -> Option<Placed> {
    let name = selection::parse_name(&u.file, settings, None).ok()?;
    Some(Placed {
        file: u.file.clone(),
        blob: u.blob_name.clone(),
        day: name.local.date(),
        start: DateTime::from_timestamp_millis(u.audio_start.timestamp_millis())
            .unwrap_or(name.start),
        duration_us: u.duration.as_micros() as i64,
        frames: Some(u.frames),
        frame_exact: None,
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
        in_byte: None,
        out_byte: None,
        silences: Vec::new(),
        blob_first_frame: p.frame_exact.map(|(offset, _)| offset.max(0) as u64),
        lead_frames: p
            .frame_exact
            .and_then(|(offset, _)| (offset < 0).then_some(offset.unsigned_abs())),
        blob_plays_from_s: p.frame_exact.map(|(_, playable)| {
            p.frame_time(playable).num_microseconds().unwrap_or(0) as f64 / 1e6
        }),
    }
}
