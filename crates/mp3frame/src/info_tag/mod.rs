//! Writing the header frame that tells a decoder how long a stream is and which samples to
//! drop: a Xing (VBR) or Info (CBR) tag with frame count, byte count and seek table, and a
//! LAME tag with the encoder delay and padding.
//!
//! Pure: a header word and counts in, one frame's bytes out. An MP3 cut from a longer stream
//! (an exported range, a frame-exact blob) puts this frame first so that gapless decoders play
//! exactly the samples meant, however the frames were cut.
//!
//! # What decoders do with it (measured with ffmpeg 5.1 and mpg123 1.31)
//!
//! Both treat the tag frame as no audio and decode the `frames` frames after it, `frames ×
//! samples-per-frame` samples in all, of which they output
//!
//! ```text
//! frames × spf − encoder_delay − padding
//! ```
//!
//! samples: the first output sample is decoded sample `encoder_delay + 529`, the last is
//! decoded sample `frames × spf − padding + 528`. 529 is the decoder's own delay (the
//! synthesis filter bank's), which LAME's encoder delay field does not include; both decoders
//! add it at the start and take it back at the end, so the window is shifted, not shortened.
//! ffmpeg's mp3 demuxer sets `start_time` to `(encoder_delay + 529) / sample_rate` and discards
//! the last `padding − 529` decoded samples (`padding` ≥ 529 keeps the end within the frames
//! there are). mpg123's gapless mode (the default) outputs the same samples. Measured on 100
//! frames (576 samples each) of a fixture recording headed by a tag with delay 1000 and
//! padding 700: ffmpeg and `mpg123 -w` each output 55,900 samples, and both outputs match the
//! undecimated decode (`-flags2 +skip_manual`) from its sample 1529 on; ffprobe says
//! `start_time=0.069342` (1529 / 22050).
//!
//! To output decoded samples `first..end` of `frames` frames, then, write
//! `encoder_delay = first − 529` and `padding = frames × spf − end + 529`
//! ([`Gapless::window`] does this arithmetic); both fields have 12 bits (≤ 4095 samples).
//!
//! ```
//! use mp3frame::info_tag::{tag_frame, Gapless, Toc};
//! // The first audio frame's header: MPEG-1 Layer III, 128 kbps, 44.1 kHz, joint stereo.
//! let first = [0xFF, 0xFB, 0x90, 0x64];
//! let g = Gapless::window(1000, 1152 + 600, 1000 * 1152 - 300).unwrap();
//! assert_eq!((g.encoder_delay, g.padding), (1223, 829));
//! let gapless = Gapless { audio_bytes: 417_000, ..g };
//! let frame = tag_frame(first, &gapless, &Toc::linear()).unwrap();
//! assert_eq!(&frame[36..40], b"Info");
//! let header = mp3frame::FrameHeader::parse(&frame).unwrap();
//! assert_eq!(header.len as usize, frame.len());
//! ```

use crate::{FrameHeader, Layer, MpegVersion, HEADER_LEN};

/// The decoder delay that decoders add to the LAME tag's encoder delay (see the module doc).
pub const DECODER_DELAY: u32 = 529;

/// The largest encoder delay or padding the LAME tag can carry (12 bits each).
pub const MAX_DELAY: u32 = 4095;

/// Bytes of the Xing/Info tag with every field present: id, flags, frames, bytes, the
/// 100-byte seek table and the quality.
const XING_LEN: usize = 4 + 4 + 4 + 4 + 100 + 4;
/// Bytes of the LAME extension after it, its CRC last.
const LAME_LEN: usize = 36;
/// The encoder string of the LAME extension: nine bytes, as LAME 3.100 writes its own.
const ENCODER: &[u8; 9] = b"LAME3.100";

/// What the tag says about the stream it heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gapless {
    /// Audio frames after the tag frame.
    pub frames: u32,
    /// Bytes of those frames (the tag frame's own length is added to the `bytes` field).
    pub audio_bytes: u32,
    /// Decoded samples to drop at the start, before the decoder's own 529 (≤ 4095).
    pub encoder_delay: u16,
    /// Decoded samples to drop at the end, counted as LAME does (≤ 4095).
    pub padding: u16,
    /// Write `Xing` (variable bitrate) instead of `Info` (constant bitrate).
    pub vbr: bool,
}

impl Gapless {
    /// The delay and padding that make a decoder output decoded samples `first..end` of
    /// `frames` frames of `spf` samples (the count of bytes is left 0 for the caller).
    /// `None` where a field would not fit its 12 bits, or the window is empty or out of the
    /// frames: `first` must be at least 529 (the decoder's delay) and at most 4624.
    pub fn window(frames: u32, first: u64, end: u64) -> Option<Gapless> {
        Self::window_spf(frames, 1152, first, end)
    }

    /// [`Gapless::window`] for frames of `spf` samples (576 for MPEG-2/2.5 Layer III).
    pub fn window_spf(frames: u32, spf: u32, first: u64, end: u64) -> Option<Gapless> {
        let total = u64::from(frames) * u64::from(spf);
        if first >= end || end > total {
            return None;
        }
        let delay = first.checked_sub(u64::from(DECODER_DELAY))?;
        let padding = total - end + u64::from(DECODER_DELAY);
        if delay > u64::from(MAX_DELAY) || padding > u64::from(MAX_DELAY) {
            return None;
        }
        Some(Gapless {
            frames,
            audio_bytes: 0,
            encoder_delay: delay as u16,
            padding: padding as u16,
            vbr: false,
        })
    }
}

/// The Xing seek table: entry `i` is the byte position of `i` % of the duration, in 256ths of
/// the stream's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Toc(pub [u8; 100]);

impl Toc {
    /// The table of a constant-bitrate stream: position proportional to time.
    pub fn linear() -> Toc {
        let mut t = [0u8; 100];
        for (i, e) in t.iter_mut().enumerate() {
            *e = (i * 256 / 100) as u8;
        }
        Toc(t)
    }

    /// The frame index at each percent of `frames` frames: where a writer samples the byte
    /// positions that [`Toc::from_positions`] takes.
    pub fn sample_frames(frames: u64) -> [u64; 100] {
        let mut at = [0u64; 100];
        for (i, a) in at.iter_mut().enumerate() {
            *a = frames * i as u64 / 100;
        }
        at
    }

    /// The table from the byte position (from the start of the tag frame) of each frame
    /// [`Toc::sample_frames`] names, in a stream of `total_bytes` (tag frame included).
    pub fn from_positions(positions: &[u64; 100], total_bytes: u64) -> Toc {
        let mut t = [0u8; 100];
        if total_bytes == 0 {
            return Toc::linear();
        }
        for (e, &p) in t.iter_mut().zip(positions) {
            *e = (u128::from(p) * 256 / u128::from(total_bytes)).min(255) as u8;
        }
        Toc(t)
    }
}

/// Why no tag frame can be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagError {
    /// The header word is not a valid frame header.
    BadHeader([u8; 4]),
    /// Only Layer III streams carry Xing/LAME tags.
    NotLayer3(Layer),
    /// Delay or padding beyond 12 bits.
    DelayTooLong { delay: u16, padding: u16 },
}

impl std::fmt::Display for TagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TagError::BadHeader(b) => write!(f, "header {b:02x?} is not an MPEG audio frame header"),
            TagError::NotLayer3(l) => {
                write!(f, "a Xing/LAME tag needs a Layer III stream, not {l:?}")
            }
            TagError::DelayTooLong { delay, padding } => write!(
                f,
                "encoder delay {delay} and padding {padding}: each must be at most {MAX_DELAY} samples"
            ),
        }
    }
}

impl std::error::Error for TagError {}

/// One frame holding the tag, in the format of `first` (the first audio frame's header word:
/// version, sample rate, channel mode and flags are kept; the bitrate is the lowest whose frame
/// holds the tag; no CRC, no padding). Its side information is zero, so a decoder that plays it
/// as audio hears 1 frame of silence.
pub fn tag_frame(first: [u8; 4], g: &Gapless, toc: &Toc) -> Result<Vec<u8>, TagError> {
    let parsed = FrameHeader::parse(&first).ok_or(TagError::BadHeader(first))?;
    if parsed.layer != Layer::Layer3 {
        return Err(TagError::NotLayer3(parsed.layer));
    }
    if u32::from(g.encoder_delay) > MAX_DELAY || u32::from(g.padding) > MAX_DELAY {
        return Err(TagError::DelayTooLong {
            delay: g.encoder_delay,
            padding: g.padding,
        });
    }
    let at = parsed.xing_tag_offset().unwrap_or(HEADER_LEN + 32);
    let needed = at + XING_LEN + LAME_LEN;
    // Protection bit set (no CRC), padding bit cleared, then the lowest bitrate that fits.
    let mut word = [first[0], first[1] | 1, first[2] & !0x02, first[3]];
    let header = (1u8..15)
        .find_map(|index| {
            word[2] = (word[2] & 0x0F) | (index << 4);
            FrameHeader::parse(&word).filter(|h| h.len as usize >= needed)
        })
        .ok_or(TagError::BadHeader(first))?;
    let mut frame = vec![0u8; header.len as usize];
    frame[..HEADER_LEN].copy_from_slice(&word);

    let total_bytes = u64::from(g.audio_bytes) + u64::from(header.len);
    let total32 = u32::try_from(total_bytes).unwrap_or(u32::MAX);
    let mut w = Writer {
        frame: &mut frame,
        at,
    };
    w.put(if g.vbr { b"Xing" } else { b"Info" });
    w.put(&0x0Fu32.to_be_bytes()); // frames, bytes, TOC and quality present
    w.put(&g.frames.to_be_bytes());
    w.put(&total32.to_be_bytes());
    w.put(&toc.0);
    w.put(&0u32.to_be_bytes()); // quality: unknown

    let lame = w.at;
    w.put(ENCODER);
    // Tag revision 0; method 1 (CBR) or 4 (VBR, as LAME's default -V): informative only.
    w.put(&[if g.vbr { 0x04 } else { 0x01 }]);
    w.put(&[0]); // lowpass unknown
    w.put(&[0; 4]); // peak amplitude unknown
    w.put(&[0; 4]); // radio and audiophile replay gain: none
    w.put(&[0]); // encoding flags, ATH type
    w.put(&[bitrate_byte(&parsed)]);
    let v = (u32::from(g.encoder_delay) << 12) | u32::from(g.padding);
    w.put(&v.to_be_bytes()[1..]);
    w.put(&[0]); // misc: no noise shaping, stereo mode unknown, 44.1 kHz or less flag unset
    w.put(&[0]); // MP3 gain
    w.put(&[0; 2]); // preset and surround
    w.put(&total32.to_be_bytes()); // music length: the whole stream, tag frame included
    w.put(&[0; 2]); // music CRC: not computed (decoders do not check it)
    let crc_at = w.at;
    debug_assert_eq!(crc_at, lame + LAME_LEN - 2);
    let crc = crc16(&frame[..crc_at]);
    frame[crc_at..crc_at + 2].copy_from_slice(&crc.to_be_bytes());
    Ok(frame)
}

/// The LAME tag's bitrate byte: the stream's bitrate in kbps, 255 for 255 and above.
fn bitrate_byte(h: &FrameHeader) -> u8 {
    h.bitrate_kbps.min(255) as u8
}

struct Writer<'a> {
    frame: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.frame[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

/// CRC-16 as the LAME tag has it (CRC-16/ARC: polynomial 0x8005 reflected, initial 0), over
/// the frame from its first byte up to the CRC field (190 bytes in MPEG-1 stereo).
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Bytes a Layer III frame's `main_data_begin` reaches back into the frames before it (the
/// bit reservoir): the first 9 bits of the side information in MPEG-1, 8 in MPEG-2 and 2.5,
/// after the header and its optional CRC. `None` for other layers or a frame too short.
pub fn main_data_begin(frame: &[u8]) -> Option<u16> {
    let h = FrameHeader::parse(frame)?;
    if h.layer != Layer::Layer3 {
        return None;
    }
    let side = if frame[1] & 1 == 0 { 6 } else { 4 };
    let b = frame.get(side..side + 2)?;
    Some(match h.version {
        MpegVersion::Mpeg1 => (u16::from(b[0]) << 1) | u16::from(b[1] >> 7),
        _ => u16::from(b[0]),
    })
}

/// Bytes of main data a Layer III frame holds for the reservoir: the frame without its header,
/// CRC and side information.
pub fn main_data_capacity(frame: &[u8]) -> Option<u32> {
    let h = FrameHeader::parse(frame)?;
    let crc = if frame[1] & 1 == 0 { 2 } else { 0 };
    let side = h.xing_tag_offset()? - HEADER_LEN;
    h.len.checked_sub((HEADER_LEN + crc + side) as u32)
}

/// Whether `frame` (the first frame of a stream) is a Xing/Info or VBRI header frame, which
/// holds no audio.
pub fn is_tag_frame(frame: &[u8]) -> bool {
    let Some(h) = FrameHeader::parse(frame) else {
        return false;
    };
    let Some(at) = h.xing_tag_offset() else {
        return false;
    };
    matches!(frame.get(at..at + 4), Some(b"Xing" | b"Info"))
        || (frame.get(36..40) == Some(b"VBRI") && frame.get(40..42) == Some(&[0, 1]))
}

#[cfg(test)]
mod tests;
