"""Tell a strace log from a dtruss log (or syscorr's D script's output) by its first lines.

Contract: `sniff_format(first_lines)` returns "dtrace" for output of syscorr's D script (its
`# syscorr-dtrace` header line), else "strace" or "dtruss" for the format most of the
non-blank lines parse as (a dtruss line, `= ret errno`, wins a tie: a strace return has no
second number), and raises `ParseError` when none of them is a syscall line of either kind —
then the input is no syscall log at all (a Python traceback, a binary, an empty file).
A strace log holding only the -c summary table counts as strace.
"""

from ..errors import ParseError
from .dtrace import is_dtrace_log
from .dtruss import DTRUSS_HEADER, DTRUSS_LINE
from .records import ExitRecord, SignalRecord, Syscall
from .stats import ParseStats
from .strace import SplitEnd, SplitStart, lex_strace

STRACE_KINDS = (Syscall, SignalRecord, ExitRecord, SplitStart, SplitEnd)


def sniff_format(first_lines: list[str]) -> str:
    lines = [line.rstrip("\r\n") for line in first_lines if line.strip()]
    if not lines:
        raise ParseError("the log is empty: nothing to import")
    if is_dtrace_log(lines):
        return "dtrace"
    dtruss = sum(1 for line in lines if DTRUSS_LINE.match(line) or DTRUSS_HEADER.match(line))
    stats = ParseStats()
    strace = sum(1 for record in lex_strace(lines, stats=stats) if isinstance(record, STRACE_KINDS))
    if dtruss and dtruss >= strace:
        return "dtruss"
    if strace or stats.skipped["summary"]:
        return "strace"
    raise ParseError(
        f"not a strace or dtruss log: none of its first {len(lines)} lines is a syscall"
        f" (first line: {lines[0][:60]!r}); record one with `strace -f -o FILE` or dtruss"
    )
