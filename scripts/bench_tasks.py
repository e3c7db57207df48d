#!/usr/bin/env python3
"""Benchmark the report's pass on many concurrent tasks: it must grow linearly with them.

Usage: .venv/bin/python scripts/bench_tasks.py [--tasks 1000,5000,10000] [--rounds 3]
           [--repeat 3] [--baseline-rev REV]

Generates, in memory, the records a trace of an echo server with N connected clients gives
(strace lines read by the real parser, agent events as the agent log reader returns them, the
shape of tests/scenario.py): every round, one loop iteration reports the N sockets ready
(strace prints at most 256 of them, as `-s 256` does), N transport callbacks read them, and in
the next iteration the N handler tasks run, each sending on its socket and suspending in
`StreamReader._wait_for_data`. Then it times, in a fresh process per size, the pass `syscorr
report` makes (Correlator + Accounts + FindingCollector), CPU time (user+sys) and wall time,
and prints µs per task step: flat when the pass is linear in the tasks. With `--baseline-rev`
the same runs with the code of that revision (git archive), interleaved, for comparison.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASYNCIO = "/usr/lib/python3.12/asyncio"
PID = 4200
ORIGIN_NS = 1_795_566_123_000_000_000


def generate(tasks: int, rounds: int):
    """(strace lines, AgentLog) of the workload in the module contract."""
    from syscorr.trace.agentlog import AgentEvent, AgentLog, CodeInfo

    now = ORIGIN_NS
    lines: list[str] = []
    events: list[AgentEvent] = []
    lines_of = tuple((n * 10, n * 10 + 10, n) for n in range(50))
    codes = {
        1: CodeInfo("handle", "/app/server.py", 20, tuple((a, b, 20 + c) for a, b, c in lines_of)),
        2: CodeInfo("StreamReader._wait_for_data", f"{ASYNCIO}/streams.py", 500, lines_of),
    }
    names = {1: "_SelectorSocketTransport._read_ready"}

    def event(kind: int, code: int = 0, task: int = 0) -> None:
        nonlocal now
        events.append(AgentEvent(kind, PID, now, task, code, 0, len(events), 0))
        now += 1_000

    def syscall(text: str, took_ns: int = 5_000) -> None:
        nonlocal now
        sec, ns = divmod(now, 1_000_000_000)
        lines.append(f"{PID}  {sec}.{ns:09d} {text} <0.{took_ns:09d}>\n")
        now += took_ns + 1_000

    def sock(task: int) -> str:
        fd = 10 + task
        return f"{fd}<TCP:[127.0.0.1:5000->127.0.0.1:{(30000 + task) % 65536}]>"

    def loop_wait(ready: list[int], timeout: int) -> None:
        event(10)  # LOOP_ITERATION
        shown = ", ".join(f"{{events=EPOLLIN, data={{u32={fd}, u64={fd}}}}}" for fd in ready[:256])
        more = ", ..." if len(ready) > 256 else ""
        syscall(f"epoll_wait(3<anon_inode:[eventpoll]>, [{shown}{more}], {tasks + 8}, "
                f"{timeout}) = {len(ready)}")  # fmt: skip

    def step(task: int, first: bool) -> None:
        event(1 if first else 2, 1, task)  # PY_START / PY_RESUME of the root
        if not first:
            syscall(f'sendto({sock(task)}, "echo", 4, 0, NULL, 0) = 4')
        event(4, 2, task)  # PY_YIELD in StreamReader._wait_for_data (stdlib: YIELD only)
        event(4, 1, task)  # PY_YIELD of the root

    all_tasks = range(1, tasks + 1)
    loop_wait([], -1)
    for task in all_tasks:
        step(task, True)
    for _ in range(rounds):
        loop_wait([10 + task for task in all_tasks], -1)
        for task in all_tasks:
            event(8, 1)  # CALLBACK_START: the transport reads the client's data
            syscall(f'recvfrom({sock(task)}, "ping", 262144, 0, NULL, NULL) = 4')
            event(9)  # CALLBACK_END
        loop_wait([], 0)
        for task in all_tasks:
            step(task, False)
    meta = {"pid": PID, "clock": "realtime", "main_tid": PID}
    log = AgentLog(PID, meta, codes, names, [], {PID: "MainThread"}, events, [], 0, None, None,
                   len(events))  # fmt: skip
    return lines, log


def child(tasks: int, rounds: int) -> None:
    import resource
    import time

    from syscorr.analysis.accounting import Accounts
    from syscorr.analysis.findings import FindingCollector
    from syscorr.correlate.engine import Correlator
    from syscorr.parse import parse_strace

    lines, log = generate(tasks, rounds)

    def usage() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    cpu0, wall0 = usage(), time.perf_counter()
    accounts, collector = Accounts(), FindingCollector()
    correlator = Correlator([log])
    steps = 0
    for item in correlator.run(parse_strace(iter(lines))):
        accounts.add(item)
        collector.add(item)
    names = correlator.final_task_names()
    accounts.finish(names, {PID: log.meta})
    collector.finish(names)
    steps = sum(t.steps for t in accounts.tasks.values())
    cpu, wall = usage() - cpu0, time.perf_counter() - wall0
    import syscorr

    print(json.dumps({"cpu": cpu, "wall": wall, "steps": steps, "syscalls": len(lines),
                      "code": str(Path(syscorr.__file__).parent.parent)}))  # fmt: skip


def measure(tasks: int, rounds: int, code: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code))
    out = subprocess.run([sys.executable, __file__, "--child", str(tasks), str(rounds)],
                         capture_output=True, text=True, env=env, cwd="/")  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"bench_tasks: the pass failed at {tasks} tasks:\n{out.stderr}")
    result = json.loads(out.stdout)
    if Path(result["code"]).resolve() != code.resolve():
        raise SystemExit(f"bench_tasks: ran {result['code']}, not {code}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="1000,5000,10000", help="sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="times every task is woken")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-rev", help="also run the code of this git revision")
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        child(*opts.child)
        return
    sizes = [int(n) for n in opts.tasks.split(",")]
    with tempfile.TemporaryDirectory(prefix="syscorr-bench-tasks-") as tmp:
        versions = [("new", ROOT)]
        if opts.baseline_rev:
            archive = Path(tmp) / "baseline.tar"
            with open(archive, "wb") as f:
                subprocess.run(["git", "archive", opts.baseline_rev, "syscorr"], cwd=ROOT,
                               stdout=f, check=True)  # fmt: skip
            with tarfile.open(archive) as tar:
                tar.extractall(Path(tmp) / "baseline", filter="data")
            versions.insert(0, ("old", Path(tmp) / "baseline"))
        results = {(name, n): [] for name, _ in versions for n in sizes}
        for run in range(opts.repeat):
            for n in sizes:
                for name, code in versions:
                    results[(name, n)].append(measure(n, opts.rounds, code))
            print(f"run {run + 1}/{opts.repeat} done", file=sys.stderr, flush=True)
    print(f"{'version':>7} {'tasks':>6} {'steps':>7} {'syscalls':>8} {'CPU s (spread)':>24} "
          f"{'wall s':>8} {'µs/step (CPU)':>14} {'vs first size':>13}")  # fmt: skip
    for name, _ in versions:
        first = None
        for n in sizes:
            rows = results[(name, n)]
            cpu = [r["cpu"] for r in rows]
            med = statistics.median(cpu)
            per_step = med / rows[0]["steps"] * 1e6
            first = first or per_step
            spread = f"{med:.3f} ({min(cpu):.3f}-{max(cpu):.3f})"
            print(f"{name:>7} {n:>6} {rows[0]['steps']:>7} {rows[0]['syscalls']:>8} {spread:>24} "
                  f"{statistics.median(r['wall'] for r in rows):8.3f} {per_step:14.1f} "
                  f"{per_step / first:12.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
