"""Which test was running when: marker syscalls made by the pytest plugin, read back from a trace.

Contract: the pytest plugin, when it runs under `syscorr run` (SYSCORR_AGENT_DIR is set), calls
`emit(phase, nodeid)` before a test's setup ("begin") and after its teardown ("end"). `emit`
opens a path that cannot exist, `/nonexistent/syscorr-test/<phase>/<quoted nodeid>`: one cheap
`openat` that fails with ENOENT, which strace records with the default syscall set. Reading a
trace, `is_marker(item)` picks those syscalls out of the correlation items and
`TestSpans.from_items(items)` pairs them into spans per process; `test_at(pid, ts)` answers
which test ran at a moment (the same process first, then any process: a test's child
processes). Node ids are percent-quoted so strace prints them verbatim; long ones are cut and
suffixed with a hash (`short_nodeid`) to stay within strace's string limit.
"""

import hashlib
import os
import re
from bisect import bisect_right
from typing import NamedTuple
from urllib.parse import quote, unquote

from syscorr.correlate.model import SyscallItem

PREFIX = "/nonexistent/syscorr-test/"
MAX_QUOTED = 200  # well under `syscorr run -s` (256 bytes by default)
_MARKER = re.compile(r'"/nonexistent/syscorr-test/(begin|end)/([^"]*)"')


def short_nodeid(nodeid: str) -> str:
    """The node id as a marker can carry it: itself, or a prefix plus a short hash."""
    if len(quote(nodeid, safe="")) <= MAX_QUOTED:
        return nodeid
    digest = hashlib.sha1(nodeid.encode()).hexdigest()[:10]
    cut = nodeid
    while len(quote(cut, safe="")) > MAX_QUOTED - 14:
        cut = cut[: len(cut) * 3 // 4]
    return f"{cut}...#{digest}"


def marker_path(phase: str, nodeid: str) -> str:
    return f"{PREFIX}{phase}/{quote(short_nodeid(nodeid), safe='')}"


def emit(phase: str, nodeid: str) -> None:
    """Make the marker syscall (a failing open); never raises."""
    try:
        os.close(os.open(marker_path(phase, nodeid), os.O_RDONLY))
    except OSError:
        pass


def is_marker(item) -> bool:
    return type(item) is SyscallItem and PREFIX in item.call.args


def parse_marker(item: SyscallItem) -> tuple[str, str] | None:
    """(phase, nodeid) of a marker syscall, or None."""
    match = _MARKER.search(item.call.args)
    if match is None:
        return None
    return match.group(1), unquote(match.group(2))


class Span(NamedTuple):
    pid: int
    start: int
    end: int | None  # None when the trace ended during the test
    nodeid: str


class TestSpans:
    __test__ = False  # not a pytest test class

    def __init__(self, spans: list[Span]) -> None:
        self.spans = sorted(spans, key=lambda s: s.start)
        self._starts = [s.start for s in self.spans]

    @classmethod
    def from_items(cls, items) -> "TestSpans":
        spans: list[Span] = []
        open_spans: dict[tuple[int, str], int] = {}
        markers = []
        for item in items:
            parsed = parse_marker(item) if is_marker(item) else None
            if parsed is not None and item.call.ts is not None:
                markers.append((item.call.ts, item.pid, *parsed))
        for ts, pid, phase, nodeid in sorted(markers):
            if phase == "begin":
                open_spans[(pid, nodeid)] = ts
            elif (pid, nodeid) in open_spans:
                spans.append(Span(pid, open_spans.pop((pid, nodeid)), ts, nodeid))
        spans.extend(Span(pid, start, None, nodeid) for (pid, nodeid), start in open_spans.items())
        return cls(spans)

    def __bool__(self) -> bool:
        return bool(self.spans)

    def __len__(self) -> int:
        return len(self.spans)

    def nodeids(self) -> list[str]:
        return list(dict.fromkeys(s.nodeid for s in self.spans))

    def test_at(self, pid: int, ts: int | None) -> str | None:
        if ts is None or not self.spans:
            return None
        candidates = [
            s for s in self.spans[: bisect_right(self._starts, ts)] if s.end is None or ts <= s.end
        ]
        for span in reversed(candidates):
            if span.pid == pid:
                return span.nodeid
        return candidates[-1].nodeid if candidates else None
