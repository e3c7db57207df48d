"""Counts over a parsed log, for the one-line summary the CLI prints.

Contract: a `ParseStats` is passed to a parser (`stats=`) to count skipped lines by kind and
split calls joined, and wraps the record stream with `observe()` to count records by type and
remember where unparsed lines are. It never changes the stream. `summary()` gives
"N lines could not be parsed, first at line L" (None when every line parsed).
"""

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .records import Record, Syscall, Unparsed

FIRST_UNPARSED_KEPT = 10


@dataclass
class ParseStats:
    by_type: Counter[str] = field(default_factory=Counter)  # "Syscall" -> count
    skipped: Counter[str] = field(default_factory=Counter)  # "summary" -> lines skipped
    paired: int = 0  # split calls joined from two lines
    unparsed: int = 0
    first_unparsed: list[tuple[int, int]] = field(default_factory=list)  # (source, lineno)

    def observe(self, records: Iterable[Record]) -> Iterator[Record]:
        """Pass records through, counting them (as they pass: counts are current at each)."""
        by_type = self.by_type
        for record in records:
            kind = type(record)
            if kind is Syscall:  # the usual record first: one test, no name lookup
                by_type["Syscall"] += 1
                if record[12] is not None:  # end_lineno: joined from two lines
                    self.paired += 1
            else:
                by_type[kind.__name__] += 1
                if kind is Unparsed:
                    self.unparsed += 1
                    if len(self.first_unparsed) < FIRST_UNPARSED_KEPT:
                        self.first_unparsed.append((record.source, record.lineno))
            yield record

    def summary(self) -> str | None:
        if not self.unparsed:
            return None
        first = min(self.first_unparsed)[1]
        lines = "line" if self.unparsed == 1 else "lines"
        return f"{self.unparsed} {lines} could not be parsed, first at line {first}"
