"""What the runner needs from a syscall tracer: the Backend protocol, and its defaults.

Contract: a backend checks that it can run here (raising `TracerUnavailable` with the reason
and the fix), reports its version, builds the tracer's argv for a target argv (the tracer
writes its raw log(s) into the trace directory and starts the target itself) and the variables
the tracer's own environment needs (`tracer_env`: the target must not see them), creates the
files it writes (`prepare`: private, and writable on a full disk where it matters), names the
clock its timestamps use ("realtime" or "monotonic": the agent stamps with the same one), the
parser `syscorr report` must use for its logs ("strace", "ebpf", "dtruss") and the log's file
name in the trace directory, and after the run reports what it counted (`after_run`: lost
events, its own clock pairs) for meta.json's backend block. A tracer that starts the target
itself must start it stopped and release it only once tracing is armed (strace does by design;
the eBPF loader blocks the forked child on a pipe until its programs are attached).
While the tracer runs, the runner (capture/supervise.py) asks the backend which of the
tracer's children is the program (`program_of`), which processes it still traces
(`traced_processes`), how a traced process ended (`exit_of`, from
the log; `reports_exits` says whether the log records every process's end, so that a missing
one means the tracer died first), whether a signal from a given sender was delivered to a
process (`delivered`), and what was lost writing the log (`capture_account`: a full disk).
Each answers None / False when it cannot tell, and reads a bounded part of the log.
`TracerDefaults` holds those answers for a backend whose log tells none of it (it subclasses it
and overrides what it can do better). The runner never looks inside a backend; strace
(capture/strace.py), eBPF (capture/ebpf/) and dtrace (capture/dtrace/) implement this protocol.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:  # psutil loads when a backend first asks about processes
    import psutil


@dataclass(frozen=True, slots=True)
class CaptureOptions:
    """What the user asked the tracer to record."""

    syscalls: tuple[str, ...] | None  # None = every syscall
    syscall_set_name: str  # "asyncio", "all", or "custom"
    string_limit: int  # bytes of each string argument to keep
    seccomp: bool  # ask the kernel to stop only on traced syscalls, where supported


class ExitStatus(NamedTuple):
    """How a process ended: an exit code, or the signal that killed it."""

    code: int | None
    signal: int | None


class Backend(Protocol):
    name: str
    clock: str  # "realtime" | "monotonic"
    log_format: str  # which parser reads its logs
    log_name: str  # the raw log's file name in the trace directory
    reports_exits: bool  # the log records how every traced process ended

    def check_available(self) -> None:
        """Raise TracerUnavailable when this tracer cannot trace a child process here."""

    def version(self) -> str: ...

    def command(self, target: list[str], log_path: Path, options: CaptureOptions) -> list[str]:
        """The tracer's argv that runs `target` and writes its log to `log_path`."""
        ...

    def prepare(self, log_path: Path) -> None:
        """Create the log and whatever else the tracer writes, private (0600): payloads."""
        ...

    def tracer_env(self, log_path: Path) -> dict[str, str]:
        """Variables for the tracer's own environment (kept from the target by `command`)."""
        ...

    def program_of(self, tracer_pid: int) -> int | None:
        """The pid of the program the tracer started, once it has exec'd; None before."""
        ...

    def traced_processes(self, tracer_pid: int) -> list[int]:
        """The processes the tracer still traces (the program's, wherever reparented)."""
        ...

    def exit_of(self, log_path: Path, pid: int) -> ExitStatus | None:
        """How traced process `pid` ended, from the log; None while it is not written."""
        ...

    def delivered(self, log_path: Path, pid: int, signo: int, sender: int) -> bool:
        """Does the log's recent end show `signo` from `sender` delivered to `pid`?"""
        ...

    def capture_account(self, log_path: Path) -> dict | None:
        """What writing the log lost (`failed`, `lost_bytes`, `lost_lines`, ...), or None."""
        ...

    def after_run(self, log_path: Path) -> dict:
        """What the tracer counted during the run (merged into meta.json's backend block)."""
        ...


class TracerDefaults:
    """The protocol's answers for a tracer whose log tells nothing of exits or signals."""

    reports_exits = False

    def prepare(self, log_path: Path) -> None:
        os.close(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))

    def tracer_env(self, log_path: Path) -> dict[str, str]:
        return {}

    def program_of(self, tracer_pid: int) -> int | None:
        """The tracer's child that runs another executable than the tracer (exec'd). Read
        from /proc where it lists a process's children (it is asked at each wait step until
        the program has started: psutil would scan every process each time)."""
        children = proc_children(tracer_pid)
        if children is not None:
            tracer_exe = proc_exe(tracer_pid)
            if tracer_exe is None:
                return None
            for child in children:
                if proc_exe(child) not in (None, tracer_exe):
                    return child
            return None
        import psutil

        try:
            tracer = psutil.Process(tracer_pid)
            children, tracer_exe = tracer.children(), tracer.exe()
        except psutil.Error:
            return None
        for child in children:
            if _exe(child) not in (None, tracer_exe):
                return child.pid
        return None

    def traced_processes(self, tracer_pid: int) -> list[int]:
        """The tracer's descendants (a tracer that is a child subreaper keeps orphans)."""
        import psutil

        try:
            return sorted(p.pid for p in psutil.Process(tracer_pid).children(recursive=True))
        except psutil.Error:
            return []

    def exit_of(self, log_path: Path, pid: int) -> ExitStatus | None:
        return None

    def delivered(self, log_path: Path, pid: int, signo: int, sender: int) -> bool:
        return False

    def capture_account(self, log_path: Path) -> dict | None:
        return None

    def after_run(self, log_path: Path) -> dict:
        return {}


def _exe(process: "psutil.Process") -> str | None:
    import psutil

    try:
        return process.exe()
    except psutil.Error:
        return None


def proc_children(pid: int) -> list[int] | None:
    """The children of process `pid` (of its main thread) as Linux's /proc lists them; None
    where it does not (another system, no CONFIG_PROC_CHILDREN) or `pid` is gone."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as f:
            return [int(word) for word in f.read().split()]
    except (OSError, ValueError):
        return None


def proc_exe(pid: int) -> str | None:
    """The executable process `pid` runs (Linux /proc), None when it cannot be read."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
