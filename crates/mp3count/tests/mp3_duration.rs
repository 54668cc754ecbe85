//! Our count against the `mp3-duration` crate (0.1.10), the duration reader the project's
//! design card names: on every recorded fixture, on small real recordings cut at every byte and
//! on generated streams, its answer must be exactly the one that the differences listed in the
//! crate docs predict from our facts (`support/oracle.rs`), not merely close to ours.

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;

#[path = "support/oracle.rs"]
mod oracle;
#[path = "support/streams.rs"]
mod streams;

use oracle::{claimed, expected, theirs, walked, Theirs};
use streams::*;

fn mp3s(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            mp3s(&path, out);
        } else if path.extension().is_some_and(|e| e == "mp3") {
            out.push(path);
        }
    }
}

#[test]
fn recorded_fixtures_measure_as_the_differences_predict() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut files = Vec::new();
    mp3s(&root, &mut files);
    files.sort();
    assert!(files.len() > 50, "fixtures missing in {}", root.display());
    let (mut agree, mut placeholder, mut cut, mut empty) = (0, 0, 0, 0);
    let (mut ours_total, mut theirs_total) = (Duration::ZERO, Duration::ZERO);
    for path in &files {
        let name = path.strip_prefix(&root).unwrap().display();
        let bytes = std::fs::read(path).unwrap();
        let ours = mp3count::scan_reader(&bytes[..]).unwrap();
        // What recorders write: whole frames and ID3v2 tags, nothing the model leaves out.
        assert_eq!((ours.resyncs, ours.skipped_bytes), (0, 0), "{name}");
        let got = theirs(&bytes);
        eprintln!(
            "{name}: ours {} frames {:?} clean {} header {:?}; mp3-duration {got:?}",
            ours.frames,
            ours.duration(),
            ours.clean_end,
            ours.header.and_then(|h| h.frames)
        );
        assert_eq!(got, expected(&ours, &bytes), "{name}");
        ours_total += ours.duration();
        match got {
            Theirs::Measured(d) | Theirs::CutShort(d) => theirs_total += d,
            _ => {}
        }
        if bytes.is_empty() {
            empty += 1;
        } else if ours.header_mismatch {
            // A lying header: it reports the claim, we report the frames.
            placeholder += 1;
            assert!(ours.has_audio(), "{name}");
        } else if matches!(got, Theirs::CutShort(_)) {
            cut += 1;
        } else {
            // Header right, end clean: the same duration, ours to the microsecond.
            let Theirs::Measured(d) = got else {
                unreachable!()
            };
            assert_eq!(
                Duration::from_micros(d.as_micros() as u64),
                ours.duration(),
                "{name}"
            );
            agree += 1;
        }
    }
    eprintln!(
        "{} files: {agree} agree to the µs, {placeholder} lying headers, {cut} cut mid-frame, \
         {empty} empty; ours {ours_total:?} in all, mp3-duration {theirs_total:?}",
        files.len()
    );
    assert!(
        agree > 0 && placeholder > 0,
        "the fixtures lost their killed files"
    );
}

/// Small real recordings (the fuzz seeds: ffmpeg output in seven formats and tag layouts, one
/// killed), cut at every byte as a killed writer or a copy in progress leaves them.
#[test]
fn seed_recordings_cut_anywhere_measure_as_the_differences_predict() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/mp3_scan");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 7, "seed corpus missing in {}", dir.display());
    let (mut cuts, mut cut_short, mut lying) = (0, 0, 0);
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let whole = mp3count::scan_reader(&bytes[..]).unwrap();
        for end in 0..=bytes.len() {
            let cut = &bytes[..end];
            let ours = mp3count::scan_reader(cut).unwrap();
            let got = theirs(cut);
            let at = format!("{} cut at {end}", path.display());
            if !ours.has_audio() && ours.header.is_none() {
                // Cut inside the leading tag or the first frame, or 1 to 3 bytes after it: no
                // audio for us (a frame counts once the next header confirms it). It reports
                // none either, or the header frame's claim once it could read it, or the
                // first frame, which it takes without waiting for the next.
                let claim = whole.header.and_then(|h| h.frames);
                let allowed = [
                    Theirs::Measured(Duration::ZERO),
                    Theirs::CutShort(Duration::ZERO),
                    match claim {
                        Some(n) => Theirs::Measured(claimed(u64::from(n), &whole)),
                        None => Theirs::Measured(walked(1, &whole)),
                    },
                ];
                assert!(allowed.contains(&got), "{at}: {got:?}");
                continue;
            }
            assert_eq!(got, expected(&ours, cut), "{at}: {ours:?}");
            cuts += 1;
            cut_short += u32::from(matches!(got, Theirs::CutShort(_)));
            lying += u32::from(ours.header_mismatch);
        }
    }
    eprintln!("{cuts} cuts: {cut_short} fail there as cut short, {lying} have a header that claims more or less");
    assert!(cut_short > 0 && lying > 0);
}

#[test]
fn a_killed_recording_measures_0_s_there_and_its_frames_here() {
    let mut killed = cat(&[&id3v2(35, false), &xing(b"Xing", 0), &frames(CBR128, 383)]);
    killed.extend(&frame(CBR128)[..200]);
    let ours = mp3count::scan_reader(&killed[..]).unwrap();
    assert_eq!(ours.frames, 383);
    assert_eq!(ours.duration(), Duration::from_micros(10_004_897));
    assert!(ours.header_mismatch && !ours.clean_end);
    assert_eq!(theirs(&killed), Theirs::Measured(Duration::ZERO));
}

#[test]
fn a_cut_frame_fails_there_after_the_whole_frames_and_is_trailing_here() {
    let mut cut = frames(CBR128, 10);
    cut.extend(&frame(CBR128)[..100]);
    let ours = mp3count::scan_reader(&cut[..]).unwrap();
    assert_eq!(
        (ours.frames, ours.trailing_bytes, ours.clean_end),
        (10, 100, false)
    );
    assert_eq!(theirs(&cut), Theirs::CutShort(walked(10, &ours)));
    // Too short for a header: ignored there, still trailing (and not clean) here.
    cut.truncate(10 * 417 + 3);
    let ours = mp3count::scan_reader(&cut[..]).unwrap();
    assert_eq!(
        (ours.frames, ours.trailing_bytes, ours.clean_end),
        (10, 3, false)
    );
    assert_eq!(theirs(&cut), Theirs::Measured(walked(10, &ours)));
}

#[test]
fn per_frame_rounding_drifts_22_us_over_a_600_s_segment() {
    let n = 22_968; // 600 s of 1152-sample frames at 44.1 kHz, rounded down
    let stream = frames(CBR128, n);
    let ours = mp3count::scan_reader(&stream[..]).unwrap();
    assert_eq!(ours.duration(), Duration::from_micros(599_980_408));
    let Theirs::Measured(d) = theirs(&stream) else {
        panic!("a clean stream measures")
    };
    assert_eq!(d, Duration::from_nanos(26_122_448 * n as u64));
    assert_eq!(ours.duration() - d, Duration::from_nanos(22_336));
    // The header's count, timed once, is what we time.
    let with_info = cat(&[&xing(b"Info", n as u32), &stream]);
    let ours = mp3count::scan_reader(&with_info[..]).unwrap();
    assert_eq!(
        theirs(&with_info),
        Theirs::Measured(claimed(n as u64, &ours))
    );
    assert_eq!(
        claimed(n as u64, &ours).as_micros(),
        ours.duration().as_micros()
    );
}

#[test]
fn a_header_frame_without_a_count_is_audio_there() {
    let s = cat(&[&xing_with_flags(b"Xing", 0x2, 4321), &frames(CBR128, 5)]);
    let ours = mp3count::scan_reader(&s[..]).unwrap();
    assert_eq!(
        (ours.frames, ours.header.map(|h| h.frames)),
        (5, Some(None))
    );
    assert_eq!(theirs(&s), Theirs::Measured(walked(6, &ours)));
}

#[test]
fn junk_and_apev1_stop_it_where_we_resync_or_step_over() {
    let s = cat(&[&frames(CBR128, 3), &[0x11; 20], &frames(CBR128, 4)]);
    let ours = mp3count::scan_reader(&s[..]).unwrap();
    assert_eq!((ours.frames, ours.resyncs), (7, 1));
    assert_eq!(theirs(&s), Theirs::Stopped(walked(3, &ours)));
    let s = cat(&[&frames(CBR128, 3), &ape(40, false)]);
    let ours = mp3count::scan_reader(&s[..]).unwrap();
    assert_eq!((ours.frames, ours.clean_end), (3, true));
    assert_eq!(theirs(&s), Theirs::Stopped(walked(3, &ours)));
}

#[test]
fn layer_i_frames_are_sized_as_layer_iii_there() {
    // MPEG-1 Layer I 128 kbps 44.1 kHz: 34 four-byte slots, 136 bytes; sized there as
    // 384 / 8 × 128000 / 44100 = 139 bytes, which lands inside the second frame.
    let s = frames([0xFF, 0xFF, 0x40, 0x04], 5);
    let ours = mp3count::scan_reader(&s[..]).unwrap();
    assert_eq!(
        (ours.frames, ours.audio_bytes, ours.clean_end),
        (5, 5 * 136, true)
    );
    assert_eq!(theirs(&s), Theirs::Stopped(walked(1, &ours)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    /// Streams of every format a recorder writes, with ID3v2/ID3v1/APE tags, zero padding,
    /// junk, true, placeholder, wrong and count-less headers and a cut last frame.
    #[test]
    fn generated_streams_measure_as_the_differences_predict(
        choices in prop::collection::vec(any::<u8>(), 32..96),
    ) {
        oracle::check_recipe(&choices);
    }
}
