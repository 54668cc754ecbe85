//! What the archive says for this folder: rows, gone rows, alignments and the sightings
//! row, with the blobs of rows that matter checked.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use selection::ArchiveState;
use tracing::warn;

use super::Stores;
use crate::scan::Folder;
use crate::settings::Settings;
use archive_model::proof::{blob_proves, lookup_target};
use archive_model::rows;
use store::{ArchiveRead, SegmentRow};

pub use super::Recorded;

/// Read the archive state that matters for these files.
pub async fn read_state(
    stores: &Stores<'_>,
    settings: &Settings,
    folder: &Folder,
) -> Result<(ArchiveState, Recorded), String> {
    let archive = stores.archive;
    let times: Vec<DateTime<Utc>> = folder
        .files
        .iter()
        .filter_map(|f| selection::parse_name(&f.name, &settings.selection, Some(f.modified)).ok())
        .map(|n| n.start)
        .collect();
    let mut rows: Vec<SegmentRow> = Vec::new();
    let mut gone: Vec<SegmentRow> = Vec::new();
    let mut aligned: Vec<SegmentRow> = Vec::new();
    if let (Some(&oldest), Some(&newest)) = (times.iter().min(), times.iter().max()) {
        let margin = TimeDelta::days(1);
        let (from, to) = rows::key_range(oldest - margin, newest + margin);
        rows = archive
            .rows_in_range(&from, &to)
            .await
            .map_err(|e| e.to_string())?;
        gone = stores
            .gone
            .rows_in_range(&from, &to)
            .await
            .map_err(|e| e.to_string())?;
        aligned = stores
            .aligned
            .rows_in_range(&from, &to)
            .await
            .map_err(|e| e.to_string())?;
    }
    // The newest rows of the partition include the original Node job's, whose RowKeys are
    // upload times and fall outside the range above.
    let first = archive.first_rows(200).await.map_err(|e| e.to_string())?;
    let mut seen = HashSet::new();
    let mut state = ArchiveState::default();
    let mut recorded = Recorded::default();
    let mut legacy = HashSet::new();
    for row in rows.into_iter().chain(first) {
        if !seen.insert(row.row_key.clone()) {
            continue;
        }
        if row.blob_name.is_none() {
            legacy.insert(row.file_name.clone());
        }
        state
            .segments
            .push(rows::archived(&row, settings.selection.segment_time));
        recorded.archived.insert(row.file_name.clone(), row);
    }
    // The Node job's rows record no resolved name time: it is inferred from their upload times
    // (in their keys) and their neighbours.
    let node = rows::node_name_starts(
        recorded
            .archived
            .values()
            .filter(|r| legacy.contains(&r.file_name)),
        &settings.selection,
    );
    for s in &mut state.segments {
        if let Some(&t) = node.get(&s.file_name) {
            s.name_start = Some(t);
        }
    }
    state.gone = gone.iter().map(rows::gone).collect();
    recorded.gone = gone.into_iter().map(|r| (r.file_name.clone(), r)).collect();
    state.alignments = aligned.iter().filter_map(rows::alignment).collect();
    let sightings = stores
        .seen
        .rows_in_range(rows::SIGHTINGS_KEY, rows::SIGHTINGS_KEY)
        .await
        .map_err(|e| e.to_string())?;
    for row in &sightings {
        match rows::sightings(row) {
            Ok(s) => state.sightings = s,
            Err(e) => warn!("{e}; files wait for the clocks to agree that they are idle"),
        }
    }
    // A row is proof of nothing until its blob is seen: the Node job ignored upload errors,
    // and a blob can be deleted by hand. Rows of the original job, and rows of files still
    // in the folder, are checked; without its blob a row covers nothing, and a local file is
    // archived again.
    let local: HashSet<&str> = folder.files.iter().map(|f| f.name.as_str()).collect();
    let to_check: Vec<String> = state
        .segments
        .iter()
        .map(|s| s.file_name.clone())
        .filter(|f| legacy.contains(f) || local.contains(f.as_str()))
        .collect();
    let mut missing = HashSet::new();
    let mut verified = HashSet::new();
    for file in to_check {
        let expected = recorded.archived.get(&file).and_then(|r| r.size);
        if blob_present(archive, settings, &state, &file, expected).await {
            verified.insert(file);
        } else {
            warn!(file = %file, "the table says archived but the blob is missing; archiving it again");
            missing.insert(file);
        }
    }
    state.segments.retain(|s| !missing.contains(&s.file_name));
    recorded.verified = verified;
    Ok((state, recorded))
}

/// Whether the archived segment `file` is really in the container: its blob exists and, for
/// our own rows, has the size the row recorded (`expected`, the blob's). The
/// original job's rows name no blob: its default name is checked.
async fn blob_present(
    archive: &dyn ArchiveRead,
    settings: &Settings,
    state: &ArchiveState,
    file: &str,
    expected: Option<u64>,
) -> bool {
    let Some(blob) = lookup_target(state, &settings.selection, file) else {
        return false;
    };
    match archive.blob_info(&blob).await {
        Ok(Some(info)) => blob_proves(expected, info.size),
        Ok(None) => {
            warn!(file, blob = %blob, "archived by the table but its blob is missing");
            false
        }
        Err(e) => {
            warn!(file, "cannot check its blob: {e}");
            false
        }
    }
}
