"""`syscorr report --timeline` over the committed traces: golden output at 100 columns (default
filter, a task filter, an fd filter) and what the filters keep and leave out."""

import pytest

from syscorr.report.timeline import TimelineFilter, render_timeline
from tests.golden_util import assert_golden, load, render_to_text, scrub


def timeline_text(name: str, filt: TimelineFilter) -> tuple[str, object]:
    summary = load(name, keep=filt.keeps)
    text = render_to_text(
        lambda console: render_timeline(
            summary.items,
            summary.accounts.first_ts,
            console,
            filt,
            has_loop=bool(summary.accounts.loops),
        )
    )
    return scrub(text, summary), summary


@pytest.mark.parametrize("name", ["seed", "echo", "blocking"])
def test_timeline_matches_golden(name):
    text, _ = timeline_text(name, TimelineFilter())
    assert_golden(f"timeline-{name}.txt", text)


def test_task_filter_keeps_only_that_task():
    text, _ = timeline_text(
        "echo", TimelineFilter.of(["client-0"], None, None, None, None, 0, None)
    )
    assert_golden("timeline-echo-client-0.txt", text)
    assert "client-0" in text
    assert "client-1" not in text.replace("echo-of=client-1", "")
    assert "── loop" not in text  # iterations belong to no task


def test_fd_filter_keeps_that_fd_and_its_readiness():
    summary = load("echo")
    client0 = next(
        fd
        for fd in summary.accounts.fds.values()
        if fd.label.startswith("TCP") and fd.tasks == {"client-0"}
    )
    filt = TimelineFilter.of(None, [client0.fd], None, None, None, 0, None)
    text, _ = timeline_text("echo", filt)
    calls = [line.split(None, 1)[1] for line in text.splitlines() if "── loop" not in line]
    assert calls and all(f"{client0.fd}<" in call for call in calls), text
    assert f"fd {client0.fd} EPOLLIN" in text


def test_limit_says_how_many_lines_were_left_out():
    text, _ = timeline_text("seed", TimelineFilter(limit=5))
    lines = text.splitlines()
    assert len(lines) == 6
    assert lines[-1].startswith("… ") and "more lines" in lines[-1]


def test_task_filter_finds_a_task_by_asyncios_name_or_as_shown():
    """Tasks left at asyncio's default name are shown with their coroutine (`Task-1 main`):
    `--task Task-1` still finds them."""
    summary = load("seed", keep=lambda item: True)
    for wanted in ("Task-2", "Task-2 worker"):
        filt = TimelineFilter(tasks=frozenset({wanted}))
        kept = [i for i in summary.items if filt.keeps(i)]
        assert kept and {getattr(i, "task_name", None) or i.name for i in kept} == {
            "Task-2 worker"
        }
