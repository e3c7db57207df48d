"""Golden-output helpers for the report tests: load a committed trace, render it to a fixed-width
plain console, scrub what varies between recordings, compare with tests/golden/<name>.txt.

Contract: `render_to_text(draw)` calls `draw(console)` with a 100-column, colourless Console
writing to a string and returns the text. `scrub(text, summary)` replaces durations, relative
timestamps, the trace's pids/tids, temporary paths and the repository path with placeholders.
`assert_golden(name, text)` compares with tests/golden/<name>; with SYSCORR_UPDATE_GOLDEN=1 in
the environment it (re)writes the golden file instead and the test passes.
"""

import io
import os
import re
from pathlib import Path

from rich.console import Console

from syscorr.analysis.findings import Rules
from syscorr.analysis.summary import TraceSummary, summarize_trace

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "fixtures" / "traces"
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("SYSCORR_UPDATE_GOLDEN") == "1"

DURATION = re.compile(r"(?<![\w.])\d+(?:\.\d+)? (?:µs|ms|s)\b")
REL_STAMP = re.compile(r"[+-]\d+\.\d{6}\b")
TMP_PATH = re.compile(r"/tmp/[A-Za-z0-9_.-]+")


def trace_path(name: str) -> Path:
    """The committed trace, as a path relative to the current directory (the repository root
    when the tests run): what reports print must not depend on where the checkout lives."""
    return Path(os.path.relpath(TRACES / name))


def load(name: str, keep=None, rules: Rules = Rules()) -> TraceSummary:
    return summarize_trace(trace_path(name), rules, keep)


def console(width: int = 100) -> Console:
    return Console(
        width=width,
        file=io.StringIO(),
        no_color=True,
        highlight=False,
        force_terminal=False,
        color_system=None,
        emoji=False,
    )


def render_to_text(draw, width: int = 100) -> str:
    out = console(width)
    draw(out)
    return out.file.getvalue()


def ids_of(summary: TraceSummary) -> dict[int, str]:
    """The trace's process and thread ids -> stable placeholders (<pid>, <tid1>, ...)."""
    pids = {t.pid for t in summary.accounts.threads.values()}
    pids |= {log.pid for log in summary.loaded.agent_logs}
    tids = {t.tid for t in summary.accounts.threads.values()} - pids
    names = {pid: f"<pid{n or ''}>" for n, pid in enumerate(sorted(pids))}
    names.update({tid: f"<tid{n}>" for n, tid in enumerate(sorted(tids), 1)})
    return {ident: name for ident, name in names.items() if ident}


def scrub(text: str, summary: TraceSummary | None = None) -> str:
    text = text.replace(str(ROOT) + "/", "").replace(str(ROOT), "<root>")
    text = TMP_PATH.sub("/tmp/<tmp>", text)
    text = REL_STAMP.sub("+<ts>", text)
    text = DURATION.sub("<t>", text)
    if summary is not None:
        for ident, name in ids_of(summary).items():
            text = re.sub(rf"(?<!\d){ident}(?!\d)", name, text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}: run with SYSCORR_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        import difflib

        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), text.splitlines(True), str(path), "rendered", n=2
            )
        )
        raise AssertionError(
            f"output differs from {path.name} (SYSCORR_UPDATE_GOLDEN=1 rewrites it):\n{diff}"
        )
