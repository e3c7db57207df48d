"""The correlated model: what the engine emits and every analysis and renderer reads.

Contract: records are immutable. The engine (`syscorr.correlate.engine.correlate`) yields
`SyscallItem`, `StepItem` and `IterationItem` in per-thread time order (threads interleaved in
the order the tracer logged them); `StepItem`s and `IterationItem`s are emitted when they end,
so a consumer that needs strict global time order sorts by `start`/`ts`. Times are ns on the
trace's clock; `pid` is the process (thread group) id, `tid` the thread id.
"""

from typing import NamedTuple

from syscorr.parse.records import Syscall

# Who made a syscall.
OWNER_TASK = "task"  # inside a step of an asyncio Task
OWNER_CALLBACK = "callback"  # inside a callback the loop ran (transport, timer, future callback)
OWNER_LOOP = "loop"  # on a loop thread, outside any step: the selector wait and loop bookkeeping
OWNER_THREAD = "thread"  # on another thread of a process that runs a loop (to_thread workers)
OWNER_PROCESS = "process"  # a thread with no loop seen (startup, non-Python, imported logs)

# What woke a task step.
WAKE_FIRST = "first-step"  # the task's first step: it was just created
WAKE_FD = "fd-ready"  # the selector reported an fd ready; a callback consumed it
WAKE_TIMER = "timer"  # the selector wait timed out for a timer (asyncio.sleep, call_later)
WAKE_TASK = "task"  # another task's step resolved what this one awaited (call_soon)
WAKE_CALLBACK = "callback"  # a callback the loop ran resolved it (gather's done callback, ...)
WAKE_THREAD = "thread"  # another thread woke the loop (call_soon_threadsafe via the self-pipe)
WAKE_YIELDED = "yielded"  # `await asyncio.sleep(0)`: the task rescheduled itself at once
WAKE_UNKNOWN = "unknown"


WAKE_CAUSES = (
    WAKE_FIRST, WAKE_FD, WAKE_TIMER, WAKE_TASK, WAKE_CALLBACK, WAKE_THREAD, WAKE_YIELDED,
    WAKE_UNKNOWN,
)  # fmt: skip
# Wake causes whose source is the loop's selector wait of `Wake.iteration`.
WAKE_BY_WAIT = frozenset({WAKE_FD, WAKE_TIMER, WAKE_THREAD})


class Frame(NamedTuple):
    qualname: str
    filename: str
    line: int  # 0 when not known (no call recorded there: never an earlier call's line)


class Place(NamedTuple):
    """Where part of a step's time went."""

    frame: Frame  # the innermost coroutine frame then, and its line (0 when not known)
    caller: Frame | None  # when `frame` is a library's: the innermost frame of the user's code
    ns: int


class Wake(NamedTuple):
    cause: str  # WAKE_*
    iteration: int | None  # the loop iteration whose wait/callbacks caused it
    fd: int | None = None  # for WAKE_FD / WAKE_THREAD: the fd reported ready
    detail: str = ""  # "recvfrom 23 bytes in _SelectorSocketTransport._read_ready"
    by: str | None = None  # the task or thread that caused it (WAKE_TASK, WAKE_THREAD)
    step: int | None = None  # StepItem.index (same pid) of the step or callback that caused it


class StepItem(NamedTuple):
    kind: str  # "task" | "callback"
    pid: int
    tid: int
    index: int  # serial of the step within its process
    task: int  # task key (unique per task instance within the process); 0 for callbacks
    name: str  # task name, or the callback's name
    start: int
    end: int | None  # None when the trace ended inside the step
    started_by: str  # "start" | "resume" | "throw" | "callback"
    ended_by: str  # "yield" | "return" | "unwind" | "callback-end" | "open"
    resumed_at: Frame | None  # where the innermost frame resumed (or the coroutine started)
    suspended_at: tuple[Frame, ...]  # await chain at suspension, innermost first
    awaiting: str | None  # kind of what the task now waits on ("sleep", "future", ...)
    iteration: int | None  # loop iteration the step ran in
    syscalls: int  # syscalls made during the step
    wake: Wake | None  # what woke this task step (None for callbacks)
    nested_ns: int = 0  # time inside other tasks' steps nested in this one (eager tasks)
    places: tuple[Place, ...] = ()  # task steps: where the step's own time went, largest first

    @property
    def duration(self) -> int | None:
        return None if self.end is None else self.end - self.start

    @property
    def own_ns(self) -> int | None:
        """The step's time without the steps nested in it: each moment is counted once."""
        return None if self.end is None else self.end - self.start - self.nested_ns


class SyscallItem(NamedTuple):
    call: Syscall
    pid: int
    owner: str  # OWNER_*
    task: int  # task key, 0 when not in a task step
    task_name: str | None
    step: int | None  # StepItem.index of the step that made it
    callback: str | None  # name of the callback that made it (or that ran the task step)
    frame: Frame | None  # innermost coroutine frame and line, when known
    iteration: int | None
    is_loop_wait: bool  # the selector wait of a loop iteration
    fd_key: tuple | None  # (pid, fd, generation) of the fd it used, for per-fd accounting
    fd_label: str | None  # "TCP 127.0.0.1:5000->127.0.0.1:40000", "pipe", path, ...
    io: str | None = None  # vocabulary.IO_IN / IO_OUT for calls that move payload bytes
    nbytes: int = 0  # payload bytes moved (the return value of an I/O call that succeeded)
    caller: Frame | None = None  # `frame` is a library's: the innermost frame of the user's code


class IterationItem(NamedTuple):
    pid: int
    tid: int
    index: int  # 1-based per loop thread
    wait: Syscall  # the selector wait (epoll_wait, poll, select, ...)
    timeout_ns: int | None  # what the loop asked for (None = block until I/O)
    waited_ns: int | None  # how long it actually waited
    ready: tuple[tuple[int, str], ...]  # (fd, events) reported ready
    busy_ns: int | None  # from the wait's return to the next wait: callbacks and steps ran
    steps: int  # steps run in this iteration
    timed_out: bool  # the wait returned 0 events after its timeout


Item = SyscallItem | StepItem | IterationItem


def item_time(item: Item) -> int:
    """When an item began: a syscall's entry, a step's start, an iteration's wait (0 unknown)."""
    kind = type(item)
    if kind is SyscallItem:
        return item.call.ts or 0
    if kind is StepItem:
        return item.start
    return item.wait.ts or 0


def item_end(item: Item) -> int:
    """When an item ended: a syscall's exit, a step's end (its start while still open), an
    iteration's wait return (0 unknown)."""
    kind = type(item)
    if kind is SyscallItem:
        return (item.call.ts or 0) + (item.call.duration or 0)
    if kind is StepItem:
        return item.end if item.end is not None else item.start
    return (item.wait.ts or 0) + (item.wait.duration or 0)
