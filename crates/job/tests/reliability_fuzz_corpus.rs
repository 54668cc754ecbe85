//! The `name_parse` fuzz target's checks, run as a plain test (stable Rust, CI) over its seed
//! corpus `fuzz/corpus/name_parse/`, every prefix of every seed's name, and deterministic
//! one-byte mutations of every seed (each byte replaced by a few troublesome ones).

use std::collections::BTreeMap;
use std::path::Path;

#[path = "../../../fuzz/fuzz_targets/name_parse.rs"]
mod name_parse;

use name_parse::{check, Checked};

/// Bytes that matter to the grammar: separators, digits, the extension's dot, path characters,
/// a control character and an invalid UTF-8 byte.
const SUBSTITUTES: &[u8] = b"_.-09T/\\\n\x00\xff'% ";

#[test]
fn name_parse_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/name_parse");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    seeds.sort();
    assert!(
        seeds.len() >= 40,
        "seed corpus missing in {}",
        dir.display()
    );

    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut inputs = 0usize;
    for path in &seeds {
        let data = std::fs::read(path).unwrap();
        let outcome = check(&data);
        println!(
            "{}: {outcome:?}",
            path.file_name().unwrap().to_string_lossy()
        );
        // The name starts after the third newline; cut it everywhere.
        let name_at = data
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .nth(2)
            .map_or(data.len(), |(i, _)| i + 1);
        let mut variants: Vec<Vec<u8>> = (name_at..data.len())
            .map(|end| data[..end].to_vec())
            .collect();
        for i in 0..data.len() {
            for &b in SUBSTITUTES {
                if data[i] != b {
                    let mut v = data.clone();
                    v[i] = b;
                    variants.push(v);
                }
            }
        }
        for v in std::iter::once(data).chain(variants) {
            let key = match check(&v) {
                Checked::FormatRefused => "format refused",
                Checked::NameRefused => "name refused",
                Checked::Accepted { blob: true } => "accepted",
                Checked::Accepted { blob: false } => "accepted, no blob name",
            };
            *tally.entry(key.to_owned()).or_default() += 1;
            inputs += 1;
        }
    }
    println!("{inputs} inputs from {} seeds: {tally:?}", seeds.len());
    assert!(tally.get("accepted").copied().unwrap_or(0) > 100);
    assert!(tally.get("name refused").copied().unwrap_or(0) > 100);
}

/// Expected outcomes of a few seeds, so the corpus keeps covering both sides.
#[test]
fn name_parse_seed_outcomes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/name_parse");
    let outcome = |seed: &str| check(&std::fs::read(dir.join(seed)).unwrap());
    let accepted = Checked::Accepted { blob: true };
    for seed in [
        "article_default",
        "local_variant_no_pod",
        "underscore_format",
        "dst_fallback_late_hint",
        "pod_dotdot",
        "fractional_seconds",
    ] {
        assert_eq!(outcome(seed), accepted, "{seed}");
    }
    for seed in [
        "dst_spring_gap",
        "feb29_non_leap",
        "quote_in_pod",
        "odata_injection",
        "slash_in_name",
        "newline_in_name",
        "nul_in_name",
        "uppercase_extension",
        "empty_pod",
        "impossible_date",
    ] {
        assert_eq!(outcome(seed), Checked::NameRefused, "{seed}");
    }
    for seed in [
        "format_incomplete",
        "format_invalid_spec",
        "format_with_slash",
        "unix_seconds_format",
    ] {
        assert_eq!(outcome(seed), Checked::FormatRefused, "{seed}");
    }
}

/// Inputs the fuzzer found that fail the checks because of a known bug, kept in
/// `crates/job/tests/hostile/name_parse_bugs/` (they pass once it is fixed).
#[test]
fn name_parse_known_bugs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/name_parse_bugs");
    let mut failed = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Err(e) = std::panic::catch_unwind(|| check(&data)) {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "panic".into());
            failed.push(format!("{}: {why}", path.display()));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
