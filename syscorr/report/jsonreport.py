"""`syscorr report --format json`: the whole correlated model as one versioned JSON document.

Contract: `render(summary, stream, options)` writes one JSON object to the text stream it is
given, following docs/report-schema.json (explained in docs/report-json.md), version
`SCHEMA_VERSION`. The object is written piece by piece: the small parts first (version, meta,
rules, accounts, findings), then the `iterations`, `steps` and `syscalls` arrays with one element
per line, then warnings and statistics. `JsonExport` is the streaming form the CLI uses: it
encodes each item as the summary pass makes it and spills the text to a `SortedSpill`, so memory
stays bounded whatever the trace's size; `render(summary, ...)` writes a summary's kept items
through it. Items are written in time order. Timeline filters in `options["filters"]` (task,
fd, pid, syscalls, since/until; not --limit) narrow the three item arrays, never the accounts.
"""

import json
from collections.abc import Iterable
from itertools import count
from json.encoder import encode_basestring_ascii as _quote

from syscorr.analysis.findings import counts, group_findings
from syscorr.analysis.summary import TraceSummary
from syscorr.correlate.model import Frame, IterationItem, StepItem, SyscallItem, Wake, item_time
from syscorr.report.export import render_kept
from syscorr.report.safe import json_inert
from syscorr.report.spill import SortedSpill

RUN_RECORDS = 20_000  # encoded items held in memory before a sorted run goes to disk

SCHEMA_VERSION = 1
FORMAT_NAME = "syscorr-report"


def _frame(frame: Frame | None) -> dict | None:
    if frame is None:
        return None
    return {"qualname": frame.qualname, "filename": frame.filename, "line": frame.line}


def _wake(wake: Wake | None) -> dict | None:
    if wake is None:
        return None
    return {
        "cause": wake.cause,
        "iteration": wake.iteration,
        "fd": wake.fd,
        "detail": wake.detail,
        "by": wake.by,
    }


def syscall_json(item: SyscallItem) -> dict:
    call = item.call
    fd = None
    if item.fd_key is not None:
        pid, number, generation = item.fd_key
        fd = {"pid": pid, "fd": number, "generation": generation, "label": item.fd_label}
    return {
        "ts": call.ts,
        "duration_ns": call.duration,
        "pid": item.pid,
        "tid": call.tid,
        "name": call.name,
        "args": call.args,
        "ret": call.ret,
        "retval": call.retval,
        "errno": call.errno,
        "unfinished": call.unfinished,
        "log": {"source": call.source, "line": call.lineno, "end_line": call.end_lineno},
        "owner": item.owner,
        "task": item.task or None,
        "task_name": item.task_name,
        "step": item.step,
        "callback": item.callback,
        "frame": _frame(item.frame),
        "caller": _frame(item.caller),
        "iteration": item.iteration,
        "loop_wait": item.is_loop_wait,
        "fd": fd,
    }


def step_json(step: StepItem) -> dict:
    return {
        "kind": step.kind,
        "pid": step.pid,
        "tid": step.tid,
        "index": step.index,
        "task": step.task or None,
        "name": step.name,
        "start": step.start,
        "end": step.end,
        "duration_ns": step.duration,
        "started_by": step.started_by,
        "ended_by": step.ended_by,
        "resumed_at": _frame(step.resumed_at),
        "suspended_at": [_frame(f) for f in step.suspended_at],
        "awaiting": step.awaiting,
        "iteration": step.iteration,
        "syscalls": step.syscalls,
        "wake": _wake(step.wake),
        "nested_ns": step.nested_ns,
        "places": [
            {"frame": _frame(p.frame), "caller": _frame(p.caller), "ns": p.ns} for p in step.places
        ],
    }


# The two arrays that hold nearly every element are encoded straight to text (the same JSON,
# key for key, as json.dumps of syscall_json / step_json; tests compare them): a few times
# cheaper than building the dict and encoding it.


def _s(value) -> str:
    return "null" if value is None else _quote(value)


def _i(value) -> str:
    return "null" if value is None else str(value)


def _b(value) -> str:
    return "true" if value else "false"


def _frame_text(frame: Frame | None) -> str:
    if frame is None:
        return "null"
    return (
        f'{{"qualname":{_quote(frame.qualname)},"filename":{_quote(frame.filename)},'
        f'"line":{frame.line}}}'
    )


def syscall_text(item: SyscallItem) -> str:
    call = item.call
    if item.fd_key is None:
        fd = "null"
    else:
        pid, number, generation = item.fd_key
        fd = f'{{"pid":{pid},"fd":{number},"generation":{generation},"label":{_s(item.fd_label)}}}'
    return json_inert(
        f'{{"ts":{_i(call.ts)},"duration_ns":{_i(call.duration)},"pid":{item.pid},'
        f'"tid":{_i(call.tid)},"name":{_quote(call.name)},"args":{_quote(call.args)},'
        f'"ret":{_quote(call.ret)},"retval":{_i(call.retval)},"errno":{_s(call.errno)},'
        f'"unfinished":{_b(call.unfinished)},"log":{{"source":{_i(call.source)},'
        f'"line":{_i(call.lineno)},"end_line":{_i(call.end_lineno)}}},'
        f'"owner":{_quote(item.owner)},"task":{_i(item.task or None)},'
        f'"task_name":{_s(item.task_name)},"step":{_i(item.step)},'
        f'"callback":{_s(item.callback)},"frame":{_frame_text(item.frame)},'
        f'"caller":{_frame_text(item.caller)},"iteration":{_i(item.iteration)},'
        f'"loop_wait":{_b(item.is_loop_wait)},"fd":{fd}}}'
    )


def step_text(step: StepItem) -> str:
    wake = step.wake
    if wake is None:
        woke = "null"
    else:
        woke = (
            f'{{"cause":{_quote(wake.cause)},"iteration":{_i(wake.iteration)},'
            f'"fd":{_i(wake.fd)},"detail":{_quote(wake.detail)},"by":{_s(wake.by)}}}'
        )
    chain = ",".join(_frame_text(f) for f in step.suspended_at)
    places = ",".join(
        f'{{"frame":{_frame_text(p.frame)},"caller":{_frame_text(p.caller)},"ns":{p.ns}}}'
        for p in step.places
    )
    return json_inert(
        f'{{"kind":{_quote(step.kind)},"pid":{step.pid},"tid":{step.tid},'
        f'"index":{step.index},"task":{_i(step.task or None)},"name":{_quote(step.name)},'
        f'"start":{step.start},"end":{_i(step.end)},"duration_ns":{_i(step.duration)},'
        f'"started_by":{_quote(step.started_by)},"ended_by":{_quote(step.ended_by)},'
        f'"resumed_at":{_frame_text(step.resumed_at)},"suspended_at":[{chain}],'
        f'"awaiting":{_s(step.awaiting)},"iteration":{_i(step.iteration)},'
        f'"syscalls":{step.syscalls},"wake":{woke},"nested_ns":{step.nested_ns},'
        f'"places":[{places}]}}'
    )


def iteration_json(it: IterationItem) -> dict:
    wait = it.wait
    return {
        "pid": it.pid,
        "tid": it.tid,
        "index": it.index,
        "wait": {
            "name": wait.name,
            "ts": wait.ts,
            "duration_ns": wait.duration,
            "log": {"source": wait.source, "line": wait.lineno, "end_line": wait.end_lineno},
        },
        # the parser spells "block until I/O" as a negative timeout; the schema says null
        "timeout_ns": None if it.timeout_ns is None or it.timeout_ns < 0 else it.timeout_ns,
        "waited_ns": it.waited_ns,
        "ready": [{"fd": fd, "events": events} for fd, events in it.ready],
        "busy_ns": it.busy_ns,
        "steps": it.steps,
        "timed_out": it.timed_out,
    }


def finding_json(finding) -> dict:
    return {
        "kind": finding.kind,
        "message": finding.message(),
        "duration_ns": finding.duration_ns,
        "pid": finding.pid,
        "tid": finding.tid,
        "ts": finding.ts,
        "task": finding.task,
        "callback": finding.callback,
        "frame": _frame(finding.frame),
        "syscall": finding.syscall,
        "detail": finding.detail,
        "iteration": finding.iteration,
        "log_line": finding.lineno,
        "via": _frame(finding.via),
        "user_code": finding.user_code,
        "phase": finding.phase,
        "counted": counts(finding),
        "place_ns": finding.place_ns,
        "traced_syscalls": finding.syscalls,
        "tracer_ns": finding.tracer_ns,
        "mostly_tracer": finding.mostly_tracer,
        "restarts": finding.restarts,
    }


def group_json(group, processes: dict) -> dict:
    return {
        "kind": group.kind,
        "pid": group.pid,
        "process": processes.get(group.pid),
        "phase": group.phase,
        "counted": counts(group),
        "frame": _frame(group.frame),
        "via": _frame(group.via),
        "where": group.where,
        "who": list(group.who),
        "syscalls": list(group.syscalls),
        "count": group.count,
        "total_ns": group.total_ns,
        "worst_ns": group.worst_ns,
        "p50_ns": group.p50_ns,
        "first_ts": group.first_ts,
        "user_code": group.user_code,
        "mostly_tracer": group.mostly_tracer,
    }


def accounts_json(summary: TraceSummary) -> dict:
    acc = summary.accounts
    tasks = [
        {
            "pid": t.pid,
            "key": t.key,
            "name": t.name,
            "steps": t.steps,
            "running_ns": t.running_ns,
            "waiting_ns": t.waiting_ns,
            "syscalls": t.syscalls,
            "bytes_in": t.bytes_in,
            "bytes_out": t.bytes_out,
            "first_ts": t.first_ts,
            "last_end": t.last_end,
            "finished": t.finished,
            "wakes": dict(sorted(t.wakes.items())),
        }
        for t in sorted(acc.tasks.values(), key=lambda t: (t.pid, t.first_ts or 0, t.key))
    ]
    fds = [
        {
            "pid": f.pid,
            "fd": f.fd,
            "generation": f.generation,
            "label": f.label,
            "calls": f.calls,
            "bytes_in": f.bytes_in,
            "bytes_out": f.bytes_out,
            "eagain": f.eagain,
            "tasks": sorted(f.tasks),
        }
        for f in sorted(acc.fds.values(), key=lambda f: (f.pid, f.fd, f.generation))
    ]
    threads = [
        {
            "pid": t.pid,
            "tid": t.tid,
            "syscalls": t.syscalls,
            "syscall_ns": t.syscall_ns,
            "is_loop": t.is_loop,
            "owners": dict(sorted(t.owners.items())),
        }
        for t in sorted(acc.threads.values(), key=lambda t: (t.pid, t.tid))
    ]
    syscalls = [
        {
            "name": name,
            "calls": s.calls,
            "errors": s.errors,
            "unfinished": s.unfinished,
            "total_ns": s.total_ns,
            "max_ns": s.max_ns,
        }
        for name, s in sorted(acc.syscalls.items())
    ]
    loops = [
        {
            "pid": loop.pid,
            "tid": loop.tid,
            "iterations": loop.iterations,
            "busy_ns": loop.busy_ns,
            "waited_ns": loop.waited_ns,
            "worst_busy_ns": loop.worst_busy_ns,
            "worst_iteration": loop.worst_iteration,
            "worst_at": loop.worst_at,
            "timed_out": loop.timed_out,
        }
        for loop in sorted(acc.loops.values(), key=lambda loop: (loop.pid, loop.tid))
    ]
    processes = [
        {
            "pid": p.pid,
            "parent": p.parent,
            "command": p.command,
            "label": p.label,
            "syscalls": p.syscalls,
            "has_agent": p.has_agent,
            "tasks": p.tasks,
        }
        for p in sorted(acc.processes.values(), key=lambda p: p.pid)
    ]
    return {
        "first_ts": acc.first_ts,
        "last_ts": acc.last_ts,
        "duration_ns": (acc.last_ts - acc.first_ts) if acc.first_ts and acc.last_ts else None,
        "timed_syscalls": acc.timed_syscalls,
        "processes": processes,
        "tasks": tasks,
        "fds": fds,
        "threads": threads,
        "syscalls": syscalls,
        "loops": loops,
    }


def stats_json(summary: TraceSummary) -> dict:
    parse = summary.parse_stats
    corr = summary.correlation_stats
    return {
        "parse": {
            "records": dict(sorted(parse.by_type.items())),
            "skipped_lines": dict(sorted(parse.skipped.items())),
            "split_calls_joined": parse.paired,
            "unparsed_lines": parse.unparsed,
            "first_unparsed": [{"source": s, "line": n} for s, n in sorted(parse.first_unparsed)],
        },
        "correlation": None
        if corr is None
        else {
            "syscalls": corr.syscalls,
            "agent_syscalls_dropped": corr.agent_syscalls,
            "agent_events": corr.agent_events,
            "steps": corr.steps,
            "iterations": corr.iterations,
            "processes": sorted(corr.processes),
        },
    }


def _described(filt) -> dict | None:
    if filt is None or not filt.narrows:
        return None
    return {
        "tasks": sorted(filt.tasks),
        "fds": sorted(filt.fds),
        "pids": sorted(filt.pids),
        "syscalls": sorted(filt.syscalls),
        "since_s": filt.since_s,
        "until_s": filt.until_s,
    }


_ARRAYS = (
    (IterationItem, lambda it: _dumps(iteration_json(it))),
    (StepItem, step_text),
    (SyscallItem, syscall_text),
)
_ARRAY_OF = {kind: (n, encode) for n, (kind, encode) in enumerate(_ARRAYS)}
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _dumps(value) -> str:
    return json_inert(_encode(value))


class JsonExport:
    """The streaming JSON writer: `observe(item)` during the summary pass encodes each item the
    filters keep and spills it (array, start time, serial, text); `write(summary, stream)`
    writes the document, the arrays in time order from the spill."""

    def __init__(self, options: dict | None = None) -> None:
        self.options = options or {}
        self.filt = self.options.get("filters")
        self.spill = SortedSpill(RUN_RECORDS)
        self._serial = count()

    def observe(self, item) -> None:
        if self.filt is not None and not self.filt.keeps(item):
            return
        kind = type(item)
        number, encode = _ARRAY_OF[kind]
        named = None  # (pid, task key, the name it had then): renamed at write if it changed
        if kind is SyscallItem and item.task:
            named = (item.pid, item.task, item.task_name)
        elif kind is StepItem and item.kind == "task":
            named = (item.pid, item.task, item.name)
        self.spill.add((number, item_time(item), next(self._serial), encode(item), named))

    def write(self, summary: TraceSummary, stream, progress=None) -> None:
        try:
            self._write(summary, stream, progress)
        finally:
            self.spill.close()

    def close(self) -> None:
        self.spill.close()

    def _write(self, summary: TraceSummary, stream, progress) -> None:
        origin = summary.accounts.first_ts
        filt = self.filt
        windowed = filt is not None and (filt.since_s is not None or filt.until_s is not None)
        rules = summary.rules
        out = _ObjectWriter(stream)
        out.member("format", FORMAT_NAME)
        out.member("schema_version", SCHEMA_VERSION)
        out.member("trace", str(summary.loaded.trace.path))
        out.member("meta", summary.meta)
        out.member("has_agent", summary.has_agent)
        out.member(
            "rules",
            {
                "block_ns": rules.block_ns,
                "step_ns": rules.step_ns,
                "forbidden": sorted(rules.forbidden),
            },
        )
        out.member("filters", _described(filt))
        out.member("accounts", accounts_json(summary))
        out.array(
            "findings",
            (finding_json(f) for f in sorted(summary.findings, key=lambda f: f.ts or 0)),
        )
        processes = summary.accounts.shown_processes()
        out.array(
            "finding_groups", (group_json(g, processes) for g in group_findings(summary.findings))
        )
        records = self.spill.sorted()
        written = 0
        final = summary.task_names  # a task has one name: its last (see correlate.names)
        pending = next(records, None)
        for number, name in enumerate(_ARRAY_NAMES):
            key = _NAME_KEY[number]
            out.open_array(name)
            while pending is not None and pending[0] == number:
                if not windowed or filt.in_window(pending[1], origin):
                    text, named = pending[3], pending[4]
                    if named is not None:
                        now = final.get((named[0], named[1]))
                        if now is not None and now != named[2]:
                            text = _renamed(text, key, named[2], now)
                    out.element(text)
                written += 1
                if progress is not None and written % 10_000 == 0:
                    progress(written)
                pending = next(records, None)
            out.close_array()
        out.member("warnings", list(summary.warnings))
        out.member("stats", stats_json(summary))
        out.close()


_ARRAY_NAMES = ("iterations", "steps", "syscalls")
_NAME_KEY = (None, ',"name":', ',"task_name":')  # where each array's element names its task


def _renamed(text: str, key: str, old: str | None, new: str) -> str:
    """An encoded element with its task's name replaced (the key occurs once: strings inside
    the element have their quotes escaped, so `,"name":` is only ever the member)."""
    was = key + ("null" if old is None else json_inert(_quote(old)))
    return text.replace(was, key + json_inert(_quote(new)), 1)


class _ObjectWriter:
    """Writes `{"key": value, ...}` member by member; arrays one element per line."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.first = True

    def _key(self, key: str) -> None:
        self.stream.write("{\n" if self.first else ",\n")
        self.first = False
        self.stream.write(f"{json.dumps(key)}: ")

    def member(self, key: str, value) -> None:
        self._key(key)
        self.stream.write(_dumps(value))

    def array(self, key: str, values: Iterable) -> int:
        self._key(key)
        count = 0
        for value in values:
            self.stream.write("[\n" if count == 0 else ",\n")
            self.stream.write(_dumps(value))
            count += 1
        self.stream.write("\n]" if count else "[]")
        return count

    def open_array(self, key: str) -> None:
        self._key(key)
        self._count = 0

    def element(self, text: str) -> None:
        self.stream.write("[\n" if self._count == 0 else ",\n")
        self.stream.write(text)
        self._count += 1

    def close_array(self) -> None:
        self.stream.write("\n]" if self._count else "[]")

    def close(self) -> None:
        self.stream.write("{}\n" if self.first else "\n}\n")


def render(summary: TraceSummary, stream, options: dict | None = None) -> None:
    """The document for a summary whose items were kept (tests, small traces)."""
    render_kept(JsonExport(options), summary, stream)
