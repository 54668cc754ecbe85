//! [`Method::Screened`]: a lower bound on each frame's energy screens every frame
//! ([`Spectrum`]: scale factors and Huffman-coded values, no filter banks), and only where
//! it cannot call the audio loud does the decoder run, so that the spans are the decoder's.
//!
//! **Key decision: a delay line, not a guess.** Frames wait in a ring of fixed size until
//! [`AHEAD`] later frames have been screened; a frame is decoded when a candidate (a frame
//! the screen could not call loud) lies within [`AHEAD`] frames either side of it, so the
//! decoder starts at least 0.5 s before a candidate and stops at least 0.5 s after the
//! last one. Where decoding starts, the decoder is reset and primed with the [`BEHIND`] frames
//! before (the bit reservoir reaches at most 511 bytes back; the IMDCT overlap and the
//! synthesis filter one frame), so its output there equals a whole-stream decode's. Frames
//! passed over still count their samples as loud windows ([`Meter::skip`]), so the windows
//! keep the phase a whole decode gives them.

use std::collections::VecDeque;

use mp3frame::FrameHeader;

use crate::level::Meter;
use crate::spectrum::Spectrum;
use crate::{Method, Report, Threshold};

/// Frames screened after a frame before it is decided: at least 2 s at every MPEG rate
/// (41.7 frames a second at most, MPEG-1 at 48 kHz and MPEG-2 at 24 kHz).
const AHEAD: u64 = 24;

/// Frames fed to a reset decoder before the first one measured: 511 bytes of reservoir is
/// under 24 frames even at 8 kbit/s and 24 kHz (24 bytes a frame); the filter banks
/// need one.
const BEHIND: u64 = 32;

/// How far above the threshold (dB) a frame's energy bound must be for the frame to be
/// passed over. The bound is a lower bound of the frame's spectral energy, which the
/// decoded samples follow within 2.5 dB frame by frame on steady signals
/// (`tests/spectrum.rs`); the margin covers the rest: energy that moves between frames
/// (the filter banks' overlap) and a 100-ms window that holds only part of a frame.
/// Measured on the corpus of `tests/same_spans.rs` (no silent window missed).
pub(crate) const MARGIN_DB: f64 = 6.0;

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
    /// The energy bound and its reservoir (boxed: it would double the meter's size).
    spectrum: Box<Spectrum>,
    /// A frame is loud when its bound reaches this mean square.
    loud_from: f64,
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
            spectrum: Box::new(Spectrum::new()),
            loud_from: 10f64.powf((threshold.dbfs + MARGIN_DB) / 10.0),
            decoded: 0,
        }
    }

    /// Screens one audio frame and decides the one [`AHEAD`] frames before it.
    pub(crate) fn frame(&mut self, h: &FrameHeader, frame: &[u8]) {
        if !self.spectrum.reaches(h, frame, self.loud_from) {
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
    #[cfg(any(test, feature = "internals"))]
    pub(crate) fn finish_windows(mut self) -> (Report, Vec<(f64, crate::level::Verdict)>, u64) {
        self.drain();
        let decoded = self.decoded;
        let (r, w) = self.meter.finish_windows();
        (r, w, decoded)
    }
}
