"""`syscorr explain [TRACE]`: the trace told as a story that teaches how asyncio works.

Contract: `explain(...)` is the typer command (registered by syscorr.cli.app). It runs the one
analysis pass (`summarize_trace`) gathering the story's `Facts` (progress on stderr for a large
trace in a terminal), and writes plain text (colour only on a terminal) to stdout or `-o FILE`;
a `SyscorrError` becomes one line (exit 2).
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from syscorr.cli.common import fail, open_output, trace_progress
from syscorr.errors import SyscorrError

HELP = """Explain how asyncio ran the program, step by step, from the events of its trace.

\b
Examples:
  syscorr run fixtures/apps/seed.py && syscorr explain
  syscorr explain trace1 -o story.txt

It answers, with this trace's own tasks, fds, times and lines: what `async def` becomes, how
`await` splits execution, who runs everything (the event loop), and how Python learns that a
timer is due or a socket is ready. No strace knowledge needed.
"""


def explain(
    trace: Annotated[str | None, typer.Argument(help="Trace directory (default: latest).")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to this file, not stdout.")
    ] = None,
    width: Annotated[
        int | None, typer.Option("--width", min=40, help="Wrap at this many columns.")
    ] = None,
) -> None:
    from syscorr.analysis.findings import Rules
    from syscorr.analysis.summary import summarize_trace
    from syscorr.report.explain import write_explanation
    from syscorr.report.explain_facts import Facts
    from syscorr.trace import directory

    try:
        found = directory.resolve(trace)
        rules = Rules()
        facts = Facts(step_ns=rules.step_ns)
        with trace_progress(found) as progress:
            summary = summarize_trace(
                found, rules, observe=facts.observe, progress=progress.reading
            )
        facts.finish()
        with open_output(output) as stream:
            interactive = output is None and sys.stdout.isatty()
            write_explanation(summary, facts, stream, width=width, colour=interactive)
    except SyscorrError as err:
        fail(err)
