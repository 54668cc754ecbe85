//! Literal inputs shared by the executor's unit and property tests.

use std::time::Duration;

use selection::{ArchivedSegment, DeleteReason, Deletion, GoneSegment, Plan, Upload};

use super::{Counted, Operation, Step};

pub(super) const A0: &str = "pod-a_20261126T100000.mp3";
pub(super) const A1: &str = "pod-a_20261126T100010.mp3";
pub(super) const B0: &str = "pod-b_20261126T100003.mp3";
pub(super) const B1: &str = "pod-b_20261126T100013.mp3";

pub(super) fn settings() -> selection::Settings {
    selection::Settings::new(10, "hope").unwrap()
}

pub(super) fn upload(file: &str) -> Upload {
    let s = settings();
    let name = selection::parse_name(file, &s, None).unwrap();
    Upload {
        file: file.into(),
        blob_name: selection::blob_name(&s, &name, file).unwrap(),
        pod: name.pod.clone(),
        name_time: name.start,
        audio_start: name.start,
        duration: Duration::from_millis(10_005),
        frames: 383,
        size: 160_000,
        truncated: false,
        replaces_archived: false,
        reason: "test".into(),
    }
}

pub(super) fn archived(file: &str, blob: Option<&str>, size: Option<u64>) -> ArchivedSegment {
    ArchivedSegment {
        file_name: file.into(),
        blob_name: blob.map(str::to_owned),
        size,
        duration: Some(Duration::from_millis(10_005)),
        truncated: false,
        audio_start: None,
        name_start: None,
    }
}

pub(super) fn counted(frames: u64) -> Counted {
    Counted {
        frames,
        duration: Duration::from_millis(frames * 10_005 / 383),
        truncated: false,
        bytes: None,
        silences: Vec::new(),
        exact: None,
    }
}

/// A deletion of `file` resting on `covered_by`; a duplicate's remembers the file.
pub(super) fn deletion(file: &str, covered_by: &[&str], why: DeleteReason) -> Deletion {
    let remember = (why == DeleteReason::Duplicate).then(|| GoneSegment {
        file_name: file.into(),
        duration: Duration::from_millis(10_005),
        truncated: false,
        audio_start: None,
        name_start: None,
    });
    Deletion {
        file: file.into(),
        covered_by: covered_by.iter().map(|c| c.to_string()).collect(),
        why,
        remember,
    }
}

/// A plan of these uploads and deletions.
pub(super) fn plan(uploads: &[&str], deletions: Vec<Deletion>) -> Plan {
    Plan {
        uploads: uploads.iter().map(|f| upload(f)).collect(),
        deletions,
        ..Plan::default()
    }
}

/// The steps `ops` are.
pub(super) fn kinds(ops: &[Operation]) -> Vec<Step> {
    ops.iter().map(Operation::step).collect()
}
