//! Who held each moment: how many replicas held the audio the archive plays there, from the
//! archive's own evidence. The day picture's band (`report`) and the exporter's
//! `segment_selector_redundant_seconds_last_hour` both count with [`held_by`], so they agree.
//!
//! **Key decision: "held" means held the same audio.** Two replicas that both record are
//! redundant only while they record the same thing (issue 31). The archive knows a replica
//! held the same audio as what it keeps from the evidence a deletion rests on:
//!
//! - a **gone row** (`<partition>~gone`): the file was deleted because archived audio holds
//!   it ([`Evidence::Same`]);
//! - a frame-exact blob's **head left out** (`head_held_by`): the frames before the blob's
//!   first playable frame are the named segment's audio, shown by a comparison
//!   ([`Evidence::Same`]);
//! - an **archived recording** holds audio of its own ([`Evidence::Kept`]). Where two pods'
//!   kept recordings overlap, the archive kept both because nothing showed them the same: the
//!   replicas disagree there (or were never compared). Such a moment counts **once**, and
//!   [`HeldSpan::kept_apart`] names the pods.
//!
//! A recording still in the folder ([`Evidence::Pending`]) has not been judged yet: it counts
//! as held, as the exporter counts the recorders' newest files.
//!
//! ```
//! use archive_model::held::{held_by, Evidence, Holding};
//! let t = |s: &str| -> chrono::DateTime<chrono::Utc> { format!("2026-12-07T{s}Z").parse().unwrap() };
//! let h = |pod: &str, a, b, evidence| Holding { pod: pod.into(), file: String::new(), start: t(a), end: t(b), evidence };
//! let spans = held_by(
//!     &[
//!         h("a", "10:00:00", "10:10:00", Evidence::Kept),
//!         h("b", "10:00:00", "10:05:00", Evidence::Same),  // deleted as a duplicate
//!         h("b", "10:05:00", "10:10:00", Evidence::Kept),  // kept: not shown the same
//!     ],
//!     t("10:00:00"),
//!     t("10:10:00"),
//! );
//! assert_eq!((spans[0].count(), spans[0].disagree()), (2, false));
//! assert_eq!((spans[1].count(), spans[1].disagree()), (1, true));
//! ```

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};

use crate::SegmentRow;

/// What the archive knows of the audio a pod held over a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Evidence {
    /// Archived: a blob holds this recording's audio.
    Kept,
    /// Deleted, or left out of a blob, on evidence that archived audio holds it: a gone row,
    /// or the head a frame-exact blob leaves out (`head_held_by`).
    Same,
    /// In the folder, not yet judged by the job: counted as held.
    Pending,
}

/// Audio one pod held from `start` to `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// The replica.
    pub pod: String,
    /// The recording (its file name).
    pub file: String,
    /// Where the audio starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// What the archive knows of it.
    pub evidence: Evidence,
}

/// A piece of the timeline over which the same pods held audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSpan {
    /// Where the piece starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// Pods that held the audio the archive holds here, each counted: a pod with the only
    /// kept recording, pods whose copy was deleted or cut as the same, pods not yet judged.
    pub holders: Vec<String>,
    /// Pods whose kept recordings overlap here (two or more): the archive holds each, as
    /// nothing showed them the same. Together they count once.
    pub kept_apart: Vec<String>,
}

impl HeldSpan {
    /// How many replicas held the same audio here.
    pub fn count(&self) -> usize {
        self.holders.len() + usize::from(!self.kept_apart.is_empty())
    }

    /// Whether replicas' kept recordings overlap here without evidence that they agree.
    pub fn disagree(&self) -> bool {
        !self.kept_apart.is_empty()
    }

    /// Its length in seconds.
    pub fn seconds(&self) -> f64 {
        (self.end - self.start).num_milliseconds() as f64 / 1000.0
    }
}

/// The moments of `from..to` cut where who held them changes, each with the pods that held
/// it ([`HeldSpan`]). Pieces nobody held are listed too (count 0), so the pieces cover
/// `from..to`; neighbours with the same holders are merged. A pod's overlapping spans count
/// once; a pod with a kept span there is kept, whatever else it holds.
pub fn held_by(holdings: &[Holding], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<HeldSpan> {
    if to <= from {
        return Vec::new();
    }
    let holdings = &closed(holdings);
    let mut cuts: BTreeSet<DateTime<Utc>> = BTreeSet::from([from, to]);
    for h in holdings {
        for t in [h.start, h.end] {
            if from < t && t < to {
                cuts.insert(t);
            }
        }
    }
    let cuts: Vec<DateTime<Utc>> = cuts.into_iter().collect();
    let mut out: Vec<HeldSpan> = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let here = holdings.iter().filter(|h| h.start <= a && b <= h.end);
        let mut kept = BTreeSet::new();
        let mut others = BTreeSet::new();
        for h in here {
            match h.evidence {
                Evidence::Kept => kept.insert(h.pod.as_str()),
                Evidence::Same | Evidence::Pending => others.insert(h.pod.as_str()),
            };
        }
        let mut holders: BTreeSet<&str> = others.difference(&kept).copied().collect();
        let kept_apart: Vec<String> = if kept.len() >= 2 {
            kept.iter().map(|p| p.to_string()).collect()
        } else {
            holders.extend(kept);
            Vec::new()
        };
        let holders: Vec<String> = holders.into_iter().map(str::to_owned).collect();
        match out.last_mut() {
            Some(last)
                if last.end == a && last.holders == holders && last.kept_apart == kept_apart =>
            {
                last.end = b
            }
            _ => out.push(HeldSpan {
                start: a,
                end: b,
                holders,
                kept_apart,
            }),
        }
    }
    out
}

/// Rows place audio to the millisecond and measure it to the microsecond: one pod's
/// consecutive recordings may seem to leave a fraction of a millisecond between them.
pub const SLACK: TimeDelta = TimeDelta::milliseconds(2);

/// `holdings` with each span that ends at most [`SLACK`] before another of its pod's starts
/// reaching that start.
fn closed(holdings: &[Holding]) -> Vec<Holding> {
    let mut out = holdings.to_vec();
    for h in &mut out {
        let next = holdings
            .iter()
            .filter(|o| o.pod == h.pod && o.start > h.end && o.start - h.end <= SLACK)
            .map(|o| o.start)
            .min();
        if let Some(next) = next {
            h.end = next;
        }
    }
    out
}

/// Seconds of `from..to` that at least `replicas` replicas held the same audio.
pub fn seconds_held_by_at_least(
    holdings: &[Holding],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    replicas: usize,
) -> f64 {
    held_by(holdings, from, to)
        .iter()
        .filter(|s| s.count() >= replicas)
        .map(HeldSpan::seconds)
        .sum()
}

/// What the table's rows say each pod held: `archived`, the stream's partition (ours and the
/// original job's rows), and `gone`, its `~gone` partition. A row's audio starts where it
/// recorded it (else at its name's time) and lasts its duration (else `segment_time`, for
/// the original job's rows); rows whose name is no segment name, or that hold no audio, are
/// left out.
pub fn holdings(
    archived: &[SegmentRow],
    gone: &[SegmentRow],
    settings: &selection::Settings,
) -> Vec<Holding> {
    let mut out = Vec::new();
    for (row, evidence) in archived
        .iter()
        .map(|r| (r, Evidence::Kept))
        .chain(gone.iter().map(|r| (r, Evidence::Same)))
    {
        let Some((pod, start, end)) = row_span(row, settings) else {
            continue;
        };
        let holding = |start, end, evidence| Holding {
            pod: pod.clone(),
            file: row.file_name.clone(),
            start,
            end,
            evidence,
        };
        // A frame-exact blob whose head a comparison showed another segment holds: the head
        // is the same audio, the rest is kept.
        let head = (evidence == Evidence::Kept && row.head_held_by.is_some())
            .then(|| head_end(row, start, end))
            .flatten();
        match head {
            Some(cut) if cut > start => {
                out.push(holding(start, cut, Evidence::Same));
                if cut < end {
                    out.push(holding(cut, end, Evidence::Kept));
                }
            }
            _ => out.push(holding(start, end, evidence)),
        }
    }
    out
}

/// A row's pod and audio span; `None` for a row with no segment name or no audio.
fn row_span(
    row: &SegmentRow,
    settings: &selection::Settings,
) -> Option<(String, DateTime<Utc>, DateTime<Utc>)> {
    let name = selection::parse_name(&row.file_name, settings, None).ok()?;
    let duration = match (row.duration_us, row.duration_ms) {
        (Some(us), _) => TimeDelta::microseconds(us),
        (None, Some(ms)) => TimeDelta::milliseconds(ms),
        _ => TimeDelta::from_std(settings.segment_time).ok()?,
    };
    let start = row
        .audio_start_ms
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(name.start);
    let pod = row.pod.clone().unwrap_or(name.pod);
    (duration > TimeDelta::zero()).then(|| (pod, start, start + duration))
}

/// Where a frame-exact blob's audio starts on the timeline: its first playable frame (after
/// the warm-up frames), else its in-point.
fn head_end(row: &SegmentRow, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let length = end - start;
    let playable = row
        .blob_first_frame
        .map(|_| crate::rows::blob_frame_offset(row) + row.warm_up_frames.unwrap_or(0) as i64);
    match (playable, row.frames.filter(|&f| f > 0)) {
        (Some(frame), Some(frames)) => {
            let us = length.num_microseconds()? * frame.max(0) / frames as i64;
            Some(start + TimeDelta::microseconds(us))
        }
        _ => Some(start + TimeDelta::milliseconds(row.in_ms?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        format!("2026-12-07T{s}Z").parse().unwrap()
    }

    fn h(pod: &str, start: &str, end: &str, evidence: Evidence) -> Holding {
        Holding {
            pod: pod.into(),
            file: format!("{pod}_{start}.mp3"),
            start: t(start),
            end: t(end),
            evidence,
        }
    }

    fn counts(spans: &[HeldSpan]) -> Vec<(DateTime<Utc>, DateTime<Utc>, usize, bool)> {
        spans
            .iter()
            .map(|s| (s.start, s.end, s.count(), s.disagree()))
            .collect()
    }

    #[test]
    fn moments_are_counted_by_distinct_pods() {
        use Evidence::*;
        let spans = [
            h("a", "10:00:00", "10:10:00", Pending),
            h("a", "10:10:00", "10:20:00", Pending),
            // The same pod twice (a folder file and its gone row) counts once.
            h("a", "10:05:00", "10:06:00", Same),
            h("b", "10:02:00", "10:12:00", Pending),
        ];
        assert_eq!(
            counts(&held_by(&spans, t("09:59:00"), t("10:30:00"))),
            vec![
                (t("09:59:00"), t("10:00:00"), 0, false),
                (t("10:00:00"), t("10:02:00"), 1, false),
                (t("10:02:00"), t("10:12:00"), 2, false),
                (t("10:12:00"), t("10:20:00"), 1, false),
                (t("10:20:00"), t("10:30:00"), 0, false),
            ]
        );
        assert_eq!(
            seconds_held_by_at_least(&spans, t("09:59:00"), t("10:30:00"), 2),
            600.0
        );
        // Clipped to the window.
        assert_eq!(
            seconds_held_by_at_least(&spans, t("10:10:00"), t("11:10:00"), 2),
            120.0
        );
        assert_eq!(
            seconds_held_by_at_least(&[], t("10:00:00"), t("11:00:00"), 2),
            0.0
        );
        assert!(held_by(&spans, t("10:00:00"), t("10:00:00")).is_empty());
    }

    #[test]
    fn three_two_and_one_replicas_and_kept_recordings_that_overlap_count_once() {
        use Evidence::*;
        let spans = [
            // a is archived throughout; c's copy of the first 20 minutes was deleted as a
            // duplicate; b's copy of 10:00–10:30 too, then b's recording is kept beside a's.
            h("a", "10:00:00", "11:00:00", Kept),
            h("c", "10:00:00", "10:20:00", Same),
            h("b", "10:00:00", "10:30:00", Same),
            h("b", "10:30:00", "10:40:00", Kept),
        ];
        let got = held_by(&spans, t("10:00:00"), t("11:00:00"));
        assert_eq!(
            counts(&got),
            vec![
                (t("10:00:00"), t("10:20:00"), 3, false),
                (t("10:20:00"), t("10:30:00"), 2, false),
                (t("10:30:00"), t("10:40:00"), 1, true),
                (t("10:40:00"), t("11:00:00"), 1, false),
            ]
        );
        assert_eq!(got[0].holders, ["a", "b", "c"]);
        assert_eq!(got[2].kept_apart, ["a", "b"]);
        assert!(got[2].holders.is_empty());
        // A deleted copy beside two kept ones still counts: the kept pair once, plus it.
        let with_c = [spans.as_slice(), &[h("c", "10:30:00", "10:40:00", Same)]].concat();
        let got = held_by(&with_c, t("10:30:00"), t("10:40:00"));
        assert_eq!(counts(&got), vec![(t("10:30:00"), t("10:40:00"), 2, true)]);
        assert_eq!(
            seconds_held_by_at_least(&spans, t("10:00:00"), t("11:00:00"), 2),
            1800.0
        );
    }

    #[test]
    fn a_pods_recordings_a_millisecond_apart_join() {
        use Evidence::*;
        let mut first = h("a", "10:00:00", "10:00:10", Kept);
        first.end -= TimeDelta::microseconds(700);
        let spans = [
            first,
            h("a", "10:00:10", "10:00:20", Same),
            h("b", "10:00:00", "10:00:20", Same),
        ];
        assert_eq!(
            counts(&held_by(&spans, t("10:00:00"), t("10:00:20"))),
            vec![(t("10:00:00"), t("10:00:20"), 2, false)]
        );
    }

    fn row(file: &str, start: &str, seconds: i64) -> SegmentRow {
        SegmentRow {
            row_key: String::new(),
            file_name: file.into(),
            audio_start_ms: Some(t(start).timestamp_millis()),
            duration_us: Some(seconds * 1_000_000),
            ..SegmentRow::default()
        }
    }

    #[test]
    fn rows_hold_their_audio_and_a_cut_head_is_the_same_audio() {
        let settings = selection::Settings::new(10, "hope").unwrap();
        let mut cut = row("pod-b_20261207T100008.mp3", "10:00:08", 10);
        // A frame-exact blob of 100 frames from frame 20 (18 left out, 2 to warm up): its
        // first 2 s are pod-a's audio.
        (cut.frames, cut.blob_first_frame, cut.warm_up_frames) = (Some(100), Some(18), Some(2));
        cut.head_held_by = Some("pod-a_20261207T100000.mp3".into());
        let node = SegmentRow {
            duration_us: None,
            audio_start_ms: None,
            ..row("pod-c_20261207T100020.mp3", "10:00:20", 0)
        };
        let got = holdings(
            &[row("pod-a_20261207T100000.mp3", "10:00:00", 10), cut, node],
            &[
                row("pod-c_20261207T100000.mp3", "10:00:00", 10),
                row("pod-c_20261207T100010.mp3", "10:00:10", 0),
            ],
            &settings,
        );
        let seen: Vec<_> = got
            .iter()
            .map(|h| (h.pod.as_str(), h.start, h.end, h.evidence))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("pod-a", t("10:00:00"), t("10:00:10"), Evidence::Kept),
                ("pod-b", t("10:00:08"), t("10:00:10"), Evidence::Same),
                ("pod-b", t("10:00:10"), t("10:00:18"), Evidence::Kept),
                // The original job's row: its name's time and the segment time.
                ("pod-c", t("10:00:20"), t("10:00:30"), Evidence::Kept),
                ("pod-c", t("10:00:00"), t("10:00:10"), Evidence::Same),
            ]
        );
        let band = counts(&held_by(&got, t("10:00:00"), t("10:00:30")));
        assert_eq!(
            band,
            vec![
                (t("10:00:00"), t("10:00:08"), 2, false),
                (t("10:00:08"), t("10:00:10"), 3, false),
                (t("10:00:10"), t("10:00:18"), 1, false),
                (t("10:00:18"), t("10:00:20"), 0, false),
                (t("10:00:20"), t("10:00:30"), 1, false),
            ]
        );
    }
}
