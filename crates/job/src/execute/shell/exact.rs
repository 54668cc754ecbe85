//! The shell's upload of a frame-exact blob: the header and warm-up frames
//! [`crate::execute::frame_exact`] prepared, then the recording's byte range, in one request
//! (`put_file_range_inspected`), counting only the bytes the preparation did not see; and
//! the tail of the file a lead continues, from the folder or from its blob.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;

use tracing::{info, warn};

use super::{read_from, Shell};
use crate::execute::frame_exact::{prepare, prepare_lead, Prepared, LEAD_TAIL};
use crate::execute::{Counted, Event, Exact, FrameExact, Step};
use crate::share::{Recording, Why};
use archive_model::day::Lead;
use store::{PutMode, PutOutcome};

impl Shell<'_> {
    /// What the blob of `plan.uploads[upload]` starts with, read from the recording (and for
    /// [`Exact::Lead`], after `tail`, the end of the file it continues, [`Shell::lead_tail`]);
    /// `Ok(None)` where no frame-exact blob can be built.
    pub(super) fn prepare_exact(
        &self,
        upload: usize,
        recording: &Recording,
        exact: &Exact,
        tail: Option<&[u8]>,
    ) -> Result<Option<Prepared>, String> {
        let u = &self.plan.uploads[upload];
        let silence = self.settings.silence;
        let read = |e: std::io::Error| format!("cannot read it: {e}");
        match (exact, tail) {
            (Exact::Cut(cut), _) => {
                prepare(recording, u.size, *cut, u.frames, silence).map_err(read)
            }
            (Exact::Lead(_), Some(tail)) => {
                prepare_lead(recording, u.size, u.frames, silence, tail).map_err(read)
            }
            (Exact::Lead(_), None) => Ok(None),
        }
    }

    /// The last [`LEAD_TAIL`] bytes of the file `lead` names: from the folder (through its
    /// handle, as the scan measured it), or from its blob where the file is not there (gone:
    /// its audio is then archived). The same bytes either way, so a run that repairs this blob
    /// builds what the first one did. `None` where neither exists.
    pub(super) async fn lead_tail(&self, lead: &Lead) -> Result<Option<Vec<u8>>, String> {
        let local = match self.folder.open(&lead.file) {
            Ok(recording) => {
                return read_tail(&recording)
                    .map(Some)
                    .map_err(|e| format!("cannot read {}, which it continues: {e}", lead.file))
            }
            // Not in the folder when it was listed, or deleted since (archived in this run).
            Err(e) if matches!(e.why, Why::NotMeasured) || e.is_gone() => None,
            Err(e) => Some(e),
        };
        let archive = self.stores.archive;
        let failed = |e: store::StoreError| {
            format!("cannot read blob {}, which it continues: {e}", lead.blob)
        };
        let Some(info) = archive.blob_info(&lead.blob).await.map_err(failed)? else {
            // Neither the file nor its blob: the recording goes up as recorded. A file there
            // but not as measured may be readable next time: left for then.
            return match local {
                None => Ok(None),
                Some(e) => Err(format!("{e} (the file it continues)")),
            };
        };
        let from = info.size.saturating_sub(LEAD_TAIL);
        let tail = archive
            .read_blob_range(&lead.blob, from, info.size - from)
            .await
            .map_err(failed)?;
        Ok(Some(tail))
    }

    /// Upload a frame-exact blob: `prepared`'s header, then the recording from its blob
    /// start, counting and measuring the bytes [`prepare`] or [`prepare_lead`] did not see.
    pub(super) async fn upload_exact(
        &self,
        upload: usize,
        recording: &Recording,
        mut metadata: BTreeMap<String, String>,
        mode: PutMode,
        prepared: Prepared,
        how: &Exact,
    ) -> Event {
        use md5::{Digest, Md5};
        let u = &self.plan.uploads[upload];
        prepared.describe(&mut metadata, u.size);
        if let (Exact::Lead(from), true) = (how, prepared.lead > 0) {
            metadata.insert("leadfrom".to_owned(), from.file.clone());
        }
        let Prepared {
            head,
            first_frame,
            warm_up,
            lead,
            start,
            fed_to,
            in_byte,
            out_byte,
            mut scanner,
            mut dead_air,
        } = prepared;
        let head_len = head.len() as u64;
        // Blob offsets: the source's bytes start after the header; those up to `fed_to` were
        // counted already.
        let counted_to = head_len + (fed_to - start);
        // The range's MD5 (the row's `sourceMd5`) comes back with the blob's, computed by the
        // store in the same pass over the same attempt's bytes.
        let mut at = 0u64;
        let put = self
            .stores
            .archive
            .put_file_range_inspected(
                &u.blob_name,
                &head,
                recording.file(),
                start..u.size,
                &metadata,
                mode,
                &mut |chunk| {
                    let end = at + chunk.len() as u64;
                    if end > counted_to {
                        let new = &chunk[(counted_to.saturating_sub(at)) as usize..];
                        scanner.feed(new);
                        dead_air.feed(new);
                    }
                    at = end;
                },
            )
            .await;
        let exact = |blob_size: u64, source_md5: [u8; 16]| FrameExact {
            first_frame,
            warm_up,
            lead,
            source: (start, start + blob_size.saturating_sub(head_len)),
            source_md5,
            blob_size,
            played: (in_byte, out_byte),
        };
        match put {
            Ok(PutOutcome::Written {
                size,
                md5,
                range_md5,
            }) => {
                let read_to = start + size.saturating_sub(head_len);
                if let Err(error) = self.read_as_measured(recording, read_to) {
                    return Event::Failed {
                        step: Step::Upload(upload),
                        error,
                    };
                }
                let facts = scanner.finish(u.size);
                let mut counted = Counted::of(&facts, &dead_air.finish());
                let mut exact = exact(size, range_md5);
                self.end_before_partial_frame(&u.blob_name, &mut metadata, &mut exact, &facts)
                    .await;
                counted.exact = Some(exact);
                Event::Uploaded {
                    upload,
                    size,
                    md5,
                    counted,
                }
            }
            Ok(PutOutcome::AlreadyExists(info)) => {
                // What this blob would hold, read from the file (the header, then the rest),
                // and its facts and dead air afresh: the refused upload may have shown the
                // counters some of its bytes.
                let mut blob_md5 = Md5::new();
                blob_md5.update(&head);
                let mut source = Md5::new();
                let mut whole = Md5::new();
                let mut scanner = mp3count::Mp3Scanner::new();
                let mut dead_air = deadair::Detector::new(self.settings.silence);
                let mut at = 0u64;
                let read = read_from(recording, 0, &mut |chunk| {
                    scanner.feed(chunk);
                    dead_air.feed(chunk);
                    whole.update(chunk);
                    let end = at + chunk.len() as u64;
                    if end > start {
                        let from = &chunk[(start.saturating_sub(at)) as usize..];
                        blob_md5.update(from);
                        source.update(from);
                    }
                    at = end;
                });
                if let Err(e) = read {
                    return Event::Failed {
                        step: Step::Upload(upload),
                        error: format!("cannot read it to compare with the archived blob: {e}"),
                    };
                }
                let facts = scanner.finish(at);
                let mut exact = exact(head_len + (at - start), source.finalize().into());
                let local_md5: [u8; 16] = blob_md5.finalize().into();
                let whole_md5: [u8; 16] = whole.finalize().into();
                let silences = archive_model::executor::dead_air::silences(&dead_air.finish());
                if info.size == exact.blob_size && info.md5.is_none_or(|m| m == local_md5) {
                    self.end_before_partial_frame(&u.blob_name, &mut metadata, &mut exact, &facts)
                        .await;
                } else if info.size == at && info.md5 == Some(whole_md5) {
                    // The recording's own bytes, as an earlier version of the job (or
                    // `ARCHIVE_MODE=original`) uploaded them before it stopped: a blob that
                    // holds all of its audio, kept as it is.
                    info!(file = %u.file, blob = %u.blob_name,
                        "its blob, found without a row, is the recording as recorded; kept");
                    return Event::BlobExists {
                        upload,
                        size: info.size,
                        md5: info.md5,
                        local_md5: whole_md5,
                        silences,
                        exact: None,
                    };
                }
                Event::BlobExists {
                    upload,
                    size: info.size,
                    md5: info.md5,
                    local_md5,
                    silences,
                    exact: Some(exact),
                }
            }
            Err(e) => Event::Failed {
                step: Step::Upload(upload),
                error: e.to_string(),
            },
        }
    }

    /// A killed writer's partial last frame stays in a frame-exact blob (its bytes were
    /// recorded) but is no audio: the frames played end before it, which the metadata sent
    /// with the blob could not yet say. A run repairing the blob after a crash corrects it
    /// alike, so both leave the same blob.
    async fn end_before_partial_frame(
        &self,
        blob: &str,
        metadata: &mut BTreeMap<String, String>,
        exact: &mut FrameExact,
        facts: &mp3count::Mp3Facts,
    ) {
        if facts.trailing_bytes == 0 {
            return;
        }
        let (in_byte, out_byte) = exact.played;
        exact.played.1 = out_byte - facts.trailing_bytes.min(out_byte - in_byte);
        metadata.insert("outbyte".into(), exact.played.1.to_string());
        if let Err(e) = self.stores.archive.set_blob_metadata(blob, metadata).await {
            warn!(blob, "its end is not recorded in its metadata: {e}");
        }
    }
}

/// The last [`LEAD_TAIL`] bytes of a recording (as measured: up to its size when opened).
fn read_tail(recording: &Recording) -> std::io::Result<Vec<u8>> {
    let len = recording.size();
    let from = len.saturating_sub(LEAD_TAIL);
    let mut tail = vec![0u8; (len - from) as usize];
    recording.file().read_exact_at(&mut tail, from)?;
    Ok(tail)
}

/// What an [`Exact`] asked for, for the log.
pub(super) fn describe_exact(exact: &Exact) -> String {
    match exact {
        Exact::Cut(cut) => format!("cut at frame {cut}"),
        Exact::Lead(lead) => format!("after the last frames of {}", lead.file),
    }
}
