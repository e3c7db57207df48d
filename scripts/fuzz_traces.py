#!/usr/bin/env python3
"""Fuzz what `syscorr report`, `explain` and `check` read: meta.json, strace logs, agent logs.

Usage: .venv/bin/python scripts/fuzz_traces.py [--cases 10000] [--seconds N] [--seed N]
                                               [--target meta,strace,agent]

Each case copies a recorded trace (fixtures/traces/seed), replaces one of its files with a
mutation drawn by hypothesis, and reads it the way the commands do, in process: open the
trace, parse and correlate it, render the terminal summary, and write the other outputs: the
timeline, every export format (json, html, perfetto JSON and protobuf), the explanation and
the check outputs (text, JSON, JUnit, GitHub annotations) — all of them for a meta.json case,
one in turn for a log case (a log's mutation meets the same parser and correlator whichever
output follows). A case passes when that works or stops with a SyscorrError (the
CLI's one-line message); any other exception, or a case running longer than --case-limit
seconds, is a crash: the script prints the input that caused it and exits 1. Mutations:
- meta: the recorded meta.json with fields replaced by random JSON (wrong types, nesting,
  huge numbers, lies such as log names outside the trace), deleted, added, or a random
  document altogether;
- strace: the recorded log with lines cut, duplicated, shuffled, bytes flipped, random
  syscall-shaped lines and random text inserted;
- agent: the recorded agent log with bytes flipped, cut, or records of random type and
  length spliced in.
The cases are split evenly between the targets. `tests/test_trace_hostile.py` runs a small
budget of this in the test suite.
"""

import argparse
import io
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SEED_TRACE = ROOT / "fixtures" / "traces" / "seed"
TARGETS = ("meta", "strace", "agent")


class Hang(Exception):
    pass


OUTPUTS = ("terminal", "timeline", "json", "html", "perfetto", "perfetto-proto", "explain", "check")


def exercise(trace_path: Path, outputs: tuple[str, ...] = OUTPUTS) -> str:
    """Read a trace as the commands do and write `outputs`; "ok" or the one-line error. Other
    exceptions are crashes and propagate."""
    from rich.console import Console

    from syscorr.analysis.findings import Rules
    from syscorr.analysis.summary import summarize_trace
    from syscorr.check.evaluate import evaluate
    from syscorr.check.github import write_annotations
    from syscorr.check.jsonout import write_json
    from syscorr.check.junit import write_junit
    from syscorr.check.policy import Policy
    from syscorr.check.text import write_text
    from syscorr.errors import SyscorrError
    from syscorr.report.explain import write_explanation
    from syscorr.report.explain_facts import Facts
    from syscorr.report.formats import BINARY_FORMATS, RENDERERS
    from syscorr.report.terminal import render_summary
    from syscorr.report.timeline import TimelineFilter, render_timeline
    from syscorr.trace import directory

    try:
        trace = directory.resolve(trace_path)
        facts = Facts()

        def keep(item):
            facts.observe(item)
            return True

        summary = summarize_trace(trace, Rules(), keep=keep)
        facts.finish()
        console = Console(file=io.StringIO(), width=100)
        render_summary(summary, console)  # always: it shows every warning
        if "timeline" in outputs:
            render_timeline(summary.items, summary.accounts.first_ts, console, TimelineFilter())
        for name, render in RENDERERS.items():
            if name in outputs:
                stream = io.BytesIO() if name in BINARY_FORMATS else io.StringIO()
                render(summary, stream, {"top": 10, "filters": TimelineFilter()})
        if "explain" in outputs:
            write_explanation(summary, facts, io.StringIO(), width=100)
        if "check" in outputs:
            result = evaluate(summary, Policy(), str(trace_path))
            for write in (write_text, write_json, write_junit):
                write(result, io.StringIO())
            write_annotations(result, io.StringIO())
    except SyscorrError as err:
        return f"error: {err}"
    return "ok"


# ---- mutations (hypothesis strategies) ----


def strategies():
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
        st.sampled_from(["../../etc/passwd", "/dev/zero", "strace.log", "agent", "", "a" * 5000]),
    )
    json_values = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=12), inner, max_size=6)
        ),
        max_leaves=30,
    )
    seed_meta = json.loads((SEED_TRACE / "meta.json").read_text())

    def paths(obj, prefix=()):
        yield prefix
        if isinstance(obj, dict):
            for key, value in obj.items():
                yield from paths(value, (*prefix, key))

    meta_paths = list(paths(seed_meta))[1:]

    @st.composite
    def meta(draw):
        if draw(st.integers(0, 9)) == 0:
            return draw(json_values)  # a document of any shape
        doc = json.loads(json.dumps(seed_meta))
        for _ in range(draw(st.integers(1, 4))):
            path = draw(st.sampled_from(meta_paths))
            parent = doc
            for key in path[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) else None
            if not isinstance(parent, dict):
                continue
            action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
            if action == "delete":
                parent.pop(path[-1], None)
            elif action == "add":
                parent[draw(st.text(max_size=10))] = draw(json_values)
            else:
                parent[path[-1]] = draw(json_values)
        if draw(st.integers(0, 3)) == 0:
            doc["format_version"] = draw(st.sampled_from([1, 0, -1, 2**40, "1", None, 1.0]))
        return doc

    seed_lines = (SEED_TRACE / "strace.log").read_bytes().splitlines(keepends=True)
    names = st.sampled_from(
        ["epoll_wait", "sendto", "recvfrom", "close", "socket", "accept4", "connect", "clone3",
         "execve", "write", "getsockname", "bind", "dup2", "socketpair", "exit_group"]
    )  # fmt: skip
    pids = st.one_of(st.integers(0, 40000), st.integers(0, 2**64), st.just(27717))
    arg = st.one_of(
        st.from_regex(r"\A\d{1,6}(<[a-zA-Z:\[\]0-9.>-]{0,30}>)?\Z", fullmatch=True),
        st.sampled_from(['{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("1.2.3.4")}',
                         "[4<socket:[1]>, 5<socket:[2]>]", "AF_UNIX", "SOCK_STREAM", "NULL",
                         '"\\x00\\377"...', "[{events=EPOLLIN, data={u32=4, u64=4}}]", "-1"]),
        st.text(max_size=20),
    )  # fmt: skip
    syscall_line = st.builds(
        lambda pid, ts, name, args, ret, tail: (
            f"{pid} {ts:.9f} {name}({', '.join(args)}) = {ret}{tail}\n"
        ).encode("utf-8", "surrogateescape"),
        pids,
        st.floats(0, 2e9, allow_nan=False),
        names,
        st.lists(arg, max_size=5),
        st.one_of(st.integers(-5, 2**33).map(str), st.sampled_from(["?", "-1 EAGAIN (x)"])),
        st.sampled_from(["", " <0.000010>", " <unfinished ...>", " +++ exited with 0 +++"]),
    )

    @st.composite
    def strace_log(draw):
        lines = list(seed_lines)
        for _ in range(draw(st.integers(1, 6))):
            action = draw(st.integers(0, 5))
            at = draw(st.integers(0, max(len(lines) - 1, 0)))
            if action == 0 and lines:
                del lines[at : at + draw(st.integers(1, 50))]
            elif action == 1 and lines:
                lines.insert(at, lines[draw(st.integers(0, len(lines) - 1))])
            elif action == 2:
                lines.insert(at, draw(syscall_line))
            elif action == 3:
                lines.insert(at, draw(st.binary(max_size=200)))
            elif action == 4 and lines:
                line = bytearray(lines[at])
                for _ in range(draw(st.integers(1, 5))):
                    if line:
                        line[draw(st.integers(0, len(line) - 1))] = draw(st.integers(0, 255))
                lines[at] = bytes(line)
            elif action == 5:
                random.Random(draw(st.integers())).shuffle(lines)
        return b"".join(lines)

    agent_paths = sorted((SEED_TRACE / "agent").glob("agent-*.bin"))
    seed_agent = agent_paths[0].read_bytes()

    @st.composite
    def agent_log(draw):
        data = bytearray(seed_agent)
        for _ in range(draw(st.integers(1, 6))):
            action = draw(st.integers(0, 3))
            at = draw(st.integers(0, max(len(data) - 1, 0)))
            if action == 0 and data:
                data[at] = draw(st.integers(0, 255))
            elif action == 1:
                del data[at:]
            elif action == 2:
                head = bytes([draw(st.integers(0, 255)), 0, 0, 0])
                length = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little")
                data[at:at] = head + length + draw(st.binary(max_size=64))
            else:
                data[at:at] = draw(st.binary(min_size=32, max_size=32))
        return bytes(data)

    return {"meta": meta(), "strace": strace_log(), "agent": agent_log()}


def write_case(trace: Path, target: str, value) -> None:
    if target == "meta":
        text = value if isinstance(value, str) else json.dumps(value, allow_nan=True)
        (trace / "meta.json").write_text(text)
    elif target == "strace":
        (trace / "strace.log").write_bytes(value)
    else:
        (next((trace / "agent").glob("agent-*.bin"))).write_bytes(value)


def run(cases: int, seed: int | None, targets=TARGETS, case_limit: float = 30.0, quiet=False):
    """Run `cases` cases; returns {target: (cases, errors)}. Raises SystemExit on a crash."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed

    draws = strategies()
    counts = {}
    with tempfile.TemporaryDirectory(prefix="syscorr-fuzz-") as tmp:
        for number, target in enumerate(targets):
            trace = Path(tmp) / target
            shutil.copytree(SEED_TRACE, trace)
            pristine = {p: p.read_bytes() for p in trace.rglob("*") if p.is_file()}
            seen = {"cases": 0, "errors": 0}

            case = _case(trace, target, seen, pristine, case_limit)

            # the cases split evenly, the remainder to the first targets: --cases N runs N
            per_target = max(1, cases // len(targets) + (number < cases % len(targets)))
            test = settings(
                max_examples=per_target,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                print_blob=True,
            )(given(draws[target])(case))
            if seed is not None:
                test = hypothesis_seed(seed)(test)
            signal.signal(signal.SIGALRM, _on_alarm)
            started = time.monotonic()
            test()
            counts[target] = (seen["cases"], seen["errors"])
            if not quiet:
                took = time.monotonic() - started
                print(
                    f"{target:6} {seen['cases']:6} cases, 0 crashes "
                    f"({seen['errors']} one-line errors, the rest partial or full reports) "
                    f"in {took:.0f} s"
                )
    return counts


def _case(trace: Path, target: str, seen: dict, pristine: dict, case_limit: float):
    def case(value):
        for path, data in pristine.items():
            path.write_bytes(data)
        write_case(trace, target, value)
        signal.alarm(max(1, int(case_limit)))
        # the terminal summary every time, one other output in turn (all of them for meta,
        # which every output's header reads)
        outputs = OUTPUTS if target == "meta" else (OUTPUTS[seen["cases"] % len(OUTPUTS)],)
        try:
            outcome = exercise(trace, outputs)
        except Hang:
            raise AssertionError(f"{target}: the case ran over {case_limit} s") from None
        finally:
            signal.alarm(0)
        seen["cases"] += 1
        seen["errors"] += outcome.startswith("error")

    return case


def _on_alarm(signo, frame):
    raise Hang()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--target", default=",".join(TARGETS))
    parser.add_argument("--case-limit", type=float, default=30.0)
    opts = parser.parse_args()
    targets = tuple(t for t in opts.target.split(",") if t)
    started = time.monotonic()
    counts = run(opts.cases, opts.seed, targets, opts.case_limit)
    total = sum(c for c, _ in counts.values())
    print(f"{total} cases, 0 crashes, {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
