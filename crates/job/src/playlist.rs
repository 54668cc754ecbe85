//! The day as an HLS playlist (`_days/YYYY-MM-DD.m3u8`), from its manifest.

use std::fmt::Write;

use crate::days::{DayManifest, DaySegment};

/// The day as an HLS VOD playlist (RFC 8216); blob paths are relative to the playlist's own
/// folder. It is complete (`EXT-X-ENDLIST`: players start at the beginning instead of
/// treating it as live), declares its longest segment (`EXT-X-TARGETDURATION`, which
/// GStreamer needs), and marks a discontinuity where the recording changes (another pod, or
/// after a gap), where timestamps jump. A segment whose audio earlier segments already play
/// in full is left out. Each blob is played whole, so `EXTINF` is its whole length: the part
/// before its in-point repeats what the segment before it ended with.
pub fn playlist(m: &DayManifest) -> String {
    let playing: Vec<&DaySegment> = m
        .segments
        .iter()
        .filter(|s| s.out_s - s.in_s > 0.0005)
        .collect();
    let target = playing
        .iter()
        .map(|s| s.duration_s.round() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n"
    );
    let mut previous: Option<&DaySegment> = None;
    for s in playing {
        let after_gap = m.gaps.iter().any(|g| g.end == s.start);
        if previous.is_some_and(|p| p.pod != s.pod || after_gap) {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let _ = writeln!(out, "#EXTINF:{:.3},{}\n../{}", s.duration_s, s.file, s.blob);
        previous = Some(s);
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}
