#!/usr/bin/env bash
# Builds the previous release's binary (the commit in scripts/previous-release), for the
# rollback test, and prints its path.
#
#   scripts/build-previous-release.sh     # prints …/debug/segment-selector-previous
#
# Exit status 3: the commit is not in the clone's history (a shallow clone) and cannot be
# fetched; scripts/test.sh then runs the rollback test as skipped, and says so.
#
# The commit's tree is exported from git (so it needs the repository's history, as a clone
# has) into target/previous-release/src and built in the same target directory as the working
# tree, so the dependencies both share are compiled once. Its binary is renamed
# `segment-selector-previous` in the exported Cargo.toml: built under its own name it can never
# take the place of this version's `segment-selector` in the target directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rev=$(grep -v '^#' scripts/previous-release | tr -d '[:space:]')
target=${CARGO_TARGET_DIR:-$root/target}
src=$target/previous-release/src
# A shallow clone lacks the commit: fetch it from the clone's origin if that can be reached.
git cat-file -e "$rev^{commit}" 2>/dev/null ||
  git fetch --quiet --depth=1 origin "$rev" 2>/dev/null || true
if ! git cat-file -e "$rev^{commit}" 2>/dev/null; then
  echo "build-previous-release: commit $rev (scripts/previous-release) is not in this repository's history and cannot be fetched; clone it whole (not --depth 1)" >&2
  exit 3
fi
if [ "$(cat "$src/.commit" 2>/dev/null)" != "$rev" ]; then
  rm -rf "$src"
  mkdir -p "$src"
  git archive "$rev" | tar -x -C "$src"
  sed -i 's/^name = "segment-selector"$/name = "segment-selector-previous"/' "$src/crates/job/Cargo.toml"
  grep -q '^name = "segment-selector-previous"$' "$src/crates/job/Cargo.toml" || {
    echo "build-previous-release: cannot rename the binary in $src/crates/job/Cargo.toml" >&2
    exit 1
  }
  echo "$rev" > "$src/.commit"
fi
(cd "$src" && CARGO_TARGET_DIR=$target cargo build --quiet -p job --bin segment-selector-previous >&2)
echo "$target/debug/segment-selector-previous"
