//! The Xing/Info/VBRI header frame that encoders put first; frame headers themselves are
//! [`mp3frame`]'s.

use mp3frame::FrameHeader;
use serde::Serialize;

/// What a Xing/Info (LAME) or VBRI header frame claims about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct XingInfo {
    /// Audio frames, excluding the header frame; a killed ffmpeg leaves a placeholder 0 here.
    pub frames: Option<u32>,
    /// Stream bytes as the encoder counted them.
    pub bytes: Option<u32>,
    /// The tag says `Info`: LAME and ffmpeg write that instead of `Xing` for CBR streams.
    pub is_info_cbr: bool,
    /// Samples the encoder added at the start (LAME tag), for gapless trimming.
    pub encoder_delay: Option<u16>,
    /// Samples the encoder added at the end (LAME tag).
    pub encoder_padding: Option<u16>,
}

/// How much of a first frame [`parse_vbr_header`] may look at: the Xing tag sits at most 36
/// bytes in, its fields take up to 120 bytes and the LAME fields we read 24 more.
pub(crate) const VBR_PREFIX_LEN: usize = 36 + 120 + 24;

/// Reads a Xing/Info or VBRI tag from the start of a frame (`frame` may be cut short: fields
/// beyond it come out `None`). Like ffmpeg, the Xing tag is looked for right after the side
/// information, without the optional CRC.
pub(crate) fn parse_vbr_header(hdr: &FrameHeader, frame: &[u8]) -> Option<XingInfo> {
    let tag = hdr.xing_tag_offset()?;
    let frame = &frame[..frame.len().min(hdr.len as usize)];
    let be32 = |at: usize| -> Option<u32> {
        let b = frame.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    match frame.get(tag..tag + 4) {
        Some(id @ (b"Xing" | b"Info")) => {
            let flags = be32(tag + 4)?;
            let mut at = tag + 8;
            let mut field = |present: bool, len: usize| -> Option<usize> {
                let here = at;
                if present {
                    at += len;
                }
                present.then_some(here)
            };
            let frames = field(flags & 1 != 0, 4).and_then(be32);
            let bytes = field(flags & 2 != 0, 4).and_then(be32);
            field(flags & 4 != 0, 100); // seek table
            field(flags & 8 != 0, 4); // quality
            let lame = at;
            // The LAME extension: 9-byte encoder name, then 12 bytes of gains and flags, then
            // delay and padding as two 12-bit numbers. Only trusted from encoders known to
            // write it (the list ffmpeg and symphonia use).
            let (encoder_delay, encoder_padding) = match frame.get(lame..lame + 24) {
                Some(l) if matches!(&l[..4], b"LAME" | b"Lavf" | b"Lavc") => {
                    let v = u32::from_be_bytes([0, l[21], l[22], l[23]]);
                    (Some((v >> 12) as u16), Some((v & 0xFFF) as u16))
                }
                _ => (None, None),
            };
            Some(XingInfo {
                frames,
                bytes,
                is_info_cbr: id == b"Info",
                encoder_delay,
                encoder_padding,
            })
        }
        // Fraunhofer's VBRI tag sits at a fixed 36 bytes, version 1 only.
        _ if frame.get(36..40) == Some(b"VBRI") && frame.get(40..42) == Some(&[0, 1]) => {
            Some(XingInfo {
                frames: be32(50),
                bytes: be32(46),
                is_info_cbr: false,
                encoder_delay: None,
                encoder_padding: None,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xing_frame(id: &[u8; 4], flags: u32, frames: u32, encoder: &[u8; 4]) -> Vec<u8> {
        let mut f = vec![0u8; 417];
        f[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        f[36..40].copy_from_slice(id);
        f[40..44].copy_from_slice(&flags.to_be_bytes());
        f[44..48].copy_from_slice(&frames.to_be_bytes());
        f[48..52].copy_from_slice(&4321u32.to_be_bytes());
        let lame = 36 + 8 + 4 + 4 + 100 + 4;
        f[lame..lame + 4].copy_from_slice(encoder);
        f[lame + 21..lame + 24].copy_from_slice(&[0x24, 0x02, 0xF4]); // 576, 756
        f
    }

    #[test]
    fn xing_info_and_lame_fields() {
        let f = xing_frame(b"Info", 0xF, 116, b"Lavc");
        let h = FrameHeader::parse(&f).unwrap();
        let x = parse_vbr_header(&h, &f).unwrap();
        assert_eq!(
            x,
            XingInfo {
                frames: Some(116),
                bytes: Some(4321),
                is_info_cbr: true,
                encoder_delay: Some(576),
                encoder_padding: Some(756)
            }
        );
        // Unknown encoder: no delay/padding. Placeholder Xing: frames 0.
        let f = xing_frame(b"Xing", 0xF, 0, b"ABCD");
        let x = parse_vbr_header(&h, &f).unwrap();
        assert_eq!(
            (x.frames, x.is_info_cbr, x.encoder_delay),
            (Some(0), false, None)
        );
        // Without the frames flag the count is absent and the bytes field moves up.
        let f = xing_frame(b"Xing", 0x2, 4321, b"LAME");
        let x = parse_vbr_header(&h, &f).unwrap();
        assert_eq!((x.frames, x.bytes), (None, Some(4321)));
        // Cut short: the fields that are there still count.
        let x = parse_vbr_header(&h, &xing_frame(b"Info", 0xF, 7, b"LAME")[..48]).unwrap();
        assert_eq!((x.frames, x.bytes, x.encoder_delay), (Some(7), None, None));
        // No tag at all.
        assert_eq!(
            parse_vbr_header(&h, &xing_frame(b"Nope", 0xF, 7, b"LAME")),
            None
        );
    }

    #[test]
    fn what_mp3frame_writes_reads_back() {
        use mp3frame::info_tag::{tag_frame, Gapless, Toc};
        let g = Gapless {
            frames: 1_000,
            audio_bytes: 104_000,
            encoder_delay: 1_000,
            padding: 700,
            vbr: false,
        };
        let f = tag_frame([0xFF, 0xF3, 0x40, 0xC4], &g, &Toc::linear()).unwrap();
        let h = FrameHeader::parse(&f).unwrap();
        assert_eq!(
            parse_vbr_header(&h, &f),
            Some(XingInfo {
                frames: Some(1_000),
                bytes: Some(104_000 + f.len() as u32),
                is_info_cbr: true,
                encoder_delay: Some(1_000),
                encoder_padding: Some(700),
            })
        );
    }

    #[test]
    fn vbri_tag() {
        let mut f = vec![0u8; 417];
        f[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        f[36..42].copy_from_slice(b"VBRI\x00\x01");
        f[46..50].copy_from_slice(&9999u32.to_be_bytes());
        f[50..54].copy_from_slice(&77u32.to_be_bytes());
        let h = FrameHeader::parse(&f).unwrap();
        let x = parse_vbr_header(&h, &f).unwrap();
        assert_eq!(
            (x.frames, x.bytes, x.is_info_cbr),
            (Some(77), Some(9999), false)
        );
    }
}
