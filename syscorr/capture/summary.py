"""The one-line account `syscorr run` prints on stderr after the target has finished.

Contract: `describe_outcome(outcome)` returns text (possibly several lines: the summary, then
one `syscorr: warning:` line per problem seen, such as a Python target that left no agent log).
It counts the syscall log's lines and reads the agent logs' error records (no events).
"""

import os
import shlex

from syscorr.capture.runner import RunOutcome
from syscorr.errors import SyscorrError
from syscorr.trace.agentlog import read_agent_log
from syscorr.trace.load import agent_log_problems, capture_problems


def _count_lines(path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return 0


def describe_outcome(outcome: RunOutcome) -> str:
    trace = outcome.trace
    backend = outcome.meta.get("backend") or {}
    if backend.get("log_format") == "ebpf":
        lost = backend.get("lost")
        count = (f"{sum(backend.get('written_per_cpu') or [])} syscall records, "
                 f"{'unknown' if lost is None else lost} lost")  # fmt: skip
    else:
        count = f"{_count_lines(trace.syscall_log)} syscall lines"
    agents = trace.agent_logs()
    where = os.path.relpath(trace.path) if not trace.path.is_absolute() else str(trace.path)
    if outcome.tracer_died:
        ended = "the tracer died"
    elif outcome.signal is not None:
        ended = f"killed by {outcome.meta['exit'].get('signal_name', outcome.signal)}"
    elif outcome.returncode is not None:
        ended = f"exit {outcome.returncode}"
    else:
        ended = "exit status unknown"
    if outcome.timed_out:
        ended = f"timed out after {outcome.meta['wait']['timeout_s']:g} s, {ended}"
    text = [
        f"syscorr: {ended}; trace in {where} ({count}, "
        f"{len(agents)} agent log{'s' if len(agents) != 1 else ''}); "
        f"see `syscorr report {shlex.quote(where)}`"
    ]
    if backend.get("chosen_because"):
        text[0] += f"; {backend['chosen_because']}"
    text += [f"syscorr: warning: {problem}" for problem in capture_problems(outcome.meta)]
    for path in agents:
        try:
            log = read_agent_log(path, events=False)
        except SyscorrError as err:
            text.append(f"syscorr: warning: {err}")
            continue
        text.extend(f"syscorr: warning: {problem}" for problem in agent_log_problems(log))
    if outcome.meta.get("target_python") and not agents:
        text.append(
            "syscorr: warning: the target is a Python program but wrote no agent log: "
            "task attribution will be missing (is the trace directory's disk full? was "
            "PYTHONPATH or -I/-S overriding site?)"
        )
    return "\n".join(text)
