//! The `mp3-duration` crate (0.1.10) as a test oracle: what it must report for a stream,
//! derived from our facts by the differences the crate docs list ("Where we differ from
//! `mp3-duration`"), and generated streams to compare on. Included by `#[path]` in
//! `tests/mp3_duration.rs` and in the `mp3_oracle` fuzz target, each of which also includes
//! `streams.rs` beside it as `crate::streams`.
#![allow(dead_code)] // each includer uses its own subset

use std::time::Duration;

use mp3_duration::ErrorKind;
use mp3count::Mp3Facts;

use crate::streams::*;

/// What `mp3_duration::from_read` answered, reduced to what the model predicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Theirs {
    /// `Ok(duration)`.
    Measured(Duration),
    /// `UnexpectedEOF`: a frame (or tag) cut short; the duration it had added up before it.
    CutShort(Duration),
    /// `UnexpectedFrame`: bytes it does not know; the duration it had added up before them.
    Stopped(Duration),
    /// Any other error: never expected.
    Other(String),
}

/// Runs `mp3-duration` on `bytes`.
pub fn theirs(bytes: &[u8]) -> Theirs {
    match mp3_duration::from_read(&mut &bytes[..]) {
        Ok(d) => Theirs::Measured(d),
        Err(e) => match e.kind {
            ErrorKind::UnexpectedEOF => Theirs::CutShort(e.at_duration),
            ErrorKind::UnexpectedFrame { .. } => Theirs::Stopped(e.at_duration),
            _ => Theirs::Other(e.to_string()),
        },
    }
}

/// What it makes of a header's count of `n` frames: n × samples ÷ rate, truncated to the ns.
pub fn claimed(n: u64, f: &Mp3Facts) -> Duration {
    if f.sample_rate == 0 {
        return Duration::ZERO;
    }
    let ns =
        u128::from(n) * u128::from(f.samples_per_frame) * 1_000_000_000 / u128::from(f.sample_rate);
    Duration::from_nanos(u64::try_from(ns).expect("test durations fit"))
}

/// What it adds up over `n` frames it walks: each frame's duration truncated to the ns first.
pub fn walked(n: u64, f: &Mp3Facts) -> Duration {
    if f.sample_rate == 0 {
        return Duration::ZERO;
    }
    let per_frame_ns = u64::from(f.samples_per_frame) * 1_000_000_000 / u64::from(f.sample_rate);
    Duration::from_nanos(n * per_frame_ns)
}

/// What it reports for `bytes`, a stream of whole frames and the tags it knows, as recorders
/// write them (cut anywhere after its first frame), given our facts `f` of it:
/// - a header with a frame count: that count, whatever the frames say;
/// - a header without one: its frame as one more audio frame;
/// - a frame (or tag) cut short at the end: `UnexpectedEOF` after the whole frames, unless
///   the cut is too short to hold a header (1 to 3 bytes), which it ignores.
pub fn expected(f: &Mp3Facts, bytes: &[u8]) -> Theirs {
    if let Some(n) = f.header.and_then(|h| h.frames) {
        return Theirs::Measured(claimed(u64::from(n), f));
    }
    let n = f.frames + u64::from(f.header.is_some());
    let tail = &bytes[bytes.len() - f.trailing_bytes as usize..];
    if past_whole_tags(tail).len() < 4 {
        Theirs::Measured(walked(n, f))
    } else {
        Theirs::CutShort(walked(n, f))
    }
}

/// What is left of `tail` after the whole ID3v1, ID3v2 and APE (with header) tags at its start:
/// where its reading of the end resumes.
fn past_whole_tags(mut tail: &[u8]) -> &[u8] {
    loop {
        let len = match tail {
            [b'T', b'A', b'G', ..] => 128,
            [b'I', b'D', b'3', _, _, flags, size @ ..] if size.len() >= 4 => {
                let body = size[..4]
                    .iter()
                    .fold(0, |acc, &b| acc << 7 | usize::from(b));
                10 + body + if flags & 0x10 != 0 { 10 } else { 0 }
            }
            [b'A', b'P', b'E', b'T', b'A', b'G', b'E', b'X', rest @ ..] if rest.len() >= 8 => {
                let size = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
                32 + size as usize
            }
            _ => return tail,
        };
        if len > tail.len() {
            return tail;
        }
        tail = &tail[len..];
    }
}

/// The header frame a generated stream starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    None,
    /// An Info frame whose frame count is right.
    Right,
    /// A killed ffmpeg's placeholder: a Xing frame claiming 0 frames.
    Placeholder,
    /// A Xing frame claiming this many frames (a wrong patch).
    Claims(u32),
    /// A Xing frame without the frames field (flags: bytes only).
    Uncounted,
}

/// What a generated stream ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    None,
    Id3v1,
    Id3v2(usize),
    /// An APEv2 tag with a header, with this many bytes of items.
    Ape(usize),
    /// An APE tag known only by its footer (APEv1), with this many bytes of items (≥ 1).
    ApeFooterOnly(usize),
    /// The first this many bytes of one more frame: a killed writer's last frame.
    Cut(usize),
}

/// A generated stream: what real files are made of, and the junk they may get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// An ID3v2 tag first: body length, footer.
    pub id3v2: Option<(usize, bool)>,
    /// Zero bytes before the audio (padding after a tag).
    pub zeros: usize,
    /// Junk with a false sync word before the audio.
    pub junk_before: bool,
    pub header: Header,
    /// The audio frames' headers, all of one format (bitrates may vary).
    pub frames: Vec<[u8; 4]>,
    /// Bytes between frames: after this many frames, this many, junk (`true`) or zeros.
    pub gap: Option<(usize, usize, bool)>,
    pub tail: Tail,
}

/// Formats whose frames may follow each other: MPEG-1 Layer III 44.1 kHz stereo (CBR with
/// padding, and VBR), MPEG-2.5 8 kHz mono, MPEG-2 22.05 kHz mono, MPEG-1 Layer II.
const FAMILIES: [&[[u8; 4]]; 4] = [
    &[CBR128, CBR128_PADDED, VBR192],
    &[TINY],
    &[MPEG2_64, MPEG2_64_PADDED],
    &[LAYER2_192],
];

/// Junk that holds no sync byte and starts no tag.
const JUNK_BYTE: u8 = 0x11;

/// Reads choices from arbitrary bytes (0 once they run out), so that proptest and the fuzzer
/// drive the same generator.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        let x = usize::from(self.byte()) << 8 | usize::from(self.byte());
        x % n
    }
}

impl Recipe {
    /// The recipe that `choices` pick.
    pub fn from_bytes(choices: &[u8]) -> Recipe {
        let mut c = Choices(choices);
        let family = FAMILIES[c.below(FAMILIES.len())];
        let id3v2 = (c.below(2) == 1).then(|| (c.below(600), c.below(2) == 1));
        let zeros = if c.below(3) == 0 { c.below(40) } else { 0 };
        let junk_before = c.below(8) == 0;
        let n = 2 + c.below(11);
        let frames: Vec<_> = (0..n).map(|_| family[c.below(family.len())]).collect();
        // Header frames are written for MPEG-1 Layer III only (`xing_with_flags`).
        let header = match c.below(6) {
            _ if family[0] != CBR128 => Header::None,
            0 | 1 => Header::None,
            2 => Header::Right,
            3 => Header::Placeholder,
            4 => Header::Claims(c.below(100_000) as u32),
            _ => Header::Uncounted,
        };
        // Two frames at least on either side of a gap: a frame is confirmed by the next one.
        let gap = (n >= 4 && c.below(4) == 0)
            .then(|| (2 + c.below(n - 3), 1 + c.below(64), c.below(2) == 1));
        let frame_len = frame(family[0]).len();
        let tail = match c.below(7) {
            0 => Tail::Id3v1,
            1 => Tail::Id3v2(c.below(200)),
            2 => Tail::Ape(c.below(100)),
            3 => Tail::ApeFooterOnly(1 + c.below(100)),
            4 | 5 => Tail::Cut(1 + c.below(frame_len - 1)),
            _ => Tail::None,
        };
        Recipe {
            id3v2,
            zeros,
            junk_before,
            header,
            frames,
            gap,
            tail,
        }
    }

    /// The stream's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some((body, footer)) = self.id3v2 {
            out.extend(id3v2(body, footer));
        }
        out.extend(vec![0; self.zeros]);
        if self.junk_before {
            out.extend(cat(&[&[1, 2, 3], &CBR128, &[9; 50]]));
        }
        let n = self.frames.len() as u32;
        match self.header {
            Header::None => {}
            Header::Right => out.extend(xing(b"Info", n)),
            Header::Placeholder => out.extend(xing(b"Xing", 0)),
            Header::Claims(k) => out.extend(xing(b"Xing", k)),
            Header::Uncounted => out.extend(xing_with_flags(b"Xing", 0x2, 4321)),
        }
        for (i, &h) in self.frames.iter().enumerate() {
            if let Some((_, len, junk)) = self.gap.filter(|g| g.0 == i) {
                out.extend(vec![if junk { JUNK_BYTE } else { 0 }; len]);
            }
            out.extend(frame(h));
        }
        match self.tail {
            Tail::None => {}
            Tail::Id3v1 => out.extend(id3v1()),
            Tail::Id3v2(body) => out.extend(id3v2(body, false)),
            Tail::Ape(items) => out.extend(ape(items, true)),
            Tail::ApeFooterOnly(items) => out.extend(ape(items, false)),
            Tail::Cut(len) => out.extend(&frame(self.frames[0])[..len]),
        }
        out
    }

    /// What `mp3-duration` reports for this stream, given our facts of it: [`expected`], and
    /// where junk comes first, it stops there.
    pub fn expected(&self, f: &Mp3Facts, bytes: &[u8]) -> Theirs {
        let header_frame = u64::from(self.header == Header::Uncounted);
        if self.junk_before {
            return Theirs::Stopped(Duration::ZERO);
        }
        if let (None, Some((at, _, true))) = (f.header.and_then(|h| h.frames), self.gap) {
            return Theirs::Stopped(walked(header_frame + at as u64, f));
        }
        if let (None, Tail::ApeFooterOnly(_)) = (f.header.and_then(|h| h.frames), self.tail) {
            return Theirs::Stopped(walked(header_frame + f.frames, f));
        }
        expected(f, bytes)
    }
}

/// Checks one generated stream: our count is the recipe's, and `mp3-duration`'s answer is
/// exactly the one the documented differences predict.
pub fn check_recipe(choices: &[u8]) {
    let recipe = Recipe::from_bytes(choices);
    let bytes = recipe.bytes();
    let ours = mp3count::scan_reader(&bytes[..]).expect("reading a slice");
    assert_eq!(
        ours.frames,
        recipe.frames.len() as u64,
        "{recipe:?}\n{ours:?}"
    );
    assert_eq!(
        theirs(&bytes),
        recipe.expected(&ours, &bytes),
        "{recipe:?}\n{ours:?}"
    );
}
