//! The command line: the subcommands and their flags (clap derives `--help` from these docs).

use clap::{Parser, Subcommand};

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
/// (%d-%m-%Y/{file}), FINISH_GRACE_SECONDS (120), SHARE_CACHE_SECONDS (30: the
/// share's attribute cache; 0 for a local disk), RUN_DEADLINE_SECONDS (200),
/// LOG_FORMAT (text|json), DRY_RUN (false), UPLOAD_CONCURRENCY (2), DAY_MANIFESTS (true),
/// AZURE_REQUEST_TIMEOUT_SECONDS (30), SILENCE_SECONDS (30) and SILENCE_DBFS (-50): dead
/// air is silence longer than that, below that level; ARCHIVE_MODE (frame-exact|original):
/// whether each blob plays alone exactly its span (leaving out the audio a replica switch
/// repeats, and warming the decoder up on the previous file's last frames), or is the
/// recording's bytes.
///
/// `segment-selector metrics` serves Prometheus metrics with the same environment, plus
/// JOB_SUSPENDED (true|false, false), REPLICAS_EXPECTED (2) and METRICS_REFRESH_SECONDS (30).
#[derive(Parser)]
#[command(name = "segment-selector", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Archive, record and delete (what the CronJob does; the default).
    Run,
    /// Print what a run would do, as JSON, and change nothing.
    Plan,
    /// List the archived segments of the stream (all, a day's, or a range's), oldest first.
    /// Needs only STREAM_NAME and the storage settings (TIME_ZONE for local times).
    Ls(LsArgs),
    /// Draw a day's picture (what `_days/YYYY-MM-DD.svg` shows: a timeline per pod, gaps,
    /// dead air) into a local file from the table, and print the address of the day's page.
    /// Needs only STREAM_NAME and the storage settings (TIME_ZONE for the local day); files
    /// still held in the folder are not shown.
    Report(ReportArgs),
    /// Write one MP3 of a time range from the archive, frame-exact across segments, replica
    /// switches and midnight, with a gapless (Xing/LAME) header. A gap no replica recorded is
    /// printed to stderr and fails the export unless --allow-gaps. Needs only STREAM_NAME and
    /// the storage settings (TIME_ZONE for local times).
    Export(ExportArgs),
    /// Print a day's playlist (HLS, as `_days/YYYY-MM-DD.m3u8`) with absolute blob URLs that
    /// carry a read-only SAS, so a private container plays in VLC or a browser. Needs only
    /// STREAM_NAME and the storage settings: a service SAS from the account key, or a
    /// user-delegation SAS with Entra ID (AZURE_STORAGE_ACCOUNT; at most 168 hours).
    Playlist(PlaylistArgs),
    /// Serve the stream's metrics for Prometheus (docs/operations.md) until SIGTERM:
    /// `GET /metrics`, and `GET /healthz` for probes. Reads the archive (never writes it) and
    /// FOLDER (mounted read-only is enough), refreshing every METRICS_REFRESH_SECONDS (30).
    /// The job's environment, plus JOB_SUSPENDED (true|false, default false: the chart's
    /// `suspend`) and REPLICAS_EXPECTED (the recorders' replicas, default 2).
    Metrics(MetricsArgs),
}

#[derive(clap::Args)]
pub(crate) struct MetricsArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = job::metrics::DEFAULT_LISTEN)]
    pub(crate) listen: std::net::SocketAddr,
}

#[derive(clap::Args)]
pub(crate) struct ReportArgs {
    /// A local calendar day in TIME_ZONE, YYYY-MM-DD.
    pub(crate) day: String,
    /// Where to write the SVG.
    #[arg(long)]
    pub(crate) output: std::path::PathBuf,
}

#[derive(clap::Args)]
pub(crate) struct ExportArgs {
    /// Start: RFC 3339 (2026-11-26T14:32:00Z), or a local time in TIME_ZONE
    /// (2026-11-26T14:32:00, 2026-11-26 14:32).
    #[arg(long)]
    pub(crate) from: String,
    /// End (exclusive), as --from.
    #[arg(long)]
    pub(crate) to: String,
    /// The MP3 file to write, or - for stdout.
    #[arg(long)]
    pub(crate) output: String,
    /// Seconds of pre- and post-roll added to each end of the range.
    #[arg(long, default_value = "0")]
    pub(crate) pad: String,
    /// Export what exists when the range contains gaps (still reported on stderr).
    #[arg(long)]
    pub(crate) allow_gaps: bool,
    /// Only this replica's recordings (the pod name in the file names), e.g. the side the
    /// day's playback does not follow where the replicas recorded different audio.
    #[arg(long)]
    pub(crate) pod: Option<String>,
}

#[derive(clap::Args)]
pub(crate) struct PlaylistArgs {
    /// The day, YYYY-MM-DD (the date in the file names, as the blob folders count days).
    pub(crate) day: String,
    /// Hours the URLs stay valid.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=87_600))]
    pub(crate) expires_in: u32,
    /// Write the playlist to this file instead of standard output.
    #[arg(long)]
    pub(crate) output: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
pub(crate) struct LsArgs {
    /// A local calendar day in TIME_ZONE, YYYY-MM-DD.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub(crate) day: Option<String>,
    /// Start of a range: RFC 3339, or a local time in TIME_ZONE (2026-11-26T14:32:00).
    #[arg(long, requires = "to")]
    pub(crate) from: Option<String>,
    /// End of the range (exclusive), as --from.
    #[arg(long, requires = "from")]
    pub(crate) to: Option<String>,
    /// One JSON array instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
}
