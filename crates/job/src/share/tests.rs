//! The share's handle on real files in a temporary folder: links, FIFOs, swaps and growth.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::*;

/// A folder with `a.mp3`, and beside it (outside the folder) `outside.mp3`.
struct Fixture {
    _root: tempfile::TempDir,
    folder: PathBuf,
    outside: PathBuf,
}

const INSIDE: &[u8] = b"recorded inside the folder";
const SECRET: &[u8] = b"OUTSIDE THE FOLDER: never to be read";

fn fixture() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("hope");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("a.mp3"), INSIDE).unwrap();
    let outside = root.path().join("outside.mp3");
    std::fs::write(&outside, SECRET).unwrap();
    Fixture {
        _root: root,
        folder,
        outside,
    }
}

fn read_all(r: &Recording) -> Vec<u8> {
    let mut out = Vec::new();
    r.reader(0, u64::MAX).read_to_end(&mut out).unwrap();
    out
}

#[test]
fn a_recording_is_opened_beneath_the_handle_and_read_as_measured() {
    let f = fixture();
    let share = Share::open(&f.folder).unwrap();
    let names: Vec<_> = share
        .list()
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(names, vec![OsString::from("a.mp3")]);
    let measured = share.attributes("a.mp3").unwrap();
    assert_eq!(measured.kind, Kind::File);
    assert_eq!(measured.size, INSIDE.len() as u64);
    let meta = std::fs::symlink_metadata(f.folder.join("a.mp3")).unwrap();
    assert_eq!(
        measured.modified,
        DateTime::<Utc>::from(meta.modified().unwrap())
    );
    {
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(
            measured.id,
            FileId {
                dev: meta.dev(),
                ino: meta.ino()
            }
        );
    }
    let r = share.open_recording("a.mp3", &measured).unwrap();
    assert_eq!(r.attributes(), &measured, "fstat agrees with statx");
    assert_eq!(read_all(&r), INSIDE);
    let mut middle = Vec::new();
    r.reader(9, 6).read_to_end(&mut middle).unwrap();
    assert_eq!(middle, b"inside");
}

#[test]
fn a_symlink_named_like_a_recording_is_never_opened() {
    let f = fixture();
    symlink(&f.outside, f.folder.join("x.mp3")).unwrap();
    let share = Share::open(&f.folder).unwrap();
    let attributes = share.attributes("x.mp3").unwrap();
    assert_eq!(
        attributes.kind,
        Kind::Symlink,
        "the link itself, not its target"
    );
    // Even with the target's attributes in hand, opening the name fails.
    let target = std::fs::metadata(&f.outside).unwrap();
    let as_target = Attributes {
        kind: Kind::File,
        size: target.len(),
        modified: target.modified().unwrap().into(),
        id: attributes.id,
    };
    let err = share.open_recording("x.mp3", &as_target).unwrap_err();
    assert!(matches!(err.why, Why::Io(_)), "{err}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    // Names that are not one component are refused before any call.
    for name in ["../outside.mp3", "", ".", "..", "sub/a.mp3"] {
        let err = share.open_recording(name, &as_target).unwrap_err();
        assert!(matches!(err.why, Why::BadName), "{name}: {err}");
        assert!(share.attributes(name).is_err(), "{name}");
        assert!(share.remove(name).is_err(), "{name}");
    }
    assert_eq!(std::fs::read(&f.outside).unwrap(), SECRET);
}

#[test]
fn the_fallback_without_openat2_does_not_follow_a_link_either() {
    let f = fixture();
    symlink(&f.outside, f.folder.join("x.mp3")).unwrap();
    let share = Share::open(&f.folder).unwrap();
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let err = rustix::fs::openat(&share.dir, "x.mp3", flags, Mode::empty()).unwrap_err();
    assert_eq!(err, rustix::io::Errno::LOOP);
}

#[test]
fn a_file_swapped_for_a_symlink_after_the_scan_is_not_read() {
    let f = fixture();
    let share = Share::open(&f.folder).unwrap();
    let measured = share.attributes("a.mp3").unwrap();
    std::fs::remove_file(f.folder.join("a.mp3")).unwrap();
    symlink(&f.outside, f.folder.join("a.mp3")).unwrap();
    let err = share.open_recording("a.mp3", &measured).unwrap_err();
    assert!(
        !err.is_change(),
        "a link in its place is no mere change: {err}"
    );
    assert!(err.to_string().contains("a.mp3"), "{err}");
    // A fresh look says what is there now.
    let now = share.attributes("a.mp3").unwrap();
    let differences = measured.differences(&now);
    assert!(
        differences.contains(&Difference::Kind(Kind::Symlink)),
        "{differences:?}"
    );
    // Removing it removes the link, never its target.
    share.remove("a.mp3").unwrap();
    assert_eq!(std::fs::read(&f.outside).unwrap(), SECRET);
}

#[test]
fn the_folder_swapped_for_a_symlink_after_it_was_opened_changes_nothing() {
    let f = fixture();
    let share = Share::open(&f.folder).unwrap();
    let measured = share.attributes("a.mp3").unwrap();
    // The folder moves away and a link to another folder, with its own a.mp3, takes its path.
    let moved = f.folder.with_file_name("hope.moved");
    std::fs::rename(&f.folder, &moved).unwrap();
    let other = f.folder.with_file_name("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("a.mp3"), SECRET).unwrap();
    symlink(&other, &f.folder).unwrap();

    let r = share.open_recording("a.mp3", &measured).unwrap();
    assert_eq!(
        read_all(&r),
        INSIDE,
        "read from the folder the handle names"
    );
    share.remove("a.mp3").unwrap();
    assert!(!moved.join("a.mp3").exists());
    assert_eq!(std::fs::read(other.join("a.mp3")).unwrap(), SECRET);

    // A run starting now refuses the link.
    let err = Share::open(&f.folder).unwrap_err();
    assert!(err.contains("is a symbolic link"), "{err}");
}

#[test]
fn a_fifo_named_like_a_recording_is_listed_as_special_and_never_blocks() {
    let f = fixture();
    let fifo = f.folder.join("fifo.mp3");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let share = Share::open(&f.folder).unwrap();
    let started = Instant::now();
    let attributes = share.attributes("fifo.mp3").unwrap();
    assert_eq!(attributes.kind, Kind::Special);
    // Even asked to open it as a regular file: O_NONBLOCK, and fstat says what it is.
    let as_file = Attributes {
        kind: Kind::File,
        ..attributes
    };
    let err = share.open_recording("fifo.mp3", &as_file).unwrap_err();
    assert!(
        matches!(&err.why, Why::Differs(d) if d.contains(&Difference::Kind(Kind::Special))),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_file_that_grew_since_it_was_measured_is_not_opened() {
    let f = fixture();
    let share = Share::open(&f.folder).unwrap();
    let measured = share.attributes("a.mp3").unwrap();
    let mut w = std::fs::OpenOptions::new()
        .append(true)
        .open(f.folder.join("a.mp3"))
        .unwrap();
    w.write_all(b" and more").unwrap();
    drop(w);
    let err = share.open_recording("a.mp3", &measured).unwrap_err();
    assert!(err.is_change(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("a.mp3") && text.contains("size was 26 bytes, now 35"),
        "{text}"
    );
}

#[test]
fn a_file_replaced_by_another_of_the_same_size_and_time_is_not_opened() {
    let f = fixture();
    let share = Share::open(&f.folder).unwrap();
    let measured = share.attributes("a.mp3").unwrap();
    let path = f.folder.join("a.mp3");
    let aside = f.folder.join("b.tmp");
    std::fs::write(&aside, b"x".repeat(INSIDE.len())).unwrap();
    let mtime = filetime::FileTime::from_system_time(measured.modified.into());
    filetime::set_file_mtime(&aside, mtime).unwrap();
    // The measured file stays open elsewhere, so its inode number is not reused.
    let _keep = File::open(&path).unwrap();
    std::fs::rename(&aside, &path).unwrap();
    let err = share.open_recording("a.mp3", &measured).unwrap_err();
    assert!(
        matches!(&err.why, Why::Differs(d) if matches!(d[..], [Difference::Replaced { .. }])),
        "{err}"
    );
    assert!(!err.is_change());
}

#[test]
fn folder_errors_name_it() {
    let f = fixture();
    let err = Share::open(&f.folder.join("a.mp3")).unwrap_err();
    assert!(err.contains("is not a directory"), "{err}");
    let err = Share::open(&f.folder.join("missing")).unwrap_err();
    assert!(
        err.contains("missing") && err.contains("recording folder"),
        "{err}"
    );
    symlink(&f.folder, f.folder.with_file_name("link")).unwrap();
    let err = Share::open(&f.folder.with_file_name("link")).unwrap_err();
    assert!(err.contains("is a symbolic link"), "{err}");
}
