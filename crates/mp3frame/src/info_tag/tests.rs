use super::*;

const MPEG1_STEREO_128K: [u8; 4] = [0xFF, 0xFB, 0x90, 0x64];
// MPEG-2 Layer III, 32 kbps, 22.05 kHz, mono: the fixtures' recordings (104-byte frames).
const MPEG2_MONO_32K: [u8; 4] = [0xFF, 0xF3, 0x40, 0xC4];

fn gapless() -> Gapless {
    Gapless {
        frames: 383,
        audio_bytes: 39_832,
        encoder_delay: 576,
        padding: 1_234,
        vbr: false,
    }
}

#[test]
fn the_crc_is_crc16_arc() {
    // The check value of CRC-16/ARC.
    assert_eq!(crc16(b"123456789"), 0xBB3D);
    assert_eq!(crc16(b""), 0);
}

#[test]
fn an_mpeg1_stereo_tag_sits_after_32_bytes_of_side_information() {
    let f = tag_frame(MPEG1_STEREO_128K, &gapless(), &Toc::linear()).unwrap();
    let h = FrameHeader::parse(&f).unwrap();
    // 64 kbps is the lowest MPEG-1 rate at 44.1 kHz whose frame (208 bytes) holds 192.
    assert_eq!((h.bitrate_kbps, h.len, f.len()), (64, 208, 208));
    assert_eq!((h.sample_rate, h.channels), (44_100, 2));
    assert_eq!(f[1] & 1, 1, "no CRC");
    assert_eq!(f[3], MPEG1_STEREO_128K[3], "channel mode and flags kept");
    assert_eq!(&f[36..40], b"Info");
    assert_eq!(&f[40..44], &[0, 0, 0, 0x0F]);
    assert_eq!(u32::from_be_bytes(f[44..48].try_into().unwrap()), 383);
    assert_eq!(
        u32::from_be_bytes(f[48..52].try_into().unwrap()),
        39_832 + 208
    );
    assert_eq!(&f[52..152], &Toc::linear().0);
    assert_eq!(&f[156..165], b"LAME3.100");
    // Delay and padding: 12 bits each, 21 bytes into the LAME extension.
    let v = u32::from_be_bytes([0, f[177], f[178], f[179]]);
    assert_eq!((v >> 12, v & 0xFFF), (576, 1_234));
    // The music length, then the tag's CRC over the first 190 bytes.
    assert_eq!(
        u32::from_be_bytes(f[184..188].try_into().unwrap()),
        39_832 + 208
    );
    assert_eq!(u16::from_be_bytes([f[190], f[191]]), crc16(&f[..190]));
    assert!(f[192..].iter().all(|&b| b == 0));
    assert!(is_tag_frame(&f));
}

#[test]
fn a_low_bitrate_mono_stream_gets_a_frame_large_enough_for_the_tag() {
    let g = Gapless {
        vbr: true,
        ..gapless()
    };
    let f = tag_frame(MPEG2_MONO_32K, &g, &Toc::linear()).unwrap();
    let h = FrameHeader::parse(&f).unwrap();
    // 9 bytes of side information: the tag takes 13 + 156 = 169 bytes; 56 kbps gives 182.
    assert_eq!(
        (h.version, h.sample_rate, h.channels),
        (MpegVersion::Mpeg2, 22_050, 1)
    );
    assert_eq!((h.bitrate_kbps, h.len), (56, 182));
    assert_eq!(&f[13..17], b"Xing");
    let crc_at = 13 + 120 + 34;
    assert_eq!(
        u16::from_be_bytes([f[crc_at], f[crc_at + 1]]),
        crc16(&f[..crc_at])
    );
    assert!(is_tag_frame(&f));
    // The first audio frame it was made from is no tag frame.
    let mut audio = vec![0u8; 104];
    audio[..4].copy_from_slice(&MPEG2_MONO_32K);
    assert!(!is_tag_frame(&audio));
}

#[test]
fn only_layer3_headers_with_12_bit_fields_make_a_tag() {
    let layer2 = [0xFF, 0xFD, 0xA4, 0x04];
    assert_eq!(
        tag_frame(layer2, &gapless(), &Toc::linear()),
        Err(TagError::NotLayer3(Layer::Layer2))
    );
    assert_eq!(
        tag_frame([0, 1, 2, 3], &gapless(), &Toc::linear()),
        Err(TagError::BadHeader([0, 1, 2, 3]))
    );
    let long = Gapless {
        padding: 4096,
        ..gapless()
    };
    let e = tag_frame(MPEG1_STEREO_128K, &long, &Toc::linear()).unwrap_err();
    assert!(e.to_string().contains("at most 4095"), "{e}");
}

#[test]
fn a_window_is_shifted_by_the_decoders_delay() {
    // Output decoded samples 1152..(10 × 1152 − 100): drop one frame less the decoder's 529,
    // and at the end 100 plus the 529 the decoder added at the start.
    let g = Gapless::window(10, 1152, 10 * 1152 - 100).unwrap();
    assert_eq!((g.encoder_delay, g.padding), (1152 - 529, 629));
    // The output length is frames × spf − delay − padding, the window's length.
    let out = 10 * 1152 - u32::from(g.encoder_delay) - u32::from(g.padding);
    assert_eq!(out, 10 * 1152 - 100 - 1152);
    assert_eq!(
        Gapless::window(10, 528, 2000),
        None,
        "before the decoder's delay"
    );
    assert_eq!(
        Gapless::window(10, 529 + 4096, 9000),
        None,
        "delay over 12 bits"
    );
    assert_eq!(
        Gapless::window(10, 2000, 10 * 1152 + 1),
        None,
        "past the frames"
    );
    assert_eq!(Gapless::window(10, 2000, 2000), None, "empty");
    let g = Gapless::window_spf(10, 576, 576, 5760).unwrap();
    assert_eq!((g.encoder_delay, g.padding), (47, 529));
}

#[test]
fn the_seek_table_follows_byte_positions() {
    let at = Toc::sample_frames(1000);
    assert_eq!((at[0], at[1], at[99]), (0, 10, 990));
    // A stream whose second half is twice as dense as its first.
    let positions: [u64; 100] = std::array::from_fn(|i| {
        if i < 50 {
            i as u64 * 100
        } else {
            5000 + (i as u64 - 50) * 200
        }
    });
    let toc = Toc::from_positions(&positions, 15_000);
    assert_eq!((toc.0[0], toc.0[50], toc.0[99]), (0, 85, 252));
    assert!(toc.0.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(Toc::linear().0[50], 128);
}

#[test]
fn the_bit_reservoir_is_read_from_the_side_information() {
    // MPEG-1: 9 bits after the header; with a CRC, after it.
    let mut f = vec![0u8; 417];
    f[..4].copy_from_slice(&MPEG1_STEREO_128K);
    f[4] = 0b1000_0000;
    f[5] = 0b1000_0000;
    assert_eq!(main_data_begin(&f), Some(257));
    assert_eq!(main_data_capacity(&f), Some(417 - 4 - 32));
    f[1] &= !1;
    f[6] = 0xFF;
    f[7] = 0;
    assert_eq!(main_data_begin(&f), Some(510));
    assert_eq!(main_data_capacity(&f), Some(417 - 6 - 32));
    // MPEG-2: 8 bits.
    let mut f = vec![0u8; 104];
    f[..4].copy_from_slice(&MPEG2_MONO_32K);
    f[4] = 200;
    assert_eq!(main_data_begin(&f), Some(200));
    assert_eq!(main_data_capacity(&f), Some(104 - 4 - 9));
    assert_eq!(
        main_data_begin(&[0xFF, 0xFD, 0xA4, 0x04, 0, 0]),
        None,
        "layer II"
    );
}
