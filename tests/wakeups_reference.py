"""The wake-cause search as it was before it was indexed (syscorr.correlate.wakeups.Offer):
the reference the differential test (tests/test_correlate_wakeups_index.py) compares every
step's Wake with. It scans every callback of an iteration for every step (quadratic in the
steps per iteration). `explain` here does not claim the fd it names: the caller lets the real
one do that, after asking this one first.
"""

from syscorr.correlate.model import (
    WAKE_CALLBACK,
    WAKE_FD,
    WAKE_FIRST,
    WAKE_TASK,
    WAKE_THREAD,
    WAKE_TIMER,
    WAKE_UNKNOWN,
    WAKE_YIELDED,
    Wake,
)
from syscorr.correlate.wakeups import (
    DEFAULT_PREFERENCE,
    PREFERENCE,
    TIMER_CALLBACKS,
    SelfPipe,
    TaskMemory,
    awaiting_kind,
)


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
                return wake
    return Wake(WAKE_UNKNOWN, current.index if current else None)
