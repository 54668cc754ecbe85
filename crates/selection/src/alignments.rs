//! Content alignments in the plan: which pairs of files are worth aligning by content
//! ([`alignment_candidates`]: one per pair of recordings that overlap by their names and are
//! not related yet), and placing the recordings that measured alignments relate ([`link`]),
//! which every plan does before it chooses.

use std::collections::HashMap;

use crate::choose::Role;
use crate::classify::{prepare, Prepared, Segment};
use crate::timeline;
use crate::{Alignment, ArchiveState, Now, SeenFile, Settings};

/// A pair of files worth aligning by content, with what their names say.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlignmentCandidate {
    /// A file in the folder.
    pub a: String,
    /// A file of another recording, in the folder.
    pub b: String,
    /// Start of `b`'s audio minus start of `a`'s, as the names place them, ms.
    pub expected_offset_ms: i64,
    /// How far the truth may be from that (both placements' uncertainty, plus a second).
    pub tolerance_ms: i64,
    /// Another pair of the same two recordings, listed right after the pair before it: to
    /// measure only where the pairs before it gave no alignment to trust (a recorder's first
    /// file opens with a connect burst and encoder priming, which can leave its alignment in
    /// doubt while its next file aligns plainly).
    pub alternate: bool,
}

/// Pairs of the same two recordings tried at most, the first included.
const PAIRS_PER_RECORDINGS: usize = 3;

/// One pair of files per pair of recordings whose audio overlaps by at least 2 s by their
/// names and that no remembered alignment relates yet. Aligning them by content and passing
/// the result to [`crate::plan_with`] places the two recordings relative to each other exactly: no
/// duplicate archived for doubt, and joins placed to the frame. Only files in the folder are
/// named. Each is followed by up to two [`AlignmentCandidate::alternate`]s: later overlapping
/// pairs of the same two recordings, for when the first gives no alignment to trust.
pub fn alignment_candidates(
    files: &[SeenFile],
    state: &ArchiveState,
    settings: &Settings,
    now: impl Into<Now>,
) -> Vec<AlignmentCandidate> {
    let Prepared {
        segs, mut places, ..
    } = prepare(files, state, settings, now.into());
    // Recordings already aligned (in an earlier run) need no new measurement.
    link(&segs, &mut places, &state.alignments);
    // Archived files still in the folder are aligned too: a run interrupted after their
    // upload must place the rest as the uninterrupted run would have.
    let in_folder: std::collections::HashSet<&str> =
        files.iter().map(|f| f.name.as_str()).collect();
    let mut local: Vec<usize> = (0..segs.len())
        .filter(|&i| match segs[i].role {
            Role::Candidate => true,
            Role::Archived => in_folder.contains(segs[i].file.as_str()),
            _ => false,
        })
        .collect();
    local.sort_by_key(|&i| (places[i].start, &segs[i].file));
    // Pairs by the two recordings they relate, in the order found.
    let mut by_recordings: Vec<((usize, usize), Vec<AlignmentCandidate>)> = Vec::new();
    for (n, &i) in local.iter().enumerate() {
        for &j in local[n + 1..]
            .iter()
            .take_while(|&&j| places[j].start < places[i].end)
        {
            let (p, q) = (&places[i], &places[j]);
            let overlap = p.end.min(q.end) - p.start.max(q.start);
            let key = (p.group.min(q.group), p.group.max(q.group));
            if p.group == q.group || overlap < 2_000 {
                continue;
            }
            let pairs = match by_recordings.iter_mut().find(|(k, _)| *k == key) {
                Some((_, pairs)) => pairs,
                None => {
                    by_recordings.push((key, Vec::new()));
                    &mut by_recordings.last_mut().expect("just pushed").1
                }
            };
            if pairs.len() < PAIRS_PER_RECORDINGS {
                pairs.push(AlignmentCandidate {
                    a: segs[i].file.clone(),
                    b: segs[j].file.clone(),
                    expected_offset_ms: q.start - p.start,
                    tolerance_ms: p.early.max(p.late) + q.early.max(q.late) + 1_000,
                    alternate: !pairs.is_empty(),
                });
            }
        }
    }
    by_recordings
        .into_iter()
        .flat_map(|(_, pairs)| pairs)
        .collect()
}

/// Place the recordings of aligned files relative to each other; alignments naming a file
/// the plan does not know are ignored.
pub(crate) fn link<'a>(
    segs: &[Segment],
    places: &mut [timeline::Placement],
    alignments: impl IntoIterator<Item = &'a Alignment>,
) {
    let index: HashMap<&str, usize> = segs
        .iter()
        .enumerate()
        .map(|(i, s)| (s.file.as_str(), i))
        .collect();
    let mut pairs: Vec<(usize, usize, i64)> = alignments
        .into_iter()
        .filter_map(|a| {
            Some((
                *index.get(a.a.as_str())?,
                *index.get(a.b.as_str())?,
                a.offset_ms,
            ))
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    timeline::align(places, &pairs);
}
