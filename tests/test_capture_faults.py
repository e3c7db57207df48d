"""End-to-end: `syscorr run` under faults — the tracer dies, the disk fills up, the program
leaves a daemon behind, it runs too long. Real strace, real processes, a real small tmpfs."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.conftest import APPS, run_syscorr, syscorr_cmd

pytestmark = pytest.mark.slow


def meta_of(trace) -> dict:
    return json.loads((trace / "meta.json").read_text())


def report_warnings(trace) -> str:
    proc = run_syscorr("report", str(trace))
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr
    return (proc.stdout + proc.stderr).decode()


def strace_of(syscorr_pid: int, timeout: float = 20) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(syscorr_pid).children():
            if child.name() == "strace":
                return child
        time.sleep(0.05)
    raise AssertionError("strace did not start")


@pytest.mark.parametrize("seccomp", [True, False], ids=["seccomp", "no-seccomp"])
def test_the_tracer_killed_mid_run_is_told_as_such(tmp_path, seccomp):
    out = tmp_path / "t"
    flag = "--seccomp" if seccomp else "--no-seccomp"
    proc = subprocess.Popen(
        syscorr_cmd("run", flag, "-o", str(out), "--", sys.executable, str(APPS / "ticker.py")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline().startswith(b"tick")
    strace_of(proc.pid).kill()
    stdout, stderr = proc.communicate(timeout=60)
    err = stderr.decode()
    assert proc.returncode == 2, err
    assert "the tracer died: strace" in err and "killed by SIGKILL" in err
    assert "syscorr: the tracer died;" in err and "Traceback" not in err
    ticks = stdout.decode().split()
    if seccomp:  # strace's seccomp mode kills its tracees with it
        assert "ended with it" in err and "tick 39" not in ticks
    else:  # detached: the program runs on, untraced and undisturbed, and syscorr waits for it
        assert "ran on untraced" in err and ticks[-2:] == ["tick", "39"]
    assert meta_of(out)["exit"]["tracer_died"].startswith("strace (pid ")
    assert "the tracer died" in report_warnings(out) and "cut short" in report_warnings(out)


CHATTY = """
import asyncio, sys
async def main():
    for i in range(4000):
        open("/dev/null").close()
        await asyncio.sleep(0)
    print("done")
asyncio.run(main())
sys.exit(3)
"""


def test_a_full_disk_gives_one_message_and_the_programs_exit_code(tmp_path, small_disk):
    program = tmp_path / "chatty.py"
    program.write_text(CHATTY)
    out = small_disk / "t"
    proc = run_syscorr("run", "-o", str(out), "--", sys.executable, str(program))
    err = proc.stderr.decode()
    assert proc.returncode == 3, err  # the program's own
    assert proc.stdout == b"done\n"
    assert "strace:" not in err and "Traceback" not in err  # never a line per syscall
    lost = [ln for ln in err.splitlines() if "could not be written" in ln]
    assert len(lost) == 1 and "No space left on device" in lost[0] and "lines" in lost[0], err
    assert len(err.splitlines()) <= 4, err  # the summary and a warning per problem
    meta = meta_of(out)
    assert meta["exit"]["code"] == 3 and meta["capture"]["lost_lines"] > 0
    assert not (out / "meta.json.tmp").exists()
    log = (out / "strace.log").read_bytes()
    assert log.endswith(b"\n")  # cut back to whole lines
    assert "could not be written" in report_warnings(out)


def run_to_files(tmp_path, argv: list[str], name: str = "run"):
    """Start argv with stdout and stderr in files (a daemon holds pipes open: their reader
    would wait for it, with or without syscorr)."""
    out, err = open(tmp_path / f"{name}.out", "w+b"), open(tmp_path / f"{name}.err", "w+b")
    return subprocess.Popen(argv, stdout=out, stderr=err), out, err


def read(file) -> bytes:
    file.seek(0)
    return file.read()


def test_a_daemon_left_running_does_not_hold_syscorr(tmp_path):
    out = tmp_path / "t"
    started = time.monotonic()
    argv = syscorr_cmd("run", "-o", str(out), "--", sys.executable, str(APPS / "daemon.py"), "20")
    proc, _, stderr = run_to_files(tmp_path, argv)
    proc.wait(timeout=60)
    took = time.monotonic() - started
    err = read(stderr).decode()
    assert proc.returncode == 5, err
    assert took < 15, took  # not the daemon's 20 s
    assert "1 process the program started is still running" in err
    (daemon,) = meta_of(out)["exit"]["left_running"]
    assert psutil.pid_exists(daemon)
    os.kill(daemon, signal.SIGKILL)


def test_wait_children_waits_for_the_daemon_and_sigterm_ends_the_wait(tmp_path):
    out = tmp_path / "t"
    started = time.monotonic()
    argv = syscorr_cmd(
        "run", "-q", "--wait", "children", "-o", str(out), "--",
        sys.executable, str(APPS / "daemon.py"), "2",
    )  # fmt: skip
    proc, _, stderr = run_to_files(tmp_path, argv)
    proc.wait(timeout=60)
    assert proc.returncode == 5 and time.monotonic() - started >= 2, read(stderr)
    assert "+++ exited with 0 +++" in (out / "strace.log").read_text().splitlines()[-1]

    out2 = tmp_path / "t2"
    argv = syscorr_cmd(
        "run", "--wait", "children", "-o", str(out2), "--",
        sys.executable, str(APPS / "daemon.py"), "30",
    )  # fmt: skip
    waiting, stdout, stderr = run_to_files(tmp_path, argv, "waiting")
    deadline = time.monotonic() + 30
    while read(stdout) != b"main done\n" and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    waiting.send_signal(signal.SIGTERM)
    waiting.wait(timeout=20)
    assert waiting.returncode == 5, read(stderr)  # the program's status, not syscorr's death
    meta = meta_of(out2)
    assert meta["exit"]["interrupted_by"] == signal.SIGTERM
    for pid in meta["exit"]["left_running"]:
        os.kill(pid, signal.SIGKILL)


def test_timeout_stops_the_program_and_exits_124(tmp_path):
    out = tmp_path / "t"
    started = time.monotonic()
    ticker = str(APPS / "ticker.py")
    proc = run_syscorr("run", "--timeout", "1", "-o", str(out), "--", sys.executable, ticker, "200")
    assert proc.returncode == 124, proc.stderr
    assert time.monotonic() - started < 10
    assert b"timed out after 1 s" in proc.stderr
    meta = meta_of(out)
    assert meta["exit"]["timed_out"] is True and meta["exit"]["signal_name"] == "SIGTERM"
