//! The wiring the job's in-crate tests share: copies of the recorded fixtures, settings for
//! stream `hope` over a folder, its partitions in an [`InMemoryArchive`] as
//! [`run`](crate::run::run) takes them, and the runtimes the tests block on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::run::Partitions;
use crate::settings::Settings;
use store::memory::InMemoryArchive;
use store::Archive;

/// The stream every test archives.
pub(crate) const STREAM: &str = "hope";

/// The repository's recorded fixture `name` (`fixtures/<name>`), read in place.
pub(crate) fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

/// A copy of fixture `name`, its files finished an hour ago.
pub(crate) fn folder(name: &str) -> tempfile::TempDir {
    let src = fixture_dir(name);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let old = SystemTime::now() - Duration::from_secs(3600);
    for entry in std::fs::read_dir(&src).expect("the fixture folder") {
        let path = entry.expect("a fixture file").path();
        if path.extension().is_some_and(|e| e == "mp3") {
            let to = dir.path().join(path.file_name().expect("a file name"));
            std::fs::copy(&path, &to).expect("a copy");
            let file = std::fs::File::options()
                .write(true)
                .open(&to)
                .expect("opened");
            file.set_modified(old).expect("an old mtime");
        }
    }
    dir
}

/// The names of the entries in `folder`.
pub(crate) fn files(folder: &Path) -> BTreeSet<String> {
    std::fs::read_dir(folder)
        .expect("the folder")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Settings for stream `hope` over `folder`: 10-second files, the storage emulator.
pub(crate) fn settings(folder: &Path) -> Settings {
    settings_with(folder, &[])
}

/// [`settings`] with the variables `vars` added, or set instead of the defaults.
pub(crate) fn settings_with(folder: &Path, vars: &[(&str, &str)]) -> Settings {
    let mut all = vec![
        ("FOLDER".to_string(), folder.display().to_string()),
        ("STREAM_NAME".into(), STREAM.into()),
        ("FILE_DURATION".into(), "10".into()),
        (
            "AZURE_STORAGE_CONNECTION_STRING".into(),
            "UseDevelopmentStorage=true".into(),
        ),
    ];
    for &(name, value) in vars {
        all.retain(|(n, _)| n != name);
        all.push((name.to_string(), value.to_string()));
    }
    Settings::from_vars(all).expect("settings")
}

/// Stream `hope`'s partitions: the stream's own, `~gone`, `~align` and `~seen` (each an `A`:
/// a partition of one [`InMemoryArchive`], or a wrapper around it), and `~run` in an archive
/// of its own, apart from the compared archive: the outcome row holds the run's times and
/// counts runs, and never affects what is archived or deleted.
pub(crate) struct MemoryPartitions<A = InMemoryArchive> {
    pub archive: A,
    pub gone: A,
    pub aligned: A,
    pub seen: A,
    pub runs: InMemoryArchive,
}

/// Stream `hope`'s partitions in `archive`, the outcome row's apart.
pub(crate) fn memory_partitions(archive: &InMemoryArchive) -> MemoryPartitions {
    MemoryPartitions {
        archive: archive.partition(STREAM),
        gone: archive.partition(&archive_model::rows::gone_partition(STREAM)),
        aligned: archive.partition(&archive_model::rows::alignment_partition(STREAM)),
        seen: archive.partition(&archive_model::rows::sightings_partition(STREAM)),
        runs: InMemoryArchive::new(STREAM).partition(&crate::outcome::runs_partition(STREAM)),
    }
}

impl<A> MemoryPartitions<A> {
    /// The same partitions, the four of the compared archive each wrapped by `wrap`.
    pub(crate) fn map<B>(self, mut wrap: impl FnMut(A) -> B) -> MemoryPartitions<B> {
        MemoryPartitions {
            archive: wrap(self.archive),
            gone: wrap(self.gone),
            aligned: wrap(self.aligned),
            seen: wrap(self.seen),
            runs: self.runs,
        }
    }
}

impl<A: Archive> MemoryPartitions<A> {
    /// The partitions as a run takes them.
    pub(crate) fn parts(&self) -> Partitions<'_> {
        Partitions {
            archive: &self.archive,
            gone: &self.gone,
            aligned: &self.aligned,
            seen: &self.seen,
            runs: &self.runs,
        }
    }
}

/// A current-thread runtime with its clock and I/O.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A current-thread runtime whose clock starts paused: a run's sleeps and retries take no
/// time.
pub(crate) fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime")
}
