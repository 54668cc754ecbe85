#!/usr/bin/env bash
# The demo: the real job, run as the CronJob runs it, on a recorded fixture against a local
# Azurite (started here on its default ports), then the list of what landed in the archive.
#   scripts/demo.sh [scenario]     (default: kill-replace; see fixtures/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-kill-replace}
[ -f "fixtures/$scenario/manifest.json" ] || { echo "no fixture scenario '$scenario' in fixtures/" >&2; exit 2; }
[ -x node_modules/.bin/azurite ] || npm ci --no-audit --no-fund --loglevel=error
cargo build --quiet -p job --bin segment-selector

work=$(mktemp -d)
trap 'kill "$azurite_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
node_modules/.bin/azurite --silent --skipApiVersionCheck --loose --inMemoryPersistence \
  --blobHost 127.0.0.1 --tableHost 127.0.0.1 --queuePort 0 >"$work/azurite.log" 2>&1 &
azurite_pid=$!
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/10002) 2>/dev/null && break
  sleep 0.2
done

# Replay the recording: copy the files with their modification times placed relative to now
# as they were relative to the moment the folder was snapshotted.
mkdir -p "$work/chunks/$scenario"
python3 - "$scenario" "$work/chunks/$scenario" <<'PY'
import json, os, shutil, sys, time
from datetime import datetime
scenario, dest = sys.argv[1], sys.argv[2]
m = json.load(open(f"fixtures/{scenario}/manifest.json"))
ts = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
now, snap = time.time(), ts(m["snapshot_at"])
for f in m["files"]:
    to = os.path.join(dest, f["name"])
    shutil.copyfile(f"fixtures/{scenario}/{f['name']}", to)
    t = now - (snap - ts(f["mtime"]))
    os.utime(to, (t, t))
print(f"{len(m['files'])} files of '{scenario}': {m['description']}")
PY

export FOLDER="$work/chunks/$scenario" STREAM_NAME="demo-$scenario" FFMPEG_PATH="$work/chunks"
export FILE_DURATION
FILE_DURATION=$(python3 -c "import json;print(json.load(open('fixtures/$scenario/manifest.json'))['segment_time'])")
export AZURE_STORAGE_CONNECTION_STRING="UseDevelopmentStorage=true"
echo "== run 1"
target/debug/segment-selector
echo "== run 2 (deletes what run 1 archived)"
target/debug/segment-selector
echo "== archive (segment-selector ls)"
target/debug/segment-selector ls
echo "== left in the folder (still being recorded, or waiting for the other replica)"
ls "$FOLDER"
