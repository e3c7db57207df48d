"""Property test: mutated real logs never make the parsers raise, and every line is counted.

Mutations of the recorded fixtures: truncation at any byte, splicing two lines into one,
random bytes, huge lines and invalid UTF-8. Bytes are decoded with errors="replace" (what the
import command does; strace escapes non-ASCII itself). Accounting: every input line is the
`lineno` of a record, the `end_lineno` of a paired call, or a skipped line in `stats.skipped`.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syscorr.parse import ParseStats, Syscall, parse_dtruss, parse_strace

from .test_parse_fixtures import FIXTURES

LOGS = sorted(p.read_bytes() for p in (FIXTURES / "strace").iterdir()) + sorted(
    p.read_bytes() for p in (FIXTURES / "dtruss").glob("*.log")
)


@st.composite
def mutated_log(draw) -> bytes:
    data = draw(st.sampled_from(LOGS))
    for _ in range(draw(st.integers(0, 4))):
        lines = data.split(b"\n")
        kind = draw(st.sampled_from(["truncate", "splice", "bytes", "huge", "utf8", "drop"]))
        at = draw(st.integers(0, max(0, len(lines) - 1)))
        if kind == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif kind == "splice" and len(lines) > 1:
            other = draw(st.integers(0, len(lines) - 1))
            cut = draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:cut] + lines[other]
            data = b"\n".join(lines)
        elif kind == "bytes":
            pos = draw(st.integers(0, len(data)))
            data = data[:pos] + draw(st.binary(min_size=1, max_size=40)) + data[pos:]
        elif kind == "huge":
            lines[at] = lines[at] + b"x" * draw(st.integers(1000, 200_000))
            data = b"\n".join(lines)
        elif kind == "utf8":
            pos = draw(st.integers(0, len(data)))
            data = data[:pos] + b"\xff\xc3(\xed\xa0\x80" + data[pos:]
        elif len(lines) > 1:  # drop a line: orphans the other half of a split call
            del lines[at]
            data = b"\n".join(lines)
    return data


def check_accounting(records: list, stats: ParseStats, line_count: int) -> None:
    covered = {r.lineno for r in records}
    covered |= {r.end_lineno for r in records if isinstance(r, Syscall) and r.end_lineno}
    assert covered <= set(range(1, line_count + 1))
    assert len(covered) + stats.skipped.total() == line_count


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_log())
def test_strace_parser_never_raises_and_counts_every_line(data):
    lines = data.decode("utf-8", errors="replace").splitlines()
    stats = ParseStats()
    records = list(stats.observe(parse_strace(lines, stats=stats)))
    check_accounting(records, stats, len(lines))
    assert all(len(r.text) <= 500 for r in records if type(r).__name__ == "Unparsed")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_log())
def test_dtruss_parser_never_raises_and_counts_every_line(data):
    lines = data.decode("utf-8", errors="replace").splitlines()
    stats = ParseStats()
    records = list(stats.observe(parse_dtruss(lines, stats=stats)))
    check_accounting(records, stats, len(lines))


def test_accounting_check_can_fail():
    lines = ["1  read(3,  <unfinished ...>", '1  <... read resumed>"", 1) = 0']
    stats = ParseStats()
    records = list(stats.observe(parse_strace(lines, stats=stats)))
    check_accounting(records, stats, 2)
    try:
        check_accounting(records, stats, 3)
    except AssertionError:
        return
    raise AssertionError("a missing line was not noticed")
