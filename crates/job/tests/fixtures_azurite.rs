//! The real job, run as the CronJob runs it, over every recorded fixture scenario against a
//! real Azurite: whatever it deletes is covered by what it archived (checked with the time
//! code decoded from the recordings), and a second run archives nothing more.
//!
//! It takes a file's broadcast span for all of its audio, so it leaves out the scenarios whose
//! replicas record more than one source (the manifest's `"sources"`, issue 31):
//! `fixtures_disagree.rs` archives those.

mod support;
use support::{azurite, fixture};

use std::path::PathBuf;

use store::azure::{AzureArchive, AzureOptions};
use store::connection::StorageTarget;
use store::ArchiveRead;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_archives_what_it_deletes() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let target = StorageTarget::parse(&conn).unwrap();
    let scenarios: Vec<PathBuf> = fixture::single_source_scenarios();
    assert!(scenarios.len() >= 5, "fixtures missing: {scenarios:?}");
    let mut report = Vec::new();
    for scenario in scenarios {
        let name = scenario.file_name().unwrap().to_string_lossy().to_string();
        let stream = format!("fx-{name}");
        let dir = tempfile::tempdir().unwrap();
        let manifest = fixture::replay(&scenario, dir.path());
        let segment = manifest["segment_time"].as_u64().unwrap();
        let first = fixture::run_job(dir.path(), &conn, &stream, segment);
        let log = String::from_utf8_lossy(&first.stderr).to_string();
        let mut logs = log.clone();
        assert!(first.status.success(), "{name}: first run failed:\n{log}");
        assert!(!log.contains("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="));

        let archive =
            AzureArchive::new(&target, &stream, "audios", &stream, AzureOptions::default())
                .unwrap();
        let rows = archive.first_rows(1000).await.unwrap();
        let files = manifest["files"].as_array().unwrap();
        let span = |file: &str| {
            files.iter().find(|f| f["name"] == file).and_then(|f| {
                Some((
                    f["broadcast_start_s"].as_f64()?,
                    f["broadcast_end_s"].as_f64()?,
                ))
            })
        };
        let archived: Vec<(f64, f64)> = rows.iter().filter_map(|r| span(&r.file_name)).collect();
        let mut deleted = 0;
        for f in files {
            let file = f["name"].as_str().unwrap();
            if dir.path().join(file).exists() {
                continue;
            }
            deleted += 1;
            if let Some((lo, hi)) = span(file) {
                let missing = fixture::uncovered(&archived, lo, hi);
                assert!(
                    missing <= 0.05,
                    "{name}: {file} deleted with {missing:.3} s of its audio not archived"
                );
            }
        }
        // Blobs hold exactly the local bytes.
        for r in &rows {
            let info = archive
                .blob_info(r.blob_name.as_deref().unwrap())
                .await
                .unwrap()
                .expect("blob of a row");
            assert_eq!(Some(info.size), r.size, "{name}: {}", r.file_name);
        }
        let second = fixture::run_job(dir.path(), &conn, &stream, segment);
        logs.push_str(&String::from_utf8_lossy(&second.stderr));
        assert!(
            second.status.success(),
            "{name}: second run failed:\n{}",
            String::from_utf8_lossy(&second.stderr)
        );
        let again = archive.first_rows(1000).await.unwrap();
        assert_eq!(again.len(), rows.len(), "{name}: second run archived more");
        fixture::finish_recordings(dir.path());
        for _ in 0..2 {
            let later = fixture::run_job(dir.path(), &conn, &stream, segment);
            let log = String::from_utf8_lossy(&later.stderr).to_string();
            logs.push_str(&log);
            assert!(
                later.status.success(),
                "{name}: run after the end failed:\n{log}"
            );
        }
        let rows = archive.first_rows(1000).await.unwrap();
        let archived: Vec<(f64, f64)> = rows.iter().filter_map(|r| span(&r.file_name)).collect();
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            left.is_empty(),
            "{name}: files left after everything finished: {left:?}"
        );
        let recorded: Vec<(f64, f64)> = files
            .iter()
            .filter_map(|f| span(f["name"].as_str()?))
            .collect();
        let (lo, hi) = recorded
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &(s, e)| (l.min(s), h.max(e)));
        let recorded_s = (hi - lo) - fixture::uncovered(&recorded, lo, hi);
        let mut missing = 0.0;
        for &(s, e) in &recorded {
            missing += fixture::uncovered(&archived, s, e).max(0.0);
        }
        let archived_total: f64 = archived.iter().map(|(s, e)| e - s).sum();
        let archived_union = (hi - lo) - fixture::uncovered(&archived, lo, hi);
        assert!(
            missing <= 0.05 * recorded.len() as f64,
            "{name}: {missing:.3} s recorded but not archived"
        );
        report.push(format!(
            "{name}: recorded {recorded_s:.1} s, archived {archived_union:.1} s ({:.2} %), archived twice {:.1} s, {} blobs",
            100.0 * archived_union / recorded_s,
            archived_total - archived_union,
            rows.len()
        ));
        // Each pair of recordings is aligned once: the alignment is kept in the table and
        // read back by later runs, which neither measure it again nor lose it.
        let measured: Vec<(String, String)> = logs
            .lines()
            .filter(|l| l.contains("aligned by content"))
            .map(|l| {
                let field = |key: &str| {
                    l.split_whitespace()
                        .find_map(|w| w.strip_prefix(key))
                        .unwrap_or_default()
                        .to_string()
                };
                (field("a="), field("b="))
            })
            .collect();
        let distinct: std::collections::BTreeSet<_> = measured.iter().cloned().collect();
        assert_eq!(
            distinct.len(),
            measured.len(),
            "{name}: a pair was aligned in more than one run: {measured:?}"
        );
        let kept = AzureArchive::new(
            &target,
            &stream,
            "audios",
            &archive_model::rows::alignment_partition(&stream),
            AzureOptions::default(),
        )
        .unwrap()
        .first_rows(1000)
        .await
        .unwrap();
        let kept: std::collections::BTreeSet<_> = kept
            .iter()
            .filter_map(archive_model::rows::alignment)
            .map(|al| (al.a, al.b))
            .collect();
        assert_eq!(kept, distinct, "{name}: alignments kept in the table");
        report.push(format!(
            "{name}: {} alignment(s) measured and kept; in/out points recorded anew {} time(s), \
             restamps {}",
            distinct.len(),
            logs.matches("decision=\"rejoined\"").count(),
            logs.matches("decision=\"restamped\"").count()
        ));
        // One stream, two replicas: nothing may be reported as disagreeing (the
        // ReplicasDisagree alert would wake someone for a healthy pair).
        let disagreeing: Vec<&str> = logs
            .lines()
            .filter(|l| {
                l.contains("decision=\"replicas disagree\"")
                    || l.contains("may record different audio")
            })
            .collect();
        assert!(
            disagreeing.is_empty(),
            "{name}: replicas of one stream reported as disagreeing:\n{}",
            disagreeing.join("\n")
        );
        report.push(format!(
            "{name}: {} archived, {deleted} deleted, {} left",
            rows.len(),
            files.len() - deleted
        ));
    }
    println!("{}", report.join("\n"));
}
