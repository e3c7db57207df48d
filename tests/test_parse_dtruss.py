"""syscorr.parse.dtruss over the sample lines in fixtures/dtruss/ (from public material)."""

import pytest

from syscorr.parse import ParseStats, Syscall, parse_dtruss
from syscorr.parse.dtruss import macos_errno

from .test_parse_fixtures import fixture_lines

EAGAIN = ("-1", -1, "EAGAIN", "Resource temporarily unavailable")
ENOENT = ("-1", -1, "ENOENT", "No such file or directory")

# (fixture, line, exact record)
ROWS = [
    ("a_flag.log", 2, Syscall(2, 0x5D6EF, None, "open",
        '"/dev/dtracehelper\\0", 0x2, 0xFFFFFFFFEFBFEED0', "3", 3, None, None, 159000)),
    ("a_flag.log", 9, Syscall(9, 0x5D6EF, None, "read", '0x7, "\\0", 0x8000', *EAGAIN, 5000)),
    ("a_flag.log", 10, Syscall(10, 0x5D702, None, "read",
        '0x7, "test test test\\r\\n\\340AB%*t\\0", 0x8000', "16", 16, None, None, 17000)),
    ("plain.log", 1, Syscall(1, None, None, "getpid", "0x0, 0x0, 0x0", "3734", 3734, None,
        None, None)),
    ("plain.log", 2, Syscall(2, None, None, "stat64",
        '"/AppleInternal/XBS/.isChrooted\\0", 0x7FFEED20E2B8, 0x0', *ENOENT, None)),
    ("f_flag.log", 1, Syscall(1, 0x1CCA76, None, "open",
        '"/usr/local/bin/gui-console/..namedfork/rsrc\\0", 0x0, 0x1B6', *ENOENT, None)),
    ("bare_errno.log", 1, Syscall(1, None, None, "access",
        '"/AppleInternal/XBS/.isChrooted\\0", 0x0, 0x0', *ENOENT, None)),
]  # fmt: skip


@pytest.mark.parametrize(("fixture", "lineno", "expected"), ROWS,
                         ids=[f"{r[0]}:{r[1]}" for r in ROWS])  # fmt: skip
def test_pinned_line(fixture, lineno, expected):
    records = list(parse_dtruss(fixture_lines(fixture, "dtruss")))
    assert [r for r in records if r.lineno == lineno] == [expected]


def test_header_is_skipped_and_sets_columns():
    stats = ParseStats()
    records = list(parse_dtruss(fixture_lines("a_flag.log", "dtruss"), stats=stats))
    assert stats.skipped["header"] == 1 and len(records) == 11
    assert [r.duration for r in records[:3]] == [159000, 2378000, 70000]  # ELAPSD column
    assert list(parse_dtruss(fixture_lines("header.log", "dtruss"))) == []


@pytest.mark.parametrize(("number", "name"), [(35, "EAGAIN"), (36, "EINPROGRESS"),
    (2, "ENOENT"), (11, "EDEADLK"), (54, "ECONNRESET"), (60, "ETIMEDOUT"), (0, None)])  # fmt: skip
def test_macos_errno_numbering(number, name):
    assert macos_errno(number)[0] == name


def test_dtrace_messages_are_skipped_other_text_unparsed():
    lines = ["dtrace: error on enabled probe ID 2190 (ID 194: syscall::stat64:return)", "hello"]
    stats = ParseStats()
    records = list(parse_dtruss(lines, stats=stats))
    assert stats.skipped["tracer message"] == 1
    assert [(r.lineno, r.reason) for r in records] == [(2, "not a dtruss syscall line")]
