//! The day manifest's format: what `_days/YYYY-MM-DD.json` holds. [`super::build`] fills it
//! in from the rows; the playlist, the pages and `export` read it. The types live apart from
//! the code that builds and writes them so a reader of a manifest depends on the format only.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::joins::Points;

#[derive(Debug, Serialize)]
/// One day of the archive: what `_days/YYYY-MM-DD.json` holds.
pub struct DayManifest {
    /// The stream (`STREAM_NAME`): the container and the table partition.
    pub stream: String,
    /// The day, `YYYY-MM-DD`, as the file names count days (in `TIME_ZONE`).
    pub day: String,
    /// The day's archived segments in time order, each joined to the ones before it.
    pub segments: Vec<DaySegment>,
    /// Spans no replica recorded.
    pub gaps: Vec<DayGap>,
    /// Seconds of audio the day plays: its segments from in-point to out-point.
    pub archived_seconds: f64,
    /// Dead air in what the day plays: spans of silence longer than `SILENCE_SECONDS`.
    pub silences: Vec<DaySilence>,
}

#[derive(Debug, Serialize)]
/// One archived segment of the day and where it plays.
pub struct DaySegment {
    /// The blob that holds its audio.
    pub blob: String,
    /// The recording's file name (`<pod>_<time>.mp3`).
    pub file: String,
    /// The replica that recorded it.
    pub pod: String,
    /// Where its audio starts.
    pub start: DateTime<Utc>,
    /// Its audio's length, in seconds.
    pub duration_s: f64,
    /// Its counted frames, where known (not for the original job's rows).
    pub frames: Option<u64>,
    /// Where to start playing this blob so that nothing earlier segments hold is heard
    /// twice (seconds into the blob), and where to stop (its duration). With a frame count,
    /// the in-point is the frame boundary nearest the join (at most half a frame off).
    pub in_s: f64,
    /// Where to stop playing it, in seconds into the recording.
    pub out_s: f64,
    /// The same as frame indexes: play frames `in_frame..out_frame`.
    pub in_frame: Option<u64>,
    /// The out-point as a frame index: play up to, not including, this frame.
    pub out_frame: Option<u64>,
    /// The same as byte offsets in the blob (an HLS byte range), where the blob holds more
    /// than it plays and the offsets are known; `None`: play the blob whole.
    pub in_byte: Option<u64>,
    /// The end of the byte range (exclusive), with `in_byte`.
    pub out_byte: Option<u64>,
    /// Spans of silence in the blob, as its row records them.
    pub silences: Vec<Silence>,
    /// For a frame-exact blob (a generated header, then its recording from this frame on):
    /// the recording's frame its first audio frame is. Frame indexes above are the
    /// recording's; the byte offsets are the blob's. `None`: the blob is the recording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob_first_frame: Option<u64>,
    /// Frames of the file this recording continues that the blob holds before the
    /// recording's frame 0, for the decoder to warm up: the blob's frame `k` is the
    /// recording's `blob_first_frame + k - lead_frames`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_frames: Option<u64>,
    /// Where in the recording a frame-exact blob's audio starts, in seconds: what a gapless
    /// player plays at 0 (the header declares the frames before as encoder delay). A player
    /// of the blob starts at `in_s - blob_plays_from_s`. `None`: the blob is the recording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob_plays_from_s: Option<f64>,
}

/// A span of silence within one blob, in seconds into it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Silence {
    /// Where the silence starts, in seconds into the blob.
    pub start_s: f64,
    /// Where it ends.
    pub end_s: f64,
}

/// Dead air on the day's timeline: a span of silence in the audio the day plays.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaySilence {
    /// Where the silence starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// Its length in seconds.
    pub seconds: f64,
    /// The replica whose audio the day plays there.
    pub pod: String,
    /// The recording it is in.
    pub file: String,
}

#[derive(Debug, Serialize, PartialEq)]
/// A span of the day that no replica recorded.
pub struct DayGap {
    /// Where the gap starts: the end of the audio before it.
    pub start: DateTime<Utc>,
    /// Where audio resumes.
    pub end: DateTime<Utc>,
    /// Its length in seconds.
    pub seconds: f64,
    /// The pod whose audio ends where the gap starts, and the one whose audio resumes.
    pub after: String,
    /// The pod whose audio resumes after the gap.
    pub before: String,
    /// The pods down during the gap: every pod the day's manifest holds audio from, and the
    /// pod the gap follows (which may be the previous day's). None of them recorded this span.
    /// Filled in by [`super::build`], which sees the whole day.
    pub pods_down: Vec<String>,
}

impl DaySegment {
    /// Where the manifest plays this segment.
    pub fn points(&self) -> Points {
        Points {
            in_s: self.in_s,
            out_s: self.out_s,
            in_frame: self.in_frame,
            out_frame: self.out_frame,
        }
    }
}
