"""What every command shares: one-line errors, private output files, the console, progress.

Contract: `fail(err)` prints `syscorr: error: <message>` on stderr and exits with the error's
code (2); commands call it for every `SyscorrError`, so no traceback reaches the user.
`open_output(path)` yields stdout, or a new file created 0600 (reports quote payload bytes);
`write_private(path, writer, value)` does the same for a side file such as `--junit`.
`make_console(stream, to_file)` gives a terminal colour and its width, a pipe or file plain
text 120 wide (or $COLUMNS). `trace_progress(trace)` yields a progress callback for
`summarize_trace`: a transient bar on stderr for a large trace in a terminal, else None.
"""

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from syscorr.errors import SyscorrError, UsageError
from syscorr.trace.directory import TraceDir

PROGRESS_BYTES = 20 << 20  # logs larger than this get a progress bar in a terminal


def fail(err: SyscorrError) -> NoReturn:
    print(f"syscorr: error: {err}", file=sys.stderr)
    raise typer.Exit(err.exit_code)


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


@contextmanager
def trace_progress(trace: TraceDir) -> Iterator[Callable[[int], None] | None]:
    """A progress callback (items read so far) for a large trace read in a terminal."""
    try:
        total = sum(p.stat().st_size for p in trace.syscall_logs() if p.exists())
    except (OSError, SyscorrError):
        total = 0
    if total < PROGRESS_BYTES or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as progress:
        bar = progress.add_task("reading trace", total=None)
        yield lambda n: progress.update(bar, completed=n, description=f"{n} events")
