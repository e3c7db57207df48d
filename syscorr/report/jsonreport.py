"""`syscorr report --format json`: the whole correlated model as one versioned JSON document.

Contract: `render(summary, stream, options)` writes one JSON object to the text stream it is
given, following docs/report-schema.json (explained in docs/report-json.md), version
`SCHEMA_VERSION`. The object is written piece by piece: the small parts first (version, meta,
rules, accounts, findings), then the `iterations`, `steps` and `syscalls` arrays with one element
per line, then warnings and statistics. Only one element is ever encoded at a time, so memory
beyond the summary's kept items stays constant and a reader can stream the arrays line by line.
Items are written in time order. Timeline filters in `options["filters"]` (task, fd, pid,
syscalls, since/until; not --limit) narrow the three item arrays, never the accounts.
"""

import json
from collections.abc import Iterable

from syscorr.analysis.findings import counts, group_findings
from syscorr.analysis.summary import TraceSummary
from syscorr.correlate.model import Frame, IterationItem, StepItem, SyscallItem, Wake, item_time

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


def _item_filter(options: dict, origin: int | None):
    filt = options.get("filters")
    if filt is None:
        return None, None
    described = {
        "tasks": sorted(filt.tasks),
        "fds": sorted(filt.fds),
        "pids": sorted(filt.pids),
        "syscalls": sorted(filt.syscalls),
        "since_s": filt.since_s,
        "until_s": filt.until_s,
    }
    if not any(described.values()) and filt.since_s is None and filt.until_s is None:
        return None, None

    def keeps(item, ts) -> bool:
        return filt.keeps(item) and filt.in_window(ts, origin)

    return keeps, described


_ts_of = item_time  # when an item began (see syscorr.correlate.model)


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
        self.stream.write(json.dumps(value, separators=(",", ":")))

    def array(self, key: str, values: Iterable) -> int:
        self._key(key)
        count = 0
        for value in values:
            self.stream.write("[\n" if count == 0 else ",\n")
            self.stream.write(json.dumps(value, separators=(",", ":")))
            count += 1
        self.stream.write("\n]" if count else "[]")
        return count

    def close(self) -> None:
        self.stream.write("{}\n" if self.first else "\n}\n")


def render(summary: TraceSummary, stream, options: dict | None = None) -> None:
    options = options or {}
    origin = summary.accounts.first_ts
    keeps, described = _item_filter(options, origin)
    items = summary.items
    if keeps is not None:
        items = [item for item in items if keeps(item, _ts_of(item))]
    items = sorted(items, key=_ts_of)
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
    out.member("filters", described)
    out.member("accounts", accounts_json(summary))
    out.array(
        "findings", (finding_json(f) for f in sorted(summary.findings, key=lambda f: f.ts or 0))
    )
    processes = summary.accounts.shown_processes()
    out.array(
        "finding_groups", (group_json(g, processes) for g in group_findings(summary.findings))
    )
    out.array("iterations", (iteration_json(i) for i in items if type(i) is IterationItem))
    out.array("steps", (step_json(s) for s in items if type(s) is StepItem))
    out.array("syscalls", (syscall_json(c) for c in items if type(c) is SyscallItem))
    out.member("warnings", list(summary.warnings))
    out.member("stats", stats_json(summary))
    out.close()
