//! What one refresh learnt, as plain data: [`Reading`] (with the storage account's state and
//! the folder's), which [`super::encode_reading`] turns into the exposition. Kept apart from
//! the reading and the encoding so either can be tested on a literal value.

use super::ExporterSettings;
use crate::outcome::RunRecord;
use crate::settings::Settings;

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
