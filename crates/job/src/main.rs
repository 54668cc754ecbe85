//! `segment-selector`: the CronJob that archives one stream's recorded MP3 segments.
//!
//! Started with no arguments it does a run, configured by the environment (see `--help`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing::error;

/// Files above `SINGLE_PUT_LIMIT` go up in blocks. Upload memory is these blocks, however
/// many files are uploaded at once: what a small pod can spare. Fewer, larger blocks cost the storage less per byte than many small ones.
const UPLOAD_BLOCK_SIZE: usize = 2 * 1024 * 1024;
const UPLOAD_BLOCKS: usize = 2;
use job::settings::Settings;
use job::store::azure::{AzureArchive, AzureOptions, SINGLE_PUT_LIMIT};
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
    /// List the archived segments of the stream (all, a day's, or a range's), oldest first.
    /// Needs only STREAM_NAME and the storage settings (TIME_ZONE for local times).
    Ls(LsArgs),
}

#[derive(clap::Args)]
struct LsArgs {
    /// A local calendar day in TIME_ZONE, YYYY-MM-DD.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    day: Option<String>,
    /// Start of a range: RFC 3339, or a local time in TIME_ZONE (2026-11-26T14:32:00).
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// End of the range (exclusive), as --from.
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// One JSON array instead of the table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match &cli.command {
        Some(Command::Ls(_)) => Settings::archive_only_from_env(),
        _ => Settings::from_env(),
    };
    let settings = match settings {
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
            Command::Ls(args) => ls(&settings, &args).await,
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
    .map(|archive| {
        archive
            .with_block_budget(UPLOAD_BLOCKS)
            .with_single_put_limit(SINGLE_PUT_LIMIT)
    })
    .map_err(|e| e.to_string())
}

async fn run(settings: &Settings, dry_run: bool) -> Result<(), String> {
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
    let parts = job::run::Partitions {
        archive: &archive,
        gone: &gone,
        aligned: &aligned,
        seen: &seen,
    };
    job::run::run(&parts, settings, dry_run).await
}

async fn ls(settings: &Settings, args: &LsArgs) -> Result<(), String> {
    use job::query;
    let zone = settings.selection.time_zone;
    let range = match (&args.day, &args.from, &args.to) {
        (Some(day), _, _) => Some(query::day_span(day, zone)?),
        (None, Some(from), Some(to)) => {
            let (from, to) = (query::parse_time(from, zone)?, query::parse_time(to, zone)?);
            if to <= from {
                return Err(format!("--to {to} is not after --from {from}"));
            }
            Some((from, to))
        }
        _ => None,
    };
    let archive = open(settings, &settings.container)?;
    let listed = query::list(&archive, settings, range).await?;
    if listed.is_empty()
        && archive
            .first_rows(1)
            .await
            .map_err(|e| e.to_string())?
            .is_empty()
    {
        return Err(format!(
            "stream {:?}: nothing archived (no rows in partition {:?} of table {:?}); check \
             STREAM_NAME and TABLE_NAME",
            settings.stream, settings.container, settings.table
        ));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&listed).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", query::table(&listed));
    }
    Ok(())
}
