"""Per-task, per-fd, per-thread, per-process and per-syscall accounting, in one pass.

Contract: `Accounts.add(item)` takes every correlation item once (any order within a thread's
time order), then `finish(names, agent_meta)` once; the public dicts then hold the totals.
A task's running time is its steps' own time (a step nested in another task's step, such as
an eager task's first step, counts in its own task only), and its name is its last one (the
engine's final names). A process is described by its command: its agent's `orig_argv`, else
the last execve the trace shows, shortened (`python -m uvicorn app:app`; a multiprocessing
child is named as such, with its parent). Memory grows with the number of tasks, fds, threads,
processes and syscall names, never with the number of syscalls.
"""

import os
import re
import shlex
from dataclasses import dataclass, field

from syscorr.correlate.model import IterationItem, StepItem, SyscallItem
from syscorr.parse.vocabulary import IO_IN, IO_OUT

COMMAND_WIDTH = 60
_EXECVE_ARGV = re.compile(r'^"(?:[^"\\]|\\.)*", \[(.*?)\](?:\.\.\.)?, ')
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass(slots=True)
class TaskAccount:
    pid: int
    key: int
    name: str
    steps: int = 0
    running_ns: int = 0
    waiting_ns: int = 0
    syscalls: int = 0
    bytes_in: int = 0  # read by the task, or by callbacks from the sockets it uses
    bytes_out: int = 0
    first_ts: int | None = None
    last_end: int | None = None
    finished: str | None = None  # "return" | "unwind" when it ended in the trace
    wakes: dict = field(default_factory=dict)  # cause -> count


@dataclass(slots=True)
class FdAccount:
    pid: int
    fd: int
    generation: int
    label: str
    calls: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    eagain: int = 0
    tasks: set = field(default_factory=set)  # names of the tasks that used it
    task_keys: set = field(default_factory=set)  # (pid, task key) of those tasks
    bytes_in_by_callbacks: int = 0  # read by transport callbacks on behalf of its tasks


@dataclass(slots=True)
class ThreadAccount:
    pid: int
    tid: int
    syscalls: int = 0
    syscall_ns: int = 0
    is_loop: bool = False
    owners: dict = field(default_factory=dict)  # owner -> syscalls


@dataclass(slots=True)
class SyscallAccount:
    calls: int = 0  # calls that returned (strace's own -c/-C table counts these)
    errors: int = 0
    unfinished: int = 0  # never returned in the log: `= ?` (exit_group, a killed process)
    total_ns: int = 0
    max_ns: int = 0


@dataclass(slots=True)
class LoopAccount:
    pid: int
    tid: int
    iterations: int = 0
    busy_ns: int = 0
    waited_ns: int = 0
    worst_busy_ns: int = 0
    worst_iteration: int | None = None
    worst_at: int | None = None  # ts of the wait that ended the worst busy stretch
    timed_out: int = 0


@dataclass(slots=True)
class ProcessAccount:
    pid: int
    parent: int | None = None  # the process that cloned it, when the trace shows it
    argv: list[str] | None = None  # from its last execve (or its agent's orig_argv)
    syscalls: int = 0
    has_agent: bool = False
    tasks: int = 0

    @property
    def command(self) -> str:
        """The command, shortened: `python -m uvicorn app:app --workers 2`."""
        return short_command(self.argv, self.parent)

    @property
    def label(self) -> str:
        command = self.command
        return f"pid {self.pid} ({command})" if command else f"pid {self.pid}"


def short_command(argv: list[str] | None, parent: int | None = None) -> str:
    if not argv:
        return ""
    words = [os.path.basename(argv[0]), *argv[1:]]
    script = " ".join(words)
    if "multiprocessing.spawn import spawn_main" in script or "--multiprocessing-fork" in words:
        return f"multiprocessing child of {parent}" if parent else "multiprocessing child"
    if "multiprocessing.resource_tracker" in script:
        return "multiprocessing resource tracker"
    if "multiprocessing.forkserver" in script:
        return "multiprocessing fork server"
    text = shlex.join(words)
    return text if len(text) <= COMMAND_WIDTH else text[: COMMAND_WIDTH - 1] + "…"


def execve_argv(args: str) -> list[str] | None:
    """The argv strace shows in an execve's arguments (strings decoded loosely)."""
    match = _EXECVE_ARGV.match(args)
    if match is None:
        return None
    return [s.encode("latin-1", "replace").decode("unicode_escape", "replace")
            for s in _STRING.findall(match.group(1))]  # fmt: skip


@dataclass
class Accounts:
    tasks: dict = field(default_factory=dict)  # (pid, key) -> TaskAccount
    fds: dict = field(default_factory=dict)  # (pid, fd, gen) -> FdAccount
    threads: dict = field(default_factory=dict)  # tid -> ThreadAccount
    syscalls: dict = field(default_factory=dict)  # name -> SyscallAccount
    loops: dict = field(default_factory=dict)  # tid -> LoopAccount
    processes: dict = field(default_factory=dict)  # pid -> ProcessAccount
    first_ts: int | None = None
    last_ts: int | None = None
    timed_syscalls: int = 0  # syscalls whose duration the log gives (strace -T)

    def add(self, item) -> None:
        kind = type(item)
        if kind is SyscallItem:
            self._syscall(item)
        elif kind is StepItem:
            self._step(item)
        elif kind is IterationItem:
            self._iteration(item)

    def _syscall(self, item: SyscallItem) -> None:
        call = item.call
        ts = call.ts
        if ts is not None:
            if self.first_ts is None or ts < self.first_ts:
                self.first_ts = ts
            end = ts + (call.duration or 0)
            if self.last_ts is None or end > self.last_ts:
                self.last_ts = end
        account = self.syscalls.get(call.name)
        if account is None:
            account = self.syscalls[call.name] = SyscallAccount()
        if call.ret == "?" or call.unfinished:
            account.unfinished += 1
        else:
            account.calls += 1
            if call.errno is not None and (call.retval is None or call.retval < 0):
                account.errors += 1
        duration = call.duration or 0
        if call.duration is not None:
            self.timed_syscalls += 1
        account.total_ns += duration
        account.max_ns = max(account.max_ns, duration)
        process = self.processes.get(item.pid)
        if process is None:
            process = self.processes[item.pid] = ProcessAccount(item.pid)
        process.syscalls += 1
        if call.name in ("execve", "execveat") and not call.errno:
            process.argv = execve_argv(call.args) or process.argv
        elif call.name in ("clone", "clone3", "fork", "vfork") and call.retval:
            if call.retval > 0 and "CLONE_THREAD" not in call.args:
                child = self.processes.get(call.retval)
                if child is None:
                    child = self.processes[call.retval] = ProcessAccount(call.retval)
                child.parent = item.pid

        tid = call.tid if call.tid is not None else 0
        thread = self.threads.get(tid)
        if thread is None:
            thread = self.threads[tid] = ThreadAccount(item.pid, tid)
        thread.syscalls += 1
        thread.syscall_ns += duration
        thread.owners[item.owner] = thread.owners.get(item.owner, 0) + 1

        nbytes = item.nbytes
        incoming = item.io == IO_IN
        outgoing = item.io == IO_OUT
        if item.task:
            task = self._task(item.pid, item.task, item.task_name)
            task.syscalls += 1
            if incoming:
                task.bytes_in += nbytes
            elif outgoing:
                task.bytes_out += nbytes
        if item.fd_key is not None:
            fd = self.fds.get(item.fd_key)
            if fd is None:
                pid, number, gen = item.fd_key
                fd = self.fds[item.fd_key] = FdAccount(pid, number, gen, item.fd_label or "fd")
            elif item.fd_label and item.fd_label != fd.label and " " in item.fd_label:
                fd.label = item.fd_label
            fd.calls += 1
            if incoming:
                fd.bytes_in += nbytes
                if not item.task:
                    fd.bytes_in_by_callbacks += nbytes
            elif outgoing:
                fd.bytes_out += nbytes
            if call.errno == "EAGAIN":
                fd.eagain += 1
            if item.task_name:
                fd.tasks.add(item.task_name)
                fd.task_keys.add((item.pid, item.task))

    def finish(self, names: dict | None = None, agent_meta: dict | None = None) -> None:
        """After the last item: every task takes its final name (`names`: (pid, key) -> name);
        processes with an agent take its command line (`agent_meta`: pid -> meta); bytes that
        transport callbacks read from a socket count as received by the tasks that use that
        socket (asyncio's streams read in callbacks)."""
        for key, name in (names or {}).items():
            task = self.tasks.get(key)
            if task is not None:
                task.name = name
        for pid, meta in (agent_meta or {}).items():
            process = self.processes.get(pid)
            if process is None:
                process = self.processes[pid] = ProcessAccount(pid)
            process.has_agent = True
            argv = meta.get("orig_argv")
            if isinstance(argv, list) and argv:
                process.argv = [str(a) for a in argv]
            if process.parent is None and isinstance(meta.get("ppid"), int):
                process.parent = meta["ppid"]
        for task in self.tasks.values():
            process = self.processes.get(task.pid)
            if process is not None:
                process.tasks += 1
        for fd in self.fds.values():
            if fd.bytes_in_by_callbacks:
                for key in fd.task_keys:
                    task = self.tasks.get(key)
                    if task is not None:
                        task.bytes_in += fd.bytes_in_by_callbacks

    def _task(self, pid: int, key: int, name: str | None) -> TaskAccount:
        task = self.tasks.get((pid, key))
        if task is None:
            task = self.tasks[(pid, key)] = TaskAccount(pid, key, name or f"task {key}")
        elif name and name != task.name:
            task.name = name
        return task

    def _step(self, step: StepItem) -> None:
        if step.kind != "task":
            return
        task = self._task(step.pid, step.task, step.name)
        task.steps += 1
        if task.first_ts is None:
            task.first_ts = step.start
        if task.last_end is not None:
            task.waiting_ns += max(0, step.start - task.last_end)
        if step.end is not None:
            task.running_ns += step.end - step.start - step.nested_ns
            task.last_end = step.end
        if step.ended_by in ("return", "unwind"):
            task.finished = step.ended_by
        if step.wake is not None:
            task.wakes[step.wake.cause] = task.wakes.get(step.wake.cause, 0) + 1

    def shown_processes(self) -> dict[int, str]:
        """pid -> label for the processes a reader must tell apart: those that ran asyncio
        tasks or loops, when there are several; {} when one (or none) did."""
        busy = {t.pid for t in self.tasks.values()} | {loop.pid for loop in self.loops.values()}
        if len(busy) < 2:
            return {}
        return {
            pid: (self.processes[pid].label if pid in self.processes else f"pid {pid}")
            for pid in sorted(busy)
        }

    def _iteration(self, it: IterationItem) -> None:
        loop = self.loops.get(it.tid)
        if loop is None:
            loop = self.loops[it.tid] = LoopAccount(it.pid, it.tid)
            thread = self.threads.get(it.tid)
            if thread is not None:
                thread.is_loop = True
        loop.iterations += 1
        loop.waited_ns += it.waited_ns or 0
        loop.timed_out += it.timed_out
        if it.busy_ns is not None:
            loop.busy_ns += it.busy_ns
            if it.busy_ns > loop.worst_busy_ns:
                loop.worst_busy_ns = it.busy_ns
                loop.worst_iteration = it.index
                loop.worst_at = it.wait.ts
