//! Questions about the archive that need only the storage settings and the stream's name:
//! what is archived in a day or a time range (`segment-selector ls`), and a day's playlist
//! signed for players (`segment-selector playlist`).

use std::collections::HashMap;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::settings::ReadSettings;
use archive_model::rows;
use store::{ArchiveRead, SegmentRow, Signer};

/// One archived segment as `ls` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listed {
    /// Where its audio starts (the recorded start; for the Node job's rows, the name's time).
    pub start: DateTime<Utc>,
    /// The same in the recorders' time zone (`TIME_ZONE`), with its offset.
    pub start_local: String,
    /// Seconds of audio; `None` for the Node job's rows, which did not record it.
    pub duration_s: Option<f64>,
    /// The replica that recorded it (empty for unprefixed names).
    pub pod: String,
    /// The blob holding it.
    pub blob: String,
    /// The recorded file's name (the row's `fileName`).
    pub file: String,
}

/// A time as the user writes it: RFC 3339 (`2026-11-26T14:32:00Z`, `…+01:00`), or the
/// recorders' local time (`2026-11-26T14:32:00`, `2026-11-26 14:32`) in `zone`.
pub fn parse_time(text: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .ok_or_else(|| {
        format!(
            "time {text:?}: expected RFC 3339 (2026-11-26T14:32:00Z) or a local time in \
                 {zone} (2026-11-26T14:32:00)"
        )
    })?;
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Err(format!(
            "time {text:?} happens twice in {zone} ({} and {}): give the offset, e.g. {}",
            a.format("%H:%M:%S%:z"),
            b.format("%H:%M:%S%:z"),
            a.to_rfc3339()
        )),
        LocalResult::None => Err(format!(
            "time {text:?} does not exist in {zone} (skipped by a daylight-saving change)"
        )),
    }
}

/// The span of a local calendar day (`YYYY-MM-DD`) in `zone`: 23, 24 or 25 hours.
pub fn day_span(text: &str, zone: Tz) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let day = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("day {text:?}: expected YYYY-MM-DD"))?;
    let start_of = |d: NaiveDate| -> Result<DateTime<Utc>, String> {
        // Midnight may not exist (a zone that changes at 00:00): the day starts at the first
        // instant after it.
        (0..=120)
            .find_map(|minutes| {
                let t = d.and_hms_opt(0, 0, 0)? + TimeDelta::minutes(minutes);
                zone.from_local_datetime(&t).earliest()
            })
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("day {day} has no start in {zone}"))
    };
    let next = day
        .succ_opt()
        .ok_or_else(|| format!("day {day} has no next day"))?;
    Ok((start_of(day)?, start_of(next)?))
}

/// The archived segments whose audio overlaps `range` (all of them without a range), in the
/// order of their start. Every page of the table is read.
pub async fn list(
    archive: &dyn ArchiveRead,
    settings: &ReadSettings,
    range: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<Vec<Listed>, crate::error::Error> {
    let rows = match range {
        // RowKeys are inverted name times (ours) or upload times (the Node job's), so a day's
        // margin on each side holds every row whose audio can overlap.
        Some((from, to)) => {
            let margin = TimeDelta::days(1);
            let (lo, hi) = rows::key_range(from - margin, to + margin);
            archive.rows_in_range(&lo, &hi).await
        }
        None => archive.rows_in_range("", "\u{10FFFF}").await,
    }?;
    let zone = settings.selection.time_zone;
    // The Node job's rows name no instant: in the repeated autumn hour their names are placed
    // as the day manifests place them.
    let node = rows::node_name_starts(&rows, &settings.selection);
    let mut listed: Vec<Listed> = rows
        .iter()
        .filter(|r| r.row_key != rows::SIGHTINGS_KEY)
        .filter_map(|r| listed(r, settings, &node))
        .filter(|l| match range {
            Some((from, to)) => {
                let end = l.start
                    + TimeDelta::milliseconds((l.duration_s.unwrap_or(0.0) * 1000.0) as i64);
                l.start < to && end > from
            }
            None => true,
        })
        .collect();
    for l in &mut listed {
        l.start_local = l.start.with_timezone(&zone).to_rfc3339();
    }
    listed.sort_by(|a, b| (a.start, &a.file).cmp(&(b.start, &b.file)));
    Ok(listed)
}

fn listed(
    row: &SegmentRow,
    settings: &ReadSettings,
    node: &HashMap<String, DateTime<Utc>>,
) -> Option<Listed> {
    let name = selection::parse_name(&row.file_name, &settings.selection, None).ok();
    let start = row
        .audio_start_ms
        .and_then(DateTime::from_timestamp_millis)
        .or_else(|| node.get(&row.file_name).copied())
        .or(name.as_ref().map(|n| n.start))?;
    let blob = match (&row.blob_name, &name) {
        (Some(b), _) => b.clone(),
        (None, Some(n)) => selection::blob_name(&settings.selection, n, &row.file_name).ok()?,
        (None, None) => return None,
    };
    Some(Listed {
        start,
        start_local: String::new(),
        duration_s: row
            .duration_us
            .map(|us| us as f64 / 1e6)
            .or(row.duration_ms.map(|ms| ms as f64 / 1e3)),
        pod: name.map(|n| n.pod).unwrap_or_default(),
        blob,
        file: row.file_name.clone(),
    })
}

/// The day's HLS playlist (the one `_days/YYYY-MM-DD.m3u8` holds, built from the table as a
/// run would write it) with absolute blob URLs, each read-only and valid from `now` until
/// `expiry` (signed by `signer`: on Azure a SAS), so a private container plays in VLC or a
/// browser. `day` is `YYYY-MM-DD`, the date in the file names (as the blob folders count
/// days). An error when the day has nothing archived.
pub async fn signed_playlist(
    archive: &dyn ArchiveRead,
    signer: &dyn Signer,
    settings: &ReadSettings,
    day: &str,
    now: DateTime<Utc>,
    expiry: DateTime<Utc>,
) -> Result<String, crate::error::Error> {
    let date = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
        .map_err(|_| crate::error::Error::Input(format!("day {day:?}: expected YYYY-MM-DD")))?;
    let manifest = crate::days::read(archive, settings, date).await?;
    if manifest.segments.is_empty() {
        return Err(crate::error::Error::NothingArchived(format!(
            "stream {} has nothing archived on {date} (container {}, table {})",
            settings.stream, settings.container, settings.table
        )));
    }
    let urls = signer.signed_urls(now, expiry).await?;
    let mut signed = HashMap::new();
    for s in &manifest.segments {
        if !signed.contains_key(&s.blob) {
            let url = urls.blob_url(&s.blob).await?;
            signed.insert(s.blob.clone(), url);
        }
    }
    Ok(archive_model::day::playlist::playlist_with(
        &manifest,
        |s| signed.get(&s.blob).cloned().unwrap_or_default(),
    ))
}

/// `ls`'s table: a header, then one line per segment.
pub fn table(listed: &[Listed]) -> String {
    let mut out = String::from("start (UTC)\tstart (local)\tduration\tpod\tblob\n");
    for l in listed {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            l.start.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            l.start_local,
            l.duration_s.map_or("-".into(), |d| format!("{d:.3} s")),
            if l.pod.is_empty() { "-" } else { &l.pod },
            l.blob
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::Archive as _;

    #[test]
    fn times_are_rfc3339_or_local_and_ambiguous_ones_need_an_offset() {
        let madrid: Tz = "Europe/Madrid".parse().unwrap();
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            parse_time("2026-11-26T14:32:00Z", madrid),
            Ok(t("2026-11-26T14:32:00Z"))
        );
        assert_eq!(
            parse_time("2026-11-26T14:32:00", madrid),
            Ok(t("2026-11-26T13:32:00Z"))
        );
        assert_eq!(
            parse_time("2026-11-26 14:32", madrid),
            Ok(t("2026-11-26T13:32:00Z"))
        );
        let twice = parse_time("2026-10-25T02:30:00", madrid).unwrap_err();
        assert!(twice.contains("happens twice"), "{twice}");
        assert!(parse_time("2026-03-29T02:30:00", madrid)
            .unwrap_err()
            .contains("does not exist"));
        assert!(parse_time("yesterday", madrid)
            .unwrap_err()
            .contains("expected RFC 3339"));
    }

    #[tokio::test]
    async fn node_rows_in_the_repeated_hour_are_listed_at_the_instant_they_were_recorded() {
        let settings = crate::testkit::settings_with(
            std::path::Path::new("/x"),
            &[("FILE_DURATION", "600"), ("TIME_ZONE", "Europe/Madrid")],
        );
        // The Node job's rows, keyed by upload time (two minutes after each file ended):
        // 02:50 CEST is 00:50 UTC, the next file's 02:00 CET is 01:00 UTC.
        let archive = store::memory::InMemoryArchive::new("hope");
        for (file, upload) in [
            ("a_20261025T025000.mp3", "2026-10-25T01:02:00Z"),
            ("a_20261025T020000.mp3", "2026-10-25T01:12:00Z"),
        ] {
            let key = rows::row_key(upload.parse().unwrap(), "x");
            let row = SegmentRow {
                row_key: key[..19].to_string(),
                file_name: file.into(),
                ..SegmentRow::default()
            };
            archive.insert_row(&row).await.unwrap();
        }
        let listed = list(&archive, &settings.read_side(), None).await.unwrap();
        let starts: Vec<(&str, String)> = listed
            .iter()
            .map(|l| (l.file.as_str(), l.start.to_rfc3339()))
            .collect();
        assert_eq!(
            starts,
            [
                ("a_20261025T025000.mp3", "2026-10-25T00:50:00+00:00".into()),
                ("a_20261025T020000.mp3", "2026-10-25T01:00:00+00:00".into()),
            ]
        );
    }

    #[test]
    fn a_day_is_local_and_may_last_25_hours() {
        let madrid: Tz = "Europe/Madrid".parse().unwrap();
        let (from, to) = day_span("2026-10-25", madrid).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-10-24T22:00:00+00:00");
        assert_eq!((to - from).num_hours(), 25);
        assert!(day_span("25-10-2026", madrid).is_err());
    }
}
