//! Issue 13: every fixture archived by the real job into Azurite (`ARCHIVE_MODE` at its
//! default, frame-exact), then every blob downloaded and decoded **alone**, as a listener's
//! player decodes it (ffmpeg honouring the LAME tag), and placed on the broadcast axis by its
//! time code:
//!
//! - each frame-exact blob plays the span its row claims (from its in-point to its end) within
//!   one frame: those cut at a join, and those that continue another file of their recorder
//!   (which start with that file's last frames, for the decoder);
//! - no recorded second is missing from the blobs, and what the blobs hold twice is measured
//!   (the whole-file archive held 4.8–63.9 s twice per scenario);
//! - a day's blobs played one after another (ffmpeg's concat demuxer, mpg123) repeat nothing;
//! - in `ARCHIVE_MODE=original` the blobs are the recordings, byte for byte.
//!
//! Scenarios whose replicas record more than one source (the manifest's `"sources"`, issue 31)
//! are left out: their files that are not wholly time code have no broadcast span, and this
//! test takes a file's span for all of its audio (`fixtures_disagree.rs` archives them).

mod support;
use support::archived::{archive, archive_with, played_pcm, wav_samples};
use support::{azurite, common, fixture, spans, timecode};

use chrono::TimeDelta;
use chrono_tz::Tz;
use serde_json::Value;

/// One frame of the fixtures' recordings (576 samples at 22.05 kHz).
const FRAME_S: f64 = 576.0 / timecode::SR;

/// How far a blob alone may play from its row's claim: a frame, plus the time code's
/// precision. A killed writer's blob keeps its partial last frame (bytes of the recording:
/// nothing is dropped), which ffmpeg decodes as a frame more than the row counts.
const SPAN_TOLERANCE_S: f64 = FRAME_S + 0.000_5;

/// Recorded audio that may be in no blob played alone: none but a frame at a join (gaps of
/// a frame or less are not counted).
const MISSING_TOLERANCE_S: f64 = FRAME_S;

/// What one scenario's blobs hold, decoded one by one.
struct Figures {
    blobs: usize,
    /// Frame-exact blobs cut at a join, and those that start with the last frames of the file
    /// they continue.
    cut: usize,
    led: usize,
    twice_s: f64,
    missing_s: f64,
    worst_start_s: f64,
    worst_end_s: f64,
}

fn blobs_alone(conn: &str, scenario: &std::path::Path) -> Figures {
    let name = scenario.file_name().unwrap().to_str().unwrap();
    let stream = format!("exact-{name}");
    let archived = archive(conn, name, &stream, Tz::UTC, TimeDelta::zero());
    let container = common::container_client(conn, &stream);
    let days = common::runtime().block_on(common::day_manifests(&container));
    let dir = tempfile::tempdir().unwrap();
    let mut held = Vec::new();
    let mut figures = Figures {
        blobs: 0,
        cut: 0,
        led: 0,
        twice_s: 0.0,
        missing_s: 0.0,
        worst_start_s: 0.0,
        worst_end_s: 0.0,
    };
    for (_, day) in &days {
        for seg in day["segments"].as_array().unwrap() {
            let blob = seg["blob"].as_str().unwrap();
            let file = seg["file"].as_str().unwrap();
            let played = archived.played.iter().find(|p| p.file == file);
            let Some(played) = played else {
                continue; // plays nothing: a segment wholly inside others
            };
            let bytes = common::runtime()
                .block_on(container.blob_client(blob).get_content())
                .unwrap();
            let path = dir.path().join(blob.replace('/', "_"));
            std::fs::write(&path, &bytes).unwrap();
            let exact = seg.get("blob_first_frame").is_some_and(|v| !v.is_null());
            // What the row claims the blob plays: from its in-point (frame-exact) or its start
            // (the recording), to its end.
            let claimed_from = played.broadcast + if exact { played.in_s } else { 0.0 };
            let claimed_to = played.broadcast + played.out_s;
            let pcm = played_pcm(&path);
            let got = timecode::decode_pcm(&pcm, Some(claimed_from));
            let start = got
                .start
                .unwrap_or_else(|| panic!("{stream}: no time code in {blob} alone: {got:?}"));
            let end = start + pcm.len() as f64 / timecode::SR;
            if exact {
                // mpg123 plays the header's samples too.
                let wav = dir.path().join("alone.wav");
                let run = std::process::Command::new("mpg123")
                    .args(["-q", "-w"])
                    .arg(&wav)
                    .arg(&path)
                    .output()
                    .expect("mpg123");
                assert!(run.status.success(), "mpg123 {blob}: {run:?}");
                // Both play what the header declares; ffmpeg also decodes a killed writer's
                // partial last frame (kept in the blob), mpg123 does not.
                let tag = mp3count::scan_file(&path)
                    .unwrap()
                    .header
                    .expect("a header");
                let declared = u64::from(tag.frames.unwrap()) * 576
                    - u64::from(tag.encoder_delay.unwrap())
                    - u64::from(tag.encoder_padding.unwrap());
                assert_eq!(
                    wav_samples(&wav) as u64,
                    declared,
                    "{stream}: {blob}: mpg123"
                );
                let ffmpeg = pcm.len() as u64;
                assert!(
                    ffmpeg == declared || ffmpeg == declared + 576,
                    "{stream}: {blob}: ffmpeg plays {ffmpeg} samples, {declared} declared"
                );
                if seg.get("lead_frames").is_some_and(|v| !v.is_null()) {
                    figures.led += 1;
                } else {
                    figures.cut += 1;
                }
                figures.worst_start_s = figures.worst_start_s.max((start - claimed_from).abs());
                figures.worst_end_s = figures.worst_end_s.max((end - claimed_to).abs());
                assert!(
                    (start - claimed_from).abs() <= SPAN_TOLERANCE_S
                        && (end - claimed_to).abs() <= SPAN_TOLERANCE_S,
                    "{stream}: {blob} alone plays {start:.4}..{end:.4}, its row claims \
                     {claimed_from:.4}..{claimed_to:.4}"
                );
            }
            figures.blobs += 1;
            held.push((start, end));
        }
    }
    let union = spans::merge(&held);
    figures.twice_s =
        (held.iter().map(|(a, b)| b - a).sum::<f64>() - spans::measure(&union)).max(0.0);
    // Every second a replica finished recording (without a first file's priming) is in a blob.
    figures.missing_s = recorded_spans(scenario)
        .iter()
        .flat_map(|&(lo, hi)| spans::gaps_in(&union, lo, hi))
        .filter(|(a, b)| b - a > FRAME_S)
        .map(|(a, b)| b - a)
        .sum::<f64>()
        .abs(); // an empty sum is -0.0
    figures
}

/// The broadcast seconds a scenario's replicas finished recording, without a first file's
/// priming, merged: the fixture's ground truth.
fn recorded_spans(scenario: &std::path::Path) -> Vec<(f64, f64)> {
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(scenario.join("manifest.json")).unwrap())
            .unwrap();
    let spans: Vec<(f64, f64)> = truth["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["live"] != true)
        .filter_map(|f| {
            let name = f["name"].as_str()?;
            let (lo, hi) = fixture::span(&truth, name)?;
            let primed = timecode::priming_s(&std::fs::read(scenario.join(name)).ok()?);
            Some((lo + primed, hi))
        })
        .collect();
    spans::merge(&spans)
}

#[test]
fn every_blob_alone_plays_its_span_and_the_blobs_hold_each_second_once() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    println!(
        "scenario        blobs  cut  after previous  twice (s)  missing (s)  worst start/end (ms)"
    );
    let mut failed = Vec::new();
    for scenario in fixture::single_source_scenarios() {
        let name = scenario.file_name().unwrap().to_string_lossy().into_owned();
        // `support::archived` replays pod-named recordings (local-variant's have no pod).
        let pod_named = std::fs::read_dir(&scenario)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".mp3"))
            .all(|n| n.contains('_'));
        if !pod_named {
            continue;
        }
        let f = blobs_alone(&conn, &scenario);
        println!(
            "{name:<15} {:>5}  {:>3}  {:>14}  {:>9.3}  {:>11.3}  {:.1} / {:.1}",
            f.blobs,
            f.cut,
            f.led,
            f.twice_s,
            f.missing_s,
            f.worst_start_s * 1e3,
            f.worst_end_s * 1e3
        );
        // Every blob plays alone from its first frame: a blob that continues another file
        // of its recorder starts with that file's last frames, for the decoder.
        if f.missing_s > MISSING_TOLERANCE_S {
            failed.push(format!(
                "{name}: {:.3} s recorded but in no blob",
                f.missing_s
            ));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

/// `ARCHIVE_MODE=original`: every blob is its recording byte for byte, no row says otherwise,
/// and the day still plays without repeat (the in-points are metadata).
#[test]
fn original_mode_keeps_every_recording_as_ffmpeg_wrote_it() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let stream = "original-kill-replace";
    let a = archive_with(
        &conn,
        "kill-replace",
        stream,
        Tz::UTC,
        TimeDelta::zero(),
        &[("ARCHIVE_MODE", "original")],
    );
    let container = common::container_client(&conn, stream);
    let days = common::runtime().block_on(common::day_manifests(&container));
    let mut checked = 0;
    let mut joined = 0;
    for (_, day) in &days {
        for seg in day["segments"].as_array().unwrap() {
            let blob = seg["blob"].as_str().unwrap();
            assert!(
                seg.get("blob_first_frame").is_none_or(Value::is_null),
                "{blob}: {seg}"
            );
            let bytes = common::runtime()
                .block_on(container.blob_client(blob).get_content())
                .unwrap();
            let file = fixture::fixtures()
                .join("kill-replace")
                .join(seg["file"].as_str().unwrap());
            assert!(
                bytes == std::fs::read(&file).unwrap(),
                "{blob} is not its recording"
            );
            checked += 1;
            joined += usize::from(seg["in_s"].as_f64().unwrap() > 0.0);
        }
    }
    assert!(
        checked >= 7 && joined >= 1,
        "{checked} blobs, {joined} joined mid-file"
    );
    assert!(a.played.len() >= 7);
}

/// A day's blobs played one after another, in the order its manifest lists them, by ffmpeg's
/// concat demuxer and by mpg123 given them all: the broadcast's time code runs on with no
/// repeat and jumps only over what no replica recorded, and they play as long as the
/// manifests say.
#[test]
fn a_days_blobs_played_one_after_another_repeat_nothing() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    println!(
        "scenario        blobs  player  played (s)  listed (s)  primed (s)  worst repeat (ms)  skipped (s)  \
         unrecorded (s)"
    );
    let mut failed = Vec::new();
    for scenario in [
        "kill-replace",
        "kill-late",
        "source-restart",
        "stall",
        "steady",
    ] {
        let stream = format!("concat-{scenario}");
        let archived = archive(&conn, scenario, &stream, Tz::UTC, TimeDelta::zero());
        let container = common::container_client(&conn, &stream);
        let days = common::runtime().block_on(common::day_manifests(&container));
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        // What the manifests say the day plays.
        let mut listed_s = 0.0;
        // A recorder's first file starts with the encoder's priming, which the manifest
        // counts in its duration and a gapless player skips.
        let mut primed_s = 0.0;
        for (_, day) in &days {
            for seg in day["segments"].as_array().unwrap() {
                listed_s +=
                    (seg["out_s"].as_f64().unwrap() - seg["in_s"].as_f64().unwrap()).max(0.0);
                let blob = seg["blob"].as_str().unwrap();
                let bytes = common::runtime()
                    .block_on(container.blob_client(blob).get_content())
                    .unwrap();
                let path = dir.path().join(format!("{:03}.mp3", paths.len()));
                std::fs::write(&path, &bytes).unwrap();
                if seg.get("blob_first_frame").is_none_or(Value::is_null) {
                    primed_s += timecode::priming_s(&bytes);
                }
                paths.push(path);
            }
        }
        // What no replica recorded, on the broadcast's axis (the fixture's ground truth).
        let recorded = recorded_spans(&fixture::fixtures().join(scenario));
        let unrecorded = recorded
            .windows(2)
            .map(|w| w[1].0 - w[0].1)
            .sum::<f64>()
            .abs(); // an empty sum is -0.0
        let first_broadcast = archived.played[0].broadcast + archived.played[0].in_s;
        for (player, pcm) in [
            ("ffmpeg", concat_ffmpeg(&paths, dir.path())),
            ("mpg123", concat_mpg123(&paths, dir.path())),
        ] {
            let run = time_code_run(&pcm, first_broadcast);
            let played_s = pcm.len() as f64 / timecode::SR;
            println!(
                "{scenario:<15} {:>5}  {player:<6}  {played_s:>10.3}  {listed_s:>10.3}  {primed_s:>10.3}  {:>17.1}  {:>11.3}  {:>14.3}",
                paths.len(),
                run.worst_repeat_s * 1e3,
                run.skipped_s,
                unrecorded
            );
            // A killed writer's partial last frame is the only audio that may play twice
            // (ffmpeg decodes it, and the next recording holds it too).
            if run.worst_repeat_s > SPAN_TOLERANCE_S {
                failed.push(format!(
                    "{scenario} ({player}): {:.1} ms played twice",
                    run.worst_repeat_s * 1e3
                ));
            }
            // The manifest's length, less at most the priming a gapless player skips (and a
            // frame: the partial one).
            if (played_s - listed_s).abs() > primed_s + SPAN_TOLERANCE_S {
                failed.push(format!(
                    "{scenario} ({player}): plays {played_s:.3} s, the manifests {listed_s:.3} s"
                ));
            }
            if run.skipped_s > unrecorded + SPAN_TOLERANCE_S {
                failed.push(format!(
                    "{scenario} ({player}): {:.3} s skipped, {unrecorded:.3} s unrecorded",
                    run.skipped_s
                ));
            }
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

/// How a decoded day's time code runs: the largest step back (audio played twice) and the
/// seconds it jumps forward (audio not played).
struct TimeCodeRun {
    worst_repeat_s: f64,
    skipped_s: f64,
}

/// Reads the time code of `pcm` in 2.5-s windows every 2 s and compares each window's
/// broadcast start with the one before: they are as far apart as their samples where the
/// audio runs on. Windows without a time code (silence) are passed over.
fn time_code_run(pcm: &[i16], first_broadcast: f64) -> TimeCodeRun {
    let step = (2.0 * timecode::SR) as usize;
    let len = (2.5 * timecode::SR) as usize;
    let mut run = TimeCodeRun {
        worst_repeat_s: 0.0,
        skipped_s: 0.0,
    };
    let mut last: Option<(usize, f64)> = None;
    let mut at = 0;
    while at + len <= pcm.len() {
        let hint = match last {
            Some((s, b)) => b + (at - s) as f64 / timecode::SR,
            None => first_broadcast,
        };
        let got = timecode::decode_pcm(&pcm[at..at + len], Some(hint));
        if let (Some(b), true) = (got.start, got.boundaries >= 2) {
            if let Some((s, prev)) = last {
                let drift = b - (prev + (at - s) as f64 / timecode::SR);
                run.worst_repeat_s = run.worst_repeat_s.max(-drift);
                if drift > 0.0005 {
                    run.skipped_s += drift;
                }
            }
            last = Some((at, b));
        }
        at += step;
    }
    run
}

fn concat_ffmpeg(paths: &[std::path::PathBuf], dir: &std::path::Path) -> Vec<i16> {
    let list = dir.join("list.txt");
    let lines: String = paths
        .iter()
        .map(|p| format!("file '{}'\n", p.display()))
        .collect();
    std::fs::write(&list, lines).unwrap();
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-v", "error", "-nostdin", "-f", "concat", "-safe", "0", "-i",
        ])
        .arg(&list)
        .args(["-f", "s16le", "-ac", "1", "-ar", "22050", "-"])
        .output()
        .expect("ffmpeg");
    assert!(out.status.success(), "ffmpeg concat: {out:?}");
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

fn concat_mpg123(paths: &[std::path::PathBuf], dir: &std::path::Path) -> Vec<i16> {
    let wav = dir.join("day.wav");
    let out = std::process::Command::new("mpg123")
        .args(["-q", "-m", "-r", "22050", "-w"])
        .arg(&wav)
        .args(paths)
        .output()
        .expect("mpg123");
    assert!(out.status.success(), "mpg123: {out:?}");
    let b = std::fs::read(&wav).unwrap();
    let data = b.windows(4).position(|w| w == b"data").unwrap() + 8;
    b[data..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// copy-clock's replicas copy the source's frames (`-c copy`): the frames the day plays, blob
/// by blob, are byte for byte their recordings' frames, and each join plays on with the very
/// frame that follows the last one played (in the same recording, or at the start of the
/// recorder's next file): not one frame twice, not one left out.
#[test]
fn copied_frames_are_archived_exactly_and_each_once() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let stream = "frames-copy-clock";
    archive(&conn, "copy-clock", stream, Tz::UTC, TimeDelta::zero());
    let container = common::container_client(&conn, stream);
    let days = common::runtime().block_on(common::day_manifests(&container));
    let dir = fixture::fixtures().join("copy-clock");
    let read = |file: &str| std::fs::read(dir.join(file)).unwrap();
    let mut played = 0;
    let mut last: Option<(String, u64)> = None;
    for (_, day) in &days {
        for seg in day["segments"].as_array().unwrap() {
            let file = seg["file"].as_str().unwrap();
            let (in_frame, out_frame) = (
                seg["in_frame"].as_u64().unwrap(),
                seg["out_frame"].as_u64().unwrap(),
            );
            if out_frame <= in_frame {
                continue;
            }
            let blob = common::runtime()
                .block_on(
                    container
                        .blob_client(seg["blob"].as_str().unwrap())
                        .get_content(),
                )
                .unwrap();
            let (rec_bytes, blob_frames) =
                (std::fs::read(dir.join(file)).unwrap(), audio_frames(&blob));
            let rec = audio_frames(&rec_bytes);
            // The blob's frame k is the recording's k + offset.
            let offset = seg["blob_first_frame"].as_i64().unwrap_or(0)
                - seg["lead_frames"].as_i64().unwrap_or(0);
            for k in in_frame..out_frame {
                let in_blob = usize::try_from(k as i64 - offset).unwrap();
                assert!(
                    blob_frames.get(in_blob) == rec.get(k as usize),
                    "{file}: frame {k} of its recording is not the blob's frame {in_blob}"
                );
            }
            // The frame after the last one played before this segment.
            if let Some((prev, prev_out)) = last.take() {
                let prev_bytes = read(&prev);
                let next = match audio_frames(&prev_bytes).get(prev_out as usize) {
                    Some(&frame) => frame.to_vec(),
                    None => audio_frames(&read(&next_file_of_pod(&dir, &prev)))[0].to_vec(),
                };
                assert!(
                    rec[in_frame as usize] == next.as_slice(),
                    "{file} plays on from its frame {in_frame}, which is not the frame after \
                     {prev}'s frame {}",
                    prev_out - 1
                );
            }
            played += out_frame - in_frame;
            last = Some((file.to_owned(), out_frame));
        }
    }
    assert!(played > 1_000, "{played} frames played");
}

/// The audio frames of an MP3 stream (after an ID3 tag and an Info/Xing header frame), each as
/// its bytes.
fn audio_frames(bytes: &[u8]) -> Vec<&[u8]> {
    let facts = mp3count::scan_reader(bytes).unwrap();
    let mut scanner = mp3count::Mp3Scanner::new();
    scanner.locate(0, facts.frames);
    scanner.feed(bytes);
    let (_, found) = scanner.finish_located(bytes.len() as u64);
    let (start, end) = (found.start.unwrap() as usize, found.end.unwrap() as usize);
    let mut frames = Vec::new();
    let mut at = start;
    while at < end {
        let h = mp3frame::FrameHeader::parse(&bytes[at..]).expect("a frame");
        let len = (h.len as usize).min(end - at);
        frames.push(&bytes[at..at + len]);
        at += len;
    }
    frames
}

/// The file the same pod wrote after `file` (names sort by time).
fn next_file_of_pod(dir: &std::path::Path, file: &str) -> String {
    let (pod, _) = file.rsplit_once('_').unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&format!("{pod}_")) && n.ends_with(".mp3"))
        .collect();
    names.sort();
    let at = names.iter().position(|n| n == file).unwrap();
    names[at + 1].clone()
}
