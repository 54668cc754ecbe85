//! The operator's view of the archive: a picture of each day (`svg.rs`), a static browser of
//! the days (`html.rs`, `index.rs`), and what `segment-selector report` needs.
//!
//! Written beside each day manifest as `_days/YYYY-MM-DD.svg` and `_days/YYYY-MM-DD.html`,
//! plus `_days/index.html` (and the list behind it, `_days/index.jsonl`), for every day a run
//! rewrote. Depends on `days` (the manifests), never the other way round.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::error::Error;
use crate::settings::ReadSettings;
use archive_model::day::{self, DayManifest};
use archive_model::held::{self, Holding};
use archive_model::rows;
use store::{Archive, ArchiveRead, StoreResult};

pub use timeline::esc;

pub mod html;
pub mod index;
mod style;
pub mod svg;
mod timeline;

pub use svg::day_svg;

/// A file left in the folder after a run: drawn in its pod's lane, since its audio is not
/// (or not yet known to be) in the archive.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldFile {
    /// The local file name.
    pub file: String,
    /// The pod its name gives (its lane).
    pub pod: String,
    /// Where its audio starts, as its name says.
    pub start: DateTime<Utc>,
    /// Seconds of audio: counted frames, or up to its last write when not measured.
    pub seconds: f64,
    /// Why it is still there (the plan's hold reason, or that it was not deleted this run).
    pub why: String,
}

impl HeldFile {
    /// Where its audio ends.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + TimeDelta::milliseconds((self.seconds * 1000.0).round() as i64)
    }
}

/// The files of `files` still in the folder after the plan: every file but those deleted
/// (`deleted`: the files deleted this run; `None` before the plan is carried out, when the
/// plan's deletions are taken as done). Files whose name is not a segment name cannot be
/// placed and are left out.
pub fn held_files(
    files: &[selection::SeenFile],
    plan: &selection::Plan,
    deleted: Option<&[String]>,
    settings: &ReadSettings,
) -> Vec<HeldFile> {
    let gone = |name: &str| match deleted {
        Some(deleted) => deleted.iter().any(|d| d == name),
        None => plan.deletions.iter().any(|d| d.file == name),
    };
    files
        .iter()
        .filter(|f| !gone(&f.name))
        // A planned deletion of a file with no audio (0 bytes) is not among the deleted
        // audio files; it holds nothing to draw either way.
        .filter(|f| !(f.size == 0 && plan.deletions.iter().any(|d| d.file == f.name)))
        .filter_map(|f| {
            let name = selection::parse_name(&f.name, &settings.selection, None).ok()?;
            let seconds = match &f.audio {
                selection::Audio::Measured(facts) => facts.duration().as_secs_f64(),
                _ => ((f.modified - name.start).num_milliseconds() as f64 / 1000.0).max(0.0),
            };
            let why = plan
                .holds
                .iter()
                .find(|h| h.file == f.name)
                .map_or_else(|| "not deleted this run".to_owned(), |h| h.why.to_string());
            Some(HeldFile {
                file: f.name.clone(),
                pod: name.pod,
                start: name.start,
                seconds,
                why,
            })
        })
        .collect()
}

/// Write the picture and the page of each of `written` (the manifests just written), then
/// the index of days. `held`: the files still held, `None` when not known; `gone`: the
/// stream's gone rows (its `~gone` partition), whose pods the pictures draw too.
pub async fn write_pages(
    archive: &dyn Archive,
    gone: &dyn Archive,
    settings: &ReadSettings,
    written: &[DayManifest],
    held: Option<&[HeldFile]>,
) -> StoreResult<()> {
    let zone = settings.selection.time_zone;
    for m in written {
        let holdings = day_holdings(archive, gone, settings, &m.day).await?;
        let picture = day_svg(m, held, &holdings, zone);
        let name = format!("_days/{}", m.day);
        archive
            .put_small(
                &format!("{name}.html"),
                html::day_page(m, &picture, zone).into_bytes(),
                "text/html; charset=utf-8",
            )
            .await?;
        archive
            .put_small(
                &format!("{name}.svg"),
                picture.into_bytes(),
                "image/svg+xml",
            )
            .await?;
    }
    if written.is_empty() {
        return Ok(());
    }
    let stored = match archive.blob_info(index::INDEX).await? {
        Some(info) => Some(archive.read_blob_range(index::INDEX, 0, info.size).await?),
        None => None,
    };
    let (days, problem) = index::merge(stored.as_deref(), written);
    if let Some(problem) = problem {
        tracing::warn!("{problem}");
    }
    archive
        .put_small(index::INDEX, index::to_lines(&days), "application/jsonl")
        .await?;
    archive
        .put_small(
            "_days/index.html",
            html::index_page(&settings.stream, &days).into_bytes(),
            "text/html; charset=utf-8",
        )
        .await
}

/// The manifest of local day `day` (`YYYY-MM-DD`) from the table, as a run builds it: the
/// rows of the day and an hour on each side (for the joins with the neighbouring days), as
/// `days::write` reads them.
pub async fn day_manifest(
    archive: &dyn ArchiveRead,
    settings: &ReadSettings,
    day: &str,
) -> Result<DayManifest, Error> {
    let date = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
        .map_err(|_| Error::Input(format!("day {day:?}: expected YYYY-MM-DD")))?;
    let (from, to) =
        crate::query::day_span(day, settings.selection.time_zone).map_err(Error::Input)?;
    let (lo, hi) = rows::key_range(from - TimeDelta::hours(1), to + TimeDelta::hours(1));
    let rows = archive.rows_in_range(&lo, &hi).await?;
    Ok(day::build(
        &rows,
        date,
        &settings.stream,
        &settings.selection,
    ))
}

/// What the rows of local day `day` (`YYYY-MM-DD`) and an hour on each side say each pod
/// held ([`held::holdings`]): the stream's archived rows and its gone rows (`gone`, the
/// `~gone` partition). A day that cannot be read holds nothing.
pub async fn day_holdings(
    archive: &dyn ArchiveRead,
    gone: &dyn ArchiveRead,
    settings: &ReadSettings,
    day: &str,
) -> StoreResult<Vec<Holding>> {
    let Ok(date) = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d") else {
        return Ok(Vec::new());
    };
    let (lo, hi) = crate::days::day_keys(settings, date);
    let archived = archive.rows_in_range(&lo, &hi).await?;
    let gone = gone.rows_in_range(&lo, &hi).await?;
    Ok(held::holdings(&archived, &gone, &settings.selection))
}

/// `HH:MM:SS` in `zone`.
pub fn local_time(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone).format("%H:%M:%S").to_string()
}

/// `HH:MM:SS.mmm` in `zone`.
pub fn local_time_ms(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone).format("%H:%M:%S%.3f").to_string()
}

/// Seconds as a person reads them: `6.0 s`, `12.5 min`, `3.20 h`.
pub fn seconds_text(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.1} s")
    } else if s < 5400.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.2} h", s / 3600.0)
    }
}

#[cfg(test)]
mod tests;
