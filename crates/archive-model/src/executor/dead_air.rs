//! Dead air found while uploading: how a row records it and how it is logged.

use chrono::TimeDelta;
use selection::Upload;
use tracing::warn;

use crate::day::Silence;

/// The spans a detector reported, as rows and manifests keep them.
pub fn silences(report: &deadair::Report) -> Vec<Silence> {
    report
        .spans
        .iter()
        .map(|s| Silence {
            start_s: s.start_s,
            end_s: s.end_s,
        })
        .collect()
}

/// The row's `silences` property: `[{"start_s":…,"end_s":…}]`, to the millisecond.
pub(crate) fn to_json(spans: &[Silence]) -> String {
    let ms = |s: f64| (s * 1000.0).round() / 1000.0;
    let rounded: Vec<Silence> = spans
        .iter()
        .map(|s| Silence {
            start_s: ms(s.start_s),
            end_s: ms(s.end_s),
        })
        .collect();
    serde_json::to_string(&rounded).unwrap_or_else(|_| "[]".into())
}

/// One warning per span: the file, when the silence began (its audio start plus the
/// offset), and how long it lasted.
pub(crate) fn warn_each(u: &Upload, spans: &[Silence]) {
    for s in spans {
        let at = u.audio_start + TimeDelta::milliseconds((s.start_s * 1000.0).round() as i64);
        warn!(file = %u.file, start = %at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            offset_s = s.start_s, seconds = format!("{:.1}", s.end_s - s.start_s),
            decision = "dead air", "dead air: {:.1} s of silence from {} ({:.1} s into the file)",
            s.end_s - s.start_s, at.format("%H:%M:%S"), s.start_s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_record_spans_to_the_millisecond() {
        let spans = [Silence {
            start_s: 9.900_000_000_01,
            end_s: 49.800_4,
        }];
        assert_eq!(to_json(&spans), r#"[{"start_s":9.9,"end_s":49.8}]"#);
        assert_eq!(to_json(&[]), "[]");
    }
}
