//! The frame counter on the real recordings in `fixtures/` (Icecast + the article's ffmpeg
//! command, see fixtures/README.md), against ffprobe and symphonia: the same counts, except
//! that ffprobe also reports a frame cut short at the end as a packet.

mod support;
use support::probe;

use std::path::{Path, PathBuf};

use mp3count::scan_file;

use probe::{ffprobe_packets, symphonia_packets};

fn mp3s(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            mp3s(&path, out);
        } else if path.extension().is_some_and(|e| e == "mp3") {
            out.push(path);
        }
    }
}

#[test]
fn recorded_fixtures_agree_with_ffprobe_and_symphonia() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut files = Vec::new();
    if root.is_dir() {
        mp3s(&root, &mut files);
    }
    files.sort();
    let (mut empty, mut cut, mut placeholder) = (0, 0, 0);
    for path in &files {
        let f = scan_file(path).unwrap();
        let name = path.strip_prefix(&root).unwrap().display();
        eprintln!(
            "{name}: {} frames {:?} trailing {} clean {} header {:?}",
            f.frames,
            f.duration(),
            f.trailing_bytes,
            f.clean_end,
            f.header.and_then(|h| h.frames)
        );
        let partial = u64::from(f.has_audio() && !f.clean_end);
        assert_eq!(
            ffprobe_packets(path).unwrap_or(0),
            f.frames + partial,
            "{name} ffprobe"
        );
        assert_eq!(
            symphonia_packets(path).unwrap_or(0),
            f.frames,
            "{name} symphonia"
        );
        assert_eq!(f.resyncs, 0, "{name}");
        empty += u32::from(f.leading_bytes == 0 && !f.has_audio());
        cut += u32::from(partial == 1);
        placeholder += u32::from(f.header_mismatch);
    }
    eprintln!(
        "{} files: {empty} empty, {cut} cut mid-frame, {placeholder} placeholder headers",
        files.len()
    );
}
