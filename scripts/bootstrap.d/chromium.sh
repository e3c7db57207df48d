#!/usr/bin/env bash
# Headless Chromium from Debian for the HTML report's browser tests (tests/test_report_html.py).
# The tests drive /usr/bin/chromium with PyPI's playwright (executable_path): no browser download.
# Idempotent and quick when chromium is already there. Run as root or with sudo.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
echo "[bootstrap] installing chromium (apt-get) for the HTML report tests" >&2
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version >&2
