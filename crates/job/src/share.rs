//! The recording folder, through one handle: the only way the job reaches the share the
//! recorders write to.
//!
//! The recorder pods can write the share, and they parse untrusted network input; the job holds
//! the archive's credentials. So the job trusts nothing a directory entry says and never
//! resolves a path in the share twice:
//!
//! - FOLDER is opened once, as a directory handle ([`Share::open`]: `O_DIRECTORY`, a final
//!   link not followed), and everything after goes through that handle: listing
//!   ([`Share::list`]), attributes ([`Share::attributes`]), opening ([`Share::open_recording`]),
//!   deleting ([`Share::remove`]) and the clock's probe ([`Share::create`]). A FOLDER path swapped for a link mid-run changes
//!   nothing: the handle still names the folder the run listed.
//! - A recording is opened by its name *beneath* that handle, with `openat2` and
//!   `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, `O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC`
//!   (`O_NONBLOCK`: a FIFO swapped in cannot block the run). On kernels without `openat2`
//!   (before 5.6; `ENOSYS`) it is `openat` with `O_NOFOLLOW`, on the name alone: a name is one
//!   path component, and one with a `/` (or `.`, `..`, empty) is refused before any call.
//! - Once open, the handle is `fstat`ed: it must be a regular file with the size and
//!   modification time the scan measured, and within the run the same device and inode
//!   ([`Attributes::differences`]). Inodes are never compared across runs: the SMB client may
//!   invent them. What differs is an error naming the file and the difference; the file is
//!   then held (never deleted), and the next run looks again.
//! - The entry's type in the listing (`d_type`) is not trusted: with the `mfsymlinks` mount
//!   option a link may be listed as a regular file. [`Share::attributes`] asks the server
//!   (`statx` with `AT_STATX_FORCE_SYNC`, past the SMB client's attribute cache, not
//!   following links); where `statx` is missing (`ENOSYS`: Linux before 4.11, old container
//!   runtimes), plain `fstatat` with `AT_SYMLINK_NOFOLLOW`, which may answer from the cache.
//!
//! A [`Recording`] is the open handle; every byte of a recording the job reads (the scan's
//! peek and count, alignments, the frame-exact preparation, the upload's body) is read from
//! it, at explicit offsets ([`Recording::reader`]). It lives as long as the operation that
//! opened it, so at most as many recordings are open as operations run at once.
//!
//! Linux only (`openat2`, `statx`), as the job's container is.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, StatxFlags};

mod attributes;
pub use attributes::{describe, Attributes, Difference, FileId, Kind, NotOpened, Why};

/// FOLDER, open as a directory handle for the run.
#[derive(Debug)]
pub struct Share {
    dir: OwnedFd,
    path: PathBuf,
}

/// The share's size and free space (`fstatvfs` on FOLDER's handle), in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub size: u64,
    /// Free for an unprivileged writer (`f_bavail`), as the recorders are.
    pub free: u64,
}

/// `name` is one path component: not empty, `.` or `..`, no `/`, no NUL.
fn check_name(name: impl AsRef<std::ffi::OsStr>) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let name = name.as_ref().as_bytes();
    !(name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0))
}

impl Share {
    /// Open FOLDER as a directory handle. A FOLDER that is a symbolic link, or not a folder,
    /// is an error naming it.
    pub fn open(path: &Path) -> Result<Share, String> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::open(path, flags, Mode::empty()) {
            Ok(dir) => Ok(Share {
                dir,
                path: path.to_owned(),
            }),
            Err(e) if e == rustix::io::Errno::NOTDIR || e == rustix::io::Errno::LOOP => {
                let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink());
                Err(if link {
                    format!(
                        "FOLDER {} is a symbolic link; links are never followed (set FOLDER to \
                         the folder itself)",
                        path.display()
                    )
                } else {
                    format!("FOLDER {} is not a directory", path.display())
                })
            }
            Err(e) => Err(format!(
                "FOLDER {}: {} (expected the stream's recording folder)",
                path.display(),
                io::Error::from(e)
            )),
        }
    }

    /// FOLDER as configured, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The share's size and free space, asked of the file system through the handle.
    pub fn space(&self) -> io::Result<Space> {
        let st = rustix::fs::fstatvfs(&self.dir)?;
        let unit = if st.f_frsize > 0 {
            st.f_frsize
        } else {
            st.f_bsize
        };
        Ok(Space {
            size: st.f_blocks.saturating_mul(unit),
            free: st.f_bavail.saturating_mul(unit),
        })
    }

    /// The names in the folder (not `.` and `..`), in the order the server lists them; an
    /// entry that cannot be read is an error in its place, and ends the listing.
    pub fn list(&self) -> Result<Vec<io::Result<OsString>>, String> {
        let dir = rustix::fs::Dir::read_from(&self.dir).map_err(|e| {
            format!(
                "cannot list {}: {}",
                self.path.display(),
                io::Error::from(e)
            )
        })?;
        let mut out = Vec::new();
        for entry in dir {
            match entry {
                Ok(entry) => {
                    let name = entry.file_name().to_bytes();
                    if name != b"." && name != b".." {
                        out.push(Ok(OsString::from_vec(name.to_vec())));
                    }
                }
                Err(e) => {
                    out.push(Err(e.into()));
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The attributes of `name` as the server has them now: `statx` with
    /// `AT_STATX_FORCE_SYNC` (past the SMB client's attribute cache) relative to the folder's
    /// handle, a link not followed. Where `statx` is missing (`ENOSYS`), `fstatat` with
    /// `AT_SYMLINK_NOFOLLOW`, which may answer from the cache.
    pub fn attributes(&self, name: impl AsRef<std::ffi::OsStr>) -> io::Result<Attributes> {
        let name = name.as_ref();
        if !check_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a file name in FOLDER"),
            ));
        }
        let wanted = StatxFlags::TYPE | StatxFlags::SIZE | StatxFlags::MTIME | StatxFlags::INO;
        let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::STATX_FORCE_SYNC;
        match rustix::fs::statx(&self.dir, name, flags, wanted) {
            Ok(st) => {
                let needed = StatxFlags::TYPE | StatxFlags::SIZE | StatxFlags::MTIME;
                if !StatxFlags::from_bits_truncate(st.stx_mask).contains(needed) {
                    return Err(io::Error::other(format!(
                        "the file system did not report the type, size and modification time \
                         of {}",
                        name.to_string_lossy()
                    )));
                }
                Ok(Attributes::of_statx(&st))
            }
            Err(rustix::io::Errno::NOSYS) => {
                let st = rustix::fs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
                Ok(Attributes::of_stat(&st))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Open `name` beneath the folder's handle and check that it is the regular file the scan
    /// `measured` (size, modification time, device and inode). Never follows a link, never
    /// blocks on a FIFO.
    pub fn open_recording(
        &self,
        name: &str,
        measured: &Attributes,
    ) -> Result<Recording, NotOpened> {
        let fail = |why: Why| NotOpened {
            name: name.to_owned(),
            why,
        };
        if !check_name(name) {
            return Err(fail(Why::BadName));
        }
        let fd = self.open_beneath(name).map_err(|e| fail(Why::Io(e)))?;
        let now = rustix::fs::fstat(&fd)
            .map(|st| Attributes::of_stat(&st))
            .map_err(|e| fail(Why::Io(e.into())))?;
        let differences = measured.differences(&now);
        if !differences.is_empty() {
            return Err(fail(Why::Differs(differences)));
        }
        Ok(Recording {
            file: File::from(fd),
            name: name.to_owned(),
            attributes: now,
        })
    }

    /// `openat2` beneath the handle, no link resolved; `openat` with `O_NOFOLLOW` on the one
    /// component where the kernel has no `openat2`.
    fn open_beneath(&self, name: &str) -> io::Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS;
        match rustix::fs::openat2(&self.dir, name, flags, Mode::empty(), resolve) {
            Err(rustix::io::Errno::NOSYS) => {
                Ok(rustix::fs::openat(&self.dir, name, flags, Mode::empty())?)
            }
            opened => Ok(opened?),
        }
    }

    /// Create `name` in the folder, exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`: nothing
    /// already there, not even a link, is opened), for writing: the clock's probe.
    pub fn create(&self, name: &str) -> io::Result<File> {
        if !check_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a file name in FOLDER"),
            ));
        }
        let flags = OFlags::WRONLY
            | OFlags::CREATE
            | OFlags::EXCL
            | OFlags::NOFOLLOW
            | OFlags::NONBLOCK
            | OFlags::CLOEXEC;
        let mode = Mode::RUSR | Mode::WUSR | Mode::RGRP | Mode::ROTH;
        Ok(File::from(rustix::fs::openat(
            &self.dir, name, flags, mode,
        )?))
    }

    /// Remove `name` from the folder (the name itself, whatever it is now: a link is removed,
    /// never followed). The caller has just checked its attributes.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        if !check_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a file name in FOLDER"),
            ));
        }
        Ok(rustix::fs::unlinkat(&self.dir, name, AtFlags::empty())?)
    }
}

/// A recording open for reading, checked to be the file measured.
#[derive(Debug)]
pub struct Recording {
    file: File,
    name: String,
    attributes: Attributes,
}

impl Recording {
    /// The open handle: read it at explicit offsets ([`Recording::reader`], `read_at`).
    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its attributes when it was opened (those measured).
    pub fn attributes(&self) -> &Attributes {
        &self.attributes
    }

    /// Its size when it was opened.
    pub fn size(&self) -> u64 {
        self.attributes.size
    }

    /// Reads bytes `start..start + len` (fewer where the file ends sooner) at explicit offsets:
    /// whatever else reads the handle, this reader sees only its range.
    pub fn reader(&self, start: u64, len: u64) -> RangeReader<'_> {
        RangeReader {
            file: &self.file,
            at: start,
            end: start.saturating_add(len),
        }
    }
}

/// A [`Read`](io::Read) over a byte range of an open file, by positional reads.
#[derive(Debug)]
pub struct RangeReader<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl io::Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.at)).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
