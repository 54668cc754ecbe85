//! `segment-selector metrics`: the long-running exporter of docs/operations.md.
//!
//! A CronJob pod lives too briefly to be scraped, and a job that never starts reports
//! nothing, so a small exporter reads what the runs leave behind and serves it to Prometheus:
//!
//! - **the archive**, read only, never written or created (no `ensure_ready`, no lock, no
//!   row): per refresh the outcome row (`<stream>~run`, one key), the newest rows of
//!   `<stream>` (the partition sorts newest first: one `first_rows`), and the last hour's
//!   rows of `<stream>` and `<stream>~gone` (one key range each, bounded by the hour). Four
//!   queries, whatever the archive's size; nothing scans a partition.
//! - **the folder**, mounted read only, through [`Share`]: names and attributes (`statx`),
//!   never a recording's bytes; the share's space by `fstatvfs`. Folder metrics are absent
//!   when FOLDER is missing or unreadable.
//!
//! It refreshes every `METRICS_REFRESH_SECONDS` (not per scrape): a refresh builds a
//! [`Reading`] (plain data), [`encode_reading`] turns it into the exposition with the `prometheus-client`
//! crate, and every scrape until the next refresh gets that text ([`http`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use tracing::{debug, info, warn};

use crate::outcome::{self, RunOutcome, RunRecord};
use crate::settings::{Settings, SettingsError};
use crate::share::{Kind, Share};
use crate::store::{Archive, SegmentRow, StoreError};

pub mod held;
pub mod http;

use held::{Held, Newest};

/// The port exporters of application metrics usually take.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9464";

/// How many of the newest rows a refresh reads: where the archive ends, and the longest dead
/// air among recently archived segments (two replicas' files of the last half hour or so).
pub const NEWEST_ROWS: usize = 6;

/// The exporter's own settings, beside the job's ([`Settings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterSettings {
    /// `JOB_SUSPENDED` (true/false, default false): the chart's CronJob is suspended.
    pub job_suspended: bool,
    /// `REPLICAS_EXPECTED` (default 2): the recorders the configuration asks for.
    pub replicas_expected: u64,
    /// `METRICS_REFRESH_SECONDS` (default 30, 1 to 3600).
    pub refresh: Duration,
}

impl ExporterSettings {
    /// Read the exporter's variables from `(name, value)` pairs; an error naming the variable.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let vars: HashMap<String, String> = vars.into_iter().collect();
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let job_suspended = match get("JOB_SUSPENDED").map(str::to_ascii_lowercase).as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(SettingsError(format!(
                    "JOB_SUSPENDED {other:?}: expected true or false (the chart's `suspend`)"
                )))
            }
        };
        let number = |name: &str,
                      default: u64,
                      range: std::ops::RangeInclusive<u64>,
                      what: &str| {
            match get(name) {
                None => Ok(default),
                Some(v) => v.parse::<u64>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
                    SettingsError(format!(
                        "{name} {v:?}: expected {what}, a whole number from {} to {} (default {default})",
                        range.start(),
                        range.end()
                    ))
                }),
            }
        };
        Ok(ExporterSettings {
            job_suspended,
            replicas_expected: number("REPLICAS_EXPECTED", 2, 1..=100, "the recorders' replicas")?,
            refresh: Duration::from_secs(number(
                "METRICS_REFRESH_SECONDS",
                30,
                1..=3600,
                "seconds between refreshes",
            )?),
        })
    }
}

/// What the last refresh of the storage account found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageState {
    /// The account answered every request (an HTTP status, a refusal included).
    pub up: bool,
    /// It accepted the exporter's credentials (no 401/403, a storage token obtained).
    pub auth_ok: bool,
}

/// What the folder showed.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderReading {
    /// Where the newest recording ends: its modification time (Unix seconds); `None` without
    /// recordings.
    pub recorded_until: Option<f64>,
    pub replicas_recording: u64,
    pub files: u64,
    pub bytes: u64,
    /// The oldest recording's modification time; 0 when none waits.
    pub oldest: f64,
    /// `fstatvfs` of the share; `None` where it failed.
    pub free_bytes: Option<u64>,
    pub size_bytes: Option<u64>,
    pub redundant_seconds_last_hour: f64,
}

/// Everything one refresh learnt: what [`encode`] exposes. Plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The `stream` label: the stream's name lowercased.
    pub stream: String,
    pub segment_seconds: f64,
    pub replicas_expected: u64,
    pub job_suspended: bool,
    /// `None` before the first refresh.
    pub storage: Option<StorageState>,
    /// Where the newest archived audio ends (Unix seconds).
    pub archived_until: Option<f64>,
    /// The longest span of dead air among the newest rows that measured it.
    pub dead_air_longest: Option<f64>,
    pub run: Option<RunRecord>,
    /// `None` when FOLDER is missing or unreadable.
    pub folder: Option<FolderReading>,
}

impl Reading {
    /// Before the first refresh: the configuration only.
    pub fn configured(settings: &Settings, exporter: &ExporterSettings) -> Reading {
        Reading {
            stream: settings.container.clone(),
            segment_seconds: settings.selection.segment_time.as_secs_f64(),
            replicas_expected: exporter.replicas_expected,
            job_suspended: exporter.job_suspended,
            storage: None,
            archived_until: None,
            dead_air_longest: None,
            run: None,
            folder: None,
        }
    }
}

/// The exposition of `reading` (OpenMetrics text, `# EOF` at the end), every metric with the
/// label `stream`, encoded by `prometheus-client`. Metrics without a value are absent.
pub fn encode_reading(reading: &Reading) -> String {
    let mut r = Registry::with_prefix_and_labels(
        "segment_selector",
        [("stream".into(), reading.stream.clone().into())].into_iter(),
    );
    let gauge = |r: &mut Registry, name: &str, help: &str, v: f64| {
        r.register(name, help, ConstGauge::new(v));
    };
    let counter = |r: &mut Registry, name: &str, help: &str, v: u64| {
        r.register(name, help, ConstCounter::new(v));
    };
    if let Some(v) = reading.archived_until {
        gauge(
            &mut r,
            "archived_until_timestamp_seconds",
            "Where the newest archived audio ends (Unix time)",
            v,
        );
    }
    if let Some(f) = &reading.folder {
        if let Some(v) = f.recorded_until {
            gauge(
                &mut r,
                "recorded_until_timestamp_seconds",
                "Where the newest recorded audio in the folder ends (Unix time)",
                v,
            );
        }
        gauge(
            &mut r,
            "replicas_recording",
            "Pods whose files grew within the recording window",
            f.replicas_recording as f64,
        );
        gauge(
            &mut r,
            "redundant_seconds_last_hour",
            "Seconds of the last hour held by at least 2 replicas",
            f.redundant_seconds_last_hour,
        );
        gauge(
            &mut r,
            "folder_files",
            "Recordings in the stream's folder",
            f.files as f64,
        );
        gauge(
            &mut r,
            "folder_bytes",
            "Their size in bytes",
            f.bytes as f64,
        );
        gauge(
            &mut r,
            "folder_oldest_file_timestamp_seconds",
            "Modification time of the oldest recording waiting (0: none)",
            f.oldest,
        );
        if let Some(v) = f.free_bytes {
            gauge(
                &mut r,
                "folder_free_bytes",
                "Free space of the share in bytes",
                v as f64,
            );
        }
        if let Some(v) = f.size_bytes {
            gauge(
                &mut r,
                "folder_size_bytes",
                "Size of the share in bytes",
                v as f64,
            );
        }
    }
    gauge(
        &mut r,
        "replicas_expected",
        "Recorders the configuration asks for",
        reading.replicas_expected as f64,
    );
    if let Some(run) = &reading.run {
        gauge(
            &mut r,
            "last_run_timestamp_seconds",
            "When the last run ended (Unix time)",
            run.ended_ms as f64 / 1000.0,
        );
        let outcome = Family::<Vec<(String, String)>, Gauge>::default();
        let runs =
            Family::<Vec<(String, String)>, prometheus_client::metrics::counter::Counter>::default(
            );
        for o in RunOutcome::ALL {
            let label = vec![("outcome".to_owned(), o.as_str().to_owned())];
            outcome
                .get_or_create(&label)
                .set(i64::from(o == run.outcome));
            runs.get_or_create(&label)
                .inc_by(run.totals.runs.get(o.as_str()).copied().unwrap_or(0));
        }
        r.register(
            "last_run_outcome",
            "1 for the last run's outcome, 0 for the others",
            outcome,
        );
        r.register("runs", "Runs by outcome", runs);
        if let Some(ms) = run.last_success_ms {
            gauge(
                &mut r,
                "last_success_timestamp_seconds",
                "When the last run with outcome ok ended (Unix time)",
                ms as f64 / 1000.0,
            );
        }
        let t = &run.totals;
        counter(&mut r, "run_errors", "Errors counted in runs", t.errors);
        counter(
            &mut r,
            "files_archived",
            "Recordings archived (blob and row)",
            t.archived,
        );
        counter(
            &mut r,
            "files_deleted",
            "Local recordings deleted (archived or superseded)",
            t.deleted,
        );
        counter(&mut r, "bytes_archived", "Bytes uploaded", t.bytes);
        counter(
            &mut r,
            "gaps",
            "New gaps (spans no replica recorded) found behind the archived-until point",
            t.gaps,
        );
        r.register(
            "dead_air_seconds",
            "Dead air found in archived segments, seconds",
            ConstCounter::new(t.dead_air_seconds),
        );
        counter(
            &mut r,
            "replica_disagreements",
            "Spans where the replicas recorded different audio",
            t.disagreements,
        );
        counter(
            &mut r,
            "late_growth",
            "Archived files found longer than their archived bytes, archived again",
            t.late_growth,
        );
        if let Some(held) = run.held {
            gauge(
                &mut r,
                "files_held",
                "Recordings held for an operator (never deleted by the job)",
                held as f64,
            );
        }
        if let Some(skew) = run.clock_skew_seconds {
            gauge(
                &mut r,
                "clock_skew_seconds",
                "The node's clock minus the share's, seconds",
                skew,
            );
        }
    }
    if let Some(v) = reading.dead_air_longest {
        gauge(
            &mut r,
            "dead_air_longest_seconds",
            "The longest dead-air span among recently archived segments, seconds",
            v,
        );
    }
    if let Some(s) = reading.storage {
        gauge(
            &mut r,
            "storage_up",
            "The storage account answered",
            f64::from(u8::from(s.up)),
        );
        gauge(
            &mut r,
            "storage_auth_ok",
            "It accepted the exporter's authentication",
            f64::from(u8::from(s.auth_ok)),
        );
    }
    gauge(
        &mut r,
        "segment_seconds",
        "The configured FILE_DURATION, seconds",
        reading.segment_seconds,
    );
    gauge(
        &mut r,
        "job_suspended",
        "1 while the chart's CronJob is suspended (JOB_SUSPENDED)",
        f64::from(u8::from(reading.job_suspended)),
    );
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &r);
    text
}

/// The partitions the exporter reads (never writes): the stream's rows, the gone rows and the
/// outcome row.
pub struct Sources<'a> {
    pub archive: &'a dyn Archive,
    pub gone: &'a dyn Archive,
    pub runs: &'a dyn Archive,
}

/// What a refresh keeps for the next one: each pod's newest file and when it was seen, and
/// the last archive facts read, which stand while a read fails (so that a storage outage
/// does not make `archived_until` and the run's metrics vanish and their alerts go quiet;
/// `storage_up` says the numbers are old).
#[derive(Debug, Default)]
pub struct Memory {
    newest: Option<(DateTime<Utc>, HashMap<String, Newest>)>,
    run: Option<RunRecord>,
    archived_until: Option<f64>,
    dead_air_longest: Option<f64>,
}

/// What the archive said in one refresh.
#[derive(Debug, Default)]
struct ArchiveReading {
    archived_until: Option<f64>,
    dead_air_longest: Option<f64>,
    run: Option<RunRecord>,
    /// The last hour's rows of the stream and its gone rows, as held spans.
    held: Vec<Held>,
    /// Bytes per second of the newest measured rows.
    byte_rate: Option<f64>,
    storage: Option<StorageState>,
    /// Whether the outcome row and the newest rows were read (found or not).
    run_read: bool,
    newest_read: bool,
    /// Storage requests made (calls of the archive; each is one request unless it pages).
    requests: usize,
}

/// One refresh at `now`: read the archive and the folder, remember what the folder showed.
pub async fn refresh(
    sources: &Sources<'_>,
    settings: &Settings,
    exporter: &ExporterSettings,
    memory: &mut Memory,
    now: DateTime<Utc>,
) -> Reading {
    let mut archive = read_archive(sources, settings, now).await;
    if archive.run_read {
        memory.run = archive.run.clone();
    } else {
        archive.run = memory.run.clone();
    }
    if archive.newest_read {
        memory.archived_until = archive.archived_until;
        memory.dead_air_longest = archive.dead_air_longest;
    } else {
        archive.archived_until = memory.archived_until;
        archive.dead_air_longest = memory.dead_air_longest;
    }
    let folder = read_folder(settings, memory, &archive, now);
    debug!(
        requests = archive.requests,
        folder = folder.is_some(),
        "refreshed"
    );
    Reading {
        storage: archive.storage,
        archived_until: archive.archived_until,
        dead_air_longest: archive.dead_air_longest,
        run: archive.run,
        folder,
        ..Reading::configured(settings, exporter)
    }
}

/// A refusal of the credentials: 401/403 from the service, or no storage token from Entra ID.
fn refused(e: &StoreError) -> bool {
    e.cause.starts_with("HTTP 401")
        || e.cause.starts_with("HTTP 403")
        || e.cause.contains("storage token")
}

/// An answer of the service (an HTTP status), as opposed to a transport or token failure.
fn answered(e: &StoreError) -> bool {
    e.cause.starts_with("HTTP ")
}

/// The table or container does not exist yet: a fresh install before its first run.
fn not_yet(e: &StoreError) -> bool {
    e.cause.starts_with("HTTP 404")
}

async fn read_archive(
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
    let (from, to) = crate::rows::key_range(now - TimeDelta::hours(1) - segment, now);
    for (what, store) in [("archived", sources.archive), ("gone", sources.gone)] {
        out.requests += 1;
        match store.rows_in_range(&from, &to).await {
            Ok(rows) => out.held.extend(rows.iter().filter_map(|r| {
                let (start, end) = audio_span(r, settings)?;
                Some(Held {
                    pod: r.pod.clone()?,
                    start,
                    end,
                })
            })),
            Err(e) => note(&format!("cannot read the last hour's {what} rows"), &e),
        }
    }
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
    let spans: Vec<crate::days::Silence> = serde_json::from_str(row.silences.as_deref()?).ok()?;
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

/// A file's start, end and size.
type Span = (DateTime<Utc>, DateTime<Utc>, u64);

/// The folder's metrics, or `None` when FOLDER cannot be opened or listed.
fn read_folder(
    settings: &Settings,
    memory: &mut Memory,
    archive: &ArchiveReading,
    now: DateTime<Utc>,
) -> Option<FolderReading> {
    let share = match Share::open(&settings.folder) {
        Ok(s) => s,
        Err(e) => {
            debug!("folder metrics absent: {e}");
            return None;
        }
    };
    let names = match share.list() {
        Ok(n) => n,
        Err(e) => {
            debug!("folder metrics absent: {e}");
            return None;
        }
    };
    let sel = &settings.selection;
    let mut files = 0u64;
    let mut bytes = 0u64;
    let mut oldest: Option<DateTime<Utc>> = None;
    let mut newest_any: Option<DateTime<Utc>> = None;
    let mut newest: HashMap<String, Newest> = HashMap::new();
    let mut newest_key: HashMap<String, (DateTime<Utc>, String)> = HashMap::new();
    let mut held: Vec<Held> = archive.held.clone();
    let mut rates: Vec<f64> = Vec::new();
    // Each pod's files: start, end, size.
    let mut by_pod: HashMap<String, Vec<Span>> = HashMap::new();
    for name in names.into_iter().flatten() {
        let Ok(name) = name.into_string() else {
            continue;
        };
        if !name.ends_with(".mp3") {
            continue;
        }
        let Ok(a) = share.attributes(&name) else {
            continue;
        };
        if a.kind != Kind::File {
            continue;
        }
        files += 1;
        bytes += a.size;
        newest_any = newest_any.max(Some(a.modified));
        // A name the grammar refuses is held for an operator (files_held), not waiting.
        let Ok(parsed) = selection::parse_name(&name, sel, Some(a.modified)) else {
            continue;
        };
        oldest = Some(oldest.map_or(a.modified, |o| o.min(a.modified)));
        let (start, end) = held::file_span(parsed.start, a.modified, sel.segment_time);
        held.push(Held {
            pod: parsed.pod.clone(),
            start,
            end,
        });
        by_pod
            .entry(parsed.pod.clone())
            .or_default()
            .push((start, end, a.size));
        let candidate = Newest {
            name: name.clone(),
            size: a.size,
            modified: a.modified,
        };
        // Newest by the name's time (any NAME_FORMAT), then by name.
        let key = (parsed.start, name.clone());
        match newest_key.get(&parsed.pod) {
            Some(k) if *k >= key => {}
            _ => {
                newest_key.insert(parsed.pod.clone(), key);
                newest.insert(parsed.pod, candidate);
            }
        }
    }
    // Finished files (all but each pod's newest) give the byte rate when no row does.
    for spans in by_pod.values_mut() {
        spans.sort();
        spans.pop();
        rates.extend(spans.iter().filter_map(|(start, end, size)| {
            let secs = (*end - *start).num_milliseconds() as f64 / 1000.0;
            (secs >= 10.0).then(|| *size as f64 / secs)
        }));
    }
    rates.sort_by(f64::total_cmp);
    let byte_rate = archive.byte_rate.or(rates.get(rates.len() / 2).copied());
    let window = held::recording_window(byte_rate, sel.segment_time, sel.share_cache);
    let earlier = memory.newest.as_ref().map(|(at, n)| (*at, n));
    let recording = held::replicas_recording(&newest, earlier, now, window);
    let space = share.space().ok();
    memory.newest = Some((now, newest));
    let hour_ago = now - TimeDelta::hours(1);
    let secs = |t: DateTime<Utc>| t.timestamp_millis() as f64 / 1000.0;
    Some(FolderReading {
        recorded_until: newest_any.map(secs),
        replicas_recording: recording as u64,
        files,
        bytes,
        oldest: oldest.map_or(0.0, secs),
        free_bytes: space.map(|s| s.free),
        size_bytes: space.map(|s| s.size),
        redundant_seconds_last_hour: held::seconds_held_by_at_least(&held, hour_ago, now, 2),
    })
}

/// Serve metrics on `listen` until SIGTERM or Ctrl-C, refreshing every `exporter.refresh`.
pub async fn serve(
    sources: Sources<'_>,
    settings: &Settings,
    exporter: &ExporterSettings,
    listen: std::net::SocketAddr,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("--listen {listen}: cannot listen: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let page = Arc::new(std::sync::RwLock::new(Arc::<str>::from(encode_reading(
        &Reading::configured(settings, exporter),
    ))));
    info!(listen = %bound, refresh_seconds = exporter.refresh.as_secs(), stream = %settings.container,
        "serving metrics on /metrics");
    let server = http::serve(listener, Arc::clone(&page));
    let refreshing = async {
        let mut memory = Memory::default();
        let mut ticks = tokio::time::interval(exporter.refresh);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_storage = None;
        let mut last_folder = None;
        loop {
            ticks.tick().await;
            let reading = refresh(
                &sources,
                settings,
                exporter,
                &mut memory,
                crate::clock::node(),
            )
            .await;
            // State changes are logged once, not every refresh.
            if reading.storage != last_storage {
                info!(up = ?reading.storage.map(|s| s.up), auth_ok = ?reading.storage.map(|s| s.auth_ok), "storage");
                last_storage = reading.storage;
            }
            let folder_now = reading.folder.is_some();
            if last_folder != Some(folder_now) {
                if folder_now {
                    info!(folder = %settings.folder.display(), "folder readable: folder metrics present");
                } else {
                    warn!(folder = %settings.folder.display(), "FOLDER cannot be opened or listed: folder metrics absent");
                }
                last_folder = Some(folder_now);
            }
            let text = encode_reading(&reading);
            if let Ok(mut p) = page.write() {
                *p = Arc::from(text);
            }
        }
    };
    let stop = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("cannot wait for SIGTERM: {e}"))?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        info!("stopping");
        Ok::<(), String>(())
    };
    tokio::select! {
        r = server => r,
        () = refreshing => Ok(()),
        r = stop => r,
    }
}

#[cfg(test)]
mod tests;
