//! The day as a picture (`_days/YYYY-MM-DD.svg`): a timeline of the local day, one lane per
//! pod. Pure: a manifest and the files still held in, an SVG document out.
//!
//! Each lane shows, top to bottom, what the pod recorded (each archived blob's whole span),
//! what was archived from it (the blob's in..out points: what the day plays) with its dead
//! air, and the files still held in the folder. Gaps no replica covered cross every lane; a
//! join from one pod to another is a line between their lanes. Every span has a `<title>`
//! (pod, file, local times, seconds), so a browser shows it on hover and a screen reader
//! reads it; the lanes, axis and legend are text.
//!
//! A day whose audio spans less than [`DETAIL_BELOW`] gets a second timeline zoomed to that
//! audio: at 24 hours a 6-s gap is a tenth of a pixel wide.

use std::collections::BTreeSet;
use std::fmt::Write;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::{esc, local_time, seconds_text, HeldFile};
use crate::days::DayManifest;

/// Days whose audio spans less than this also get a zoomed timeline of that audio.
pub const DETAIL_BELOW: TimeDelta = TimeDelta::hours(6);

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 190.0;
const RIGHT: f64 = 24.0;
const LANE: f64 = 44.0;
const AXIS: f64 = 26.0;
const GAP_LABELS: f64 = 18.0;

const RECORDED: &str = "#b8cce4";
const ARCHIVED: &str = "#1f5fa8";
const GAP: &str = "#d62728";
const SILENCE: &str = "#7b3fc4";
const HELD: &str = "#e08a00";
const JOIN: &str = "#111111";

/// The picture of `m`'s day in `zone`. `held` is `None` when the files still held are not
/// known (the `report` command reads only the archive): the legend says so.
pub fn day_svg(m: &DayManifest, held: Option<&[HeldFile]>, zone: Tz) -> String {
    let (from, to) = day_bounds(m, zone);
    // A file whose audio the archive already holds is drawn as archived (it waits only to be
    // deleted): held means not in the archive.
    let held_here: Vec<&HeldFile> = held
        .unwrap_or_default()
        .iter()
        .filter(|h| h.end() > from && h.start < to)
        .filter(|h| !m.segments.iter().any(|s| s.file == h.file))
        .collect();
    let mut pods: BTreeSet<&str> = m.segments.iter().map(|s| s.pod.as_str()).collect();
    pods.extend(held_here.iter().map(|h| h.pod.as_str()));
    let pods: Vec<&str> = pods.into_iter().collect();
    let lanes = pods.len().max(1) as f64;
    let block = AXIS + lanes * LANE + GAP_LABELS;
    let detail = audio_span(m, &held_here).filter(|(a, b)| *b - *a < DETAIL_BELOW);
    let top = 56.0;
    let legend_y = top + block * if detail.is_some() { 2.0 } else { 1.0 } + 24.0;
    let height = legend_y + 46.0;

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

/// From the first recorded moment to the last (held files included).
fn audio_span(m: &DayManifest, held: &[&HeldFile]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let spans = m
        .segments
        .iter()
        .map(|s| (s.start, s.start + secs(s.duration_s)))
        .chain(held.iter().map(|h| (h.start, h.end())));
    spans.fold(None, |acc, (a, b)| match acc {
        None => Some((a, b)),
        Some((lo, hi)) => Some((lo.min(a), hi.max(b))),
    })
}

fn secs(s: f64) -> TimeDelta {
    TimeDelta::microseconds((s * 1e6).round() as i64)
}

/// One timeline: an axis and a lane per pod, over `from..to`.
struct Timeline<'a> {
    m: &'a DayManifest,
    held: &'a [&'a HeldFile],
    pods: &'a [&'a str],
    zone: Tz,
}

impl Timeline<'_> {
    fn draw(
        &self,
        out: &mut String,
        y0: f64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        class: &str,
        caption: &str,
    ) {
        let span_s = ((to - from).num_milliseconds() as f64 / 1000.0).max(1.0);
        let plot = WIDTH - LEFT - RIGHT;
        let x = |t: DateTime<Utc>| {
            let s = (t - from).num_milliseconds() as f64 / 1000.0;
            LEFT + (s / span_s).clamp(0.0, 1.0) * plot
        };
        let lanes_top = y0 + AXIS;
        let lanes_h = self.pods.len().max(1) as f64 * LANE;
        let _ = writeln!(out, "<g class=\"timeline {class}\">");
        let _ = writeln!(
            out,
            "<text x=\"12\" y=\"{:.1}\" fill=\"#444\" font-style=\"italic\">{}</text>",
            y0 + 12.0,
            esc(caption)
        );
        self.axis(out, y0, lanes_top + lanes_h, from, to, &x);
        for (i, pod) in self.pods.iter().enumerate() {
            self.lane(out, lanes_top + i as f64 * LANE, pod, from, to, &x);
        }
        if self.pods.is_empty() {
            let _ = writeln!(
                out,
                "<text x=\"{LEFT}\" y=\"{:.1}\" fill=\"#666\">nothing archived this day</text>",
                lanes_top + 24.0
            );
        }
        self.joins(out, lanes_top, from, to, &x);
        self.gaps(out, lanes_top, lanes_h, from, to, &x);
        out.push_str("</g>\n");
    }

    /// Ticks at a step that gives about ten labels: every hour on a whole day.
    fn axis(
        &self,
        out: &mut String,
        y0: f64,
        bottom: f64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        x: &dyn Fn(DateTime<Utc>) -> f64,
    ) {
        let span = (to - from).num_seconds().max(1);
        let step = [
            1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
        ]
        .into_iter()
        // Hour labels ("14") are narrow: a whole day gets all 24 or 25 of them; "14:15:30" needs
        // about 70 px.
        .find(|&s| span / s <= if s >= 3600 { 26 } else { 14 })
        .unwrap_or(10_800);
        let seconds = step < 60;
        let first = (from.timestamp() + step - 1).div_euclid(step) * step;
        let _ = writeln!(out, "<g class=\"axis\">");
        let mut t = first;
        while t <= to.timestamp() {
            let Some(at) = DateTime::from_timestamp(t, 0) else {
                break;
            };
            let local = at.with_timezone(&self.zone);
            let label = if step >= 3600 {
                local.format("%H").to_string()
            } else if seconds {
                local.format("%H:%M:%S").to_string()
            } else {
                local.format("%H:%M").to_string()
            };
            let xt = x(at);
            let _ = writeln!(
                out,
                "<line x1=\"{xt:.1}\" x2=\"{xt:.1}\" y1=\"{:.1}\" y2=\"{bottom:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{xt:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333\">{label}</text>",
                y0 + AXIS - 4.0,
                y0 + AXIS - 8.0,
            );
            t += step;
        }
        out.push_str("</g>\n");
    }

    fn lane(
        &self,
        out: &mut String,
        y: f64,
        pod: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        x: &dyn Fn(DateTime<Utc>) -> f64,
    ) {
        let zone = self.zone;
        let ours: Vec<_> = self.m.segments.iter().filter(|s| s.pod == pod).collect();
        // A fold from +0.0: an empty f64 sum is -0.0, which prints as "-0.0 s".
        let archived = ours
            .iter()
            .fold(0.0, |sum, s| sum + (s.out_s - s.in_s).max(0.0));
        // Pods of one Deployment share their prefix: the end tells them apart.
        let chars = pod.chars().count();
        let shown = if chars > 24 {
            format!("…{}", pod.chars().skip(chars - 23).collect::<String>())
        } else {
            pod.to_owned()
        };
        let _ = writeln!(
            out,
            "<g class=\"lane\" data-pod=\"{pod_attr}\">\
             <rect x=\"0\" y=\"{y:.1}\" width=\"{WIDTH}\" height=\"{LANE}\" fill=\"#f7f7f7\" opacity=\"0.6\"/>\
             <text x=\"12\" y=\"{:.1}\" font-weight=\"bold\"><title>{pod_attr}</title>{}</text>\
             <text x=\"12\" y=\"{:.1}\" fill=\"#555\" font-size=\"11\">{} files, {} archived</text>",
            y + 17.0,
            esc(&shown),
            y + 32.0,
            ours.len(),
            seconds_text(archived),
            pod_attr = esc(if pod.is_empty() { "(no pod)" } else { pod }),
        );
        let bar = |out: &mut String,
                   class: &str,
                   a,
                   b,
                   top: f64,
                   h: f64,
                   fill: &str,
                   title: &str| {
            if b <= from || a >= to {
                return;
            }
            let (xa, xb) = (x(a), x(b));
            let _ = writeln!(
                out,
                "<rect class=\"{class}\" x=\"{xa:.2}\" y=\"{top:.1}\" width=\"{:.2}\" height=\"{h}\" \
                 fill=\"{fill}\"><title>{}</title></rect>",
                (xb - xa).max(1.0),
                esc(title)
            );
        };
        for s in &ours {
            let end = s.start + secs(s.duration_s);
            bar(
                out,
                "recorded",
                s.start,
                end,
                y + 4.0,
                10.0,
                RECORDED,
                &format!(
                    "{pod} · {} · recorded {}–{} ({:.1} s)",
                    s.file,
                    local_time(s.start, zone),
                    local_time(end, zone),
                    s.duration_s
                ),
            );
            let (a, b) = (s.start + secs(s.in_s), s.start + secs(s.out_s));
            if s.out_s - s.in_s > 0.0005 {
                bar(
                    out,
                    "archived",
                    a,
                    b,
                    y + 16.0,
                    14.0,
                    ARCHIVED,
                    &format!(
                        "{pod} · {} · archived {}–{} ({:.1} s of {:.1} s; from {:.3} s into the blob)",
                        s.file,
                        local_time(a, zone),
                        local_time(b, zone),
                        s.out_s - s.in_s,
                        s.duration_s,
                        s.in_s
                    ),
                );
            }
        }
        for d in self.m.silences.iter().filter(|d| d.pod == pod) {
            bar(
                out,
                "silence",
                d.start,
                d.end,
                y + 16.0,
                14.0,
                SILENCE,
                &format!(
                    "dead air · {pod} · {} · {}–{} ({:.1} s)",
                    d.file,
                    local_time(d.start, zone),
                    local_time(d.end, zone),
                    d.seconds
                ),
            );
        }
        for h in self.held.iter().filter(|h| h.pod == pod) {
            bar(
                out,
                "held",
                h.start,
                h.end(),
                y + 33.0,
                7.0,
                HELD,
                &format!(
                    "held · {pod} · {} · {}–{} ({:.1} s): {}",
                    h.file,
                    local_time(h.start, zone),
                    local_time(h.end(), zone),
                    h.seconds,
                    h.why
                ),
            );
        }
        out.push_str("</g>\n");
    }

    /// A line from one pod's lane to the other's where the day's playback changes pods.
    fn joins(
        &self,
        out: &mut String,
        lanes_top: f64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        x: &dyn Fn(DateTime<Utc>) -> f64,
    ) {
        let lane_of = |pod: &str| self.pods.iter().position(|p| *p == pod).unwrap_or(0) as f64;
        for w in self.m.segments.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let at = b.start + secs(b.in_s);
            let after_gap = self.m.gaps.iter().any(|g| g.end == b.start);
            if a.pod == b.pod || after_gap || at < from || at > to {
                continue;
            }
            let (la, lb) = (lane_of(&a.pod), lane_of(&b.pod));
            let (y1, y2) = (
                lanes_top + la.min(lb) * LANE + 16.0,
                lanes_top + la.max(lb) * LANE + 30.0,
            );
            let xj = x(at);
            let _ = writeln!(
                out,
                "<line class=\"join\" x1=\"{xj:.2}\" x2=\"{xj:.2}\" y1=\"{y1:.1}\" y2=\"{y2:.1}\" \
                 stroke=\"{JOIN}\" stroke-width=\"1.5\"><title>{}</title></line>",
                esc(&format!(
                    "join at {}: {} ({}) → {} ({}), {:.3} s into {}",
                    super::local_time_ms(at, self.zone),
                    a.pod,
                    a.file,
                    b.pod,
                    b.file,
                    b.in_s,
                    b.file
                ))
            );
        }
    }

    /// A band across every lane for each gap, at least 3 px wide, labelled below the lanes
    /// where there is room.
    fn gaps(
        &self,
        out: &mut String,
        lanes_top: f64,
        lanes_h: f64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        x: &dyn Fn(DateTime<Utc>) -> f64,
    ) {
        let mut last_label = f64::NEG_INFINITY;
        for (i, g) in self.m.gaps.iter().enumerate() {
            if g.end <= from || g.start >= to {
                continue;
            }
            let (xa, xb) = (x(g.start), x(g.end));
            let w = (xb - xa).max(3.0);
            let title = format!(
                "gap {} · {}–{} ({:.1} s): no replica recorded it; {} stopped, {} resumed",
                i + 1,
                local_time(g.start, self.zone),
                local_time(g.end, self.zone),
                g.seconds,
                g.after,
                g.before
            );
            let _ = writeln!(
                out,
                "<rect class=\"gap\" x=\"{:.2}\" y=\"{lanes_top:.1}\" width=\"{w:.2}\" \
                 height=\"{lanes_h:.1}\" fill=\"{GAP}\" fill-opacity=\"0.55\"><title>{}</title></rect>",
                (xa + xb) / 2.0 - w / 2.0,
                esc(&title)
            );
            if xa - last_label > 90.0 {
                let _ = writeln!(
                    out,
                    "<text class=\"gap-label\" x=\"{xa:.1}\" y=\"{:.1}\" fill=\"{GAP}\" \
                     font-size=\"11\">▲ gap {} ({})<title>{}</title></text>",
                    lanes_top + lanes_h + 13.0,
                    i + 1,
                    seconds_text(g.seconds),
                    esc(&title)
                );
                last_label = xa;
            }
        }
    }
}

fn legend(out: &mut String, y: f64, held_known: bool, held: usize) {
    let held_text = match (held_known, held) {
        (false, _) => "files still held: not shown (report reads only the archive)".to_owned(),
        (true, 0) => "files still held: none".to_owned(),
        (true, n) => format!("files still held ({n})"),
    };
    let items: [(&str, &str, String); 6] = [
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
