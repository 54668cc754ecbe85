//! The file-name grammar: `<pod name>_<strftime start time>.mp3`, or just
//! `<strftime start time>.mp3` for the article's single local recorder.

use std::fmt;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};

use std::collections::HashMap;

use crate::{ArchiveState, Settings};

/// How far a name may be after its file's modification time (clock skew, rounding).
const MTIME_SLACK: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// What a file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentName {
    /// The pod (replica) that wrote it; empty for the local variant without a prefix.
    pub pod: String,
    /// The name's time as written (the recorder's wall clock).
    pub local: NaiveDateTime,
    /// The name's time on the UTC axis.
    pub start: DateTime<Utc>,
}

/// Why a name is not a segment name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    /// The name as given.
    pub name: String,
    /// What is wrong and what was expected.
    pub expected: String,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "file name {:?} {}", self.name, self.expected)
    }
}

impl std::error::Error for NameError {}

/// Parse a file name. `hint` (the file's modification time) picks the right instant when a
/// name falls in a repeated hour after a daylight-saving fall-back.
///
/// ```
/// let s = selection::Settings::new(600, "hope").unwrap();
/// let n = selection::parse_name("ffmpeg-7c9f-abcde_20261126T132143.mp3", &s, None).unwrap();
/// assert_eq!(n.pod, "ffmpeg-7c9f-abcde");
/// assert_eq!(n.start.to_rfc3339(), "2026-11-26T13:21:43+00:00");
/// ```
pub fn parse_name(
    name: &str,
    settings: &Settings,
    hint: Option<DateTime<Utc>>,
) -> Result<SegmentName, NameError> {
    // A file is modified after it is created: the later instant that is still not after the
    // modification time is the one ffmpeg meant. The name and the modification time come from
    // different clocks (the pod's, the file server's) and the name may be rounded: a minute of
    // slack, as for names in the future, still tells instants an hour apart for any segment
    // shorter than 59 minutes.
    parse(name, settings, |a, b| match hint {
        Some(m) if m.checked_add_signed(MTIME_SLACK).is_none_or(|m| b <= m) => b,
        _ => a,
    })
}

/// Parse the name of a segment an earlier run resolved: a name in a repeated hour means the
/// instant nearest `near` (the name start that run recorded, or the audio start it placed,
/// which lies within seconds of its name while the two readings are an hour apart). A name
/// that cannot be read, or names a skipped time, fails as in [`parse_name`].
///
/// ```
/// let mut s = selection::Settings::new(600, "hope").unwrap();
/// s.time_zone = chrono_tz::Tz::Europe__Madrid;
/// // 02:30 happens twice in Madrid on 2026-10-25: at 00:30 UTC (CEST) and 01:30 UTC (CET).
/// let near = "2026-10-25T01:30:04Z".parse().unwrap();
/// let n = selection::parse_name_near("p_20261025T023000.mp3", &s, near).unwrap();
/// assert_eq!(n.start.to_rfc3339(), "2026-10-25T01:30:00+00:00");
/// ```
pub fn parse_name_near(
    name: &str,
    settings: &Settings,
    near: DateTime<Utc>,
) -> Result<SegmentName, NameError> {
    parse(name, settings, |a, b| {
        if (b - near).abs() < (a - near).abs() {
            b
        } else {
            a
        }
    })
}

/// `pick` chooses between the two instants (earlier, later) of a name in a repeated hour.
fn parse(
    name: &str,
    settings: &Settings,
    pick: impl FnOnce(DateTime<Utc>, DateTime<Utc>) -> DateTime<Utc>,
) -> Result<SegmentName, NameError> {
    let fail = |expected: String| NameError {
        name: name.into(),
        expected,
    };
    let expected_shape = || {
        format!(
            "is not <pod>_{}.mp3 (pod names have no '_')",
            settings.name_format()
        )
    };
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(fail("has control characters or path separators".into()));
    }
    let Some(stem) = name.strip_suffix(".mp3") else {
        return Err(fail("does not end in .mp3".into()));
    };
    // The pod is everything before the '_' that starts the time stamp; the format itself may
    // contain '_', so count from the right.
    let underscores_in_format = settings.name_format().matches('_').count();
    let split = stem
        .rmatch_indices('_')
        .nth(underscores_in_format)
        .map(|(i, _)| i);
    let (pod, stamp) = match split {
        Some(i) => (&stem[..i], &stem[i + 1..]),
        None => ("", stem),
    };
    if split.is_some() && (pod.is_empty() || !pod.chars().all(valid_pod_char)) {
        return Err(fail(format!(
            "{}; pod {pod:?} is not a Kubernetes pod name",
            expected_shape()
        )));
    }
    let format = settings.name_format();
    if format.contains("%z") || format.contains("%:z") {
        // A name with its UTC offset (ffmpeg's strftime `%z`) means one instant, also in a
        // repeated hour, and two files of one hour named twice get different names.
        let t = DateTime::parse_from_str(stamp, format).map_err(|_| fail(expected_shape()))?;
        return Ok(SegmentName {
            pod: pod.into(),
            local: t.naive_local(),
            start: t.with_timezone(&Utc),
        });
    }
    let local = NaiveDateTime::parse_from_str(stamp, format).map_err(|_| fail(expected_shape()))?;
    let start = match settings.time_zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            pick(a.min(b), a.max(b))
        }
        LocalResult::None => {
            return Err(fail(format!(
                "names a time that does not exist in {} (skipped by a clock change)",
                settings.time_zone
            )))
        }
    };
    Ok(SegmentName {
        pod: pod.into(),
        local,
        start,
    })
}

/// The name of a segment an earlier run recorded (archived or gone), meaning the instant that
/// run resolved: the name start it recorded, else the nearest to the audio start it placed
/// (within seconds of the name, while the two readings of a repeated hour are an hour apart).
/// Only a record with neither is read as the earlier instant. Never re-guessed from the
/// folder: the file may be gone, and the same plan must come out in every run.
pub(crate) fn recorded_name(
    file: &str,
    settings: &Settings,
    name_start: Option<DateTime<Utc>>,
    audio_start: Option<DateTime<Utc>>,
) -> Result<SegmentName, NameError> {
    match name_start.or(audio_start) {
        Some(t) => parse_name_near(file, settings, t),
        None => parse_name(file, settings, None),
    }
}

/// The instants archived segments' names mean, where their rows say it (name or audio
/// start). A recorder on local time names the hour repeated by a fall-back as it named the
/// hour before, so a folder file may carry an archived segment's name and other audio.
pub(crate) fn archived_name_starts<'a>(
    state: &'a ArchiveState,
    settings: &Settings,
) -> HashMap<&'a str, DateTime<Utc>> {
    state
        .segments
        .iter()
        .filter(|a| a.name_start.or(a.audio_start).is_some())
        .filter_map(|a| {
            let n = recorded_name(&a.file_name, settings, a.name_start, a.audio_start).ok()?;
            Some((a.file_name.as_str(), n.start))
        })
        .collect()
}

fn valid_pod_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.'
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    fn settings() -> Settings {
        Settings::new(600, "hope").unwrap()
    }

    #[test]
    fn pod_and_time() {
        let n = parse_name(
            "ffmpeg-deployment-7c9f-abcde_20261126T132143.mp3",
            &settings(),
            None,
        )
        .unwrap();
        assert_eq!(n.pod, "ffmpeg-deployment-7c9f-abcde");
        assert_eq!(n.start.to_rfc3339(), "2026-11-26T13:21:43+00:00");
    }

    #[test]
    fn local_variant_has_no_pod() {
        let n = parse_name("20261126T132143.mp3", &settings(), None).unwrap();
        assert_eq!(n.pod, "");
    }

    #[test]
    fn underscores_in_the_format() {
        let s = settings().with_name_format("%Y%m%d_%H%M%S").unwrap();
        let n = parse_name("pod-a_20261126_132143.mp3", &s, None).unwrap();
        assert_eq!(n.pod, "pod-a");
        assert_eq!(parse_name("20261126_132143.mp3", &s, None).unwrap().pod, "");
    }

    #[test]
    fn rejects_what_is_not_a_segment() {
        let s = settings();
        for bad in [
            "pod_20261126T132143.mp3.part",
            "pod_2026.mp3",
            "notes.txt",
            "pod_20261126T132143.MP4",
            "_20261126T132143.mp3",
            "po d_20261126T132143.mp3",
            "../x_20261126T132143.mp3",
            "pod_20261126T132143\n.mp3",
            "pod_20261331T132143.mp3",
        ] {
            let e = parse_name(bad, &s, None).unwrap_err();
            assert!(
                e.to_string().contains(bad.trim_end()) || bad.contains('\n'),
                "{e}"
            );
        }
    }

    #[test]
    fn fall_back_hour_uses_the_modification_time() {
        let mut s = settings();
        s.time_zone = Tz::Europe__Madrid;
        // 2026-10-25 02:30 happens twice in Madrid: 00:30 UTC and 01:30 UTC.
        let early = "2026-10-25T00:31:00Z".parse().unwrap();
        let late = "2026-10-25T01:31:00Z".parse().unwrap();
        let name = "p_20261025T023000.mp3";
        assert_eq!(
            parse_name(name, &s, Some(early))
                .unwrap()
                .start
                .to_rfc3339(),
            "2026-10-25T00:30:00+00:00"
        );
        assert_eq!(
            parse_name(name, &s, Some(late)).unwrap().start.to_rfc3339(),
            "2026-10-25T01:30:00+00:00"
        );
        // A file just opened, its modification time a little behind its name (another
        // clock, a name rounded up), is still the later one.
        let behind = "2026-10-25T01:29:58Z".parse().unwrap();
        assert_eq!(
            parse_name(name, &s, Some(behind))
                .unwrap()
                .start
                .to_rfc3339(),
            "2026-10-25T01:30:00+00:00"
        );
        // A file of the first 02:30 modified as long as 58 minutes later is still the first.
        let finished = "2026-10-25T01:28:00Z".parse().unwrap();
        assert_eq!(
            parse_name(name, &s, Some(finished))
                .unwrap()
                .start
                .to_rfc3339(),
            "2026-10-25T00:30:00+00:00"
        );
        assert!(parse_name("p_20260329T023000.mp3", &s, None).is_err());
    }

    #[test]
    fn a_recorded_start_picks_the_same_instant_again() {
        let mut s = settings();
        s.time_zone = Tz::America__New_York;
        // 2026-11-01 01:30 happens twice in New York: 05:30 UTC (EDT) and 06:30 UTC (EST).
        let name = "p_20261101T013000.mp3";
        for (near, want) in [
            ("2026-11-01T05:29:52Z", "2026-11-01T05:30:00+00:00"),
            ("2026-11-01T06:30:00Z", "2026-11-01T06:30:00+00:00"),
            ("2026-11-01T06:29:51Z", "2026-11-01T06:30:00+00:00"),
        ] {
            let n = parse_name_near(name, &s, near.parse().unwrap()).unwrap();
            assert_eq!(n.start.to_rfc3339(), want, "near {near}");
        }
        // Outside the repeated hour the hint changes nothing.
        let n = parse_name_near(
            "p_20261101T033000.mp3",
            &s,
            "2000-01-01T00:00:00Z".parse().unwrap(),
        );
        assert_eq!(n.unwrap().start.to_rfc3339(), "2026-11-01T08:30:00+00:00");
    }

    #[test]
    fn a_name_with_its_offset_means_one_instant() {
        let mut s = settings().with_name_format("%Y%m%dT%H%M%S%z").unwrap();
        s.time_zone = Tz::Europe__Madrid;
        for (name, want) in [
            ("p_20261025T023000+0200.mp3", "2026-10-25T00:30:00+00:00"),
            ("p_20261025T023000+0100.mp3", "2026-10-25T01:30:00+00:00"),
        ] {
            // Whatever the modification time says.
            let n = parse_name(name, &s, Some("2026-10-25T01:31:00Z".parse().unwrap())).unwrap();
            assert_eq!(n.start.to_rfc3339(), want, "{name}");
            assert_eq!(n.local.to_string(), "2026-10-25 02:30:00");
        }
        assert!(parse_name("p_20261025T023000.mp3", &s, None).is_err());
    }

    #[test]
    fn a_skipped_name_is_reported_whatever_the_hint() {
        let mut s = settings();
        s.time_zone = Tz::Europe__Madrid;
        // 2026-03-29 02:00-03:00 does not exist in Madrid (CET -> CEST at 01:00 UTC).
        let name = "p_20260329T023000.mp3";
        let near = "2026-03-29T01:30:00Z".parse().unwrap();
        for e in [
            parse_name(name, &s, Some(near)).unwrap_err(),
            parse_name_near(name, &s, near).unwrap_err(),
        ] {
            assert_eq!(e.name, name);
            assert!(
                e.to_string().contains("does not exist in Europe/Madrid"),
                "{e}"
            );
        }
    }
}
