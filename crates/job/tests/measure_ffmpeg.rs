//! The frame counter against real ffmpeg output, checked against `ffprobe -count_packets` and
//! symphonia's MP3 reader. Needs ffmpeg and ffprobe on PATH.
//!
//! Where the three differ, it is on purpose and asserted as such:
//! - a frame cut short at the end of a file: ffprobe reports it as one more packet; symphonia
//!   and we count whole frames only, as a cut frame holds no whole audio frame.
//! - a Xing/Info frame in the middle of a stream (two files joined): ffprobe and ffmpeg's
//!   decoder treat it as a (silent) audio frame and so do we; symphonia drops it.
//! - garbage: ffprobe guesses some format and finds "packets" in it; see `garbage_named_mp3`.
//!
//! Everywhere else (CBR, VBR, MPEG-2, MPEG-2.5, no Xing, huge ID3v2, a placeholder header from
//! a patch or a real SIGKILL, empty) all three count the same.

mod support;
use support::probe;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mp3count::{scan_file, Layer, Mp3Facts, MpegVersion};

use probe::{ffprobe_packets, symphonia_packets};

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-nostdin"])
        .args(args)
        .output()
        .expect("ffmpeg on PATH");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A few seconds of sine as MP3, with extra output options.
fn sine(dir: &Path, name: &str, seconds: u32, opts: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let src = format!("sine=frequency=440:sample_rate=44100:duration={seconds}");
    let mut args = vec!["-f", "lavfi", "-i", &src];
    args.extend_from_slice(opts);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
    path
}

/// Our facts, ffprobe's and symphonia's counts, printed.
fn counts(path: &Path) -> (Mp3Facts, Option<u64>, Option<u64>) {
    let facts = scan_file(path).unwrap();
    let probe = ffprobe_packets(path);
    let sym = symphonia_packets(path);
    eprintln!(
        "{}: ours {} ffprobe {probe:?} symphonia {sym:?}\n  {facts:?}",
        path.file_name().unwrap().to_string_lossy(),
        facts.frames
    );
    (facts, probe, sym)
}

/// Measures `path` and checks our count against the other two, given how many more packets
/// each of them is expected to report (a reader that refuses the file counts 0).
fn measure(path: &Path, ffprobe_extra: u64, symphonia_extra: i64) -> Mp3Facts {
    let (facts, probe, sym) = counts(path);
    assert_eq!(probe.unwrap_or(0), facts.frames + ffprobe_extra, "ffprobe");
    assert_eq!(
        sym.unwrap_or(0) as i64,
        facts.frames as i64 + symphonia_extra,
        "symphonia"
    );
    facts
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn cbr_128k_44k_stereo() {
    let dir = tmp();
    let f = measure(
        &sine(dir.path(), "cbr.mp3", 4, &["-ac", "2", "-b:a", "128k"]),
        0,
        0,
    );
    assert!(f.has_audio() && f.clean_end && !f.header_mismatch);
    assert_eq!(
        (f.sample_rate, f.channels, f.samples_per_frame),
        (44_100, 2, 1152)
    );
    assert_eq!(
        (f.version, f.layer),
        (Some(MpegVersion::Mpeg1), Some(Layer::Layer3))
    );
    assert_eq!((f.bitrate_kbps_min, f.bitrate_kbps_max), (128, 128));
    let h = f.header.expect("Info header");
    assert!(h.is_info_cbr);
    assert_eq!(h.frames, Some(f.frames as u32));
    assert!(h.encoder_delay.is_some() && h.encoder_padding.is_some());
    assert_eq!((f.trailing_bytes, f.resyncs), (0, 0));
    // 4 s of audio plus the encoder's delay and padding, in whole frames.
    assert!(f.duration() >= Duration::from_secs(4) && f.duration() < Duration::from_millis(4100));
}

#[test]
fn vbr_q4() {
    let dir = tmp();
    let f = measure(&sine(dir.path(), "vbr.mp3", 4, &["-q:a", "4"]), 0, 0);
    let h = f.header.expect("Xing header");
    assert!(!h.is_info_cbr && !f.header_mismatch && f.clean_end);
    assert_eq!(h.frames, Some(f.frames as u32));
    assert!(f.bitrate_kbps_min < f.bitrate_kbps_max, "{f:?}");
}

#[test]
fn mono_22k_is_mpeg2() {
    let dir = tmp();
    let f = measure(
        &sine(
            dir.path(),
            "m22.mp3",
            3,
            &["-ac", "1", "-ar", "22050", "-b:a", "32k"],
        ),
        0,
        0,
    );
    assert_eq!(
        (f.version, f.sample_rate, f.channels),
        (Some(MpegVersion::Mpeg2), 22_050, 1)
    );
    assert_eq!(f.samples_per_frame, 576);
    assert!(f.clean_end && !f.header_mismatch);
}

#[test]
fn eight_khz_is_mpeg25() {
    let dir = tmp();
    let f = measure(
        &sine(
            dir.path(),
            "m8.mp3",
            3,
            &["-ac", "1", "-ar", "8000", "-b:a", "16k"],
        ),
        0,
        0,
    );
    assert_eq!(
        (f.version, f.sample_rate, f.samples_per_frame),
        (Some(MpegVersion::Mpeg25), 8000, 576)
    );
    assert!(f.clean_end && !f.header_mismatch);
}

#[test]
fn without_xing_header() {
    let dir = tmp();
    let f = measure(
        &sine(
            dir.path(),
            "nox.mp3",
            3,
            &["-b:a", "128k", "-write_xing", "0"],
        ),
        0,
        0,
    );
    assert!(f.header.is_none() && !f.header_mismatch && f.clean_end);
}

#[test]
fn layer2_stream() {
    let dir = tmp();
    let path = sine(
        dir.path(),
        "l2.mp2",
        3,
        &["-c:a", "mp2", "-b:a", "192k", "-f", "mp2"],
    );
    let f = scan_file(&path).unwrap();
    // symphonia is built with Layer III only here, so ffprobe alone is the reference.
    assert_eq!(ffprobe_packets(&path), Some(f.frames));
    assert_eq!(
        (f.layer, f.samples_per_frame, f.clean_end),
        (Some(Layer::Layer2), 1152, true)
    );
}

/// An ID3v2 tag of `body` bytes whose content is full of MP3 sync words.
fn id3v2_tag(body: usize) -> Vec<u8> {
    let mut t = b"ID3\x03\x00\x00".to_vec();
    t.extend((0..4).rev().map(|i| ((body >> (7 * i)) & 0x7F) as u8));
    t.extend((0..body).map(|i| [0xFF, 0xFB, 0x90, 0x64][i % 4]));
    t
}

#[test]
fn huge_id3v2_tags() {
    let dir = tmp();
    // ffmpeg's own tag with a 100 KB comment (the most one argument may be)...
    let comment = "c".repeat(100_000);
    let own = sine(
        dir.path(),
        "meta.mp3",
        3,
        &["-b:a", "128k", "-metadata", &format!("comment={comment}")],
    );
    let f = measure(&own, 0, 0);
    assert!(f.leading_bytes > 100_000 && f.clean_end && !f.header_mismatch);
    // ...and a 3 MB tag of sync words before it.
    let path = dir.path().join("two_tags.mp3");
    fs::write(
        &path,
        [id3v2_tag(3_000_000), fs::read(&own).unwrap()].concat(),
    )
    .unwrap();
    let g = measure(&path, 0, 0);
    assert_eq!(g.frames, f.frames);
    assert_eq!(g.leading_bytes, f.leading_bytes + 3_000_010);
}

#[test]
fn truncated_mid_frame() {
    let dir = tmp();
    let whole = fs::read(sine(dir.path(), "w.mp3", 3, &["-b:a", "128k"])).unwrap();
    let full = scan_file(&dir.path().join("w.mp3")).unwrap();
    let path = dir.path().join("cut.mp3");
    fs::write(&path, &whole[..whole.len() - 1000]).unwrap();
    let f = measure(&path, 1, 0);
    assert!(!f.clean_end && f.trailing_bytes > 0 && f.trailing_bytes < 418);
    assert_eq!(f.frames, full.frames - 3);
    // The Info header still claims the old count.
    assert!(f.header_mismatch);
}

#[test]
fn placeholder_header_patched() {
    let dir = tmp();
    let src = sine(dir.path(), "v.mp3", 3, &["-q:a", "4"]);
    let mut bytes = fs::read(&src).unwrap();
    let at = find(&bytes, b"Xing").expect("Xing tag") + 8; // id, flags, then the count
    bytes[at..at + 4].copy_from_slice(&[0; 4]);
    let path = dir.path().join("placeholder.mp3");
    fs::write(&path, &bytes).unwrap();
    let f = measure(&path, 0, 0);
    assert_eq!(f.frames, scan_file(&src).unwrap().frames);
    assert_eq!(f.header.unwrap().frames, Some(0));
    assert!(f.header_mismatch && f.clean_end);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A live recording as the pods make it, killed with SIGKILL mid-segment: ffmpeg has flushed
/// 256 KiB blocks but never went back to fill in the Xing header.
#[test]
fn sigkilled_segment_recording() {
    let dir = tmp();
    let pattern = dir.path().join("seg%03d.mp3");
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-re", "-f", "lavfi"])
        .args([
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-ac",
            "2",
            "-b:a",
            "320k",
        ])
        .args(["-f", "segment", "-segment_time", "600"])
        .arg(&pattern)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg on PATH");
    let path = dir.path().join("seg000.mp3");
    let deadline = Instant::now() + Duration::from_secs(60);
    while fs::metadata(&path).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "ffmpeg wrote nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let len = fs::metadata(&path).unwrap().len();
    assert_eq!(len % (256 * 1024), 0, "ffmpeg flushes whole 256 KiB blocks");
    // The block boundary cuts a frame (unless it falls between two by chance).
    let cut = u64::from(scan_file(&path).unwrap().trailing_bytes > 0);
    let f = measure(&path, cut, 0);
    let h = f.header.expect("placeholder header");
    assert_eq!((h.frames, h.is_info_cbr), (Some(0), false));
    assert!(f.header_mismatch && f.frames > 200);
    assert_eq!(f.clean_end, cut == 0);
}

#[test]
fn garbage_named_mp3() {
    // ffprobe is no reference here: it guesses a format from anything. With ffmpeg 5.1 it takes
    // 26 of the many sync words in these random bytes for MP3 frames (its parser needs no
    // confirming next header), finds one "frame" in zeros, and reads the error page as AMR-WB.
    // symphonia refuses all three. None of it is audio, and we count none.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let random: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let page = "<html><body><h1>503 Service Unavailable</h1></body></html>\n".repeat(2000);
    let dir = tmp();
    for (name, bytes) in [
        ("random.mp3", random),
        ("zeros.mp3", vec![0; 200_000]),
        ("page.mp3", page.into_bytes()),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, &bytes).unwrap();
        let (f, _, sym) = counts(&path);
        assert_eq!(sym, None, "{name}");
        assert!(!f.has_audio() && !f.clean_end, "{name}");
        assert_eq!(f.leading_bytes, bytes.len() as u64, "{name}");
    }
}

#[test]
fn empty_file() {
    let dir = tmp();
    let path = dir.path().join("empty.mp3");
    fs::write(&path, b"").unwrap();
    let f = measure(&path, 0, 0);
    assert_eq!(f, Mp3Facts::default());
}

#[test]
fn two_files_concatenated() {
    let dir = tmp();
    let a = fs::read(sine(dir.path(), "a.mp3", 3, &["-b:a", "128k"])).unwrap();
    let b = fs::read(sine(dir.path(), "b.mp3", 2, &["-b:a", "128k"])).unwrap();
    let (fa, fb) = (
        scan_file(&dir.path().join("a.mp3")).unwrap(),
        scan_file(&dir.path().join("b.mp3")).unwrap(),
    );
    let path = dir.path().join("ab.mp3");
    fs::write(&path, [a, b].concat()).unwrap();
    // The second file's Info frame: audio to ffprobe and us, dropped by symphonia.
    let f = measure(&path, 0, -1);
    assert_eq!(f.frames, fa.frames + fb.frames + 1);
    assert!(f.clean_end && f.header_mismatch);
    assert_eq!(f.resyncs, 0);
}

/// A cut file with another joined after it: the cut frame's stated length runs into the next
/// file. Like ffprobe and symphonia we trust it (it continued a chain) and resync after it.
#[test]
fn cut_file_then_another_joined() {
    let dir = tmp();
    let a = fs::read(sine(dir.path(), "a.mp3", 3, &["-b:a", "128k"])).unwrap();
    let b = fs::read(sine(dir.path(), "b.mp3", 2, &["-b:a", "128k"])).unwrap();
    for cut in [100, 300, 400] {
        let path = dir.path().join(format!("cut{cut}.mp3"));
        fs::write(&path, [&a[..a.len() - cut], &b[..]].concat()).unwrap();
        let f = measure(&path, 0, 0);
        assert_eq!((f.resyncs, f.clean_end), (1, true));
    }
}
