"""Per-thread state machine that turns the agent's coroutine events into task and callback steps.

Contract: a `ThreadSteps` receives one thread's agent events in order (`feed`) and keeps:
- the coroutine frame stack (START/RESUME/THROW push, YIELD/RETURN/UNWIND pop; a CALL moves the
  innermost frame to the call's offset, which gives the current line); a YIELD of a code that
  is not the innermost frame is a standard-library coroutine's (the agent records only their
  YIELDs): it joins the await chain and leaves the stack alone;
- the open task steps (a stack: an eager task's first step runs inside another task's step);
  a step opens when a frame of a task is pushed onto a depth where that task has no open step,
  and closes when the stack falls back to that depth;
- the open callbacks (`Handle._run` brackets).
Closed steps come back from `feed` as `ClosedStep`s for the engine to complete (iteration, wake,
syscall counts) and emit. It knows nothing of syscalls.
"""

from dataclasses import dataclass, field

from syscorr.correlate.model import Frame
from syscorr.trace.agentlog import AgentEvent, CodeInfo, EventKind

# Keyed by int: an IntEnum member hashes by name, in Python, which is slow on this hot path.
PUSH = {int(EventKind.PY_START): "start", int(EventKind.PY_RESUME): "resume",
        int(EventKind.PY_THROW): "throw"}  # fmt: skip
POP = {int(EventKind.PY_YIELD): "yield", int(EventKind.PY_RETURN): "return",
       int(EventKind.PY_UNWIND): "unwind"}  # fmt: skip
_CALL, _YIELD = int(EventKind.CALL), int(EventKind.PY_YIELD)
_CB_START, _CB_END = int(EventKind.CALLBACK_START), int(EventKind.CALLBACK_END)


@dataclass(slots=True)
class OpenStep:
    kind: str  # "task" | "callback"
    task: int  # id() of the task in the agent's process (0 for callbacks)
    name_id: int  # callback name id (callbacks)
    start: int
    started_by: str
    base_depth: int
    resumed_at: Frame | None
    syscalls: int = 0
    contains_task_step: bool = False
    fds: set = field(default_factory=set)
    io: list = field(default_factory=list)  # (call name, fd, bytes) of I/O made in the step
    key: int = 0  # the engine's task key (id() values are reused after a task ends)
    index: int = 0  # the engine's serial for the step within its process, set when it opens
    items: list = field(default_factory=list)  # the engine's syscall items held until the end


@dataclass(slots=True)
class ClosedStep:
    step: OpenStep
    end: int | None
    ended_by: str
    chain: tuple[Frame, ...]  # await chain at suspension, innermost first


class ThreadSteps:
    def __init__(self, codes: dict[int, CodeInfo]) -> None:
        self.codes = codes
        self.frames: list[list[int]] = []  # [code id, offset] innermost last
        self.tasks: list[OpenStep] = []
        self.callbacks: list[OpenStep] = []
        self._yielded: list[Frame] = []  # frames popped by consecutive YIELDs, innermost first

    def frame(self, code_id: int, offset: int) -> Frame:
        info = self.codes.get(code_id)
        if info is None:
            return Frame(f"<code {code_id}>", "?", 0)
        return Frame(info.qualname, info.filename, info.line_at(offset))

    def innermost(self) -> Frame | None:
        if not self.frames:
            return None
        code_id, offset = self.frames[-1]
        return self.frame(code_id, offset)

    def current(self) -> OpenStep | None:
        """The innermost open step: a task step, else the innermost callback."""
        if self.tasks:
            return self.tasks[-1]
        return self.callbacks[-1] if self.callbacks else None

    def feed(self, event: AgentEvent) -> list[ClosedStep]:
        kind = event.kind
        if kind == _CALL:
            self._yielded.clear()
            frames = self.frames
            if frames and frames[-1][0] == event.code:
                frames[-1][1] = event.offset
            return []
        if kind in PUSH:
            self._yielded.clear()
            depth = len(self.frames)
            if event.task and (not self.tasks or self.tasks[-1].task != event.task):
                for cb in self.callbacks:
                    cb.contains_task_step = True
                self.tasks.append(
                    OpenStep(
                        "task",
                        event.task,
                        0,
                        event.ts,
                        PUSH[kind],
                        depth,
                        self.frame(event.code, event.offset),
                    )
                )
            self.frames.append([event.code, event.offset])
            return []
        if kind in POP:
            if kind == _YIELD and (not self.frames or self.frames[-1][0] != event.code):
                # A standard-library coroutine (only its YIELDs are recorded) inside the
                # innermost recorded frame: part of the await chain, not of the frame stack.
                self._yielded.append(self.frame(event.code, event.offset))
                return []
            if not self.frames:
                return []
            code_id, _ = self.frames.pop()
            if kind == _YIELD:
                self._yielded.append(self.frame(code_id, event.offset))
            else:
                self._yielded.clear()
            closed = []
            while self.tasks and len(self.frames) <= self.tasks[-1].base_depth:
                step = self.tasks.pop()
                chain = tuple(self._yielded) if kind == _YIELD else ()
                closed.append(ClosedStep(step, event.ts, POP[kind], chain))
            return closed
        if kind == _CB_START:
            self.callbacks.append(
                OpenStep(
                    "callback", event.task, event.code, event.ts, "callback", len(self.frames), None
                )
            )
            return []
        if kind == _CB_END:
            if not self.callbacks:
                return []
            step = self.callbacks.pop()
            return [ClosedStep(step, event.ts, "callback-end", ())]
        return []

    def close_all(self) -> list[ClosedStep]:
        """At the end of the trace: everything still open ends there, marked open."""
        closed = [ClosedStep(s, None, "open", ()) for s in reversed(self.tasks)]
        closed += [ClosedStep(s, None, "open", ()) for s in reversed(self.callbacks)]
        self.tasks.clear()
        self.callbacks.clear()
        return closed
