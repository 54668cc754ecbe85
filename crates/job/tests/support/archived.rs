//! A recorded fixture archived by the real job into Azurite, read back as its day manifests
//! play it: which segment plays at each instant and the broadcast second there (the fixture's
//! time code), so a test can check what any reader of the archive (an export, a playlist)
//! outputs against what the archive holds.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use super::common::{self, fixture};

const NAME_FORMAT: &str = "%Y%m%dT%H%M%S";

/// A segment as the day manifests play it.
#[derive(Debug, Clone)]
pub struct Played {
    pub file: String,
    pub pod: String,
    pub start: DateTime<Utc>,
    pub in_s: f64,
    pub out_s: f64,
    /// Broadcast time of the blob's first sample (the fixture's time code).
    pub broadcast: f64,
    /// The fixture file it was archived from.
    pub original: PathBuf,
}

impl Played {
    pub fn from(&self) -> DateTime<Utc> {
        self.start + ms(self.in_s)
    }
    pub fn to(&self) -> DateTime<Utc> {
        self.start + ms(self.out_s)
    }
}

pub fn ms(s: f64) -> TimeDelta {
    TimeDelta::microseconds((s * 1e6).round() as i64)
}

pub fn secs(d: TimeDelta) -> f64 {
    d.num_microseconds().unwrap() as f64 / 1e6
}

/// An archived fixture: the segments its day manifests play, in order.
pub struct Archived {
    pub stream: String,
    pub zone: Tz,
    pub played: Vec<Played>,
    pub gaps: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Archived {
    /// The broadcast second the archive plays at `t`.
    pub fn broadcast_at(&self, t: DateTime<Utc>) -> f64 {
        let p = self
            .played
            .iter()
            .find(|p| p.from() <= t && t <= p.to())
            .unwrap_or_else(|| panic!("{}: nothing plays at {t}", self.stream));
        p.broadcast + secs(t - p.start)
    }
}

/// Replays `scenario` into a folder, its names moved by `shift` and written in `zone`'s wall
/// clock, every file finished, and runs the real job until it has archived everything.
pub fn archive(conn: &str, scenario: &str, stream: &str, zone: Tz, shift: TimeDelta) -> Archived {
    archive_with(conn, scenario, stream, zone, shift, &[])
}

/// [`archive`], with more of the job's environment (`ARCHIVE_MODE=original`).
pub fn archive_with(
    conn: &str,
    scenario: &str,
    stream: &str,
    zone: Tz,
    shift: TimeDelta,
    env: &[(&str, &str)],
) -> Archived {
    replay(conn, scenario, stream, zone, shift, env, false)
}

/// [`archive`] as a replay of the recording at its moved time: each file's modification time
/// is the fixture's moved by `shift` too (not an hour ago), which is how the job tells the two
/// instants of a name in a repeated autumn hour apart (`docs/time-zones.md`). The stream may
/// hold other replays already: the result holds only this one's segments (its gaps are the
/// day's).
pub fn archive_replayed(
    conn: &str,
    scenario: &str,
    stream: &str,
    zone: Tz,
    shift: TimeDelta,
) -> Archived {
    replay(conn, scenario, stream, zone, shift, &[], true)
}

fn replay(
    conn: &str,
    scenario: &str,
    stream: &str,
    zone: Tz,
    shift: TimeDelta,
    env: &[(&str, &str)],
    replayed: bool,
) -> Archived {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture::fixtures().join(scenario);
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("manifest.json")).unwrap()).unwrap();
    let mut original = BTreeMap::new();
    for f in truth["files"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        let (pod, stamp) = name.strip_suffix(".mp3").unwrap().rsplit_once('_').unwrap();
        let t = NaiveDateTime::parse_from_str(stamp, NAME_FORMAT)
            .unwrap()
            .and_utc()
            + shift;
        let renamed = format!("{pod}_{}.mp3", t.with_timezone(&zone).format(NAME_FORMAT));
        std::fs::copy(src.join(name), dir.path().join(&renamed)).unwrap();
        if replayed {
            let mtime = DateTime::parse_from_rfc3339(f["mtime"].as_str().unwrap()).unwrap();
            let moved = std::time::SystemTime::from(mtime.with_timezone(&Utc) + shift);
            filetime::set_file_mtime(
                dir.path().join(&renamed),
                filetime::FileTime::from_system_time(moved),
            )
            .unwrap();
        }
        original.insert(renamed, name.to_owned());
    }
    if !replayed {
        fixture::finish_recordings(dir.path());
    }
    let segment = truth["segment_time"].as_u64().unwrap();
    for n in 0.. {
        let mut cmd = common::job(dir.path(), conn, stream, segment);
        cmd.env("TIME_ZONE", zone.name());
        cmd.envs(env.iter().copied());
        let run = common::run(cmd);
        run.assert_no_panic(stream);
        assert!(run.success(), "{stream}: run {n}:\n{}", run.describe());
        if run.counter("archived") == 0 && run.counter("deleted") == 0 {
            break;
        }
        assert!(n < 5, "{stream}: no fixpoint");
    }
    let days: Vec<Value> = common::runtime()
        .block_on(common::day_manifests(&common::container_client(
            conn, stream,
        )))
        .into_iter()
        .map(|(_, day)| day)
        .collect();
    let mut played = Vec::new();
    let mut gaps = Vec::new();
    for day in &days {
        for s in day["segments"].as_array().unwrap() {
            let file = s["file"].as_str().unwrap().to_owned();
            if replayed && !original.contains_key(&file) {
                continue; // another replay's
            }
            let (broadcast, _) = fixture::span(&truth, &original[&file]).unwrap();
            played.push(Played {
                pod: s["pod"].as_str().unwrap().to_owned(),
                start: s["start"].as_str().unwrap().parse().unwrap(),
                in_s: s["in_s"].as_f64().unwrap(),
                out_s: s["out_s"].as_f64().unwrap(),
                broadcast,
                original: src.join(&original[&file]),
                file,
            });
        }
        for g in day["gaps"].as_array().unwrap() {
            let t = |k: &str| g[k].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
            gaps.push((t("start"), t("end")));
        }
    }
    played.retain(|p| p.out_s > p.in_s);
    played.sort_by_key(|p| p.from());
    Archived {
        stream: stream.to_owned(),
        zone,
        played,
        gaps,
    }
}

/// PCM as a gapless player outputs it: ffmpeg honouring the LAME tag's delay and padding.
pub fn played_pcm(path: &Path) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "s16le", "-ac", "1", "-ar", "22050", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Samples in a WAV file's data chunk (16-bit mono, as mpg123 writes it for these files).
pub fn wav_samples(path: &Path) -> usize {
    let b = std::fs::read(path).unwrap();
    let channels = usize::from(u16::from_le_bytes([b[22], b[23]]));
    let mut at = 12;
    while at + 8 <= b.len() {
        let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        if &b[at..at + 4] == b"data" {
            return len.min(b.len() - at - 8) / (2 * channels);
        }
        at += 8 + len;
    }
    panic!("{}: no data chunk", path.display());
}
