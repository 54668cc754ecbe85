//! What the job tells the planner: the folder as it looks now and what the archive holds.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One file seen in the stream folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeenFile {
    /// The file name, without folder.
    pub name: String,
    /// Size in bytes as listed.
    pub size: u64,
    /// Last modification time as listed.
    pub modified: DateTime<Utc>,
    /// What measuring its bytes found.
    pub audio: Audio,
}

/// What measuring the file's bytes found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Audio {
    /// Not read (for example a file still being written); enough for files that stay put.
    NotMeasured,
    /// Frames were counted.
    Measured(AudioFacts),
    /// Reading failed; the text says why. Such a file is never deleted.
    Unreadable(String),
}

/// Counted facts about a file's MP3 frames. Headers are not trusted: `frames` is what was
/// counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioFacts {
    /// Complete MPEG audio frames counted (header frames excluded).
    pub frames: u64,
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// 1152 for MPEG-1 Layer III, 576 for MPEG-2/2.5 Layer III.
    pub samples_per_frame: u32,
    /// The last frame is complete and nothing unexpected follows it.
    pub clean_end: bool,
    /// The frame count an Info/Xing/VBRI header claims, if there is one.
    pub header_frames: Option<u64>,
}

impl AudioFacts {
    /// Duration of the counted frames, rounded down to the millisecond.
    pub fn duration(&self) -> Duration {
        if self.sample_rate == 0 {
            return Duration::ZERO;
        }
        let samples = self
            .frames
            .saturating_mul(u64::from(self.samples_per_frame));
        let micros = u128::from(samples) * 1_000_000 / u128::from(self.sample_rate);
        Duration::from_micros(micros.min(u128::from(u64::MAX)) as u64)
    }

    /// A writer was killed mid-file: the frame stream ends mid-frame, or the header still
    /// holds ffmpeg's placeholder (or any count that differs from the frames present).
    pub fn truncated(&self) -> bool {
        !self.clean_end || self.header_frames.is_some_and(|h| h != self.frames)
    }
}

/// What the archive already holds, as far as it matters for this folder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArchiveState {
    /// Archived segments whose audio is near the folder's (any order).
    pub segments: Vec<ArchivedSegment>,
    /// Files deleted without being archived (duplicates, empty files), as recorded from
    /// [`crate::Deletion::remember`]. They hold no archived audio, but they keep each pod's
    /// chain of files whole, so later plans place the remaining files as this one did.
    #[serde(default)]
    pub gone: Vec<GoneSegment>,
    /// Content alignments measured by earlier runs. Kept with the archive, they place a
    /// recording whose aligned partner has left the folder as exactly as when both were here.
    #[serde(default)]
    pub alignments: Vec<Alignment>,
    /// Files earlier runs saw while they could still have been growing ([`crate::Plan::sightings`]).
    /// A file that has not changed since a sighting made at least `finish_grace` earlier by
    /// the node's own clock is finished, whatever that clock's offset from the share's.
    #[serde(default)]
    pub sightings: Vec<Sighting>,
}

/// A file as a run saw it while it could still have been growing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    /// The file name.
    pub file_name: String,
    /// Its size as listed then.
    pub size: u64,
    /// Its modification time as listed then (the share's clock).
    pub modified: DateTime<Utc>,
    /// The node's clock in the first run that saw the file with this size and modification
    /// time. Only differences of the node's clock with itself are taken from it, so a node
    /// clock that is off by a constant measures the time since correctly.
    pub since: DateTime<Utc>,
}

/// The clocks a plan is made with, each read once per run.
///
/// Modification times come from the share's clock, `node` from the clock of the node the job
/// runs on. No decision rests on either clock alone: a file counts as idle only when both say
/// it has not changed for `finish_grace`, or when the node's clock says so of a
/// [`Sighting`] (which needs no agreement between the clocks). A node clock that runs ahead
/// therefore never makes a file still being written look finished, and one that runs behind
/// only delays.
///
/// A plain time converts into a `Now` whose two clocks agree:
///
/// ```
/// # use chrono::{DateTime, Utc};
/// let t: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
/// assert_eq!(selection::Now::from(t).share, Some(t));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Now {
    /// The node's clock.
    pub node: DateTime<Utc>,
    /// The share's clock at the same moment (the modification time the share gives a file
    /// created then), when it could be read. Without it, the newest modification time among
    /// the stream's files stands in: the share's clock is at least that.
    pub share: Option<DateTime<Utc>>,
}

impl From<DateTime<Utc>> for Now {
    fn from(t: DateTime<Utc>) -> Self {
        Now {
            node: t,
            share: Some(t),
        }
    }
}

/// Two files whose audio was aligned by content: `b`'s audio starts `offset_ms` after `a`'s
/// (negative when before). It replaces what names say about the two files' chains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alignment {
    /// A file name (local or archived).
    pub a: String,
    /// Another file name, of another recording.
    pub b: String,
    /// Start of `b`'s audio minus start of `a`'s, in milliseconds.
    pub offset_ms: i64,
}

/// What comparing a file's audio with another recording's found, over the span where the plan
/// would let that recording stand in for it (issue 31). An alignment places two recordings;
/// only a comparison of the audio a deletion rests on shows that they still hold the same
/// audio there (a relay that falls back hours into a recording, a replica on another stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// The file the plan would delete ([`crate::CompareRequest::file`]).
    pub file: String,
    /// The file of another recording that would stand in for part of it.
    pub with: String,
    /// What the comparison found.
    pub verdict: Verdict,
}

/// The outcome of a [`Comparison`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// The same audio at the group's offset, at both ends of the overlap and at intervals
    /// inside it (or both sides silent throughout). Only this lets one side stand in for the
    /// other.
    Same,
    /// Both sides hold sound and do not align: different audio. Both are archived.
    Different,
    /// Too little to tell (a weak match, silence on one side, unreadable). Both are archived.
    Unknown,
}

/// A file deleted without being archived, remembered for the placement of its neighbours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoneSegment {
    /// The deleted file's name.
    pub file_name: String,
    /// Length of its counted frames (zero for an empty file).
    #[serde(with = "crate::seconds")]
    pub duration: Duration,
    /// Its writer was killed while writing it (always true for an empty file).
    pub truncated: bool,
    /// Where the plan that deleted it placed its audio ([`crate::Deletion::remember`]).
    #[serde(default)]
    pub audio_start: Option<DateTime<Utc>>,
    /// The instant its name means, as the plan that deleted it resolved it: a name in the hour
    /// a daylight-saving fall-back repeats means two instants, and later plans must take the
    /// same one. `None` for records that predate it; then `audio_start` decides, and without
    /// either the earlier instant is taken.
    #[serde(default)]
    pub name_start: Option<DateTime<Utc>>,
}

/// One archived segment, from a table row (ours, or the original Node job's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedSegment {
    /// The recorded file's name (the row's `fileName`).
    pub file_name: String,
    /// Where its bytes are; `None` for the Node job's rows, whose blob name follows the
    /// default template.
    pub blob_name: Option<String>,
    /// Size of the archived bytes; `None` for the Node job's rows.
    pub size: Option<u64>,
    /// Duration of the archived audio; `None` for the Node job's rows, which only archived
    /// full-length segments.
    #[serde(with = "crate::seconds::option")]
    pub duration: Option<Duration>,
    /// Its writer was killed while writing it ([`AudioFacts::truncated`]): the pod's next
    /// file starts a new recording.
    #[serde(default)]
    pub truncated: bool,
    /// Where the plan that archived it placed its audio ([`crate::Upload::audio_start`]);
    /// `None` for the Node job's rows. Later plans keep its recording in the same place, so
    /// that a join with audio archived in another run is placed in the same frame.
    #[serde(default)]
    pub audio_start: Option<DateTime<Utc>>,
    /// The instant its name means, as the run that archived it resolved it ([`crate::Upload::name_time`];
    /// for the Node job's rows, what their upload time and neighbours say). A name in the
    /// hour a daylight-saving fall-back repeats means two instants; this picks the one the
    /// folder's file meant. `None`: `audio_start` decides, and without either the earlier
    /// instant is taken.
    #[serde(default)]
    pub name_start: Option<DateTime<Utc>>,
}
