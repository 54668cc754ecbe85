//! Content alignment of files around incidents, for the planner.
//!
//! Where one recording begins or ends beside another, names leave up to ±0.75 s (or a
//! connect burst) of doubt, and the planner archives both files rather than risk a hole.
//! Reading those few files and aligning their audio (equal frames for `-c copy`, decoded
//! audio otherwise) tells it exactly.

use chrono::{DateTime, Utc};
use selection::{Alignment, ArchiveState, SeenFile};
use tracing::{debug, info};

use crate::settings::Settings;

/// At most this many pairs are aligned in one run: they are read whole.
const MAX_PAIRS: usize = 16;
/// Least confidence for an alignment to be trusted (see `align::Alignment::confidence`).
const MIN_CONFIDENCE: f64 = 0.5;

/// Measure the alignments the planner asks for. A pair that cannot be read or aligned with
/// confidence is left out: the planner then keeps its doubt, which costs duplicates, not
/// audio.
pub fn measure(
    files: &[SeenFile],
    state: &ArchiveState,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Vec<Alignment> {
    let mut out = Vec::new();
    for pair in selection::alignment_candidates(files, state, &settings.selection, now)
        .into_iter()
        .take(MAX_PAIRS)
    {
        let read = |name: &str| std::fs::read(settings.folder.join(name));
        let (Ok(a), Ok(b)) = (read(&pair.a), read(&pair.b)) else {
            continue;
        };
        let search = align::Search {
            expected_offset_s: Some(pair.offset_ms as f64 / 1000.0),
            ..align::Search::default()
        };
        match align::align(&a, &b, &search) {
            Some(found) if found.confidence >= MIN_CONFIDENCE => {
                info!(a = %pair.a, b = %pair.b, offset_ms = found.offset_ms, by_names_ms = pair.offset_ms,
                    confidence = found.confidence, method = ?found.method, "aligned by content");
                out.push(Alignment {
                    offset_ms: found.offset_ms.round() as i64,
                    ..pair
                });
            }
            other => {
                debug!(a = %pair.a, b = %pair.b, confidence = other.map(|f| f.confidence), "not aligned");
            }
        }
    }
    out
}
