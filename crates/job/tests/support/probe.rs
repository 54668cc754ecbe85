//! What other MP3 readers count in a file, for the frame counter's tests and its throughput
//! comparison: `ffprobe -count_packets` and symphonia's MP3 reader.

use std::path::Path;
use std::process::Command;

/// `ffprobe -count_packets`, or `None` where ffprobe finds no audio stream.
pub fn ffprobe_packets(path: &Path) -> Option<u64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-select_streams", "a:0"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe on PATH");
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The duration ffprobe gives a file (a player's output), 0 where it gives none.
pub fn ffprobe_seconds(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe on PATH");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0)
}

/// The packets symphonia's MP3 reader yields, opened through its probe as a player would
/// (which also skips ID3v2 tags), or `None` where it does not open the file.
#[allow(dead_code)] // the throughput test compares with ffprobe only
pub fn symphonia_packets(path: &Path) -> Option<u64> {
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::probe::Hint;
    let file = std::fs::File::open(path).unwrap();
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            Hint::new().with_extension("mp3"),
            mss,
            &Default::default(),
            &Default::default(),
        )
        .ok()?;
    let mut reader = probed.format;
    let mut n = 0;
    while reader.next_packet().is_ok() {
        n += 1;
    }
    Some(n)
}
