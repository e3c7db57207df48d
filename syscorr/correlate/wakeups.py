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

_MISSING = object()


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


_KIND_OF: dict[tuple, str | None] = {}
KINDS_KEPT = 4096  # distinct await chains remembered (the cache starts over when full)


def awaiting_kind(chain: tuple[Frame, ...]) -> str | None:
    """What a suspended task waits on, from its await chain (innermost first)."""
    if not chain:
        return None
    kind = _KIND_OF.get(chain, _MISSING)
    if kind is _MISSING:
        if len(_KIND_OF) >= KINDS_KEPT:
            _KIND_OF.clear()
        kind = _KIND_OF[chain] = _awaiting_kind(chain)
    return kind


def _awaiting_kind(chain: tuple[Frame, ...]) -> str | None:
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


# For each kind of wait, the causes to try, best first.
PREFERENCE = {
    "sleep": ("timer", "callback", "task", "fd", "thread"),
    "io": ("own-fd", "fd", "callback", "task", "thread", "timer"),
    "thread": ("thread", "callback", "task", "own-fd", "timer"),
    "sync": ("task", "callback", "own-fd", "thread", "timer"),
}
DEFAULT_PREFERENCE = ("own-fd", "thread", "callback", "task", "fd", "timer")
TIMER_CALLBACKS = ("_set_result_unless_cancelled", "TimerHandle")


class Offer:
    """What one iteration offers as wake causes, indexed as its callbacks arrive: each step's
    query costs what its own fds and the self-pipe's fds cost, not what the iteration holds
    (10,000 tasks woken in one iteration made the plain scan quadratic).

    A callback that did I/O on (or used) a ready fd is a hit: its first such I/O, else its
    first such fd, in its own order. Hits are kept in run order; `claimed` (ready fds already
    named as a step's cause) only grows, so the first unclaimed hit moves forward only."""

    __slots__ = ("ready_at", "hits", "first_hit", "next_free", "seen", "timer", "plain")

    def __init__(self, ready: tuple) -> None:
        self.ready_at: dict[int, int] = {}  # fd -> its first position in the ready list
        for position, (fd, _) in enumerate(ready):
            self.ready_at.setdefault(fd, position)
        self.hits: list[tuple] = []  # (fd, fd key, detail, callback index), in run order
        self.first_hit: dict[tuple, int] = {}  # fd key -> position of its first hit
        self.next_free = 0  # no hit before this one is unclaimed
        self.seen = 0  # callbacks of the iteration indexed so far
        self.timer: CallbackRun | None = None  # the last timer callback
        self.plain: CallbackRun | None = None  # the last callback that did no I/O

    def catch_up(self, iteration) -> None:
        callbacks = iteration.callbacks
        if self.seen == len(callbacks):
            return
        ready, timed_out = self.ready_at, iteration.timed_out
        for run in callbacks[self.seen :]:
            hit = None
            for call_name, fd_key, nbytes in run.io:
                if fd_key[1] in ready:
                    hit = (fd_key[1], fd_key, f"{call_name} {nbytes} bytes in {run.name}")
                    break
            else:
                for fd_key in run.fds:
                    if fd_key[1] in ready:
                        hit = (fd_key[1], fd_key, f"handled by {run.name}")
                        break
            if hit is not None:
                self.first_hit.setdefault(hit[1], len(self.hits))
                self.hits.append((*hit, run.index))
            timer = run.name.startswith(TIMER_CALLBACKS)
            if timer:
                self.timer = run
            if not (run.io or run.name.endswith("_read_from_self") or (timed_out and timer)):
                self.plain = run
        self.seen = len(callbacks)

    def free_hit(self, claimed: set) -> tuple | None:
        """The first hit whose fd no step has claimed."""
        hits = self.hits
        while self.next_free < len(hits) and hits[self.next_free][0] in claimed:
            self.next_free += 1
        return hits[self.next_free] if self.next_free < len(hits) else None

    def own_hit(self, claimed: set, own: set, step_fds) -> tuple | None:
        """The first unclaimed hit on one of the task's fds (`own` or `step_fds`)."""
        hits = self.hits
        if len(own) + len(step_fds) > len(hits):
            for hit in hits:
                if hit[0] not in claimed and (hit[1] in own or hit[1] in step_fds):
                    return hit
            return None
        best = None
        first_hit = self.first_hit
        for fds in (own, step_fds):
            for fd_key in fds:
                position = first_hit.get(fd_key)
                # every hit on one fd key shares its fd number: claimed or not together
                if position is not None and (best is None or position < best):
                    if hits[position][0] not in claimed:
                        best = position
        return hits[best] if best is not None else None


def _offer(iteration) -> Offer:
    offer = iteration.offer
    if offer is None:
        offer = iteration.offer = Offer(iteration.ready)
    offer.catch_up(iteration)
    return offer


def _cause(cause: str, iteration, offer: Offer, memory, step_fds, selfpipe, pid) -> Wake | None:
    """The Wake `iteration` offers for `cause`, or None."""
    index = iteration.index
    if cause == "own-fd" or cause == "fd":
        if cause == "fd":
            hit = offer.free_hit(iteration.claimed)
        else:
            hit = offer.own_hit(iteration.claimed, memory.fds, step_fds)
        return None if hit is None else Wake(WAKE_FD, index, hit[0], hit[2], step=hit[3])
    if cause == "thread":
        pipe_fds = selfpipe.read_fds.get(pid)
        if not pipe_fds:
            return None
        ready_at = offer.ready_at
        if len(pipe_fds) < len(ready_at):
            positions = [ready_at[fd] for fd in pipe_fds if fd in ready_at]
            first = iteration.ready[min(positions)][0] if positions else None
        else:
            first = next((fd for fd, _ in iteration.ready if fd in pipe_fds), None)
        if first is None:
            return None
        poke = selfpipe.last_poke.get(pid)
        return Wake(
            WAKE_THREAD,
            index,
            first,
            "another thread woke the loop through its self-pipe (call_soon_threadsafe)",
            f"thread {poke[0]}" if poke else None,
        )
    if cause == "timer":
        if not iteration.timed_out or (offer.timer is None and iteration.callbacks):
            return None
        return Wake(
            WAKE_TIMER,
            index,
            detail="the loop's wait timed out for a timer",
            step=offer.timer.index if offer.timer is not None else None,
        )
    if cause == "callback":
        last = offer.plain
        if last is None:
            return None
        return Wake(
            WAKE_CALLBACK,
            index,
            by=last.name,
            detail=f"{last.name} resolved what it awaited",
            step=last.index,
        )
    if cause == "task" and iteration.task_steps:
        other = iteration.task_steps[-1]
        return Wake(
            WAKE_TASK,
            index,
            by=other.name,
            detail=f"a step of {other.name} resolved what it awaited",
            step=other.index,
        )
    return None


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
    order = PREFERENCE.get(awaiting_kind(memory.suspended_at), DEFAULT_PREFERENCE)
    for iteration in (previous, current):
        if iteration is None:
            continue
        offer = _offer(iteration)
        for cause in order:
            wake = _cause(cause, iteration, offer, memory, step_fds, selfpipe, pid)
            if wake is not None:
                if wake.fd is not None and wake.cause == WAKE_FD:
                    iteration.claimed.add(wake.fd)
                return wake
    return Wake(WAKE_UNKNOWN, current.index if current else None)
