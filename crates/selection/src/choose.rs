//! The cover: which segments to keep so the archive holds every recorded moment once.
//!
//! A greedy sweep along the timeline picks, at each point, the segment that reaches furthest
//! (preferring what is already archived, then the chain already being followed, then finished
//! and complete files). A check then proves that each segment left out is covered by segments
//! of its own alignment group (its recorder's chain, or chains content alignment placed with
//! it); one that cannot be proven covered is archived too. Names alone never prove a cover.

use crate::coverage::Coverage;
use crate::timeline::Placement;

/// A segment as the cover sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Already in the archive.
    Archived,
    /// Finished local file that can be archived now.
    Candidate,
    /// Local file still being written (its placement is projected to a full segment).
    Live,
    /// A file known to have existed that holds nothing to cover with: deleted by an earlier
    /// run as a duplicate, or empty. It only keeps its neighbours' placement stable.
    Gone,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub role: Role,
    pub place: Placement,
    pub truncated: bool,
    pub name: &'a str,
}

/// The outcome for each entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Part of the cover (for a candidate: archive it; for live: it will be, later).
    Chosen,
    /// Covered by these chosen archived/candidate entries.
    Covered(Vec<usize>),
    /// Covered only once these live entries are archived.
    Waiting(Vec<usize>),
    /// Archived entries that the cover did not need, and live files not chosen.
    Idle,
}

pub(crate) struct Cover {
    pub outcomes: Vec<Outcome>,
    /// `(after, before, start, end)` entry indices and the unrecorded span between them.
    pub gaps: Vec<(usize, usize, i64, i64)>,
}

/// `forced`: candidates archived whatever the cover says (their stand-in holds other audio).
pub(crate) fn cover(entries: &[Entry<'_>], jitter: i64, forced: &[bool]) -> Cover {
    let mut chosen = forced.to_vec();
    // A candidate that the archive and the files still being written will cover anyway is
    // not a choice to make now: it waits. This is also what makes planning again after
    // carrying out a plan add nothing (what a plan leaves behind is exactly such files).
    let mut settled = Runs::new(entries, &chosen, true);
    let deferred: Vec<bool> = entries
        .iter()
        .map(|e| e.role == Role::Candidate && settled.covers(&e.place))
        .collect();
    let gaps = sweep(entries, &deferred, jitter, &mut chosen);
    let outcomes = prove(entries, &mut chosen);
    Cover { outcomes, gaps }
}

fn sweep(
    entries: &[Entry<'_>],
    deferred: &[bool],
    jitter: i64,
    chosen: &mut [bool],
) -> Vec<(usize, usize, i64, i64)> {
    let tol = jitter;
    let tie = 2 * jitter;
    let min_gap = (2 * jitter).max(1_000);
    let mut order: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].role != Role::Gone && !deferred[i])
        .collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (&entries[a].place, &entries[b].place);
        (pa.start, pb.end, entries[a].name).cmp(&(pb.start, pa.end, entries[b].name))
    });
    let mut gaps = Vec::new();
    let mut frontier: Option<i64> = None;
    let mut last: Option<usize> = None;
    let mut pending: Vec<usize> = Vec::new();
    let mut next = 0;
    loop {
        let reach = frontier.map_or(i64::MIN, |f| f + tol);
        while next < order.len() && entries[order[next]].place.start <= reach {
            pending.push(order[next]);
            next += 1;
        }
        pending.retain(|&i| entries[i].place.end > reach);
        if pending.is_empty() {
            let Some(&upcoming) = order.get(next) else {
                break;
            };
            let start = entries[upcoming].place.start;
            if let (Some(f), Some(after)) = (frontier, last) {
                if start - f >= min_gap {
                    gaps.push((after, upcoming, f, start));
                }
            }
            frontier = Some(start);
            continue;
        }
        let best_end = pending
            .iter()
            .map(|&i| entries[i].place.end)
            .max()
            .unwrap_or(i64::MIN);
        let last_chain = last.map(|l| entries[l].place.chain);
        let pick = pending
            .iter()
            .copied()
            .filter(|&i| entries[i].place.end >= best_end - tie)
            .min_by_key(|&i| {
                let e = &entries[i];
                (
                    e.role != Role::Archived,
                    Some(e.place.chain) != last_chain,
                    e.role == Role::Live,
                    e.truncated,
                    e.place.start,
                    e.name,
                )
            })
            .unwrap_or(pending[0]);
        chosen[pick] = true;
        pending.retain(|&i| i != pick);
        frontier = Some(entries[pick].place.end);
        last = Some(pick);
    }
    gaps
}

/// Turn the sweep's picks into outcomes, adding every candidate whose coverage cannot be
/// proven.
///
/// In timeline order, a candidate that neither the archive nor the files still being written
/// can be shown to cover is chosen, and counts for those after it. Coverage only grows as
/// files are chosen, so no candidate before it changes its mind: one pass decides, and the
/// outcomes are then read with the final choice. (Starting over after each added file gave
/// the same choice, at a cost quadratic in the files: 2.5 s for 10,000 files of two replicas
/// that no alignment relates, every file of one of them added one by one.)
fn prove(entries: &[Entry<'_>], chosen: &mut [bool]) -> Vec<Outcome> {
    let near = ByStart::new(entries);
    // Timeline order, so the file added first does not depend on the listing's order.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| (entries[i].place.start, entries[i].name));
    let mut archived = Runs::new(entries, chosen, false);
    let mut with_live = Runs::new(entries, chosen, true);
    for &i in &order {
        let p = &entries[i].place;
        if chosen[i] || entries[i].role != Role::Candidate {
            continue;
        }
        if !archived.covers(p) && !with_live.covers(p) {
            chosen[i] = true;
            archived.add(p);
            with_live.add(p);
        }
    }
    let mut outcomes = vec![Outcome::Idle; entries.len()];
    for &i in &order {
        if chosen[i] {
            outcomes[i] = Outcome::Chosen;
            continue;
        }
        if entries[i].role != Role::Candidate {
            continue;
        }
        let (lo, hi) = possible(&entries[i].place);
        let group = entries[i].place.group;
        outcomes[i] = if archived.covers(&entries[i].place) {
            Outcome::Covered(near.overlapping(entries, chosen, (lo, hi), group, false))
        } else {
            debug_assert!(with_live.covers(&entries[i].place));
            Outcome::Waiting(near.overlapping(entries, chosen, (lo, hi), group, true))
        };
    }
    outcomes
}

/// The audio the entry may hold, given how unsure its placement is (used to name what a
/// decision rests on; coverage itself is checked in the entry's own frame, see [`Runs`]).
fn possible(p: &Placement) -> (i64, i64) {
    (p.start - p.early, p.end + p.late)
}

/// Runs of consecutive chosen files of one chain: consecutive files join exactly, so only a
/// run's ends carry the placement uncertainty.
struct Runs {
    runs: Vec<(Placement, Placement)>,
    /// Coverage by the runs of each group.
    cache: std::collections::HashMap<usize, Coverage>,
}

impl Runs {
    fn new(entries: &[Entry<'_>], chosen: &[bool], live_too: bool) -> Self {
        let mut picked: Vec<&Placement> = entries
            .iter()
            .zip(chosen)
            .filter(|(e, &c)| match e.role {
                Role::Archived => true,
                Role::Candidate => c,
                Role::Live => live_too,
                Role::Gone => false,
            })
            .map(|(e, _)| &e.place)
            .collect();
        picked.sort_by_key(|p| (p.chain, p.index));
        let mut runs: Vec<(Placement, Placement)> = Vec::new();
        for p in picked {
            match runs.last_mut() {
                Some((_, last)) if last.chain == p.chain && p.index == last.index + 1 => *last = *p,
                _ => runs.push((*p, *p)),
            }
        }
        Runs {
            runs,
            cache: Default::default(),
        }
    }

    /// A file just chosen joins the runs: as a run of its own, at the end of the run before
    /// it or the start of the run after it in its chain, or joining the two.
    fn add(&mut self, p: &Placement) {
        let key = |q: &Placement| (q.chain, q.index);
        let at = self.runs.partition_point(|(first, _)| key(first) < key(p));
        let joins_prev = at > 0 && {
            let (_, last) = &self.runs[at - 1];
            last.chain == p.chain && last.index + 1 == p.index
        };
        let joins_next = self
            .runs
            .get(at)
            .is_some_and(|(first, _)| first.chain == p.chain && first.index == p.index + 1);
        match (joins_prev, joins_next) {
            (true, true) => {
                let (_, last) = self.runs.remove(at);
                self.runs[at - 1].1 = last;
            }
            (true, false) => self.runs[at - 1].1 = *p,
            (false, true) => self.runs[at].0 = *p,
            (false, false) => self.runs.insert(at, (*p, *p)),
        }
        self.cache.remove(&p.group);
    }

    /// Whether everything `x` holds is held for certain by runs of its own group: its own
    /// recorder's chain, or chains that content alignment placed with it (frame-accurate: a
    /// join it allows may repeat or miss at most a frame, ≤ 30 ms).
    ///
    /// A run of another group never covers `x`, however its names place it (issue 31): names
    /// say *when* two recordings were made, not that they hold the same audio. Two replicas
    /// that content alignment could not relate may record different streams (a rolling
    /// update that changed the URL, a relay playing its fallback, a stale mount), and a
    /// deletion must rest on evidence about the deleted audio itself. Such files are both
    /// archived.
    fn covers(&mut self, x: &Placement) -> bool {
        let runs = &self.runs;
        let coverage = self.cache.entry(x.group).or_insert_with(|| {
            Coverage::from_spans(
                runs.iter()
                    .filter(|(first, _)| first.group == x.group)
                    .map(|(first, last)| (first.start, last.end))
                    .collect(),
            )
        });
        coverage.uncovered(x.start, x.end) == 0
    }
}

/// Entries in order of start, to find those near a span without scanning them all.
struct ByStart {
    order: Vec<usize>,
    starts: Vec<i64>,
    /// Longest entry and largest uncertainty: how far before a span an entry may start and
    /// still reach it.
    reach: i64,
}

impl ByStart {
    fn new(entries: &[Entry<'_>]) -> Self {
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by_key(|&i| entries[i].place.start);
        let starts = order.iter().map(|&i| entries[i].place.start).collect();
        let reach = entries
            .iter()
            .map(|e| (e.place.end - e.place.start).max(e.place.early + e.place.late))
            .max()
            .unwrap_or(0);
        ByStart {
            order,
            starts,
            reach,
        }
    }

    /// The chosen entries of `group` (live ones, or the others) near `lo..hi`: those a
    /// deletion or a wait depends on. A run's certain end sits inside its last file, so the
    /// file after it counts even when it starts just past `hi`.
    fn overlapping(
        &self,
        entries: &[Entry<'_>],
        chosen: &[bool],
        (lo, hi): (i64, i64),
        group: usize,
        live: bool,
    ) -> Vec<usize> {
        let first = self.starts.partition_point(|&s| s < lo - self.reach);
        let last = self.starts.partition_point(|&s| s <= hi + self.reach);
        self.order[first..last]
            .iter()
            .copied()
            .filter(|&i| match entries[i].role {
                Role::Live => live,
                Role::Archived => !live,
                Role::Candidate => !live && chosen[i],
                Role::Gone => false,
            })
            .filter(|&i| {
                let p = &entries[i].place;
                p.group == group && p.start <= hi + p.early + p.late && p.end >= lo
            })
            .collect()
    }
}
