//! MPEG audio frame headers (ISO 11172-3 / 13818-3 and the MPEG 2.5 extension): the one
//! parser that the job's streaming frame counter and the aligner's frame finder share.
//!
//! [`info_tag`] writes the Xing/Info and LAME header frame that heads a stream cut from a longer
//! one (gapless playback of an exported range).
//!
//! Pure and allocation-free (the header parser); `parse` is `#[inline]` because the job calls it for every frame
//! of every archived byte (frame counting runs at several GB/s).
#![forbid(unsafe_code)]

use serde::Serialize;

pub mod info_tag;

/// Bytes of a header word.
pub const HEADER_LEN: usize = 4;

/// MPEG audio version, from the two version bits of the frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum MpegVersion {
    Mpeg1,
    Mpeg2,
    /// The unofficial extension for 8, 11.025 and 12 kHz.
    Mpeg25,
}

/// MPEG audio layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Layer {
    Layer1,
    Layer2,
    Layer3,
}

/// The fields of one frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub version: MpegVersion,
    pub layer: Layer,
    pub bitrate_kbps: u16,
    pub sample_rate: u32,
    pub channels: u8,
    /// The whole frame, header included, in bytes.
    pub len: u32,
}

// Bitrates in kbps by bitrate index 1..=14; index 0 (free format) and 15 are rejected.
const KBPS_V1_L1: [u16; 14] = [
    32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
];
const KBPS_V1_L2: [u16; 14] = [
    32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
];
const KBPS_V1_L3: [u16; 14] = [
    32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
const KBPS_V2_L1: [u16; 14] = [
    32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
];
const KBPS_V2_L23: [u16; 14] = [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

impl FrameHeader {
    /// Parses a 4-byte frame header; `None` for anything a decoder would refuse, including
    /// free-format bitrate (its frame length is not in the header, so it cannot be skipped).
    #[inline]
    pub fn parse(b: &[u8]) -> Option<Self> {
        let &[b0, b1, b2, b3, ..] = b else {
            return None;
        };
        // 11 sync bits.
        if b0 != 0xFF || b1 & 0xE0 != 0xE0 {
            return None;
        }
        let version = match (b1 >> 3) & 3 {
            0 => MpegVersion::Mpeg25,
            2 => MpegVersion::Mpeg2,
            3 => MpegVersion::Mpeg1,
            _ => return None,
        };
        let layer = match (b1 >> 1) & 3 {
            1 => Layer::Layer3,
            2 => Layer::Layer2,
            3 => Layer::Layer1,
            _ => return None,
        };
        let bitrate_index = usize::from(b2 >> 4);
        if bitrate_index == 0 || bitrate_index == 15 {
            return None;
        }
        let table = match (version, layer) {
            (MpegVersion::Mpeg1, Layer::Layer1) => &KBPS_V1_L1,
            (MpegVersion::Mpeg1, Layer::Layer2) => &KBPS_V1_L2,
            (MpegVersion::Mpeg1, Layer::Layer3) => &KBPS_V1_L3,
            (_, Layer::Layer1) => &KBPS_V2_L1,
            _ => &KBPS_V2_L23,
        };
        let bitrate_kbps = table[bitrate_index - 1];
        let base_rate = match (b2 >> 2) & 3 {
            0 => 44_100,
            1 => 48_000,
            2 => 32_000,
            _ => return None,
        };
        let sample_rate = match version {
            MpegVersion::Mpeg1 => base_rate,
            MpegVersion::Mpeg2 => base_rate / 2,
            MpegVersion::Mpeg25 => base_rate / 4,
        };
        let channels = if b3 >> 6 == 3 { 1 } else { 2 };
        // Layer II forbids some bitrate/mode pairs; refusing them (as symphonia does) makes a
        // false sync in garbage less likely.
        if layer == Layer::Layer2 && version == MpegVersion::Mpeg1 {
            let bad = if channels == 1 {
                bitrate_kbps >= 224
            } else {
                matches!(bitrate_kbps, 32 | 48 | 56 | 80)
            };
            if bad {
                return None;
            }
        }
        let padding = u32::from((b2 >> 1) & 1);
        let bps = u32::from(bitrate_kbps) * 1000;
        // ISO 11172-3 2.4.3.1: a slot is 4 bytes in Layer I, 1 byte otherwise; MPEG-2 and 2.5
        // Layer III frames hold one granule instead of two, hence 72.
        let len = match (layer, version) {
            (Layer::Layer1, _) => (12 * bps / sample_rate + padding) * 4,
            (Layer::Layer2, _) | (Layer::Layer3, MpegVersion::Mpeg1) => {
                144 * bps / sample_rate + padding
            }
            (Layer::Layer3, _) => 72 * bps / sample_rate + padding,
        };
        Some(FrameHeader {
            version,
            layer,
            bitrate_kbps,
            sample_rate,
            channels,
            len,
        })
    }

    /// PCM samples per channel that one frame decodes to.
    #[inline]
    pub fn samples(&self) -> u32 {
        match (self.layer, self.version) {
            (Layer::Layer1, _) => 384,
            (Layer::Layer2, _) | (Layer::Layer3, MpegVersion::Mpeg1) => 1152,
            (Layer::Layer3, _) => 576,
        }
    }

    /// Whether `next` can follow this frame in one stream: symphonia's test, which is also
    /// what a decoder needs to carry on without a reset.
    #[inline]
    pub fn continues_with(&self, next: &FrameHeader) -> bool {
        self.version == next.version
            && self.layer == next.layer
            && self.sample_rate == next.sample_rate
            && self.channels == next.channels
    }

    /// Where in this frame a Xing/Info tag would start: right after the Layer III side
    /// information, without the optional CRC, as ffmpeg looks for it. `None` for Layers I
    /// and II, which carry no such tag.
    pub fn xing_tag_offset(&self) -> Option<usize> {
        if self.layer != Layer::Layer3 {
            return None;
        }
        let side_info = match (self.version, self.channels) {
            (MpegVersion::Mpeg1, 1) => 17,
            (MpegVersion::Mpeg1, _) => 32,
            (_, 1) => 9,
            (_, _) => 17,
        };
        Some(HEADER_LEN + side_info)
    }
}

/// Where the last `count` frames of `tail` start: `tail` is the end of a stream, and the
/// frames must follow one another without a byte between them up to its last byte (or up
/// to an ID3v1 tag there), each one able to follow the first ([`FrameHeader::continues_with`]).
/// At least `count + 1` such frames must be found, so that a false sync in the bytes before
/// them cannot decide where they start. `None` where the stream does not end that way (a
/// killed writer's partial frame, junk).
///
/// The frames a stream cut from a longer one needs before its first frame, for the decoder
/// to warm up (its bit reservoir, its transform's overlap), are found this way at the end of
/// the file before it.
pub fn tail_frames(tail: &[u8], count: usize) -> Option<usize> {
    const ID3V1_LEN: usize = 128;
    let end = match tail.len().checked_sub(ID3V1_LEN) {
        Some(at) if tail[at..].starts_with(b"TAG") => at,
        _ => tail.len(),
    };
    for start in 0..end {
        let Some(first) = FrameHeader::parse(&tail[start..end]) else {
            continue;
        };
        let mut starts = vec![start];
        let mut at = start + first.len as usize;
        while at < end {
            match FrameHeader::parse(&tail[at..end]) {
                Some(h) if first.continues_with(&h) => {
                    starts.push(at);
                    at += h.len as usize;
                }
                _ => break,
            }
        }
        if at == end && starts.len() > count {
            return Some(starts[starts.len() - count]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(bytes: [u8; 4]) -> FrameHeader {
        FrameHeader::parse(&bytes).expect("valid header")
    }

    #[test]
    fn frame_lengths_follow_the_standard_formulas() {
        // MPEG-1 Layer III 128 kbps 44.1 kHz stereo: 417 bytes, 418 padded.
        let h = hdr([0xFF, 0xFB, 0x90, 0x64]);
        assert_eq!(
            (h.version, h.layer, h.bitrate_kbps),
            (MpegVersion::Mpeg1, Layer::Layer3, 128)
        );
        assert_eq!(
            (h.sample_rate, h.channels, h.len, h.samples()),
            (44_100, 2, 417, 1152)
        );
        assert_eq!(hdr([0xFF, 0xFB, 0x92, 0x64]).len, 418);
        // MPEG-2 Layer III 64 kbps 22.05 kHz mono: 72 * 64000 / 22050 = 208.
        let h = hdr([0xFF, 0xF3, 0x80, 0xC4]);
        assert_eq!(
            (h.version, h.sample_rate, h.channels),
            (MpegVersion::Mpeg2, 22_050, 1)
        );
        assert_eq!((h.len, h.samples()), (208, 576));
        // MPEG-2.5 Layer III 8 kbps 8 kHz: 72 bytes.
        let h = hdr([0xFF, 0xE3, 0x18, 0xC4]);
        assert_eq!(
            (h.version, h.sample_rate, h.len),
            (MpegVersion::Mpeg25, 8_000, 72)
        );
        // MPEG-1 Layer II 192 kbps 48 kHz: 576 bytes, 1152 samples.
        let h = hdr([0xFF, 0xFD, 0xA4, 0x04]);
        assert_eq!((h.layer, h.len, h.samples()), (Layer::Layer2, 576, 1152));
        // MPEG-1 Layer I 384 kbps 48 kHz, padded: (12 * 384000 / 48000 + 1) * 4 = 388.
        let h = hdr([0xFF, 0xFF, 0xC6, 0x04]);
        assert_eq!((h.layer, h.len, h.samples()), (Layer::Layer1, 388, 384));
    }

    #[test]
    fn invalid_headers_are_refused() {
        for bad in [
            [0xFF, 0xFB, 0x00, 0x64], // free format
            [0xFF, 0xFB, 0xF0, 0x64], // bitrate index 15
            [0xFF, 0xFB, 0x9C, 0x64], // sample rate index 3
            [0xFF, 0xF9, 0x90, 0x64], // layer 0
            [0xFF, 0xEB, 0x90, 0x64], // version 01
            [0xFE, 0xFB, 0x90, 0x64], // no sync
            [0xFF, 0xFD, 0x14, 0x04], // MPEG-1 Layer II 32 kbps stereo
            [0xFF, 0xFD, 0xB4, 0xC4], // MPEG-1 Layer II 224 kbps mono
        ] {
            assert_eq!(FrameHeader::parse(&bad), None, "{bad:02x?}");
        }
        // The same Layer II rates are fine the other way round.
        assert!(FrameHeader::parse(&[0xFF, 0xFD, 0x14, 0xC4]).is_some());
        assert!(FrameHeader::parse(&[0xFF, 0xFD, 0xB4, 0x04]).is_some());
        assert_eq!(FrameHeader::parse(&[0xFF, 0xFB, 0x90]), None); // too short
    }

    proptest::proptest! {
        /// Both frame walkers step by `len`: a header must never claim a frame that ends
        /// inside its own 4 bytes, or a walk over garbage would stop making progress.
        #[test]
        fn any_accepted_header_spans_more_than_itself(b in proptest::array::uniform4(0u8..)) {
            if let Some(h) = FrameHeader::parse(&b) {
                proptest::prop_assert!(h.len as usize > HEADER_LEN, "{b:02x?} -> {h:?}");
                proptest::prop_assert!(matches!(h.samples(), 384 | 576 | 1152));
            }
        }
    }

    #[test]
    fn the_last_frames_of_a_stream_are_found_from_its_end() {
        // Junk, then five 417- and 418-byte frames, the last one padded.
        let frame = |padded: bool| {
            let mut f = vec![0u8; if padded { 418 } else { 417 }];
            f[..4].copy_from_slice(&[0xFF, 0xFB, if padded { 0x92 } else { 0x90 }, 0x64]);
            f
        };
        let mut tail = vec![0x55u8; 100];
        let mut starts = Vec::new();
        for i in 0..5 {
            starts.push(tail.len());
            tail.extend(frame(i == 4));
        }
        assert_eq!(tail_frames(&tail, 3), Some(starts[2]));
        assert_eq!(tail_frames(&tail, 4), Some(starts[1]));
        // Count + 1 frames are needed.
        assert_eq!(tail_frames(&tail, 5), None);
        // An ID3v1 tag after them is not a frame.
        let mut tagged = tail.clone();
        tagged.extend(b"TAG");
        tagged.extend([0u8; 125]);
        assert_eq!(tail_frames(&tagged, 3), Some(starts[2]));
        // A partial last frame (a killed writer's) ends no chain.
        assert_eq!(tail_frames(&tail[..tail.len() - 10], 3), None);
    }
}
