"""`syscorr explain [TRACE]`: the trace told as a story that teaches how asyncio works.

Contract: `register(app, fail)` adds the `explain` command to the typer app; the command writes
plain text (colour only on a terminal) to stdout or `-o FILE`, and turns a `SyscorrError` into
`fail(err)` (one line, exit 2).
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from syscorr.errors import SyscorrError

EXPLAIN_HELP = """Explain how asyncio ran the program, step by step, from the events of its trace.

\b
Examples:
  syscorr run fixtures/apps/seed.py && syscorr explain
  syscorr explain trace1 -o story.txt

It answers, with this trace's own tasks, fds, times and lines: what `async def` becomes, how
`await` splits execution, who runs everything (the event loop), and how Python learns that a
timer is due or a socket is ready. No strace knowledge needed.
"""


def register(app: typer.Typer, fail) -> None:
    @app.command(help=EXPLAIN_HELP)
    def explain(
        trace: Annotated[
            str | None, typer.Argument(help="Trace directory (default: latest).")
        ] = None,
        output: Annotated[
            Path | None, typer.Option("-o", "--output", help="Write to this file, not stdout.")
        ] = None,
        width: Annotated[
            int | None, typer.Option("--width", min=40, help="Wrap at this many columns.")
        ] = None,
    ) -> None:
        from syscorr.report import command
        from syscorr.report.explain import explain as write_explanation

        try:
            with command.open_output(output) as stream:
                interactive = output is None and sys.stdout.isatty()
                write_explanation(trace, stream, width=width, colour=interactive)
        except SyscorrError as err:
            fail(err)
