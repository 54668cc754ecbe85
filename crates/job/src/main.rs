//! `segment-selector`: the CronJob that archives one stream's recorded MP3 segments.
//!
//! Started with no arguments it does a run, configured by the environment (see `--help`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use tracing::error;

/// Files above `SINGLE_PUT_LIMIT` go up in blocks. Upload memory is these blocks, however
/// many files are uploaded at once: what a small pod can spare. Fewer, larger blocks cost the storage less per byte than many small ones.
const UPLOAD_BLOCK_SIZE: usize = 2 * 1024 * 1024;
const UPLOAD_BLOCKS: usize = 2;
use job::settings::Settings;
use store::azure::{AzureArchive, AzureOptions, SINGLE_PUT_LIMIT};
use store::ArchiveRead;

mod cli;
use cli::{Cli, Command, ExportArgs, LsArgs, MetricsArgs, PlaylistArgs, ReportArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match &cli.command {
        Some(Command::Ls(_) | Command::Report(_) | Command::Export(_) | Command::Playlist(_)) => {
            Settings::archive_only_from_env()
        }
        _ => Settings::from_env(),
    };
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("segment-selector: {e}");
            return ExitCode::from(2);
        }
    };
    let exporter = match &cli.command {
        Some(Command::Metrics(_)) => {
            match job::metrics::ExporterSettings::from_vars(std::env::vars()) {
                Ok(e) => Some(e),
                Err(e) => {
                    eprintln!("segment-selector: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => None,
    };
    init_logs(settings.json_logs);
    // Two workers: hashing and counting frames of one file overlaps with sending another's
    // blocks; more threads would only cost a small pod memory (a stack and an allocator
    // arena each). The exporter, which runs for days beside the recorders, waits on the
    // network and the share: one thread serves it, and its memory stays smaller.
    let mut builder = match &cli.command {
        Some(Command::Metrics(_)) => tokio::runtime::Builder::new_current_thread(),
        _ => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    };
    let runtime = match builder.enable_all().build() {
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
            Command::Report(args) => report(&settings, &args).await,
            Command::Export(args) => export(&settings, &args).await,
            Command::Playlist(args) => playlist(&settings, &args).await,
            Command::Metrics(args) => match &exporter {
                Some(exporter) => metrics(&settings, exporter, &args).await,
                None => Err("the exporter's settings were not read".into()),
            },
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
    let gone = open(
        settings,
        &archive_model::rows::gone_partition(&settings.container),
    )?;
    let aligned = open(
        settings,
        &archive_model::rows::alignment_partition(&settings.container),
    )?;
    let seen = open(
        settings,
        &archive_model::rows::sightings_partition(&settings.container),
    )?;
    let runs = open(settings, &job::outcome::runs_partition(&settings.container))?;
    let parts = job::run::Partitions {
        archive: &archive,
        gone: &gone,
        aligned: &aligned,
        seen: &seen,
        runs: &runs,
    };
    // The same final line as ever: each variant displays the message the run ended with.
    job::run::run(&parts, settings, dry_run)
        .await
        .map_err(|e| e.to_string())
}

async fn metrics(
    settings: &Settings,
    exporter: &job::metrics::ExporterSettings,
    args: &MetricsArgs,
) -> Result<(), String> {
    // Read only: no `ensure_ready`, no lock, no row written (docs/operations.md).
    let archive = open(settings, &settings.container)?;
    let gone = open(
        settings,
        &archive_model::rows::gone_partition(&settings.container),
    )?;
    let runs = open(settings, &job::outcome::runs_partition(&settings.container))?;
    let sources = job::metrics::Sources {
        archive: &archive,
        gone: &gone,
        runs: &runs,
    };
    job::metrics::serve(sources, settings, exporter, args.listen).await
}

async fn playlist(settings: &Settings, args: &PlaylistArgs) -> Result<(), String> {
    let archive = open(settings, &settings.container)?;
    // The SAS's validity is the user's choice, not a decision of the job: the node's clock
    // is all there is to count it from.
    let now = chrono::Utc::now();
    let expiry = now + chrono::TimeDelta::hours(i64::from(args.expires_in));
    let text = job::query::signed_playlist(
        &archive,
        &archive,
        &settings.read_side(),
        &args.day,
        now,
        expiry,
    )
    .await
    .map_err(|e| e.to_string())?;
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| format!("cannot write the playlist to {}: {e}", path.display()))?,
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(|e| format!("cannot write the playlist: {e}"))?;
        }
    }
    tracing::info!(day = %args.day, expires = %expiry.to_rfc3339(), "playlist signed (read only)");
    Ok(())
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
    let listed = query::list(&archive, &settings.read_side(), range)
        .await
        .map_err(|e| e.to_string())?;
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

async fn report(settings: &Settings, args: &ReportArgs) -> Result<(), String> {
    let archive = open(settings, &settings.container)?;
    let m = job::report::day_manifest(&archive, &settings.read_side(), &args.day)
        .await
        .map_err(|e| e.to_string())?;
    let gone = open(
        settings,
        &archive_model::rows::gone_partition(&settings.container),
    )?;
    let holdings = job::report::day_holdings(&archive, &gone, &settings.read_side(), &m.day)
        .await
        .map_err(|e| e.to_string())?;
    let svg = job::report::day_svg(&m, None, &holdings, settings.selection.time_zone);
    std::fs::write(&args.output, svg)
        .map_err(|e| format!("cannot write the picture to {}: {e}", args.output.display()))?;
    println!(
        "{}: {} {}: {} segments, {} archived, {} gaps, {} spans of dead air (files still held \
         in the folder are not shown: report reads only the archive)",
        args.output.display(),
        settings.stream,
        m.day,
        m.segments.len(),
        job::report::seconds_text(m.archived_seconds),
        m.gaps.len(),
        m.silences.len()
    );
    // A read-only, container-scoped SAS, valid a week (the most a user-delegation SAS may
    // last): the page passes its query on to every blob it loads.
    let now = chrono::Utc::now();
    let urls = archive
        .read_urls(now, now + chrono::TimeDelta::days(7))
        .await
        .map_err(|e| e.to_string())?;
    let page = format!(
        "{}/_days/{}.html?{}",
        urls.container_url().map_err(|e| e.to_string())?,
        m.day,
        urls.container_sas()
    );
    println!("day page (read-only, valid 7 days): {page}");
    Ok(())
}

/// A time flag's value, or an error naming the flag and the forms it takes.
fn time_flag(
    flag: &str,
    text: &str,
    zone: chrono_tz::Tz,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    job::query::parse_time(text, zone).map_err(|e| format!("--{flag}: {e}"))
}

async fn export(settings: &Settings, args: &ExportArgs) -> Result<(), String> {
    use job::export;
    let zone = settings.selection.time_zone;
    let from = time_flag("from", &args.from, zone)?;
    let to = time_flag("to", &args.to, zone)?;
    let pad: f64 = args
        .pad
        .trim()
        .parse()
        .ok()
        .filter(|p: &f64| p.is_finite() && (0.0..=86_400.0).contains(p))
        .ok_or_else(|| {
            format!(
                "--pad {:?}: expected seconds, 0 to 86400 (e.g. 5 or 2.5)",
                args.pad
            )
        })?;
    if to <= from {
        return Err(format!("--to {to} is not after --from {from}"));
    }
    let pad = chrono::TimeDelta::microseconds((pad * 1e6).round() as i64);
    let archive = open(settings, &settings.container)?;
    let pod = args.pod.as_deref();
    let plan = match export::plan_from_rows(&archive, &settings.read_side(), from - pad, to + pad, pod).await {
        Ok(plan) => plan,
        Err(e) if pod.is_some() => {
            return Err(format!(
                "{e} by pod {:?} (--pod: a pod name as the file names carry it, e.g.                  `segment-selector ls` shows them)",
                pod.unwrap_or_default()
            ))
        }
        Err(e)
            if archive
                .first_rows(1)
                .await
                .is_ok_and(|rows| rows.is_empty()) =>
        {
            return Err(format!(
                "{e}: stream {:?} has nothing archived at all (no rows in partition {:?} of table \
                 {:?}); check STREAM_NAME and TABLE_NAME",
                settings.stream, settings.container, settings.table
            ))
        }
        Err(e) => return Err(e.to_string()),
    };
    if !plan.uncounted.is_empty() {
        eprintln!(
            "segment-selector: {} segments left out: their rows (the original job's) have no frame count",
            plan.uncounted.len()
        );
    }
    eprint!("{}", export::describe_gaps(&plan.gaps, zone));
    if !plan.gaps.is_empty() && !args.allow_gaps {
        let seconds: f64 = plan.gaps.iter().map(|g| g.seconds()).sum();
        return Err(format!(
            "{} gaps ({seconds:.3} s) in the range: nothing written; --allow-gaps exports what exists",
            plan.gaps.len()
        ));
    }
    let indexed = export::read::index(&archive, &plan).await?;
    let written = if args.output == "-" {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
        export::read::write(&archive, &plan, &indexed, &mut out).await?
    } else {
        // Written beside the target and renamed at the end: a failed export leaves no
        // truncated MP3 under the name asked for.
        let path = std::path::Path::new(&args.output);
        let partial = path.with_extension("mp3.partial");
        let file = std::fs::File::create(&partial).map_err(|e| {
            format!(
                "--output {}: cannot create {}: {e}",
                args.output,
                partial.display()
            )
        })?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        let written = export::read::write(&archive, &plan, &indexed, &mut out).await;
        let written = written.and_then(|w| {
            drop(out);
            std::fs::rename(&partial, path)
                .map(|()| w)
                .map_err(|e| format!("--output {}: {e}", args.output))
        });
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written?
    };
    tracing::info!(
        from = %plan.from, to = %plan.to, segments = plan.pieces.len(), frames = written.frames,
        bytes = written.bytes, seconds = written.samples as f64 / f64::from(written.sample_rate),
        encoder_delay = written.encoder_delay, padding = written.padding,
        warm_up_frames = written.warm_up_frames, gaps = plan.gaps.len(), "exported"
    );
    Ok(())
}
