//! The correlation at the heart of [`super::audio`]: a probe's normalized cross-correlation
//! against a target over a range of lags, on windows with prefix energies; coarse on the
//! decimated samples in pieces of [`CHUNK_S`], then fine at the full rate around the peak; the
//! same on audio whitened by the probe's linear-prediction filter. It returns curves and
//! their peaks; deciding which peak to trust stays in `audio`.

use crate::decimate::Decoded;
use crate::decode::SILENCE_RMS;
use crate::fft::correlate;

/// The fine search looks this far (seconds) around the coarse peak, at the full rate: a
/// tone's period, in case decimation put the coarse peak on a neighbouring ripple.
pub(crate) const FINE_REACH_S: f64 = 0.001;

/// Lags searched in one piece, seconds: bounds the memory of a search over a long file
/// (the window, its whitened copy, their energies and the correlation, ~10 MB at 8 kHz).
pub(crate) const CHUNK_S: f64 = 30.0;

/// A window of a signal with prefix energies; samples outside `valid` do not exist (they
/// are zeros and do not count in the overlap).
pub(crate) struct Window {
    pub(crate) x: Vec<f64>,
    pub(crate) e: Vec<f64>,
    pub(crate) valid: (usize, usize),
}

impl Window {
    pub(crate) fn new(x: Vec<f64>, valid: (usize, usize)) -> Self {
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
    pub(crate) fn overlap(&self, t: i64, len: usize) -> (usize, usize) {
        let i0 = (self.valid.0 as i64 - t).clamp(0, len as i64) as usize;
        let i1 = (self.valid.1 as i64 - t).clamp(i0 as i64, len as i64) as usize;
        (i0, i1)
    }

    /// Energy of samples `t + i0 .. t + i1` (inside `valid`).
    pub(crate) fn energy(&self, t: i64, i0: usize, i1: usize) -> f64 {
        self.e[(t + i1 as i64) as usize] - self.e[(t + i0 as i64) as usize]
    }
}

/// Normalized correlation of probe `p` placed at `t` on window `x` (`num = Σ p[i] x[t + i]`)
/// over the part where the target has samples; `None` when that part is shorter than
/// `min_len` or either side is silent in it (mean square at most `silence`).
pub(crate) fn rho(
    num: f64,
    p: &Window,
    x: &Window,
    t: i64,
    min_len: usize,
    silence: f64,
) -> Option<f64> {
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
pub(crate) struct Curve {
    pub(crate) best: (i64, f64),
    /// The best point refined by a parabola through it and its neighbours (fractional).
    pub(crate) vertex: f64,
    pub(crate) maxima: Vec<(i64, f64)>,
}

impl Curve {
    pub(crate) fn merge(self, other: Curve) -> Curve {
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
pub(crate) fn parabola(points: &[(i64, f64)], i: usize) -> f64 {
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
pub(crate) const LPC_ORDER: usize = 32;
/// White-noise correction of the prediction: whitening flattens the spectrum by at most
/// ~30 dB, so that coding noise in quiet bands is not raised to the level of the music.
pub(crate) const LPC_NOISE_FLOOR: f64 = 1e-3;

/// The prediction-error filter `[1, a1, .., an]` of `x` (Levinson-Durbin on its
/// autocorrelation); `None` for silence.
pub(crate) fn whitening_filter(x: &[f64]) -> Option<Vec<f64>> {
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
pub(crate) fn filter(a: &[f64], x: &[f64]) -> Vec<f64> {
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
pub(crate) struct Probe {
    pub(crate) plain: Window,
    /// The whitening filter and the whitened probe; `None` for silence.
    pub(crate) white: Option<(Vec<f64>, Window)>,
    /// Silence threshold (mean square) of the whitened signals: the plain one scaled by the
    /// filter's gain on the probe.
    pub(crate) white_silence: f64,
}

/// The coarse correlation of the probe against `target` (decimated by `d`) for the probe's
/// start at file samples `lo..=hi`, in pieces of [`CHUNK_S`]: the plain curve, and the
/// whitened one.
#[allow(clippy::too_many_arguments)]
pub(crate) fn coarse_curves(
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
pub(crate) struct Found {
    /// Correlation of the decoded audio; the offset refined at the full rate.
    pub(crate) raw: Option<(Curve, f64)>,
    /// Correlation of the audio whitened by the probe's prediction-error filter; the offset
    /// interpolated on the coarse curve.
    pub(crate) white: Option<(Curve, f64)>,
    pub(crate) decoded_frames: u64,
}

/// Where the first `probe_len` samples of `probe` (decoded from file sample 0) lie in
/// `target`, for the probe's sample 0 at target samples `lo..=hi` (which may be negative:
/// the probe hangs off the target's start). The target is zero outside its samples; its
/// decimated samples cover everything of the file that `lo..hi + probe_len` reaches.
#[allow(clippy::too_many_arguments)]
pub(crate) fn search(
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
