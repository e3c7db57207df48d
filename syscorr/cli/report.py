"""`syscorr report`: open a trace, run the one analysis pass, hand the result to a renderer.

Contract: `report(...)` is the typer command (registered by syscorr.cli.app); `write_report(...)`
is the whole command without typer. It writes the chosen format to stdout or to `-o FILE`
(created 0600: reports quote payload bytes): the terminal summary, the `--timeline`, or an
export from the static table in syscorr.report.formats. The renderer observes the items during
the one summary pass and writes after it (memory bounded by what it spills, not by the trace).
A filter value that matches nothing (a task, syscall, fd or pid the trace does not have, a
window outside it) is refused before anything is written (exit 2), naming the closest valid
names; a timeline that the filters leave empty is refused the same way. A progress bar
appears on stderr when reading a large trace in a terminal.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from syscorr.cli.common import fail, make_console, open_output, trace_progress
from syscorr.errors import SyscorrError, UsageError

# The analysis and renderers are imported when the command runs: `syscorr --help` and
# `syscorr run` (the commands share this app) start without loading them.

HELP = """Summarise a trace: findings first, then loop health, tasks, sockets, threads.

\b
Examples:
  syscorr report                        the latest trace (.syscorr/latest)
  syscorr report trace1 --timeline --task fetcher
  syscorr report --format json -o model.json

--task/--fd/--pid/--syscalls/--since/--until narrow the timeline and the exports; a value that
matches nothing in the trace is refused (exit 2) with the closest valid names.
"""


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
        bool,
        typer.Option(
            "--timeline",
            "-t",
            help="Show events one by one, each line fitted to the terminal's width ($COLUMNS or "
            "120 when piped): arguments are shortened first, the call site is always kept.",
        ),
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
        list[int] | None,
        typer.Option(metavar="FD", help="Timeline and exports: only this fd (repeatable)."),
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
            "--syscalls",
            metavar="LIST",
            help="Timeline and exports: only these syscalls (comma-separated).",
        ),
    ] = None,
    startup: Annotated[
        bool,
        typer.Option("--startup", help="Timeline: include syscalls made outside any event loop."),
    ] = False,
) -> None:
    from syscorr.report.filters import TimelineFilter

    try:
        write_report(
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
        fail(err)


def write_report(
    trace_arg,
    *,
    output_format: str = "text",
    output: Path | None = None,
    timeline: bool = False,
    block_ms: float = 10.0,
    step_ms: float = 100.0,
    top: int = 10,
    filters=None,
) -> None:
    """The whole command without typer; `filters` is a TimelineFilter (None: no filter)."""
    from syscorr.analysis.findings import MS, Rules
    from syscorr.analysis.summary import summarize_trace
    from syscorr.report.filters import TimelineFilter, check_filters
    from syscorr.report.formats import BINARY_FORMATS, EXPORTS, FORMATS
    from syscorr.report.timeline import TimelineSink
    from syscorr.trace import directory

    if filters is None:
        filters = TimelineFilter()

    if output_format not in FORMATS:
        choices = ", ".join(FORMATS)
        raise UsageError(f"unknown --format {output_format!r}: choose one of {choices}")
    rules = Rules(int(block_ms * MS), int(step_ms * MS))
    trace = directory.resolve(trace_arg)
    if output_format != "text":
        export = EXPORTS[output_format]({"top": top, "filters": filters})
        try:
            with trace_progress(trace) as progress:
                summary = summarize_trace(
                    trace, rules, progress=progress.reading, observe=export.observe
                )
                check_filters(filters, summary)
                binary = output_format in BINARY_FORMATS
                with open_output(output, binary=binary) as stream:
                    export.write(summary, stream, progress.stage(f"writing {output_format}", 0))
        finally:
            export.close()  # the spill's temporary files, whatever happened
        return
    sink = TimelineSink(filters) if timeline else None
    try:
        _write_text(trace, rules, filters, sink, output, top)
    finally:
        if sink is not None:
            sink.close()


def _write_text(trace, rules, filters, sink, output, top) -> None:
    """The terminal summary, or the timeline when `sink` is given."""
    from syscorr.analysis.summary import summarize_trace
    from syscorr.report.filters import check_filters, nothing_shown

    with trace_progress(trace) as progress:
        observe = sink.observe if sink is not None else None
        summary = summarize_trace(trace, rules, progress=progress.reading, observe=observe)
    check_filters(filters, summary)
    with open_output(output) as stream:
        console = make_console(stream, to_file=output is not None)
        if sink is not None:
            colour = console.is_terminal and not console.no_color
            shown, _ = sink.write(
                console.file,
                summary.accounts.first_ts,
                has_loop=bool(summary.accounts.loops),
                width=console.width,
                colour=colour,
                names=summary.task_names,
            )
            console.file.flush()
            if not shown and filters.narrows:
                raise nothing_shown(filters)
            return
        from syscorr.report.terminal import render_summary

        render_summary(summary, console, top)
        if filters.narrows:
            print(
                f"syscorr: note: {filters.describe()} narrows --timeline and the exports; "
                "the summary covers the whole trace",
                file=sys.stderr,
            )
