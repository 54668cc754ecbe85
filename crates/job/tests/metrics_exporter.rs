//! `segment-selector metrics` (docs/operations.md) against a real Azurite and a replayed
//! fixture archived by the real job: the exposition parses (`promtool check metrics`, when
//! Debian's `prometheus` package is installed), every metric of the contract that applies is
//! there with the `stream` label, `archived_until` is the newest row's end, the folder metrics
//! disappear with the folder, and the exporter writes nothing: the whole table, the containers
//! and the blobs are the same before and after, and every request it made (through a counting
//! proxy) is a read. Prints the requests per refresh, the peak RSS (`VmHWM`) and the page.

mod support;
use support::{azurite, common, faultproxy::FaultProxy};

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use azure_storage::StorageCredentials;
use futures::StreamExt;
use serde_json::Value;
use store::connection::StorageTarget;

const STREAM: &str = "hope";

/// Every metric of docs/operations.md's table (the contract): (name, folder metric).
fn contract() -> Vec<(String, bool)> {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md"),
    )
    .unwrap();
    let metrics: Vec<(String, bool)> = doc
        .lines()
        .filter_map(|l| {
            let name = l.strip_prefix("| `")?.split('`').next()?;
            name.starts_with("segment_selector_")
                .then(|| (name.to_owned(), l.contains("folder metric")))
        })
        .collect();
    assert!(metrics.len() >= 28, "the table lists {metrics:?}");
    metrics
}

/// The value of `name`'s first sample whose line contains `labels`.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` of the exporter: status and body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    common::runtime().block_on(async {
        let r = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}{path}"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.ok()?))
    })
}

/// Scrapes until `ready` holds for the page (or panics after 60 s with the exporter's log).
fn scrape_until(port: u16, log: &Path, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        if let Some((200, page)) = get(port, "/metrics") {
            if ready(&page) {
                return page;
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            panic!(
                "no page with {what} within 60 s; exporter's log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The peak resident set of process `pid` so far, KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Everything the account holds: every table and its every entity (all partitions, with
/// their Timestamp and ETag), every container and its blobs (ETag, last modified, length).
fn account_snapshot(conn: &str) -> BTreeMap<String, String> {
    common::runtime().block_on(async {
        let target = StorageTarget::parse(conn).unwrap();
        let credentials = || {
            StorageCredentials::access_key(
                target.account.clone(),
                target.key().expect("an account key").expose().to_owned(),
            )
        };
        let mut out = BTreeMap::new();
        let tables = azure_data_tables::clients::TableServiceClientBuilder::with_location(
            azure_storage::CloudLocation::Custom {
                account: target.account.clone(),
                uri: target.table_endpoint.clone(),
            },
            credentials(),
        )
        .build();
        let mut pages = tables.list().into_stream();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            names.extend(page.unwrap().tables.into_iter().map(|t| t.name));
        }
        for name in names {
            out.insert(format!("table {name}"), String::new());
            let mut pages = tables
                .table_client(&name)
                .query()
                .into_stream::<serde_json::Map<String, Value>>();
            while let Some(page) = pages.next().await {
                for e in page.unwrap().entities {
                    let key = format!(
                        "row {name}/{}/{}",
                        e["PartitionKey"].as_str().unwrap_or_default(),
                        e["RowKey"].as_str().unwrap_or_default()
                    );
                    out.insert(key, Value::Object(e).to_string());
                }
            }
        }
        let blobs = azure_storage_blobs::prelude::ClientBuilder::with_location(
            azure_storage::CloudLocation::Custom {
                account: target.account.clone(),
                uri: target.blob_endpoint.clone(),
            },
            credentials(),
        )
        .blob_service_client();
        let mut pages = blobs.list_containers().into_stream();
        let mut containers = Vec::new();
        while let Some(page) = pages.next().await {
            for c in page.unwrap().containers {
                out.insert(format!("container {}", c.name), c.e_tag.clone());
                containers.push(c.name);
            }
        }
        for c in containers {
            let mut pages = blobs.container_client(&c).list_blobs().into_stream();
            while let Some(page) = pages.next().await {
                for b in page.unwrap().blobs.blobs() {
                    out.insert(
                        format!("blob {c}/{}", b.name),
                        format!(
                            "{} {} {}",
                            b.properties.etag,
                            b.properties.last_modified,
                            b.properties.content_length
                        ),
                    );
                }
            }
        }
        out
    })
}

/// Starts the exporter with its output in `logs` (`stdout`, `stderr`).
fn start_exporter(folder: &Path, conn: &str, port: u16, logs: &Path) -> Child {
    let mut cmd = Command::new(common::bin());
    cmd.env_clear()
        .env("FOLDER", folder)
        .env("STREAM_NAME", STREAM)
        .env("FILE_DURATION", "10")
        .env("AZURE_STORAGE_CONNECTION_STRING", conn)
        .env("FFMPEG_PATH", "/ffmpeg/chunks")
        .env("JOB_SUSPENDED", "false")
        .env("METRICS_REFRESH_SECONDS", "1")
        .env("RUST_LOG", "info,job::metrics=debug")
        .args(["metrics", "--listen", &format!("127.0.0.1:{port}")]);
    common::spawn(cmd, logs)
}

/// Stops the exporter with SIGTERM, as Kubernetes does; it must exit 0 within 10 s.
fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "the exporter exited with {status} on SIGTERM"
            );
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the exporter did not stop within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A JSON answer of Prometheus' HTTP API.
fn prometheus_api(port: u16, path: &str) -> Option<Value> {
    let (status, body) = get(port, path)?;
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

/// The value of an instant query's single sample.
fn query(port: u16, promql: &str) -> Option<f64> {
    let q: String = url::form_urlencoded::byte_serialize(promql.as_bytes()).collect();
    let answer = prometheus_api(port, &format!("/api/v1/query?query={q}"))?;
    answer["data"]["result"][0]["value"][1]
        .as_str()?
        .parse()
        .ok()
}

/// A real Prometheus (Debian's `prometheus`, when installed) scrapes the exporter as the
/// chart's monitors do (`job`, `stream` target labels, `honor_labels`): the target is up, it
/// reads the counters as counters with their help, and the run counter's value.
fn scraped_by_prometheus(exporter: u16, work: &Path) {
    let port = free_port();
    let dir = work.join("prometheus");
    std::fs::create_dir(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             scrape_configs:\n\
             \x20 - job_name: segment-selector\n\
             \x20   honor_labels: true\n\
             \x20   static_configs:\n\
             \x20     - targets: ['127.0.0.1:{exporter}']\n\
             \x20       labels: {{stream: {STREAM}}}\n"
        ),
    )
    .unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("log")).unwrap())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            println!("SKIPPED the scrape by a real Prometheus: {e} (apt-get install -y --no-install-recommends prometheus)");
            return;
        }
    };
    let started = Instant::now();
    let runs_ok = format!("segment_selector_runs_total{{stream=\"{STREAM}\",outcome=\"ok\"}}");
    let mut last = None;
    while started.elapsed() < Duration::from_secs(60) {
        last = query(port, &runs_ok);
        if last.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let up = query(
        port,
        &format!("up{{job=\"segment-selector\",stream=\"{STREAM}\"}}"),
    );
    let metadata = prometheus_api(port, "/api/v1/metadata?metric=segment_selector_runs");
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    assert_eq!(last, Some(2.0), "Prometheus' log:\n{log}");
    assert_eq!(up, Some(1.0));
    let metadata = metadata.expect("metadata");
    let family = &metadata["data"]["segment_selector_runs"][0];
    assert_eq!(family["type"], "counter", "{metadata}");
    assert_eq!(family["help"], "Runs by outcome.", "{metadata}");
    println!("a real Prometheus scraped it: up 1, runs_total{{outcome=\"ok\"}} 2, segment_selector_runs a counter with its help");
}

#[test]
fn the_exporter_serves_the_contract_from_the_runs_and_writes_nothing() {
    let az = azurite::Azurite::start();
    let conn = az.connection_string();
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join(STREAM);
    std::fs::create_dir(&folder).unwrap();
    common::replay("steady", &[&folder]);
    for i in 0..2 {
        let run = common::run(common::job(&folder, &conn, STREAM, 10));
        assert!(run.success(), "run {i}: {}", run.describe());
    }
    let before = account_snapshot(&conn);
    assert!(
        before
            .keys()
            .any(|k| k.starts_with("row audios/hope~run/last")),
        "the runs left no outcome row: {:?}",
        before
            .keys()
            .filter(|k| k.starts_with("row"))
            .collect::<Vec<_>>()
    );

    // The exporter reaches the storage through a proxy that counts its requests.
    let proxy = FaultProxy::start(az.blob_port(), az.table_port());
    let proxied = proxy.connection_string(azurite::ACCOUNT, azurite::ACCOUNT_KEY);
    let port = free_port();
    let logs = work.path().join("exporter");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("stderr");
    let child = start_exporter(&folder, &proxied, port, &logs);
    let pid = child.id();
    let page = scrape_until(port, &log, "the archive and the folder", |p| {
        p.contains("segment_selector_archived_until_timestamp_seconds")
            && p.contains("segment_selector_folder_files")
    });
    assert_eq!(get(port, "/healthz").map(|r| r.0), Some(200));
    assert_eq!(get(port, "/").map(|r| r.0), Some(200));
    assert_eq!(get(port, "/nothing").map(|r| r.0), Some(404));

    // Every metric of the contract, with the stream label (all apply: the runs archived,
    // the folder is there).
    for (name, _) in contract() {
        assert!(
            sample(&page, &name, &format!("stream=\"{STREAM}\"")).is_some(),
            "{name} missing:\n{page}"
        );
    }
    assert_eq!(
        sample(&page, "segment_selector_last_run_outcome", "outcome=\"ok\""),
        Some(1.0)
    );
    assert_eq!(
        sample(&page, "segment_selector_runs_total", "outcome=\"ok\""),
        Some(2.0)
    );
    assert_eq!(sample(&page, "segment_selector_storage_up", ""), Some(1.0));
    assert_eq!(
        sample(&page, "segment_selector_storage_auth_ok", ""),
        Some(1.0)
    );
    assert_eq!(
        sample(&page, "segment_selector_segment_seconds", ""),
        Some(10.0)
    );
    assert_eq!(
        sample(&page, "segment_selector_job_suspended", ""),
        Some(0.0)
    );
    assert_eq!(
        sample(&page, "segment_selector_replicas_expected", ""),
        Some(2.0)
    );

    // archived_until: where the newest archived row's audio ends.
    let rows = common::runtime()
        .block_on(store::ArchiveRead::first_rows(
            &common::archive(&conn, STREAM),
            10_000,
        ))
        .unwrap();
    let end = rows
        .iter()
        .filter_map(|r| Some(r.audio_start_ms? as f64 / 1000.0 + r.duration_us? as f64 / 1e6))
        .fold(f64::MIN, f64::max);
    let until = sample(
        &page,
        "segment_selector_archived_until_timestamp_seconds",
        "",
    )
    .unwrap();
    assert!(
        (until - end).abs() < 0.002,
        "archived_until {until}, newest row ends {end}"
    );
    let archived: f64 = rows.len() as f64;
    assert_eq!(
        sample(&page, "segment_selector_files_archived_total", ""),
        Some(archived),
        "every archived row was archived by one of the two runs"
    );

    match Command::new("promtool").args(["check", "metrics"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(mut promtool) => {
            promtool.stdin.take().unwrap().write_all(page.as_bytes()).unwrap();
            let out = promtool.wait_with_output().unwrap();
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            // promtool reads the page as Prometheus' text format 0.0.4, where a counter's
            // samples (`..._total`) are not the family its OpenMetrics HELP names: that finding
            // is the format's, and the only one allowed. A page it cannot parse fails.
            let findings: Vec<&str> = said
                .lines()
                .filter(|l| !l.trim().is_empty())
                .filter(|l| !(l.starts_with("segment_selector_") && l.ends_with("_total no help text")))
                .collect();
            assert!(findings.is_empty(), "promtool check metrics:\n{said}\n{page}");
            println!("promtool check metrics: {}", if said.trim().is_empty() { "no findings" } else { said.trim() });
        }
        Err(e) => println!(
            "SKIPPED promtool check metrics: {e} (apt-get install -y --no-install-recommends prometheus)"
        ),
    }

    // Requests per refresh: the proxy's count over refreshes the exporter logged.
    let refreshes = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("refreshed")
            .count()
    };
    let (r0, n0) = (proxy.requests(), refreshes());
    std::thread::sleep(Duration::from_secs(6));
    let (r1, n1) = (proxy.requests(), refreshes());
    assert!(n1 - n0 >= 3, "{} refreshes in 6 s at 1 s", n1 - n0);
    let per_refresh = (r1 - r0) as f64 / (n1 - n0) as f64;
    println!(
        "storage requests per refresh: {per_refresh:.2} ({} over {} refreshes)",
        r1 - r0,
        n1 - n0
    );
    assert!(per_refresh <= 4.5, "{per_refresh} requests per refresh");
    for line in proxy.log() {
        assert!(
            line.contains(" GET "),
            "the exporter made a request that is not a read: {line}"
        );
    }

    scraped_by_prometheus(port, work.path());

    // The folder goes: its metrics disappear, the archive's stay.
    let moved = work.path().join("moved");
    std::fs::rename(&folder, &moved).unwrap();
    let page_without = scrape_until(port, &log, "no folder metrics", |p| {
        !p.contains("segment_selector_folder_files")
    });
    for (name, folder_metric) in contract() {
        assert_eq!(
            sample(&page_without, &name, "stream=").is_some(),
            !folder_metric,
            "{name} without the folder:\n{page_without}"
        );
    }
    std::fs::rename(&moved, &folder).unwrap();
    scrape_until(port, &log, "the folder metrics again", |p| {
        p.contains("segment_selector_folder_files")
    });

    let peak = vm_hwm_kib(pid);
    println!("exporter peak RSS (VmHWM): {peak} KiB");
    stop(child);
    assert!(peak < 64 * 1024, "{peak} KiB");

    let after = account_snapshot(&conn);
    let changed: Vec<_> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(after.keys().filter(|k| !before.contains_key(*k)).cloned())
        .collect();
    assert!(
        changed.is_empty(),
        "the exporter changed the account: {changed:?}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logged.contains(azurite::ACCOUNT_KEY),
        "the key is in the exporter's log"
    );
    assert!(!page.contains(azurite::ACCOUNT_KEY) && !page.contains(azurite::ACCOUNT));
    println!("--- /metrics of the steady fixture after two runs ---\n{page}");
}
