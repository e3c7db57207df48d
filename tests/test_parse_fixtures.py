"""Helpers shared by the parser tests (read a fixture, find the records of one line),
and a check that every recorded strace fixture parses cleanly."""

from pathlib import Path

from syscorr.parse import ParseStats, parse_strace

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_lines(name: str, kind: str = "strace") -> list[str]:
    return (FIXTURES / kind / name).read_text(encoding="utf-8", errors="replace").splitlines()


def strace_records(name: str) -> tuple[list, ParseStats]:
    stats = ParseStats()
    records = list(stats.observe(parse_strace(fixture_lines(name), stats=stats)))
    return records, stats


def at_line(records: list, lineno: int) -> list:
    return [record for record in records if record.lineno == lineno]


def test_every_fixture_parses_without_unparsed_lines():
    names = sorted(p.name for p in (FIXTURES / "strace").iterdir())
    assert len(names) >= 30
    for name in names:
        records, stats = strace_records(name)
        assert records and stats.unparsed == 0, name
