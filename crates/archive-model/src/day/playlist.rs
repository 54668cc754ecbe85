//! The day as an HLS playlist (`_days/YYYY-MM-DD.m3u8`), from its manifest.

use std::fmt::Write;

use chrono::{DateTime, TimeDelta, Utc};

use super::manifest::{DayManifest, DaySegment};

/// The day as an HLS VOD playlist (RFC 8216); blob paths are relative to the playlist's own
/// folder. See [`playlist_with`].
pub fn playlist(m: &DayManifest) -> String {
    playlist_with(m, |s| format!("../{}", s.blob))
}

/// The day as an HLS VOD playlist with each segment's URI from `uri` (absolute, signed URLs
/// for `segment-selector playlist`).
///
/// It is complete (`EXT-X-ENDLIST`: players start at the beginning instead of treating it as
/// live), declares its longest segment (`EXT-X-TARGETDURATION`, which GStreamer needs), and
/// marks a discontinuity where the recording changes (another pod, or after a gap), where
/// timestamps jump. A segment whose audio earlier segments already play in full is left out.
/// Where the manifest knows the byte offsets of a segment's in/out points, only those bytes
/// are played (`EXT-X-BYTERANGE`, version 4) and `EXTINF` is the length between the points,
/// so nothing is heard twice; other blobs (older rows, the Node job's) play whole and `EXTINF`
/// is their whole length.
///
/// The first segment, and each one after a discontinuity, carries the wall-clock time of its
/// first sample (`EXT-X-PROGRAM-DATE-TIME`, UTC to the millisecond): where on the timeline
/// the part it plays starts, its in-point (not its file name). The tag applies to the next
/// segment only (RFC 8216, 4.3.2.6); a player adds the `EXTINF`s to it up to the next one.
pub fn playlist_with(m: &DayManifest, uri: impl Fn(&DaySegment) -> String) -> String {
    let playing: Vec<(&DaySegment, f64)> = m
        .segments
        .iter()
        .filter(|s| s.out_s - s.in_s > 0.0005)
        .map(|s| {
            let played = match range(s) {
                Some(_) => s.out_s - s.in_s,
                None => s.duration_s,
            };
            (s, played)
        })
        .collect();
    let target = playing
        .iter()
        .map(|(_, played)| played.round() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let version = if playing.iter().any(|(s, _)| range(s).is_some()) {
        4
    } else {
        3
    };
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{target}\n\
         #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    );
    let mut previous: Option<&DaySegment> = None;
    for (s, played) in playing {
        let after_gap = m.gaps.iter().any(|g| g.end == s.start);
        let discontinuity = previous.is_some_and(|p| p.pod != s.pod || after_gap);
        if discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if discontinuity || previous.is_none() {
            let _ = writeln!(
                out,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                plays_from(s).format("%Y-%m-%dT%H:%M:%S%.3fZ")
            );
        }
        let _ = writeln!(out, "#EXTINF:{played:.3},{}", s.file);
        if let Some((offset, len)) = range(s) {
            let _ = writeln!(out, "#EXT-X-BYTERANGE:{len}@{offset}");
        }
        let _ = writeln!(out, "{}", uri(s));
        previous = Some(s);
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// Where on the timeline the first sample a segment's entry plays is: its in-point where it
/// plays a byte range, else the start of what its blob plays (a frame-exact blob's audio
/// starts after its warm-up frames), to the nearest millisecond.
fn plays_from(s: &DaySegment) -> DateTime<Utc> {
    let into = match range(s) {
        Some(_) => s.in_s,
        None => s.blob_plays_from_s.unwrap_or(0.0),
    };
    let at = s.start + TimeDelta::microseconds((into * 1e6).round() as i64);
    DateTime::from_timestamp_millis((at.timestamp_micros() as f64 / 1e3).round() as i64)
        .unwrap_or(at)
}

/// The byte range (offset, length) a segment plays, where it plays part of its blob.
fn range(s: &DaySegment) -> Option<(u64, u64)> {
    let (start, end) = s.in_byte.zip(s.out_byte)?;
    (start < end).then_some((start, end - start))
}
