"""The strace parser's hot path (FAST_LINE + fused pairing) gives the general readers' records.

`_lex(..., fast_match, pending)` is the loop behind `lex_strace` and `parse_strace`; handing it
a matcher that never matches sends every line through the general readers. Both ways must give
the same records and skip counts on every recorded fixture and on mutated logs (the property
test's mutations), and the fused `parse_strace` must equal `pair_calls(lex_strace(...))`.
Also pinned: lines that used to raise (non-ASCII digits, fractions longer than ns).
"""

import re

import pytest
from hypothesis import HealthCheck, given, settings

from syscorr.parse import ParseStats, Syscall, Unparsed
from syscorr.parse.grammar import FAST_LINE
from syscorr.parse.strace import _lex, lex_strace, pair_calls, parse_strace

from .test_parse_fixtures import FIXTURES, fixture_lines
from .test_parse_property import mutated_log

NEVER = re.compile(r"(?!)").match
STRACE_FIXTURES = sorted(p.name for p in (FIXTURES / "strace").iterdir())


def both_ways(lines: list[str], pending: dict | None) -> tuple[list, list, ParseStats, ParseStats]:
    fast_stats, general_stats = ParseStats(), ParseStats()
    pending_general = None if pending is None else {}
    fast = list(_lex(lines, 0, None, fast_stats, FAST_LINE.match, pending))
    general = list(_lex(lines, 0, None, general_stats, NEVER, pending_general))
    return fast, general, fast_stats, general_stats


def assert_same(lines: list[str]) -> None:
    for pending in (None, {}):
        fast, general, fast_stats, general_stats = both_ways(lines, pending)
        assert [(type(r), tuple(r)) for r in fast] == [(type(r), tuple(r)) for r in general]
        assert fast_stats.skipped == general_stats.skipped
    assert list(parse_strace(lines)) == list(pair_calls(lex_strace(lines)))


@pytest.mark.parametrize("name", STRACE_FIXTURES)
def test_fast_path_reads_every_fixture_as_the_general_readers(name):
    assert_same(fixture_lines(name))


def test_fast_path_takes_most_lines_of_the_recorded_fixtures():
    lines = [line for name in STRACE_FIXTURES for line in fixture_lines(name)]
    fast = sum(1 for line in lines if FAST_LINE.match(line))
    assert fast > 0.75 * len(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_log())
def test_fast_path_reads_mutated_logs_as_the_general_readers(data):
    assert_same(data.decode("utf-8", errors="replace").splitlines())


# Lines the general readers must still read alone: shapes FAST_LINE refuses on purpose.
EDGE_LINES = [
    '1  read(3, "x = y", 5) = 5 <0.000010>',
    '1  read(3, "", 5)   = 0',
    '1  read(3, "", 5)= 0',
    "1  read(3) = -1 EAGAIN",
    "1  read(3) = -1 EAGAIN (a = b)",
    "1  read(3) = 0 (Timeout)",
    "1  read(3) = ? <unavailable>",
    "1  <... read resumed> <unfinished ...>",
    "1  read(3 <detached ...>",
    "1  00:00:01. read(3) = 0",
    "1  \x1b[1mread\x1b[0m(3) = 0",
    "12 34 read(3) = 0",
    "34 read(3) = 0\r",
    "1  read(3) = 0\r\r",
    "1  read(3)\t= 0",
]


@pytest.mark.parametrize("line", EDGE_LINES)
def test_edge_line_reads_the_same_both_ways(line):
    assert_same([line])


def test_comparison_notices_a_fast_path_that_reads_a_line_differently():
    loose = re.compile(FAST_LINE.pattern.replace(r"\(([^=\n]*)\)", r"\(([^\n]*)\)")).match
    lines = ["1  read(3) = -1 EAGAIN (a = b)"]
    assert list(_lex(lines, 0, None, None, loose, None)) != list(lex_strace(lines))
    assert list(lex_strace(lines)) == [Unparsed(1, lines[0], "no ') = ' after the arguments")]


# Input that raised before (int() on digits it does not read, scale tables indexed too far).
CRASH_ROWS = [
    "1² 00:00:01 read(0) = 0",
    "1 00:00:01 read(0) = ²",
    "1 00:00:01 read(0) = 0 <0.0000000000001>",
    "1  read(3) = 0 <1².5>",
    "1 00:00:01.1234567890123456 read(0) = 0",
    "1 <... read resumed>) = 0 <1².5>",
]


@pytest.mark.parametrize("line", CRASH_ROWS)
def test_line_that_used_to_raise_gives_one_record(line):
    records = list(parse_strace([line]))
    assert len(records) == 1 and isinstance(records[0], Syscall | Unparsed)


def test_fractions_longer_than_ns_are_truncated_to_ns():
    (call,) = parse_strace(["1  00:00:01.1234567891 read(0) = 0 <0.0000012345>"])
    assert (call.ts, call.duration) == (1_123_456_789, 1234)
    (general,) = _lex(["1  00:00:01.1234567891 read(0) = 0 <0.0000012345>"], 0, None, None,
                      NEVER, None)  # fmt: skip
    assert general == call
