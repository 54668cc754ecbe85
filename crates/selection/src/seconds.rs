//! Durations in JSON as seconds (`600.026122`), as people and other tools read them; a plain
//! `Duration` would serialize as `{"secs":600,"nanos":26122000}`. Reading also accepts that
//! older form.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Either {
    Seconds(f64),
    Parts { secs: u64, nanos: u32 },
}

fn from(e: Either) -> Result<Duration, String> {
    match e {
        Either::Seconds(s) => Duration::try_from_secs_f64(s)
            .map_err(|_| format!("{s} is not a duration in seconds (expected 0 or more)")),
        Either::Parts { secs, nanos } => Ok(Duration::new(secs, nanos)),
    }
}

/// Seconds with microseconds, the precision the planner works to.
fn seconds(d: &Duration) -> f64 {
    d.as_micros() as f64 / 1e6
}

pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(seconds(d))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    from(Either::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// The same for `Option<Duration>` (`null` when absent).
pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&seconds(d)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<Either>::deserialize(d)?
            .map(from)
            .transpose()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_are_seconds_and_the_old_form_still_reads() {
        let g = crate::GoneSegment {
            file_name: "a.mp3".into(),
            duration: std::time::Duration::from_micros(600_026_122),
            truncated: false,
            audio_start: None,
            name_start: None,
        };
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(json["duration"], 600.026122);
        let old =
            r#"{"file_name":"a.mp3","duration":{"secs":600,"nanos":26122000},"truncated":false}"#;
        assert_eq!(serde_json::from_str::<crate::GoneSegment>(old).unwrap(), g);
        assert_eq!(
            serde_json::from_value::<crate::GoneSegment>(json).unwrap(),
            g
        );
    }
}
