#!/usr/bin/env bash
# docs/report-dead-air.png: the day page of the dead-air fixture, with real dead air and a real
# gap, in headless Chromium. The gap is made by replaying only abcde's first file and fghij's
# second (what a day looks like when both pods were down for 2.5 s); their modification times
# are the recorded ones. Needs what scripts/test.sh installs (Azurite, chromium, npm ci).
#   scripts/screenshot-dead-air.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p job --bin segment-selector
work=$(mktemp -d)
bp=21000; tp=21002
node_modules/.bin/azurite --silent --skipApiVersionCheck --loose --inMemoryPersistence \
  --blobHost 127.0.0.1 --blobPort $bp --tableHost 127.0.0.1 --tablePort $tp --queuePort 0 >"$work/az.log" 2>&1 &
az=$!
trap 'kill "$az"; rm -rf "$work"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$tp) 2>/dev/null && break; sleep 0.2; done
mkdir -p "$work/f"
for f in ffmpeg-deployment-7c9f8d-abcde_20261202T001028.mp3 ffmpeg-deployment-7c9f8d-fghij_20261202T001153.mp3; do
  cp fixtures/dead-air/$f "$work/f/"
  touch -d "$(python3 -c "import json,sys;print([x['mtime'] for x in json.load(open('fixtures/dead-air/manifest.json'))['files'] if x['name']==sys.argv[1]][0])" "$f")" "$work/f/$f"
done
# Azurite's well-known development key (public; not a secret).
key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
export AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$bp/devstoreaccount1;TableEndpoint=http://127.0.0.1:$tp/devstoreaccount1"
export FOLDER="$work/f" STREAM_NAME=dead-air-day FILE_DURATION=90 FFMPEG_PATH=/x
target/debug/segment-selector >/dev/null 2>&1
target/debug/segment-selector 2>&1 | grep -E "dead air|summary" | cut -c1-200 || true
url=$(target/debug/segment-selector report 2026-12-02 --output "$work/day.svg" | sed -n 's/^day page (read-only, valid 7 days): //p')
unsigned=${url%%\?*}
node crates/job/tests/browser/day_page.mjs "$url" "$unsigned" docs/report-dead-air.png >/dev/null
echo "docs/report-dead-air.png"
