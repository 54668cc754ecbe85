//! The planner's output: decisions, each with the reason a person reads in the log.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{GoneSegment, Sighting};

/// What to do with one stream folder, in the order to do it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Files to archive, oldest audio first.
    pub uploads: Vec<Upload>,
    /// Files that may be deleted once everything in their `covered_by` is archived.
    pub deletions: Vec<Deletion>,
    /// Files to leave alone this time.
    pub holds: Vec<Hold>,
    /// Spans that no replica recorded, between audio that exists.
    pub gaps: Vec<Gap>,
    /// Archived or deleted segments this plan places elsewhere than the plan that recorded
    /// them: a content alignment measured since then moved their recording. Recording the new
    /// start keeps every segment of a day in one frame, so joins stay exact.
    pub restamps: Vec<Restamp>,
    /// The folder's files not yet known to be idle, as this run saw them. Kept with the
    /// archive in place of [`crate::ArchiveState::sightings`], they let a later run see that a
    /// file has stopped changing without comparing the node's clock with the share's.
    pub sightings: Vec<Sighting>,
    /// The alignment group of every archived segment and upload, named by its first file
    /// name. Segments of one group are placed exactly relative to each other (one recorder's
    /// consecutive files, recordings related by a content alignment): where one joins another
    /// of its group, the join is exact to a frame, so the later one's repeat of the earlier
    /// one's audio may be left out of its blob. Between groups only names place audio.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, String>,
    /// For an upload that continues its ffmpeg process's previous file (the file just before
    /// it in its chain), that file's name, where it is archived or uploaded by this plan. The
    /// upload's first frames lean on that file's last ones (the bit reservoir, the
    /// transform's overlap): a blob meant to play alone takes them from there.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub follows: BTreeMap<String, String>,
    /// Comparisons a deletion waits for: files this plan would delete because a recording of
    /// another chain of their alignment group holds their audio, where no [`crate::Comparison`]
    /// says yet that it is the same audio. The caller compares them and plans again with the
    /// verdicts ([`crate::plan_compared`]); until then each such file is held.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compare: Vec<CompareRequest>,
}

/// Compare `file`'s audio with `with`'s where the plan places them over each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompareRequest {
    /// The file the plan would delete (in the folder).
    pub file: String,
    /// A file of another recording of its group that holds part of its audio.
    pub with: String,
    /// Start of `with`'s audio minus start of `file`'s, as the group places them, ms.
    pub offset_ms: i64,
    /// Where the overlap starts, in `file`'s own time (ms from its first audio frame).
    pub from_ms: i64,
    /// Where it ends, in the same time.
    pub to_ms: i64,
}

/// A recorded audio start to correct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restamp {
    /// The segment's file name.
    pub file: String,
    /// Whether it is archived (its row is in the stream's partition) or was deleted without
    /// being archived (a gone row).
    pub archived: bool,
    /// Where this plan places its audio.
    pub audio_start: DateTime<Utc>,
}

/// Archive one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upload {
    /// The local file name.
    pub file: String,
    /// Where it goes in the container.
    pub blob_name: String,
    /// The replica that recorded it (empty for unprefixed names).
    pub pod: String,
    /// The name's time on the UTC axis, the segment's identity.
    pub name_time: DateTime<Utc>,
    /// Estimated start of its audio (earlier than the name for the first file after a
    /// connect, which begins with the server's burst of older audio).
    pub audio_start: DateTime<Utc>,
    /// Length of its counted frames.
    #[serde(serialize_with = "crate::seconds::serialize")]
    pub duration: Duration,
    /// Counted frames.
    pub frames: u64,
    /// Size in bytes when it was measured.
    pub size: u64,
    /// Its writer was killed while writing it; record it with the archived segment.
    pub truncated: bool,
    /// The archive holds an older, shorter copy of this file that must be replaced.
    pub replaces_archived: bool,
    /// Why it is archived, for the log.
    pub reason: String,
}

/// Delete one local file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deletion {
    /// The local file name.
    pub file: String,
    /// File names of the archived segments whose audio covers this file's. Empty only when
    /// the file holds no audio. The executor deletes only after every one of them is
    /// confirmed in the archive.
    pub covered_by: Vec<String>,
    /// Why it may go.
    pub why: DeleteReason,
    /// Record this in [`crate::ArchiveState::gone`] before deleting the file, so that later
    /// plans still know the file existed. `None` when the file is archived itself.
    pub remember: Option<GoneSegment>,
}

/// Why a file may go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DeleteReason {
    /// A finished file with no audio frames and zero bytes.
    NoAudio,
    /// The file itself is archived (now or by an earlier run).
    Archived,
    /// Other archived segments hold all of its audio.
    Duplicate,
}

/// Leave one file alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hold {
    /// The local file name.
    pub file: String,
    /// Why it stays.
    pub why: HoldReason,
}

/// Why a file is left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum HoldReason {
    /// Its pod may still be writing it.
    StillRecording,
    /// Another recording of its group holds its audio, but whether that recording holds the
    /// same audio has not been compared yet (files named in [`Plan::compare`]).
    Comparing(String),
    /// A newer file of its pod says it is finished, but the folder's view of it may be older
    /// than that newer file (the share's attribute cache): the size and bytes seen may be
    /// from before its last write. Finished once the newer file is older than the cache
    /// window by the share's clock, at the latest in the next run.
    StaleView,
    /// Another replica's file, still being written, will cover its audio.
    WaitingFor(String),
    /// The name does not follow the grammar; the text says what was expected.
    UnknownName(String),
    /// The name's time is later than now.
    FutureName,
    /// Reading it failed.
    Unreadable(String),
    /// Bytes but no MPEG audio frames: not a recording, left for a person.
    NoFrames,
    /// It was not measured although it is finished.
    NotMeasured,
    /// The blob name built for it is not acceptable.
    BadBlobName(String),
    /// Its name is also the name of an archived segment that means another instant: a
    /// recorder on local time names the hour repeated by a daylight-saving fall-back as it
    /// named the hour before. The archive keys segments by file name, so it is not archived
    /// under that name (and never taken for the archived one and deleted); left for an
    /// operator. The time is the archived segment's name start.
    NameReused(DateTime<Utc>),
}

/// A span of the stream's timeline that no replica recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    /// Where the missing audio starts.
    pub start: DateTime<Utc>,
    /// Where audio resumes.
    pub end: DateTime<Utc>,
    /// The file whose audio ends where the gap starts.
    pub after: String,
    /// The file whose audio starts where the gap ends.
    pub before: String,
}

impl fmt::Display for DeleteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeleteReason::NoAudio => "finished and holds no audio",
            DeleteReason::Archived => "its own bytes are archived",
            DeleteReason::Duplicate => "all of its audio is archived from other files",
        })
    }
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HoldReason::StillRecording => f.write_str("still being recorded"),
            HoldReason::Comparing(with) => write!(
                f,
                "{with} would stand in for it, but their audio has not been compared yet"
            ),
            HoldReason::StaleView => f.write_str(
                "a newer file of its pod has appeared, but the share may still show this one \
                 as it was before its last write (attribute cache); finished once the newer \
                 file is older than SHARE_CACHE_SECONDS",
            ),
            HoldReason::WaitingFor(other) => {
                write!(f, "waiting for {other}, still being recorded, to cover it")
            }
            HoldReason::UnknownName(why) => write!(f, "not a segment name: {why}"),
            HoldReason::FutureName => f.write_str("its name's time is in the future"),
            HoldReason::Unreadable(why) => write!(f, "unreadable: {why}"),
            HoldReason::NoFrames => {
                f.write_str("has bytes but no MPEG audio frames; left for an operator")
            }
            HoldReason::NotMeasured => f.write_str("finished but not measured"),
            HoldReason::BadBlobName(why) => write!(f, "cannot be named in the archive: {why}"),
            HoldReason::NameReused(at) => write!(
                f,
                "its name also names the segment archived from {} (the clocks went back and \
                 the recorder named this hour again); not the same audio, so neither archived \
                 under that name nor deleted; left for an operator (recorders that add %z, \
                 the UTC offset, to their file names and NAME_FORMAT never name an hour twice)",
                at.format("%Y-%m-%dT%H:%M:%SZ")
            ),
        }
    }
}

impl fmt::Display for Deletion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.why)?;
        if !self.covered_by.is_empty() && self.why == DeleteReason::Duplicate {
            write!(f, " ({})", self.covered_by.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.why)
    }
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = (self.end - self.start).num_milliseconds() as f64 / 1000.0;
        write!(
            f,
            "{:.1} s unrecorded from {} to {} (after {}, before {})",
            secs,
            self.start.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            self.end.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            self.after,
            self.before
        )
    }
}
