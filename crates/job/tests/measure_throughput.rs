//! How fast `scan_file` is against `ffprobe -count_packets`, on a page-cached 10 MB recording.
//! Ignored by default (it encodes 640 s of audio and is timing-sensitive); run with
//! `cargo test --release -p job --test measure_throughput -- --ignored --nocapture`.
//! `MEASURE_BENCH_FILE=path` measures that file instead.

mod support;
use support::probe;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use mp3count::scan_file;

/// The best of `runs` timings: the least disturbed by whatever else the machine does.
fn best(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
#[ignore]
fn scan_file_is_20x_faster_than_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let path = match std::env::var_os("MEASURE_BENCH_FILE") {
        Some(p) => PathBuf::from(p),
        None => {
            // 640 s of 128 kbps stereo: about 10 MB, like a long segment of the real streams.
            let path = dir.path().join("big.mp3");
            let ok = Command::new("ffmpeg")
                .args(["-v", "error", "-nostdin", "-f", "lavfi"])
                .args(["-i", "sine=frequency=440:sample_rate=44100:duration=640"])
                .args(["-ac", "2", "-b:a", "128k"])
                .arg(&path)
                .status()
                .expect("ffmpeg on PATH");
            assert!(ok.success());
            path
        }
    };
    let mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
    let facts = scan_file(&path).unwrap(); // also brings the file into the page cache
    assert_eq!(
        facts.frames,
        probe::ffprobe_packets(&path).expect("ffprobe counts the file")
            - u64::from(!facts.clean_end)
    );

    let ours = best(30, || {
        scan_file(&path).unwrap();
    });
    let theirs = best(5, || {
        probe::ffprobe_packets(&path);
    });
    let ratio = theirs.as_secs_f64() / ours.as_secs_f64();
    eprintln!(
        "{mb:.1} MB, {} frames: scan_file {ours:?} ({:.0} MB/s), ffprobe {theirs:?} ({:.0} MB/s): {ratio:.0}x",
        facts.frames,
        mb / ours.as_secs_f64(),
        mb / theirs.as_secs_f64(),
    );
    // A debug build proves nothing about speed.
    if !cfg!(debug_assertions) {
        assert!(ratio >= 20.0, "only {ratio:.1}x faster than ffprobe");
    }
}
