//! One run: read the archive, plan, and carry the plan out in a crash-safe order.
//!
//! Upload the blob, then insert its row, then delete local copies. A run killed at any point
//! leaves either nothing, a blob without a row (the next run finds it with `CreateOnly`,
//! checks it, and writes the row), or a row with its blob (the next run sees the segment as
//! archived). A file is deleted only after every archived segment its deletion rests on is
//! confirmed: a row whose blob was seen in this run, or an upload and insert that succeeded in
//! this run.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use selection::{ArchiveState, DeleteReason, Plan, Upload};
use tracing::{error, info, warn};

use crate::days::{self, DaySegment};
use crate::rows;
use crate::scan::{self, Folder};
use crate::settings::Settings;
use crate::store::{Archive, InsertOutcome, Lock, PutMode, PutOutcome, SegmentRow};

/// How often a run renews its 15-s lease on the stream's lock.
const LOCK_RENEW_EVERY: Duration = Duration::from_secs(5);

/// Totals for the run summary.
#[derive(Debug, Default)]
pub struct Summary {
    pub seen: usize,
    pub archived: usize,
    pub bytes: u64,
    pub deleted: usize,
    pub held: usize,
    pub gaps: usize,
    pub errors: usize,
}

/// Where a run reads and writes: the stream's partition, the partition of files deleted
/// without being archived, the partition of content alignments, and the lock held for the run.
pub struct Stores<'a> {
    pub archive: &'a dyn Archive,
    pub gone: &'a dyn Archive,
    pub aligned: &'a dyn Archive,
    /// The partition holding the sightings row ([`rows::sightings_row`]).
    pub seen: &'a dyn Archive,
    pub lock: Option<&'a Lock>,
}

/// What reading the archive state learnt besides the state: the rows it came from, by file
/// name (what restamps rewrite and joins are computed from), and the archived segments whose
/// blob was seen (so the executor need not look again).
#[derive(Debug, Default)]
pub struct Recorded {
    pub archived: HashMap<String, SegmentRow>,
    pub gone: HashMap<String, SegmentRow>,
    pub verified: HashSet<String>,
}

/// Read the archive state that matters for these files.
pub async fn read_state(
    stores: &Stores<'_>,
    settings: &Settings,
    folder: &Folder,
) -> Result<(ArchiveState, Recorded), String> {
    let archive = stores.archive;
    let times: Vec<DateTime<Utc>> = folder
        .files
        .iter()
        .filter_map(|f| selection::parse_name(&f.name, &settings.selection, Some(f.modified)).ok())
        .map(|n| n.start)
        .collect();
    let mut rows: Vec<SegmentRow> = Vec::new();
    let mut gone: Vec<SegmentRow> = Vec::new();
    let mut aligned: Vec<SegmentRow> = Vec::new();
    if let (Some(&oldest), Some(&newest)) = (times.iter().min(), times.iter().max()) {
        let margin = TimeDelta::days(1);
        let (from, to) = rows::key_range(oldest - margin, newest + margin);
        rows = archive
            .rows_in_range(&from, &to)
            .await
            .map_err(|e| e.to_string())?;
        gone = stores
            .gone
            .rows_in_range(&from, &to)
            .await
            .map_err(|e| e.to_string())?;
        aligned = stores
            .aligned
            .rows_in_range(&from, &to)
            .await
            .map_err(|e| e.to_string())?;
    }
    // The newest rows of the partition include the original Node job's, whose RowKeys are
    // upload times and fall outside the range above.
    let first = archive.first_rows(200).await.map_err(|e| e.to_string())?;
    let mut seen = HashSet::new();
    let mut state = ArchiveState::default();
    let mut recorded = Recorded::default();
    let mut legacy = HashSet::new();
    for row in rows.into_iter().chain(first) {
        if !seen.insert(row.row_key.clone()) {
            continue;
        }
        if row.blob_name.is_none() {
            legacy.insert(row.file_name.clone());
        }
        state
            .segments
            .push(rows::archived(&row, settings.selection.segment_time));
        recorded.archived.insert(row.file_name.clone(), row);
    }
    // The Node job's rows record no resolved name time: it is inferred from their upload times
    // (in their keys) and their neighbours.
    let node = rows::node_name_starts(
        recorded
            .archived
            .values()
            .filter(|r| legacy.contains(&r.file_name)),
        &settings.selection,
    );
    for s in &mut state.segments {
        if let Some(&t) = node.get(&s.file_name) {
            s.name_start = Some(t);
        }
    }
    state.gone = gone.iter().map(rows::gone).collect();
    recorded.gone = gone.into_iter().map(|r| (r.file_name.clone(), r)).collect();
    state.alignments = aligned.iter().filter_map(rows::alignment).collect();
    let sightings = stores
        .seen
        .rows_in_range(rows::SIGHTINGS_KEY, rows::SIGHTINGS_KEY)
        .await
        .map_err(|e| e.to_string())?;
    for row in &sightings {
        match rows::sightings(row) {
            Ok(s) => state.sightings = s,
            Err(e) => warn!("{e}; files wait for the clocks to agree that they are idle"),
        }
    }
    // A row is proof of nothing until its blob is seen: the Node job ignored upload errors,
    // and a blob can be deleted by hand. Rows of the original job, and rows of files still
    // in the folder, are checked; without its blob a row covers nothing, and a local file is
    // archived again.
    let local: HashSet<&str> = folder.files.iter().map(|f| f.name.as_str()).collect();
    let to_check: Vec<String> = state
        .segments
        .iter()
        .map(|s| s.file_name.clone())
        .filter(|f| legacy.contains(f) || local.contains(f.as_str()))
        .collect();
    let mut missing = HashSet::new();
    let mut verified = HashSet::new();
    for file in to_check {
        if blob_present(archive, settings, &state, &file).await {
            verified.insert(file);
        } else {
            warn!(file = %file, "the table says archived but the blob is missing; archiving it again");
            missing.insert(file);
        }
    }
    state.segments.retain(|s| !missing.contains(&s.file_name));
    recorded.verified = verified;
    Ok((state, recorded))
}

/// Record the audio starts the plan moved ([`selection::Restamp`]) and rewrite the manifests
/// of their days. Returns how many failed: a stale start misplaces a join in a day manifest
/// until a later run restamps it; it never affects what is deleted.
pub async fn restamp(
    stores: &Stores<'_>,
    settings: &Settings,
    recorded: &Recorded,
    plan: &Plan,
) -> usize {
    if settings.dry_run {
        return 0;
    }
    let mut failed = 0;
    let mut changed_days = BTreeSet::new();
    for r in &plan.restamps {
        let (store, rows) = if r.archived {
            (stores.archive, &recorded.archived)
        } else {
            (stores.gone, &recorded.gone)
        };
        let Some(row) = rows.get(&r.file) else {
            continue;
        };
        let row = SegmentRow {
            audio_start_ms: Some(r.audio_start.timestamp_millis()),
            ..row.clone()
        };
        let stamped = match store.replace_row(&row).await {
            Ok(()) if r.archived => match &row.blob_name {
                Some(blob) => {
                    let meta = rows::blob_metadata(&row, &settings.stream);
                    stores.archive.set_blob_metadata(blob, &meta).await
                }
                None => Ok(()),
            },
            other => other,
        };
        match stamped {
            Ok(()) => {
                info!(file = %r.file, audio_start = %r.audio_start, decision = "restamped",
                    "placed anew by a content alignment measured since it was recorded");
                if r.archived {
                    changed_days.extend(days::day_of(&r.file, settings));
                }
            }
            Err(e) => {
                error!(file = %r.file, "cannot record its new audio start: {e}");
                failed += 1;
            }
        }
    }
    failed + write_manifests(stores.archive, settings, &changed_days).await
}

/// Rewrite the manifests of `changed` days from the table (when enabled). Returns the number
/// of failures (0 or 1).
async fn write_manifests(
    archive: &dyn Archive,
    settings: &Settings,
    changed: &BTreeSet<chrono::NaiveDate>,
) -> usize {
    if !settings.day_manifests || changed.is_empty() {
        return 0;
    }
    match days::write(archive, settings, changed).await {
        Ok(written) => {
            for m in written {
                info!(day = %m.day, segments = m.segments.len(), gaps = m.gaps.len(),
                    archived_seconds = m.archived_seconds, "day manifest written");
            }
            0
        }
        Err(e) => {
            error!("day manifest: {e}");
            1
        }
    }
}

/// Keep the plan's sightings in place of the stored ones, when they changed. Returns how
/// many writes failed: without them a later run waits for the clocks, which only delays.
pub async fn remember_sightings(stores: &Stores<'_>, state: &ArchiveState, plan: &Plan) -> usize {
    if plan.sightings == state.sightings {
        return 0;
    }
    if plan.sightings.len() > rows::MAX_SIGHTINGS {
        warn!(
            sightings = plan.sightings.len(),
            "more files than can be remembered await idleness; the rest wait for the clocks"
        );
    }
    match stores
        .seen
        .replace_row(&rows::sightings_row(&plan.sightings))
        .await
    {
        Ok(()) => 0,
        Err(e) => {
            warn!("cannot keep the files seen this run: {e}");
            1
        }
    }
}

/// Keep the alignments measured this run with the archive, before the plan they shaped is
/// carried out: a later run places what is left as this one did. Returns how many failed
/// (a missing alignment makes later plans less exact, never unsafe).
pub async fn remember_alignments(
    stores: &Stores<'_>,
    settings: &Settings,
    state: &ArchiveState,
    measured: &[selection::Alignment],
) -> usize {
    let mut failed = 0;
    for al in measured.iter().filter(|al| !state.alignments.contains(al)) {
        let Some(row) = rows::alignment_row(al, &settings.selection) else {
            continue;
        };
        if let Err(e) = stores.aligned.insert_row(&row).await {
            error!(a = %al.a, b = %al.b, "cannot keep an alignment: {e}");
            failed += 1;
        }
    }
    failed
}

/// Carry out `plan`. Returns the summary; `errors > 0` means the run must exit non-zero.
pub async fn execute(
    stores: &Stores<'_>,
    settings: &Settings,
    folder: &Folder,
    state: &ArchiveState,
    recorded: &Recorded,
    plan: &Plan,
    deadline: Instant,
) -> Summary {
    let mut sum = Summary {
        seen: folder.files.len(),
        ..Summary::default()
    };
    // Where each upload joins the archive, so that its row and blob carry it from the start.
    let joined = days::upload_points(&recorded.archived, &plan.uploads, settings);
    let listed: BTreeMap<&str, &selection::SeenFile> =
        folder.files.iter().map(|f| (f.name.as_str(), f)).collect();

    for hold in &plan.holds {
        // A reused name waits for an operator; every other hold resolves itself or is logged
        // where it arose.
        if matches!(hold.why, selection::HoldReason::NameReused(_)) {
            warn!(file = %hold.file, decision = "hold", "{}", hold.why);
        } else {
            info!(file = %hold.file, decision = "hold", "{}", hold.why);
        }
    }
    for gap in &plan.gaps {
        warn!(decision = "gap", "{gap}");
    }
    sum.held = plan.holds.len();
    sum.gaps = plan.gaps.len();

    // Files are deleted while the uploads go on, each as soon as everything it rests on is
    // confirmed, so a backlog's deletions do not wait for its last upload.
    let (uploaded_tx, mut uploaded_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (joined, listed_ref) = (&joined, &listed);
    let uploading = async move {
        let mut part = Summary::default();
        let mut uploads = futures::stream::iter(&plan.uploads)
            .map(|u| {
                upload_one(
                    stores.archive,
                    settings,
                    u,
                    joined.get(&u.file),
                    listed_ref.get(u.file.as_str()).copied(),
                    deadline,
                )
            })
            .buffer_unordered(settings.upload_concurrency.max(1));
        while let Some(result) = uploads.next().await {
            match result {
                Ok(Some(file)) => {
                    part.archived += 1;
                    part.bytes += listed_ref.get(file.as_str()).map_or(0, |f| f.size);
                    // The deleter outlives the uploads: a send cannot fail.
                    let _ = uploaded_tx.send(file);
                }
                Ok(None) => {}
                Err(()) => part.errors += 1,
            }
        }
        part
    };
    let mut deleter = Deleter {
        stores,
        settings,
        state,
        listed: &listed,
        // Segments whose archived copy is confirmed in this run: archived segments whose
        // blob was seen (a row alone proves nothing: a blob can be deleted by hand or by a
        // lifecycle rule), and uploads done now.
        confirmed: recorded.verified.clone(),
        refuted: HashSet::new(),
        pending: plan.deletions.iter().collect(),
        changed_days: BTreeSet::new(),
        part: Summary::default(),
    };
    let deleting = async {
        deleter.delete_ready().await;
        while let Some(file) = uploaded_rx.recv().await {
            deleter.confirmed.insert(file);
            deleter.delete_ready().await;
        }
        deleter.delete_rest().await;
    };
    let (uploaded, ()) = futures::join!(uploading, deleting);
    sum.archived = uploaded.archived;
    sum.bytes = uploaded.bytes;
    sum.deleted = deleter.part.deleted;
    sum.errors = uploaded.errors + deleter.part.errors;

    // Days whose segments changed: rewritten from the table, so a manifest whose write
    // failed is repaired when the day's archived files are deleted on the next run.
    let mut days: BTreeSet<_> = plan
        .uploads
        .iter()
        .filter(|u| deleter.confirmed.contains(&u.file))
        .filter_map(|u| days::day_of(&u.file, settings))
        .collect();
    days.extend(deleter.changed_days.iter().copied());
    sum.errors += write_manifests(stores.archive, settings, &days).await;
    sum
}

/// Carries out a plan's deletions, each only once every archived segment it rests on is
/// confirmed in this run.
struct Deleter<'a> {
    stores: &'a Stores<'a>,
    settings: &'a Settings,
    state: &'a ArchiveState,
    listed: &'a BTreeMap<&'a str, &'a selection::SeenFile>,
    confirmed: HashSet<String>,
    /// Segments looked for in the archive and not found there.
    refuted: HashSet<String>,
    pending: Vec<&'a selection::Deletion>,
    /// Days that lost a local file whose audio is archived: their manifests are rewritten.
    changed_days: BTreeSet<chrono::NaiveDate>,
    part: Summary,
}

impl Deleter<'_> {
    /// Delete what rests only on segments confirmed so far.
    async fn delete_ready(&mut self) {
        let (ready, waiting): (Vec<_>, Vec<_>) = self
            .pending
            .iter()
            .partition(|d| d.covered_by.iter().all(|c| self.confirmed.contains(c)));
        self.pending = waiting;
        for d in ready {
            self.delete(d).await;
        }
    }

    /// Once the uploads are done: look up in the archive what the rest rests on.
    async fn delete_rest(&mut self) {
        for d in std::mem::take(&mut self.pending) {
            let mut missing: Vec<&String> = Vec::new();
            for c in &d.covered_by {
                if self.confirmed.contains(c) {
                    continue;
                }
                if !self.refuted.contains(c)
                    && blob_present(self.stores.archive, self.settings, self.state, c).await
                {
                    self.confirmed.insert(c.clone());
                } else {
                    self.refuted.insert(c.clone());
                    missing.push(c);
                }
            }
            if missing.is_empty() {
                self.delete(d).await;
            } else {
                warn!(file = %d.file, "kept: its audio rests on {missing:?}, not confirmed in the archive");
            }
        }
    }

    async fn delete(&mut self, d: &selection::Deletion) {
        let settings = self.settings;
        let path = settings.folder.join(&d.file);
        if !unchanged(&path, self.listed.get(d.file.as_str()).copied()) {
            warn!(file = %d.file, "changed since it was planned; kept");
            return;
        }
        if settings.dry_run {
            info!(file = %d.file, decision = "would delete", "{d}");
            return;
        }
        // Remembered before it goes, so later plans still place its neighbours the same way.
        if let Some(row) = d
            .remember
            .as_ref()
            .and_then(|g| rows::gone_row(g, &settings.selection))
        {
            if let Err(e) = self.stores.gone.insert_row(&row).await {
                error!(file = %d.file, "kept: cannot record it before deleting: {e}");
                self.part.errors += 1;
                return;
            }
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                self.part.deleted += 1;
                if d.why != DeleteReason::NoAudio {
                    self.changed_days.extend(days::day_of(&d.file, settings));
                }
                let decision = match d.why {
                    DeleteReason::NoAudio => "deleted empty",
                    DeleteReason::Archived => "deleted archived",
                    DeleteReason::Duplicate => "deleted duplicate",
                };
                info!(file = %d.file, decision, "{d}");
            }
            Err(e) => {
                error!(file = %d.file, "cannot delete: {e}");
                self.part.errors += 1;
            }
        }
    }
}

/// Renew the run's lease every [`LOCK_RENEW_EVERY`] until `done`; `true` when it was lost.
/// Losing it is not a safety problem (uploads are create-only and rows collide), but it is
/// reported.
pub async fn keep_lock(stores: &Stores<'_>, done: &std::sync::atomic::AtomicBool) -> bool {
    let Some(lock) = stores.lock else {
        return false;
    };
    let mut renewed = Instant::now();
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if renewed.elapsed() >= LOCK_RENEW_EVERY {
            if let Err(e) = stores.archive.renew_lock(lock).await {
                error!("lost the stream's lock; another run may take over: {e}");
                return true;
            }
            renewed = Instant::now();
        }
    }
    false
}

/// Upload one planned file and record its row. `Ok(Some(file))` when its archived copy is
/// confirmed and deletions may rest on it, `Ok(None)` when it was left for the next run
/// without an error, `Err(())` on an error (already logged).
async fn upload_one(
    archive: &dyn Archive,
    settings: &Settings,
    u: &Upload,
    joined: Option<&DaySegment>,
    listed: Option<&selection::SeenFile>,
    deadline: Instant,
) -> Result<Option<String>, ()> {
    if Instant::now() > deadline {
        warn!(file = %u.file, "run deadline reached; left for the next run");
        return Ok(None);
    }
    let path = settings.folder.join(&u.file);
    if !unchanged(&path, listed) {
        warn!(file = %u.file, "changed since it was measured; left for the next run");
        return Ok(None);
    }
    let with_points = |row: SegmentRow| match joined {
        Some(j) => rows::with_points(&row, j),
        None => row,
    };
    let meta = rows::blob_metadata(
        &with_points(rows::row_for(u, u.size, &[0; 16])),
        &settings.stream,
    );
    let mode = if u.replaces_archived {
        PutMode::Overwrite
    } else {
        PutMode::CreateOnly
    };
    // Frames are counted in the same pass as the upload: the plan may rest on a header that
    // only claimed them.
    let mut scanner = mp3count::Mp3Scanner::new();
    let put = archive
        .put_file_inspected(&u.blob_name, &path, &meta, mode, &mut |chunk| {
            scanner.feed(chunk)
        })
        .await;
    let (size, md5, counted) = match put {
        Ok(PutOutcome::Written { size, md5 }) if size == u.size => {
            (size, md5, Some(scanner.finish(size)))
        }
        Ok(PutOutcome::Written { size, .. }) => {
            error!(file = %u.file, "uploaded {size} bytes but {} were measured; not recorded", u.size);
            return Err(());
        }
        Ok(PutOutcome::AlreadyExists(info)) => {
            // An earlier run uploaded it and stopped before writing the row.
            let local = match md5_of(&path) {
                Ok(m) => m,
                Err(e) => {
                    error!(file = %u.file, "cannot read it to compare with the archived blob: {e}");
                    return Err(());
                }
            };
            if info.size != u.size || info.md5.is_some_and(|m| m != local) {
                error!(file = %u.file, blob = %u.blob_name,
                    "a different blob already has its name ({} bytes); left alone", info.size);
                return Err(());
            }
            (info.size, local, None)
        }
        Err(e) => {
            error!(file = %u.file, "{e}");
            return Err(());
        }
    };
    let mut row = with_points(rows::row_for(u, size, &md5));
    let mut confirmed = true;
    let killed = |c: &mp3count::Mp3Facts| !c.clean_end || c.header_mismatch;
    if let Some(c) = counted.filter(|c| c.frames != u.frames || killed(c) != u.truncated) {
        // The header lied in a way its size did not show. The row records what was counted,
        // and nothing is deleted on the strength of this upload until the next run plans
        // with the counted facts.
        warn!(file = %u.file, planned = u.frames, counted = c.frames,
            "frame count differs from its header; recorded as counted");
        row.frames = Some(c.frames);
        row.duration_ms = Some(c.duration().as_millis() as i64);
        row.duration_us = Some(c.duration().as_micros() as i64);
        row.truncated = Some(killed(&c));
        confirmed = false;
    }
    let recorded = if u.replaces_archived {
        archive
            .replace_row(&row)
            .await
            .map(|()| InsertOutcome::Inserted)
    } else {
        archive.insert_row(&row).await
    };
    match recorded {
        Ok(InsertOutcome::Inserted) => {}
        Ok(InsertOutcome::AlreadyExists(existing)) if existing.file_name == u.file => {}
        Ok(InsertOutcome::AlreadyExists(existing)) => {
            error!(file = %u.file, row_key = %row.row_key, other = %existing.file_name,
                "RowKey taken by another file");
            return Err(());
        }
        Err(e) => {
            error!(file = %u.file, "{e}");
            return Err(());
        }
    }
    info!(file = %u.file, blob = %u.blob_name, bytes = size, decision = "archived", "{}", u.reason);
    Ok(confirmed.then(|| u.file.clone()))
}

/// Whether the archived segment `file` is really in the container: its blob exists and, for
/// our own rows, has the size the row recorded. The original job's rows name no blob: its
/// default name is checked.
async fn blob_present(
    archive: &dyn Archive,
    settings: &Settings,
    state: &ArchiveState,
    file: &str,
) -> bool {
    let row = state.segments.iter().find(|s| s.file_name == file);
    let blob = match row.and_then(|r| r.blob_name.clone()) {
        Some(b) => b,
        _ => {
            let Ok(name) = selection::parse_name(file, &settings.selection, None) else {
                return false;
            };
            let Ok(blob) = selection::blob_name(&settings.selection, &name, file) else {
                return false;
            };
            blob
        }
    };
    match archive.blob_info(&blob).await {
        Ok(Some(info)) => {
            info.size > 0
                && row
                    .and_then(|r| r.size)
                    .is_none_or(|size| size == info.size)
        }
        Ok(None) => {
            warn!(file, blob = %blob, "archived by the table but its blob is missing");
            false
        }
        Err(e) => {
            warn!(file, "cannot check its blob: {e}");
            false
        }
    }
}

/// The file still has the size and modification time it had when it was listed.
fn unchanged(path: &std::path::Path, listed: Option<&selection::SeenFile>) -> bool {
    let (Some(listed), Ok(meta)) = (listed, std::fs::symlink_metadata(path)) else {
        return false;
    };
    let modified = meta.modified().map(DateTime::<Utc>::from).ok();
    meta.is_file() && meta.len() == listed.size && modified == Some(listed.modified)
}

fn md5_of(path: &std::path::Path) -> std::io::Result<[u8; 16]> {
    use md5::{Digest, Md5};
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize().into());
        }
        h.update(&buf[..n]);
    }
}

/// Scan the folder (kept here so `main` stays a thin shell).
pub fn scan_folder(settings: &Settings, now: selection::Now) -> Result<Folder, String> {
    let folder = scan::scan(&settings.folder, settings.selection.finish_grace, now)?;
    for (name, why) in &folder.skipped {
        warn!(file = %name, decision = "skipped", "{why}");
    }
    Ok(folder)
}

/// The longest a run may start new work.
pub fn deadline(settings: &Settings) -> Instant {
    Instant::now() + settings.run_deadline.min(Duration::from_secs(86_400))
}
