//! The executor's rules for uploads: the row an upload writes, whether its blob may leave out
//! its start now (a frame-exact cut waits for the segment that holds that audio), and what a
//! finished or failed upload or row changes. Part of [`super::Executor`], apart from the
//! polling and the deletions.

use selection::Upload;
use tracing::{error, info, warn};

use super::{dead_air, Counted, Executor, FrameExact, Silence, TrimNow, UploadState};
use crate::proof::lookup_target;
use crate::rows;
use store::SegmentRow;

impl<'a> Executor<'a> {
    /// The row recording upload `u` with these bytes, joined to the archive.
    pub(super) fn row(&self, u: &Upload, size: u64, md5: &[u8; 16]) -> SegmentRow {
        let row = rows::row_for(u, size, md5);
        match self.setup.joined.get(&u.file) {
            Some(j) => rows::with_points(&row, j),
            None => row,
        }
    }

    /// Whether upload `u`'s blob leaves out its start, now: only once the segment holding
    /// that audio is confirmed (in this run, or verified when the run began).
    pub(super) fn trim_now(&self, u: &Upload) -> TrimNow {
        let Some(t) = self.setup.trims.get(&u.file) else {
            return TrimNow::Whole;
        };
        match self.by_file.get(t.after.as_str()) {
            Some(&j) => match self.uploads[j] {
                UploadState::Done(true) => TrimNow::Cut(t.frame),
                UploadState::Done(false) => TrimNow::Blocked(t.after.clone()),
                _ => TrimNow::Wait,
            },
            None if self.outcome.confirmed.contains(&t.after) => TrimNow::Cut(t.frame),
            None if self.refuted.contains(&t.after) => TrimNow::Whole,
            None => match lookup_target(self.setup.state, self.setup.settings, &t.after) {
                Some(blob) => TrimNow::LookUp {
                    file: t.after.clone(),
                    blob,
                },
                None => TrimNow::Whole,
            },
        }
    }

    /// The segment whose blob holds the audio `file`'s frame-exact blob leaves out.
    pub(super) fn head_held_by(&self, file: &str) -> Option<&str> {
        match self.by_file.get(file) {
            Some(_) => self.setup.trims.get(file).map(|t| t.after.as_str()),
            None => self.setup.head_held_by.get(file).map(String::as_str),
        }
    }

    pub(super) fn uploaded(
        &mut self,
        i: usize,
        size: u64,
        md5: [u8; 16],
        counted: Option<Counted>,
        silences: &[Silence],
        exact: Option<&FrameExact>,
    ) {
        let u = &self.plan.uploads[i];
        // A frame-exact blob holds the recording's bytes up to its end.
        let read = exact.map_or(size, |e| e.source.1);
        if read != u.size || exact.is_some_and(|e| e.blob_size != size) {
            error!(file = %u.file, "uploaded {size} bytes but {} were measured; not recorded", u.size);
            self.fail_upload(i);
            return;
        }
        let mut row = self.row(u, size, &md5);
        if let Some(e) = exact {
            use base64::Engine;
            row.blob_mode = Some("frame-exact".into());
            row.blob_first_frame = Some(e.first_frame);
            row.warm_up_frames = Some(e.warm_up);
            row.source_start = Some(e.source.0);
            row.source_end = Some(e.source.1);
            row.source_md5 = Some(base64::engine::general_purpose::STANDARD.encode(e.source_md5));
            if e.lead > 0 {
                row.lead_frames = Some(e.lead);
                row.lead_from = self.setup.leads.get(&u.file).map(|l| l.file.clone());
            } else {
                row.head_held_by = self.setup.trims.get(&u.file).map(|t| t.after.clone());
            }
        }
        row.silences = Some(dead_air::to_json(silences));
        dead_air::warn_each(u, silences);
        self.outcome.silences += silences.len();
        self.outcome.silence_ms += silences
            .iter()
            .map(|s| ((s.end_s - s.start_s).max(0.0) * 1000.0).round() as u64)
            .sum::<u64>();
        let mut confirms = true;
        if let Some(c) = counted
            .as_ref()
            .filter(|c| c.frames != u.frames || c.truncated != u.truncated)
        {
            // The header lied in a way its size did not show. The row records what was
            // counted, and nothing is deleted on the strength of this upload until the next
            // run plans with the counted facts.
            warn!(file = %u.file, planned = u.frames, counted = c.frames,
                "frame count differs from its header; recorded as counted");
            row.frames = Some(c.frames);
            row.duration_ms = Some(c.duration.as_millis() as i64);
            row.duration_us = Some(c.duration.as_micros() as i64);
            row.truncated = Some(c.truncated);
            confirms = false;
        } else if let Some((in_byte, out_byte)) =
            exact.map(|e| e.played).or(counted.and_then(|c| c.bytes))
        {
            // Counted as planned, so the offsets are those of the row's points.
            row.in_byte = Some(in_byte);
            row.out_byte = Some(out_byte);
        }
        self.uploads[i] = UploadState::Writing { confirms };
        self.queued_rows.push((i, row));
    }

    pub(super) fn row_written(&mut self, i: usize) {
        let u = &self.plan.uploads[i];
        let UploadState::Writing { confirms } = self.uploads[i] else {
            return;
        };
        info!(file = %u.file, blob = %u.blob_name, bytes = u.size, decision = "archived", "{}", u.reason);
        self.uploads[i] = UploadState::Done(confirms);
        if confirms {
            self.outcome.archived += 1;
            self.outcome.bytes += u.size;
            self.outcome.confirmed.insert(u.file.clone());
        }
    }

    pub(super) fn fail_upload(&mut self, i: usize) {
        self.outcome.errors += 1;
        self.uploads[i] = UploadState::Done(false);
    }
}
