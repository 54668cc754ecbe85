//! No input makes the library panic, and frame finding is consistent on cut files.

use std::path::Path;

use align::{align_audio, align_audio_with, align_copy, frames, Search};
use proptest::prelude::*;

fn fixture(scenario: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(scenario)
        .join(name);
    std::fs::read(path).expect("fixture")
}

fn steady_a() -> Vec<u8> {
    fixture(
        "steady",
        "ffmpeg-deployment-7c9f8d-abcde_20261126T151443.mp3",
    )
}

fn steady_b() -> Vec<u8> {
    fixture(
        "steady",
        "ffmpeg-deployment-7c9f8d-fghij_20261126T151445.mp3",
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes: frames stay inside the buffer, in order, without overlapping.
    #[test]
    fn frames_of_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let f = frames(&data);
        let mut end = 0;
        for fr in &f {
            prop_assert!(fr.offset >= end);
            prop_assert!(fr.range().end <= data.len());
            prop_assert!(fr.len >= 4);
            end = fr.range().end;
        }
    }

    /// A file cut anywhere (still being written, or killed): its frames are the whole file's
    /// frames that end before the cut.
    #[test]
    fn frames_of_a_cut_file(cut in 0usize..40_318) {
        let full = steady_a();
        let cut = cut.min(full.len());
        let whole: Vec<_> = frames(&full).into_iter().filter(|f| f.range().end <= cut).collect();
        prop_assert_eq!(frames(&full[..cut]), whole);
    }

    /// Junk spliced into a real file: frames are still found after it, and nothing panics.
    #[test]
    fn frames_resync_after_junk(
        at in 0usize..40_000,
        junk in proptest::collection::vec(any::<u8>(), 1..300),
    ) {
        let full = steady_a();
        let at = at.min(full.len());
        let mut data = full[..at].to_vec();
        data.extend(&junk);
        data.extend(&full[at..]);
        let n = frames(&data).len();
        // At most the frames the junk breaks (the one it lands in, a false sync) are lost.
        prop_assert!(n + 3 >= frames(&full).len(), "{} of {}", n, frames(&full).len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Cut, garbled or odd inputs and parameters: an answer or `None`, never a panic.
    #[test]
    fn alignment_never_panics(
        cut_a in 0usize..40_318,
        cut_b in 0usize..40_318,
        flip in 0usize..40_318,
        expected in -30.0f64..30.0,
        tolerance in prop_oneof![Just(f64::NAN), Just(0.0), -5.0f64..40.0],
        probe in prop_oneof![Just(f64::NAN), Just(0.0), -1.0f64..12.0],
        overlap in prop_oneof![Just(f64::NAN), Just(-1.0), 0.0f64..12.0],
    ) {
        let mut a = steady_a();
        a.truncate(cut_a);
        let mut b = steady_b();
        b.truncate(cut_b);
        if let Some(x) = b.get_mut(flip) {
            *x ^= 0xA5;
        }
        let search = Search {
            expected_offset_s: Some(expected),
            tolerance_s: tolerance,
            probe_s: probe,
            min_overlap_s: overlap,
        };
        let _ = align_copy(&a, &b);
        let _ = align_audio_with(&a, &b, &search);
        if let Some(al) = align_audio_with(&a, &b, &search) {
            prop_assert!(al.offset_ms.is_finite());
            prop_assert!((0.0..=1.0).contains(&al.confidence));
        }
    }
}

#[test]
fn tiny_and_empty_inputs() {
    let a = steady_a();
    for b in [&[][..], &[0xFF][..], &a[..200]] {
        assert_eq!(align_copy(&a, b), None);
        assert_eq!(align_audio(&a, b), None);
        assert_eq!(align_audio(b, &a), None);
    }
    // Six whole frames of the same file: equal frames say where they are; 0.16 s of audio is
    // too little to correlate (at least 1 s).
    let head = &a[..1000];
    assert_eq!(frames(head).len(), 6);
    assert_eq!(align_copy(&a, head).map(|al| al.offset_frames), Some(0));
    assert_eq!(align_audio(&a, head), None);
}
