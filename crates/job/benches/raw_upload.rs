//! The references for the backlog target: how fast the storage account (here the same Azurite
//! the job uses) accepts the given files, several files at once, and nothing else (no scan,
//! no plan, no rows, no deletions), two ways:
//! - `blocks`: raw block uploads with `AzureArchive::put_file` (default options: 4 MiB
//!   blocks, 2 blocks of a file in flight, MD5 per block and of the whole);
//! - `put`: plain single-request Put Blobs of each file's bytes, read into memory first (no
//!   hashing, no inspection, no checks): the fastest a client can send the same bytes;
//! - `single` (not by default): the job's own upload of a file up to 32 MiB, one Put Blob
//!   streamed from the file and hashed, checked against the service's MD5; `single-inspected`
//!   the same with the job's inspectors in the body stream (frames counted, dead air screened):
//!   what a backlog's uploads cost before rows, gone rows and deletions.
//!
//! ```sh
//! AZURE_STORAGE_CONNECTION_STRING='BlobEndpoint=...;TableEndpoint=...;AccountName=...;AccountKey=...' \
//! BENCH_CONCURRENCY=1,2,4 BENCH_CONTAINER=rawref \
//!   cargo bench -p job --bench raw_upload -- FILE...
//! ```
//!
//! Each concurrency level of each way (`BENCH_MODES`, default `blocks,put`) uploads every file
//! once, into its own container (`<BENCH_CONTAINER>-<way>-c<N>`, overwriting), on a two-worker
//! Tokio runtime like the job's. The last line is `BENCH_JSON {...}` for scripts/bench.sh.
//! Without `--bench` it does nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use azure_storage::{CloudLocation, StorageCredentials};
use azure_storage_blobs::prelude::{ClientBuilder, ContainerClient};
use futures::stream::{self, StreamExt};
use store::azure::{AzureArchive, AzureOptions};
use store::connection::StorageTarget;
use store::{Archive, PutMode, PutOutcome};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "raw_upload bench: run it with `cargo bench -p job --bench raw_upload -- FILE...`"
        );
        return ExitCode::SUCCESS;
    }
    // `--sas-url CONTAINER`: create the container and print a container SAS URL for it (an
    // hour, read/write/delete/list), how scripts/bench.sh points rclone at Azurite on any port.
    if let Some(i) = args.iter().position(|a| a == "--sas-url") {
        return match sas_url(args.get(i + 1).map(String::as_str)) {
            Ok(url) => {
                println!("{url}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("raw_upload bench: {e}");
                ExitCode::FAILURE
            }
        };
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
    let modes: Vec<String> = std::env::var("BENCH_MODES")
        .unwrap_or_else(|_| "blocks,put".into())
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    let mut results = Vec::new();
    for mode in &modes {
        for &n in &levels {
            let name = format!("{container}-{mode}-c{n}");
            let seconds = match mode.as_str() {
                "blocks" => {
                    runtime.block_on(blocks(&target, &name, &files, n, bytes, Via::Blocks))?
                }
                "single" => {
                    runtime.block_on(blocks(&target, &name, &files, n, bytes, Via::Single))?
                }
                "single-inspected" => {
                    runtime.block_on(blocks(&target, &name, &files, n, bytes, Via::Inspected))?
                }
                "put" => runtime.block_on(puts(&target, &name, &files, n, bytes))?,
                other => return Err(format!("BENCH_MODES: unknown way {other:?}")),
            };
            // Azurite keeps blobs in memory: each level's copies go before the next level.
            runtime
                .block_on(sdk_container(&target, &name)?.delete().into_future())
                .map_err(|e| format!("delete container {name}: {e}"))?;
            let mbps = bytes as f64 / 1e6 / seconds;
            println!(
                "{mode}: {} files, {:.1} MB, {n} at a time: {seconds:.2} s, {mbps:.1} MB/s",
                files.len(),
                bytes as f64 / 1e6
            );
            results.push(format!(
                "{{\"mode\":\"{mode}\",\"concurrency\":{n},\"seconds\":{seconds:.3},\"mbps\":{mbps:.2}}}"
            ));
        }
    }
    println!(
        "BENCH_JSON {{\"files\":{},\"bytes\":{bytes},\"levels\":[{}]}}",
        files.len(),
        results.join(",")
    );
    Ok(())
}

/// How [`blocks`] sends each file.
#[derive(Clone, Copy)]
enum Via {
    /// `put_file` in blocks (the archive's default without a single-put limit).
    Blocks,
    /// One Put Blob per file, as the job sends a file of up to 32 MiB.
    Single,
    /// The same, with the job's inspectors in the body stream: frames counted and dead air
    /// screened (what the job adds to the upload itself).
    Inspected,
}

/// `put_file` of every file, `n` at a time; the seconds it took.
async fn blocks(
    target: &StorageTarget,
    name: &str,
    files: &[PathBuf],
    n: usize,
    bytes: u64,
    via: Via,
) -> Result<f64, String> {
    let archive = AzureArchive::new(target, name, "benchraw", name, AzureOptions::default())
        .map_err(|e| e.to_string())?;
    let archive = match via {
        Via::Blocks => archive,
        Via::Single | Via::Inspected => {
            archive.with_single_put_limit(store::azure::SINGLE_PUT_LIMIT)
        }
    };
    let archive = Arc::new(archive);
    archive.ensure_ready().await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let uploads = stream::iter(files.iter().cloned())
        .map(|path| {
            let archive = Arc::clone(&archive);
            tokio::spawn(async move {
                let file = path.file_name().unwrap_or_default().to_string_lossy();
                let blob = format!("raw/{file}");
                let meta = BTreeMap::from([("bench".to_string(), "raw".to_string())]);
                let mut scanner = mp3count::Mp3Scanner::new();
                let mut dead_air = deadair::Detector::new(deadair::Threshold::default());
                let mut inspect = |chunk: &[u8]| {
                    if matches!(via, Via::Inspected) {
                        scanner.feed(chunk);
                        dead_air.feed(chunk);
                    }
                };
                let handle = std::fs::File::open(&path).map_err(|e| e.to_string())?;
                archive
                    .put_file_inspected(&blob, &handle, &meta, PutMode::Overwrite, &mut inspect)
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
    Ok(elapsed)
}

/// One plain Put Blob per file (its bytes read into memory), `n` at a time; the seconds it
/// took.
async fn puts(
    target: &StorageTarget,
    name: &str,
    files: &[PathBuf],
    n: usize,
    bytes: u64,
) -> Result<f64, String> {
    let container = sdk_container(target, name)?;
    if let Err(e) = container.create().await {
        if !e.to_string().contains("ContainerAlreadyExists") {
            return Err(format!("create container {name}: {e}"));
        }
    }
    let started = Instant::now();
    let uploads = stream::iter(files.iter().cloned())
        .map(|path| {
            let container = container.clone();
            tokio::spawn(async move {
                let data = tokio::fs::read(&path)
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let size = data.len() as u64;
                let file = path.file_name().unwrap_or_default().to_string_lossy();
                container
                    .blob_client(format!("raw/{file}"))
                    .put_block_blob(data)
                    .content_type("audio/mpeg")
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<u64, String>(size)
            })
        })
        .buffer_unordered(n);
    let outcomes: Vec<_> = uploads.collect().await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut written = 0u64;
    for o in outcomes {
        written += o.map_err(|e| e.to_string())??;
    }
    if written != bytes {
        return Err(format!("uploaded {written} bytes of {bytes}"));
    }
    Ok(elapsed)
}

/// The SDK's client of container `name`, signed with the connection string's account key.
fn sdk_container(target: &StorageTarget, name: &str) -> Result<ContainerClient, String> {
    let key = target
        .key()
        .ok_or("the raw references need an account key in the connection string")?;
    let credentials =
        StorageCredentials::access_key(target.account.clone(), key.expose().to_owned());
    let location = CloudLocation::Custom {
        account: target.account.clone(),
        uri: target.blob_endpoint.clone(),
    };
    Ok(ClientBuilder::with_location(location, credentials).container_client(name))
}

fn sas_url(container: Option<&str>) -> Result<String, String> {
    use azure_storage::shared_access_signature::service_sas::BlobSasPermissions;
    let name = container.ok_or("--sas-url needs a container name")?;
    let conn = std::env::var("AZURE_STORAGE_CONNECTION_STRING")
        .map_err(|_| "AZURE_STORAGE_CONNECTION_STRING is not set".to_string())?;
    let target = StorageTarget::parse(&conn).map_err(|e| e.to_string())?;
    let container = sdk_container(&target, name)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        if let Err(e) = container.create().await {
            if !e.to_string().contains("ContainerAlreadyExists") {
                return Err(format!("create container {name}: {e}"));
            }
        }
        let permissions = BlobSasPermissions {
            read: true,
            add: true,
            create: true,
            write: true,
            delete: true,
            list: true,
            ..Default::default()
        };
        let expiry = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let sas = container
            .shared_access_signature(permissions, expiry)
            .await
            .map_err(|e| e.to_string())?;
        container
            .generate_signed_container_url(&sas)
            .map(|u| u.to_string())
            .map_err(|e| e.to_string())
    })
}
