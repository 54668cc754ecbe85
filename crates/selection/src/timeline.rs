//! Placing every segment's audio on one time axis.
//!
//! Names are creation times rounded down to the second, the first file after a (re)connect
//! starts with the server's burst of older audio, and names run late after stalls. What does
//! not lie is that a pod's consecutive files join with no gap: so files are grouped into
//! chains (one ffmpeg process's output), each chain is anchored once, and every file's start
//! is the chain's start plus the audio before it.
//!
//! Where an earlier plan already placed a chain (a file it archived or deleted records where
//! its audio started), the chain stays there, as long as its names allow it: audio archived
//! in different runs is then joined in one frame.

use std::collections::BTreeMap;

/// Longest burst of old audio a server sends on connect that we allow for (Icecast's default
/// burst is ~8 s at 128 kbps).
pub(crate) const MAX_BURST_MS: i64 = 10_000;
/// How much later than its predecessor's end a name may be after a stall (up to 15 s seen).
const MAX_NAME_LAG_MS: i64 = 20_000;

/// Where a segment is on the axis, and how sure we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Placement {
    pub chain: usize,
    /// Chains whose relative placement is known exactly (aligned by content) share a group;
    /// `early` and `late` are then the group's.
    pub group: usize,
    /// Position in the chain.
    pub index: usize,
    pub start: i64,
    pub end: i64,
    /// The audio may start up to this much earlier than `start`.
    pub early: i64,
    /// The audio may start up to this much later than `start`.
    pub late: i64,
    /// The chain is where an earlier plan placed it.
    pub pinned: bool,
    /// It is no longer where its records put it: a content alignment moved it, or names
    /// of files in the folder exclude the recorded placement.
    pub moved: bool,
}

/// What the timeline needs to know about one segment.
#[derive(Debug, Clone)]
pub(crate) struct Member<'a> {
    pub pod: &'a str,
    pub name_ms: i64,
    /// Milliseconds of audio counted so far.
    pub duration: i64,
    /// The same in microseconds, which chain offsets add up.
    pub duration_us: i64,
    /// The file ends a chain: its writer was killed.
    pub truncated: bool,
    /// The file may still grow.
    pub live: bool,
    /// Where an earlier plan placed its audio, if it was archived or deleted.
    pub recorded_ms: Option<i64>,
    /// When a finished local file's last bytes were written (its modification time): its
    /// audio arrived in real time, so that is when its audio ends.
    pub modified_ms: Option<i64>,
    /// The file is in the folder (seen by this run), not only known from rows.
    pub in_folder: bool,
}

/// Place every member. `segment` is the configured segment time, `jitter` the name error.
pub(crate) fn place(members: &[Member<'_>], segment: i64, jitter: i64) -> Vec<Placement> {
    let mut by_pod: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        by_pod.entry(m.pod).or_default().push(i);
    }
    let mut placed = vec![Placement::default(); members.len()];
    let mut chain_id = 0;
    let mut close = |chain: &mut Vec<usize>, doubt: i64| {
        anchor(
            chain,
            members,
            chain_id,
            jitter,
            doubt,
            segment,
            &mut placed,
        );
        chain_id += 1;
        chain.clear();
    };
    for (_, mut ids) in by_pod {
        ids.sort_by_key(|&i| (members[i].name_ms, i));
        let mut chain: Vec<usize> = Vec::new();
        let mut doubt = 0;
        for &i in &ids {
            if let Some(&prev) = chain.last() {
                let prev_first = chain.len() == 1;
                match link(&members[prev], &members[i], segment, jitter, prev_first) {
                    Link::Joins => {}
                    Link::Restarted => {
                        chain.pop();
                        close(&mut chain, doubt);
                        doubt = 0;
                        chain.push(prev);
                    }
                    Link::Starts { doubt: next_doubt } => {
                        close(&mut chain, doubt);
                        doubt = next_doubt;
                    }
                }
            }
            chain.push(i);
        }
        if !chain.is_empty() {
            close(&mut chain, doubt);
        }
    }
    placed
}

/// How a file relates to the previous file of its pod.
enum Link {
    /// The same ffmpeg process wrote it right after.
    Joins,
    /// It starts a new chain, whose audio may begin up to `doubt` ms before its names say
    /// (when it could also be the continuation of a stalled writer).
    Starts { doubt: i64 },
    /// It continues `prev`, but `prev` began with a connect burst: a restarted writer's first
    /// file, which took the name of the killed writer's last one (ffmpeg's `-y` overwrote it),
    /// so nothing marked the restart. `prev` starts a new chain.
    Restarted,
}

fn link(prev: &Member<'_>, next: &Member<'_>, segment: i64, jitter: i64, prev_first: bool) -> Link {
    if prev.truncated || prev.live {
        return Link::Starts { doubt: 0 };
    }
    // Where `prev`'s audio would start if `next` continued it. It cannot start after `prev`
    // was created, nor before the longest connect burst; a later start means `next` is late:
    // after a stall, or because a file between them is gone (deleted by an earlier run as a
    // duplicate). Those two cannot be told apart, so the new chain carries the doubt. A
    // short, finalized `prev` is different: its ffmpeg exited (the source stopped), so
    // `next` begins a new connection, placed by its own names.
    let implied = next.name_ms - prev.duration;
    let lateness = implied - prev.name_ms;
    // Only a chain's first file holds a burst: only there may its audio start well before
    // its name.
    if !prev_first && (-MAX_BURST_MS - 2 * jitter..-2 * jitter).contains(&lateness) {
        Link::Restarted
    } else if (-MAX_BURST_MS - 2 * jitter..=2 * jitter).contains(&lateness) {
        Link::Joins
    } else if lateness > 0 && lateness <= MAX_NAME_LAG_MS && prev.duration + 2 * jitter >= segment {
        Link::Starts {
            doubt: lateness + jitter,
        }
    } else {
        Link::Starts { doubt: 0 }
    }
}

fn anchor(
    chain: &[usize],
    members: &[Member<'_>],
    chain_id: usize,
    jitter: i64,
    doubt: i64,
    segment: i64,
    placed: &mut [Placement],
) {
    let mut offsets = Vec::with_capacity(chain.len());
    let mut elapsed = 0i64;
    for &i in chain {
        offsets.push(elapsed.div_euclid(1000));
        elapsed += members[i].duration_us;
    }
    // Every name after the first is within the jitter of its audio's start or later (never
    // earlier), so the smallest one places the chain best; the first name is skipped because
    // it is taken before the connect burst arrives.
    let anchored = chain
        .iter()
        .zip(&offsets)
        .skip(1)
        .map(|(&i, &off)| members[i].name_ms - off)
        .min();
    let (mut start, early) = match anchored {
        Some(s) => (s, jitter),
        None => (members[chain[0]].name_ms, jitter + MAX_BURST_MS),
    };
    let (mut early, mut late) = (early.max(doubt), jitter);
    // A chain of one file has no later name to place it by, and its name may be the connect
    // before a burst of older audio (kill-late: every pod's only file, 7.7 s before its
    // name). Its audio ended when it was last written, which places it to the write
    // latency, but on the share's clock, not the recorders': so only within the span its
    // name allows, which stays as it was (the centre moves, not the doubt: every decision
    // made on that span is unchanged).
    if anchored.is_none() {
        let first = &members[chain[0]];
        let by_write = first.modified_ms.map(|m| m - first.duration);
        if let Some(s) = by_write.filter(|s| (start - early..=start + late).contains(s)) {
            (early, late) = (early - (start - s), late + (start - s));
            start = s;
        }
    }
    // The first record rules: later ones were placed after it, in its frame. The span the
    // names allow stays the same, only its centre moves.
    let recorded = chain
        .iter()
        .zip(&offsets)
        .find_map(|(&i, &off)| Some(members[i].recorded_ms? - off));
    let allowed = start - early..=start + late;
    // A record outside that span is not a placement these names allow. Where the chain
    // holds a file in the folder, its names are this run's evidence: a chain archived while
    // it was one file, placed by when that file was last written, can be excluded by the
    // names of files recorded after it. The chain then moves to the nearest placement the
    // names allow, and its records follow (`moved`), so audio aligned with it stays in one
    // frame. Rows alone (read without the neighbours that placed them, a hand-edited row,
    // another scheme) are left as recorded and placed by names.
    let in_folder = chain.iter().any(|&i| members[i].in_folder);
    let (pinned, moved, recorded) = match recorded {
        Some(r) if allowed.contains(&r) => (true, false, Some(r)),
        Some(r) if in_folder => (true, true, Some(r.clamp(start - early, start + late))),
        _ => (false, false, None),
    };
    if let Some(r) = recorded {
        (early, late) = (early - (start - r), late + (start - r));
        start = r;
    }
    for (index, (&i, &off)) in chain.iter().zip(&offsets).enumerate() {
        let m = &members[i];
        let s = start + off;
        let length = if m.live {
            m.duration.max(segment)
        } else {
            m.duration
        };
        placed[i] = Placement {
            chain: chain_id,
            group: chain_id,
            index,
            start: s,
            end: s + length,
            early,
            late,
            pinned,
            moved,
        };
    }
}

/// Place chains relative to each other where their content was aligned: `(a, b, offset)`
/// says member `b`'s audio starts `offset` ms after member `a`'s. The chain with the less
/// certain placement moves (but a chain an earlier plan placed stays put when the other was
/// not), and both then share one group and its uncertainty.
pub(crate) fn align(placed: &mut [Placement], pairs: &[(usize, usize, i64)]) {
    for &(a, b, offset) in pairs {
        let (pa, pb) = (placed[a], placed[b]);
        if pa.group == pb.group {
            continue;
        }
        // Move the group that is placed less surely.
        let keep_a = match (pa.pinned, pb.pinned) {
            (true, false) => true,
            (false, true) => false,
            _ => pa.early + pa.late <= pb.early + pb.late,
        };
        let (keep, moved, shift) = if keep_a {
            (pa, pb.group, pa.start + offset - pb.start)
        } else {
            (pb, pa.group, pb.start - offset - pa.start)
        };
        for p in placed.iter_mut().filter(|p| p.group == moved) {
            p.start += shift;
            p.end += shift;
            p.group = keep.group;
            p.early = keep.early;
            p.late = keep.late;
            p.pinned = keep.pinned;
            p.moved |= shift != 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pod: &str, name_s: f64, dur_s: f64) -> Member<'_> {
        Member {
            pod,
            name_ms: (name_s * 1000.0) as i64,
            duration: (dur_s * 1000.0) as i64,
            duration_us: (dur_s * 1e6) as i64,
            truncated: false,
            live: false,
            recorded_ms: None,
            modified_ms: None,
            in_folder: true,
        }
    }

    #[test]
    fn first_file_after_connect_starts_with_the_burst() {
        // Connected at 100: the first file holds 10 s of which 8.5 s are older audio, and the
        // next one is named 1.5 s after the first.
        let members = [
            m("a", 100.0, 10.0),
            m("a", 101.0, 10.0),
            m("a", 111.0, 10.0),
        ];
        let p = place(&members, 10_000, 750);
        assert_eq!(p[0].chain, p[2].chain);
        assert_eq!(p[0].start, 91_000);
        assert_eq!(p[1].start, 101_000);
        assert_eq!(p[2].start, 111_000);
        assert_eq!(p[0].early, 750);
    }

    #[test]
    fn a_lone_first_file_is_placed_by_when_it_was_last_written() {
        // Connected at 100 with 7.7 s of burst (audio from 92.3), killed after 65.5 s of
        // audio: the only file was last written at 157.8, when its last audio arrived.
        let mut only = m("a", 100.0, 65.5);
        only.truncated = true;
        only.modified_ms = Some(157_800);
        let p = place(&[only.clone()], 10_000, 750);
        assert_eq!(p[0].start, 92_300);
        // The span the name allows is unchanged: the burst before it, the jitter after.
        assert_eq!(p[0].start - p[0].early, 100_000 - 750 - MAX_BURST_MS);
        assert_eq!(p[0].start + p[0].late, 100_750);
        // A write time the name cannot explain (a file touched later) is not used.
        only.modified_ms = Some(200_000);
        assert_eq!(place(&[only], 10_000, 750)[0].start, 100_000);
    }

    #[test]
    fn late_names_after_a_stall_widen_the_doubt() {
        let members = [
            m("a", 0.0, 10.0),
            m("a", 10.0, 10.0),
            m("a", 35.0, 10.0),
            m("a", 45.0, 10.0),
        ];
        let p = place(&members, 10_000, 750);
        let starts: Vec<i64> = p.iter().map(|x| x.start).collect();
        assert_eq!(starts, [0, 10_000, 35_000, 45_000]);
        assert_eq!(p[2].early, 15_000 + 750);
    }

    #[test]
    fn a_killed_file_ends_its_chain() {
        let mut killed = m("a", 0.0, 4.0);
        killed.truncated = true;
        let members = [killed, m("a", 6.0, 10.0)];
        let p = place(&members, 10_000, 750);
        assert_ne!(p[0].chain, p[1].chain);
        assert_eq!(p[1].early, 750 + MAX_BURST_MS);
    }

    #[test]
    fn a_short_final_file_and_a_late_restart_are_separate_chains() {
        let members = [m("a", 0.0, 10.0), m("a", 10.0, 4.0), m("a", 30.0, 10.0)];
        let p = place(&members, 10_000, 750);
        assert_eq!(p[0].chain, p[1].chain);
        assert_ne!(p[1].chain, p[2].chain);
    }

    #[test]
    fn a_restart_after_a_source_stop_carries_no_stall_doubt() {
        // The source stopped 4 s into a file (finalized, short); the container restarted
        // 10 s later in the same pod.
        let members = [
            m("a", 0.0, 10.0),
            m("a", 10.0, 4.0),
            m("a", 24.0, 10.0),
            m("a", 26.0, 10.0),
        ];
        let p = place(&members, 10_000, 750);
        assert_ne!(p[1].chain, p[2].chain);
        assert_eq!(p[2].early, 750);
        assert_eq!(
            p[2].start, 16_000,
            "placed by the next file's name, before the burst"
        );
    }

    #[test]
    fn a_restart_hidden_by_an_overwritten_name_starts_a_chain() {
        // Killed at 16.6 s in its third file, restarted at 17.1 s with 3.9 s of burst: the
        // restarted writer's first file is named like the killed one (which it overwrote)
        // and holds audio from 13.3 s.
        let members = [
            m("a", 1.0, 10.0),
            m("a", 7.0, 10.0),
            m("a", 17.0, 10.0),
            m("a", 23.0, 10.0),
        ];
        let p = place(&members, 10_000, 750);
        assert_eq!(p[0].chain, p[1].chain);
        assert_ne!(p[1].chain, p[2].chain);
        assert_eq!(p[2].chain, p[3].chain);
        assert_eq!(p[2].start, 13_000, "placed by the next file's name");
        assert_eq!(p[0].start, -3_000);
    }

    #[test]
    fn pods_are_separate_chains() {
        let members = [m("a", 0.0, 10.0), m("b", 3.0, 10.0)];
        let p = place(&members, 10_000, 750);
        assert_ne!(p[0].chain, p[1].chain);
    }
}
