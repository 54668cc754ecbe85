//! Where a frame-exact blob may leave out the start of a planned upload: the audio it repeats
//! is already held, exactly, by the blob of the segment it joins.
//!
//! **Key decision: cut only where the join is exact.** Two segments of one alignment group
//! (one recorder's consecutive files, or recordings related by a content alignment) are
//! placed relative to each other to a frame, so the upload's frames before its in-point are
//! the other segment's audio: left out of the blob, nothing is lost. Between groups only names
//! place audio (±0.75 s, a connect burst of up to 10 s), so there the blob keeps the whole
//! recording and the in-point stays metadata, as in `ARCHIVE_MODE=original`.

use std::collections::{BTreeMap, HashMap};

use chrono::TimeDelta;

use super::placed_with_uploads;
use crate::joins::joins;
use crate::{ArchiveMode, SegmentRow};

/// A planned upload whose blob starts at its in-point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The first frame the blob plays (the join's in-point); the frames before it are the
    /// audio of `after`, bar the few the blob keeps for the decoder to warm up.
    pub frame: u64,
    /// The segment whose blob holds the frames left out: confirmed before this blob is
    /// written, and named in its row (`head_held_by`).
    pub after: String,
}

/// The uploads of a plan whose blobs may leave out the audio before their in-point, with
/// `groups` the plan's alignment groups ([`selection::Plan::groups`]). Only in
/// [`ArchiveMode::FrameExact`], only for a recording that replaces no archived copy, and only where the segment it joins is of its group and holds that audio
/// itself (its own blob does not start after it).
pub fn upload_cuts(
    archived: &HashMap<String, SegmentRow>,
    uploads: &[selection::Upload],
    groups: &BTreeMap<String, String>,
    settings: &selection::Settings,
    mode: ArchiveMode,
) -> HashMap<String, Cut> {
    let mut cuts = HashMap::new();
    if mode != ArchiveMode::FrameExact {
        return cuts;
    }
    let placed = placed_with_uploads(archived, uploads, settings);
    let by_file: HashMap<&str, &selection::Upload> =
        uploads.iter().map(|u| (u.file.as_str(), u)).collect();
    // Where each segment's blob starts holding audio, on the timeline: a row's frame-exact
    // blob at its first frame, an upload cut here at its in-point.
    let mut held_from = HashMap::new();
    for (file, r) in archived {
        if let (Some(p), Some(first)) = (placed.get(file.as_str()), r.blob_first_frame) {
            held_from.insert(file.clone(), p.start + p.frame_time(first));
        }
    }
    for j in joins(placed.into_values().collect()) {
        let file = j.placed.file.as_str();
        let Some(u) = by_file.get(file) else {
            continue;
        };
        let (Some(frame), Some(frames), Some(after)) =
            (j.points.in_frame, j.placed.frames, j.after.as_ref())
        else {
            continue;
        };
        let same_group = groups
            .get(file)
            .is_some_and(|g| groups.get(after) == Some(g));
        let holds = held_from
            .get(after)
            .is_none_or(|&from| from <= j.placed.start + TimeDelta::milliseconds(1));
        if frame == 0 || frame >= frames || u.replaces_archived {
            continue;
        }
        if same_group && holds {
            held_from.insert(file.to_owned(), j.placed.start + j.placed.frame_time(frame));
            cuts.insert(
                file.to_owned(),
                Cut {
                    frame,
                    after: after.clone(),
                },
            );
        }
    }
    cuts
}

/// The file a planned upload continues, whose last frames its blob starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    /// The previous file of the same ffmpeg process ([`selection::Plan::follows`]).
    pub file: String,
    /// Its blob, read where the file has left the folder.
    pub blob: String,
}

/// **Key decision: a blob plays alone.** A recording's first frames lean on the last frames
/// of the file its ffmpeg process wrote before it (the bit reservoir reaches back into them,
/// and each frame's transform overlaps the one before), so a decoder given its bytes alone
/// loses or garbles its first ~12 ms. In [`ArchiveMode::FrameExact`] a blob that is not cut
/// at an in-point (those warm up on their own frames) therefore starts with those last
/// frames, declared as encoder delay. `follows` is the plan's; the previous file's blob is
/// named by this plan's upload of it, or its row, or the archive's naming rule.
pub fn upload_leads(
    archived: &HashMap<String, SegmentRow>,
    plan: &selection::Plan,
    state: &selection::ArchiveState,
    settings: &selection::Settings,
    mode: ArchiveMode,
) -> HashMap<String, Lead> {
    if mode != ArchiveMode::FrameExact {
        return HashMap::new();
    }
    let uploading: HashMap<&str, &str> = plan
        .uploads
        .iter()
        .map(|u| (u.file.as_str(), u.blob_name.as_str()))
        .collect();
    let mut leads = HashMap::new();
    for (file, prev) in &plan.follows {
        let blob = match uploading.get(prev.as_str()) {
            Some(blob) => Some(blob.to_string()),
            None => archived
                .get(prev)
                .and_then(|r| r.blob_name.clone())
                .or_else(|| crate::proof::lookup_target(state, settings, prev)),
        };
        if let Some(blob) = blob {
            leads.insert(
                file.clone(),
                Lead {
                    file: prev.clone(),
                    blob,
                },
            );
        }
    }
    leads
}
