//! The day playlist (`_days/YYYY-MM-DD.m3u8`) played by real HLS clients, served over HTTP by
//! Azurite: ffmpeg's HLS demuxer and GStreamer's (Debian: `ffmpeg`, `gstreamer1.0-tools`,
//! `gstreamer1.0-plugins-{base,good,bad}`). Both must play it to the end: every segment it
//! lists, as a finished (VOD) playlist, not the last three as a live one. Without GStreamer the
//! GStreamer half is skipped with a message.
//!
//! The blobs are played whole: the playlist's length is the sum of its segments, which is more
//! than the archived seconds by what the segments repeat before their in-points.

mod support;
use support::{azurite, common};

use common::fixture;

use std::process::Command;

use azure_storage_blobs::container::PublicAccess;
use serde_json::Value;

fn seconds_of(wav: &std::path::Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(wav)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0)
}

#[test]
fn ffmpeg_and_gstreamer_play_a_whole_day_from_azurite() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let stream = "hls-kill-replace";
    let dir = tempfile::tempdir().unwrap();
    let manifest = fixture::replay(&fixture::fixtures().join("kill-replace"), dir.path());
    let segment = manifest["segment_time"].as_u64().unwrap();
    fixture::finish_recordings(dir.path());
    for _ in 0..2 {
        let out = fixture::run_job(dir.path(), &conn, stream, segment);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Anonymous reads, as a static website or a public container serves them.
    let container = common::container_client(&conn, stream);
    let (day, playlist) = common::runtime().block_on(async {
        container.set_acl(PublicAccess::Blob).await.unwrap();
        let day = container.blob_client("_days/2026-11-26.json");
        let day: Value = serde_json::from_slice(&day.get_content().await.unwrap()).unwrap();
        let playlist = container.blob_client("_days/2026-11-26.m3u8");
        let playlist = String::from_utf8(playlist.get_content().await.unwrap()).unwrap();
        (day, playlist)
    });
    let base = format!(
        "http://127.0.0.1:{}/devstoreaccount1/{stream}",
        az.blob_port()
    );
    let listed: f64 = playlist
        .lines()
        .filter_map(|l| {
            l.strip_prefix("#EXTINF:")?
                .split(',')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .sum();
    let archived = day["archived_seconds"].as_f64().unwrap();
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"), "{playlist}");
    assert!(
        listed >= archived,
        "{listed} s listed, {archived} s archived"
    );
    let url = format!("{base}/_days/2026-11-26.m3u8");

    let wav = dir.path().join("ffmpeg.wav");
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
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let by_ffmpeg = seconds_of(&wav);
    assert!(
        (by_ffmpeg - listed).abs() < 0.1,
        "ffmpeg played {by_ffmpeg:.3} s of a playlist of {listed:.3} s"
    );

    let gst = std::path::Path::new("/usr/bin/gst-launch-1.0");
    let mut report = format!(
        "kill-replace day: {archived:.3} s archived, playlist {listed:.3} s, ffmpeg played {by_ffmpeg:.3} s"
    );
    if gst.exists() {
        let wav = dir.path().join("gst.wav");
        let out = Command::new("timeout")
            .arg("120")
            .arg(gst)
            .args(["-q", "uridecodebin"])
            .arg(format!("uri={url}"))
            .args([
                "!",
                "audioconvert",
                "!",
                "audioresample",
                "!",
                "wavenc",
                "!",
                "filesink",
            ])
            .arg(format!("location={}", wav.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "GStreamer did not finish the playlist: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let by_gst = seconds_of(&wav);
        assert!(
            (by_gst - listed).abs() < 0.1,
            "GStreamer played {by_gst:.3} s of a playlist of {listed:.3} s"
        );
        report.push_str(&format!(", GStreamer played {by_gst:.3} s"));
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "GStreamer is missing in CI (scripts/test.sh installs it)"
        );
        report.push_str("; GStreamer is not installed (apt-get install gstreamer1.0-tools gstreamer1.0-plugins-bad): skipped");
    }
    println!("{report}");
}
