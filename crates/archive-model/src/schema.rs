//! The table row: the storage layout as a type, defined once. Every partition's rows have
//! this shape (segments, `~gone`, `~align`, `~seen`, `~run`); each kind fills in its own
//! fields. Fields are added, never renamed or removed: rows written by every earlier version,
//! and by the original Node.js job (`fileName` alone), must still read
//! (`tests/compat.rs`).

/// One archived segment as recorded in the table.
///
/// Rows written by the original Node.js job carry only `file_name`; every other field is
/// `None` for them. The serde form (camelCase names, as the table's properties) is the
/// local archive's table file.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SegmentRow {
    /// The RowKey: for a segment, the inverted name time and the pod (`rows::row_key`).
    pub row_key: String,
    /// Property `fileName`, the one the Node job reads.
    pub file_name: String,
    /// The blob holding the segment's audio (`DD-MM-YYYY/<file>`); `None` in the original job's rows, whose blob has the default name.
    pub blob_name: Option<String>,
    /// The replica that recorded it.
    pub pod: Option<String>,
    /// Estimated start of the audio, milliseconds since the Unix epoch.
    pub audio_start_ms: Option<i64>,
    /// The audio's length in milliseconds.
    pub duration_ms: Option<i64>,
    /// The recording's counted MPEG audio frames.
    pub frames: Option<u64>,
    /// The blob's size in bytes.
    pub size: Option<u64>,
    /// Base64 of the blob's MD5.
    pub content_md5: Option<String>,
    /// The recorded file ended mid-frame or with a lying header: its writer was killed.
    pub truncated: Option<bool>,
    /// `duration_ms` to the microsecond: placements add up durations over long chains.
    pub duration_us: Option<i64>,
    /// In an alignment row: the other file, whose audio starts `aligned_offset_ms` after
    /// this row's file's.
    pub aligned_with: Option<String>,
    /// In an alignment row: how far after this row's file's audio the other's starts.
    pub aligned_offset_ms: Option<i64>,
    /// Where to start and stop playing the blob so that it joins the segments before it
    /// without repeat ([`crate::joins::joins`]), as frame indexes and milliseconds.
    pub in_frame: Option<u64>,
    /// The in-point in milliseconds into the recording.
    pub in_ms: Option<i64>,
    /// The out-point as a frame index (exclusive).
    pub out_frame: Option<u64>,
    /// The out-point in milliseconds into the recording.
    pub out_ms: Option<i64>,
    /// The same points as byte offsets in the blob: frames `in_frame..out_frame` are bytes
    /// `in_byte..out_byte` (an HLS byte range). Only where the blob holds more than it plays
    /// (`in_frame > 0`, `out_frame < frames`, or a truncated recording: `rows::ranged`) and the
    /// offsets were found; otherwise the blob plays whole.
    pub in_byte: Option<u64>,
    /// The end of the byte range (exclusive), with `in_byte`.
    pub out_byte: Option<u64>,
    /// In the sightings row: the files not yet known to be idle, as JSON
    /// (as `rows::sightings_row` writes it).
    pub sightings: Option<String>,
    /// In the outcome row (`<stream>~run`): the last run and the counters, as JSON
    /// (as `outcome::run_row` writes it).
    pub run: Option<String>,
    /// Spans of silence in the recording longer than `SILENCE_SECONDS`, as JSON
    /// `[{"start_s":…,"end_s":…}]` in seconds into the recording (the blob, unless the blob
    /// is frame-exact); `None` where not measured.
    pub silences: Option<String>,
    /// How the blob was made: `"frame-exact"` (a generated Xing/Info + LAME header frame, then
    /// bytes `source_start..source_end` of the recording, which hold its frames from
    /// `blob_first_frame` on), or `None` (the recording's own bytes, as `ARCHIVE_MODE=original`
    /// and every earlier job wrote them). `size` and `content_md5` describe the blob either
    /// way; `frames`, the durations and the points the recording (whose size is then
    /// `source_end`).
    pub blob_mode: Option<String>,
    /// The recording's frame the blob's audio starts with: `in_frame` less the warm-up frames.
    pub blob_first_frame: Option<u64>,
    /// Frames before `in_frame` that the blob holds only so that a decoder warms up (bit
    /// reservoir, transform overlap): its header declares them as encoder delay.
    pub warm_up_frames: Option<u64>,
    /// The recording's bytes the blob holds after its header, and their MD5 (base64).
    pub source_start: Option<u64>,
    /// The end of those bytes (exclusive): the recording's size for a blob that holds it to its end.
    pub source_end: Option<u64>,
    /// The MD5 (base64) of the recording's bytes `source_start..source_end`.
    pub source_md5: Option<String>,
    /// The archived segment whose blob holds this recording's audio before `in_frame`,
    /// exactly (same alignment group): a frame-exact blob's deletion proof rests on it too.
    pub head_held_by: Option<String>,
    /// Frames of another recording the blob holds before the recording's own frame 0, for a
    /// decoder to warm up: the last frames of `lead_from`, the file of the same ffmpeg process
    /// that this one continues. They are warm-up frames (counted in `warm_up_frames`): the
    /// blob's frame `k` is the recording's frame `blob_first_frame + k - lead_frames`.
    pub lead_frames: Option<u64>,
    /// The file whose last frames lead the blob (`lead_frames`).
    pub lead_from: Option<String>,
}
