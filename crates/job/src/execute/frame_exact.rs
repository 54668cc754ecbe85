//! Building a frame-exact blob in the upload's one pass over the recording.
//!
//! The blob is a generated Xing/Info + LAME header frame, a few frames that are there for
//! the decoder alone, then the recording's frames from the first one it plays to its end.
//! The first frame played leans on the frames before it (their bit reservoir and transform
//! overlap): in a blob cut at an in-point ([`prepare`]) those are the recording's own frames
//! before it; in a whole recording ([`prepare_lead`]) the last frames of the file it
//! continues. The header declares them as encoder delay, so a gapless decoder (ffmpeg,
//! mpg123, browsers) plays the blob from its first frame played exactly, alone.
//!
//! [`prepare`] reads the recording up to the in-point, counting frames and measuring dead air
//! as the upload would, and builds the header; the upload then reads on from where it stopped
//! (the bytes from the blob's start to there are sent, not counted again), so each byte is
//! read once but for the few frames between the blob's start and the in-point.

use std::io::Read;
use std::os::unix::fs::FileExt;

use mp3frame::info_tag::{self, Gapless, Toc, DECODER_DELAY, MAX_DELAY};

use crate::share::{RangeReader, Recording};

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
    /// How many of the warm-up frames are the previous file's ([`prepare_lead`]).
    pub lead: u64,
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

/// Reads `recording` (`size` bytes, `frames` audio frames as planned) up to its frame `cut`,
/// counting and measuring on the way, and builds the header of the blob that plays it from
/// `cut` on. `None` where no such blob can be built (the format is not found,
/// the in-point is too near the start for a warm-up, the counts do not fit a header): the
/// blob is then the recording's bytes.
pub(super) fn prepare(
    recording: &Recording,
    size: u64,
    cut: u64,
    frames: u64,
    silence: deadair::Threshold,
) -> std::io::Result<Option<Prepared>> {
    let mut pass = Pass::open(recording, silence, CHUNK);
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
    let warm_up = budget.min(cut.saturating_sub(counted));
    if warm_up == 0 || cut >= frames {
        return Ok(None);
    }
    let first_frame = cut - warm_up;
    pass.scanner.locate(first_frame, cut);
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
    // A file that changed since it was measured may end before the frames found.
    let (Some(start), Some(in_at)) = (found.start, found.end.filter(|&at| at <= size)) else {
        return Ok(None);
    };
    let mut word = [0u8; 4];
    recording.file().read_exact_at(&mut word, start)?;
    let blob_frames = frames - first_frame;
    let Some(head) = header(word, spf, blob_frames, warm_up, size - start) else {
        return Ok(None);
    };
    let head_len = head.len() as u64;
    Ok(Some(Prepared {
        head,
        first_frame,
        warm_up,
        lead: 0,
        start,
        in_byte: head_len + (in_at - start),
        out_byte: head_len + (size - start),
        fed_to: pass.fed_to,
        scanner: pass.scanner,
        dead_air: pass.dead_air,
    }))
}

/// Bytes read from the end of the file a recording continues, to find its last frames in:
/// more than the 8 frames of 576 samples or 4 of 1152 at the largest frame (1,728 bytes)
/// with the one more frame [`mp3frame::tail_frames`] wants.
pub(super) const LEAD_TAIL: u64 = 12 * 1024;

/// Reads `recording` (`size` bytes, `frames` audio frames as planned) up to its first audio
/// frame, and builds the header of the blob that plays all of it after the last
/// frames of `tail`, the end of the file it continues (its last [`LEAD_TAIL`] bytes). `None`
/// where no such blob can be built (the format is not found, `tail` does not end in whole
/// frames of the same format, the counts do not fit a header): the blob is then the
/// recording's bytes.
pub(super) fn prepare_lead(
    recording: &Recording,
    size: u64,
    frames: u64,
    silence: deadair::Threshold,
    tail: &[u8],
) -> std::io::Result<Option<Prepared>> {
    let mut pass = Pass::open(recording, silence, FIRST_CHUNK);
    // Frame 0 does not depend on the format: it can be asked for before the first read.
    pass.scanner.locate(0, 1);
    while pass.scanner.located().start.is_none() {
        if pass.fed_to > FORMAT_WITHIN || !pass.read(FIRST_CHUNK)? {
            return Ok(None);
        }
    }
    let located = pass.scanner.located().start.filter(|&at| at < size);
    let (Some(format), Some(start)) = (pass.scanner.format(), located) else {
        return Ok(None);
    };
    let spf = u64::from(format.samples());
    let warm_up = u64::from(MAX_DELAY + DECODER_DELAY) / spf;
    let Some(from) = mp3frame::tail_frames(tail, warm_up as usize) else {
        return Ok(None);
    };
    let lead = &tail[from..];
    let same_format = mp3frame::FrameHeader::parse(lead).is_some_and(|h| {
        h.continues_with(&format) && h.samples() == format.samples() && h.layer == format.layer
    });
    if frames == 0 || !same_format {
        return Ok(None);
    }
    let word = [lead[0], lead[1], lead[2], lead[3]];
    let audio_bytes = lead.len() as u64 + (size - start);
    let Some(mut head) = header(word, spf, warm_up + frames, warm_up, audio_bytes) else {
        return Ok(None);
    };
    head.extend_from_slice(lead);
    let head_len = head.len() as u64;
    Ok(Some(Prepared {
        head,
        first_frame: 0,
        warm_up,
        lead: warm_up,
        start,
        in_byte: head_len,
        out_byte: head_len + (size - start),
        fed_to: pass.fed_to,
        scanner: pass.scanner,
        dead_air: pass.dead_air,
    }))
}

/// The Xing/Info + LAME header frame (its header word `word`) of a blob of `blob_frames`
/// frames of `spf` samples and `audio_bytes` bytes after it, whose first `warm_up` frames
/// are declared as encoder delay; `None` where the counts do not fit a header.
fn header(
    word: [u8; 4],
    spf: u64,
    blob_frames: u64,
    warm_up: u64,
    audio_bytes: u64,
) -> Option<Vec<u8>> {
    let blob_frames32 = u32::try_from(blob_frames).ok()?;
    let bytes32 = u32::try_from(audio_bytes).ok()?;
    let gapless = Gapless::window_spf(blob_frames32, spf as u32, warm_up * spf, blob_frames * spf)?;
    let gapless = Gapless {
        audio_bytes: bytes32,
        ..gapless
    };
    info_tag::tag_frame(word, &gapless, &Toc::linear()).ok()
}

/// The read up to the in-point: every byte counted and measured, as the upload would.
struct Pass<'a> {
    /// The recording from its start to its size as measured.
    reader: RangeReader<'a>,
    buf: Vec<u8>,
    fed_to: u64,
    scanner: mp3count::Mp3Scanner,
    dead_air: deadair::Detector,
}

impl<'a> Pass<'a> {
    /// Reads of at most `chunk` bytes.
    fn open(recording: &'a Recording, silence: deadair::Threshold, chunk: usize) -> Self {
        Pass {
            reader: recording.reader(0, recording.size()),
            buf: vec![0u8; chunk],
            fed_to: 0,
            scanner: mp3count::Mp3Scanner::new(),
            dead_air: deadair::Detector::new(silence),
        }
    }

    /// Reads up to `len` more bytes; `false` at the end of the file.
    fn read(&mut self, len: usize) -> std::io::Result<bool> {
        let n = self.reader.read(&mut self.buf[..len])?;
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
        if self.lead > 0 {
            metadata.insert("leadframes".to_owned(), self.lead.to_string());
        }
    }
}
