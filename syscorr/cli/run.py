"""`syscorr run`: run a program under the tracer with the agent inside it, and write a trace.

Contract: `run(...)` is the typer command (registered by syscorr.cli.app): it declares the
options (their help, defaults and checks) and hands them to `syscorr.cli.run_command.execute`,
which runs the target traced, prints the one-line summary on stderr (unless -q) and exits with
the target's own status (or dies by its signal). The usual command lines skip typer altogether
(syscorr/cli/run_fastpath.py parses them to the same `RunArgs`; a test holds the two alike).
"""

from pathlib import Path
from typing import Annotated

import typer

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
    from syscorr.cli.run_command import RunArgs, execute

    args = RunArgs(
        list(argv), output, syscalls, string_limit, seccomp, call_sites, wait, timeout,
        backend, ebpf_buffer_mb, quiet,
    )  # fmt: skip
    raise typer.Exit(execute(args))
