//! Issue 25's end-to-end alerting test: the shipped alert rules, evaluated by a real
//! Prometheus on the live series of real exporters, notify a real Alertmanager, which posts to
//! a webhook this test serves on 127.0.0.1; each alert fires when its cause appears and
//! resolves when the cause is removed, within its threshold plus a scrape and the group wait.
//!
//! Three streams run side by side, each with its own folder, fixture replay, job loop and
//! exporter (`segment-selector metrics`), sharing one Azurite, one Prometheus and one
//! Alertmanager:
//!
//! - `alerts-stall`: both recorders stop → `SegmentSelectorArchiveStalled`; they start again
//!   (a new replay) → resolved once a new segment is archived;
//! - `alerts-redundancy`: one replica stops → `SegmentSelectorRedundancyLost`; it starts again
//!   → resolved with its next file;
//! - `alerts-jobfail`: the job gets a wrong account key (Azurite refuses it) →
//!   `SegmentSelectorJobFailing` (no ok run for `noSuccessSeconds`); the key is restored →
//!   resolved with the next ok run.
//!
//! The recorders are the `steady` fixture replayed in real time (names moved to now, each file
//! born when ffmpeg created it and written when ffmpeg wrote it, as `reliability_lag.rs` does,
//! without its lag); a pod that stops leaves its files as they are (as SIGKILL does). The real
//! job binary runs every I = 3 s (a run is killed after D = 10 s) with `FINISH_GRACE_SECONDS`
//! G = 15 (on a local disk, `SHARE_CACHE_SECONDS=0`, the job's own wait for 10-s segments).
//!
//! The rules are `helm/ffmpeg/files/alert-rules.yaml` rendered as the chart renders them
//! (`templates/_monitoring.tpl`: every placeholder replaced, none left, the parameter names
//! the chart's), with the chart's derivations from G, I and D (e.g. ArchiveStalled's slack
//! G + 2I + D, JobFailing's 3I + D) and every other duration scaled by I / 300 s (the chart's
//! default schedule): nothing is copied from the rules file. Prometheus scrapes and evaluates
//! every second, the exporters refresh every second, Alertmanager groups by alert and stream
//! with a group wait and interval of 1 s.
//!
//! Each notification must arrive no later than the moment its condition became true (from the
//! series Prometheus holds and what the replay and the job loop did), plus `for:`, a scrape, an
//! evaluation, the exporter's refresh and the group wait (or interval), plus 1 s for delivery
//! on a loaded machine; and a firing one not before its condition held for `for:`. The
//! measured delays are printed (`--nocapture`).
//!
//! Needs Debian's `prometheus` and `prometheus-alertmanager` and Azurite (`npm ci`). Without
//! the two packages it prints SKIPPED, and fails when `CI` is set. About 80 s of wall time.

mod support;
use support::{azurite, common, fixture};

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

const FIXTURE: &str = "steady";
/// The fixture's segment time (FILE_DURATION).
const SEGMENT: f64 = 10.0;
/// I: seconds from one start of the job to the next (the CronJob's schedule).
const JOB_EVERY: f64 = 3.0;
/// D: a run still going after this long is killed (the CronJob's activeDeadlineSeconds).
const RUN_DEADLINE: f64 = 10.0;
/// G: FINISH_GRACE_SECONDS.
const GRACE: f64 = 15.0;
/// The chart's default schedule interval: durations not derived from G, I and D are scaled
/// by I / this.
const CHART_INTERVAL: f64 = 300.0;
/// Prometheus' scrape and evaluation intervals, the exporters' refresh, Alertmanager's group
/// wait and group interval (seconds).
const SCRAPE: f64 = 1.0;
const EVAL: f64 = 1.0;
const REFRESH: f64 = 1.0;
const GROUP_WAIT: f64 = 1.0;
const GROUP_INTERVAL: f64 = 1.0;
/// Delivery on a loaded machine: Prometheus' notifier, Alertmanager's pipeline, HTTP.
const LEEWAY: f64 = 1.0;
/// An alert may be seen firing this much before its computed earliest moment (timestamps of
/// different processes, Prometheus' evaluation timestamps).
const EARLY_TOLERANCE: f64 = 0.5;
/// ffmpeg's write block.
const BLOCK: u64 = 262_144;
const NAME_FORMAT: &str = "%Y%m%dT%H%M%S";
const JOB_LABEL: &str = "segment-selector";

const STALL: &str = "alerts-stall";
const REDUNDANCY: &str = "alerts-redundancy";
const JOBFAIL: &str = "alerts-jobfail";

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn secs(t: &str) -> f64 {
    let t: DateTime<Utc> = t.parse().unwrap();
    t.timestamp_micros() as f64 / 1e6
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The last `n` characters of a file, for a failure message.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let skip = text.chars().count().saturating_sub(n);
    text.chars().skip(skip).collect()
}

// --- the rules, rendered as the chart renders them ----------------------------------------

/// A whole number of seconds as a Prometheus duration.
fn duration(seconds: f64) -> String {
    format!("{}s", seconds.round() as u64)
}

/// The parameters of the rules file for `stream`: the chart's derivations
/// (`ffmpeg.alertParameters`) from the test's G, I and D, and the chart's other defaults scaled
/// by I / 300 s.
fn alert_parameters(stream: &str) -> BTreeMap<String, String> {
    let (g, i, d) = (GRACE, JOB_EVERY, RUN_DEADLINE);
    let scaled = |chart_seconds: f64| duration(chart_seconds * i / CHART_INTERVAL);
    let whole = |x: f64| format!("{}", x.round() as u64);
    [
        ("stream", stream.to_owned()),
        ("job", JOB_LABEL.to_owned()),
        ("runbook_url", "docs/operations.md".to_owned()),
        ("archive_stalled_slack_seconds", whole(g + 2.0 * i + d)),
        ("archive_stalled_for", duration(i)),
        ("redundancy_lost_for", scaled(600.0)),
        ("job_failing_no_success_seconds", whole(3.0 * i + d)),
        ("job_failing_errors_window", duration(3.0 * i)),
        ("job_failing_for", duration(i)),
        ("backlog_segments", "2".to_owned()),
        ("backlog_slack_seconds", whole(g + i + d)),
        ("backlog_for", duration(i)),
        ("dead_air_seconds", "30".to_owned()),
        ("dead_air_for", "0s".to_owned()),
        ("gap_window", scaled(3600.0)),
        ("disagree_window", scaled(3600.0)),
        ("share_free_ratio", "0.1".to_owned()),
        ("share_predict_window", scaled(6.0 * 3600.0)),
        (
            "share_predict_hours",
            format!("{}", 4.0 * i / CHART_INTERVAL),
        ),
        ("share_for", scaled(900.0)),
        ("exporter_down_for", scaled(300.0)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Seconds of a duration this test renders (`Ns`).
fn seconds_of(duration: &str) -> f64 {
    duration.strip_suffix('s').unwrap().parse().unwrap()
}

/// `helm/ffmpeg/files/alert-rules.yaml` with its placeholders filled, as
/// `templates/_monitoring.tpl` (`ffmpeg.alertRules`) does: the parameters must be the chart's
/// (`ffmpeg.alertParameters`), every placeholder replaced, none left over.
fn render_rules(params: &BTreeMap<String, String>) -> String {
    let rules = std::fs::read_to_string(repo().join("helm/ffmpeg/files/alert-rules.yaml")).unwrap();
    let tpl =
        std::fs::read_to_string(repo().join("helm/ffmpeg/templates/_monitoring.tpl")).unwrap();
    let block = tpl
        .split("define \"ffmpeg.alertParameters\"")
        .nth(1)
        .and_then(|rest| rest.split("{{- end -}}").next())
        .expect("_monitoring.tpl defines ffmpeg.alertParameters");
    let chart: BTreeSet<&str> = block
        .lines()
        .filter_map(|l| l.split_once(": {{").map(|(k, _)| k.trim()))
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    let ours: BTreeSet<&str> = params.keys().map(String::as_str).collect();
    assert_eq!(
        ours, chart,
        "the test's parameters are not the chart's (ffmpeg.alertParameters)"
    );
    let mut text = rules;
    for (k, v) in params {
        let placeholder = format!("${{{k}}}");
        assert!(
            text.contains(&placeholder),
            "the rules file has no {placeholder}"
        );
        text = text.replace(&placeholder, v);
    }
    assert!(
        !text.contains("${"),
        "a placeholder has no parameter:\n{text}"
    );
    text
}

// --- child processes ----------------------------------------------------------------------

/// Every long-running child of the test, killed and reaped on drop (a failure included).
#[derive(Default)]
struct Children(Vec<(String, Child)>);

impl Children {
    fn add(&mut self, what: &str, child: Child) {
        self.0.push((what.to_owned(), child));
    }

    /// Panics if a child has exited.
    fn check_alive(&mut self) {
        for (what, child) in &mut self.0 {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{what} exited with {status}");
            }
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
        }
        for (_, child) in &mut self.0 {
            let _ = child.wait();
        }
    }
}

/// The first of `names` that runs with `--version`.
fn find_binary(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()
            .filter(|s| s.success())
            .map(|_| (*name).to_owned())
    })
}

// --- HTTP -----------------------------------------------------------------------------------

/// GET `path` on 127.0.0.1:`port`: status and body.
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

fn prometheus_api(port: u16, path: &str) -> Option<Value> {
    let (status, body) = get(port, path)?;
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

/// The value of an instant query's first sample.
fn query(port: u16, promql: &str) -> Option<f64> {
    let q: String = url::form_urlencoded::byte_serialize(promql.as_bytes()).collect();
    let answer = prometheus_api(port, &format!("/api/v1/query?query={q}"))?;
    answer["data"]["result"][0]["value"][1]
        .as_str()?
        .parse()
        .ok()
}

/// Waits until `what` returns `Some` (every 100 ms), at most `limit`.
fn wait_for<T>(limit: Duration, mut what: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(v) = what() {
            return Some(v);
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// --- the webhook receiver -----------------------------------------------------------------

/// One alert of one notification Alertmanager posted.
#[derive(Debug, Clone)]
struct Notification {
    at: f64,
    alert: String,
    stream: String,
    status: String,
}

/// Alertmanager's webhook receiver on 127.0.0.1: records every alert of every notification.
struct Webhook {
    port: u16,
    received: Arc<Mutex<Vec<Notification>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            if let Some(body) = read_post(stream) {
                                record(&body, &received);
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        Webhook {
            port,
            received,
            stop,
            thread: Some(thread),
        }
    }

    fn all(&self) -> Vec<Notification> {
        self.received.lock().unwrap().clone()
    }

    /// The first notification of `alert` for `stream` with `status` at or after `since`.
    fn first(&self, alert: &str, stream: &str, status: &str, since: f64) -> Option<f64> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|n| n.alert == alert && n.stream == stream && n.status == status)
            .map(|n| n.at)
            .find(|at| *at >= since)
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one HTTP request (head, then `Content-Length` bytes), answers 200 and closes.
fn read_post(mut stream: TcpStream) -> Option<Vec<u8>> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || data.len() > 1 << 20 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    Some(data[head_end..head_end + length].to_vec())
}

fn record(body: &[u8], received: &Mutex<Vec<Notification>>) {
    let at = unix_now();
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let mut received = received.lock().unwrap();
    for a in v["alerts"].as_array().into_iter().flatten() {
        let label = |k: &str| a["labels"][k].as_str().unwrap_or_default().to_owned();
        received.push(Notification {
            at,
            alert: label("alertname"),
            stream: label("stream"),
            status: a["status"].as_str().unwrap_or_default().to_owned(),
        });
    }
}

// --- the recorders: a fixture replayed in real time -----------------------------------------

/// One recording of the fixture, on the fixture's clock (Unix seconds as recorded).
#[derive(Debug, Clone)]
struct Recording {
    pod: String,
    original: String,
    born: f64,
    size: u64,
    mtime: f64,
}

impl Recording {
    /// Size and modification time at fixture time `t`: 0 bytes until the first block, whole
    /// blocks in proportion to the time elapsed, the whole file at its final modification time.
    fn at(&self, t: f64) -> (u64, f64) {
        if t >= self.mtime {
            return (self.size, self.mtime);
        }
        let writing = (self.mtime - self.born).max(1e-3);
        let blocks =
            ((self.size as f64 * (t - self.born).max(0.0) / writing) / BLOCK as f64).floor() as u64;
        let blocks = blocks.min(self.size.saturating_sub(1) / BLOCK);
        if blocks == 0 {
            (0, self.born)
        } else {
            let bytes = blocks * BLOCK;
            (bytes, self.born + bytes as f64 / self.size as f64 * writing)
        }
    }

    /// Its name with the time moved by `shift` seconds.
    fn name(&self, shift: i64) -> String {
        let stem = self.original.strip_suffix(".mp3").unwrap();
        let (pod, stamp) = stem.rsplit_once('_').unwrap();
        let t = NaiveDateTime::parse_from_str(stamp, NAME_FORMAT)
            .unwrap()
            .and_utc()
            + chrono::TimeDelta::seconds(shift);
        format!("{pod}_{}.mp3", t.format(NAME_FORMAT))
    }
}

/// The fixture's recordings, and the fixture time its replay starts (a second before the
/// first birth).
fn recordings() -> (Vec<Recording>, f64) {
    let dir = fixture::fixtures().join(FIXTURE);
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let created: HashMap<String, f64> = truth["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "file_created")
        .filter_map(|e| {
            let file = e["detail"].as_str()?.split_whitespace().next()?;
            Some((file.to_owned(), secs(e["at"].as_str()?)))
        })
        .collect();
    let files: Vec<Recording> = truth["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let original = f["name"].as_str().unwrap().to_owned();
            let mtime = secs(f["mtime"].as_str().unwrap());
            Recording {
                pod: f["pod"].as_str().unwrap().to_owned(),
                born: created.get(&original).copied().unwrap_or(mtime).min(mtime),
                size: f["size"].as_u64().unwrap(),
                mtime,
                original,
            }
        })
        .collect();
    let start = files.iter().map(|f| f.born).fold(f64::MAX, f64::min) - 1.0;
    (files, start)
}

/// What the recorders did, for the bounds.
#[derive(Debug, Default, Clone)]
struct Writes {
    /// Per pod: when it last created or wrote a file (wall clock), and the latest
    /// modification time it gave a file.
    last: HashMap<String, (f64, f64)>,
    /// Per pod: when it created its first file after [`Recorders::resume`].
    first_after_resume: HashMap<String, f64>,
}

#[derive(Default)]
struct RecorderState {
    stopped: HashSet<String>,
    resumed: HashSet<String>,
    writes: Writes,
}

/// One replay of the fixture into a folder, from now on, in a thread; pods can be stopped (their
/// files stay as they are, and files they would have begun are never created) and resumed
/// (with the files born from then on).
struct Recorders {
    pods: Vec<String>,
    state: Arc<Mutex<RecorderState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Recorders {
    fn start(folder: &Path) -> Recorders {
        let (files, start) = recordings();
        // Whole seconds, so that names keep their sub-second relation to the audio.
        let shift = (unix_now() - start).ceil() as i64;
        let bytes: Vec<Vec<u8>> = files
            .iter()
            .map(|f| std::fs::read(fixture::fixtures().join(FIXTURE).join(&f.original)).unwrap())
            .collect();
        let pods: BTreeSet<String> = files.iter().map(|f| f.pod.clone()).collect();
        let state = Arc::new(Mutex::new(RecorderState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop, folder) = (Arc::clone(&state), Arc::clone(&stop), folder.to_owned());
            std::thread::spawn(move || replay(&files, &bytes, shift, &folder, &state, &stop))
        };
        Recorders {
            pods: pods.into_iter().collect(),
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn stop_pods(&self, pods: &[String]) {
        let mut s = self.state.lock().unwrap();
        s.stopped.extend(pods.iter().cloned());
    }

    fn resume(&self, pod: &str) {
        let mut s = self.state.lock().unwrap();
        s.stopped.remove(pod);
        s.resumed.insert(pod.to_owned());
    }

    fn writes(&self) -> Writes {
        self.state.lock().unwrap().writes.clone()
    }
}

impl Drop for Recorders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Shown {
    NotYet,
    /// Created; its size and modification time (fixture time) as shown.
    Live(u64, f64),
    /// Its pod stopped while writing it, or the job deleted it.
    Done,
}

fn replay(
    files: &[Recording],
    bytes: &[Vec<u8>],
    shift: i64,
    folder: &Path,
    state: &Mutex<RecorderState>,
    stop: &AtomicBool,
) {
    let wall = |t: f64| t + shift as f64;
    let mut shown = vec![Shown::NotYet; files.len()];
    while !stop.load(Ordering::Relaxed) {
        let t = unix_now() - shift as f64;
        let mut st = state.lock().unwrap();
        for (i, f) in files.iter().enumerate() {
            if shown[i] == Shown::Done || t < f.born {
                continue;
            }
            if st.stopped.contains(&f.pod) {
                shown[i] = Shown::Done;
                continue;
            }
            let path = folder.join(f.name(shift));
            let (size, mtime) = f.at(t);
            let (old_size, old_mtime) = match shown[i] {
                Shown::Live(s, m) => (s, m),
                _ => {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path)
                        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
                    set_file_mtime(&path, wall(f.born));
                    let now = unix_now();
                    if st.resumed.contains(&f.pod) {
                        st.writes
                            .first_after_resume
                            .entry(f.pod.clone())
                            .or_insert(now);
                    }
                    st.writes.last.insert(f.pod.clone(), (now, wall(f.born)));
                    shown[i] = Shown::Live(0, f.born);
                    (0, f.born)
                }
            };
            if (size, mtime) == (old_size, old_mtime) {
                continue;
            }
            let mut file = match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    shown[i] = Shown::Done;
                    continue;
                }
                Err(e) => panic!("open {}: {e}", path.display()),
            };
            if size > old_size {
                file.seek(SeekFrom::Start(old_size)).unwrap();
                file.write_all(&bytes[i][old_size as usize..size as usize])
                    .unwrap();
            }
            drop(file);
            set_file_mtime(&path, wall(mtime));
            st.writes
                .last
                .insert(f.pod.clone(), (unix_now(), wall(mtime)));
            shown[i] = Shown::Live(size, mtime);
        }
        drop(st);
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn set_file_mtime(path: &Path, unix: f64) {
    let t = UNIX_EPOCH + Duration::from_secs_f64(unix);
    filetime::set_file_mtime(path, filetime::FileTime::from_system_time(t)).unwrap();
}

// --- the job, as the CronJob runs it -------------------------------------------------------

#[derive(Debug, Clone)]
struct JobRun {
    start: f64,
    end: f64,
    /// `None`: killed at the deadline.
    code: Option<i32>,
    log: PathBuf,
}

/// The real job every I seconds (a run after the previous one ended), killed after D.
struct JobLoop {
    connection: Arc<Mutex<String>>,
    runs: Arc<Mutex<Vec<JobRun>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl JobLoop {
    fn start(folder: &Path, stream: &str, connection: &str, logs: &Path) -> JobLoop {
        let conn = Arc::new(Mutex::new(connection.to_owned()));
        let runs = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (conn, runs, stop) = (Arc::clone(&conn), Arc::clone(&runs), Arc::clone(&stop));
            let (folder, stream, logs) = (folder.to_owned(), stream.to_owned(), logs.to_owned());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let began = Instant::now();
                    let start = unix_now();
                    let log = logs.join(format!("run-{n:03}.log"));
                    let mut cmd =
                        common::job(&folder, &conn.lock().unwrap(), &stream, SEGMENT as u64);
                    cmd.env("SHARE_CACHE_SECONDS", "0")
                        .env("FINISH_GRACE_SECONDS", format!("{GRACE}"))
                        .stdout(Stdio::null())
                        .stderr(std::fs::File::create(&log).unwrap());
                    let mut child = cmd.spawn().expect("start segment-selector");
                    let code = loop {
                        if let Ok(Some(status)) = child.try_wait() {
                            break status.code();
                        }
                        if began.elapsed().as_secs_f64() > RUN_DEADLINE
                            || stop.load(Ordering::Relaxed)
                        {
                            let _ = child.kill();
                            let _ = child.wait();
                            break None;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    };
                    runs.lock().unwrap().push(JobRun {
                        start,
                        end: unix_now(),
                        code,
                        log,
                    });
                    n += 1;
                    while !stop.load(Ordering::Relaxed) && began.elapsed().as_secs_f64() < JOB_EVERY
                    {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            })
        };
        JobLoop {
            connection: conn,
            runs,
            stop,
            thread: Some(thread),
        }
    }

    fn set_connection(&self, conn: &str) {
        *self.connection.lock().unwrap() = conn.to_owned();
    }

    fn runs(&self) -> Vec<JobRun> {
        self.runs.lock().unwrap().clone()
    }

    fn describe(&self) -> String {
        let runs = self.runs();
        let mut out = runs
            .iter()
            .map(|r| format!("{:.1}–{:.1} exit {:?}", r.start, r.end, r.code))
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(last) = runs.last() {
            out.push_str(&format!(
                "\n--- the last run's log\n{}",
                tail(&last.log, 3000)
            ));
        }
        out
    }
}

impl Drop for JobLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// --- one stream ---------------------------------------------------------------------------

struct Stream {
    name: &'static str,
    folder: PathBuf,
    exporter_port: u16,
    exporter_log: PathBuf,
    job: JobLoop,
}

fn start_exporter(stream: &str, folder: &Path, conn: &str, port: u16, logs: &Path) -> Child {
    let mut cmd = Command::new(common::bin());
    cmd.env_clear()
        .env("FOLDER", folder)
        .env("STREAM_NAME", stream)
        .env("FILE_DURATION", format!("{SEGMENT}"))
        .env("AZURE_STORAGE_CONNECTION_STRING", conn)
        .env("FFMPEG_PATH", "/ffmpeg/chunks")
        .env("SHARE_CACHE_SECONDS", "0")
        .env("FINISH_GRACE_SECONDS", format!("{GRACE}"))
        .env("JOB_SUSPENDED", "false")
        .env("REPLICAS_EXPECTED", "2")
        .env("METRICS_REFRESH_SECONDS", format!("{REFRESH}"))
        .env("RUST_LOG", "info")
        .args(["metrics", "--listen", &format!("127.0.0.1:{port}")]);
    common::spawn(cmd, logs)
}

/// One notification measured against its bound.
#[derive(Debug, Clone)]
struct Measured {
    stream: &'static str,
    alert: &'static str,
    status: &'static str,
    /// When the cause appeared or was removed (wall clock).
    cause: f64,
    /// When the condition became true (firing) or the system could first see the cause
    /// removed (resolved), by the series and the replay.
    from: f64,
    /// Not before (firing: `from` + `for:`).
    earliest: f64,
    /// Not after.
    bound: f64,
    /// When it arrived; `None`: never within the wait.
    at: Option<f64>,
    /// How `bound` is made up.
    how: String,
}

impl Measured {
    fn ok(&self) -> bool {
        self.at
            .is_some_and(|at| at <= self.bound && at >= self.earliest - EARLY_TOLERANCE)
    }

    fn line(&self) -> String {
        match self.at {
            Some(at) => format!(
                "{:<32} {:<18} {:<8} {:>6.1} s after the cause, {:>5.1} s after the condition (bound {:>5.1} s = {}){}",
                self.alert,
                self.stream,
                self.status,
                at - self.cause,
                at - self.from,
                self.bound - self.from,
                self.how,
                if self.ok() { "" } else { "  <-- OUT OF BOUNDS" }
            ),
            None => format!(
                "{:<32} {:<18} {:<8} never arrived (bound {:.1} s after the condition = {})",
                self.alert,
                self.stream,
                self.status,
                self.bound - self.from,
                self.how
            ),
        }
    }
}

/// What every scenario shares.
struct Shared<'a> {
    prometheus: u16,
    hook: &'a Webhook,
    /// The wall time the test started (for the log).
    t0: f64,
}

impl Shared<'_> {
    fn log(&self, what: &str) {
        println!("[{:6.1} s] {what}", unix_now() - self.t0);
    }

    /// Waits for the first notification of `alert` for `stream` with `status` after `since`.
    fn notification(
        &self,
        alert: &str,
        stream: &str,
        status: &str,
        since: f64,
        limit: f64,
    ) -> Option<f64> {
        wait_for(Duration::from_secs_f64(limit), || {
            self.hook.first(alert, stream, status, since)
        })
    }

    fn series(&self, promql: &str) -> Option<f64> {
        query(self.prometheus, promql)
    }
}

/// The delivery after a condition: a scrape, an evaluation, the exporter's refresh, the
/// group wait (first notification) or interval (later ones), and the leeway.
fn delivery(first: bool) -> (f64, String) {
    let group = if first { GROUP_WAIT } else { GROUP_INTERVAL };
    (
        SCRAPE + EVAL + REFRESH + group + LEEWAY,
        format!(
            "scrape {SCRAPE} + evaluation {EVAL} + refresh {REFRESH} + group {} {group} + leeway {LEEWAY}",
            if first { "wait" } else { "interval" }
        ),
    )
}

/// The recorders stop → ArchiveStalled; they start again → resolved.
fn stall_scenario(sh: &Shared, s: &Stream, params: &BTreeMap<String, String>) -> Vec<Measured> {
    const ALERT: &str = "SegmentSelectorArchiveStalled";
    let slack: f64 = params["archive_stalled_slack_seconds"].parse().unwrap();
    let for_s = seconds_of(&params["archive_stalled_for"]);
    let until = format!(
        "segment_selector_archived_until_timestamp_seconds{{stream=\"{}\"}}",
        s.name
    );
    let recorders = Recorders::start(&s.folder);
    let started = unix_now();
    // Healthy until the archive holds audio and the recorders have run for 20 s.
    let archived = wait_for(Duration::from_secs(90), || {
        sh.series(&until).filter(|_| unix_now() - started >= 20.0)
    });
    assert!(
        archived.is_some(),
        "{}: nothing archived within 90 s\n{}",
        s.name,
        s.job.describe()
    );
    recorders.stop_pods(&recorders.pods);
    let stopped = unix_now();
    sh.log(&format!("{}: both recorders stopped", s.name));
    let fired = sh.notification(ALERT, s.name, "firing", 0.0, SEGMENT + slack + for_s + 60.0);
    // The archive's end as Prometheus holds it: the condition is true from its end + S + slack.
    let end = sh.series(&until).unwrap_or(f64::NAN);
    let condition = end + SEGMENT + slack;
    let (d, how) = delivery(true);
    let mut out = vec![Measured {
        stream: s.name,
        alert: ALERT,
        status: "firing",
        cause: stopped,
        from: condition,
        earliest: condition + for_s,
        bound: condition + for_s + d,
        at: fired,
        how: format!("for {for_s} + {how}"),
    }];
    let Some(fired) = fired else {
        return out;
    };
    sh.log(&format!("{}: {ALERT} fired", s.name));
    drop(recorders);
    // The recorders start again: a new replay (new connections, names from now on).
    let recorders = Recorders::start(&s.folder);
    let restarted = unix_now();
    // The first new file is born within 2 s and finishes within a segment; the job archives
    // it once it is closed (at most G later), starting within I and running at most D.
    let see = 2.0 + SEGMENT + GRACE + JOB_EVERY + RUN_DEADLINE;
    let archived = wait_for(Duration::from_secs_f64(see + 5.0), || {
        s.job
            .runs()
            .into_iter()
            .find(|r| r.start >= restarted && archived_by(r) > 0)
            .map(|r| r.end)
    });
    let (d, how) = delivery(false);
    let resolved = sh.notification(ALERT, s.name, "resolved", fired, d + 30.0);
    let from = archived.unwrap_or(restarted + see);
    out.push(Measured {
        stream: s.name,
        alert: ALERT,
        status: "resolved",
        cause: restarted,
        from,
        earliest: from,
        bound: from + d,
        at: resolved,
        how: format!("the end of the first run that archived new audio + {how}"),
    });
    assert!(
        archived.is_some_and(|a| a <= restarted + see),
        "{}: no new segment archived within {see} s of the restart\n{}",
        s.name,
        s.job.describe()
    );
    drop(recorders);
    out
}

/// Whether `folder` holds an `.mp3` file whose name starts with `prefix`.
fn has_files(folder: &Path, prefix: &str) -> bool {
    std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(prefix) && name.ends_with(".mp3")
        })
}

/// The `archived=` count of a run's summary line.
fn archived_by(run: &JobRun) -> u64 {
    let log = common::strip_ansi(&std::fs::read_to_string(&run.log).unwrap_or_default());
    log.lines()
        .rev()
        .find(|l| l.contains("run summary"))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("archived="))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// One replica stops → RedundancyLost; it starts again → resolved.
fn redundancy_scenario(
    sh: &Shared,
    s: &Stream,
    params: &BTreeMap<String, String>,
) -> Vec<Measured> {
    const ALERT: &str = "SegmentSelectorRedundancyLost";
    let for_s = seconds_of(&params["redundancy_lost_for"]);
    // The exporter's recording window for this stream (32 kb/s, 10-s segments, no cache).
    let window = job::metrics::held::recording_window(
        Some(4_000.0),
        Duration::from_secs_f64(SEGMENT),
        Duration::ZERO,
    )
    .as_secs_f64();
    let recording = format!(
        "segment_selector_replicas_recording{{stream=\"{}\"}}",
        s.name
    );
    let recorders = Recorders::start(&s.folder);
    let both = wait_for(Duration::from_secs(30), || {
        sh.series(&recording).filter(|v| *v == 2.0)
    });
    assert!(both.is_some(), "{}: never 2 replicas recording", s.name);
    let pod = recorders.pods[1].clone();
    recorders.stop_pods(std::slice::from_ref(&pod));
    let stopped = unix_now();
    sh.log(&format!("{}: replica {pod} stopped", s.name));
    // Wait for its last write to settle (the replay thread may have been writing it).
    std::thread::sleep(Duration::from_millis(300));
    let (last_write, last_mtime) = recorders.writes().last[&pod];
    // The exporter counts the pod while its newest file is within the window by its
    // modification time, or changed since the previous refresh, and while it has a file in
    // the folder at all: the job deletes a stopped pod's last files once they are archived
    // (or empty and idle), which may come first.
    let prefix = format!("{pod}_");
    let mut gone: Option<f64> = None;
    let fired = wait_for(Duration::from_secs_f64(window + for_s + 60.0), || {
        if gone.is_none() && !has_files(&s.folder, &prefix) {
            gone = Some(unix_now());
        }
        sh.hook.first(ALERT, s.name, "firing", 0.0)
    });
    let condition = (last_mtime + window)
        .min(gone.unwrap_or(f64::INFINITY))
        .max(last_write + REFRESH);
    let (d, how) = delivery(true);
    let mut out = vec![Measured {
        stream: s.name,
        alert: ALERT,
        status: "firing",
        cause: stopped,
        from: condition,
        earliest: condition + for_s,
        bound: condition + for_s + d,
        at: fired,
        how: format!("for {for_s} + {how}"),
    }];
    let Some(fired) = fired else {
        return out;
    };
    sh.log(&format!(
        "{}: {ALERT} fired; the replica starts again",
        s.name
    ));
    recorders.resume(&pod);
    let resumed = unix_now();
    // It writes again with its next file (within a segment).
    let first = wait_for(Duration::from_secs_f64(SEGMENT + 5.0), || {
        recorders.writes().first_after_resume.get(&pod).copied()
    });
    let (d, how) = delivery(false);
    let from = first.unwrap_or(resumed + SEGMENT);
    let resolved = sh.notification(ALERT, s.name, "resolved", fired, SEGMENT + d + 30.0);
    out.push(Measured {
        stream: s.name,
        alert: ALERT,
        status: "resolved",
        cause: resumed,
        from,
        earliest: from,
        bound: from + d,
        at: resolved,
        how: format!("its first new file + {how}"),
    });
    drop(recorders);
    out
}

/// The job gets a wrong key → JobFailing; the key is restored → resolved.
fn jobfail_scenario(
    sh: &Shared,
    s: &Stream,
    params: &BTreeMap<String, String>,
    good: &str,
    bad: &str,
) -> (Vec<Measured>, String) {
    const ALERT: &str = "SegmentSelectorJobFailing";
    let no_success: f64 = params["job_failing_no_success_seconds"].parse().unwrap();
    let for_s = seconds_of(&params["job_failing_for"]);
    let success = format!(
        "segment_selector_last_success_timestamp_seconds{{stream=\"{}\"}}",
        s.name
    );
    let runs_total = format!("sum(segment_selector_runs_total{{stream=\"{}\"}})", s.name);
    let recorders = Recorders::start(&s.folder);
    let started = unix_now();
    let ok = wait_for(Duration::from_secs(60), || {
        sh.series(&success).filter(|_| unix_now() - started >= 6.0)
    });
    assert!(
        ok.is_some(),
        "{}: no ok run seen\n{}",
        s.name,
        s.job.describe()
    );
    let runs_before = sh.series(&runs_total);
    s.job.set_connection(bad);
    let refused = unix_now();
    sh.log(&format!("{}: the job gets a wrong account key", s.name));
    let fired = sh.notification(ALERT, s.name, "firing", 0.0, no_success + for_s + 60.0);
    let last_ok = sh.series(&success).unwrap_or(f64::NAN);
    let runs_during = sh.series(&runs_total);
    let failed_runs: Vec<JobRun> = s
        .job
        .runs()
        .into_iter()
        .filter(|r| r.start >= refused)
        .collect();
    let condition = last_ok + no_success;
    let (d, how) = delivery(true);
    let mut out = vec![Measured {
        stream: s.name,
        alert: ALERT,
        status: "firing",
        cause: refused,
        from: condition,
        earliest: condition + for_s,
        bound: condition + for_s + d,
        at: fired,
        how: format!("for {for_s} + {how}"),
    }];
    let refused_log = failed_runs
        .first()
        .map(|r| std::fs::read_to_string(&r.log).unwrap_or_default())
        .unwrap_or_default();
    let note = format!(
        "{} runs with the wrong key, exit codes {:?}; segment_selector_runs_total {:?} before, {:?} after them (a refused run cannot write its outcome row); refused: {}",
        failed_runs.len(),
        failed_runs.iter().map(|r| r.code).collect::<BTreeSet<_>>(),
        runs_before,
        runs_during,
        refused_log.contains("403") || refused_log.to_lowercase().contains("authoriz")
    );
    assert!(
        !failed_runs.is_empty() && failed_runs.iter().all(|r| r.code.is_some_and(|c| c != 0)),
        "{}: runs with a wrong key must fail: {note}\n{}",
        s.name,
        s.job.describe()
    );
    let Some(fired) = fired else {
        return (out, note);
    };
    sh.log(&format!("{}: {ALERT} fired; the key is restored", s.name));
    s.job.set_connection(good);
    let restored = unix_now();
    // The next run starts within I and ends within D.
    let ok_run = wait_for(
        Duration::from_secs_f64(JOB_EVERY + RUN_DEADLINE + 5.0),
        || {
            s.job
                .runs()
                .into_iter()
                .find(|r| r.start >= restored && r.code == Some(0))
                .map(|r| r.end)
        },
    );
    let (d, how) = delivery(false);
    let from = ok_run.unwrap_or(restored + JOB_EVERY + RUN_DEADLINE);
    let resolved = sh.notification(
        ALERT,
        s.name,
        "resolved",
        fired,
        JOB_EVERY + RUN_DEADLINE + d + 30.0,
    );
    out.push(Measured {
        stream: s.name,
        alert: ALERT,
        status: "resolved",
        cause: restored,
        from,
        earliest: from,
        bound: from + d,
        at: resolved,
        how: format!("the end of the first ok run + {how}"),
    });
    drop(recorders);
    (out, note)
}

#[test]
#[ignore = "real time, minutes: scripts/test.sh runs it beside the rest of the suite; alone: cargo test -p job --test alerts_e2e -- --ignored"]
fn the_shipped_alerts_fire_and_resolve_through_a_real_prometheus_and_alertmanager() {
    let test_started = Instant::now();
    let t0 = unix_now();
    let prometheus = find_binary(&["prometheus"]);
    let alertmanager = find_binary(&["prometheus-alertmanager", "alertmanager"]);
    let (Some(prometheus), Some(alertmanager)) = (prometheus, alertmanager) else {
        let why = "Debian's prometheus and prometheus-alertmanager are needed \
                   (apt-get install -y --no-install-recommends prometheus prometheus-alertmanager)";
        assert!(std::env::var_os("CI").is_none(), "CI is set: {why}");
        println!("SKIPPED the end-to-end alerting test: {why}");
        return;
    };

    let az = azurite::Azurite::start();
    let good = az.connection_string();
    // A well-formed key that is not the account's: Azurite refuses every request signed with it.
    let bad = good.replace(azurite::ACCOUNT_KEY, &format!("{}AA==", "AB".repeat(42)));
    assert_ne!(good, bad);
    let work = tempfile::Builder::new()
        .prefix("alerts-e2e-")
        .tempdir()
        .unwrap();
    let mut children = Children::default();

    // The streams: a folder, the job every I seconds, an exporter each.
    let streams: Vec<Stream> = [STALL, REDUNDANCY, JOBFAIL]
        .into_iter()
        .map(|name| {
            let dir = work.path().join(name);
            let folder = dir.join("chunks");
            let logs = dir.join("exporter");
            let job_logs = dir.join("job");
            for d in [&folder, &logs, &job_logs] {
                std::fs::create_dir_all(d).unwrap();
            }
            let port = free_port();
            children.add(
                &format!("the exporter of {name}"),
                start_exporter(name, &folder, &good, port, &logs),
            );
            Stream {
                name,
                folder: folder.clone(),
                exporter_port: port,
                exporter_log: logs.join("stderr"),
                job: JobLoop::start(&folder, name, &good, &job_logs),
            }
        })
        .collect();

    // The rules of each stream, rendered from the one rules file.
    let params: BTreeMap<&str, BTreeMap<String, String>> = streams
        .iter()
        .map(|s| (s.name, alert_parameters(s.name)))
        .collect();
    let prom_dir = work.path().join("prometheus");
    let am_dir = work.path().join("alertmanager");
    std::fs::create_dir_all(&prom_dir).unwrap();
    std::fs::create_dir_all(&am_dir).unwrap();
    let mut rule_files = String::new();
    for (stream, p) in &params {
        let path = prom_dir.join(format!("rules-{stream}.yaml"));
        std::fs::write(&path, render_rules(p)).unwrap();
        rule_files.push_str(&format!("  - {}\n", path.display()));
    }
    if let Some(promtool) = find_binary(&["promtool"]) {
        let files: Vec<PathBuf> = params
            .keys()
            .map(|s| prom_dir.join(format!("rules-{s}.yaml")))
            .collect();
        let out = Command::new(promtool)
            .args(["check", "rules"])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check rules:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let hook = Webhook::start();
    let am_port = free_port();
    std::fs::write(
        am_dir.join("alertmanager.yml"),
        format!(
            "route:\n\
             \x20 receiver: webhook\n\
             \x20 group_by: [alertname, stream]\n\
             \x20 group_wait: {}\n\
             \x20 group_interval: {}\n\
             \x20 repeat_interval: 1h\n\
             receivers:\n\
             \x20 - name: webhook\n\
             \x20   webhook_configs:\n\
             \x20     - url: http://127.0.0.1:{}/alerts\n\
             \x20       send_resolved: true\n",
            duration(GROUP_WAIT),
            duration(GROUP_INTERVAL),
            hook.port
        ),
    )
    .unwrap();
    children.add(
        "Alertmanager",
        Command::new(&alertmanager)
            .arg(format!(
                "--config.file={}",
                am_dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", am_dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            // No cluster: it would listen on 0.0.0.0:9094.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(am_dir.join("log")).unwrap())
            .spawn()
            .unwrap(),
    );

    let targets: String = streams
        .iter()
        .map(|s| {
            format!(
                "      - targets: ['127.0.0.1:{}']\n        labels: {{stream: {}}}\n",
                s.exporter_port, s.name
            )
        })
        .collect();
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        format!(
            "global:\n\
             \x20 scrape_interval: {scrape}\n\
             \x20 scrape_timeout: {scrape}\n\
             \x20 evaluation_interval: {eval}\n\
             rule_files:\n{rule_files}\
             alerting:\n\
             \x20 alertmanagers:\n\
             \x20   - static_configs:\n\
             \x20       - targets: ['127.0.0.1:{am_port}']\n\
             scrape_configs:\n\
             \x20 - job_name: {JOB_LABEL}\n\
             \x20   honor_labels: true\n\
             \x20   static_configs:\n{targets}",
            scrape = duration(SCRAPE),
            eval = duration(EVAL),
        ),
    )
    .unwrap();
    let prom_port = free_port();
    children.add(
        "Prometheus",
        Command::new(&prometheus)
            .arg(format!(
                "--config.file={}",
                prom_dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                prom_dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(prom_dir.join("log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let logs = || {
        format!(
            "--- Prometheus\n{}\n--- Alertmanager\n{}\n{}",
            tail(&prom_dir.join("log"), 3000),
            tail(&am_dir.join("log"), 3000),
            streams
                .iter()
                .map(|s| format!(
                    "--- {}: exporter\n{}\n--- job runs: {}",
                    s.name,
                    tail(&s.exporter_log, 2000),
                    s.job.describe()
                ))
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    for (what, port) in [("Alertmanager", am_port), ("Prometheus", prom_port)] {
        let ready = wait_for(Duration::from_secs(30), || {
            get(port, "/-/ready").filter(|(status, _)| *status == 200)
        });
        assert!(
            ready.is_some(),
            "{what} is not ready within 30 s\n{}",
            logs()
        );
    }
    children.check_alive();
    // Every stream's rules are loaded (9 alerts each) and every exporter is scraped.
    let rules = prometheus_api(prom_port, "/api/v1/rules").unwrap();
    let loaded: usize = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["rules"].as_array().unwrap().len())
        .sum();
    assert_eq!(loaded, 9 * streams.len(), "{rules}");
    let up = wait_for(Duration::from_secs(20), || {
        query(prom_port, &format!("count(up{{job=\"{JOB_LABEL}\"}} == 1)")).filter(|n| *n == 3.0)
    });
    assert!(up.is_some(), "the exporters are not all up\n{}", logs());

    let shared = Shared {
        prometheus: prom_port,
        hook: &hook,
        t0,
    };
    shared.log("Prometheus, Alertmanager and the exporters are up; the scenarios start");
    let stream = |name: &str| streams.iter().find(|s| s.name == name).unwrap();
    let (stall, redundancy, jobfail) = std::thread::scope(|scope| {
        let a = scope.spawn(|| stall_scenario(&shared, stream(STALL), &params[STALL]));
        let b =
            scope.spawn(|| redundancy_scenario(&shared, stream(REDUNDANCY), &params[REDUNDANCY]));
        let c = scope
            .spawn(|| jobfail_scenario(&shared, stream(JOBFAIL), &params[JOBFAIL], &good, &bad));
        (a.join(), b.join(), c.join())
    });
    let wall = test_started.elapsed();
    let mut measured = Vec::new();
    let mut failures = Vec::new();
    for (what, r) in [("stall", stall), ("redundancy", redundancy)] {
        match r {
            Ok(m) => measured.extend(m),
            Err(e) => failures.push(format!("the {what} scenario panicked: {e:?}")),
        }
    }
    match jobfail {
        Ok((m, note)) => {
            measured.extend(m);
            println!("{JOBFAIL}: {note}");
        }
        Err(e) => failures.push(format!("the job-failing scenario panicked: {e:?}")),
    }
    println!("notifications (delay after the cause, after the condition, bound):");
    for m in &measured {
        println!("  {}", m.line());
        if !m.ok() {
            failures.push(m.line());
        }
    }
    println!(
        "every notification received: {:?}",
        hook.all()
            .iter()
            .map(|n| format!("{:.1} {} {} {}", n.at - t0, n.alert, n.stream, n.status))
            .collect::<Vec<_>>()
    );
    println!("wall time: {:.1} s", wall.as_secs_f64());
    assert_eq!(measured.len(), 6, "{failures:?}\n{}", logs());
    assert!(failures.is_empty(), "{}\n{}", failures.join("\n"), logs());
    children.check_alive();
}
