//! The list of archived days behind `_days/index.html`, kept as `_days/index.json`.
//!
//! A run rewrites only the days it touched, so the list is carried from run to run in that
//! blob (one small read and two small writes per run) instead of being rebuilt from every row
//! of the table or a listing of `_days/`.

use serde::{Deserialize, Serialize};

use crate::days::DayManifest;

/// Where the list of days is kept.
pub const INDEX_JSON: &str = "_days/index.json";

/// One day as the index lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// `YYYY-MM-DD`, the local day of the file names (as the blob folders count days).
    pub day: String,
    pub segments: usize,
    pub archived_seconds: f64,
    pub gaps: usize,
    pub silences: usize,
}

impl IndexEntry {
    /// The entry of a freshly written manifest.
    pub fn of(m: &DayManifest) -> IndexEntry {
        IndexEntry {
            day: m.day.clone(),
            segments: m.segments.len(),
            archived_seconds: m.archived_seconds,
            gaps: m.gaps.len(),
            silences: m.silences.len(),
        }
    }
}

/// The stored list (`None` when there is none yet) with `written` in place of their days'
/// entries, in day order. A day left with no segments is dropped. A stored list that cannot
/// be read is replaced (returned as the error's text beside the new list): it is only a
/// summary of the manifests, which stay.
pub fn merge(stored: Option<&[u8]>, written: &[DayManifest]) -> (Vec<IndexEntry>, Option<String>) {
    let (mut days, problem): (Vec<IndexEntry>, _) = match stored {
        None => (Vec::new(), None),
        Some(bytes) => match serde_json::from_slice(bytes) {
            Ok(days) => (days, None),
            Err(e) => (
                Vec::new(),
                Some(format!(
                    "{INDEX_JSON}: expected a JSON list of days ({e}); written anew"
                )),
            ),
        },
    };
    for m in written {
        days.retain(|d| d.day != m.day);
        if !m.segments.is_empty() {
            days.push(IndexEntry::of(m));
        }
    }
    days.sort_by(|a, b| a.day.cmp(&b.day));
    (days, problem)
}
