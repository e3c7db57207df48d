"""`syscorr run`: run a program under the tracer with the agent inside it, and write a trace.

Contract: `run(...)` is the typer command (registered by syscorr.cli.app). It resolves the
syscall set, hands a `RunRequest` to `syscorr.capture.runner`, prints the one-line summary on
stderr (unless -q) and exits with the target's own status (or dies by its signal).
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from syscorr.cli.common import fail
from syscorr.errors import SyscorrError, UsageError

HELP = """Run a program under a syscall tracer with the syscorr agent inside it, and write a trace.

\b
Examples:
  syscorr run app.py --port 8080          a script, with this Python (3.12+)
  syscorr run -- python3.13 -m mypkg serve
  syscorr run -o trace1 -- pytest tests/
  sudo syscorr run --backend ebpf app.py  in-kernel recording: far cheaper than strace

Backends: strace (any user; stops the program at each recorded syscall) and ebpf (root or
CAP_BPF+CAP_PERFMON, kernel BTF; records in the kernel: the recorder itself costs ~1.1-1.3x on
a syscall-heavy program where strace costs 3-5x). `auto` takes ebpf when it works here; the
summary after the run says which it took and why ($SYSCORR_BACKEND sets the default).

The trace goes to .syscorr/<time>-<name>/ (or -o DIR), private to you (mode 0700): it holds
the raw syscall log, one agent log per Python process and meta.json. The program's output,
exit code and signals are its own; syscorr's one-line summary goes to stderr afterwards.

\b
Signals: Ctrl-C and Ctrl-\\ reach the program as without syscorr;
SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to syscorr, to its process
group or by timeout(1) reach the program once.
Exit status: the program's own (syscorr dies by the program's signal);
124 after --timeout; 2 when syscorr or the tracer failed (if strace
dies, the trace is cut short and says so).
"""

CONTEXT = {"allow_interspersed_args": False, "ignore_unknown_options": True}


def run(
    argv: Annotated[
        list[str],
        typer.Argument(help="The script and its arguments, or -- CMD ARGS.", metavar="CMD"),
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="DIR", help="Write the trace here (new or empty)."),
    ] = None,
    syscalls: Annotated[
        str,
        typer.Option(
            "--syscalls",
            "-e",
            metavar="SET",
            help="What to record: asyncio (loop, sockets, pipes, files, timers, processes), "
            "network, all, or a list like epoll_wait,sendto,recvfrom.",
        ),
    ] = "asyncio",
    string_limit: Annotated[
        int,
        typer.Option(
            "-s",
            "--string-limit",
            min=0,
            max=1 << 20,
            metavar="N",
            help="Bytes of payload to keep per call.",
        ),
    ] = 256,
    seccomp: Annotated[
        bool,
        typer.Option(help="Let the kernel stop the program only on recorded syscalls (faster)."),
    ] = True,
    call_sites: Annotated[
        bool,
        typer.Option(
            help="Record the line of each call in coroutine bodies (finds the blocking line)."
        ),
    ] = True,
    wait: Annotated[
        str,
        typer.Option(
            "--wait",
            metavar="main|children",
            help="Return when the program ends (main: processes it started and left running "
            "are named, and stay traced until they end) or when every process it started has "
            "ended too (children). Ctrl-C or SIGTERM always stops the wait.",
        ),
    ] = "main",
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0.001,
            metavar="SECONDS",
            help="After SECONDS, send the program SIGTERM (SIGKILL 5 s later) and exit 124, "
            "as timeout(1) does; with --wait children, every traced process.",
        ),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            "-b",
            metavar="NAME",
            envvar="SYSCORR_BACKEND",
            help="Syscall tracer: auto (ebpf when permitted and working, else strace), "
            "strace, ebpf, or dtrace (macOS).",
        ),
    ] = "auto",
    ebpf_buffer_mb: Annotated[
        int,
        typer.Option(
            "--ebpf-buffer-mb",
            min=1,
            max=1024,
            metavar="MB",
            help="eBPF ring buffer size (a power of two); records that do not fit are counted "
            "as lost.",
        ),
    ] = 16,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="No summary line on stderr after the run.")
    ] = False,
) -> None:
    from syscorr.capture import runner, syscall_sets
    from syscorr.capture.backend import CaptureOptions
    from syscorr.capture.ebpf import DATA_MAX, EbpfBackend, choose
    from syscorr.capture.supervise import WaitPolicy

    try:
        if wait not in ("main", "children"):
            raise UsageError(f"--wait {wait!r}: use main (the default) or children")
        set_name, names = syscall_sets.resolve(syscalls)
        options = CaptureOptions(names, set_name, string_limit, seccomp)
        if ebpf_buffer_mb & (ebpf_buffer_mb - 1):
            raise UsageError(f"--ebpf-buffer-mb {ebpf_buffer_mb}: give a power of two (8, 16, 64)")
        tracer, why = choose(backend)
        if isinstance(tracer, EbpfBackend):
            tracer.ring_mb = ebpf_buffer_mb
            if string_limit > DATA_MAX:
                print(f"syscorr: note: the eBPF backend keeps at most {DATA_MAX} bytes per call "
                      f"(-s {string_limit} asked for more)", file=sys.stderr)  # fmt: skip
        request = runner.RunRequest(
            list(argv), tracer, options, output, call_sites, WaitPolicy(wait, timeout), why
        )
        outcome = runner.run_traced(request)
    except SyscorrError as err:
        fail(err)
    if not quiet:
        from syscorr.capture.summary import describe_outcome

        print(describe_outcome(outcome), file=sys.stderr)
    raise typer.Exit(runner.pass_exit_status(outcome))
