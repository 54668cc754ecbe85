//! The day as a picture (`_days/YYYY-MM-DD.svg`): a timeline of the local day, one lane per
//! pod. Pure: a manifest and the files still held in, an SVG document out.
//!
//! Every pod that recorded that day gets a lane, also one whose every file was deleted as a
//! duplicate. Each lane shows, top to bottom, what the pod recorded (each archived blob's
//! whole span, and each file deleted as a duplicate), what was archived from it (the blob's
//! in..out points: what the day plays) with its dead air, or what was deleted as a duplicate
//! (its gone row), and the files still held in the folder. Under the lanes a band shows how
//! many replicas held the same audio at each moment ([`archive_model::held`], the count the
//! exporter's redundancy metric makes): 3, 2, 1; where replicas' kept recordings overlap
//! without evidence that they agree, it shows 1 and is outlined (`kept-apart`). Gaps no
//! replica covered cross every lane; a join from one pod to another is a line between their
//! lanes. Every span has a `<title>`
//! (pod, file, local times, seconds), so a browser shows it on hover and a screen reader
//! reads it; the lanes, axis and legend are text.
//!
//! A day whose audio spans less than [`DETAIL_BELOW`] gets a second timeline zoomed to that
//! audio: at 24 hours a 6-s gap is a tenth of a pixel wide.

use std::collections::BTreeSet;
use std::fmt::Write;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::style::{
    secs, ARCHIVED, AXIS, BAND, GAP, GAP_LABELS, GONE, HELD, HELD_BY, JOIN, LANE, RECORDED, RIGHT,
    SILENCE, WIDTH,
};
use super::timeline::{esc, Timeline};
use super::{seconds_text, HeldFile};
use archive_model::day::DayManifest;
use archive_model::held::{self, Evidence, Holding};

/// Days whose audio spans less than this also get a zoomed timeline of that audio.
pub const DETAIL_BELOW: TimeDelta = TimeDelta::hours(6);

/// The picture of `m`'s day in `zone`. `held` is `None` when the files still held are not
/// known (the `report` command reads only the archive): the legend says so. `holdings`: what
/// the day's archived and gone rows say each pod held ([`held::holdings`]); the files still
/// held count as held too, not yet judged.
pub fn day_svg(
    m: &DayManifest,
    held: Option<&[HeldFile]>,
    holdings: &[Holding],
    zone: Tz,
) -> String {
    let (from, to) = day_bounds(m, zone);
    // A file whose audio the archive already holds is drawn as archived (it waits only to be
    // deleted): held means not in the archive.
    let held_here: Vec<&HeldFile> = held
        .unwrap_or_default()
        .iter()
        .filter(|h| h.end() > from && h.start < to)
        .filter(|h| !m.segments.iter().any(|s| s.file == h.file))
        .collect();
    let holdings_here: Vec<&Holding> = holdings
        .iter()
        .filter(|h| h.end > from && h.start < to && h.end > h.start)
        .collect();
    let mut pods: BTreeSet<&str> = m.segments.iter().map(|s| s.pod.as_str()).collect();
    pods.extend(held_here.iter().map(|h| h.pod.as_str()));
    pods.extend(holdings_here.iter().map(|h| h.pod.as_str()));
    let pods: Vec<&str> = pods.into_iter().collect();
    let mut counted = holdings.to_vec();
    counted.extend(held_here.iter().map(|h| Holding {
        pod: h.pod.clone(),
        file: h.file.clone(),
        start: h.start,
        end: h.end(),
        evidence: Evidence::Pending,
    }));
    let band = held::held_by(&counted, from, to);
    let lanes = pods.len().max(1) as f64;
    let block = AXIS + lanes * LANE + BAND + GAP_LABELS;
    let detail = audio_span(m, &held_here, &holdings_here).filter(|(a, b)| *b - *a < DETAIL_BELOW);
    let top = 56.0;
    let legend_y = top + block * if detail.is_some() { 2.0 } else { 1.0 } + 24.0;
    let height = legend_y + 66.0;

    let mut out = String::new();
    let summary = format!(
        "{stream}, {day} ({zone}): {n} segments, {hours} archived, {g} gap{gs}, {s} span{ss} of dead air",
        stream = m.stream,
        day = m.day,
        n = m.segments.len(),
        hours = seconds_text(m.archived_seconds),
        g = m.gaps.len(),
        gs = if m.gaps.len() == 1 { "" } else { "s" },
        s = m.silences.len(),
        ss = if m.silences.len() == 1 { "" } else { "s" },
    );
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" \
         height=\"{height}\" role=\"img\" aria-labelledby=\"day-title day-desc\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <title id=\"day-title\">{}</title>\n<desc id=\"day-desc\">{}</desc>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"12\" y=\"24\" font-size=\"16\" font-weight=\"bold\">{}</text>\n\
         <text x=\"12\" y=\"44\" fill=\"#444\">{}</text>\n",
        esc(&format!("{} {}", m.stream, m.day)),
        esc(&summary),
        esc(&format!("{} · {}", m.stream, m.day)),
        esc(&format!(
            "{} segments · {} archived · {} gap{} · {} dead air · times in {zone}",
            m.segments.len(),
            seconds_text(m.archived_seconds),
            m.gaps.len(),
            if m.gaps.len() == 1 { "" } else { "s" },
            m.silences.len(),
        )),
    );
    let view = Timeline {
        m,
        held: &held_here,
        holdings: &holdings_here,
        band: &band,
        pods: &pods,
        zone,
    };
    view.draw(
        &mut out,
        top,
        from,
        to,
        "day",
        "the whole day, hour by hour",
    );
    if let Some((a, b)) = detail {
        let pad = ((b - a) / 50).max(TimeDelta::seconds(2));
        view.draw(
            &mut out,
            top + block,
            a - pad,
            b + pad,
            "detail",
            "detail: the recorded audio",
        );
    }
    legend(&mut out, legend_y, held.is_some(), held_here.len());
    out.push_str("</svg>\n");
    out
}

/// The local day's span: 23, 24 or 25 hours; a day that cannot be read is the 24 hours from
/// its first segment.
fn day_bounds(m: &DayManifest, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    crate::query::day_span(&m.day, zone).unwrap_or_else(|_| {
        let start = m.segments.first().map_or(DateTime::UNIX_EPOCH, |s| s.start);
        (start, start + TimeDelta::hours(24))
    })
}

/// From the first recorded moment to the last (held files and gone rows included).
fn audio_span(
    m: &DayManifest,
    held: &[&HeldFile],
    holdings: &[&Holding],
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let spans = m
        .segments
        .iter()
        .map(|s| (s.start, s.start + secs(s.duration_s)))
        .chain(held.iter().map(|h| (h.start, h.end())))
        .chain(holdings.iter().map(|h| (h.start, h.end)));
    spans.fold(None, |acc, (a, b)| match acc {
        None => Some((a, b)),
        Some((lo, hi)) => Some((lo.min(a), hi.max(b))),
    })
}

fn legend(out: &mut String, y: f64, held_known: bool, held: usize) {
    let held_text = match (held_known, held) {
        (false, _) => "files still held: not shown (report reads only the archive)".to_owned(),
        (true, 0) => "files still held: none".to_owned(),
        (true, n) => format!("files still held ({n})"),
    };
    let items: [(&str, &str, String); 11] = [
        (
            "recorded",
            RECORDED,
            "recorded (the blob's whole span)".into(),
        ),
        ("archived", ARCHIVED, "archived (what the day plays)".into()),
        ("join", JOIN, "join to another pod".into()),
        ("gap", GAP, "gap: no replica recorded".into()),
        ("silence", SILENCE, "dead air".into()),
        ("held", HELD, held_text),
        ("gone", GONE, "deleted as a duplicate".into()),
        ("held-by-3", HELD_BY[2], "held by 3+ replicas".into()),
        ("held-by-2", HELD_BY[1], "by 2".into()),
        ("held-by-1", HELD_BY[0], "by 1".into()),
        (
            "kept-apart",
            HELD_BY[0],
            "by 1: replicas kept apart (they disagree, or were not shown the same)".into(),
        ),
    ];
    let _ = writeln!(out, "<g class=\"legend\">");
    let (mut lx, mut ly) = (12.0, y);
    for (class, colour, text) in items {
        let width = 30.0 + text.chars().count() as f64 * 6.6;
        if lx + width > WIDTH - RIGHT {
            lx = 12.0;
            ly += 20.0;
        }
        let swatch = if class == "join" {
            format!(
                "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                lx + 7.0,
                lx + 7.0,
                ly - 10.0,
                ly + 2.0
            )
        } else if class == "kept-apart" {
            format!(
                "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"14\" height=\"12\" fill=\"{colour}\" \
                 stroke=\"{GAP}\" stroke-width=\"1.5\" stroke-dasharray=\"3 2\"/>",
                ly - 10.0
            )
        } else {
            format!(
                "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"14\" height=\"12\" fill=\"{colour}\"/>",
                ly - 10.0
            )
        };
        let _ = writeln!(
            out,
            "<g class=\"legend-{class}\">{swatch}<text x=\"{:.1}\" y=\"{ly:.1}\">{}</text></g>",
            lx + 20.0,
            esc(&text)
        );
        lx += width;
    }
    out.push_str("</g>\n");
}
