//! Planning with comparisons, without I/O: the plan asks which audio to compare, the caller
//! reads and compares it, and the plan is made again with the verdicts.
//!
//! Like a protocol state machine, [`Planning`] never reads anything itself: a job compares
//! with its recordings and blobs, a test answers from its ground truth, and both go through
//! the same passes.

use crate::{
    plan_compared, Alignment, ArchiveState, CompareRequest, Comparison, Now, Plan, SeenFile,
    Settings,
};

/// Rounds of questions before the plan is final. Each round can only keep more files (a
/// verdict other than Same archives both sides), and a file kept can only put a few more in
/// question; whatever is still asked after the last round is held
/// ([`crate::HoldReason::Comparing`]) and asked again by the next run.
pub const MAX_ROUNDS: usize = 3;

/// One run's planning: [`Planning::questions`] until there are none, answering each with
/// [`Planning::answer`], then [`Planning::finish`].
///
/// ```
/// # use selection::{Planning, ArchiveState, Settings, Comparison, Verdict};
/// # let settings = Settings::new(600, "hope").unwrap();
/// # let now = chrono::Utc::now();
/// # let state = ArchiveState::default();
/// let mut planning = Planning::new(&[], &state, &[], &settings, now);
/// while let Some(asked) = planning.questions() {
///     let verdicts: Vec<Comparison> = asked
///         .iter()
///         .map(|c| Comparison { file: c.file.clone(), with: c.with.clone(), verdict: Verdict::Unknown })
///         .collect();
///     planning.answer(verdicts);
/// }
/// let (plan, comparisons) = planning.finish();
/// assert!(plan.uploads.is_empty() && comparisons.is_empty());
/// ```
#[derive(Debug)]
pub struct Planning<'a> {
    files: &'a [SeenFile],
    state: &'a ArchiveState,
    alignments: &'a [Alignment],
    settings: &'a Settings,
    now: Now,
    comparisons: Vec<Comparison>,
    plan: Plan,
    rounds: usize,
}

impl<'a> Planning<'a> {
    /// The first plan, from the folder, the archive's state and this run's alignments.
    pub fn new(
        files: &'a [SeenFile],
        state: &'a ArchiveState,
        alignments: &'a [Alignment],
        settings: &'a Settings,
        now: impl Into<Now>,
    ) -> Self {
        let now = now.into();
        Planning {
            plan: plan_compared(files, state, alignments, &[], settings, now),
            files,
            state,
            alignments,
            settings,
            now,
            comparisons: Vec::new(),
            rounds: 0,
        }
    }

    /// What the current plan asks to compare before it deletes: `None` once nothing is
    /// asked, or after [`MAX_ROUNDS`] answers.
    pub fn questions(&self) -> Option<&[CompareRequest]> {
        (self.rounds < MAX_ROUNDS && !self.plan.compare.is_empty())
            .then_some(self.plan.compare.as_slice())
    }

    /// The verdicts for the questions asked; the plan is made again with every verdict so
    /// far. A question left unanswered holds its file.
    pub fn answer(&mut self, verdicts: impl IntoIterator<Item = Comparison>) {
        self.comparisons.extend(verdicts);
        self.rounds += 1;
        self.plan = plan_compared(
            self.files,
            self.state,
            self.alignments,
            &self.comparisons,
            self.settings,
            self.now,
        );
    }

    /// The final plan, and every verdict it rests on (to report disagreements).
    pub fn finish(self) -> (Plan, Vec<Comparison>) {
        (self.plan, self.comparisons)
    }
}
