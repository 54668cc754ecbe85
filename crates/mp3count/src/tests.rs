//! Unit tests on streams built byte by byte (builders in `tests/support/streams.rs`); the tests
//! against real ffmpeg output are in `crates/job/tests/measure_ffmpeg.rs`, against the
//! `mp3-duration` crate in `tests/mp3_duration.rs`.

use super::*;
use proptest::prelude::*;

#[path = "../tests/support/streams.rs"]
mod streams;
use streams::*;

fn scan(bytes: &[u8]) -> Mp3Facts {
    let mut s = Mp3Scanner::new();
    s.feed(bytes);
    s.finish(bytes.len() as u64)
}

fn scan_bytewise(bytes: &[u8]) -> Mp3Facts {
    let mut s = Mp3Scanner::new();
    for b in bytes {
        s.feed(std::slice::from_ref(b));
    }
    s.finish(bytes.len() as u64)
}

/// Scans both ways, checks they agree and that the byte accounting adds up.
fn check(bytes: &[u8]) -> Mp3Facts {
    let f = scan(bytes);
    assert_eq!(f, scan_bytewise(bytes), "split changed the result");
    let header_frame = if f.header.is_some() { 417 } else { 0 };
    if f.leading_bytes != bytes.len() as u64 {
        assert_eq!(
            f.leading_bytes + header_frame + f.audio_bytes + f.skipped_bytes + f.trailing_bytes,
            bytes.len() as u64,
            "{f:?}"
        );
    }
    f
}

#[test]
fn plain_cbr_stream() {
    let f = check(&frames(CBR128, 10));
    assert_eq!(
        (f.frames, f.audio_bytes, f.leading_bytes, f.trailing_bytes),
        (10, 4170, 0, 0)
    );
    assert_eq!(
        (f.sample_rate, f.samples_per_frame, f.channels),
        (44_100, 1152, 2)
    );
    assert_eq!(
        (f.version, f.layer),
        (Some(MpegVersion::Mpeg1), Some(Layer::Layer3))
    );
    assert_eq!((f.bitrate_kbps_min, f.bitrate_kbps_max), (128, 128));
    assert!(f.clean_end && f.has_audio() && f.header.is_none() && !f.header_mismatch);
    assert_eq!(f.resyncs, 0);
}

#[test]
fn empty_and_tiny_inputs() {
    assert_eq!(check(&[]), Mp3Facts::default());
    assert!(!check(&[]).has_audio());
    let f = check(&CBR128);
    assert_eq!((f.frames, f.leading_bytes, f.clean_end), (0, 4, false));
    // One frame alone ends exactly at the end: it needs no next header.
    let f = check(&frame(CBR128));
    assert_eq!((f.frames, f.clean_end), (1, true));
}

#[test]
fn xing_header_frame_is_not_audio_and_its_count_is_checked() {
    let f = check(&cat(&[&xing(b"Info", 10), &frames(CBR128, 10)]));
    assert_eq!((f.frames, f.leading_bytes, f.audio_bytes), (10, 0, 4170));
    let h = f.header.unwrap();
    assert_eq!((h.frames, h.is_info_cbr), (Some(10), true));
    assert_eq!((h.encoder_delay, h.encoder_padding), (Some(576), Some(756)));
    assert!(!f.header_mismatch && f.clean_end);

    // A killed ffmpeg: placeholder count 0, a partial frame at the end.
    let mut killed = cat(&[&xing(b"Xing", 0), &frames(CBR128, 10)]);
    killed.extend(&frame(CBR128)[..200]);
    let f = check(&killed);
    assert_eq!((f.frames, f.trailing_bytes, f.clean_end), (10, 200, false));
    assert_eq!(f.header.unwrap().frames, Some(0));
    assert!(f.header_mismatch);
}

#[test]
fn id3v2_tags_before_the_audio() {
    let f = check(&cat(&[
        &id3v2(5000, false),
        &id3v2(100, true),
        &frames(CBR128, 5),
    ]));
    assert_eq!((f.frames, f.leading_bytes, f.resyncs), (5, 5010 + 120, 0));
    // A sync word inside the tag is never looked at.
    let mut tag = id3v2(1000, false);
    tag[100..100 + 417].copy_from_slice(&frame(CBR128));
    tag[517..521].copy_from_slice(&CBR128);
    assert_eq!(check(&cat(&[&tag, &frames(CBR128, 3)])).frames, 3);
    // A tag claiming more than the file holds: no audio, no panic.
    let f = check(&id3v2(1 << 27, false)[..2000]);
    assert_eq!((f.frames, f.leading_bytes), (0, 2000));
}

#[test]
fn junk_before_the_first_frame_including_false_sync() {
    // The false header's frame would end inside the real frames, off their grid.
    let junk = cat(&[&[1, 2, 3], &CBR128, &[9; 50]]);
    let f = check(&cat(&[&junk, &frames(CBR128, 4)]));
    assert_eq!(
        (f.frames, f.leading_bytes, f.resyncs),
        (4, junk.len() as u64, 0)
    );
}

#[test]
fn junk_between_frames_is_a_resync() {
    let f = check(&cat(&[&frames(CBR128, 3), &[0u8; 33], &frames(CBR128, 4)]));
    assert_eq!(
        (f.frames, f.skipped_bytes, f.resyncs, f.clean_end),
        (7, 33, 1, true)
    );
}

#[test]
fn tags_at_the_end() {
    let audio = frames(CBR128, 3);
    for (tail, clean) in [
        (id3v1(), true),
        (cat(&[&ape(50, true), &id3v1()]), true),
        (cat(&[&ape(50, false), &id3v1()]), true),
        (ape(70, false), true),
        (id3v2(30, false), true),
        (id3v1()[..100].to_vec(), false),
        (vec![0; 3], false),
        (vec![0; 40], false),
    ] {
        let f = check(&cat(&[&audio, &tail]));
        assert_eq!(f.frames, 3, "{tail:?}");
        assert_eq!(f.trailing_bytes, tail.len() as u64);
        assert_eq!(f.clean_end, clean, "{tail:?}");
    }
}

#[test]
fn truncated_mid_frame_and_mid_header() {
    let whole = frames(CBR128, 5);
    for cut in [1, 2, 3, 4, 5, 416] {
        let f = check(&whole[..whole.len() - cut]);
        assert_eq!((f.frames, f.clean_end), (4, false), "cut {cut}");
        assert_eq!(f.trailing_bytes, 417 - cut as u64);
    }
}

#[test]
fn two_files_joined() {
    let file = cat(&[
        &id3v2(40, false),
        &xing(b"Info", 3),
        &frames(CBR128, 3),
        &id3v1(),
    ]);
    let f = check(&cat(&[&file, &file]));
    // The second file's tags are skipped and its Xing frame decodes as audio, as in ffmpeg.
    assert_eq!((f.frames, f.resyncs, f.clean_end), (3 + 1 + 3, 0, true));
    assert_eq!(f.skipped_bytes, 128 + 50);
    assert!(f.header_mismatch);
}

#[test]
fn vbr_and_small_frames() {
    let f = check(&cat(&[
        &frames(CBR128, 2),
        &frames(VBR192, 2),
        &frames(CBR128, 1),
    ]));
    assert_eq!(
        (f.frames, f.bitrate_kbps_min, f.bitrate_kbps_max),
        (5, 128, 192)
    );
    let f = check(&frames(TINY, 20));
    assert_eq!(
        (f.frames, f.sample_rate, f.samples_per_frame),
        (20, 8000, 576)
    );
    assert_eq!((f.version, f.channels), (Some(MpegVersion::Mpeg25), 1));
    assert_eq!(f.duration(), Duration::from_millis(1440));
}

#[test]
fn a_change_of_sample_rate_breaks_the_chain_but_both_parts_count() {
    let f = check(&cat(&[&frames(CBR128, 3), &frames(CBR128_48K, 3)]));
    assert_eq!((f.frames, f.resyncs, f.sample_rate), (6, 0, 44_100));
}

#[test]
fn duration_is_exact_to_the_microsecond() {
    let f = Mp3Facts {
        frames: 383,
        samples_per_frame: 1152,
        sample_rate: 44_100,
        ..Mp3Facts::default()
    };
    // 383 × 1152 / 44100 s = 10.004897959... s
    assert_eq!(f.duration(), Duration::from_micros(10_004_897));
    assert_eq!(Mp3Facts::default().duration(), Duration::ZERO);
}

#[test]
fn total_len_other_than_bytes_fed_is_not_clean() {
    let bytes = frames(CBR128, 3);
    let mut s = Mp3Scanner::new();
    s.feed(&bytes);
    let f = s.finish(bytes.len() as u64 + 10);
    assert_eq!((f.frames, f.trailing_bytes, f.clean_end), (3, 10, false));
}

/// Streams made of the pieces real files are made of, cut anywhere.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        (1usize..4).prop_map(|n| frames(CBR128, n)),
        (1usize..3).prop_map(|n| frames(VBR192, n)),
        (1usize..4).prop_map(|n| frames(TINY, n)),
        Just(xing(b"Xing", 0)),
        (0usize..300, any::<bool>()).prop_map(|(n, f)| id3v2(n, f)),
        (0usize..100, any::<bool>()).prop_map(|(n, h)| ape(n, h)),
        Just(id3v1()),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(
            prop_oneof![Just(0xFF), Just(0xFB), Just(b'A'), any::<u8>()],
            0..64
        ),
    ];
    (
        prop::collection::vec(piece, 0..8),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(p, cut)| {
            let all = p.concat();
            let keep = if all.is_empty() {
                0
            } else {
                cut.index(all.len() + 1)
            };
            all[..keep].to_vec()
        })
}

fn scan_split(bytes: &[u8], sizes: &[usize]) -> Mp3Facts {
    let mut s = Mp3Scanner::new();
    let mut rest = bytes;
    for &n in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(n.min(rest.len()));
        s.feed(a);
        s.feed(&[]);
        rest = b;
    }
    s.finish(bytes.len() as u64)
}

proptest! {
    #[test]
    fn any_split_gives_the_same_facts(
        bytes in stream(),
        sizes in prop::collection::vec(1usize..700, 1..20),
    ) {
        let whole = scan(&bytes);
        prop_assert_eq!(&whole, &scan_split(&bytes, &sizes));
        prop_assert_eq!(&whole, &scan_bytewise(&bytes));
        let accounted = whole.leading_bytes
            + whole.audio_bytes
            + whole.skipped_bytes
            + whole.trailing_bytes
            + if whole.header.is_some() { 417 } else { 0 };
        if whole.leading_bytes != bytes.len() as u64 {
            prop_assert_eq!(accounted, bytes.len() as u64);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_split_freely(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        sizes in prop::collection::vec(1usize..300, 1..10),
    ) {
        let whole = scan(&bytes);
        prop_assert_eq!(&whole, &scan_split(&bytes, &sizes));
        prop_assert!(whole.trailing_bytes <= bytes.len() as u64);
    }
}

#[test]
fn audio_facts_carry_the_count_and_the_header_claim() {
    let mut killed = cat(&[&xing(b"Xing", 0), &frames(CBR128, 10)]);
    killed.extend(&frame(CBR128)[..200]);
    let a = check(&killed).audio_facts();
    assert_eq!(
        a,
        selection::AudioFacts {
            frames: 10,
            sample_rate: 44_100,
            samples_per_frame: 1152,
            clean_end: false,
            header_frames: Some(0),
        }
    );
    assert!(a.truncated());
    let f = check(&cat(&[&xing(b"Info", 10), &frames(CBR128, 10)]));
    assert!(!f.audio_facts().truncated());
    assert_eq!(f.audio_facts().duration(), f.duration());
}

fn located(bytes: &[u8], first: u64, end: u64) -> Located {
    let mut s = Mp3Scanner::new();
    s.locate(first, end);
    for b in bytes {
        s.feed(std::slice::from_ref(b));
    }
    s.finish_located(bytes.len() as u64).1
}

#[test]
fn locate_gives_the_bytes_of_audio_frames_after_the_header_frame() {
    // Xing frame (417) + 10 frames of 417 bytes + a partial frame.
    let mut killed = cat(&[&xing(b"Xing", 0), &frames(CBR128, 10)]);
    killed.extend(&frame(CBR128)[..200]);
    let at = |frame: u64| Some(417 + 417 * frame);
    assert_eq!(
        located(&killed, 3, 10),
        Located {
            start: at(3),
            end: at(10)
        }
    );
    assert_eq!(
        located(&killed, 0, 1),
        Located {
            start: at(0),
            end: at(1)
        }
    );
    // Frames the stream does not have are not found.
    assert_eq!(located(&killed, 10, 11), Located::default());
    // Without `locate` nothing is found, and the facts are the same either way.
    let mut s = Mp3Scanner::new();
    s.feed(&killed);
    assert_eq!(s.located(), Located::default());
    let mut l = Mp3Scanner::new();
    l.locate(2, 5);
    l.feed(&killed);
    assert_eq!(l.located().start, at(2));
    assert_eq!(s.finish(killed.len() as u64), l.finish(killed.len() as u64));
}
