//! A manifest per day, kept with the archive: every archived segment of the day in time
//! order (blob, start, duration) and the spans no replica recorded, as JSON and as an M3U
//! playlist, so a player or an indexer can walk a day without listing blobs.
//!
//! Written to `_days/YYYY-MM-DD.json` and `_days/YYYY-MM-DD.m3u8` for each day a run archived
//! something in; the day is the date in the file names, like the blob folders.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};

use crate::joins::{joins, Join, Placed, Points};

mod bytes;

use crate::rows;
use crate::settings::Settings;
use store::{Archive, SegmentRow, StoreResult};

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
        let rows = day_rows(archive, settings, day).await?;
        let mut manifest = build(&rows, day, settings);
        sync_points(archive, settings, &rows, &mut manifest).await?;
        let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        let name = format!("_days/{}", day.format("%Y-%m-%d"));
        archive
            .put_small(&format!("{name}.json"), json, "application/json")
            .await?;
        archive
            .put_small(
                &format!("{name}.m3u8"),
                playlist::playlist(&manifest).into_bytes(),
                "application/vnd.apple.mpegurl",
            )
            .await?;
        written.push(manifest);
    }
    Ok(written)
}

/// The rows a day's manifest is built from: the day's, and an hour of each neighbour's (which
/// only join).
async fn day_rows(
    archive: &dyn Archive,
    settings: &Settings,
    day: NaiveDate,
) -> StoreResult<Vec<SegmentRow>> {
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
    archive.rows_in_range(&from, &to).await
}

/// The manifest of `day` as [`write`] would write it now, read from the table without
/// writing anything (what `segment-selector playlist` signs).
pub async fn read(
    archive: &dyn Archive,
    settings: &Settings,
    day: NaiveDate,
) -> StoreResult<DayManifest> {
    Ok(build(
        &day_rows(archive, settings, day).await?,
        day,
        settings,
    ))
}

/// Record in the rows and blobs of the day the in/out points that changed since they were
/// archived (an earlier segment archived later, a restamp): usually none. Where the points
/// leave part of a blob unplayed and the row has no byte offsets for them (the points
/// changed, or a run stopped between the upload and recording the offsets found on the way),
/// they are found by reading the blob's head ([`bytes::locate`]); the manifest gets them too.
async fn sync_points(
    archive: &dyn Archive,
    settings: &Settings,
    rows: &[SegmentRow],
    manifest: &mut DayManifest,
) -> StoreResult<()> {
    for s in &mut manifest.segments {
        // The original job's rows name no blob: their blobs are left as it wrote them.
        let Some(row) = rows
            .iter()
            .find(|r| r.file_name == s.file && r.blob_name.is_some())
        else {
            continue;
        };
        let mut updated = rows::with_points(row, &s.points());
        if let Some((first, end)) = rows::ranged(&updated).filter(|_| updated.in_byte.is_none()) {
            match bytes::locate(archive, &s.blob, first, end).await {
                Ok(found) => (updated.in_byte, updated.out_byte) = found.unzip(),
                Err(e) => tracing::warn!(blob = %s.blob,
                    "its byte range is not found (it plays whole): {e}"),
            }
        }
        if updated == *row {
            continue;
        }
        (s.in_byte, s.out_byte) = (updated.in_byte, updated.out_byte);
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
        stream: settings.stream.clone(),
        day: day.format("%Y-%m-%d").to_string(),
        segments,
        gaps,
        archived_seconds: archived_ms as f64 / 1000.0,
        silences,
    }
}

/// The table's rows (ours and the original job's) placed on the timeline, as the day
/// manifests place them; rows whose file name is no segment name are left out.
pub fn placed_rows(rows: &[SegmentRow], settings: &Settings) -> Vec<Placed> {
    let node = rows::node_name_starts(rows, &settings.selection);
    rows.iter()
        .filter_map(|r| placed_row(r, settings, &node))
        .collect()
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

mod manifest;
pub mod playlist;
mod silence;
#[cfg(test)]
mod tests;
mod trim;
pub use manifest::{DayGap, DayManifest, DaySegment, DaySilence, Silence};
pub use trim::{upload_leads, upload_trims, Lead, Trim};
