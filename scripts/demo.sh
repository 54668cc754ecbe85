#!/usr/bin/env bash
# The demo: the real job, run as the CronJob runs it, on a recorded fixture against a local
# Azurite (started here on its default ports), then what landed in the archive: its list, a
# 20-s clip exported from it, the day's signed playlist and the day's picture.
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

# Getting audio out: a clip of the first 20 s archived, the day's signed playlist, its picture.
read -r from to day < <(target/debug/segment-selector ls --json | python3 -c '
import json, sys
from datetime import datetime, timedelta
start = datetime.fromisoformat(json.load(sys.stdin)[0]["start"].replace("Z", "+00:00"))
fmt = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
print(fmt(start + timedelta(seconds=1)), fmt(start + timedelta(seconds=21)), start.strftime("%Y-%m-%d"))')
echo "== export $from .. $to (segment-selector export)"
target/debug/segment-selector export --from "$from" --to "$to" --allow-gaps --output "$work/clip.mp3"
# What a player plays of it: ffmpeg honours the LAME tag's delay and padding.
command -v ffmpeg >/dev/null &&
  echo "clip.mp3 plays $(ffmpeg -nostdin -v error -i "$work/clip.mp3" -f s16le -ac 1 -ar 8000 - | wc -c |
    awk '{printf "%.3f", $1 / 16000}') s in ffmpeg"
echo "== playlist $day (segment-selector playlist; first lines)"
target/debug/segment-selector playlist "$day" | head -n 8 | cut -c1-110
echo "== picture of $day (segment-selector report)"
target/debug/segment-selector report "$day" --output "$work/day.svg" | cut -c1-110
