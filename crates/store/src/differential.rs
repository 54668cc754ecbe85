//! Differential checks of the [`Archive`] contract: the same sequence of calls on two
//! backends must give the same answers. Property tests generate the sequences: the in-memory
//! against the local archive in `cargo test --lib`, the in-memory archive against Azure (on
//! Azurite) in `tests/archive_conformance.rs`, so the in-memory archive that executor tests
//! rely on is shown to answer as Azure does.

use std::collections::BTreeMap;

use super::{Archive, Lock, SegmentRow};

/// One call, over a few keys and names so that calls meet: RowKeys `k0`..`k11` (where `k10`
/// sorts before `k2`), blobs `b/0.json`..`b/3.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Insert { key: u8, variant: u8 },
    Replace { key: u8, variant: u8 },
    Delete { key: u8 },
    Range { from: u8, to: u8 },
    First { limit: u8 },
    PutSmall { blob: u8, len: u8 },
    SetMetadata { blob: u8, value: u8 },
    BlobInfo { blob: u8 },
    TakeLock,
    RenewLock,
    ReleaseLock,
}

impl Call {
    /// The call numbered `choice` (any `u8`), with arguments `a` and `b` (any `u8`): how a
    /// generator of random bytes picks calls.
    pub fn from_bytes(choice: u8, a: u8, b: u8) -> Call {
        let key = |x: u8| x % 12;
        let blob = |x: u8| x % 4;
        match choice % 11 {
            0 => Call::Insert {
                key: key(a),
                variant: b % 3,
            },
            1 => Call::Replace {
                key: key(a),
                variant: b % 3,
            },
            2 => Call::Delete { key: key(a) },
            3 => Call::Range {
                from: key(a),
                to: key(b),
            },
            4 => Call::First { limit: a % 14 },
            5 => Call::PutSmall {
                blob: blob(a),
                len: b,
            },
            6 => Call::SetMetadata {
                blob: blob(a),
                value: b,
            },
            7 => Call::BlobInfo { blob: blob(a) },
            8 => Call::TakeLock,
            9 => Call::RenewLock,
            _ => Call::ReleaseLock,
        }
    }
}

/// The state a sequence carries between calls on one backend: the lock it holds.
#[derive(Debug, Default)]
pub struct Session {
    lock: Option<Lock>,
}

/// Performs `call` on `archive` and renders the answer in a form comparable across backends
/// (lock ids differ between backends, so a lock shows as taken or not).
pub async fn answer(archive: &dyn Archive, session: &mut Session, call: &Call) -> String {
    fn shown<T: std::fmt::Debug>(result: super::StoreResult<T>) -> String {
        match result {
            Ok(value) => format!("Ok({value:?})"),
            Err(e) => format!("Err(transient: {})", e.is_transient()),
        }
    }
    let row_key = |key: u8| format!("k{key}");
    let blob_name = |blob: u8| format!("b/{blob}.json");
    let row = |key: u8, variant: u8| SegmentRow {
        row_key: row_key(key),
        file_name: format!("pod-a_{key}.mp3"),
        size: (variant > 0).then_some(u64::from(variant) * 1000),
        pod: (variant > 1).then(|| "pod-a".to_owned()),
        ..SegmentRow::default()
    };
    match *call {
        Call::Insert { key, variant } => shown(archive.insert_row(&row(key, variant)).await),
        Call::Replace { key, variant } => shown(archive.replace_row(&row(key, variant)).await),
        Call::Delete { key } => shown(archive.delete_row(&row_key(key)).await),
        Call::Range { from, to } => {
            shown(archive.rows_in_range(&row_key(from), &row_key(to)).await)
        }
        Call::First { limit } => shown(archive.first_rows(limit.into()).await),
        Call::PutSmall { blob, len } => {
            let bytes = vec![len; usize::from(len)];
            shown(
                archive
                    .put_small(&blob_name(blob), bytes, "application/json")
                    .await,
            )
        }
        Call::SetMetadata { blob, value } => {
            let metadata = BTreeMap::from([("v".to_owned(), value.to_string())]);
            // Only whether it failed: the causes name backend-specific things.
            let result = archive.set_blob_metadata(&blob_name(blob), &metadata).await;
            format!("{:?}", result.is_ok())
        }
        Call::BlobInfo { blob } => shown(archive.blob_info(&blob_name(blob)).await),
        Call::TakeLock => match archive.try_lock(15).await {
            Ok(Some(lock)) => {
                let fresh = session.lock.replace(lock).is_none();
                format!("taken (was free to us: {fresh})")
            }
            Ok(None) => "held".to_owned(),
            Err(e) => format!("Err(transient: {})", e.is_transient()),
        },
        Call::RenewLock | Call::ReleaseLock => {
            let Some(lock) = session.lock.clone() else {
                return "no lock to use".to_owned();
            };
            if *call == Call::RenewLock {
                shown(archive.renew_lock(&lock).await)
            } else {
                session.lock = None;
                shown(archive.release_lock(&lock).await)
            }
        }
    }
}

/// Runs `calls` on both archives, one after the other, and panics at the first answer that
/// differs, with the calls that led to it. Leaves the lock released.
pub async fn compare(one: &dyn Archive, two: &dyn Archive, calls: &[Call]) {
    let (mut first, mut second) = (Session::default(), Session::default());
    for (i, call) in calls.iter().enumerate() {
        let a = answer(one, &mut first, call).await;
        let b = answer(two, &mut second, call).await;
        assert_eq!(a, b, "answers differ at call {i}, after {:?}", &calls[..i]);
    }
    for (archive, session) in [(one, first), (two, second)] {
        if let Some(lock) = session.lock {
            let _ = archive.release_lock(&lock).await;
        }
    }
}
