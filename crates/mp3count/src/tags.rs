//! Recognising the metadata tags that may sit around MPEG audio frames, from their first (or,
//! for an APE footer, last) bytes only, so the scanner can step over them without buffering.

/// Bytes of an ID3v2 header (and of its optional footer).
pub(crate) const ID3V2_HEADER_LEN: usize = 10;
/// Bytes of an APE tag header or footer.
pub(crate) const APE_HEADER_LEN: usize = 32;
/// An ID3v1 tag is exactly this long, `TAG` first.
pub(crate) const ID3V1_LEN: u64 = 128;

/// The whole length of the ID3v2 tag whose 10-byte header is `b`, footer included (the same
/// checks as ffmpeg's `ff_id3v2_match`).
pub(crate) fn id3v2_len(b: &[u8]) -> Option<u64> {
    let b: &[u8; ID3V2_HEADER_LEN] = b.get(..ID3V2_HEADER_LEN)?.try_into().ok()?;
    if &b[..3] != b"ID3" || b[3] == 0xFF || b[4] == 0xFF || b[6..].iter().any(|&x| x & 0x80 != 0) {
        return None;
    }
    // The size is "syncsafe": 4 x 7 bits, not counting the header or footer.
    let size = b[6..]
        .iter()
        .fold(0u64, |acc, &x| (acc << 7) | u64::from(x));
    let footer = if b[5] & 0x10 != 0 {
        ID3V2_HEADER_LEN as u64
    } else {
        0
    };
    Some(ID3V2_HEADER_LEN as u64 + size + footer)
}

/// An APE tag header or footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ApeMark {
    /// `true` for the header (first 32 bytes), `false` for the footer (last 32 bytes).
    pub is_header: bool,
    /// The whole tag: items, footer and header if it has one.
    pub tag_len: u64,
}

/// Reads the 32-byte APE header or footer `b`.
pub(crate) fn ape_mark(b: &[u8]) -> Option<ApeMark> {
    let b = b.get(..APE_HEADER_LEN)?;
    if &b[..8] != b"APETAGEX" {
        return None;
    }
    let le32 = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    // `size` counts the items and the footer, never the header.
    let size = u64::from(le32(12));
    let flags = le32(20);
    if size < APE_HEADER_LEN as u64 {
        return None;
    }
    let has_header = flags & (1 << 31) != 0;
    Some(ApeMark {
        is_header: flags & (1 << 29) != 0,
        tag_len: size + if has_header { APE_HEADER_LEN as u64 } else { 0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id3v2_sizes_are_syncsafe_and_count_the_footer() {
        assert_eq!(
            id3v2_len(b"ID3\x04\x00\x00\x00\x00\x00\x23"),
            Some(10 + 0x23)
        );
        assert_eq!(
            id3v2_len(b"ID3\x04\x00\x00\x00\x00\x01\x00"),
            Some(10 + 128)
        );
        assert_eq!(
            id3v2_len(b"ID3\x04\x00\x10\x7f\x7f\x7f\x7f"),
            Some(20 + (1 << 28) - 1)
        );
        assert_eq!(id3v2_len(b"ID3\x04\x00\x00\x00\x00\x00\x80"), None);
        assert_eq!(id3v2_len(b"ID3\xff\x00\x00\x00\x00\x00\x00"), None);
        assert_eq!(id3v2_len(b"ID4\x04\x00\x00\x00\x00\x00\x00"), None);
        assert_eq!(id3v2_len(b"ID3\x04\x00\x00\x00"), None);
    }

    fn ape(flags: u32, size: u32) -> Vec<u8> {
        let mut b = b"APETAGEX".to_vec();
        b.extend(2000u32.to_le_bytes());
        b.extend(size.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend(flags.to_le_bytes());
        b.extend([0; 8]);
        b
    }

    #[test]
    fn ape_header_and_footer() {
        let h = 1 << 31 | 1 << 29;
        assert_eq!(
            ape_mark(&ape(h, 100)),
            Some(ApeMark {
                is_header: true,
                tag_len: 132
            })
        );
        let f = 1 << 31;
        assert_eq!(
            ape_mark(&ape(f, 100)),
            Some(ApeMark {
                is_header: false,
                tag_len: 132
            })
        );
        assert_eq!(
            ape_mark(&ape(0, 100)),
            Some(ApeMark {
                is_header: false,
                tag_len: 100
            })
        );
        assert_eq!(ape_mark(&ape(0, 31)), None);
        assert_eq!(ape_mark(&ape(0, 100)[..31]), None);
    }
}
