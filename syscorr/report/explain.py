"""`syscorr explain`: how asyncio works, told from the events of one trace.

Contract: `write_explanation(summary, facts, stream)` writes the story of a summary (made by
`summarize_trace` with `keep=facts.observe`) as plain text to the stream; `render_explain(summary,
facts, console, sources)` writes it to a rich Console the caller owns (width, colour). The story
answers, in order: what `async def` becomes, how `await` splits execution, who runs everything
(the event loop), and how Python learns that a timer is due or I/O is ready; then where the loop
was blocked, if it was. Every claim is followed by the events of this trace that show it (task
names, fds, times, lines, the raw syscall). A part the trace cannot show (no agent events, no
sockets, no timers) says so and how to get it. Nothing from the trace is read as rich markup.
"""

import textwrap
from pathlib import Path

from rich.console import Console
from rich.text import Text

from syscorr.analysis.summary import TraceSummary
from syscorr.report import explain_io, explain_tasks
from syscorr.report.explain_facts import Facts, SourceLines


class Story:
    """Writes paragraphs, headings and indented evidence to a Console, times relative to the
    start of the trace."""

    def __init__(self, console: Console, origin: int | None, sources: SourceLines) -> None:
        self.console = console
        self.origin = origin or 0
        self.sources = sources

    def heading(self, text: str) -> None:
        self.console.print()
        self.console.print(Text(text, style="bold"))
        self.console.print()

    def para(self, text: str) -> None:
        self.console.print(Text(text))
        self.console.print()

    def evidence(self, lines: list[str]) -> None:
        """Quoted events, indented; a long one wraps with a deeper indent."""
        width = max(20, self.console.width - 4)
        for line in lines:
            wrapped = textwrap.wrap(
                line, width, subsequent_indent="    ", break_on_hyphens=False
            ) or [""]
            for piece in wrapped:
                self.console.print(Text("    " + piece, style="cyan"), no_wrap=True, crop=True)
        self.console.print()

    def at(self, ts: int | None) -> str:
        return "?" if ts is None else f"{(ts - self.origin) / 1e6:.1f} ms"

    def where(self, frame, with_source: bool = True) -> str:
        if frame is None:
            return "an unknown place"
        if not frame.line:  # no call recorded there: the coroutine, never a stale line
            return f"{frame.filename.rsplit('/', 1)[-1]} ({frame.qualname})"
        text = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.line}"
        source = self.sources.line(frame) if with_source else None
        return f"{text} `{source}`" if source else text

    def raw(self, call) -> str:
        result = call.ret + (f" {call.errno}" if call.errno else "")
        return f"{call.name}({call.args}) = {result}"


def render_explain(
    summary: TraceSummary, facts: Facts, console: Console, sources: SourceLines | None = None
) -> None:
    story = Story(console, summary.accounts.first_ts, sources or SourceLines([]))
    explain_tasks.intro(story, summary, facts)
    if not summary.accounts.syscalls:
        logs = ", ".join(p.name for p in summary.loaded.logs)
        story.para(
            f"There is nothing to explain: the syscall log ({logs}) holds no syscall. The "
            "tracer recorded nothing, or the program never started. Record it again with "
            "`syscorr run your_app.py`."
        )
        explain_io.notes(story, summary, facts)
        return
    for part in (
        explain_tasks.async_def,
        explain_tasks.await_splits,
        explain_tasks.event_loop,
        explain_io.timers,
        explain_io.sockets,
        explain_io.blocking,
        explain_io.notes,
        explain_io.closing,
    ):
        part(story, summary, facts)


def write_explanation(
    summary: TraceSummary,
    facts: Facts,
    stream,
    *,
    width: int | None = None,
    colour: bool = False,
) -> None:
    """The story of `summary` as plain text on `stream` (colour only when asked); source lines
    are looked up beside the trace and in the directory the program ran in."""
    here = summary.loaded.trace.path.resolve()
    bases = [here, *list(here.parents)[:3]]
    cwd = summary.meta.get("cwd")
    if isinstance(cwd, str) and cwd:
        bases.insert(0, Path(cwd))
    console = Console(
        file=stream,
        width=width or 100,
        highlight=False,
        no_color=not colour,
        force_terminal=colour or None,
        emoji=False,
    )
    render_explain(summary, facts, console, SourceLines(bases))
