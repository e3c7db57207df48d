"""The interleaved timeline: one line per event, in time order, steps with their syscalls nested.

Contract: `TimelineFilter.keeps(item)` decides which correlation items a timeline needs (so the
summary pass keeps only those), and `render_timeline(items, origin, console, filt)` sorts them
by time and writes one line per event: loop iteration boundaries with the wait (timeout asked,
time waited, fds ready), step starts with what woke them, the syscalls made inside a step
(indented), and the await at which the step suspended. Colour per task; none when piped.
"""

from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from syscorr.correlate.model import (
    WAKE_CALLBACK,
    WAKE_FD,
    WAKE_TASK,
    WAKE_THREAD,
    IterationItem,
    StepItem,
    SyscallItem,
)
from syscorr.report.fmt import clip, ms, rel, where

TASK_COLOURS = (
    "cyan",
    "magenta",
    "green",
    "yellow",
    "blue",
    "bright_red",
    "bright_cyan",
    "bright_magenta",
    "bright_green",
    "bright_blue",
)


@dataclass(frozen=True)
class TimelineFilter:
    tasks: frozenset[str] = frozenset()
    fds: frozenset[int] = frozenset()
    pids: frozenset[int] = frozenset()
    since_s: float | None = None
    until_s: float | None = None
    limit: int = 500
    syscalls: frozenset[str] = frozenset()
    startup: bool = False  # also show syscalls made outside any event loop (interpreter start)

    @classmethod
    def of(cls, tasks, fds, pids, since, until, limit, syscalls, startup=False):
        names = frozenset(s.strip() for s in (syscalls or "").split(",") if s.strip())
        return cls(
            frozenset(tasks or ()),
            frozenset(fds or ()),
            frozenset(pids or ()),
            since,
            until,
            limit,
            names,
            startup,
        )

    def keeps(self, item) -> bool:
        if self.pids and item.pid not in self.pids:
            return False
        kind = type(item)
        if kind is SyscallItem:
            if self.syscalls and item.call.name not in self.syscalls:
                return False
            if self.tasks and not _named(item.task_name, self.tasks):
                return False
            if self.fds and (item.fd_key is None or item.fd_key[1] not in self.fds):
                return False
            return True
        if kind is StepItem:
            if self.syscalls or self.fds:
                return False
            return not self.tasks or _named(item.name, self.tasks)
        if kind is IterationItem:
            if self.tasks or self.syscalls:
                return False
            if self.fds:
                return any(fd in self.fds for fd, _ in item.ready)
            return True
        return False

    def in_window(self, ts: int | None, origin: int | None) -> bool:
        if ts is None or origin is None:
            return True
        t = (ts - origin) / 1e9
        if self.since_s is not None and t < self.since_s:
            return False
        return self.until_s is None or t <= self.until_s


def _named(shown: str | None, wanted: frozenset[str]) -> bool:
    """`--task Task-21` also finds the task shown as `Task-21 handle_request`."""
    return shown is not None and (shown in wanted or shown.split(" ", 1)[0] in wanted)


def _events(items):
    """(ts, order, kind, item): steps give a start and an end event."""
    for item in items:
        kind = type(item)
        if kind is SyscallItem:
            yield (item.call.ts or 0, 2, "call", item)
        elif kind is StepItem:
            yield (item.start, 1, "start", item)
            if item.end is not None:
                yield (item.end, 3, "end", item)
        elif kind is IterationItem:
            yield (item.wait.ts or 0, 0, "iteration", item)


def _wake_text(step: StepItem) -> str:
    wake = step.wake
    if wake is None:
        return ""
    if wake.cause == WAKE_FD:
        return f"woken: fd {wake.fd} ready ({wake.detail})"
    if wake.cause in (WAKE_TASK, WAKE_CALLBACK):
        return f"woken: {wake.by}"
    if wake.cause == WAKE_THREAD:
        return f"woken: {wake.by or 'a thread'} via the self-pipe"
    return f"woken: {wake.cause}"


def render_timeline(
    items: list, origin: int | None, console: Console, filt: TimelineFilter, has_loop: bool = True
) -> int:
    """Write the timeline; returns the number of lines left out by --limit. When the trace has
    an event loop, syscalls made outside any loop (interpreter start-up, other processes) are
    left out unless `filt.startup`, or `filt` names syscalls or fds."""
    hide_outside = has_loop and not (filt.startup or filt.syscalls or filt.fds)
    colours: dict[str, str] = {}

    def colour(name: str | None) -> str:
        if not name:
            return "white"
        if name not in colours:
            colours[name] = TASK_COLOURS[len(colours) % len(TASK_COLOURS)]
        return colours[name]

    events = sorted(_events(items), key=lambda e: (e[0], e[1]))
    shown = 0
    skipped = 0
    for ts, _, kind, item in events:
        if not filt.in_window(ts, origin):
            continue
        if kind == "call" and (item.is_loop_wait or hide_outside and item.owner == "process"):
            continue  # a loop wait is shown as its iteration's line
        if filt.limit and shown >= filt.limit:
            skipped += 1
            continue
        shown += 1
        stamp = Text(rel(ts, origin) + " ", style="dim")
        if kind == "iteration":
            ready = ", ".join(f"fd {fd} {ev}" for fd, ev in item.ready) or (
                "nothing ready (a quick check: callbacks were ready to run)"
                if item.timeout_ns == 0
                else "timed out"
                if item.timed_out
                else "nothing"
            )
            timeout = "forever" if item.timeout_ns is None else ms(item.timeout_ns)
            line = Text(
                f"── loop {item.tid} iteration {item.index}: {item.wait.name} "
                f"(timeout {timeout}) waited {ms(item.waited_ns)} → {ready}",
                style="bold",
            )
        elif kind == "start":
            who = f"task {item.name}" if item.kind == "task" else f"callback {item.name}"
            how = {
                "start": "starts",
                "resume": "resumes",
                "throw": "resumes with an exception",
                "callback": "runs",
            }.get(item.started_by, item.started_by)
            at = f" at {where(item.resumed_at)}" if item.resumed_at else ""
            line = Text(f"  ▶ {who} {how}{at}  ", style=colour(item.name)) + Text(
                _wake_text(item), style="dim"
            )
        elif kind == "end":
            if item.ended_by == "yield" and item.suspended_at:
                end = f"suspends at {where(item.suspended_at[-1])}"
                if len(item.suspended_at) > 1:
                    end += f" awaiting {where(item.suspended_at[0])}"
            else:
                end = {"return": "returns", "unwind": "raises", "callback-end": "done"}.get(
                    item.ended_by, item.ended_by
                )
            line = Text(f"  ◀ {item.name} {end} after {ms(item.duration)}", style=colour(item.name))
        else:
            call = item.call
            indent = "      " if item.step is not None else "    "
            result = call.ret + (f" {call.errno}" if call.errno else "")
            line = Text(
                indent + clip(f"{call.name}({call.args}) = {result}", 150),
                style=colour(item.task_name) if item.task_name else "",
            )
            line += Text(f"  {ms(call.duration)}", style="dim")
            if item.frame is not None and item.step is not None:
                line += Text(f"  {where(item.frame)}", style="dim")
        console.print(stamp + line, overflow="fold", soft_wrap=True)
    if skipped:
        console.print(
            f"… {skipped} more lines (raise --limit, or narrow with --since/--until, "
            "--task, --fd, --syscalls)"
        )
    return skipped
