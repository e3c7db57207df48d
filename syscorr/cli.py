"""The `syscorr` command line: thin wrappers that parse options, call the library, and turn
`SyscorrError` into one line on stderr (exit 2). No logic lives here that a test would want
to call without a terminal.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from syscorr import __version__
from syscorr.errors import SyscorrError

app = typer.Typer(
    name="syscorr",
    help=(
        "See what an asyncio program actually does: every syscall (strace) and every coroutine "
        "step (sys.monitoring) on one timeline.\n\n"
        "Start with `syscorr run app.py`, then `syscorr report` or `syscorr explain`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

RUN_HELP = """Run a program under strace with the syscorr agent inside it, and write a trace.

\b
Examples:
  syscorr run app.py --port 8080          a script, with this Python (3.12+)
  syscorr run -- python3.13 -m mypkg serve
  syscorr run -o trace1 -- pytest tests/

The trace goes to .syscorr/<time>-<name>/ (or -o DIR), private to you (mode 0700): it holds
the raw strace log, one agent log per Python process and meta.json. The program's output,
exit code and signals are its own; syscorr's one-line summary goes to stderr afterwards.
"""


def _fail(err: SyscorrError) -> None:
    print(f"syscorr: error: {err}", file=sys.stderr)
    raise typer.Exit(err.exit_code)


def _version_callback(value: bool) -> None:
    if value:
        print(f"syscorr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    pass


@app.command(
    help=RUN_HELP,
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
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
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="No summary line on stderr after the run.")
    ] = False,
) -> None:
    from syscorr.capture import runner, syscall_sets
    from syscorr.capture.backend import CaptureOptions
    from syscorr.capture.strace import StraceBackend

    try:
        set_name, names = syscall_sets.resolve(syscalls)
        options = CaptureOptions(names, set_name, string_limit, seccomp)
        outcome = runner.run_traced(
            runner.RunRequest(list(argv), StraceBackend(), options, output, call_sites)
        )
    except SyscorrError as err:
        _fail(err)
    if not quiet:
        from syscorr.capture.summary import describe_outcome

        print(describe_outcome(outcome), file=sys.stderr)
    raise typer.Exit(runner.pass_exit_status(outcome))


REPORT_HELP = """Summarise a trace: findings first, then loop health, tasks, sockets, threads.

\b
Examples:
  syscorr report                        the latest trace (.syscorr/latest)
  syscorr report trace1 --timeline --task fetcher
  syscorr report --format json -o model.json
"""


@app.command(help=REPORT_HELP)
def report(
    trace: Annotated[
        str | None, typer.Argument(help="Trace directory (default: latest).", metavar="TRACE")
    ] = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="text, json (versioned schema), html (one offline file), perfetto (JSON for "
            "ui.perfetto.dev) or perfetto-proto. --pid/--task/--since/--until also cut exports.",
        ),
    ] = "text",
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="FILE", help="Write to this file, not stdout."),
    ] = None,
    timeline: Annotated[
        bool, typer.Option("--timeline", "-t", help="Show events one by one.")
    ] = False,
    block_ms: Annotated[
        float,
        typer.Option(
            "--block-ms", min=0, metavar="MS", help="A loop-thread syscall this long is a finding."
        ),
    ] = 10.0,
    step_ms: Annotated[
        float,
        typer.Option(
            "--step-ms", min=0, metavar="MS", help="A step this long without yielding is a finding."
        ),
    ] = 100.0,
    top: Annotated[int, typer.Option("--top", min=1, metavar="N", help="Rows per table.")] = 10,
    task: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME", help="Timeline and exports: only this task (repeatable)."),
    ] = None,
    fd: Annotated[
        list[int] | None, typer.Option(metavar="FD", help="Timeline: only this fd (repeatable).")
    ] = None,
    pid: Annotated[
        list[int] | None,
        typer.Option(metavar="PID", help="Timeline and exports: only this process (repeatable)."),
    ] = None,
    since: Annotated[
        float | None, typer.Option(metavar="S", help="Timeline and exports: from S seconds in.")
    ] = None,
    until: Annotated[
        float | None, typer.Option(metavar="S", help="Timeline and exports: up to S seconds in.")
    ] = None,
    limit: Annotated[
        int, typer.Option(metavar="N", help="Timeline: at most N lines (0: all).")
    ] = 500,
    syscalls: Annotated[
        str | None,
        typer.Option(
            "--syscalls", metavar="LIST", help="Timeline: only these syscalls (comma-separated)."
        ),
    ] = None,
    startup: Annotated[
        bool,
        typer.Option("--startup", help="Timeline: include syscalls made outside any event loop."),
    ] = False,
) -> None:
    from syscorr.report import command
    from syscorr.report.timeline import TimelineFilter

    try:
        command.report(
            trace,
            output_format=output_format,
            output=output,
            timeline=timeline,
            block_ms=block_ms,
            step_ms=step_ms,
            top=top,
            filters=TimelineFilter.of(task, fd, pid, since, until, limit, syscalls, startup),
        )
    except SyscorrError as err:
        _fail(err)


# Commands that live in their own modules: each has `register(app)`.
COMMAND_MODULES = ("syscorr.cli_import", "syscorr.cli_explain", "syscorr.cli_check")


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue  # not written yet
            raise
        module.register(app, fail=_fail)


_register_commands()


def main() -> None:
    try:
        app()
    except SyscorrError as err:  # commands catch their own; this is the last net
        print(f"syscorr: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("syscorr: interrupted", file=sys.stderr)
        sys.exit(130)
