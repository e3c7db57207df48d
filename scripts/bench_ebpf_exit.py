#!/usr/bin/env python3
"""How soon the eBPF loader notices that its target ended (it was a 50 ms poll).

Usage: sudo .venv/bin/python scripts/bench_ebpf_exit.py [--runs 15] [--baseline LOADER]

For each loader (the one built from this checkout, and `--baseline`, e.g. one built from an
older checkout), runs interleaved: `syscorr-ebpf -- /bin/true` (run mode: the loader is the
parent, woken by SIGCHLD) and `syscorr-ebpf --pid P --duration 600` on a Python process that
exits when its stdin closes and is reaped at once (attach mode: woken by a pidfd; the old loop
noticed only a reaped target, by kill(P, 0), and never a zombie: tests/test_capture_ebpf.py has
that case). The latency of one run is the loader's end
clock (its stats) minus the target's exit record's time (its log): both CLOCK_MONOTONIC.
Printed per loader and mode: the median, min and max in ms, and the median's ratio to the
baseline's.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def exit_ns(log: Path) -> int | None:
    from syscorr.parse.ebpf import parse_ebpf

    ends = [r.ts for r in parse_ebpf(log) if type(r).__name__ == "ExitRecord" and r.ts]
    return ends[-1] if ends else None


def run_mode(loader: str, work: Path) -> float | None:
    log, stats = work / "run.ebpf", work / "run.json"
    subprocess.run([loader, "--out", str(log), "--stats", str(stats), "--syscalls", "exit_group",
                    "--", "/bin/true"], check=True)  # fmt: skip
    return _latency(log, stats)


def attach_mode(loader: str, work: Path) -> float | None:
    log, stats = work / "attach.ebpf", work / "attach.json"
    log.unlink(missing_ok=True)
    target = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)  # fmt: skip
    argv = [loader, "--out", str(log), "--stats", str(stats), "--syscalls", "exit_group",
            "--pid", str(target.pid), "--duration", "600"]  # fmt: skip
    attach = subprocess.Popen(argv)
    while attach.poll() is None and (not log.exists() or log.stat().st_size == 0):
        time.sleep(0.005)  # the loader flushes its log's head once tracing is armed
    target.stdin.close()  # it exits
    target.wait()
    attach.wait(timeout=120)
    return _latency(log, stats)


def _latency(log: Path, stats: Path) -> float | None:
    end = json.loads(stats.read_text())["clocks"]["end"]["monotonic_ns"]
    ended = exit_ns(log)
    return None if ended is None else (end - ended) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", help="another syscorr-ebpf to compare with")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_ebpf_exit: needs root (eBPF)", file=sys.stderr)
        return 2
    from syscorr.capture.ebpf import EbpfBackend

    backend = EbpfBackend()
    backend.check_available()
    loaders = {"this checkout": backend.loader}
    if args.baseline:
        loaders = {"baseline": args.baseline, **loaders}
    samples = {(name, mode): [] for name in loaders for mode in ("run", "attach")}
    with tempfile.TemporaryDirectory(prefix="bench-ebpf-exit-") as tmp:
        for _ in range(args.runs):
            for name, loader in loaders.items():
                for mode, measure in (("run", run_mode), ("attach", attach_mode)):
                    value = measure(loader, Path(tmp))
                    if value is not None:
                        samples[(name, mode)].append(value)
    print(f"exit noticed after (ms), {args.runs} runs each, interleaved:")
    for mode in ("run", "attach"):
        base = None
        for name in loaders:
            values = samples[(name, mode)]
            if not values:
                print(f"  {mode:<6} {name:<14} no exit record seen")
                continue
            median = statistics.median(values)
            base = median if base is None else base
            print(f"  {mode:<6} {name:<14} median {median:7.2f}  min {min(values):7.2f}  "
                  f"max {max(values):7.2f}  {median / base:5.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
