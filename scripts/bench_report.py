#!/usr/bin/env python3
"""Benchmark the report pipeline per output format: CPU time and peak RSS at 1x, 10x, 50x.

Usage: .venv/bin/python scripts/bench_report.py [--rounds 470] [--clients 10] [--keep DIR]
           [--sizes 1,10,50] [--formats report,json,...] [--compare CHECKOUT]

Records real traces of fixtures/apps/echo.py with `syscorr run` (N, 10N and 50N rounds; the
default makes the 50x trace over 1M syscalls), or reuses them from --keep DIR. Then, each in a
fresh process and one after the other, runs `syscorr report` as a user would, output to a
file: the terminal summary ("report"), json, html, perfetto, perfetto-proto and
`--timeline --limit 0`, and the same run's baseline: the summary pass alone (parse, correlate,
analyse; no renderer), whose time is the correlation's. Prints CPU time (user+sys, steadier
than wall time on a shared machine; wall time too) and peak RSS per format and size, the
renderer's share (format minus baseline), and ratios to the 1x size and to the baseline.
--compare CHECKOUT also runs every command with another checkout's code (for example
`git archive main | tar -x -C /tmp/main`), in the same run, for before/after figures.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ECHO = ROOT / "fixtures" / "apps" / "echo.py"
FORMATS = {
    "baseline": None,
    "report": [],
    "json": ["-f", "json"],
    "html": ["-f", "html"],
    "perfetto": ["-f", "perfetto"],
    "perfetto-proto": ["-f", "perfetto-proto"],
    "timeline": ["--timeline", "--limit", "0"],
}
BASELINE = r"""
import sys
import syscorr.cli.app  # the same imports as the commands: RSS and start-up compare fairly
from syscorr.analysis.summary import summarize_trace
summary = summarize_trace(sys.argv[1])
print(summary.correlation_stats.syscalls)
"""


def record(out: Path, clients: int, rounds: int) -> None:
    cmd = [sys.executable, "-m", "syscorr", "run", "-q", "-o", str(out), str(ECHO)]
    cmd += ["--clients", str(clients), "--rounds", str(rounds), "--quiet"]
    subprocess.run(cmd, check=True, cwd=ROOT)


def measure(code: Path, trace: Path, fmt: str, out: Path) -> dict:
    """Run one command with the code of checkout `code`; wall time and peak RSS (wait4)."""
    if FORMATS[fmt] is None:
        cmd = [sys.executable, "-c", BASELINE, str(trace)]
    else:
        cmd = [sys.executable, "-m", "syscorr", "report", str(trace), *FORMATS[fmt]]
        cmd += ["-o", str(out)]
    env = dict(os.environ, PYTHONPATH=str(code), SYSCORR_PERFETTO_LIMIT_MB="100000")
    env.pop("COLUMNS", None)
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    ok = os.waitstatus_to_exitcode(status) == 0
    size = out.stat().st_size if out.exists() else 0
    out.unlink(missing_ok=True)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss * 1024,
            "ok": ok, "bytes": size,
            "error": err.strip().splitlines()[-1] if not ok and err.strip() else ""}  # fmt: skip


def syscalls_of(trace: Path) -> int:
    meta = json.loads((trace / "meta.json").read_text())
    logs = meta.get("syscall_logs") or ["strace.log"]
    return sum(sum(1 for _ in open(trace / name, "rb")) for name in logs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=470)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--keep", type=Path, help="record the traces here and keep them")
    parser.add_argument("--compare", type=Path, help="another checkout to measure as 'before'")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    opts = parser.parse_args()
    sizes = [int(s) for s in opts.sizes.split(",")]
    formats = [f for f in opts.formats.split(",") if f]
    unknown = set(formats) - set(FORMATS)
    if unknown:
        parser.error(f"unknown formats: {', '.join(sorted(unknown))}")
    if "baseline" not in formats:
        formats.insert(0, "baseline")
    codes = [("after", ROOT)]
    if opts.compare:
        codes.insert(0, ("before", opts.compare.resolve()))
    tmp = Path(tempfile.mkdtemp(prefix="syscorr-bench-report-"))
    base = opts.keep or tmp
    base.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    lines_at: dict = {}
    for scale in sizes:
        trace = base / f"echo-{opts.clients}x{opts.rounds * scale}"
        if not (trace / "meta.json").exists():
            rounds = opts.rounds * scale
            print(f"recording {scale}x: {opts.clients} clients x {rounds} rounds", flush=True)
            record(trace, opts.clients, rounds)
        lines_at[scale] = syscalls_of(trace)
        for label, code in codes:
            for fmt in formats:
                r = measure(code, trace, fmt, tmp / f"out-{fmt}")
                results[(label, fmt, scale)] = r
                state = "" if r["ok"] else f"  FAILED: {r['error']}"
                print(
                    f"  {label:6} {fmt:15} {scale:>3}x  cpu {r['cpu']:8.1f} s  wall "
                    f"{r['wall']:8.1f} s  {r['rss'] / 2**20:7.0f} MB{state}",
                    flush=True,
                )
    print()
    print("trace sizes (log lines): " + ", ".join(f"{s}x {n}" for s, n in lines_at.items()))
    first = sizes[0]
    for label, _ in codes:
        print(f"\n{label}: CPU s (user+sys) / peak RSS MB; r = renderer CPU s (format - baseline)")
        head = f"{'format':15}" + "".join(f"{f'{s}x':>27}" for s in sizes)
        tenfold = 10 in sizes and first == 1 and sizes[-1] != 10
        print(head + f"{'RSS ' + str(sizes[-1]) + 'x/' + str(first) + 'x':>12}"
              + (f"{'RSS 10x/1x':>12}" if tenfold else ""))  # fmt: skip
        for fmt in formats:
            row = f"{fmt:15}"
            for scale in sizes:
                r = results[(label, fmt, scale)]
                b = results[(label, "baseline", scale)]
                rend = "" if fmt == "baseline" else f" r{r['cpu'] - b['cpu']:+7.1f}"
                row += f"{r['cpu']:9.1f}s{rend:>10} {r['rss'] / 2**20:5.0f}MB"
            r1, rn = results[(label, fmt, first)], results[(label, fmt, sizes[-1])]
            row += f"{rn['rss'] / r1['rss']:11.2f}x"
            if tenfold:
                row += f"{results[(label, fmt, 10)]['rss'] / r1['rss']:11.2f}x"
            print(row)
    if len(codes) == 2:
        print("\nafter vs before: CPU ratio before/after (whole command; renderer alone), RSS")
        for fmt in formats:
            cells = []
            for scale in sizes:
                b, a = results[("before", fmt, scale)], results[("after", fmt, scale)]
                bb, ab = (
                    results[("before", "baseline", scale)],
                    results[("after", "baseline", scale)],
                )
                rb, ra = b["cpu"] - bb["cpu"], a["cpu"] - ab["cpu"]
                alone = f"{rb / ra:6.1f}x" if fmt != "baseline" and ra > 0.05 else "     -"
                cells.append(
                    f"{scale}x {b['cpu'] / a['cpu']:5.2f}x ({alone}) RSS {a['rss'] / b['rss']:.2f}"
                )
            print(f"{fmt:15} " + "; ".join(cells))
    if opts.json:
        opts.json.write_text(json.dumps({f"{k[0]}/{k[1]}/{k[2]}x": v for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
