//! The list of archived days behind `_days/index.html`, kept as `_days/index.jsonl` (JSON
//! Lines, a day per line: `_days/*.json` are the day manifests, and tools read them as such).
//!
//! A run rewrites only the days it touched, so the list is carried from run to run in that
//! blob (one small read and two small writes per run) instead of being rebuilt from every row
//! of the table or a listing of `_days/`.

use serde::{Deserialize, Serialize};

use archive_model::day::DayManifest;

/// Where the list of days is kept.
pub const INDEX: &str = "_days/index.jsonl";

/// One day as the index lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// `YYYY-MM-DD`, the local day of the file names (as the blob folders count days).
    pub day: String,
    /// Segments the day's manifest lists.
    pub segments: usize,
    /// Seconds the day plays (its manifest's `archived_seconds`).
    pub archived_seconds: f64,
    /// Gaps no replica recorded.
    pub gaps: usize,
    /// Spans of dead air.
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
    let (mut days, problem) = match stored.map(parse) {
        None => (Vec::new(), None),
        Some(Ok(days)) => (days, None),
        Some(Err(e)) => (
            Vec::new(),
            Some(format!(
                "{INDEX}: expected a JSON object per line ({e}); written anew"
            )),
        ),
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

fn parse(bytes: &[u8]) -> Result<Vec<IndexEntry>, serde_json::Error> {
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<IndexEntry>()
        .collect()
}

/// The list as stored: one JSON object per line.
pub fn to_lines(days: &[IndexEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for d in days {
        if serde_json::to_writer(&mut out, d).is_ok() {
            out.push(b'\n');
        }
    }
    out
}
