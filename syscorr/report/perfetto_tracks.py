"""The trace laid out as tracks, slices, flows and counters: what every timeline export draws.

Contract: `LayoutSink(filters, order)` is handed every correlation item during the summary
pass (`observe`) and spills what the exports draw, so memory stays bounded by the number of
tracks, counters and a window of recent steps, never by the trace's size:
- tracks: one per process, one per thread that made a syscall or ran a step, one per task;
- slices (start/end ns on the trace's clock): task steps on their task's track; callback steps
  and loop waits (epoll_wait & co, with the ready fds) on their thread's track; each syscall on
  the track of the step that made it, or on its thread's track outside any step. Per track,
  slices come sorted by (start, longest first) and properly nested: a slice that would overlap
  the end of the slice enclosing it is cut there (`args["clipped"]`);
- flows: from the slice that caused a task step (the loop wait that saw its fd ready or timed
  out, the other task's step, the callback, the task's own previous step after a yield) to
  that step; each end is carried by its slice (`PlacedSlice.flows_out` / `flow_in`). A cause is
  looked up among the last `RECENT` steps and waits (asyncio's causes are one iteration back);
- counters: loop lag per loop thread (how long the callbacks of an iteration kept the loop from
  its next wait) and bytes in flight per loopback TCP direction traced at both ends.
Only items `filters.keeps` and whose start `filters.in_window` (`--pid/--task/--since/--until`)
are laid out (the window is applied when the layout is read: the trace's origin is known only
after the pass). `finish(summary)` returns the `perfetto_layout.StreamedLayout` that reads it
back; the spill is sorted per track ("track" order: JSON, HTML) or by start across tracks
("time" order: the protobuf writer, which emits events in time order).
"""

import re
from collections import OrderedDict
from typing import TYPE_CHECKING, NamedTuple

from syscorr.correlate.model import (
    WAKE_BY_WAIT,
    WAKE_YIELDED,
    IterationItem,
    StepItem,
    SyscallItem,
)
from syscorr.parse.vocabulary import IO_OUT
from syscorr.report.fmt import clip, where
from syscorr.report.spill import SortedSpill

if TYPE_CHECKING:
    from syscorr.report.perfetto_layout import StreamedLayout

TASK_TID_BASE = 1 << 30  # synthetic thread ids for task tracks, above any real Linux tid
ARG_LIMIT = 300  # characters of syscall arguments kept per slice
RECENT = 10_000  # steps and waits kept open to receive the flows they cause
RUN_RECORDS = 20_000
BUCKET_SHIFT = 24  # size estimates are kept per 2**24 ns (~16.8 ms) of trace
OPEN = 1 << 62  # sort key of a step still open when the trace ended (longest first)


class Track(NamedTuple):
    uid: int
    kind: str  # "process" | "thread" | "task"
    pid: int
    tid: int  # the thread id; for a task a synthetic one (TASK_TID_BASE + n); pid for a process
    name: str
    sort: int  # display order within the process
    group: str = ""  # for a task: its root coroutine's qualname, when seen


class Slice(NamedTuple):
    sid: int
    track: int  # Track.uid
    start: int  # ns
    end: int  # ns, >= start
    name: str
    cat: str  # "task-step" | "callback" | "syscall" | "loop-wait"
    args: dict  # str -> str | int | float | bool


class PlacedSlice(NamedTuple):
    slice: Slice
    depth: int  # nesting depth on its track
    flows_out: tuple  # ((fid, cause), ...) flows this slice causes
    flow_in: tuple | None  # (fid, cause) of the flow that ends at this step


class Flow(NamedTuple):
    fid: int
    source: int  # Slice.sid
    target: int  # Slice.sid (a task step)
    name: str  # the wake cause


class Counter(NamedTuple):
    uid: int
    pid: int
    name: str


class CounterPoint(NamedTuple):
    ts: int
    counter: int  # Counter.uid
    value: float


_TCP_LABEL = re.compile(r"^TCP6? (\S+)->(\S+)$")


def _step_args(step: StepItem) -> dict:
    args = {"kind": step.kind, "started_by": step.started_by, "ended_by": step.ended_by}
    if step.resumed_at is not None:
        args["resumed_at"] = where(step.resumed_at)
    if step.suspended_at:
        args["suspended_at"] = where(step.suspended_at[-1])
        args["awaiting"] = where(step.suspended_at[0])
    if step.awaiting:
        args["awaiting_kind"] = step.awaiting
    if step.iteration is not None:
        args["iteration"] = step.iteration
    args["syscalls"] = step.syscalls
    if step.wake is not None:
        args["woken_by"] = step.wake.cause
        if step.wake.detail:
            args["wake_detail"] = step.wake.detail
    if step.end is None:
        args["open"] = True
    return args


def _syscall_args(item: SyscallItem) -> dict:
    call = item.call
    args = {"args": clip(call.args, ARG_LIMIT), "ret": call.ret, "line": call.lineno}
    if call.errno:
        args["errno"] = call.errno
    if item.fd_label:
        args["fd"] = item.fd_label
    if item.frame is not None:
        args["at"] = where(item.frame)
    if item.task_name:
        args["task"] = item.task_name
    elif item.callback:
        args["callback"] = item.callback
    if call.unfinished:
        args["unfinished"] = True
    return args


def _iteration_args(it: IterationItem) -> dict:
    timeout = "forever" if it.timeout_ns is None else f"{it.timeout_ns / 1e6:.3f} ms"
    args = {"iteration": it.index, "timeout": timeout, "timed_out": it.timed_out}
    args["ready_fds"] = ", ".join(f"fd {fd} {events}" for fd, events in it.ready) or "none"
    if it.busy_ns is not None:
        args["busy_after_ms"] = round(it.busy_ns / 1e6, 3)
    args["steps"] = it.steps
    return args


def _text_bytes(name: str, args: dict) -> int:
    """About the bytes of a slice's name and args in an export: the syscall's argument text,
    and ~30 bytes per other field (key, value, quotes); tests keep it within 2x of the truth."""
    return len(name) + 30 * len(args) + len(args.get("args", ""))


class LayoutSink:
    def __init__(self, filters=None, order: str = "track") -> None:
        self.filters = filters
        self.order = order
        self.spill = SortedSpill(RUN_RECORDS)
        self.moves = SortedSpill(RUN_RECORDS * 2)  # counter changes: (ts, serial, kind, ...)
        self.tracks: dict = {}  # ("process", pid) | ("thread", pid, tid) | ("task", pid, key)
        self.track_info: dict = {}  # uid -> [kind, pid, tid, sort, key, group]
        self.task_tids = 0
        self.next_sid = 1
        self.next_fid = 1
        self.serial = 0
        self.pending: OrderedDict = OrderedDict()  # sid -> body (list), not yet spilled
        self.steps: OrderedDict = OrderedDict()  # (pid, step index) -> sid
        self.waits: OrderedDict = OrderedDict()  # (tid, iteration) -> sid
        self.last_step: dict = {}  # task track uid -> sid of its latest step
        self.lag: dict = {}  # tid -> Counter uid
        self.counters: list = []  # Counter
        self.senders: dict = {}  # (local, peer) -> pid of the sending process
        self.receivers: set = set()
        self.first: int | None = None  # earliest start laid out
        self.last = 0  # latest end
        self.buckets: dict = {}  # ts >> BUCKET_SHIFT -> [slices, text bytes, points]

    # ---- the pass ----

    def track(self, key: tuple) -> int:
        uid = self.tracks.get(key)
        if uid is not None:
            return uid
        pid = key[1]
        if key[0] != "process":
            self.track(("process", pid))
        uid = len(self.tracks) + 1
        self.tracks[key] = uid
        if key[0] == "process":
            self.track_info[uid] = ["process", pid, pid, 0, None, ""]
        elif key[0] == "thread":
            self.track_info[uid] = ["thread", pid, key[2], 2, None, ""]
        else:
            self.task_tids += 1
            self.track_info[uid] = ["task", pid, TASK_TID_BASE + self.task_tids, 1, key[2], ""]
        return uid

    def _bucket(self, ts: int) -> list:
        b = self.buckets.get(ts >> BUCKET_SHIFT)
        if b is None:
            b = self.buckets[ts >> BUCKET_SHIFT] = [0, 0, 0]
        return b

    def _add(
        self, track, start, end, name, cat, args, recent_key=None, flow_in=None, task=None
    ) -> int:
        """A slice; `task` is the (pid, key) whose final name replaces args["task"] on read."""
        sid = self.next_sid
        self.next_sid += 1
        body = [track, start, end, sid, name, cat, args, [], flow_in, task]
        b = self._bucket(start)
        b[0] += 1
        b[1] += _text_bytes(name or "", args)
        if self.first is None or start < self.first:
            self.first = start
        if end is not None and end > self.last:
            self.last = end
        if recent_key is None:
            self._spill(body)
            return sid
        table, key = recent_key
        self.pending[sid] = (body, table, key)
        table[key] = sid
        if len(self.pending) > RECENT:
            _, (old, old_table, old_key) = self.pending.popitem(last=False)
            if old_table.get(old_key) == old[3]:
                del old_table[old_key]
            self._spill(old)
        return sid

    def _spill(self, body: list) -> None:
        track, start, end, sid = body[0], body[1], body[2], body[3]
        negend = -(end if end is not None else OPEN)
        if self.order == "time":
            self.spill.add((start, negend, sid, body))
        else:
            self.spill.add((track, start, negend, sid, body))

    def _move(self, ts: int, *rest) -> None:
        self.serial += 1
        self.moves.add((ts, self.serial, *rest))
        self._bucket(ts)[2] += 1

    def observe(self, item) -> None:
        filters = self.filters
        if filters is not None and not filters.keeps(item):
            return
        kind = type(item)
        if (item.call.ts if kind is SyscallItem else item.wait.ts if kind is IterationItem
                else item.start) is None:  # fmt: skip
            return  # an imported log without timestamps: nothing to place
        if kind is SyscallItem:
            if not item.is_loop_wait:
                self._syscall(item)
        elif kind is StepItem:
            self._step(item)
        elif kind is IterationItem:
            self._iteration(item)

    def _syscall(self, item: SyscallItem) -> None:
        call = item.call
        if item.step is not None and item.task and self._parent_kept(item):
            track = self.track(("task", item.pid, item.task))
        else:
            track = self.track(("thread", item.pid, call.tid if call.tid is not None else item.pid))
        end = call.ts + (call.duration or 0)
        task = (item.pid, item.task) if item.task and item.task_name else None
        self._add(track, call.ts, end, call.name, "syscall", _syscall_args(item), task=task)
        if item.fd_label and item.io is not None and item.nbytes > 0:
            m = _TCP_LABEL.match(item.fd_label)
            if m is not None:
                local, peer = m.groups()
                if item.io == IO_OUT:
                    self.senders.setdefault((local, peer), item.pid)
                    self._move(end, 1, item.pid, local, peer, item.nbytes)
                else:
                    self.receivers.add((peer, local))
                    self._move(end, 1, item.pid, peer, local, -item.nbytes)

    def _parent_kept(self, item: SyscallItem) -> bool:
        """Whether the task step that made this syscall is laid out too (its track then)."""
        f = self.filters
        if f is None:
            return True
        return not (f.syscalls or f.fds) and (not f.tasks or item.task_name in f.tasks)

    def _step(self, step: StepItem) -> None:
        if step.kind != "task":
            track = self.track(("thread", step.pid, step.tid))
            key = (self.steps, (step.pid, step.index))
            self._add(track, step.start, step.end, step.name, "callback", _step_args(step), key)
            return
        track = self.track(("task", step.pid, step.task))
        info = self.track_info[track]
        if not info[5]:
            root = step.suspended_at[-1] if step.suspended_at else step.resumed_at
            if root is not None and (step.suspended_at or step.started_by == "start"):
                info[5] = root.qualname
        source = self._source(step, track)
        flow_in = None
        if source is not None:
            body = self.pending[source][0]
            fid = self.next_fid
            self.next_fid += 1
            body[7].append((fid, step.wake.cause, step.start))
            flow_in = (fid, step.wake.cause, body[1])
        key = (self.steps, (step.pid, step.index))
        sid = self._add(track, step.start, step.end, None, "task-step", _step_args(step), key,
                        flow_in)  # fmt: skip
        self.last_step[track] = sid

    def _source(self, step: StepItem, track: int) -> int | None:
        """The pending slice that caused this task step, if it is still open to flows."""
        wake = step.wake
        if wake is None:
            return None
        if wake.cause == WAKE_YIELDED:
            source = self.last_step.get(track)
        elif wake.step is not None and (step.pid, wake.step) in self.steps:
            source = self.steps[(step.pid, wake.step)]
        elif wake.cause in WAKE_BY_WAIT:
            source = self.waits.get((step.tid, wake.iteration))
        else:
            source = None
        if source is None or source not in self.pending:
            return None
        if self.pending[source][0][1] > step.start:
            return None
        return source

    def _iteration(self, it: IterationItem) -> None:
        track = self.track(("thread", it.pid, it.tid))
        wait = it.wait
        woke = wait.ts + (wait.duration or 0)
        key = (self.waits, (it.tid, it.index))
        self._add(track, wait.ts, woke, wait.name, "loop-wait", _iteration_args(it), key)
        if it.busy_ns is not None:
            counter = self.lag.get(it.tid)
            if counter is None:
                counter = self.lag[it.tid] = len(self.counters) + 1
                name = f"loop lag ms (thread {it.tid})"
                self.counters.append(Counter(counter, it.pid, name))
            self._move(woke, 0, counter, round(it.busy_ns / 1e6, 3))
            self._move(woke + it.busy_ns, 0, counter, 0.0)

    # ---- after the pass ----

    def close(self) -> None:
        """Remove the spills (after `finish`'s layout was read, or when it never will be)."""
        self.spill.close()
        self.moves.close()

    def finish(self, summary) -> "StreamedLayout":
        for body, _, _ in self.pending.values():
            self._spill(body)
        self.pending.clear()
        self.steps.clear()
        self.waits.clear()
        from syscorr.report.perfetto_layout import StreamedLayout

        return StreamedLayout(self, summary)
