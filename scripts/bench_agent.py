#!/usr/bin/env python3
"""Benchmark the in-process agent's overhead on the echo fixture.

Usage: python scripts/bench_agent.py [--runs 5] [--clients 10] [--rounds 2000] [--python PATH]

Runs fixtures/apps/echo.py plain, under the agent, and under the agent without call sites
(SYSCORR_CALL_SITES=0), alternating the three so that drift in machine load hits them alike,
and prints for each the median wall time with its spread (min-max over the runs) and the
median of its per-round ratio to the plain run of the same round, with that ratio's spread
(goal: <= 1.3x). Then `syscorr run --backend strace` against plain `strace -f` with the same
flags, the same way (scripts/bench_backends.py compares the backends).
It finds a Python 3.12+ itself (pyenv, then PATH) and needs nothing but the standard library
for the agent part; the `syscorr run` part uses the checkout's .venv when there is one, else
any interpreter that imports this checkout's syscorr with its dependencies (it says so and
skips that part when there is none).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pythons import find_python

ROOT = Path(__file__).resolve().parent.parent
ECHO = ROOT / "fixtures" / "apps" / "echo.py"
INJECT = ROOT / "syscorr" / "agent" / "inject"
GOAL = 1.3


def timed_run(python, app_args, agent_env=None):
    """Wall time of one run of the echo app; `agent_env` extra variables turn the agent on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYSCORR_", "PYTHONPATH"))}
    with tempfile.TemporaryDirectory(prefix="syscorr-bench-") as agent_dir:
        if agent_env is not None:
            env.update(PYTHONPATH=str(INJECT), SYSCORR_AGENT_DIR=agent_dir, **agent_env)
        start = time.perf_counter()
        result = subprocess.run([python, str(ECHO), *app_args], env=env, capture_output=True)
        elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"bench_agent: echo.py failed ({result.returncode}): {result.stderr!r}")
    return elapsed


def compare_agent_with_plain(python, app_args, runs):
    """Seconds per configuration, one sample per round, rounds interleaved: {name: [s, ...]}."""
    configurations = {
        "plain": None,
        "agent": {},
        "agent, SYSCORR_CALL_SITES=0": {"SYSCORR_CALL_SITES": "0"},
    }
    times = {name: [] for name in configurations}
    timed_run(python, app_args, {})  # warm-up: compile the agent's .pyc files
    for _ in range(runs):
        for name, agent_env in configurations.items():
            times[name].append(timed_run(python, app_args, agent_env))
    return times


def syscorr_python(candidate_python):
    """An interpreter that imports this checkout's syscorr and its dependencies, with the
    environment to run it in: the project's .venv, this interpreter, or the 3.12+ found (with
    the checkout on PYTHONPATH). None when there is none."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    ))  # fmt: skip
    probe_code = "import syscorr.cli.app, psutil"
    for candidate in (ROOT / ".venv" / "bin" / "python", Path(sys.executable), candidate_python):
        if not Path(candidate).exists():
            continue
        probe = subprocess.run([str(candidate), "-c", probe_code], capture_output=True, env=env)
        if probe.returncode == 0:
            return str(candidate), env
    return None, env


def plain_strace_argv(syscorr_py, env, target, log_path):
    """The strace argv `syscorr run` would use (same syscall set and flags), no agent, the log
    written by strace itself."""
    code = (
        "import json, sys; from pathlib import Path;"
        "from syscorr.capture.strace import StraceBackend;"
        "from syscorr.capture.backend import CaptureOptions;"
        "from syscorr.capture.syscall_sets import resolve;"
        "name, calls = resolve('asyncio');"
        "opts = CaptureOptions(calls, name, 256, True);"
        "print(json.dumps(StraceBackend().command(json.loads(sys.argv[1]), Path(sys.argv[2]),"
        " opts)))"
    )
    out = subprocess.run(
        [syscorr_py, "-c", code, json.dumps(target), str(log_path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    argv = json.loads(out.stdout)
    # plain strace writes its log itself (syscorr's goes through capture/logsink.py)
    plain = []
    skip = 0
    for i, word in enumerate(argv):
        if skip:
            skip -= 1
            continue
        if word == "-E":
            skip = 1
            continue
        if i and argv[i - 1] == "-o":
            word = str(log_path)
        plain.append(word)
    return plain


def timed_command(argv, env=None):
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"bench_agent: {argv[:3]}... failed: {result.stderr[-500:]!r}")
    return elapsed


def compare_syscorr_run_with_strace(python, app_args, runs):
    """`syscorr run` (strace + agent) against plain `strace -f` with the same syscall set and
    flags (goal <= 1.15x): {name: [seconds per round]}, rounds interleaved."""
    if shutil.which("strace") is None:
        print("(skipping syscorr run vs strace -f: strace is not installed)")
        return None
    syscorr_py, env = syscorr_python(python)
    if syscorr_py is None:
        print(
            "(skipping syscorr run vs strace -f: no interpreter here imports syscorr with its "
            "dependencies; run `scripts/bootstrap.sh` or `pip install -e .` first)"
        )
        return None
    target = [python, str(ECHO), *app_args]
    times = {"strace -f": [], "syscorr run": []}
    with tempfile.TemporaryDirectory(prefix="syscorr-bench-") as tmp:
        strace_argv = plain_strace_argv(syscorr_py, env, target, Path(tmp) / "plain.log")
        for i in range(runs + 1):
            plain = timed_command(strace_argv)
            out = Path(tmp) / f"run{i}"
            traced = timed_command(
                [
                    syscorr_py,
                    "-m",
                    "syscorr",
                    "run",
                    "-q",
                    "--backend",
                    "strace",
                    "-o",
                    str(out),
                    "--",
                    *target,
                ],
                env,  # fmt: skip
            )
            shutil.rmtree(out)
            if i:  # the first pair warms caches
                times["strace -f"].append(plain)
                times["syscorr run"].append(traced)
    return times


def print_comparison(title, times, baseline, goal):
    """Median and spread (min-max) of each configuration's seconds, and of its ratio to the
    baseline measured in the same round."""
    print(title)
    for name, samples in times.items():
        line = (
            f"  {name:<30} median {statistics.median(samples):7.3f} s "
            f"(min {min(samples):.3f}, max {max(samples):.3f})"
        )
        if name != baseline:
            ratios = [t / b for t, b in zip(samples, times[baseline], strict=True)]
            ratio = statistics.median(ratios)
            mark = "ok" if ratio <= goal else "over"
            line += (
                f"   {ratio:5.2f}x (per-round {min(ratios):.2f}-{max(ratios):.2f}x)  "
                f"{mark} goal {goal}x"
            )
        print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--python", help="interpreter to benchmark (default: find a 3.12+)")
    opts = parser.parse_args()
    python = find_python("bench_agent", opts.python)
    app_args = ["--clients", str(opts.clients), "--rounds", str(opts.rounds), "--quiet"]
    version = subprocess.run([python, "-VV"], capture_output=True, text=True).stdout.strip()
    print(f"echo.py {' '.join(app_args)}, {opts.runs} rounds, {python} ({version})")
    times = compare_agent_with_plain(python, app_args, opts.runs)
    print_comparison("agent alone:", times, "plain", GOAL)
    traced = compare_syscorr_run_with_strace(python, app_args, opts.runs)
    if traced is not None:
        print_comparison("syscorr run vs strace -f:", traced, "strace -f", 1.15)


if __name__ == "__main__":
    main()
