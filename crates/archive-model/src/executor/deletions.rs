//! The executor's rules for deletions: where the segments a deletion rests on stand
//! (confirmed, waiting, failed, to be looked up) and the next deletion to start, its gone row
//! first. Part of [`super::Executor`], apart from the polling and the uploads.

use selection::Deletion;
use tracing::warn;

use super::{DeletionState, Executor, Operation, Resolution};
use crate::proof::lookup_target;
use crate::rows;

impl<'a> Executor<'a> {
    /// The size the archive's row records for `file`, if any.
    pub(super) fn archived_size(&self, file: &str) -> Option<u64> {
        if let Some(&size) = self.setup.blob_sizes.get(file) {
            return Some(size);
        }
        self.setup
            .state
            .segments
            .iter()
            .find(|s| s.file_name == file)
            .and_then(|s| s.size)
    }

    /// Where a deletion's segments stand. Once `settled` (no upload left to run),
    /// unconfirmed segments that no upload of this plan names are looked up, one at a time.
    pub(super) fn resolve(&mut self, d: &Deletion, settled: bool) -> Resolution {
        let mut missing = Vec::new();
        // A frame-exact blob proves its recording only with the blob that holds the audio
        // it leaves out.
        let mut needed: Vec<String> = d.covered_by.clone();
        let mut k = 0;
        while k < needed.len() {
            if let Some(h) = self.head_held_by(&needed[k]) {
                if !needed.iter().any(|n| n == h) {
                    needed.push(h.to_owned());
                }
            }
            k += 1;
        }
        for c in &needed {
            if self.outcome.confirmed.contains(c) {
                continue;
            }
            if !settled {
                return Resolution::Wait;
            }
            if self.refuted.contains(c) || self.by_file.contains_key(c.as_str()) {
                missing.push(c.clone());
                continue;
            }
            match lookup_target(self.setup.state, self.setup.settings, c) {
                Some(blob) => {
                    return Resolution::LookUp {
                        file: c.clone(),
                        blob,
                    }
                }
                None => {
                    self.refuted.insert(c.clone());
                    missing.push(c.clone());
                }
            }
        }
        if missing.is_empty() {
            Resolution::Ready
        } else {
            Resolution::Missing(missing)
        }
    }

    /// The next step of the one deletion under way, or the first deletion that may start.
    pub(super) fn next_deletion(&mut self, settled: bool) -> Option<Operation> {
        if let Some(i) = self
            .deletions
            .iter()
            .position(|s| *s == DeletionState::GoneWritten)
        {
            self.deletions[i] = DeletionState::Deleting;
            return Some(Operation::DeleteFile { deletion: i });
        }
        let busy =
            |s: &DeletionState| matches!(s, DeletionState::WritingGone | DeletionState::Deleting);
        if self.deletions.iter().any(busy) || self.looking_up.is_some() {
            return None;
        }
        let plan = self.plan;
        for (i, d) in plan.deletions.iter().enumerate() {
            if self.deletions[i] != DeletionState::Pending {
                continue;
            }
            match self.resolve(d, settled) {
                Resolution::Wait => continue,
                Resolution::LookUp { file, blob } => {
                    self.looking_up = Some(file.clone());
                    return Some(Operation::LookUp { file, blob });
                }
                Resolution::Missing(missing) => {
                    warn!(file = %d.file,
                        "kept: its audio rests on {missing:?}, not confirmed in the archive");
                    self.deletions[i] = DeletionState::Done;
                }
                Resolution::Ready => {
                    // Remembered before it goes, so later plans still place its neighbours
                    // the same way.
                    let gone = d
                        .remember
                        .as_ref()
                        .and_then(|g| rows::gone_row(g, self.setup.settings));
                    return Some(match gone {
                        Some(row) => {
                            self.deletions[i] = DeletionState::WritingGone;
                            Operation::WriteGone { deletion: i, row }
                        }
                        None => {
                            self.deletions[i] = DeletionState::Deleting;
                            Operation::DeleteFile { deletion: i }
                        }
                    });
                }
            }
        }
        None
    }
}
