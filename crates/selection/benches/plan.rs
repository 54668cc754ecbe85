//! `selection::plan` over 10,000 files in one folder (issue 5 target: ≤ 50 ms).
//!
//! The folder is what two replicas leave after about 35 days without a working job: ~5,000
//! files each of 600-s, 128 kbps MPEG-1 Layer III segments (22,969 frames, 600.0065 s),
//! named `<pod>_<%Y%m%dT%H%M%S>.mp3` by ffmpeg's segment muxer (the name is the segment's
//! start rounded down to the second, so names drift along with the audio), the second
//! replica 3.4 s behind the first, modification times when each file was closed. Like the
//! real recordings, a few files are irregular: the second replica is SIGKILLed late in a
//! segment every 700 files (a truncated file whose Xing header still claims 0 frames, then a
//! new recording named 1.5 s after the kill), the first is killed early every 1,100 files (a
//! 0-byte file), and each replica's newest file is still being written.
//!
//! Two archive states: empty (the first run over the backlog), and holding the 144 rows of
//! the day before the folder's first file (what `read_state` passes on a steady run).
//!
//! Run with `cargo bench -p selection --bench plan` (scripts/bench.sh does). Inputs are
//! built through serde so that fields added with `#[serde(default)]` do not break the bench.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use selection::{plan, ArchiveState, SeenFile, Settings};
use serde_json::{json, Value};

const FILES: usize = 10_000;
const SEGMENT_S: u64 = 600;
const SAMPLE_RATE: u64 = 44_100;
const SAMPLES_PER_FRAME: u64 = 1152;
/// A 600-s segment cut by ffmpeg from a 44.1 kHz stream: 22,969 frames = 600.0065 s.
const FRAMES: u64 = 22_969;
/// 128 kbps at 44.1 kHz: 417.96 bytes per frame on average.
const FRAME_BYTES: f64 = 128_000.0 * 1152.0 / 8.0 / 44_100.0;
const PODS: [(&str, f64); 2] = [
    ("ffmpeg-deployment-6d4cf56db6-2xk7q", 0.0),
    ("ffmpeg-deployment-6d4cf56db6-w9n4t", 3.4),
];

fn frames_secs(frames: u64) -> f64 {
    (frames * SAMPLES_PER_FRAME) as f64 / SAMPLE_RATE as f64
}

fn at(epoch_s: f64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis((epoch_s * 1000.0).round() as i64).expect("valid time")
}

fn file_name(pod: &str, start_s: f64) -> String {
    format!("{pod}_{}.mp3", at(start_s.floor()).format("%Y%m%dT%H%M%S"))
}

fn measured(frames: u64, clean_end: bool, header_frames: Option<u64>) -> Value {
    json!({ "Measured": {
        "frames": frames,
        "sample_rate": SAMPLE_RATE,
        "samples_per_frame": SAMPLES_PER_FRAME,
        "clean_end": clean_end,
        "header_frames": header_frames,
    }})
}

fn seen(name: String, size: u64, modified: f64, audio: Value) -> SeenFile {
    serde_json::from_value(json!({
        "name": name,
        "size": size,
        "modified": at(modified),
        "audio": audio,
    }))
    .expect("SeenFile from JSON")
}

/// The folder, the `now` of the run that sees it and its oldest file's start: each replica records until `now`, so
/// its newest file is being written, and the oldest files are dropped to leave `FILES`.
fn folder(first_start: f64, count: usize) -> (Vec<SeenFile>, DateTime<Utc>, f64) {
    let now = first_start + (count / PODS.len()) as f64 * frames_secs(FRAMES) - 100.0;
    let mut files: Vec<(f64, SeenFile)> = Vec::with_capacity(count + 32);
    for (p, (pod, offset)) in PODS.iter().enumerate() {
        let mut t = first_start + offset;
        for k in 0.. {
            let full = frames_secs(FRAMES);
            if t + full > now {
                // Being written: flushed in 256 KiB blocks, header not yet rewritten.
                let written = ((now - t) * SAMPLE_RATE as f64 / SAMPLES_PER_FRAME as f64
                    * FRAME_BYTES) as u64
                    / 262_144
                    * 262_144;
                let frames = (written as f64 / FRAME_BYTES) as u64;
                let audio = measured(frames, false, Some(0));
                let flushed = t + frames_secs(frames);
                files.push((t, seen(file_name(pod, t), written, flushed, audio)));
                break;
            }
            if p == 1 && k % 700 == 350 {
                // SIGKILL late in the segment: placeholder header, partial last frame.
                let frames = 9_000;
                let size = (frames as f64 * FRAME_BYTES) as u64 + 200;
                let killed = t + frames_secs(frames);
                let audio = measured(frames, false, Some(0));
                files.push((t, seen(file_name(pod, t), size, killed, audio)));
                t = killed + 1.5;
                continue;
            }
            if p == 0 && k % 1100 == 550 {
                // SIGKILL before ffmpeg's first 256 KiB write: an empty file, forever.
                files.push((t, seen(file_name(pod, t), 0, t, json!("NotMeasured"))));
                t += 5.0 + 1.5;
                continue;
            }
            let size = (FRAMES as f64 * FRAME_BYTES) as u64 + 417;
            let audio = measured(FRAMES, true, Some(FRAMES));
            files.push((t, seen(file_name(pod, t), size, t + full + 0.25, audio)));
            t += full;
        }
    }
    files.sort_by(|a, b| a.0.total_cmp(&b.0));
    let drop = files.len().saturating_sub(count);
    let oldest = files[drop].0;
    let files: Vec<SeenFile> = files.into_iter().skip(drop).map(|(_, f)| f).collect();
    assert_eq!(files.len(), count);
    (files, at(now), oldest)
}

/// Rows for the day before `oldest`: one replica's 144 segments, as our job writes them.
fn previous_day(oldest: f64) -> ArchiveState {
    let segments: Vec<Value> = (1..=144)
        .rev()
        .map(|i| {
            let t = oldest - i as f64 * frames_secs(FRAMES);
            let name = file_name(PODS[0].0, t);
            let blob = format!("{}/{name}", at(t.floor()).format("%d-%m-%Y"));
            let ms = (frames_secs(FRAMES) * 1000.0) as u64;
            json!({
                "file_name": name,
                "blob_name": blob,
                "size": (FRAMES as f64 * FRAME_BYTES) as u64 + 417,
                "duration": { "secs": ms / 1000, "nanos": (ms % 1000) * 1_000_000 },
                "truncated": false,
            })
        })
        .collect();
    serde_json::from_value(json!({ "segments": segments })).expect("ArchiveState from JSON")
}

fn bench(c: &mut Criterion) {
    let settings = Settings::new(SEGMENT_S, "hope").expect("settings");
    // 2026-10-20T00:00:03.27Z
    let first_start = 1_792_454_403.27;
    // How the time grows with the folder (one-off timings, best of 3), to tell a slow
    // constant from a slow algorithm.
    for count in [1_250, 2_500, 5_000, FILES] {
        let (files, now, _) = folder(first_start, count);
        let best = (0..3)
            .map(|_| {
                let started = Instant::now();
                black_box(plan(&files, &ArchiveState::default(), &settings, now));
                started.elapsed()
            })
            .min()
            .unwrap_or_default();
        eprintln!("plan, {count} files, empty archive: best of 3 {best:?}");
    }
    let (files, now, oldest) = folder(first_start, FILES);
    let states = [
        ("empty archive", ArchiveState::default()),
        ("previous day archived", previous_day(oldest)),
    ];
    let mut group = c.benchmark_group("plan");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    for (label, state) in &states {
        // One plain run first: what the plan decides, so a degenerate input is visible.
        let started = Instant::now();
        let p = plan(&files, state, &settings, now);
        eprintln!(
            "plan, {FILES} files, {label}: {} uploads, {} deletions, {} holds, {} gaps; one run {:?}",
            p.uploads.len(),
            p.deletions.len(),
            p.holds.len(),
            p.gaps.len(),
            started.elapsed()
        );
        assert!(!p.uploads.is_empty(), "the backlog must be archived");
        group.bench_function(format!("{FILES} files, 2 replicas, {label}"), |b| {
            b.iter(|| plan(black_box(&files), black_box(state), &settings, now))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
