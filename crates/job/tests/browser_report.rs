//! The archive browser in a real browser: the job archives a fixture with a gap
//! (`source-restart`: the source stopped for 6 s) into Azurite, and headless Chromium
//! (Debian's `chromium`, driven by playwright-core from npm: `browser/day_page.mjs`) opens the
//! day page of the private container over HTTP through a container-scoped SAS URL, as an
//! operator would from the URL `segment-selector report` prints.
//!
//! Checked: the page is refused without the SAS and served with it as text/html; the
//! timeline renders (the SVG's box is not empty, a lane per pod that recorded, with a box of
//! its own, the gap drawn and titled); the gap is listed with the manifest's times; every segment's
//! `<audio>` loads its blob through the SAS and reports a finite duration within 30 ms of the
//! segment's (less the encoder delay and padding its LAME tag records, which Chromium trims); the link to the list of days keeps the SAS and the list shows the day.
//!
//! Screenshots: of the day itself (in a temporary folder), and of the same day with 6 s of
//! synthetic dead air (until dead-air detection fills the manifests' silences), written to a
//! temporary folder, or to `docs/report-day.png` with `UPDATE_SCREENSHOTS=1`.

mod support;
use support::browser::{self, repo};
use support::{azurite, common};

use common::fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

use archive_model::day::DaySilence;
use azure_storage::shared_access_signature::service_sas::BlobSasPermissions;
use azure_storage::shared_access_signature::SasToken;
use serde_json::Value;

const DAY: &str = "2026-11-26";

/// Runs the page script; its JSON findings.
fn open_day(signed: &str, unsigned: &str, screenshot: &Path) -> Value {
    let out = Command::new("timeout")
        .args(["180", "node"])
        .arg(repo().join("crates/job/tests/browser/day_page.mjs"))
        .args([signed, unsigned])
        .arg(screenshot)
        .current_dir(repo())
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "the browser script failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the browser script printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn screenshot_path(dir: &Path, name: &str) -> PathBuf {
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        repo().join("docs").join(name)
    } else {
        dir.join(name)
    }
}

#[test]
fn chromium_renders_a_day_with_a_gap_and_plays_its_segments_through_a_sas() {
    if !browser::available() {
        return;
    }
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let stream = "browser-source-restart";
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let manifest = fixture::replay(&fixture::fixtures().join("source-restart"), &folder);
    let segment = manifest["segment_time"].as_u64().unwrap();
    fixture::finish_recordings(&folder);
    for _ in 0..2 {
        let out = fixture::run_job(&folder, &conn, stream, segment);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // `report` draws the same day from the table with only the storage settings.
    let svg = dir.path().join("day.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_segment-selector"))
        .env_clear()
        .env("STREAM_NAME", stream)
        .env("AZURE_STORAGE_CONNECTION_STRING", &conn)
        .args(["report", DAY, "--output"])
        .arg(&svg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "report: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 gaps") && stdout.contains("not shown"),
        "{stdout}"
    );
    // The address it prints is signed: a read-only SAS for the whole container, which the
    // browser below opens the page with.
    let printed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("day page (read-only, valid 7 days): "))
        .unwrap_or_else(|| panic!("no day page address: {stdout}"))
        .to_owned();
    assert!(
        printed.starts_with(&format!(
            "{}/{stream}/_days/{DAY}.html?",
            az.blob_endpoint()
        )) && printed.contains("sig=")
            && printed.contains("sp=r"),
        "{printed}"
    );
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(
        drawn.starts_with("<svg ") && drawn.contains("class=\"gap\""),
        "{drawn}"
    );
    assert!(drawn.contains("files still held: not shown"));
    let out = Command::new(env!("CARGO_BIN_EXE_segment-selector"))
        .env_clear()
        .env("STREAM_NAME", stream)
        .env("AZURE_STORAGE_CONNECTION_STRING", &conn)
        .args(["report", "26-11-2026", "--output"])
        .arg(&svg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("expected YYYY-MM-DD"),
        "{stderr}"
    );

    // The container stays private: a read-only SAS for the whole container opens the page,
    // and the page passes it on to every blob it loads.
    let container = common::container_client(&conn, stream);
    let (sas, day) = common::runtime().block_on(async {
        let expiry = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let permissions = BlobSasPermissions {
            read: true,
            ..BlobSasPermissions::default()
        };
        let sas = container
            .shared_access_signature(permissions, expiry)
            .await
            .unwrap()
            .token()
            .unwrap();
        let day = container.blob_client(format!("_days/{DAY}.json"));
        let day: Value = serde_json::from_slice(&day.get_content().await.unwrap()).unwrap();
        (sas, day)
    });
    let gaps = day["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "the fixture's one gap: {day}");
    let page = format!(
        "http://127.0.0.1:{}/devstoreaccount1/{stream}/_days/{DAY}.html",
        az.blob_port()
    );
    let shot = dir.path().join("day.png");
    let found = open_day(&printed, &page, &shot);
    let described = serde_json::to_string_pretty(&found).unwrap();

    assert!(
        found["unsigned_status"].as_u64().unwrap() >= 400,
        "the private container served the page without a SAS: {described}"
    );
    assert_eq!(found["status"], 200, "{described}");
    assert!(
        found["content_type"]
            .as_str()
            .unwrap()
            .starts_with("text/html"),
        "{described}"
    );

    let picture = &found["picture"];
    assert!(
        picture["width"].as_f64().unwrap() > 600.0 && picture["height"].as_f64().unwrap() > 100.0,
        "the timeline has no size: {described}"
    );
    // A lane for every pod that recorded audio that day (issue 28), archived or deleted as a
    // duplicate: the fixture's pods with a file holding frames.
    let mut pods: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["frames"].as_u64().is_some_and(|n| n > 0))
        .map(|f| f["name"].as_str().unwrap().rsplit_once('_').unwrap().0)
        .collect();
    pods.sort();
    pods.dedup();
    let lanes = picture["lanes"].as_array().unwrap();
    assert_eq!(
        lanes
            .iter()
            .map(|l| l["pod"].as_str().unwrap())
            .collect::<Vec<_>>(),
        pods,
        "a lane per pod that recorded: {described}"
    );
    for lane in lanes {
        assert!(lane["width"].as_f64().unwrap() > 0.0 && lane["height"].as_f64().unwrap() > 0.0);
    }
    assert!(
        picture["detail"].as_bool().unwrap(),
        "a short day is zoomed"
    );
    let drawn_gaps = picture["gaps"].as_array().unwrap();
    assert_eq!(
        drawn_gaps.len(),
        2,
        "the gap, once per timeline: {described}"
    );
    for g in drawn_gaps {
        assert!(g["width"].as_f64().unwrap() >= 3.0, "{described}");
        assert!(g["title"].as_str().unwrap().starts_with("gap 1 · "));
    }

    // The gap's row: its local times (UTC here) and seconds, as the manifest has them.
    let start: chrono::DateTime<chrono::Utc> = gaps[0]["start"].as_str().unwrap().parse().unwrap();
    let rows = found["gap_rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{described}");
    assert_eq!(rows[0][0], start.format("%H:%M:%S").to_string());
    assert_eq!(
        rows[0][2],
        format!("{:.1}", gaps[0]["seconds"].as_f64().unwrap())
    );

    // A browser that honours the LAME tag (Chromium does) trims the encoder delay and padding
    // it records: a frame-exact blob's warm-up frames, and the padding of the files ffmpeg
    // finalised when the source stopped. So each player is held to its blob's gapless length,
    // as the blob's own header declares it.
    let players = found["players"].as_array().unwrap();
    assert_eq!(players.len(), day["segments"].as_array().unwrap().len());
    let container = common::container_client(&conn, stream);
    let mut trimmed = 0;
    for p in players {
        let src = p["src"].as_str().unwrap();
        assert!(src.contains("sig="), "a player without the SAS: {src}");
        let duration = p["duration"]
            .as_f64()
            .unwrap_or_else(|| panic!("no finite duration: {p}"));
        let url = src.split('?').next().unwrap();
        let (_, blob) = url
            .split_once(&format!("/{stream}/"))
            .unwrap_or_else(|| panic!("{src}: not a blob of {stream}"));
        let bytes = common::runtime()
            .block_on(container.blob_client(blob).get_content())
            .unwrap();
        let facts = mp3count::scan_reader(&bytes[..]).unwrap();
        let trim = facts.header.map_or(0, |h| {
            u64::from(h.encoder_delay.unwrap_or(0)) + u64::from(h.encoder_padding.unwrap_or(0))
        });
        let rate = f64::from(facts.sample_rate);
        let frames_s = (facts.frames * u64::from(facts.samples_per_frame)) as f64 / rate;
        let gapless = frames_s - trim as f64 / rate;
        trimmed += usize::from(trim > 0);
        assert!(
            (duration - gapless).abs() < 0.03,
            "{blob}: the browser says {duration:.3} s; {frames_s:.3} s of frames, {gapless:.3} s \
             without the LAME tag's {trim} samples of delay and padding"
        );
    }
    assert!(trimmed > 0, "the blobs carry LAME tags");

    assert!(
        found["index_url"].as_str().unwrap().contains("sig="),
        "{described}"
    );
    let listed = found["index_days"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{described}");
    assert_eq!(listed[0][0], DAY);
    assert_eq!(listed[0][3], "1", "one gap");
    assert_size(&shot);

    // The same day with 6 s of dead air, drawn from the table as the job draws it, for the
    // screenshot only: dead-air detection fills the manifests' silences.
    let with_silence = common::runtime().block_on(async {
        let archive = common::archive(&conn, stream);
        let settings = job::settings::Settings::archive_only_from_vars([
            ("STREAM_NAME".to_string(), stream.to_string()),
            ("AZURE_STORAGE_CONNECTION_STRING".into(), conn.clone()),
        ])
        .unwrap();
        let mut m = job::report::day_manifest(&archive, &settings.read_side(), DAY)
            .await
            .unwrap();
        let s = &m.segments[1];
        m.silences.push(DaySilence {
            start: s.start + chrono::TimeDelta::seconds(2),
            end: s.start + chrono::TimeDelta::seconds(8),
            seconds: 6.0,
            pod: s.pod.clone(),
            file: s.file.clone(),
        });
        let zone = settings.selection.time_zone;
        // What the day's rows held, its gone rows too (their pods get lanes).
        let gone =
            common::archive_partition(&conn, stream, &archive_model::rows::gone_partition(stream));
        let holdings = job::report::day_holdings(&archive, &gone, &settings.read_side(), DAY)
            .await
            .unwrap();
        let picture = job::report::day_svg(&m, None, &holdings, zone);
        let page = job::report::html::day_page(&m, &picture, zone);
        let name = format!("_days/{DAY}-with-silence.html");
        use store::Archive;
        archive
            .put_small(&name, page.into_bytes(), "text/html; charset=utf-8")
            .await
            .unwrap();
        name
    });
    let page = format!(
        "http://127.0.0.1:{}/devstoreaccount1/{stream}/{with_silence}",
        az.blob_port()
    );
    let shot = screenshot_path(dir.path(), "report-day.png");
    let found = open_day(&format!("{page}?{sas}"), &page, &shot);
    assert_eq!(found["status"], 200);
    assert_size(&shot);
    eprintln!(
        "day page of {stream}: {} lanes, {} segments played, 1 gap; screenshots {}",
        lanes.len(),
        players.len(),
        shot.display()
    );
}

/// A screenshot small enough to keep in the repository.
fn assert_size(shot: &Path) {
    let size = std::fs::metadata(shot).unwrap().len();
    assert!(
        size > 10_000 && size < 200_000,
        "{}: {size} bytes",
        shot.display()
    );
}
