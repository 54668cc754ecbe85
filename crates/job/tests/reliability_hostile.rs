//! A corpus of hostile inputs, each with its expected outcome, through the real binary against
//! a real Azurite: odd MP3s (generated with ffmpeg at test time), odd names, links, special
//! files, bad settings and foreign or malformed table rows.
//!
//! For every case, `segment-selector plan` runs first and must change nothing (folder, files
//! outside it, archive); then a run. Both must end with the expected exit code, a message that
//! names the input (stderr), no panic, and within a time limit (no hang). After the run: nothing
//! outside the folder changed; every entry of the folder that is not a plain file directly in it
//! is untouched; a file that disappeared held no bytes, or is archived (a row, and a blob with
//! exactly its bytes), or the plan proved it covered by archived files; a file that stayed is
//! byte for byte as it was; every row has its blob, and no blob name has an empty, `.` or `..`
//! part or starts with `/`. Each case then checks what happened to its own files.
//!
//! `HOSTILE_CASES=name,name` picks cases.

mod support;
use support::{azurite, common};

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use md5::Digest;
use serde_json::{json, Value};
use store::Archive;

use common::{folder_state, md5_b64, run_limited, snapshot, tree_state, Run, Snapshot};

const LIMIT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------- media

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Media {
    /// 10 s, 44.1 kHz stereo, 128 kbit/s CBR (MPEG-1 Layer III), as the article's recorders.
    Cbr,
    /// 10 s, VBR (`-q:a 4`).
    Vbr,
    /// 10 s, 22.05 kHz mono (MPEG-2 Layer III).
    Mono22k,
    /// 10 s, 24 kHz stereo (MPEG-2 Layer III).
    Mpeg2,
    /// 10 s, 8 kHz mono (MPEG-2.5 Layer III).
    Mpeg25,
    /// ffmpeg SIGKILLed while writing: a Xing header claiming 0 frames, real frames after it,
    /// and a partial frame at the end.
    Killed,
}

/// The bytes of a generated recording, made once per machine and kept in the test scratch folder.
fn media(kind: Media) -> Vec<u8> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability-media-v1");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{kind:?}.mp3"));
    if let Ok(bytes) = std::fs::read(&path) {
        return bytes;
    }
    let tmp = dir.join(format!("{kind:?}.{}.tmp.mp3", std::process::id()));
    let sine =
        |rate: u32, secs: u32| format!("sine=frequency=440:duration={secs}:sample_rate={rate}");
    let args: Vec<String> = match kind {
        Media::Cbr => vec![
            "-i".into(),
            sine(44_100, 10),
            "-ac".into(),
            "2".into(),
            "-b:a".into(),
            "128k".into(),
        ],
        Media::Vbr => vec![
            "-i".into(),
            sine(44_100, 10),
            "-ac".into(),
            "2".into(),
            "-q:a".into(),
            "4".into(),
        ],
        Media::Mono22k => vec![
            "-i".into(),
            sine(22_050, 10),
            "-ac".into(),
            "1".into(),
            "-b:a".into(),
            "32k".into(),
        ],
        Media::Mpeg2 => vec![
            "-i".into(),
            sine(24_000, 10),
            "-ac".into(),
            "2".into(),
            "-b:a".into(),
            "64k".into(),
        ],
        Media::Mpeg25 => vec![
            "-i".into(),
            sine(8_000, 10),
            "-ac".into(),
            "1".into(),
            "-b:a".into(),
            "16k".into(),
        ],
        Media::Killed => vec![
            "-i".into(),
            sine(44_100, 3600),
            "-ac".into(),
            "2".into(),
            "-b:a".into(),
            "128k".into(),
        ],
    };
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-nostdin", "-y", "-f", "lavfi"])
        .args(&args)
        .args(["-c:a", "libmp3lame"])
        .arg(&tmp);
    if kind == Media::Killed {
        let mut child = cmd.spawn().expect("ffmpeg (apt-get install ffmpeg)");
        let started = Instant::now();
        // Until it has written a good part, then SIGKILL.
        while std::fs::metadata(&tmp).map(|m| m.len()).unwrap_or(0) < 100_000
            && started.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let bytes = std::fs::read(&tmp).unwrap();
        let xing = bytes
            .windows(4)
            .position(|w| w == b"Xing")
            .expect("a Xing header");
        let frames = u32::from_be_bytes(bytes[xing + 8..xing + 12].try_into().unwrap());
        assert_eq!(
            frames, 0,
            "the killed file's Xing header is not a placeholder"
        );
    } else {
        let status = cmd.status().expect("ffmpeg (apt-get install ffmpeg)");
        assert!(status.success(), "ffmpeg failed for {kind:?}");
    }
    std::fs::rename(&tmp, &path).unwrap();
    std::fs::read(&path).unwrap()
}

/// An ID3v2.4 tag of `size` bytes of padding.
fn id3_tag(size: usize) -> Vec<u8> {
    let mut tag = b"ID3\x04\x00\x00".to_vec();
    tag.extend((0..4).rev().map(|i| ((size >> (7 * i)) & 0x7f) as u8));
    tag.resize(10 + size, 0);
    tag
}

fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = common::Rng::new(seed);
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

// ---------------------------------------------------------------- cases

/// Where a case runs: its folder, a folder outside it, the stream, and a base time two hours ago.
struct Ctx {
    root: PathBuf,
    folder: PathBuf,
    outside: PathBuf,
    stream: String,
    conn: String,
    azurite_blob_port: u16,
    t0: DateTime<Utc>,
    /// Label → path relative to the folder.
    files: Mutex<BTreeMap<&'static str, PathBuf>>,
}

impl Ctx {
    fn at(&self, seconds: i64) -> DateTime<Utc> {
        self.t0 + TimeDelta::seconds(seconds)
    }

    /// `<pod>_<time>.mp3` for a time `seconds` after the base.
    fn name(&self, pod: &str, seconds: i64) -> String {
        format!("{pod}_{}.mp3", self.at(seconds).format("%Y%m%dT%H%M%S"))
    }

    /// Writes a file under a label, modified `modified_after` seconds after its name's time.
    fn put(&self, label: &'static str, rel: impl Into<PathBuf>, bytes: &[u8], at: DateTime<Utc>) {
        let rel = rel.into();
        let path = self.folder.join(&rel);
        std::fs::write(&path, bytes).unwrap();
        filetime::set_file_mtime(&path, filetime::FileTime::from_system_time(at.into())).unwrap();
        self.files.lock().unwrap().insert(label, rel);
    }

    /// A segment of `pod` named `seconds` after the base, finished long ago.
    fn segment(&self, label: &'static str, pod: &str, seconds: i64, bytes: &[u8]) {
        self.put(label, self.name(pod, seconds), bytes, self.at(seconds + 11));
    }

    fn label(&self, label: &'static str, rel: impl Into<PathBuf>) {
        self.files.lock().unwrap().insert(label, rel.into());
    }

    fn rel(&self, label: &str) -> PathBuf {
        self.files
            .lock()
            .unwrap()
            .get(label)
            .cloned()
            .unwrap_or_else(|| panic!("no file labelled {label}"))
    }

    fn archive(&self) -> store::azure::AzureArchive {
        common::archive(&self.conn, &self.stream)
    }
}

/// What must become of one labelled file.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// Planned as an upload and recorded in a row after the run.
    Archived,
    /// Held by the plan for this reason (text of its JSON); still there, unchanged.
    Held(&'static str),
    /// Not in the plan at all; still there, unchanged.
    Skipped,
    /// Planned for deletion (this reason) and gone after the run.
    Deleted(&'static str),
    /// Still there and unchanged, whatever the plan says.
    Kept,
    /// Archived or still there: never gone without its audio archived.
    NotLost,
}

/// A further check of a case after its run.
type Check = fn(&Ctx, &Snapshot) -> Result<(), String>;

struct Case {
    name: &'static str,
    /// The input and the expected outcome, for the report.
    what: &'static str,
    /// Writes the files (the two base segments are always there).
    setup: fn(&Ctx),
    /// Environment changes: `None` removes the variable. `{folder}`, `{conn}` and `{outside}` in
    /// values are replaced.
    env: &'static [(&'static str, Option<&'static str>)],
    /// Exit code of the run, and of `plan` when it differs.
    code: i32,
    plan_code: Option<i32>,
    /// Substrings the run's stderr must hold (after `{…}` replacement).
    stderr: &'static [&'static str],
    outcomes: &'static [(&'static str, Outcome)],
    /// Run the job as an unprivileged user (when the tests run as root).
    unprivileged: bool,
    /// Further checks after the run.
    check: Option<Check>,
    /// A known bug makes this case fail: it runs in the `#[ignore]`d `hostile_known_bugs`.
    bug: Option<&'static str>,
}

const BASE: &[(&str, Outcome)] = &[("base1", Outcome::Archived), ("base2", Outcome::Archived)];

fn case(name: &'static str, what: &'static str, setup: fn(&Ctx)) -> Case {
    Case {
        name,
        what,
        setup,
        env: &[],
        code: 0,
        plan_code: None,
        stderr: &[],
        outcomes: &[],
        unprivileged: false,
        check: None,
        bug: None,
    }
}

/// A settings case: the run and `plan` exit with `code` and name the variable; nothing changes.
fn setting(
    name: &'static str,
    what: &'static str,
    env: &'static [(&'static str, Option<&'static str>)],
    code: i32,
    stderr: &'static [&'static str],
) -> Case {
    Case {
        env,
        code,
        stderr,
        outcomes: &[("base1", Outcome::Kept), ("base2", Outcome::Kept)],
        ..case(name, what, |_| {})
    }
}

fn cases() -> Vec<Case> {
    use Outcome::*;
    vec![
        // ------------------------------------------------ files
        Case {
            outcomes: &[("empty", Deleted("NoAudio"))],
            ..case("zero-byte-finished", "a finished 0-byte segment: deleted as empty", |c| {
                c.segment("empty", "rec-b", 100, b"")
            })
        },
        Case {
            outcomes: &[("empty", Held("StillRecording"))],
            ..case(
                "zero-byte-live",
                "a 0-byte segment modified just now, its pod's newest: held as still recording",
                |c| c.put("empty", c.name("rec-c", 7190), b"", Utc::now()),
            )
        },
        Case {
            outcomes: &[("cut", Archived)],
            check: Some(|c, s| row_of(c, s, "cut").and_then(|r| {
                (r.truncated == Some(true)).then_some(()).ok_or(format!("not marked truncated: {r:?}"))
            })),
            ..case("truncated-mid-frame", "the only copy, cut in the middle of a frame: archived, marked truncated", |c| {
                let b = media(Media::Cbr);
                c.segment("cut", "rec-t", 200, &b[..b.len() * 6 / 10 + 7]);
            })
        },
        Case {
            outcomes: &[("text", Held("NoFrames"))],
            ..case("garbage-text", "text with an .mp3 name: held for an operator (no frames)", |c| {
                c.segment("text", "rec-g", 300, &b"this is not audio\n".repeat(3000))
            })
        },
        Case {
            outcomes: &[("noise", NotLost)],
            ..case("garbage-random", "64 KiB of random bytes with an .mp3 name: never deleted unless archived", |c| {
                c.segment("noise", "rec-r", 400, &pseudo_random(65_536, 7))
            })
        },
        Case {
            outcomes: &[("tag", Held("NoFrames"))],
            ..case("id3v2-only", "an ID3v2 tag and nothing else: held (no frames)", |c| {
                c.segment("tag", "rec-i", 500, &id3_tag(4096))
            })
        },
        Case {
            outcomes: &[("big", Archived)],
            ..case("huge-id3", "a 4 MiB ID3v2 tag before real audio: archived byte for byte", |c| {
                let mut b = id3_tag(4 << 20);
                b.extend(media(Media::Cbr));
                c.segment("big", "rec-h", 600, &b);
            })
        },
        Case {
            outcomes: &[("vbr", Archived)],
            ..case("vbr", "a VBR recording: archived", |c| c.segment("vbr", "rec-v", 700, &media(Media::Vbr)))
        },
        Case {
            outcomes: &[("mono", Archived)],
            ..case("mono-22k", "22.05 kHz mono (MPEG-2 Layer III): archived", |c| {
                c.segment("mono", "rec-m", 800, &media(Media::Mono22k))
            })
        },
        Case {
            outcomes: &[("m2", Archived)],
            ..case("mpeg2-24k", "24 kHz stereo (MPEG-2 Layer III): archived", |c| {
                c.segment("m2", "rec-n", 900, &media(Media::Mpeg2))
            })
        },
        Case {
            outcomes: &[("m25", Archived)],
            ..case("mpeg25-8k", "8 kHz mono (MPEG-2.5 Layer III): archived", |c| {
                c.segment("m25", "rec-o", 1000, &media(Media::Mpeg25))
            })
        },
        Case {
            outcomes: &[("killed", Archived)],
            check: Some(|c, s| row_of(c, s, "killed").and_then(|r| {
                (r.frames.unwrap_or(0) > 100)
                    .then_some(())
                    .ok_or(format!("frames not counted (the header says 0): {r:?}"))
            })),
            ..case("placeholder-xing", "ffmpeg killed mid-file: Xing header says 0 frames; frames counted, archived", |c| {
                c.segment("killed", "rec-k", 1100, &media(Media::Killed))
            })
        },
        Case {
            outcomes: &[("nested", Skipped)],
            stderr: &["is a subfolder"],
            ..case("subfolder", "a valid segment in a subfolder: left alone with a warning", |c| {
                std::fs::create_dir(c.folder.join("sub")).unwrap();
                c.put("nested", Path::new("sub").join(c.name("rec-s", 1200)), &media(Media::Cbr), c.at(1211));
            })
        },
        Case {
            outcomes: &[("link", Skipped)],
            stderr: &["symbolic link"],
            ..case("symlink-outside-file", "a segment name linking to a recording outside: never followed, deleted or uploaded", |c| {
                let target = c.outside.join("target.mp3");
                std::fs::write(&target, media(Media::Cbr)).unwrap();
                let name = c.name("rec-l", 1300);
                std::os::unix::fs::symlink(&target, c.folder.join(&name)).unwrap();
                c.label("link", name);
            })
        },
        Case {
            outcomes: &[("dirlink", Skipped)],
            ..case("symlink-outside-dir", "a link to a folder of recordings outside: never followed", |c| {
                let target = c.outside.join("other-stream");
                std::fs::create_dir(&target).unwrap();
                std::fs::write(target.join(c.name("rec-x", 1400)), media(Media::Cbr)).unwrap();
                std::os::unix::fs::symlink(&target, c.folder.join("other-stream")).unwrap();
                c.label("dirlink", "other-stream");
            })
        },
        Case {
            outcomes: &[("dangling", Skipped)],
            ..case("symlink-dangling", "a segment name linking nowhere: left alone", |c| {
                let name = c.name("rec-d", 1500);
                std::os::unix::fs::symlink("/nonexistent/x.mp3", c.folder.join(&name)).unwrap();
                c.label("dangling", name);
            })
        },
        Case {
            outcomes: &[("inlink", Skipped)],
            ..case("symlink-inside", "a segment name linking to a segment in the folder: the link left alone, the segment archived", |c| {
                let name = c.name("rec-e", 1600);
                std::os::unix::fs::symlink(c.folder.join(c.rel("base1")), c.folder.join(&name)).unwrap();
                c.label("inlink", name);
            })
        },
        Case {
            outcomes: &[("hard", Archived)],
            ..case("hardlink-outside", "a segment hard-linked to a file outside: archived; the outside file never changes", |c| {
                let target = c.outside.join("hard.mp3");
                std::fs::write(&target, media(Media::Cbr)).unwrap();
                let t = c.at(1711);
                filetime::set_file_mtime(&target, filetime::FileTime::from_system_time(t.into())).unwrap();
                let name = c.name("rec-j", 1700);
                std::fs::hard_link(&target, c.folder.join(&name)).unwrap();
                c.label("hard", name);
            })
        },
        Case {
            outcomes: &[("plain", Held("UnknownName"))],
            ..case("name-free-text", "recording.mp3: held, the message says which name format was expected", |c| {
                c.put("plain", "recording.mp3", &media(Media::Cbr), c.at(1811))
            })
        },
        Case {
            outcomes: &[("dashed", Held("UnknownName"))],
            ..case("name-other-format", "a date in another format: held", |c| {
                let name = format!("rec-f_{}.mp3", c.at(1900).format("%Y-%m-%d_%H-%M-%S"));
                c.put("dashed", name, &media(Media::Cbr), c.at(1911));
            })
        },
        Case {
            outcomes: &[("bad", Held("UnknownName"))],
            ..case("name-impossible-date", "month 13, hour 25: held", |c| {
                c.put("bad", "rec-q_20261345T256161.mp3", &media(Media::Cbr), c.at(2011))
            })
        },
        Case {
            outcomes: &[("future", Held("FutureName"))],
            ..case("name-future", "a name one day ahead: held", |c| {
                c.put("future", c.name("rec-u", 86_400 + 7200), &media(Media::Cbr), c.at(2111))
            })
        },
        Case {
            outcomes: &[("old", NotLost)],
            ..case("name-1999", "a name from 1999: never lost", |c| {
                c.put("old", "rec-w_19991231T235950.mp3", &media(Media::Cbr), c.at(2211))
            })
        },
        Case {
            outcomes: &[("foreign", Archived)],
            ..case("other-stream-prefix", "another stream's name as prefix: a prefix is a pod, archived with this stream", |c| {
                c.segment("foreign", "inspire", 2300, &media(Media::Cbr))
            })
        },
        Case {
            outcomes: &[("x", NotLost), ("y", NotLost)],
            check: Some(|c, s| {
                let (x, y) = (c.rel("x"), c.rel("y"));
                let archived = [x, y]
                    .iter()
                    .filter(|p| s.row_for_file(&p.to_string_lossy()).is_some())
                    .count();
                (archived >= 1).then_some(()).ok_or("neither copy archived".into())
            }),
            ..case("same-name-two-pods", "two pods, the same second, the same audio: one copy archived at least, rows unique", |c| {
                c.segment("x", "pod-x", 2400, &media(Media::Cbr));
                c.segment("y", "pod-y", 2400, &media(Media::Cbr));
            })
        },
        Case {
            outcomes: &[("quote", Held("UnknownName"))],
            ..case("name-quote", "o'brien_<time>.mp3: held, no OData error", |c| {
                c.segment("quote", "o'brien", 2500, &media(Media::Cbr))
            })
        },
        Case {
            outcomes: &[("nl", Held("UnknownName"))],
            ..case("name-newline", "a newline in the name: held", |c| {
                c.segment("nl", "rec\n-n", 2600, &media(Media::Cbr))
            })
        },
        Case {
            outcomes: &[("latin1", Held("UnknownName"))],
            ..case("name-not-utf8", "a name with an invalid UTF-8 byte: held, not deleted", |c| {
                let mut raw = b"rec-\xff_".to_vec();
                raw.extend(c.at(2700).format("%Y%m%dT%H%M%S.mp3").to_string().bytes());
                let rel = PathBuf::from(OsString::from_vec(raw));
                c.put("latin1", rel, &media(Media::Cbr), c.at(2711));
            })
        },
        Case {
            outcomes: &[("dots", Archived)],
            ..case("pod-dotdot", "pod named '..': archived; its blob name has no '..' part", |c| {
                c.segment("dots", "..", 2800, &media(Media::Cbr))
            })
        },
        Case {
            env: &[("BLOB_TEMPLATE", Some("{pod}/{file}"))],
            outcomes: &[("dots", Held("BadBlobName"))],
            ..case("pod-dotdot-folder", "pod '..' with BLOB_TEMPLATE={pod}/{file}: held, never a '..' blob", |c| {
                c.segment("dots", "..", 2900, &media(Media::Cbr))
            })
        },
        Case {
            outcomes: &[("upper", Skipped)],
            ..case("extension-uppercase", "<pod>_<time>.MP3: not a recording of ours, left alone", |c| {
                c.put("upper", c.name("rec-p", 3000).replace(".mp3", ".MP3"), &media(Media::Cbr), c.at(3011))
            })
        },
        Case {
            outcomes: &[("dir", Skipped)],
            ..case("directory-named-mp3", "a directory with a segment name: left alone", |c| {
                let name = c.name("rec-y", 3100);
                std::fs::create_dir(c.folder.join(&name)).unwrap();
                c.label("dir", name);
            })
        },
        Case {
            outcomes: &[("long", Archived)],
            ..case("pod-200-chars", "a 200-character pod name: archived", |c| {
                c.segment("long", &"p".repeat(200), 3200, &media(Media::Cbr))
            })
        },
        Case {
            outcomes: &[("sock", Kept)],
            stderr: &["is not a regular file"],
            ..case("unix-socket", "a finished-looking Unix socket with a segment name: never deleted", |c| {
                let name = c.name("rec-z", 3300);
                let path = c.folder.join(&name);
                let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
                std::mem::forget(listener);
                let old = filetime::FileTime::from_system_time(c.at(3311).into());
                filetime::set_symlink_file_times(&path, old, old).unwrap();
                c.label("sock", name);
            })
        },
        Case {
            outcomes: &[("fifo", Kept)],
            stderr: &["is not a regular file"],
            ..case("fifo", "a finished-looking FIFO with a segment name (opening it would block): no hang, never deleted", |c| {
                let name = c.name("rec-fifo", 3400);
                let path = c.folder.join(&name);
                let status = Command::new("mkfifo").arg(&path).status().unwrap();
                assert!(status.success());
                let old = filetime::FileTime::from_system_time(c.at(3411).into());
                filetime::set_symlink_file_times(&path, old, old).unwrap();
                c.label("fifo", name);
            })
        },
        Case {
            outcomes: &[("locked", Held("Unreadable"))],
            unprivileged: true,
            ..case("unreadable", "a segment nobody may read (chmod 000; the job runs as nobody when the tests run as root): held", |c| {
                c.segment("locked", "rec-ur", 3500, &media(Media::Cbr));
                let path = c.folder.join(c.rel("locked"));
                std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
            })
        },
        Case {
            env: &[("NAME_FORMAT", Some("%Y%m%dT%H%M%S%Z"))],
            outcomes: &[("brace", NotLost)],
            bug: None,
            check: Some(|c, s| {
                let name = c.rel("brace").to_string_lossy().into_owned();
                match s.row_for_file(&name) {
                    Some(r) if !r.blob_name.as_deref().unwrap_or("").ends_with(&name) => {
                        Err(format!("{name} archived as blob {:?}", r.blob_name))
                    }
                    _ => Ok(()),
                }
            }),
            ..case("name-placeholder", "with NAME_FORMAT=%Y%m%dT%H%M%S%Z (free text after the time), a name holding {stream}: its blob must still be named after it", |c| {
                let name = format!("rec-br_{}{{stream}}.mp3", c.at(3600).format("%Y%m%dT%H%M%S"));
                c.put("brace", name, &media(Media::Cbr), c.at(3611));
            })
        },
        // ------------------------------------------------ settings
        setting("folder-missing", "FOLDER names nothing: exit 1 naming it", &[("FOLDER", Some("/nonexistent/hope"))], 1, &["FOLDER /nonexistent/hope", "No such file"]),
        setting("folder-is-file", "FOLDER is a file: exit 1", &[("FOLDER", Some("{outside}/plain-file"))], 1, &["is not a directory"]),
        setting("folder-unset", "FOLDER unset: exit 2", &[("FOLDER", None)], 2, &["FOLDER is not set"]),
        setting("duration-zero", "FILE_DURATION=0: exit 2", &[("FILE_DURATION", Some("0"))], 2, &["FILE_DURATION \"0\""]),
        setting("duration-negative", "FILE_DURATION=-5: exit 2", &[("FILE_DURATION", Some("-5"))], 2, &["FILE_DURATION \"-5\""]),
        setting("duration-text", "FILE_DURATION=ten: exit 2", &[("FILE_DURATION", Some("ten"))], 2, &["FILE_DURATION \"ten\""]),
        setting("duration-huge", "FILE_DURATION beyond u64: exit 2", &[("FILE_DURATION", Some("99999999999999999999999"))], 2, &["FILE_DURATION"]),
        setting("stream-underscore", "STREAM_NAME=Hope_Stream: exit 2", &[("STREAM_NAME", Some("Hope_Stream"))], 2, &["STREAM_NAME \"Hope_Stream\""]),
        setting("stream-short", "STREAM_NAME=ab: exit 2", &[("STREAM_NAME", Some("ab"))], 2, &["STREAM_NAME \"ab\""]),
        setting("stream-double-hyphen", "STREAM_NAME=a--b: exit 2", &[("STREAM_NAME", Some("a--b"))], 2, &["STREAM_NAME"]),
        setting("stream-quote", "STREAM_NAME=o'brien: exit 2", &[("STREAM_NAME", Some("o'brien"))], 2, &["STREAM_NAME"]),
        setting("stream-too-long", "a 64-character STREAM_NAME: exit 2", &[("STREAM_NAME", Some("a123456789a123456789a123456789a123456789a123456789a123456789abcd"))], 2, &["STREAM_NAME"]),
        setting("conn-garbage", "a connection string without '=': exit 2", &[("AZURE_STORAGE_CONNECTION_STRING", Some("garbage"))], 2, &["AZURE_STORAGE_CONNECTION_STRING"]),
        setting("conn-empty", "an empty connection string: exit 2", &[("AZURE_STORAGE_CONNECTION_STRING", Some(""))], 2, &["AZURE_STORAGE_CONNECTION_STRING is not set"]),
        setting("conn-truncated", "a connection string cut inside the key: exit 2", &[("AZURE_STORAGE_CONNECTION_STRING", Some("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT5"))], 2, &["AccountKey is not valid base64"]),
        setting("conn-keyless", "AccountName without AccountKey: exit 2", &[("AZURE_STORAGE_CONNECTION_STRING", Some("BlobEndpoint=http://127.0.0.1:1/a;TableEndpoint=http://127.0.0.1:1/a;AccountName=a"))], 2, &["no AccountKey"]),
        setting("conn-sas-only", "a SAS-only string: exit 2", &[("AZURE_STORAGE_CONNECTION_STRING", Some("BlobEndpoint=https://a.blob.core.windows.net;TableEndpoint=https://a.table.core.windows.net;SharedAccessSignature=sv=2022-11-02&sig=c2VjcmV0"))], 2, &["SAS connection strings"]),
        setting("conn-dev-false", "UseDevelopmentStorage=false: exit 2", &[("AZURE_STORAGE_CONNECTION_STRING", Some("UseDevelopmentStorage=false"))], 2, &["UseDevelopmentStorage"]),
        setting("conn-one-endpoint", "BlobEndpoint without TableEndpoint: exit 2", &[("AZURE_STORAGE_CONNECTION_STRING", Some("BlobEndpoint=http://127.0.0.1:1/a;AccountName=a;AccountKey=a2V5"))], 2, &["no TableEndpoint"]),
        Case {
            plan_code: Some(0),
            stderr: &["HTTP 403"],
            ..setting("conn-wrong-key", "a valid but wrong key: the run exits 1 on 403, plan warns and plans as if the archive were empty", &[("AZURE_STORAGE_CONNECTION_STRING", Some("{conn-wrong-key}"))], 1, &[])
        },
        Case {
            plan_code: Some(0),
            ..setting("conn-closed-port", "endpoints where nothing listens: exit 1 after bounded retries", &[("AZURE_STORAGE_CONNECTION_STRING", Some("{conn-closed}"))], 1, &["create container"])
        },
        // ------------------------------------------------ table rows
        Case {
            outcomes: BASE,
            ..case("rows-foreign", "rows of files not in the folder, Node-style and ours: ignored, the folder archived", |c| {
                insert(c, row("2516066000000000000_other-pod", "other-pod_20200101T000000.mp3", Some("01-01-2020/other-pod_20200101T000000.mp3")));
                insert(c, row("2516065000000000000", "ffmpeg-old_20200101T000000.mp3", None));
            })
        },
        Case {
            outcomes: &[("base1", NotLost), ("base2", Archived)],
            ..case("rows-legacy-without-blob", "a Node-style row for a local file whose blob does not exist: the file is not deleted on its word", |c| {
                let name = c.rel("base1").to_string_lossy().into_owned();
                insert(c, row("2516065000000000001", &name, None));
            })
        },
        Case {
            outcomes: &[("base1", NotLost), ("base2", Archived)],
            bug: None,
            ..case("rows-blob-missing", "our row for a local file, its blob missing (deleted by hand or a lifecycle rule): the file is not deleted", |c| {
                let name = c.rel("base1").to_string_lossy().into_owned();
                let blob = format!("{}/{name}", c.at(0).format("%d-%m-%Y"));
                let mut r = row(&archive_model::rows::row_key(c.at(0), "rec-a"), &name, Some(&blob));
                r.size = Some(media(Media::Cbr).len() as u64);
                insert(c, r);
            })
        },
        Case {
            outcomes: &[("base1", NotLost), ("base2", Archived)],
            bug: None,
            check: Some(|c, s| {
                let r = row_of(c, s, "base1")?;
                let blob = r.blob_name.as_ref().and_then(|b| s.blobs.get(b));
                match blob {
                    Some((size, md5)) if Some(*size) == r.size && *md5 == r.content_md5 => Ok(()),
                    other => Err(format!("the row of base1 says {:?} bytes, MD5 {:?}; its blob holds {other:?}", r.size, r.content_md5)),
                }
            }),
            ..case("rows-different-blob", "our row and a blob for a local file, but other bytes in the blob: the file is not deleted", |c| {
                let name = c.rel("base1").to_string_lossy().into_owned();
                let blob = format!("{}/{name}", c.at(0).format("%d-%m-%Y"));
                let other = media(Media::Vbr);
                upload(c, &blob, &other);
                let mut r = row(&archive_model::rows::row_key(c.at(0), "rec-a"), &name, Some(&blob));
                r.size = Some(other.len() as u64);
                r.content_md5 = Some(md5_b64(&md5::Md5::digest(&other).into()));
                insert(c, r);
            })
        },
        Case {
            stderr: &["fileName", "2516065000000000002"],
            outcomes: BASE,
            ..case("rows-no-filename", "a row without fileName in the partition: skipped with a warning naming the row; the folder is archived", |c| {
                insert_raw(c, json!({"RowKey": "2516065000000000002", "note": "no file name"}));
            })
        },
        Case {
            stderr: &["fileName", "2516065000000000003"],
            outcomes: BASE,
            ..case("rows-filename-number", "a row whose fileName is a number: skipped with a warning naming the row; the folder is archived", |c| {
                insert_raw(c, json!({"RowKey": "2516065000000000003", "fileName": 42}));
            })
        },
        Case {
            outcomes: BASE,
            ..case("rows-odd-types", "a row with numbers as text, negative and boolean: read leniently", |c| {
                insert_raw(c, json!({"RowKey": "2516065000000000004", "fileName": "odd_20200101T000000.mp3",
                    "size": "abc", "durationMs": -5, "frames": true, "blobName": 7}));
            })
        },
        Case {
            outcomes: BASE,
            ..case("rows-quotes", "rows whose RowKey and fileName hold quotes: no OData error", |c| {
                insert(c, row("2516065000000000005_o'b", "o'brien_20200101T000000.mp3", None));
                insert(c, row("2516065000000000006_x' or RowKey ne 'x", "x' or RowKey ne 'x_20200101T000000.mp3", None));
            })
        },
    ]
    .into_iter()
    .map(|mut c| {
        if !c.name.starts_with("rows-") && c.outcomes.iter().all(|(l, _)| !l.starts_with("base")) {
            // File cases: the base segments are archived as ever.
            let mut all: Vec<(&'static str, Outcome)> = BASE.to_vec();
            all.extend_from_slice(c.outcomes);
            c.outcomes = Box::leak(all.into_boxed_slice());
        }
        c
    })
    .collect()
}

fn row(key: &str, file: &str, blob: Option<&str>) -> store::SegmentRow {
    store::SegmentRow {
        row_key: key.to_owned(),
        file_name: file.to_owned(),
        blob_name: blob.map(str::to_owned),
        ..Default::default()
    }
}

fn insert(c: &Ctx, r: store::SegmentRow) {
    common::runtime().block_on(async {
        let a = c.archive();
        a.ensure_ready().await.unwrap();
        a.insert_row(&r).await.unwrap();
    });
}

fn insert_raw(c: &Ctx, mut entity: Value) {
    entity["PartitionKey"] = json!(c.stream);
    common::runtime().block_on(async {
        c.archive().ensure_ready().await.unwrap();
        let target = store::connection::StorageTarget::parse(&c.conn).unwrap();
        let credentials = azure_storage::StorageCredentials::access_key(
            target.account.clone(),
            target.key().expect("an account key").expose().to_owned(),
        );
        let tables = azure_data_tables::clients::TableServiceClientBuilder::with_location(
            azure_storage::CloudLocation::Custom {
                account: target.account.clone(),
                uri: target.table_endpoint.clone(),
            },
            credentials,
        )
        .build();
        tables
            .table_client("audios")
            .insert::<_, Value>(entity)
            .unwrap()
            .into_future()
            .await
            .unwrap();
    });
}

fn upload(c: &Ctx, blob: &str, bytes: &[u8]) {
    common::runtime().block_on(async {
        c.archive().ensure_ready().await.unwrap();
        common::container_client(&c.conn, &c.stream)
            .blob_client(blob)
            .put_block_blob(bytes.to_vec())
            .into_future()
            .await
            .unwrap();
    });
}

fn row_of<'a>(c: &Ctx, s: &'a Snapshot, label: &str) -> Result<&'a store::SegmentRow, String> {
    let name = c.rel(label).to_string_lossy().into_owned();
    s.row_for_file(&name).ok_or(format!("no row for {name}"))
}

// ---------------------------------------------------------------- running a case

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The plan's view of each file: "upload", "delete:<why>", "hold:<why json>".
fn plan_view(plan: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for u in plan["uploads"].as_array().into_iter().flatten() {
        out.insert(
            u["file"].as_str().unwrap_or("").to_owned(),
            "upload".to_owned(),
        );
    }
    for d in plan["deletions"].as_array().into_iter().flatten() {
        out.insert(
            d["file"].as_str().unwrap_or("").to_owned(),
            format!("delete:{}", d["why"]),
        );
    }
    for h in plan["holds"].as_array().into_iter().flatten() {
        out.insert(
            h["file"].as_str().unwrap_or("").to_owned(),
            format!("hold:{}", h["why"]),
        );
    }
    out
}

fn covered_by(plan: &Value) -> BTreeMap<String, Vec<String>> {
    plan["deletions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let covers = d["covered_by"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect();
            (d["file"].as_str().unwrap_or("").to_owned(), covers)
        })
        .collect()
}

fn command(c: &Ctx, case: &Case, sub: Option<&str>) -> Command {
    let mut cmd = common::job(&c.folder, &c.conn, &c.stream, 10);
    if let Some(s) = sub {
        cmd.arg(s);
    }
    let wrong_key = c.conn.replace(
        azurite::ACCOUNT_KEY,
        "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleS0xMjM0NTY3OA==",
    );
    let closed = format!(
        "BlobEndpoint=http://127.0.0.1:9/{a};TableEndpoint=http://127.0.0.1:9/{a};AccountName={a};AccountKey={k}",
        a = azurite::ACCOUNT,
        k = azurite::ACCOUNT_KEY
    );
    let _ = c.azurite_blob_port;
    for (k, v) in case.env {
        match v {
            Some(v) => {
                let v = v
                    .replace("{folder}", &c.folder.to_string_lossy())
                    .replace("{outside}", &c.outside.to_string_lossy())
                    .replace("{conn-wrong-key}", &wrong_key)
                    .replace("{conn-closed}", &closed)
                    .replace("{conn}", &c.conn);
                cmd.env(k, v)
            }
            None => cmd.env_remove(k),
        };
    }
    if case.unprivileged && running_as_root() {
        cmd.uid(65_534).gid(65_534);
    }
    cmd
}

/// Runs one case; returns its report line.
fn run_case(az: &azurite::Azurite, idx: usize, case: &Case) -> String {
    let root = tempfile::tempdir().unwrap();
    let c = Ctx {
        root: root.path().to_owned(),
        folder: root.path().join("hope"),
        outside: root.path().join("outside"),
        stream: format!("h{idx:02}-{}", case.name),
        conn: az.connection_string(),
        azurite_blob_port: az.blob_port(),
        t0: (Utc::now() - TimeDelta::hours(2))
            .duration_trunc(TimeDelta::minutes(1))
            .unwrap(),
        files: Mutex::new(BTreeMap::new()),
    };
    let _ = &c.root;
    std::fs::create_dir(&c.folder).unwrap();
    std::fs::create_dir(&c.outside).unwrap();
    std::fs::write(c.outside.join("plain-file"), b"not a folder").unwrap();
    c.segment("base1", "rec-a", 0, &media(Media::Cbr));
    c.segment("base2", "rec-a", 10, &media(Media::Cbr));
    (case.setup)(&c);
    if case.unprivileged {
        use std::os::unix::fs::PermissionsExt;
        for dir in [root.path(), &c.folder, &c.outside] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
    }
    let what = format!("{} ({})", case.name, case.what);
    let before = tree_state(&c.folder);
    let before_files = folder_state_safe(&c.folder);
    let outside_before = tree_state(&c.outside);
    let archive_before = snapshot(&c.conn, &c.stream);

    // plan: prints JSON, changes nothing.
    let plan_run = run_limited(command(&c, case, Some("plan")), LIMIT);
    plan_run.assert_no_panic(&what);
    let plan_code = case.plan_code.unwrap_or(case.code);
    assert_eq!(
        plan_run.code,
        Some(plan_code),
        "{what}: plan exit code\n{}",
        plan_run.describe()
    );
    assert_eq!(
        tree_state(&c.folder),
        before,
        "{what}: plan changed the folder"
    );
    assert_eq!(
        tree_state(&c.outside),
        outside_before,
        "{what}: plan changed files outside"
    );
    assert_eq!(
        snapshot(&c.conn, &c.stream),
        archive_before,
        "{what}: plan changed the archive"
    );
    let plan: Value = if plan_run.code == Some(0) {
        serde_json::from_str(&plan_run.stdout).unwrap_or_else(|e| {
            panic!(
                "{what}: plan printed no JSON ({e}):\n{}",
                plan_run.describe()
            )
        })
    } else {
        Value::Null
    };
    let view = plan_view(&plan);

    // The run.
    let r: Run = run_limited(command(&c, case, None), LIMIT);
    r.assert_no_panic(&what);
    assert_eq!(
        r.code,
        Some(case.code),
        "{what}: exit code\n{}",
        r.describe()
    );
    for needle in case.stderr {
        assert!(
            r.stderr.contains(needle),
            "{what}: stderr lacks {needle:?}\n{}",
            r.describe()
        );
    }
    if case.code != 0 {
        let error = r
            .stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        assert!(
            error.len() > 20,
            "{what}: no clear message:\n{}",
            r.describe()
        );
    }

    // Nothing outside touched; only plain files directly in the folder may go, and only when
    // their audio is archived.
    assert_eq!(
        tree_state(&c.outside),
        outside_before,
        "{what}: files outside the folder changed"
    );
    let after = tree_state(&c.folder);
    let after_files = folder_state_safe(&c.folder);
    let snap = snapshot(&c.conn, &c.stream);
    for (rel, entry) in &before {
        let top_file = !rel.contains('/') && entry.starts_with("file ");
        if !top_file {
            assert_eq!(
                after.get(rel),
                Some(entry),
                "{what}: {rel} ({entry}) changed"
            );
        } else if let Some(now) = after.get(rel) {
            assert_eq!(now, entry, "{what}: {rel} changed");
        }
    }
    assert!(
        after.keys().all(|k| before.contains_key(k)),
        "{what}: new entries in the folder: {:?}",
        after
            .keys()
            .filter(|k| !before.contains_key(*k))
            .collect::<Vec<_>>()
    );
    let deleted = common::check_deletions(
        &what,
        &before_files,
        &after_files,
        &snap,
        None,
        Some(&covered_by(&plan)),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", r.describe()));
    for (key, row) in &snap.rows {
        let blob = row.blob_name.as_deref().unwrap_or("");
        if archive_before.rows.contains_key(key) {
            continue;
        }
        assert!(
            !blob.starts_with('/')
                && blob
                    .split('/')
                    .all(|p| !p.is_empty() && p != "." && p != ".."),
            "{what}: blob name {blob:?}"
        );
        let held = snap.blobs.get(blob);
        assert!(
            held.is_some_and(|b| Some(b.0) == row.size && b.1 == row.content_md5),
            "{what}: row {key} without its blob ({held:?})"
        );
    }

    // Each labelled file.
    let mut notes = Vec::new();
    for (label, outcome) in case.outcomes {
        let rel = c.rel(label);
        let name = rel.to_string_lossy().into_owned();
        let planned = view.get(&name).cloned();
        let exists = std::fs::symlink_metadata(c.folder.join(&rel)).is_ok();
        let archived = snap.row_for_file(&name).is_some()
            && !archive_before.rows.values().any(|r| r.file_name == name);
        let ok = match outcome {
            Outcome::Archived => planned.as_deref() == Some("upload") && archived,
            Outcome::Held(why) => {
                planned
                    .as_deref()
                    .is_some_and(|p| p.starts_with("hold:") && p.contains(why))
                    && exists
                    && !archived
            }
            Outcome::Skipped => planned.is_none() && exists && !archived,
            Outcome::Deleted(why) => {
                planned
                    .as_deref()
                    .is_some_and(|p| p.starts_with("delete:") && p.contains(why))
                    && !exists
            }
            Outcome::Kept => exists && !archived,
            // A deletion was checked above: its audio is archived.
            Outcome::NotLost => true,
        };
        assert!(
            ok,
            "{what}: {label} ({name:?}) expected {outcome:?}; plan: {planned:?}, exists: {exists}, archived: {archived}\n{}\n--- plan\n{}",
            r.describe(),
            common::truncate(&plan_run.stdout, 3000)
        );
        if matches!(outcome, Outcome::NotLost | Outcome::Kept) {
            notes.push(format!(
                "{label}: {}",
                planned.unwrap_or_else(|| "not planned".into())
            ));
        }
    }
    if let Some(check) = case.check {
        check(&c, &snap).unwrap_or_else(|e| panic!("{what}: {e}\n{}", r.describe()));
    }
    let message = r
        .stderr
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || !l.contains(" INFO "))
        .find(|l| {
            case.stderr.first().is_some_and(|n| l.contains(n))
                || case.outcomes.iter().any(|(label, _)| {
                    !label.starts_with("base") && l.contains(&*c.rel(label).to_string_lossy())
                })
        })
        .or_else(|| r.stderr.lines().rev().find(|l| !l.trim().is_empty()))
        .map(|l| common::truncate(l.trim(), 200))
        .unwrap_or_default();
    format!(
        "{:<26} exit {:?} (plan {:?}), {} deleted, {} rows{}\n    {}",
        case.name,
        r.code,
        plan_run.code,
        deleted.len(),
        snap.rows.len(),
        if notes.is_empty() {
            String::new()
        } else {
            format!(", {}", notes.join(", "))
        },
        message
    )
}

/// [`folder_state`] that tolerates files it may not read (they hash to zeros).
fn folder_state_safe(dir: &Path) -> common::FolderState {
    folder_state(dir)
}

#[test]
fn hostile_corpus() {
    run_corpus(false);
}

/// The cases that fail because of a known bug (each says which); they pass once it is fixed.
#[test]
#[ignore = "known failures only (none at present: every case passes); see each case's `bug`"]
fn hostile_known_bugs() {
    run_corpus(true);
}

fn run_corpus(known_bugs: bool) {
    let all = cases();
    assert!(all.len() >= 30, "only {} cases", all.len());
    let names: BTreeSet<&str> = all.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), all.len(), "case names must be unique");
    // Make the media before the cases run in parallel.
    for m in [
        Media::Cbr,
        Media::Vbr,
        Media::Mono22k,
        Media::Mpeg2,
        Media::Mpeg25,
        Media::Killed,
    ] {
        media(m);
    }
    let chosen: Option<Vec<String>> = std::env::var("HOSTILE_CASES")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
    let cases: Vec<(usize, Case)> = all
        .into_iter()
        .enumerate()
        .filter(|(_, c)| c.bug.is_some() == known_bugs)
        .filter(|(_, c)| {
            chosen
                .as_ref()
                .is_none_or(|n| n.iter().any(|n| n == c.name))
        })
        .collect();
    let az = azurite::Azurite::start();
    let started = Instant::now();
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<(usize, Result<String, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some((idx, case)) = cases.get(i) else {
                    return;
                };
                let result =
                    catch_unwind(AssertUnwindSafe(|| run_case(&az, *idx, case))).map_err(|e| {
                        e.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "panic".into())
                    });
                results.lock().unwrap().push((*idx, result));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    let mut failed = Vec::new();
    for (i, result) in &results {
        match result {
            Ok(line) => println!("{line}"),
            Err(e) => {
                let name = cases
                    .iter()
                    .find(|(j, _)| j == i)
                    .map(|(_, c)| c.name)
                    .unwrap_or("?");
                println!("{name}: FAILED\n{e}");
                failed.push(name);
            }
        }
    }
    println!(
        "{} cases in {:.1} s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failed.is_empty(), "failed cases: {failed:?}");
}
