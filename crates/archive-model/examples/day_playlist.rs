//! A day's playlist from the table's rows, with the archive model alone: no storage client,
//! no async runtime, none of the job. What a tool that reads an archive needs to place its
//! segments exactly as the job placed them.
//!
//! ```text
//! cargo run -p archive-model --example day_playlist -- \
//!     crates/archive-model/tests/data/kill-replace-rows.json 2026-11-26 10 radio
//! ```
//!
//! The rows are a JSON array of table rows in their serde form (the properties' camelCase
//! names, as the local archive's table files hold them). The
//! arguments after the day are the recorders' segment length in seconds (`FILE_DURATION`)
//! and the stream; the file names are read in UTC, as `TIME_ZONE` defaults. It prints the
//! day's M3U playlist, the same bytes the job writes to `_days/<day>.m3u8`, then the day's
//! joins and gaps on stderr.

use std::process::ExitCode;

use archive_model::day::{build, playlist};
use archive_model::SegmentRow;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [rows, day, seconds, stream] = args.as_slice() else {
        eprintln!("usage: day_playlist <rows.json> <YYYY-MM-DD> <segment seconds> <stream>");
        return ExitCode::from(2);
    };
    match run(rows, day, seconds, stream) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("day_playlist: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(rows: &str, day: &str, seconds: &str, stream: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(rows).map_err(|e| format!("{rows}: {e}"))?;
    let rows: Vec<SegmentRow> = serde_json::from_str(&text)
        .map_err(|e| format!("{rows}: expected a JSON array of table rows: {e}"))?;
    let day = day
        .parse()
        .map_err(|e| format!("day {day:?}: expected YYYY-MM-DD: {e}"))?;
    let seconds: u64 = seconds
        .parse()
        .map_err(|e| format!("segment seconds {seconds:?}: expected a whole number: {e}"))?;
    let names = selection::Settings::new(seconds, stream)
        .map_err(|e| format!("segment seconds {seconds}: {e}"))?;
    let manifest = build(&rows, day, stream, &names);
    print!("{}", playlist::playlist(&manifest));
    for s in &manifest.segments {
        eprintln!(
            "{}  {:>7.3} s → {:>7.3} s  {}",
            s.start.format("%H:%M:%S%.3f"),
            s.in_s,
            s.out_s,
            s.file
        );
    }
    for g in &manifest.gaps {
        eprintln!("gap {} → {} ({:.3} s)", g.start, g.end, g.seconds);
    }
    Ok(())
}
