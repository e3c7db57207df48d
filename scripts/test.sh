#!/usr/bin/env bash
# One command for the tests: set up (strace, Python 3.12+, .venv), lint, then run every test,
# the slow end-to-end ones with the real strace included. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test
.venv/bin/ruff check syscorr tests scripts
.venv/bin/python -m pytest "$@"
