"""Merge the per-thread logs of `strace -ff -o PREFIX` into one time-ordered stream.

Contract: `merge_by_time(streams)` yields every record of every stream once, ordered by
timestamp; ties and records without a timestamp keep their stream's order (a record without
`ts` sorts at the last timestamp seen in its stream), and equal stamps break by stream index.
It is streaming (one record per stream in memory) and works on parsed records or on
`lex_strace` output — pairing after the merge (`parse_strace_ff`) also joins a split call
whose halves landed in two files (execve from a thread, resumed under the leader's pid).
`tid_from_ff_name("trace.1234")` gives 1234, the thread id strace puts in the file name.
"""

import heapq
from collections.abc import Iterable, Iterator

from .stats import ParseStats
from .strace import lex_strace, pair_calls


def _keyed[T: tuple](stream: Iterable[T], index: int) -> Iterator[tuple[int, int, T]]:
    last = -1
    for record in stream:
        ts = record[2]  # ts is third in every record type; Unparsed has a str there
        if type(ts) is int:
            last = ts
        yield last, index, record


def merge_by_time[T: tuple](streams: list[Iterable[T]]) -> Iterator[T]:
    keyed = [_keyed(stream, index) for index, stream in enumerate(streams)]
    for _, _, record in heapq.merge(*keyed, key=lambda item: (item[0], item[1])):
        yield record


def tid_from_ff_name(name: str) -> int | None:
    """The thread id suffix of a `-ff` output file (`out.1234` -> 1234), None if absent."""
    suffix = name.rpartition(".")[2]
    return int(suffix) if suffix.isdecimal() else None


def parse_strace_ff(
    files: list[tuple[int | None, Iterable[str]]], stats: ParseStats | None = None
) -> Iterator:
    """Records of a `-ff` set: [(tid, lines), ...] (source = index in the list), paired after
    the merge. Logs recorded without timestamps cannot be ordered: they are concatenated."""
    lexed = [lex_strace(lines, index, tid, stats) for index, (tid, lines) in enumerate(files)]
    return pair_calls(merge_by_time(lexed), stats)
