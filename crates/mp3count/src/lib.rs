//! How much audio an MP3 stream really holds, by counting its frames.
//!
//! # The key decision: count frames, never trust headers
//!
//! A header can't be trusted: a SIGKILLed ffmpeg leaves a placeholder Xing header claiming 0
//! frames over a file full of them, and a file still being written ends mid-frame. So every
//! frame is found and counted, in one streaming pass over the bytes, with fixed memory (a
//! 180-byte window, never a frame body), fast enough to run while the same bytes are hashed
//! and uploaded. A header's claims are reported ([`Mp3Facts::header`]) and checked against the
//! count ([`Mp3Facts::header_mismatch`]), never used in its place.
//!
//! The crate is pure: `std` only, no async runtime, no storage client. It hands the planner its
//! input directly ([`Mp3Facts::audio_facts`] gives `selection::AudioFacts`), so a tool can plan
//! with `selection` without the job's Azure and tokio dependencies.
//!
//! # Counting a `Read`
//!
//! ```
//! // Three frames of MPEG-1 Layer III, 128 kbps, 44.1 kHz: 417 bytes each.
//! let mut frame = vec![0x55u8; 417];
//! frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
//! let mut stream = frame.repeat(3);
//! stream.extend_from_slice(&frame[..100]); // cut short, as a killed writer leaves it
//!
//! let facts = mp3count::scan_reader(&stream[..])?;
//! assert_eq!(facts.frames, 3); // whole frames only
//! assert!(!facts.clean_end); // the cut frame shows
//! assert_eq!(facts.duration().as_micros(), 78_367); // 3 × 1152 samples at 44.1 kHz
//!
//! let planned: selection::AudioFacts = facts.audio_facts();
//! assert!(planned.truncated());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Counting bytes as they pass by
//!
//! Where the bytes are read for another purpose (an upload, a hash), feed them to an
//! [`Mp3Scanner`] in chunks of any size: the facts do not depend on how the stream was split.
//! [`CountingReader`] does this for a `Read` that something else consumes.
//!
//! ```
//! # let mut frame = vec![0x55u8; 417];
//! # frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
//! # let stream = frame.repeat(3);
//! let mut scanner = mp3count::Mp3Scanner::new();
//! for chunk in stream.chunks(1000) {
//!     scanner.feed(chunk); // e.g. from the upload's read loop
//! }
//! assert_eq!(scanner.finish(stream.len() as u64).frames, 3);
//!
//! let mut reader = mp3count::CountingReader::new(&stream[..]);
//! std::io::copy(&mut reader, &mut std::io::sink())?; // e.g. into a hasher or a socket
//! assert_eq!(reader.finish().frames, 3);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # What counts as a frame
//!
//! A valid MPEG-1/2/2.5 Layer I/II/III header whose next frame starts with a compatible header
//! exactly where it ends, or which ends exactly at the end of the file; after one such frame,
//! each frame that follows it directly is trusted once it is whole. The stream's first frame is
//! not audio if it carries a Xing/Info/VBRI tag. ID3v2, ID3v1 and APE tags are stepped over
//! where a frame or tag ends; anything else between frames is junk, skipped to resync.
//!
//! This matches what `ffprobe -count_packets` and symphonia count, except that neither counts
//! a frame cut short at the end here (ffprobe reports it as a packet) and a Xing frame in the
//! middle of a stream (two files joined) counts as audio, as ffprobe and ffmpeg's decoder have
//! it (symphonia drops it).
//!
//! # Where we differ from `mp3-duration`, and why ours is right
//!
//! The `mp3-duration` crate (0.1.10) is the test oracle: `tests/mp3_duration.rs` runs both on
//! every recorded fixture, on small real recordings cut at every byte and on thousands of
//! generated streams, and the `mp3_oracle` fuzz target on whatever the fuzzer generates. Its answer must follow from ours exactly, by
//! these differences and no others:
//!
//! - **Header claims.** It returns the Xing/Info frame count as soon as it reads one, so a
//!   killed ffmpeg's placeholder measures 0 s over minutes of audio, a finished file cut short
//!   (a copy in progress) measures its whole length, and a file whose header was patched
//!   wrongly measures what the patch says. We count the frames that are there: a plan that
//!   deletes the other replica's copy must rest on audio that exists.
//! - **A header frame without a count** (Xing flags without the frames bit) is one more audio
//!   frame to it; it carries no audio, so not to us.
//! - **A frame cut short at the end** makes it fail (`UnexpectedEOF`, with the duration up to
//!   that frame); a cut of 1 to 3 bytes, too short for a header, it ignores. We count the whole
//!   frames and report the rest as [`Mp3Facts::trailing_bytes`] with `clean_end` false: the
//!   duration is what can be played, and the cut is what marks a killed writer.
//! - **Anything but zeros, ID3v2, ID3v1 and APE-with-header tags** between frames (junk, a
//!   false sync word before the audio, an APE tag known only by its footer) stops it with
//!   `UnexpectedFrame`. We resync past it and count the audio that follows. Conversely it
//!   takes any sync word for a frame, where we want the next frame where it ends (or the end
//!   of the file): a lone "frame" between junk is as likely a sync word in the junk.
//! - **Layer I frames** it sizes as Layer II/III ones (384 ÷ 8 × bitrate ÷ rate bytes, 1-byte
//!   padding) instead of in 4-byte slots, so it loses them after the first; we size them as
//!   the standard does.
//! - **Rounding.** It adds up each frame's duration truncated to the nanosecond (26,122,448 ns
//!   for 1152 samples at 44.1 kHz, 0.98 ns short each), drifting 22 µs short over a 600 s
//!   segment; [`Mp3Facts::duration`] computes frames × samples ÷ rate once, to the microsecond,
//!   so segments add up across a day.
//!
//! A stream whose sample rate changes midway (no recorder does that) is timed at its first
//! frame's rate here; `mp3-duration` times each frame at its own.
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use selection::AudioFacts;
use serde::Serialize;

mod reader;
mod scanner;
mod tags;
mod xing;

pub use mp3frame::{Layer, MpegVersion};
pub use reader::CountingReader;
pub use scanner::{Located, Mp3Scanner};
pub use xing::XingInfo;

/// What a scan found. All byte counts are of the scanned stream:
/// `leading + header frame + audio + skipped + trailing = file length`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Mp3Facts {
    /// Whole audio frames, excluding the Xing/Info/VBRI header frame.
    pub frames: u64,
    /// Parameters of the first frame (0 / `None` when there is none).
    pub sample_rate: u32,
    pub samples_per_frame: u32,
    pub channels: u8,
    pub version: Option<MpegVersion>,
    pub layer: Option<Layer>,
    /// Bytes of the counted audio frames.
    pub audio_bytes: u64,
    /// ID3v2 tags and junk before the first frame; the whole file if there is no frame.
    pub leading_bytes: u64,
    /// Bytes after the last whole frame: a partial frame, ID3v1/APE tags, junk.
    pub trailing_bytes: u64,
    /// Bytes between frames that are no frame: tags of a joined file, junk skipped to resync.
    pub skipped_bytes: u64,
    /// The last frame is whole and only recognised tags (ID3v1, APE, ID3v2) follow it.
    pub clean_end: bool,
    /// The header frame's claims, if the stream starts with one.
    pub header: Option<XingInfo>,
    /// The header frame claims a frame count other than `frames` (e.g. a 0 placeholder).
    pub header_mismatch: bool,
    /// Lowest and highest bitrate among the audio frames: they differ for VBR.
    pub bitrate_kbps_min: u16,
    pub bitrate_kbps_max: u16,
    /// Times sync was lost and found again past junk.
    pub resyncs: u32,
}

impl Mp3Facts {
    /// The audio's length, `frames × samples_per_frame / sample_rate`, rounded down to the
    /// microsecond (not trimmed by the encoder delay and padding: segments join frame to frame).
    pub fn duration(&self) -> Duration {
        if self.sample_rate == 0 {
            return Duration::ZERO;
        }
        let samples = u128::from(self.frames) * u128::from(self.samples_per_frame);
        let micros = samples * 1_000_000 / u128::from(self.sample_rate);
        Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// Whether the file holds at least one whole audio frame.
    pub fn has_audio(&self) -> bool {
        self.frames > 0
    }

    /// The planner's view of these facts: the counted frames, the format they are timed in,
    /// whether the stream ended cleanly, and what the header claimed (for
    /// `AudioFacts::truncated`).
    pub fn audio_facts(&self) -> AudioFacts {
        AudioFacts {
            frames: self.frames,
            sample_rate: self.sample_rate,
            samples_per_frame: self.samples_per_frame,
            clean_end: self.clean_end,
            header_frames: self.header.as_ref().and_then(|h| h.frames).map(u64::from),
        }
    }
}

/// Scans a whole stream in 64 KiB reads; memory stays fixed however long it is.
pub fn scan_reader<R: Read>(mut r: R) -> std::io::Result<Mp3Facts> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut scanner = Mp3Scanner::new();
    let mut total = 0u64;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(scanner.finish(total)),
            Ok(n) => {
                scanner.feed(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Scans a file as it is now; a file still being written is measured up to where it ends.
///
/// A convenience for tools: it opens `path` as given, following links. A program that must
/// read only a file it has checked (the job: `crates/job/src/share.rs`) opens it itself and
/// passes the handle to [`scan_reader`].
pub fn scan_file(path: &Path) -> std::io::Result<Mp3Facts> {
    scan_reader(std::fs::File::open(path)?)
}

#[cfg(test)]
mod tests;
