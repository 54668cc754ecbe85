//! Issue 14: `segment-selector export` on recorded fixtures archived into Azurite by the real
//! job. Each exported MP3 is decoded as a listener's player decodes it (ffmpeg honouring its
//! LAME tag) and placed on the broadcast axis by its time code. It must start and end at the
//! times asked for within one frame, and hold every second between once (no code jump), except
//! across a gap the archive has.
//!
//! "The times asked for" are the archive's times: the broadcast second the archive places at a
//! wall-clock instant is the time code of the segment it plays there (its row's start plus the
//! offset into it). How close that is to the broadcast clock is the rows' placement, measured
//! in `joins_archive.rs`, not the export's.

mod support;
use support::{azurite, common, timecode};

use common::fixture;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use futures::StreamExt;
use serde_json::Value;

/// One frame of the fixtures' recordings (576 samples at 22.05 kHz).
const FRAME_S: f64 = 576.0 / timecode::SR;
const NAME_FORMAT: &str = "%Y%m%dT%H%M%S";

/// A segment as the day manifests play it.
#[derive(Debug, Clone)]
struct Played {
    file: String,
    pod: String,
    start: DateTime<Utc>,
    in_s: f64,
    out_s: f64,
    /// Broadcast time of the blob's first sample (the fixture's time code).
    broadcast: f64,
}

impl Played {
    fn from(&self) -> DateTime<Utc> {
        self.start + ms(self.in_s)
    }
    fn to(&self) -> DateTime<Utc> {
        self.start + ms(self.out_s)
    }
}

fn ms(s: f64) -> TimeDelta {
    TimeDelta::microseconds((s * 1e6).round() as i64)
}

fn secs(d: TimeDelta) -> f64 {
    d.num_microseconds().unwrap() as f64 / 1e6
}

/// An archived fixture: the segments its day manifests play, in order.
struct Archived {
    stream: String,
    zone: Tz,
    played: Vec<Played>,
    gaps: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Archived {
    /// The broadcast second the archive plays at `t`.
    fn broadcast_at(&self, t: DateTime<Utc>) -> f64 {
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
fn archive(conn: &str, scenario: &str, stream: &str, zone: Tz, shift: TimeDelta) -> Archived {
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
        original.insert(renamed, name.to_owned());
    }
    fixture::finish_recordings(dir.path());
    let segment = truth["segment_time"].as_u64().unwrap();
    for n in 0.. {
        let mut cmd = common::job(dir.path(), conn, stream, segment);
        cmd.env("TIME_ZONE", zone.name());
        let run = common::run(cmd);
        run.assert_no_panic(stream);
        assert!(run.success(), "{stream}: run {n}:\n{}", run.describe());
        if run.counter("archived") == 0 && run.counter("deleted") == 0 {
            break;
        }
        assert!(n < 5, "{stream}: no fixpoint");
    }
    let days = common::runtime().block_on(async {
        let container = common::container_client(conn, stream);
        let mut names = Vec::new();
        let mut pages = container.list_blobs().prefix("_days/").into_stream();
        while let Some(page) = pages.next().await {
            for b in page.unwrap().blobs.blobs() {
                if b.name.ends_with(".json") {
                    names.push(b.name.clone());
                }
            }
        }
        names.sort();
        let mut days = Vec::new();
        for name in names {
            let bytes = container.blob_client(&name).get_content().await.unwrap();
            days.push(serde_json::from_slice::<Value>(&bytes).unwrap());
        }
        days
    });
    let mut played = Vec::new();
    let mut gaps = Vec::new();
    for day in &days {
        for s in day["segments"].as_array().unwrap() {
            let file = s["file"].as_str().unwrap().to_owned();
            let (broadcast, _) = fixture::span(&truth, &original[&file]).unwrap();
            played.push(Played {
                pod: s["pod"].as_str().unwrap().to_owned(),
                start: s["start"].as_str().unwrap().parse().unwrap(),
                in_s: s["in_s"].as_f64().unwrap(),
                out_s: s["out_s"].as_f64().unwrap(),
                broadcast,
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

/// `segment-selector export` with only STREAM_NAME, the connection string and TIME_ZONE.
fn export(conn: &str, stream: &str, zone: Tz, args: &[&str]) -> std::process::Output {
    Command::new(common::bin())
        .env_clear()
        .env("STREAM_NAME", stream)
        .env("AZURE_STORAGE_CONNECTION_STRING", conn)
        .env("TIME_ZONE", zone.name())
        .arg("export")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// PCM as a gapless player outputs it: ffmpeg honouring the LAME tag's delay and padding.
fn played_pcm(path: &Path) -> Vec<i16> {
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

/// How far an export's decoded start and end are from what the archive plays at `from` and
/// `to`, in seconds; fails on a time code jump (a repeated or missing second) unless `gaps`.
fn check(
    a: &Archived,
    path: &Path,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    gaps: bool,
) -> (f64, f64) {
    let want_start = a.broadcast_at(from);
    let want_end = a.broadcast_at(to);
    let pcm = played_pcm(path);
    let got = timecode::decode_pcm(&pcm, Some(want_start));
    let start = got
        .start
        .unwrap_or_else(|| panic!("{}: no time code: {got:?}", a.stream));
    let end = got.end.unwrap() + 1.0 / timecode::SR;
    let jumps: Vec<&String> = got
        .problems
        .iter()
        .filter(|p| p.contains("jumps") || p.contains("runs"))
        .collect();
    if gaps {
        assert!(
            !jumps.is_empty(),
            "{}: a gap, but the time code runs on: {got:?}",
            a.stream
        );
    } else {
        assert!(
            jumps.is_empty(),
            "{}: {from}..{to}: {:?}",
            a.stream,
            got.problems
        );
        let length = pcm.len() as f64 / timecode::SR;
        assert!(
            (length - (want_end - want_start)).abs() <= 2.0 * FRAME_S,
            "{}: {length:.4} s played, {:.4} s asked",
            a.stream,
            want_end - want_start
        );
    }
    let (start_err, end_err) = (start - want_start, end - want_end);
    println!(
        "{}: {} .. {}: start {:+.1} ms, end {:+.1} ms, {} samples",
        a.stream,
        rfc3339(from),
        rfc3339(to),
        start_err * 1e3,
        end_err * 1e3,
        pcm.len()
    );
    assert!(
        start_err.abs() <= FRAME_S && end_err.abs() <= FRAME_S,
        "{}: start off by {:.1} ms, end by {:.1} ms (one frame is {:.1} ms)",
        a.stream,
        start_err * 1e3,
        end_err * 1e3,
        FRAME_S * 1e3
    );
    (start_err, end_err)
}

/// The first join in the archive where the replica changes, with a few seconds of audio on
/// each side.
fn switch(a: &Archived) -> DateTime<Utc> {
    a.played
        .windows(2)
        .find(|w| {
            w[0].pod != w[1].pod
                && secs(w[1].to() - w[1].from()) > 4.0
                && secs(w[0].to() - w[0].from()) > 4.0
        })
        .map(|w| {
            println!("{}: switch {} -> {}", a.stream, w[0].file, w[1].file);
            w[1].from()
        })
        .unwrap_or_else(|| panic!("{}: no replica switch", a.stream))
}

/// Samples in a WAV file's data chunk (16-bit mono, as mpg123 writes it for these files).
fn wav_samples(path: &Path) -> usize {
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

#[test]
fn a_range_across_a_replica_switch_with_pad_and_stdout() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let a = archive(
        &conn,
        "kill-replace",
        "export-switch",
        Tz::UTC,
        TimeDelta::zero(),
    );
    let t = switch(&a);
    let (from, to) = (t - TimeDelta::seconds(3), t + TimeDelta::seconds(3));
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("switch.mp3");
    let run = export(
        &conn,
        &a.stream,
        a.zone,
        &[
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(to),
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    check(&a, &file, from, to, false);

    // What the header declares, a gapless decoder plays: mpg123 and ffmpeg alike.
    let facts = mp3count::scan_file(&file).unwrap();
    let tag = facts.header.expect("a header frame");
    let declared = u64::from(tag.frames.unwrap()) * 576
        - u64::from(tag.encoder_delay.unwrap())
        - u64::from(tag.encoder_padding.unwrap());
    assert_eq!(u64::from(tag.frames.unwrap()), facts.frames);
    let wav = out.path().join("switch.wav");
    let mpg123 = Command::new("mpg123")
        .args(["-q", "-w"])
        .arg(&wav)
        .arg(&file)
        .output()
        .expect("mpg123");
    assert!(
        mpg123.status.success(),
        "{}",
        String::from_utf8_lossy(&mpg123.stderr)
    );
    let (by_mpg123, by_ffmpeg) = (wav_samples(&wav), played_pcm(&file).len());
    println!("declared {declared} samples, mpg123 {by_mpg123}, ffmpeg {by_ffmpeg}");
    assert_eq!((by_mpg123 as u64, by_ffmpeg as u64), (declared, declared));

    // Pre- and post-roll.
    let padded = out.path().join("padded.mp3");
    let run = export(
        &conn,
        &a.stream,
        a.zone,
        &[
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(to),
            "--pad",
            "1.5",
            "--output",
            padded.to_str().unwrap(),
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let pad = TimeDelta::milliseconds(1500);
    check(&a, &padded, from - pad, to + pad, false);

    // To stdout: the same bytes as to a file.
    let run = export(
        &conn,
        &a.stream,
        a.zone,
        &[
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(to),
            "--output",
            "-",
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        run.stdout,
        std::fs::read(&file).unwrap(),
        "stdout differs from the file"
    );
}

#[test]
fn a_range_across_local_midnight() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let madrid: Tz = "Europe/Madrid".parse().unwrap();
    // The steady fixture's names (15:14–15:16 UTC on 26 November) moved so that Madrid's
    // midnight (23:00 UTC) falls in the middle.
    let shift = "2026-11-26T23:00:00Z".parse::<DateTime<Utc>>().unwrap()
        - "2026-11-26T15:15:05Z".parse::<DateTime<Utc>>().unwrap();
    let a = archive(&conn, "steady", "export-midnight", madrid, shift);
    let days: std::collections::BTreeSet<_> = a
        .played
        .iter()
        .map(|p| p.start.with_timezone(&madrid).date_naive())
        .collect();
    assert_eq!(
        days.len(),
        2,
        "the archive does not cross midnight: {days:?}"
    );
    // In Madrid's local time, as a user there writes it.
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("midnight.mp3");
    let run = export(
        &conn,
        &a.stream,
        madrid,
        &[
            "--from",
            "2026-11-26 23:59:50",
            "--to",
            "2026-11-27T00:00:12.5",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    check(
        &a,
        &file,
        t("2026-11-26T22:59:50Z"),
        t("2026-11-26T23:00:12.500Z"),
        false,
    );
}

#[test]
fn a_gap_fails_the_export_unless_allowed() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let a = archive(
        &conn,
        "source-restart",
        "export-gap",
        Tz::UTC,
        TimeDelta::zero(),
    );
    let &(gap_start, gap_end) = a.gaps.first().expect("source-restart has a gap");
    let (from, to) = (
        gap_start - TimeDelta::seconds(4),
        gap_end + TimeDelta::seconds(4),
    );
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("gap.mp3");
    let args = [
        "--from",
        &rfc3339(from),
        "--to",
        &rfc3339(to),
        "--output",
        file.to_str().unwrap(),
    ];
    let run = export(&conn, &a.stream, a.zone, &args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "a gap, yet exit 0:\n{stderr}");
    let seconds = format!("{:.3} s not recorded", secs(gap_end - gap_start));
    assert!(
        stderr.contains(&rfc3339(gap_start)) && stderr.contains(&seconds),
        "{stderr}\nthe day manifest: {gap_start} .. {gap_end}"
    );
    assert!(!file.exists(), "a failed export left a file");

    let run = export(
        &conn,
        &a.stream,
        a.zone,
        &[&args[..], &["--allow-gaps"]].concat(),
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains(&seconds),
        "the gap is still reported: {stderr}"
    );
    let (start_err, _) = check(&a, &file, from, to, true);
    // What plays is what exists: the range less the gap, within a frame at each edge.
    let length = played_pcm(&file).len() as f64 / timecode::SR;
    let want = secs(to - from) - secs(gap_end - gap_start);
    println!(
        "gap {:.3} s, played {length:.3} s of {want:.3} s, start {:+.1} ms",
        secs(gap_end - gap_start),
        start_err * 1e3
    );
    assert!(
        (length - want).abs() <= 2.0 * FRAME_S,
        "{length} s played, {want} s exist"
    );

    // Nothing archived at all in the range.
    let run = export(
        &conn,
        &a.stream,
        a.zone,
        &[
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            "2026-01-01T01:00:00Z",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && stderr.contains("nothing is archived"),
        "{stderr}"
    );
}

#[test]
fn a_bad_time_names_the_flag_and_the_accepted_forms() {
    let conn = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;TableEndpoint=http://127.0.0.1:9/devstoreaccount1";
    for (args, want) in [
        (
            ["--from", "yesterday", "--to", "2026-11-26T15:00:00Z"],
            "--from",
        ),
        (
            ["--from", "2026-11-26T15:00:00Z", "--to", "26/11/2026 15:00"],
            "--to",
        ),
    ] {
        let run = export(
            conn,
            "Hope",
            Tz::UTC,
            &[&args[..], &["--output", "-"]].concat(),
        );
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{stderr}");
        assert!(
            stderr.contains(want)
                && stderr.contains("expected RFC 3339")
                && stderr.contains("2026-11-26T14:32:00"),
            "{stderr}"
        );
        assert!(run.stdout.is_empty());
    }
    let run = export(
        conn,
        "Hope",
        Tz::UTC,
        &[
            "--from",
            "2026-11-26T15:00:00Z",
            "--to",
            "2026-11-26T15:01:00Z",
            "--pad=-3",
            "--output",
            "-",
        ],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && stderr.contains("--pad"),
        "{stderr}"
    );
}
