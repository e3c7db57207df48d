"""What the runner needs from a syscall tracer: the Backend protocol.

Contract: a backend checks that it can run here (raising `TracerUnavailable` with the reason
and the fix), reports its version, builds the tracer's argv for a target argv (the tracer
writes its raw log(s) into the trace directory and starts the target itself), names the clock
its timestamps use ("realtime" or "monotonic": the agent stamps with the same one), and names
the parser `syscorr report` must use for its logs ("strace", "dtruss", ...).
The runner never looks inside a backend; new tracers (eBPF, dtruss) implement this protocol.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CaptureOptions:
    """What the user asked the tracer to record."""

    syscalls: tuple[str, ...] | None  # None = every syscall
    syscall_set_name: str  # "asyncio", "all", or "custom"
    string_limit: int  # bytes of each string argument to keep
    seccomp: bool  # ask the kernel to stop only on traced syscalls, where supported


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
