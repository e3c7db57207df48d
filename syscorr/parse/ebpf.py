"""Parser for the eBPF backend's binary log (syscorr/capture/ebpf/record.h).

Contract: `parse_ebpf(path)` streams the log's records and yields, in log order (the order the
kernel handed them over: each thread's calls in its own order), one `Syscall` per recorded
call, with `args`/`ret` in strace's `-yy` text (see ebpf_format.py) so correlation, analysis
and every renderer read them unchanged; an `ExitRecord` per process that ended; an `Unparsed`
for a damaged or cut record (counted, never fatal: a log cut by a crash yields what it holds).
`lineno` is the record's 1-based position in the log (`python -m syscorr.parse.ebpf LOG` prints
the log as text with the same numbers). Timestamps are CLOCK_MONOTONIC ns. `read_log_info(path)`
returns the header, the syscall names, the fds open at start and the lost-event counters.
"""

import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from .ebpf_format import Formatter
from .ebpf_text import errno_of, signame
from .records import ExitRecord, Syscall, Unparsed

MAGIC = b"SYSCORR-EBPF\0\0\0\0"
LOG_HEADER = struct.Struct("<16sIIII")
REC = struct.Struct("<HHIIIQQq6QHHHH")
REC_SYSCALL, REC_EXIT, REC_FDINFO, REC_NAME, REC_STATS, REC_CLOCKS = 1, 2, 3, 4, 5, 6
REC_FORK, REC_EXEC = 7, 8
F_UNFINISHED, F_ENTRY = 1, 8
CHUNK = 1 << 22


class LogInfo(NamedTuple):
    version: int
    string_limit: int
    ring_bytes: int
    names: dict[int, str]
    lost_per_cpu: list[int]
    written_per_cpu: list[int]
    clocks: tuple[int, ...]  # realtime, monotonic at arming; realtime, monotonic at end


def _raw_records(path: Path) -> Iterator[tuple[int, tuple, memoryview] | tuple[int, None, str]]:
    """(ordinal, header fields, record bytes) per record; (ordinal, None, reason) for damage."""
    with open(path, "rb") as f:
        head = f.read(LOG_HEADER.size)
        if len(head) < LOG_HEADER.size or head[:16] != MAGIC:
            yield 0, None, "not a syscorr eBPF log (bad magic)"
            return
        buf = b""
        ordinal = 0
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            buf = buf + chunk if buf else chunk
            view = memoryview(buf)
            off, end = 0, len(buf)
            while end - off >= REC.size:
                fields = REC.unpack_from(view, off)
                size = fields[2]
                if size < REC.size or size > 1 << 20:
                    ordinal += 1
                    yield ordinal, None, f"damaged record (size {size}) at byte {off}"
                    return
                if end - off < size:
                    break
                ordinal += 1
                yield ordinal, fields, view[off : off + size]
                off += size
            buf = bytes(view[off:])
        if buf:
            yield ordinal + 1, None, f"log cut inside a record ({len(buf)} bytes at its end)"


def _blobs(fields: tuple, rec: memoryview) -> tuple[memoryview, memoryview, memoryview]:
    l0, l1, l2 = fields[14], fields[15], fields[16]
    o0 = REC.size
    o1 = o0 + l0
    o2 = o1 + l1
    return rec[o0:o1], rec[o1:o2], rec[o2 : o2 + l2]


def read_log_info(path: Path) -> LogInfo:
    with open(path, "rb") as f:
        head = f.read(LOG_HEADER.size)
    version = string_limit = ring = 0
    if len(head) == LOG_HEADER.size and head[:16] == MAGIC:
        _, version, _, string_limit, ring = LOG_HEADER.unpack(head)
    names: dict[int, str] = {}
    lost: list[int] = []
    written: list[int] = []
    clocks: tuple[int, ...] = ()
    for _, fields, rec in _raw_records(path):
        if fields is None:
            break
        kind = fields[0]
        if kind == REC_NAME:
            names[fields[1]] = bytes(_blobs(fields, rec)[0]).decode("ascii", "replace")
        elif kind == REC_STATS:
            cpus = fields[8]
            counts = struct.unpack_from(f"<{cpus * 3}Q", bytes(_blobs(fields, rec)[0]))
            lost, written = list(counts[:cpus]), list(counts[cpus : 2 * cpus])
        elif kind == REC_CLOCKS:
            clocks = tuple(fields[8:12])
    return LogInfo(version, string_limit, ring, names, lost, written, clocks)


def parse_ebpf(path: Path, source: int = 0) -> Iterator:
    """The log's records as syscorr records (see the module contract)."""
    names: dict[int, str] = {}
    fmt = Formatter()
    call = fmt.call
    entry_blob: dict[int, memoryview] = {}  # tid -> blob 0 written at entry (execve's path)
    for ordinal, fields, rec in _raw_records(path):
        if fields is None:
            yield Unparsed(ordinal, "", rec, source)
            return
        kind = fields[0]
        if kind == REC_SYSCALL:
            if 0 in fmt.fds:  # a version 1 log scanned the target's fds without its pid
                fmt.fds[fields[3]] = {**fmt.fds.pop(0), **fmt.fds.get(fields[3], {})}
            nr, tgid, tid, ts, dur, ret = (
                fields[1],
                fields[3],
                fields[4],
                fields[5],
                fields[6],
                fields[7],
            )
            name = names.get(nr) or f"syscall_{nr:#x}"
            if fields[17] & F_ENTRY:
                entry_blob[tid] = _blobs(fields, rec)[0]
                continue
            unfinished = bool(fields[17] & F_UNFINISHED)
            value = None if unfinished else ret
            blobs = _blobs(fields, rec)
            if entry_blob and tid in entry_blob:
                blobs = (entry_blob.pop(tid), blobs[1], blobs[2])
            try:
                args, ret_text = call(name, tgid, fields[8:14], value, blobs, fields[17])
            except (struct.error, ValueError, IndexError) as err:
                yield Unparsed(ordinal, name, f"cannot format {name}: {err}", source)
                continue
            if unfinished:
                yield Syscall(
                    ordinal, tid, ts, name, args, "?", None, None, None, None, True, source
                )
            elif ret < 0 and ret >= -4095:
                err, text, restart = errno_of(ret)
                yield Syscall(
                    ordinal,
                    tid,
                    ts,
                    name,
                    args,
                    "?" if restart else "-1",
                    None if restart else -1,
                    err,
                    text,
                    dur,
                    False,
                    source,
                )
            else:
                yield Syscall(
                    ordinal, tid, ts, name, args, ret_text, ret, None, None, dur, False, source
                )
        elif kind == REC_NAME:
            names[fields[1]] = bytes(_blobs(fields, rec)[0]).decode("ascii", "replace")
        elif kind == REC_FORK:
            fmt.forked(fields[3], fields[8], fields[10] == 1)
        elif kind == REC_EXEC:  # the thread that called execve (args[0]) took the group's id
            yield ExitRecord(ordinal, fields[3], fields[5], "superseded", fields[8], None, False,
                             source)  # fmt: skip
        elif kind == REC_FDINFO:
            data, _, info = _blobs(fields, rec)
            link = bytes(data).decode("utf-8", "surrogateescape")
            fmt.fd_info(fields[3], fields[8], link, bytes(info))
        elif kind == REC_EXIT:
            status = fields[7]
            if status & 0x7F:
                yield ExitRecord(
                    ordinal,
                    fields[4],
                    fields[5],
                    "killed",
                    None,
                    signame(status & 0x7F),
                    bool(status & 0x80),
                    source,
                )
            else:
                yield ExitRecord(
                    ordinal, fields[4], fields[5], "exited", status >> 8 & 0xFF, None, False, source
                )
            fmt.exited(fields[3])


def to_text(record) -> str:
    """One record as a line of strace-like text (for `python -m syscorr.parse.ebpf`)."""
    if type(record) is Syscall:
        stamp = f"{record.ts / 1e9:.9f}" if record.ts is not None else "?"
        if record.unfinished:
            head = f"{record.lineno:>7} {record.tid:<7} {stamp} {record.name}"
            return f"{head}({record.args} <unfinished ...>"
        err = f" {record.errno} ({record.errtext})" if record.errno else ""
        took = f" <{record.duration / 1e9:.9f}>" if record.duration is not None else ""
        head = f"{record.lineno:>7} {record.tid:<7} {stamp} {record.name}"
        return f"{head}({record.args}) = {record.ret}{err}{took}"
    if type(record) is ExitRecord:
        what = {
            "exited": f"exited with {record.code}",
            "superseded": f"superseded by execve in pid {record.code}",
        }.get(record.kind, f"killed by {record.signame}")
        return f"{record.lineno:>7} {record.tid:<7} +++ {what} +++"
    return f"{record.lineno:>7} ! {record.reason}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(
            "usage: python -m syscorr.parse.ebpf LOG  (prints an eBPF log as text)", file=sys.stderr
        )
        return 2
    try:
        for record in parse_ebpf(Path(argv[0])):
            print(to_text(record))
    except OSError as e:
        print(f"syscorr: cannot read {argv[0]}: {e.strerror}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
