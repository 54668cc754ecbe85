//! The static archive browser: `_days/index.html` (the days) and `_days/YYYY-MM-DD.html` (a
//! day: one player for the whole day, its picture, gaps, dead air and segments, each with a
//! player of its own). Pure: data in, HTML out.
//!
//! The day's player ([`PLAYER`], `player.js` beside this file, inlined so that the page stays
//! one blob that one SAS opens) plays the day manifest's segments in order through Media
//! Source Extensions, trimmed at their in- and out-points, skips and announces the gaps,
//! shows the time in `TIME_ZONE` with its UTC offset, seeks to any time of the day, moves a
//! cursor over the picture and plays from where the picture is clicked.
//!
//! There is no server: the pages are blobs beside the manifests, read from the storage
//! account's static website, a public container, or a container-scoped SAS URL. Every URL
//! they hold is relative to `_days/` (a blob is `../<blob name>`), so the whole archive moves
//! with its container.

use std::fmt::Write;

use chrono_tz::Tz;

use super::index::IndexEntry;
use super::timeline::esc;
use super::{local_time, seconds_text};
use archive_model::day::DayManifest;

/// Makes every relative URL of the page carry the page's own query string.
///
/// Why: a private container is opened through a container-scoped SAS URL
/// (`…/_days/2026-11-26.html?sv=…&sr=c&sig=…`). One such signature is good for every blob of
/// the container, so appending the page's `location.search` to each relative URL (players,
/// links to the picture, the manifest and other days) lets one SAS open the whole archive.
/// From a static website or a public container the query is empty and nothing changes.
/// Players carry their URL in `data-src`, not `src`, so that no unsigned request is made
/// before this runs.
const SIGN_URLS: &str = r#"<script>
// A private container is opened through one container-scoped SAS URL: the same query signs
// every blob of the container, so each relative URL built here carries the page's own query
// (location.search). On a static website or a public container the query is empty.
(function () {
  var q = location.search;
  document.querySelectorAll("[data-src]").forEach(function (e) {
    e.src = e.getAttribute("data-src") + q + (e.getAttribute("data-frag") || "");
  });
  document.querySelectorAll("a[data-rel]").forEach(function (a) {
    a.href = a.getAttribute("href") + q;
  });
})();
</script>
"#;

/// The day player's script (`player.js`).
const PLAYER: &str = include_str!("player.js");

const STYLE: &str = "<style>\
body{font-family:sans-serif;margin:1.5em;color:#111;max-width:1250px}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border-bottom:1px solid #ddd;padding:.25em .7em;text-align:left;vertical-align:middle}\
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.picture{overflow-x:auto}audio{height:2em;width:18em}\
.none{color:#666;font-style:italic}\
#player{border:1px solid #ccc;padding:.3em .8em;margin:.5em 0 1em}#player p{margin:.4em 0}\
#clock{font-variant-numeric:tabular-nums;font-weight:bold;margin:0 .8em}#position{width:100%}\
#announce{color:#a11;min-height:1.2em}.picture svg{cursor:crosshair}\
</style>\n";

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Percent-encodes a blob name for a relative URL, keeping its `/` separators.
pub fn url_path(blob: &str) -> String {
    let mut out = String::with_capacity(blob.len());
    for b in blob.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A day's page, with `svg` (the day's picture) inline so that its `<title>`s show on hover.
pub fn day_page(m: &DayManifest, svg: &str, zone: Tz) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title>\n{STYLE}</head><body>\n\
         <p><a data-rel href=\"index.html\">← all days</a></p>\n\
         <h1>{title}</h1>\n\
         <p>{n} segment{ns}, {archived} archived, {g} gap{gs}, {s} span{ss} of dead air. Times in {zone}. \
         <a data-rel href=\"{day}.json\">manifest (JSON)</a> · \
         <a data-rel href=\"{day}.m3u8\">playlist (HLS)</a> · \
         <a data-rel href=\"{day}.svg\">picture (SVG)</a></p>\n\
         <section id=\"player\" data-zone=\"{zone}\" data-manifest=\"{day}.json\" \
         aria-label=\"the day's player\">\
         <p><button type=\"button\" id=\"play-pause\">Play / pause the day</button>\
         <output id=\"clock\">–</output>\
         <label>Go to <input id=\"go-to\" size=\"14\" placeholder=\"14:32 or 02:30 +01:00\"></label> \
         <button type=\"button\" id=\"go\">Go</button> (or click the picture)</p>\
         <input type=\"range\" id=\"position\" min=\"0\" max=\"0\" step=\"0.1\" value=\"0\" \
         aria-label=\"position in the day\">\
         <p id=\"announce\" role=\"status\" aria-live=\"polite\"></p>\
         <audio id=\"day-audio\" preload=\"none\"></audio></section>\n\
         <div class=\"picture\">\n{svg}</div>\n",
        title = esc(&format!("{} · {}", m.stream, m.day)),
        n = m.segments.len(),
        archived = seconds_text(m.archived_seconds),
        g = m.gaps.len(),
        s = m.silences.len(),
        ns = plural(m.segments.len()),
        gs = plural(m.gaps.len()),
        ss = plural(m.silences.len()),
        day = esc(&m.day),
    );

    out.push_str("<h2 id=\"gaps\">Gaps</h2>\n");
    if m.gaps.is_empty() {
        out.push_str("<p class=\"none\">No gaps: some replica recorded every moment between the first and the last segment.</p>\n");
    } else {
        out.push_str("<table class=\"gaps\"><thead><tr><th>from</th><th>to</th><th>seconds</th><th>audio stops (pod)</th><th>resumes (pod)</th></tr></thead><tbody>\n");
        for g in &m.gaps {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{:.1}</td><td>{}</td><td>{}</td></tr>",
                local_time(g.start, zone),
                local_time(g.end, zone),
                g.seconds,
                esc(&g.after),
                esc(&g.before)
            );
        }
        out.push_str("</tbody></table>\n");
    }

    out.push_str("<h2 id=\"silences\">Dead air</h2>\n");
    if m.silences.is_empty() {
        out.push_str("<p class=\"none\">No dead air found.</p>\n");
    } else {
        out.push_str("<table class=\"silences\"><thead><tr><th>from</th><th>to</th><th>seconds</th><th>pod</th><th>file</th></tr></thead><tbody>\n");
        for d in &m.silences {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{:.1}</td><td>{}</td><td>{}</td></tr>",
                local_time(d.start, zone),
                local_time(d.end, zone),
                d.seconds,
                esc(&d.pod),
                esc(&d.file)
            );
        }
        out.push_str("</tbody></table>\n");
    }

    out.push_str("<h2 id=\"segments\">Segments</h2>\n");
    if m.segments.is_empty() {
        out.push_str("<p class=\"none\">Nothing archived this day.</p>\n");
    } else {
        out.push_str("<table class=\"segments\"><thead><tr><th>start</th><th>pod</th><th>seconds</th><th>plays from</th><th>listen</th><th>file</th></tr></thead><tbody>\n");
        for s in &m.segments {
            // The fragment starts the player at the in-point: the part before it repeats the
            // segment before. A frame-exact blob plays from a later point of its recording.
            let _ = writeln!(
                out,
                "<tr class=\"segment\" data-duration=\"{dur:.3}\"><td>{start}</td><td>{pod}</td>\
                 <td class=\"n\">{dur:.1}</td><td class=\"n\">{in_s:.1} s</td>\
                 <td><audio controls preload=\"metadata\" data-src=\"../{src}\" data-frag=\"#t={seek:.3}\">\
                 </audio></td><td><a data-rel href=\"../{src}\">{file}</a></td></tr>",
                start = local_time(s.start, zone),
                pod = esc(&s.pod),
                dur = s.duration_s,
                in_s = s.in_s,
                seek = (s.in_s - s.blob_plays_from_s.unwrap_or(0.0)).max(0.0),
                src = esc(&url_path(&s.blob)),
                file = esc(&s.file),
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str(SIGN_URLS);
    let _ = writeln!(out, "<script>\n{PLAYER}</script>");
    out.push_str("</body></html>\n");
    out
}

/// The list of days, newest first, each linking to its page.
pub fn index_page(stream: &str, days: &[IndexEntry]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title>\n{STYLE}</head><body>\n<h1>{title}</h1>\n",
        title = esc(&format!("{stream} · archived days"))
    );
    if days.is_empty() {
        out.push_str("<p class=\"none\">No day archived yet.</p>\n");
    } else {
        out.push_str("<table class=\"days\"><thead><tr><th>day</th><th>segments</th><th>hours archived</th><th>gaps</th><th>dead air</th></tr></thead><tbody>\n");
        for d in days.iter().rev() {
            let _ = writeln!(
                out,
                "<tr class=\"day\"><td><a data-rel href=\"{day}.html\">{day}</a></td>\
                 <td class=\"n\">{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td></tr>",
                d.segments,
                d.archived_seconds / 3600.0,
                d.gaps,
                d.silences,
                day = esc(&d.day),
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str(SIGN_URLS);
    out.push_str("</body></html>\n");
    out
}
