//! Two jobs started at the same instant on the same stream and the same folder (two CronJob
//! pods after a missed schedule, or a manual run beside the scheduled one), each round on a
//! fresh stream so the creation of the container, the table and the lock blob races too.
//!
//! Both exit 0; the loser says it found the lock taken (or, when the winner was already done,
//! runs after it and finds nothing left to do); every segment is archived once (RowKeys and
//! file names unique, one blob per row, no blob without a row); nothing is deleted unarchived;
//! and the archive and the local files end as an uninterrupted run's. `RACE_ROUNDS` (default 8).

mod support;
use support::{azurite, common};

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{
    check_deletions, compare_archives, compare_folders, env_u64, folder_state, job, replay,
    run_limited, run_to_fixpoint, snapshot, LOCKED_OUT,
};

#[test]
fn two_jobs_at_once_archive_each_segment_once() {
    let rounds = env_u64("RACE_ROUNDS", 8);
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let scenario = "source-restart";

    let reference = tempfile::tempdir().unwrap();
    let manifest = replay(scenario, &[reference.path()]);
    let segment = manifest.segment;
    run_to_fixpoint(reference.path(), &conn, "race-ref", segment, 4);
    let want = snapshot(&conn, "race-ref");
    let want_files: Vec<String> = folder_state(reference.path()).into_keys().collect();

    let (mut locked_out, mut one_after_other, mut gap_ms) = (0, 0, Vec::new());
    let started = Instant::now();
    for round in 0..rounds {
        let stream = format!("race-{round:03}");
        let dir = tempfile::tempdir().unwrap();
        replay(scenario, &[dir.path()]);
        let before = folder_state(dir.path());

        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (barrier, path, conn, stream) = (
                    barrier.clone(),
                    dir.path().to_owned(),
                    conn.clone(),
                    stream.clone(),
                );
                std::thread::spawn(move || {
                    let cmd = job(&path, &conn, &stream, segment);
                    barrier.wait();
                    let at = Instant::now();
                    (at, run_limited(cmd, Duration::from_secs(60)))
                })
            })
            .collect();
        let runs: Vec<(Instant, common::Run)> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        gap_ms.push(
            runs[0]
                .0
                .max(runs[1].0)
                .duration_since(runs[0].0.min(runs[1].0))
                .as_secs_f64()
                * 1000.0,
        );
        let what = format!("round {round}");
        for (_, r) in &runs {
            r.assert_no_panic(&what);
            assert!(r.success(), "{what}: a job failed:\n{}", r.describe());
        }
        let losers = runs
            .iter()
            .filter(|(_, r)| r.stderr.contains(LOCKED_OUT))
            .count();
        assert!(losers <= 1, "{what}: both jobs were locked out");
        if losers == 1 {
            locked_out += 1;
            let (_, loser) = runs
                .iter()
                .find(|(_, r)| r.stderr.contains(LOCKED_OUT))
                .unwrap();
            assert!(
                loser.summary().is_none(),
                "{what}: the loser did work:\n{}",
                loser.describe()
            );
        } else {
            one_after_other += 1;
            let archived: u64 = runs.iter().map(|(_, r)| r.counter("archived")).sum();
            let first = runs
                .iter()
                .map(|(_, r)| r.counter("archived"))
                .max()
                .unwrap();
            assert_eq!(
                archived,
                first,
                "{what}: both jobs archived:\n{}\n{}",
                runs[0].1.describe(),
                runs[1].1.describe()
            );
        }

        // Each segment once; nothing deleted unarchived.
        let snap = snapshot(&conn, &stream);
        let files: BTreeSet<&str> = snap.rows.values().map(|r| r.file_name.as_str()).collect();
        assert_eq!(
            files.len(),
            snap.rows.len(),
            "{what}: a file recorded twice"
        );
        assert_eq!(
            snap.blobs.len(),
            snap.rows.len(),
            "{what}: blobs and rows differ:\n{}",
            snap.diff(&want)
        );
        check_deletions(
            &what,
            &before,
            &folder_state(dir.path()),
            &snap,
            Some(&manifest),
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));

        // And it ends as an uninterrupted run's.
        run_to_fixpoint(dir.path(), &conn, &stream, segment, 4);
        let got = snapshot(&conn, &stream);
        compare_archives(&what, &got, &want, String::new);
        let end: Vec<String> = folder_state(dir.path()).into_keys().collect();
        compare_folders(&what, &end, &want_files);
    }
    gap_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{rounds} rounds in {:.1} s: {locked_out} with the loser locked out, {one_after_other} one \
         after the other; starts {:.1}..{:.1} ms apart; every segment archived once, each archive \
         equal to an uninterrupted run's",
        started.elapsed().as_secs_f64(),
        gap_ms[0],
        gap_ms[gap_ms.len() - 1]
    );
}
