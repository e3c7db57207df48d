"""Syscall-log parsers: strace (every output variant) and dtruss, to typed records.

Contract: everything here is pure and streaming — it takes lines (str, decoded by the caller
with errors="replace"), never opens files, and never raises on malformed input (a bad line
becomes `Unparsed`). Only `sniff_format` raises, `ParseError`, for input that is no syscall
log at all. See records.py for the record contract and strace.py for what is skipped.

    stats = ParseStats()
    for record in stats.observe(parse_strace(lines, stats=stats)): ...
    stats.summary()  # "3 lines could not be parsed, first at line 17" or None
"""

import importlib
from typing import TYPE_CHECKING

# Each name loads its module on first use (PEP 562): `syscorr run` reads one table of
# vocabulary.py and must not pay for compiling every parser's regular expressions.
_EXPORTS = {
    "args": ("ByteString", "decode_string", "parse_int", "split_args"),
    "dtruss": ("parse_dtruss",),
    "fds": ("Address", "FdInfo", "SockAddr", "parse_fd", "parse_sockaddr"),
    "merge": ("merge_by_time", "parse_strace_ff", "tid_from_ff_name"),
    "records": ("ExitRecord", "Record", "SignalRecord", "Syscall", "Unparsed"),
    "sniff": ("sniff_format",),
    "stats": ("ParseStats",),
    "strace": ("lex_strace", "pair_calls", "parse_strace"),
    "summary": ("SummaryRow", "parse_summary_table"),
    "waits": ("FOREVER", "EventList"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

if TYPE_CHECKING:
    from .args import ByteString, decode_string, parse_int, split_args
    from .dtruss import parse_dtruss
    from .fds import Address, FdInfo, SockAddr, parse_fd, parse_sockaddr
    from .merge import merge_by_time, parse_strace_ff, tid_from_ff_name
    from .records import ExitRecord, Record, SignalRecord, Syscall, Unparsed
    from .sniff import sniff_format
    from .stats import ParseStats
    from .strace import lex_strace, pair_calls, parse_strace
    from .summary import SummaryRow, parse_summary_table
    from .waits import FOREVER, EventList


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})


__all__ = [
    "FOREVER", "Address", "ByteString", "EventList", "ExitRecord", "FdInfo", "ParseStats",
    "Record", "SignalRecord", "SockAddr", "SummaryRow", "Syscall", "Unparsed", "decode_string",
    "lex_strace", "merge_by_time", "pair_calls", "parse_dtruss", "parse_fd", "parse_int",
    "parse_sockaddr", "parse_strace", "parse_strace_ff", "parse_summary_table", "sniff_format",
    "split_args", "tid_from_ff_name",
]  # fmt: skip
