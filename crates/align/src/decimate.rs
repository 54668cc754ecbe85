//! Decoding part of a file for [`super::audio`]: its samples low-passed and decimated to the
//! coarse rate (a windowed-sinc filter, by an integer factor), and its first samples at the
//! full rate when it serves as a probe. Only the decimated copy of a long file is kept.

use crate::decode::decode_each;
use crate::frames::FrameRef;

/// Part of one file, decoded: its decimated samples, and its first samples at the full rate
/// when it serves as a probe. (A whole 600-s file is 17 MB decimated, 106 MB at 44.1 kHz:
/// only the decimated copy is kept; the fine search decodes the few seconds it needs again.)
pub(crate) struct Decoded<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) fr: &'a [FrameRef],
    /// File sample index of `coarse[0]` (a multiple of the frame length).
    pub(crate) base: i64,
    /// `coarse[m]` is file sample `base + m * d`, low-passed.
    pub(crate) coarse: Vec<f32>,
    /// Full-rate samples from file sample 0 (empty unless `base == 0` and a head was asked).
    pub(crate) head: Vec<f32>,
    pub(crate) decoded_frames: u64,
}

impl<'a> Decoded<'a> {
    /// Decodes the frames that hold file samples `from..to`, decimating them by `d` through
    /// `h`, and keeps the first `head` samples at the full rate.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
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
    pub(crate) fn full_rate(&self, from: i64, to: i64) -> (i64, Vec<f64>, u64) {
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
pub(crate) fn lowpass(cutoff: f64, half: usize) -> Vec<f64> {
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
pub(crate) struct Decimator<'h> {
    pub(crate) d: usize,
    pub(crate) h: &'h [f64],
    /// Samples from absolute index `start` on (only those still needed).
    pub(crate) buf: Vec<f32>,
    pub(crate) start: usize,
    pub(crate) total: usize,
    pub(crate) next: usize,
    pub(crate) out: Vec<f32>,
}

impl<'h> Decimator<'h> {
    pub(crate) fn new(d: usize, h: &'h [f64]) -> Self {
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

    pub(crate) fn push(&mut self, x: &[f32]) {
        if self.d == 1 {
            self.out.extend_from_slice(x);
            return;
        }
        self.buf.extend_from_slice(x);
        self.total += x.len();
        self.emit(false);
    }

    pub(crate) fn emit(&mut self, at_end: bool) {
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

    pub(crate) fn finish(mut self) -> Vec<f32> {
        if self.d > 1 {
            self.emit(true);
        }
        self.out
    }
}
