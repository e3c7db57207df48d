"""What every command shares: one-line errors, private output files, the console, progress.

Contract: `fail(err)` prints `syscorr: error: <message>` on stderr and exits with the error's
code (2); commands call it for every `SyscorrError`, so no traceback reaches the user.
`open_output(path)` yields stdout, or a new file created 0600 (reports quote payload bytes);
`write_private(path, writer, value)` does the same for a side file such as `--junit`.
`make_console(stream, to_file)` gives a terminal colour and its width, a pipe or file plain
text 120 wide (or $COLUMNS); rich markup is off (trace text is never markup) and lines that
would start with `::` are defused (syscorr.report.safe). `trace_progress(trace)` yields a
`TraceProgress`: a transient bar on stderr for a large trace read in a terminal (syscall
records read, against an estimate from the logs' size; then a stage such as writing an
export), nothing when stderr is not a terminal or the logs are smaller than PROGRESS_BYTES
($SYSCORR_PROGRESS_BYTES overrides it).
"""

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from syscorr.cli.errorline import report_error
from syscorr.errors import SyscorrError, UsageError
from syscorr.report.safe import GuardedStream

if TYPE_CHECKING:  # rich and the trace directory load when a command needs them
    from rich.console import Console

    from syscorr.trace.directory import TraceDir

PROGRESS_BYTES = 20 << 20  # logs larger than this get a progress bar in a terminal


def fail(err: SyscorrError) -> NoReturn:
    raise typer.Exit(report_error(err))


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


def write_private(path: Path, writer: Callable, value) -> None:
    """`writer(value, stream)` into a new file at `path`, created 0600."""
    with open_output(path) as stream:
        writer(value, stream)


def make_console(stream, to_file: bool) -> "Console":
    """A terminal gets colour and its own width; a pipe or file gets plain text, 120 wide
    (or $COLUMNS), so lines are not folded at 80 columns."""
    from rich.console import Console

    interactive = not to_file and stream.isatty()
    width = None if interactive else plain_width()
    return Console(
        file=GuardedStream(stream),
        highlight=False,
        markup=False,
        emoji=False,
        force_terminal=interactive or None,
        no_color=not interactive or bool(os.environ.get("NO_COLOR")),
        width=width,
    )


def plain_width() -> int:
    """$COLUMNS when it is a sane number, else 120."""
    try:
        return max(20, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 120


def estimate_records(paths) -> int:
    """About how many lines (syscall records) the logs hold, from the first MiB of each."""
    total = 0
    for path in paths:
        try:
            size = path.stat().st_size
            with open(path, "rb") as f:
                head = f.read(1 << 20)
        except OSError:
            continue
        lines = head.count(b"\n")
        total += int(size * lines / len(head)) if head and lines else 0
    return total


class TraceProgress:
    """Progress on stderr for a long command: `reading` is the callback `summarize_trace`
    takes (syscall records parsed so far), `stage(description, total)` a callback for a
    later phase (records written). Both are None when no bar is shown."""

    def __init__(self, progress=None, total: int = 0) -> None:
        self._progress = progress
        self._total = total
        self._bar = None
        self.reading = None
        if progress is not None:
            self._bar = progress.add_task("reading trace", total=total or None)
            progress.refresh()
            self.reading = self._read

    def _read(self, n: int) -> None:
        total = max(self._total, n + 1)
        self._progress.update(self._bar, completed=n, total=total)

    def stage(self, description: str, total: int):
        if self._progress is None:
            return None
        if self._bar is not None:
            self._progress.remove_task(self._bar)
        self._bar = self._progress.add_task(description, total=total or None)
        return lambda n: self._progress.update(self._bar, completed=n)


@contextmanager
def trace_progress(trace: "TraceDir | None" = None, paths=None) -> Iterator[TraceProgress]:
    """Progress for reading a large trace (or the logs `paths`) when stderr is a terminal;
    a `TraceProgress` that shows nothing otherwise."""
    try:
        logs = list(paths) if paths is not None else [p for p in trace.syscall_logs() if p.exists()]
        size = sum(p.stat().st_size for p in logs)
    except (OSError, SyscorrError):
        logs, size = [], 0
    try:
        threshold = int(os.environ.get("SYSCORR_PROGRESS_BYTES", PROGRESS_BYTES))
    except ValueError:
        threshold = PROGRESS_BYTES
    if size < threshold or not sys.stderr.isatty():
        yield TraceProgress()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True, console=Console(stderr=True)) as progress:
        yield TraceProgress(progress, estimate_records(logs))
