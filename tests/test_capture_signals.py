"""End-to-end: signals reach the traced program as they reach it untraced, once.

Every case runs the real `syscorr run` (real strace) and the same program untraced, and
compares how many SIGINTs the program counted (fixtures/apps/count_sigint.py). Terminal cases run
on a real pty with a minimal shell: the job is the terminal's foreground process group, as an
interactive shell makes it ("leader"), or syscorr shares the group of a parent script that
ignores SIGINT ("shared").
"""

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import APPS, syscorr_cmd

pytestmark = pytest.mark.slow

COUNT = str(APPS / "count_sigint.py")


def program(traced: bool, tmp_path, *args: str) -> list[str]:
    if traced:
        out = str(tmp_path / "t")
        return syscorr_cmd("run", "-q", "-o", out, "--", sys.executable, COUNT, *args)
    return [sys.executable, COUNT, *args]


def last_line(out: bytes) -> str:
    return [ln for ln in out.decode(errors="replace").splitlines() if ln.strip()][-1]


def run_and_signal(argv: list[str], how: str) -> tuple[str, int]:
    """Start argv in a session of its own (no terminal), then signal it as `how` says."""
    if how == "timeout":
        argv = ["timeout", "-s", "INT", "2", *argv]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout.readline() == b"ready\n"
    time.sleep(0.3)  # the program waits in its loop: each signal is handled as it comes
    if how == "pid":
        os.kill(proc.pid, signal.SIGINT)
    elif how == "group":
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err, err
    return last_line(out), proc.returncode


@pytest.mark.parametrize("how", ["pid", "group", "timeout"])
def test_a_signal_to_syscorr_or_its_group_reaches_the_program_once(tmp_path, how):
    plain = run_and_signal(program(False, tmp_path), how)
    traced = run_and_signal(program(True, tmp_path), how)
    assert plain[0] == "got 1 SIGINT, read ''"
    assert traced == plain


def in_terminal(argv: list[str], keys: list[bytes], leader: bool = True) -> str:
    """Run argv as the foreground job of a shell-like session on a new pty; after `ready`, type
    each of `keys` (0.3 s apart; after a Ctrl-Z, the shell's `fg` comes first). Returns what
    the terminal showed, with the shell's notes in brackets."""
    pid, master = pty.fork()
    if pid == 0:  # the "shell": session leader, owns the terminal
        try:
            signal.signal(signal.SIGTTOU, signal.SIG_IGN)
            if not leader:  # a script in the foreground that runs syscorr in its own group
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            job = os.fork()
            if job == 0:
                if leader:
                    os.setpgid(0, 0)
                    os.tcsetpgrp(0, os.getpgrp())
                signal.signal(signal.SIGTTOU, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.execvp(argv[0], argv)
            if leader:
                try:
                    os.setpgid(job, job)
                except OSError:
                    pass
                os.tcsetpgrp(0, job)
            while True:
                _, status = os.waitpid(job, os.WUNTRACED)
                if not os.WIFSTOPPED(status):
                    break
                os.tcsetpgrp(0, os.getpgrp())
                os.write(1, b"[stopped]\r\n")
                time.sleep(0.5)
                os.write(1, b"[fg]\r\n")
                os.tcsetpgrp(0, os.getpgid(job))
                os.killpg(os.getpgid(job), signal.SIGCONT)
            os.write(1, f"[exit {os.waitstatus_to_exitcode(status)}]\r\n".encode())
        finally:
            os._exit(0)
    out, pending, last = b"", list(keys), None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
        if pending and b"ready" in out and (last != b"\x1a" or b"[fg]" in out):
            time.sleep(0.3)
            last = pending.pop(0)
            os.write(master, last)
    os.waitpid(pid, 0)
    os.close(master)
    return out.decode(errors="replace").replace("\r\n", "\n")


@pytest.mark.parametrize("leader", [True, False], ids=["shell-job", "shared-group"])
def test_ctrl_c_in_a_terminal_reaches_the_program_once(tmp_path, leader):
    plain = in_terminal(program(False, tmp_path), [b"\x03"], leader)
    traced = in_terminal(program(True, tmp_path), [b"\x03"], leader)
    assert "got 1 SIGINT, read ''" in plain
    assert "got 1 SIGINT, read ''" in traced, traced
    assert "strace:" not in traced and "Traceback" not in traced


@pytest.mark.parametrize("leader", [True, False], ids=["shell-job", "shared-group"])
def test_the_program_reads_the_terminal(tmp_path, leader):
    traced = in_terminal(program(True, tmp_path, "--read"), [b"hello\n"], leader)
    assert "got 0 SIGINT, read 'hello'" in traced, traced
    assert "[exit 0]" in traced


def test_ctrl_z_stops_the_job_and_fg_continues_it(tmp_path):
    traced = in_terminal(program(True, tmp_path), [b"\x1a", b"\x03"])
    assert traced.index("[stopped]") < traced.index("[fg]") < traced.index("got 1 SIGINT")
    assert "[exit 0]" in traced, traced


def test_the_program_inherits_the_signal_mask_syscorr_was_given(tmp_path):
    """syscorr blocks the signals it waits for (SIGINT..., SIGCHLD) while the job runs; the
    program gets the mask syscorr itself started with, a signal blocked by syscorr's parent
    included, as it would without syscorr."""
    probe = "import signal; print(sorted(map(int, signal.pthread_sigmask(signal.SIG_BLOCK, []))))"
    parent = (
        "import signal, subprocess, sys\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])\n"
        "sys.exit(subprocess.run(sys.argv[1:]).returncode)\n"
    )
    plain = [sys.executable, "-c", probe]
    traced = syscorr_cmd("run", "-q", "-o", str(tmp_path / "t"), "--", *plain)
    for argv in (plain, traced):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "[]", (argv, out.stderr)
    (tmp_path / "t").rename(tmp_path / "t0")
    for argv in (plain, traced):
        out = subprocess.run([sys.executable, "-c", parent, *argv], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        assert out.stdout.strip() == f"[{int(signal.SIGUSR2)}]", (argv, out.stderr)
