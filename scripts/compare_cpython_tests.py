#!/usr/bin/env python3
"""Behaviour preservation: CPython's own test_asyncio, with and without `syscorr run`.

Usage: python scripts/compare_cpython_tests.py [--python PATH] [--modules test_locks,...]
                                               [--timeout SECONDS] [--keep DIR]

Runs each module of CPython's test.test_asyncio package (all of them by default, found in the
interpreter's own `test` package) with `python -m unittest -v`, once plainly and once under
`syscorr run`, and compares the outcome of every test (ok, FAIL, ERROR, skipped, expected
failure, unexpected success) and the exit status. A test whose outcome differs is run again,
alone, both ways: if the two agree then, it is reported as flaky (timing), otherwise as a
difference. Prints a line per module and the totals; exits 1 when a difference remains.
The interpreter must be 3.12+ with the `test` package (pyenv's builds have it); it is found
in pyenv or on PATH unless --python is given. `syscorr` runs from this checkout (its .venv
when there is one, else any interpreter that imports it with its dependencies).
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pythons import find_python

ROOT = Path(__file__).resolve().parent.parent
TEST_LINE = re.compile(r"^(test\w*) \(([\w.]+)\)")
OUTCOME = re.compile(r"(ok|FAIL|ERROR|skipped.*|expected failure|unexpected success)$")
QUICK = ("test_locks", "test_queues")  # what the test suite runs


def asyncio_test_python(given: str | None = None) -> str:
    """A Python 3.12+ whose standard library has CPython's test.test_asyncio (pyenv builds
    have it; Debian's needs libpython3.X-testsuite)."""
    return find_python("compare_cpython_tests", given, needs="import test.test_asyncio")


def syscorr_command() -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for candidate in (ROOT / ".venv" / "bin" / "python", Path(sys.executable)):
        if candidate.exists():
            probe = subprocess.run(
                [str(candidate), "-c", "import syscorr.cli.app"], capture_output=True, env=env
            )
            if probe.returncode == 0:
                return [str(candidate), "-m", "syscorr"]
    raise SystemExit(
        "compare_cpython_tests: no interpreter here imports syscorr with its dependencies: "
        "run scripts/bootstrap.sh first"
    )


def modules_of(python: str) -> list[str]:
    code = "import os, test.test_asyncio as t; print(os.path.dirname(t.__file__))"
    where = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return sorted(p.stem for p in Path(where.stdout.strip()).glob("test_*.py"))


def outcomes(stderr: str) -> dict[str, str]:
    """test id -> outcome, from unittest's verbose report: `test_x (id) ... ok`, where a
    docstring line may come between, and what the test itself logs may come before the outcome
    (asyncio's "Unknown child process" warning: then the outcome starts a later line). A count
    that disagrees with unittest's `Ran N tests` line is an outcome of its own."""
    found, pending = {}, None
    for line in stderr.splitlines():
        match = TEST_LINE.match(line)
        if match:
            name, where = match.groups()
            pending = where if where.endswith(name) else f"{where}.{name}"
        if pending is None:
            continue
        text = line.rpartition(" ... ")[2] if " ... " in line else (None if match else line)
        result = OUTCOME.match(text.strip()) if text is not None else None
        if result and (" ... " in line or text.strip() == result.group(0)):
            outcome = result.group(1)
            found[pending] = "skipped" if outcome.startswith("skipped") else outcome
            pending = None
    ran = re.search(r"^Ran (\d+) tests?", stderr, re.M)
    if ran and int(ran.group(1)) != len(found):
        found["(report)"] = f"unreadable report: Ran {ran.group(1)}, read {len(found)}"
    return found


def run_tests(
    python: str, names: list[str], traced: bool, out: Path, timeout: float
) -> tuple[dict[str, str], int | None, float]:
    """Run unittest on `names` (modules or test ids); (outcomes, exit status, seconds)."""
    argv = [python, "-m", "unittest", "-v", *names]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYSCORR_")}
    if traced:
        shutil.rmtree(out, ignore_errors=True)
        argv = [*syscorr_command(), "run", "-q", "-o", str(out), "--", *argv]
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, errors="replace", timeout=timeout, env=env,
            stdin=subprocess.DEVNULL, preexec_fn=_default_signals,
        )  # fmt: skip
    except subprocess.TimeoutExpired as err:
        text = err.stderr.decode(errors="replace") if err.stderr else ""
        return outcomes(text), None, time.monotonic() - started
    return outcomes(done.stderr), done.returncode, time.monotonic() - started


def _default_signals() -> None:
    """CPython's tests expect default signal handling: a shell's background job (`cmd &`)
    would hand SIGINT down ignored, and test_runners would then spin forever."""
    for signo in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE, signal.SIGHUP):
        signal.signal(signo, signal.SIG_DFL)


def compare_module(python: str, module: str, work: Path, timeout: float) -> dict:
    name = f"test.test_asyncio.{module}"
    plain, plain_rc, plain_s = run_tests(python, [name], False, work / "t", timeout)
    traced, traced_rc, traced_s = run_tests(python, [name], True, work / "t", timeout)
    differ = sorted(t for t in plain.keys() | traced.keys() if plain.get(t) != traced.get(t))
    flaky = []
    if differ:  # run those again, both ways: alone, or the module when its report was garbled
        again = [name] if "(report)" in differ or len(differ) > 20 else differ
        again_plain, _, _ = run_tests(python, again, False, work / "t", timeout)
        again_traced, _, _ = run_tests(python, again, True, work / "t", timeout)
        flaky = [
            t
            for t in differ
            if t != "(report)" and again_plain.get(t) == again_traced.get(t) is not None
        ]
        if "(report)" in differ and "(report)" not in again_plain.keys() | again_traced.keys():
            flaky.append("(report)")
        differ = [t for t in differ if t not in flaky]
    return {
        "module": module,
        "tests": len(plain),
        "plain": plain,
        "traced": traced,
        "status": (plain_rc, traced_rc),
        "seconds": (plain_s, traced_s),
        "differ": differ,
        "flaky": flaky,
    }


def summary(counts: dict[str, str]) -> str:
    values = list(counts.values())
    ok = values.count("ok") + values.count("expected failure")
    bad = values.count("FAIL") + values.count("ERROR") + values.count("unexpected success")
    return f"{ok} ok, {bad} failed, {values.count('skipped')} skipped"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python")
    parser.add_argument("--modules", help="comma-separated (default: every test_asyncio module)")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--keep", type=Path, help="keep the last trace here")
    opts = parser.parse_args()
    python = asyncio_test_python(opts.python)
    version = subprocess.run([python, "-V"], capture_output=True, text=True).stdout.strip()
    modules = (
        opts.modules.split(",")
        if opts.modules
        else list(QUICK)
        if opts.quick
        else modules_of(python)
    )
    print(f"CPython test.test_asyncio, plain and under `syscorr run`: {python} ({version})")
    print(f"{'module':<34} {'tests':>5}  {'plain':<28} {'traced':<28} {'same':<5} time")
    totals = {"tests": 0, "same": 0, "flaky": 0, "differ": []}
    with tempfile.TemporaryDirectory(prefix="syscorr-cpython-") as tmp:
        work = opts.keep or Path(tmp)
        for module in modules:
            result = compare_module(python, module, work, opts.timeout)
            same = (
                "yes"
                if not result["differ"] and result["status"][0] == result["status"][1]
                else "NO"
            )
            if result["flaky"] and same == "yes":
                same = "yes*"
            plain_s, traced_s = result["seconds"]
            print(
                f"{module:<34} {result['tests']:>5}  {summary(result['plain']):<28} "
                f"{summary(result['traced']):<28} {same:<5} {plain_s:.0f} s / {traced_s:.0f} s"
            )
            totals["tests"] += result["tests"]
            totals["same"] += result["tests"] - len(result["differ"])
            totals["flaky"] += len(result["flaky"])
            totals["differ"] += [
                f"  {t}: plain {result['plain'].get(t)}, traced {result['traced'].get(t)}"
                for t in result["differ"]
            ]
            if result["status"][0] != result["status"][1]:
                totals["differ"].append(f"  {module}: exit status {result['status']}")
    print(
        f"{len(modules)} modules, {totals['tests']} tests: {totals['same']} with the same outcome "
        f"({totals['flaky']} of them only on a second run, *: timing-sensitive), "
        f"{len(totals['differ'])} differences"
    )
    for line in totals["differ"]:
        print(line)
    sys.exit(1 if totals["differ"] else 0)


if __name__ == "__main__":
    main()
