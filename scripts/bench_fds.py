#!/usr/bin/env python3
"""What strace's fd decoding costs as open sockets grow: -yy against -y against none.

Usage: python scripts/bench_fds.py [--connections 1000,5000] [--rounds 3] [--runs 3]
                                   [--limit SECONDS] [--python PATH]

The workload is one asyncio process holding N loopback TCP connections open at once (server
and client ends: 2N sockets) and making `--rounds` echo round trips on every one of them. It
runs untraced and under strace with syscorr's flags (-f, the asyncio syscall set, seccomp-bpf,
ns timestamps) with `-yy` (strace re-reads each socket's addresses per call, from a kernel dump
whose size grows with the open sockets), `-y` (paths and socket inodes: one readlink per fd
argument) and no fd decoding. The configurations alternate within each run so that drift in
machine load hits them alike. For each N it prints the median wall time with its spread, the
median time per connection, and the ratio to untraced; then, per configuration, how the time
per connection at the largest N compares to the smallest (linear cost: about 1x). A run that
exceeds --limit seconds is stopped and reported as `>LIMIT`. Standard library only; needs
strace, and a Python 3.12+ (found in pyenv or on PATH unless --python is given).
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pythons import find_python

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORKLOAD = r"""
import asyncio, resource, sys

async def main(n, rounds):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * n + 100)), hard))

    async def echo(reader, writer):
        while line := await reader.readline():
            writer.write(line)
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    clients = []
    for start in range(0, n, 500):  # within the listen backlog
        batch = [asyncio.open_connection("127.0.0.1", port) for _ in range(min(500, n - start))]
        clients += await asyncio.gather(*batch)

    async def talk(reader, writer):
        for _ in range(rounds):
            writer.write(b"ping\n")
            assert await reader.readline() == b"ping\n"

    await asyncio.gather(*(talk(r, w) for r, w in clients))
    for _, writer in clients:
        writer.close()
    server.close()
    print(f"{n} connections x {rounds} round trips")

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""

MIN_PYTHON = (3, 12)
CONFIGS = ("untraced", "strace -yy", "strace -y", "strace (no fd decoding)")


def strace_argv(decoding: str, log: Path, target: list[str]) -> list[str]:
    """syscorr's strace flags, with the fd decoding given, writing straight to a file."""
    from syscorr.capture.syscall_sets import PRESETS

    exe = shutil.which("strace")
    argv = [exe, "-f", "-q", *([decoding] if decoding else []), "-s", "256"]
    argv += ["--absolute-timestamps=format:unix,precision:ns", "--syscall-times=ns"]
    argv += ["-e", "trace=" + ",".join("?" + s for s in PRESETS["asyncio"]), "--seccomp-bpf"]
    return argv + ["-o", str(log), "--", *target]


def timed(argv: list[str], limit: float) -> float | None:
    start = time.perf_counter()
    try:
        result = subprocess.run(argv, capture_output=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return None
    if result.returncode != 0:
        raise SystemExit(f"bench_fds: {argv[0]} failed: {result.stderr[-400:]!r}")
    return time.perf_counter() - start


def fmt(seconds: float | None, limit: float) -> str:
    return f">{limit:.0f}" if seconds is None else f"{seconds:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", default="1000,5000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--limit", type=float, default=900.0)
    parser.add_argument("--python")
    opts = parser.parse_args()
    if sys.version_info[:2] < MIN_PYTHON:  # syscorr's syscall set is read from the checkout
        python = find_python("bench_fds", opts.python)
        os.execv(python, [python, __file__, *sys.argv[1:], "--python", python])
    if shutil.which("strace") is None:
        raise SystemExit("bench_fds: strace is not installed (sudo apt-get install strace)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    sizes = [int(n) for n in opts.connections.split(",")]
    if 2 * max(sizes) + 100 > hard:
        raise SystemExit(f"bench_fds: {max(sizes)} connections need {2 * max(sizes) + 100} fds")
    python = find_python("bench_fds", opts.python)
    print(f"{opts.rounds} round trips per connection, {opts.runs} runs, {python}")
    per_connection: dict[str, dict[int, float | None]] = {c: {} for c in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="syscorr-bench-fds-") as tmp:
        program = Path(tmp) / "workload.py"
        program.write_text(WORKLOAD)
        log = Path(tmp) / "strace.log"
        for n in sizes:
            target = [python, str(program), str(n), str(opts.rounds)]
            argvs = {
                "untraced": target,
                "strace -yy": strace_argv("-yy", log, target),
                "strace -y": strace_argv("-y", log, target),
                "strace (no fd decoding)": strace_argv("", log, target),
            }
            samples: dict[str, list[float | None]] = {c: [] for c in CONFIGS}
            for _ in range(opts.runs):
                for config in CONFIGS:
                    if samples[config] and samples[config][-1] is None:
                        samples[config].append(None)  # it ran out of time once: do not wait again
                        continue
                    samples[config].append(timed(argvs[config], opts.limit))
            base = statistics.median(samples["untraced"])
            print(f"{n} connections:")
            for config in CONFIGS:
                done = [s for s in samples[config] if s is not None]
                median = statistics.median(done) if len(done) == len(samples[config]) else None
                per_connection[config][n] = None if median is None else median / n
                spread = f"(min {fmt(min(done), 0)}, max {fmt(max(done), 0)})" if done else ""
                ratio = f"{median / base:6.1f}x untraced" if median is not None else ""
                per = f"{median / n * 1e3:7.2f} ms/connection" if median is not None else ""
                shown = fmt(median, opts.limit)
                print(f"  {config:<24} median {shown:>7} s {spread:<26} {per}  {ratio}")
    small, large = min(sizes), max(sizes)
    if small != large:
        print(f"time per connection at {large} against {small} (linear: about 1x):")
        for config in CONFIGS:
            a, b = per_connection[config][small], per_connection[config][large]
            growth = f"{b / a:.2f}x" if a and b else "n/a (a run exceeded --limit)"
            print(f"  {config:<24} {growth}")


if __name__ == "__main__":
    main()
