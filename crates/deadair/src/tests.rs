//! Unit tests on synthesized frames (exact digital silence) and a recorded tone fixture.

use crate::{detect, Detector, Method, Threshold};

/// `n` MPEG-2 Layer III frames, 22.05 kHz mono 32 kbit/s, with all-zero side information:
/// no coded data, so each decodes to exact silence (26.12 ms each).
fn silent(n: usize) -> Vec<u8> {
    let mut frame = [0u8; 104];
    frame[..4].copy_from_slice(&[0xFF, 0xF3, 0x40, 0xC4]);
    frame.repeat(n)
}

/// A recorded 10-s file of the time code (a half-scale tone with 50-ms gaps each second),
/// the recorders' format; it starts with an ID3v2 tag and an Info header frame.
const TONE: &[u8] =
    include_bytes!("../../../fixtures/steady/ffmpeg-deployment-7c9f8d-abcde_20261126T151453.mp3");

/// Frames of one second at 22.05 kHz, 576 samples a frame.
const FPS: f64 = 22_050.0 / 576.0;

fn frames_for(seconds: f64) -> usize {
    (seconds * FPS).round() as usize
}

#[test]
fn a_tone_has_no_dead_air() {
    let r = detect(TONE, Threshold::default());
    assert!(r.spans.is_empty(), "{:?}", r.spans);
    // ffprobe counts 383 frames; the Info frame is no audio.
    assert_eq!(r.frames, 383);
    assert!((r.seconds - 383.0 * 576.0 / 22_050.0).abs() < 1e-9);
    assert_eq!(r.refused, 0);
}

#[test]
fn silence_longer_than_the_setting_is_one_span_with_its_edges() {
    let mut s = TONE.to_vec();
    s.extend(silent(frames_for(40.0)));
    s.extend(&TONE[TONE.len() / 2..]);
    let r = detect(&s, Threshold::default());
    assert_eq!(r.spans.len(), 1, "{:?}", r.spans);
    let span = r.spans[0];
    // The tone ends at 10.005 s; the decoder's overlap and the 100-ms windows blur the
    // edges by at most a window and a frame.
    assert!((span.start_s - 10.005).abs() < 0.15, "{span:?}");
    assert!((span.seconds() - 40.0).abs() < 0.3, "{span:?}");
}

#[test]
fn silence_as_long_as_the_setting_or_shorter_is_not_reported() {
    let mut s = TONE.to_vec();
    s.extend(silent(frames_for(20.0)));
    s.extend(&TONE[TONE.len() / 2..]);
    assert!(detect(&s, Threshold::default()).spans.is_empty());
    let short = Threshold {
        min_seconds: 15.0,
        ..Threshold::default()
    };
    assert_eq!(detect(&s, short).spans.len(), 1);
}

#[test]
fn silence_at_the_start_and_at_the_end_counts() {
    let mut s = silent(frames_for(31.0));
    s.extend(TONE);
    s.extend(silent(frames_for(35.0)));
    let r = detect(&s, Threshold::default());
    assert_eq!(r.spans.len(), 2, "{:?}", r.spans);
    assert!(r.spans[0].start_s == 0.0 && (r.spans[0].end_s - 31.0).abs() < 0.15);
    assert!((r.spans[1].end_s - r.seconds).abs() < 1e-9);
}

#[test]
fn a_threshold_above_the_tone_finds_it_silent() {
    // The tone is at half scale (−9 dBFS RMS); at −3 dBFS the whole file is "silent".
    let loud = Threshold {
        min_seconds: 5.0,
        dbfs: -3.0,
    };
    let r = detect(TONE, loud);
    assert_eq!(r.spans.len(), 1);
}

#[test]
fn any_chunking_gives_the_same_report() {
    let mut s = TONE.to_vec();
    s.extend(silent(frames_for(33.0)));
    s.extend(TONE);
    let whole = detect(&s, Threshold::default());
    for size in [1, 7, 104, 4096, 65_536] {
        let mut d = Detector::new(Threshold::default());
        for c in s.chunks(size) {
            d.feed(c);
        }
        assert_eq!(d.finish(), whole, "chunks of {size}");
    }
}

#[test]
fn garbage_and_a_cut_last_frame_are_skipped_without_panic() {
    let mut s = vec![0xFF; 300];
    s.extend(silent(frames_for(32.0)));
    s.extend(&TONE[..TONE.len() - 50]);
    let r = detect(&s, Threshold::default());
    assert_eq!(r.spans.len(), 1, "{:?}", r.spans);
    assert!(detect(&[], Threshold::default()).spans.is_empty());
    assert!(detect(b"ID3\x04\0\0\0\0\x7f\x7f", Threshold::default()).frames == 0);
}

#[test]
fn side_info_sees_frames_without_coded_data_as_silent() {
    let mut s = TONE.to_vec();
    s.extend(silent(frames_for(40.0)));
    s.extend(TONE);
    let mut d = Detector::with_method(Threshold::default(), Method::SideInfo);
    d.feed(&s);
    let r = d.finish();
    assert_eq!(r.spans.len(), 1, "{:?}", r.spans);
    // It holds the silence, but its edges are only as good as the estimate of the tone
    // around it (docs/dead-air.md).
    let span = r.spans[0];
    assert!(span.start_s <= 10.1 && span.end_s >= 49.9, "{span:?}");
    assert!(span.seconds() < 42.0, "{span:?}");
}

#[test]
fn mutated_recordings_and_noise_never_panic() {
    // xorshift: fixed seeds, so a failure repeats.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..40 {
        let mut s = TONE.to_vec();
        for _ in 0..(1 + round * 5) {
            let i = (next() % s.len() as u64) as usize;
            s[i] = next() as u8;
        }
        let r = detect(&s, Threshold::default());
        assert!(r.seconds >= 0.0 && r.spans.iter().all(|p| p.end_s > p.start_s));
        let noise: Vec<u8> = (0..4096).map(|_| next() as u8).collect();
        let mut d = Detector::with_method(Threshold::default(), Method::SideInfo);
        d.feed(&noise);
        d.finish();
        detect(&noise, Threshold::default());
    }
}
