"""What the runner needs from a syscall tracer: the Backend protocol.

Contract: a backend checks that it can run here (raising `TracerUnavailable` with the reason
and the fix), reports its version, builds the tracer's argv for a target argv (the tracer
writes its raw log(s) into the trace directory and starts the target itself) and the variables
the tracer's own environment needs (`tracer_env`: the target must not see them), creates the
files it writes (`prepare`: private, and writable on a full disk where it matters), names the clock
its timestamps use ("realtime" or "monotonic": the agent stamps with the same one), and names
the parser `syscorr report` must use for its logs ("strace", "dtruss", ...).
While and after the tracer runs, the runner asks the backend about its log: how a traced
process ended (`exit_of`), whether a signal from a given sender was delivered to a process
(`delivered`), and what was lost writing the log (`capture_account`: a full disk). Each answers
None / False when its log cannot tell, and reads a bounded part of the log.
The runner never looks inside a backend; new tracers (eBPF, dtruss) implement this protocol.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol


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

    def exit_of(self, log_path: Path, pid: int) -> ExitStatus | None:
        """How traced process `pid` ended, from the log; None while it is not written."""
        ...

    def delivered(self, log_path: Path, pid: int, signo: int, sender: int) -> bool:
        """Does the log's recent end show `signo` from `sender` delivered to `pid`?"""
        ...

    def capture_account(self, log_path: Path) -> dict | None:
        """What writing the log lost (`failed`, `lost_bytes`, `lost_lines`, ...), or None."""
        ...
