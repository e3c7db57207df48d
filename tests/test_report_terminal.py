"""`syscorr report` text summary over the committed traces (fixtures/traces/): golden output at
100 columns, the blocking calls on the first screen, and the plain output of the real CLI."""

import re

import pytest

from syscorr.report.terminal import render_summary
from tests.conftest import APPS, run_syscorr
from tests.golden_util import TRACES, assert_golden, load, render_to_text, scrub

FIRST_SCREEN = 25


def blocks_lines() -> list[int]:
    """Line numbers in blocking.py marked `# BLOCKS`."""
    source = (APPS / "blocking.py").read_text().splitlines()
    return [n for n, line in enumerate(source, 1) if "# BLOCKS" in line]


@pytest.mark.parametrize("name", ["seed", "echo", "blocking"])
def test_summary_matches_golden(name):
    summary = load(name)
    text = render_to_text(lambda console: render_summary(summary, console, top=10))
    assert_golden(f"report-{name}.txt", scrub(text, summary))


def test_blocking_first_screen_names_each_blocking_call_with_task_and_line():
    done = run_syscorr("report", str(TRACES / "blocking"), env={"COLUMNS": "80", "PATH": ""})
    assert done.returncode == 0, done.stderr
    screen = done.stdout.decode().splitlines()[:FIRST_SCREEN]
    text = "\n".join(screen)
    assert "\x1b[" not in text  # piped: no colour
    expected = {
        "clock_nanosleep": ("sleeper", 26),
        "read": ("reader", 39),
        "recvfrom": ("fetcher", 56),
    }
    assert sorted(line for _, line in expected.values()) == blocks_lines()
    for syscall, (task, line) in expected.items():
        finding = [
            row
            for row in screen
            if f"by {syscall}()" in row and f"task {task}" in row and f"blocking.py:{line}" in row
        ]
        assert finding, f"{syscall} in {task} at line {line} not on the first screen:\n{text}"
    # the findings come before everything else after the header
    assert screen.index(next(r for r in screen if r.startswith("Findings"))) < 8


def test_narrow_terminal_still_shows_findings_unfolded_enough():
    summary = load("blocking")
    text = render_to_text(lambda console: render_summary(summary, console), width=60)
    assert max(len(line) for line in text.splitlines()) <= 60
    joined = re.sub(r"\s+", " ", text)
    assert "task sleeper at blocking.py:26" in joined
