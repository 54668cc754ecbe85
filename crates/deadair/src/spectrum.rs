//! A lower bound on a Layer III frame's energy from its main data, without the filter banks:
//! the screen's evidence that a frame is loud.
//!
//! **Key decision: a lower bound, stopped early.** A frame's dequantized spectral values
//! (ISO/IEC 11172-3 2.4.3.4.7: `|q|^(4/3) · 2^((global_gain − 210)/4) · 2^(−B)` with `B` from
//! the band's scale factor, `scalefac_scale` and pretab) carry its energy: the hybrid
//! filter bank is near-orthogonal, so the samples' sum of squares is [`PARSEVAL`] times the
//! values' (measured; M/S stereo keeps the sum, intensity stereo at least halves it). Each
//! value decoded only adds to the sum, so the bound is read from the lowest band up and
//! stops as soon as it reaches what a loud frame needs: on ordinary audio a few bands of the
//! first granule. Values not read (short blocks, an intensity-coded channel, the count1
//! region) are taken as zero, which keeps it a lower bound.
//!
//! The main data is found through `main_data_begin` in a reservoir of the last 511 bytes of
//! main data (headers and side information excluded), as a decoder finds it.

use mp3frame::{FrameHeader, Layer, MpegVersion};

use crate::dequantize::{exp2_quarter, pow83};
use crate::huffman::{Reader, Tables};
use crate::huffman_tables::{BIG, LINBITS};

/// The samples' sum of squares (each channel) per unit of the spectral values' sum of
/// squares, for symphonia's decoder: measured on steady signals by
/// `parseval_holds_on_steady_signals` in `tests/spectrum.rs`.
pub(crate) const PARSEVAL: f64 = 288.0;

/// Main data kept for the next frames: `main_data_begin` reaches at most 511 bytes back.
const RESERVOIR: usize = 511;

/// The reservoir's length at which the bytes no frame can reach are dropped.
const COMPACT: usize = 8 * 1024;

/// Zeros after the main data, so that the reader's 8-byte loads stay on its fast path.
const PAD: usize = 8;

/// Long-block scale factor band edges per sample rate (ISO/IEC 11172-3 table B.8, ISO/IEC
/// 13818-3 table B.2), in spectral values.
#[rustfmt::skip]
const LONG_BANDS: [[u16; 23]; 9] = [
    [0, 4, 8, 12, 16, 20, 24, 30, 36, 44, 52, 62, 74, 90, 110, 134, 162, 196, 238, 288, 342, 418, 576], // 44.1 kHz
    [0, 4, 8, 12, 16, 20, 24, 30, 36, 42, 50, 60, 72, 88, 106, 128, 156, 190, 230, 276, 330, 384, 576], // 48 kHz
    [0, 4, 8, 12, 16, 20, 24, 30, 36, 44, 54, 66, 82, 102, 126, 156, 194, 240, 296, 364, 448, 550, 576], // 32 kHz
    [0, 6, 12, 18, 24, 30, 36, 44, 54, 66, 80, 96, 116, 140, 168, 200, 238, 284, 336, 396, 464, 522, 576], // 22.05 kHz
    [0, 6, 12, 18, 24, 30, 36, 44, 54, 66, 80, 96, 114, 136, 162, 194, 232, 278, 332, 394, 464, 540, 576], // 24 kHz
    [0, 6, 12, 18, 24, 30, 36, 44, 54, 66, 80, 96, 116, 140, 168, 200, 238, 284, 336, 396, 464, 522, 576], // 16 kHz
    [0, 6, 12, 18, 24, 30, 36, 44, 54, 66, 80, 96, 116, 140, 168, 200, 238, 284, 336, 396, 464, 522, 576], // 11.025 kHz
    [0, 6, 12, 18, 24, 30, 36, 44, 54, 66, 80, 96, 116, 140, 168, 200, 238, 284, 336, 396, 464, 522, 576], // 12 kHz
    [0, 12, 24, 36, 48, 60, 72, 88, 108, 132, 160, 192, 232, 280, 336, 400, 476, 566, 568, 570, 572, 574, 576], // 8 kHz
];

/// Pre-emphasis per long band (ISO/IEC 11172-3 table B.6), added to the scale factor when
/// `preflag` is set.
const PRETAB: [u8; 22] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 3, 2, 0,
];

/// MPEG-1 `scalefac_compress` to (slen1, slen2).
#[rustfmt::skip]
const SLEN: [(u32, u32); 16] = [
    (0, 0), (0, 1), (0, 2), (0, 3), (3, 0), (1, 1), (1, 2), (1, 3),
    (2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3), (4, 2), (4, 3),
];

/// One granule and channel's side information, as far as the bound needs it.
#[derive(Default, Clone, Copy)]
struct Channel {
    part2_3: usize,
    big_values: usize,
    global_gain: i32,
    scalefac_compress: u32,
    /// Short or mixed blocks: not read (their values count as zero).
    short: bool,
    tables: [u8; 3],
    /// Where regions 1 and 2 begin, in spectral values.
    region1: usize,
    region2: usize,
    preflag: bool,
    scalefac_scale: bool,
    /// Count1 table B (else A).
    count1_b: bool,
}

/// The reservoir and the scale factors the second granule may reuse.
pub struct Spectrum {
    reservoir: Vec<u8>,
    /// Granule 0's long-block scale factors per channel, when read (`scfsi`).
    sf0: [Option<[u8; 22]>; 2],
    /// Where each granule read stopped and where its bits end, for the tests.
    #[cfg(any(test, feature = "internals"))]
    pub stops: Vec<(usize, usize)>,
}

impl Spectrum {
    #[allow(clippy::new_without_default)] // `pub` only for `internals`
    pub fn new() -> Self {
        Spectrum {
            reservoir: Vec::with_capacity(COMPACT + 2048 + PAD),
            sf0: [None; 2],
            #[cfg(any(test, feature = "internals"))]
            stops: Vec::new(),
        }
    }

    /// Whether the frame's spectral energy reaches `need`, in mean square per sample and
    /// channel (`need` = ∞ reads the whole frame: [`Spectrum::energy`]). Frames that are not
    /// Layer III, are cut short or reach before the reservoir never do. The frame's main
    /// data joins the reservoir either way.
    pub(crate) fn reaches(&mut self, h: &FrameHeader, frame: &[u8], need: f64) -> bool {
        self.energy(h, frame, need).is_some_and(|e| e >= need)
    }

    /// The bound: the mean square per sample and channel that the values read imply,
    /// stopping once it reaches `need`. `None` where the frame cannot be read.
    pub fn energy(&mut self, h: &FrameHeader, frame: &[u8], need: f64) -> Option<f64> {
        if h.layer != Layer::Layer3 {
            return None;
        }
        let nch = usize::from(h.channels).clamp(1, 2);
        let mpeg1 = h.version == MpegVersion::Mpeg1;
        let crc = frame.get(1)? & 1 == 0;
        let side_at = if crc { 6 } else { 4 };
        let side_len = match (mpeg1, nch) {
            (true, 1) => 17,
            (true, _) => 32,
            (false, 1) => 9,
            (false, _) => 17,
        };
        let main = frame.get(side_at + side_len..)?;
        let side = frame.get(side_at..side_at + side_len)?;
        let rate = rate_index(h.sample_rate)?;
        let (begin, scfsi, head) = side_head(side, mpeg1, nch);
        // Joint stereo with intensity: coded energy may be split 1/(1+r), r/(1+r) between
        // the channels, at least half of it kept.
        let intensity = nch == 2 && frame[3] >> 6 == 1 && frame[3] & 0x10 != 0;

        let held = self.reservoir.len();
        self.reservoir.extend_from_slice(main);
        self.reservoir.extend_from_slice(&[0; PAD]);
        let result = (begin <= held).then(|| {
            let data = &self.reservoir[held - begin..];
            let granules = if mpeg1 { 2 } else { 1 };
            // Spectral units that make one unit of mean square per sample and channel.
            let per =
                f64::from(h.samples()) * nch as f64 / PARSEVAL * if intensity { 2.0 } else { 1.0 };
            let goal = need * per;
            let each = if mpeg1 { 59 } else { 63 };
            // MPEG-2's intensity-coded channel holds positions, not scale factors.
            let positions = intensity && !mpeg1;
            let readable = |c: &Channel, ch: usize| !(c.short || positions && ch == 1);
            let count = granules * nch;
            // Each granule and channel's fields and the most its values can sum, parsed
            // when first needed: usually only the first.
            let mut parsed: [Option<(Channel, f64)>; 4] = [None; 4];
            let mut get = |k: usize| {
                *parsed[k].get_or_insert_with(|| {
                    let c = channel(side, head + k * each, mpeg1, rate);
                    let most = if readable(&c, k % nch) {
                        upper(&c)
                    } else {
                        0.0
                    };
                    (c, most)
                })
            };
            let mut sum = 0.0;
            let mut at = 0;
            for k in 0..count {
                let (gr, ch) = (k / nch, k % nch);
                let (c, most) = get(k);
                let c = &c;
                let end = at + c.part2_3;
                let hopeless = goal.is_finite()
                    && most < goal - sum
                    && sum + (k..count).map(|j| get(j).1).sum::<f64>() < goal;
                if hopeless {
                    // Even every value at its table's largest could not make the frame loud:
                    // the values are not read (the answer is the same, at less cost).
                    break;
                }
                if readable(c, ch) {
                    let reuse = if gr == 1 { scfsi[ch] } else { [false; 4] };
                    let prior = self.sf0[ch].filter(|_| gr == 1);
                    let mut r = Reader::new(data, at);
                    let sf = if mpeg1 {
                        scale_factors_mpeg1(&mut r, c, reuse, prior)
                    } else {
                        scale_factors_mpeg2(&mut r, c)
                    };
                    if gr == 0 {
                        self.sf0[ch] = sf;
                    }
                    if let Some(sf) = sf.filter(|_| r.pos <= end) {
                        let (s, stop) = values(&mut r, end, c, &sf, &LONG_BANDS[rate], goal - sum);
                        sum += s;
                        #[cfg(any(test, feature = "internals"))]
                        self.stops.push((stop, end));
                        let _ = stop;
                    }
                } else if gr == 0 {
                    self.sf0[ch] = None;
                }
                if sum >= goal {
                    break;
                }
                at = end;
            }
            sum / per
        });

        self.reservoir.truncate(self.reservoir.len() - PAD);
        // Only the last RESERVOIR bytes are ever read again; moving them to the front once
        // every few frames rather than at each one.
        if self.reservoir.len() > COMPACT {
            let cut = self.reservoir.len() - RESERVOIR;
            self.reservoir.drain(..cut);
        }
        result
    }
}

/// The index of a sample rate in [`LONG_BANDS`].
fn rate_index(rate: u32) -> Option<usize> {
    [
        44_100, 48_000, 32_000, 22_050, 24_000, 16_000, 11_025, 12_000, 8_000,
    ]
    .iter()
    .position(|&r| r == rate)
}

/// `main_data_begin`, `scfsi` per channel, and the bit where the granules' fields begin.
fn side_head(side: &[u8], mpeg1: bool, nch: usize) -> (usize, [[bool; 4]; 2], usize) {
    let mut r = Reader::new(side, 0);
    let mut scfsi = [[false; 4]; 2];
    let begin = if mpeg1 {
        let b = r.read(9) as usize;
        r.skip(if nch == 1 { 5 } else { 3 });
        for s in scfsi.iter_mut().take(nch) {
            for band in s.iter_mut() {
                *band = r.read(1) == 1;
            }
        }
        b
    } else {
        let b = r.read(8) as usize;
        r.skip(if nch == 1 { 1 } else { 2 });
        b
    };
    (begin, scfsi, r.pos)
}

/// One granule and channel's fields, from bit `at` of the side information.
fn channel(side: &[u8], at: usize, mpeg1: bool, rate: usize) -> Channel {
    let mut r = Reader::new(side, at);
    let mut c = Channel {
        part2_3: r.read(12) as usize,
        big_values: (r.read(9) as usize).min(288),
        global_gain: r.read(8) as i32,
        scalefac_compress: r.read(if mpeg1 { 4 } else { 9 }),
        ..Channel::default()
    };
    if r.read(1) == 1 {
        // Window switching: block type, mixed flag, two tables, subblock gains.
        let block_type = r.read(2);
        c.short = block_type == 2;
        r.skip(1);
        c.tables = [r.read(5) as u8, r.read(5) as u8, 0];
        r.skip(9);
        // Region 0 ends at value 36, or 54 for MPEG-2's long bands (symphonia's reading of
        // ISO/IEC 13818-3; MPEG-2.5 at 8 kHz differs, never read here as short, and long
        // transition blocks only shift where table 1 begins).
        c.region1 = if mpeg1 || c.short { 36 } else { 54 };
        c.region2 = 576;
    } else {
        c.tables = [r.read(5) as u8, r.read(5) as u8, r.read(5) as u8];
        let r0 = r.read(4) as usize + 1;
        let r1 = r.read(3) as usize + r0 + 1;
        c.region1 = usize::from(LONG_BANDS[rate][r0]);
        c.region2 = LONG_BANDS[rate].get(r1).map_or(576, |&v| usize::from(v));
    }
    c.preflag = mpeg1 && r.read(1) == 1;
    c.scalefac_scale = r.read(1) == 1;
    c.count1_b = r.read(1) == 1;
    c
}

/// MPEG-1 long-block scale factors (ISO/IEC 11172-3 2.4.2.7), `reuse`d from `prior` per
/// `scfsi` group; `None` where a group to reuse was not read.
fn scale_factors_mpeg1(
    r: &mut Reader,
    c: &Channel,
    reuse: [bool; 4],
    prior: Option<[u8; 22]>,
) -> Option<[u8; 22]> {
    let (slen1, slen2) = SLEN[c.scalefac_compress as usize & 15];
    let mut sf = [0u8; 22];
    for (g, (from, to)) in [(0, 6), (6, 11), (11, 16), (16, 21)]
        .into_iter()
        .enumerate()
    {
        let slen = if g < 2 { slen1 } else { slen2 };
        if reuse[g] {
            sf[from..to].copy_from_slice(&prior?[from..to]);
        } else {
            for s in &mut sf[from..to] {
                *s = r.read(slen) as u8;
            }
        }
    }
    Some(sf)
}

/// MPEG-2 long-block scale factors of a channel not intensity-coded (ISO/IEC 13818-3
/// 2.4.3.2), with `preflag` implied by `scalefac_compress` ≥ 500 (applied here).
fn scale_factors_mpeg2(r: &mut Reader, c: &Channel) -> Option<[u8; 22]> {
    let s = c.scalefac_compress;
    let (slen, counts, pre) = match s {
        0..=399 => (
            [(s >> 4) / 5, (s >> 4) % 5, (s % 16) >> 2, s % 4],
            [6, 5, 5, 5],
            false,
        ),
        400..=499 => (
            [((s - 400) >> 2) / 5, ((s - 400) >> 2) % 5, (s - 400) % 4, 0],
            [6, 5, 7, 3],
            false,
        ),
        _ => ([(s - 500) / 3, (s - 500) % 3, 0, 0], [11, 10, 0, 0], true),
    };
    let mut sf = [0u8; 22];
    let mut at = 0;
    for (len, n) in slen.into_iter().zip(counts) {
        for v in &mut sf[at..at + n] {
            *v = r.read(len) as u8;
        }
        at += n;
    }
    if pre {
        for (v, p) in sf.iter_mut().zip(PRETAB) {
            *v = v.saturating_add(p);
        }
    }
    Some(sf)
}

/// The sum of squared dequantized values, band by band from the lowest (the big-values
/// pairs, then the count1 quads), until it reaches `goal` or the bits up to `end` are spent;
/// and the bit where reading stopped. A code running past `end`, or bits that hold no
/// code, end the sum (what was summed stays a lower bound).
fn values(
    r: &mut Reader,
    end: usize,
    c: &Channel,
    sf: &[u8; 22],
    bands: &[u16; 23],
    goal: f64,
) -> (f64, usize) {
    let tables = Tables::get();
    let count = 2 * c.big_values;
    let shift = if c.scalefac_scale { 2 } else { 1 };
    let gain = |band: usize| {
        let pre = if c.preflag { PRETAB[band] } else { 0 };
        let b = i32::from(sf[band] + pre) << shift;
        exp2_quarter(2 * (c.global_gain - 210 - b))
    };
    let mut sum = 0.0;
    let mut band = 0;
    let mut i = 0;
    let mut inner = 0.0;
    // Big values, in pairs; a band's sum is weighed by its gain when the band ends.
    while i < count {
        let table = usize::from(if i < c.region1 {
            c.tables[0]
        } else if i < c.region2 {
            c.tables[1]
        } else {
            c.tables[2]
        });
        if table != 0 {
            let at = r.pos;
            let Some((x, y)) = tables.pair(table, r).filter(|_| r.pos <= end) else {
                return (sum + inner * gain(band), at);
            };
            inner += pow83(x) + pow83(y);
        }
        i += 2;
        while band < 21 && i >= usize::from(bands[band + 1]) {
            sum += inner * gain(band);
            inner = 0.0;
            band += 1;
            if sum >= goal {
                return (sum, r.pos);
            }
        }
    }
    // Count1 quads: magnitudes of 1, four values a code, each a sign bit when set.
    while i + 4 <= 576 && r.pos < end {
        let at = r.pos;
        let ones = tables.quad(c.count1_b, r);
        if r.pos > end {
            r.pos = at;
            break;
        }
        for k in 0..4 {
            if ones & (8 >> k) != 0 {
                while band < 21 && i + k >= usize::from(bands[band + 1]) {
                    sum += inner * gain(band);
                    inner = 0.0;
                    band += 1;
                }
                inner += 1.0;
            }
        }
        i += 4;
        if sum + inner * gain(band) >= goal {
            break;
        }
    }
    (sum + inner * gain(band), r.pos)
}

/// The most [`values`] can sum for a granule and channel: 576 values at the largest
/// magnitude its tables hold (1 in the count1 region), at `global_gain` with no
/// attenuation (scale factors only attenuate), a little over for rounding.
fn upper(c: &Channel) -> f64 {
    let largest = c
        .tables
        .iter()
        .map(|&t| match t {
            0 => 0,
            1..=15 => BIG[usize::from(t)].1.saturating_sub(1) as u32,
            _ => 15 + (1 << LINBITS[usize::from(t)]) - 1,
        })
        .max()
        .unwrap_or(0)
        .max(1);
    576.0 * pow83(largest) * exp2_quarter(2 * (c.global_gain - 210)) * 1.001
}
