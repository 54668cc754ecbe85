//! Dead-air detection: the spans of an MP3 stream that stay below a level for longer than a
//! duration, found in one streaming pass over bytes fed in chunks of any size.
//!
//! **Key decision: decode, then measure.** Every frame is decoded with symphonia's MP3
//! decoder (our frames as packets, no format reader) and the level is the RMS of each
//! 100-ms window. Estimating the level from the side information without decoding
//! (`global_gain`, `big_values`, `part2_3_length` of each granule) is also here as
//! [`Method::SideInfo`], because `docs/dead-air.md` measured both against ffmpeg's
//! `silencedetect` on recorded silences: the estimate costs less but misjudges quiet
//! audio by tens of dB, while decoding costs about a millisecond per minute of
//! 32-kbit/s audio. The job uses [`Method::Screened`]: a lower bound on each frame's
//! energy from its scale factors and Huffman-coded values (no filter banks, stopped as
//! soon as the frame is loud) as a screen on every frame, the decoder only around the
//! frames it cannot call loud, so the spans are the decoder's (`docs/dead-air.md`
//! measures both).
//!
//! Memory is fixed per stream (a few kilobytes of frame buffer and the decoder's state)
//! plus the spans found; nothing here does I/O, reads a clock or spawns a thread.
//!
//! ```
//! use deadair::{Detector, Threshold};
//!
//! // 60 s of MPEG-2 Layer III frames with no coded data: exact digital silence.
//! let mut frame = [0u8; 104];
//! frame[..4].copy_from_slice(&[0xFF, 0xF3, 0x40, 0xC4]);
//! let stream = frame.repeat(2297);
//! let mut d = Detector::new(Threshold::default());
//! for chunk in stream.chunks(4096) {
//!     d.feed(chunk);
//! }
//! let report = d.finish();
//! assert_eq!(report.spans.len(), 1);
//! assert!(report.spans[0].start_s < 0.01 && report.spans[0].end_s > 59.9);
//! ```

mod dequantize;
mod frames;
mod huffman;
mod huffman_tables;
mod level;
mod screen;
mod spectrum;
#[cfg(test)]
mod tests;

/// What `tests/same_spans.rs` and `tests/spectrum.rs` look at (each window's verdict, the
/// frame splitter, the energy bound and where it stopped reading), with the `internals`
/// feature only: those tests make signals with ffmpeg, so they are integration tests, and the
/// lib's own tests need no program. Not an API; results do not depend on the feature.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::frames::{is_header_frame, Splitter};
    pub use crate::level::Verdict;
    pub use crate::spectrum::Spectrum;
}

use frames::Splitter;
use level::Meter;
use screen::Screened;

/// What counts as dead air.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// A span is reported when it lasts longer than this (`SILENCE_SECONDS`).
    pub min_seconds: f64,
    /// A 100-ms window is silent when its RMS is below this, in dB relative to full scale
    /// (a sample of 1.0; a full-scale sine is −3 dBFS) (`SILENCE_DBFS`).
    pub dbfs: f64,
}

impl Default for Threshold {
    /// 30 s below −50 dBFS.
    fn default() -> Self {
        Threshold {
            min_seconds: 30.0,
            dbfs: -50.0,
        }
    }
}

/// A span of silence, in seconds of audio from the stream's first audio frame (the
/// Xing/Info header frame is no audio; encoder delay is not skipped).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// The start of the first silent 100-ms window.
    pub start_s: f64,
    /// The end of the last one (the start of the first window that is not silent, or the
    /// end of the stream).
    pub end_s: f64,
}

impl Span {
    /// How long the span lasts.
    pub fn seconds(&self) -> f64 {
        self.end_s - self.start_s
    }
}

/// How the level of the audio is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Screen every frame by a lower bound on its energy and decode only where the screen
    /// says the audio may be silent, from 0.5 s before to 0.5 s after (what the job uses): the
    /// spans of [`Method::Decode`], at a fraction of its cost on audio that is not quiet.
    /// [`Report::refused`] then counts only the frames decoded.
    #[default]
    Screened,
    /// Decode every frame and take the RMS of each 100-ms window.
    Decode,
    /// No decoding: each granule's level bounded from its side information. Measured and
    /// rejected (`docs/dead-air.md`); kept so that the comparison can be repeated.
    SideInfo,
}

/// What one stream held.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The spans of dead air, in order.
    pub spans: Vec<Span>,
    /// Audio frames measured (the header frame excluded).
    pub frames: u64,
    /// Seconds of audio measured.
    pub seconds: f64,
    /// Frames the decoder refused; each ends a span of silence, as unknown audio.
    pub refused: u64,
}

/// Finds dead air in one stream fed in chunks; see the crate docs.
pub struct Detector {
    splitter: Splitter,
    meter: Level,
    first: bool,
}

/// The meter of one method.
enum Level {
    Plain(Meter),
    Screened(Screened),
}

impl Level {
    fn frame(&mut self, h: &mp3frame::FrameHeader, f: &[u8]) {
        match self {
            Level::Plain(m) => m.frame(h, f),
            Level::Screened(s) => s.frame(h, f),
        }
    }
}

impl Detector {
    /// A detector at the start of a stream, screening and decoding the candidates
    /// ([`Method::Screened`]).
    pub fn new(threshold: Threshold) -> Self {
        Self::with_method(threshold, Method::default())
    }

    /// A detector that measures the level with `method`.
    pub fn with_method(threshold: Threshold, method: Method) -> Self {
        Detector {
            splitter: Splitter::new(),
            meter: match method {
                Method::Screened => Level::Screened(Screened::new(threshold)),
                _ => Level::Plain(Meter::new(threshold, method)),
            },
            first: true,
        }
    }

    /// The next bytes of the stream.
    pub fn feed(&mut self, data: &[u8]) {
        let (meter, first) = (&mut self.meter, &mut self.first);
        self.splitter.feed(data, &mut |h, f| {
            if !std::mem::take(first) || !frames::is_header_frame(h, f) {
                meter.frame(h, f);
            }
        });
    }

    /// Ends the stream and reports what it held.
    pub fn finish(mut self) -> Report {
        self.flush();
        match self.meter {
            Level::Plain(m) => m.finish(),
            Level::Screened(s) => s.finish(),
        }
    }

    /// The frames the splitter still holds.
    fn flush(&mut self) {
        let (meter, first) = (&mut self.meter, &mut self.first);
        self.splitter.finish(&mut |h, f| {
            if !std::mem::take(first) || !frames::is_header_frame(h, f) {
                meter.frame(h, f);
            }
        });
    }

    /// [`Detector::finish`], with each window's verdict and (screened) the frames decoded.
    #[cfg(any(test, feature = "internals"))]
    #[doc(hidden)]
    pub fn finish_windows(mut self) -> (Report, Vec<(f64, level::Verdict)>, u64) {
        self.flush();
        match self.meter {
            Level::Plain(m) => {
                let (r, w) = m.finish_windows();
                let n = r.frames;
                (r, w, n)
            }
            Level::Screened(s) => s.finish_windows(),
        }
    }
}

/// Dead air in a whole stream held in memory.
pub fn detect(data: &[u8], threshold: Threshold) -> Report {
    let mut d = Detector::new(threshold);
    d.feed(data);
    d.finish()
}
