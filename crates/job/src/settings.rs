//! The job's environment, read once into one typed, validated struct.
//!
//! The drop-in contract is the original CronJob's: `FOLDER`, `STREAM_NAME`, `FILE_DURATION`,
//! `AZURE_STORAGE_CONNECTION_STRING` (and `FFMPEG_PATH`, accepted and unused). Everything
//! else is optional, with defaults that reproduce the original archive layout.
//!
//! Instead of the connection string, `AZURE_STORAGE_ACCOUNT` (optionally with
//! `AZURE_STORAGE_BLOB_ENDPOINT` and `AZURE_STORAGE_TABLE_ENDPOINT`) selects Microsoft Entra ID:
//! Workload Identity when its variables are injected, a managed identity otherwise (see
//! [`store::identity`]).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

mod storage;

use storage::{set, storage_target};
use store::connection::StorageTarget;

/// The raw environment, as envy reads it.
#[derive(Deserialize)]
pub(crate) struct Env {
    folder: Option<String>,
    stream_name: Option<String>,
    file_duration: Option<String>,
    azure_storage_connection_string: Option<String>,
    name_format: Option<String>,
    time_zone: Option<String>,
    table_name: Option<String>,
    blob_template: Option<String>,
    finish_grace_seconds: Option<String>,
    share_cache_seconds: Option<String>,
    log_format: Option<String>,
    dry_run: Option<String>,
    run_deadline_seconds: Option<String>,
    upload_concurrency: Option<String>,
    day_manifests: Option<String>,
    azure_request_timeout_seconds: Option<String>,
    clock_skew_warning_seconds: Option<String>,
    silence_seconds: Option<String>,
    silence_dbfs: Option<String>,
    archive_mode: Option<String>,
    azure_storage_account: Option<String>,
    azure_storage_blob_endpoint: Option<String>,
    azure_storage_table_endpoint: Option<String>,
    azure_tenant_id: Option<String>,
    azure_client_id: Option<String>,
    azure_federated_token_file: Option<String>,
    azure_authority_host: Option<String>,
    ssl_cert_file: Option<String>,
}

/// Everything a run needs, validated.
pub struct Settings {
    pub folder: PathBuf,
    pub stream: String,
    /// Blob container and table partition: the stream name lowercased, as the original job.
    pub container: String,
    pub table: String,
    pub storage: StorageTarget,
    pub selection: selection::Settings,
    pub json_logs: bool,
    pub dry_run: bool,
    /// Stop starting new work after this long, so the CronJob's activeDeadlineSeconds is
    /// not what ends a run.
    pub run_deadline: Duration,
    /// Files uploaded at once (default 2). They share 2 blocks of 2 MiB in flight, so memory
    /// does not grow with it.
    pub upload_concurrency: usize,
    /// Keep `_days/YYYY-MM-DD.json` and `.m3u8` up to date in the container.
    pub day_manifests: bool,
    /// Limit for one storage request (each is retried a few times with backoff).
    pub request_timeout: Duration,
    /// Warn when the node's clock and the share's disagree by more than this.
    pub clock_skew_warning: Duration,
    /// What counts as dead air (`SILENCE_SECONDS`, default 30; `SILENCE_DBFS`, default −50).
    pub silence: deadair::Threshold,
    /// What a blob holds (`ARCHIVE_MODE`).
    pub archive_mode: ArchiveMode,
}

/// What the job puts in a blob (`ARCHIVE_MODE`): the archive model's.
pub use archive_model::ArchiveMode;

/// What the readers of an archive use of the settings (`ls`, `export`, `playlist`, `report`,
/// and the day manifests and pages a run writes): the stream, where its rows and blobs are
/// named, and how its file names read. Nothing of the folder, the run or the connection.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    /// `STREAM_NAME`: the table partition and the day manifests' stream.
    pub stream: String,
    /// The blob container.
    pub container: String,
    /// The table.
    pub table: String,
    /// How file names read: segment length, time zone, name grammar, blob template.
    pub selection: selection::Settings,
}

impl Settings {
    /// The part of the settings a reader of the archive uses.
    pub fn read_side(&self) -> ReadSettings {
        ReadSettings {
            stream: self.stream.clone(),
            container: self.container.clone(),
            table: self.table.clone(),
            selection: self.selection.clone(),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("folder", &self.folder)
            .field("stream", &self.stream)
            .field("table", &self.table)
            .field("storage_account", &self.storage.account)
            .field("segment_time", &self.selection.segment_time)
            .finish_non_exhaustive()
    }
}

/// A setting that is missing or wrong: names the variable and what is expected, never its
/// value when that could be a secret.
#[derive(Debug)]
pub struct SettingsError(pub String);

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

impl Settings {
    /// Read the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_vars(std::env::vars())
    }

    /// Read settings from `(name, value)` pairs (the environment, or a test's literal).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let env: Env = envy::from_iter(vars)
            .map_err(|e| SettingsError(format!("cannot read the environment: {e}")))?;
        let err = |m: String| SettingsError(m);
        // Read before the fields below move out; its errors still come in this order.
        let storage = storage_target(&env);
        let ca_file = set(env.ssl_cert_file.clone()).map(PathBuf::from);
        let folder = required(
            env.folder,
            "FOLDER",
            "the stream's recording folder, e.g. /ffmpeg/chunks/hope",
        )?;
        let stream = required(env.stream_name, "STREAM_NAME", "the stream name, e.g. hope")?;
        let container = stream.to_lowercase();
        if !valid_container(&container) {
            return Err(err(format!(
                "STREAM_NAME {stream:?} cannot name a blob container: expected 3-63 letters, digits \
                 and single hyphens, starting and ending with a letter or digit"
            )));
        }
        let duration = required(
            env.file_duration,
            "FILE_DURATION",
            "the recorders' -segment_time in seconds, e.g. 600",
        )?;
        let segment: u64 = duration.trim().parse().ok().filter(|&s| s > 0).ok_or_else(|| {
            err(format!("FILE_DURATION {duration:?} is not a positive whole number of seconds (e.g. 600)"))
        })?;
        let mut storage = storage?;
        storage.ca_file = ca_file;
        let mut sel = selection::Settings::new(segment, &stream)
            .map_err(|e| err(format!("FILE_DURATION: {e}")))?;
        if let Some(f) = env.name_format {
            sel = sel
                .with_name_format(&f)
                .map_err(|e| err(format!("NAME_FORMAT: {e}")))?;
        }
        if let Some(t) = env.blob_template {
            sel = sel
                .with_blob_template(&t)
                .map_err(|e| err(format!("BLOB_TEMPLATE: {e}")))?;
        }
        if let Some(tz) = env.time_zone {
            sel.time_zone = tz.parse().map_err(|_| {
                err(format!(
                    "TIME_ZONE {tz:?} is not an IANA time zone name (e.g. UTC, Europe/Madrid)"
                ))
            })?;
        }
        if let Some(c) = env.share_cache_seconds {
            let secs = c.trim().parse::<u64>().ok().filter(|&s| s <= 3600).ok_or_else(|| {
                err(format!(
                    "SHARE_CACHE_SECONDS {c:?} is not a whole number of seconds from 0 to 3600 \
                     (the share's attribute cache: 30 for Azure Files' actimeo=30, 0 for a local disk)"
                ))
            })?;
            sel.share_cache = Duration::from_secs(secs);
        }
        if let Some(g) = env.finish_grace_seconds {
            let secs = seconds(&g, "FINISH_GRACE_SECONDS")?;
            let least = sel.share_cache.as_secs() + 5;
            if secs < least {
                return Err(err(format!(
                    "FINISH_GRACE_SECONDS {secs} is too short: the share's view may be \
                     SHARE_CACHE_SECONDS ({}) old; expected at least {least}",
                    sel.share_cache.as_secs()
                )));
            }
            sel.finish_grace = Duration::from_secs(secs);
        }
        if sel.finish_grace < sel.share_cache + Duration::from_secs(5) {
            return Err(err(format!(
                "SHARE_CACHE_SECONDS {} needs FINISH_GRACE_SECONDS of at least {} (it is {})",
                sel.share_cache.as_secs(),
                sel.share_cache.as_secs() + 5,
                sel.finish_grace.as_secs()
            )));
        }
        let table = env.table_name.unwrap_or_else(|| "audios".into());
        if !(3..=63).contains(&table.len())
            || !table.chars().all(|c| c.is_ascii_alphanumeric())
            || !table.starts_with(|c: char| c.is_ascii_alphabetic())
        {
            return Err(err(format!(
                "TABLE_NAME {table:?} is not a table name: expected 3-63 letters and digits, starting with a letter"
            )));
        }
        let json_logs = match env.log_format.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => return Err(err(format!("LOG_FORMAT {other:?}: expected text or json"))),
        };
        let day_manifests = !matches!(
            env.day_manifests
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("0") | Some("false")
        );
        let dry_run = match env
            .dry_run
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => return Err(err(format!("DRY_RUN {other:?}: expected true or false"))),
        };
        let run_deadline = match env.run_deadline_seconds {
            Some(s) => Duration::from_secs(seconds(&s, "RUN_DEADLINE_SECONDS")?),
            None => Duration::from_secs(200),
        };
        let upload_concurrency = match env.upload_concurrency {
            Some(n) => n
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=16).contains(n))
                .ok_or_else(|| {
                    err(format!(
                        "UPLOAD_CONCURRENCY {n:?}: expected a whole number from 1 to 16"
                    ))
                })?,
            // A second file keeps the storage busy while the first one's commit and row are
            // written; files share one budget of blocks in flight, so it costs no memory.
            None => 2,
        };
        let silence = silence_threshold(env.silence_seconds, env.silence_dbfs)?;
        let archive_mode = match env.archive_mode.as_deref().map(str::trim) {
            None | Some("") | Some("frame-exact") => ArchiveMode::FrameExact,
            Some("original") => ArchiveMode::Original,
            Some(other) => {
                return Err(err(format!(
                    "ARCHIVE_MODE {other:?}: expected frame-exact or original"
                )))
            }
        };
        Ok(Settings {
            folder: PathBuf::from(folder),
            stream,
            container,
            table,
            storage,
            selection: sel,
            json_logs,
            dry_run,
            run_deadline,
            upload_concurrency,
            day_manifests,
            request_timeout: match env.azure_request_timeout_seconds {
                Some(s) => Duration::from_secs(seconds(&s, "AZURE_REQUEST_TIMEOUT_SECONDS")?),
                None => Duration::from_secs(30),
            },
            clock_skew_warning: match env.clock_skew_warning_seconds {
                Some(s) => Duration::from_secs(seconds(&s, "CLOCK_SKEW_WARNING_SECONDS")?),
                None => Duration::from_secs(60),
            },
            silence,
            archive_mode,
        })
    }
}

/// `SILENCE_SECONDS` (above 0) and `SILENCE_DBFS` (below 0), each defaulted on its own.
fn silence_threshold(
    seconds: Option<String>,
    dbfs: Option<String>,
) -> Result<deadair::Threshold, SettingsError> {
    let mut t = deadair::Threshold::default();
    let number = |v: &str| v.trim().parse::<f64>().ok().filter(|x| x.is_finite());
    if let Some(v) = seconds {
        t.min_seconds = number(&v).filter(|&s| s > 0.0).ok_or_else(|| {
            SettingsError(format!(
                "SILENCE_SECONDS {v:?}: expected a number of seconds above 0 (default 30): \
                 silence longer than this is reported as dead air"
            ))
        })?;
    }
    if let Some(v) = dbfs {
        t.dbfs = number(&v).filter(|&d| d < 0.0).ok_or_else(|| {
            SettingsError(format!(
                "SILENCE_DBFS {v:?}: expected a level in dB below full scale, a number below 0 \
                 (default -50)"
            ))
        })?;
    }
    Ok(t)
}

fn required(value: Option<String>, name: &str, expected: &str) -> Result<String, SettingsError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(SettingsError(format!(
            "{name} is not set: expected {expected}"
        ))),
    }
}

fn seconds(value: &str, name: &str) -> Result<u64, SettingsError> {
    value
        .trim()
        .parse()
        .ok()
        .filter(|&s: &u64| s > 0)
        .ok_or_else(|| {
            SettingsError(format!(
                "{name} {value:?} is not a positive whole number of seconds"
            ))
        })
}

fn valid_container(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

impl Settings {
    /// Settings for commands that only read the archive (`ls`): FOLDER and FILE_DURATION
    /// may be missing (a placeholder folder and the article's 600 s stand in for them).
    pub fn archive_only_from_env() -> Result<Self, SettingsError> {
        Self::archive_only_from_vars(std::env::vars())
    }

    /// [`Settings::archive_only_from_env`] from `(name, value)` pairs.
    pub fn archive_only_from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let mut vars: Vec<(String, String)> = vars.into_iter().collect();
        for (name, stand_in) in [("FOLDER", "."), ("FILE_DURATION", "600")] {
            if !vars.iter().any(|(k, v)| k == name && !v.trim().is_empty()) {
                vars.push((name.to_owned(), stand_in.to_owned()));
            }
        }
        Self::from_vars(vars)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(super) const KEY: &str =
        "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWstYW55d2hlcmUtMDEyMzQ1Njc4OQ==";

    pub(super) fn vars(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let conn = format!("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};EndpointSuffix=core.windows.net");
        let mut v = vec![
            ("FOLDER".to_string(), "/ffmpeg/chunks/Hope".to_string()),
            ("STREAM_NAME".into(), "Hope".into()),
            ("FILE_DURATION".into(), "600".into()),
            ("AZURE_STORAGE_CONNECTION_STRING".into(), conn),
            ("FFMPEG_PATH".into(), "/ffmpeg/chunks".into()),
        ];
        for (k, val) in extra {
            v.retain(|(name, _)| name != k);
            if !val.is_empty() {
                v.push((k.to_string(), val.to_string()));
            }
        }
        v
    }

    #[test]
    fn the_article_environment_gives_the_original_layout() {
        let s = Settings::from_vars(vars(&[])).unwrap();
        assert_eq!(s.container, "hope");
        assert_eq!(s.table, "audios");
        assert_eq!(s.selection.segment_time, Duration::from_secs(600));
        assert_eq!(s.selection.blob_template(), "%d-%m-%Y/{file}");
        assert_eq!(s.silence, deadair::Threshold::default());
        assert!(!format!("{s:?}").contains(KEY));
    }

    #[test]
    fn silence_settings_are_read_each_on_its_own() {
        let s = Settings::from_vars(vars(&[("SILENCE_SECONDS", "12.5")])).unwrap();
        assert_eq!((s.silence.min_seconds, s.silence.dbfs), (12.5, -50.0));
        let s = Settings::from_vars(vars(&[("SILENCE_DBFS", " -60 ")])).unwrap();
        assert_eq!((s.silence.min_seconds, s.silence.dbfs), (30.0, -60.0));
    }

    #[test]
    fn archive_mode_is_frame_exact_unless_original_is_asked_for() {
        let mode = |v: &[(&str, &str)]| Settings::from_vars(vars(v)).unwrap().archive_mode;
        assert_eq!(mode(&[]), ArchiveMode::FrameExact);
        assert_eq!(mode(&[("ARCHIVE_MODE", "original")]), ArchiveMode::Original);
        assert_eq!(
            mode(&[("ARCHIVE_MODE", "frame-exact")]),
            ArchiveMode::FrameExact
        );
    }

    #[test]
    fn bad_settings_name_the_variable_and_hide_the_key() {
        for (k, v, expect) in [
            ("FILE_DURATION", "0", "FILE_DURATION"),
            ("FILE_DURATION", "-5", "FILE_DURATION"),
            ("FILE_DURATION", "ten", "FILE_DURATION"),
            ("FILE_DURATION", "", "FILE_DURATION is not set"),
            ("FOLDER", "", "FOLDER is not set"),
            ("STREAM_NAME", "a_b", "STREAM_NAME"),
            ("STREAM_NAME", "x", "STREAM_NAME"),
            (
                "AZURE_STORAGE_CONNECTION_STRING",
                "AccountName=acct",
                "AZURE_STORAGE_CONNECTION_STRING",
            ),
            (
                "AZURE_STORAGE_CONNECTION_STRING",
                &format!("AccountKey={KEY}"),
                "AZURE_STORAGE_CONNECTION_STRING",
            ),
            ("TIME_ZONE", "Mars/Olympus", "TIME_ZONE"),
            ("LOG_FORMAT", "xml", "LOG_FORMAT"),
            ("FINISH_GRACE_SECONDS", "5", "FINISH_GRACE_SECONDS"),
            ("FINISH_GRACE_SECONDS", "34", "FINISH_GRACE_SECONDS"),
            ("SHARE_CACHE_SECONDS", "-1", "SHARE_CACHE_SECONDS"),
            ("SHARE_CACHE_SECONDS", "thirty", "SHARE_CACHE_SECONDS"),
            ("SHARE_CACHE_SECONDS", "200", "SHARE_CACHE_SECONDS"),
            ("NAME_FORMAT", "%Y", "NAME_FORMAT"),
            ("BLOB_TEMPLATE", "../{file}", "BLOB_TEMPLATE"),
            ("SILENCE_SECONDS", "0", "SILENCE_SECONDS"),
            ("SILENCE_SECONDS", "-3", "SILENCE_SECONDS"),
            ("SILENCE_SECONDS", "half a minute", "SILENCE_SECONDS"),
            ("SILENCE_SECONDS", "inf", "SILENCE_SECONDS"),
            ("SILENCE_DBFS", "0", "SILENCE_DBFS"),
            ("SILENCE_DBFS", "50", "SILENCE_DBFS"),
            ("SILENCE_DBFS", "-50dB", "SILENCE_DBFS"),
            ("SILENCE_DBFS", "NaN", "SILENCE_DBFS"),
            ("ARCHIVE_MODE", "exact", "frame-exact or original"),
        ] {
            let e = Settings::from_vars(vars(&[(k, v)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(expect), "{k}={v}: {e}");
            assert!(!e.contains(KEY), "{e}");
        }
    }
}
