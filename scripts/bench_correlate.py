#!/usr/bin/env python3
"""Benchmark correlation: syscalls/s and peak memory at 1x and 10x trace size.

Usage: .venv/bin/python scripts/bench_correlate.py [--rounds 400] [--clients 10] [--keep DIR]

Records two real traces of fixtures/apps/echo.py with `syscorr run` (N and 10*N rounds), then,
each in a fresh process, measures: parsing alone (the baseline, same run), and parsing plus
correlation plus the analyses `syscorr report` does. Prints syscalls/s, the ratio of the full
pass to parsing alone, and the peak RSS of each process, so memory growth from 1x to 10x shows.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ECHO = ROOT / "fixtures" / "apps" / "echo.py"

MEASURE = r"""
import json, resource, sys, time
from syscorr.trace import directory
from syscorr.trace.load import open_trace
from syscorr.analysis.summary import summarize
loaded = open_trace(directory.resolve(sys.argv[1]))
mode = sys.argv[2]
start = time.perf_counter()
if mode == "parse":
    n = sum(1 for _ in loaded.records())
else:
    summary = summarize(loaded)
    n = summary.correlation_stats.syscalls + summary.correlation_stats.agent_syscalls
elapsed = time.perf_counter() - start
events = sum(log.event_count for log in loaded.agent_logs)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"records": n, "seconds": elapsed, "rss": rss, "agent_events": events}))
"""


def record(out: Path, clients: int, rounds: int) -> None:
    cmd = [
        sys.executable,
        "-m",
        "syscorr",
        "run",
        "-q",
        "-o",
        str(out),
        str(ECHO),
        "--clients",
        str(clients),
        "--rounds",
        str(rounds),
        "--quiet",
    ]
    subprocess.run(cmd, check=True)


def measure(trace: Path, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(trace), mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="record the traces here and keep them")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="syscorr-bench-") as tmp:
        base = opts.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        rows = []
        for scale in (1, 10):
            trace = base / f"echo-x{scale}"
            if not (trace / "meta.json").exists():
                print(
                    f"recording {scale}x: {opts.clients} clients x {opts.rounds * scale} rounds",
                    flush=True,
                )
                record(trace, opts.clients, opts.rounds * scale)
            log_bytes = sum(p.stat().st_size for p in trace.glob("strace.log*"))
            parse = measure(trace, "parse")
            full = measure(trace, "full")
            rows.append((scale, log_bytes, parse, full))
    print(
        f"{'size':>5} {'log MB':>8} {'syscalls':>9} {'agent ev':>9} {'parse/s':>9} "
        f"{'full/s':>9} {'full/parse':>10} {'RSS parse':>10} {'RSS full':>9}"
    )
    for scale, log_bytes, parse, full in rows:
        print(
            f"{scale:>4}x {log_bytes / 1e6:8.1f} {full['records']:9d} {full['agent_events']:9d} "
            f"{parse['records'] / parse['seconds']:9.0f} {full['records'] / full['seconds']:9.0f} "
            f"{full['seconds'] / parse['seconds']:9.2f}x {parse['rss'] / 2**20:8.0f}MB "
            f"{full['rss'] / 2**20:7.0f}MB"
        )
    (_, _, p1, f1), (_, _, p10, f10) = rows
    print(
        f"memory growth 1x -> 10x: parse {p10['rss'] / p1['rss']:.2f}x, "
        f"full pass {f10['rss'] / f1['rss']:.2f}x (agent events are streamed per thread)"
    )


if __name__ == "__main__":
    main()
