"""Hand-built record streams for unit tests of correlation and analysis.

A `Scenario` is one traced process written by hand on one clock: strace lines (read by the real
parser, so the records are exactly what a trace gives) and agent events (`AgentEvent`s in an
`AgentLog`, as the agent's log reader returns them). A test states what the program did in a few
lines, in time order, and checks the items the real `Correlator` emits:

    s = Scenario()
    main = s.code("main", "/app/app.py", line=3)
    s.loop_wait(ready=[])                     # LOOP_ITERATION + epoll_wait on the loop's fd 3
    s.task_step(task=1, code=main, start="start", end="yield", body=lambda: s.syscall(...))
    items = s.correlate()

Times are µs after the scenario's origin; each helper advances the clock by what it took.
"""

from syscorr.correlate.engine import Correlator
from syscorr.correlate.model import IterationItem, StepItem, SyscallItem
from syscorr.parse import parse_strace
from syscorr.trace.agentlog import AgentEvent, AgentLog, CodeInfo, EventKind, TaskName

ORIGIN_NS = 1_795_566_123_000_000_000
LOOP_FD = 3  # the loop's epoll fd in every scenario
EPOLL = f"{LOOP_FD}<anon_inode:[eventpoll]>"

PUSH = {"start": EventKind.PY_START, "resume": EventKind.PY_RESUME, "throw": EventKind.PY_THROW}
POP = {"yield": EventKind.PY_YIELD, "return": EventKind.PY_RETURN, "unwind": EventKind.PY_UNWIND}


class Scenario:
    def __init__(self, pid: int = 100, agent: bool = True) -> None:
        self.pid = pid
        self.agent = agent
        self.now_ns = ORIGIN_NS
        self.lines: list[str] = []
        self.events: list[AgentEvent] = []
        self.codes: dict[int, CodeInfo] = {}
        self.names: dict[int, str] = {}
        self.task_names: list[TaskName] = []

    # ---- the clock ----

    def at(self, us: float) -> "Scenario":
        """Move the clock to `us` µs after the origin (never backwards)."""
        target = ORIGIN_NS + int(us * 1000)
        assert target >= self.now_ns, "a scenario is written in time order"
        self.now_ns = target
        return self

    def wait(self, us: float) -> "Scenario":
        """Let `us` µs pass (CPU work, or time nothing recorded saw)."""
        self.now_ns += int(us * 1000)
        return self

    # ---- what the agent knows ----

    def code(self, qualname: str, filename: str = "/app/app.py", line: int = 10) -> int:
        """A coroutine's code object; offset N of it is at line `line + N // 10`."""
        code_id = len(self.codes) + 1
        lines = tuple((n * 10, n * 10 + 10, line + n) for n in range(50))
        self.codes[code_id] = CodeInfo(qualname, filename, line, lines)
        return code_id

    def name(self, text: str) -> int:
        name_id = len(self.names) + 1
        self.names[name_id] = text
        return name_id

    def task_name(self, task: int, name: str) -> None:
        self.task_names.append(TaskName(task, self.now_ns, name))

    def event(
        self,
        kind: EventKind,
        code: int = 0,
        task: int = 0,
        offset: int = 0,
        tid: int | None = None,
        span_us: int = 0,
    ) -> None:
        """One agent event, stamped now; `span_us`: a CALL's span (0: not recorded)."""
        self.events.append(
            AgentEvent(
                int(kind),
                tid or self.pid,
                self.now_ns,
                task,
                code,
                offset,
                len(self.events),
                span_us,
            )
        )
        self.now_ns += 1_000  # 1 µs per event

    def call(self, code: int, offset: int, task: int = 0, span_us: int = 0) -> None:
        """A CALL the agent wrote in `code` at `offset` (it writes one only before a pause)."""
        self.event(EventKind.CALL, code, task, offset, span_us=span_us)

    # ---- what strace recorded ----

    def syscall(self, text: str, us: float = 5, tid: int | None = None) -> None:
        """One strace line `text` (`name(args) = ret`) that took `us` µs, stamped now."""
        sec, ns = divmod(self.now_ns, 1_000_000_000)
        duration = int(us * 1000)
        took = f"{duration // 10**9}.{duration % 10**9:09d}"
        self.lines.append(f"{tid or self.pid}  {sec}.{ns:09d} {text} <{took}>\n")
        self.now_ns += duration + 1_000

    # ---- asyncio shapes ----

    def loop_wait(
        self,
        ready: list[tuple[int, str]] = (),
        timeout_ms: int = -1,
        us: float = 20,
        tid: int | None = None,
    ) -> None:
        """One loop iteration's start: `_run_once` begins, then its epoll_wait returns `ready`."""
        if self.agent:
            self.event(EventKind.LOOP_ITERATION, tid=tid)
        events = ", ".join(f"{{events={mask}, data={{u32={fd}, u64={fd}}}}}" for fd, mask in ready)
        self.syscall(f"epoll_wait({EPOLL}, [{events}], 8, {timeout_ms}) = {len(ready)}", us, tid)

    def task_step(
        self,
        task: int,
        code: int,
        start: str = "resume",
        end: str = "yield",
        body=None,
        chain: tuple[int, ...] = (),
        waits_in: int | None = None,
        tid: int | None = None,
    ) -> None:
        """One step of `task` whose root coroutine is `code`: push, `body()`, pop. `chain` adds
        inner coroutine frames (outermost first) resumed and yielded with the root; `waits_in`
        is a standard-library coroutine (only its YIELD is recorded) the step suspends in."""
        frames = (code, *chain)
        for frame in frames:
            self.event(PUSH[start] if frame == code else EventKind.PY_RESUME, frame, task, tid=tid)
        if body is not None:
            body()
        if waits_in is not None and end == "yield":
            self.event(EventKind.PY_YIELD, waits_in, task, tid=tid)
        for frame in reversed(frames):
            self.event(POP[end], frame, task, tid=tid)

    def callback(self, name: str, task: int = 0, body=None, tid: int | None = None) -> None:
        """One callback the loop runs (`Handle._run` brackets)."""
        self.event(EventKind.CALLBACK_START, self.name(name), task, tid=tid)
        if body is not None:
            body()
        self.event(EventKind.CALLBACK_END, tid=tid)

    # ---- the result ----

    def agent_log(self) -> AgentLog:
        meta = {"pid": self.pid, "clock": "realtime", "main_tid": self.pid}
        threads = {self.pid: "MainThread"}
        for event in self.events:
            threads.setdefault(event.tid, f"thread-{event.tid}")
        return AgentLog(
            self.pid,
            meta,
            dict(self.codes),
            dict(self.names),
            list(self.task_names),
            threads,
            list(self.events),
            [],
            0,
            None,
            None,
            len(self.events),
        )

    def records(self) -> list:
        return list(parse_strace(iter(self.lines)))

    def correlate(self) -> list:
        logs = [self.agent_log()] if self.agent else []
        return list(Correlator(logs).run(self.records()))


def syscalls(items) -> list[SyscallItem]:
    return [i for i in items if type(i) is SyscallItem]


def steps(items) -> list[StepItem]:
    return [i for i in items if type(i) is StepItem]


def iterations(items) -> list[IterationItem]:
    return [i for i in items if type(i) is IterationItem]


def the_call(items, name: str) -> SyscallItem:
    (found,) = [i for i in syscalls(items) if i.call.name == name]
    return found
