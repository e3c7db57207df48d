#!/usr/bin/env python3
"""What each capture backend costs: the echo benchmark and an aiohttp load, untraced, under
`syscorr run --backend strace` and under `syscorr run --backend ebpf`, in one invocation.

Usage: sudo .venv/bin/python scripts/bench_backends.py [--runs 5] [--clients 10] [--rounds 1000]
           [--requests 2000] [--concurrency 20] [--ebpf-buffer-mb 16] [--skip-aiohttp]
           [--breakdown] [--components] [--baseline DIR]

Both traced configurations are full syscorr runs (agent included, default syscall set, the
trace written to disk). Runs are interleaved (untraced, strace, ebpf, untraced, ...) so load
drift hits all alike. Printed per workload and configuration: the median, min and max, and the
median's ratio to untraced (goal for eBPF: <= 1.5x); for eBPF, the lost records of every run
(goal 0 at the default buffer). Echo is timed as the whole command (process start to exit);
the aiohttp load as the client's requests only (the server starts first, untimed). At the end,
the last eBPF echo trace is correlated and its tagged sends checked (attribution), and its log
is read three ways to measure what the strace-compatible text costs: raw binary decode (the
floor a typed record would have), parse_ebpf (Syscall records with strace text), and the strace
parser on the strace run's log. Needs root (eBPF), strace, and aiohttp for the second workload.

--breakdown also runs the pieces of `syscorr run --backend ebpf` on their own, interleaved with
the rest: the target under the agent alone (its environment, no tracer), under the eBPF loader
alone (no agent), and under the loader with the agent (everything but syscorr's own process),
for the start-up and echo workloads; it prints what each adds to the whole command: the
recorder, the agent, and syscorr's own start-up and finish (the rest). --baseline DIR also
times `syscorr run --backend ebpf` of another checkout (e.g. `git worktree add DIR main`) in
the same rounds, on the same Python and with its own agent, for a before/after in one run.
Every checkout's modules and agent are compiled to bytecode first, as `pip install` does: an
editable checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise compile them at every
start, in syscorr and in the target.
"""

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ECHO = ROOT / "fixtures" / "apps" / "echo.py"
SERVER = ROOT / "fixtures" / "apps" / "aiohttp_server.py"
GOAL = 1.5
CONFIGS = ("untraced", "strace", "ebpf")
BASELINE = "ebpf @ baseline"
PIECES = ("agent alone", "loader alone", "loader + agent")  # --breakdown


class Setup:
    """How each configuration runs a target: argv prefix, environment, working directory."""

    def __init__(self, buffer_mb: int, baseline: Path | None) -> None:
        self.buffer_mb = buffer_mb
        self.baseline = baseline

    def syscorr_argv(self, config: str, out: Path) -> list[str]:
        backend = "ebpf" if config == BASELINE else config
        argv = [sys.executable, "-m", "syscorr", "run", "-q", "--backend", backend]
        argv += ["-o", str(out)]
        if backend == "ebpf":
            argv += ["--ebpf-buffer-mb", str(self.buffer_mb)]
        return [*argv, "--"]

    def command(self, config: str, out: Path, target: list[str]):
        """(argv, env, cwd) that run `target` under `config`, writing into `out`."""
        env, cwd = dict(os.environ), None
        if config == "untraced":
            return target, env, cwd
        if config in PIECES:
            if config != "loader alone":
                out.mkdir(parents=True, exist_ok=True)
                inject = str(ROOT / "syscorr" / "agent" / "inject")
                env["PYTHONPATH"] = os.pathsep.join(
                    p for p in (inject, env.get("PYTHONPATH", "")) if p
                )
                env.update(SYSCORR_AGENT_DIR=str(out), SYSCORR_CLOCK="monotonic",
                           SYSCORR_CALL_SITES="1")  # fmt: skip
            if config == "agent alone":
                return target, env, cwd
            out.mkdir(parents=True, exist_ok=True)
            return component_argv("loader alone", out / "syscalls.ebpf", target), env, cwd
        if config == BASELINE:  # `python -m` finds the other checkout's syscorr in its cwd
            cwd = str(self.baseline)
        return [*self.syscorr_argv(config, out), *target], env, cwd


BPFTRACE = (
    "tracepoint:raw_syscalls:sys_enter /pid == cpid/ { @s[tid] = nsecs; @a[tid] = args->args[0]; }"
    ' tracepoint:raw_syscalls:sys_exit /pid == cpid && @s[tid]/ { printf("%d %d %d %d %d %d\\n",'
    " tid, nsecs, nsecs - @s[tid], args->id, @a[tid], args->ret); delete(@s[tid]); }"
)


def component_argv(name: str, out: Path, target: list[str]) -> list[str]:
    """The recorders alone, without syscorr or the agent (--components)."""
    from syscorr.capture.ebpf import EbpfBackend
    from syscorr.capture.syscall_sets import PRESETS

    if name == "loader alone":
        calls = ",".join(PRESETS["asyncio"])
        return [EbpfBackend().loader, "--out", str(out), "--syscalls", calls, "--", *target]
    if name == "bpftrace printf":
        return ["bpftrace", "-q", "-o", str(out), "-e", BPFTRACE, "-c", " ".join(target)]
    raise ValueError(name)


def lost_of(out: Path) -> int | None:
    try:
        return json.loads((out / "meta.json").read_text())["backend"].get("lost")
    except (OSError, ValueError, KeyError):
        return None


def run_echo(setup, config, python, app_args, out) -> tuple[float, float]:
    """Wall time of the whole command, and the CPU time (user + system) of all its processes."""
    target = [python, "-c", "pass"] if app_args is None else [python, str(ECHO), *app_args]
    argv, env, cwd = setup.command(config, out, target)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"bench_backends: echo under {config} failed: {proc.stderr[-600:]!r}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu


async def _load(port: int, requests: int, concurrency: int) -> float:
    import aiohttp

    url = f"http://127.0.0.1:{port}/echo"
    queue = list(range(requests))
    async with aiohttp.ClientSession() as session:

        async def worker(name: str) -> None:
            while queue:
                queue.pop()
                async with session.get(url, params={"task": name}) as resp:
                    await resp.read()

        start = time.perf_counter()
        await asyncio.gather(*(worker(f"w{i}") for i in range(concurrency)))
        elapsed = time.perf_counter() - start
        async with session.get(f"http://127.0.0.1:{port}/stop") as resp:
            await resp.read()
    return elapsed


def run_aiohttp(setup, config, python, requests, concurrency, out) -> float:
    portfile = out.parent / f"{out.name}.port"
    argv, env, cwd = setup.command(config, out, [python, str(SERVER), str(portfile)])
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                              cwd=cwd)  # fmt: skip
    deadline = time.monotonic() + 60
    while not portfile.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit(f"bench_backends: aiohttp server under {config} did not start: "
                             f"{server.stderr.read()[-600:]!r}")  # fmt: skip
        time.sleep(0.02)
    elapsed = asyncio.run(_load(int(portfile.read_text()), requests, concurrency))
    if server.wait(timeout=120) != 0:
        raise SystemExit(f"bench_backends: server under {config} exited {server.returncode}")
    portfile.unlink()
    return elapsed


def report(title: str, times: dict, lost: dict, fixed: dict | None = None, show_goal=True,
           cpu: dict | None = None):
    """Medians, spread and ratios of every configuration in `times` (and of its CPU time,
    every process of the command, when `cpu` has it: steadier than wall time on a shared
    machine); with `fixed` (the start-up workload's medians), also the ratio with each one's
    fixed start-up cost taken off; with the --breakdown pieces, what each part of
    `syscorr run --backend ebpf` adds."""
    print(title)
    base = statistics.median(times["untraced"])
    cpu_base = statistics.median(cpu["untraced"]) if cpu else None
    for config, samples in times.items():
        median = statistics.median(samples)
        ratio = median / base
        goal = ""
        if config in ("ebpf", BASELINE) and show_goal:
            goal = f"  ({'ok' if ratio <= GOAL else 'over'} goal {GOAL}x)"
        used = ""
        if cpu:
            c = cpu[config]
            used = (f"  cpu {statistics.median(c):6.3f} s ({min(c):.3f}-{max(c):.3f}) "
                    f"{statistics.median(c) / cpu_base:5.2f}x")  # fmt: skip
        print(f"  {config:<15} median {median:7.3f} s  min {min(samples):7.3f}  "
              f"max {max(samples):7.3f}  {ratio:5.2f}x{used}{goal}")  # fmt: skip
        if fixed is not None and config in (*CONFIGS[1:], BASELINE):
            steady = (median - fixed[config]) / (base - fixed["untraced"])
            print(f"  {'':<15} {steady:5.2f}x without the fixed start-up cost measured above")
    for config, counts in lost.items():
        print(f"  {config} lost records per run: {counts}")
    if all(p in times for p in PIECES):
        m = {c: statistics.median(v) for c, v in times.items()}
        parts = (
            ("the recorder (loader alone - untraced)", m["loader alone"] - base),
            ("the agent (loader + agent - loader alone)", m["loader + agent"] - m["loader alone"]),
            ("syscorr's own start-up and finish (ebpf - loader + agent)",
             m["ebpf"] - m["loader + agent"]),
        )  # fmt: skip
        print(f"  breakdown of ebpf's {m['ebpf'] - base:+.3f} s over untraced (medians):")
        for name, extra in parts:
            print(f"    {extra:+7.3f} s  {extra / base:+6.1%} of untraced  {name}")
        alone = m["agent alone"] - base
        print(f"    (the agent without a tracer: {alone:+.3f} s, {alone / base:+.1%})")


def measure_parse(ebpf_trace: Path, strace_trace: Path | None) -> None:
    from syscorr.parse import parse_strace
    from syscorr.parse.ebpf import REC_SYSCALL, _raw_records, parse_ebpf

    log = ebpf_trace / "syscalls.ebpf"
    t0 = time.perf_counter()
    raw = sum(1 for _, _, fields, _ in _raw_records(log) if fields and fields[0] == REC_SYSCALL)
    t1 = time.perf_counter()
    text = sum(1 for r in parse_ebpf(log) if type(r).__name__ == "Syscall")
    t2 = time.perf_counter()
    print("parsing the last eBPF echo log:")
    print(f"  raw binary decode (typed floor)   {raw / (t1 - t0):>9,.0f} records/s")
    print(f"  parse_ebpf (strace-format text)   {text / (t2 - t1):>9,.0f} records/s"
          f"  ({(t2 - t1) / max(t1 - t0, 1e-9):.1f}x the raw decode)")  # fmt: skip
    if strace_trace is not None:
        path = strace_trace / "strace.log"
        t3 = time.perf_counter()
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = sum(1 for r in parse_strace(f) if type(r).__name__ == "Syscall")
        t4 = time.perf_counter()
        print(f"  parse_strace on the strace log    {lines / (t4 - t3):>9,.0f} records/s")


def check_attribution(trace: Path) -> None:
    from syscorr.correlate.engine import Correlator
    from syscorr.trace import directory
    from syscorr.trace.load import open_trace
    from tests import attribution

    loaded = open_trace(directory.resolve(trace))
    start = time.perf_counter()
    items = Correlator(loaded.agent_logs, loaded.ignore_paths()).run(loaded.records())
    checked, wrong = attribution.check(items)
    took = time.perf_counter() - start
    print(f"attribution on the last eBPF echo trace: {checked - len(wrong)}/{checked} tagged "
          f"sends attributed to the task that sent them (correlated in {took:.1f} s)")  # fmt: skip


def compile_bytecode(pythons: set[str], roots: list[Path]) -> None:
    """Byte-compile each checkout's syscorr (agent included) for every interpreter that runs it,
    as pip does at install."""
    for python in sorted(pythons):
        for root in roots:
            subprocess.run([python, "-m", "compileall", "-q", str(root / "syscorr")],
                           check=True, capture_output=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--ebpf-buffer-mb", type=int, default=16)
    parser.add_argument("--skip-aiohttp", action="store_true")
    parser.add_argument("--components", action="store_true",
                        help="also time echo under the eBPF loader alone and under bpftrace "
                        "printing a line per syscall (no agent, no syscorr)")  # fmt: skip
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the agent alone, the loader alone and both "
                        "(start-up, echo): what each adds to ebpf")  # fmt: skip
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also time `syscorr run --backend ebpf` of the checkout in DIR")
    parser.add_argument("--python", default=sys.executable, help="the targets' interpreter")
    opts = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_backends: the eBPF backend needs root: run it with sudo")
    if shutil.which("strace") is None:
        raise SystemExit("bench_backends: strace is not installed (scripts/bootstrap.sh)")
    if opts.baseline is not None:
        opts.baseline = opts.baseline.resolve()
        if not (opts.baseline / "syscorr" / "__main__.py").is_file():
            raise SystemExit(f"bench_backends: {opts.baseline} is not a syscorr checkout")
    aiohttp_ok = not opts.skip_aiohttp
    if aiohttp_ok:
        probe = subprocess.run([opts.python, "-c", "import aiohttp"], capture_output=True)
        if probe.returncode != 0:
            print("(aiohttp not installed for the target Python: `.venv/bin/pip install "
                  "aiohttp`; skipping that workload)")  # fmt: skip
            aiohttp_ok = False
    roots = [ROOT] + ([opts.baseline] if opts.baseline else [])
    compile_bytecode({sys.executable, opts.python}, roots)
    setup = Setup(opts.ebpf_buffer_mb, opts.baseline)
    app_args = ["--clients", str(opts.clients), "--rounds", str(opts.rounds), "--quiet"]
    version = subprocess.run([opts.python, "-V"], capture_output=True, text=True).stdout.strip()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {version}; "
          f"{opts.runs} runs each, interleaved; eBPF buffer {opts.ebpf_buffer_mb} MiB; "
          "bytecode compiled first")  # fmt: skip
    if opts.baseline:
        print(f"baseline: {opts.baseline} ({_revision(opts.baseline)}) against {ROOT} "
              f"({_revision(ROOT)})")  # fmt: skip
    configs = list(CONFIGS) + ([BASELINE] if opts.baseline else [])
    pieces = list(PIECES) if opts.breakdown else []
    with tempfile.TemporaryDirectory(prefix="syscorr-bench-") as tmp:
        tmp = Path(tmp)
        echo = {c: [] for c in configs + pieces}
        web = {c: [] for c in configs}
        startup = {c: [] for c in configs + pieces}
        echo_cpu = {c: [] for c in echo}
        startup_cpu = {c: [] for c in startup}
        echo_lost = {c: [] for c in configs if c in ("ebpf", BASELINE)}
        web_lost = {c: [] for c in echo_lost}
        comp_names = ["loader alone"]
        if opts.components and shutil.which("bpftrace"):
            comp_names.append("bpftrace printf")
        comp = {n: [] for n in comp_names} if opts.components else {}
        last = {}
        for i in range(opts.runs + 1):  # the first round warms caches and builds nothing new
            for config in configs + pieces:
                took, used = run_echo(setup, config, opts.python, None, tmp / f"pass-{i}")
                shutil.rmtree(tmp / f"pass-{i}", ignore_errors=True)
                if i:
                    startup[config].append(took)
                    startup_cpu[config].append(used)
                out = tmp / f"echo-{config.replace(' ', '_')}-{i}"
                took, used = run_echo(setup, config, opts.python, app_args, out)
                if i:
                    echo[config].append(took)
                    echo_cpu[config].append(used)
                    if config in echo_lost:
                        echo_lost[config].append(lost_of(out))
                if config == "untraced":
                    for name in comp:
                        cout = tmp / f"comp-{i}.out"
                        target = [opts.python, str(ECHO), *app_args]
                        start = time.perf_counter()
                        subprocess.run(component_argv(name, cout, target), capture_output=True,
                                       check=True)  # fmt: skip
                        if i:
                            comp[name].append(time.perf_counter() - start)
                        cout.unlink(missing_ok=True)
                if config in ("strace", "ebpf"):
                    if config in last:
                        shutil.rmtree(last[config])
                    last[config] = out
                else:
                    shutil.rmtree(out, ignore_errors=True)
                if aiohttp_ok and config in web:
                    wout = tmp / f"web-{config.replace(' ', '_')}-{i}"
                    took = run_aiohttp(setup, config, opts.python, opts.requests,
                                       opts.concurrency, wout)  # fmt: skip
                    if i:
                        web[config].append(took)
                        if config in web_lost:
                            web_lost[config].append(lost_of(wout))
                    shutil.rmtree(wout, ignore_errors=True)
        print()
        if comp:
            print("echo under the recorders alone (no agent, no syscorr; whole command):")
            base = statistics.median(echo["untraced"])
            for name, samples in comp.items():
                median = statistics.median(samples)
                print(f"  {name:<16} median {median:7.3f} s  min {min(samples):7.3f}  "
                      f"max {max(samples):7.3f}  {median / base:5.2f}x")  # fmt: skip
        report("start-up: `python -c pass` (whole command):", startup, {}, show_goal=False,
               cpu=startup_cpu)  # fmt: skip
        fixed = {c: statistics.median(v) for c, v in startup.items()}
        report(f"echo.py {' '.join(app_args)} (whole command):", echo, echo_lost, fixed,
               cpu=echo_cpu)  # fmt: skip
        if aiohttp_ok:
            report(f"aiohttp server, {opts.requests} GETs from {opts.concurrency} concurrent "
                   "clients (client's time):", web, web_lost)  # fmt: skip
        print()
        check_attribution(last["ebpf"])
        measure_parse(last["ebpf"], last.get("strace"))


def _revision(root: Path) -> str:
    done = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %s"],
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip()[:60] or "not a git checkout"


if __name__ == "__main__":
    main()
