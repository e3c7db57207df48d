"""syscorr.report.safe: what a terminal, log viewer or CI runner would act on is escaped, the
rest left as it is; lines that would be GitHub workflow commands are defused."""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syscorr.report.safe import GuardedStream, guard_line, guard_lines, safe, text

ACTIVE = (
    [chr(c) for c in range(0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]
    + list("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    + ["\u2028", "\u2029", "\ud800", "\udcff"]
)  # fmt: skip


@pytest.mark.parametrize(
    "raw,shown",
    [
        ("plain text", "plain text"),
        ("tab\there", "tab\\there"),
        ("two\nlines", "two\\nlines"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("back\x08space\rreturn", "back\\x08space\\rreturn"),
        ("\x9b2J", "\\x9b2J"),  # C1 CSI
        ("abc\u202edcba", "abc\\u202edcba"),
        ("é ünïcode 名前 ✓", "é ünïcode 名前 ✓"),
        ("##[error]x", "##\\x5berror]x"),
        ('strace "\\33[31m" stays', 'strace "\\33[31m" stays'),
        (42, "42"),
    ],
)
def test_safe_escapes_what_acts_and_keeps_the_rest(raw, shown):
    assert safe(raw) == shown


@pytest.mark.parametrize("char", ACTIVE)
def test_no_active_character_survives(char):
    assert char not in safe(f"a{char}b")


@given(st.text())
def test_safe_output_is_printable_and_encodable(value):
    out = safe(value)
    assert not any(c in out for c in ACTIVE)
    out.encode("utf-8")  # no lone surrogate left


def test_text_is_never_markup():
    rendered = text("[bold red]x[/] [link=http://evil]y[/link]")
    assert rendered.plain == "[bold red]x[/] [link=http://evil]y[/link]"
    assert not rendered.spans


@pytest.mark.parametrize(
    "line,shown",
    [
        ("::error::pwned", "\\x3a:error::pwned"),
        ("   ::warning file=x::y", "   \\x3a:warning file=x::y"),
        ("tests/x.py::test_y", "tests/x.py::test_y"),
        ("a :: b", "a :: b"),
    ],
)
def test_guard_line_defuses_workflow_commands(line, shown):
    assert guard_line(line) == shown


def test_guarded_stream_checks_every_line_start_across_writes():
    out = io.StringIO()
    stream = GuardedStream(out)
    stream.write("ok\n::set-output name=x::1\n  ")
    stream.write("::add-mask::secret\nmid")
    stream.write("dle ::notice::fine\n")
    stream.flush()
    assert out.getvalue() == (
        "ok\n\\x3a:set-output name=x::1\n  \\x3a:add-mask::secret\nmiddle ::notice::fine\n"
    )
    assert guard_lines("x\n::a::b") == "x\n\\x3a:a::b"


@given(st.lists(st.text(st.characters(blacklist_characters="\n")), max_size=5))
def test_safe_lines_is_safe_per_line(lines):
    from syscorr.report.safe import safe_lines

    assert safe_lines("\n".join(lines)) == "\n".join(safe(line) for line in lines)
