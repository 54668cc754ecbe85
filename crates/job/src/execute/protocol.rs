//! What the executor core and its shell say to each other: the [`Setup`], the
//! [`Operation`]s the core asks for and the [`Event`]s the shell answers with. The rules of
//! proof for a blob, which the core, [`super::read_state`] and `days` apply, are in
//! [`crate::proof`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use selection::ArchiveState;

use crate::days::{Lead, Silence, Trim};
use crate::joins::Points;
use store::{BlobInfo, PutMode, SegmentRow};

/// What the executor needs besides the plan: all of it read before the run's first write.
pub struct Setup<'a> {
    /// The planner's settings (blob and gone-row names).
    pub settings: &'a selection::Settings,
    /// What the archive said: where a segment's blob is and how big, for lookups.
    pub state: &'a ArchiveState,
    /// The stream's name, kept in every blob's metadata.
    pub stream: &'a str,
    /// Archived segments whose row was read this run and whose blob was seen.
    pub verified: HashSet<String>,
    /// Where each upload joins the archive ([`crate::days::upload_points`]).
    pub joined: HashMap<String, Points>,
    /// Uploads whose blob may leave out the audio before their in-point
    /// ([`crate::days::upload_trims`]): frame-exact blobs.
    pub trims: HashMap<String, Trim>,
    /// Uploads that continue another file of their ffmpeg process ([`crate::days::upload_leads`]):
    /// a blob not cut at an in-point starts with that file's last frames, for the decoder.
    pub leads: HashMap<String, Lead>,
    /// Archived segments whose frame-exact blob leaves out audio another segment's blob
    /// holds (their rows' `head_held_by`): confirming one confirms that one too.
    pub head_held_by: HashMap<String, String>,
    /// Archived segments whose blob's size is not the recording's (frame-exact blobs): what
    /// a lookup of their blob must find.
    pub blob_sizes: HashMap<String, u64>,
    /// Uploads (blob and row) at once.
    pub concurrency: usize,
    /// No upload starts after it.
    pub deadline: Instant,
}

impl<'a> Setup<'a> {
    /// Nothing verified, no join points, two uploads at once.
    pub fn new(
        settings: &'a selection::Settings,
        state: &'a ArchiveState,
        stream: &'a str,
        deadline: Instant,
    ) -> Self {
        Setup {
            settings,
            state,
            stream,
            verified: HashSet::new(),
            joined: HashMap::new(),
            trims: HashMap::new(),
            leads: HashMap::new(),
            head_held_by: HashMap::new(),
            blob_sizes: HashMap::new(),
            concurrency: 2,
            deadline,
        }
    }
}

/// A storage or file operation to perform; indexes are into the plan's `uploads` and
/// `deletions`.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Upload the file of `plan.uploads[upload]` to its blob with `metadata`, counting its
    /// frames on the way; answered by [`Event::Uploaded`] or [`Event::BlobExists`]. The shell
    /// first checks that the file is as listed ([`Event::Changed`] otherwise). With `locate`
    /// (audio frames `first..end`, where the blob holds more than it plays), the shell also
    /// finds their byte offsets in that pass and adds them to the blob's metadata
    /// ([`Counted::bytes`]).
    Upload {
        upload: usize,
        metadata: BTreeMap<String, String>,
        mode: PutMode,
        locate: Option<(u64, u64)>,
        /// A frame-exact blob, the shell adding what it built to `metadata`
        /// ([`Counted::exact`]). Where the shell cannot build it, the blob is the recording's
        /// bytes.
        exact: Option<Exact>,
    },
    /// Write the upload's row: insert it, or replace the shorter copy's row when `replace`;
    /// answered by [`Event::RowWritten`] or [`Event::RowExists`].
    WriteRow {
        upload: usize,
        row: SegmentRow,
        replace: bool,
    },
    /// Read the properties of `blob`, the archived segment `file`'s; answered by
    /// [`Event::Found`].
    LookUp { file: String, blob: String },
    /// Insert the gone row remembering `plan.deletions[deletion]`; answered by
    /// [`Event::GoneWritten`]. The shell first checks the file is as listed.
    WriteGone { deletion: usize, row: SegmentRow },
    /// Delete the local file of `plan.deletions[deletion]`; answered by [`Event::Deleted`].
    /// The shell first checks the file is as listed.
    DeleteFile { deletion: usize },
}

/// How a frame-exact blob starts: after a generated Xing/Info + LAME header, a few frames
/// that only warm the decoder up (declared as encoder delay), then the audio it plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exact {
    /// Cut at the recording's frame (its in-point): the audio before it is held by another
    /// blob; the warm-up frames are the recording's own frames before it.
    Cut(u64),
    /// The whole recording; the warm-up frames are the last frames of the file it continues.
    Lead(Lead),
}

/// Which operation an event answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// [`Operation::Upload`].
    Upload(usize),
    /// [`Operation::WriteRow`].
    Row(usize),
    /// [`Operation::LookUp`] of this file.
    LookUp(String),
    /// [`Operation::WriteGone`].
    Gone(usize),
    /// [`Operation::DeleteFile`].
    Delete(usize),
}

impl Operation {
    /// The step this operation is, as events name it.
    pub fn step(&self) -> Step {
        match self {
            Operation::Upload { upload, .. } => Step::Upload(*upload),
            Operation::WriteRow { upload, .. } => Step::Row(*upload),
            Operation::LookUp { file, .. } => Step::LookUp(file.clone()),
            Operation::WriteGone { deletion, .. } => Step::Gone(*deletion),
            Operation::DeleteFile { deletion } => Step::Delete(*deletion),
        }
    }
}

/// What counting the frames while uploading found, and the dead air measured in the
/// same pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    pub frames: u64,
    pub duration: Duration,
    /// It ends mid-frame or its header lies: its writer was killed.
    pub truncated: bool,
    /// Where the frames [`Operation::Upload`] asked to locate lie (`in_byte..out_byte`), when
    /// found and recorded in the blob's metadata.
    pub bytes: Option<(u64, u64)>,
    /// Spans of silence longer than `SILENCE_SECONDS`, in seconds into the recording.
    pub silences: Vec<Silence>,
    /// What the frame-exact blob holds, where [`Operation::Upload`] asked for one and the
    /// shell built it.
    pub exact: Option<FrameExact>,
}

/// A frame-exact blob as the shell built it: a generated Xing/Info + LAME header frame, then
/// bytes `source` of the recording, which hold its frames from `first_frame` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameExact {
    /// The recording's frame the blob's audio starts with: the in-point less `warm_up`.
    pub first_frame: u64,
    /// Frames before the in-point, declared as encoder delay: the decoder's warm-up.
    pub warm_up: u64,
    /// How many of them are the last frames of the file the recording continues (`lead`,
    /// [`Exact::Lead`]) rather than its own; `first_frame` is then 0.
    pub lead: u64,
    /// The recording's bytes after the header, and their MD5.
    pub source: (u64, u64),
    pub source_md5: [u8; 16],
    /// The blob's size: the header's bytes and the source's.
    pub blob_size: u64,
    /// The bytes of the blob that hold the frames played (the row's `in_byte..out_byte`).
    pub played: (u64, u64),
}

impl Counted {
    /// The facts the executor compares with the plan's, and the dead air found.
    pub fn of(facts: &mp3count::Mp3Facts, dead_air: &deadair::Report) -> Self {
        Counted {
            frames: facts.frames,
            duration: facts.duration(),
            truncated: !facts.clean_end || facts.header_mismatch,
            bytes: None,
            exact: None,
            silences: dead_air
                .spans
                .iter()
                .map(|s| Silence {
                    start_s: s.start_s,
                    end_s: s.end_s,
                })
                .collect(),
        }
    }
}

/// The outcome of an [`Operation`].
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The blob was written with these bytes, whose frames were counted.
    Uploaded {
        upload: usize,
        size: u64,
        md5: [u8; 16],
        counted: Counted,
    },
    /// A create-only upload found a blob already there (an earlier run stopped before its
    /// row): its size and MD5, and the local file's MD5 and dead air, measured in one read
    /// (so that its row records what an uninterrupted run's would).
    BlobExists {
        upload: usize,
        size: u64,
        md5: Option<[u8; 16]>,
        local_md5: [u8; 16],
        silences: Vec<Silence>,
        /// For a frame-exact blob: what it must hold (`local_md5` is then the MD5 of that
        /// blob, header and source bytes, as built from the local file).
        exact: Option<FrameExact>,
    },
    /// The row is written.
    RowWritten { upload: usize },
    /// A row with the same RowKey was there already.
    RowExists { upload: usize, row: Box<SegmentRow> },
    /// What a lookup found (`None`: no such blob).
    Found {
        file: String,
        blob: Option<BlobInfo>,
    },
    /// The gone row is written (or was there).
    GoneWritten { deletion: usize },
    /// The local file is deleted.
    Deleted { deletion: usize },
    /// The local file is not as listed: left for the next run, not an error.
    Changed { step: Step },
    /// A dry run: the deletion was only reported.
    Skipped { deletion: usize },
    /// The operation failed, or timed out with its effect unknown; `error` names the input.
    Failed { step: Step, error: String },
}

/// Totals of a run's execution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Uploads confirmed (blob and row written with the planned frames).
    pub archived: usize,
    /// Their bytes.
    pub bytes: u64,
    pub deleted: usize,
    /// Operations that failed (lookups excepted: an unconfirmed segment only keeps a file).
    pub errors: usize,
    /// Files whose archived copy is confirmed in this run.
    pub confirmed: HashSet<String>,
    /// Spans of dead air found in this run's uploads.
    pub silences: usize,
    /// Their length, milliseconds.
    pub silence_ms: u64,
    /// Uploads left for the next run because the deadline had passed when they would start.
    pub deadline_left: usize,
    /// Deleted files that held audio (their days' manifests change).
    pub deleted_audio: Vec<String>,
}
