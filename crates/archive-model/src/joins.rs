//! Join points: where to start and stop playing each archived segment so that the archive
//! plays once, in order, without repeat. Pure: computed from segments placed on the stream's
//! timeline ([`Placed`]), whether they come from table rows (the day manifests) or from a
//! plan's uploads (the points a new row and blob carry from the start).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// Neighbouring segments further apart than this leave a gap worth reporting (names place
/// audio within ±0.75 s).
pub const MIN_GAP_MS: i64 = 1_500;

/// One segment placed on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// The recording's file name.
    pub file: String,
    /// The blob that holds its audio.
    pub blob: String,
    /// The replica that recorded it.
    pub pod: String,
    /// The day its name falls on, as the blob folders count days.
    pub day: NaiveDate,
    /// Where its audio starts.
    pub start: DateTime<Utc>,
    /// Its audio's length, to the microsecond.
    pub duration_us: i64,
    /// Its counted frames, where known.
    pub frames: Option<u64>,
    /// For a frame-exact blob: the recording's frame its blob starts with (negative where it
    /// starts with frames of the file its recording continues: [`crate::rows::blob_frame_offset`]),
    /// and the first frame it can play (after the warm-up frames). Frame indexes are the
    /// recording's.
    pub frame_exact: Option<(i64, u64)>,
}

impl Placed {
    /// How far into the segment its frame `frame` starts (zero without a frame count).
    pub fn frame_time(&self, frame: u64) -> TimeDelta {
        match self.frames.filter(|&f| f > 0) {
            Some(frames) => {
                TimeDelta::microseconds((self.duration_us as u64 * frame / frames) as i64)
            }
            None => TimeDelta::zero(),
        }
    }
}

/// Where to play a segment: seconds into it, and the same as frame indexes (play frames
/// `in_frame..out_frame`). With a frame count, the in-point is the frame boundary nearest the
/// join (at most half a frame off).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Points {
    /// Where to start playing, in seconds into the segment.
    pub in_s: f64,
    /// Where to stop playing.
    pub out_s: f64,
    /// The in-point as a frame index, where the frames are counted.
    pub in_frame: Option<u64>,
    /// The out-point as a frame index (exclusive).
    pub out_frame: Option<u64>,
}

/// A span nobody recorded, just before a segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    /// Where the gap starts: the end of the audio before it.
    pub start: DateTime<Utc>,
    /// Where audio resumes.
    pub end: DateTime<Utc>,
    /// The pod whose audio ends where the gap starts, and the one whose audio resumes.
    pub after: String,
    /// The pod whose audio resumes.
    pub before: String,
}

/// One segment in time order, joined to everything before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    /// The segment, placed.
    pub placed: Placed,
    /// Where it plays.
    pub points: Points,
    /// The span no replica recorded just before it, if any.
    pub gap_before: Option<Gap>,
    /// Milliseconds of audio it adds to what the segments before it play.
    pub new_ms: i64,
    /// The segment whose audio reaches furthest before this one starts (the one its
    /// in-point joins, where they overlap).
    pub after: Option<String>,
}

/// Every segment in time order (then by file name), with the points that join it without
/// repeat to the segments before it: the in-point skips what they already play, the
/// out-point is the segment's end.
///
/// ```
/// use archive_model::joins::{joins, Placed};
/// let t0: chrono::DateTime<chrono::Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
/// let placed = |file: &str, after_ms| Placed {
///     file: file.into(),
///     blob: format!("26-11-2026/{file}"),
///     pod: file[..1].into(),
///     day: t0.date_naive(),
///     start: t0 + chrono::TimeDelta::milliseconds(after_ms),
///     duration_us: 10_000_000,
///     frames: None,
///     frame_exact: None,
/// };
/// let j = joins(vec![placed("b.mp3", 7_500), placed("a.mp3", 0)]);
/// assert_eq!((j[0].placed.file.as_str(), j[1].points.in_s), ("a.mp3", 2.5));
/// assert_eq!(j[1].new_ms, 7_500);
/// ```
pub fn joins(mut placed: Vec<Placed>) -> Vec<Join> {
    placed.sort_by(|a, b| (a.start, &a.file).cmp(&(b.start, &b.file)));
    let mut out = Vec::with_capacity(placed.len());
    // The end of the audio so far, the pod and the file that reach it.
    let mut reach: Option<(DateTime<Utc>, String, String)> = None;
    for p in placed {
        let duration_s = p.duration_us as f64 / 1e6;
        // A frame-exact blob plays nothing before its first frame after the warm-up.
        let playable = p.frame_exact.map_or(0, |(_, from)| from);
        let frame_s = p.frames.filter(|&f| f > 0).map(|f| duration_s / f as f64);
        let held_s = frame_s.map_or(0.0, |f| playable as f64 * f);
        let mut points = Points {
            in_s: held_s,
            out_s: duration_s,
            in_frame: p.frames.map(|_| playable),
            out_frame: p.frames,
        };
        let end = p.start + TimeDelta::microseconds((duration_s * 1e6) as i64);
        let mut gap_before = None;
        let new_ms = match &reach {
            Some((r, pod, _)) if (p.start - *r).num_milliseconds() > MIN_GAP_MS => {
                gap_before = Some(Gap {
                    start: *r,
                    end: p.start,
                    after: pod.clone(),
                    before: p.pod.clone(),
                });
                (end - p.start).num_milliseconds()
            }
            Some((r, _, _)) => {
                let overlap_s = (*r - p.start).num_microseconds().unwrap_or(0) as f64 / 1e6;
                points.in_s = overlap_s.clamp(held_s, duration_s.max(held_s));
                if let (Some(frames), Some(frame_s)) = (p.frames, frame_s) {
                    let in_frame = ((points.in_s / frame_s).round() as u64)
                        .max(playable)
                        .min(frames);
                    points.in_frame = Some(in_frame);
                    points.in_s = in_frame as f64 * frame_s;
                }
                (end - p.start.max(*r)).num_milliseconds().max(0)
            }
            None => (end - p.start).num_milliseconds(),
        };
        let after = reach.as_ref().map(|(_, _, file)| file.clone());
        if reach.as_ref().is_none_or(|(r, _, _)| end > *r) {
            reach = Some((end, p.pod.clone(), p.file.clone()));
        }
        out.push(Join {
            placed: p,
            points,
            gap_before,
            new_ms,
            after,
        });
    }
    out
}
