//! A [`SegmentRow`] as a table entity, and back.
//!
//! Table rows store 64-bit numbers as Edm.Int64 (a decimal string plus an `@odata.type`
//! annotation), the service's own representation, so other clients read them as numbers.

use serde_json::{Map, Value};

use crate::SegmentRow;

pub(super) fn row_entity(partition: &str, row: &SegmentRow) -> Result<Value, String> {
    let mut entity = Map::new();
    entity.insert("PartitionKey".into(), partition.into());
    entity.insert("RowKey".into(), row.row_key.clone().into());
    entity.insert("fileName".into(), row.file_name.clone().into());
    let strings = [
        ("blobName", &row.blob_name),
        ("pod", &row.pod),
        ("contentMd5", &row.content_md5),
        ("alignedWith", &row.aligned_with),
        ("sightings", &row.sightings),
        ("run", &row.run),
        ("silences", &row.silences),
        ("blobMode", &row.blob_mode),
        ("sourceMd5", &row.source_md5),
        ("headHeldBy", &row.head_held_by),
        ("leadFrom", &row.lead_from),
    ];
    for (name, value) in strings {
        if let Some(value) = value {
            entity.insert(name.into(), value.clone().into());
        }
    }
    if let Some(truncated) = row.truncated {
        entity.insert("truncated".into(), truncated.into());
    }
    let unsigned = |name: &str, value: Option<u64>| -> Result<Option<i64>, String> {
        value
            .map(|v| i64::try_from(v).map_err(|_| format!("{name} {v} does not fit Edm.Int64")))
            .transpose()
    };
    let numbers = [
        ("audioStartMs", row.audio_start_ms),
        ("durationMs", row.duration_ms),
        ("durationUs", row.duration_us),
        ("alignedOffsetMs", row.aligned_offset_ms),
        ("inFrame", unsigned("inFrame", row.in_frame)?),
        ("inMs", row.in_ms),
        ("outFrame", unsigned("outFrame", row.out_frame)?),
        ("outMs", row.out_ms),
        ("inByte", unsigned("inByte", row.in_byte)?),
        ("outByte", unsigned("outByte", row.out_byte)?),
        ("frames", unsigned("frames", row.frames)?),
        ("size", unsigned("size", row.size)?),
        (
            "blobFirstFrame",
            unsigned("blobFirstFrame", row.blob_first_frame)?,
        ),
        (
            "warmUpFrames",
            unsigned("warmUpFrames", row.warm_up_frames)?,
        ),
        ("sourceStart", unsigned("sourceStart", row.source_start)?),
        ("sourceEnd", unsigned("sourceEnd", row.source_end)?),
        ("leadFrames", unsigned("leadFrames", row.lead_frames)?),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            entity.insert(name.into(), value.to_string().into());
            entity.insert(format!("{name}@odata.type"), "Edm.Int64".into());
        }
    }
    Ok(Value::Object(entity))
}

/// Reads a row leniently: a property of an unexpected type is skipped with a warning, so one
/// odd row cannot stop the job; a row without `fileName` is an error (the row is skipped).
pub(super) fn parse_row(entity: &Map<String, Value>) -> Result<SegmentRow, String> {
    let row_key = match entity.get("RowKey") {
        Some(Value::String(key)) => key.clone(),
        _ => return Err("a row has no string RowKey".to_owned()),
    };
    let Some(Value::String(file_name)) = entity.get("fileName") else {
        return Err(format!("row {row_key} has no string property fileName"));
    };
    let skip = |name: &str, value: &Value| {
        tracing::warn!(row_key = %row_key, property = name, value = %value,
            "ignoring a table property of unexpected type");
    };
    let string = |name: &str| match entity.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            skip(name, other);
            None
        }
    };
    let int = |name: &str| {
        let value = entity.get(name)?;
        let parsed = match value {
            Value::Null => return None,
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            skip(name, value);
        }
        parsed
    };
    let unsigned = |name: &str| {
        let value = int(name)?;
        let parsed = u64::try_from(value).ok();
        if parsed.is_none() {
            skip(name, &Value::from(value));
        }
        parsed
    };
    Ok(SegmentRow {
        file_name: file_name.clone(),
        blob_name: string("blobName"),
        pod: string("pod"),
        audio_start_ms: int("audioStartMs"),
        duration_ms: int("durationMs"),
        frames: unsigned("frames"),
        size: unsigned("size"),
        content_md5: string("contentMd5"),
        duration_us: int("durationUs"),
        aligned_with: string("alignedWith"),
        sightings: string("sightings"),
        run: string("run"),
        silences: string("silences"),
        aligned_offset_ms: int("alignedOffsetMs"),
        in_frame: unsigned("inFrame"),
        in_ms: int("inMs"),
        out_frame: unsigned("outFrame"),
        out_ms: int("outMs"),
        in_byte: unsigned("inByte"),
        out_byte: unsigned("outByte"),
        blob_mode: string("blobMode"),
        blob_first_frame: unsigned("blobFirstFrame"),
        warm_up_frames: unsigned("warmUpFrames"),
        source_start: unsigned("sourceStart"),
        source_end: unsigned("sourceEnd"),
        source_md5: string("sourceMd5"),
        head_held_by: string("headHeldBy"),
        lead_frames: unsigned("leadFrames"),
        lead_from: string("leadFrom"),
        truncated: match entity.get("truncated") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                skip("truncated", other);
                None
            }
        },
        row_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn rows_round_trip_through_the_entity_shape() {
        let row = SegmentRow {
            row_key: "2519999999999".into(),
            file_name: "pod-a_20261126T101000.mp3".into(),
            blob_name: Some("26-11-2026/pod-a_20261126T101000.mp3".into()),
            pod: Some("pod-a".into()),
            audio_start_ms: Some(1_795_687_800_000),
            duration_ms: Some(600_030),
            frames: Some(22_970),
            size: Some(9_600_000_000),
            content_md5: Some("1B2M2Y8AsgTpgAmY7PhCfg==".into()),
            truncated: Some(true),
            duration_us: Some(600_026_122),
            aligned_with: Some("pod-b_20261126T101003.mp3".into()),
            aligned_offset_ms: Some(-2_345),
            in_frame: Some(96),
            in_ms: Some(2_508),
            out_frame: Some(22_970),
            out_ms: Some(600_026),
            in_byte: Some(40_545),
            out_byte: Some(9_599_999_800),
            sightings: Some("[]".into()),
            run: Some("{}".into()),
            silences: Some("[]".into()),
            blob_mode: Some("frame-exact".into()),
            blob_first_frame: Some(92),
            warm_up_frames: Some(4),
            source_start: Some(38_871),
            source_end: Some(9_600_000_000),
            source_md5: Some("1B2M2Y8AsgTpgAmY7PhCfg==".into()),
            head_held_by: Some("pod-b_20261126T100003.mp3".into()),
            lead_frames: Some(8),
            lead_from: Some("pod-a_20261126T100003.mp3".into()),
        };
        let entity = row_entity("hope", &row).unwrap();
        assert_eq!(entity["PartitionKey"], "hope");
        assert_eq!(entity["size"], "9600000000");
        assert_eq!(entity["size@odata.type"], "Edm.Int64");
        assert_eq!(parse_row(&map(entity)).unwrap(), row);
    }

    #[test]
    fn the_outcome_row_round_trips_through_the_entity_shape() {
        // The job's outcome row (`<stream>~run`, RowKey `last`): its whole record is one JSON
        // string property, `run`, with nested objects, floats and times in it.
        let run = json!({
            "outcome": "deadline",
            "started": "2026-12-07T10:00:00Z",
            "ended": "2026-12-07T10:03:20Z",
            "summary": {"archived": 2, "bytes": 9_600_000_000_u64, "silence_seconds": 3.25,
                        "deadline_left": 1},
            "clock_skew_seconds": -1.5,
            "counters": {"ok": 0, "deadline": 1}
        })
        .to_string();
        let row = SegmentRow {
            row_key: "last".into(),
            run: Some(run.clone()),
            ..SegmentRow::default()
        };
        let entity = row_entity("hope~run", &row).unwrap();
        assert_eq!(entity["PartitionKey"], "hope~run");
        assert_eq!(entity["RowKey"], "last");
        assert!(entity["run"].is_string(), "{entity}");
        let back = parse_row(&map(entity)).unwrap();
        assert_eq!(back, row);
        assert_eq!(
            serde_json::from_str::<Value>(back.run.as_deref().unwrap()).unwrap(),
            serde_json::from_str::<Value>(&run).unwrap()
        );
    }

    #[test]
    fn node_rows_and_odd_types_parse() {
        let node = parse_row(&map(json!({
            "PartitionKey": "hope", "RowKey": "1", "fileName": "p_20261126T101000.mp3",
            "Timestamp": "2026-11-26T10:20:00Z"
        })))
        .unwrap();
        assert_eq!(node.file_name, "p_20261126T101000.mp3");
        assert_eq!(node.blob_name, None);
        assert_eq!(node.size, None);

        let odd = parse_row(&map(json!({
            "RowKey": "2", "fileName": "f.mp3", "size": 12, "frames": "x", "durationMs": -1,
            "pod": true, "audioStartMs": 1.5
        })))
        .unwrap();
        assert_eq!(odd.size, Some(12));
        assert_eq!(odd.frames, None);
        assert_eq!(odd.duration_ms, Some(-1));
        assert_eq!(odd.pod, None);
        assert_eq!(odd.audio_start_ms, None);

        let err = parse_row(&map(json!({"RowKey": "3", "fileName": 5}))).unwrap_err();
        assert!(err.contains("row 3") && err.contains("fileName"), "{err}");
    }
}
