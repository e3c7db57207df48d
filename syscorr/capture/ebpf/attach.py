"""Record the syscalls of a process that is already running, for a while (`syscorr attach`).

Contract: `attach_traced(request)` resolves what to record (a thread's id names its process,
said in `AttachOutcome.notes`; a kernel thread, an exited process not yet reaped, and syscorr
itself are refused with a `TargetError` saying why), checks the eBPF backend works, creates the
private trace directory, runs the loader in attach mode (the process and the children it
forks, for `duration` seconds, until the process exits, or until Ctrl-C / SIGTERM stops it
early with the log complete), and writes meta.json (kind "attach"). When the process exits
first, its exit (code or signal, from its exit record) goes into meta.json's `exit` and a note
says it ended the recording; a loader that fails raises `TargetError` with its one line. The
agent cannot be injected into a running interpreter before Python 3.14 (`sys.remote_exec`);
this version records syscalls only, whatever the target's Python, and
`AttachOutcome.agent_note` says why in one sentence. The fds open at the start come from the
loader's /proc scan.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
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
PF_KTHREAD = 0x00200000  # /proc/PID/stat flags: a kernel thread


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
    notes: tuple[str, ...] = ()  # what to tell: a thread's process taken, the target's exit


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


def resolve_target(pid: int) -> tuple[int, str | None]:
    """(the process to record, a note when `pid` is one of its threads); TargetError for a pid
    that names nothing to record."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        raise TargetError(f"no process {pid} (see `ps` for its pid)") from None
    except OSError as e:
        raise TargetError(f"cannot inspect process {pid}: {e.strerror}") from e
    fields = stat.rpartition(")")[2].split()
    name = _status_field(status, "Name") or "?"
    if len(fields) > 6 and int(fields[6]) & PF_KTHREAD:
        raise TargetError(
            f"{pid} is a kernel thread ({name}): it makes no syscalls to record; give the pid "
            "of a user process (see `ps -o pid,cmd`)"
        )
    tgid = int(_status_field(status, "Tgid") or pid)
    if tgid == os.getpid():
        raise TargetError("syscorr cannot attach to itself")
    try:
        leader = Path(f"/proc/{tgid}/status").read_text()
    except OSError:
        raise TargetError(f"no process {pid} (see `ps` for its pid)") from None
    zombie = _status_field(leader, "State", "").startswith("Z")
    if zombie and _status_field(leader, "Threads") == "1":
        raise TargetError(
            f"process {tgid} has exited already (a zombie its parent has not reaped): nothing "
            "to record"
        )
    if tgid != pid:
        return tgid, f"{pid} is a thread of process {tgid}: recording the process, all its threads"
    return tgid, None


def _status_field(status: str, key: str, default: str | None = None) -> str | None:
    match = re.search(rf"^{key}:\s*(.*)$", status, re.M)
    return match.group(1).strip() if match else default


def target_exit_note(pid: int, target_exit: dict, armed_ns: int | None) -> tuple[str, dict]:
    """(the sentence, meta.json's exit fields) for a target that exited while recorded."""
    status = int(target_exit.get("status", 0)) & 0xFFFF
    when = ""
    if isinstance(armed_ns, int) and isinstance(target_exit.get("monotonic_ns"), int):
        when = f" {(target_exit['monotonic_ns'] - armed_ns) / 1e9:.1f} s into the recording"
    if status & 0x7F:
        sig = status & 0x7F
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return (f"process {pid} was killed by {name}{when}; that ended the recording",
                {"code": None, "signal": sig, "signal_name": name})  # fmt: skip
    code = status >> 8
    return (f"process {pid} exited with {code}{when}; that ended the recording",
            {"code": code, "signal": None})  # fmt: skip


def attach_traced(request: AttachRequest) -> AttachOutcome:
    pid, thread_note = resolve_target(request.pid)
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.NoSuchProcess:
        raise TargetError(f"no process {request.pid} (see `ps` for its pid)") from None
    except psutil.Error as e:
        raise TargetError(f"cannot inspect process {pid}: {e}") from e
    backend = EbpfBackend(ring_mb=request.ring_mb)
    backend.check_available()
    version = python_version_of(pid)
    note = agent_note(version)
    trace = directory.create(request.output, name=Path(cmdline[0]).name if cmdline else "pid")
    log_path = trace.path / backend.log_name
    argv = backend.attach_command(pid, request.duration, log_path, request.options)
    meta = {
        "format_version": TRACE_FORMAT_VERSION,
        "syscorr_version": syscorr.__version__,
        "kind": "attach",
        "command": cmdline,
        "cwd": os.getcwd(),
        "target_python": f"{version[0]}.{version[1]}" if version else None,
        "attach": {"pid": pid, "duration_s": request.duration, "agent": note},
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
    errors = tempfile.TemporaryFile()
    try:
        loader = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=errors)
        while loader.poll() is None:
            info = signal.sigtimedwait(STOP_SIGNALS, 0.1)
            if info is not None:
                stopped_early = True
                loader.send_signal(signal.SIGINT)  # the loader stops and writes its counters
        loader.wait()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    errors.seek(0)
    said = errors.read(1 << 16).decode("utf-8", "replace")
    errors.close()
    meta["clocks"]["end"] = clock_pair()
    counted = backend.after_run(log_path)
    target_exit = counted.pop("target_exit", None)
    meta["backend"].update(counted)
    meta["exit"] = {"code": None, "signal": None, "interrupted_by": None,
                    "stopped_early": stopped_early, "loader_status": loader.returncode}  # fmt: skip
    notes = [thread_note] if thread_note else []
    if isinstance(target_exit, dict):
        armed = ((counted.get("clocks") or {}).get("armed") or {}).get("monotonic_ns")
        sentence, fields = target_exit_note(pid, target_exit, armed)
        meta["exit"].update(fields, pid=pid, target_exited=True)
        notes.append(sentence)
    trace.write_meta(meta)
    if loader.returncode != 0:
        line = next((ln for ln in said.splitlines() if ln.startswith("syscorr-ebpf: ")), None)
        line = (line or next((ln for ln in said.splitlines() if ln.strip()), "")).strip()
        why = f": {line.removeprefix('syscorr-ebpf: ')[:300]}" if line else ""
        raise TargetError(f"recording process {pid} failed (loader exit {loader.returncode}{why})")
    if said.strip():
        sys.stderr.write(said)  # SYSCORR_EBPF_DEBUG's libbpf messages
    return AttachOutcome(trace, meta, note, stopped_early, tuple(notes))
