"""What `--task/--fd/--pid/--syscalls/--since/--until/--limit` select, and a refusal when a
value selects nothing.

Contract: `TimelineFilter.keeps(item)` decides which correlation items the timeline and the
exports show (everything but the time window, which needs the trace's origin, known only after
the pass); `in_window(ts, origin)` applies --since/--until (seconds from the trace's first
syscall). `unmatched(filt, summary)` returns the one-line message for the first value that
matches nothing in the summarised trace (a task name no task has, a syscall the trace never
made, an fd or pid it never used, a window outside the trace), naming the closest valid names
(difflib) and what the trace has; `check_filters(filt, summary)` raises it as a `UsageError`
(exit 2), so a typo never yields an empty report that looks like a clean one.
"""

import difflib
import re
from dataclasses import dataclass

from syscorr.correlate.model import IterationItem, StepItem, SyscallItem
from syscorr.errors import UsageError
from syscorr.report.safe import safe

LISTED = 8  # valid names listed in a refusal


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

    @property
    def narrows(self) -> bool:
        """Any option that selects part of the trace (not --limit or --startup)."""
        return bool(
            self.tasks or self.fds or self.pids or self.syscalls
            or self.since_s is not None or self.until_s is not None
        )  # fmt: skip

    def describe(self) -> str:
        parts = [f"--task {safe(t)}" for t in sorted(self.tasks)]
        parts += [f"--fd {fd}" for fd in sorted(self.fds)]
        parts += [f"--pid {pid}" for pid in sorted(self.pids)]
        if self.syscalls:
            parts.append("--syscalls " + safe(",".join(sorted(self.syscalls))))
        if self.since_s is not None:
            parts.append(f"--since {self.since_s:g}")
        if self.until_s is not None:
            parts.append(f"--until {self.until_s:g}")
        return " ".join(parts)

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


def _natural(value) -> tuple:
    """Task-2 before Task-10: digits compare as numbers."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(value)))


def _names(values) -> str:
    shown = [safe(v) for v in sorted(values, key=_natural)[:LISTED]]
    more = len(values) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _refuse(option: str, value, what: str, valid, plural: str) -> str:
    close = difflib.get_close_matches(str(value), [str(v) for v in valid], n=3, cutoff=0.6)
    text = f"{option} {safe(value)} matches no {what} in this trace"
    if close:
        text += "; did you mean " + " or ".join(safe(c) for c in close) + "?"
    if valid:
        text += f" ({plural} in it: {_names(valid)})"
    else:
        text += f" (it has no {plural})"
    return text


def unmatched(filt: TimelineFilter, summary) -> str | None:
    acc = summary.accounts
    tasks = {t.name for t in acc.tasks.values()}
    for name in sorted(filt.tasks):
        if not any(_named(task, frozenset({name})) for task in tasks):
            if not summary.has_agent:
                return (
                    f"--task {safe(name)}: this trace has no agent events, so no tasks "
                    "(record with `syscorr run` to get them)"
                )
            return _refuse("--task", name, "task", tasks, "tasks")
    for name in sorted(filt.syscalls):
        if name not in acc.syscalls:
            return _refuse("--syscalls", name, "syscall", set(acc.syscalls), "syscalls")
    fds = {f.fd for f in acc.fds.values()}
    for fd in sorted(filt.fds):
        if fd not in fds:
            return _refuse("--fd", fd, "fd", fds, "fds")
    pids = {t.pid for t in acc.threads.values()}
    for pid in sorted(filt.pids):
        if pid not in pids:
            return _refuse("--pid", pid, "process", pids, "processes")
    if acc.first_ts is not None and acc.last_ts is not None:
        span = (acc.last_ts - acc.first_ts) / 1e9
        since, until = filt.since_s, filt.until_s
        if since is not None and until is not None and since > until:
            return f"--since {since:g} is after --until {until:g}: nothing lies between them"
        if since is not None and since > span:
            return f"--since {since:g} is after the trace's end (it spans 0-{span:.3f} s)"
        if until is not None and until < 0:
            return f"--until {until:g} is before the trace's start (it spans 0-{span:.3f} s)"
    return None


def check_filters(filt: TimelineFilter | None, summary) -> None:
    if filt is None:
        return
    message = unmatched(filt, summary)
    if message is not None:
        raise UsageError(message)


def nothing_shown(filt: TimelineFilter) -> UsageError:
    """The refusal when every value matched something but together they select nothing."""
    return UsageError(f"no event matches {filt.describe()} together: loosen one of them")
