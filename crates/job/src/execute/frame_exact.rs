//! Building a frame-exact blob in the upload's one pass over the recording.
//!
//! The blob is a generated Xing/Info + LAME header frame, then the recording's bytes from a
//! few frames before the in-point to its end. The frames before the in-point are there for
//! the decoder alone (the first frame played leans on their bit reservoir and transform
//! overlap); the header declares them as encoder delay, so a gapless decoder (ffmpeg, mpg123,
//! browsers) plays the blob from the in-point exactly.
//!
//! [`prepare`] reads the recording up to the in-point, counting frames and measuring dead air
//! as the upload would, and builds the header; the upload then reads on from where it stopped
//! (the bytes from the blob's start to there are sent, not counted again), so each byte is
//! read once but for the few frames between the blob's start and the in-point.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use mp3frame::info_tag::{self, Gapless, Toc, DECODER_DELAY, MAX_DELAY};

/// Bytes read at a time before the in-point, once the stream's format is known.
const CHUNK: usize = 64 * 1024;

/// Bytes read at a time until then: the frames before the in-point that the warm-up takes
/// depend on the format, so the scanner must not count past them first.
const FIRST_CHUNK: usize = 512;

/// The most bytes read before the format is known (a long ID3v2 tag, then junk).
const FORMAT_WITHIN: u64 = 1024 * 1024;

/// What the upload needs to send a frame-exact blob, and the pass so far.
pub(super) struct Prepared {
    /// The header frame, sent first.
    pub head: Vec<u8>,
    /// The recording's frame the blob's audio starts with, and how many frames of warm-up
    /// come before the in-point.
    pub first_frame: u64,
    pub warm_up: u64,
    /// The recording's byte where the blob's audio starts.
    pub start: u64,
    /// Bytes of the recording the scanner and the detector have seen (from 0).
    pub fed_to: u64,
    /// The played frames' bytes in the blob (the row's `in_byte..out_byte`).
    pub in_byte: u64,
    pub out_byte: u64,
    pub scanner: mp3count::Mp3Scanner,
    pub dead_air: deadair::Detector,
}

/// Reads the recording at `path` (`size` bytes, `frames` audio frames as planned) up to its
/// frame `trim`, counting and measuring on the way, and builds the header of the blob that
/// plays it from `trim` on. `None` where no such blob can be built (the format is not found,
/// the in-point is too near the start for a warm-up, the counts do not fit a header): the
/// blob is then the recording's bytes.
pub(super) fn prepare(
    path: &Path,
    size: u64,
    trim: u64,
    frames: u64,
    silence: deadair::Threshold,
) -> std::io::Result<Option<Prepared>> {
    let mut pass = Pass {
        file: File::open(path)?,
        buf: vec![0u8; CHUNK],
        fed_to: 0,
        scanner: mp3count::Mp3Scanner::new(),
        dead_air: deadair::Detector::new(silence),
    };
    while pass.scanner.format().is_none() {
        if pass.fed_to > FORMAT_WITHIN || !pass.read(FIRST_CHUNK)? {
            return Ok(None);
        }
    }
    let Some(format) = pass.scanner.format() else {
        return Ok(None);
    };
    let spf = u64::from(format.samples());
    // As many frames as the delay field can declare: 4 of 1152 samples, 8 of 576.
    let budget = u64::from(MAX_DELAY + DECODER_DELAY) / spf;
    let counted = pass.scanner.frames_counted();
    let warm_up = budget.min(trim.saturating_sub(counted));
    if warm_up == 0 || trim >= frames {
        return Ok(None);
    }
    let first_frame = trim - warm_up;
    pass.scanner.locate(first_frame, trim);
    loop {
        let found = pass.scanner.located();
        if found.start.is_some() && found.end.is_some() {
            break;
        }
        if !pass.read(CHUNK)? {
            return Ok(None);
        }
    }
    let found = pass.scanner.located();
    let (Some(start), Some(in_at)) = (found.start, found.end) else {
        return Ok(None);
    };
    let mut word = [0u8; 4];
    pass.file.read_exact_at(&mut word, start)?;
    let blob_frames = frames - first_frame;
    let (Ok(blob_frames32), Ok(bytes32)) =
        (u32::try_from(blob_frames), u32::try_from(size - start))
    else {
        return Ok(None);
    };
    let Some(gapless) =
        Gapless::window_spf(blob_frames32, spf as u32, warm_up * spf, blob_frames * spf)
    else {
        return Ok(None);
    };
    let gapless = Gapless {
        audio_bytes: bytes32,
        ..gapless
    };
    let Ok(head) = info_tag::tag_frame(word, &gapless, &Toc::linear()) else {
        return Ok(None);
    };
    let head_len = head.len() as u64;
    Ok(Some(Prepared {
        head,
        first_frame,
        warm_up,
        start,
        in_byte: head_len + (in_at - start),
        out_byte: head_len + (size - start),
        fed_to: pass.fed_to,
        scanner: pass.scanner,
        dead_air: pass.dead_air,
    }))
}

/// The read up to the in-point: every byte counted and measured, as the upload would.
struct Pass {
    file: File,
    buf: Vec<u8>,
    fed_to: u64,
    scanner: mp3count::Mp3Scanner,
    dead_air: deadair::Detector,
}

impl Pass {
    /// Reads up to `len` more bytes; `false` at the end of the file.
    fn read(&mut self, len: usize) -> std::io::Result<bool> {
        let n = self.file.read(&mut self.buf[..len])?;
        self.scanner.feed(&self.buf[..n]);
        self.dead_air.feed(&self.buf[..n]);
        self.fed_to += n as u64;
        Ok(n > 0)
    }
}

impl Prepared {
    /// The metadata of the blob, besides what its row says: how it was made.
    pub fn describe(&self, metadata: &mut std::collections::BTreeMap<String, String>, size: u64) {
        let fields = [
            ("mode", "frame-exact".to_owned()),
            ("blobfirstframe", self.first_frame.to_string()),
            ("warmupframes", self.warm_up.to_string()),
            ("sourcestart", self.start.to_string()),
            ("sourceend", size.to_string()),
            ("inbyte", self.in_byte.to_string()),
            ("outbyte", self.out_byte.to_string()),
        ];
        for (name, value) in fields {
            metadata.insert(name.to_owned(), value);
        }
    }
}
