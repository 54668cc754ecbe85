//! `segment-selector export`: one MP3 of a time range from the archive, frame-exact across
//! segments, replica switches and midnight, with a Xing/Info + LAME header frame so that
//! gapless decoders (ffmpeg, mpg123) play exactly the range asked for.
//!
//! In three steps:
//! 1. [`plan`] (pure): the archive's rows placed and joined as the day manifests do
//!    ([`archive_model::day::placed_rows`], [`archive_model::joins::joins`]), so each blob plays from its
//!    in-point to its out-point; the frames of each blob that cover the range, the gaps no
//!    replica recorded, and how much of the first and last frame lies outside the range.
//! 2. [`read::index`]: each blob's frames walked in chunks of at most [`read::CHUNK`] bytes up
//!    to the last frame wanted, for the byte span of its frames; before the first frame wanted,
//!    the frames its bit reservoir and overlap lean on are taken too (the warm-up).
//! 3. [`read::write`]: the header frame, then those byte spans copied in the same chunks. The
//!    warm-up and the part of the first frame before `from` are declared as encoder delay, the
//!    part of the last frame after `to` as padding.
//!
//! The reading uses only a row's frames and in/out points, never how its blob was cut: a
//! whole-file blob (in-point inside it) and a frame-exact one (in-point 0) read alike.

pub mod read;

use chrono::{DateTime, TimeDelta, Utc};

use crate::settings::ReadSettings;
use archive_model::joins::{joins, Join, Placed, MIN_GAP_MS};
use archive_model::rows;
use store::ArchiveRead;

/// The frames one blob gives the export: the blob's audio frames `first_frame..end_frame`
/// (a frame-exact blob's frames are its recording's from the row's `blob_first_frame` on).
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub blob: String,
    pub file: String,
    pub pod: String,
    pub first_frame: u64,
    pub end_frame: u64,
    /// The frames the row says the blob holds.
    pub frames: u64,
    /// Seconds one frame lasts, from the row (duration ÷ frames).
    pub frame_s: f64,
    /// Where `first_frame` starts on the timeline.
    pub start: DateTime<Utc>,
}

impl Piece {
    /// Where the piece's last frame ends on the timeline.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + micros((self.end_frame - self.first_frame) as f64 * self.frame_s)
    }
}

/// A span inside the range that no archived segment plays.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportGap {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl ExportGap {
    /// The gap's length, to the microsecond.
    pub fn seconds(&self) -> f64 {
        seconds(self.end - self.start)
    }
}

/// What an export reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportPlan {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// In playing order.
    pub pieces: Vec<Piece>,
    pub gaps: Vec<ExportGap>,
    /// Seconds of the first piece's first frame before `from`, and of the last piece's last
    /// frame after `to`: cut by the header's delay and padding.
    pub head_s: f64,
    pub tail_s: f64,
    /// Segments left out because their rows have no frame count (the original Node job's).
    pub uncounted: Vec<String>,
}

fn micros(s: f64) -> TimeDelta {
    TimeDelta::microseconds((s * 1e6).round() as i64)
}

fn seconds(d: TimeDelta) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

/// The pieces and gaps of `from..to` from the archive's joined segments ([`archive_model::joins::joins`]
/// over every row near the range, in its order). Segments without a frame count cannot be cut
/// frame-exactly and are left out (their span shows as a gap unless another replica has it);
/// join them without those rows so that the other replica's copies play instead.
///
/// A gap is reported where no piece plays for longer than [`MIN_GAP_MS`] between two pieces
/// (the day manifests' threshold: two placements by name may be that far apart with no audio
/// missing), and for more than one frame at either end of the range. `Err` when nothing at all
/// is archived in the range.
///
/// ```
/// use job::export::plan;
/// use archive_model::joins::{joins, Placed};
/// let t0: chrono::DateTime<chrono::Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
/// let s = |ms| t0 + chrono::TimeDelta::milliseconds(ms);
/// let placed = |file: &str, after_ms| Placed {
///     file: file.into(),
///     blob: format!("26-11-2026/{file}"),
///     pod: file[..1].into(),
///     day: t0.date_naive(),
///     start: s(after_ms),
///     duration_us: 10_000_000,
///     frames: Some(400), // 25 ms each
///     frame_exact: None,
/// };
/// let joined = joins(vec![placed("a.mp3", 0), placed("b.mp3", 7_500)]);
/// let p = plan(&joined, s(5_010), s(12_000), &[]).unwrap();
/// // a.mp3 from the frame holding 5.010 s to its end; b.mp3 from its in-point (2.5 s, frame
/// // 100) to the frame ending at 12.000 s (4.5 s into it).
/// let spans: Vec<_> = p.pieces.iter().map(|p| (p.file.as_str(), p.first_frame, p.end_frame)).collect();
/// assert_eq!(spans, [("a.mp3", 200, 400), ("b.mp3", 100, 180)]);
/// assert!((p.head_s - 0.010).abs() < 1e-9 && p.tail_s.abs() < 1e-9 && p.gaps.is_empty());
/// ```
pub fn plan(
    joined: &[Join],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    uncounted: &[String],
) -> Result<ExportPlan, String> {
    if to <= from {
        return Err(format!("--to {to} is not after --from {from}"));
    }
    let mut pieces: Vec<Piece> = Vec::new();
    for j in joined {
        let p = &j.placed;
        let (Some(frames), Some(in_f), Some(out_f)) = (
            p.frames.filter(|&f| f > 0),
            j.points.in_frame,
            j.points.out_frame,
        ) else {
            continue;
        };
        let frame_s = p.duration_us as f64 / 1e6 / frames as f64;
        let at = |t: DateTime<Utc>| seconds(t - p.start) / frame_s;
        // A microsecond's slack, so that a range edge on a frame boundary takes no extra frame.
        let first = (at(from) + 1e-6).floor().max(in_f as f64) as u64;
        let end = ((at(to) - 1e-6).ceil().max(0.0) as u64).min(out_f);
        if first >= end || first >= frames {
            continue;
        }
        // A frame-exact blob's frame `k` is the recording's `k + offset`.
        let offset = p.frame_exact.map_or(0, |(offset, _)| offset);
        let in_blob = |frame: u64| (frame as i64 - offset).max(0) as u64;
        pieces.push(Piece {
            blob: p.blob.clone(),
            file: p.file.clone(),
            pod: p.pod.clone(),
            first_frame: in_blob(first),
            end_frame: in_blob(end),
            frames: in_blob(frames),
            frame_s,
            start: p.start + micros(first as f64 * frame_s),
        });
    }
    let (Some(first), Some(last)) = (pieces.first(), pieces.last()) else {
        return Err(format!(
            "nothing is archived from {from} to {to}{}",
            if uncounted.is_empty() {
                String::new()
            } else {
                format!(
                    " that can be cut by frames ({} segments of the original job have no frame count)",
                    uncounted.len()
                )
            }
        ));
    };
    let head_s = seconds(from - first.start).max(0.0);
    let tail_s = seconds(last.end() - to).max(0.0);
    let mut gaps = Vec::new();
    let mut reach = from;
    let edge = TimeDelta::microseconds((first.frame_s * 1e6) as i64);
    for (i, p) in pieces.iter().enumerate() {
        let threshold = if i == 0 {
            edge
        } else {
            TimeDelta::milliseconds(MIN_GAP_MS)
        };
        if p.start - reach > threshold {
            gaps.push(ExportGap {
                start: reach,
                end: p.start.min(to),
            });
        }
        reach = reach.max(p.end());
    }
    if to - reach > edge {
        gaps.push(ExportGap {
            start: reach,
            end: to,
        });
    }
    Ok(ExportPlan {
        from,
        to,
        head_s,
        tail_s,
        pieces,
        gaps,
        uncounted: uncounted.to_vec(),
    })
}

/// The plan of `from..to` from the stream's rows: those named up to a day around the range
/// (the original job's rows are keyed by upload time, as `ls` allows for), placed and joined
/// as the day manifests do.
///
/// With `pod`, only that replica's recordings, joined among themselves: where the replicas
/// recorded different audio both are archived, and the day's playback follows one of them;
/// this exports the other (issue 31). Its gaps are that replica's.
pub async fn plan_from_rows(
    archive: &dyn ArchiveRead,
    settings: &ReadSettings,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    pod: Option<&str>,
) -> Result<ExportPlan, crate::error::Error> {
    let margin = TimeDelta::days(1);
    let (lo, hi) = rows::key_range(from - margin, to + margin);
    let rows = archive.rows_in_range(&lo, &hi).await?;
    let (counted, uncounted): (Vec<Placed>, Vec<Placed>) =
        archive_model::day::placed_rows(&rows, &settings.selection)
            .into_iter()
            .filter(|p| pod.is_none_or(|pod| p.pod == pod))
            .partition(|p| p.frames.is_some_and(|f| f > 0));
    let uncounted: Vec<String> = uncounted
        .into_iter()
        .filter(|p| p.start < to && p.start + micros(p.duration_us as f64 / 1e6) > from)
        .map(|p| p.file)
        .collect();
    plan(&joins(counted), from, to, &uncounted).map_err(crate::error::Error::Export)
}

/// One line per gap, as `export` prints them to stderr: start and end in UTC and in `zone`,
/// and the seconds.
pub fn describe_gaps(gaps: &[ExportGap], zone: chrono_tz::Tz) -> String {
    let mut out = String::new();
    for g in gaps {
        out.push_str(&format!(
            "gap: {} .. {} ({} .. {} {zone}): {:.3} s not recorded by any replica\n",
            g.start.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            g.end.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            g.start.with_timezone(&zone).format("%H:%M:%S%.3f"),
            g.end.with_timezone(&zone).format("%H:%M:%S%.3f"),
            g.seconds()
        ));
    }
    out
}

#[cfg(test)]
mod tests;
