"""Progress on stderr for every command that reads a trace (report, its exports, explain,
check, import): shown when stderr is a terminal and the logs are large (the threshold is
lowered here with SYSCORR_PROGRESS_BYTES), never when stderr is a pipe."""

import os
import pty
import subprocess
import sys

import pytest

from tests.golden_util import TRACES

ECHO = str(TRACES / "echo")
COMMANDS = [
    ["report", ECHO],
    ["report", ECHO, "--timeline"],
    ["report", ECHO, "-f", "json"],
    ["report", ECHO, "-f", "html"],
    ["explain", ECHO],
    ["check", ECHO, "--no-github"],
    ["import", str(TRACES / "echo" / "strace.log")],
]


def run_with_tty_stderr(args, tmp_path) -> bytes:
    """Run the CLI with stderr on a pseudo-terminal; return what the terminal saw."""
    leader, follower = pty.openpty()
    if args[0] == "import":
        args = [*args, "-o", str(tmp_path / "imported")]
    else:
        args = [*args, "-o", str(tmp_path / "out")] if args[0] == "report" else args
    env = dict(os.environ, SYSCORR_PROGRESS_BYTES="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "syscorr", *args],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=120)
    os.close(leader)
    return seen


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:1] + a[2:]))
def test_progress_in_a_terminal(args, tmp_path):
    seen = run_with_tty_stderr(args, tmp_path)
    assert b"reading trace" in seen, seen[-500:]


@pytest.mark.parametrize("args", COMMANDS[:2], ids=lambda a: " ".join(a[:1] + a[2:]))
def test_no_progress_when_stderr_is_a_pipe(args, tmp_path):
    env = dict(os.environ, SYSCORR_PROGRESS_BYTES="1")
    done = subprocess.run(
        [sys.executable, "-m", "syscorr", *args], capture_output=True, env=env, timeout=120
    )
    assert b"reading trace" not in done.stderr and b"\x1b" not in done.stderr
