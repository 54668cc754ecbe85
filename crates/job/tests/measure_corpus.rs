//! The `mp3_scan` fuzz target's property, run as a plain test over its seed corpus (every
//! prefix of every file, as a recording cut anywhere), so it runs on stable and in CI.

use std::path::Path;

use mp3count::scan_file;

#[path = "../../../fuzz/src/lib.rs"]
mod split_check;

#[test]
fn seed_corpus_split_invariance() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/mp3_scan");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "seed corpus missing in {}", dir.display());
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        // The seeds are real (if tiny) recordings.
        let facts = scan_file(&path).unwrap();
        eprintln!("{}: {facts:?}", path.display());
        assert!(facts.has_audio());
        for end in 0..=bytes.len() {
            split_check::check_split_invariance(&bytes[..end]);
        }
    }
}
