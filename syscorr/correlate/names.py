"""Task names: what each task is called, as the engine emits it and once the trace is over.

Contract: `TaskNames(agent_logs, task_key)` holds every agent log's TASK_NAME records (the agent
writes one when a task's name is first seen or changes, stamped with the event that saw it);
`task_key(pid, id(task))` is the engine's key of the task that has that id now. `root(pid, key,
qualname)` tells it a task's root coroutine (at its first step), `ended(pid, key, ts)` that the
task finished then (its id() may be reused after: later records for that id are another
task's). `at(pid, key, task_id, upto)` is the name as of `upto`, as shown: a task left at
asyncio's default name (`Task-21`) is shown with its root coroutine's qualname (`Task-21
handle_request`); a task nobody named at all is `task@<id>` with it. `final()` after the pass:
(pid, key) -> the task's last name, as shown; `with_final_names(items, names)` gives every kept
item that one name (a task renamed late, e.g. after its `to_thread` work, is called the same in
its earlier steps and in the syscalls worker threads made for it).
"""

import re
from collections import deque

from syscorr.correlate.model import StepItem, SyscallItem

DEFAULT_TASK_NAME = re.compile(r"Task-\d+")  # asyncio's name for a task nobody named


class TaskNames:
    def __init__(self, agent_logs, task_key) -> None:
        self._task_key = task_key
        self._pending = {log.pid: deque(sorted(log.task_names, key=lambda t: t.ts))
                         for log in agent_logs}  # fmt: skip
        self._names: dict[tuple[int, int], str] = {}  # (pid, key) -> name (as recorded)
        self._roots: dict[tuple[int, int], str] = {}  # (pid, key) -> root coroutine's qualname
        self._ended: dict[tuple[int, int], int] = {}  # (pid, key) -> end of its last step
        self._shown: dict[tuple[int, int], tuple[str, str]] = {}  # -> (name, as shown)

    def root(self, pid: int, key: int, qualname: str) -> None:
        self._roots.setdefault((pid, key), qualname)

    def ended(self, pid: int, key: int, ts: int) -> None:
        self._ended[(pid, key)] = ts

    def at(self, pid: int, key: int, task_id: int, upto: int | None) -> str:
        """The task's name as of `upto` (None: the end of the trace), as shown."""
        pending = self._pending.get(pid)
        while pending and (upto is None or pending[0].ts <= upto):
            self._take(pid, pending.popleft())
        return self.shown(pid, key, self._names.get((pid, key), f"task@{task_id:x}"))

    def _take(self, pid: int, named) -> None:
        key = self._task_key(pid, named.task)
        ended = self._ended.get((pid, key))
        if ended is None or named.ts <= ended:  # after its end: a new task with its id()
            self._names[(pid, key)] = named.name

    def shown(self, pid: int, key: int, name: str) -> str:
        cached = self._shown.get((pid, key))
        if cached is not None and cached[0] == name:
            return cached[1]
        root = self._roots.get((pid, key))
        shown = name
        if root and (DEFAULT_TASK_NAME.fullmatch(name) or name.startswith("task@")):
            shown = f"{name} {root}"
        if root:
            self._shown[(pid, key)] = (name, shown)
        return shown

    def final(self) -> dict[tuple[int, int], str]:
        """After the pass: (pid, task key) -> the task's last name, as shown."""
        for pid, pending in self._pending.items():
            while pending:
                self._take(pid, pending.popleft())
        return {(pid, key): self.shown(pid, key, name) for (pid, key), name in self._names.items()}


def with_final_names(items: list, names: dict[tuple[int, int], str]) -> list:
    """`items` with every task's one name (see `TaskNames.final`)."""
    renamed = []
    for item in items:
        kind = type(item)
        if kind is SyscallItem and item.task:
            name = names.get((item.pid, item.task))
            if name is not None and name != item.task_name:
                item = item._replace(task_name=name)
        elif kind is StepItem and item.kind == "task":
            name = names.get((item.pid, item.task))
            if name is not None and name != item.name:
                item = item._replace(name=name)
        renamed.append(item)
    return renamed
