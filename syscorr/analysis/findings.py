"""Findings: the places where the event loop was blocked, in one pass over correlation items.

Contract: `FindingCollector(rules).add(item)` for every item, then `.findings` (in the order
found) holds:
- "blocking-syscall": a syscall made on a loop thread outside the selector wait (in a task
  step, a callback, or the loop's own code) that took at least `rules.block_ns`;
- "long-step": a task or callback step that ran at least `rules.step_ns` beyond the blocking
  syscalls already reported inside it (CPU work or calls strace did not record);
- "forbidden-syscall": a syscall named in `rules.forbidden` made on a loop thread outside the
  selector wait (for `syscorr check`).
Each finding names the task (or callback), the innermost coroutine frame and line when known.
"""

from typing import NamedTuple

from syscorr.correlate.model import (
    OWNER_CALLBACK,
    OWNER_LOOP,
    OWNER_TASK,
    Frame,
    StepItem,
    SyscallItem,
)

MS = 1_000_000


class Rules(NamedTuple):
    block_ns: int = 10 * MS
    step_ns: int = 100 * MS
    forbidden: frozenset[str] = frozenset()


class Finding(NamedTuple):
    kind: str  # "blocking-syscall" | "long-step" | "forbidden-syscall"
    duration_ns: int
    pid: int
    tid: int
    ts: int | None
    task: str | None  # task name, when in a task step
    callback: str | None  # callback name, when in a callback step
    frame: Frame | None  # innermost coroutine frame at the time
    syscall: str | None  # "clock_nanosleep", for syscall findings
    detail: str  # short argument text or step description
    iteration: int | None
    lineno: int | None  # line of the syscall in the raw log

    @property
    def where(self) -> str:
        who = (
            f"task {self.task}"
            if self.task
            else (f"callback {self.callback}" if self.callback else "the loop itself")
        )
        if self.frame is not None:
            name = self.frame.filename.rsplit("/", 1)[-1]
            return f"{who} at {name}:{self.frame.line} ({self.frame.qualname})"
        return who

    def message(self) -> str:
        ms = self.duration_ns / MS
        if self.kind == "blocking-syscall":
            return f"loop blocked {ms:.1f} ms by {self.syscall}() in {self.where}"
        if self.kind == "forbidden-syscall":
            return f"forbidden syscall {self.syscall}() on the loop thread in {self.where}"
        return f"step ran {ms:.1f} ms without yielding in {self.where}"


def _short_args(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class FindingCollector:
    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules if rules is not None else Rules()
        self.findings: list[Finding] = []
        self._blocked_in_step: dict[tuple[int, int], int] = {}  # (pid, step) -> ns reported

    def add(self, item) -> None:
        kind = type(item)
        if kind is SyscallItem:
            self._syscall(item)
        elif kind is StepItem:
            self._step(item)

    def _syscall(self, item: SyscallItem) -> None:
        if item.is_loop_wait or item.owner not in (OWNER_TASK, OWNER_CALLBACK, OWNER_LOOP):
            return
        call = item.call
        duration = call.duration or 0
        forbidden = call.name in self.rules.forbidden
        if duration < self.rules.block_ns and not forbidden:
            return
        kind = "blocking-syscall" if duration >= self.rules.block_ns else "forbidden-syscall"
        if forbidden and kind == "blocking-syscall":
            kind = "forbidden-syscall"
        self.findings.append(
            Finding(
                kind,
                duration,
                item.pid,
                call.tid or 0,
                call.ts,
                item.task_name,
                item.callback if item.owner == OWNER_CALLBACK else None,
                item.frame,
                call.name,
                _short_args(call.args),
                item.iteration,
                call.lineno,
            )
        )
        if item.step is not None:
            key = (item.pid, item.step)
            self._blocked_in_step[key] = self._blocked_in_step.get(key, 0) + duration

    def _step(self, step: StepItem) -> None:
        if step.end is None:
            return
        reported = self._blocked_in_step.pop((step.pid, step.index), 0)
        if step.end - step.start - reported < self.rules.step_ns:
            return
        frame = step.suspended_at[-1] if step.suspended_at else step.resumed_at
        self.findings.append(
            Finding(
                "long-step",
                step.end - step.start,
                step.pid,
                step.tid,
                step.start,
                step.name if step.kind == "task" else None,
                step.name if step.kind == "callback" else None,
                frame,
                None,
                f"{step.kind} step, {step.syscalls} syscalls",
                step.iteration,
                None,
            )
        )
