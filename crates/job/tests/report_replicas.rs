//! The day picture draws every replica (issue 28): a replica whose audio was all redundant,
//! so that the job never chose it and deleted every file of it as a duplicate, still gets a
//! lane, and the band under the lanes counts how many replicas held the same audio: 3, 2 and
//! 1 where they apply.
//!
//! No fixture has three replicas recording at once, so one is built from real recordings:
//! `copy-clock` (`-c copy -segment_atclocktime 1`: both replicas hold the source's frames byte
//! for byte) with a third pod, `…-pqrst`, holding copies of `abcde`'s three middle files under
//! its own names and modification times, as a third replica that started late and stopped
//! early would have written them. The real binary archives it in Azurite to its fixpoint; the
//! picture the run wrote (`_days/2026-11-26.svg`) is read back and checked element by
//! element (classes and `data-*` attributes, not pixels); `REPORT_REPLICAS_SVG=FILE` keeps a
//! copy of it. Needs Azurite (`npm ci`).

mod support;
use support::{azurite, common, fixture};

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use quick_xml::events::Event;
use serde_json::Value;
use store::ArchiveRead;

const SCENARIO: &str = "copy-clock";
const POD: &str = "ffmpeg-deployment-7c9f8d-";
const THIRD: &str = "ffmpeg-deployment-7c9f8d-pqrst";
/// `abcde`'s files the third replica holds too (broadcast 18.13–47.96 s).
const COPIED: [&str; 3] = ["20261126T151450", "20261126T151500", "20261126T151510"];
const DAY: &str = "2026-11-26";

/// `copy-clock` with a third pod holding copies of [`COPIED`]: the scenario's folder (files
/// and a manifest listing the copies as the third pod's, with the originals' times).
fn three_replicas(to: &Path) -> Value {
    let from = fixture::fixtures().join(SCENARIO);
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(from.join("manifest.json")).unwrap())
            .unwrap();
    let files = manifest["files"].as_array_mut().unwrap();
    let mut copies = Vec::new();
    for f in files.iter() {
        let name = f["name"].as_str().unwrap();
        std::fs::copy(from.join(name), to.join(name)).unwrap();
        if let Some(time) = COPIED
            .iter()
            .find(|t| name == format!("{POD}abcde_{t}.mp3"))
        {
            let copy = format!("{THIRD}_{time}.mp3");
            std::fs::copy(from.join(name), to.join(&copy)).unwrap();
            let mut entry = f.clone();
            entry["name"] = Value::from(copy);
            entry["pod"] = Value::from(THIRD);
            copies.push(entry);
        }
    }
    assert_eq!(copies.len(), COPIED.len());
    files.extend(copies);
    std::fs::write(
        to.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    manifest
}

/// Every element of the SVG: its name and attributes, the `<title>` text of its own, and the
/// `data-pod` of the lane it is in. The picture must be well-formed XML.
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    lane: Option<String>,
    timeline: String,
}

fn elements(svg: &str) -> Vec<Element> {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut out = Vec::new();
    // The open elements' classes and pods.
    let mut open: Vec<(String, Option<String>)> = Vec::new();
    loop {
        let event = reader.read_event().expect("well-formed XML");
        let (e, empty) = match &event {
            Event::Start(e) => (e.clone(), false),
            Event::Empty(e) => (e.clone(), true),
            Event::End(_) => {
                open.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let attrs: BTreeMap<String, String> = e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().unwrap().into_owned(),
                )
            })
            .collect();
        let lane = open
            .iter()
            .rev()
            .find_map(|(_, pod)| pod.clone())
            .or_else(|| attrs.get("data-pod").cloned());
        let timeline = open
            .iter()
            .find(|(class, _)| class.starts_with("timeline"))
            .map(|(class, _)| class.clone())
            .unwrap_or_default();
        if !empty {
            open.push((
                attrs.get("class").cloned().unwrap_or_default(),
                attrs.get("data-pod").cloned(),
            ));
        }
        out.push(Element {
            name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
            attrs,
            lane,
            timeline,
        });
    }
    out
}

fn class_has(e: &Element, class: &str) -> bool {
    e.attrs
        .get("class")
        .is_some_and(|c| c.split(' ').any(|c| c == class))
}

#[test]
fn a_replica_never_chosen_gets_a_lane_and_the_band_counts_3_2_and_1() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let scenario = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = three_replicas(scenario.path());
    fixture::replay(scenario.path(), dir.path());
    let stream = "three-replicas";
    let segment = manifest["segment_time"].as_u64().unwrap();
    for _ in 0..2 {
        let run = fixture::run_job(dir.path(), &conn, stream, segment);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    fixture::finish_recordings(dir.path());
    common::run_to_fixpoint(dir.path(), &conn, stream, segment, 10);

    // The third replica was never chosen: none of its files archived, all deleted.
    let snap = common::snapshot(&conn, stream);
    let archived_pods: Vec<&str> = snap
        .rows
        .values()
        .filter_map(|r| r.pod.as_deref())
        .collect();
    assert!(
        !archived_pods.contains(&THIRD),
        "the third replica was archived: {archived_pods:?}"
    );
    for t in COPIED {
        assert!(!dir.path().join(format!("{THIRD}_{t}.mp3")).exists());
    }

    let archive = common::archive(&conn, stream);
    let svg = common::runtime().block_on(async {
        let name = format!("_days/{DAY}.svg");
        let info = archive
            .blob_info(&name)
            .await
            .unwrap()
            .expect("the picture");
        String::from_utf8(archive.read_blob_range(&name, 0, info.size).await.unwrap()).unwrap()
    });
    if let Some(path) = std::env::var_os("REPORT_REPLICAS_SVG") {
        std::fs::write(path, &svg).unwrap();
    }
    let all = elements(&svg);
    let lanes: Vec<&str> = all
        .iter()
        .filter(|e| class_has(e, "lane") && e.timeline.contains("detail"))
        .filter_map(|e| e.attrs.get("data-pod").map(String::as_str))
        .collect();
    assert_eq!(
        lanes,
        [
            format!("{POD}abcde"),
            format!("{POD}fghij"),
            THIRD.to_owned()
        ],
        "a lane per replica, the one never chosen too"
    );
    let in_third = |class: &str| {
        all.iter()
            .filter(|e| e.timeline.contains("detail") && e.lane.as_deref() == Some(THIRD))
            .filter(|e| class_has(e, class))
            .count()
    };
    assert_eq!(in_third("archived"), 0);
    assert_eq!(
        in_third("gone"),
        COPIED.len(),
        "its files deleted as duplicates"
    );
    assert_eq!(in_third("recorded"), COPIED.len(), "what it recorded");

    // The band: seconds of broadcast time held by 1, 2 and 3 replicas.
    let started: DateTime<Utc> = manifest["source_started_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let broadcast = |t: &str| {
        let t: DateTime<Utc> = t.parse().unwrap();
        (t - started).num_milliseconds() as f64 / 1000.0
    };
    let band: Vec<(usize, f64, f64)> = all
        .iter()
        .filter(|e| e.timeline.contains("detail") && class_has(e, "held-by"))
        .map(|e| {
            (
                e.attrs["data-count"].parse().unwrap(),
                broadcast(&e.attrs["data-from"]),
                broadcast(&e.attrs["data-to"]),
            )
        })
        .collect();
    assert!(
        all.iter().all(|e| !class_has(e, "kept-apart")),
        "the replicas agree: nothing kept apart"
    );
    let seconds = |n: usize| -> f64 {
        band.iter()
            .filter(|b| b.0 == n)
            .map(|b| b.2 - b.1)
            .sum::<f64>()
    };
    let shown = format!("{band:.2?}");
    // Ground truth (fixtures/copy-clock/manifest.json, broadcast seconds): abcde from 1.88,
    // fghij from 4.68, both to ~57.9; the third 18.13–47.96. Rows place audio by names and
    // measured lengths, so allow a second at each edge.
    let close = |got: f64, want: f64| (got - want).abs() <= 1.0;
    assert!(close(seconds(3), 47.96 - 18.13), "3: {shown}");
    assert!(
        close(seconds(2), (18.13 - 4.68) + (57.92 - 47.96)),
        "2: {shown}"
    );
    assert!(
        seconds(1) > 0.5 && close(seconds(1), 4.68 - 1.88),
        "1: {shown}"
    );
    let three: Vec<_> = band.iter().filter(|b| b.0 == 3).collect();
    assert!(
        three.len() == 1 && close(three[0].1, 18.13) && close(three[0].2, 47.96),
        "3 exactly where the third replica held: {shown}"
    );
    // The day timeline draws the band too.
    assert!(all
        .iter()
        .any(|e| e.timeline.contains("day") && class_has(e, "held-by") && e.name == "rect"));
}
