"""The facts `syscorr explain` tells its story from, gathered in the one summary pass.

Contract: `Facts.observe(item)` is handed every correlation item (it is the `keep` predicate of
`summarize`, and always answers False so the summary keeps nothing itself); it keeps, up to fixed
caps, the steps, loop iterations and syscalls of loop threads, plus the set-up calls that matter
to the story wherever they happen (non-blocking mode, epoll creation and registration) and the
first EAGAIN failures; for each step that ran at least `step_ns`, what it spent in syscalls (so
a long step is told as waiting when it waited, not as CPU work). `code_origin(filename)` says
whose code a frame is in (asyncio, the rest of the standard library, an installed package, the
user's). `finish()` sorts them by time and indexes syscalls by step. The query
methods pick the examples the narrative quotes; each returns None (or empty) when the trace has
no such example, and never raises on odd traces. `SourceLines` quotes a line of a traced program
when its file can be found (next to the trace or where it was recorded), else says nothing.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from syscorr.correlate.model import (
    OWNER_PROCESS,
    WAKE_FD,
    WAKE_TIMER,
    Frame,
    IterationItem,
    StepItem,
    SyscallItem,
    item_time,
)
from syscorr.parse.vocabulary import IO_IN

MAX_STEPS = 5000
MAX_ITERATIONS = 5000
MAX_CALLS = 20000
MAX_SETUP = 200
MAX_EAGAIN = 20
NONBLOCK_CREATORS = frozenset({"socket", "socketpair", "accept4", "pipe2", "eventfd2"})
EPOLL_SETUP = frozenset({"epoll_create", "epoll_create1", "epoll_ctl"})
OUTPUT_FDS = (1, 2)


ASYNCIO, STDLIB, INSTALLED, GENERATED, USER = "asyncio", "stdlib", "installed", "generated", "user"


def code_origin(filename: str) -> str:
    """Whose code a file is: asyncio's own, the rest of the standard library, an installed
    package (site-packages, dist-packages), generated code (`<string>`), or the user's."""
    if filename.startswith("<"):
        return STDLIB if filename.startswith("<frozen") else GENERATED
    if "/site-packages/" in filename or "/dist-packages/" in filename:
        return INSTALLED
    if "/lib/python3" in filename:
        return ASYNCIO if "/asyncio/" in filename else STDLIB
    return USER


def package_of(filename: str) -> str:
    """The installed package a file belongs to: `aiohttp` for .../site-packages/aiohttp/x.py."""
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in filename:
            top = filename.rsplit(marker, 1)[1].split("/", 1)[0]
            return top.removesuffix(".py")
    return "?"


def is_library(filename: str) -> bool:
    """Not the user's program: asyncio, the standard library, installed packages, generated."""
    return code_origin(filename) != USER


def sets_nonblocking(call) -> bool:
    name, args = call.name, call.args
    if name == "fcntl":
        return "F_SETFL" in args and "O_NONBLOCK" in args
    if name == "ioctl":
        return "FIONBIO" in args and "[1]" in args
    return name in NONBLOCK_CREATORS and "NONBLOCK" in args and not call.errno


step_ts = item_time  # when an item began (see syscorr.correlate.model)


class StepCalls(NamedTuple):
    """What a long step spent in syscalls: total ns and per name (count, ns)."""

    step: StepItem
    syscall_ns: int
    by_name: dict


class Facts:
    def __init__(self, step_ns: int = 100_000_000) -> None:
        self.step_ns = step_ns  # steps this long get their syscall time broken down
        self.long_steps: list[StepCalls] = []
        self._open: dict[tuple[int, int], list] = {}  # (pid, step) -> [ns, {name: [n, ns]}]
        self.steps: list[StepItem] = []
        self.iterations: list[IterationItem] = []
        self.calls: list[SyscallItem] = []  # syscalls on loop threads (not process-owned)
        self.setup: list[SyscallItem] = []  # non-blocking mode, epoll set-up, anywhere
        self.eagain: list[SyscallItem] = []
        self.eagain_count = 0
        self.truncated = False  # a cap was reached: examples come from the first part
        self._by_step: dict[tuple[int, int], list[SyscallItem]] = {}

    def observe(self, item) -> bool:
        kind = type(item)
        if kind is SyscallItem:
            self._call(item)
            if item.step is not None:
                entry = self._open.get((item.pid, item.step))
                if entry is None:
                    entry = self._open[(item.pid, item.step)] = [0, {}]
                duration = item.call.duration or 0
                entry[0] += duration
                count = entry[1].setdefault(item.call.name, [0, 0])
                count[0] += 1
                count[1] += duration
        elif kind is StepItem:
            self._keep(self.steps, item, MAX_STEPS)
            entry = self._open.pop((item.pid, item.index), None)
            if (item.duration or 0) >= self.step_ns:
                ns, names = entry if entry is not None else (0, {})
                self.long_steps.append(StepCalls(item, ns, {k: tuple(v) for k, v in names.items()}))
        elif kind is IterationItem:
            self._keep(self.iterations, item, MAX_ITERATIONS)
        return False

    def _keep(self, into: list, item, cap: int) -> None:
        if len(into) < cap:
            into.append(item)
        else:
            self.truncated = True

    def _call(self, item: SyscallItem) -> None:
        call = item.call
        if call.errno == "EAGAIN":
            self.eagain_count += 1
            if len(self.eagain) < MAX_EAGAIN:
                self.eagain.append(item)
        if (call.name in EPOLL_SETUP or sets_nonblocking(call)) and len(self.setup) < MAX_SETUP:
            self.setup.append(item)
        if item.owner != OWNER_PROCESS:
            self._keep(self.calls, item, MAX_CALLS)

    def finish(self) -> "Facts":
        for items in (self.steps, self.iterations, self.calls, self.setup, self.eagain):
            items.sort(key=step_ts)
        for item in self.calls:
            if item.step is not None:
                self._by_step.setdefault((item.pid, item.step), []).append(item)
        return self

    # ---- queries ----

    def calls_of(self, step: StepItem) -> list[SyscallItem]:
        return self._by_step.get((step.pid, step.index), [])

    def output_of(self, step: StepItem) -> str | None:
        """What the step printed (its writes to stdout/stderr), as text."""
        parts = []
        for item in self.calls_of(step):
            fd = item.fd_key[1] if item.fd_key else None
            if item.call.name in ("write", "writev") and fd in OUTPUT_FDS:
                data = item.call.data()
                if data is not None:
                    parts.append(data.data.decode("utf-8", "replace"))
        text = "".join(parts).strip()
        return text or None

    def task_steps(self) -> list[StepItem]:
        return [s for s in self.steps if s.kind == "task"]

    def user_task_steps(self) -> list[StepItem]:
        """Steps of tasks whose coroutine is in the user's code (not asyncio's own)."""
        users = self.user_tasks()
        return [s for s in self.task_steps() if (s.pid, s.task) in users]

    def user_tasks(self) -> dict[tuple[int, int], StepItem]:
        """(pid, task key) -> first step, for tasks whose first frame is in the user's code."""
        firsts: dict[tuple[int, int], StepItem] = {}
        for step in self.task_steps():
            firsts.setdefault((step.pid, step.task), step)
        return {
            key: step
            for key, step in firsts.items()
            if step.resumed_at is not None and not is_library(step.resumed_at.filename)
        }

    def example_coroutine(self) -> tuple[StepItem, StepItem | None] | None:
        """A user task's first step that suspended, and its next step: prefer a task started by
        another (a worker) over the program's root task."""
        firsts = sorted(self.user_tasks().values(), key=lambda s: s.start)
        started = [s for s in firsts if s.started_by == "start" and s.ended_by == "yield"]
        if not started:
            return None
        workers = [s for s in started if s.suspended_at and len(s.suspended_at) > 1]
        first = (workers or started[1:] or started)[0]
        later = next(
            (s for s in self.task_steps() if s.task == first.task and s.start > first.start), None
        )
        return first, later

    def user_frame_in_library_task(self) -> tuple[StepItem, Frame] | None:
        """When no task is rooted in the user's code (a framework's tasks run the user's
        handlers: aiohttp's RequestHandler.start, uvicorn's protocol cycle), the first task step
        whose await chain holds one of the user's coroutines, with that frame (innermost)."""
        for step in self.task_steps():
            for frame in step.suspended_at:
                if not is_library(frame.filename):
                    return step, frame
        return None

    def loop_threads(self) -> list[tuple[int, int]]:
        seen: dict[tuple[int, int], None] = {}
        for it in self.iterations:
            seen.setdefault((it.pid, it.tid), None)
        return list(seen)

    def iteration(self, tid: int, index: int | None) -> IterationItem | None:
        if index is None:
            return None
        return next((i for i in self.iterations if i.tid == tid and i.index == index), None)

    def steps_in(self, tid: int, index: int) -> list[StepItem]:
        return [s for s in self.steps if s.tid == tid and s.iteration == index]

    def timer_wake(self) -> tuple[StepItem, IterationItem] | None:
        """A task step woken by a timer, with the iteration whose wait timed out for it;
        prefers a wait with a real timeout (not 0) and a user task."""
        users = self.user_tasks()
        best = None
        for step in self.task_steps():
            if step.wake is None or step.wake.cause != WAKE_TIMER:
                continue
            it = self.iteration(step.tid, step.wake.iteration)
            if it is None:
                continue
            score = (bool(it.timeout_ns), (step.pid, step.task) in users)
            if best is None or score > best[0]:
                best = (score, step, it)
        return None if best is None else (best[1], best[2])

    def fd_wake(self) -> tuple[StepItem, IterationItem, SyscallItem | None] | None:
        """A task step woken because the selector reported an fd ready, the iteration that
        reported it, and the read a callback made on that fd in that iteration (examples
        with such a read, in a user task, come first)."""
        users = self.user_tasks()
        best = None
        for step in self.task_steps():
            wake = step.wake
            if wake is None or wake.cause != WAKE_FD or wake.fd is None:
                continue
            it = self.iteration(step.tid, wake.iteration)
            if it is None or not any(fd == wake.fd for fd, _ in it.ready):
                continue
            read = next(
                (
                    c
                    for c in self.calls
                    if c.call.tid == step.tid
                    and c.iteration == wake.iteration
                    and c.fd_key is not None
                    and c.fd_key[1] == wake.fd
                    and c.io == IO_IN
                    and (c.call.retval or 0) > 0
                ),
                None,
            )
            score = (read is not None, (step.pid, step.task) in users)
            if best is None or score > best[0]:
                best = (score, (step, it, read))
            if score == (True, True):
                break
        return None if best is None else best[1]

    def ready_then_read(self) -> tuple[IterationItem, SyscallItem] | None:
        """Without agent events: a wait that reported an fd readable, and the read on that fd
        that followed in the same iteration."""
        for it in self.iterations:
            readable = {fd for fd, events in it.ready if "IN" in events}
            for c in self.calls:
                if (
                    c.call.tid == it.tid
                    and c.iteration == it.index
                    and c.fd_key is not None
                    and c.fd_key[1] in readable
                    and c.io == IO_IN
                    and (c.call.retval or 0) > 0
                ):
                    return it, c
        return None

    def nonblocking_calls(self) -> Iterator[SyscallItem]:
        return (c for c in self.setup if sets_nonblocking(c.call))

    def loop_epoll_fd(self, tid: int) -> int | None:
        """The epoll fd the loop on thread `tid` waits on: the first argument of its waits."""
        for it in self.iterations:
            if it.tid == tid and it.wait.name in ("epoll_wait", "epoll_pwait", "epoll_pwait2"):
                return _fd_number(it.wait.arg_list()[:1])
        return None

    def epoll_created(self, pid: int, fd: int, before: int | None) -> SyscallItem | None:
        """The epoll_create that made fd `fd` in process `pid` last before `before`."""
        found = None
        for c in self.setup:
            if (
                c.pid == pid
                and c.call.name in ("epoll_create", "epoll_create1")
                and c.call.retval == fd
                and (before is None or (c.call.ts or 0) <= before)
            ):
                found = c
        return found

    def epoll_added(self, pid: int, fd: int) -> list[SyscallItem]:
        """The fds registered (EPOLL_CTL_ADD) in the epoll instance `fd` of process `pid`."""
        return [
            c
            for c in self.setup
            if c.pid == pid
            and c.call.name == "epoll_ctl"
            and "EPOLL_CTL_ADD" in c.call.args
            and _fd_number(c.call.arg_list()[:1]) == fd
        ]

    def long_step(self, pid: int, tid: int, ts: int | None) -> StepCalls | None:
        """The long step of thread `tid` that was running at `ts` (a long-step finding)."""
        for entry in self.long_steps:
            step = entry.step
            if step.pid == pid and step.tid == tid and ts is not None:
                if step.start <= ts <= (step.end if step.end is not None else step.start):
                    return entry
        return None


def _fd_number(args: list) -> int | None:
    """The fd of a decoded argument such as `3<anon_inode:[eventpoll]>`."""
    if not args:
        return None
    head = args[0].split("<", 1)[0].strip()
    return int(head) if head.isdigit() else None


class SourceLines:
    """Quote lines of the traced program's files, found where they were or next to the trace."""

    def __init__(self, bases: list[Path]) -> None:
        self.bases = bases
        self._files: dict[str, list[str] | None] = {}

    def line(self, frame: Frame | None) -> str | None:
        if frame is None or is_library(frame.filename):
            return None
        lines = self._files.get(frame.filename, ...)
        if lines is ...:
            lines = self._files[frame.filename] = self._read(frame.filename)
        if lines is None or not 0 < frame.line <= len(lines):
            return None
        return lines[frame.line - 1].strip() or None

    def _read(self, filename: str) -> list[str] | None:
        path = Path(filename)
        parts = path.parts[1:] if path.is_absolute() else path.parts
        candidates = [path] + [
            base / Path(*parts[i:]) for base in self.bases for i in range(len(parts))
        ]
        for candidate in candidates:
            try:
                if candidate.is_file():
                    return candidate.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
        return None
