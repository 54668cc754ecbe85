//! Building a frame-exact blob in the upload's one pass over the recording.
//!
//! The blob is a generated Xing/Info + LAME header frame, a few frames that are there for
//! the decoder alone, then the recording's frames from the first one it plays to its end.
//! The first frame played leans on the frames before it (their bit reservoir and transform
//! overlap): in a blob cut at an in-point ([`prepare`]) those are the recording's own frames
//! before it; in a whole recording ([`prepare_lead`]) the last frames of the file it
//! continues. The header declares them as encoder delay, so a gapless decoder (ffmpeg,
//! mpg123, browsers) plays the blob from its first frame played exactly, alone.
//!
//! [`prepare`] reads the recording up to the in-point, counting frames and measuring dead air
//! as the upload would, and builds the header; the upload then reads on from where it stopped
//! (the bytes from the blob's start to there are sent, not counted again), so each byte is
//! read once but for the few frames between the blob's start and the in-point.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::FileExt;

use mp3frame::info_tag::{self, Gapless, Toc, DECODER_DELAY, MAX_DELAY};
use tracing::{info, warn};

use super::{dead_air, read_from, Counted, Event, Exact, FrameExact, Shell, Step};
use crate::days::Lead;
use crate::share::{RangeReader, Recording, Why};
use crate::store::{PutMode, PutOutcome};

/// Bytes read at a time before the in-point, once the stream's format is known.
const CHUNK: usize = 64 * 1024;

/// Bytes read at a time until then: the frames before the in-point that the warm-up takes
/// depend on the format, so the scanner must not count past them first.
const FIRST_CHUNK: usize = 512;

/// The most bytes read before the format is known (a long ID3v2 tag, then junk).
const FORMAT_WITHIN: u64 = 1024 * 1024;

/// What the upload needs to send a frame-exact blob, and the pass so far.
pub(super) struct Prepared {
    /// The header frame, sent first.
    pub head: Vec<u8>,
    /// The recording's frame the blob's audio starts with, and how many frames of warm-up
    /// come before the in-point.
    pub first_frame: u64,
    pub warm_up: u64,
    /// How many of the warm-up frames are the previous file's ([`prepare_lead`]).
    pub lead: u64,
    /// The recording's byte where the blob's audio starts.
    pub start: u64,
    /// Bytes of the recording the scanner and the detector have seen (from 0).
    pub fed_to: u64,
    /// The played frames' bytes in the blob (the row's `in_byte..out_byte`).
    pub in_byte: u64,
    pub out_byte: u64,
    pub scanner: mp3count::Mp3Scanner,
    pub dead_air: deadair::Detector,
}

/// Reads `recording` (`size` bytes, `frames` audio frames as planned) up to its frame `trim`,
/// counting and measuring on the way, and builds the header of the blob that plays it from
/// `trim` on. `None` where no such blob can be built (the format is not found,
/// the in-point is too near the start for a warm-up, the counts do not fit a header): the
/// blob is then the recording's bytes.
pub(super) fn prepare(
    recording: &Recording,
    size: u64,
    trim: u64,
    frames: u64,
    silence: deadair::Threshold,
) -> std::io::Result<Option<Prepared>> {
    let mut pass = Pass::open(recording, silence, CHUNK);
    while pass.scanner.format().is_none() {
        if pass.fed_to > FORMAT_WITHIN || !pass.read(FIRST_CHUNK)? {
            return Ok(None);
        }
    }
    let Some(format) = pass.scanner.format() else {
        return Ok(None);
    };
    let spf = u64::from(format.samples());
    // As many frames as the delay field can declare: 4 of 1152 samples, 8 of 576.
    let budget = u64::from(MAX_DELAY + DECODER_DELAY) / spf;
    let counted = pass.scanner.frames_counted();
    let warm_up = budget.min(trim.saturating_sub(counted));
    if warm_up == 0 || trim >= frames {
        return Ok(None);
    }
    let first_frame = trim - warm_up;
    pass.scanner.locate(first_frame, trim);
    loop {
        let found = pass.scanner.located();
        if found.start.is_some() && found.end.is_some() {
            break;
        }
        if !pass.read(CHUNK)? {
            return Ok(None);
        }
    }
    let found = pass.scanner.located();
    // A file that changed since it was measured may end before the frames found.
    let (Some(start), Some(in_at)) = (found.start, found.end.filter(|&at| at <= size)) else {
        return Ok(None);
    };
    let mut word = [0u8; 4];
    recording.file().read_exact_at(&mut word, start)?;
    let blob_frames = frames - first_frame;
    let Some(head) = header(word, spf, blob_frames, warm_up, size - start) else {
        return Ok(None);
    };
    let head_len = head.len() as u64;
    Ok(Some(Prepared {
        head,
        first_frame,
        warm_up,
        lead: 0,
        start,
        in_byte: head_len + (in_at - start),
        out_byte: head_len + (size - start),
        fed_to: pass.fed_to,
        scanner: pass.scanner,
        dead_air: pass.dead_air,
    }))
}

/// Bytes read from the end of the file a recording continues, to find its last frames in:
/// more than the 8 frames of 576 samples or 4 of 1152 at the largest frame (1,728 bytes)
/// with the one more frame [`mp3frame::tail_frames`] wants.
pub(super) const LEAD_TAIL: u64 = 12 * 1024;

/// Reads `recording` (`size` bytes, `frames` audio frames as planned) up to its first audio
/// frame, and builds the header of the blob that plays all of it after the last
/// frames of `tail`, the end of the file it continues (its last [`LEAD_TAIL`] bytes). `None`
/// where no such blob can be built (the format is not found, `tail` does not end in whole
/// frames of the same format, the counts do not fit a header): the blob is then the
/// recording's bytes.
pub(super) fn prepare_lead(
    recording: &Recording,
    size: u64,
    frames: u64,
    silence: deadair::Threshold,
    tail: &[u8],
) -> std::io::Result<Option<Prepared>> {
    let mut pass = Pass::open(recording, silence, FIRST_CHUNK);
    // Frame 0 does not depend on the format: it can be asked for before the first read.
    pass.scanner.locate(0, 1);
    while pass.scanner.located().start.is_none() {
        if pass.fed_to > FORMAT_WITHIN || !pass.read(FIRST_CHUNK)? {
            return Ok(None);
        }
    }
    let located = pass.scanner.located().start.filter(|&at| at < size);
    let (Some(format), Some(start)) = (pass.scanner.format(), located) else {
        return Ok(None);
    };
    let spf = u64::from(format.samples());
    let warm_up = u64::from(MAX_DELAY + DECODER_DELAY) / spf;
    let Some(from) = mp3frame::tail_frames(tail, warm_up as usize) else {
        return Ok(None);
    };
    let lead = &tail[from..];
    let same_format = mp3frame::FrameHeader::parse(lead).is_some_and(|h| {
        h.continues_with(&format) && h.samples() == format.samples() && h.layer == format.layer
    });
    if frames == 0 || !same_format {
        return Ok(None);
    }
    let word = [lead[0], lead[1], lead[2], lead[3]];
    let audio_bytes = lead.len() as u64 + (size - start);
    let Some(mut head) = header(word, spf, warm_up + frames, warm_up, audio_bytes) else {
        return Ok(None);
    };
    head.extend_from_slice(lead);
    let head_len = head.len() as u64;
    Ok(Some(Prepared {
        head,
        first_frame: 0,
        warm_up,
        lead: warm_up,
        start,
        in_byte: head_len,
        out_byte: head_len + (size - start),
        fed_to: pass.fed_to,
        scanner: pass.scanner,
        dead_air: pass.dead_air,
    }))
}

/// The Xing/Info + LAME header frame (its header word `word`) of a blob of `blob_frames`
/// frames of `spf` samples and `audio_bytes` bytes after it, whose first `warm_up` frames
/// are declared as encoder delay; `None` where the counts do not fit a header.
fn header(
    word: [u8; 4],
    spf: u64,
    blob_frames: u64,
    warm_up: u64,
    audio_bytes: u64,
) -> Option<Vec<u8>> {
    let blob_frames32 = u32::try_from(blob_frames).ok()?;
    let bytes32 = u32::try_from(audio_bytes).ok()?;
    let gapless = Gapless::window_spf(blob_frames32, spf as u32, warm_up * spf, blob_frames * spf)?;
    let gapless = Gapless {
        audio_bytes: bytes32,
        ..gapless
    };
    info_tag::tag_frame(word, &gapless, &Toc::linear()).ok()
}

/// The read up to the in-point: every byte counted and measured, as the upload would.
struct Pass<'a> {
    /// The recording from its start to its size as measured.
    reader: RangeReader<'a>,
    buf: Vec<u8>,
    fed_to: u64,
    scanner: mp3count::Mp3Scanner,
    dead_air: deadair::Detector,
}

impl<'a> Pass<'a> {
    /// Reads of at most `chunk` bytes.
    fn open(recording: &'a Recording, silence: deadair::Threshold, chunk: usize) -> Self {
        Pass {
            reader: recording.reader(0, recording.size()),
            buf: vec![0u8; chunk],
            fed_to: 0,
            scanner: mp3count::Mp3Scanner::new(),
            dead_air: deadair::Detector::new(silence),
        }
    }

    /// Reads up to `len` more bytes; `false` at the end of the file.
    fn read(&mut self, len: usize) -> std::io::Result<bool> {
        let n = self.reader.read(&mut self.buf[..len])?;
        self.scanner.feed(&self.buf[..n]);
        self.dead_air.feed(&self.buf[..n]);
        self.fed_to += n as u64;
        Ok(n > 0)
    }
}

impl Prepared {
    /// The metadata of the blob, besides what its row says: how it was made.
    pub fn describe(&self, metadata: &mut std::collections::BTreeMap<String, String>, size: u64) {
        let fields = [
            ("mode", "frame-exact".to_owned()),
            ("blobfirstframe", self.first_frame.to_string()),
            ("warmupframes", self.warm_up.to_string()),
            ("sourcestart", self.start.to_string()),
            ("sourceend", size.to_string()),
            ("inbyte", self.in_byte.to_string()),
            ("outbyte", self.out_byte.to_string()),
        ];
        for (name, value) in fields {
            metadata.insert(name.to_owned(), value);
        }
        if self.lead > 0 {
            metadata.insert("leadframes".to_owned(), self.lead.to_string());
        }
    }
}

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
            (Exact::Cut(trim), _) => {
                prepare(recording, u.size, *trim, u.frames, silence).map_err(read)
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
        let failed = |e: crate::store::StoreError| {
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
        let mut source_md5 = Md5::new();
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
                    if end > head_len {
                        source_md5.update(&chunk[(head_len.saturating_sub(at)) as usize..]);
                    }
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
            Ok(PutOutcome::Written { size, md5 }) => {
                let read_to = start + size.saturating_sub(head_len);
                if let Err(error) = self.read_as_measured(recording, read_to) {
                    return Event::Failed {
                        step: Step::Upload(upload),
                        error,
                    };
                }
                let facts = scanner.finish(u.size);
                let mut counted = Counted::of(&facts, &dead_air.finish());
                let mut exact = exact(size, source_md5.finalize().into());
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
                let silences = dead_air::silences(&dead_air.finish());
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
        Exact::Cut(trim) => format!("cut at frame {trim}"),
        Exact::Lead(lead) => format!("after the last frames of {}", lead.file),
    }
}
