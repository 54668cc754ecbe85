//! The run's step after the plan is carried out: the manifests of the days whose segments
//! changed are rewritten from the table ([`crate::days`]), with their pictures and pages and
//! the index of days ([`crate::report`]).

use std::collections::BTreeSet;

use tracing::{error, info};

use crate::days;
use crate::report;
use crate::settings::Settings;
use store::Archive;

/// Rewrite the manifests of `changed` days from the table (when enabled), with their pictures
/// (which draw the pods of `gone`'s rows too) and pages and the index of days (`report`), which show the files the run left in the
/// folder (`files` as scanned, less `deleted`, as the `plan` held them). Returns the number
/// of failures (0 or 1).
pub async fn days_and_pages(
    archive: &dyn Archive,
    gone: &dyn Archive,
    settings: &Settings,
    changed: &BTreeSet<chrono::NaiveDate>,
    files: &[selection::SeenFile],
    plan: &selection::Plan,
    deleted: &[String],
) -> usize {
    if !settings.day_manifests || changed.is_empty() {
        return 0;
    }
    let settings = settings.read_side();
    match days::write(archive, &settings, changed).await {
        Ok(written) => {
            for m in &written {
                info!(day = %m.day, segments = m.segments.len(), gaps = m.gaps.len(),
                    archived_seconds = m.archived_seconds, "day manifest written");
            }
            let held = report::held_files(files, plan, Some(deleted), &settings);
            match report::write_pages(archive, gone, &settings, &written, Some(&held)).await {
                Ok(()) => 0,
                Err(e) => {
                    error!("day pages: {e}");
                    1
                }
            }
        }
        Err(e) => {
            error!("day manifest: {e}");
            1
        }
    }
}
