//! Alignment of `-c copy` recordings: both replicas carry the source's frames byte for byte,
//! so equal frames at a constant index offset give the offset exactly.

use std::collections::HashMap;

use crate::decode::is_silent;
use crate::frames::{frames, FrameRef};
use crate::{Alignment, Method};

/// A frame whose bytes occur more often than this in `a` says nothing about the offset
/// (digital silence encodes to identical frames).
const MAX_REPEATS: usize = 4;
/// Fewest equal frames in a row that count as a match (~0.1–0.2 s of audio).
const MIN_RUN: usize = 4;
/// Least share of the overlap whose frames must be equal. `-c copy` replicas agree on nearly
/// every frame; re-encoding replicas agree on none, or, where their frame grids coincide and
/// the encoders' states converge, on about half. A steady tone makes an encoder repeat
/// frames, so a few runs of equal frames also turn up at wrong offsets (seen: 9 frames in a
/// row, 2.5 % of the overlap, 0.6 s off).
pub const MIN_EQUAL_SHARE: f64 = 0.4;

/// FNV-1a, 64 bits: stable across builds, fast on ~100–1000-byte frames.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What one candidate offset explains.
struct Candidate {
    offset: i64,
    overlap: usize,
    equal: usize,
    longest_run: usize,
    /// `a`'s frame where the longest run starts.
    longest_run_start: usize,
}

fn evaluate(a: &[u8], fa: &[FrameRef], b: &[u8], fb: &[FrameRef], offset: i64) -> Candidate {
    // b's frame j is a's frame j + offset.
    let first_j = (-offset).max(0) as usize;
    let end_j = (fa.len() as i64 - offset).clamp(0, fb.len() as i64) as usize;
    let end_j = end_j.max(first_j);
    let first_i = (first_j as i64 + offset) as usize;
    let (mut equal, mut run, mut longest_run, mut longest_run_start) = (0, 0, 0, 0);
    let pairs = fa
        .get(first_i..)
        .unwrap_or(&[])
        .iter()
        .zip(fb.get(first_j..end_j).unwrap_or(&[]));
    for (i, (x, y)) in (first_i..).zip(pairs) {
        if x.bytes(a) == y.bytes(b) {
            equal += 1;
            run += 1;
            if run > longest_run {
                longest_run = run;
                longest_run_start = i + 1 - run;
            }
        } else {
            run = 0;
        }
    }
    Candidate {
        offset,
        overlap: end_j - first_j,
        equal,
        longest_run,
        longest_run_start,
    }
}

/// Aligns two `-c copy` recordings by their frames: the index offset at which `b`'s frames
/// are byte-equal to `a`'s. `None` unless, at some offset, at least [`MIN_EQUAL_SHARE`] of the
/// overlapping frames are equal, with a run of [`MIN_RUN`] in a row, counting only frames that
/// are not repeated all over `a` and whose audio is not silent: e.g. for re-encoded replicas (frames differ: use
/// [`crate::align_audio`]) or recordings that do not overlap.
///
/// `peak` is the share of the overlap whose frames are equal at that offset (1.0 for a clean
/// overlap), `second_peak` the share at the next best offset, `confidence`
/// `1 - second_peak / peak`: how exclusively this offset explains the equal frames (1.0 when no
/// other offset has any; a re-encoding pair whose encoders converged on half the frames is as
/// certain as a `-c copy` pair).
pub fn align_copy(a: &[u8], b: &[u8]) -> Option<Alignment> {
    let fa = frames(a);
    let fb = frames(b);
    let (first_a, first_b) = (fa.first()?, fb.first()?);
    if (first_a.sample_rate, first_a.samples) != (first_b.sample_rate, first_b.samples) {
        return None;
    }
    let mut index: HashMap<u64, Vec<usize>> = HashMap::with_capacity(fa.len());
    for (i, f) in fa.iter().enumerate() {
        let at = index.entry(fnv1a(f.bytes(a))).or_default();
        if at.len() <= MAX_REPEATS {
            at.push(i);
        }
    }
    let mut votes: HashMap<i64, usize> = HashMap::new();
    for (j, f) in fb.iter().enumerate() {
        match index.get(&fnv1a(f.bytes(b))) {
            Some(at) if at.len() <= MAX_REPEATS => {
                for &i in at {
                    *votes.entry(i as i64 - j as i64).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    // The few best-voted offsets, checked byte for byte (hash collisions cannot fool it).
    let mut ranked: Vec<(i64, usize)> = votes.into_iter().collect();
    ranked.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut candidates: Vec<Candidate> = ranked
        .iter()
        .take(4)
        .map(|&(offset, _)| evaluate(a, &fa, b, &fb, offset))
        .collect();
    candidates.sort_by(|x, y| y.equal.cmp(&x.equal).then(x.offset.cmp(&y.offset)));
    let best = candidates.first()?;
    let share = |c: &Candidate| c.equal as f64 / c.overlap.max(1) as f64;
    let peak = share(best);
    if best.longest_run < MIN_RUN.min(best.overlap)
        || best.longest_run == 0
        || peak < MIN_EQUAL_SHARE
    {
        return None;
    }
    // Equal frames of silence say nothing (two encoders started on silence write the same
    // first frames whenever they start): the matched audio must be heard. Decoding the
    // longest run (at most ~2 s of it, and only until it is heard) is cheap.
    let run = best.longest_run_start..best.longest_run_start + best.longest_run.min(80);
    if is_silent(a, &fa, run) {
        return None;
    }
    let second_peak = candidates.get(1).map_or(0.0, share);
    let spf = f64::from(first_a.samples);
    let rate = f64::from(first_a.sample_rate);
    Some(Alignment {
        offset_frames: best.offset,
        offset_samples: best.offset as f64 * spf,
        offset_ms: best.offset as f64 * spf / rate * 1000.0,
        overlap_frames: best.overlap as u64,
        confidence: (1.0 - second_peak / peak).clamp(0.0, 1.0),
        peak,
        second_peak,
        sample_rate: first_a.sample_rate,
        decoded_frames: 0,
        method: Method::Copy,
    })
}
