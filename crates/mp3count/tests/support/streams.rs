//! MPEG audio streams built byte by byte, for the unit tests (`src/tests.rs`), the oracle tests
//! (`tests/mp3_duration.rs`) and the fuzz targets, which all include this file by `#[path]`.
#![allow(dead_code)] // each includer uses its own subset

/// MPEG-1 Layer III 128 kbps 44.1 kHz joint stereo: 417 bytes.
pub const CBR128: [u8; 4] = [0xFF, 0xFB, 0x90, 0x64];
/// The same, padded: 418 bytes.
pub const CBR128_PADDED: [u8; 4] = [0xFF, 0xFB, 0x92, 0x64];
/// MPEG-1 Layer III 192 kbps 44.1 kHz joint stereo: 626 bytes.
pub const VBR192: [u8; 4] = [0xFF, 0xFB, 0xB0, 0x64];
/// MPEG-2.5 Layer III 8 kbps 8 kHz mono: 72 bytes.
pub const TINY: [u8; 4] = [0xFF, 0xE3, 0x18, 0xC4];
/// MPEG-2 Layer III 64 kbps 22.05 kHz mono: 208 bytes.
pub const MPEG2_64: [u8; 4] = [0xFF, 0xF3, 0x80, 0xC4];
/// The same, padded: 209 bytes.
pub const MPEG2_64_PADDED: [u8; 4] = [0xFF, 0xF3, 0x82, 0xC4];
/// MPEG-1 Layer II 192 kbps 44.1 kHz stereo: 626 bytes.
pub const LAYER2_192: [u8; 4] = [0xFF, 0xFD, 0xA0, 0x04];
/// MPEG-1 Layer III 128 kbps 48 kHz: same version and layer as CBR128, other sample rate.
pub const CBR128_48K: [u8; 4] = [0xFF, 0xFB, 0x94, 0x64];

/// One frame with header `h`, its body filled with a byte that is neither a sync byte nor
/// the start of a tag.
pub fn frame(h: [u8; 4]) -> Vec<u8> {
    let len = mp3frame::FrameHeader::parse(&h)
        .expect("a valid test header")
        .len as usize;
    let mut f = vec![0x55; len];
    f[..4].copy_from_slice(&h);
    f
}

pub fn frames(h: [u8; 4], n: usize) -> Vec<u8> {
    (0..n).flat_map(|_| frame(h)).collect()
}

/// A first frame carrying a Xing/Info tag and a LAME extension, as ffmpeg writes it, with all
/// four fields present (flags 0xF).
pub fn xing(id: &[u8; 4], count: u32) -> Vec<u8> {
    xing_with_flags(id, 0xF, count)
}

/// A Xing/Info frame (MPEG-1 Layer III 128 kbps 44.1 kHz) whose fields are those `flags` says
/// (1 frames, 2 bytes, 4 seek table, 8 quality), in that order; `count` goes in the first
/// present field.
pub fn xing_with_flags(id: &[u8; 4], flags: u32, count: u32) -> Vec<u8> {
    let mut f = vec![0u8; 417];
    f[..4].copy_from_slice(&CBR128);
    f[36..40].copy_from_slice(id);
    f[40..44].copy_from_slice(&flags.to_be_bytes());
    f[44..48].copy_from_slice(&count.to_be_bytes());
    let lame = 36 + 8 + 4 + 4 + 100 + 4;
    f[lame..lame + 9].copy_from_slice(b"Lavc59.37");
    f[lame + 21..lame + 24].copy_from_slice(&[0x24, 0x02, 0xF4]);
    f
}

/// An ID3v2.4 tag with `body` bytes after its header, and a footer if asked.
pub fn id3v2(body: usize, footer: bool) -> Vec<u8> {
    let mut t = b"ID3\x04\x00".to_vec();
    t.push(if footer { 0x10 } else { 0 });
    t.extend((0..4).rev().map(|i| ((body >> (7 * i)) & 0x7F) as u8));
    t.resize(10 + body, b'x');
    if footer {
        t.extend(b"3DI\x04\x00\x10");
        t.extend(&t[6..10].to_vec());
    }
    t
}

/// An APEv2 tag with `items` bytes of items, and a header as well as its footer if asked
/// (APEv1 has none).
pub fn ape(items: usize, with_header: bool) -> Vec<u8> {
    let mark = |flags: u32| {
        let mut b = b"APETAGEX".to_vec();
        b.extend(2000u32.to_le_bytes());
        b.extend((items as u32 + 32).to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend(flags.to_le_bytes());
        b.extend([0; 8]);
        b
    };
    let has_header = if with_header { 1 << 31 } else { 0 };
    let mut t = Vec::new();
    if with_header {
        t.extend(mark(has_header | 1 << 29));
    }
    t.extend(vec![b'i'; items]);
    t.extend(mark(has_header));
    t
}

pub fn id3v1() -> Vec<u8> {
    let mut t = b"TAG".to_vec();
    t.resize(128, b' ');
    t
}

pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}
