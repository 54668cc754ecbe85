//! Content alignment of two replicas' MP3 recordings of one live stream: where, to the frame
//! (or the sample), one file's audio lies on the other's timeline.
//!
//! The planner places files from their names (±0.75 s, a connect burst up to ~8.5 s early);
//! where two chains meet it cannot tell which of two overlapping files starts or ends first.
//! Aligning their content answers that exactly:
//!
//! - [`align_copy`] for `-c copy` recorders, whose files carry the source's frames byte for
//!   byte: equal frames give the offset in frames, exactly, without decoding.
//! - [`align_audio`] / [`align_audio_with`] for re-encoding recorders (the article's default):
//!   normalized cross-correlation of decoded PCM (plain, or whitened for tonal content), to
//!   the sample. See `docs/alignment.md`.
//! - [`align`] tries the first, then the second.
//!
//! Pure: it takes bytes (whole files or what has been read of them) and does no I/O.
//!
//! Time convention: sample `j` of a file is its `j`-th decoded sample with nothing skipped
//! (the encoder delay and the decoder's 529-sample delay are kept; symphonia's decoder, fed
//! frames as here, trims nothing). Frame `i` is samples `i * spf .. (i + 1) * spf`. This is the
//! numbering of `fixtures/` (`ffmpeg -flags2 +skip_manual`), and it makes offsets of files of
//! one recorder add up: its consecutive files join frame to frame.

mod audio;
mod copy;
mod correlation;
mod decimate;
mod decode;
mod fft;
mod frames;

pub use audio::{
    align_audio, align_audio_with, measure_audio, Search, MIN_PEAK, MIN_RESIDUAL_RATIO,
    RESIDUAL_FLOOR,
};
pub use copy::{align_copy, MIN_EQUAL_SHARE};
pub use frames::{frames, FrameRef};

/// How an alignment was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Byte-equal frames (`-c copy`).
    Copy,
    /// Cross-correlation of decoded audio.
    Audio,
    /// Cross-correlation of decoded audio whitened (a linear-prediction error filter made
    /// from the probe, applied to both): for tonal content, whose plain correlation peaks
    /// at every period almost as high as at the offset.
    AudioWhitened,
}

/// Where `b` lies on `a`'s timeline: `b`'s first sample is `a`'s sample `offset_samples`
/// (negative: `b` starts before `a`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alignment {
    /// `b`'s frame 0 is `a`'s frame `offset_frames` (exact for [`Method::Copy`]; the nearest
    /// frame for [`Method::Audio`], whose replicas' frame grids differ).
    pub offset_frames: i64,
    /// The offset in samples (fractional for audio: refined by a parabola).
    pub offset_samples: f64,
    /// The offset in milliseconds.
    pub offset_ms: f64,
    /// Frames of `a` that `b` overlaps at this offset.
    pub overlap_frames: u64,
    /// 0..1. Copy: `1 - second_peak / peak` (how exclusive the offset is). Audio: with
    /// `m = max(1 - peak, RESIDUAL_FLOOR)`, `(1 - m) * (1 - m / (1 - second_peak))`: high only
    /// for a strong peak that nothing else comes near.
    pub confidence: f64,
    /// Copy: share of the overlap whose frames are equal. Audio: normalized correlation (−1..1)
    /// at the offset, on the coarse (≈8 kHz) signal, plain or whitened as `method` says.
    pub peak: f64,
    /// The same measure at the best *other* alignment (≥ 20 ms away; 0 if none).
    pub second_peak: f64,
    /// Sample rate of both files.
    pub sample_rate: u32,
    /// Frames run through the decoder, warm-up included (for [`Method::Copy`], 0: its silence
    /// check is not counted): what the alignment cost.
    pub decoded_frames: u64,
    pub method: Method,
}

impl Alignment {
    /// Whether the peak is trustworthy. Copy: always, for what [`align_copy`] returns (it
    /// checks its own rules). Audio: `peak >= MIN_PEAK` and
    /// `residual_ratio() >= MIN_RESIDUAL_RATIO`.
    pub fn is_clear(&self) -> bool {
        match self.method {
            Method::Copy => true,
            Method::Audio | Method::AudioWhitened => {
                self.peak >= MIN_PEAK && self.residual_ratio() >= MIN_RESIDUAL_RATIO
            }
        }
    }

    /// `(1 - second_peak) / max(1 - peak, RESIDUAL_FLOOR)`: how many times more of the signal
    /// the best other alignment leaves unexplained than this one.
    pub fn residual_ratio(&self) -> f64 {
        (1.0 - self.second_peak) / (1.0 - self.peak).max(RESIDUAL_FLOOR)
    }

    /// `peak / second_peak` (infinite when nothing else correlates).
    pub fn peak_ratio(&self) -> f64 {
        if self.second_peak > 0.0 {
            self.peak / self.second_peak
        } else {
            f64::INFINITY
        }
    }
}

/// [`align_copy`] if the files share frames, else [`align_audio_with`]. Either way only a
/// clear alignment ([`Alignment::is_clear`]) is returned.
///
/// ```no_run
/// // The job: two files of different recordings that names say overlap, b named 597 s
/// // after a; a pod restart's connect burst may put it up to ~8.5 s earlier.
/// let a = std::fs::read("a.mp3").unwrap();
/// let b = std::fs::read("b.mp3").unwrap();
/// let search = align::Search {
///     expected_offset_s: Some(597.0),
///     tolerance_s: 10.0,
///     ..align::Search::default()
/// };
/// if let Some(found) = align::align(&a, &b, &search) {
///     println!("b starts {:.1} ms after a ({:?})", found.offset_ms, found.method);
/// }
/// ```
pub fn align(a: &[u8], b: &[u8], search: &Search) -> Option<Alignment> {
    align_copy(a, b).or_else(|| align_audio_with(a, b, search))
}
