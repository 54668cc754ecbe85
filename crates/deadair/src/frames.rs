//! A streaming frame splitter with a fixed buffer: bytes in chunks of any size, whole frames
//! out, each confirmed by the header that follows it (or by the stream's format when a tag
//! or the end follows).

use mp3frame::{FrameHeader, HEADER_LEN};

/// The longest frame any header can claim (MPEG-1 Layer I at 448 kbit/s, 32 kHz, padded:
/// 1,684 bytes; Layer II/III at 384 kbit/s and 32 kHz: 1,729 bytes), rounded up.
const MAX_FRAME: usize = 2_048;

/// Bytes held at most: a frame and the next header, twice over so that a decision never
/// waits on a full buffer.
const CAPACITY: usize = 2 * (MAX_FRAME + HEADER_LEN);

/// Splits a stream into frames; see the module docs.
#[derive(Debug)]
pub struct Splitter {
    pending: Vec<u8>,
    /// Bytes still to pass over (an ID3v2 tag).
    skip: u64,
    /// Whether anything but a leading tag has been seen (an ID3v2 tag is only looked for
    /// at the very start, as ffmpeg writes it).
    started: bool,
    /// The format of the last frame accepted: a frame in this format is accepted without
    /// the next header's confirmation (the last frame before a trailing tag).
    format: Option<FrameHeader>,
}

impl Splitter {
    #[allow(clippy::new_without_default)] // `pub` only for `internals`
    pub fn new() -> Self {
        Splitter {
            pending: Vec::with_capacity(CAPACITY),
            skip: 0,
            started: false,
            format: None,
        }
    }

    /// Feeds bytes; `frame` is called with each whole frame, in order.
    pub fn feed(&mut self, mut data: &[u8], frame: &mut impl FnMut(&FrameHeader, &[u8])) {
        while !data.is_empty() {
            if self.skip > 0 {
                let k = self.skip.min(data.len() as u64) as usize;
                self.skip -= k as u64;
                data = &data[k..];
                continue;
            }
            let k = (CAPACITY - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..k]);
            data = &data[k..];
            let used = self.scan(false, frame);
            self.pending.drain(..used);
        }
    }

    /// Ends the stream: the frames still held are decided with the bytes there are; a frame
    /// cut short at the end (a killed writer) is dropped.
    pub fn finish(&mut self, frame: &mut impl FnMut(&FrameHeader, &[u8])) {
        let used = self.scan(true, frame);
        self.pending.drain(..used);
        self.pending.clear();
    }

    /// Decides as much of `pending` as it can; returns the bytes used.
    fn scan(&mut self, eof: bool, frame: &mut impl FnMut(&FrameHeader, &[u8])) -> usize {
        let buf = std::mem::take(&mut self.pending);
        let used = self.scan_in(&buf, eof, frame);
        self.pending = buf;
        used
    }

    fn scan_in(
        &mut self,
        buf: &[u8],
        eof: bool,
        frame: &mut impl FnMut(&FrameHeader, &[u8]),
    ) -> usize {
        let mut pos = 0;
        while self.skip == 0 {
            let rest = &buf[pos..];
            if !self.started {
                if rest.len() < 10 && !eof {
                    return pos;
                }
                self.started = true;
                if let Some(len) = id3v2_len(rest) {
                    let here = (len as usize).min(rest.len());
                    self.skip = len - here as u64;
                    pos += here;
                    continue;
                }
            }
            if rest.len() < HEADER_LEN {
                return if eof { buf.len() } else { pos };
            }
            let Some(h) = FrameHeader::parse(rest) else {
                pos += 1;
                continue;
            };
            let len = h.len as usize;
            let confirmed = if rest.len() >= len + HEADER_LEN {
                FrameHeader::parse(&rest[len..]).is_some_and(|n| h.continues_with(&n))
                    || self.format.is_some_and(|f| f.continues_with(&h))
            } else if eof {
                rest.len() >= len
                    && (rest.len() == len || self.format.is_some_and(|f| f.continues_with(&h)))
            } else {
                return pos;
            };
            if confirmed {
                frame(&h, &rest[..len]);
                self.format = Some(h);
                pos += len;
            } else {
                pos += 1;
            }
        }
        pos
    }
}

/// The whole length of an ID3v2 tag at the start of `b` (header, body and footer).
fn id3v2_len(b: &[u8]) -> Option<u64> {
    let &[b'I', b'D', b'3', major, _, flags, s0, s1, s2, s3, ..] = b else {
        return None;
    };
    if major == 0xFF || [s0, s1, s2, s3].iter().any(|s| s & 0x80 != 0) {
        return None;
    }
    let size = [s0, s1, s2, s3]
        .iter()
        .fold(0u64, |acc, &s| (acc << 7) | u64::from(s));
    let footer = if flags & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

/// Whether `frame` (a stream's first frame) is a Xing/Info or VBRI header frame, which
/// holds no audio.
pub fn is_header_frame(h: &FrameHeader, frame: &[u8]) -> bool {
    let xing = h
        .xing_tag_offset()
        .and_then(|o| frame.get(o..o + 4))
        .is_some_and(|id| id == b"Xing" || id == b"Info");
    xing || frame.get(36..40).is_some_and(|id| id == b"VBRI")
}
