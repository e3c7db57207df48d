"""The command line starts cheaply: registering the commands loads neither the analysis, the
renderers, rich nor a capture backend (those load when a command runs), so `syscorr --help` and
the start of `syscorr run` stay quick."""

import subprocess
import sys

from tests.conftest import ROOT

HEAVY = (
    "rich.console", "rich.text", "syscorr.analysis", "syscorr.correlate", "syscorr.parse",
    "syscorr.report.timeline", "syscorr.report.filters", "syscorr.capture.ebpf",
    "syscorr.capture.runner", "syscorr.check.evaluate", "psutil",
)  # fmt: skip


def test_registering_the_commands_loads_no_heavy_module():
    probe = (
        "import sys, syscorr.cli.app\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
