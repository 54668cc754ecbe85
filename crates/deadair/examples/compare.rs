//! The measurement behind docs/dead-air.md: the three methods and ffmpeg's `silencedetect`
//! on the given files, spans and cost per hour of audio.
//!
//!     cargo run --release -p deadair --example compare -- fixtures/dead-air/*.mp3
//!
//! `MIN_SECONDS=15` lowers the duration setting (for all three) to see shorter spans.
//!
//! Cost is the best of several passes over each file held in memory (no I/O), single
//! thread; `silencedetect` is timed as a whole ffmpeg process (decode + filter), for scale.

use std::process::Command;
use std::time::{Duration, Instant};

use deadair::{Detector, Method, Report, Threshold};

const PASSES: usize = 5;

fn threshold() -> Threshold {
    let min_seconds = std::env::var("MIN_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30.0);
    Threshold {
        min_seconds,
        ..Threshold::default()
    }
}

fn run(data: &[u8], method: Method) -> (Report, Duration) {
    let mut best = Duration::MAX;
    let mut report = None;
    for _ in 0..PASSES {
        let t = Instant::now();
        let mut d = Detector::with_method(threshold(), method);
        // 64 KiB chunks, as an upload reads them.
        for c in data.chunks(65_536) {
            d.feed(c);
        }
        let r = d.finish();
        best = best.min(t.elapsed());
        report = Some(r);
    }
    (report.expect("at least one pass"), best)
}

/// `silencedetect` at the same settings; its times are the decoder's (encoder delay
/// skipped, so about 0.024–0.05 s earlier than ours).
fn silencedetect(path: &str) -> (Vec<(f64, f64)>, Duration) {
    let t = Instant::now();
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-i", path, "-af"])
        .arg(format!(
            "silencedetect=noise={}dB:d={}",
            threshold().dbfs,
            threshold().min_seconds
        ))
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let took = t.elapsed();
    let log = String::from_utf8_lossy(&out.stderr);
    let mut spans = Vec::new();
    let mut start = None;
    for line in log.lines() {
        if let Some(v) = line.split("silence_start: ").nth(1) {
            start = v.trim().parse::<f64>().ok();
        }
        if let Some(v) = line.split("silence_end: ").nth(1) {
            let end = v.split_whitespace().next().and_then(|e| e.parse().ok());
            if let (Some(s), Some(e)) = (start.take(), end) {
                spans.push((s, e));
            }
        }
    }
    (spans, took)
}

fn main() {
    let mut audio = 0.0;
    let mut cost = [Duration::ZERO; 4];
    for path in std::env::args().skip(1) {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let (dec, t_dec) = run(&data, Method::Decode);
        let (side, t_side) = run(&data, Method::SideInfo);
        let (scr, t_scr) = run(&data, Method::Screened);
        let (ff, t_ff) = silencedetect(&path);
        cost[3] += t_scr;
        audio += dec.seconds;
        cost[0] += t_dec;
        cost[1] += t_side;
        cost[2] += t_ff;
        let hour = |d: Duration| d.as_secs_f64() * 3600.0 / dec.seconds.max(1e-9);
        println!(
            "{path}: {:.3} s of audio; per hour: decode {:.3} s, screened {:.3} s, side info {:.4} s",
            dec.seconds,
            hour(t_dec),
            hour(t_scr),
            hour(t_side)
        );
        let show = |s: &[(f64, f64)]| {
            s.iter()
                .map(|(a, b)| format!("{a:.2}-{b:.2} ({:.2} s)", b - a))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let pairs = |r: &Report| -> Vec<(f64, f64)> {
            r.spans.iter().map(|s| (s.start_s, s.end_s)).collect()
        };
        println!("  decode        {}", show(&pairs(&dec)));
        println!("  screened      {}", show(&pairs(&scr)));
        println!("  side info     {}", show(&pairs(&side)));
        println!("  silencedetect {}", show(&ff));
    }
    let per_hour = |d: Duration| d.as_secs_f64() * 3600.0 / audio.max(1e-9);
    println!(
        "cost per hour of audio: decode {:.3} s, screened {:.3} s, side info {:.4} s, ffmpeg silencedetect {:.3} s ({audio:.1} s of audio)",
        per_hour(cost[0]),
        per_hour(cost[3]),
        per_hour(cost[1]),
        per_hour(cost[2])
    );
}
