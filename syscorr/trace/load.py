"""Open a trace directory for reading: its meta, its agent logs, and its syscall records.

Contract: `open_trace(trace)` reads meta.json (refusing newer formats; normalized by
`syscorr.trace.meta`, whose problems become warnings) and the agent logs (at most
MAX_AGENT_LOGS), and checks that the syscall log(s) exist and are regular files; it raises
`TraceDirError` only for a trace that cannot be read at all. Everything in a trace is untrusted:
files are opened with `directory.open_regular`, lines are read at most MAX_LINE characters long
(a longer one is cut and counted as malformed), so no trace can hang a reader or exhaust its
memory. `LoadedTrace.records(stats)` parses the syscall log(s) lazily, streaming, each
time it is called (strace or dtruss, by the trace's meta; `-ff` sets merged by time) and counts
what it read into the `ParseStats` it is given. A `LoadedTrace` is read-only after
`open_trace`: the pipeline (syscorr.analysis.summary) owns the statistics of a pass. Nothing
here starts a process or renders.
"""

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from syscorr.errors import TraceDirError
from syscorr.parse import ParseStats, parse_dtruss, parse_strace, parse_strace_ff
from syscorr.parse.dtrace import parse_dtrace
from syscorr.parse.ebpf import parse_ebpf
from syscorr.parse.merge import tid_from_ff_name
from syscorr.trace import directory
from syscorr.trace import meta as meta_schema
from syscorr.trace.agentlog import AgentLog, read_agent_log

MAX_AGENT_LOGS = 4096
MAX_LINE = 16 << 20  # characters: strace's -s 1 MiB, escaped, fits


@dataclass
class LoadedTrace:
    trace: directory.TraceDir
    meta: dict
    logs: list[Path]
    agent_logs: list[AgentLog]
    warnings: list[str] = field(default_factory=list)

    @property
    def log_format(self) -> str:
        return (self.meta.get("backend") or {}).get("log_format") or "strace"

    def ignore_paths(self) -> tuple[str, ...]:
        """Paths whose appearance in a syscall marks it as the agent's own."""
        paths = [str(self.trace.agent_dir.resolve())]
        agent = self.meta.get("agent") or {}
        for key in ("dir", "inject_dir"):
            if agent.get(key):
                paths.append(str(agent[key]))
        # a trace moved or copied since it was recorded still names its own agent logs so
        paths.append(f"/{self.trace.path.resolve().name}/agent/agent-")
        return tuple(paths)

    def records(self, stats: ParseStats | None = None) -> Iterator:
        """The syscall records, streaming; counted into `stats` when given."""
        stats = stats if stats is not None else ParseStats()
        return stats.observe(self._parse(stats))

    def _parse(self, stats: ParseStats) -> Iterator:
        if self.log_format == "ebpf":
            for index, path in enumerate(self.logs):
                with directory.open_regular(path) as log:
                    yield from parse_ebpf(log, source=index)
            return
        if self.log_format == "dtrace":
            for index, path in enumerate(self.logs):
                yield from parse_dtrace(_lines(path), source=index)
            return
        if self.log_format == "dtruss":
            for index, path in enumerate(self.logs):
                yield from parse_dtruss(_lines(path), source=index)
            return
        if len(self.logs) == 1 and tid_from_ff_name(self.logs[0].name) is None:
            yield from parse_strace(_lines(self.logs[0]), stats=stats)
            return
        files = [(tid_from_ff_name(p.name), _lines(p)) for p in self.logs]
        yield from parse_strace_ff(files, stats)


def _lines(path: Path) -> Iterator[str]:
    with directory.open_regular(path) as raw:
        f = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="\n")
        readline = f.readline
        while line := readline(MAX_LINE):
            if len(line) == MAX_LINE and line[-1] != "\n":
                while (rest := readline(MAX_LINE)) and rest[-1] != "\n":
                    pass  # skip the rest of an overlong line
                line = f"{line[:80]}... <a line longer than {MAX_LINE >> 20} MiB, cut>\n"
            yield line


CLOCK_DRIFT_WARN_NS = 1_000_000


def _clock_drift_ns(meta: dict) -> int | None:
    """How far CLOCK_REALTIME moved against CLOCK_MONOTONIC between the run's start and end."""
    clocks = meta.get("clocks") or {}
    start, end = clocks.get("start"), clocks.get("end")
    try:
        real = end["realtime_ns"] - start["realtime_ns"]
        mono = end["monotonic_ns"] - start["monotonic_ns"]
    except (TypeError, KeyError):
        return None
    return real - mono


def capture_problems(meta: dict) -> list[str]:
    """Warnings about the capture itself: the tracer died, the log lost lines, processes were
    left running."""
    problems = []
    end = meta.get("exit") or {}
    if end.get("tracer_died"):
        after = end.get("program_after_tracer") or "ended"
        problems.append(
            f"the tracer died: {end['tracer_died']}; the trace is cut short there; the program "
            f"{after}; its exit status is unknown"
        )
    account = meta.get("capture") or {}
    if account.get("failed"):
        when = ""
        start = (meta.get("clocks") or {}).get("start") or {}
        if isinstance(account.get("failed_at_ns"), int) and isinstance(
            start.get("realtime_ns"), int
        ):
            when = f" {(account['failed_at_ns'] - start['realtime_ns']) / 1e9:.1f} s into the run"
        problems.append(
            f"the syscall log could not be written{when} ({account['failed']}): the trace is "
            f"cut short there, {account.get('lost_lines', 0):,} lines "
            f"({account.get('lost_bytes', 0):,} bytes) were lost; free space where the trace "
            "is, or record elsewhere with -o"
        )
    left = end.get("left_running") or []
    if left:
        pids = ", ".join(str(p) for p in left[:5]) + (", ..." if len(left) > 5 else "")
        waited = (meta.get("wait") or {}).get("for") == "children"
        hint = "a signal ended the wait" if waited else "`--wait children` waits for them"
        problems.append(
            f"{len(left)} process{'es' if len(left) != 1 else ''} the program started "
            f"{'are' if len(left) != 1 else 'is'} still running (pid {pids}): the tracer "
            f"goes on tracing {'them' if len(left) != 1 else 'it'} into this trace until "
            f"{'they end' if len(left) != 1 else 'it ends'} ({hint})"
        )
    return problems


def agent_log_problems(log: AgentLog) -> list[str]:
    """One warning per error the agent recorded; a log that stopped says how much it lost."""
    end = log.end if isinstance(log.end, dict) else {}
    lost = end.get("lost_events")
    problems = []
    for error in log.errors:
        if error == end.get("log_stopped") and isinstance(lost, int):
            error = error.replace("(counted at exit)", f"({lost:,} events)")
        elif error.startswith("agent log stopped:") and not end:
            error = error.replace("(counted at exit)", "(how many is unknown: no normal exit)")
        problems.append(f"agent in pid {log.pid}: {error}")
    return problems


def open_trace(trace: directory.TraceDir) -> LoadedTrace:
    meta, problems = meta_schema.normalize(trace.read_meta())
    logs = trace.syscall_logs(meta.get("syscall_logs"))
    missing = [p for p in logs if not p.exists() and not p.is_symlink()]
    if not logs or missing:
        name = missing[0].name if missing else directory.SYSCALL_LOG
        raise TraceDirError(f"{trace.path} is damaged: its syscall log {name} is missing")
    sizes = []
    for path in logs:
        with directory.open_regular(path) as f:  # a FIFO, device or symlink: refused here
            sizes.append(f.seek(0, io.SEEK_END))
    loaded = LoadedTrace(trace, meta, logs, [], problems)
    if not any(sizes):
        loaded.warnings.append(
            f"{logs[0].name} is empty: the tracer recorded no syscall (record again with "
            "`syscorr run`)"
        )
    agent_logs = trace.agent_logs()
    if len(agent_logs) > MAX_AGENT_LOGS:
        loaded.warnings.append(
            f"{len(agent_logs)} agent logs: only the first {MAX_AGENT_LOGS} (lowest pids) are read"
        )
        agent_logs = agent_logs[:MAX_AGENT_LOGS]
    for path in agent_logs:
        try:
            log = read_agent_log(path, events=False)  # streamed by the correlator
        except TraceDirError as err:
            loaded.warnings.append(f"agent log skipped: {err}")
            continue
        loaded.agent_logs.append(log)
        if log.damaged:
            loaded.warnings.append(
                f"{path.name}: {log.damaged} bytes at its end could not be read (the process "
                "was probably killed while writing); events before them are used"
            )
        loaded.warnings.extend(agent_log_problems(log))
    if meta.get("kind") == "run" and meta.get("target_python") and not loaded.agent_logs:
        loaded.warnings.append("no agent log: syscalls are shown without task attribution")
    if meta.get("kind") == "attach" and (meta.get("attach") or {}).get("agent"):
        loaded.warnings.append(meta["attach"]["agent"])
    backend = meta.get("backend") or {}
    if backend.get("lost"):
        per_cpu = ", ".join(f"cpu{i}: {n}" for i, n in enumerate(backend.get("lost_per_cpu") or []))
        loaded.warnings.append(
            f"the eBPF ring buffer dropped {backend['lost']} syscall records ({per_cpu}): the "
            "trace has gaps; record again with a larger buffer (`--ebpf-buffer-mb`)"
        )
    elif backend.get("stats_missing"):
        loaded.warnings.append(
            "the eBPF loader wrote no counters (was it killed?): lost records are unknown"
        )
    drift = _clock_drift_ns(meta)
    if drift is not None and abs(drift) > CLOCK_DRIFT_WARN_NS:
        loaded.warnings.append(
            f"the wall clock moved {drift / 1e6:+.1f} ms against the monotonic clock during the "
            "run (NTP?): syscalls and agent events near that moment may be attributed wrongly"
        )
    loaded.warnings.extend(capture_problems(meta))
    if meta.get("exit") is None and meta.get("kind") == "run":
        loaded.warnings.append(
            "the run did not finish cleanly (was syscorr killed?): the trace may be cut short"
        )
    return loaded
