#!/usr/bin/env bash
# Issue 5's performance figures, all measured in one run and printed as a table: figure,
# measured value, target, the reference measured in the same run, pass/fail.
#
#   scripts/bench.sh                  # several minutes; inputs and results under bench-data/
#   scripts/bench.sh --update-docs    # also replace the table in docs/benchmarks.md
#   BENCH_REV=HEAD scripts/bench.sh   # measure a commit instead of the working tree
#
# Knobs (environment): BENCH_BACKLOGS the backlog cases, segments per replica ("24 144": a
# small backlog and a day of 600-s segments; BENCH_BACKLOG sets the second alone),
# BENCH_SEGMENT_S segment length (600), BENCH_CONCURRENCY the raw-upload references'
# files-at-once levels (2,4), BENCH_MEMORY the memory runs as COUNTxSECONDS (6x600 24x600
# 6x1800), BENCH_SKIP phases to skip (plan measure memory backlog), BENCH_ONLY=backlog the
# backlog cases alone, BENCH_JOB a job binary to measure instead of the one built here (the
# references still come from this build: for rounds of before and after).
#
# Every job run is measured under GNU time (scripts/bench-run.py), and the job reports its own
# peak RSS (VmHWM) in its run summary. The backlog's references, in the same Azurite, with the
# same files: `rclone copy` (Debian's rclone, default settings), plain single-request Put
# Blobs and raw block uploads (the raw_upload bench).
#
# Inputs are generated here with ffmpeg (one encoded segment per length, copied into two
# replicas' names) and never committed. Azurite runs from node_modules on free loopback
# ports, in memory, one fresh instance per phase that needs it. The job is the release build
# of the working tree (or of BENCH_REV); it runs exactly as the CronJob runs it, except RUN_DEADLINE_SECONDS
# (raised so a backlog run is not cut short) and LOG_FORMAT=json (to read its summary).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
update_docs=0
for a in "$@"; do
  case $a in
    --update-docs) update_docs=1 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
backlog=${BENCH_BACKLOG:-144}
backlogs=${BENCH_BACKLOGS:-24 $backlog}
segment_s=${BENCH_SEGMENT_S:-600}
concurrency=${BENCH_CONCURRENCY:-2,4}
memory_runs=${BENCH_MEMORY:-6x600 24x600 6x1800}
skip=" ${BENCH_SKIP:-} "
# BENCH_ONLY=backlog: the backlog cases alone (the same as BENCH_SKIP="plan measure memory").
[ "${BENCH_ONLY:-}" = backlog ] && skip=" plan measure memory "

data=$root/bench-data
results=$data/results
work=$data/run
mkdir -p "$data/src"
rm -rf "$results" "$work"
mkdir -p "$results" "$work"

say() { printf '\n== %s\n' "$*" >&2; }

# --- tools -----------------------------------------------------------------------------
need_apt=()
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
command -v strace >/dev/null || need_apt+=(strace)
command -v rclone >/dev/null || need_apt+=(rclone)
[ -x /usr/bin/time ] || need_apt+=(time)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
[ -x node_modules/.bin/azurite ] || npm ci --no-audit --no-fund --loglevel=error

# --- build ------------------------------------------------------------------------------
# Everything is built first and the executables copied to bench-data/bin, so a rebuild or an
# edit of the sources while the bench runs changes nothing it measures. BENCH_REV=<commit>
# builds that commit from a clean export (bench-data/tree, its own target dir) instead of
# the working tree.
rev=${BENCH_REV:-}
if [ -n "$rev" ]; then
  say "build (release) of $rev"
  tree=$data/tree
  rm -rf "$tree"
  mkdir -p "$tree"
  git archive "$rev" | tar -x -C "$tree"
  ln -sfn "$root/node_modules" "$tree/node_modules"
  export CARGO_TARGET_DIR=$data/target
else
  say "build (release) of the working tree"
  tree=$root
fi
bin=$data/bin
rm -rf "$bin"
mkdir -p "$bin"
(
  cd "$tree"
  cargo build --release --quiet -p job --bin segment-selector --message-format=json-render-diagnostics
  cargo bench --quiet --no-run -p job --bench measure --bench raw_upload --message-format=json-render-diagnostics
  cargo bench --quiet --no-run -p selection --bench plan --message-format=json-render-diagnostics
) | python3 -c '
import json, shutil, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        shutil.copy2(m["executable"], sys.argv[1] + "/" + m["target"]["name"])
' "$bin"
for b in segment-selector measure raw_upload plan; do
  [ -x "$bin/$b" ] || { echo "build: $b missing" >&2; exit 1; }
done
job=$bin/segment-selector
if [ -n "${BENCH_JOB:-}" ]; then
  cp "$BENCH_JOB" "$bin/segment-selector-given"
  job=$bin/segment-selector-given
fi
if [ -n "$rev" ]; then
  commit=$(git rev-parse --short "$rev") dirty=false
else
  commit=$(git rev-parse --short HEAD)
  dirty=$([ -n "$(git status --porcelain --untracked-files=no -- crates Cargo.toml Cargo.lock)" ] && echo true || echo false)
fi
[ -n "${BENCH_JOB:-}" ] && commit="$BENCH_JOB (BENCH_JOB)" dirty=false

# --- machine ---------------------------------------------------------------------------
python3 - "$results/machine.json" "$commit" "$dirty" <<'PY'
import json, os, subprocess, sys, datetime
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
json.dump({
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "nproc": os.cpu_count(), "model": model, "mem_gib": round(mem / 2**20, 1),
    "load": os.getloadavg()[0], "kernel": os.uname().release,
    "commit": sys.argv[2], "dirty": sys.argv[3] == "true",
    "ffprobe": subprocess.run(["ffprobe", "-version"], capture_output=True, text=True).stdout.split("\n")[0],
}, open(sys.argv[1], "w"), indent=1)
PY

# --- inputs ----------------------------------------------------------------------------
# shellcheck disable=SC2086 # memory_runs is a list
lengths=$(printf '%s\n' "$segment_s" $memory_runs | sed 's/.*x//' | sort -un)
for s in $lengths; do
  if [ ! -f "$data/src/seg$s.mp3" ]; then
    say "encode one ${s}-s segment (lavfi, 128 kbps stereo)"
    python3 scripts/bench-data.py base "$data/src/seg$s.mp3" "$s"
  fi
done

# --- Azurite ---------------------------------------------------------------------------
azurite_pid=""
stop_azurite() {
  if [ -n "$azurite_pid" ]; then
    kill "$azurite_pid" 2>/dev/null || true
    wait "$azurite_pid" 2>/dev/null || true
    azurite_pid=""
  fi
}
trap stop_azurite EXIT
start_azurite() {
  stop_azurite
  local log=$results/azurite-$1.log
  node_modules/.bin/azurite --silent --skipApiVersionCheck --loose --disableTelemetry \
    --inMemoryPersistence --blobHost 127.0.0.1 --tableHost 127.0.0.1 --queueHost 127.0.0.1 \
    --blobPort 0 --tablePort 0 --queuePort 0 >"$log" 2>&1 &
  azurite_pid=$!
  local blob="" table=""
  for _ in $(seq 300); do
    blob=$(sed -n 's/.*Blob service is successfully listening at .*:\([0-9]*\).*/\1/p' "$log")
    table=$(sed -n 's/.*Table service is successfully listening at .*:\([0-9]*\).*/\1/p' "$log")
    [ -n "$blob" ] && [ -n "$table" ] && break
    kill -0 "$azurite_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.2
  done
  if [ -z "$blob" ] || [ -z "$table" ]; then
    echo "Azurite did not start" >&2
    cat "$log" >&2
    exit 1
  fi
  # The public Azurite account key (crates/store/src/connection.rs DEV_ACCOUNT_KEY).
  conn="DefaultEndpointsProtocol=http;BlobEndpoint=http://127.0.0.1:$blob/devstoreaccount1;TableEndpoint=http://127.0.0.1:$table/devstoreaccount1;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
}

# One job run over FOLDER as stream STREAM: bench-run.py measures it into results/NAME.json.
run_job() { # NAME STREAM FOLDER SECONDS [--strace FOLDER]
  local name=$1 stream=$2 folder=$3 seconds=$4
  shift 4
  env -i PATH="$PATH" HOME="$HOME" \
    FOLDER="$folder" STREAM_NAME="$stream" FILE_DURATION="$seconds" FFMPEG_PATH="$work" \
    AZURE_STORAGE_CONNECTION_STRING="$conn" LOG_FORMAT=json RUN_DEADLINE_SECONDS=3600 \
    python3 scripts/bench-run.py "$results/$name.json" "$results/$name.log" "$@" -- "$job" >&2
}

# --- the --help baseline: the binary's floor (runtime, allocator, clap), no storage ---------
python3 scripts/bench-run.py "$results/help.json" "$results/help.log" -- "$job" --help >&2

# --- planning --------------------------------------------------------------------------
if [[ $skip != *" plan "* ]]; then
  say "planning: criterion bench, selection::plan over 10,000 files"
  CRITERION_HOME=$results/criterion "$bin/plan" --bench 2>&1 | grep -v '^Benchmarking' | tee "$results/plan.txt" >&2
  python3 - "$results/plan.json" "$results/criterion" <<'PY'
import glob, json, os, sys
out = {}
for f in glob.glob(sys.argv[2] + "/plan/*/new/estimates.json"):
    bench = json.load(open(os.path.join(os.path.dirname(f), "benchmark.json")))
    e = json.load(open(f))
    out[bench["value_str"] or bench["function_id"]] = {
        "mean_ms": e["mean"]["point_estimate"] / 1e6,
        "mean_lo_ms": e["mean"]["confidence_interval"]["lower_bound"] / 1e6,
        "mean_hi_ms": e["mean"]["confidence_interval"]["upper_bound"] / 1e6,
        "median_ms": e["median"]["point_estimate"] / 1e6,
    }
json.dump(out, open(sys.argv[1], "w"), indent=1)
PY
fi

# --- measuring audio -------------------------------------------------------------------
if [[ $skip != *" measure "* ]]; then
  say "measuring audio: scan_file vs ffprobe -count_packets, 12 page-cached ${segment_s}-s files"
  python3 scripts/bench-data.py copies "$data/src/seg$segment_s.mp3" "$data/measure" 12
  "$bin/measure" --bench "$data"/measure/*.mp3 | tee "$results/measure.txt" >&2
  sed -n 's/^BENCH_JSON //p' "$results/measure.txt" >"$results/measure.json"
fi

# --- memory and read amplification -----------------------------------------------------
if [[ $skip != *" memory "* ]]; then
  start_azurite memory
  # The fixed cost of a run: an empty folder, twice on one stream (the first creates the
  # container, the table and the lock blob; the second is every later run's).
  mkdir -p "$work/empty"
  run_job empty-first bench-empty "$work/empty" "$segment_s"
  run_job empty bench-empty "$work/empty" "$segment_s"
  for run in $memory_runs; do
    n=${run%x*} s=${run#*x}
    say "job run: $n segments of $s s per replica, two replicas (peak RSS, bytes read)"
    python3 scripts/bench-data.py folder "$data/src/seg$s.mp3" "$work/mem-$run" "$n" >"$results/mem-$run.data.json"
    run_job "mem-$run" "bench-mem-$n-$s" "$work/mem-$run" "$s"
  done
  run=24x$segment_s
  say "job run: $run again under strace (exact bytes read from the folder)"
  python3 scripts/bench-data.py folder "$data/src/seg$segment_s.mp3" "$work/strace-$run" 24 >"$results/strace-$run.data.json"
  run_job "strace-$run" "bench-strace-24" "$work/strace-$run" "$segment_s" --strace "$work/strace-$run"
  stop_azurite
fi

# --- backlog ---------------------------------------------------------------------------
# One case per size in $backlogs (24: a small backlog, where plain uploads into a still-small
# Azurite are fastest; 144: a day). Results of case N are backlog-N.json, raw-N.json,
# rclone-N.json...
backlog_case() { # SEGMENTS PER REPLICA
  local n=$1 dir=$work/backlog-$1
  start_azurite "backlog-$n"
  say "backlog: $n segments of $segment_s s per replica, two replicas"
  python3 scripts/bench-data.py folder "$data/src/seg$segment_s.mp3" "$dir" "$n" >"$results/backlog-$n.data.json"
  # The files the job will archive, so the reference uploads exactly the same bytes.
  env -i PATH="$PATH" FOLDER="$dir" STREAM_NAME="bench-backlog-$n" FILE_DURATION="$segment_s" \
    AZURE_STORAGE_CONNECTION_STRING="$conn" "$job" plan >"$results/backlog-$n.plan.json" 2>"$results/backlog-$n.plan.log"
  python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))
print("\n".join(sys.argv[2] + "/" + u["file"] for u in p["uploads"]))' \
    "$results/backlog-$n.plan.json" "$dir" >"$results/backlog-$n.uploads.txt"
  say "references: plain Put Blobs and raw block uploads of the same $(wc -l <"$results/backlog-$n.uploads.txt") files ($concurrency at a time)"
  local upload_files
  mapfile -t upload_files <"$results/backlog-$n.uploads.txt"
  # Every measured command starts alike: a fresh Azurite (an in-memory one that held the
  # previous command's copies is slower, and its heap pushes the files out of the page cache)
  # and the folder's files page-cached.
  warm_backlog() { cat "$dir"/*.mp3 >/dev/null; }
  warm_backlog
  AZURE_STORAGE_CONNECTION_STRING="$conn" BENCH_CONCURRENCY="$concurrency" BENCH_CONTAINER=rawref \
    "$bin/raw_upload" --bench "${upload_files[@]}" | tee "$results/raw-$n.txt" >&2
  sed -n 's/^BENCH_JSON //p' "$results/raw-$n.txt" >"$results/raw-$n.json"
  say "reference: rclone copy of the same files (Debian's rclone, default settings)"
  start_azurite "backlog-$n-rclone"
  warm_backlog
  sed "s|^$dir/||" "$results/backlog-$n.uploads.txt" >"$results/backlog-$n.uploads.rel"
  # Debian's rclone (1.60) builds its URL as https://<account>.<endpoint>, so Azurite on a
  # loopback port is reached through a container SAS URL (the raw_upload bench signs one
  # with the account key and creates the container).
  local sas
  sas=$(AZURE_STORAGE_CONNECTION_STRING="$conn" "$bin/raw_upload" --bench --sas-url rclone-ref)
  env -i PATH="$PATH" HOME="$HOME" RCLONE_CONFIG=/dev/null \
    RCLONE_CONFIG_AZ_TYPE=azureblob RCLONE_CONFIG_AZ_SAS_URL="$sas" \
    python3 scripts/bench-run.py "$results/rclone-$n.json" "$results/rclone-$n.log" -- \
    rclone copy --files-from "$results/backlog-$n.uploads.rel" "$dir" az:rclone-ref >&2 || true
  say "job run over the backlog of $n"
  start_azurite "backlog-$n-job"
  warm_backlog
  run_job "backlog-$n" "bench-backlog-$n" "$dir" "$segment_s"
  stop_azurite
}
if [[ $skip != *" backlog "* ]]; then
  rclone --version | sed -n 1p >"$results/rclone.version"
  for n in $backlogs; do
    backlog_case "$n"
  done
fi

# --- report ----------------------------------------------------------------------------
report_args=("$results")
[ "$update_docs" = 1 ] && report_args+=(--update-docs docs/benchmarks.md)
python3 scripts/bench-report.py "${report_args[@]}"
