"""Filters that match nothing are refused (exit 2) with the closest valid names, in the summary,
the timeline and every export; a filter that matches keeps working."""

import pytest

from syscorr.report.filters import TimelineFilter, unmatched
from tests.conftest import run_syscorr
from tests.golden_util import TRACES, load

BLOCKING = str(TRACES / "blocking")


@pytest.mark.parametrize(
    "args,says",
    [
        (["--task", "nosuch"], "--task nosuch matches no task in this trace"),
        (["--task", "fetchr"], "did you mean fetcher?"),
        (["--syscalls", "epol_wait"], "did you mean epoll_wait"),
        (["--syscalls", "read,nanosleepp"], "--syscalls nanosleepp matches no syscall"),
        (["--fd", "99"], "--fd 99 matches no fd in this trace"),
        (["--pid", "1"], "--pid 1 matches no process in this trace (processes in it: "),
        (["--since", "500"], "--since 500 is after the trace's end"),
        (["--since", "0.5", "--until", "0.1"], "--since 0.5 is after --until 0.1"),
    ],
)
@pytest.mark.parametrize("mode", [[], ["--timeline"], ["-f", "json"], ["-f", "perfetto"]])
def test_a_filter_that_matches_nothing_is_refused(tmp_path, args, says, mode):
    out = tmp_path / "out"
    done = run_syscorr("report", BLOCKING, *mode, *args, "-o", str(out))
    assert done.returncode == 2, done.stdout.decode()
    err = done.stderr.decode()
    assert err.startswith("syscorr: error: ") and says in err and "Traceback" not in err
    assert err.count("\n") == 1
    assert not out.exists() or out.stat().st_size == 0  # nothing written


def test_filters_that_match_nothing_together_are_refused_on_the_timeline():
    done = run_syscorr("report", BLOCKING, "--timeline", "--task", "fetcher", "--syscalls",
                       "epoll_wait")  # fmt: skip
    assert done.returncode == 2
    assert b"no event matches --task fetcher --syscalls epoll_wait together" in done.stderr


def test_valid_filters_still_work_and_the_summary_says_what_they_narrow():
    done = run_syscorr("report", BLOCKING, "--timeline", "--task", "fetcher", "--limit", "0")
    assert done.returncode == 0 and b"fetcher" in done.stdout
    done = run_syscorr("report", BLOCKING, "--task", "fetcher")
    assert done.returncode == 0
    assert b"narrows --timeline and the exports" in done.stderr


def test_unmatched_names_the_first_bad_value_only():
    summary = load("blocking")
    assert unmatched(TimelineFilter(tasks=frozenset({"fetcher", "ticker"})), summary) is None
    text = unmatched(TimelineFilter(syscalls=frozenset({"clock_nanosleep", "rea"})), summary)
    assert text.startswith("--syscalls rea matches no syscall") and "read" in text


def test_a_trace_without_agent_says_it_has_no_tasks():
    summary = load("echo")
    summary.loaded.agent_logs = []
    text = unmatched(TimelineFilter(tasks=frozenset({"nosuch"})), summary)
    assert "no agent events" in text
