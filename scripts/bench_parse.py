"""Benchmark the strace parser on a generated, realistic log.

Contract: `python scripts/bench_parse.py [--lines N]` writes a log of N lines (default 1M)
into a temporary directory (deleted afterwards) shaped like `strace -f -tt -T -yy` of an
asyncio server with worker threads: epoll_wait/sendto/recvfrom/accept4/futex calls, about a
fifth of them split into `<unfinished ...>`/`resumed>` pairs, a signal and thread exits.
It prints, for one core and the same file in the same run:
- a bare `for line in file` loop (the floor),
- parse only (`lex_strace`) and parse+pairing (`parse_strace`): lines/s, MB/s, ratio to bare,
- parse+pairing+stats (`ParseStats.observe`, as `syscorr report` reads a log),
- parse only and parse+pairing of the same log with the stamps `syscorr run` records
  (`--absolute-timestamps=ns` and -T in ns: "1795566123.553367914", "<0.000041693>"),
- peak traced memory (tracemalloc) of parse+pairing at N/5 and N lines (flat = streaming),
- NamedTuple vs slotted dataclass: time to build 1M Syscall-shaped records and bytes each.
"""

import argparse
import os
import random
import re
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from syscorr.parse.records import Syscall  # noqa: E402
from syscorr.parse.stats import ParseStats  # noqa: E402
from syscorr.parse.strace import lex_strace, parse_strace  # noqa: E402

LOOP_TID, WORKERS = 4100, (4101, 4102, 4103, 4104)
EPOLL = "3<anon_inode:[eventpoll]>"


def sock(fd: int, port: int) -> str:
    return f"{fd}<TCP:[127.0.0.1:{port}->127.0.0.1:8080]>"


def generate(path: Path, count: int, seed: int = 1) -> None:
    """Write `count` lines in the shape described in the module contract."""
    rng = random.Random(seed)
    ns = 35_000_000_000
    written = 0
    with open(path, "w") as out:
        while written < count:
            ns += rng.randrange(5_000, 90_000)
            stamp = f"{ns // 3_600_000_000_000:02d}:{ns // 60_000_000_000 % 60:02d}:" \
                    f"{ns // 1_000_000_000 % 60:02d}.{ns // 1000 % 1_000_000:06d}"  # fmt: skip
            fd = rng.randrange(7, 60)
            port = 40000 + fd
            kind = rng.random()
            if kind < 0.10:  # a split epoll_wait on the loop, a worker call in between
                worker = rng.choice(WORKERS)
                out.write(f"{LOOP_TID}  {stamp} epoll_wait({EPOLL},  <unfinished ...>\n")
                out.write(f'{worker}  {stamp} sendto({sock(fd, port)}, "task=w{fd} from-threa'
                          f'd\\n", 20, 0, NULL, 0) = 20 <0.000031>\n')  # fmt: skip
                out.write(f"{LOOP_TID}  {stamp} <... epoll_wait resumed>[{{events=EPOLLIN, "
                          f"data={{u32={fd}, u64={fd}}}}}], 4, -1) = 1 <0.002101>\n")  # fmt: skip
                written += 3
            elif kind < 0.40:
                out.write(f"{LOOP_TID}  {stamp} epoll_wait({EPOLL}, [{{events=EPOLLIN, data="
                          f"{{u32={fd}, u64={fd}}}}}], 4, 0) = 1 <0.000022>\n")  # fmt: skip
                written += 1
            elif kind < 0.65:
                out.write(f'{LOOP_TID}  {stamp} sendto({sock(fd, port)}, "task=client-{fd} r'
                          f'ound=1\\n", 22, 0, NULL, 0) = 22 <0.000041>\n')  # fmt: skip
                written += 1
            elif kind < 0.90:
                out.write(f'{LOOP_TID}  {stamp} recvfrom({sock(fd, port)}, "task=handler-4'
                          f'0{fd} echo-of=clien"..., 262144, 0, NULL, NULL) = 44 '
                          "<0.000019>\n")  # fmt: skip
                written += 1
            elif kind < 0.97:
                out.write(f"{LOOP_TID}  {stamp} recvfrom({sock(fd, port)}, 0x7f3a2c001000, "
                          "262144, 0, NULL, NULL) = -1 EAGAIN (Resource temporarily "
                          "unavailable) <0.000012>\n")  # fmt: skip
                written += 1
            elif kind < 0.995:
                worker = rng.choice(WORKERS)
                out.write(f"{worker}  {stamp} futex(0x55d0c2a4f0a8, FUTEX_WAIT_BITSET_PRIVATE|"
                          "FUTEX_CLOCK_REALTIME, 0, NULL, FUTEX_BITSET_MATCH_ANY) = 0 "
                          "<0.000107>\n")  # fmt: skip
                written += 1
            else:
                out.write(f"{LOOP_TID}  {stamp} --- SIGCHLD {{si_signo=SIGCHLD, si_code="
                          "CLD_EXITED, si_pid=4200, si_uid=0, si_status=0} ---\n")  # fmt: skip
                written += 1


CLOCK_STAMP = re.compile(r"^(\d+)  (\d\d):(\d\d):(\d\d)\.(\d{6}) ")
DURATION = re.compile(r"<(\d+\.\d{6})>$")
EPOCH = 1_795_500_000


def with_ns_stamps(source: Path, path: Path, seed: int = 2) -> None:
    """Rewrite a generated log with ns epoch stamps and ns durations (syscorr run's format)."""
    rng = random.Random(seed)

    def stamp(m: re.Match) -> str:
        secs = EPOCH + int(m[2]) * 3600 + int(m[3]) * 60 + int(m[4])
        return f"{m[1]}  {secs}.{m[5]}{rng.randrange(1000):03d} "

    def duration(m: re.Match) -> str:
        return f"<{m[1]}{rng.randrange(1000):03d}>"

    with open(source) as lines, open(path, "w") as out:
        for line in lines:
            out.write(DURATION.sub(duration, CLOCK_STAMP.sub(stamp, line.rstrip("\n"))) + "\n")


def timed(label: str, path: Path, run, lines: int, mbytes: float, bare: float | None) -> float:
    with open(path, encoding="utf-8", errors="replace") as f:
        start = time.perf_counter()
        run(f)
        elapsed = time.perf_counter() - start
    ratio = f"{elapsed / bare:5.1f}x bare" if bare else "     (floor)"
    print(f"{label:18} {lines / elapsed:12,.0f} lines/s {mbytes / elapsed:8.1f} MB/s  {ratio}")
    return elapsed


def drain(records) -> None:
    for _ in records:
        pass


def bare_loop(f) -> None:
    for _ in f:
        pass


def parse_with_stats(f) -> None:
    stats = ParseStats()
    drain(stats.observe(parse_strace(f, stats=stats)))


def peak_memory(path: Path) -> int:
    tracemalloc.start()
    with open(path, encoding="utf-8", errors="replace") as f:
        drain(parse_strace(f))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


@dataclass(slots=True, frozen=True)
class SyscallDataclass:
    lineno: int
    tid: int | None
    ts: int | None
    name: str
    args: str
    ret: str
    retval: int | None
    errno: str | None
    errtext: str | None
    duration: int | None
    unfinished: bool = False
    source: int = 0
    end_lineno: int | None = None
    resumed_only: bool = False


@dataclass(slots=True)
class SyscallMutableDataclass:
    lineno: int
    tid: int | None
    ts: int | None
    name: str
    args: str
    ret: str
    retval: int | None
    errno: str | None
    errtext: str | None
    duration: int | None
    unfinished: bool = False
    source: int = 0
    end_lineno: int | None = None
    resumed_only: bool = False


def record_types(count: int = 1_000_000) -> None:
    """Build and drop `count` records each way (as the streaming parser does); bytes each."""
    fields = (1, 4100, 10**18, "sendto", "7, ...", "22", 22, None, None, 41000, False, 0)
    full = (*fields, None, False)
    new = tuple.__new__

    def as_parser_builds() -> object:
        for _ in range(count):
            record = new(Syscall, full)
        return record

    def namedtuple_call() -> object:
        for _ in range(count):
            record = Syscall(*fields)
        return record

    def dataclass_call() -> object:
        for _ in range(count):
            record = SyscallDataclass(*fields)
        return record

    def mutable_dataclass_call() -> object:
        for _ in range(count):
            record = SyscallMutableDataclass(*fields)
        return record

    runs = {
        "NamedTuple via tuple.__new__ (the parser's way)": as_parser_builds,
        "dataclass(slots=True)": mutable_dataclass_call,
        "NamedTuple via Syscall(...)": namedtuple_call,
        "dataclass(slots=True, frozen=True)": dataclass_call,
    }
    for label, build in runs.items():
        start = time.perf_counter()
        record = build()
        elapsed = time.perf_counter() - start
        size = sys.getsizeof(record)
        print(f"  {label:50} {elapsed * 1e9 / count:6.0f} ns/record  {size} bytes/record")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big.log", Path(tmp) / "small.log"
        generate(big, opts.lines)
        generate(small, opts.lines // 5)
        lines = sum(1 for _ in open(big))
        mbytes = os.path.getsize(big) / 1e6
        print(f"log: {lines:,} lines, {mbytes:.1f} MB, Python {sys.version.split()[0]}, one core")
        bare = timed("bare for-loop", big, bare_loop, lines, mbytes, None)
        timed("parse only", big, lambda f: drain(lex_strace(f)), lines, mbytes, bare)
        timed("parse + pairing", big, lambda f: drain(parse_strace(f)), lines, mbytes, bare)
        timed("parse+pair+stats", big, parse_with_stats, lines, mbytes, bare)
        ns_log = Path(tmp) / "ns.log"
        with_ns_stamps(big, ns_log)
        ns_mbytes = os.path.getsize(ns_log) / 1e6
        print(f"same log, ns stamps and durations ({ns_mbytes:.1f} MB):")
        timed("parse only", ns_log, lambda f: drain(lex_strace(f)), lines, ns_mbytes, bare)
        timed("parse + pairing", ns_log, lambda f: drain(parse_strace(f)), lines, ns_mbytes, bare)
        small_peak, big_peak = peak_memory(small), peak_memory(big)
        print(f"peak memory (tracemalloc), parse+pairing: {lines // 5:,} lines "
              f"{small_peak / 1e3:.0f} kB, {lines:,} lines {big_peak / 1e3:.0f} kB")  # fmt: skip
    print("record types, building 1M records:")
    record_types()


if __name__ == "__main__":
    main()
