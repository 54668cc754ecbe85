//! What a run records besides segments: moved audio starts (restamps), content alignments
//! and sightings.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use selection::{ArchiveState, Plan};
use tracing::{error, info, warn};

use super::{Recorded, Stores};
use crate::settings::Settings;
use archive_model::rows;
use store::SegmentRow;

/// Record the audio starts the plan moved ([`selection::Restamp`]). Returns how many failed
/// (a stale start misplaces a join in a day manifest until a later run restamps it; it never
/// affects what is deleted) and the days whose archived segments moved, whose manifests the
/// run rewrites after it has carried out the plan.
pub async fn restamp(
    stores: &Stores<'_>,
    settings: &Settings,
    recorded: &Recorded,
    plan: &Plan,
) -> (usize, BTreeSet<NaiveDate>) {
    if settings.dry_run {
        return (0, BTreeSet::new());
    }
    let mut failed = 0;
    let mut changed_days = BTreeSet::new();
    for r in &plan.restamps {
        let (store, rows) = if r.archived {
            (stores.archive, &recorded.archived)
        } else {
            (stores.gone, &recorded.gone)
        };
        let Some(row) = rows.get(&r.file) else {
            continue;
        };
        let row = SegmentRow {
            audio_start_ms: Some(r.audio_start.timestamp_millis()),
            ..row.clone()
        };
        let stamped = match store.replace_row(&row).await {
            Ok(()) if r.archived => match &row.blob_name {
                Some(blob) => {
                    let meta = rows::blob_metadata(&row, &settings.stream);
                    stores.archive.set_blob_metadata(blob, &meta).await
                }
                None => Ok(()),
            },
            other => other,
        };
        match stamped {
            Ok(()) => {
                info!(file = %r.file, audio_start = %r.audio_start, decision = "restamped",
                    "placed anew by a content alignment measured since it was recorded");
                if r.archived {
                    changed_days.extend(archive_model::day::day_of(&r.file, &settings.selection));
                }
            }
            Err(e) => {
                error!(file = %r.file, "cannot record its new audio start: {e}");
                failed += 1;
            }
        }
    }
    (failed, changed_days)
}

/// Keep the plan's sightings in place of the stored ones, when they changed. Returns how
/// many writes failed: without them a later run waits for the clocks, which only delays.
pub async fn remember_sightings(stores: &Stores<'_>, state: &ArchiveState, plan: &Plan) -> usize {
    if plan.sightings == state.sightings {
        return 0;
    }
    if plan.sightings.len() > rows::MAX_SIGHTINGS {
        warn!(
            sightings = plan.sightings.len(),
            "more files than can be remembered await idleness; the rest wait for the clocks"
        );
    }
    match stores
        .seen
        .replace_row(&rows::sightings_row(&plan.sightings))
        .await
    {
        Ok(()) => 0,
        Err(e) => {
            warn!("cannot keep the files seen this run: {e}");
            1
        }
    }
}

/// Keep the alignments measured this run with the archive, before the plan they shaped is
/// carried out: a later run places what is left as this one did. Returns how many failed
/// (a missing alignment makes later plans less exact, never unsafe).
pub async fn remember_alignments(
    stores: &Stores<'_>,
    settings: &Settings,
    state: &ArchiveState,
    measured: &[selection::Alignment],
) -> usize {
    let mut failed = 0;
    for al in measured.iter().filter(|al| !state.alignments.contains(al)) {
        let Some(row) = rows::alignment_row(al, &settings.selection) else {
            continue;
        };
        if let Err(e) = stores.aligned.insert_row(&row).await {
            error!(a = %al.a, b = %al.b, "cannot keep an alignment: {e}");
            failed += 1;
        }
    }
    failed
}
