//! What time it is, by the node the job runs on and by the share the recorders write to.
//!
//! File modification times come from the share's clock; the job's `now` comes from the node's.
//! A node whose clock runs ahead (a suspend, a broken NTP) would make a file still being
//! written look idle, so the planner never decides on the node's clock alone
//! ([`selection::Now`]). This module reads both clocks once per run and reports when they
//! disagree.

use chrono::{DateTime, TimeDelta, Utc};
use selection::{Now, SeenFile};
use tracing::{debug, warn};

use crate::share::Share;

/// The file created and removed at once to read the share's clock. It does not end in `.mp3`,
/// so no scan takes it for a recording, and a run killed before removing it removes it next time.
pub const PROBE_NAME: &str = ".segment-selector-clock";

/// The node's clock, for records only, never for a decision: when a run started and ended
/// (its outcome row, `crate::outcome`), and what time the metrics exporter says it is.
pub fn node() -> DateTime<Utc> {
    Utc::now()
}

/// Read the node's clock and the share's, once, for the whole run.
pub fn read(folder: &Share) -> Now {
    let node = Utc::now();
    let share = match share_clock(folder) {
        Ok(t) => Some(t),
        Err(e) => {
            debug!("cannot read the share's clock ({e}); the newest modification time stands in");
            None
        }
    };
    Now { node, share }
}

/// The share's clock: the modification time it gives a file created now (through the folder's
/// handle, exclusively). On Azure Files that is the file service's clock, the same clock as the
/// recordings' modification times.
pub fn share_clock(folder: &Share) -> Result<DateTime<Utc>, String> {
    let path = folder.path().join(PROBE_NAME);
    let create = || folder.create(PROBE_NAME);
    let file = match create() {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Left by a killed run: its time is old.
            let _ = folder.remove(PROBE_NAME);
            create().map_err(|e| format!("cannot create {}: {e}", path.display()))?
        }
        Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
    };
    let modified = file.metadata().and_then(|m| m.modified());
    drop(file);
    let removed = folder.remove(PROBE_NAME);
    let modified =
        modified.map_err(|e| format!("cannot read the time of {}: {e}", path.display()))?;
    if let Err(e) = removed {
        warn!(
            "cannot remove {} (the next run removes it): {e}",
            path.display()
        );
    }
    Ok(modified.into())
}

/// How far the node's clock is ahead of the share's (negative: behind), in seconds, warned
/// about when it exceeds `limit`. Without the share's clock, only a node clock behind the
/// newest modification time shows, as a lower bound.
pub fn skew(now: &Now, files: &[SeenFile], limit: TimeDelta) -> Option<f64> {
    let seconds = |d: TimeDelta| d.num_milliseconds() as f64 / 1000.0;
    match now.share {
        Some(share) => {
            let skew = now.node - share;
            if skew.abs() > limit {
                warn!(
                    clock_skew_seconds = seconds(skew),
                    "the node's clock is {:.1} s {} the share's; files count as finished only when \
                     both clocks agree, or once a later run sees them unchanged",
                    seconds(skew.abs()),
                    if skew > TimeDelta::zero() { "ahead of" } else { "behind" },
                );
                if skew.abs() > TimeDelta::minutes(15) {
                    warn!(
                        "Azure Storage refuses requests signed more than 15 minutes off its \
                        clock: fix the node's time (NTP) for the job to reach the archive"
                    );
                }
            }
            Some(seconds(skew))
        }
        None => {
            let newest = files.iter().map(|f| f.modified).max()?;
            let behind = newest - now.node;
            if behind > limit {
                warn!(
                    clock_skew_seconds = -seconds(behind),
                    "the node's clock is at least {:.1} s behind the share's (a file was modified \
                     at {newest}); files count as finished once a later run sees them unchanged",
                    seconds(behind),
                );
                return Some(-seconds(behind));
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::fs;

    #[test]
    fn the_share_clock_is_read_from_a_file_it_creates_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let share = Share::open(dir.path()).unwrap();
        let before = Utc::now() - TimeDelta::seconds(1);
        let t = share_clock(&share).unwrap();
        assert!(t >= before && t <= Utc::now() + TimeDelta::seconds(1));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        // A probe left by a killed run is replaced.
        fs::write(dir.path().join(PROBE_NAME), b"").unwrap();
        assert!(share_clock(&share).is_ok());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        // A link in its place is removed, never followed.
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join(PROBE_NAME)).unwrap();
        assert!(share_clock(&share).is_ok());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(outside.path().exists());
    }

    #[test]
    fn a_probe_that_cannot_be_created_gives_no_share_clock() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(PROBE_NAME)).unwrap();
        let now = read(&Share::open(dir.path()).unwrap());
        assert_eq!(now.share, None);
    }

    #[test]
    fn skew_is_measured_against_the_share_or_bounded_by_the_newest_write() {
        let t = |s: i64| DateTime::from_timestamp(1_795_000_000 + s, 0).unwrap();
        let limit = TimeDelta::seconds(60);
        let ahead = Now {
            node: t(300),
            share: Some(t(0)),
        };
        assert_eq!(skew(&ahead, &[], limit), Some(300.0));
        let file = SeenFile {
            name: "a_20261118T000000.mp3".into(),
            size: 0,
            modified: t(3600),
            audio: selection::Audio::NotMeasured,
        };
        let behind = Now {
            node: t(0),
            share: None,
        };
        assert_eq!(
            skew(&behind, std::slice::from_ref(&file), limit),
            Some(-3600.0)
        );
        let agree = Now {
            node: t(3610),
            share: None,
        };
        assert_eq!(skew(&agree, &[file], limit), None);
    }
}
