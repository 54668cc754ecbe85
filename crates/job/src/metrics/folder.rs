//! The folder's side of a refresh: names and attributes through [`Share`] (never a
//! recording's bytes) and the share's space → a [`FolderReading`]; each pod's newest file is
//! remembered in [`Memory`] to tell the replicas still recording.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use tracing::debug;

use super::held::{self, Newest};
use super::{FolderReading, Memory};
use crate::settings::Settings;
use crate::share::{Kind, Share};
use archive_model::held::{seconds_held_by_at_least, Evidence, Holding};

/// A file's start, end and size.
type Span = (DateTime<Utc>, DateTime<Utc>, u64);

/// What the folder showed: its metrics but the redundancy, and each file's span, which the
/// archive's rows of the last hour complete ([`FolderScan::reading`]).
#[derive(Debug, Clone)]
pub(super) struct FolderScan {
    reading: FolderReading,
    held: Vec<Holding>,
}

impl FolderScan {
    /// The folder's metrics, the last hour's redundancy counted over its files and the
    /// archive's `held` spans together.
    pub(super) fn reading(&self, archive_held: &[Holding], now: DateTime<Utc>) -> FolderReading {
        let held: Vec<Holding> = archive_held.iter().chain(&self.held).cloned().collect();
        let hour_ago = now - TimeDelta::hours(1);
        FolderReading {
            redundant_seconds_last_hour: seconds_held_by_at_least(&held, hour_ago, now, 2),
            ..self.reading.clone()
        }
    }
}

/// Read the folder, or `None` when FOLDER cannot be opened or listed. `archive_byte_rate`,
/// the newest rows' bytes per second, sets how long a file may go unwritten while its
/// recorder still records; without it the folder's finished files give the rate.
pub(super) fn read_folder(
    settings: &Settings,
    memory: &mut Memory,
    archive_byte_rate: Option<f64>,
    now: DateTime<Utc>,
) -> Option<FolderScan> {
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
    let mut held: Vec<Holding> = Vec::new();
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
        // Not yet judged by the job: counted as held.
        held.push(Holding {
            pod: parsed.pod.clone(),
            file: name.clone(),
            start,
            end,
            evidence: Evidence::Pending,
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
    let byte_rate = archive_byte_rate.or(rates.get(rates.len() / 2).copied());
    let window = held::recording_window(byte_rate, sel.segment_time, sel.share_cache);
    let earlier = memory.newest.as_ref().map(|(at, n)| (*at, n));
    let recording = held::replicas_recording(&newest, earlier, now, window);
    let space = share.space().ok();
    memory.newest = Some((now, newest));
    let secs = |t: DateTime<Utc>| t.timestamp_millis() as f64 / 1000.0;
    Some(FolderScan {
        reading: FolderReading {
            recorded_until: newest_any.map(secs),
            replicas_recording: recording as u64,
            files,
            bytes,
            oldest: oldest.map_or(0.0, secs),
            free_bytes: space.map(|s| s.free),
            size_bytes: space.map(|s| s.size),
            redundant_seconds_last_hour: 0.0,
        },
        held,
    })
}
