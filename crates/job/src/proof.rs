//! What proves an archived segment: the blob its row names (or, for the original job's rows,
//! the default name) and the properties that blob must have. The executor's core and
//! [`crate::execute::read_state`] confirm segments with these rules, and `days` names the
//! blob a lead is read from with them; they live apart from both so neither reaches into the
//! other.

use selection::ArchiveState;

use store::BlobInfo;

/// The blob that proves archived segment `file`: its row's, or for the original job's rows
/// (which name none) the default name; `None` when neither can be named.
pub fn lookup_target(
    state: &ArchiveState,
    settings: &selection::Settings,
    file: &str,
) -> Option<String> {
    let row = state.segments.iter().find(|s| s.file_name == file);
    match row.and_then(|r| r.blob_name.clone()) {
        Some(b) => Some(b),
        None => {
            let name = selection::parse_name(file, settings, None).ok()?;
            selection::blob_name(settings, &name, file).ok()
        }
    }
}

/// Whether a blob's properties prove the archived segment whose row says `expected` bytes:
/// it has bytes, and the size the row recorded (the original job's rows record none).
pub fn blob_proves(expected: Option<u64>, blob: &BlobInfo) -> bool {
    blob.size > 0 && expected.is_none_or(|s| s == blob.size)
}
