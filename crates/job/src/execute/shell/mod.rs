//! The shell of the executor: performs each [`Operation`] the core asks for against the
//! archive and the folder (uploads, rows, gone rows, lookups, deletions) and says how it went
//! as an [`Event`]; it never decides anything. Every recording is re-checked, opened, read and
//! deleted through the folder's handle, as the scan measured it.

use std::collections::BTreeMap;

use selection::Plan;
use tracing::{info, warn};

use super::{Counted, Event, Exact, Operation, Step, Stores};
use crate::scan::Folder;
use crate::settings::Settings;
use crate::share::{self, Difference, Recording};
use store::{InsertOutcome, PutOutcome};

mod exact;

/// What the shell needs to perform an [`Operation`].
pub(super) struct Shell<'a> {
    pub(super) stores: &'a Stores<'a>,
    pub(super) settings: &'a Settings,
    pub(super) plan: &'a Plan,
    /// The folder's handle and what the scan measured: every recording is re-checked,
    /// opened and deleted through it.
    pub(super) folder: &'a Folder,
}

impl Shell<'_> {
    /// Perform `op` and say how it went; never decides anything.
    pub(super) async fn perform(&self, op: Operation) -> Event {
        let step = op.step();
        let failed = |error: String| Event::Failed {
            step: step.clone(),
            error,
        };
        match op {
            Operation::Upload {
                upload,
                metadata,
                mode,
                locate,
                exact,
            } => {
                let u = &self.plan.uploads[upload];
                if let Some(event) = self.recheck(&u.file, &step) {
                    return event;
                }
                // The end of the file it continues, read (and closed) before the recording
                // is opened: an operation holds one recording open at a time.
                let tail = match &exact {
                    Some(Exact::Lead(lead)) => match self.lead_tail(lead).await {
                        Ok(tail) => tail,
                        Err(e) => return failed(e),
                    },
                    _ => None,
                };
                // Open as the scan measured it, and read only through this handle; it closes
                // when the operation ends.
                let recording = match self.folder.open(&u.file) {
                    Ok(r) => r,
                    Err(e) => return failed(e.to_string()),
                };
                if let Some(exact) = exact {
                    match self.prepare_exact(upload, &recording, &exact, tail.as_deref()) {
                        Ok(Some(prepared)) => {
                            return self
                                .upload_exact(upload, &recording, metadata, mode, prepared, &exact)
                                .await
                        }
                        Ok(None) => info!(file = %u.file, "no frame-exact blob can be built \
                            ({}); archived as recorded", exact::describe_exact(&exact)),
                        Err(e) => return failed(e),
                    }
                }
                // Frames are counted in the same pass as the upload: the plan may rest on
                // a header that only claimed them. The byte offsets of its in/out points are
                // found in that pass too, and dead air is measured in it: each byte is still
                // read once from the share.
                let mut scanner = mp3count::Mp3Scanner::new();
                if let Some((first, end)) = locate {
                    scanner.locate(first, end);
                }
                let mut dead_air = deadair::Detector::new(self.settings.silence);
                let put = self
                    .stores
                    .archive
                    .put_file_inspected(
                        &u.blob_name,
                        recording.file(),
                        &metadata,
                        mode,
                        &mut |chunk| {
                            scanner.feed(chunk);
                            dead_air.feed(chunk);
                        },
                    )
                    .await;
                match put {
                    Ok(PutOutcome::Written { size, md5, .. }) => {
                        if let Err(e) = self.read_as_measured(&recording, size) {
                            return failed(e);
                        }
                        let (facts, located) = scanner.finish_located(size);
                        let mut counted = Counted::of(&facts, &dead_air.finish());
                        // Only offsets of the frames the plan counted: otherwise the row
                        // records the counted facts and no points of theirs.
                        let as_planned =
                            counted.frames == u.frames && counted.truncated == u.truncated;
                        if locate.is_some() && as_planned {
                            counted.bytes =
                                self.record_bytes(&u.blob_name, metadata, located).await;
                        }
                        Event::Uploaded {
                            upload,
                            size,
                            md5,
                            counted,
                        }
                    }
                    Ok(PutOutcome::AlreadyExists(info)) => {
                        match self.md5_and_dead_air(&recording) {
                            Ok((local_md5, silences)) => Event::BlobExists {
                                upload,
                                size: info.size,
                                md5: info.md5,
                                local_md5,
                                silences,
                                exact: None,
                            },
                            Err(e) => failed(format!(
                                "cannot read it to compare with the archived blob: {e}"
                            )),
                        }
                    }
                    Err(e) => failed(e.to_string()),
                }
            }
            Operation::WriteRow {
                upload,
                row,
                replace,
            } => {
                let archive = self.stores.archive;
                let written = if replace {
                    archive
                        .replace_row(&row)
                        .await
                        .map(|()| InsertOutcome::Inserted)
                } else {
                    archive.insert_row(&row).await
                };
                match written {
                    Ok(InsertOutcome::Inserted) => Event::RowWritten { upload },
                    Ok(InsertOutcome::AlreadyExists(row)) => Event::RowExists { upload, row },
                    Err(e) => failed(e.to_string()),
                }
            }
            Operation::LookUp { file, blob } => match self.stores.archive.blob_info(&blob).await {
                Ok(blob) => Event::Found { file, blob },
                Err(e) => failed(e.to_string()),
            },
            Operation::WriteGone { deletion, row } => {
                if let Some(event) = self.before_deleting(deletion, &step) {
                    return event;
                }
                // A gone row already there is the same file's: an earlier run stopped
                // between the row and the deletion.
                match self.stores.gone.insert_row(&row).await {
                    Ok(_) => Event::GoneWritten { deletion },
                    Err(e) => failed(e.to_string()),
                }
            }
            Operation::DeleteFile { deletion } => {
                if let Some(event) = self.before_deleting(deletion, &step) {
                    return event;
                }
                // The name beneath the folder's handle, just checked: a link there is removed,
                // never followed.
                match self
                    .folder
                    .share
                    .remove(&self.plan.deletions[deletion].file)
                {
                    Ok(()) => Event::Deleted { deletion },
                    Err(e) => failed(e.to_string()),
                }
            }
        }
    }

    /// Add the byte offsets found while uploading to the blob's metadata (which went up
    /// before its bytes were read); `None` when they were not found or could not be recorded,
    /// and the blob then plays whole, as its row will say.
    async fn record_bytes(
        &self,
        blob: &str,
        mut metadata: BTreeMap<String, String>,
        located: mp3count::Located,
    ) -> Option<(u64, u64)> {
        let (in_byte, out_byte) = located.start.zip(located.end)?;
        metadata.insert("inbyte".into(), in_byte.to_string());
        metadata.insert("outbyte".into(), out_byte.to_string());
        match self.stores.archive.set_blob_metadata(blob, &metadata).await {
            Ok(()) => Some((in_byte, out_byte)),
            Err(e) => {
                warn!(blob, "its byte range is not recorded (it plays whole): {e}");
                None
            }
        }
    }

    /// Before a local file's deletion is recorded or done: it must be as listed, and a dry
    /// run only says what it would delete.
    fn before_deleting(&self, deletion: usize, step: &Step) -> Option<Event> {
        let d = &self.plan.deletions[deletion];
        if let Some(event) = self.recheck(&d.file, step) {
            return Some(event);
        }
        if self.settings.dry_run {
            info!(file = %d.file, decision = "would delete", "{d}");
            return Some(Event::Skipped { deletion });
        }
        None
    }

    /// The local file's MD5 and its dead air, in one read of it.
    fn md5_and_dead_air(
        &self,
        recording: &Recording,
    ) -> std::io::Result<([u8; 16], Vec<archive_model::day::Silence>)> {
        let mut dead_air = deadair::Detector::new(self.settings.silence);
        let md5 = md5_of(recording, &mut |chunk| dead_air.feed(chunk))?;
        Ok((
            md5,
            archive_model::executor::dead_air::silences(&dead_air.finish()),
        ))
    }

    /// The file as the plan was made on it, asked of the server afresh ([`Share::attributes`]:
    /// past the SMB client's attribute cache), before an upload, a gone row or a deletion:
    /// `None` when it is. Otherwise the event that ends the operation: [`Event::Changed`]
    /// when it was only written to (it grew, or its time moved) or is gone, left for the next
    /// run; [`Event::Failed`] when something else has its name now (a link, a FIFO, another
    /// file), an error naming what differs. Either way it is kept.
    ///
    /// [`Share::attributes`]: crate::share::Share::attributes
    fn recheck(&self, file: &str, step: &Step) -> Option<Event> {
        let changed = Some(Event::Changed { step: step.clone() });
        let Some(measured) = self.folder.measured.get(file) else {
            return changed;
        };
        let failed = |error: String| {
            Some(Event::Failed {
                step: step.clone(),
                error,
            })
        };
        let now = match self.folder.share.attributes(file) {
            Ok(now) => now,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return changed,
            Err(e) => return failed(format!("cannot read the attributes of {file}: {e}")),
        };
        let differences = measured.differences(&now);
        if differences.is_empty() {
            None
        } else if differences.iter().all(Difference::is_change) {
            info!(file, "{}", share::describe(&differences));
            changed
        } else {
            failed(format!(
                "{file} is not the file measured: {}; kept, not read",
                share::describe(&differences)
            ))
        }
    }

    /// After an upload that read `recording` up to byte `read_to`: the file, asked afresh,
    /// must still be what was measured and hold exactly the bytes read. Otherwise an error:
    /// the upload fails (its row is not written, nothing is deleted on it), and the next run
    /// looks again.
    fn read_as_measured(&self, recording: &Recording, read_to: u64) -> Result<(), String> {
        let name = recording.name();
        let now =
            self.folder.share.attributes(name).map_err(|e| {
                format!("cannot read the attributes of {name} after uploading it: {e}")
            })?;
        let differences = recording.attributes().differences(&now);
        if !differences.is_empty() {
            return Err(format!(
                "{name} changed while it was uploaded: {}; not recorded",
                share::describe(&differences)
            ));
        }
        if now.size != read_to {
            return Err(format!(
                "{read_to} bytes of {name} were uploaded, but it holds {}; not recorded",
                now.size
            ));
        }
        Ok(())
    }
}

/// Shows `inspect` the recording's bytes from `start` to its end (as measured: its size when
/// opened), a chunk at a time.
pub(super) fn read_from(
    recording: &Recording,
    start: u64,
    inspect: &mut dyn FnMut(&[u8]),
) -> std::io::Result<()> {
    use std::io::Read;
    let mut r = recording.reader(start, recording.size().saturating_sub(start));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        inspect(&buf[..n]);
    }
}

/// The MD5 of a recording, showing `inspect` each chunk read.
fn md5_of(recording: &Recording, inspect: &mut dyn FnMut(&[u8])) -> std::io::Result<[u8; 16]> {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    read_from(recording, 0, &mut |chunk| {
        h.update(chunk);
        inspect(chunk);
    })?;
    Ok(h.finalize().into())
}
