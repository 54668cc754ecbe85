//! Writes a manifest per day beside the archive: every archived segment of the day in time
//! order (blob, start, duration, in and out points) and the spans no replica recorded, as
//! JSON and as an M3U playlist, so a player or an indexer can walk a day without listing
//! blobs. What a manifest holds is the archive model's ([`archive_model::day::build`]); this
//! module reads the day's rows, records changed points in rows and blobs, and writes.
//!
//! Written to `_days/YYYY-MM-DD.json` and `_days/YYYY-MM-DD.m3u8` for each day a run archived
//! something in; the day is the date in the file names, like the blob folders.

use std::collections::BTreeSet;

use archive_model::day::{build, playlist, DayManifest};
use archive_model::rows;
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};

use crate::settings::ReadSettings;
use store::{Archive, ArchiveRead, SegmentRow, StoreResult};

mod bytes;

/// Rewrite the manifests of `days` from the table.
pub async fn write(
    archive: &dyn Archive,
    settings: &ReadSettings,
    days: &BTreeSet<NaiveDate>,
) -> StoreResult<Vec<DayManifest>> {
    let mut written = Vec::new();
    for &day in days {
        let rows = day_rows(archive, settings, day).await?;
        let mut manifest = build(&rows, day, &settings.stream, &settings.selection);
        if manifest.segments.is_empty() {
            // The next day an upload reaches into before any of its own segments is archived:
            // written with its first segment.
            continue;
        }
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
    archive: &dyn ArchiveRead,
    settings: &ReadSettings,
    day: NaiveDate,
) -> StoreResult<Vec<SegmentRow>> {
    let (from, to) = day_keys(settings, day);
    archive.rows_in_range(&from, &to).await
}

/// The RowKey range of a day's rows and an hour of each neighbour's, in any partition keyed
/// by name time (the stream's, its gone rows).
pub(crate) fn day_keys(settings: &ReadSettings, day: NaiveDate) -> (String, String) {
    let tz = settings.selection.time_zone;
    let midnight = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc))
    };
    rows::key_range(
        midnight(day) - TimeDelta::hours(1),
        midnight(day + TimeDelta::days(1)) + TimeDelta::hours(1),
    )
}

/// The manifest of `day` as [`write`] would write it now, read from the table without
/// writing anything (what `segment-selector playlist` signs).
pub async fn read(
    archive: &dyn ArchiveRead,
    settings: &ReadSettings,
    day: NaiveDate,
) -> StoreResult<DayManifest> {
    Ok(build(
        &day_rows(archive, settings, day).await?,
        day,
        &settings.stream,
        &settings.selection,
    ))
}

/// Record in the rows and blobs of the day the in/out points that changed since they were
/// archived (an earlier segment archived later, a restamp): usually none. Where the points
/// leave part of a blob unplayed and the row has no byte offsets for them (the points
/// changed, or a run stopped between the upload and recording the offsets found on the way),
/// they are found by reading the blob's head ([`bytes::locate`]); the manifest gets them too.
async fn sync_points(
    archive: &dyn Archive,
    settings: &ReadSettings,
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
