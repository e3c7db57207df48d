#!/usr/bin/env bash
# One command for the main job: set up, trace a bundled example, and print its report.
# Usage: scripts/demo.sh [fixtures/apps/<example>.py [ARGS...]]   (default: the echo server)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
if [ $# -eq 0 ]; then set -- fixtures/apps/echo.py; fi
trace="$(mktemp -d /tmp/syscorr-demo.XXXXXX)/trace"
echo "[demo] syscorr run $* (trace in $trace)" >&2
.venv/bin/syscorr run -o "$trace" "$@"
echo "[demo] syscorr report $trace" >&2
.venv/bin/syscorr report "$trace"
echo "[demo] next: .venv/bin/syscorr report $trace --timeline | less -R," \
  ".venv/bin/syscorr explain $trace, or --format html -o report.html" >&2
