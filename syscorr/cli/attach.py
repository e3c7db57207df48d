"""`syscorr attach PID --duration S`: the syscalls of a running process, for S seconds.

Contract: `attach(...)` is the typer command (registered by syscorr.cli.app) over
`syscorr.capture.ebpf.attach.attach_traced`: it says on stderr what it records (and, when the
agent cannot be injected, that the trace holds syscalls only and why), then the one-line
account of the trace; every `SyscorrError` becomes one line (exit 2).
"""

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from syscorr.cli.common import fail
from syscorr.errors import SyscorrError, UsageError
from syscorr.report.safe import safe

HELP = """Record the syscalls of a running process for a while (eBPF backend: root).

\b
Examples:
  sudo syscorr attach 4242 --duration 10
  sudo syscorr attach $(pgrep -f 'uvicorn app:app') -d 30 -o slow-requests

The process and the children it forks are recorded until the time is up, the process exits,
or you press Ctrl-C. It keeps running untouched. Task attribution needs the agent inside the
interpreter, which only `syscorr run` can put there before Python 3.14: an attached trace
shows threads, sockets, loop iterations and every syscall, without tasks.
"""


def attach(
    pid: Annotated[int, typer.Argument(help="The process to record.", metavar="PID")],
    duration: Annotated[
        float,
        typer.Option("--duration", "-d", min=0.1, metavar="S", help="Seconds to record."),
    ] = 10.0,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="DIR", help="Write the trace here (new or empty)."),
    ] = None,
    syscalls: Annotated[
        str,
        typer.Option("--syscalls", "-e", metavar="SET", help="asyncio, network, all, or a list."),
    ] = "asyncio",
    string_limit: Annotated[
        int,
        typer.Option("-s", "--string-limit", min=0, max=8192, metavar="N",
                     help="Bytes of payload to keep per call."),
    ] = 256,
    ebpf_buffer_mb: Annotated[
        int,
        typer.Option("--ebpf-buffer-mb", min=1, max=1024, metavar="MB",
                     help="Ring buffer size (a power of two)."),
    ] = 16,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing but errors.")] = False,
) -> None:  # fmt: skip
    from syscorr.capture import syscall_sets
    from syscorr.capture.backend import CaptureOptions
    from syscorr.capture.ebpf.attach import AttachRequest, attach_traced

    try:
        if ebpf_buffer_mb & (ebpf_buffer_mb - 1):
            raise UsageError(f"--ebpf-buffer-mb {ebpf_buffer_mb}: give a power of two (8, 16, 64)")
        set_name, names = syscall_sets.resolve(syscalls)
        options = CaptureOptions(names, set_name, string_limit, False)
        if not quiet:
            print(f"syscorr: recording pid {pid} for {duration:g} s (Ctrl-C stops sooner)",
                  file=sys.stderr)  # fmt: skip
        outcome = attach_traced(AttachRequest(pid, duration, options, output, ebpf_buffer_mb))
    except SyscorrError as err:
        fail(err)
    if not quiet:
        backend = outcome.meta["backend"]
        where = str(outcome.trace.path)
        for note in outcome.notes:
            print(f"syscorr: {safe(note)}", file=sys.stderr)
        print(f"syscorr: {outcome.agent_note}", file=sys.stderr)
        print(
            f"syscorr: trace in {where} ({sum(backend.get('written_per_cpu') or [])} syscall "
            f"records, {backend.get('lost')} lost); see `syscorr report {shlex.quote(where)}`",
            file=sys.stderr,
        )
