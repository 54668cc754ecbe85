//! The day page's one player (issue 28) in a real browser: the job archives `source-restart`
//! (two replicas, a 6-s gap no replica recorded, joins between pods) into a private container
//! in Azurite; headless Chromium (Debian's `chromium`, driven by playwright-core:
//! `browser/day_player.mjs`, which lists its flags) opens the day page through the signed
//! address `segment-selector report` prints, and a Web Audio tap in the page records what the
//! player outputs. The fixture's time code (`fixtures/README.md`) says which broadcast second
//! is heard.
//!
//! Checked:
//! - **Seeks at 1×.** At 5 instants of the day the time code heard matches the archive's
//!   (the broadcast time `support::archived` places at that instant) within 0.1 s.
//! - **Joins at 1×.** Around every join (±2 s) the second boundaries heard are 1 s apart
//!   within 2 frames (26.1 ms each): at most 2 frames heard twice or missing.
//! - **The whole day at 8×.** The union of the ranges the player appended equals the
//!   archive's union (each end within 30 ms), the gap is announced and jumped, playback ends.
//! - **Signed.** Every request to the storage account carries the page's SAS.
//! - **Clicks and clock.** A click on the picture seeks to the time under it (within a
//!   pixel); in Europe/Madrid the repeated autumn hour is addressed by its offset.
//! - **Public.** Made public, the container serves the page without a query, and it plays
//!   (a seek and the whole day).
//!
//! Screenshot: a temporary folder, or `docs/day-player.png` with `UPDATE_SCREENSHOTS=1`.
//! Needs Azurite and playwright-core (`npm ci`), Chromium.

mod support;
use support::{archived, azurite, common};

use azure_storage_blobs::container::PublicAccess;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";
const DAY: &str = "2026-11-26";
/// A frame of the fixtures' recordings: 576 samples at 22,050 Hz.
const FRAME_S: f64 = 576.0 / 22_050.0;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn browser_missing() -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is missing (apt-get install chromium)"));
    }
    if !repo().join("node_modules/playwright-core").exists() {
        return Some("node_modules/playwright-core is missing (npm ci)".into());
    }
    None
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Runs `browser/day_player.mjs` on `page`; what it found.
fn drive(page: &str, shot: &Path, seeks: &str, joins: &str) -> Value {
    let run = Command::new("timeout")
        .args(["300", "node"])
        .arg(repo().join("crates/job/tests/browser/day_player.mjs"))
        .args([page, &shot.to_string_lossy(), seeks, joins])
        .current_dir(repo())
        .output()
        .expect("node");
    assert!(
        run.status.success(),
        "the browser script failed: {}{}",
        String::from_utf8_lossy(&run.stderr),
        String::from_utf8_lossy(&run.stdout)
    );
    serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&run.stdout)))
}

/// The time code heard at a seek, less the archive's there (seconds).
fn seek_off(archive: &archived::Archived, s: &Value, t: DateTime<Utc>) -> f64 {
    assert!(s["error"].is_null(), "{s}");
    let want = archive.broadcast_at(t).rem_euclid(256.0);
    let got = s["reading"].as_f64().unwrap();
    (got - want + 128.0).rem_euclid(256.0) - 128.0
}

#[test]
fn one_player_plays_the_day_seeks_joins_and_skips_the_gap() {
    if let Some(why) = browser_missing() {
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipped: {why}");
        return;
    }
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let stream = "player-source-restart";
    let archive = archived::archive(
        &conn,
        "source-restart",
        stream,
        chrono_tz::UTC,
        TimeDelta::zero(),
    );

    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_segment-selector"))
        .env_clear()
        .env("STREAM_NAME", stream)
        .env("AZURE_STORAGE_CONNECTION_STRING", &conn)
        .args(["report", DAY, "--output"])
        .arg(dir.path().join("day.svg"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "report: {stdout}");
    let page = stdout
        .lines()
        .find_map(|l| l.strip_prefix("day page (read-only, valid 7 days): "))
        .unwrap_or_else(|| panic!("no day page address: {stdout}"))
        .to_owned();

    // What the archive plays, and where: its union of played spans, and the joins.
    let played = &archive.played;
    let mut union: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for p in played {
        match union.last_mut() {
            Some(last) if p.from() <= last.1 + TimeDelta::milliseconds(100) => {
                last.1 = last.1.max(p.to())
            }
            _ => union.push((p.from(), p.to())),
        }
    }
    // Five instants with 2 s of audio after them, spread over the day's audio.
    let heard = |t: DateTime<Utc>| {
        union
            .iter()
            .any(|(a, b)| *a <= t && t + TimeDelta::seconds(2) <= *b)
    };
    let (first, last) = (union[0].0, union.last().unwrap().1);
    let seeks: Vec<DateTime<Utc>> = [0.07, 0.29, 0.51, 0.73, 0.91]
        .iter()
        .map(|f| {
            let mut t = first
                + TimeDelta::milliseconds(((last - first).num_milliseconds() as f64 * f) as i64);
            while !heard(t) {
                t += TimeDelta::milliseconds(250);
            }
            t
        })
        .collect();
    // Joins: where one played segment hands over to the next without a gap.
    let joins: Vec<DateTime<Utc>> = played
        .windows(2)
        .filter(|w| (w[1].from() - w[0].to()).num_milliseconds().abs() < 100)
        .map(|w| w[1].from())
        .filter(|t| heard(*t) && heard(*t - TimeDelta::seconds(2)))
        .collect();
    assert!(joins.len() >= 3, "joins to hear: {joins:?}");

    let shot = if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        repo().join("docs/day-player.png")
    } else {
        dir.path().join("day-player.png")
    };
    let list = |ts: &[DateTime<Utc>]| {
        ts.iter()
            .map(|t| ms(*t).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    // PLAYER_HOLD=FILE: write the page's address and the arguments there and wait, to drive the
    // page by hand.
    if let Some(hold) = std::env::var_os("PLAYER_HOLD") {
        std::fs::write(
            &hold,
            format!("{page}\n{}\n{}\n", list(&seeks), list(&joins)),
        )
        .unwrap();
        std::thread::sleep(std::time::Duration::from_secs(900));
    }
    let found = drive(&page, &shot, &list(&seeks), &list(&joins));
    let described = serde_json::to_string_pretty(&found["seeks"]).unwrap();
    eprintln!("flags: {}", found["flags"]);
    eprintln!("player: {}", found["player"]);

    // Seeks: the time code heard at the instant asked for, against the archive's.
    for (s, t) in found["seeks"].as_array().unwrap().iter().zip(&seeks) {
        let off = seek_off(&archive, s, *t);
        eprintln!(
            "seek {t}: heard {:.3} (mod 256): {:+.1} ms from the archive; clock {}",
            s["reading"].as_f64().unwrap(),
            off * 1000.0,
            s["clock"]
        );
        assert!(
            off.abs() <= 0.1,
            "seek to {t}: off by {off:.3} s: {described}"
        );
        assert!(
            s["clock"].as_str().unwrap().ends_with("UTC+00:00"),
            "the clock shows the offset: {}",
            s["clock"]
        );
    }

    // Joins: second boundaries 1 s apart (in samples of the output) within 2 frames.
    let mut worst: f64 = 0.0;
    for j in found["joins"].as_array().unwrap() {
        let rate = j["rate"].as_f64().unwrap();
        let b: Vec<(f64, i64)> = j["boundaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b[0].as_f64().unwrap(), b[1].as_i64().unwrap()))
            .collect();
        assert!(b.len() >= 3, "boundaries around a join: {j}");
        for w in b.windows(2) {
            let seconds = (w[1].0 - w[0].0) / rate;
            let steps = (w[1].1 - w[0].1).rem_euclid(256) as f64;
            let off = seconds - steps;
            worst = worst.max(off.abs());
            assert!(
                off.abs() <= 2.0 * FRAME_S + 0.003,
                "around the join at {}: {:.1} ms heard twice or missing: {j}",
                j["ms"],
                off * 1000.0
            );
        }
    }
    eprintln!(
        "joins: {} heard, worst second {:+.1} ms off (2 frames = {:.1} ms)",
        found["joins"].as_array().unwrap().len(),
        worst * 1000.0,
        2000.0 * FRAME_S
    );

    // The whole day at 8×: what the player appended is what the archive plays.
    let whole = &found["whole"];
    assert_eq!(whole["finished"], true, "it plays to the end: {whole}");
    let t0 = DateTime::<Utc>::from_timestamp_millis(whole["t0"].as_f64().unwrap() as i64).unwrap();
    let at = |s: f64| t0 + TimeDelta::microseconds((s * 1e6) as i64);
    let got: Vec<(DateTime<Utc>, DateTime<Utc>)> = whole["union"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (at(r[0].as_f64().unwrap()), at(r[1].as_f64().unwrap())))
        .collect();
    assert_eq!(got.len(), union.len(), "played {got:?}, archive {union:?}");
    for (g, w) in got.iter().zip(&union) {
        let off = |a: DateTime<Utc>, b: DateTime<Utc>| (a - b).num_milliseconds().abs();
        assert!(
            off(g.0, w.0) <= 30 && off(g.1, w.1) <= 30,
            "played {got:?}, archive {union:?}"
        );
    }
    let total = |u: &[(DateTime<Utc>, DateTime<Utc>)]| {
        u.iter()
            .map(|(a, b)| (*b - *a).num_milliseconds() as f64 / 1000.0)
            .sum::<f64>()
    };
    eprintln!(
        "played {:.3} s in {} ranges, archive {:.3} s",
        total(&got),
        got.len(),
        total(&union)
    );
    let said = whole["announcements"].to_string();
    assert_eq!(
        whole["announcements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a.as_str().unwrap().starts_with("Gap "))
            .count(),
        archive.gaps.len(),
        "every gap announced once: {said}"
    );

    // Clicking the picture plays from there (within a pixel's worth of time).
    let click = &found["click"];
    let off = (click["playing_ms"].as_f64().unwrap() - click["ms"].as_f64().unwrap()).abs();
    eprintln!(
        "click: plays {off:.0} ms from the time clicked ({:.0} ms a pixel)",
        click["ms_per_px"]
    );
    assert!(
        off <= click["ms_per_px"].as_f64().unwrap() + 50.0 && click["paused"] == false,
        "{click}"
    );

    // The repeated autumn hour in Europe/Madrid: its offset tells the two instants apart.
    let zone = &found["zone"];
    assert_eq!(zone["first"], "2026-10-25T00:30:00.000Z", "{zone}");
    assert_eq!(zone["summer"], "2026-10-25T00:30:00.000Z", "{zone}");
    assert_eq!(zone["winter"], "2026-10-25T01:30:00.000Z", "{zone}");
    assert_eq!(zone["plain"], "2026-11-26T13:32:10.000Z", "{zone}");
    assert!(zone["wrong"].is_null(), "{zone}");
    assert_eq!(zone["shown_summer"], "02:30:00 UTC+02:00", "{zone}");
    assert_eq!(zone["shown_winter"], "02:30:00 UTC+01:00", "{zone}");

    // Every request to the account carries the SAS.
    let host = az.blob_endpoint();
    for url in found["requests"].as_array().unwrap() {
        let url = url.as_str().unwrap();
        if url.starts_with(&host) {
            assert!(url.contains("sig="), "unsigned: {url}");
        }
    }
    assert!(
        found["failed"].as_array().unwrap().is_empty(),
        "{}",
        found["failed"]
    );
    // From a public container: the same page without a query plays too.
    let container = common::container_client(&conn, stream);
    common::runtime().block_on(async {
        container.set_acl(PublicAccess::Blob).await.unwrap();
    });
    let public = page.split_once('?').unwrap().0;
    let again = drive(
        public,
        &dir.path().join("public.png"),
        &list(&seeks[2..3]),
        "",
    );
    let off = seek_off(&archive, &again["seeks"][0], seeks[2]);
    eprintln!("public container: seek {:+.1} ms", off * 1000.0);
    assert!(off.abs() <= 0.1, "{}", again["seeks"]);
    assert_eq!(again["whole"]["finished"], true, "{}", again["whole"]);
    assert_eq!(
        again["whole"]["union"].as_array().unwrap().len(),
        union.len(),
        "{}",
        again["whole"]
    );
}
