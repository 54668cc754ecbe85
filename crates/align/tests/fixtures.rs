//! Alignment against the recorded fixtures (`fixtures/`: real Icecast + ffmpeg recordings of a
//! time-coded source). For files of different pods the offset must match the manifest's truth
//! (`broadcast_start_s` of b minus that of a) within 30 ms wherever they overlap by 1.5 s or
//! more, and nothing may be reported where they do not overlap.
//!
//! The whole matrix (every pair of files of different pods, 357 pairs) decodes a lot, which
//! takes minutes in a debug build: it runs with `cargo test --release -p align` (ignored in
//! debug builds), and `-- --nocapture` prints the tables of docs/alignment.md. The other
//! tests pick the interesting pairs and run in any build.

mod common;

use std::time::Instant;

use align::{align_audio, align_audio_with, align_copy, measure_audio, Method, Search, MIN_PEAK};
use common::{check, file, load, pairs, print_rows, summary, Rec, Row, SCENARIOS};

/// Aligns `b` on `a` by audio, blind (anywhere), checks it and returns the row.
fn audio_blind(a: &Rec, b: &Rec, failures: &mut Vec<String>) -> Row {
    let t = Instant::now();
    let got = align_audio(&a.bytes, &b.bytes);
    let (row, failure) = check(a, b, got, t.elapsed());
    if let Some(al) = got {
        assert_eq!(al.method, Method::Audio);
        assert!(al.confidence > 0.0 && al.confidence <= 1.0, "{al:?}");
    }
    failures.extend(failure);
    row
}

/// Aligns `b` on `a` by audio where the names say it should be, within `tolerance_s`.
fn audio_near(a: &Rec, b: &Rec, tolerance_s: f64, failures: &mut Vec<String>) -> Row {
    let search = Search {
        expected_offset_s: Some(b.named - a.named),
        tolerance_s,
        ..Search::default()
    };
    let t = Instant::now();
    let got = align_audio_with(&a.bytes, &b.bytes, &search);
    let (row, failure) = check(a, b, got, t.elapsed());
    failures.extend(failure);
    row
}

fn assert_no_failures(failures: &[String]) {
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- -c copy ------------------------------------------------------------------------------

/// Frame hashing on every pair of every scenario: exact (0 frames off) on `copy-clock`; on
/// re-encoded scenarios it finds an offset only where both encoders happen to produce
/// byte-equal frames (their frame grids coincide), and then it must be right too.
#[test]
fn copy_alignment_on_every_pair() {
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    for scenario in SCENARIOS {
        let recs = load(scenario);
        for (a, b) in pairs(&recs) {
            let t = Instant::now();
            let got = align_copy(&a.bytes, &b.bytes);
            let overlap = a.end.min(b.end) - a.start.max(b.start);
            let (row, failure) = check(a, b, got, t.elapsed());
            match (scenario, got) {
                // Reported, it must be right (checked above) and exact to the frame.
                (_, Some(al)) => {
                    assert_eq!(al.method, Method::Copy);
                    let frames = row.truth * 22_050.0 / 576.0;
                    assert!(
                        (al.offset_frames as f64 - frames).abs() < 0.5,
                        "{}: {} vs {}: {} frames, truth {frames:.2}",
                        scenario,
                        a.short,
                        b.short,
                        al.offset_frames
                    );
                    failures.extend(failure);
                }
                ("copy-clock", None) if overlap >= 1.0 => failures.push(format!(
                    "copy-clock: {} vs {}: overlap {overlap:.2} s, not aligned",
                    a.short, b.short
                )),
                _ => {}
            }
            if overlap > 0.0 || got.is_some() {
                rows.push(row);
            }
        }
    }
    print_rows(
        "align_copy, every overlapping pair of different pods",
        &rows,
    );
    println!("{}", summary(&rows));
    assert_no_failures(&failures);
}

// ---- the whole matrix, by audio -------------------------------------------------------------

fn audio_matrix(scenario: &'static str) {
    let recs = load(scenario);
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    let mut worst_rejected: Option<(f64, String)> = None;
    let mut lowest_clear_ratio = f64::INFINITY;
    for (a, b) in pairs(&recs) {
        let t = Instant::now();
        let raw = measure_audio(&a.bytes, &b.bytes, &Search::default());
        let got = raw.filter(|al| al.is_clear());
        let (row, failure) = check(a, b, got, t.elapsed());
        failures.extend(failure);
        if let Some(al) = got {
            lowest_clear_ratio = lowest_clear_ratio.min(al.residual_ratio());
        }
        if row.overlap <= 0.0 {
            if let Some(al) = raw {
                if worst_rejected.as_ref().is_none_or(|w| al.peak > w.0) {
                    worst_rejected = Some((al.peak, format!("{} vs {} {al:?}", a.short, b.short)));
                }
            }
        } else {
            rows.push(row);
        }
    }
    print_rows(
        &format!("align_audio (blind), {scenario}: pairs of different pods that overlap"),
        &rows,
    );
    println!("{}", summary(&rows));
    println!("lowest residual ratio among the aligned: {lowest_clear_ratio:.2}");
    if let Some((peak, what)) = worst_rejected {
        println!(
            "highest peak among the {} non-overlapping pairs: {peak:.3} ({what})",
            pairs(&recs).len() - rows.len()
        );
        assert!(
            peak < MIN_PEAK,
            "{scenario}: a non-overlapping pair correlates: {what}"
        );
    }
    assert_no_failures(&failures);
}

macro_rules! matrix {
    ($($test:ident => $scenario:literal),* $(,)?) => {$(
        #[test]
        #[cfg_attr(debug_assertions, ignore = "decodes every pair: run with --release")]
        fn $test() {
            audio_matrix($scenario);
        }
    )*};
}

matrix! {
    matrix_steady => "steady",
    matrix_kill_replace => "kill-replace",
    matrix_sigterm => "sigterm",
    matrix_source_restart => "source-restart",
    matrix_stall => "stall",
    matrix_copy_clock => "copy-clock",
    matrix_zero_byte => "zero-byte",
    matrix_kill_late => "kill-late",
}

// ---- chosen pairs, in any build -------------------------------------------------------------

/// The first file after a connect begins ~8 s before its name with Icecast's burst: it
/// overlaps the other replica, and the offset is found both ways round.
#[test]
fn burst_files() {
    let mut failures = Vec::new();
    let steady = load("steady");
    let kill = load("kill-replace");
    let zero = load("zero-byte");
    for (a, b) in [
        // b is the late replica's first file: it starts 2.3 s after a although named 2 s later.
        (file(&steady, "abcde_151441"), file(&steady, "fghij_151443")),
        // The replacement pod's first file starts 4.9 s *before* a (negative offset).
        (file(&kill, "abcde_151514"), file(&kill, "klmno_151517")),
        // A container restarted in the same pod: its burst reaches back into the other pod's file.
        (file(&zero, "abcde_151503"), file(&zero, "fghij_151507")),
    ] {
        assert!(a.burst || b.burst);
        let ab = audio_blind(a, b, &mut failures);
        let ba = audio_blind(b, a, &mut failures);
        if let (Some(x), Some(y)) = (ab.got, ba.got) {
            // The same offset seen from either side.
            assert!(
                (x.offset_samples + y.offset_samples).abs() < 2.0,
                "{x:?} {y:?}"
            );
        }
    }
    assert_no_failures(&failures);
}

/// Files cut short: SIGTERM (finalised, 196 frames), a source stop (273 and 126 frames), and a
/// SIGKILL late in an 80-s segment (Xing says 0 frames, a partial frame at the end).
#[test]
fn truncated_files() {
    let mut failures = Vec::new();
    let sigterm = load("sigterm");
    let restart = load("source-restart");
    let late = load("kill-late");
    for (a, b) in [
        (
            file(&sigterm, "abcde_151503"),
            file(&sigterm, "fghij_151504"),
        ),
        (
            file(&sigterm, "fghij_151504"),
            file(&sigterm, "klmno_151512"),
        ),
        (
            file(&restart, "fghij_151457"),
            file(&restart, "abcde_151503"),
        ),
        (
            file(&restart, "abcde_151503"),
            file(&restart, "fghij_151507"),
        ),
    ] {
        assert!(a.cut || b.cut);
        audio_blind(a, b, &mut failures);
    }
    // 65-s files: searched near the names' offset only (±10 s), as the job would.
    let (a, b) = (file(&late, "abcde_151441"), file(&late, "fghij_151443"));
    assert!(a.cut);
    let row = audio_near(a, b, 10.0, &mut failures);
    assert!(row.got.is_some());
    assert_no_failures(&failures);
}

/// The typical join: b starts in a's last seconds. Searched near the names' offset, only a's
/// tail and b's head are decoded.
#[test]
fn end_of_one_file_against_the_start_of_the_next() {
    let mut failures = Vec::new();
    let stall = load("stall");
    let steady = load("steady");
    // b starts 1.9 s before a ends; names ±0.75 s apart from the audio: tolerance 2 s.
    let (a, b) = (file(&stall, "fghij_151525"), file(&stall, "abcde_151534"));
    let row = audio_near(a, b, 2.0, &mut failures);
    let al = row.got.expect("aligned");
    assert!(al.overlap_frames < 80, "{al:?}");
    // a's window (the last ~4 s + a frame) and b's 3-s head, with warm-up: about half of
    // what decoding both files would take.
    assert!(
        al.decoded_frames < 383,
        "decoded {} frames",
        al.decoded_frames
    );
    // a is the late replica's first file (burst, named 7.7 s late): a tolerance of 10 s.
    let (a, b) = (file(&steady, "fghij_151443"), file(&steady, "abcde_151443"));
    assert!(a.burst);
    audio_near(a, b, 10.0, &mut failures);
    assert_no_failures(&failures);
}

/// The job need not read all of a: a slice of a's bytes from a frame it knows (here frame
/// 200 of 383) aligns the same, shifted by that frame's start.
#[test]
fn a_slice_of_the_earlier_file_from_a_known_frame() {
    let steady = load("steady");
    let (a, b) = (file(&steady, "fghij_151443"), file(&steady, "abcde_151443"));
    let fa = align::frames(&a.bytes);
    let k = 200;
    let tail = &a.bytes[fa[k].offset..];
    let whole = align_audio(&a.bytes, &b.bytes).expect("aligned whole");
    let part = align_audio(tail, &b.bytes).expect("aligned from a slice");
    let shift = (k * 576) as f64;
    assert!(
        (part.offset_samples + shift - whole.offset_samples).abs() < 1.0,
        "{part:?} {whole:?}"
    );
    assert!(part.decoded_frames < whole.decoded_frames);
    // The same with copy alignment, where the replicas' frames are equal.
    let copy = load("copy-clock");
    let (a, b) = (file(&copy, "abcde_151441"), file(&copy, "fghij_151444"));
    let fa = align::frames(&a.bytes);
    let whole = align_copy(&a.bytes, &b.bytes).expect("copy whole");
    let part = align_copy(&a.bytes[fa[300].offset..], &b.bytes).expect("copy from a slice");
    assert_eq!(part.offset_frames + 300, whole.offset_frames);
}

/// A file named 9.4 s late after a stall still aligns by content.
#[test]
fn late_name_after_a_stall() {
    let mut failures = Vec::new();
    let stall = load("stall");
    let (a, b) = (file(&stall, "abcde_151504"), file(&stall, "fghij_151515"));
    assert!(b.named - b.start > 9.0);
    audio_blind(a, b, &mut failures);
    assert_no_failures(&failures);
}

/// Files that do not overlap (one pod's consecutive files; the other pod's files further
/// on) are not aligned.
#[test]
fn no_overlap_no_alignment() {
    let mut failures = Vec::new();
    let steady = load("steady");
    for (a, b) in [
        (file(&steady, "abcde_151441"), file(&steady, "abcde_151443")),
        (file(&steady, "abcde_151441"), file(&steady, "fghij_151455")),
        (file(&steady, "fghij_151505"), file(&steady, "abcde_151522")),
    ] {
        let row = audio_blind(a, b, &mut failures);
        assert!(row.overlap <= 0.0);
        assert!(row.got.is_none(), "{:?}", row.got);
        assert!(align_copy(&a.bytes, &b.bytes).is_none());
    }
    assert_no_failures(&failures);
}

/// `-c copy` recordings align by audio as well (the decoded frames are the same).
#[test]
fn copy_recordings_align_by_audio_too() {
    let mut failures = Vec::new();
    let copy = load("copy-clock");
    let (a, b) = (file(&copy, "abcde_151441"), file(&copy, "fghij_151444"));
    audio_blind(a, b, &mut failures);
    let (a, b) = (file(&copy, "fghij_151510"), file(&copy, "abcde_151510"));
    audio_blind(a, b, &mut failures);
    assert_no_failures(&failures);
}
