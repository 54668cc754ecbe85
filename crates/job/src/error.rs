//! [`Error`]: why a call of the job's library failed (a run, or a reader: `query::list`,
//! `query::signed_playlist`, `report::day_manifest`, `export::plan_from_rows`). Each variant
//! displays exactly the line the binary has always ended with, so operators and tests read the
//! same text; callers that embed the job tell the failures apart by variant.

use store::StoreError;

/// Why [`crate::run::run`] or a reader's entry point failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A storage call failed (preparing the archive, taking the lock); its
    /// [`store::ErrorKind`] says how.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The folder could not be opened or scanned.
    #[error("{0}")]
    Folder(String),
    /// What the archive holds about the folder's recordings could not be read.
    #[error("{0}")]
    State(String),
    /// A dry run's plan could not be written as JSON.
    #[error(transparent)]
    Plan(#[from] serde_json::Error),
    /// Operations of the plan failed; the run went on with what did not depend on them.
    #[error(
        "{count} operations failed; nothing that depends on them was deleted, the next run \
         repairs"
    )]
    OperationsFailed {
        /// How many operations failed.
        count: usize,
    },
    /// The stream's lock expired or was taken while the run worked.
    #[error("the stream's lock was lost during the run")]
    LockLost,
    /// An argument does not read (a day that is not `YYYY-MM-DD`); the message names it and
    /// what was expected.
    #[error("{0}")]
    Input(String),
    /// The day asked for holds no archived segment (`playlist`); the message names the
    /// stream, container and table looked in.
    #[error("{0}")]
    NothingArchived(String),
    /// No export can be planned for the range ([`crate::export::plan`]'s reason: an empty
    /// range, or nothing archived in it).
    #[error("{0}")]
    Export(String),
}
