"""`syscorr report`: open a trace, run the one analysis pass, hand the result to a renderer.

Contract: `report(trace_arg, output_format=..., output=..., ...)` writes the chosen format to
stdout or to `output` (created 0600: reports quote payload bytes). Text goes through a rich
Console that drops colour and width tricks when not writing to a terminal. Renderers are
looked up in `RENDERERS` by format name: each is `render(summary, stream, options)` in its own
module. A progress bar appears on stderr when parsing a large log in a terminal.
"""

import importlib
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from syscorr import tracedir
from syscorr.analysis.findings import MS, Rules
from syscorr.analysis.summary import TraceSummary, summarize
from syscorr.errors import UsageError
from syscorr.load import open_trace
from syscorr.report.timeline import TimelineFilter, render_timeline

# format -> "module:function" rendering a TraceSummary to a stream: text unless in BINARY
RENDERERS = {
    "json": "syscorr.report.jsonreport:render",
    "html": "syscorr.report.htmlreport:render",
    "perfetto": "syscorr.report.perfetto:render",
    "perfetto-proto": "syscorr.report.perfetto_proto:render",
}
BINARY_FORMATS = {"perfetto-proto"}
# formats that need every item of the trace kept in the summary
NEEDS_ITEMS = {"json", "html", "perfetto", "perfetto-proto"}
PROGRESS_BYTES = 20 << 20  # logs larger than this get a progress bar in a terminal


@contextmanager
def open_output(output: Path | None, binary: bool = False):
    """stdout, or a new file private to the user."""
    if output is None:
        yield sys.stdout.buffer if binary else sys.stdout
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as e:
        raise UsageError(f"cannot write {output}: {e.strerror}") from e
    with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
        yield f


def load_summary(trace_arg, rules: Rules, keep=None) -> TraceSummary:
    trace = tracedir.resolve(trace_arg)
    loaded = open_trace(trace)
    total = sum(p.stat().st_size for p in loaded.logs)
    if total < PROGRESS_BYTES or not sys.stderr.isatty():
        return summarize(loaded, rules, keep)
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as progress:
        bar = progress.add_task("reading trace", total=None)
        return summarize(
            loaded,
            rules,
            keep,
            progress=lambda n: progress.update(bar, completed=n, description=f"{n} events"),
        )


def make_console(stream, to_file: bool) -> Console:
    """A terminal gets colour and its own width; a pipe or file gets plain text, 120 wide
    (or $COLUMNS), so lines are not folded at 80 columns."""
    interactive = not to_file and stream.isatty()
    width = None if interactive else int(os.environ.get("COLUMNS", "120") or 120)
    return Console(
        file=stream,
        highlight=False,
        force_terminal=interactive or None,
        no_color=not interactive,
        width=width,
    )


def renderer(output_format: str):
    target = RENDERERS.get(output_format)
    if target is None:
        choices = ", ".join(["text", *RENDERERS])
        raise UsageError(f"unknown --format {output_format!r}: choose one of {choices}")
    module_name, _, func = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise UsageError(f"--format {output_format} is not available in this version") from None
    return getattr(module, func)


def report(
    trace_arg,
    *,
    output_format: str = "text",
    output: Path | None = None,
    timeline: bool = False,
    block_ms: float = 10.0,
    step_ms: float = 100.0,
    top: int = 10,
    filters: TimelineFilter = TimelineFilter(),
) -> None:
    rules = Rules(int(block_ms * MS), int(step_ms * MS))
    if output_format != "text":
        render = renderer(output_format)
        summary = load_summary(trace_arg, rules, keep=lambda item: True)
        with open_output(output, binary=output_format in BINARY_FORMATS) as stream:
            render(summary, stream, {"top": top, "filters": filters})
        return
    keep = filters.keeps if timeline else None
    summary = load_summary(trace_arg, rules, keep)
    with open_output(output) as stream:
        console = make_console(stream, to_file=output is not None)
        if timeline:
            render_timeline(
                summary.items,
                summary.accounts.first_ts,
                console,
                filters,
                has_loop=bool(summary.accounts.loops),
            )
            return
        from syscorr.report.terminal import render_summary

        render_summary(summary, console, top)
