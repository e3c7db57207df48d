"""Format sniffing (syscorr.parse.sniff) on every fixture and on things that are no log."""

import pytest

from syscorr.errors import ParseError
from syscorr.parse import sniff_format

from .test_parse_fixtures import FIXTURES, fixture_lines


@pytest.mark.parametrize("kind", ["strace", "dtruss"])
def test_every_fixture_is_recognised(kind):
    for path in (FIXTURES / kind).glob("*.log"):
        assert sniff_format(fixture_lines(path.name, kind)[:50]) == kind, path.name


@pytest.mark.parametrize("lines", [
    [],
    ["", "   "],
    ["Traceback (most recent call last):", '  File "x.py", line 1, in <module>',
     "ZeroDivisionError: division by zero"],
    ["\x7fELF\x02\x01\x01\x00\x00\x00\x00"],
])  # fmt: skip
def test_no_syscall_log_raises_parse_error(lines):
    with pytest.raises(ParseError):
        sniff_format(lines)


def test_summary_only_log_is_strace():
    assert sniff_format(fixture_lines("C.log")[-11:]) == "strace"
