"""Record the syscalls of a process that is already running, for a while (`syscorr attach`).

Contract: `attach_traced(request)` checks the process exists and the eBPF backend works, creates
the private trace directory, runs the loader in attach mode (the process and the children it
forks, for `duration` seconds, until the process exits, or until Ctrl-C / SIGTERM stops it
early with the log complete), and writes meta.json (kind "attach"). The agent cannot be
injected into a running interpreter before Python 3.14 (`sys.remote_exec`); this version
records syscalls only, whatever the target's Python, and `AttachOutcome.agent_note` says why in
one sentence. The fds open at the start come from the loader's /proc scan.
"""

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

import syscorr
from syscorr import TRACE_FORMAT_VERSION
from syscorr.capture.backend import CaptureOptions
from syscorr.capture.ebpf import EbpfBackend
from syscorr.capture.runner import clock_pair
from syscorr.errors import TargetError
from syscorr.trace import directory

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@dataclass(frozen=True, slots=True)
class AttachRequest:
    pid: int
    duration: float
    options: CaptureOptions
    output: Path | None
    ring_mb: int = 16


@dataclass(frozen=True, slots=True)
class AttachOutcome:
    trace: directory.TraceDir
    meta: dict
    agent_note: str
    stopped_early: bool


def python_version_of(pid: int) -> tuple[int, int] | None:
    """The (major, minor) of the Python a process runs, or None when it is no Python."""
    try:
        exe = psutil.Process(pid).exe()
    except psutil.Error:
        return None
    if "python" not in Path(exe).name:
        return None
    try:
        out = subprocess.run([exe, "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=20)  # fmt: skip
        major, minor = (int(x) for x in out.stdout.split())
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return major, minor


def agent_note(version: tuple[int, int] | None) -> str:
    if version is None:
        return "syscalls only: the process is not a Python interpreter"
    shown = f"{version[0]}.{version[1]}"
    if version < (3, 14):
        return (
            f"syscalls only: the target runs Python {shown}, and the agent can be injected into "
            "a running interpreter only from Python 3.14 on (sys.remote_exec); for task "
            "attribution start it with `syscorr run`"
        )
    return (
        f"syscalls only: injecting the agent with sys.remote_exec (Python {shown}) is not "
        "supported by this syscorr yet; for task attribution start it with `syscorr run`"
    )


def attach_traced(request: AttachRequest) -> AttachOutcome:
    try:
        proc = psutil.Process(request.pid)
        cmdline = proc.cmdline()
    except psutil.NoSuchProcess:
        raise TargetError(f"no process {request.pid} (see `ps` for its pid)") from None
    except psutil.Error as e:
        raise TargetError(f"cannot inspect process {request.pid}: {e}") from e
    if request.pid == os.getpid():
        raise TargetError("syscorr cannot attach to itself")
    backend = EbpfBackend(ring_mb=request.ring_mb)
    backend.check_available()
    version = python_version_of(request.pid)
    note = agent_note(version)
    trace = directory.create(request.output, name=Path(cmdline[0]).name if cmdline else "pid")
    log_path = trace.path / backend.log_name
    argv = backend.attach_command(request.pid, request.duration, log_path, request.options)
    meta = {
        "format_version": TRACE_FORMAT_VERSION,
        "syscorr_version": syscorr.__version__,
        "kind": "attach",
        "command": cmdline,
        "cwd": os.getcwd(),
        "target_python": f"{version[0]}.{version[1]}" if version else None,
        "attach": {"pid": request.pid, "duration_s": request.duration, "agent": note},
        "backend": {
            "name": backend.name,
            "version": backend.version(),
            "argv": argv,
            "clock": backend.clock,
            "log_format": backend.log_format,
        },
        "syscall_set": {
            "name": request.options.syscall_set_name,
            "syscalls": list(request.options.syscalls) if request.options.syscalls else None,
        },
        "syscall_logs": [log_path.name],
        "agent": None,
        "clocks": {"start": clock_pair()},
        "exit": None,
    }
    trace.write_meta(meta)
    os.close(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    stopped_early = False
    try:
        loader = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        while loader.poll() is None:
            info = signal.sigtimedwait(STOP_SIGNALS, 0.1)
            if info is not None:
                stopped_early = True
                loader.send_signal(signal.SIGINT)  # the loader stops and writes its counters
        loader.wait()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    meta["clocks"]["end"] = clock_pair()
    meta["backend"].update(backend.after_run(log_path))
    meta["exit"] = {"code": None, "signal": None, "interrupted_by": None,
                    "stopped_early": stopped_early, "loader_status": loader.returncode}  # fmt: skip
    trace.write_meta(meta)
    return AttachOutcome(trace, meta, note, stopped_early)
