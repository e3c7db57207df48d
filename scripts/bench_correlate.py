#!/usr/bin/env python3
"""Benchmark the report's one pass (parse + correlate + analyses): syscalls/s, CPU, memory.

Usage: .venv/bin/python scripts/bench_correlate.py [--rounds 500] [--clients 10]
           [--scales 1,10,50] [--repeat 3] [--baseline-rev REV] [--keep DIR] [--backend strace]

Records real traces of fixtures/apps/echo.py with `syscorr run` (rounds x each scale; 500 rounds
x 10 clients is ~23k syscalls, so 50x is ~1.1M), or reuses them from `--keep DIR`. Then, for
each scale, interleaved `--repeat` times, each in a fresh process:
- `bare`: a Python loop over the same files that does nothing per line or record (the syscall
  log line by line, the agent log's events with struct.iter_unpack): the floor;
- `new`: `summarize(loaded)` (what `syscorr report` runs) with the code of this checkout;
- `old`: the same with the code of `--baseline-rev` (default: the commit this branch started
  from, `git merge-base HEAD main`), exported with `git archive` into a temporary directory
  and put first on PYTHONPATH, so before and after run on one machine at one time.
Prints, per scale and version, the medians (and min-max spread) of CPU time (user+sys of the
pass, from getrusage) and wall time, syscalls/s by CPU time, the ratio to the bare loop, the
speed-up of new over old, and the peak RSS of the process. Before timing, `old` and `new`
digest every item, the final task names, the findings and the accounts at the smallest scale
(all scales with `--verify all`) and the script fails when they differ.
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
ECHO = ROOT / "fixtures" / "apps" / "echo.py"

MEASURE = r"""
import glob, hashlib, json, mmap, os, resource, struct, sys, time
mode, path = sys.argv[1], sys.argv[2]

def usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

if mode == "bare":
    cpu0, wall0 = usage(), time.perf_counter()
    lines = events = 0
    for log in sorted(glob.glob(os.path.join(path, "strace.log*"))):
        with open(log, encoding="utf-8", errors="replace", newline="\n") as f:
            for line in f:
                lines += 1
    event = struct.Struct("<BBHIqQII")
    for log in sorted(glob.glob(os.path.join(path, "agent", "agent-*.bin"))):
        with open(log, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            view = memoryview(data)
            for record in event.iter_unpack(view[32 : 32 + (len(data) - 32) // 32 * 32]):
                events += 1
            view.release()
    cpu, wall = usage() - cpu0, time.perf_counter() - wall0
    out = {"records": lines, "events": events}
else:
    import syscorr
    from syscorr.trace import directory
    from syscorr.trace.load import open_trace
    cpu0, wall0 = usage(), time.perf_counter()
    loaded = open_trace(directory.resolve(path))
    if mode == "digest":
        from syscorr.analysis.accounting import Accounts
        from syscorr.analysis.findings import FindingCollector
        from syscorr.correlate.engine import Correlator
        digest = hashlib.sha256()
        agent_meta = {log.pid: log.meta for log in loaded.agent_logs}
        accounts, collector = Accounts(), FindingCollector(agent_meta=agent_meta)
        correlator = Correlator(loaded.agent_logs, loaded.ignore_paths())
        items = 0
        for item in correlator.run(loaded.records()):
            digest.update(repr(item).encode())
            accounts.add(item)
            collector.add(item)
            items += 1
        names = correlator.final_task_names()
        accounts.finish(names, agent_meta)
        collector.finish(names)
        digest.update(repr(sorted(names.items())).encode())
        digest.update(repr(collector.findings).encode())
        for table in ("tasks", "fds", "threads", "syscalls", "loops", "processes"):
            rows = getattr(accounts, table)
            digest.update(repr(sorted(rows.items(), key=lambda kv: repr(kv[0]))).encode())
        out = {"digest": digest.hexdigest(), "items": items}
    else:
        from syscorr.analysis.summary import summarize
        summary = summarize(loaded)
        stats = summary.correlation_stats
        out = {"records": stats.syscalls + stats.agent_syscalls, "events": stats.agent_events}
    cpu, wall = usage() - cpu0, time.perf_counter() - wall0
    out["code"] = os.path.dirname(os.path.dirname(syscorr.__file__))
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out.update(cpu=cpu, wall=wall, rss=rss)
print(json.dumps(out))
"""


def record(out: Path, clients: int, rounds: int, backend: str) -> None:
    cmd = [sys.executable, "-m", "syscorr", "run", "--backend", backend, "-q", "-o", str(out),
           str(ECHO), "--clients", str(clients), "--rounds", str(rounds), "--quiet"]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=ROOT)


def measure(trace: Path, mode: str, code: Path | None) -> dict:
    env = dict(os.environ)  # run in the trace's directory: `-c` puts the cwd on sys.path
    env["PYTHONHASHSEED"] = "0"  # the digest reprs sets of strings
    if code is not None:
        env["PYTHONPATH"] = str(code) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", MEASURE, mode, str(trace)],
                         capture_output=True, text=True, env=env, cwd=trace)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"bench_correlate: the {mode} pass failed on {trace}:\n{out.stderr}")
    result = json.loads(out.stdout)
    if code is not None and Path(result["code"]).resolve() != code.resolve():
        raise SystemExit(f"bench_correlate: the baseline ran {result['code']}, not {code}")
    return result


def export(rev: str, into: Path) -> Path:
    """The tree of `rev` (its syscorr package) in `into`, by git archive."""
    archive = into / "baseline.tar"
    with open(archive, "wb") as f:
        subprocess.run(["git", "archive", rev, "syscorr"], cwd=ROOT, stdout=f, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "baseline", filter="data")
    return into / "baseline"


def spread(values: list[float]) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:8.3f}"
    return f"{med:8.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500, help="round trips per client at 1x")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--scales", default="1,10,50", help="trace sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scale and version")
    parser.add_argument("--baseline-rev", help="git revision to compare with (default: the "
                        "merge base with main); 'none' to skip")  # fmt: skip
    parser.add_argument("--verify", choices=("first", "all", "none"), default="first",
                        help="compare old and new item by item at the smallest scale, or all")
    parser.add_argument("--keep", type=Path, help="record the traces here and keep them")
    parser.add_argument("--backend", default="strace", help="backend to record with")
    opts = parser.parse_args()
    scales = [int(s) for s in opts.scales.split(",")]
    rev = opts.baseline_rev
    if rev is None:
        rev = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, text=True,
                             capture_output=True, check=True).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="syscorr-bench-") as tmp:
        base = opts.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        baseline = None if rev == "none" else export(rev, Path(tmp))
        versions = [("bare", None)] + ([("old", baseline)] if baseline else []) + [("new", ROOT)]
        if baseline:
            print(f"baseline: {rev} (git archive in {baseline})", flush=True)
        results = {}
        for scale in scales:
            trace = base / f"echo-{opts.backend}-r{opts.rounds}-c{opts.clients}-x{scale}"
            if not (trace / "meta.json").exists():
                rounds = opts.rounds * scale
                print(f"recording {scale}x: {opts.clients} clients x {rounds} rounds", flush=True)
                record(trace, opts.clients, rounds, opts.backend)
            if baseline and (opts.verify == "all" or opts.verify == "first" and scale == scales[0]):
                old, new = measure(trace, "digest", baseline), measure(trace, "digest", ROOT)
                same = old["digest"] == new["digest"] and old["items"] == new["items"]
                verdict = "the same" if same else "DIFFERENT"
                print(f"{scale}x: old and new give {verdict} {new['items']} items, names, "
                      "findings and accounts", flush=True)  # fmt: skip
                if not same:
                    raise SystemExit(1)
            runs = {name: [] for name, _ in versions}
            for run in range(opts.repeat):
                for name, code in versions:
                    runs[name].append(measure(trace, "bare" if name == "bare" else "full", code))
                print(f"{scale}x: run {run + 1}/{opts.repeat} done", flush=True)
            results[scale] = runs
    print()
    print(f"{'size':>5} {'version':>7} {'syscalls':>9} {'agent ev':>9} {'syscalls/s':>10} "
          f"{'CPU s (spread)':>24} {'wall s (spread)':>24} {'x bare':>7} "
          f"{'peak RSS':>9}")  # fmt: skip
    for scale, runs in results.items():
        bare_cpu = statistics.median(r["cpu"] for r in runs["bare"])
        for name, rows in runs.items():
            cpu = [r["cpu"] for r in rows]
            wall = [r["wall"] for r in rows]
            first = rows[0]
            calls = runs["new"][0]["records"] if name == "bare" else first["records"]
            rate = calls / statistics.median(cpu)
            print(f"{scale:>4}x {name:>7} {calls:9d} {first['events']:9d} {rate:10.0f} "
                  f"{spread(cpu):>24} {spread(wall):>24} {statistics.median(cpu) / bare_cpu:6.1f}x "
                  f"{max(r['rss'] for r in rows) / 2**20:7.0f}MB")  # fmt: skip
        if "old" in runs:
            old = statistics.median(r["cpu"] for r in runs["old"])
            new = statistics.median(r["cpu"] for r in runs["new"])
            print(f"{scale:>4}x new/old: {old / new:.2f}x faster by CPU time")
    if len(results) > 1:
        first, last = scales[0], scales[-1]
        rss = {s: max(r["rss"] for r in results[s]["new"]) for s in (first, last)}
        print(f"peak RSS of new, {first}x -> {last}x: {rss[last] / rss[first]:.2f}x")


if __name__ == "__main__":
    main()
