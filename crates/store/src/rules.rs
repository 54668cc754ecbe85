//! The input rules of the [`super::Archive`] contract, shared by every backend so that a name,
//! key or metadata map that Azure would refuse is refused by the in-memory and local
//! archives too: a test against those backends then fails where production would.

use std::collections::BTreeMap;

use super::SegmentRow;

/// Shortest and longest lease [`super::Archive::try_lock`] accepts, in seconds (Azure's range).
pub const LOCK_TTL_SECONDS: std::ops::RangeInclusive<u32> = 15..=60;

/// A PartitionKey or RowKey (or a bound of a RowKey range): at most 1 KiB, none of the
/// characters Azure Tables forbids in keys.
pub(crate) fn check_key(what: &str, value: &str) -> Result<(), String> {
    if value.len() > 1024 {
        return Err(format!("{what} is longer than 1 KiB"));
    }
    match value
        .chars()
        .find(|&c| matches!(c, '/' | '\\' | '#' | '?') || c.is_control())
    {
        Some(c) => Err(format!(
            "{what} {value:?} contains {c:?}; Azure Tables forbids / \\ # ? and control characters in keys"
        )),
        None => Ok(()),
    }
}

/// Blob metadata that reads back unchanged: HTTP lowercases header names, and header values
/// are printable ASCII.
pub(crate) fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in metadata {
        let valid_name = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            return Err(format!(
                "metadata name {name:?} is invalid (expected lowercase letters, digits and _, not starting with a digit)"
            ));
        }
        if !value.chars().all(|c| (' '..='~').contains(&c)) {
            return Err(format!(
                "metadata {name} has a value that is not printable ASCII"
            ));
        }
    }
    Ok(())
}

/// A row the table can store: an acceptable RowKey, and unsigned numbers that fit Edm.Int64.
pub(crate) fn check_row(row: &SegmentRow) -> Result<(), String> {
    check_key("RowKey", &row.row_key)?;
    let unsigned = [
        ("inFrame", row.in_frame),
        ("outFrame", row.out_frame),
        ("inByte", row.in_byte),
        ("outByte", row.out_byte),
        ("frames", row.frames),
        ("size", row.size),
        ("blobFirstFrame", row.blob_first_frame),
        ("warmUpFrames", row.warm_up_frames),
        ("sourceStart", row.source_start),
        ("sourceEnd", row.source_end),
        ("leadFrames", row.lead_frames),
    ];
    for (name, value) in unsigned {
        if let Some(v) = value.filter(|&v| i64::try_from(v).is_err()) {
            return Err(format!("{name} {v} does not fit Edm.Int64"));
        }
    }
    Ok(())
}

/// A lease length [`super::Archive::try_lock`] accepts.
pub(crate) fn check_lock_ttl(ttl_seconds: u32) -> Result<(), String> {
    if LOCK_TTL_SECONDS.contains(&ttl_seconds) {
        Ok(())
    } else {
        Err(format!(
            "lease duration {ttl_seconds} s is outside {}..={} s",
            LOCK_TTL_SECONDS.start(),
            LOCK_TTL_SECONDS.end()
        ))
    }
}

/// Bytes `start..start + len` of `bytes`, cut short where they end (as a ranged read is).
pub(crate) fn byte_range(bytes: &[u8], start: u64, len: u64) -> &[u8] {
    let from = usize::try_from(start)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let to = usize::try_from(start.saturating_add(len))
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    &bytes[from..to]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(check_key("RowKey", "2519999999999").is_ok());
        assert!(check_key("RowKey", "o'brien").is_ok());
        for bad in [
            "a/b", "a\\b", "a#b", "a?b", "a\u{1}b", "a\u{7f}b", "a\u{85}b",
        ] {
            assert!(check_key("RowKey", bad).is_err(), "{bad:?}");
        }
        assert!(check_key("RowKey", &"k".repeat(1025)).is_err());
    }

    #[test]
    fn metadata_names_must_read_back_unchanged() {
        let ok = BTreeMap::from([("audio_start_ms".to_owned(), "123".to_owned())]);
        assert!(check_metadata(&ok).is_ok());
        let upper = BTreeMap::from([("audioStart".to_owned(), "1".to_owned())]);
        assert!(check_metadata(&upper).is_err());
        let non_ascii = BTreeMap::from([("pod".to_owned(), "é".to_owned())]);
        assert!(check_metadata(&non_ascii).is_err());
    }

    #[test]
    fn rows_need_numbers_that_fit_the_table() {
        let row = SegmentRow {
            row_key: "1".into(),
            size: Some(u64::MAX),
            ..SegmentRow::default()
        };
        let err = check_row(&row).unwrap_err();
        assert!(err.contains("size"), "{err}");
        assert!(check_lock_ttl(15).is_ok() && check_lock_ttl(60).is_ok());
        assert!(check_lock_ttl(14).is_err() && check_lock_ttl(61).is_err());
    }
}
