//! Alignment on audio made at test time: silence, unrelated or ambiguous content (must not
//! align), and a positive control at 44.1 kHz stereo 128 kbit/s. Files are encoded with
//! ffmpeg/libmp3lame into a temporary folder; without ffmpeg on PATH those tests only print
//! that they were skipped (the synthesized-silence test needs nothing).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use align::{align_audio, align_audio_with, align_copy, frames, measure_audio, Method, Search};

/// `n` MPEG-2 Layer III frames, 22.05 kHz mono 32 kbit/s, whose side information is all
/// zero: every granule has no coded data, so each frame decodes to exact silence.
fn silent_frames(n: usize) -> Vec<u8> {
    let mut frame = [0u8; 104];
    frame[..4].copy_from_slice(&[0xFF, 0xF3, 0x40, 0xC4]);
    frame.repeat(n)
}

fn ffmpeg_available() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Encodes `seconds` of the lavfi source `source` (from its second `skip`) to MP3 with
/// libmp3lame, as the recorders do, and returns the bytes.
fn encode(dir: &Path, name: &str, source: &str, skip: f64, seconds: f64, args: &[&str]) -> Vec<u8> {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
        ])
        .args(["-ss", &format!("{skip}"), "-t", &format!("{seconds}")])
        .args(["-c:a", "libmp3lame"])
        .args(args)
        .arg(&out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg failed for {source}");
    std::fs::read(&out).expect("read encoded file")
}

/// The recorders' format: 22.05 kHz mono, LAME's default 32 kbit/s.
const RECORDER: [&str; 4] = ["-ar", "22050", "-ac", "1"];

#[test]
fn synthesized_silence_is_not_aligned() {
    let a = silent_frames(400);
    let b = silent_frames(300);
    assert_eq!(frames(&a).len(), 400);
    assert_eq!(
        align_copy(&a, &b),
        None,
        "identical silent frames say nothing"
    );
    assert_eq!(align_audio(&a, &b), None);
    assert_eq!(
        measure_audio(&a, &b, &Search::default()),
        None,
        "silence has no peak"
    );
    // Silence against real audio.
    let real = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/steady/ffmpeg-deployment-7c9f8d-abcde_20261126T151443.mp3"),
    )
    .expect("fixture");
    assert_eq!(align_audio(&real, &a), None);
    assert_eq!(align_audio(&a, &real), None);
    // Nothing at all.
    assert_eq!(align_audio(&[], &real), None);
    assert_eq!(align_copy(&real, b"not an mp3"), None);
}

#[test]
fn encoded_silence_and_near_silence_are_not_aligned() {
    if !ffmpeg_available() {
        eprintln!("skipped: no ffmpeg on PATH");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let silence = "anullsrc=r=22050:cl=mono";
    let a = encode(d, "a.mp3", silence, 0.0, 10.0, &RECORDER);
    let b = encode(d, "b.mp3", silence, 0.0, 10.0, &RECORDER);
    assert!(frames(&a).len() > 300);
    assert_eq!(align_copy(&a, &b), None);
    assert_eq!(align_audio(&a, &b), None);
    // Noise at -80 dBFS: below the silence floor (-60 dBFS).
    let hiss = "anoisesrc=r=22050:a=0.0001:seed=7";
    let a = encode(d, "c.mp3", hiss, 0.0, 10.0, &RECORDER);
    let b = encode(d, "d.mp3", hiss, 3.0, 7.0, &RECORDER);
    assert_eq!(align_audio(&a, &b), None);
}

#[test]
fn unrelated_and_ambiguous_audio_is_not_aligned() {
    if !ffmpeg_available() {
        eprintln!("skipped: no ffmpeg on PATH");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // Two different noises.
    let a = encode(
        d,
        "a.mp3",
        "anoisesrc=r=22050:a=0.3:seed=1",
        0.0,
        10.0,
        &RECORDER,
    );
    let b = encode(
        d,
        "b.mp3",
        "anoisesrc=r=22050:a=0.3:seed=2",
        0.0,
        10.0,
        &RECORDER,
    );
    let m = measure_audio(&a, &b, &Search::default()).expect("noise correlates a little");
    assert!(m.peak < 0.2, "{m:?}");
    assert_eq!(align_audio(&a, &b), None);
    // A fixture (the time code) against noise.
    let real = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/stall/ffmpeg-deployment-7c9f8d-abcde_20261126T151504.mp3"),
    )
    .expect("fixture");
    assert_eq!(align_audio(&real, &a), None);
    // A steady tone matches itself every period: overlapping, but ambiguous, so not reported.
    let tone = "sine=f=1000:r=22050";
    let a = encode(d, "c.mp3", tone, 0.0, 10.0, &RECORDER);
    let b = encode(d, "d.mp3", tone, 4.3, 5.0, &RECORDER);
    let m = measure_audio(&a, &b, &Search::default()).expect("a tone correlates");
    assert!(m.peak > 0.9 && !m.is_clear(), "{m:?}");
    assert_eq!(align_audio(&a, &b), None);
}

/// A positive control outside the fixtures' format: noise, 44.1 kHz stereo 128 kbit/s (the
/// decimation by 6 and the channel mix), two encoders started 7.3 s apart. Both files start
/// with the same LAME priming (1105 samples), so the offset is exactly 7.3 s.
#[test]
fn noise_at_44k_stereo_aligns_to_the_sample() {
    if !ffmpeg_available() {
        eprintln!("skipped: no ffmpeg on PATH");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let src = "anoisesrc=r=44100:a=0.3:c=pink:seed=3,aformat=channel_layouts=stereo";
    let hq = ["-ar", "44100", "-ac", "2", "-b:a", "128k"];
    let a = encode(d, "a.mp3", src, 0.0, 12.0, &hq);
    let b = encode(d, "b.mp3", src, 7.3, 8.0, &hq);
    let al = align_audio(&a, &b).expect("aligned");
    assert!((al.offset_samples - 7.3 * 44_100.0).abs() < 1.0, "{al:?}");
    assert!(al.confidence > 0.9, "{al:?}");
    // And b's start before a's: the negative offset.
    let back = align_audio(&b, &a).expect("aligned");
    assert!(
        (back.offset_samples + 7.3 * 44_100.0).abs() < 1.0,
        "{back:?}"
    );
}

/// Whether this ffmpeg can make `source` (e.g. `flite` is an optional library).
fn lavfi_works(source: &str) -> bool {
    Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-nostdin",
            "-f",
            "lavfi",
            "-i",
            source,
        ])
        .args(["-t", "0.1", "-f", "null", "-"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Renders `source` to a WAV file once, then encodes two replicas from it: `a` from 0 s and
/// `b` from `offset` s, `seconds` long each, in the recorders' format. Each encoder starts
/// with the same LAME priming, so `b` starts exactly `offset` s after `a`.
fn replicas(dir: &Path, source: &str, offset: f64, seconds: f64) -> (Vec<u8>, Vec<u8>) {
    let wav = dir.join("source.wav");
    let status = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
        ])
        .args(["-t", &format!("{}", offset + seconds)])
        .arg(&wav)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg failed for {source}");
    let mut out = Vec::new();
    for (name, skip) in [("a.mp3", 0.0), ("b.mp3", offset)] {
        let path = dir.join(name);
        let status = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-nostdin", "-y"])
            .args(["-ss", &format!("{skip}"), "-t", &format!("{seconds}"), "-i"])
            .arg(&wav)
            .args(["-c:a", "libmp3lame"])
            .args(RECORDER)
            .arg(&path)
            .status()
            .expect("run ffmpeg");
        assert!(status.success());
        out.push(std::fs::read(&path).expect("read"));
    }
    let b = out.pop().expect("b");
    (out.pop().expect("a"), b)
}

/// Synthetic speech (flite) and music (harmonic notes with decaying envelopes and a hi-hat):
/// the plain correlation finds them to a fraction of a sample.
#[test]
fn speech_and_music_align_to_the_sample() {
    if !ffmpeg_available() {
        eprintln!("skipped: no ffmpeg on PATH");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let text = "Good evening and welcome to the news at six. Heavy rain is expected across \
                the north tonight, with winds of up to eighty kilometres an hour along the \
                coast. In the city, the council has approved the new tram line, which will \
                open in the spring of next year.";
    let speech = format!("flite=text='{text}':voice=slt");
    let note = "220*pow(2\\,mod(floor(t*2)*5\\,12)/12)";
    let music = format!(
        "aevalsrc='0.3*exp(-4*mod(t\\,0.5))*(sin(2*PI*{note}*t)+0.5*sin(4*PI*{note}*t)\
         +0.3*sin(6*PI*{note}*t))+0.1*exp(-30*mod(t\\,0.25))*(2*random(0)-1)':s=44100"
    );
    for (what, source) in [("speech", speech), ("music", music)] {
        if !lavfi_works(&source) {
            eprintln!("skipped {what}: this ffmpeg cannot make it");
            continue;
        }
        let (a, b) = replicas(d, &source, 6.37, 10.0);
        let al = align_audio(&a, &b).unwrap_or_else(|| panic!("{what} not aligned"));
        println!("{what}: {al:?}");
        assert!(
            (al.offset_samples - 6.37 * 22_050.0).abs() < 1.0,
            "{what}: {al:?}"
        );
        assert!(al.confidence > 0.8, "{what}: {al:?}");
    }
}

/// A looped melody (13 notes, 5.2 s) over quiet pink noise: the plain correlation finds the
/// loop's repeat almost as good as the offset (ambiguous), the whitened one finds the noise.
#[test]
fn a_loop_over_noise_needs_whitening() {
    if !ffmpeg_available() {
        eprintln!("skipped: no ffmpeg on PATH");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let source = "anoisesrc=r=22050:a=0.05:c=pink:seed=5[n];\
                  aevalsrc='0.3*sin(2*PI*t*(220+55*mod(floor(t*2.5)*7\\,13)))':s=22050[m];\
                  [n][m]amix=inputs=2";
    let (a, b) = replicas(dir.path(), source, 6.1, 10.0);
    let al = align_audio(&a, &b).expect("aligned");
    println!("{al:?}");
    assert_eq!(al.method, Method::AudioWhitened);
    assert!((al.offset_samples - 6.1 * 22_050.0).abs() < 2.0, "{al:?}");
}

/// Aligning the tail of a 600-s 128 kbit/s file against the head of the next one, near the
/// offset the names give (±16 s), decodes only a few seconds of each. Encoding the two files
/// takes a while: `cargo test --release -p align --test synthetic -- --ignored --nocapture`.
#[test]
#[ignore = "encodes 20 minutes of audio with ffmpeg"]
fn long_files_decode_only_the_window() {
    if !ffmpeg_available() {
        eprintln!("skipped: no ffmpeg on PATH");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // Something like a programme: pink noise under a melody whose notes change every 0.4 s.
    let src = "anoisesrc=r=44100:a=0.05:c=pink:seed=5[n];\
               aevalsrc='0.3*sin(2*PI*t*(220+55*mod(floor(t*2.5)*7\\,13)))':s=44100[m];\
               [n][m]amix=inputs=2,aformat=channel_layouts=stereo";
    let hq = ["-ar", "44100", "-ac", "2", "-b:a", "128k"];
    let t = Instant::now();
    let a = encode(d, "a.mp3", src, 0.0, 600.0, &hq);
    let b = encode(d, "b.mp3", src, 596.5, 600.0, &hq);
    println!("encoded 2 × 600 s in {:.1?}", t.elapsed());
    // The names say 597 s; a pod restart's burst could make it up to ~16 s off.
    let search = Search {
        expected_offset_s: Some(597.0),
        tolerance_s: 16.0,
        ..Search::default()
    };
    let t = Instant::now();
    let al = align_audio_with(&a, &b, &search).expect("aligned");
    let took = t.elapsed();
    let total = frames(&a).len() + frames(&b).len();
    println!(
        "tail vs head: {took:.1?}, decoded {} of {total} frames ({:.1} s of audio): {al:?}",
        al.decoded_frames,
        al.decoded_frames as f64 * 1152.0 / 44_100.0
    );
    assert!((al.offset_samples - 596.5 * 44_100.0).abs() < 1.0, "{al:?}");
    assert!(
        al.decoded_frames < 1200,
        "decoded {} frames",
        al.decoded_frames
    );
    // For comparison: anywhere (decodes both files whole).
    let t = Instant::now();
    let blind = align_audio(&a, &b).expect("aligned blind");
    println!(
        "blind: {:.1?}, decoded {} frames: offset {:.1} samples",
        t.elapsed(),
        blind.decoded_frames,
        blind.offset_samples
    );
    assert!((blind.offset_samples - al.offset_samples).abs() < 1.0);
    // Copy alignment on the same files (frames differ: no decoding, a quick None).
    let t = Instant::now();
    let copy = align_copy(&a, &b);
    println!("copy: {:.1?}: {copy:?}", t.elapsed());
}
