//! A minimal MPEG audio frame finder: where each frame of a byte buffer starts and ends.
//!
//! Headers are parsed by `mp3frame`, which the job's streaming scanner shares. Here the whole
//! buffer is at hand, so a frame is trusted when the next one starts exactly where it ends (or
//! it ends exactly at the end of the buffer), and a frame that directly follows a trusted frame
//! is trusted once it is whole.

use std::ops::Range;

use mp3frame::FrameHeader;

/// One MPEG audio frame of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameRef {
    /// Byte offset of the frame header in the buffer.
    pub offset: usize,
    /// Bytes of the whole frame, header included.
    pub len: usize,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// PCM samples per channel the frame decodes to (384, 576 or 1152).
    pub samples: u32,
    /// 1 or 2.
    pub channels: u8,
}

impl FrameRef {
    /// The frame's byte range in the buffer.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.len
    }

    /// The frame's bytes (empty if `data` is not the buffer it came from and is too short).
    pub fn bytes<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        data.get(self.range()).unwrap_or(&[])
    }
}

/// Whether `frame` (starting with header `h`) is a Xing/Info or VBRI tag frame.
fn is_tag_frame(h: &FrameHeader, frame: &[u8]) -> bool {
    let Some(at) = h.xing_tag_offset() else {
        return false;
    };
    matches!(frame.get(at..at + 4), Some(b"Xing" | b"Info")) || frame.get(36..40) == Some(b"VBRI")
}

fn frame_ref(h: &FrameHeader, offset: usize) -> FrameRef {
    FrameRef {
        offset,
        len: h.len as usize,
        sample_rate: h.sample_rate,
        samples: h.samples(),
        channels: h.channels,
    }
}

/// Bytes of the ID3v2 tags at the start of `data` (0 if none; several tags are skipped).
fn id3v2_len(data: &[u8]) -> usize {
    let mut at = 0usize;
    while let Some(tag) = data.get(at..at + 10) {
        if &tag[..3] != b"ID3" || tag[3] == 0xFF || tag[4] == 0xFF {
            break;
        }
        if tag[6..10].iter().any(|b| b & 0x80 != 0) {
            break;
        }
        let size = tag[6..10]
            .iter()
            .fold(0usize, |acc, b| (acc << 7) | usize::from(*b));
        let footer = if tag[5] & 0x10 != 0 { 10 } else { 0 };
        at = at.saturating_add(10 + size + footer);
    }
    at.min(data.len())
}

/// A frame at `pos` that the next header confirms (or that ends exactly at the end).
fn confirmed(data: &[u8], pos: usize) -> Option<FrameHeader> {
    let h = FrameHeader::parse(data.get(pos..)?)?;
    let end = pos.checked_add(h.len as usize)?;
    if end == data.len() {
        return Some(h);
    }
    let next = FrameHeader::parse(data.get(end..)?)?;
    h.continues_with(&next).then_some(h)
}

/// The MPEG audio frames of `data`, in order: ID3v2 tags are skipped, so is a Xing/Info/VBRI
/// header frame at the start of the stream (it carries no audio), and so is a frame cut short at
/// the end (a file still being written, or a killed recorder's). Junk between frames is
/// skipped by resynchronising on a header that the next frame confirms. Never panics; an empty
/// result means no audio.
pub fn frames(data: &[u8]) -> Vec<FrameRef> {
    let mut out: Vec<FrameRef> = Vec::new();
    let mut stream: Option<FrameHeader> = None;
    let mut pos = id3v2_len(data);
    // Whether the frame at `pos` directly follows an accepted frame.
    let mut chained = false;
    while pos + 4 <= data.len() {
        let here = if chained {
            FrameHeader::parse(&data[pos..]).filter(|h| stream.is_none_or(|s| s.continues_with(h)))
        } else {
            confirmed(data, pos).filter(|h| stream.is_none_or(|s| s.continues_with(h)))
        };
        let Some(h) = here else {
            // Lost sync: look for the next confirmed header.
            chained = false;
            pos += 1;
            continue;
        };
        let len = h.len as usize;
        let Some(frame) = data.get(pos..pos + len) else {
            // Cut short at the end.
            break;
        };
        if stream.is_none() {
            stream = Some(h);
            if is_tag_frame(&h, frame) {
                pos += len;
                chained = true;
                continue;
            }
        }
        out.push(frame_ref(&h, pos));
        pos += len;
        chained = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An MPEG-2 Layer III 32 kbit/s 22.05 kHz mono frame (104 bytes, no padding), filled.
    fn frame(fill: u8) -> Vec<u8> {
        let mut f = vec![fill; 104];
        f[..4].copy_from_slice(&[0xFF, 0xF3, 0x40, 0xC4]);
        f
    }

    #[test]
    fn skips_id3_tag_frame_and_partial_end() {
        let mut data = b"ID3\x04\x00\x00\x00\x00\x00\x05hello".to_vec();
        let mut tag = frame(0);
        tag[4 + 9..4 + 9 + 4].copy_from_slice(b"Info");
        data.extend(&tag);
        for i in 0..3 {
            data.extend(frame(i + 1));
        }
        data.extend(&frame(9)[..50]);
        let f = frames(&data);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].offset, 15 + 104);
        assert_eq!(f[0].bytes(&data)[4], 1);
        assert_eq!(f[2].range(), 15 + 3 * 104..15 + 4 * 104);
    }

    #[test]
    fn resyncs_past_junk() {
        let mut data = frame(1);
        data.extend(frame(2));
        data.extend([0x12, 0xFF, 0x00, 0x44]);
        data.extend(frame(3));
        data.extend(frame(4));
        let f = frames(&data);
        assert_eq!(f.len(), 4);
        assert_eq!(f[2].offset, 2 * 104 + 4);
    }

    #[test]
    fn garbage_and_empty() {
        assert!(frames(&[]).is_empty());
        assert!(frames(&[0xFF; 3]).is_empty());
        assert!(frames(b"ID3\x04\x00\x00\x7F\x7F\x7F\x7F").is_empty());
        let mut x = 0x1234_5678u32;
        let noise: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for f in frames(&noise) {
            assert!(f.range().end <= noise.len());
        }
    }
}
