//! `segment-selector`: the CronJob that archives one stream's recorded MP3 segments.
//!
//! Started with no arguments it does a run, configured by the environment (see `--help`).
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use tracing::{error, info, warn};

use job::execute;

/// The stream's lease: short, so a run killed while holding it blocks the next one for
/// seconds only; the executor renews it every 5 s.
const LOCK_SECONDS: u32 = 15;
/// Upload memory is these blocks, however many files are uploaded at once: what a small pod
/// can spare. Fewer, larger blocks cost the storage less per byte than many small ones.
const UPLOAD_BLOCK_SIZE: usize = 2 * 1024 * 1024;
const UPLOAD_BLOCKS: usize = 2;
use job::settings::Settings;
use job::store::azure::{AzureArchive, AzureOptions};
use job::store::Archive;

/// Archive one stream's recorded MP3 segments to Azure Blob Storage, keeping one copy of
/// every moment that any replica recorded, and delete local files only once their audio is
/// archived.
///
/// Environment: FOLDER, STREAM_NAME, FILE_DURATION (seconds), AZURE_STORAGE_CONNECTION_STRING
/// (account key, UseDevelopmentStorage=true, or BlobEndpoint=/TableEndpoint=), or instead
/// AZURE_STORAGE_ACCOUNT for Entra ID (with AZURE_STORAGE_BLOB_ENDPOINT and
/// AZURE_STORAGE_TABLE_ENDPOINT, else the public ones): Workload Identity from AZURE_TENANT_ID,
/// AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE (AZURE_AUTHORITY_HOST), else a managed
/// identity. SSL_CERT_FILE: extra CA roots (PEM). Optional:
/// NAME_FORMAT (%Y%m%dT%H%M%S), TIME_ZONE (UTC), TABLE_NAME (audios), BLOB_TEMPLATE
/// (%d-%m-%Y/{file}), FINISH_GRACE_SECONDS (120), RUN_DEADLINE_SECONDS (200),
/// LOG_FORMAT (text|json), DRY_RUN (false), UPLOAD_CONCURRENCY (2), DAY_MANIFESTS (true),
/// AZURE_REQUEST_TIMEOUT_SECONDS (30).
#[derive(Parser)]
#[command(name = "segment-selector", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Archive, record and delete (what the CronJob does; the default).
    Run,
    /// Print what a run would do, as JSON, and change nothing.
    Plan,
    /// List the segments recorded in the table for the stream, newest first.
    Ls,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("segment-selector: {e}");
            return ExitCode::from(2);
        }
    };
    init_logs(settings.json_logs);
    // Two workers: hashing and counting frames of one file overlaps with sending another's
    // blocks; more threads would only cost a small pod memory (a stack and an allocator
    // arena each).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Run) {
            Command::Run => run(&settings, settings.dry_run).await,
            Command::Plan => run(&settings, true).await,
            Command::Ls => ls(&settings).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logs(json: bool) {
    // The decoder warns about the bit reservoir of every excerpt cut for alignment; those
    // frames are warm-up and expected to be incomplete.
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,symphonia_bundle_mp3=error,symphonia_core=error")
    });
    // The Azure SDK logs whole requests at debug level, Authorization header included:
    // whatever RUST_LOG says, those crates never log below info.
    for quiet in [
        "azure_core",
        "azure_storage",
        "azure_storage_blobs",
        "azure_data_tables",
        "azure_identity",
        "reqwest",
        "hyper",
    ] {
        if let Ok(directive) = format!("{quiet}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    // Colours only on a terminal: a pod's log (kubectl logs, Container Insights) keeps
    // escape codes as text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

/// The stream's archive, in `partition` of the table.
fn open(settings: &Settings, partition: &str) -> Result<AzureArchive, String> {
    AzureArchive::new(
        &settings.storage,
        &settings.container,
        &settings.table,
        partition,
        AzureOptions {
            block_size: UPLOAD_BLOCK_SIZE,
            request_timeout: settings.request_timeout,
            ..AzureOptions::default()
        },
    )
    .map(|archive| archive.with_block_budget(UPLOAD_BLOCKS))
    .map_err(|e| e.to_string())
}

async fn run(settings: &Settings, dry_run: bool) -> Result<(), String> {
    let started = Instant::now();
    let deadline = execute::deadline(settings);
    // One reading of the clocks for the whole run: the scan, the alignments and the plan see
    // the same `now`.
    let now = job::clock::read(&settings.folder);
    let folder = execute::scan_folder(settings, now)?;
    let skew_limit =
        chrono::TimeDelta::from_std(settings.clock_skew_warning).unwrap_or(chrono::TimeDelta::MAX);
    let clock_skew = job::clock::skew(&now, &folder.files, skew_limit);
    let archive = open(settings, &settings.container)?;
    let gone = open(settings, &job::rows::gone_partition(&settings.container))?;
    let aligned = open(
        settings,
        &job::rows::alignment_partition(&settings.container),
    )?;
    let seen = open(
        settings,
        &job::rows::sightings_partition(&settings.container),
    )?;
    if !dry_run {
        archive.ensure_ready().await.map_err(|e| e.to_string())?;
    }
    let lock = if dry_run {
        None
    } else {
        match archive
            .try_lock(LOCK_SECONDS)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(l) => Some(l),
            None => {
                warn!("another run holds the stream's lock; nothing to do");
                return Ok(());
            }
        }
    };
    let stores = execute::Stores {
        archive: &archive,
        gone: &gone,
        aligned: &aligned,
        seen: &seen,
        lock: lock.as_ref(),
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let work = async {
        let outcome = async {
            let (state, recorded) = match execute::read_state(&stores, settings, &folder).await {
                Ok(s) => s,
                Err(e) if dry_run => {
                    warn!("cannot read the archive ({e}); planning as if it were empty");
                    Default::default()
                }
                Err(e) => return Err(e),
            };
            let alignments = job::alignments::measure(&folder.files, &state, settings, now);
            let plan = selection::plan_with(&folder.files, &state, &alignments, &settings.selection, now);
            if dry_run {
                println!("{}", serde_json::to_string_pretty(&plan).map_err(|e| e.to_string())?);
                return Ok(());
            }
            let unkept = execute::remember_alignments(&stores, settings, &state, &alignments).await;
            // Not an error: without them a later run only waits for the clocks to agree.
            let _ = execute::remember_sightings(&stores, &state, &plan).await;
            let unstamped = execute::restamp(&stores, settings, &recorded, &plan).await;
            let mut sum = execute::execute(&stores, settings, &folder, &state, &recorded, &plan, deadline).await;
            sum.errors += unkept + unstamped;
            info!(
                seen = sum.seen,
                archived = sum.archived,
                bytes = sum.bytes,
                deleted = sum.deleted,
                held = sum.held,
                gaps = sum.gaps,
                errors = sum.errors,
                clock_skew_seconds = clock_skew,
                seconds = started.elapsed().as_secs_f64(),
                "run summary"
            );
            if sum.errors > 0 {
                return Err(format!("{} operations failed; nothing that depends on them was deleted, the next run repairs", sum.errors));
            }
            Ok(())
        }
        .await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        outcome
    };
    let (outcome, lock_lost) = tokio::join!(work, execute::keep_lock(&stores, &done));
    let outcome = match outcome {
        Ok(()) if lock_lost => Err("the stream's lock was lost during the run".to_string()),
        other => other,
    };
    if let Some(lock) = lock {
        if let Err(e) = archive.release_lock(&lock).await {
            warn!("cannot release the lock (it expires by itself): {e}");
        }
    }
    outcome
}

async fn ls(settings: &Settings) -> Result<(), String> {
    let archive = open(settings, &settings.container)?;
    let rows = archive.first_rows(1000).await.map_err(|e| e.to_string())?;
    for r in rows {
        println!(
            "{}\t{}\t{}",
            r.blob_name.as_deref().unwrap_or("(original job)"),
            r.duration_ms
                .map_or("-".into(), |d| format!("{:.3} s", d as f64 / 1000.0)),
            r.file_name
        );
    }
    Ok(())
}
