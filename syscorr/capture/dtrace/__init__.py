"""The macOS backend: syscorr's D script (syscorr.d) run with `sudo dtrace`.

Contract: `SCRIPT` is the shipped D script. `DtraceBackend` implements the Backend protocol
for `syscorr run --backend dtrace` on macOS (root needed; SIP must allow dtrace for the target,
and Apple-signed interpreters such as /usr/bin/python3 cannot be traced with SIP on): the log
is the script's tab-separated output, parsed by syscorr/parse/dtrace.py; stamps are
walltimestamp (CLOCK_REALTIME, the agent's default clock). Without a Mac here the backend is
tested on sample output only (fixtures/dtrace/README.md says how it was made).
`python -m syscorr.capture.dtrace` prints the script's path, for running dtrace by hand.
"""

import shutil
import subprocess
import sys
from pathlib import Path

from syscorr.capture.backend import CaptureOptions, TracerDefaults
from syscorr.errors import TracerUnavailable, UsageError

SCRIPT = Path(__file__).resolve().parent / "syscorr.d"


class DtraceBackend(TracerDefaults):
    name = "dtrace"
    clock = "realtime"
    log_format = "dtrace"
    log_name = "dtrace.log"

    def check_available(self) -> None:
        if sys.platform != "darwin":
            raise TracerUnavailable(
                "the dtrace backend is for macOS; on Linux use --backend strace or ebpf"
            )
        if shutil.which("dtrace") is None:
            raise TracerUnavailable("dtrace is not on PATH (it ships with macOS: /usr/sbin)")
        import os

        if os.geteuid() != 0:
            raise TracerUnavailable(
                "dtrace needs root: run `sudo syscorr run --backend dtrace ...`"
            )

    def version(self) -> str:
        try:
            out = subprocess.run(["dtrace", "-V"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        return out.stdout.strip() or "unknown"

    def command(self, target: list[str], log_path: Path, options: CaptureOptions) -> list[str]:
        if any(not arg or any(c.isspace() for c in arg) for arg in target):
            raise UsageError(
                "dtrace -c splits its command at spaces: put the command in a script, or run "
                f"`sudo dtrace -q -s {SCRIPT} -o LOG -p PID` and `syscorr import LOG`"
            )
        return ["dtrace", "-q", "-s", str(SCRIPT), "-o", str(log_path), "-c", " ".join(target)]

    def after_run(self, log_path: Path) -> dict:
        return {}
