"""What the runner needs from a syscall tracer: the Backend protocol.

Contract: a backend checks that it can run here (raising `TracerUnavailable` with the reason
and the fix), reports its version, builds the tracer's argv for a target argv (the tracer
writes its raw log(s) into the trace directory and starts the target itself), names the clock
its timestamps use ("realtime" or "monotonic": the agent stamps with the same one), names the
parser `syscorr report` must use for its logs ("strace", "ebpf", "dtruss") and the log's file
name in the trace directory, and after the run reports what it counted (`after_run`: lost
events, its own clock pairs) for meta.json's backend block. A tracer that starts the target
itself must start it stopped and release it only once tracing is armed (strace does by design;
the eBPF loader blocks the forked child on a pipe until its programs are attached).
The runner never looks inside a backend; strace (capture/strace.py) and eBPF
(capture/ebpf/) implement this protocol.
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
    log_name: str  # the raw log's file name in the trace directory

    def check_available(self) -> None:
        """Raise TracerUnavailable when this tracer cannot trace a child process here."""

    def version(self) -> str: ...

    def command(self, target: list[str], log_path: Path, options: CaptureOptions) -> list[str]:
        """The tracer's argv that runs `target` and writes its log to `log_path`."""
        ...

    def after_run(self, log_path: Path) -> dict:
        """What the tracer counted during the run (merged into meta.json's backend block)."""
        ...
