"""The correlation engine: parsed syscalls + agent events in, attributed timeline items out.

Contract: `Correlator(agent_logs, ignore_paths).run(records)` is a generator. It consumes the
parser's records once, in log order, and yields `SyscallItem`, `StepItem` and `IterationItem`
(see model.py). Each thread's agent events are merged with that thread's syscalls by timestamp
(an event goes before a syscall that has a later stamp; ties keep stream order), which is exact
because both sides stamp on one clock. Memory is bounded by the open state (threads, open steps,
fds, the last two iterations of each loop) plus the agent logs already read; nothing is kept per
syscall. Syscalls of the agent itself (its setup, its log file, its module files) are dropped
and counted in `stats.agent_syscalls`.

Task names (syscorr.correlate.names): an item carries the task's name as of the moment it is
emitted (a task step's syscalls and the step itself: as of the step's end), as shown (`Task-21
handle_request` for a task left at asyncio's default name). A task has one name, the last one
it had: after the run, `final_task_names()` gives it for every task, and
`names.with_final_names(items, names)` applies it to items kept for rendering.
"""

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from syscorr.correlate import wakeups
from syscorr.correlate.fdtable import FdTable
from syscorr.correlate.model import (
    OWNER_CALLBACK,
    OWNER_LOOP,
    OWNER_PROCESS,
    OWNER_TASK,
    OWNER_THREAD,
    IterationItem,
    StepItem,
    SyscallItem,
)
from syscorr.correlate.names import TaskNames
from syscorr.correlate.steps import ClosedStep, ThreadSteps
from syscorr.correlate.usercode import CodeOrigin
from syscorr.parse.records import Syscall
from syscorr.parse.vocabulary import (
    CLONE_CALLS,
    EPOLL_WAITS,
    INPUT_CALLS,
    IO_OUT,
    OUTPUT_CALLS,
    SELECTOR_WAITS,
    io_direction,
)
from syscorr.trace.agentlog import AgentLog, EventKind, iter_agent_events


@dataclass(slots=True)
class CorrelationStats:
    syscalls: int = 0
    agent_syscalls: int = 0
    agent_events: int = 0
    steps: int = 0
    iterations: int = 0
    processes: set = field(default_factory=set)


@dataclass(slots=True)
class LoopIteration:
    """An iteration in progress (or just finished) on one loop thread."""

    index: int
    wait: Syscall
    ready: tuple
    timed_out: bool
    callbacks: list = field(default_factory=list)  # wakeups.CallbackRun, in run order
    task_steps: list = field(default_factory=list)  # wakeups.TaskRun, in run order
    steps: int = 0
    claimed: set = field(default_factory=set)  # ready fds already named as a wake cause
    offer: object = None  # wakeups.Offer: its wake causes, indexed (made when first asked)


@dataclass(slots=True)
class ThreadState:
    pid: int
    tid: int
    steps: ThreadSteps | None  # None when the process has no agent log
    events: deque  # this thread's agent events read from its log but not yet merged
    is_loop: bool = False
    iteration: LoopIteration | None = None
    previous: LoopIteration | None = None
    wait_end: int | None = None  # when the current iteration's wait returned
    setup_window: tuple[int, int] | None = None
    loop_fd: tuple | None = None  # fd key of the selector (epoll) fd its loop waits on
    on_behalf: tuple[int, int] | None = None  # (pid, id(task)) whose executor work runs here


_new = tuple.__new__
_IO_OF = {name: io_direction(name) for name in INPUT_CALLS | OUTPUT_CALLS}
_CALL = int(EventKind.CALL)
_LOOP_ITERATION = int(EventKind.LOOP_ITERATION)
_WORK_SUBMIT, _WORK_START, _WORK_END = (
    int(EventKind.WORK_SUBMIT),
    int(EventKind.WORK_START),
    int(EventKind.WORK_END),
)


class AgentStream:
    """One agent log read once, in file order, into per-thread buffers on demand: a thread's
    events are read as far as the engine needs them, so memory holds only the events other
    threads have not consumed yet (file order and strace's order are both close to time
    order). Executor submissions are reported to `on_submit` as they are read, which is
    before any worker can start the work."""

    def __init__(self, log: AgentLog, on_submit) -> None:
        self.pid = log.pid
        source = log.events if log.events or log.path is None else iter_agent_events(log.path)
        self._events = iter(source)
        self._buffers: dict[int, deque] = {}
        self._on_submit = on_submit
        self.done = False

    def buffer(self, tid: int) -> deque:
        buf = self._buffers.get(tid)
        if buf is None:
            buf = self._buffers[tid] = deque()
        return buf

    def tids(self) -> list[int]:
        return list(self._buffers)

    def read_until(self, tid: int, ts: int) -> None:
        """Read until `tid` has an event at or after `ts`, or the log ends."""
        buf = self._buffers.get(tid)
        if self.done or (buf and buf[-1].ts >= ts):
            return
        buffers, submit, pid = self._buffers, _WORK_SUBMIT, self.pid
        for event in self._events:
            target = buffers.get(event.tid)
            if target is None:
                target = buffers[event.tid] = deque()
            target.append(event)
            if event.kind == submit:
                self._on_submit(pid, event)
            if event.tid == tid and event.ts >= ts:
                return
        self.done = True

    def read_all(self) -> None:
        self.read_until(-1, 0)


class Correlator:
    def __init__(
        self,
        agent_logs: list[AgentLog],
        ignore_paths: tuple[str, ...] = (),
        inherited_fds: dict | None = None,
    ) -> None:
        self.logs = {log.pid: log for log in agent_logs}
        self.fds = FdTable(inherited_fds)
        self.stats = CorrelationStats()
        self.ignore_paths = tuple(p for p in ignore_paths if p)
        self.threads: dict[int, ThreadState] = {}
        self.pid_of: dict[int, int] = {}
        self.task_keys: dict[tuple[int, int], int] = {}  # (pid, id(task)) -> task key
        self.names = TaskNames(agent_logs, self._task_key)
        self.task_info: dict[tuple[int, int], wakeups.TaskMemory] = {}
        self.step_serial: dict[int, int] = {}
        self._last_task_key = 0
        self.loop_tid: dict[int, int] = {}  # pid -> its (first) loop thread
        self.selfpipe = wakeups.SelfPipe()
        self._loop_fds: dict[tuple, ThreadState] = {}  # selector fd key -> its loop's thread
        # id(work item) -> [(ts, pid, id(task))]: who submitted executor work (ids get reused)
        self._submits: dict[int, list] = {}
        self._streams: dict[int, AgentStream] = {}
        self._origins: dict[int, CodeOrigin] = {}
        self._out: list = []  # items emitted while handling the current record
        # a text every ignored path contains: most syscalls are told apart by one `in`
        self._ignore_mark = "/" if all("/" in p for p in self.ignore_paths) else ""
        for log in agent_logs:
            stream = AgentStream(log, self._note_submit)
            self._streams[log.pid] = stream
            for tid in log.threads:
                self.pid_of.setdefault(tid, log.pid)
            self.pid_of.setdefault(log.pid, log.pid)

    def _note_submit(self, pid: int, event) -> None:
        work = event.code << 32 | event.offset
        self._submits.setdefault(work, []).append((event.ts, pid, event.task))

    # ---- threads and processes ----

    def _thread(self, tid: int) -> ThreadState:
        state = self.threads.get(tid)
        if state is None:
            pid = self.pid_of.setdefault(tid, tid)
            log = self.logs.get(pid)
            steps = None
            if log is not None:
                origin = self._origins.get(pid)
                if origin is None:
                    origin = self._origins[pid] = CodeOrigin(log.meta.get("stdlib_dir"))
                gap = log.meta.get("call_gap_ns")
                steps = ThreadSteps(log.codes, origin, gap if isinstance(gap, int) else 500_000)
            stream = self._streams.get(pid)
            events = stream.buffer(tid) if stream is not None else deque()
            window = None
            if log is not None and tid == log.meta.get("main_tid", pid):
                start, end = log.meta.get("setup_start_ns"), log.meta.get("setup_end_ns")
                if isinstance(start, int) and isinstance(end, int):
                    window = (start, end)
            state = ThreadState(pid, tid, steps, events, setup_window=window)
            self.threads[tid] = state
            self.stats.processes.add(pid)
        return state

    def _note_clone(self, state: ThreadState, call: Syscall) -> None:
        child = call.retval
        if child is None or child <= 0 or call.errno:
            return
        if "CLONE_THREAD" in call.args:
            self.pid_of.setdefault(child, state.pid)
        else:
            self.pid_of.setdefault(child, child)
            self.fds.fork_process(state.pid, child)

    # ---- tasks ----

    def _task_key(self, pid: int, task_id: int) -> int:
        key = self.task_keys.get((pid, task_id))
        if key is None:
            key = self.task_keys[(pid, task_id)] = self._new_task_key()
        return key

    def _new_task_key(self) -> int:
        self._last_task_key += 1
        return self._last_task_key

    def _task_name(self, pid: int, key: int, task_id: int, upto: int | None) -> str:
        return self.names.at(pid, key, task_id, upto)

    def final_task_names(self) -> dict[tuple[int, int], str]:
        """After `run`: (pid, task key) -> the task's last name, as shown."""
        return self.names.final()

    # ---- the main pass ----

    def run(self, records: Iterable) -> Iterator:
        # The methods below append what they emit to `out`, flushed after each record: one
        # list instead of a generator per record and per step (the engine's hot path).
        out = self._out
        threads, streams, syscall = self.threads, self._streams, self._syscall
        for record in records:
            if type(record) is not Syscall:
                continue
            tid, ts = record.tid, record.ts
            if tid is None and ts is None:
                syscall(self._thread(0), record)
            else:
                if tid is None:
                    tid = 0
                state = threads.get(tid)
                if state is None:
                    state = self._thread(tid)
                if state.steps is not None and ts is not None:
                    events = state.events
                    if not events or events[-1].ts < ts:
                        streams[state.pid].read_until(tid, ts)
                    if events and events[0].ts < ts:
                        self._drain(state, ts)
                syscall(state, record)
            if out:
                yield from out
                out.clear()
        for stream in self._streams.values():
            stream.read_all()
            for tid in stream.tids():  # threads that made no traced syscall, too
                self._thread(tid)
        for state in list(self.threads.values()):
            self._drain(state, None)
        for state in list(self.threads.values()):
            if state.steps is not None:
                for closed in state.steps.close_all():
                    self._close(state, closed)
            if state.iteration is not None:
                out.append(self._end_iteration(state, None))
        yield from out
        out.clear()

    def _drain(self, state: ThreadState, before: int | None) -> None:
        events = state.events
        steps = state.steps
        if steps is None:
            self.stats.agent_events += len(events)
            events.clear()
            return
        feed, tasks, callbacks = steps.feed, steps.tasks, steps.callbacks
        popleft = events.popleft
        count = 0
        while events and (before is None or events[0].ts < before):
            event = popleft()
            count += 1
            kind = event.kind
            if kind == _CALL:  # the most frequent: it only moves the innermost frame's line
                feed(event)
                continue
            if kind >= _WORK_SUBMIT:
                if kind == _WORK_START:
                    state.on_behalf = self._submitter(event)
                elif kind == _WORK_END:
                    state.on_behalf = None
                continue
            if kind == _LOOP_ITERATION:
                state.is_loop = True
                self.loop_tid.setdefault(state.pid, state.tid)
            opened_before = len(tasks)
            closed_steps = feed(event)
            if closed_steps:
                for closed in closed_steps:
                    self._close(state, closed)
            if len(tasks) > opened_before:
                self._opened_task(state, tasks[-1])
            if callbacks and not callbacks[-1].index:
                callbacks[-1].index = self._next_step_index(state.pid)
        self.stats.agent_events += count

    def _submitter(self, start) -> tuple[int, int] | None:
        """The (pid, id(task)) that submitted the work item a worker thread starts."""
        best = None
        for ts, pid, task in self._submits.get(start.task, ()):
            if ts <= start.ts:
                best = (pid, task)
        return best

    def _next_step_index(self, pid: int) -> int:
        serial = self.step_serial.get(pid, 0) + 1
        self.step_serial[pid] = serial
        return serial

    def _opened_task(self, state: ThreadState, step) -> None:
        key = self._task_key(state.pid, step.task)
        memory = self._memory(state.pid, key)
        if step.started_by == "start" and memory.finished:  # id() reused by a new task
            key = self._new_task_key()
            self.task_keys[(state.pid, step.task)] = key
            memory = self._memory(state.pid, key)
        step.key = key
        if step.resumed_at is not None:
            self.names.root(state.pid, key, step.resumed_at.qualname)
        step.index = self._next_step_index(state.pid)
        if state.iteration is not None:
            state.iteration.steps += 1

    def _memory(self, pid: int, key: int) -> wakeups.TaskMemory:
        memory = self.task_info.get((pid, key))
        if memory is None:
            memory = self.task_info[(pid, key)] = wakeups.TaskMemory()
        return memory

    def _close(self, state: ThreadState, closed: ClosedStep) -> None:
        """Emit a step that ended: a task step's syscalls (held back until now, so they carry
        the name the task has when its step ends: `set_name` often comes in the first step),
        then the step itself."""
        step = closed.step
        pid = state.pid
        iteration = state.iteration.index if state.iteration is not None else None
        places = ()
        if step.kind == "task":
            places = state.steps.places_of(step)
            name = self.names.at(pid, step.key, step.task, closed.end or step.start)
            memory = self._memory(pid, step.key)
            wake = wakeups.explain(
                step.started_by,
                memory,
                state.iteration,
                state.previous,
                self.selfpipe,
                pid,
                step.fds,
            )
            memory.suspended_at = closed.chain
            memory.fds.update(step.fds)
            memory.finished = closed.ended_by in ("return", "unwind")
            if memory.finished and closed.end is not None:
                self.names.ended(pid, step.key, closed.end)
            if state.iteration is not None:
                state.iteration.task_steps.append(wakeups.TaskRun(step.key, name, step.index))
            if step.items_name == name:  # every item already carries the name
                self._out.extend(step.items)
            else:
                self._out.extend(
                    item if item.task_name == name else item._replace(task_name=name)
                    for item in step.items
                )
            step.items.clear()
        else:
            if step.contains_task_step:
                return  # the Handle that ran a task step: the task step tells it
            log = self.logs.get(pid)
            name = log.names.get(step.name_id, "callback") if log else "callback"
            if state.iteration is not None:
                state.iteration.callbacks.append(
                    wakeups.CallbackRun(name, step.fds, step.io, state.tid, step.index)
                )
                state.iteration.steps += 1
            self.selfpipe.note_callback(pid, name, step.fds)
            wake = None
        self.stats.steps += 1
        self._out.append(
            _new(
                StepItem,
                (
                    step.kind,
                    pid,
                    state.tid,
                    step.index,
                    step.key,
                    name,
                    step.start,
                    closed.end,
                    step.started_by,
                    closed.ended_by,
                    step.resumed_at,
                    closed.chain,
                    wakeups.awaiting_kind(closed.chain),
                    iteration,
                    step.syscalls,
                    wake,
                    step.nested_ns,
                    places,
                ),
            )
        )

    def _is_agent_call(self, state: ThreadState, call: Syscall) -> bool:
        window = state.setup_window
        if window is not None and call.ts is not None and window[0] <= call.ts <= window[1]:
            return True
        args = call.args
        if self._ignore_mark not in args:
            return False
        return any(path in args for path in self.ignore_paths)

    def _syscall(self, state: ThreadState, call: Syscall) -> None:
        window, ts = state.setup_window, call.ts
        if (window is not None and ts is not None and window[0] <= ts <= window[1]) or (
            self._ignore_mark in call.args and self._is_agent_call(state, call)
        ):
            self.stats.agent_syscalls += 1
            return
        self.stats.syscalls += 1
        name = call.name
        if name in CLONE_CALLS:
            self._note_clone(state, call)
        fd_key, fd_label = self.fds.observe(state.pid, call)
        steps = state.steps
        if steps is None:
            open_step = None
        elif steps.tasks:
            open_step = steps.tasks[-1]
        else:
            open_step = steps.callbacks[-1] if steps.callbacks else None
        is_wait = (
            name in SELECTOR_WAITS
            and open_step is None
            and (state.is_loop or (name in EPOLL_WAITS and (steps is None or not steps.frames)))
        )
        if is_wait:
            if not state.is_loop:
                state.is_loop = True
                self.loop_tid.setdefault(state.pid, state.tid)
            if state.iteration is not None:
                self._out.append(self._end_iteration(state, call.ts))
            self._begin_iteration(state, call, fd_key)
        io = _IO_OF.get(name)
        retval = call.retval
        nbytes = retval if io is not None and retval is not None and retval > 0 else 0
        if open_step is not None:
            open_step.syscalls += 1
            if fd_key is not None:
                open_step.fds.add(fd_key)
                if io is not None:
                    open_step.io.append((name, fd_key, nbytes))
        if fd_key is not None and io == IO_OUT:
            kind = self.fds.kind(fd_key)
            self.selfpipe.note_write(state.pid, state.tid, kind, call, self.loop_tid)
        owner, task, task_name, callback = self._owner(state, open_step, call)
        frame = caller = None
        if open_step is not None:
            frame = steps.innermost(call.ts)
            if open_step.kind == "task":
                caller = steps.caller(open_step.base_depth)
        item = _new(  # SyscallItem(...) without its Python-level __new__ (the hot path)
            SyscallItem,
            (
                call,
                state.pid,
                owner,
                task,
                task_name,
                open_step.index if open_step is not None else None,
                callback,
                frame,
                state.iteration.index if state.iteration is not None else None,
                is_wait,
                fd_key,
                fd_label,
                io,
                nbytes,
                caller,
            ),
        )
        if open_step is not None and open_step.kind == "task":
            open_step.items.append(item)  # emitted when the step ends (see _close)
            if len(open_step.items) == 1:
                open_step.items_name = task_name
            elif open_step.items_name != task_name:
                open_step.items_name = None
        else:
            self._out.append(item)
        if name == "close" and fd_key in self._loop_fds and call.retval == 0:
            # `loop.close()` closed the selector: that loop is over, and its thread is a plain
            # thread again (what it does next, e.g. after `asyncio.run`, blocks no loop).
            self._end_loop(self._loop_fds.pop(fd_key), call.ts)

    def _owner(self, state: ThreadState, open_step, call: Syscall):
        steps = state.steps
        callback = None
        if steps is not None and steps.callbacks:
            log = self.logs.get(state.pid)
            callback = log.names.get(steps.callbacks[-1].name_id) if log else None
        if open_step is not None and open_step.kind == "task":
            name = self.names.at(state.pid, open_step.key, open_step.task, call.ts or 0)
            return OWNER_TASK, open_step.key, name, callback
        if open_step is not None:
            return OWNER_CALLBACK, 0, None, callback
        if state.is_loop:
            return OWNER_LOOP, 0, None, None
        if state.on_behalf is not None:
            pid, task_id = state.on_behalf
            key = self._task_key(pid, task_id)
            return OWNER_THREAD, key, self._task_name(pid, key, task_id, call.ts or 0), None
        if state.pid in self.loop_tid:
            return OWNER_THREAD, 0, None, None
        return OWNER_PROCESS, 0, None, None

    # ---- loop iterations ----

    def _begin_iteration(self, state: ThreadState, call: Syscall, fd_key) -> None:
        index = (
            state.iteration.index
            if state.iteration
            else state.previous.index
            if state.previous
            else 0
        ) + 1
        ready = wakeups.ready_fds(call)
        timed_out = call.retval == 0
        state.iteration = LoopIteration(index, call, ready, timed_out)
        if fd_key is not None and state.loop_fd != fd_key:
            state.loop_fd = fd_key
            self._loop_fds[fd_key] = state
        if call.ts is not None and call.duration is not None:
            state.wait_end = call.ts + call.duration
        else:
            state.wait_end = None
        self.stats.iterations += 1

    def _end_loop(self, state: ThreadState, ts: int | None) -> None:
        """The loop of `state`'s thread closed its selector: its last iteration ends there."""
        if state.iteration is not None:
            self._out.append(self._end_iteration(state, ts))
        state.is_loop = False
        state.loop_fd = None
        if self.loop_tid.get(state.pid) == state.tid:
            del self.loop_tid[state.pid]

    def _end_iteration(self, state: ThreadState, next_wait_ts: int | None) -> IterationItem:
        it = state.iteration
        busy = None
        if next_wait_ts is not None and state.wait_end is not None:
            busy = max(0, next_wait_ts - state.wait_end)
        state.previous, state.iteration = it, None
        wait = it.wait
        return IterationItem(
            state.pid,
            state.tid,
            it.index,
            wait,
            wakeups.safe_timeout(wait),
            wait.duration,
            it.ready,
            busy,
            it.steps,
            it.timed_out,
        )
