"""Typed records of the in-process agent's event log, and the reader of that log.

Contract: `read_agent_log(path)` reads one per-process agent log (written by
`syscorr/agent/inject/_syscorr_agent.py`, format in docs/trace-format.md) and returns an
`AgentLog`. It never raises on damaged content: a torn or garbled tail ends the event
list and is counted in `AgentLog.damaged`. Only a file that cannot be opened, or one that is
not an agent log at all (bad magic), raises `TraceDirError`.

Event timestamps are integers in ns on the clock named in `AgentLog.meta["clock"]`
("realtime" = time.time_ns(), "monotonic" = time.monotonic_ns()).
"""

from enum import IntEnum
from typing import NamedTuple


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


class AgentEvent(NamedTuple):
    kind: EventKind
    tid: int  # native thread id (strace's "pid" column)
    ts: int  # ns
    task: int  # id() of asyncio.current_task(), 0 when none
    code: int  # code id (key of AgentLog.codes), or name id for CALLBACK_START
    offset: int  # bytecode offset of the event (instruction offset for CALL/YIELD)
    seq: int  # position in the log, to break timestamp ties by stream order


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
