//! The archive's side of a refresh: four read-only requests (the outcome row, the newest
//! rows, the last hour's rows and gone rows) → an [`ArchiveReading`], and whether the account
//! answered and accepted the credentials. It never writes.

use chrono::{DateTime, TimeDelta, Utc};
use tracing::warn;

use super::{Sources, StorageState, NEWEST_ROWS};
use crate::outcome::{self, RunRecord};
use crate::settings::Settings;
use archive_model::held::Holding;
use store::{ErrorKind, SegmentRow, StoreError};

/// What the archive said in one refresh.
#[derive(Debug, Default)]
pub(super) struct ArchiveReading {
    pub(super) archived_until: Option<f64>,
    pub(super) dead_air_longest: Option<f64>,
    pub(super) run: Option<RunRecord>,
    /// The last hour's rows of the stream and its gone rows, as held spans
    /// ([`archive_model::held::holdings`]).
    pub(super) held: Vec<Holding>,
    /// Bytes per second of the newest measured rows.
    pub(super) byte_rate: Option<f64>,
    pub(super) storage: Option<StorageState>,
    /// Whether the outcome row and the newest rows were read (found or not).
    pub(super) run_read: bool,
    pub(super) newest_read: bool,
    /// Whether both of the last hour's reads (archived and gone rows) answered.
    pub(super) held_read: bool,
    /// Storage requests made (calls of the archive; each is one request unless it pages).
    pub(super) requests: usize,
}

/// A refusal of the credentials: 401/403 from the service, or no storage token from Entra ID.
fn refused(e: &StoreError) -> bool {
    e.kind() == ErrorKind::Denied
}

/// An answer of the service (an HTTP status), as opposed to a transport or token failure.
fn answered(e: &StoreError) -> bool {
    e.status().is_some()
}

/// The table or container does not exist yet: a fresh install before its first run.
fn not_yet(e: &StoreError) -> bool {
    e.kind() == ErrorKind::NotFound
}

/// Reads the archive for a refresh at `now`; a failed request leaves its facts unknown and
/// sets what [`StorageState`] says.
pub(super) async fn read_archive(
    sources: &Sources<'_>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> ArchiveReading {
    let mut out = ArchiveReading::default();
    let mut up = true;
    let mut auth_ok = true;
    let mut note = |what: &str, e: &StoreError| {
        if !not_yet(e) {
            warn!("{what}: {e}");
        }
        up &= answered(e);
        auth_ok &= !refused(e);
    };
    out.requests += 1;
    match sources
        .runs
        .rows_in_range(outcome::RUN_KEY, outcome::RUN_KEY)
        .await
    {
        Ok(rows) => {
            out.run_read = true;
            out.run = rows.first().and_then(|row| match outcome::run_record(row) {
                Ok(r) => Some(r),
                Err(e) => {
                    warn!("the outcome row is unreadable: {e}");
                    None
                }
            })
        }
        Err(e) => note("cannot read the outcome row", &e),
    }
    out.requests += 1;
    match sources.archive.first_rows(NEWEST_ROWS).await {
        Ok(rows) => {
            out.newest_read = true;
            out.archived_until = rows
                .iter()
                .filter_map(|r| audio_span(r, settings).map(|(_, end)| end))
                .max()
                .map(|end| end.timestamp_millis() as f64 / 1000.0);
            out.dead_air_longest = rows.iter().filter_map(longest_silence).reduce(f64::max);
            out.byte_rate = rows.iter().find_map(byte_rate);
        }
        Err(e) => note("cannot read the newest archived rows", &e),
    }
    // The last hour's rows, by name time: a segment that started up to one segment before
    // the hour may reach into it.
    let segment =
        TimeDelta::from_std(settings.selection.segment_time).unwrap_or(TimeDelta::hours(1));
    let (from, to) = archive_model::rows::key_range(now - TimeDelta::hours(1) - segment, now);
    out.held_read = true;
    let mut read = [Vec::new(), Vec::new()];
    for ((what, store), rows) in [("archived", sources.archive), ("gone", sources.gone)]
        .into_iter()
        .zip(&mut read)
    {
        out.requests += 1;
        match store.rows_in_range(&from, &to).await {
            Ok(found) => *rows = found,
            Err(e) => {
                out.held_read = false;
                note(&format!("cannot read the last hour's {what} rows"), &e)
            }
        }
    }
    let [archived, gone] = &read;
    out.held = archive_model::held::holdings(archived, gone, &settings.selection);
    out.storage = Some(StorageState { up, auth_ok });
    out
}

/// Where a row's audio starts and ends: its recorded start and duration, or for the Node
/// job's rows (which record neither) its name's time and the segment time.
fn audio_span(row: &SegmentRow, settings: &Settings) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let duration = match (row.duration_us, row.duration_ms) {
        (Some(us), _) => TimeDelta::microseconds(us),
        (None, Some(ms)) => TimeDelta::milliseconds(ms),
        _ => TimeDelta::from_std(settings.selection.segment_time).ok()?,
    };
    let start = match row.audio_start_ms.and_then(DateTime::from_timestamp_millis) {
        Some(start) => start,
        None => {
            selection::parse_name(&row.file_name, &settings.selection, None)
                .ok()?
                .start
        }
    };
    Some((start, start + duration))
}

/// The longest span of dead air a row records; `None` where it was not measured.
fn longest_silence(row: &SegmentRow) -> Option<f64> {
    let spans: Vec<archive_model::day::Silence> =
        serde_json::from_str(row.silences.as_deref()?).ok()?;
    Some(
        spans
            .iter()
            .map(|s| s.end_s - s.start_s)
            .fold(0.0, f64::max),
    )
}

/// A row's recording's bytes per second, where it says both.
fn byte_rate(row: &SegmentRow) -> Option<f64> {
    let size = row.source_end.or(row.size)? as f64;
    let seconds = row.duration_us? as f64 / 1e6;
    (seconds >= 10.0).then(|| size / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_decides_not_the_text() {
        // A proxy's page quoted in a transport failure reads like a refusal; nothing answered.
        let quoted = StoreError::new(
            ErrorKind::Transport,
            "read rows",
            "HTTP 403 Forbidden (from the proxy's page)",
        );
        assert!(!refused(&quoted) && !answered(&quoted) && !not_yet(&quoted));
        // A refused token never reached the service: refused, not answered.
        let token = StoreError::new(ErrorKind::Denied, "read rows", "Entra ID refused");
        assert!(refused(&token) && !answered(&token));
        let missing =
            StoreError::new(ErrorKind::NotFound, "read rows", "TableNotFound").with_status(404);
        assert!(not_yet(&missing) && answered(&missing) && !refused(&missing));
    }
}
