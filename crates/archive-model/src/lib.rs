//! What segment-selector's archive means, as functions of what it holds: no I/O, no clock, no
//! async runtime, no storage SDK. The job writes the archive with these rules; readers
//! (`ls`, `export`, `playlist`, the pages, or a tool of yours) place its segments with the very
//! same ones, from the table's rows alone.
//!
//! - [`SegmentRow`]: the table row, the storage layout as a type ([`schema`]), and [`rows`]:
//!   RowKeys, partitions, and rows to and from the `selection` core's types.
//! - [`joins`]: where each archived segment starts and stops playing so the archive plays
//!   once, in order.
//! - [`day`]: segments placed on the timeline from rows and planned uploads; the day manifest
//!   and its playlist; the frame-exact blob recipe (a [`day::Cut`] at an in-point, a
//!   [`day::Lead`] of the file a recording continues).
//! - [`held`]: who held each moment (how many replicas held the same audio), from archived
//!   and gone rows: what the day picture's band and the exporter's redundancy both count.
//! - [`proof`]: which blob proves an archived segment; [`blob`]: what the archive knows of a
//!   blob.
//! - [`executor`]: the executor's rules as a state machine (quinn-proto's shape): blob → row
//!   → gone row → delete, what counts as confirmed, what a failure blocks. The job's async
//!   shell performs the operations it asks for.
//!
//! **Key decision: placement is computed, never stored alone.** A row records a segment's
//! measured start, length and frames; where it plays from and to (its join with its
//! neighbours) is recomputed from the rows each time, so a reader that holds the rows plays
//! the archive exactly as the writer placed it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod blob;
pub mod day;
pub mod executor;
pub mod held;
pub mod joins;
pub mod proof;
pub mod rows;
pub mod schema;

pub use schema::SegmentRow;

/// How blobs are made from recordings: the `ARCHIVE_MODE` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveMode {
    /// `frame-exact`, the default: where a recording repeats audio that a blob of its
    /// alignment group already holds exactly, its blob leaves the repeat out: a generated
    /// header frame, the frames the decoder needs to warm up (declared as encoder delay), then
    /// the rest of the recording. Elsewhere the blob is the recording's bytes.
    FrameExact,
    /// `original`: every blob is the recording's bytes, as ffmpeg wrote them (for archives
    /// kept as evidence); the join points are metadata only.
    Original,
}
