"""The trace laid out as tracks, slices, flows and counters: what every timeline export draws.

Contract: `layout(summary, filters)` turns the kept correlation items of a `TraceSummary` into a
`Layout` that the Perfetto writers (JSON, protobuf) and the HTML report all draw:
- tracks: one per process, one per thread that made a syscall or ran a step, one per task;
- slices (start/end ns on the trace's clock): task steps on their task's track; callback steps
  and loop waits (epoll_wait & co, with the ready fds) on their thread's track; each syscall on
  the track of the step that made it, inside that step, or on its thread's track outside any
  step. Per track, slices are sorted by (start, longest first) and properly nested: a slice
  that would overlap the end of the slice enclosing it is cut there (`args["clipped"]`);
- flows: from the slice that caused a task step (the loop wait that saw its fd ready or timed
  out, the other task's step, the callback, the task's own previous step after a yield) to that
  step; both ends of every flow are in `slices`;
- counters: loop lag per loop thread (how long the callbacks of an iteration kept the loop from
  its next wait) and bytes in flight per loopback TCP direction traced at both ends.
Only items `filters.keeps` and whose start `filters.in_window` (`--pid/--task/--since/--until`)
are laid out. `origin` is the earliest time laid out: exporters write times relative to it.
"""

import os
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from syscorr.correlate.model import (
    WAKE_BY_WAIT,
    WAKE_YIELDED,
    IterationItem,
    StepItem,
    SyscallItem,
    item_end,
)
from syscorr.errors import UsageError
from syscorr.parse.vocabulary import IO_OUT
from syscorr.report.fmt import clip, size, where

TASK_TID_BASE = 1 << 30  # synthetic thread ids for task tracks, above any real Linux tid
ARG_LIMIT = 300  # characters of syscall arguments kept per slice


class Track(NamedTuple):
    uid: int
    kind: str  # "process" | "thread" | "task"
    pid: int
    tid: int  # the thread id; for a task a synthetic one (TASK_TID_BASE + n); pid for a process
    name: str
    sort: int  # display order within the process


class Slice(NamedTuple):
    sid: int
    track: int  # Track.uid
    start: int  # ns
    end: int  # ns, >= start
    name: str
    cat: str  # "task-step" | "callback" | "syscall" | "loop-wait"
    args: dict  # str -> str | int | float | bool


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


@dataclass
class Layout:
    origin: int
    end: int
    tracks: list = field(default_factory=list)  # Track, processes first then by (pid, sort)
    slices: dict = field(default_factory=dict)  # Track.uid -> [Slice] in nesting order
    flows: list = field(default_factory=list)
    counters: list = field(default_factory=list)
    points: list = field(default_factory=list)  # CounterPoint sorted by ts
    by_sid: dict = field(default_factory=dict)  # Slice.sid -> Slice (after nesting)

    def slice_count(self) -> int:
        return sum(len(v) for v in self.slices.values())

    def estimated_bytes(self, per_slice: int, per_point: int) -> int:
        """A fast size estimate of an export: fixed bytes per event plus the argument text."""
        total = len(self.points) * per_point + len(self.flows) * 2 * per_point
        for slices in self.slices.values():
            for s in slices:
                total += per_slice + len(s.name) + sum(len(str(v)) + 12 for v in s.args.values())
        return total


_TCP_LABEL = re.compile(r"^TCP6? (\S+)->(\S+)$")


def _process_name(summary, pid: int) -> str:
    command = summary.meta.get("command") or []
    root = min(summary.accounts.threads.values(), key=lambda t: t.tid, default=None)
    if command and root is not None and root.pid == pid:
        return f"{' '.join(str(c).rsplit('/', 1)[-1] for c in command)[:80]} (pid {pid})"
    return f"process {pid}"


class _Builder:
    def __init__(self, summary) -> None:
        self.summary = summary
        self.tracks: dict = {}  # ("process", pid) | ("thread", pid, tid) | ("task", pid, key)
        self.tracks_by_uid: dict = {}  # uid -> Track
        self.raw: dict = {}  # track uid -> [Slice]
        self.next_sid = 1
        self.task_tids = 0
        self.loops = set(summary.accounts.loops)

    def track(self, key: tuple) -> int:
        uid = self.tracks.get(key)
        if uid is not None:
            return uid
        pid = key[1]
        if key[0] != "process":
            self.track(("process", pid))
        uid = len(self.tracks) + 1
        if key[0] == "process":
            track = Track(uid, "process", pid, pid, _process_name(self.summary, pid), 0)
        elif key[0] == "thread":
            tid = key[2]
            loop = tid in self.loops
            name = f"thread {tid}" + (" (event loop)" if loop else "")
            track = Track(uid, "thread", pid, tid, name, 0 if loop else 2)
        else:
            account = self.summary.accounts.tasks.get((pid, key[2]))
            name = account.name if account is not None else f"task {key[2]}"
            self.task_tids += 1
            track = Track(uid, "task", pid, TASK_TID_BASE + self.task_tids, f"task {name}", 1)
        self.tracks[key] = uid
        self.raw[uid] = []
        self.tracks_by_uid[uid] = track
        return uid

    def add(self, track: int, start: int, end: int, name: str, cat: str, args: dict) -> Slice:
        s = Slice(self.next_sid, track, start, max(start, end), name, cat, args)
        self.next_sid += 1
        self.raw[track].append(s)
        return s


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


def _nest(slices: list, by_sid: dict) -> list:
    """Sort one track's slices and cut any that overlap the end of their enclosing slice."""
    slices.sort(key=lambda s: (s.start, -s.end, s.sid))
    out = []
    stack: list = []
    for s in slices:
        while stack and stack[-1].end <= s.start:
            stack.pop()  # ended before this one starts: a sibling, not a parent
        if stack and s.end > stack[-1].end:
            s = s._replace(end=stack[-1].end, args={**s.args, "clipped": True})
        out.append(s)
        by_sid[s.sid] = s
        stack.append(s)
    return out


def layout(summary, filters=None) -> Layout:
    origin_hint = summary.accounts.first_ts
    keep = filters.keeps if filters is not None else (lambda item: True)
    in_window = filters.in_window if filters is not None else (lambda ts, origin: True)
    items = [
        i
        for i in summary.items
        if keep(i) and in_window(_start(i), origin_hint) and _start(i) is not None
    ]
    last = max((item_end(i) for i in items), default=0)
    b = _Builder(summary)
    steps: dict = {}  # (pid, index) -> Slice
    waits: dict = {}  # (tid, iteration) -> Slice
    task_steps: list = []  # (StepItem, Slice)
    for item in items:
        if type(item) is StepItem:
            if item.kind == "task":
                track = b.track(("task", item.pid, item.task))
                account = summary.accounts.tasks.get((item.pid, item.task))
                name, cat = (account.name if account is not None else item.name), "task-step"
            else:
                track = b.track(("thread", item.pid, item.tid))
                name, cat = item.name, "callback"
            end = item.end if item.end is not None else last
            s = b.add(track, item.start, end, name, cat, _step_args(item))
            steps[(item.pid, item.index)] = s
            if item.kind == "task":
                task_steps.append((item, s))
        elif type(item) is IterationItem:
            track = b.track(("thread", item.pid, item.tid))
            wait = item.wait
            s = b.add(
                track,
                wait.ts,
                wait.ts + (wait.duration or 0),
                wait.name,
                "loop-wait",
                _iteration_args(item),
            )
            waits[(item.tid, item.index)] = s
    for item in items:
        if type(item) is not SyscallItem or item.is_loop_wait:
            continue
        call = item.call
        start, end = call.ts, call.ts + (call.duration or 0)
        parent = steps.get((item.pid, item.step)) if item.step is not None else None
        if parent is not None:
            track = parent.track
            start = min(max(start, parent.start), parent.end)
            end = min(max(end, start), parent.end)
        else:
            track = b.track(("thread", item.pid, call.tid if call.tid is not None else item.pid))
        b.add(track, start, end, call.name, "syscall", _syscall_args(item))

    starts = [s.start for slices in b.raw.values() for s in slices]
    origin = min(starts, default=origin_hint or 0)
    out = Layout(origin=origin, end=max(last, origin))
    for uid, slices in b.raw.items():
        out.slices[uid] = _nest(slices, out.by_sid)
    order = sorted(b.tracks_by_uid.values(), key=lambda t: (t.kind != "process", t.pid, t.sort))
    out.tracks = order
    out.flows = _flows(task_steps, steps, waits, out.by_sid)
    _counters(out, items, b)
    return out


def _start(item) -> int | None:
    kind = type(item)
    if kind is SyscallItem:
        return item.call.ts
    if kind is StepItem:
        return item.start
    return item.wait.ts


def _flows(task_steps: list, steps: dict, waits: dict, by_sid: dict) -> list:
    """Wake-up arrows: from what caused a task step (the step or callback the wake names, else
    the selector wait of its iteration) to the step."""
    previous: dict = {}  # task track -> its latest step's sid
    flows = []
    for step, target in sorted(task_steps, key=lambda p: p[0].start):
        wake = step.wake
        source = None
        if wake is None:
            pass
        elif wake.cause == WAKE_YIELDED:
            source = previous.get(target.track)
        elif wake.step is not None and (step.pid, wake.step) in steps:
            source = steps[(step.pid, wake.step)].sid
        elif wake.cause in WAKE_BY_WAIT:
            wait = waits.get((step.tid, wake.iteration))
            source = wait.sid if wait is not None else None
        previous[target.track] = target.sid
        if source is None or source == target.sid or by_sid[source].start > target.start:
            continue
        flows.append(Flow(len(flows) + 1, source, target.sid, wake.cause))
    return flows


def _counters(out: Layout, items: list, b: _Builder) -> None:
    points = []
    lag: dict = {}  # tid -> Counter
    for item in items:
        if type(item) is IterationItem and item.busy_ns is not None:
            counter = lag.get(item.tid)
            if counter is None:
                name = f"loop lag ms (thread {item.tid})"
                counter = Counter(len(out.counters) + 1, item.pid, name)
                lag[item.tid] = counter
                out.counters.append(counter)
            woke = item.wait.ts + (item.wait.duration or 0)
            points.append(CounterPoint(woke, counter.uid, round(item.busy_ns / 1e6, 3)))
            points.append(CounterPoint(woke + item.busy_ns, counter.uid, 0.0))
    # bytes in flight on loopback TCP connections traced at both ends
    moves = []  # (ts, (src, dst), +n | -n, pid)
    senders, receivers = set(), set()
    for item in items:
        if type(item) is not SyscallItem or not item.fd_label:
            continue
        call = item.call
        if item.io is None or item.nbytes <= 0:
            continue
        m = _TCP_LABEL.match(item.fd_label)
        if m is None:
            continue
        local, peer = m.groups()
        done = call.ts + (call.duration or 0)
        if item.io == IO_OUT:
            senders.add((local, peer))
            moves.append((done, (local, peer), item.nbytes, item.pid))
        else:
            receivers.add((peer, local))
            moves.append((done, (peer, local), -item.nbytes, item.pid))
    paired = senders & receivers
    flight: dict = {}  # direction -> [Counter, bytes]
    for ts, direction, delta, pid in sorted(moves, key=lambda m: m[0]):
        if direction not in paired:
            continue
        entry = flight.get(direction)
        if entry is None:
            name = f"bytes in flight {direction[0]}->{direction[1]}"
            entry = flight[direction] = [Counter(len(out.counters) + 1, pid, name), 0]
            out.counters.append(entry[0])
        entry[1] = max(0, entry[1] + delta)
        points.append(CounterPoint(ts, entry[0].uid, float(entry[1])))
    points.sort(key=lambda p: p.ts)
    out.points = points


def limit_bytes(options: dict, default: int) -> int:
    """The largest export allowed: options["limit_bytes"], $SYSCORR_PERFETTO_LIMIT_MB, or the
    default for the format."""
    if options.get("limit_bytes") is not None:
        return int(options["limit_bytes"])
    env = os.environ.get("SYSCORR_PERFETTO_LIMIT_MB")
    return int(float(env) * (1 << 20)) if env else default


def sized_layout(
    summary, options: dict, per_slice: int, per_point: int, default_limit: int, what: str
) -> Layout:
    """`layout` of the summary for one export format, refused (`guard_size`) when the file it
    would make (estimated from bytes per slice and per counter point) is too big to open."""
    lay = layout(summary, options.get("filters"))
    estimate = lay.estimated_bytes(per_slice, per_point)
    limit = limit_bytes(options, default_limit)
    guard_size(lay, estimate, limit, what, summary.accounts.first_ts)
    return lay


def guard_size(lay: Layout, estimate: int, limit: int, what: str, span_origin: int | None) -> None:
    """Refuse an export the Perfetto UI could not open, saying how to cut the trace."""
    if estimate <= limit:
        return
    base = span_origin if span_origin is not None else lay.origin
    first, last = (lay.origin - base) / 1e9, (lay.end - base) / 1e9
    raise UsageError(
        f"this trace makes a ~{size(estimate)} {what}, more than the Perfetto UI opens "
        f"(~{size(limit)}): export a part of it with --since S --until S (it spans "
        f"{first:.3f}-{last:.3f} s) or --pid/--task, or set SYSCORR_PERFETTO_LIMIT_MB to write "
        "it anyway"
    )
