//! The property the `mp3_scan` fuzz target checks. It is shared, through `#[path]`, with
//! `crates/job/tests/measure_corpus.rs`, which runs it over the seed corpus as a plain test
//! so it also runs where no nightly toolchain is.

use mp3count::{Mp3Facts, Mp3Scanner};

/// Scans `data` whole, in chunk sizes drawn from its own bytes (so the fuzzer steers the
/// split too) and, when short, byte by byte: the facts must not depend on the split, and
/// must account for no more bytes than there are.
pub fn check_split_invariance(data: &[u8]) {
    let whole = feed(data, &[usize::MAX]);
    let sizes = chunk_sizes(data);
    assert_eq!(whole, feed(data, &sizes), "chunk sizes {sizes:?}");
    if data.len() <= 4096 {
        assert_eq!(whole, feed(data, &[1]), "byte by byte");
    }
    let accounted =
        whole.leading_bytes + whole.audio_bytes + whole.skipped_bytes + whole.trailing_bytes;
    assert!(accounted <= data.len() as u64, "{whole:?}");
    assert!(whole.frames == 0 || whole.sample_rate > 0, "{whole:?}");
    let _ = whole.duration();
}

/// Feeds `data` in chunks of the given sizes, repeated as needed.
fn feed(data: &[u8], sizes: &[usize]) -> Mp3Facts {
    let mut scanner = Mp3Scanner::new();
    let mut rest = data;
    for &n in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(n.clamp(1, rest.len()));
        scanner.feed(chunk);
        rest = tail;
    }
    scanner.finish(data.len() as u64)
}

/// Sixteen chunk sizes from 1 to 700 bytes (a few frames), seeded by a hash of `data`.
fn chunk_sizes(data: &[u8]) -> Vec<usize> {
    // FNV-1a over the input, then xorshift64.
    let mut x = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) | 1;
    (0..16)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + (x % 700) as usize
        })
        .collect()
}
