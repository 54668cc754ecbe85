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

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use crate::outcome::RunRecord;
use crate::settings::{Settings, SettingsError};
use store::ArchiveRead;

mod archive;
mod encode;
mod folder;
pub mod held;
pub mod http;
mod reading;

use archive::{read_archive, ArchiveReading};
use archive_model::held::Holding;
pub use encode::encode_reading;
use folder::read_folder;
use held::Newest;
pub use reading::{FolderReading, Reading, StorageState};

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

/// The partitions the exporter reads (never writes): the stream's rows, the gone rows and the
/// outcome row.
pub struct Sources<'a> {
    pub archive: &'a dyn ArchiveRead,
    pub gone: &'a dyn ArchiveRead,
    pub runs: &'a dyn ArchiveRead,
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
    held: Vec<Holding>,
    byte_rate: Option<f64>,
    storage: Option<StorageState>,
}

impl Memory {
    /// The archive's facts as last read.
    fn archive(&self) -> ArchiveReading {
        ArchiveReading {
            archived_until: self.archived_until,
            dead_air_longest: self.dead_air_longest,
            run: self.run.clone(),
            held: self.held.clone(),
            byte_rate: self.byte_rate,
            storage: self.storage,
            ..ArchiveReading::default()
        }
    }
}

/// One refresh at `now`: read the folder and the archive, remember what they showed.
pub async fn refresh(
    sources: &Sources<'_>,
    settings: &Settings,
    exporter: &ExporterSettings,
    memory: &mut Memory,
    now: DateTime<Utc>,
) -> Reading {
    refresh_with(sources, settings, exporter, memory, now, |_| {}).await
}

/// [`refresh`], handing `early` a reading as soon as the folder is read: the folder's
/// metrics with the archive's as last read. While the storage account does not answer, its
/// requests wait out their retries (about 4 s each, four requests); the folder's metrics
/// (files waiting, replicas recording, the share's space) are what is worth seeing then, and
/// they do not wait for it.
pub async fn refresh_with(
    sources: &Sources<'_>,
    settings: &Settings,
    exporter: &ExporterSettings,
    memory: &mut Memory,
    now: DateTime<Utc>,
    early: impl FnOnce(&Reading),
) -> Reading {
    let last = memory.archive();
    let scan = read_folder(settings, memory, last.byte_rate, now);
    let folder = |archive: &ArchiveReading| scan.as_ref().map(|s| s.reading(&archive.held, now));
    early(&reading(settings, exporter, &last, folder(&last)));
    let mut archive = read_archive(sources, settings, now).await;
    if archive.run_read {
        memory.run = archive.run.clone();
    } else {
        archive.run = memory.run.clone();
    }
    if archive.newest_read {
        memory.archived_until = archive.archived_until;
        memory.dead_air_longest = archive.dead_air_longest;
        memory.byte_rate = archive.byte_rate;
    } else {
        archive.archived_until = memory.archived_until;
        archive.dead_air_longest = memory.dead_air_longest;
    }
    if archive.held_read {
        memory.held = archive.held.clone();
    } else {
        archive.held = memory.held.clone();
    }
    memory.storage = archive.storage;
    debug!(
        requests = archive.requests,
        folder = scan.is_some(),
        "refreshed"
    );
    reading(settings, exporter, &archive, folder(&archive))
}

fn reading(
    settings: &Settings,
    exporter: &ExporterSettings,
    archive: &ArchiveReading,
    folder: Option<FolderReading>,
) -> Reading {
    Reading {
        storage: archive.storage,
        archived_until: archive.archived_until,
        dead_air_longest: archive.dead_air_longest,
        run: archive.run.clone(),
        folder,
        ..Reading::configured(settings, exporter)
    }
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
            let publish = |reading: &Reading| {
                let text = encode_reading(reading);
                if let Ok(mut p) = page.write() {
                    *p = Arc::from(text);
                }
            };
            let reading = refresh_with(
                &sources,
                settings,
                exporter,
                &mut memory,
                crate::clock::node(),
                publish,
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
            publish(&reading);
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
