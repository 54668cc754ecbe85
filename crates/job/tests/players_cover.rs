//! Issue 27, "players play what the archive holds": a day archived by the real job, played as
//! its listeners play it, covers every second the archive holds. Two players: the day
//! playlist (`_days/DAY.m3u8`, byte ranges) played by ffmpeg's HLS demuxer from Azurite, and
//! `segment-selector export` of the day decoded as a gapless player decodes it (ffmpeg
//! honouring the LAME tag). Each output is placed on the broadcast axis by the fixtures' time
//! code (`support::timecode`): audio played continuously is one run of second boundaries; a
//! step up between runs is audio skipped, a step down audio heard again.
//!
//! The archive's union is the broadcast span of every archived recording (the fixture's
//! ground truth, `broadcast_start_s..broadcast_end_s`), whether or not its day manifest plays
//! it. Skipped seconds, less the day's gaps (spans no replica recorded), must stay within one
//! frame per join between recordings of different replicas.
//!
//! `restart-burst` is the case of issue 27's third fault: replica B restarts under the same
//! pod name and its first new file starts with Icecast's whole burst (7.7 s before its name),
//! all of it held by replica A, which ran throughout. Before its join was placed by content,
//! the first new file was placed by names, 0.134 s after its audio, and both players skipped
//! 0.127 s at the switch back to A (and heard as much twice at the switch to B).

mod support;
use support::archived::{archive, played_pcm};
use support::{azurite, common, fixture, probe, spans, timecode};

use std::process::{Command, Stdio};

use azure_storage_blobs::container::PublicAccess;
use chrono::TimeDelta;
use chrono_tz::Tz;
use serde_json::Value;

/// One frame of the fixtures' recordings (576 samples at 22.05 kHz).
const FRAME_S: f64 = 576.0 / timecode::SR;

/// Seconds skipped and heard again in what a player played, from the steps between the runs
/// of consistent time code. A run of one boundary is left out: it is a region misread (the
/// first frames of a byte range decode without their bit reservoir) or a piece too short to
/// place, and the step across it still counts.
fn steps(decoded: &timecode::Decoded) -> (f64, f64) {
    let runs: Vec<f64> = decoded
        .runs
        .iter()
        .filter(|(_, n)| *n > 1)
        .map(|(at, _)| *at)
        .collect();
    let mut skipped = 0.0;
    let mut repeated = 0.0;
    for w in runs.windows(2) {
        let step = w[1] - w[0];
        if step > 0.0 {
            skipped += step;
        } else {
            repeated -= step;
        }
    }
    (skipped, repeated)
}

/// What one player played of a day, against the archive's union.
fn measured(what: &str, pcm_s: f64, decoded: &timecode::Decoded, gaps_s: f64) -> (f64, f64) {
    assert!(
        decoded.start.is_some(),
        "{what}: no time code in what was played: {:?}",
        decoded.problems
    );
    let (skipped, repeated) = steps(decoded);
    println!(
        "{what}: played {pcm_s:.3} s, skipped {skipped:.3} s (gaps {gaps_s:.3} s), heard twice \
         {repeated:.3} s, runs {:?}",
        decoded.runs
    );
    (skipped - gaps_s, repeated)
}

/// How many alignment rows relate two recordings (archived, or deleted as held) whose recorded
/// starts are `alignedOffsetMs` apart (within 1 ms), and those that are not.
fn alignments_honoured(conn: &str, stream: &str) -> (usize, Vec<String>) {
    use store::azure::{AzureArchive, AzureOptions};
    use store::ArchiveRead;
    let target = store::connection::StorageTarget::parse(conn).unwrap();
    let name = stream.to_lowercase();
    let read = |partition: &str| {
        let archive =
            AzureArchive::new(&target, &name, "audios", partition, AzureOptions::default())
                .unwrap();
        common::runtime()
            .block_on(archive.first_rows(100_000))
            .unwrap()
    };
    // Archived rows, and the rows of files deleted as held by them: placed in the same frame.
    let mut rows = read(&name);
    rows.retain(|r| r.blob_name.is_some());
    rows.extend(read(&format!("{name}~gone")));
    let start = |file: &str| {
        rows.iter()
            .find(|r| r.file_name == file)
            .and_then(|r| r.audio_start_ms)
    };
    let mut honoured = 0;
    let mut broken = Vec::new();
    for al in read(&format!("{name}~align")) {
        let (Some(b), Some(offset)) = (al.aligned_with.as_deref(), al.aligned_offset_ms) else {
            continue;
        };
        let (Some(sa), Some(sb)) = (start(&al.file_name), start(b)) else {
            continue;
        };
        if (sb - sa - offset).abs() <= 1 {
            honoured += 1;
        } else {
            broken.push(format!(
                "{} -> {b}: {} ms, aligned {offset} ms",
                al.file_name,
                sb - sa
            ));
        }
    }
    (honoured, broken)
}

#[test]
fn the_day_playlist_and_the_export_cover_what_the_archive_holds() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let mut failures = Vec::new();
    for scenario in ["restart-burst", "kill-replace"] {
        let stream = format!("cover-{scenario}");
        let truth: Value = serde_json::from_str(
            &std::fs::read_to_string(fixture::fixtures().join(scenario).join("manifest.json"))
                .unwrap(),
        )
        .unwrap();
        let a = archive(&conn, scenario, &stream, Tz::UTC, TimeDelta::zero());
        // The manifests place rows by the starts they record; where a content alignment
        // relates two archived recordings, those starts honour it (the planner placed them in
        // one frame, or restamped them): by content wherever an alignment exists.
        let (honoured, broken) = alignments_honoured(&conn, &stream);
        assert!(
            broken.is_empty(),
            "{scenario}: rows off their alignments: {broken:?}"
        );
        println!("{scenario}: {honoured} alignments, all honoured by the recorded starts");
        let container = common::container_client(&conn, &stream);
        let days = common::runtime().block_on(async {
            container.set_acl(PublicAccess::Blob).await.unwrap();
            common::day_manifests(&container).await
        });
        assert_eq!(days.len(), 1, "{scenario}: one day");
        let (name, day) = &days[0];
        let archived: Vec<(f64, f64)> = day["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| fixture::span(&truth, s["file"].as_str().unwrap()).unwrap())
            .collect();
        let union = spans::measure(&spans::merge(&archived));
        let gaps_s: f64 = day["gaps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["seconds"].as_f64().unwrap())
            .sum();
        // Joins between replicas (and across gaps): where the placement of one recording
        // against another decides what plays.
        let joins = a.played.windows(2).filter(|w| w[0].pod != w[1].pod).count() + a.gaps.len();
        let tolerance = joins.max(1) as f64 * FRAME_S;
        let hint = Some(a.played[0].broadcast + a.played[0].in_s);
        let dir = tempfile::tempdir().unwrap();

        let url = format!(
            "http://127.0.0.1:{}/devstoreaccount1/{stream}/{}",
            az.blob_port(),
            name.replace(".json", ".m3u8")
        );
        let wav = dir.path().join("hls.wav");
        let out = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-f",
                "hls",
                "-i",
                &url,
            ])
            .arg(&wav)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let hls_s = probe::ffprobe_seconds(&wav);
        let (missing, repeated) = measured(
            &format!("{scenario}: ffmpeg HLS"),
            hls_s,
            &timecode::decode(&wav, hint),
            gaps_s,
        );
        if missing > tolerance {
            failures.push(format!(
                "{scenario}: ffmpeg's HLS demuxer skips {missing:.3} s of the archive \
                 ({union:.3} s; {joins} joins allow {tolerance:.3} s), hears {repeated:.3} s twice"
            ));
        }

        let mp3 = dir.path().join("day.mp3");
        let rfc = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let run = Command::new(common::bin())
            .env_clear()
            .env("STREAM_NAME", &stream)
            .env("AZURE_STORAGE_CONNECTION_STRING", &conn)
            .args(["export", "--allow-gaps", "--from"])
            .arg(rfc(a.played[0].from()))
            .arg("--to")
            .arg(rfc(a.played.last().unwrap().to()))
            .arg("--output")
            .arg(&mp3)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let pcm = played_pcm(&mp3);
        let export_s = pcm.len() as f64 / timecode::SR;
        let (missing, repeated) = measured(
            &format!("{scenario}: export"),
            export_s,
            &timecode::decode_pcm(&pcm, hint),
            gaps_s,
        );
        if missing > tolerance {
            failures.push(format!(
                "{scenario}: export skips {missing:.3} s of the archive ({union:.3} s; {joins} \
                 joins allow {tolerance:.3} s), hears {repeated:.3} s twice"
            ));
        }
        println!(
            "{scenario}: the archive holds {union:.3} s (gaps {gaps_s:.3} s, {joins} joins); \
             ffmpeg HLS played {hls_s:.3} s, export {export_s:.3} s"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Issue 27, "days already written are rewritten when a run touches them": a recording whose
/// audio reaches past midnight, archived after the next day's manifest was written, changes
/// that day's first join (here the gap before its first segment closes). The run that
/// archives it must leave the next day's stored manifest and playlist as the rows now say
/// (`segment-selector playlist`, built from the rows when asked).
///
/// Here the same run also restamps the next day's rows (the missing file had split the
/// recorder's chain, which its names then placed 0.75 s off), and a restamp rewrites their day
/// on its own; an upload whose audio reaches into a day whose rows it does not move is covered
/// by `archive_model::day::days_of_upload` (its unit test builds both days).
#[test]
fn a_day_already_written_is_rewritten_when_an_upload_reaches_into_it() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let stream = "cover-midnight";
    let src = fixture::fixtures().join("steady");
    // One replica of `steady`, its names moved so that local (UTC) midnight falls inside its
    // third file, `…151453` (audio 23:59:54.6 to 00:00:04.6 once moved).
    let shift = "2026-11-26T23:59:55Z"
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        - "2026-11-26T15:14:53Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap();
    let moved = |name: &str| {
        let (pod, stamp) = name.strip_suffix(".mp3").unwrap().rsplit_once('_').unwrap();
        let t = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S").unwrap() + shift;
        format!("{pod}_{}.mp3", t.format("%Y%m%dT%H%M%S"))
    };
    let crossing = "ffmpeg-deployment-7c9f8d-abcde_20261126T151453.mp3";
    let dir = tempfile::tempdir().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("-abcde_") && std::fs::metadata(src.join(n)).unwrap().len() > 0)
        .collect();
    names.sort();
    for n in names.iter().filter(|n| *n != crossing) {
        std::fs::copy(src.join(n), dir.path().join(moved(n))).unwrap();
    }
    fixture::finish_recordings(dir.path());
    common::run_to_fixpoint(dir.path(), &conn, stream, 10, 5);
    let next_day = |conn: &str| {
        common::runtime().block_on(async {
            let c = common::container_client(conn, stream);
            let json = c
                .blob_client("_days/2026-11-27.json")
                .get_content()
                .await
                .unwrap();
            let m3u8 = c
                .blob_client("_days/2026-11-27.m3u8")
                .get_content()
                .await
                .unwrap();
            (
                serde_json::from_slice::<Value>(&json).unwrap(),
                String::from_utf8(m3u8).unwrap(),
            )
        })
    };
    let (before, _) = next_day(&conn);
    let gap = before["gaps"][0]["seconds"].as_f64().unwrap_or(0.0);
    assert!(
        (5.0..11.0).contains(&gap),
        "the next day starts after a gap while the file is missing: {before}"
    );

    std::fs::copy(src.join(crossing), dir.path().join(moved(crossing))).unwrap();
    fixture::finish_recordings(dir.path());
    let runs = common::run_to_fixpoint(dir.path(), &conn, stream, 10, 5);
    assert_eq!(runs[0].counter("archived"), 1, "{}", runs[0].describe());
    let (after, stored) = next_day(&conn);
    let asked = Command::new(common::bin())
        .env_clear()
        .env("STREAM_NAME", stream)
        .env("AZURE_STORAGE_CONNECTION_STRING", &conn)
        .args(["playlist", "2026-11-27"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        asked.status.success(),
        "{}",
        String::from_utf8_lossy(&asked.stderr)
    );
    let tags = |p: &str| -> Vec<String> {
        p.lines()
            .filter(|l| l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    println!(
        "the next day's gaps: {} before the crossing file was archived, {} after",
        before["gaps"], after["gaps"]
    );
    assert_eq!(
        after["gaps"].as_array().map(Vec::len),
        Some(0),
        "the next day's manifest was not rewritten: {after}"
    );
    assert_eq!(
        tags(&stored),
        tags(&String::from_utf8_lossy(&asked.stdout)),
        "the stored playlist of the next day is not what its rows say"
    );
}
