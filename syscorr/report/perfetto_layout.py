"""Reading a laid-out trace back: the tracks named, the slices nested, the counters' points.

Contract: `StreamedLayout(sink, summary)` (made by `LayoutSink.finish`) holds the tracks (named
from the summary's accounts, in display order: processes first, then by pid with loop threads,
tasks, other threads), `origin` (the earliest time laid out: exporters write times relative to
it), `end`, the counters, and reads the sink's spills once each: `slices()` yields a
`PlacedSlice` per slice in the window, nested (an end that overlaps its enclosing slice's end
is cut there, `args["clipped"]`; a step open at the end of the trace ends at `end`), per track
when the sink's order is "track", all tracks merged by start when it is "time"; `points()`
yields the counters' points in time order. `estimated_bytes(per_slice, per_point)` estimates an
export's size from per-16 ms tallies, so a --since/--until cut is estimated too, and
`guard_size` refuses an export the Perfetto UI could not open. `layout(summary, filters)`
materialises everything as a `Layout` (tests, small traces). `close()` removes the spills.
"""

import os
from dataclasses import dataclass, field

from syscorr.errors import UsageError
from syscorr.report.fmt import size
from syscorr.report.perfetto_tracks import (
    BUCKET_SHIFT,
    Counter,
    CounterPoint,
    Flow,
    LayoutSink,
    PlacedSlice,
    Slice,
    Track,
)


def _process_name(summary, pid: int) -> str:
    command = summary.meta.get("command") or []
    root = min(summary.accounts.threads.values(), key=lambda t: t.tid, default=None)
    if command and root is not None and root.pid == pid:
        return f"{' '.join(str(c).rsplit('/', 1)[-1] for c in command)[:80]} (pid {pid})"
    return f"process {pid}"


class StreamedLayout:
    def __init__(self, sink: LayoutSink, summary) -> None:
        self.sink = sink
        filters = sink.filters
        self.in_window = filters.in_window if filters is not None else None
        if filters is not None and filters.since_s is None and filters.until_s is None:
            self.in_window = None
        self.span_origin = summary.accounts.first_ts
        hint = self.span_origin or 0
        origin = sink.first if sink.first is not None else hint
        if self.in_window is not None and filters.since_s is not None:
            origin = max(origin, hint + int(filters.since_s * 1e9))
        self.origin = origin
        end = max(sink.last, origin)
        if self.in_window is not None and filters.until_s is not None:
            end = max(origin, min(end, hint + int(filters.until_s * 1e9)))
        self.end = end
        loops = set(summary.accounts.loops)
        thread_names = summary.thread_names
        tracks = []
        self.task_names: dict = {}  # task track uid -> its task's final name
        self.final_names = summary.task_names  # (pid, task key) -> final name
        for uid in sink.tracks.values():
            kind, pid, tid, sort, task_key, group = sink.track_info[uid]
            if kind == "process":
                name = _process_name(summary, pid)
            elif kind == "thread":
                loop = tid in loops
                named = thread_names.get(tid)
                name = f"thread {tid}" + (f" {named}" if named else "")
                name += " (event loop)" if loop else ""
                sort = 0 if loop else 2
            else:
                account = summary.accounts.tasks.get((pid, task_key))
                task = account.name if account is not None else f"task {task_key}"
                self.task_names[uid] = task
                name = f"task {task}"
            tracks.append(Track(uid, kind, pid, tid, name, sort, group))
        self.tracks = sorted(tracks, key=lambda t: (t.kind != "process", t.pid, t.sort, t.uid))
        self.counters = list(sink.counters)
        self._flight: dict = {}  # (src, dst) -> Counter uid, for directions seen at both ends
        for direction in sorted(sink.senders.keys() & sink.receivers):
            uid = self._flight[direction] = len(self.counters) + 1
            name = f"bytes in flight {direction[0]}->{direction[1]}"
            self.counters.append(Counter(uid, sink.senders[direction], name))

    def _window(self, ts: int) -> bool:
        return self.in_window is None or self.in_window(ts, self.span_origin)

    def estimated_bytes(self, per_slice: int, per_point: int) -> int:
        """A fast size estimate of an export: fixed bytes per event plus the argument text."""
        total = 0
        low = high = None
        if self.in_window is not None:
            low, high = self.origin >> BUCKET_SHIFT, self.end >> BUCKET_SHIFT
        for bucket, (slices, text, points) in self.sink.buckets.items():
            if low is not None and not low <= bucket <= high:
                continue
            total += slices * per_slice + text + points * per_point
        return total + (self.sink.next_fid - 1) * 2 * per_point

    def slices(self):
        """PlacedSlice per slice laid out: per track in (start, longest first) order, or all
        tracks merged in that order ("time"); ends cut to nest, open steps end at `end`."""
        names = self.task_names
        final_names = self.final_names
        last = max(self.sink.last, self.origin)
        window = self.in_window is not None
        stacks: dict = {}  # track uid -> [end, ...] of the enclosing slices
        current = None
        per_track = self.sink.order != "time"
        for record in self.sink.spill.sorted():
            track, start, end, sid, name, cat, args, fout, fin, task = record[-1]
            if window and not self._window(start):
                continue
            if end is None:
                end = last
            if per_track and track != current:
                stacks.clear()
                current = track
            stack = stacks.get(track)
            if stack is None:
                stack = stacks[track] = []
            while stack and stack[-1] <= start:
                stack.pop()  # ended before this one starts: a sibling, not a parent
            if stack and end > stack[-1]:
                end = stack[-1]
                args = {**args, "clipped": True}
            if name is None:
                name = names.get(track, "task")
            if task is not None:
                final = final_names.get(task)
                if final is not None and final != args.get("task"):
                    args = {**args, "task": final}
            if window:
                fout = [f for f in fout if self._window(f[2])]
                if fin is not None and not self._window(fin[2]):
                    fin = None
            depth = len(stack)
            stack.append(end)
            yield PlacedSlice(
                Slice(sid, track, start, max(start, end), name, cat, args),
                depth,
                tuple((f[0], f[1]) for f in fout),
                None if fin is None else (fin[0], fin[1]),
            )

    def points(self):
        """CounterPoints in time order: loop lag, and bytes in flight on the loopback TCP
        directions traced at both ends."""
        flight = self._flight
        level: dict = {}
        for record in self.sink.moves.sorted():
            ts = record[0]
            if record[2] == 0:
                _, _, _, counter, value = record
                if self._window(ts):
                    yield CounterPoint(ts, counter, value)
                continue
            _, _, _, _, src, dst, delta = record
            counter = flight.get((src, dst))
            if counter is None:
                continue
            level[counter] = max(0, level.get(counter, 0) + delta)
            if self._window(ts):
                yield CounterPoint(ts, counter, float(level[counter]))

    def close(self) -> None:
        self.sink.spill.close()
        self.sink.moves.close()


@dataclass
class Layout:
    """Everything `StreamedLayout` yields, in memory (tests, small traces)."""

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


def layout(summary, filters=None) -> Layout:
    sink = LayoutSink(filters)
    for item in summary.items:
        sink.observe(item)
    streamed = sink.finish(summary)
    out = Layout(streamed.origin, streamed.end, list(streamed.tracks))
    sources: dict = {}
    targets: dict = {}
    for placed in streamed.slices():
        s = placed.slice
        out.slices.setdefault(s.track, []).append(s)
        out.by_sid[s.sid] = s
        for fid, cause in placed.flows_out:
            sources[fid] = (s.sid, cause)
        if placed.flow_in is not None:
            targets[placed.flow_in[0]] = s.sid
    out.points = list(streamed.points())
    out.counters = list(streamed.counters)
    out.flows = [
        Flow(fid, sources[fid][0], targets[fid], sources[fid][1])
        for fid in sorted(sources)
        if fid in targets
    ]
    streamed.close()
    return out


def limit_bytes(options: dict, default: int) -> int:
    """The largest export allowed: options["limit_bytes"], $SYSCORR_PERFETTO_LIMIT_MB, or the
    default for the format."""
    if options.get("limit_bytes") is not None:
        return int(options["limit_bytes"])
    env = os.environ.get("SYSCORR_PERFETTO_LIMIT_MB")
    try:
        return int(float(env) * (1 << 20)) if env else default
    except ValueError:
        raise UsageError(f"SYSCORR_PERFETTO_LIMIT_MB={env!r} is not a number of MB") from None


def guard_size(lay: StreamedLayout, options: dict, per_slice: int, per_point: int,
               default_limit: int, what: str) -> None:  # fmt: skip
    """Refuse an export the Perfetto UI could not open, saying how to cut the trace."""
    estimate = lay.estimated_bytes(per_slice, per_point)
    limit = limit_bytes(options, default_limit)
    if estimate <= limit:
        return
    base = lay.span_origin if lay.span_origin is not None else lay.origin
    first, last = (lay.origin - base) / 1e9, (lay.end - base) / 1e9
    raise UsageError(
        f"this trace makes a ~{size(estimate)} {what}, more than the Perfetto UI opens "
        f"(~{size(limit)}): export a part of it with --since S --until S (it spans "
        f"{first:.3f}-{last:.3f} s) or --pid/--task, or set SYSCORR_PERFETTO_LIMIT_MB to write "
        "it anyway"
    )
