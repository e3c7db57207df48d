#!/usr/bin/env python3
"""Benchmark the in-process agent's overhead on the echo fixture.

Usage: python scripts/bench_agent.py [--runs 5] [--clients 10] [--rounds 2000] [--python PATH]

Runs fixtures/apps/echo.py plain, under the agent, and under the agent without call sites
(SYSCORR_CALL_SITES=0), alternating the three so that drift in machine load hits them alike,
and prints the median wall time of each and its ratio to the plain run (goal: <= 1.3x).
It finds a Python 3.12+ itself (pyenv, then PATH) and needs nothing but the standard library.
"""

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ECHO = ROOT / "fixtures" / "apps" / "echo.py"
INJECT = ROOT / "syscorr" / "agent" / "inject"
GOAL = 1.3


def find_python(minimum=(3, 12)):
    """The first Python >= `minimum`: pyenv versions (sorted), then python3.X on PATH."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3")))
    candidates += [shutil.which(f"python3.{minor}") for minor in range(12, 20)]
    candidates += [shutil.which("python3"), sys.executable]
    for path in filter(None, candidates):
        probe = subprocess.run(
            [path, "-c", f"import sys; print(sys.version_info >= {minimum!r})"],
            capture_output=True,
            text=True,
        )
        if probe.stdout.strip() == "True":
            return path
    raise SystemExit(f"bench_agent: no Python {minimum[0]}.{minimum[1]}+ found (pyenv or PATH)")


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
    """Median seconds per configuration, runs interleaved: {name: median}."""
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
    return {name: statistics.median(samples) for name, samples in times.items()}


def compare_syscorr_run_with_strace(python, app_args, runs):
    """HOOK for the runner's engineer: `syscorr run` against plain `strace -f` with the same
    syscall set (goal <= 1.15x). Return {name: median seconds} like compare_agent_with_plain,
    or None while it is not implemented; main() prints whatever it returns."""
    return None


def print_medians(title, medians, baseline, goal):
    print(title)
    for name, median in medians.items():
        ratio = median / medians[baseline]
        mark = "" if name == baseline else f"  {'ok' if ratio <= goal else 'over'} goal {goal}x"
        print(f"  {name:<32} median {median:7.3f} s   {ratio:5.2f}x{mark}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--python", help="interpreter to benchmark (default: find a 3.12+)")
    opts = parser.parse_args()
    python = opts.python or find_python()
    app_args = ["--clients", str(opts.clients), "--rounds", str(opts.rounds), "--quiet"]
    version = subprocess.run([python, "-VV"], capture_output=True, text=True).stdout.strip()
    print(f"echo.py {' '.join(app_args)}, {opts.runs} runs each, {python} ({version})")
    medians = compare_agent_with_plain(python, app_args, opts.runs)
    print_medians("agent alone:", medians, "plain", GOAL)
    traced = compare_syscorr_run_with_strace(python, app_args, opts.runs)
    if traced is not None:
        print_medians("syscorr run vs strace -f:", traced, next(iter(traced)), 1.15)


if __name__ == "__main__":
    main()
