"""Wake-up causality: why did this task step run now?

Contract: `explain(...)` is called when a task step opens and returns a `Wake`. asyncio runs a
woken task one iteration after the callback that resolved its future: iteration K's wait
reports fds ready (or times out for a timer), K's callbacks consume the readiness and resolve
futures, and the task's wakeup handle runs in iteration K+1. So the cause is looked for in the
previous iteration (and the current one, before this step), preferring what the task was
waiting on (`awaiting_kind` of its last suspension): its own fds for stream/socket waits, a
timeout for `sleep`, the self-pipe (written by another thread) for `to_thread`/executors, and
another task's step for locks, events, queues and plain futures.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

from syscorr.correlate.model import (
    WAKE_CALLBACK,
    WAKE_FD,
    WAKE_FIRST,
    WAKE_TASK,
    WAKE_THREAD,
    WAKE_TIMER,
    WAKE_UNKNOWN,
    WAKE_YIELDED,
    Frame,
    Wake,
)


class CallbackRun(NamedTuple):
    """A callback the loop ran in an iteration."""

    name: str
    fds: set  # fd keys it used
    io: list  # (call name, fd key, bytes) of the I/O it made
    tid: int
    index: int  # its StepItem.index


class TaskRun(NamedTuple):
    """A task step the loop ran in an iteration."""

    key: int  # the task's key
    name: str
    index: int  # its StepItem.index


@dataclass(slots=True)
class TaskMemory:
    """What the engine remembers of a task between its steps."""

    suspended_at: tuple[Frame, ...] = ()
    fds: set = field(default_factory=set)
    finished: bool = False


class SelfPipe:
    """Tracks each loop's self-pipe (the socketpair `call_soon_threadsafe` writes a byte to)."""

    def __init__(self) -> None:
        self.read_fds: dict[int, set[int]] = {}  # pid -> fds read by `_read_from_self`
        self.last_poke: dict[int, tuple[int, int]] = {}  # pid -> (tid, ts) of last write

    def note_callback(self, pid: int, name: str, fds: set) -> None:
        if name.endswith("_read_from_self"):
            self.read_fds.setdefault(pid, set()).update(key[1] for key in fds)

    def note_write(self, pid: int, tid: int, fd_kind: str, call, loop_tid: dict) -> None:
        """A write by another thread than the loop's, of one byte to a UNIX socket (the fd
        table's kind: `-y` or eBPF traces have no socket text to look at)."""
        if loop_tid.get(pid) not in (None, tid) and call.retval == 1 and fd_kind[:4] == "UNIX":
            self.last_poke[pid] = (tid, call.ts or 0)


def awaiting_kind(chain: tuple[Frame, ...]) -> str | None:
    """What a suspended task waits on, from its await chain (innermost first)."""
    if not chain:
        return None
    for frame in chain:
        where = frame.filename.replace("\\", "/")
        name = frame.qualname
        if "asyncio/" not in where:
            continue
        if name == "sleep" or name.endswith("__sleep0"):
            return "sleep"
        if where.endswith("asyncio/threads.py") or "run_in_executor" in name:
            return "thread"
        if where.endswith(("asyncio/streams.py", "asyncio/selector_events.py")):
            return "io"
        if where.endswith(("asyncio/locks.py", "asyncio/queues.py")):
            return "sync"
        if where.endswith("asyncio/subprocess.py") or where.endswith("asyncio/base_subprocess.py"):
            return "subprocess"
        if where.endswith("asyncio/tasks.py") and name in ("gather", "wait", "wait_for", "_wait"):
            return "tasks"
    return "future"


def ready_fds(call) -> tuple[tuple[int, str], ...]:
    """(fd, events) a selector wait reported ready; () when none or not decodable."""
    try:
        events = call.epoll_events() if call.name.startswith("epoll") else None
    except Exception:  # a damaged line must not stop the correlation
        return ()
    if not events:
        return ()
    items = getattr(events, "items", events)
    out = []
    for entry in items:
        fd, masks = entry[0], entry[1]
        out.append((fd, "|".join(masks) if isinstance(masks, tuple | list) else str(masks)))
    return tuple(out)


def safe_timeout(call) -> int | None:
    """The wait's timeout in ns; None for "until something is ready" (or unreadable)."""
    try:
        timeout = call.timeout_ns()
    except Exception:  # a damaged line must not stop the correlation
        return None
    return None if timeout is None or timeout < 0 else timeout


def _fd_candidates(iteration, own_fds: set):
    """(fd, detail, is_own, callback index) for each callback in `iteration` that did I/O on
    (or used) a ready fd."""
    ready = {fd for fd, _ in iteration.ready}
    found = []
    for run in iteration.callbacks:
        for call_name, fd_key, nbytes in run.io:
            if fd_key[1] in ready:
                detail = f"{call_name} {nbytes} bytes in {run.name}"
                found.append((fd_key[1], detail, fd_key in own_fds, run.index))
                break
        else:
            for fd_key in run.fds:
                if fd_key[1] in ready:
                    detail = f"handled by {run.name}"
                    found.append((fd_key[1], detail, fd_key in own_fds, run.index))
                    break
    return found


# For each kind of wait, the causes to try, best first.
PREFERENCE = {
    "sleep": ("timer", "callback", "task", "fd", "thread"),
    "io": ("own-fd", "fd", "callback", "task", "thread", "timer"),
    "thread": ("thread", "callback", "task", "own-fd", "timer"),
    "sync": ("task", "callback", "own-fd", "thread", "timer"),
}
DEFAULT_PREFERENCE = ("own-fd", "thread", "callback", "task", "fd", "timer")
TIMER_CALLBACKS = ("_set_result_unless_cancelled", "TimerHandle")


def _candidates(iteration, memory: TaskMemory, selfpipe: SelfPipe, pid: int) -> dict:
    """cause -> Wake, for what `iteration` offers."""
    found: dict[str, Wake] = {}
    index = iteration.index
    claimed = iteration.claimed
    hits = [h for h in _fd_candidates(iteration, memory.fds) if h[0] not in claimed]
    for fd, detail, own, step in hits:
        if own and "own-fd" not in found:
            found["own-fd"] = Wake(WAKE_FD, index, fd, detail, step=step)
    if hits:
        fd, detail, _, step = hits[0]
        found["fd"] = Wake(WAKE_FD, index, fd, detail, step=step)
    pipe_fds = selfpipe.read_fds.get(pid, set())
    pipe_ready = [fd for fd, _ in iteration.ready if fd in pipe_fds]
    if pipe_ready:
        poke = selfpipe.last_poke.get(pid)
        found["thread"] = Wake(
            WAKE_THREAD,
            index,
            pipe_ready[0],
            "another thread woke the loop through its self-pipe (call_soon_threadsafe)",
            f"thread {poke[0]}" if poke else None,
        )
    timer_callbacks = [cb for cb in iteration.callbacks if cb.name.startswith(TIMER_CALLBACKS)]
    if iteration.timed_out and (timer_callbacks or not iteration.callbacks):
        found["timer"] = Wake(
            WAKE_TIMER,
            index,
            detail="the loop's wait timed out for a timer",
            step=timer_callbacks[-1].index if timer_callbacks else None,
        )
    plain = [
        cb
        for cb in iteration.callbacks
        if not cb.io
        and not cb.name.endswith("_read_from_self")
        and not (iteration.timed_out and cb.name.startswith(TIMER_CALLBACKS))
    ]
    if plain:
        last = plain[-1]
        found["callback"] = Wake(
            WAKE_CALLBACK,
            index,
            by=last.name,
            detail=f"{last.name} resolved what it awaited",
            step=last.index,
        )
    if iteration.task_steps:
        other = iteration.task_steps[-1]
        found["task"] = Wake(
            WAKE_TASK,
            index,
            by=other.name,
            detail=f"a step of {other.name} resolved what it awaited",
            step=other.index,
        )
    return found


def explain(
    started_by: str,
    memory: TaskMemory,
    current,
    previous,
    selfpipe: SelfPipe,
    pid: int,
    step_fds: set = frozenset(),
) -> Wake:
    """The cause of a task step (see module contract); call it when the step has ended, so the
    fds the step itself used count as the task's own."""
    if started_by == "start":
        return Wake(WAKE_FIRST, current.index if current else None)
    if memory.suspended_at and memory.suspended_at[0].qualname.endswith("__sleep0"):
        index = previous.index if previous else None
        return Wake(WAKE_YIELDED, index, detail="sleep(0) yielded; the task rescheduled itself")
    kind = awaiting_kind(memory.suspended_at)
    order = PREFERENCE.get(kind, DEFAULT_PREFERENCE)
    own = TaskMemory(memory.suspended_at, memory.fds | set(step_fds))
    for iteration in (previous, current):
        if iteration is None:
            continue
        found = _candidates(iteration, own, selfpipe, pid)
        for cause in order:
            wake = found.get(cause)
            if wake is not None:
                if wake.fd is not None and wake.cause == WAKE_FD:
                    iteration.claimed.add(wake.fd)
                return wake
    return Wake(WAKE_UNKNOWN, current.index if current else None)
