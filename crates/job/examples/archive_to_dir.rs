//! Archives a folder of recorded segments into a local directory, through the same library
//! calls as the CronJob's run, with a [`LocalArchive`] in place of Azure.
//!
//! ```text
//! FILE_DURATION=10 cargo run -p job --example archive_to_dir -- <folder> <archive dir>
//! ```
//!
//! The job's other settings come from the environment as for the binary (`STREAM_NAME`,
//! default `stream`; `FILE_DURATION`, default 600; `NAME_FORMAT`, `BLOB_TEMPLATE`, …).
//! Archived files are deleted from `<folder>` as the job deletes them: copy the folder first
//! to keep it. Run it again and it finds everything archived.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use job::execute::{self, Stores};
use job::settings::Settings;
use job::store::local::LocalArchive;
use job::store::Archive;

/// The stream's lease, as the binary takes it.
const LOCK_SECONDS: u32 = 15;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [folder, archive_dir] = args.as_slice() else {
        eprintln!("usage: archive_to_dir <folder of segments> <archive directory>");
        return ExitCode::from(2);
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // As the binary: the decoder's warnings about excerpts cut for alignment
                // are expected.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(
                        "info,symphonia_bundle_mp3=error,symphonia_core=error",
                    )
                }),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let mut vars: BTreeMap<String, String> = std::env::vars().collect();
    vars.insert("FOLDER".into(), folder.clone());
    vars.entry("STREAM_NAME".into()).or_insert("stream".into());
    vars.entry("FILE_DURATION".into()).or_insert("600".into());
    // Settings insist on a storage account; the local archive never uses it.
    vars.entry("AZURE_STORAGE_CONNECTION_STRING".into())
        .or_insert("UseDevelopmentStorage=true".into());
    let settings = match Settings::from_vars(vars) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("archive_to_dir: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(&settings, archive_dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("archive_to_dir: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One run, in the order of the binary's: scan, lock, read the archive, plan, carry it out.
async fn run(settings: &Settings, archive_dir: &str) -> Result<(), String> {
    let started = Instant::now();
    let deadline = execute::deadline(settings);
    let folder = execute::scan_folder(settings)?;
    let archive = LocalArchive::new(archive_dir, &settings.container).map_err(|e| e.to_string())?;
    let gone = archive
        .partition(&job::rows::gone_partition(&settings.container))
        .map_err(|e| e.to_string())?;
    let aligned = archive
        .partition(&job::rows::alignment_partition(&settings.container))
        .map_err(|e| e.to_string())?;
    archive.ensure_ready().await.map_err(|e| e.to_string())?;
    let Some(lock) = archive
        .try_lock(LOCK_SECONDS)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Err("another run holds the archive's lock".into());
    };
    let stores = Stores {
        archive: &archive,
        gone: &gone,
        aligned: &aligned,
        lock: Some(&lock),
    };
    let done = AtomicBool::new(false);
    let work = async {
        let outcome = async {
            let (state, recorded) = execute::read_state(&stores, settings, &folder).await?;
            let now = chrono::Utc::now();
            let alignments = job::alignments::measure(&folder.files, &state, settings, now);
            let plan =
                selection::plan_with(&folder.files, &state, &alignments, &settings.selection, now);
            let unkept = execute::remember_alignments(&stores, settings, &state, &alignments).await;
            let unstamped = execute::restamp(&stores, settings, &recorded, &plan).await;
            let sum = execute::execute(
                &stores, settings, &folder, &state, &recorded, &plan, deadline,
            )
            .await;
            println!(
                "seen {}, archived {} ({} bytes), deleted {}, held {}, gaps {}, errors {}, {:.2} s",
                sum.seen,
                sum.archived,
                sum.bytes,
                sum.deleted,
                sum.held,
                sum.gaps,
                sum.errors + unkept + unstamped,
                started.elapsed().as_secs_f64()
            );
            match sum.errors + unkept + unstamped {
                0 => Ok(()),
                n => Err(format!("{n} operations failed; the next run repairs")),
            }
        }
        .await;
        done.store(true, Ordering::Relaxed);
        outcome
    };
    let (outcome, lock_lost) = tokio::join!(work, execute::keep_lock(&stores, &done));
    if let Err(e) = archive.release_lock(&lock).await {
        eprintln!("archive_to_dir: cannot release the lock (it expires by itself): {e}");
    }
    match outcome {
        Ok(()) if lock_lost => Err("the archive's lock was lost during the run".into()),
        other => other,
    }
}
