//! The day manifest's dead air: each segment's spans as its row records them, and the parts
//! of them the day plays (inside the segment's in/out points) on the day's timeline.

use chrono::TimeDelta;

use super::{DaySegment, DaySilence, Silence};
use store::SegmentRow;

/// The spans a row records; none when it was not measured (the original job's rows, rows
/// written before dead air was measured) or its property is not the JSON we write.
pub(crate) fn of_row(row: &SegmentRow) -> Vec<Silence> {
    row.silences
        .as_deref()
        .and_then(|j| serde_json::from_str::<Vec<Silence>>(j).ok())
        .unwrap_or_default()
}

/// The parts of `seg`'s spans inside what the day plays of it, on the day's timeline.
pub(crate) fn on_timeline(seg: &DaySegment) -> Vec<DaySilence> {
    let at = |s: f64| seg.start + TimeDelta::milliseconds((s * 1000.0).round() as i64);
    seg.silences
        .iter()
        .filter_map(|s| {
            let start = s.start_s.max(seg.in_s);
            let end = s.end_s.min(seg.out_s);
            (end > start).then(|| DaySilence {
                start: at(start),
                end: at(end),
                seconds: ((end - start) * 1000.0).round() / 1000.0,
                pod: seg.pod.clone(),
                file: seg.file.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn segment(in_s: f64, out_s: f64, silences: Vec<Silence>) -> DaySegment {
        DaySegment {
            blob: "b".into(),
            file: "p_20261126T120000.mp3".into(),
            pod: "p".into(),
            start: "2026-11-26T12:00:00Z".parse().unwrap(),
            duration_s: 90.0,
            frames: None,
            in_s,
            out_s,
            in_frame: None,
            out_frame: None,
            in_byte: None,
            out_byte: None,
            silences,
            blob_first_frame: None,
            lead_frames: None,
            blob_plays_from_s: None,
        }
    }

    #[test]
    fn the_day_keeps_the_parts_it_plays() {
        let spans = vec![
            Silence {
                start_s: 2.0,
                end_s: 40.0,
            },
            Silence {
                start_s: 50.0,
                end_s: 85.5,
            },
        ];
        let day = on_timeline(&segment(10.0, 80.0, spans));
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(day.len(), 2);
        assert_eq!(
            (day[0].start, day[0].end, day[0].seconds),
            (t("2026-11-26T12:00:10Z"), t("2026-11-26T12:00:40Z"), 30.0)
        );
        assert_eq!(
            (day[1].end, day[1].seconds),
            (t("2026-11-26T12:01:20Z"), 30.0)
        );
        // A span wholly in what an earlier segment already plays is not the day's.
        let hidden = vec![Silence {
            start_s: 0.0,
            end_s: 9.0,
        }];
        assert!(on_timeline(&segment(10.0, 80.0, hidden)).is_empty());
    }

    #[test]
    fn rows_without_spans_or_with_other_json_have_none() {
        let mut row = SegmentRow::default();
        assert!(of_row(&row).is_empty());
        row.silences = Some("not json".into());
        assert!(of_row(&row).is_empty());
        row.silences = Some(r#"[{"start_s":1.5,"end_s":40}]"#.into());
        assert_eq!(
            of_row(&row),
            vec![Silence {
                start_s: 1.5,
                end_s: 40.0
            }]
        );
    }
}
