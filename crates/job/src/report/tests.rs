use super::*;

use quick_xml::events::Event;

use archive_model::day::{DayGap, DaySegment, DaySilence};
use archive_model::held::Evidence;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn segment(pod: &str, start: &str, in_s: f64) -> DaySegment {
    let start = t(start);
    let file = format!("{pod}_{}.mp3", start.format("%Y%m%dT%H%M%S"));
    DaySegment {
        blob: format!("{}/{file}", start.format("%d-%m-%Y")),
        file,
        pod: pod.into(),
        start,
        duration_s: 600.0,
        frames: Some(22_968),
        in_s,
        out_s: 600.0,
        in_frame: None,
        out_frame: None,
        in_byte: None,
        out_byte: None,
        silences: Vec::new(),
        blob_first_frame: None,
        lead_frames: None,
        blob_plays_from_s: None,
    }
}

/// Two pods, a join from one to the other, a 6-s gap, a minute of dead air.
fn manifest() -> DayManifest {
    DayManifest {
        stream: "hope".into(),
        day: "2026-11-26".into(),
        segments: vec![
            segment("pod-a", "2026-11-26T10:00:00Z", 0.0),
            segment("pod-a", "2026-11-26T10:10:00Z", 0.0),
            segment("pod-b", "2026-11-26T10:19:52Z", 8.0),
            segment("pod-b", "2026-11-26T10:30:06Z", 0.0),
        ],
        gaps: vec![DayGap {
            start: t("2026-11-26T10:29:52Z"),
            end: t("2026-11-26T10:30:06Z"),
            seconds: 14.0,
            after: "pod-b".into(),
            before: "pod-b".into(),
            pods_down: vec!["pod-a".into(), "pod-b".into()],
        }],
        archived_seconds: 2386.0,
        silences: vec![DaySilence {
            start: t("2026-11-26T10:12:00Z"),
            end: t("2026-11-26T10:13:00Z"),
            seconds: 60.0,
            pod: "pod-a".into(),
            file: "pod-a_20261126T101000.mp3".into(),
        }],
    }
}

fn held() -> Vec<HeldFile> {
    vec![HeldFile {
        file: "pod-b_20261126T104006.mp3".into(),
        pod: "pod-b".into(),
        start: t("2026-11-26T10:40:06Z"),
        seconds: 95.0,
        why: "its pod may still be writing it".into(),
    }]
}

/// Every element as (name, class, data-pod, its `<title>` child's text), parsed as XML: the
/// picture must be well formed.
fn elements(svg: &str) -> Vec<(String, String, String, String)> {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut stack: Vec<usize> = Vec::new();
    let mut found: Vec<(String, String, String, String)> = Vec::new();
    let mut in_title = false;
    loop {
        let event = reader.read_event().expect("well-formed XML");
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            let attr = |key: &[u8]| {
                e.try_get_attribute(key)
                    .unwrap()
                    .map(|a| a.unescape_value().unwrap().into_owned())
                    .unwrap_or_default()
            };
            let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
            in_title = name == "title" && !empty;
            found.push((name, attr(b"class"), attr(b"data-pod"), String::new()));
            if !empty {
                stack.push(found.len() - 1);
            }
            continue;
        }
        match event {
            Event::Text(text) if in_title => {
                let text = text.unescape().unwrap().into_owned();
                // The title's parent is the element below it on the stack.
                if let Some(&parent) = stack.iter().rev().nth(1) {
                    found[parent].3.push_str(&text);
                }
            }
            Event::End(_) => {
                in_title = false;
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    found
}

/// What the manifest's segments held, as their archived rows say it (no gone rows).
fn kept(m: &DayManifest) -> Vec<Holding> {
    m.segments
        .iter()
        .map(|s| Holding {
            pod: s.pod.clone(),
            file: s.file.clone(),
            start: s.start,
            end: s.start + style::secs(s.duration_s),
            evidence: Evidence::Kept,
        })
        .collect()
}

fn zone() -> Tz {
    "Europe/Madrid".parse().unwrap()
}

#[test]
fn the_picture_has_a_lane_per_pod_and_a_title_on_every_span() {
    let held = held();
    let svg = day_svg(&manifest(), Some(&held), &kept(&manifest()), zone());
    let all = elements(&svg);
    assert_eq!(all[0].0, "svg");
    let lanes: Vec<&str> = all
        .iter()
        .filter(|e| e.1 == "lane")
        .map(|e| e.2.as_str())
        .collect();
    // Two timelines (the day and the detail of its 40 minutes), a lane per pod in each.
    assert_eq!(lanes, ["pod-a", "pod-b", "pod-a", "pod-b"]);
    assert!(all.iter().any(|e| e.1 == "timeline detail"), "{svg}");
    for class in ["recorded", "archived", "gap", "silence", "held", "join"] {
        let spans: Vec<_> = all.iter().filter(|e| e.1 == class).collect();
        assert!(!spans.is_empty(), "no {class} in {svg}");
        for s in spans {
            assert!(!s.3.is_empty(), "a {class} span without a title");
        }
    }
    let titles = |class: &str| -> Vec<&str> {
        all.iter()
            .filter(|e| e.1 == class)
            .map(|e| e.3.as_str())
            .collect()
    };
    // Local times (Madrid is UTC+1 in November), pod, file and seconds.
    assert_eq!(
        titles("recorded")[0],
        "pod-a · pod-a_20261126T100000.mp3 · recorded 11:00:00–11:10:00 (600.0 s)"
    );
    assert!(titles("archived")[2].contains("archived 11:20:00–11:29:52 (592.0 s of 600.0 s"));
    assert!(titles("gap")[0].starts_with("gap 1 · 11:29:52–11:30:06 (14.0 s)"));
    assert!(titles("silence")[0].starts_with("dead air · pod-a · pod-a_20261126T101000.mp3"));
    assert!(titles("held")[0].contains("11:40:06–11:41:41 (95.0 s): its pod may still"));
    // The one change of pods (a → b at 10:20:00 UTC); the join after the gap is the gap.
    assert_eq!(titles("join").len(), 2, "once per timeline");
    assert!(titles("join")[0].starts_with("join at 11:20:00.000: pod-a"));
    // Hour ticks of the whole day, labelled in local time.
    assert!(svg.contains(">00</text>") && svg.contains(">23</text>"));
    assert!(svg.contains("files still held (1)"));
}

#[test]
fn an_archived_file_still_in_the_folder_is_not_drawn_as_held() {
    let m = manifest();
    let mut held = held();
    held.push(HeldFile {
        file: m.segments[0].file.clone(),
        pod: "pod-a".into(),
        start: m.segments[0].start,
        seconds: 600.0,
        why: "not deleted this run".into(),
    });
    let svg = day_svg(&m, Some(&held), &kept(&m), zone());
    let drawn = elements(&svg).into_iter().filter(|e| e.1 == "held").count();
    assert_eq!(drawn, 2, "the one unarchived file, once per timeline");
    assert!(svg.contains("files still held (1)"));
    // A pod with nothing archived says 0.0 s, not -0.0 s.
    let only_held = DayManifest {
        segments: Vec::new(),
        ..manifest()
    };
    let svg = day_svg(&only_held, Some(&held), &kept(&only_held), zone());
    assert!(svg.contains("0 files, 0.0 s archived"), "{svg}");
}

#[test]
fn without_the_folder_the_picture_says_held_files_are_not_shown() {
    let svg = day_svg(&manifest(), None, &kept(&manifest()), zone());
    let all = elements(&svg);
    assert!(!all.iter().any(|e| e.1 == "held"));
    assert!(svg.contains("files still held: not shown (report reads only the archive)"));
    let none = day_svg(&manifest(), Some(&[]), &kept(&manifest()), zone());
    assert!(none.contains("files still held: none"));
}

#[test]
fn a_long_day_has_no_detail_and_an_empty_day_says_so() {
    let mut m = manifest();
    m.segments
        .push(segment("pod-a", "2026-11-26T20:00:00Z", 0.0));
    let all = elements(&day_svg(&m, None, &kept(&m), zone()));
    assert!(!all.iter().any(|e| e.1 == "timeline detail"));
    let empty = DayManifest {
        segments: Vec::new(),
        gaps: Vec::new(),
        silences: Vec::new(),
        archived_seconds: 0.0,
        ..manifest()
    };
    let svg = day_svg(&empty, None, &kept(&empty), zone());
    elements(&svg);
    assert!(svg.contains("nothing archived this day"));
}

#[test]
fn the_fall_back_day_has_25_hour_ticks() {
    let m = DayManifest {
        day: "2026-10-25".into(),
        segments: vec![segment("pod-a", "2026-10-25T00:30:00Z", 0.0)],
        gaps: Vec::new(),
        silences: Vec::new(),
        ..manifest()
    };
    let svg = day_svg(&m, None, &kept(&m), zone());
    let day = svg.split("timeline detail").next().unwrap();
    // 00 … 23 with 02 twice (CEST, then CET), and the next midnight.
    assert_eq!(day.matches(">02</text>").count(), 2, "{day}");
    assert_eq!(
        day.matches("text-anchor=\"middle\"").count(),
        26,
        "25 hours, both ends ticked"
    );
}

#[test]
fn names_are_escaped_in_the_picture_and_the_page() {
    let mut m = manifest();
    m.stream = "<b>&\"x'".into();
    m.segments[0].blob = "26-11-2026/a b&c#?.mp3".into();
    elements(&day_svg(&m, None, &kept(&m), zone()));
    let page = html::day_page(&m, "", zone());
    assert!(page.contains("&lt;b&gt;&amp;&quot;x&#39;"));
    assert!(page.contains("data-src=\"../26-11-2026/a%20b%26c%23%3F.mp3\""));
}

#[test]
fn the_day_page_lists_gaps_silences_and_a_player_per_segment() {
    let m = manifest();
    let page = html::day_page(&m, &day_svg(&m, None, &kept(&m), zone()), zone());
    assert_eq!(
        page.matches("<audio controls preload=\"metadata\"").count(),
        4
    );
    assert!(page
        .contains("data-src=\"../26-11-2026/pod-b_20261126T101952.mp3\" data-frag=\"#t=8.000\""));
    assert!(page.contains("<table class=\"gaps\">"));
    assert!(page.contains("<td>11:29:52</td><td>11:30:06</td><td class=\"n\">14.0</td>"));
    assert!(page.contains("<table class=\"silences\">"));
    assert!(page.contains("<svg "));
    // Every relative URL gets the page's query (a SAS) from the script.
    assert!(page.contains("location.search"));
    assert!(page.contains("<a data-rel href=\"index.html\">"));
    assert!(
        !page.contains(" src=\""),
        "no player loads before the script signs it"
    );
    // One player for the day (player.js, inlined): it reads the manifest beside the page and
    // shows the time in the stream's zone; every timeline tells it where its clock is.
    assert!(page.contains(
        "<section id=\"player\" data-zone=\"Europe/Madrid\" data-manifest=\"2026-11-26.json\""
    ));
    assert!(page.contains("<audio id=\"day-audio\""));
    assert!(page.contains("window.dayPlayer = state;"));
    assert!(page.contains(
        "<g class=\"timeline day\" data-from=\"2026-11-25T23:00:00.000Z\" \
         data-to=\"2026-11-26T23:00:00.000Z\" data-x0=\"190\" data-x1=\"1176\""
    ));
}

#[test]
fn the_index_keeps_other_days_and_replaces_the_ones_written() {
    let mut today = manifest();
    let stored = index::to_lines(&[
        index::IndexEntry {
            day: "2026-11-25".into(),
            segments: 144,
            archived_seconds: 86_400.0,
            gaps: 0,
            silences: 0,
        },
        index::IndexEntry {
            day: "2026-11-26".into(),
            segments: 1,
            archived_seconds: 600.0,
            gaps: 0,
            silences: 0,
        },
    ]);
    let (days, problem) = index::merge(Some(&stored), std::slice::from_ref(&today));
    assert_eq!(problem, None);
    assert_eq!(days.len(), 2);
    assert_eq!(days[1], index::IndexEntry::of(&today));
    let page = html::index_page("hope", &days);
    // Newest first, hours archived, gaps.
    let newest = page.find("2026-11-26.html").unwrap();
    assert!(newest < page.find("2026-11-25.html").unwrap());
    assert!(page.contains("<td class=\"n\">24.00</td>"));

    // A day whose segments all went (a restamp moved them) leaves the index.
    today.segments.clear();
    let (days, _) = index::merge(Some(&stored), &[today]);
    assert_eq!(days.len(), 1);

    let (days, problem) = index::merge(Some(b"{not json"), &[manifest()]);
    assert_eq!(days.len(), 1);
    assert!(problem
        .unwrap()
        .contains("_days/index.jsonl: expected a JSON object per line"));
}

#[tokio::test]
async fn pages_and_the_index_are_written_beside_the_manifests() {
    let archive = store::memory::InMemoryArchive::new("hope");
    let settings =
        crate::testkit::settings_with(std::path::Path::new("/x"), &[("FILE_DURATION", "600")]);
    let mut yesterday = manifest();
    yesterday.day = "2026-11-25".into();
    write_pages(
        &archive,
        &archive,
        &settings.read_side(),
        &[yesterday],
        None,
    )
    .await
    .unwrap();
    write_pages(
        &archive,
        &archive,
        &settings.read_side(),
        &[manifest()],
        Some(&held()),
    )
    .await
    .unwrap();
    let read = |name: &'static str| {
        let archive = &archive;
        async move {
            let info = archive.blob_info(name).await.unwrap().expect(name);
            String::from_utf8(archive.read_blob_range(name, 0, info.size).await.unwrap()).unwrap()
        }
    };
    let list: Vec<index::IndexEntry> = read("_days/index.jsonl")
        .await
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        list.iter().map(|d| d.day.as_str()).collect::<Vec<_>>(),
        ["2026-11-25", "2026-11-26"]
    );
    assert!(read("_days/index.html").await.contains("2026-11-25.html"));
    assert!(read("_days/2026-11-26.svg")
        .await
        .contains("files still held (1)"));
    assert!(read("_days/2026-11-26.html").await.contains("<audio"));
}
