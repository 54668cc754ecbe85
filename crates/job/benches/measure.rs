//! Frame counting (`mp3count::scan_file`) against `ffprobe -count_packets` on the same
//! page-cached files, side by side, in MB/s (issue 5 target: at least 20× faster).
//!
//! ```sh
//! cargo bench -p job --bench measure -- FILE...     # scripts/bench.sh passes 600-s segments
//! ```
//!
//! Each side is timed over all the files, several rounds, and the best round counts (the one
//! least disturbed by whatever else the machine does); the median is printed too. ffprobe is
//! started once per file, as the original job did. The last line is `BENCH_JSON {...}` for
//! scripts/bench.sh. Without `--bench` (`cargo test --benches`) it does nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use mp3count::scan_file;

const OUR_ROUNDS: usize = 10;
const FFPROBE_ROUNDS: usize = 3;

fn ffprobe_packets(path: &Path) -> Result<u64, String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-select_streams", "a:0"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run ffprobe: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .map_err(|_| format!("ffprobe said {text:?} for {}", path.display()))
}

/// Best and median of `rounds` timings of `f`.
fn time(rounds: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut t: Vec<Duration> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    t.sort();
    (t[0], t[t.len() / 2])
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("measure bench: run it with `cargo bench -p job --bench measure -- FILE...`");
        return ExitCode::SUCCESS;
    }
    let files: Vec<PathBuf> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    if files.is_empty() {
        eprintln!("measure bench: give the MP3 files to measure");
        return ExitCode::from(2);
    }
    let mut bytes = 0u64;
    let mut frames = 0u64;
    for f in &files {
        // Reading the whole file puts it in the page cache; then both sides count the same.
        let data = match std::fs::read(f) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("measure bench: {}: {e}", f.display());
                return ExitCode::from(2);
            }
        };
        bytes += data.len() as u64;
        let ours = match scan_file(f) {
            Ok(facts) => facts,
            Err(e) => {
                eprintln!("measure bench: {}: {e}", f.display());
                return ExitCode::FAILURE;
            }
        };
        let theirs = match ffprobe_packets(f) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("measure bench: {e}");
                return ExitCode::FAILURE;
            }
        };
        // ffprobe also counts a frame cut short at the end as a packet.
        if ours.frames + u64::from(!ours.clean_end) != theirs {
            eprintln!(
                "measure bench: {}: {} frames counted, ffprobe read {theirs} packets",
                f.display(),
                ours.frames
            );
            return ExitCode::FAILURE;
        }
        frames += ours.frames;
    }
    let (ours_best, ours_median) = time(OUR_ROUNDS, || {
        for f in &files {
            std::hint::black_box(scan_file(f).expect("scanned once already"));
        }
    });
    let (theirs_best, theirs_median) = time(FFPROBE_ROUNDS, || {
        for f in &files {
            std::hint::black_box(ffprobe_packets(f).expect("ran once already"));
        }
    });
    let mb = bytes as f64 / 1e6;
    let rate = |d: Duration| mb / d.as_secs_f64();
    let ratio = theirs_best.as_secs_f64() / ours_best.as_secs_f64();
    println!(
        "{} files, {mb:.1} MB, {frames} frames: scan_file best {ours_best:?} ({:.0} MB/s; median {:.0} MB/s), \
         ffprobe -count_packets best {theirs_best:?} ({:.1} MB/s; median {:.1} MB/s): {ratio:.1}x",
        files.len(),
        rate(ours_best),
        rate(ours_median),
        rate(theirs_best),
        rate(theirs_median),
    );
    println!(
        "BENCH_JSON {{\"files\":{},\"bytes\":{bytes},\"frames\":{frames},\"scan_best_s\":{:.6},\"scan_median_s\":{:.6},\
         \"scan_mbps\":{:.1},\"ffprobe_best_s\":{:.6},\"ffprobe_median_s\":{:.6},\"ffprobe_mbps\":{:.2},\"ratio\":{ratio:.2}}}",
        files.len(),
        ours_best.as_secs_f64(),
        ours_median.as_secs_f64(),
        rate(ours_best),
        theirs_best.as_secs_f64(),
        theirs_median.as_secs_f64(),
        rate(theirs_best),
    );
    ExitCode::SUCCESS
}
