//! The reference for the backlog target: how fast the storage account (here the same Azurite
//! the job uses) accepts raw block uploads of the given files, with
//! `AzureArchive::put_file` (default options: 4 MiB blocks, 2 blocks of a file in flight),
//! several files at once, and nothing else (no scan, no plan, no rows, no deletions).
//!
//! ```sh
//! AZURE_STORAGE_CONNECTION_STRING='BlobEndpoint=...;TableEndpoint=...;AccountName=...;AccountKey=...' \
//! BENCH_CONCURRENCY=1,2,4 BENCH_CONTAINER=rawref \
//!   cargo bench -p job --bench raw_upload -- FILE...
//! ```
//!
//! Each concurrency level uploads every file once, into its own container
//! (`<BENCH_CONTAINER>-c<N>`, overwriting), on a two-worker Tokio runtime like the job's. The
//! last line is `BENCH_JSON {...}` for scripts/bench.sh. Without `--bench` it does nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use job::store::azure::{AzureArchive, AzureOptions};
use job::store::connection::StorageTarget;
use job::store::{Archive, PutMode, PutOutcome};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "raw_upload bench: run it with `cargo bench -p job --bench raw_upload -- FILE...`"
        );
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raw_upload bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let files: Vec<PathBuf> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    if files.is_empty() {
        return Err("give the files to upload".into());
    }
    let conn = std::env::var("AZURE_STORAGE_CONNECTION_STRING")
        .map_err(|_| "AZURE_STORAGE_CONNECTION_STRING is not set".to_string())?;
    let target = StorageTarget::parse(&conn).map_err(|e| e.to_string())?;
    let container = std::env::var("BENCH_CONTAINER").unwrap_or_else(|_| "rawref".into());
    let levels: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| format!("BENCH_CONCURRENCY: {s:?}"))
        })
        .collect::<Result<_, _>>()?;
    let mut bytes = 0u64;
    for f in &files {
        bytes += std::fs::metadata(f)
            .map_err(|e| format!("{}: {e}", f.display()))?
            .len();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut results = Vec::new();
    for &n in &levels {
        let name = format!("{container}-c{n}");
        let archive = AzureArchive::new(&target, &name, "benchraw", &name, AzureOptions::default())
            .map_err(|e| e.to_string())?;
        let archive = Arc::new(archive);
        let seconds = runtime.block_on(async {
            archive.ensure_ready().await.map_err(|e| e.to_string())?;
            let started = Instant::now();
            let uploads = stream::iter(files.iter().cloned())
                .map(|path| {
                    let archive = Arc::clone(&archive);
                    tokio::spawn(async move {
                        let file = path.file_name().unwrap_or_default().to_string_lossy();
                        let blob = format!("raw/{file}");
                        let meta = BTreeMap::from([("bench".to_string(), "raw".to_string())]);
                        archive
                            .put_file(&blob, &path, &meta, PutMode::Overwrite)
                            .await
                            .map_err(|e| e.to_string())
                    })
                })
                .buffer_unordered(n);
            let outcomes: Vec<_> = uploads.collect().await;
            let elapsed = started.elapsed().as_secs_f64();
            let mut written = 0u64;
            for o in outcomes {
                match o.map_err(|e| e.to_string())?? {
                    PutOutcome::Written { size, .. } => written += size,
                    PutOutcome::AlreadyExists(_) => return Err("unexpected AlreadyExists".into()),
                }
            }
            if written != bytes {
                return Err(format!("uploaded {written} bytes of {bytes}"));
            }
            Ok::<f64, String>(elapsed)
        })?;
        let mbps = bytes as f64 / 1e6 / seconds;
        println!(
            "{} files, {:.1} MB, {n} at a time: {seconds:.2} s, {mbps:.1} MB/s",
            files.len(),
            bytes as f64 / 1e6
        );
        results.push(format!(
            "{{\"concurrency\":{n},\"seconds\":{seconds:.3},\"mbps\":{mbps:.2}}}"
        ));
    }
    println!(
        "BENCH_JSON {{\"files\":{},\"bytes\":{bytes},\"levels\":[{}]}}",
        files.len(),
        results.join(",")
    );
    Ok(())
}
