//! [`Method::Screened`] against [`Method::Decode`] on every fixture and on synthetic
//! signals: the same spans, and no window the decoder calls silent passed over.

use std::path::{Path, PathBuf};
use std::process::Command;

use deadair::internals::Verdict;
use deadair::{Detector, Method, Report, Threshold};

/// Every MP3 under `fixtures/` (one level of folders).
fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&root).expect("read fixtures/").flatten() {
        let Ok(inner) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for f in inner.flatten() {
            if f.path().extension().is_some_and(|e| e == "mp3") {
                files.push(f.path());
            }
        }
    }
    files.sort();
    files
}

/// The synthetic signals in both recorder formats, made with ffmpeg: each a name, its
/// seconds, its lavfi inputs and the filter that makes one stream of them.
fn synthetic(dir: &Path) -> Vec<PathBuf> {
    // Pink noise at amplitude 0.01 measures −54.3 dBFS RMS (volumedetect); the speech-like
    // envelope (4-Hz syllables, a pause of about 1 s every 2.7 s) takes 5.5 dB off that.
    let speech = "volume='(0.6+0.4*sin(2*PI*4*t))*gt(sin(2*PI*0.37*t)+0.4,0)':eval=frame";
    let signals: [(&str, &str, &[&str], &str); 9] = [
        ("silence", "150", &["anullsrc=r=44100:cl=mono"], "anull"),
        (
            "hum-60dBFS",
            "150",
            &["aevalsrc=0.001*sin(2*PI*50*t):s=44100"],
            "anull",
        ),
        (
            "sine-loud",
            "150",
            &["aevalsrc=0.5*sin(2*PI*440*t):s=44100"],
            "anull",
        ),
        (
            "pink-gaps",
            "150",
            &["anoisesrc=color=pink:amplitude=0.3:r=44100:seed=7"],
            "volume=enable='between(t,20,60)+between(t,95,135)':volume=0",
        ),
        // scripts/bench-data.py's segment, exactly: a 440-Hz tone mixed with pink noise.
        (
            "bench",
            "600",
            &[
                "sine=frequency=440:sample_rate=44100",
                "anoisesrc=color=pink:amplitude=0.05:sample_rate=44100",
            ],
            "amix=inputs=2:duration=shortest",
        ),
        (
            "speech-45dBFS",
            "150",
            &["anoisesrc=color=pink:amplitude=0.055:r=44100:seed=11"],
            speech,
        ),
        (
            "speech-55dBFS",
            "150",
            &["anoisesrc=color=pink:amplitude=0.0174:r=44100:seed=12"],
            speech,
        ),
        // RMS −52 dBFS: peak 10^(−52/20) · √2.
        (
            "sine-52dBFS",
            "150",
            &["aevalsrc=0.003549*sin(2*PI*1000*t):s=44100"],
            "anull",
        ),
        // Digital silence for 30 s, then pink noise rising linearly to 0.3 over 90 s.
        (
            "pink-fade-in",
            "150",
            &["anoisesrc=color=pink:amplitude=0.3:r=44100:seed=5"],
            "afade=t=in:st=30:d=90",
        ),
    ];
    let formats = [
        ("32k-mono", "32k", "1", "22050"),
        ("128k-stereo", "128k", "2", "44100"),
    ];
    let mut files = Vec::new();
    for (name, seconds, inputs, filter) in signals {
        for (fname, rate, ac, ar) in formats {
            let out = dir.join(format!("{name}-{fname}.mp3"));
            let mut cmd = Command::new("ffmpeg");
            cmd.args(["-v", "error", "-nostdin", "-y"]);
            for i in inputs {
                cmd.args(["-f", "lavfi", "-i", i]);
            }
            let status = cmd
                .args(["-t", seconds, "-filter_complex", filter])
                .args(["-ac", ac, "-ar", ar, "-c:a", "libmp3lame", "-b:a", rate])
                .arg(&out)
                .status()
                .expect("run ffmpeg");
            assert!(status.success(), "ffmpeg made no {}", out.display());
            files.push(out);
        }
    }
    files
}

fn run(data: &[u8], t: Threshold, method: Method) -> (Report, Vec<(f64, Verdict)>, u64) {
    let mut d = Detector::with_method(t, method);
    for c in data.chunks(65_536) {
        d.feed(c);
    }
    d.finish_windows()
}

#[test]
fn the_screen_gives_the_decoders_spans_and_never_misses_a_silent_window() {
    let dir = std::env::temp_dir().join(format!("deadair-same-spans-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("make a temporary folder");
    let mut files = fixtures();
    assert!(files.len() > 100, "fixtures/ holds {} mp3s", files.len());
    files.extend(synthetic(&dir));
    let quieter = Threshold {
        min_seconds: 15.0,
        dbfs: -70.0,
    };
    let (mut missed, mut silent, mut spans) = (0u64, 0u64, 0usize);
    let (mut frames, mut decoded) = (0u64, 0u64);
    for path in &files {
        let data = std::fs::read(path).expect("read a corpus file");
        for t in [Threshold::default(), quieter] {
            let (full, fw, _) = run(&data, t, Method::Decode);
            let (screened, sw, n) = run(&data, t, Method::Screened);
            let at = format!("{} at {t:?}", path.display());
            assert_eq!(full.frames, screened.frames, "{at}");
            assert_eq!(full.seconds, screened.seconds, "{at}");
            assert_eq!(fw.len(), sw.len(), "{at}: windows");
            for (&(fs, fv), &(ss, sv)) in fw.iter().zip(&sw) {
                assert_eq!(fs, ss, "{at}: window phase");
                if fv == Verdict::Silent {
                    silent += 1;
                    if sv == Verdict::Skipped {
                        missed += 1;
                        eprintln!("{at}: the window at {fs:.1} s passed over");
                    }
                }
            }
            assert_eq!(
                full.spans.len(),
                screened.spans.len(),
                "{at}: {full:?} {screened:?}"
            );
            for (a, b) in full.spans.iter().zip(&screened.spans) {
                assert!(
                    (a.start_s - b.start_s).abs() <= 0.1 + 1e-9
                        && (a.end_s - b.end_s).abs() <= 0.1 + 1e-9,
                    "{at}: {a:?} against {b:?}"
                );
            }
            spans += full.spans.len();
            frames += full.frames;
            decoded += n;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "{} files × 2 settings: {spans} spans, {silent} silent windows, {missed} missed; \
         {decoded} of {frames} frames decoded",
        files.len()
    );
    assert_eq!(missed, 0, "silent windows the screen passed over");
    assert!(
        spans >= 20,
        "only {spans} spans: the corpus lost its silences"
    );
}
