#!/usr/bin/env bash
# One command for the main job: set up, trace a bundled example, and print its report.
# Usage: scripts/demo.sh [fixtures/apps/<example>.py]   (default: the echo server)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
app="${1:-fixtures/apps/echo.py}"
.venv/bin/syscorr run -o "$(mktemp -d -u /tmp/syscorr-demo.XXXXXX)" "$app"
.venv/bin/syscorr report
