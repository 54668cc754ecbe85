//! A minimal MPEG audio frame finder: where each frame of a byte buffer starts and ends.
//!
//! Written from ISO 11172-3 / 13818-3 (and the MPEG 2.5 extension), independent of the job's
//! streaming scanner: here the whole buffer is at hand, so a frame is trusted when the next
//! one starts exactly where it ends (or it ends exactly at the end of the buffer), and a frame
//! that directly follows a trusted frame is trusted once it is whole.

use std::ops::Range;

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

/// Header fields needed to walk and compare frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// 1 (MPEG-1), 2 (MPEG-2) or 25 (MPEG-2.5).
    version: u8,
    /// 1, 2 or 3.
    layer: u8,
    sample_rate: u32,
    channels: u8,
    len: usize,
}

impl Header {
    /// Parses the 4 header bytes at the start of `b`; `None` if they are no valid header
    /// (free format, reserved values, forbidden Layer II bitrate/mode pairs, too short).
    pub(crate) fn parse(b: &[u8]) -> Option<Header> {
        let (b1, b2, b3) = match b {
            [0xFF, b1, b2, b3, ..] if b1 & 0xE0 == 0xE0 => (*b1, *b2, *b3),
            _ => return None,
        };
        let version = match (b1 >> 3) & 3 {
            0 => 25,
            2 => 2,
            3 => 1,
            _ => return None,
        };
        let layer = match (b1 >> 1) & 3 {
            1 => 3,
            2 => 2,
            3 => 1,
            _ => return None,
        };
        let index = usize::from(b2 >> 4);
        if index == 0 || index == 15 {
            return None;
        }
        // kbit/s by bitrate index 1..=14 (ISO 11172-3 2.4.2.3, ISO 13818-3 2.4.2.3).
        const V1L1: [u16; 14] = [
            32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
        ];
        const V1L2: [u16; 14] = [
            32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        ];
        const V1L3: [u16; 14] = [
            32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ];
        const V2L1: [u16; 14] = [
            32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ];
        const V2L23: [u16; 14] = [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
        let kbps = u32::from(match (version, layer) {
            (1, 1) => V1L1[index - 1],
            (1, 2) => V1L2[index - 1],
            (1, _) => V1L3[index - 1],
            (_, 1) => V2L1[index - 1],
            _ => V2L23[index - 1],
        });
        let base = match (b2 >> 2) & 3 {
            0 => 44_100,
            1 => 48_000,
            2 => 32_000,
            _ => return None,
        };
        let sample_rate = match version {
            1 => base,
            2 => base / 2,
            _ => base / 4,
        };
        let channels = if b3 >> 6 == 3 { 1 } else { 2 };
        if version == 1 && layer == 2 {
            // Layer II allows only some bitrate/mode pairs (ISO 11172-3 2.4.2.3).
            let forbidden = if channels == 1 {
                kbps >= 224
            } else {
                matches!(kbps, 32 | 48 | 56 | 80)
            };
            if forbidden {
                return None;
            }
        }
        let padding = u32::from((b2 >> 1) & 1);
        let bps = kbps * 1000;
        let len = match (layer, version) {
            (1, _) => (12 * bps / sample_rate + padding) * 4,
            (2, _) | (3, 1) => 144 * bps / sample_rate + padding,
            _ => 72 * bps / sample_rate + padding,
        };
        Some(Header {
            version,
            layer,
            sample_rate,
            channels,
            len: len as usize,
        })
    }

    pub(crate) fn samples(&self) -> u32 {
        match (self.layer, self.version) {
            (1, _) => 384,
            (2, _) | (3, 1) => 1152,
            _ => 576,
        }
    }

    /// Same stream parameters: a decoder carries on across such frames.
    fn continues(&self, other: &Header) -> bool {
        self.version == other.version
            && self.layer == other.layer
            && self.sample_rate == other.sample_rate
            && self.channels == other.channels
    }

    /// Whether the frame `frame` (starting with this header) is a Xing/Info or VBRI tag frame.
    fn is_tag_frame(&self, frame: &[u8]) -> bool {
        if self.layer != 3 {
            return false;
        }
        let side_info = match (self.version, self.channels) {
            (1, 1) => 17,
            (1, _) => 32,
            (_, 1) => 9,
            _ => 17,
        };
        let at = 4 + side_info;
        matches!(frame.get(at..at + 4), Some(b"Xing" | b"Info"))
            || frame.get(36..40) == Some(b"VBRI")
    }

    fn to_ref(self, offset: usize) -> FrameRef {
        FrameRef {
            offset,
            len: self.len,
            sample_rate: self.sample_rate,
            samples: self.samples(),
            channels: self.channels,
        }
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
fn confirmed(data: &[u8], pos: usize) -> Option<Header> {
    let h = Header::parse(data.get(pos..)?)?;
    let end = pos.checked_add(h.len)?;
    if end == data.len() {
        return Some(h);
    }
    let next = Header::parse(data.get(end..)?)?;
    h.continues(&next).then_some(h)
}

/// The MPEG audio frames of `data`, in order: ID3v2 tags are skipped, so is a Xing/Info/VBRI
/// header frame at the start of the stream (it carries no audio), and so is a frame cut short at
/// the end (a file still being written, or a killed recorder's). Junk between frames is
/// skipped by resynchronising on a header that the next frame confirms. Never panics; an empty
/// result means no audio.
pub fn frames(data: &[u8]) -> Vec<FrameRef> {
    let mut out: Vec<FrameRef> = Vec::new();
    let mut stream: Option<Header> = None;
    let mut pos = id3v2_len(data);
    // Whether the frame at `pos` directly follows an accepted frame.
    let mut chained = false;
    while pos + 4 <= data.len() {
        let here = if chained {
            Header::parse(&data[pos..]).filter(|h| stream.is_none_or(|s| s.continues(h)))
        } else {
            confirmed(data, pos).filter(|h| stream.is_none_or(|s| s.continues(h)))
        };
        let Some(h) = here else {
            // Lost sync: look for the next confirmed header.
            chained = false;
            pos += 1;
            continue;
        };
        let Some(frame) = data.get(pos..pos + h.len) else {
            // Cut short at the end.
            break;
        };
        if stream.is_none() {
            stream = Some(h);
            if h.is_tag_frame(frame) {
                pos += h.len;
                chained = true;
                continue;
            }
        }
        out.push(h.to_ref(pos));
        pos += h.len;
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
    fn header_lengths() {
        let h = Header::parse(&[0xFF, 0xF3, 0x40, 0xC4]).unwrap();
        assert_eq!(
            (h.version, h.layer, h.sample_rate, h.channels, h.len),
            (2, 3, 22_050, 1, 104)
        );
        assert_eq!(h.samples(), 576);
        let h = Header::parse(&[0xFF, 0xFB, 0x90, 0x64]).unwrap();
        assert_eq!(
            (h.sample_rate, h.channels, h.len, h.samples()),
            (44_100, 2, 417, 1152)
        );
        assert_eq!(Header::parse(&[0xFF, 0xFB, 0x92, 0x64]).unwrap().len, 418);
        assert!(Header::parse(&[0xFF, 0xFB, 0x00, 0x64]).is_none()); // free format
        assert!(Header::parse(&[0xFF, 0xFB, 0x9C, 0x64]).is_none()); // reserved rate
        assert!(Header::parse(&[0xFF, 0xFB, 0x90]).is_none());
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
