//! One timeline of the day picture ([`super::svg`]): an axis with ticks in local time, a lane
//! per pod (recorded, archived or deleted as a duplicate, dead air, held), the band of how
//! many replicas held each moment, the joins between pods and the gaps.

use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use super::style::{
    secs, ARCHIVED, AXIS, BAND, GAP, GONE, HELD, HELD_BY, JOIN, LANE, LEFT, RECORDED, RIGHT,
    SILENCE, WIDTH,
};
use super::{local_time, local_time_ms, seconds_text, HeldFile};
use archive_model::day::DayManifest;
use archive_model::held::{Evidence, HeldSpan, Holding};

/// One timeline: an axis and a lane per pod, over `from..to`.
pub(super) struct Timeline<'a> {
    pub m: &'a DayManifest,
    pub held: &'a [&'a HeldFile],
    /// What the archive's rows say each pod held (gone rows drawn in their pod's lane).
    pub holdings: &'a [&'a Holding],
    /// How many replicas held each moment of the day.
    pub band: &'a [HeldSpan],
    pub pods: &'a [&'a str],
    pub zone: Tz,
}

impl Timeline<'_> {
    pub fn draw(
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
        // Where the timeline's clock is, for the day player's cursor and clicks (html.rs).
        let _ = writeln!(
            out,
            "<g class=\"timeline {class}\" data-from=\"{}\" data-to=\"{}\" data-x0=\"{LEFT}\" \
             data-x1=\"{}\" data-top=\"{lanes_top:.1}\" data-bottom=\"{:.1}\">",
            from.to_rfc3339_opts(SecondsFormat::Millis, true),
            to.to_rfc3339_opts(SecondsFormat::Millis, true),
            LEFT + plot,
            lanes_top + lanes_h + BAND,
        );
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
        self.band(out, lanes_top + lanes_h, from, to, &x);
        self.joins(out, lanes_top, from, to, &x);
        self.gaps(out, lanes_top, lanes_h, from, to, &x);
        out.push_str("</g>\n");
    }

    /// A band under the lanes: how many replicas held the same audio at each moment, outlined
    /// where kept recordings of two or more replicas overlap (they count once).
    fn band(
        &self,
        out: &mut String,
        y: f64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        x: &dyn Fn(DateTime<Utc>) -> f64,
    ) {
        let _ = writeln!(
            out,
            "<g class=\"band\"><text x=\"12\" y=\"{:.1}\" fill=\"#555\" font-size=\"11\">replicas holding it</text>",
            y + 16.0
        );
        for s in self.band.iter().filter(|s| s.count() > 0) {
            if s.end <= from || s.start >= to {
                continue;
            }
            let (xa, xb) = (x(s.start), x(s.end));
            let n = s.count();
            let (class, stroke, who) = if s.disagree() {
                let also = if s.holders.is_empty() {
                    String::new()
                } else {
                    format!("; the same audio also held by {}", s.holders.join(", "))
                };
                (
                    "held-by kept-apart",
                    format!(" stroke=\"{GAP}\" stroke-width=\"1.5\" stroke-dasharray=\"3 2\""),
                    format!(
                        "{} kept apart (they disagree, or were not shown the same){also}",
                        s.kept_apart.join(" and ")
                    ),
                )
            } else {
                ("held-by", String::new(), s.holders.join(", "))
            };
            let _ = writeln!(
                out,
                "<rect class=\"{class}\" data-count=\"{n}\" data-from=\"{}\" data-to=\"{}\" \
                 x=\"{xa:.2}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{:.1}\" fill=\"{}\"{stroke}>\
                 <title>{}</title></rect>",
                s.start.to_rfc3339_opts(SecondsFormat::Millis, true),
                s.end.to_rfc3339_opts(SecondsFormat::Millis, true),
                y + 4.0,
                (xb - xa).max(1.0),
                BAND - 8.0,
                HELD_BY[n.min(3) - 1],
                esc(&format!(
                    "held by {n} · {}–{} ({}): {who}",
                    local_time(s.start, self.zone),
                    local_time(s.end, self.zone),
                    seconds_text(s.seconds()),
                ))
            );
        }
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
        // The pod's recordings deleted as duplicates: gone rows (a frame-exact blob's head left
        // out is drawn with its blob).
        let gone: Vec<&&Holding> = self
            .holdings
            .iter()
            .filter(|h| h.pod == pod && h.evidence == Evidence::Same)
            .filter(|h| !ours.iter().any(|s| s.file == h.file))
            .collect();
        let deleted = if gone.is_empty() {
            String::new()
        } else {
            format!(", {} deleted as duplicates", gone.len())
        };
        let _ = writeln!(
            out,
            "<g class=\"lane\" data-pod=\"{pod_attr}\">\
             <rect x=\"0\" y=\"{y:.1}\" width=\"{WIDTH}\" height=\"{LANE}\" fill=\"#f7f7f7\" opacity=\"0.6\"/>\
             <text x=\"12\" y=\"{:.1}\" font-weight=\"bold\"><title>{pod_attr}</title>{}</text>\
             <text x=\"12\" y=\"{:.1}\" fill=\"#555\" font-size=\"11\">{} files, {} archived{deleted}</text>",
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
        for h in &gone {
            let title = format!(
                "{pod} · {} · recorded {}–{} ({:.1} s)",
                h.file,
                local_time(h.start, zone),
                local_time(h.end, zone),
                (h.end - h.start).num_milliseconds() as f64 / 1000.0
            );
            bar(
                out,
                "recorded",
                h.start,
                h.end,
                y + 4.0,
                10.0,
                RECORDED,
                &title,
            );
            let title = format!(
                "{pod} · {} · deleted as a duplicate: the archive holds the same audio",
                h.file
            );
            bar(out, "gone", h.start, h.end, y + 16.0, 14.0, GONE, &title);
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
                    local_time_ms(at, self.zone),
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
                    lanes_top + lanes_h + BAND + 13.0,
                    i + 1,
                    seconds_text(g.seconds),
                    esc(&title)
                );
                last_label = xa;
            }
        }
    }
}

/// Escapes text for XML and HTML (content and attribute values). It lives with the drawing
/// that calls it most; the pages (`html.rs`) and the picture's frame (`svg.rs`) use it too.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
