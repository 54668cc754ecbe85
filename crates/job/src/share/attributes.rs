//! What the share says of a file and what the job makes of it: its [`Kind`], its
//! [`Attributes`] (from `statx`, or `fstat`/`fstatat` where `statx` is missing), the
//! [`Difference`]s between two readings of them, and why a recording was not opened
//! ([`NotOpened`]). Plain data; [`super::Share`] does the system calls.

use std::io;

use chrono::{DateTime, Utc};
use rustix::fs::FileType;

/// What a file is, as the server says (never the listing's `d_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Directory,
    Symlink,
    /// A FIFO, socket, or device: nothing a recorder writes.
    Special,
}

/// A file's device and inode: the same file within one run (never compared across runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// A file's attributes: what the scan measured, and what a later look finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributes {
    pub kind: Kind,
    pub size: u64,
    pub modified: DateTime<Utc>,
    pub id: FileId,
}

/// One way a file differs from what was measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// No longer a regular file (a link, folder, FIFO… in its place).
    Kind(Kind),
    /// Another file under the same name (device:inode).
    Replaced {
        measured: FileId,
        now: FileId,
    },
    Size {
        measured: u64,
        now: u64,
    },
    Modified {
        measured: DateTime<Utc>,
        now: DateTime<Utc>,
    },
}

impl Difference {
    /// Only written to (grew, or touched): what a recording still being written does. Any
    /// other difference means the name now holds something else.
    pub fn is_change(&self) -> bool {
        matches!(self, Difference::Size { .. } | Difference::Modified { .. })
    }
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Kind(kind) => write!(f, "it is now {}", kind.describe()),
            Difference::Replaced { measured, now } => write!(
                f,
                "it is another file (device:inode {}:{} measured, {}:{} now)",
                measured.dev, measured.ino, now.dev, now.ino
            ),
            Difference::Size { measured, now } => {
                write!(f, "its size was {measured} bytes, now {now}")
            }
            Difference::Modified { measured, now } => write!(
                f,
                "its modification time was {}, now {}",
                measured.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
            ),
        }
    }
}

/// The differences, for a message: "its size was 26 bytes, now 35; …".
pub fn describe(differences: &[Difference]) -> String {
    let all: Vec<String> = differences.iter().map(ToString::to_string).collect();
    all.join("; ")
}

/// Why a recording was not opened (or not trusted once open); names the file.
#[derive(Debug)]
pub struct NotOpened {
    pub name: String,
    pub why: Why,
}

#[derive(Debug)]
pub enum Why {
    /// The name is not one path component.
    BadName,
    /// The run's scan did not measure it: nothing to check it against.
    NotMeasured,
    /// The open or its `fstat` failed (a link in its place fails here: `ELOOP`).
    Io(io::Error),
    /// Open, but not what was measured.
    Differs(Vec<Difference>),
}

impl NotOpened {
    /// It only changed the way a file being written changes (size, modification time).
    pub fn is_change(&self) -> bool {
        matches!(&self.why, Why::Differs(d) if d.iter().all(Difference::is_change))
    }

    /// Nothing has the name any more.
    pub fn is_gone(&self) -> bool {
        matches!(&self.why, Why::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

impl std::fmt::Display for NotOpened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = &self.name;
        match &self.why {
            Why::BadName => write!(f, "{name:?} is not a file name in FOLDER; not opened"),
            Why::NotMeasured => write!(f, "{name} was not measured by this run; not opened"),
            Why::Io(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                write!(
                    f,
                    "{name} is a symbolic link (or its path holds one); links are never followed: {e}"
                )
            }
            Why::Io(e) => write!(f, "cannot open {name}: {e}"),
            Why::Differs(d) => {
                write!(
                    f,
                    "{name} is not the file measured: {}; not read",
                    describe(d)
                )
            }
        }
    }
}

impl std::error::Error for NotOpened {}

impl Kind {
    pub(super) fn of(file_type: FileType) -> Kind {
        match file_type {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Directory,
            FileType::Symlink => Kind::Symlink,
            _ => Kind::Special,
        }
    }

    pub(super) fn describe(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Directory => "a folder",
            Kind::Symlink => "a symbolic link",
            Kind::Special => "not a regular file (a FIFO, socket or device)",
        }
    }
}

impl Attributes {
    /// How `now` differs from `self` (what was measured): kind, identity, size, modification
    /// time. Empty when it is the same file, unchanged.
    pub fn differences(&self, now: &Attributes) -> Vec<Difference> {
        let mut out = Vec::new();
        if now.kind != Kind::File {
            out.push(Difference::Kind(now.kind));
        }
        if now.id != self.id {
            out.push(Difference::Replaced {
                measured: self.id,
                now: now.id,
            });
        }
        if now.size != self.size {
            out.push(Difference::Size {
                measured: self.size,
                now: now.size,
            });
        }
        if now.modified != self.modified {
            out.push(Difference::Modified {
                measured: self.modified,
                now: now.modified,
            });
        }
        out
    }

    // `struct stat`'s field types differ between architectures (u64 here, u32 or i64 there).
    #[allow(clippy::useless_conversion)]
    pub(super) fn of_stat(st: &rustix::fs::Stat) -> Attributes {
        Attributes {
            kind: Kind::of(FileType::from_raw_mode(st.st_mode)),
            size: u64::try_from(st.st_size).unwrap_or(0),
            modified: time(st.st_mtime, u64::from(st.st_mtime_nsec)),
            id: FileId {
                dev: u64::from(st.st_dev),
                ino: u64::from(st.st_ino),
            },
        }
    }

    pub(super) fn of_statx(st: &rustix::fs::Statx) -> Attributes {
        Attributes {
            kind: Kind::of(FileType::from_raw_mode(u32::from(st.stx_mode))),
            size: st.stx_size,
            modified: time(st.stx_mtime.tv_sec, u64::from(st.stx_mtime.tv_nsec)),
            id: FileId {
                dev: rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor),
                ino: st.stx_ino,
            },
        }
    }
}

/// A modification time as the scan records it (the epoch's start where it does not fit).
fn time(seconds: impl Into<i64>, nanos: u64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds.into(), u32::try_from(nanos).unwrap_or(0))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
