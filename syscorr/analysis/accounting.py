"""Per-task, per-fd, per-thread, per-process and per-syscall accounting, in one pass.

Contract: `Accounts.add(item)` takes every correlation item once (any order within a thread's
time order); the public dicts then hold the totals. Memory grows with the number of tasks, fds,
threads and syscall names, never with the number of syscalls.
"""

from dataclasses import dataclass, field

from syscorr.correlate.model import IterationItem, StepItem, SyscallItem
from syscorr.parse.vocabulary import IO_IN, IO_OUT


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


@dataclass
class Accounts:
    tasks: dict = field(default_factory=dict)  # (pid, key) -> TaskAccount
    fds: dict = field(default_factory=dict)  # (pid, fd, gen) -> FdAccount
    threads: dict = field(default_factory=dict)  # tid -> ThreadAccount
    syscalls: dict = field(default_factory=dict)  # name -> SyscallAccount
    loops: dict = field(default_factory=dict)  # tid -> LoopAccount
    first_ts: int | None = None
    last_ts: int | None = None

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
        account.total_ns += duration
        account.max_ns = max(account.max_ns, duration)

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

    def finish(self) -> None:
        """After the last item: bytes that transport callbacks read from a socket count as
        received by the tasks that use that socket (asyncio's streams read in callbacks)."""
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
            task.running_ns += step.end - step.start
            task.last_end = step.end
        if step.ended_by in ("return", "unwind"):
            task.finished = step.ended_by
        if step.wake is not None:
            task.wakes[step.wake.cause] = task.wakes.get(step.wake.cause, 0) + 1

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
