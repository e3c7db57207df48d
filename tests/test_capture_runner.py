"""End-to-end: `syscorr run` with the real strace on real asyncio programs."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from syscorr.trace.agentlog import EventKind, read_agent_logs
from tests.conftest import APPS, run_syscorr, syscorr_cmd

pytestmark = pytest.mark.slow


def test_echo_run_writes_a_private_trace(tmp_path):
    out = tmp_path / "trace"
    proc = run_syscorr("run", "-o", str(out), str(APPS / "echo.py"))
    assert proc.returncode == 0, proc.stderr
    assert b"echoed 15/15" in proc.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "agent").stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "strace.log").stat().st_mode) == 0o600
    meta = json.loads((out / "meta.json").read_text())
    assert meta["exit"] == {
        "code": 0,
        "signal": None,
        "interrupted_by": None,
        "pid": meta["exit"]["pid"],
    }
    assert meta["backend"]["name"] == "strace"
    assert meta["clocks"]["end"]["realtime_ns"] > meta["clocks"]["start"]["realtime_ns"]
    log = (out / "strace.log").read_text()
    assert "epoll_wait(" in log and "<socket:[" in log  # -y: paths and socket inodes
    assert "<TCP:[" not in log  # not -yy: its cost grows with the square of open sockets
    assert "+++ exited with 0 +++" in log
    assert b"trace in" in proc.stderr and b"Traceback" not in proc.stderr


def test_default_location_and_latest_pointer(tmp_path):
    proc = run_syscorr("run", "-q", str(APPS / "seed.py"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    latest = tmp_path / ".syscorr" / "latest"
    assert latest.is_symlink() and (latest / "meta.json").exists()
    assert latest.resolve().name.endswith("-seed")
    assert stat.S_IMODE((tmp_path / ".syscorr").stat().st_mode) == 0o700


@pytest.mark.parametrize("arg, expected", [("0", 0), ("3", 3), ("SIGTERM", -signal.SIGTERM)])
def test_exit_status_passes_through(tmp_path, arg, expected):
    plain = subprocess.run([sys.executable, str(APPS / "exitcode.py"), arg], capture_output=True)
    traced = run_syscorr("run", "-q", "-o", str(tmp_path / "t"), str(APPS / "exitcode.py"), arg)
    assert plain.returncode == expected
    assert traced.returncode == expected, traced.stderr
    meta = json.loads((tmp_path / "t" / "meta.json").read_text())
    if expected < 0:
        assert meta["exit"]["signal"] == -expected and meta["exit"]["signal_name"] == "SIGTERM"
    else:
        assert meta["exit"]["code"] == expected


@pytest.mark.parametrize(
    "app, args",
    [
        ("seed.py", []),
        ("exitcode.py", ["3"]),
        ("to_thread.py", []),
        ("echo.py", ["--clients", "2"]),
    ],
)
def test_output_is_byte_identical(tmp_path, app, args):
    plain = subprocess.run([sys.executable, str(APPS / app), *args], capture_output=True)
    traced = run_syscorr("run", "-q", "-o", str(tmp_path / "t"), str(APPS / app), *args)
    assert (traced.stdout, traced.stderr, traced.returncode) == (
        plain.stdout,
        plain.stderr,
        plain.returncode,
    )


def test_sigint_to_syscorr_stops_target_and_leaves_a_trace(tmp_path):
    out = tmp_path / "t"
    proc = subprocess.Popen(
        syscorr_cmd("run", "-q", "-o", str(out), str(APPS / "wait.py")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline() == b"ready\n"
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    assert time.monotonic() - started < 10  # the target's 30 s sleep was interrupted
    assert stdout == b"cancelled\n"
    # asyncio.run turns the cancellation into KeyboardInterrupt: Python dies by SIGINT.
    assert proc.returncode == -signal.SIGINT, stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["exit"]["interrupted_by"] == signal.SIGINT
    assert meta["exit"]["signal"] == signal.SIGINT
    log = (out / "strace.log").read_text()
    assert "--- SIGINT {si_signo=SIGINT, si_code=SI_USER" in log  # forwarded exactly once
    from_outside = [
        ln for ln in log.splitlines() if "--- SIGINT" in ln and f"si_pid={ln.split()[0]}," not in ln
    ]  # Python re-raises it on itself
    assert len(from_outside) == 1, from_outside


def test_sigkill_of_target_is_passed_on(tmp_path):
    out = tmp_path / "t"
    proc = run_syscorr("run", "-q", "-o", str(out), str(APPS / "crash.py"), "50")
    assert proc.returncode == -signal.SIGKILL
    assert "+++ killed by SIGKILL +++" in (out / "strace.log").read_text()
    assert json.loads((out / "meta.json").read_text())["exit"]["signal_name"] == "SIGKILL"
    # every agent record written before the kill is still there
    (log,) = read_agent_logs(out / "agent")
    assert log.end is None  # no normal exit
    spin = [
        e
        for e in log.events
        if e.code in log.codes
        and log.codes[e.code].qualname == "spin"
        and e.kind in (EventKind.PY_RESUME, EventKind.PY_YIELD)
    ]
    assert len(spin) >= 2 * 50 * 2  # two tasks, 50 steps each, a resume and a yield per step


def test_agent_logs_from_every_python_process(tmp_path):
    out = tmp_path / "t"
    proc = run_syscorr("run", "-q", "-o", str(out), str(APPS / "spawn.py"))
    assert proc.returncode == 0, proc.stderr
    logs = sorted((out / "agent").glob("agent-*.bin"))
    assert len(logs) == 2  # parent and the child seed.py
    for log in logs:
        assert stat.S_IMODE(log.stat().st_mode) == 0o600


def _one_line_error(proc) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("syscorr: error: ")
    return lines[0]


def test_error_strace_missing(tmp_path, clean_env):
    env = dict(clean_env, PATH=str(tmp_path))  # no strace anywhere on PATH
    line = _one_line_error(run_syscorr("run", str(APPS / "seed.py"), env=env, cwd=tmp_path))
    assert "strace is not installed" in line and "apt-get install strace" in line


def test_error_ptrace_not_permitted(tmp_path):
    # Under an outer strace, the inner one cannot attach: a real ptrace refusal.
    proc = subprocess.run(
        [
            "strace",
            "-f",
            "-o",
            os.devnull,
            *syscorr_cmd("run", "-o", str(tmp_path / "t"), str(APPS / "seed.py")),
        ],
        capture_output=True,
        timeout=120,
    )
    line = _one_line_error(proc)
    assert "being traced" in line


def test_error_target_not_found(tmp_path):
    assert "target not found" in _one_line_error(run_syscorr("run", str(tmp_path / "nope.py")))
    line = _one_line_error(run_syscorr("run", "--", "no-such-command-xyz"))
    assert "not a command on PATH" in line


def test_error_target_python_too_old(tmp_path):
    fake = tmp_path / "python3.9"  # answers the version query as a Python 3.9 would
    fake.write_text("#!/bin/sh\necho 3.9.18\n")
    fake.chmod(0o755)
    line = _one_line_error(run_syscorr("run", "--", str(fake), "app.py"))
    assert "target Python is 3.9.18" in line and "3.12" in line


def test_error_trace_dir_not_writable(tmp_path):
    line = _one_line_error(run_syscorr("run", "-o", "/sys/syscorr-trace", str(APPS / "seed.py")))
    assert "cannot create trace directory" in line
    (tmp_path / "precious.txt").write_text("keep me")
    line = _one_line_error(run_syscorr("run", "-o", str(tmp_path), str(APPS / "seed.py")))
    assert "not empty" in line
    assert (tmp_path / "precious.txt").read_text() == "keep me"


INHERITS_A_SOCKET = """
import asyncio, socket
async def main():
    listener = socket.socket(fileno=3)  # passed by the parent, as socket activation does
    listener.setblocking(False)
    client = socket.create_connection(listener.getsockname())
    conn, _ = await asyncio.get_running_loop().sock_accept(listener)
    await asyncio.get_running_loop().sock_sendall(conn, b"hi")
    print(client.recv(10).decode())
asyncio.run(main())
"""


def test_an_inherited_socket_reaches_the_program_and_is_labelled(tmp_path):
    program = tmp_path / "inherits.py"
    program.write_text(INHERITS_A_SOCKET)
    listener = socket.create_server(("127.0.0.1", 0))
    port, fd = listener.getsockname()[1], listener.fileno()
    out = tmp_path / "t"
    argv = syscorr_cmd("run", "-q", "-o", str(out), "--", sys.executable, str(program))
    with listener:  # syscorr gets it as fd 3 (in the child only: pytest holds this one)
        proc = subprocess.run(
            argv, pass_fds=(3, fd), preexec_fn=lambda: os.dup2(fd, 3), capture_output=True,
            timeout=120,
        )  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, b"hi\n"), proc.stderr
    inherited = json.loads((out / "meta.json").read_text())["inherited_fds"]
    assert inherited["3"] == {"kind": "TCP", "local": f"127.0.0.1:{port}"}
    report = run_syscorr("report", "--format", "json", str(out))
    labels = {fd["label"] for fd in json.loads(report.stdout)["accounts"]["fds"]}
    assert any(label.startswith(f"TCP 127.0.0.1:{port}->127.0.0.1:") for label in labels), labels
