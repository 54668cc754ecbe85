//! Alignment of re-encoded recordings by their decoded audio: normalized cross-correlation of
//! the head of the later-starting file against the other file, on mono PCM low-passed and
//! decimated to ~8 kHz (by FFT), refined at the full rate around the peak. The same is done on
//! the audio whitened by a linear-prediction filter made from the probe, which finds tonal or
//! looped content whose plain correlation peaks about as high at every repeat.

use crate::decode::{decode_each, SILENCE_RMS};
use crate::fft::correlate;
use crate::frames::{frames, FrameRef};
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
/// The fine search looks this far (seconds) around the coarse peak, at the full rate: a
/// tone's period, in case decimation put the coarse peak on a neighbouring ripple.
const FINE_REACH_S: f64 = 0.001;

/// Lags searched in one piece, seconds: bounds the memory of a search over a long file
/// (the window, its whitened copy, their energies and the correlation, ~10 MB at 8 kHz).
const CHUNK_S: f64 = 30.0;

/// Part of one file, decoded: its decimated samples, and its first samples at the full rate
/// when it serves as a probe. (A whole 600-s file is 17 MB decimated, 106 MB at 44.1 kHz:
/// only the decimated copy is kept; the fine search decodes the few seconds it needs again.)
struct Decoded<'a> {
    data: &'a [u8],
    fr: &'a [FrameRef],
    /// File sample index of `coarse[0]` (a multiple of the frame length).
    base: i64,
    /// `coarse[m]` is file sample `base + m * d`, low-passed.
    coarse: Vec<f32>,
    /// Full-rate samples from file sample 0 (empty unless `base == 0` and a head was asked).
    head: Vec<f32>,
    decoded_frames: u64,
}

impl<'a> Decoded<'a> {
    /// Decodes the frames that hold file samples `from..to`, decimating them by `d` through
    /// `h`, and keeps the first `head` samples at the full rate.
    #[allow(clippy::too_many_arguments)]
    fn new(
        data: &'a [u8],
        fr: &'a [FrameRef],
        from: i64,
        to: i64,
        d: usize,
        h: &[f64],
        head: usize,
    ) -> Decoded<'a> {
        let spf = fr.first().map_or(1, |f| i64::from(f.samples));
        let nf = fr.len() as i64;
        let f0 = (from.max(0) / spf).min(nf) as usize;
        let f1 = ((to.max(0) + spf - 1) / spf).clamp(f0 as i64, nf) as usize;
        let head = if f0 == 0 { head } else { 0 };
        let mut dec = Decimator::new(d, h);
        dec.out.reserve((f1 - f0) * spf as usize / d.max(1) + 1);
        let mut first = Vec::with_capacity(head);
        let decoded_frames = decode_each(data, fr, f0..f1, |s| {
            let room = head - first.len();
            first.extend_from_slice(&s[..room.min(s.len())]);
            dec.push(s);
        });
        Decoded {
            data,
            fr,
            base: f0 as i64 * spf,
            coarse: dec.finish(),
            head: first,
            decoded_frames,
        }
    }

    /// Full-rate samples of the file from `from` to `to` (clamped to the file): the first
    /// sample's index, the samples, and the frames decoded.
    fn full_rate(&self, from: i64, to: i64) -> (i64, Vec<f64>, u64) {
        let spf = self.fr.first().map_or(1, |f| i64::from(f.samples));
        let nf = self.fr.len() as i64;
        let f0 = (from.max(0) / spf).min(nf) as usize;
        let f1 = ((to.max(0) + spf - 1) / spf).clamp(f0 as i64, nf) as usize;
        let mut out = Vec::new();
        let n = decode_each(self.data, self.fr, f0..f1, |s| {
            out.extend(s.iter().map(|v| f64::from(*v)))
        });
        (f0 as i64 * spf, out, n)
    }
}

/// Windowed-sinc low-pass (Hann), cut-off `cutoff` in cycles per sample, `2 * half + 1` taps.
fn lowpass(cutoff: f64, half: usize) -> Vec<f64> {
    use std::f64::consts::PI;
    let mut h: Vec<f64> = (0..=2 * half)
        .map(|t| {
            let x = t as f64 - half as f64;
            let sinc = if x == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * PI * cutoff * x).sin() / (PI * x)
            };
            sinc * (0.5 - 0.5 * (2.0 * PI * t as f64 / (2 * half) as f64).cos())
        })
        .collect();
    let sum: f64 = h.iter().sum();
    h.iter_mut().for_each(|v| *v /= sum);
    h
}

/// Streaming low-pass and decimation: output `m` is `Σ h[t] x[m d + t - half]` over the
/// samples that exist, for `m` in `0..ceil(len / d)`.
struct Decimator<'h> {
    d: usize,
    h: &'h [f64],
    /// Samples from absolute index `start` on (only those still needed).
    buf: Vec<f32>,
    start: usize,
    total: usize,
    next: usize,
    out: Vec<f32>,
}

impl<'h> Decimator<'h> {
    fn new(d: usize, h: &'h [f64]) -> Self {
        Decimator {
            d: d.max(1),
            h,
            buf: Vec::new(),
            start: 0,
            total: 0,
            next: 0,
            out: Vec::new(),
        }
    }

    fn push(&mut self, x: &[f32]) {
        if self.d == 1 {
            self.out.extend_from_slice(x);
            return;
        }
        self.buf.extend_from_slice(x);
        self.total += x.len();
        self.emit(false);
    }

    fn emit(&mut self, at_end: bool) {
        let half = self.h.len() / 2;
        loop {
            let c = self.next * self.d;
            if c >= self.total || (!at_end && c + half >= self.total) {
                break;
            }
            let from = half.saturating_sub(c);
            let to = self.h.len().min(self.total + half - c);
            let v: f64 = (from..to)
                .map(|t| self.h[t] * f64::from(self.buf[c + t - half - self.start]))
                .sum();
            self.out.push(v as f32);
            self.next += 1;
        }
        let keep_from = (self.next * self.d).saturating_sub(half);
        if keep_from > self.start {
            let n = (keep_from - self.start).min(self.buf.len());
            self.buf.drain(..n);
            self.start += n;
        }
    }

    fn finish(mut self) -> Vec<f32> {
        if self.d > 1 {
            self.emit(true);
        }
        self.out
    }
}

/// A window of a signal with prefix energies; samples outside `valid` do not exist (they
/// are zeros and do not count in the overlap).
struct Window {
    x: Vec<f64>,
    e: Vec<f64>,
    valid: (usize, usize),
}

impl Window {
    fn new(x: Vec<f64>, valid: (usize, usize)) -> Self {
        let mut e = Vec::with_capacity(x.len() + 1);
        e.push(0.0);
        let mut acc = 0.0;
        for v in &x {
            acc += v * v;
            e.push(acc);
        }
        let valid = (
            valid.0.min(x.len()),
            valid.1.min(x.len()).max(valid.0.min(x.len())),
        );
        Window { x, e, valid }
    }

    /// The probe indices `i0..i1` (of a probe `len` long placed at `t`) that meet samples.
    fn overlap(&self, t: i64, len: usize) -> (usize, usize) {
        let i0 = (self.valid.0 as i64 - t).clamp(0, len as i64) as usize;
        let i1 = (self.valid.1 as i64 - t).clamp(i0 as i64, len as i64) as usize;
        (i0, i1)
    }

    /// Energy of samples `t + i0 .. t + i1` (inside `valid`).
    fn energy(&self, t: i64, i0: usize, i1: usize) -> f64 {
        self.e[(t + i1 as i64) as usize] - self.e[(t + i0 as i64) as usize]
    }
}

/// Normalized correlation of probe `p` placed at `t` on window `x` (`num = Σ p[i] x[t + i]`)
/// over the part where the target has samples; `None` when that part is shorter than
/// `min_len` or either side is silent in it (mean square at most `silence`).
fn rho(num: f64, p: &Window, x: &Window, t: i64, min_len: usize, silence: f64) -> Option<f64> {
    let (i0, i1) = x.overlap(t, p.x.len());
    let n = i1 - i0;
    if n < min_len.max(1) {
        return None;
    }
    let e_p = p.e[i1] - p.e[i0];
    let e_x = x.energy(t, i0, i1);
    let floor = n as f64 * silence;
    if e_p <= floor || e_x <= floor {
        return None;
    }
    Some(num / (e_p * e_x).sqrt())
}

/// The best point of a correlation over the offsets searched (full-rate samples of the
/// target's timeline) and the curve's local maxima.
struct Curve {
    best: (i64, f64),
    /// The best point refined by a parabola through it and its neighbours (fractional).
    vertex: f64,
    maxima: Vec<(i64, f64)>,
}

impl Curve {
    fn merge(self, other: Curve) -> Curve {
        let (mut keep, other) = if other.best.1 > self.best.1 {
            (other, self)
        } else {
            (self, other)
        };
        keep.maxima.extend(other.maxima);
        keep
    }
}

/// The vertex of the parabola through `points[i]` and its neighbours (equally spaced).
fn parabola(points: &[(i64, f64)], i: usize) -> f64 {
    let (at, r0) = points[i];
    match (i.checked_sub(1).map(|j| points[j]), points.get(i + 1)) {
        (Some((al, rl)), Some(&(ar, rr))) if ar - at == at - al => {
            let denom = rl - 2.0 * r0 + rr;
            if denom < 0.0 {
                at as f64 + (ar - at) as f64 * (0.5 * (rl - rr) / denom).clamp(-0.5, 0.5)
            } else {
                at as f64
            }
        }
        _ => at as f64,
    }
}

/// Order of the whitening (linear prediction) filter at the coarse rate.
const LPC_ORDER: usize = 32;
/// White-noise correction of the prediction: whitening flattens the spectrum by at most
/// ~30 dB, so that coding noise in quiet bands is not raised to the level of the music.
const LPC_NOISE_FLOOR: f64 = 1e-3;

/// The prediction-error filter `[1, a1, .., an]` of `x` (Levinson-Durbin on its
/// autocorrelation); `None` for silence.
fn whitening_filter(x: &[f64]) -> Option<Vec<f64>> {
    let order = LPC_ORDER.min(x.len().saturating_sub(1));
    let mut r: Vec<f64> = (0..=order)
        .map(|k| x.iter().zip(&x[k..]).map(|(a, b)| a * b).sum())
        .collect();
    if r.first().is_none_or(|r0| *r0 <= 0.0) {
        return None;
    }
    r[0] *= 1.0 + LPC_NOISE_FLOOR;
    let mut a = vec![0.0; order + 1];
    a[0] = 1.0;
    let mut err = r[0];
    for i in 1..=order {
        let acc: f64 = (1..i).map(|j| a[j] * r[i - j]).sum::<f64>() + r[i];
        let k = -acc / err;
        let prev = a.clone();
        for j in 1..i {
            a[j] = prev[j] + k * prev[i - j];
        }
        a[i] = k;
        err *= 1.0 - k * k;
        if err <= 0.0 {
            break;
        }
    }
    Some(a)
}

/// `x` through the FIR filter `a` (zero history).
fn filter(a: &[f64], x: &[f64]) -> Vec<f64> {
    (0..x.len())
        .map(|n| {
            a.iter()
                .enumerate()
                .take(n + 1)
                .map(|(k, c)| c * x[n - k])
                .sum()
        })
        .collect()
}

/// The probe of a search, prepared once: plain and whitened, with energies.
struct Probe {
    plain: Window,
    /// The whitening filter and the whitened probe; `None` for silence.
    white: Option<(Vec<f64>, Window)>,
    /// Silence threshold (mean square) of the whitened signals: the plain one scaled by the
    /// filter's gain on the probe.
    white_silence: f64,
}

/// The coarse correlation of the probe against `target` (decimated by `d`) for the probe's
/// start at file samples `lo..=hi`, in pieces of [`CHUNK_S`]: the plain curve, and the
/// whitened one.
#[allow(clippy::too_many_arguments)]
fn coarse_curves(
    probe: &Probe,
    target: &Decoded<'_>,
    lo: i64,
    hi: i64,
    d: usize,
    min_len: usize,
    rate: f64,
) -> (Option<Curve>, Option<Curve>) {
    let di = d as i64;
    let silence = SILENCE_RMS * SILENCE_RMS;
    let p_len = probe.plain.x.len() as i64;
    let n = target.coarse.len() as i64;
    let chunk = ((CHUNK_S * rate) as i64 / di).max(1);
    let (mut plain, mut white): (Option<Curve>, Option<Curve>) = (None, None);
    // Coarse positions of the probe's start.
    let m_lo = (lo - target.base).div_euclid(di);
    let m_hi = (hi - target.base).div_euclid(di) + 1;
    let mut m0 = m_lo;
    while m0 <= m_hi {
        let m1 = (m0 + chunk).min(m_hi + 1);
        // The target from m0 - LPC_ORDER (history of the whitening filter) to m1 + probe.
        let from = m0 - LPC_ORDER as i64;
        let raw: Vec<f64> = (from..m1 + p_len)
            .map(|m| {
                usize::try_from(m)
                    .ok()
                    .and_then(|m| target.coarse.get(m))
                    .map_or(0.0, |v| f64::from(*v))
            })
            .collect();
        let valid = ((-m0).max(0) as usize, (n - m0).max(0) as usize);
        let lag = |k: usize| target.base + (m0 + k as i64) * di;
        let curve = |p: &Window, x: &Window, silence: f64| -> Option<Curve> {
            let num = correlate(&p.x, &x.x);
            let points: Vec<(i64, f64)> = num
                .iter()
                .enumerate()
                .take((m1 - m0) as usize)
                .filter_map(|(k, &c)| {
                    let at = lag(k);
                    if at < lo || at > hi {
                        return None;
                    }
                    Some((at, rho(c, p, x, k as i64, min_len, silence)?))
                })
                .collect();
            let i = (0..points.len()).max_by(|&i, &j| points[i].1.total_cmp(&points[j].1))?;
            let maxima = (0..points.len())
                .filter(|&j| {
                    let r = points[j].1;
                    let left = j.checked_sub(1).map_or(f64::NEG_INFINITY, |k| points[k].1);
                    let right = points.get(j + 1).map_or(f64::NEG_INFINITY, |c| c.1);
                    r >= left && r >= right
                })
                .map(|j| points[j])
                .collect();
            Some(Curve {
                best: points[i],
                vertex: parabola(&points, i),
                maxima,
            })
        };
        let x = Window::new(raw[LPC_ORDER..].to_vec(), valid);
        if let Some(c) = curve(&probe.plain, &x, silence) {
            plain = Some(match plain {
                Some(p) => p.merge(c),
                None => c,
            });
        }
        if let Some((a, pw)) = &probe.white {
            let xw = Window::new(filter(a, &raw)[LPC_ORDER..].to_vec(), valid);
            if let Some(c) = curve(pw, &xw, probe.white_silence) {
                white = Some(match white {
                    Some(w) => w.merge(c),
                    None => c,
                });
            }
        }
        m0 = m1;
    }
    (plain, white)
}

/// What one direction of the search found (offsets on the target's timeline, full-rate
/// samples), by each of the two measures, with the offset to report.
struct Found {
    /// Correlation of the decoded audio; the offset refined at the full rate.
    raw: Option<(Curve, f64)>,
    /// Correlation of the audio whitened by the probe's prediction-error filter; the offset
    /// interpolated on the coarse curve.
    white: Option<(Curve, f64)>,
    decoded_frames: u64,
}

/// Where the first `probe_len` samples of `probe` (decoded from file sample 0) lie in
/// `target`, for the probe's sample 0 at target samples `lo..=hi` (which may be negative:
/// the probe hangs off the target's start). The target is zero outside its samples; its
/// decimated samples cover everything of the file that `lo..hi + probe_len` reaches.
#[allow(clippy::too_many_arguments)]
fn search(
    probe: &Decoded<'_>,
    target: &Decoded<'_>,
    probe_len: usize,
    lo: i64,
    hi: i64,
    d: usize,
    min_len: usize,
    rate: f64,
) -> Found {
    let mut found = Found {
        raw: None,
        white: None,
        decoded_frames: 0,
    };
    if lo > hi {
        return found;
    }
    let p: Vec<f64> = probe.coarse[..probe_len.div_ceil(d).min(probe.coarse.len())]
        .iter()
        .map(|v| f64::from(*v))
        .collect();
    let white = whitening_filter(&p).map(|a| {
        let pw = filter(&a, &p);
        let len = pw.len();
        (a, Window::new(pw, (0, len)))
    });
    let energy = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>();
    let gain = white.as_ref().map_or(1.0, |(_, w)| {
        energy(&w.x) / energy(&p).max(f64::MIN_POSITIVE)
    });
    let len = p.len();
    let prepared = Probe {
        plain: Window::new(p, (0, len)),
        white,
        white_silence: SILENCE_RMS * SILENCE_RMS * gain,
    };
    let coarse_min = min_len.div_ceil(d);
    let (plain, white) = coarse_curves(&prepared, target, lo, hi, d, coarse_min, rate);
    let Some(plain) = plain else {
        return found;
    };

    // Fine: the full-rate signals around the coarse peak, then a parabola through the top.
    let best = plain.best.0;
    let reach = (2 * d as i64).max((FINE_REACH_S * rate).ceil() as i64);
    let (base, xf, decoded) = target.full_rate(best - reach, best + reach + probe_len as i64 + 1);
    found.decoded_frames = decoded;
    let pf_len = probe_len.min(probe.head.len());
    let pf = Window::new(
        probe.head[..pf_len].iter().map(|v| f64::from(*v)).collect(),
        (0, pf_len),
    );
    // The file's samples in xf: all of it, up to the file's end.
    let xf_len = xf.len();
    let xf = Window::new(xf, ((-base).max(0) as usize, xf_len));
    let silence = SILENCE_RMS * SILENCE_RMS;
    let fine = |off: i64| -> Option<f64> {
        let t = off - base;
        let (i0, i1) = xf.overlap(t, pf.x.len());
        if i1 <= i0 {
            return None;
        }
        let from = (t + i0 as i64) as usize;
        let num: f64 = pf.x[i0..i1]
            .iter()
            .zip(&xf.x[from..])
            .map(|(a, b)| a * b)
            .sum();
        rho(num, &pf, &xf, t, min_len, silence)
    };
    let points: Vec<(i64, f64)> = ((best - reach).max(lo)..=(best + reach).min(hi))
        .filter_map(|off| Some((off, fine(off)?)))
        .collect();
    let refined = (0..points.len())
        .max_by(|&i, &j| points[i].1.total_cmp(&points[j].1))
        .map_or(plain.vertex, |i| parabola(&points, i));
    found.raw = Some((plain, refined));
    found.white = white.map(|w| {
        let at = w.vertex;
        (w, at)
    });
    found
}

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
