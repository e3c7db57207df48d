"""Per-thread state machine that turns the agent's coroutine events into task and callback steps.

Contract: a `ThreadSteps` receives one thread's agent events in order (`feed`) and keeps:
- the coroutine frame stack (START/RESUME/THROW push, YIELD/RETURN/UNWIND pop; a CALL moves the
  innermost frame to the call's offset, which gives the current line); a YIELD of a code that
  is not the innermost frame is a standard-library coroutine's (the agent records only their
  YIELDs): it joins the await chain and leaves the stack alone;
- until when each frame's line is known: the innermost frame's during its CALL's span (the
  pause the agent saw after the call; the call gap for logs without spans), a covered frame's
  while it is suspended at an await it resumed at (or a call that started the frame above);
  otherwise the frame is shown without a line (`innermost(ts)`: line 0), never an earlier
  call's line;
- the open task steps (a stack: an eager task's first step runs inside another task's step);
  a step opens when a frame of a task is pushed onto a depth where that task has no open step,
  and closes when the stack falls back to that depth; a step's time inside a nested step is
  its `nested_ns`, counted once, in the nested step;
- where each open task step's time went: between two events the stack does not change, so
  the time goes to the innermost frame and line then (and the innermost frame of the user's
  code under it, when the innermost is a library's); `places_of(step)` resolves the largest;
- the open callbacks (`Handle._run` brackets).
Closed steps come back from `feed` as `ClosedStep`s for the engine to complete (iteration, wake,
syscall counts) and emit. It knows nothing of syscalls.
"""

from dataclasses import dataclass, field

from syscorr.correlate.model import Frame, Place
from syscorr.correlate.usercode import CodeOrigin
from syscorr.trace.agentlog import AgentEvent, CodeInfo, EventKind

# Keyed by int: an IntEnum member hashes by name, in Python, which is slow on this hot path.
PUSH = {int(EventKind.PY_START): "start", int(EventKind.PY_RESUME): "resume",
        int(EventKind.PY_THROW): "throw"}  # fmt: skip
POP = {int(EventKind.PY_YIELD): "yield", int(EventKind.PY_RETURN): "return",
       int(EventKind.PY_UNWIND): "unwind"}  # fmt: skip
_CALL, _YIELD = int(EventKind.CALL), int(EventKind.PY_YIELD)
_CB_START, _CB_END = int(EventKind.CALLBACK_START), int(EventKind.CALLBACK_END)
_START = int(EventKind.PY_START)
FOREVER = 1 << 62  # a frame's line is known for as long as it stays covered
PLACES_KEPT = 8  # the largest places of a step, resolved when it ends


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
    nested_ns: int = 0  # time inside steps of other tasks nested in this one (eager tasks)
    places: dict = field(default_factory=dict)  # (code, offset | -1, user (code, off) | None) -> ns


@dataclass(slots=True)
class ClosedStep:
    step: OpenStep
    end: int | None
    ended_by: str
    chain: tuple[Frame, ...]  # await chain at suspension, innermost first


class ThreadSteps:
    def __init__(
        self,
        codes: dict[int, CodeInfo],
        origin: CodeOrigin | None = None,
        call_gap_ns: int = 500_000,
    ) -> None:
        self.codes = codes
        self.origin = origin if origin is not None else CodeOrigin()
        # a CALL without a recorded span (older logs) surely lasted the gap; with a gap of 0
        # every call is written, so one lasts until the next event
        self.call_fallback_ns = FOREVER if call_gap_ns <= 0 else call_gap_ns
        self.frames: list[list[int]] = []  # [code id, offset, line known until] innermost last
        self.tasks: list[OpenStep] = []
        self.callbacks: list[OpenStep] = []
        self._yielded: list[Frame] = []  # frames popped by consecutive YIELDs, innermost first
        self._frames: dict[tuple[int, int], Frame] = {}
        self._user: dict[int, bool] = {}  # code id -> is the user's code
        self._last: int | None = None  # ts of the last event fed

    def frame(self, code_id: int, offset: int) -> Frame:
        """The frame of a code at an offset (offset -1: the line is not known: line 0)."""
        key = (code_id, offset)
        frame = self._frames.get(key)
        if frame is None:
            info = self.codes.get(code_id)
            if info is None:
                frame = Frame(f"<code {code_id}>", "?", 0)
            else:
                line = info.line_at(offset) if offset >= 0 else 0
                frame = Frame(info.qualname, info.filename, line)
            self._frames[key] = frame
        return frame

    def is_user(self, code_id: int) -> bool:
        known = self._user.get(code_id)
        if known is None:
            info = self.codes.get(code_id)
            known = info is not None and self.origin.is_user(info.filename)
            self._user[code_id] = known
        return known

    def innermost(self, ts: int | None = None) -> Frame | None:
        """The innermost frame; at time `ts`, with its line only if it is known then."""
        if not self.frames:
            return None
        code_id, offset, known = self.frames[-1]
        if ts is not None and ts > known:
            offset = -1
        return self.frame(code_id, offset)

    def caller(self, base_depth: int = 0) -> Frame | None:
        """When the innermost frame is a library's: the innermost frame of the user's code under
        it (down to `base_depth`, the open step's first frame), else None."""
        frames = self.frames
        if not frames or self.is_user(frames[-1][0]):
            return None
        key = self._user_key(frames, base_depth)
        return self.frame(*key) if key is not None else None

    def _user_key(self, frames: list, base_depth: int) -> tuple[int, int] | None:
        for index in range(len(frames) - 2, base_depth - 1, -1):
            code_id, offset, known = frames[index]
            if self.is_user(code_id):
                return (code_id, offset if known == FOREVER else -1)
        return None

    def _spend(self, now: int) -> None:
        """The time since the last event goes to the innermost open task step, at the place
        the stack shows (it did not change in between)."""
        last = self._last
        step = self.tasks[-1]
        frames = self.frames
        if last is None or now <= last or len(frames) <= step.base_depth:
            return
        code_id, offset, known = frames[-1]
        user = None if self.is_user(code_id) else self._user_key(frames, step.base_depth)
        places = step.places
        if known < now:
            if known > last:
                key = (code_id, offset, user)
                places[key] = places.get(key, 0) + known - last
                last = known
            offset = -1
        key = (code_id, offset, user)
        places[key] = places.get(key, 0) + now - last

    def places_of(self, step: OpenStep) -> tuple[Place, ...]:
        """The places where most of a step's own time went, largest first."""
        places = step.places
        if len(places) == 1:
            (((code_id, offset, user), ns),) = places.items()
            return (Place(self.frame(code_id, offset), self.frame(*user) if user else None, ns),)
        merged: dict[tuple, int] = {}
        for (code_id, offset, user), ns in step.places.items():
            key = (self.frame(code_id, offset), self.frame(*user) if user else None)
            merged[key] = merged.get(key, 0) + ns
        ranked = sorted(merged.items(), key=lambda kv: -kv[1])[:PLACES_KEPT]
        return tuple(Place(frame, caller, ns) for (frame, caller), ns in ranked)

    def current(self) -> OpenStep | None:
        """The innermost open step: a task step, else the innermost callback."""
        if self.tasks:
            return self.tasks[-1]
        return self.callbacks[-1] if self.callbacks else None

    def feed(self, event: AgentEvent) -> list[ClosedStep]:
        kind = event.kind
        ts = event.ts
        if self.tasks:
            self._spend(ts)
        self._last = ts
        if kind == _CALL:
            self._yielded.clear()
            frames = self.frames
            if frames and frames[-1][0] == event.code:
                top = frames[-1]
                top[1] = event.offset
                top[2] = ts + (event.span * 1000 if event.span else self.call_fallback_ns)
            return []
        if kind in PUSH:
            self._yielded.clear()
            frames = self.frames
            if frames:  # covered: suspended at the await it resumed at, or in a call now
                below = frames[-1]
                if kind != _START or ts <= below[2]:
                    below[2] = FOREVER
            depth = len(frames)
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
            frames.append([event.code, event.offset, ts])
            return []
        if kind in POP:
            if kind == _YIELD and (not self.frames or self.frames[-1][0] != event.code):
                # A standard-library coroutine (only its YIELDs are recorded) inside the
                # innermost recorded frame: part of the await chain, not of the frame stack.
                self._yielded.append(self.frame(event.code, event.offset))
                return []
            if not self.frames:
                return []
            code_id = self.frames.pop()[0]
            if self.frames and self.frames[-1][2] == FOREVER:
                self.frames[-1][2] = ts  # it goes on after its await: known at this instant
            if kind == _YIELD:
                self._yielded.append(self.frame(code_id, event.offset))
            else:
                self._yielded.clear()
            closed = []
            while self.tasks and len(self.frames) <= self.tasks[-1].base_depth:
                step = self.tasks.pop()
                chain = tuple(self._yielded) if kind == _YIELD else ()
                closed.append(ClosedStep(step, ts, POP[kind], chain))
                if self.tasks:
                    self.tasks[-1].nested_ns += ts - step.start
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
