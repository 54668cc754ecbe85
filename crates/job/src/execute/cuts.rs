//! The frame-exact cuts a run may make: those a comparison backs (issue 31).

use std::collections::HashMap;

use selection::{CompareRequest, Comparison, Plan, Verdict};
use tracing::info;

use crate::scan::Folder;
use crate::settings::Settings;
use archive_model::day::Cut;
use store::{Archive, SegmentRow};

/// The frame-exact cuts ([`archive_model::day::upload_cuts`]) whose left-out audio a comparison
/// shows the joined segment holds: a cut rests on the same evidence as a deletion. A pair no
/// comparison of this run covered is compared now; a cut without a `Same` verdict is dropped,
/// and its blob keeps the whole recording.
pub(crate) async fn confirm_cuts(
    cuts: HashMap<String, Cut>,
    plan: &Plan,
    comparisons: &[Comparison],
    folder: &Folder,
    settings: &Settings,
    archive: &dyn Archive,
    archived: &HashMap<String, SegmentRow>,
) -> HashMap<String, Cut> {
    let same = |a: &str, b: &str, among: &[Comparison]| {
        among.iter().any(|c| {
            c.verdict == Verdict::Same
                && ((c.file == a && c.with == b) || (c.file == b && c.with == a))
        })
    };
    let start_ms = |file: &str| -> Option<i64> {
        match plan.uploads.iter().find(|u| u.file == file) {
            Some(u) => Some(u.audio_start.timestamp_millis()),
            None => archived.get(file)?.audio_start_ms,
        }
    };
    let mut asked = Vec::new();
    for (file, cut) in &cuts {
        if same(file, &cut.after, comparisons) {
            continue;
        }
        let (Some(u), Some(at), Some(after_at)) = (
            plan.uploads.iter().find(|u| &u.file == file),
            start_ms(file),
            start_ms(&cut.after),
        ) else {
            continue;
        };
        let frame_ms = u.duration.as_secs_f64() * 1000.0 / u.frames.max(1) as f64;
        let offset_ms = after_at - at;
        asked.push(CompareRequest {
            file: file.clone(),
            with: cut.after.clone(),
            offset_ms,
            from_ms: offset_ms.max(0),
            to_ms: (cut.frame as f64 * frame_ms) as i64,
        });
    }
    let found = if asked.is_empty() {
        Vec::new()
    } else {
        crate::compare::measure(&asked, folder, settings, archive, archived).await
    };
    cuts
        .into_iter()
        .filter(|(file, cut)| {
            let kept = same(file, &cut.after, comparisons) || same(file, &cut.after, &found);
            if !kept {
                info!(file = %file, after = %cut.after, decision = "whole recording",
                    "no comparison shows that {} holds the audio before its in-point; its blob keeps it", cut.after);
            }
            kept
        })
        .collect()
}
