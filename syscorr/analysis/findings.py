"""Findings: the places where the event loop was blocked, in one pass over correlation items.

Contract: `FindingCollector(rules, agent_meta).add(item)` for every item, then `.finish(names)`
once (names: the engine's final task names), then `.findings` (in the order found) holds:
- "blocking-syscall": a syscall made on a loop thread outside the selector wait (in a task
  step, a callback, or the loop's own code) that took at least `rules.block_ns`. A syscall
  interrupted by a signal and restarted (`ERESTART*`/`EINTR`, then `restart_syscall` or the same
  call again, as strace shows `subprocess.run` woken by SIGCHLD, or `time.sleep` by a signal
  with a handler) is one blocking period, from the first start to the last end. A call that
  could not wait for anything (see syscorr.analysis.waiting: EAGAIN, fd flags, addresses, I/O
  on a non-blocking socket or pipe) is no blocking finding, however long strace saw it take
  (the tracer serialising several processes, a loaded machine preempting the thread); its time
  still counts in its step. It names the
  call's line (`frame`) and, when that line is a library's, the user's frame that led there
  (`via`);
- "long-step": a task or callback step that ran at least `rules.step_ns` of its own time (steps
  of other tasks nested in it, such as eager tasks, count in their own step only) beyond the
  blocking syscalls already reported inside it (CPU work, many short syscalls, calls strace did
  not record). It names the place where most of that time went: the user's innermost frame
  then (`frame`; the library frame it was running is `via`), else the innermost frame;
- "forbidden-syscall": a syscall named in `rules.forbidden` made on a loop thread outside the
  selector wait (for `syscorr check`).
Every finding says whether its frame is the user's code (see syscorr.correlate.usercode),
whether it came during its process's startup, and how much of it the tracer's own cost is
estimated to be. Startup: in a process whose event loop accepts connections (a server), until
its first accept (uvicorn imports the app, resolves and binds inside its loop, over several
steps and waits); in one that accepts none, until its loop first waited for I/O (its first
selector wait whose timeout is not 0). The tracer's cost is estimated as the recorded
syscalls × the cost of one, probed by the agent at start. `group_findings` folds findings
into one group per (process, kind, phase, place) with count, total, worst and median;
`unjudged_reason(accounts)` says why a trace cannot be judged at all (no syscall durations).
"""

from typing import NamedTuple

from syscorr.analysis.waiting import Waiting
from syscorr.correlate.model import (
    OWNER_CALLBACK,
    OWNER_LOOP,
    OWNER_TASK,
    Frame,
    IterationItem,
    StepItem,
    SyscallItem,
)
from syscorr.correlate.usercode import CodeOrigin

MS = 1_000_000
PHASE_RUN, PHASE_STARTUP = "run", "startup"
RESTARTED = frozenset({"ERESTARTSYS", "ERESTARTNOINTR", "ERESTARTNOHAND", "ERESTART_RESTARTBLOCK"})
ACCEPTS = frozenset({"accept", "accept4"})  # a server's first one ends its startup
MOSTLY = 0.5  # a finding whose estimated tracer cost is at least this share is marked


class Rules(NamedTuple):
    block_ns: int = 10 * MS
    step_ns: int = 100 * MS
    forbidden: frozenset[str] = frozenset()


class Finding(NamedTuple):
    kind: str  # "blocking-syscall" | "long-step" | "forbidden-syscall"
    duration_ns: int  # the blocking period; a step's own time
    pid: int
    tid: int
    ts: int | None
    task: str | None  # task name, when in a task step
    callback: str | None  # callback name, when in a callback step
    frame: Frame | None  # where it points: the call's line, or where the step's time went
    syscall: str | None  # "clock_nanosleep", for syscall findings
    detail: str  # short argument text or step description
    iteration: int | None
    lineno: int | None  # line of the syscall in the raw log
    via: Frame | None = None  # the other end of the await chain (see the module docstring)
    user_code: bool = False  # `frame` is the user's code (not the stdlib's, not installed)
    phase: str = PHASE_RUN  # PHASE_STARTUP: before its first accept (or its loop's first wait)
    task_key: int = 0  # the engine's task key (pid, task_key) when in a task step
    place_ns: int | None = None  # long-step: the part of its time spent at `frame`
    syscalls: int = 0  # syscalls the tracer stopped in during it
    tracer_ns: int | None = None  # estimated tracer cost inside duration_ns (None: unknown)
    restarts: int = 0  # blocking-syscall: times it was interrupted by a signal and restarted

    @property
    def mostly_tracer(self) -> bool:
        return self.tracer_ns is not None and self.tracer_ns >= MOSTLY * self.duration_ns

    @property
    def who(self) -> str:
        if self.task:
            return f"task {self.task}"
        return f"callback {self.callback}" if self.callback else "the loop itself"

    @property
    def where(self) -> str:
        if self.frame is None:
            return self.who
        text = f"{self.who} at {place(self.frame)}"
        if self.via is not None:
            link = "called from" if self.kind != "long-step" else "running"
            text += f", {link} {place(self.via)}"
        return text

    def message(self) -> str:
        ms = self.duration_ns / MS
        if self.kind == "blocking-syscall":
            again = f" (restarted {self.restarts}× after signals)" if self.restarts else ""
            text = f"loop blocked {ms:.1f} ms by {self.syscall}(){again} in {self.where}"
        elif self.kind == "forbidden-syscall":
            text = f"forbidden syscall {self.syscall}() on the loop thread in {self.where}"
        else:
            text = f"step ran {ms:.1f} ms without yielding in {self.where}"
        if self.mostly_tracer:
            text += f" [mostly tracer overhead: ≈{self.tracer_ns / MS:.0f} ms of it]"
        return text


def place(frame: Frame) -> str:
    """`file.py:12 (qualname)`, or `file.py (qualname)` when the line is not known."""
    name = frame.filename.rsplit("/", 1)[-1]
    line = f":{frame.line}" if frame.line else ""
    return f"{name}{line} ({frame.qualname})"


def _short_args(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unjudged_reason(accounts) -> str | None:
    """Why blocking cannot be judged in this trace, or None when it can."""
    calls = sum(s.calls + s.unfinished for s in accounts.syscalls.values())
    if calls and not accounts.timed_syscalls:
        return (
            "the syscall log has no durations, so blocking cannot be judged: record it with "
            "`strace -T` (or with `syscorr run`)"
        )
    return None


class _Interrupted(NamedTuple):
    item: SyscallItem  # the first part
    start: int  # its ts
    end: int  # the end of the last part so far
    restarts: int
    syscalls: int


class FindingCollector:
    def __init__(self, rules: Rules | None = None, agent_meta: dict | None = None) -> None:
        """`agent_meta`: pid -> the meta record of its agent log (stdlib dir, tracer probe)."""
        self.rules = rules if rules is not None else Rules()
        self.findings: list[Finding] = []
        self._blocked_in_step: dict[tuple[int, int], dict] = {}  # (pid, step) -> {frame: ns}
        self._interrupted: dict[int, _Interrupted] = {}  # tid -> a call cut by a signal
        self._startup_end: dict[int, int] = {}  # loop tid -> ts of its first waiting wait
        self._first_accept: dict[int, int] = {}  # pid -> ts of its first accept
        self._origins: dict[int, CodeOrigin] = {}
        self._probe: dict[int, int] = {}
        for pid, meta in (agent_meta or {}).items():
            self._origins[pid] = CodeOrigin(meta.get("stdlib_dir"))
            probe = meta.get("probe_close_ns")
            if isinstance(probe, int) and probe > 0:
                self._probe[pid] = probe
        self._default_origin = CodeOrigin()
        self._waiting = Waiting()

    def add(self, item) -> None:
        kind = type(item)
        if kind is SyscallItem:
            self._syscall(item)
        elif kind is StepItem:
            self._step(item)
        elif kind is IterationItem:
            if item.timeout_ns != 0 and item.tid not in self._startup_end and item.wait.ts:
                self._startup_end[item.tid] = item.wait.ts

    def finish(self, names: dict | None = None) -> None:
        """After the last item: calls still interrupted count as they are; each finding gets
        its phase and its task's final name."""
        for tid in list(self._interrupted):
            self._flush_interrupted(tid)
        names = names or {}
        done = []
        for f in self.findings:
            end = self._first_accept.get(f.pid) or self._startup_end.get(f.tid)
            phase = PHASE_STARTUP if end is not None and f.ts is not None and f.ts < end else None
            name = names.get((f.pid, f.task_key)) if f.task_key else None
            if phase or (name and name != f.task):
                f = f._replace(phase=phase or f.phase, task=name or f.task)
            done.append(f)
        self.findings = done

    # ---- syscalls ----

    def _syscall(self, item: SyscallItem) -> None:
        self._judge(item)
        self._waiting.observe(item)  # after: a close of a non-blocking socket did not wait

    def _judge(self, item: SyscallItem) -> None:
        call = item.call
        if (
            call.name in ACCEPTS
            and call.ts
            and item.owner in (OWNER_TASK, OWNER_CALLBACK, OWNER_LOOP)
            and item.pid not in self._first_accept
        ):  # an event loop accepting its first connection: the server is serving
            self._first_accept[item.pid] = call.ts
        if (
            not self._interrupted
            and call.errno is None
            and (call.duration or 0) < self.rules.block_ns
            and call.name not in self.rules.forbidden
        ):
            return  # the usual case: short, and no interrupted call waits for its restart
        tid = call.tid or 0
        pending = self._interrupted.get(tid)
        if pending is not None:
            if call.name == "restart_syscall" or call.name == pending.item.call.name:
                pending = pending._replace(
                    end=(call.ts or 0) + (call.duration or 0),
                    restarts=pending.restarts + 1,
                    syscalls=pending.syscalls + 1,
                )
                self._interrupted[tid] = pending
                if call.errno not in RESTARTED and call.errno != "EINTR":
                    self._flush_interrupted(tid)  # the last part: it returned
                return
            self._flush_interrupted(tid)
        if item.is_loop_wait or item.owner not in (OWNER_TASK, OWNER_CALLBACK, OWNER_LOOP):
            return
        if (call.errno in RESTARTED or call.errno == "EINTR") and call.ts is not None:
            end = call.ts + (call.duration or 0)
            self._interrupted[tid] = _Interrupted(item, call.ts, end, 0, 1)
            return
        self._blocking(item, call.duration or 0, 0, 1)

    def _flush_interrupted(self, tid: int) -> None:
        pending = self._interrupted.pop(tid)
        duration = pending.end - pending.start
        self._blocking(pending.item, duration, pending.restarts, pending.syscalls)

    def _blocking(self, item: SyscallItem, duration: int, restarts: int, syscalls: int) -> None:
        call = item.call
        forbidden = call.name in self.rules.forbidden
        if (duration < self.rules.block_ns or not self._waiting.could_wait(item)) and not forbidden:
            return
        kind = "forbidden-syscall" if forbidden else "blocking-syscall"
        frame = item.frame
        probe = self._probe.get(item.pid)
        self.findings.append(
            Finding(
                kind,
                duration,
                item.pid,
                call.tid or 0,
                call.ts,
                item.task_name,
                item.callback if item.owner == OWNER_CALLBACK else None,
                frame,
                call.name,
                _short_args(call.args),
                item.iteration,
                call.lineno,
                via=item.caller,
                user_code=frame is not None and self._is_user(item.pid, frame),
                task_key=item.task if item.owner == OWNER_TASK else 0,
                syscalls=syscalls,
                tracer_ns=probe * syscalls if probe else None,
                restarts=restarts,
            )
        )
        if item.step is not None and duration >= self.rules.block_ns:
            blocked = self._blocked_in_step.setdefault((item.pid, item.step), {})
            blocked[frame] = blocked.get(frame, 0) + duration

    def _is_user(self, pid: int, frame: Frame) -> bool:
        return self._origins.get(pid, self._default_origin).is_user(frame.filename)

    # ---- steps ----

    def _step(self, step: StepItem) -> None:
        if step.end is None:
            return
        blocked = self._blocked_in_step.pop((step.pid, step.index), {})
        own = step.end - step.start - step.nested_ns
        if own - sum(blocked.values()) < self.rules.step_ns:
            return
        frame, via, place_ns = self._hot_place(step, blocked)
        probe = self._probe.get(step.pid)
        self.findings.append(
            Finding(
                "long-step",
                own,
                step.pid,
                step.tid,
                step.start,
                step.name if step.kind == "task" else None,
                step.name if step.kind == "callback" else None,
                frame,
                None,
                f"{step.kind} step, {step.syscalls} syscalls",
                step.iteration,
                None,
                via=via,
                user_code=frame is not None and self._is_user(step.pid, frame),
                task_key=step.task if step.kind == "task" else 0,
                place_ns=place_ns,
                syscalls=step.syscalls,
                tracer_ns=probe * step.syscalls if probe else None,
            )
        )

    def _hot_place(self, step: StepItem, blocked: dict):
        """(frame, via, ns) of the place where most of the step's unreported time went."""
        best = None
        for spot in step.places:
            ns = spot.ns - blocked.get(spot.frame, 0)
            if best is None or ns > best[2]:
                best = (spot.frame, spot.caller, ns)
        if best is None:
            chain = step.suspended_at
            return (chain[-1] if chain else step.resumed_at), None, None
        frame, caller, ns = best
        if caller is not None:
            return caller, frame, ns  # the user's frame, running a library's
        return frame, None, ns


class FindingGroup(NamedTuple):
    """The findings of one kind at one place in one process (and phase)."""

    kind: str
    pid: int
    phase: str
    frame: Frame | None
    via: Frame | None  # the worst occurrence's (see Finding.via)
    who: tuple[str, ...]  # the tasks / callbacks it happened in ("task Task-3 handler", ...)
    syscalls: tuple[str, ...]  # the syscalls of its occurrences (syscall findings)
    count: int
    total_ns: int
    worst_ns: int
    p50_ns: int
    first_ts: int | None
    user_code: bool
    mostly_tracer: int  # occurrences marked as mostly tracer overhead
    findings: tuple[Finding, ...]  # in time order

    @property
    def worst(self) -> Finding:
        return max(self.findings, key=lambda f: f.duration_ns)

    @property
    def where(self) -> str:
        """`file.py:12 (qualname)` and the other end of its await chain, else who it was."""
        if self.frame is None:
            return self.who[0]
        text = place(self.frame)
        if self.via is not None:
            text += (", running " if self.kind == "long-step" else ", called from ") + place(
                self.via
            )
        return text


def counts(finding) -> bool:
    """Whether a finding (or group) counts: everything, except work during the loop's startup
    in library code (uvicorn importing the app, a framework binding its sockets): that is shown
    apart. Startup work in the user's own coroutines counts like any other."""
    return finding.phase != PHASE_STARTUP or finding.user_code


def group_key(finding: Finding) -> tuple:
    frame = finding.frame
    if frame is not None:
        spot = (frame.filename, frame.line, frame.qualname if not frame.line else "")
    else:  # no line known (no agent): one place per task or callback and syscall
        spot = (finding.callback or finding.task or "loop", finding.syscall)
    return (finding.pid, finding.kind, finding.phase, spot)


def group_findings(findings) -> list[FindingGroup]:
    """One group per (process, kind, phase, place), the groups that cost most first."""
    groups: dict[tuple, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(group_key(finding), []).append(finding)
    result = []
    for members in groups.values():
        members.sort(key=lambda f: f.ts or 0)
        durations = sorted(f.duration_ns for f in members)
        first = members[0]
        worst = max(members, key=lambda f: f.duration_ns)
        names = tuple(dict.fromkeys(f.syscall for f in members if f.syscall))
        result.append(
            FindingGroup(
                first.kind,
                first.pid,
                first.phase,
                first.frame,
                worst.via,
                tuple(dict.fromkeys(f.who for f in members)),
                names,
                len(members),
                sum(durations),
                durations[-1],
                durations[(len(durations) - 1) // 2],
                first.ts,
                first.user_code,
                sum(f.mostly_tracer for f in members),
                tuple(members),
            )
        )
    result.sort(key=lambda g: (g.phase == PHASE_STARTUP, -g.total_ns, g.first_ts or 0))
    return result
