"""Typed records of the in-process agent's event log, and the reader of that log.

Contract: `read_agent_log(path)` reads one per-process agent log (written by
`syscorr/agent/inject/_syscorr_agent.py`, format in docs/trace-format.md) and returns an
`AgentLog`. It never raises on damaged content: a torn or garbled tail ends the event
list and is counted in `AgentLog.damaged`. Only a file that cannot be opened, or one that is
not an agent log at all (bad magic), raises `TraceDirError`.

Event timestamps are integers in ns on the clock named in `AgentLog.meta["clock"]`
("realtime" = time.time_ns(), "monotonic" = time.monotonic_ns()).
"""

import errno
import json
import mmap
import os
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import NamedTuple

from syscorr.errors import TraceDirError

# ---- record format: keep in sync with syscorr/agent/inject/_syscorr_agent_log.py ----
# (tests/test_trace_agentlog.py checks that both blocks agree; docs/trace-format.md describes them)
MAGIC = b"SYSCORRA"
FORMAT_VERSION = 1
HEADER_FORMAT = "<8sHHHxxI12x"  # magic, version, header size, event size, pid -> 32 bytes
EVENT_FORMAT = "<BBHIqQII"  # kind, flags, reserved, tid, ts, task, code, offset -> 32 bytes
RECORD_HEAD_FORMAT = "<BBHI"  # type, flags, reserved, payload length -> 8, payload padded to 8
RECORD_ALIGN = 8
REC_META = 64  # payload: JSON object
REC_CODE = 65  # payload: CODE_FORMAT, qualname, filename, n * LINE_FORMAT
REC_NAME = 66  # payload: NAME_FORMAT (name id), utf-8 text
REC_TASK_NAME = 67  # payload: TASK_NAME_FORMAT (task id, ts), utf-8 name
REC_THREAD = 68  # payload: THREAD_FORMAT (native tid), utf-8 thread name
REC_ERROR = 69  # payload: ERROR_FORMAT (ts), utf-8 text
REC_END = 70  # payload: JSON object written at normal exit
REC_PAD = 71  # payload: zeros, to be skipped (fills the mapped area's end when the log stops)
CODE_FORMAT = "<IiIII"  # code id, firstlineno, len(qualname), len(filename), number of lines
LINE_FORMAT = "<iii"  # start offset, end offset, line (-1 for None)
NAME_FORMAT = "<I"
TASK_NAME_FORMAT = "<Qq"
THREAD_FORMAT = "<I"
ERROR_FORMAT = "<q"
# ---- end of record format ----

AGENT_LOG_GLOB = "agent-*.bin"


class EventKind(IntEnum):
    PY_START = 1  # a coroutine frame starts (first step of a task when it is the root)
    PY_RESUME = 2  # a suspended coroutine frame resumes
    PY_THROW = 3  # an exception (e.g. CancelledError) is thrown into a coroutine frame
    PY_YIELD = 4  # a coroutine frame suspends (await chain of depth d yields d times)
    PY_RETURN = 5  # a coroutine frame returns
    PY_UNWIND = 6  # a coroutine frame exits by an exception
    CALL = 7  # a call instruction inside a coroutine body (gives the current line)
    CALLBACK_START = 8  # asyncio Handle._run begins; `code` is the callback's name id
    CALLBACK_END = 9  # asyncio Handle._run ends
    LOOP_ITERATION = 10  # BaseEventLoop._run_once begins (one loop iteration)
    AGENT_ERROR = 11  # the agent failed internally and disabled itself; see AgentLog.errors
    WORK_SUBMIT = 12  # a task submitted executor work: task=id(task), id(work)=code<<32|offset
    WORK_START = 13  # a worker thread starts a work item: task=id(work item)
    WORK_END = 14  # the worker thread finished it
    # Values are shared with the agent (its "event kinds" block); the reader keeps unknown
    # kinds out of the event list and counts them as damage.


class AgentEvent(NamedTuple):
    kind: int  # an EventKind value (a plain int: cheap to hash and compare)
    tid: int  # native thread id (strace's "pid" column)
    ts: int  # ns
    task: int  # id() of asyncio.current_task(), 0 when none; for CALLBACK_START: the Task the
    # callback is bound to (Task.__step / Task.task_wakeup), 0 for other callbacks
    code: int  # code id (key of AgentLog.codes), or name id for CALLBACK_START
    offset: int  # bytecode offset of the event (instruction offset for CALL/YIELD)
    seq: int  # position in the log, to break timestamp ties by stream order
    span: int = 0  # CALL: how long (µs) no other event followed it (0 unknown: older logs)


class CodeInfo(NamedTuple):
    qualname: str
    filename: str
    firstlineno: int
    lines: tuple[tuple[int, int, int], ...]  # (start_offset, end_offset, line) from co_lines()

    def line_at(self, offset: int) -> int:
        """Source line of the instruction at `offset` (firstlineno when unknown)."""
        for start, end, line in self.lines:
            if start <= offset < end:
                return line if line is not None and line >= 0 else self.firstlineno
        return self.firstlineno


class TaskName(NamedTuple):
    task: int  # id() of the task
    ts: int  # when this name was seen (a task's name may change after creation)
    name: str


class AgentLog(NamedTuple):
    pid: int
    meta: dict  # pid, ppid, python version, executable, argv, clock, tool_id, start ts, ...
    codes: dict[int, CodeInfo]
    names: dict[int, str]  # callback/other name ids -> text
    task_names: list[TaskName]
    threads: dict[int, str]  # native tid -> thread name
    events: list[AgentEvent]
    errors: list[str]  # agent-internal errors it recorded before disabling itself
    damaged: int  # bytes at the tail that could not be read as records (0 when clean)
    end: dict | None = None  # the end record of a normal exit; None after SIGKILL / os._exit
    path: Path | None = None  # the file, for `iter_agent_events` when `events` was not loaded
    event_count: int = 0  # events in the log (also when `events` was not loaded)


_KINDS = {kind.value: kind for kind in EventKind}
_header = struct.Struct(HEADER_FORMAT)
_event = struct.Struct(EVENT_FORMAT)
_head = struct.Struct(RECORD_HEAD_FORMAT)
_code = struct.Struct(CODE_FORMAT)
_line = struct.Struct(LINE_FORMAT)
_name = struct.Struct(NAME_FORMAT)
_task_name = struct.Struct(TASK_NAME_FORMAT)
_thread = struct.Struct(THREAD_FORMAT)
_error = struct.Struct(ERROR_FORMAT)


def read_agent_logs(directory: str | os.PathLike) -> list[AgentLog]:
    """Every agent log (`agent-*.bin`) in `directory`, ordered by pid."""
    logs = [read_agent_log(p) for p in Path(directory).glob(AGENT_LOG_GLOB)]
    return sorted(logs, key=lambda log: log.pid)


def read_agent_log(path: str | os.PathLike, events: bool = True) -> AgentLog:
    """Read one agent log. Raises TraceDirError only when the file cannot be read, is not an
    agent log, or was written in a newer format than this reader knows. With `events=False`
    the events are counted but not kept (`iter_agent_events` streams them later)."""
    path = Path(path)
    with _open_log(path) as (data, fd):
        log = _LogBuilder(_check_header(path, data))
        walker = _walk(data, log)
        if events:
            log.events = list(walker)
        else:
            for _ in walker:
                pass
        return log.build(_written_end(data, fd, log.stop) - log.stop, path)


def iter_agent_events(path: str | os.PathLike) -> Iterator[AgentEvent]:
    """The events of one agent log in file order (= time order per thread), streaming: memory
    stays flat however large the log. Damage ends the stream, as in `read_agent_log`."""
    path = Path(path)
    with _open_log(path) as (data, _fd):
        _check_header(path, data)
        yield from _walk(data, _LogBuilder(0))


@contextmanager
def _open_log(path: Path):
    from syscorr.trace.directory import open_regular  # a FIFO or device would hang or flood

    try:
        with open_regular(path) as f:
            if os.fstat(f.fileno()).st_size < _header.size:
                raise TraceDirError(f"{path} is not a syscorr agent log (too short)")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                yield data, f.fileno()
    except OSError as err:
        raise TraceDirError(f"cannot read agent log {path}: {err.strerror or err}") from None


def _check_header(path: Path, data: mmap.mmap) -> int:
    magic, version, header_size, event_size, pid = _header.unpack_from(data, 0)
    if magic != MAGIC:
        raise TraceDirError(f"{path} is not a syscorr agent log (bad magic)")
    if version > FORMAT_VERSION or event_size != _event.size or header_size < _header.size:
        raise TraceDirError(
            f"{path} was written in agent log format {version}, newer than this syscorr reads "
            f"({FORMAT_VERSION}): upgrade with `pip install -U syscorr`"
        )
    return pid


# A run of events: kind bytes every EVENT_SIZE bytes, each a known kind. The walker looks at
# most RUN_WINDOW events ahead, then decodes the whole run with one iter_unpack.
RUN_WINDOW = 4096
_NOT_AN_EVENT = re.compile(b"[^" + re.escape(bytes(sorted(k.value for k in EventKind))) + b"]")


def _walk(data: mmap.mmap, log: "_LogBuilder") -> Iterator[AgentEvent]:
    """Yield the events and hand the other records to `log`; `log.stop` is where it ended."""
    size = _event.size
    pos, end = _header.size, len(data)
    seq = 0
    iter_unpack, search = _event.iter_unpack, _NOT_AN_EVENT.search
    new, event_type = tuple.__new__, AgentEvent  # AgentEvent(...) without its Python __new__
    try:
        while pos < end:
            kind = data[pos]
            if kind == 0:
                break  # never written: the live end of the log, or its end after a kill
            if kind < REC_META:
                window = data[pos : min(end, pos + RUN_WINDOW * size) : size]
                found = search(window)
                run = found.start() if found else len(window)
                if run and pos + run * size > end:
                    run = (end - pos) // size
                if run == 0:
                    break  # an unknown kind or a torn event: damage
                chunk = data[pos : pos + run * size]
                for kind, flags, reserved, tid, ts, task, code, offset in iter_unpack(chunk):
                    # a plain int: comparisons with EventKind work, and hashing it is cheap
                    yield new(event_type, (kind, tid, ts, task, code, offset, seq,
                                           flags << 16 | reserved))  # fmt: skip
                    seq += 1
                pos += run * size
                log.event_count = seq
                continue
            if pos + _head.size > end:
                break
            rtype, _flags, _reserved, length = _head.unpack_from(data, pos)
            total = _head.size + -(-length // RECORD_ALIGN) * RECORD_ALIGN
            payload = data[pos + _head.size : pos + _head.size + length]
            if pos + total > end or not log.add(rtype, payload):
                break
            pos += total
    finally:
        log.stop = pos
        log.event_count = seq


class _LogBuilder:
    """Collects the non-event records; `add` returns False for a record it cannot read."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.meta: dict = {}
        self.end: dict | None = None
        self.codes: dict[int, CodeInfo] = {}
        self.names: dict[int, str] = {}
        self.task_names: list[TaskName] = []
        self.threads: dict[int, str] = {}
        self.events: list[AgentEvent] = []
        self.errors: list[str] = []
        self.stop = 0  # where the walk ended
        self.event_count = 0

    def add(self, rtype: int, payload: bytes) -> bool:
        try:
            if rtype == REC_META:
                self.meta.update(_json_object(payload))
            elif rtype == REC_END:
                self.end = _json_object(payload)
            elif rtype == REC_CODE:
                code_id, info = _code_info(payload)
                self.codes[code_id] = info
            elif rtype == REC_NAME:
                self.names[_name.unpack_from(payload)[0]] = _text(payload, _name.size)
            elif rtype == REC_TASK_NAME:
                task, ts = _task_name.unpack_from(payload)
                self.task_names.append(TaskName(task, ts, _text(payload, _task_name.size)))
            elif rtype == REC_THREAD:
                self.threads[_thread.unpack_from(payload)[0]] = _text(payload, _thread.size)
            elif rtype == REC_ERROR:
                self.errors.append(_text(payload, _error.size))
            elif rtype != REC_PAD:
                return False
        except (struct.error, ValueError):  # includes JSON and Unicode errors
            return False
        return True

    def build(self, damaged: int, path: Path | None = None) -> AgentLog:
        return AgentLog(
            pid=self.meta.get("pid", self.pid),
            meta=self.meta,
            codes=self.codes,
            names=self.names,
            task_names=self.task_names,
            threads=self.threads,
            events=self.events,
            errors=self.errors,
            damaged=damaged,
            end=self.end,
            path=path,
            event_count=self.event_count,
        )


def _text(payload: bytes, start: int) -> str:
    return payload[start:].decode("utf-8", "replace")


def _json_object(payload: bytes) -> dict:
    value = json.loads(payload.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("meta record is not a JSON object")
    return value


def _code_info(payload: bytes) -> tuple[int, CodeInfo]:
    code_id, firstlineno, qualname_len, filename_len, n_lines = _code.unpack_from(payload)
    start = _code.size
    lines_at = start + qualname_len + filename_len
    if lines_at + n_lines * _line.size != len(payload):
        raise ValueError("code record sizes do not add up")
    lines = tuple(
        (s, e, None if line == -1 else line) for s, e, line in _line.iter_unpack(payload[lines_at:])
    )
    qualname = payload[start : start + qualname_len].decode("utf-8", "replace")
    filename = payload[start + qualname_len : lines_at].decode("utf-8", "replace")
    return code_id, CodeInfo(qualname, filename, firstlineno, lines)


def _written_end(data: mmap.mmap, fd: int, start: int) -> int:
    """Offset just past the last non-zero byte at or after `start` (`start` if there is none).

    A log left behind by a killed process keeps its sparse tail: holes are skipped with
    SEEK_DATA/SEEK_HOLE where the filesystem supports them, the rest is scanned backwards."""
    end = len(data)
    try:
        last, offset = start, start
        while offset < end:
            offset = os.lseek(fd, os.lseek(fd, offset, os.SEEK_DATA), os.SEEK_HOLE)
            last = offset
    except OSError as err:
        if err.errno != errno.ENXIO:  # ENXIO: no data after `offset`
            last = end
    end = min(end, last)
    chunk = 1 << 20
    while end > start:
        low = max(start, end - chunk)
        kept = data[low:end].rstrip(b"\0")
        if kept:
            return low + len(kept)
        end = low
    return start
