"""Parser for the eBPF backend's binary log (syscorr/capture/ebpf/record.h).

Contract: `parse_ebpf(log)` (a path, or a binary file opened by the caller) reads the log's
records and yields, in log order (the order the kernel handed them over: each thread's calls
in its own order), one `Syscall` per recorded call, with `args`/`ret` in strace's `-yy` text
(see ebpf_format.py) so correlation, analysis and every renderer read them unchanged; an
`ExitRecord` per process that ended, and one of kind "superseded" (as strace says it) when a
thread other than the leader execve'd; an `Unparsed` for damage, counted, never fatal, with its
byte offset in the reason: bytes where no record header holds together (a known kind, a size
that is its blobs') are skipped to the next header that does and is followed by another (one
`Unparsed` per damaged stretch), a record whose blobs are not what its kind needs is one
`Unparsed`, and a log cut by a crash yields what it holds and one `Unparsed` for the cut
record. `lineno` is the record's 1-based position in the log (`python -m syscorr.parse.ebpf
LOG` prints the log as text with the same numbers). Timestamps are CLOCK_MONOTONIC ns.
`read_log_info(log)` returns the header, the syscall names and the lost-event counters.
"""

import io
import mmap
import re
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NamedTuple

from .ebpf_format import Formatter
from .ebpf_text import errno_of, signame
from .records import ExitRecord, Syscall, Unparsed

MAGIC = b"SYSCORR-EBPF\0\0\0\0"
LOG_HEADER = struct.Struct("<16sIIII")
REC = struct.Struct("<HHIIIQQq6QHHHH")
REC_SYSCALL, REC_EXIT, REC_FDINFO, REC_NAME, REC_STATS, REC_CLOCKS = 1, 2, 3, 4, 5, 6
REC_FORK, REC_EXEC = 7, 8
MAX_KIND = REC_EXEC
F_UNFINISHED, F_ENTRY = 1, 8
_KIND_BYTES = re.compile(rb"[\x01-\x08]\x00")  # a record's first two bytes: its kind, LE


class LogInfo(NamedTuple):
    version: int
    string_limit: int
    ring_bytes: int
    names: dict[int, str]
    lost_per_cpu: list[int]
    written_per_cpu: list[int]
    clocks: tuple[int, ...]  # realtime, monotonic at arming; realtime, monotonic at end


def _holds(fields: tuple) -> bool:
    """Whether a record header holds together: a known kind, a size that is its blobs'."""
    blobs = fields[14] + fields[15] + fields[16]
    return 0 < fields[0] <= MAX_KIND and fields[2] == REC.size + blobs


def _resync(mm, start: int, end: int) -> int:
    """The first offset from `start` where a header holds and so does the one after it (or
    the log ends there); `end` when there is none. Candidates are found by their kind's bytes."""
    for match in _KIND_BYTES.finditer(mm, start, max(start, end - REC.size + 1)):
        at = match.start()
        fields = REC.unpack_from(mm, at)
        if not _holds(fields):
            continue
        after = at + fields[2]
        if after > end:
            continue
        if end - after < REC.size or _holds(REC.unpack_from(mm, after)):
            return at
    return end


@contextmanager
def _mapped(log: Path | BinaryIO):
    """The log's bytes (an mmap, or the bytes of a file that cannot be mapped)."""
    f = log if hasattr(log, "read") else open(log, "rb")
    try:
        try:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                yield mm
        except (OSError, ValueError, io.UnsupportedOperation):  # empty, or no mmap here
            f.seek(0)
            yield f.read()
    finally:
        if f is not log:
            f.close()


def _raw_records(log: Path | BinaryIO) -> Iterator[tuple]:
    """(ordinal, byte offset, header fields, record bytes) per record; (ordinal, byte offset,
    None, reason) for damage: bytes where no header holds are skipped to the next record that
    does (counted once), a record cut by the log's end ends it."""
    with _mapped(log) as mm:
        end = len(mm)
        if end < LOG_HEADER.size or mm[:16] != MAGIC:
            yield 0, 0, None, "not a syscorr eBPF log (bad magic)"
            return
        unpack, head = REC.unpack_from, REC.size
        off, ordinal = LOG_HEADER.size, 0
        while end - off >= head:
            fields = unpack(mm, off)
            size = fields[2]
            if not (
                0 < fields[0] <= MAX_KIND and size == head + fields[14] + fields[15] + fields[16]
            ):
                ordinal += 1
                nxt = _resync(mm, off + 1, end)
                yield ordinal, off, None, f"damaged record at byte {off}: {nxt - off} bytes skipped"
                off = nxt
                continue
            if end - off < size:
                break
            ordinal += 1
            yield ordinal, off, fields, memoryview(mm[off : off + size])
            off += size
        if off < end:
            reason = f"log cut inside a record at byte {off} ({end - off} bytes at its end)"
            yield ordinal + 1, off, None, reason


def _blobs(fields: tuple, rec: memoryview) -> tuple[memoryview, memoryview, memoryview]:
    l0, l1, l2 = fields[14], fields[15], fields[16]
    o0 = REC.size
    o1 = o0 + l0
    o2 = o1 + l1
    return rec[o0:o1], rec[o1:o2], rec[o2 : o2 + l2]


def read_log_info(log: Path | BinaryIO) -> LogInfo:
    with _mapped(log) as mm:
        head = bytes(mm[: LOG_HEADER.size])
    version = string_limit = ring = 0
    if len(head) == LOG_HEADER.size and head[:16] == MAGIC:
        _, version, _, string_limit, ring = LOG_HEADER.unpack(head)
    names: dict[int, str] = {}
    lost: list[int] = []
    written: list[int] = []
    clocks: tuple[int, ...] = ()
    for _, _, fields, rec in _raw_records(log):
        if fields is None:
            continue
        kind = fields[0]
        if kind == REC_NAME:
            names[fields[1]] = bytes(_blobs(fields, rec)[0]).decode("ascii", "replace")
        elif kind == REC_STATS:
            cpus, blob = fields[8], bytes(_blobs(fields, rec)[0])
            if cpus * 24 <= len(blob):  # u64 lost, written, no_slot per cpu
                counts = struct.unpack_from(f"<{cpus * 2}Q", blob)
                lost, written = list(counts[:cpus]), list(counts[cpus:])
        elif kind == REC_CLOCKS:
            clocks = tuple(fields[8:12])
    return LogInfo(version, string_limit, ring, names, lost, written, clocks)


def parse_ebpf(log: Path | BinaryIO, source: int = 0) -> Iterator:
    """The log's records as syscorr records (see the module contract)."""
    names: dict[int, str] = {}
    fmt = Formatter()
    call = fmt.call
    entry_blob: dict[int, memoryview] = {}  # tid -> blob 0 written at entry (execve's path)
    for ordinal, offset, fields, rec in _raw_records(log):
        if fields is None:
            yield Unparsed(ordinal, "", rec, source)
            continue
        try:
            if fields[0] != REC_SYSCALL:
                yield from _other(fmt, names, ordinal, fields, rec, source)
                continue
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
            args, ret_text = call(name, tgid, fields[8:14], value, blobs, fields[17])
        except (struct.error, ValueError, IndexError, OverflowError) as err:
            name = names.get(fields[1], "") if fields[0] == REC_SYSCALL else ""
            yield Unparsed(ordinal, name, f"cannot read the record at byte {offset}: {err}", source)
            continue
        if unfinished:
            yield Syscall(ordinal, tid, ts, name, args, "?", None, None, None, None, True, source)
        elif ret < 0 and ret >= -4095:
            err, text, restart = errno_of(ret)
            yield Syscall(ordinal, tid, ts, name, args, "?" if restart else "-1",
                          None if restart else -1, err, text, dur, False, source)  # fmt: skip
        else:
            yield Syscall(ordinal, tid, ts, name, args, ret_text, ret, None, None, dur, False,
                          source)  # fmt: skip


def _other(fmt: Formatter, names: dict, ordinal: int, fields: tuple, rec, source: int):
    """What a record other than a syscall's yields (an exit, a superseded leader) or notes."""
    kind = fields[0]
    if kind == REC_NAME:
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
        status = fields[7] & 0xFFFF
        if status & 0x7F:
            yield ExitRecord(ordinal, fields[4], fields[5], "killed", None,
                             signame(status & 0x7F), bool(status & 0x80), source)  # fmt: skip
        else:
            yield ExitRecord(ordinal, fields[4], fields[5], "exited", status >> 8 & 0xFF, None,
                             False, source)  # fmt: skip
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
