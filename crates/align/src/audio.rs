//! Alignment of re-encoded recordings by their decoded audio: normalized cross-correlation of
//! the head of the later-starting file against the other file, on mono PCM low-passed and
//! decimated to ~8 kHz (by FFT), refined at the full rate around the peak. The same is done on
//! the audio whitened by a linear-prediction filter made from the probe, which finds tonal or
//! looped content whose plain correlation peaks about as high at every repeat.

use crate::correlation::{search, Curve, Found, FINE_REACH_S};
use crate::decimate::{lowpass, Decoded};
use crate::frames::frames;
use crate::{Alignment, Method};

/// Where to look for `b` in `a`, and how much audio to use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Search {
    /// Where `b`'s first sample is expected on `a`'s timeline, in seconds after `a`'s first
    /// sample (e.g. the difference of the names' times); `None`: anywhere the files overlap.
    pub expected_offset_s: Option<f64>,
    /// How far from `expected_offset_s` the truth may be, seconds (names are ±0.75 s, the
    /// first file after a connect starts up to ~8.5 s early, a name after a stall up to 15 s
    /// late). Only the frames this window can reach are decoded.
    pub tolerance_s: f64,
    /// Seconds from the start of the later-starting file that are correlated.
    pub probe_s: f64,
    /// Least overlap of the probe with the other file, seconds, for an alignment to count.
    pub min_overlap_s: f64,
}

impl Default for Search {
    fn default() -> Self {
        Search {
            expected_offset_s: None,
            tolerance_s: 16.0,
            probe_s: 3.0,
            min_overlap_s: 1.0,
        }
    }
}

/// Peak normalized correlation below which nothing is reported.
pub const MIN_PEAK: f64 = 0.5;
/// Least `(1 - second_peak) / (1 - peak)`: the best other alignment must leave at least this
/// many times the residual (the part of the signal that does not match) of the best one.
/// Content that correlates about as well elsewhere (a steady tone, a repeated jingle, unrelated
/// audio) is ambiguous and is not reported.
pub const MIN_RESIDUAL_RATIO: f64 = 2.0;
/// The least residual a peak is credited with: two independent encodings of the same audio
/// differ by about that much (32 kbit/s LAME: 0.005–0.05), so a better peak is an identical
/// encoding (two encoders started on the same samples of a steady tone), not better evidence.
pub const RESIDUAL_FLOOR: f64 = 0.01;
/// A second peak is another alignment only this far (seconds) from the best one; closer
/// maxima are the same peak's ripples (one period of a tone).
const SECOND_PEAK_GUARD_S: f64 = 0.02;
/// Rate the coarse search aims at (decimation by an integer: 7350 Hz from 22.05/44.1 kHz).
const COARSE_RATE: f64 = 8_000.0;

/// Aligns two recordings of the same broadcast by their audio, searching as `search` says;
/// `None` unless the best peak is trustworthy ([`Alignment::is_clear`]). See [`align_audio`].
pub fn align_audio_with(a: &[u8], b: &[u8], search: &Search) -> Option<Alignment> {
    measure_audio(a, b, search).filter(Alignment::is_clear)
}

/// The raw measurement behind [`align_audio_with`]: the best-correlating offset however
/// weak or ambiguous (its `peak` and `second_peak` tell), or `None` when nothing can be
/// correlated at all (no frames, different sample rates, no overlap possible, silence).
pub fn measure_audio(a: &[u8], b: &[u8], search_in: &Search) -> Option<Alignment> {
    let fa = frames(a);
    let fb = frames(b);
    let (first_a, first_b) = (fa.first()?, fb.first()?);
    if (first_a.sample_rate, first_a.samples) != (first_b.sample_rate, first_b.samples) {
        return None;
    }
    let spf = i64::from(first_a.samples);
    let rate = f64::from(first_a.sample_rate);
    let (na, nb) = (fa.len() as i64 * spf, fb.len() as i64 * spf);
    let min_len = (search_in.min_overlap_s * rate).round().max(1.0) as i64;
    let probe_len = ((search_in.probe_s * rate).round() as i64).max(min_len);
    // Offsets d (b's sample 0 on a's timeline) to consider.
    let (lo, hi) = match search_in.expected_offset_s {
        Some(e) if e.is_finite() => (
            ((e - search_in.tolerance_s.abs()) * rate).floor() as i64,
            ((e + search_in.tolerance_s.abs()) * rate).ceil() as i64,
        ),
        _ => (i64::MIN / 4, i64::MAX / 4),
    };
    let (lo, hi) = (lo.max(-(nb - min_len)), hi.min(na - min_len));
    if lo > hi {
        return None;
    }
    // b's head in a covers every d where the probe overlaps a by min_len (it may hang off
    // a's start); a's head in b (at -d) covers the offsets where b starts before a. Near 0
    // both look, and the better peak wins.
    let hang = probe_len - min_len;
    let b_in_a = (hi >= -hang).then(|| (lo.max(-hang), hi));
    let a_in_b = (lo < 0).then(|| ((-hi).max(-hang), -lo));
    // What each file must provide: its head as a probe, a window as a target. Decoded once,
    // the union of both (one frame more at the end for rounding).
    let d = ((rate / COARSE_RATE).round() as usize).max(1);
    let h = lowpass(0.45 / d as f64, 4 * d);
    let need = |probe: bool, window: Option<(i64, i64)>| -> (i64, i64) {
        let (mut from, mut to) = (i64::MAX, i64::MIN);
        if probe {
            (from, to) = (0, probe_len);
        }
        if let Some((l, hh)) = window {
            from = from.min(l.max(0));
            to = to.max(hh + probe_len + spf);
        }
        (from, to)
    };
    let (a_from, a_to) = need(a_in_b.is_some(), b_in_a);
    let (b_from, b_to) = need(b_in_a.is_some(), a_in_b);
    let probe_len_u = usize::try_from(probe_len).ok()?;
    let min_len_u = usize::try_from(min_len).ok()?;
    let head = |probe: bool| if probe { probe_len_u } else { 0 };
    let da = Decoded::new(a, &fa, a_from, a_to, d, &h, head(a_in_b.is_some()));
    let db = Decoded::new(b, &fb, b_from, b_to, d, &h, head(b_in_a.is_some()));
    let fine_reach = (FINE_REACH_S * rate).ceil() as i64;

    let mut found: Vec<(i64, Found)> = Vec::new();
    if let Some((l, hh)) = b_in_a {
        found.push((1, search(&db, &da, probe_len_u, l, hh, d, min_len_u, rate)));
    }
    if let Some((l, hh)) = a_in_b {
        found.push((-1, search(&da, &db, probe_len_u, l, hh, d, min_len_u, rate)));
    }
    let decoded_frames = da.decoded_frames
        + db.decoded_frames
        + found.iter().map(|(_, f)| f.decoded_frames).sum::<u64>();
    let make = |method: Method, pick: fn(&Found) -> Option<&(Curve, f64)>| -> Option<Alignment> {
        // The better peak of the two directions; on a tie the first (b's head in a).
        let (sign, (curve, at)) = found
            .iter()
            .filter_map(|(sign, f)| Some((*sign, pick(f)?)))
            .fold(None::<(i64, &(Curve, f64))>, |acc, x| match acc {
                Some(y) if y.1 .0.best.1 >= x.1 .0.best.1 => Some(y),
                _ => Some(x),
            })?;
        let best_d = curve.best.0 * sign;
        let peak = curve.best.1;
        let guard = (SECOND_PEAK_GUARD_S * rate) as i64;
        let second_peak = found
            .iter()
            .filter_map(|(sign, f)| Some((*sign, pick(f)?)))
            .flat_map(|(sign, (c, _))| c.maxima.iter().map(move |&(d, r)| (d * sign, r)))
            .filter(|&(d, _)| (d - best_d).abs() >= guard)
            .map(|(_, r)| r)
            .fold(0.0f64, f64::max);
        let offset = at * sign as f64;
        let overlap = (na as f64).min(offset + nb as f64) - offset.max(0.0);
        Some(Alignment {
            offset_frames: (offset / spf as f64).round() as i64,
            offset_samples: offset,
            offset_ms: offset / rate * 1000.0,
            overlap_frames: (overlap.max(0.0) / spf as f64).round() as u64,
            confidence: confidence(peak, second_peak),
            peak,
            second_peak,
            sample_rate: first_a.sample_rate,
            decoded_frames,
            method,
        })
    };
    let raw = make(Method::Audio, |f| f.raw.as_ref());
    let white = make(Method::AudioWhitened, |f| f.white.as_ref());
    choose(raw, white, fine_reach as f64)
}

/// A whitened peak this high means two identical encodings (the same samples into the same
/// encoder state), not two replicas of one broadcast encoded independently (≤ ~0.98 seen).
const IDENTICAL_ENCODING: f64 = 0.995;

/// The measurement marked ambiguous: an alignment as good as the peak exists elsewhere.
fn ambiguous(al: Alignment) -> Alignment {
    Alignment {
        second_peak: al.peak,
        confidence: 0.0,
        ..al
    }
}

/// One answer from the plain (`raw`) and whitened (`white`) measures. The plain one when it
/// is clear (the whitened one, if also clear, must agree within `agree` samples); else the
/// whitened one when it is clear, unless the content repeats itself (the plain correlation
/// finds another alignment within 2 % as good) and the whitened match is an identical
/// encoding: a steady tone encoded by two encoders started on the same phase matches itself
/// perfectly at the wrong offset. Otherwise the better measurement, not clear.
fn choose(raw: Option<Alignment>, white: Option<Alignment>, agree: f64) -> Option<Alignment> {
    match (raw, white) {
        (Some(r), Some(w)) if r.is_clear() && w.is_clear() => {
            if (r.offset_samples - w.offset_samples).abs() <= agree {
                Some(r)
            } else {
                Some(ambiguous(r))
            }
        }
        (Some(r), _) if r.is_clear() => Some(r),
        (Some(r), Some(w)) if w.is_clear() => {
            let repeats = r.second_peak >= 1.0 - 2.0 * RESIDUAL_FLOOR;
            if repeats && w.peak >= IDENTICAL_ENCODING {
                Some(ambiguous(w))
            } else {
                Some(w)
            }
        }
        (Some(r), Some(w)) => Some(if w.residual_ratio() > r.residual_ratio() {
            w
        } else {
            r
        }),
        (r, w) => r.or(w),
    }
}

/// 0..1 from the peak and the best other alignment's correlation: with `m = max(1 - peak,
/// RESIDUAL_FLOOR)` the residual of the peak, `(1 - m) * (1 - m / (1 - second))`: the
/// correlation, scaled by how much of the other alignment's residual the peak explains. A
/// unique clean peak (0.98 against 0.1) gives 0.96; the time code's 50-ms ripple (0.98
/// against 0.92) 0.73; a steady tone (0.9999 against 0.997) and unrelated audio 0.
pub(crate) fn confidence(peak: f64, second: f64) -> f64 {
    let m = (1.0 - peak.clamp(-1.0, 1.0)).max(RESIDUAL_FLOOR);
    let rest = 1.0 - second.clamp(-1.0, 1.0);
    if rest <= 0.0 {
        return 0.0;
    }
    ((1.0 - m) * (1.0 - m / rest)).clamp(0.0, 1.0)
}

/// Aligns two recordings of the same broadcast by their decoded audio, for re-encoded
/// replicas (no frame is equal). Looks for `b`'s start anywhere in `a` and `a`'s start
/// anywhere in `b` (so decodes all of `a` if `b` may start anywhere in it: use
/// [`align_audio_with`] and an expected offset to decode only a few seconds). `None` when the
/// content cannot be aligned: silence, unrelated audio, too little overlap, or an ambiguous
/// peak.
pub fn align_audio(a: &[u8], b: &[u8]) -> Option<Alignment> {
    align_audio_with(a, b, &Search::default())
}
