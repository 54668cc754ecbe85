#!/usr/bin/env bash
# The whole test suite: what the README's second command and CI run.
# Installs what it needs on a fresh Debian machine with Rust and Node.js (as root, or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
# The end-to-end test records from a real Icecast2 server on 127.0.0.1.
command -v icecast2 >/dev/null || need_apt+=(icecast2)
# The fall-back replay (fixtures_dst) runs the job at the replayed moment; the fault tests
# speed its clock up.
command -v faketime >/dev/null || need_apt+=(faketime)
# The day playlists are played by GStreamer's HLS demuxer (hls_playback).
command -v gst-launch-1.0 >/dev/null ||
  need_apt+=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)
# mpg123, a second gapless decoder, plays exports and frame-exact blobs (export_fixtures,
# frame_exact_blobs).
command -v mpg123 >/dev/null || need_apt+=(mpg123)
# The archive browser's day page is opened in Debian's headless Chromium (browser_report).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# A real Prometheus and Alertmanager evaluate the shipped alert rules on the exporter's series
# and notify a local webhook (alerts_e2e; metrics_exporter scrapes with Prometheus too). Without
# recommends: Debian's prometheus recommends node-exporter, whose service is of no use here.
need_apt_min=()
command -v prometheus >/dev/null || need_apt_min+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need_apt_min+=(prometheus-alertmanager)
if [ ${#need_apt[@]} -gt 0 ] || [ ${#need_apt_min[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  [ ${#need_apt[@]} -eq 0 ] ||
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
  [ ${#need_apt_min[@]} -eq 0 ] ||
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need_apt_min[@]}" >/dev/null
fi
# Azurite, the Azure Storage emulator the storage tests start on 127.0.0.1, playwright-core,
# which drives Chromium (no browser download: it uses Debian's), and hls.js, measured against
# the day player (browser_player).
{ [ -x node_modules/.bin/azurite ] && [ -d node_modules/playwright-core ] && [ -d node_modules/hls.js ]; } ||
  npm ci --no-audit --no-fund --loglevel=error
# Microsoft's Python SDKs read what the job wrote (python_sdk).
python3 -c 'import azure.storage.blob, azure.data.tables' 2>/dev/null ||
  python3 -m pip install --quiet azure-storage-blob azure-data-tables

# The structure checks of issue 26, first, so CI fails fast: no module cycle, no source file
# over 500 lines (scripts/check-structure.py says what counts).
python3 scripts/check-structure.py --self-test
python3 scripts/check-structure.py
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# CI explores the same property-test cases on every run, so a red CI is reproducible and never
# a roll of the dice; a developer's run draws new cases each time (proptest's default), and
# `PROPTEST_CASES=2000 cargo test -p selection --test properties` explores further. A case
# that fails is saved in crates/*/tests/*.proptest-regressions and replayed from then on.
if [ -n "${CI:-}" ]; then
  export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261207}"
  echo "property tests: PROPTEST_RNG_SEED=$PROPTEST_RNG_SEED"
fi
# The rollback test (crates/job/tests/rollback_previous.rs) runs the previous release's binary
# over an archive this version wrote: built first from git (scripts/previous-release), in the
# same target directory, so the dependencies compile once for both.
if PREVIOUS_RELEASE_BIN=$(scripts/build-previous-release.sh); then
  export PREVIOUS_RELEASE_BIN
else
  status=$?
  [ $status -eq 3 ] || exit $status
  export PREVIOUS_RELEASE_UNAVAILABLE="its commit is not in this clone's history (a shallow clone)"
  echo "WARNING: the rollback test will be skipped: $PREVIOUS_RELEASE_UNAVAILABLE" >&2
fi
cargo test --workspace --no-run
# The real-time tests (a live recording from Icecast, replays through a lagging view of the
# share, alerts through a real Prometheus and Alertmanager) mostly wait on the clock: they run
# beside the rest of the suite, every case at once, and a plain `cargo test` skips them as
# ignored.
realtime_log=$(mktemp)
cargo test -p job --test e2e_recording --test reliability_lag --test alerts_e2e -- --ignored --test-threads=8 \
  >"$realtime_log" 2>&1 &
realtime=$!
status=0
# The lib tests need no ffmpeg, Node or network (crates/job/tests/README.md): run them with
# ffmpeg, ffprobe, node, npm and npx absent from PATH (a folder of links to everything else on
# it), and without a network where a user and network namespace can be made (only a loopback).
bare_path=$(mktemp -d)
trap 'rm -rf "$bare_path"' EXIT
IFS=: read -ra path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
  for tool in "$dir"/*; do
    name=$(basename "$tool")
    case "$name" in ffmpeg | ffprobe | node | npm | npx) continue ;; esac
    if [ -x "$tool" ] && [ ! -e "$bare_path/$name" ]; then ln -s "$tool" "$bare_path/$name"; fi
  done
done
no_network=()
if command -v ip >/dev/null && unshare --user --map-root-user --net ip link set lo up 2>/dev/null; then
  no_network=(unshare --user --map-root-user --net sh -c 'ip link set lo up && exec "$@"' no-network)
else
  echo "note: no user and network namespace here; the lib tests run without ffmpeg and Node only" >&2
fi
PATH="$bare_path" "${no_network[@]}" cargo test --workspace --lib --offline || status=$?
# Everything else (the lib tests ran just above).
cargo test --workspace --bins --examples --test '*' || status=$?
cargo test --workspace --doc || status=$?
wait "$realtime" || status=$?
echo "== the real-time tests (e2e_recording, reliability_lag, alerts_e2e), run beside the rest:"
cat "$realtime_log"
rm -f "$realtime_log"
[ "$status" -eq 0 ] || exit "$status"
# Deployment files, validated offline, and the release binary the Dockerfile builds.
scripts/validate-deploy.sh
