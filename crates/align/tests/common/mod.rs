//! The recorded fixtures (`fixtures/`), their truth, and checking an alignment against it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use align::Alignment;
use serde::Deserialize;

#[derive(Deserialize)]
struct Manifest {
    segment_time: f64,
    files: Vec<FileEntry>,
}

#[derive(Deserialize)]
struct FileEntry {
    name: String,
    pod: String,
    frames: Option<u64>,
    xing_frames: Option<u64>,
    broadcast_start_s: Option<f64>,
    broadcast_end_s: Option<f64>,
    name_broadcast_s: Option<f64>,
}

/// A recorded file with audio and a time-coded span.
pub struct Rec {
    pub scenario: &'static str,
    pub name: String,
    /// `abcde_151441`: the pod's suffix and the name's time.
    pub short: String,
    pub pod: String,
    /// Broadcast time of its first and last sample, seconds (the manifest's truth).
    pub start: f64,
    pub end: f64,
    /// Broadcast time its name says, seconds.
    pub named: f64,
    /// First file after a connect: begins with Icecast's burst, ~8 s before its name.
    pub burst: bool,
    /// Killed or stopped early: shorter than a segment, or its header lies.
    pub cut: bool,
    pub bytes: Vec<u8>,
}

pub const SCENARIOS: [&str; 8] = [
    "steady",
    "kill-replace",
    "sigterm",
    "source-restart",
    "stall",
    "copy-clock",
    "zero-byte",
    "kill-late",
];

/// Tolerance on an offset, seconds (about one 26-ms frame).
pub const TOLERANCE_S: f64 = 0.030;
/// Overlap from which an alignment is required (the search's minimum is 1 s).
pub const REQUIRED_OVERLAP_S: f64 = 1.5;

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn short(name: &str) -> String {
    let (pod, rest) = name.rsplit_once('_').unwrap_or(("", name));
    let pod = pod.rsplit('-').next().unwrap_or(pod);
    let time = rest.trim_end_matches(".mp3");
    format!("{pod}_{}", &time[time.len().saturating_sub(6)..])
}

/// The files of a scenario that hold audio, in name order.
pub fn load(scenario: &'static str) -> Vec<Rec> {
    let dir = fixtures_dir().join(scenario);
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest");
    let m: Manifest = serde_json::from_str(&text).expect("manifest json");
    let full = (m.segment_time * 22_050.0 / 576.0).floor() as u64;
    let mut recs: Vec<Rec> = m
        .files
        .into_iter()
        .filter_map(|f| {
            let (start, end, frames) = (f.broadcast_start_s?, f.broadcast_end_s?, f.frames?);
            let named = f.name_broadcast_s?;
            Some(Rec {
                scenario,
                bytes: std::fs::read(dir.join(&f.name)).expect("fixture file"),
                short: short(&f.name),
                name: f.name,
                pod: f.pod,
                start,
                end,
                named,
                burst: named - start > 4.0,
                cut: frames + 2 < full || f.xing_frames != Some(frames),
            })
        })
        .collect();
    recs.sort_by(|x, y| x.named.total_cmp(&y.named).then(x.name.cmp(&y.name)));
    recs
}

/// One file of a scenario by its short name (`abcde_151441`).
pub fn file<'a>(recs: &'a [Rec], short: &str) -> &'a Rec {
    recs.iter()
        .find(|r| r.short == short)
        .unwrap_or_else(|| panic!("no {short}"))
}

/// Pairs of files of different pods, each once, in name order.
pub fn pairs(recs: &[Rec]) -> Vec<(&Rec, &Rec)> {
    let mut out = Vec::new();
    for (i, x) in recs.iter().enumerate() {
        for y in &recs[i + 1..] {
            if x.pod != y.pod {
                out.push((x, y));
            }
        }
    }
    out
}

/// One measured pair.
pub struct Row {
    pub scenario: &'static str,
    pub a: String,
    pub b: String,
    pub tags: String,
    pub overlap: f64,
    pub truth: f64,
    pub got: Option<Alignment>,
    pub elapsed: Duration,
}

impl Row {
    pub fn error_ms(&self) -> Option<f64> {
        Some(self.got?.offset_ms - self.truth * 1000.0)
    }
}

/// Checks an alignment of `b` on `a` against the truth: within [`TOLERANCE_S`] whenever
/// reported, reported whenever they overlap by [`REQUIRED_OVERLAP_S`], never reported when
/// they do not overlap. Returns the row and what is wrong, if anything.
pub fn check(a: &Rec, b: &Rec, got: Option<Alignment>, elapsed: Duration) -> (Row, Option<String>) {
    let overlap = a.end.min(b.end) - a.start.max(b.start);
    let truth = b.start - a.start;
    let mut tags = Vec::new();
    if a.burst || b.burst {
        tags.push("burst");
    }
    if a.cut || b.cut {
        tags.push("cut");
    }
    let row = Row {
        scenario: a.scenario,
        a: a.short.clone(),
        b: b.short.clone(),
        tags: tags.join("+"),
        overlap,
        truth,
        got,
        elapsed,
    };
    let what = format!("{}: {} vs {}", a.scenario, row.a, row.b);
    let failure = match got {
        Some(al) if (al.offset_ms / 1000.0 - truth).abs() > TOLERANCE_S => Some(format!(
            "{what}: offset {:.4} s, truth {truth:.4} s (overlap {overlap:.2} s) {al:?}",
            al.offset_ms / 1000.0
        )),
        Some(al) if overlap <= 0.0 => Some(format!(
            "{what}: no overlap ({overlap:.2} s) yet aligned at {:.4} s {al:?}",
            al.offset_ms / 1000.0
        )),
        None if overlap >= REQUIRED_OVERLAP_S => Some(format!(
            "{what}: overlap {overlap:.2} s, truth {truth:.4} s, not aligned"
        )),
        _ => None,
    };
    (row, failure)
}

/// The rows as a Markdown table (docs/alignment.md).
pub fn print_rows(title: &str, rows: &[Row]) {
    println!("\n{title}\n");
    println!("| scenario | a | b | kind | overlap s | truth s | measured s | error ms | peak | 2nd | conf | ms |");
    println!("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let (measured, err, peak, second, conf) = match r.got {
            Some(al) => (
                format!("{:.4}", al.offset_ms / 1000.0),
                format!("{:+.2}", al.offset_ms - r.truth * 1000.0),
                format!("{:.3}", al.peak),
                format!("{:.3}", al.second_peak),
                format!("{:.2}", al.confidence),
            ),
            None => ("none".into(), "".into(), "".into(), "".into(), "".into()),
        };
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.4} | {measured} | {err} | {peak} | {second} | {conf} | {:.0} |",
            r.scenario,
            r.a,
            r.b,
            r.tags,
            r.overlap,
            r.truth,
            r.elapsed.as_secs_f64() * 1000.0
        );
    }
}

/// A one-line summary of rows.
pub fn summary(rows: &[Row]) -> String {
    let errs: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.error_ms().map(f64::abs))
        .collect();
    let required = rows
        .iter()
        .filter(|r| r.overlap >= REQUIRED_OVERLAP_S)
        .count();
    let overlapping = rows.iter().filter(|r| r.overlap > 0.0).count();
    let mean = errs.iter().sum::<f64>() / errs.len().max(1) as f64;
    let max = errs.iter().cloned().fold(0.0, f64::max);
    let ms: Vec<f64> = rows
        .iter()
        .map(|r| r.elapsed.as_secs_f64() * 1000.0)
        .collect();
    format!(
        "pairs {}, overlapping {overlapping} (≥ {REQUIRED_OVERLAP_S} s: {required}), aligned {}, |error| mean {mean:.3} ms max {max:.3} ms, time mean {:.0} ms max {:.0} ms",
        rows.len(),
        errs.len(),
        ms.iter().sum::<f64>() / ms.len().max(1) as f64,
        ms.iter().cloned().fold(0.0, f64::max),
    )
}
