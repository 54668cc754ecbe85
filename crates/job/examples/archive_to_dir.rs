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

use job::run::Partitions;
use job::settings::Settings;
use store::local::LocalArchive;

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

/// One run, by the same library function as the binary's, over local partitions.
async fn run(settings: &Settings, archive_dir: &str) -> Result<(), String> {
    let archive = LocalArchive::new(archive_dir, &settings.container).map_err(|e| e.to_string())?;
    let partition = |name: String| archive.partition(&name).map_err(|e| e.to_string());
    let gone = partition(archive_model::rows::gone_partition(&settings.container))?;
    let aligned = partition(archive_model::rows::alignment_partition(
        &settings.container,
    ))?;
    let seen = partition(archive_model::rows::sightings_partition(
        &settings.container,
    ))?;
    let runs = partition(job::outcome::runs_partition(&settings.container))?;
    let parts = Partitions {
        archive: &archive,
        gone: &gone,
        aligned: &aligned,
        seen: &seen,
        runs: &runs,
    };
    job::run::run(&parts, settings, false)
        .await
        .map_err(|e| e.to_string())
}
