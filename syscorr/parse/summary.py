"""Read strace's own summary table (-c, or -C appended to the log) for cross-checking counts.

Contract: `parse_summary_table(lines)` returns {syscall name: SummaryRow(calls, errors)} from
the rows of the first table in the lines (the "total" row excluded), {} when there is none.
The table looks like:
    % time     seconds  usecs/call     calls    errors syscall
    ------ ----------- ----------- --------- --------- ----------------
      0.00    0.000000           0         2         2 connect
"""

from collections.abc import Iterable
from typing import NamedTuple

from .grammar import SUMMARY_HEADER, SUMMARY_ROW, SUMMARY_RULE


class SummaryRow(NamedTuple):
    calls: int
    errors: int


def parse_summary_table(lines: Iterable[str]) -> dict[str, SummaryRow]:
    rows: dict[str, SummaryRow] = {}
    inside = False
    for line in lines:
        line = line.rstrip("\r\n")
        if not inside:
            inside = SUMMARY_HEADER.match(line) is not None
            continue
        if SUMMARY_RULE.match(line):
            continue
        row = SUMMARY_ROW.match(line)
        if row is None:
            break
        if row.group("name") != "total":
            rows[row.group("name")] = SummaryRow(int(row["calls"]), int(row["errors"] or 0))
    return rows
