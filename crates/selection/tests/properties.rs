//! Properties of the plan over generated replica timelines: replicas start at random
//! offsets, connect with a burst of older audio, get killed (leaving 0-byte or truncated
//! files with lying headers), restart under the same or a new pod name, and a CronJob plans
//! and carries out every few seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::DateTime;
use chrono_tz::Tz;
use proptest::prelude::*;
use selection::{
    alignment_candidates, plan, Alignment, ArchiveState, ArchivedSegment, Audio, AudioFacts,
    Comparison, DeleteReason, Now, Plan, Planning, SeenFile, Settings, Verdict,
};

const FRAME_US: i64 = 1152 * 1_000_000 / 44_100; // 26 122 µs
const T0: i64 = 1_795_000_000_000; // 2026-11-18, ms

/// One recorded file as the simulation knows it: the truth and what the folder shows.
#[derive(Debug, Clone)]
struct TrueFile {
    name: String,
    pod: String,
    /// Broadcast time of the audio, ms.
    audio_start: i64,
    audio_end: i64,
    /// Wall time the file was created and last written.
    created: i64,
    last_write: i64,
    killed: bool,
    zero_bytes: bool,
    header_lies: bool,
}

#[derive(Debug, Clone)]
struct Run {
    pod: String,
    connect: i64,
    burst: i64,
    end: Option<i64>,
}

#[derive(Debug, Clone)]
struct Scenario {
    segment_ms: i64,
    runs: Vec<Run>,
    ticks: Vec<i64>,
    zero_byte_limit_ms: i64,
    /// The recorders' (and the job's `TIME_ZONE`) zone: names are its wall clock.
    zone: Tz,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop_oneof![Just(10_000i64), Just(60_000i64)],
        1usize..=3,
        proptest::collection::vec(
            (
                0i64..1_000,
                0i64..8_500,
                proptest::collection::vec(
                    (1i64..100, 500i64..20_000, any::<bool>(), any::<bool>()),
                    0..3,
                ),
            ),
            3,
        ),
        1i64..=4,
    )
        .prop_map(|(segment_ms, replicas, specs, tick_div)| {
            let horizon = segment_ms * 8;
            let mut runs = Vec::new();
            for (r, (offset_pm, burst, kills)) in specs.into_iter().take(replicas).enumerate() {
                let mut connect = T0 + offset_pm * segment_ms / 1000;
                let mut pod = format!("ffmpeg-7c9f-r{r}a");
                let mut generation = 0;
                let mut burst = burst;
                for (at_pm, delay, same_pod, graceful) in kills {
                    let end = connect + 1 + at_pm * horizon / 200;
                    let _ = graceful;
                    runs.push(Run {
                        pod: pod.clone(),
                        connect,
                        burst,
                        end: Some(end),
                    });
                    connect = end + delay;
                    burst = (burst * 7 + 1_300) % 8_500;
                    if !same_pod {
                        generation += 1;
                        pod = format!("ffmpeg-7c9f-r{r}g{generation}");
                    }
                }
                runs.push(Run {
                    pod,
                    connect,
                    burst,
                    end: None,
                });
            }
            let period = segment_ms / tick_div;
            let last = runs.iter().map(|r| r.connect).max().unwrap_or(T0) + horizon;
            let ticks = (1..)
                .map(|k| T0 + k * period)
                .take_while(|&t| t < last)
                .collect();
            Scenario {
                segment_ms,
                runs,
                ticks,
                zero_byte_limit_ms: segment_ms / 4,
                zone: Tz::UTC,
            }
        })
}

/// Every file each run writes until `stop` (wall time).
fn files_of(s: &Scenario, stop: i64) -> Vec<TrueFile> {
    let mut out = Vec::new();
    for run in &s.runs {
        let end = run.end.unwrap_or(i64::MAX).min(stop);
        if end <= run.connect {
            continue;
        }
        let first_audio = run.connect - run.burst;
        // ffmpeg cuts at the first frame boundary at or after each multiple of the segment
        // time, counted from the first audio it receives.
        let boundary = |k: i64| {
            first_audio + (k * s.segment_ms * 1000 + FRAME_US - 1) / FRAME_US * FRAME_US / 1000
        };
        let mut k = 0;
        loop {
            let audio_start = boundary(k);
            let created = run.connect.max(audio_start);
            if created >= end {
                break;
            }
            let full_end = boundary(k + 1);
            let arrives = |t: i64| run.connect.max(t);
            let killed = run.end.is_some_and(|e| arrives(full_end) > e);
            let cut = if arrives(full_end) <= end {
                full_end
            } else {
                end
            };
            let whole_frames = ((cut - audio_start).max(0) * 1000) / FRAME_US;
            let audio_end = if cut == full_end {
                full_end
            } else {
                audio_start + whole_frames * FRAME_US / 1000
            };
            let name_ms = (created + 500).div_euclid(1000) * 1000;
            let name_time = DateTime::from_timestamp_millis(name_ms).unwrap();
            let name = format!(
                "{}_{}.mp3",
                run.pod,
                name_time.with_timezone(&s.zone).format("%Y%m%dT%H%M%S")
            );
            out.push(TrueFile {
                name,
                pod: run.pod.clone(),
                audio_start,
                audio_end,
                created,
                last_write: arrives(audio_end),
                killed,
                zero_bytes: killed && audio_end - audio_start < s.zero_byte_limit_ms,
                header_lies: killed,
            });
            k += 1;
        }
    }
    // Two files with one name: ffmpeg's -y overwrote the first.
    let mut by_name: BTreeMap<String, TrueFile> = BTreeMap::new();
    for f in out {
        by_name.insert(f.name.clone(), f);
    }
    by_name.into_values().collect()
}

fn frames(f: &TrueFile) -> u64 {
    ((f.audio_end - f.audio_start) * 1000 + 999)
        .div_euclid(FRAME_US)
        .max(0) as u64
}

fn seen(f: &TrueFile, now: i64, live: bool) -> SeenFile {
    let n = if live {
        ((now.min(f.audio_end) - f.audio_start) * 1000 / FRAME_US).max(0) as u64
    } else {
        frames(f)
    };
    let zero = f.zero_bytes || (live && n < 100);
    let audio = if zero {
        Audio::Measured(AudioFacts {
            frames: 0,
            sample_rate: 44_100,
            samples_per_frame: 1152,
            clean_end: true,
            header_frames: None,
        })
    } else {
        Audio::Measured(AudioFacts {
            frames: n,
            sample_rate: 44_100,
            samples_per_frame: 1152,
            clean_end: !(live || f.killed),
            header_frames: Some(if live || f.header_lies { 0 } else { n }),
        })
    };
    SeenFile {
        name: f.name.clone(),
        size: if zero { 0 } else { n * 417 + 600 },
        modified: DateTime::from_timestamp_millis(if live {
            now - 200
        } else {
            f.last_write + 150
        })
        .unwrap(),
        audio,
    }
}

/// Total length of `[lo, hi)` not inside the union of `spans`.
fn uncovered(spans: &[(i64, i64)], lo: i64, hi: i64) -> i64 {
    let mut v: Vec<_> = spans.iter().copied().filter(|(s, e)| s < e).collect();
    v.sort();
    let mut at = lo;
    let mut missing = 0;
    for (s, e) in v {
        if e <= at {
            continue;
        }
        if s >= hi {
            break;
        }
        if s > at {
            missing += s - at;
        }
        at = at.max(e);
    }
    missing + (hi - at).max(0)
}

struct Sim {
    settings: Settings,
    state: ArchiveState,
    deleted: BTreeSet<String>,
    archived_truth: BTreeMap<String, (i64, i64)>,
    /// Where each archived file's audio was planned to start, ms.
    planned: BTreeMap<String, i64>,
    /// How far the job's node clock is ahead of the share's and the recorders' (negative:
    /// behind), ms.
    skew_ms: i64,
    /// Whether the job reads the share's clock, or only sees the files' modification times.
    share_clock: bool,
    /// The share's attribute cache, worst case: each run sees every file as it was up to
    /// this long before (a lag drawn per run from the seed), size, modification time and
    /// bytes alike, while a file created within the lag is listed at once, as created
    /// (empty). `None`: the view is fresh.
    stale_view: Option<(u64, i64)>,
    /// The replica whose pods' names start with this records another stream (a rolling
    /// update that changed the URL, a relay's fallback, a stale mount) from this broadcast
    /// time (ms) on: a file holding any of that audio aligns with no other replica's, and
    /// only its own files hold it.
    other_source: Option<(String, i64)>,
    /// Each file's audio (broadcast ms), as far as the folder has shown it.
    spans: BTreeMap<String, (i64, i64)>,
}

impl Sim {
    fn new(s: &Scenario) -> Self {
        let mut settings = Settings::new((s.segment_ms / 1000) as u64, "hope").unwrap();
        settings.finish_grace = Duration::from_secs(30);
        settings.time_zone = s.zone;
        Sim {
            settings,
            state: ArchiveState::default(),
            deleted: BTreeSet::new(),
            archived_truth: BTreeMap::new(),
            planned: BTreeMap::new(),
            skew_ms: 0,
            share_clock: true,
            stale_view: None,
            other_source: None,
            spans: BTreeMap::new(),
        }
    }

    /// Which stream a file holds: 1 for the replica on another source once it switched, 0
    /// otherwise.
    fn source(&self, file: &str) -> u8 {
        u8::from(self.other_source.as_ref().is_some_and(|(prefix, from)| {
            file.starts_with(prefix.as_str())
                && self.spans.get(file).is_none_or(|&(_, end)| end > *from)
        }))
    }

    /// How old this run's view of the folder is, ms.
    fn lag(&self, now: i64) -> i64 {
        let Some((seed, max_ms)) = self.stale_view else {
            return 0;
        };
        let mut x = seed ^ (now as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % (max_ms as u64 + 1)) as i64
    }

    /// The clocks the job plans with at true time `now`.
    fn now(&self, now: i64) -> Now {
        let at = |t: i64| DateTime::from_timestamp_millis(t).unwrap();
        Now {
            node: at(now + self.skew_ms),
            share: self.share_clock.then(|| at(now)),
        }
    }

    fn folder(
        &mut self,
        s: &Scenario,
        now: i64,
    ) -> (Vec<SeenFile>, BTreeMap<String, TrueFile>, BTreeSet<String>) {
        let all = files_of(s, now);
        let mut newest: BTreeMap<String, i64> = BTreeMap::new();
        for f in &all {
            let e = newest.entry(f.pod.clone()).or_insert(f.created);
            *e = (*e).max(f.created);
        }
        let mut live_names = BTreeSet::new();
        let mut seen_files = Vec::new();
        let mut truth = BTreeMap::new();
        for f in &all {
            self.spans
                .insert(f.name.clone(), (f.audio_start, f.audio_end));
        }
        for f in all.into_iter().filter(|f| !self.deleted.contains(&f.name)) {
            let run_alive = s
                .runs
                .iter()
                .any(|r| r.pod == f.pod && r.connect <= now && r.end.is_none_or(|e| e > now));
            let live = run_alive && newest[&f.pod] == f.created && f.last_write >= now - 1;
            if live {
                live_names.insert(f.name.clone());
            }
            let seen_at = now - self.lag(now);
            seen_files.push(if seen_at >= now {
                seen(&f, now, live)
            } else if f.created > seen_at {
                // Listed at once, as it was created.
                SeenFile {
                    size: 0,
                    modified: DateTime::from_timestamp_millis(f.created).unwrap(),
                    ..seen(
                        &TrueFile {
                            zero_bytes: true,
                            ..f.clone()
                        },
                        f.created,
                        false,
                    )
                }
            } else {
                seen(&f, seen_at, f.last_write > seen_at)
            });
            truth.insert(f.name.clone(), f);
        }
        (seen_files, truth, live_names)
    }

    /// Plan, with content alignments taken from the truth when `align`, remembered as the
    /// job keeps them with the archive.
    fn plan(
        &mut self,
        files: &[SeenFile],
        truth: &BTreeMap<String, TrueFile>,
        now: i64,
        align: bool,
    ) -> Plan {
        let at = self.now(now);
        let alignments: Vec<Alignment> = if align {
            alignment_candidates(files, &self.state, &self.settings, at)
                .into_iter()
                // The truth is never in doubt: as the job, no alternate pair is measured.
                .filter(|c| !c.alternate)
                // Different streams never align.
                .filter(|c| self.source(&c.a) == self.source(&c.b))
                .map(|c| Alignment {
                    offset_ms: truth[&c.b].audio_start - truth[&c.a].audio_start,
                    a: c.a,
                    b: c.b,
                })
                .collect()
        } else {
            vec![]
        };
        // As the job does: compare what a plan asks about, and plan again with the verdicts
        // (here the truth: the same stream is the same audio).
        let mut planning = Planning::new(files, &self.state, &alignments, &self.settings, at);
        while let Some(asked) = planning.questions() {
            let verdicts: Vec<Comparison> = asked
                .iter()
                .map(|c| Comparison {
                    file: c.file.clone(),
                    with: c.with.clone(),
                    verdict: if self.source(&c.file) == self.source(&c.with) {
                        Verdict::Same
                    } else {
                        Verdict::Different
                    },
                })
                .collect();
            planning.answer(verdicts);
        }
        let p = planning.finish().0;
        self.state.alignments.extend(alignments);
        p
    }

    /// Carry out a plan as the executor would, checking the safety promises on the way.
    fn apply(
        &mut self,
        p: &Plan,
        files: &[SeenFile],
        truth: &BTreeMap<String, TrueFile>,
        live: &BTreeSet<String>,
    ) -> Result<(), TestCaseError> {
        // The job keeps the plan's sightings with the archive, in place of the old ones.
        self.state.sightings = p.sightings.clone();
        for u in &p.uploads {
            prop_assert!(
                !live.contains(&u.file),
                "live file planned for upload: {}",
                u.file
            );
            let f = &files.iter().find(|f| f.name == u.file).unwrap();
            self.state.segments.retain(|a| a.file_name != u.file);
            self.state.segments.push(ArchivedSegment {
                file_name: u.file.clone(),
                blob_name: Some(u.blob_name.clone()),
                size: Some(f.size),
                duration: Some(u.duration),
                truncated: u.truncated,
                audio_start: Some(u.audio_start),
                name_start: Some(u.name_time),
            });
            let t = &truth[&u.file];
            // What the upload holds is what the view showed: a stale view shows fewer frames.
            let end = match &f.audio {
                Audio::Measured(a) if a.frames < frames(t) => {
                    t.audio_start + a.frames as i64 * FRAME_US / 1000
                }
                _ => t.audio_end,
            };
            self.archived_truth
                .insert(u.file.clone(), (t.audio_start, end));
            self.planned
                .insert(u.file.clone(), u.audio_start.timestamp_millis());
        }
        for r in &p.restamps {
            if r.archived {
                let a = self
                    .state
                    .segments
                    .iter_mut()
                    .find(|a| a.file_name == r.file);
                prop_assert!(a.is_some(), "restamp of {} which is not archived", r.file);
                a.unwrap().audio_start = Some(r.audio_start);
                self.planned
                    .insert(r.file.clone(), r.audio_start.timestamp_millis());
            } else {
                let g = self.state.gone.iter_mut().find(|g| g.file_name == r.file);
                prop_assert!(g.is_some(), "restamp of {} which is not gone", r.file);
                g.unwrap().audio_start = Some(r.audio_start);
            }
        }
        for d in &p.deletions {
            prop_assert!(
                !live.contains(&d.file),
                "live file planned for deletion: {}",
                d.file
            );
            let t = &truth[&d.file];
            match d.why {
                DeleteReason::NoAudio => prop_assert!(t.zero_bytes, "{} deleted as empty", d.file),
                DeleteReason::Archived => prop_assert!(self.archived_truth.contains_key(&d.file)),
                DeleteReason::Duplicate => {
                    // Only archived audio of the same stream holds what the file held.
                    prop_assert!(
                        d.covered_by.iter().all(|c| {
                            let overlaps = self.spans.get(c).is_none_or(|&(start, end)| {
                                start < t.audio_end && end > t.audio_start
                            });
                            !overlaps || self.source(c) == self.source(&d.file)
                        }),
                        "{} deleted as covered by another stream's files: {:?}",
                        d.file,
                        d.covered_by
                    );
                    let spans: Vec<_> = d
                        .covered_by
                        .iter()
                        .map(|c| self.archived_truth.get(c).copied())
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            TestCaseError::fail(format!(
                                "{} covered by something not archived: {:?}",
                                d.file, d.covered_by
                            ))
                        })?;
                    let missing = uncovered(&spans, t.audio_start, t.audio_end);
                    prop_assert!(
                        missing <= 30,
                        "{} deleted with {missing} ms of its audio not archived (covered_by {:?})",
                        d.file,
                        d.covered_by
                    );
                }
            }
            if let Some(g) = &d.remember {
                self.state.gone.push(g.clone());
            }
            self.deleted.insert(d.file.clone());
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256), ..ProptestConfig::default() })]

    /// Run the CronJob over the whole scenario: nothing is deleted before its audio is
    /// archived, the live files are never touched, and at the end the archive holds every
    /// moment that any finished file held.
    #[test]
    fn cronjob_never_loses_audio(s in scenario()) {
        never_loses_audio(&s, false)?;
    }

    /// The same with content alignments (here exact, from the simulation's truth) given to
    /// the planner: the plan trusts them to the frame, and still never loses audio.
    #[test]
    fn cronjob_with_content_alignment_never_loses_audio(s in scenario()) {
        never_loses_audio(&s, true)?;
    }

    /// The same with the job's node clock off from the share's and the recorders' by up to an
    /// hour either way, with or without the share's clock: no live file is touched, nothing
    /// is deleted before its audio is archived, and a few runs after the recorders stop
    /// everything is archived.
    #[test]
    fn cronjob_with_a_skewed_clock_never_loses_audio(
        s in scenario(),
        skew_s in prop_oneof![-3_600i64..=3_600, Just(3_600i64), Just(-3_600i64), -200i64..=200],
        share_clock in any::<bool>(),
        align in any::<bool>(),
    ) {
        let mut sim = Sim::new(&s);
        sim.skew_ms = skew_s * 1000;
        sim.share_clock = share_clock;
        run_cronjob(&s, sim, align)?;
    }

    /// The same through the share's attribute cache (issue 30): every run sees the folder as
    /// it was up to 30 s before (a random lag each run), files created since listed at once
    /// and empty. Nothing is deleted that was not archived in full, nothing being written is
    /// touched, and in the end every recorded moment is archived.
    #[test]
    fn cronjob_through_a_stale_view_never_loses_audio(
        s in scenario(),
        seed in any::<u64>(),
        window_s in prop_oneof![Just(30i64), 1i64..=30],
        align in any::<bool>(),
    ) {
        let mut sim = Sim::new(&s);
        sim.stale_view = Some((seed, window_s * 1000));
        run_cronjob(&s, sim, align)?;
    }

    /// Issue 31: one replica records another stream (all of its pods, every restart): its
    /// audio aligns with nobody's. Nothing is deleted on the strength of the other stream's
    /// files, and in the end every moment of both streams is archived.
    #[test]
    fn a_replica_on_another_stream_loses_nothing(
        s in scenario(),
        replica in 0usize..3,
        align in any::<bool>(),
    ) {
        let mut sim = Sim::new(&s);
        sim.other_source = Some((format!("ffmpeg-7c9f-r{replica}"), i64::MIN));
        run_cronjob(&s, sim, align)?;
    }

    /// The same when the replica falls to another stream mid-recording (a relay's fallback
    /// loop, hours into a chain already aligned with the others): the alignment still places
    /// the chains, but every deletion resting on the other chain is compared first, and
    /// nothing of either stream is lost.
    #[test]
    fn a_replica_that_falls_to_another_stream_mid_chain_loses_nothing(
        s in scenario(),
        replica in 0usize..3,
        from_pm in 0i64..1000,
    ) {
        let mut sim = Sim::new(&s);
        let first = s.ticks.first().copied().unwrap_or(T0);
        let last = s.ticks.last().copied().unwrap_or(T0);
        let from = first + (last - first) * from_pm / 1000;
        sim.other_source = Some((format!("ffmpeg-7c9f-r{replica}"), from));
        run_cronjob(&s, sim, true)?;
    }

    /// The same input gives the same plan whatever the order of the listing.
    #[test]
    fn plan_is_deterministic(s in scenario(), pick in 0usize..1000, seed in any::<u64>()) {
        deterministic(&s, pick, seed)?;
    }

    /// Planning again after carrying a plan out (archived files recorded, deleted files
    /// remembered as gone) archives nothing more.
    #[test]
    fn plan_is_idempotent(s in scenario(), pick in 0usize..1000) {
        idempotent(&s, pick)?;
    }

    /// Names on a wall clock with daylight saving (Europe/Madrid, America/New_York), the
    /// timeline across a spring or autumn change: nothing is lost, and no more is archived
    /// twice than when the same timeline is named in UTC.
    #[test]
    fn across_clock_changes_nothing_is_lost_or_archived_twice_more(
        s in across_a_change(), align in any::<bool>()
    ) {
        let local = never_loses_audio(&s, align)?;
        let utc = never_loses_audio(&Scenario { zone: Tz::UTC, ..s.clone() }, align)?;
        prop_assert!(local <= utc, "{local} ms archived twice named in {}, {utc} ms in UTC", s.zone);
    }

    /// Across clock changes too, the plan does not depend on the listing's order, and a
    /// second plan uploads and restamps nothing (the archived rows and gone rows read back
    /// mean the instants the folder's files meant).
    #[test]
    fn across_clock_changes_plans_are_deterministic_and_idempotent(
        s in across_a_change(), pick in 0usize..1000, seed in any::<u64>()
    ) {
        deterministic(&s, pick, seed)?;
        idempotent(&s, pick)?;
    }
}

fn deterministic(s: &Scenario, pick: usize, seed: u64) -> Result<(), TestCaseError> {
    let now = s.ticks[pick % s.ticks.len()];
    let at = DateTime::from_timestamp_millis(now).unwrap();
    let mut sim = Sim::new(s);
    let (files, truth, live) = sim.folder(s, now);
    let p = plan(&files, &sim.state, &sim.settings, at);
    let mut shuffled = files.clone();
    let mut x = seed | 1;
    for i in (1..shuffled.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        shuffled.swap(i, (x % (i as u64 + 1)) as usize);
    }
    prop_assert_eq!(&p, &plan(&shuffled, &sim.state, &sim.settings, at));
    prop_assert_eq!(&p, &plan(&files, &sim.state, &sim.settings, at));
    sim.apply(&p, &files, &truth, &live)?;
    Ok(())
}

fn idempotent(s: &Scenario, pick: usize) -> Result<(), TestCaseError> {
    let now = s.ticks[pick % s.ticks.len()];
    let at = DateTime::from_timestamp_millis(now).unwrap();
    let mut sim = Sim::new(s);
    let (files, truth, live) = sim.folder(s, now);
    let p = plan(&files, &sim.state, &sim.settings, at);
    sim.apply(&p, &files, &truth, &live)?;
    let (files, _, _) = sim.folder(s, now);
    let again = plan(&files, &sim.state, &sim.settings, at);
    prop_assert!(
        again.uploads.is_empty(),
        "second plan uploads {:?}",
        again.uploads.iter().map(|u| &u.file).collect::<Vec<_>>()
    );
    prop_assert!(
        again.restamps.is_empty(),
        "second plan restamps {:?}",
        again.restamps
    );
    Ok(())
}

/// The clock changes of 2026: the zone and the UTC instant its clocks jump.
const CHANGES: [(Tz, &str); 4] = [
    (Tz::Europe__Madrid, "2026-03-29T01:00:00Z"),
    (Tz::Europe__Madrid, "2026-10-25T01:00:00Z"),
    (Tz::America__New_York, "2026-03-08T07:00:00Z"),
    (Tz::America__New_York, "2026-11-01T06:00:00Z"),
];

/// A [`scenario`] moved so that one of [`CHANGES`] falls somewhere in its first eight
/// segments, and named in that zone.
fn across_a_change() -> impl Strategy<Value = Scenario> {
    (scenario(), 0..CHANGES.len(), 0i64..1000).prop_map(|(mut s, change, at_pm)| {
        let (zone, at) = CHANGES[change];
        let at = at
            .parse::<DateTime<chrono::Utc>>()
            .unwrap()
            .timestamp_millis();
        let delta = at - (T0 + at_pm * s.segment_ms * 8 / 1000);
        for r in &mut s.runs {
            r.connect += delta;
            r.end = r.end.map(|e| e + delta);
        }
        s.ticks.iter_mut().for_each(|t| *t += delta);
        s.zone = zone;
        s
    })
}

/// Run the scenarios of a fixed seed named in their zone and in UTC, and print how much each
/// archived twice: the figures behind [`across_clock_changes_nothing_is_lost_or_archived_twice_more`].
#[test]
fn across_clock_changes_figures() {
    use proptest::strategy::ValueTree;
    let cases: usize = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = across_a_change();
    let (mut local, mut utc, mut differ) = (0i64, 0i64, 0usize);
    for _ in 0..cases {
        let s = strategy.new_tree(&mut runner).unwrap().current();
        let l = never_loses_audio(&s, false).unwrap();
        let u = never_loses_audio(
            &Scenario {
                zone: Tz::UTC,
                ..s.clone()
            },
            false,
        )
        .unwrap();
        assert!(
            l <= u,
            "{l} ms archived twice named in {}, {u} ms in UTC",
            s.zone
        );
        local += l;
        utc += u;
        differ += usize::from(l != u);
    }
    println!(
        "{cases} timelines across a clock change: archived twice {:.1} s named in local time, \
         {:.1} s named in UTC; {differ} timelines differ",
        local as f64 / 1000.0,
        utc as f64 / 1000.0
    );
}

fn stopped_end(s: &Scenario, f: &TrueFile) -> i64 {
    s.runs
        .iter()
        .filter(|r| r.pod == f.pod && r.connect <= f.created)
        .map(|r| r.end.unwrap_or(i64::MAX))
        .min()
        .unwrap_or(i64::MAX)
        .max(f.audio_start)
}

/// Returns the milliseconds archived twice (archived audio beyond its union).
fn never_loses_audio(s: &Scenario, align: bool) -> Result<i64, TestCaseError> {
    run_cronjob(s, Sim::new(s), align)
}

fn run_cronjob(s: &Scenario, mut sim: Sim, align: bool) -> Result<i64, TestCaseError> {
    let s = s.clone();
    let mut ever: BTreeMap<String, TrueFile> = BTreeMap::new();
    for &now in &s.ticks {
        let (files, truth, live) = sim.folder(&s, now);
        let p = sim.plan(&files, &truth, now, align);
        sim.apply(&p, &files, &truth, &live)?;
        ever.extend(truth);
    }
    // Every recorder stops; long after, everything is finished and planned once more.
    let end = s.ticks.last().copied().unwrap_or(T0) + 1;
    let mut stopped = s.clone();
    for r in &mut stopped.runs {
        r.end = Some(r.end.unwrap_or(end).min(end));
    }
    // A few runs a minute apart: a pod's last file may need two sightings to count as
    // finished when the clocks disagree.
    for k in 0..4 {
        let later = end + s.segment_ms * 10 + k * 60_000;
        let (files, truth, live) = sim.folder(&stopped, later);
        prop_assert!(live.is_empty());
        let p = sim.plan(&files, &truth, later, align);
        sim.apply(&p, &files, &truth, &live)?;
        ever.extend(truth);
    }
    let archived: Vec<_> = sim.archived_truth.values().copied().collect();
    let archived_of = |source: u8| -> Vec<(i64, i64)> {
        sim.archived_truth
            .iter()
            .filter(|(file, _)| sim.source(file) == source)
            .map(|(_, span)| *span)
            .collect()
    };
    let mut lost = 0;
    for f in ever.values().filter(|f| !f.zero_bytes) {
        // What the file held when it was last seen; a file cut short by the stop above
        // counts with its shortened end. Only archived audio of its own stream holds it.
        let end = f.audio_end.min(stopped_end(&stopped, f));
        let missing = uncovered(
            &archived_of(sim.source(&f.name)),
            f.audio_start,
            end.max(f.audio_start),
        );
        if missing > 0 {
            eprintln!(
                "{} [{}, {}) misses {missing} ms",
                f.name,
                f.audio_start - T0,
                end - T0
            );
        }
        lost += missing;
    }
    prop_assert!(lost <= 60, "{lost} ms recorded but not archived");
    if align {
        // An alignment, once measured, holds in every later plan, and archived segments it
        // moves are restamped: segments archived in different runs are placed relative to
        // each other as their audio is, and a player following their recorded starts hears no
        // repeat and no hole at their join.
        for al in &sim.state.alignments {
            let (a, b, offset) = (&al.a, &al.b, &al.offset_ms);
            if let (Some(pa), Some(pb)) = (sim.planned.get(a), sim.planned.get(b)) {
                let error = (pb - pa) - offset;
                prop_assert!(error.abs() <= 30, "{a} and {b} are placed {error} ms off");
            }
        }
    }
    let lo = archived.iter().map(|a| a.0).min().unwrap_or(0);
    let hi = archived.iter().map(|a| a.1).max().unwrap_or(0);
    let total: i64 = archived.iter().map(|(s, e)| e - s).sum();
    Ok(total - ((hi - lo) - uncovered(&archived, lo, hi)))
}

/// Found by CI: a pod's restarted writer archives its first file alone, placed by when it was
/// last written (0.5 s late, within what its name allows); the names of its later files then
/// exclude that placement by 0.25 s. The chain moved by names while its record stayed, and
/// the replica aligned with it was restamped to the new placement: 1 s off in the archive.
#[test]
fn a_record_excluded_by_later_names_moves_with_what_is_aligned_to_it() {
    let run = |pod: &str, connect: i64, burst: i64, end: Option<i64>| Run {
        pod: pod.into(),
        connect,
        burst,
        end,
    };
    let s = Scenario {
        segment_ms: 10_000,
        runs: vec![
            run("ffmpeg-7c9f-r0a", 1792890007690, 5362, Some(1792890025691)),
            run("ffmpeg-7c9f-r0g1", 1792890037310, 4834, Some(1792890071311)),
            run("ffmpeg-7c9f-r0g1", 1792890079635, 1138, None),
            run("ffmpeg-7c9f-r1a", 1792890002390, 1787, Some(1792890003991)),
            run("ffmpeg-7c9f-r1a", 1792890005795, 5309, None),
        ],
        ticks: (0..64).map(|k| 1792890001220 + k * 2500).collect(),
        zero_byte_limit_ms: 2500,
        zone: "Europe/Madrid".parse().unwrap(),
    };
    never_loses_audio(&s, true).unwrap();
}
