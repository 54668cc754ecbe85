//! [`Method::Screened`]: the side information screens every frame, and only where it says
//! the audio may be silent does the decoder run, so that the spans are the decoder's.
//!
//! **Key decision: a delay line, not a guess.** Frames wait in a ring of fixed size until
//! [`AHEAD`] later frames have been screened; a frame is decoded when a candidate (a frame
//! the screen could not call loud) lies within [`AHEAD`] frames either side of it, so the
//! decoder starts at least 2 s before a candidate and stops at least 2 s after the last
//! one. Where decoding starts, the decoder is reset and primed with the [`BEHIND`] frames
//! before (the bit reservoir reaches at most 511 bytes back; the IMDCT overlap and the
//! synthesis filter one frame), so its output there equals a whole-stream decode's. Frames
//! passed over still count their samples as loud windows ([`Meter::skip`]), so the windows
//! keep the phase a whole decode gives them.

use std::collections::VecDeque;

use mp3frame::{FrameHeader, Layer, MpegVersion};

use crate::level::Meter;
use crate::{Method, Report, Threshold};

/// Frames screened after a frame before it is decided: at least 2 s at every MPEG rate
/// (41.7 frames a second at most, MPEG-1 at 48 kHz and MPEG-2 at 24 kHz).
const AHEAD: u64 = 96;

/// Frames fed to a reset decoder before the first one measured: 511 bytes of reservoir is
/// under 24 frames even at 8 kbit/s and 24 kHz (24 bytes a frame); the filter banks
/// need one.
const BEHIND: u64 = 32;

/// How far above the threshold (dB) the side-information estimate may be and the frame
/// still be decoded: the estimate is the largest value the Huffman tables could hold
/// before scale factors, so it reads high where scale factors attenuate. Measured on the
/// corpus of `same_spans.rs` (no silent window missed).
const MARGIN_DB: f64 = 24.0;

/// One frame waiting in the ring.
struct Held {
    header: FrameHeader,
    bytes: Vec<u8>,
}

pub(crate) struct Screened {
    meter: Meter,
    /// Frames `next - ring.len()` to `arrived - 1`: the last [`BEHIND`] decided and the
    /// undecided ones.
    ring: VecDeque<Held>,
    /// Buffers of frames that left the ring, reused (no allocation per frame).
    spare: Vec<Vec<u8>>,
    /// Frames screened so far.
    arrived: u64,
    /// The next frame to decide.
    next: u64,
    /// The latest candidate screened.
    last_candidate: Option<u64>,
    /// Whether the frame before `next` was decoded.
    decoding: bool,
    /// A granule is loud when `3 · global_gain + (16 if big_values > 0)` reaches this.
    loud_from: i32,
    /// Frames decoded (measured or primed), for the cost figures.
    decoded: u64,
}

impl Screened {
    pub(crate) fn new(threshold: Threshold) -> Self {
        Screened {
            meter: Meter::new(threshold, Method::Decode),
            ring: VecDeque::with_capacity((AHEAD + BEHIND + 1) as usize),
            spare: Vec::new(),
            arrived: 0,
            next: 0,
            last_candidate: None,
            decoding: false,
            loud_from: loud_from(threshold.dbfs + MARGIN_DB),
            decoded: 0,
        }
    }

    /// Screens one audio frame and decides the one [`AHEAD`] frames before it.
    pub(crate) fn frame(&mut self, h: &FrameHeader, frame: &[u8]) {
        if !screened_loud(h, frame, self.loud_from) {
            self.last_candidate = Some(self.arrived);
        }
        let mut bytes = self.spare.pop().unwrap_or_default();
        bytes.clear();
        bytes.extend_from_slice(frame);
        self.ring.push_back(Held { header: *h, bytes });
        self.arrived += 1;
        if self.arrived - self.next > AHEAD {
            self.decide();
        }
    }

    /// Decides frame `next`, then drops what the ring no longer needs.
    fn decide(&mut self) {
        // The ring ends at the last frame screened; `at` is `next`'s place in it.
        let first = self.arrived - self.ring.len() as u64;
        let at = (self.next - first) as usize;
        let decode = self.last_candidate.is_some_and(|c| c + AHEAD >= self.next);
        if decode {
            if !self.decoding {
                self.meter.reset_decoder();
                let from = at.saturating_sub(BEHIND as usize);
                for held in self.ring.range(from..at) {
                    self.meter.prime(&held.header, &held.bytes);
                    self.decoded += 1;
                }
            }
            let held = &self.ring[at];
            self.meter.frame(&held.header, &held.bytes);
            self.decoded += 1;
        } else {
            self.meter.skip(&self.ring[at].header);
        }
        self.decoding = decode;
        self.next += 1;
        while self.ring.len() as u64 > BEHIND + (self.arrived - self.next) {
            if let Some(held) = self.ring.pop_front() {
                self.spare.push(held.bytes);
            }
        }
    }

    fn drain(&mut self) {
        while self.next < self.arrived {
            self.decide();
        }
    }

    pub(crate) fn finish(mut self) -> Report {
        self.drain();
        self.meter.finish()
    }

    /// [`Screened::finish`], with each window's verdict and the frames decoded.
    #[cfg(test)]
    pub(crate) fn finish_windows(mut self) -> (Report, Vec<(f64, crate::level::Verdict)>, u64) {
        self.drain();
        let decoded = self.decoded;
        let (r, w) = self.meter.finish_windows();
        (r, w, decoded)
    }
}

/// The screen's limit for a level in dBFS (RMS of a sine; its peak is 3.01 dB higher), in
/// the units of [`screened_loud`]: twelfths of a doubling of amplitude, offset by
/// `global_gain`'s 210 (ISO 11172-3 2.4.3.4: amplitude `2^((global_gain − 210)/4)`, times
/// `q^(4/3)` for the largest quantized value `q` the granule's Huffman tables can hold,
/// before the scale factors, which only attenuate).
fn loud_from(dbfs: f64) -> i32 {
    let doublings = (dbfs + 3.0103) / 6.0206;
    (3.0 * 210.0 + (12.0 * doublings).ceil()) as i32
}

/// Whether every granule's side information says the frame is louder than the limit for
/// some granule: then it is passed over. Frames the screen cannot read (Layers I and II, a
/// frame cut short) are never loud, so the decoder judges them. Integer work only: three
/// fields a granule and channel.
fn screened_loud(h: &FrameHeader, frame: &[u8], loud_from: i32) -> bool {
    if h.layer != Layer::Layer3 {
        return false;
    }
    let crc = frame.get(1).is_some_and(|b| b & 1 == 0);
    let side = if crc { 6 } else { 4 };
    let nch = usize::from(h.channels);
    let mpeg1 = h.version == MpegVersion::Mpeg1;
    // Bits before the first granule, and the bits of one granule and channel.
    let (granules, head, each, compress) = if mpeg1 {
        (2, 9 + if nch == 1 { 5 } else { 3 } + 4 * nch, 59, 4)
    } else {
        (1, 8 + if nch == 1 { 1 } else { 2 }, 63, 9)
    };
    let Some(data) = frame.get(side..) else {
        return false;
    };
    let mut at = head;
    for _ in 0..granules * nch {
        // part2_3_length (12), big_values (9), global_gain (8): 29 bits from `at`.
        let Some(v) = bits29(data, at) else {
            return false;
        };
        let part2_3 = v >> 17;
        let big_values = (v >> 8) & 0x1FF;
        let global_gain = (v & 0xFF) as i32;
        if part2_3 != 0 {
            // The largest value the big-values regions' tables can hold (count1 values
            // are 1 at most: no gain).
            let q = if big_values == 0 {
                0
            } else {
                // window_switching_flag, then (block_type, mixed: 3 bits) two tables, or
                // three tables, of 5 bits each.
                let Some(t) = bits29(data, at + 29 + compress) else {
                    return false;
                };
                // The low bit of the first table's 5.
                let (regions, first) = if t >> 28 == 1 { (2, 20) } else { (3, 23) };
                (0..regions)
                    .map(|r| TABLE_GAIN[((t >> (first - 5 * r)) & 0x1F) as usize])
                    .max()
                    .unwrap_or(0)
            };
            if 3 * global_gain + q >= loud_from {
                return true;
            }
        }
        at += each;
    }
    false
}

/// Per Huffman table (ISO 11172-3 Annex B, table B.7), `16 · log2(q)` rounded up for its
/// largest quantized value `q` (15 plus the linbits' range for tables 16–31; 1 or less: 0):
/// the twelfths of a doubling that `q^(4/3)` adds to the amplitude.
const TABLE_GAIN: [i32; 32] = [
    0, 0, 16, 16, 0, 26, 26, 38, 38, 38, 45, 45, 45, 63, 0, 63, 64, 67, 72, 79, 101, 130, 161, 209,
    79, 89, 101, 115, 130, 145, 177, 209,
];

/// The 29 bits of `data` from bit `at`, big-endian.
#[inline]
fn bits29(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at / 8..at / 8 + 5)?;
    let word = u64::from_be_bytes([0, 0, 0, b[0], b[1], b[2], b[3], b[4]]);
    Some(((word >> (40 - 29 - at % 8)) & 0x1FFF_FFFF) as u32)
}
