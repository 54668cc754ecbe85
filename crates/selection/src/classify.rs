//! Classification, the plan's first phase: each file is named, then found finished or still
//! recording (by the two clocks and the sightings), empty, unreadable or already archived;
//! archived and gone records join them, and every segment is placed on the timeline.

use super::*;

pub(crate) struct Prepared {
    pub(crate) out: Plan,
    pub(crate) segs: Vec<Segment>,
    pub(crate) places: Vec<timeline::Placement>,
}

pub(crate) fn prepare(
    files: &[SeenFile],
    state: &ArchiveState,
    settings: &Settings,
    now: Now,
) -> Prepared {
    let mut out = Plan::default();
    let segment = millis(settings.segment_time);
    let jitter = millis(settings.name_jitter).max(1);
    let grace = TimeDelta::from_std(settings.finish_grace).unwrap_or(TimeDelta::MAX);

    // Names first: everything else hangs on them.
    let reused = archived_name_starts(state, settings);
    let mut named = Vec::new();
    for f in files {
        match parse_name(&f.name, settings, Some(f.modified)) {
            Ok(n) => named.push((f, n)),
            Err(e) => out.holds.push(hold(f, HoldReason::UnknownName(e.expected))),
        }
    }
    // The share's clock is at least the newest modification time it gave a recording.
    let share_now = now
        .share
        .or_else(|| named.iter().map(|(f, _)| f.modified).max());
    // A node clock that runs behind must not make every name look as if it were in the future.
    let latest = share_now.map_or(now.node, |s| s.max(now.node));
    let mut local = Vec::new();
    for (f, n) in named {
        if n.start > latest + FUTURE_SLACK {
            out.holds.push(hold(f, HoldReason::FutureName));
        } else if let Some(&first) = reused.get(f.name.as_str()).filter(|&&t| t != n.start) {
            out.holds.push(hold(f, HoldReason::NameReused(first)));
        } else {
            local.push((f, n));
        }
    }
    let mut newest: HashMap<&str, DateTime<Utc>> = HashMap::new();
    for (_, n) in &local {
        let t = newest.entry(n.pod.as_str()).or_insert(n.start);
        *t = (*t).max(n.start);
    }
    // A newer file finishes its pod's older ones only once the share's view of them is surely
    // from after it appeared (`stale_view_settled`); idleness waits out the cache and the
    // recorder's write interval (`grace_for`).
    let cache = TimeDelta::from_std(settings.share_cache).unwrap_or(TimeDelta::MAX);
    let settled = settled_starts(&local, share_now, cache);
    let grace = grace_for(&local, grace, cache, segment);
    let sightings: HashMap<&str, &Sighting> = state
        .sightings
        .iter()
        .map(|s| (s.file_name.as_str(), s))
        .collect();
    // Idle: unchanged for the grace by both clocks, or since a sighting by the node's clock
    // alone. Neither rests on the node's clock agreeing with the share's.
    let idle = |f: &SeenFile| -> (bool, Option<Sighting>) {
        let by_clocks = now.node - f.modified >= grace
            && share_now.is_some_and(|share| share - f.modified >= grace);
        let since = sightings
            .get(f.name.as_str())
            .filter(|s| s.size == f.size && s.modified == f.modified)
            // A node clock that went back since starts the count again.
            .map(|s| s.since)
            .filter(|&since| since <= now.node)
            .unwrap_or(now.node);
        if by_clocks {
            return (true, None);
        }
        // Kept while it counts: the file stays idle in the next run too.
        let sighting = Sighting {
            file_name: f.name.clone(),
            size: f.size,
            modified: f.modified,
            since,
        };
        (now.node - since >= grace, Some(sighting))
    };
    let archived: HashMap<&str, &ArchivedSegment> = state
        .segments
        .iter()
        .map(|s| (s.file_name.as_str(), s))
        .collect();

    let mut segs: Vec<Segment> = Vec::new();
    let mut replaced: Vec<&str> = Vec::new();
    for (f, n) in &local {
        let (idle, sighting) = idle(f);
        let newer = newest[n.pod.as_str()] > n.start;
        let succeeded = newer
            && (cache <= TimeDelta::zero()
                || closed(f)
                || settled.get(n.pod.as_str()).is_some_and(|&s| s > n.start));
        // Idleness decides only for a pod's newest file, for empty files, and for files whose
        // newer neighbour is too recent to vouch for them.
        if !succeeded || f.size == 0 {
            out.sightings.extend(sighting);
        }
        let finished = idle || succeeded;
        let in_archive = archived.get(f.name.as_str());
        if !finished {
            let why = if newer {
                HoldReason::StaleView
            } else {
                HoldReason::StillRecording
            };
            out.holds.push(hold(f, why));
            let facts = match &f.audio {
                Audio::Measured(a) => Some(*a),
                _ => None,
            };
            // Projected to a full segment, it lets the cover wait for it instead of
            // archiving what it will hold anyway.
            segs.push(Segment::local(f, n, Role::Live, facts, settings));
            continue;
        }
        let facts = match &f.audio {
            Audio::Unreadable(why) => {
                out.holds.push(hold(f, HoldReason::Unreadable(why.clone())));
                continue;
            }
            Audio::NotMeasured if f.size == 0 => None,
            Audio::NotMeasured => {
                out.holds.push(hold(f, HoldReason::NotMeasured));
                continue;
            }
            Audio::Measured(a) if a.frames == 0 => None,
            Audio::Measured(a) => Some(*a),
        };
        let Some(facts) = facts else {
            if f.size > 0 {
                out.holds.push(hold(f, HoldReason::NoFrames));
                continue;
            }
            // An empty finished file is what a writer killed early leaves: it ends its
            // chain whether or not it may be deleted yet.
            let gone = GoneSegment {
                file_name: f.name.clone(),
                duration: Duration::ZERO,
                truncated: true,
                audio_start: None,
                name_start: Some(n.start),
            };
            segs.push(Segment::gone(&gone, n.clone()));
            if idle {
                out.deletions.push(Deletion {
                    file: f.name.clone(),
                    covered_by: vec![],
                    why: DeleteReason::NoAudio,
                    remember: Some(gone),
                });
            } else {
                // Seen through Azure Files' attribute cache, an empty file may already have
                // bytes: only an idle one is surely empty.
                out.holds.push(hold(f, HoldReason::StillRecording));
            }
            continue;
        };
        if let Some(a) = in_archive {
            match a.size {
                Some(size) if size < f.size => {
                    // It grew after it was archived (a stalled writer resumed).
                    replaced.push(a.file_name.as_str());
                    let mut s = Segment::local(f, n, Role::Candidate, Some(facts), settings);
                    s.replaces_archived = true;
                    segs.push(s);
                }
                Some(size) if size > f.size => out.holds.push(hold(
                    f,
                    HoldReason::Unreadable(format!(
                        "{} bytes here but {size} in the archive; left for an operator",
                        f.size
                    )),
                )),
                _ => out.deletions.push(Deletion {
                    file: f.name.clone(),
                    covered_by: vec![f.name.clone()],
                    why: DeleteReason::Archived,
                    remember: None,
                }),
            }
            continue;
        }
        segs.push(Segment::local(f, n, Role::Candidate, Some(facts), settings));
    }
    for a in &state.segments {
        if replaced.contains(&a.file_name.as_str()) {
            continue;
        }
        // Rows that are not segment names of this stream (foreign rows) say nothing here.
        if let Ok(n) = recorded_name(&a.file_name, settings, a.name_start, a.audio_start) {
            segs.push(Segment::archived(a, n, settings));
        }
    }
    let known: std::collections::HashSet<&str> = segs.iter().map(|s| s.file.as_str()).collect();
    let gone: Vec<Segment> = state
        .gone
        .iter()
        .filter(|g| !known.contains(g.file_name.as_str()))
        .filter_map(|g| {
            Some(Segment::gone(
                g,
                recorded_name(&g.file_name, settings, g.name_start, g.audio_start).ok()?,
            ))
        })
        .collect();
    segs.extend(gone);
    segs.retain(|s| match &s.blob_name {
        Ok(_) => true,
        Err(why) => {
            if s.role != Role::Archived {
                out.holds.push(Hold {
                    file: s.file.clone(),
                    why: HoldReason::BadBlobName(why.to_string()),
                });
            }
            false
        }
    });

    let members: Vec<Member<'_>> = segs
        .iter()
        .map(|s| Member {
            pod: &s.pod,
            name_ms: s.name.start.timestamp_millis(),
            duration: s.duration,
            duration_us: s.exact.as_micros() as i64,
            truncated: s.truncated,
            live: s.role == Role::Live,
            recorded_ms: s.recorded,
            modified_ms: (s.role != Role::Live).then_some(s.modified).flatten(),
            in_folder: s.modified.is_some(),
        })
        .collect();
    let places = timeline::place(&members, segment, jitter);
    Prepared { out, segs, places }
}

/// ffmpeg writes a segment in blocks of this many bytes (its last one at close): between two
/// writes a file looks idle although it is still being recorded.
pub(crate) const FFMPEG_WRITE_BLOCK: u64 = 256 * 1024;

/// Per pod, the latest name start among its files that the share saw appear more than the
/// cache window ago (modification time, share's clock). Any older file of that pod was closed
/// before such a file was created (ffmpeg closes a segment before it opens the next, and a
/// restarted recorder's first file comes after the old process ended), and the share's view
/// of it was fetched within the window, so after that creation: what the folder shows of it
/// is final. A file's modification time is never before its creation, so a modification
/// time older than the window proves a creation older than the window, even when the
/// attributes shown are themselves stale.
fn settled_starts(
    local: &[(&SeenFile, SegmentName)],
    share_now: Option<DateTime<Utc>>,
    cache: TimeDelta,
) -> HashMap<String, DateTime<Utc>> {
    let mut settled: HashMap<String, DateTime<Utc>> = HashMap::new();
    let Some(share_now) = share_now else {
        return settled;
    };
    for (f, n) in local {
        if share_now - f.modified >= cache {
            let t = settled.entry(n.pod.clone()).or_insert(n.start);
            *t = (*t).max(n.start);
        }
    }
    settled
}

/// The recorder closed the file, by its own bytes: ffmpeg writes the Info header's frame
/// count when it closes a segment (a placeholder until then), so a header whose count equals
/// the frames counted, at a clean end, shows a view taken after the close. A view from before
/// the close, however stale, shows the placeholder or bytes that disagree with it.
fn closed(f: &SeenFile) -> bool {
    matches!(f.audio, Audio::Measured(a)
        if a.frames > 0 && a.clean_end && a.header_frames == Some(a.frames))
}

/// ffmpeg's write interval assumed while no file of the folder tells the stream's byte rate
/// (all empty): 256 KiB at 32 kb/s, the lowest bitrate seen from LAME's defaults.
const UNKNOWN_RATE_INTERVAL: TimeDelta = TimeDelta::seconds(66);

/// How long a file must stay unchanged to count as idle: `FINISH_GRACE_SECONDS`, and never
/// less than the share's cache window plus ffmpeg's write interval at the slowest byte rate
/// measured in the folder (256 KiB take 16 s at 128 kb/s, 65 s at 32 kb/s, 131 s at 16 kb/s).
/// A modification time seen through the cache may be a window old while the recorder still
/// writes every interval; waiting out both proves the recorder has stopped writing. The
/// bound for files not yet measured is the same: the rate is the stream's. With no rate
/// known (every file still empty), [`UNKNOWN_RATE_INTERVAL`] stands in for the interval. A
/// segment shorter than a block is written once, when ffmpeg closes it: then no write comes
/// later than the segment time (and 2 s for the frame it cuts at) after the last. The
/// interval is taken a quarter longer, as a margin.
fn grace_for(
    local: &[(&SeenFile, SegmentName)],
    grace: TimeDelta,
    cache: TimeDelta,
    segment_ms: i64,
) -> TimeDelta {
    let slowest = local
        .iter()
        .filter_map(|(f, _)| match &f.audio {
            Audio::Measured(a) if a.duration() >= Duration::from_secs(1) && f.size >= 1024 => {
                Some(f.size as f64 / a.duration().as_secs_f64())
            }
            _ => None,
        })
        .fold(f64::INFINITY, f64::min);
    let block = if slowest.is_finite() && slowest > 0.0 {
        TimeDelta::milliseconds((FFMPEG_WRITE_BLOCK as f64 / slowest * 1000.0).ceil() as i64)
    } else {
        UNKNOWN_RATE_INTERVAL
    };
    let interval = block.min(TimeDelta::milliseconds(segment_ms.saturating_add(2_000)));
    // A quarter more: the rate is an average (headers, a VBR stream), and the recorder's
    // writes do not come to the millisecond.
    let interval = interval + interval / 4;
    let needed = cache.checked_add(&interval).unwrap_or(TimeDelta::MAX);
    grace.max(needed)
}

/// A segment the cover works with: a local file or an archived one.
pub(crate) struct Segment {
    pub(crate) file: String,
    pub(crate) pod: String,
    pub(crate) name: SegmentName,
    pub(crate) role: Role,
    /// Milliseconds of audio.
    pub(crate) duration: i64,
    /// The same to the sample: chains of a week of segments add up without drifting.
    pub(crate) exact: Duration,
    pub(crate) truncated: bool,
    pub(crate) frames: u64,
    pub(crate) size: u64,
    pub(crate) replaces_archived: bool,
    pub(crate) blob_name: Result<String, BlobNameError>,
    /// Where an earlier plan placed its audio (archived and gone segments).
    pub(crate) recorded: Option<i64>,
    /// A local file's modification time (ms): when its last bytes were written.
    pub(crate) modified: Option<i64>,
}

impl Segment {
    fn local(
        f: &SeenFile,
        n: &SegmentName,
        role: Role,
        facts: Option<AudioFacts>,
        settings: &Settings,
    ) -> Self {
        Segment {
            file: f.name.clone(),
            pod: n.pod.clone(),
            name: n.clone(),
            role,
            duration: facts.map_or(0, |a| millis(a.duration())),
            exact: facts.map_or(Duration::ZERO, |a| a.duration()),
            truncated: facts.is_some_and(|a| a.truncated()),
            frames: facts.map_or(0, |a| a.frames),
            size: f.size,
            replaces_archived: false,
            blob_name: blob_name(settings, n, &f.name),
            recorded: None,
            modified: Some(f.modified.timestamp_millis()),
        }
    }

    fn gone(g: &GoneSegment, n: SegmentName) -> Self {
        Segment {
            file: g.file_name.clone(),
            pod: n.pod.clone(),
            name: n,
            role: Role::Gone,
            duration: millis(g.duration),
            exact: g.duration,
            truncated: g.truncated,
            frames: 0,
            size: 0,
            replaces_archived: false,
            blob_name: Ok(String::new()),
            recorded: g.audio_start.map(|t| t.timestamp_millis()),
            modified: None,
        }
    }

    fn archived(a: &ArchivedSegment, n: SegmentName, settings: &Settings) -> Self {
        let blob_name = match &a.blob_name {
            Some(b) => Ok(b.clone()),
            None => blob_name(settings, &n, &a.file_name),
        };
        Segment {
            file: a.file_name.clone(),
            pod: n.pod.clone(),
            name: n,
            role: Role::Archived,
            duration: millis(a.duration.unwrap_or(settings.segment_time)),
            exact: a.duration.unwrap_or(settings.segment_time),
            truncated: a.truncated,
            frames: 0,
            size: a.size.unwrap_or(0),
            replaces_archived: false,
            blob_name,
            recorded: a.audio_start.map(|t| t.timestamp_millis()),
            modified: None,
        }
    }
}

pub(crate) fn hold(f: &SeenFile, why: HoldReason) -> Hold {
    Hold {
        file: f.name.clone(),
        why,
    }
}
