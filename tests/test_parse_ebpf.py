"""The eBPF log parser on real logs recorded here, and its strace-format text read back.

fixtures/ebpf/tagged.ebpf was recorded on this machine with the real loader:
`syscorr-ebpf --out fixtures/ebpf/tagged.ebpf --string-limit 32 --syscalls <the network preset>
-- python fixtures/apps/tagged.py --tasks 2 --rounds 3` (no agent; log version 1).
fixtures/ebpf/children.ebpf (log version 2: fork and exec records) likewise, by
`syscorr-ebpf --out fixtures/ebpf/children.ebpf --string-limit 32 --syscalls clone,clone3,vfork,
execve,dup2,pipe2,openat,socket,connect,accept4,bind,listen,write,recvfrom,exit_group,wait4 --
python fixtures/apps/children.py /tmp/spawn-out --exec-from-thread >/dev/null 2>&1 </dev/null`.
The text the parser makes must read back, through the same readers strace's text goes through,
to the values in the binary records; damaged copies of both logs (cut, overwritten, with bytes
put in: seeded random cases) parse to what they still hold, the damage counted where it is.
"""

import io
import ipaddress
import random
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syscorr.parse.args import decode_string
from syscorr.parse.ebpf import LOG_HEADER, REC, parse_ebpf, read_log_info, to_text
from syscorr.parse.ebpf_format import Formatter
from syscorr.parse.ebpf_text import SOCK_INFO, quote, sock_decoration, sockaddr
from syscorr.parse.fds import parse_fd, parse_sockaddr
from syscorr.parse.records import ExitRecord, Syscall, Unparsed

LOG = Path(__file__).resolve().parent.parent / "fixtures" / "ebpf" / "tagged.ebpf"
CHILDREN = LOG.with_name("children.ebpf")


@pytest.fixture(scope="module")
def records():
    return list(parse_ebpf(LOG))


def test_every_record_is_typed_and_nothing_is_unparsed(records):
    assert records and not [r for r in records if type(r) is Unparsed]
    assert {type(r) for r in records} == {Syscall, ExitRecord}
    assert records[-1] == ExitRecord(records[-1].lineno, records[-1].tid, records[-1].ts,
                                     "exited", 0, None)  # fmt: skip


def test_tagged_sends_carry_payload_address_and_fd_label(records):
    sends = [r for r in records if type(r) is Syscall and r.name == "sendto"]
    assert [r.data().data for r in sends] == [
        f"task=t{i} round={r}".encode() for r in range(3) for i in range(2)
    ]
    sink = sends[0].sockaddr()
    assert sink.family == "AF_INET" and sink.host == "127.0.0.1" and sink.port > 0
    assert all(r.retval == 15 and r.duration > 0 for r in sends)
    assert sends[0].fd().kind == "UDP"


def test_bound_socket_is_labelled_from_the_kernel(records):
    bound = next(r for r in records if type(r) is Syscall and r.name == "setsockopt")
    fd = bound.fd()
    sink = next(r for r in records if type(r) is Syscall and r.name == "sendto").sockaddr()
    assert fd.kind == "UDP" and fd.local.host == "127.0.0.1" and fd.local.port == sink.port


def test_loop_calls_read_like_straces(records):
    waits = [r for r in records if type(r) is Syscall and r.name == "epoll_wait"]
    assert waits and all(w.fd().kind == "anon_inode" and w.fd().name == "eventpoll" for w in waits)
    assert all(w.timeout_ns() == 0 or w.timeout_ns() == -1 or w.timeout_ns() > 0 for w in waits)
    pair = next(r for r in records if type(r) is Syscall and r.name == "socketpair")
    assert "UNIX" in pair.args  # what wakeups.SelfPipe looks for
    ctl = next(r for r in records if type(r) is Syscall and r.name == "epoll_ctl")
    assert "EPOLL_CTL_ADD" in ctl.args


def test_execve_path_is_read_at_entry(records):
    execve = next(r for r in records if type(r) is Syscall and r.name == "execve")
    assert execve.data().data.endswith(b"python") and execve.retval == 0


def test_exit_group_is_unfinished(records):
    last = [r for r in records if type(r) is Syscall][-1]
    assert last.name == "exit_group" and last.unfinished and last.ret == "?"


def test_log_info_has_names_and_counters():
    info = read_log_info(LOG)
    assert info.version == 1 and info.string_limit == 32
    assert "sendto" in info.names.values() and "read" not in info.names.values()
    assert sum(info.lost_per_cpu) == 0 and sum(info.written_per_cpu) > 10
    assert len(info.clocks) == 4 and info.clocks[3] > info.clocks[1]


def test_cut_log_yields_what_it_holds_then_one_unparsed(tmp_path):
    data = LOG.read_bytes()
    cut = tmp_path / "cut.ebpf"
    cut.write_bytes(data[: len(data) // 2 + 7])
    out = list(parse_ebpf(cut))
    assert type(out[-1]) is Unparsed and "cut inside a record" in out[-1].reason
    assert sum(type(r) is Syscall for r in out) > 10


def test_not_an_ebpf_log(tmp_path):
    bad = tmp_path / "x.ebpf"
    bad.write_bytes(b"hello world" * 10)
    out = list(parse_ebpf(bad))
    assert len(out) == 1 and type(out[0]) is Unparsed and "bad magic" in out[0].reason


def test_text_dump_is_one_line_per_record(records):
    lines = [to_text(r) for r in records]
    assert any("sendto(7<UDP:[" in line and '"task=t0 round=0"' in line for line in lines)
    assert all("\n" not in line for line in lines)


@given(st.binary(max_size=300), st.booleans())
def test_quote_reads_back(data, truncated):
    decoded = decode_string(quote(data, truncated))
    assert decoded.data == data and decoded.truncated == truncated


@pytest.mark.parametrize(
    "raw, family, host, port, path",
    [
        (struct.pack("<H", 2) + (5000).to_bytes(2, "big") + bytes([127, 0, 0, 1]) + bytes(8),
         "AF_INET", "127.0.0.1", 5000, None),
        (struct.pack("<H", 10) + (443).to_bytes(2, "big") + bytes(4)
         + ipaddress.IPv6Address("::1").packed + bytes(4), "AF_INET6", "::1", 443, None),
        (struct.pack("<H", 1) + b"/tmp/s.sock\0", "AF_UNIX", None, None, "/tmp/s.sock"),
        (struct.pack("<H", 1) + b"\0abstract", "AF_UNIX", None, None, "@abstract"),
    ],
)  # fmt: skip
def test_sockaddr_text_reads_back(raw, family, host, port, path):
    parsed = parse_sockaddr(sockaddr(raw))
    assert (parsed.family, parsed.host, parsed.port, parsed.path) == (family, host, port, path)


def _info(family, type_, lport, rport, laddr, raddr):
    return SOCK_INFO.pack(family, type_, 6, 1, lport, rport, 0, laddr.ljust(16, b"\0"),
                          raddr.ljust(16, b"\0"), 99)  # fmt: skip


def test_socket_decorations_read_back_like_yy():
    v4 = _info(2, 1, 40000, 5000, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    fd = parse_fd(f"7<{sock_decoration(v4)}>")
    assert fd.kind == "TCP" and fd.local.port == 40000 and fd.remote.port == 5000
    loop6 = ipaddress.IPv6Address("::1").packed
    v6 = _info(10, 1, 8080, 0, loop6, b"")
    fd = parse_fd(f"8<{sock_decoration(v6)}>")
    assert fd.kind == "TCPv6" and fd.local.host == "::1" and fd.remote is None
    unbound = _info(2, 2, 0, 0, b"", b"")
    assert sock_decoration(unbound) == "UDP:[99]"
    assert parse_fd(f"9<{sock_decoration(_info(1, 1, 0, 0, b'', b''), '/tmp/a')}>").path == "/tmp/a"


def test_fd_table_follows_dup_close_and_fork():
    fmt = Formatter()
    fmt.fd_info(10, 3, "anon_inode:[eventpoll]", b"")
    assert fmt.fd(10, 3) == "3<anon_inode:[eventpoll]>"
    fmt.call("dup", 10, (3, 0, 0, 0, 0, 0), 5, (b"", b"", b""), 0)
    assert fmt.fd(10, 5) == "5<anon_inode:[eventpoll]>"
    fmt.call("fork", 10, (0,) * 6, 11, (b"", b"", b""), 0)
    fmt.call("close", 10, (3, 0, 0, 0, 0, 0), 0, (b"", b"", b""), 0)
    assert fmt.fd(10, 3) == "3" and fmt.fd(11, 3) == "3<anon_inode:[eventpoll]>"
    args, ret = fmt.call("close", 10, (9, 0, 0, 0, 0, 0), -9, (b"", b"", b""), 0)
    assert (args, ret) == ("9", "-1")


# ---- fork and exec records (children.ebpf) ----


@pytest.fixture(scope="module")
def children():
    return list(parse_ebpf(CHILDREN))


def _writes(records, payload: bytes) -> list[Syscall]:
    return [r for r in records if type(r) is Syscall and r.name == "write"
            and r.data().data == payload]  # fmt: skip


def test_children_fds_come_from_the_fork_record(children):
    """The vfork child's dup2 of the pipe (before the parent's clone3 returned) and the
    posix_spawn child's open are its own; the fork child's socket is its parent's."""
    assert not [r for r in children if type(r) is Unparsed]
    (vfork,), (spawn,), (fork,) = (_writes(children, f"{s}-child".encode())
                                   for s in ("vfork", "spawn", "fork"))  # fmt: skip
    assert vfork.fd().kind == "pipe" and spawn.fd().path == "/tmp/spawn-out"
    assert fork.fd().kind == "TCP" and fork.fd().remote.host == "127.0.0.1"
    dup2 = next(r for r in children if type(r) is Syscall and r.name == "dup2")
    clone = next(r for r in children if type(r) is Syscall and r.name == "clone3"
                 and r.retval == dup2.tid)  # fmt: skip
    assert dup2.lineno < clone.lineno  # the child ran first: only the fork record came before
    assert dup2.args.startswith("4<pipe:[]>, 1") and dup2.ret == "1<pipe:[]>"


def test_execve_from_a_thread_is_whole_and_the_leader_superseded(children):
    execs = [r for r in children if type(r) is Syscall and r.name == "execve"]
    root = execs[0].tid
    (superseded,) = [r for r in children if type(r) is ExitRecord and r.kind == "superseded"]
    caller = next(r for r in execs if r.tid == superseded.code)
    assert superseded.tid == root and caller.tid != root
    assert caller.retval == 0 and caller.data().data.endswith(b"python")
    (after,) = _writes(children, b"after-exec")
    assert after.tid == root and after.lineno > superseded.lineno > caller.lineno - 2
    assert to_text(superseded).endswith(f"+++ superseded by execve in pid {caller.tid} +++")


# ---- damaged logs: counted where they are, never a traceback ----


def _offsets(data: bytes) -> list[int]:
    """Where each record of an undamaged log starts, and its end."""
    at, out = LOG_HEADER.size, []
    while at < len(data):
        out.append(at)
        size = struct.unpack_from("<I", data, at + 4)[0]
        assert size >= REC.size
        at += size
    return out + [at]


def _shape(records) -> list[tuple]:
    return [(type(r).__name__, getattr(r, "name", None), getattr(r, "args", None),
             getattr(r, "ret", None)) for r in records if type(r) is not Unparsed]  # fmt: skip


@pytest.mark.parametrize("log", [LOG, CHILDREN], ids=["v1", "v2"])
def test_damaged_logs_parse_to_what_they_hold(log, tmp_path):
    data = log.read_bytes()
    whole = _shape(parse_ebpf(log))
    bounds = _offsets(data)
    assert bounds[-1] == len(data)
    rng = random.Random(20240)
    path = tmp_path / "damaged.ebpf"
    for case in range(150):
        kind = case % 3
        if kind == 0:  # cut inside a record (as a crash leaves it)
            i = rng.randrange(1, len(bounds) - 1)
            cut = rng.randrange(bounds[i] + 1, bounds[i + 1])
            damaged = data[:cut]
        elif kind == 1:  # garbage put in between two records
            i = rng.randrange(1, len(bounds) - 1)
            garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
            damaged = data[: bounds[i]] + garbage + data[bounds[i] :]
        else:  # a record's header overwritten
            i = rng.randrange(1, len(bounds) - 2)
            damaged = bytearray(data)
            damaged[bounds[i] : bounds[i] + 8] = rng.randbytes(8)
            damaged = bytes(damaged)
        path.write_bytes(damaged)
        out = list(parse_ebpf(path))
        info = read_log_info(path)
        assert info.version in (1, 2)
        bad = [r for r in out if type(r) is Unparsed]
        if kind == 0:
            assert len(bad) == 1 and out[-1] is bad[0]
            assert f"log cut inside a record at byte {bounds[i]} " in bad[0].reason
            assert _shape(out) == _shape(parse_ebpf(_prefix(tmp_path, data, bounds[i])))
        elif kind == 1:
            assert [r.reason for r in bad] == [
                f"damaged record at byte {bounds[i]}: {len(garbage)} bytes skipped"
            ]
            assert _shape(out) == whole  # nothing after the garbage is lost
        else:
            assert bad and bad[0].reason.startswith(f"damaged record at byte {bounds[i]}: ")
        assert bad[0].lineno >= 1 and "\n" not in to_text(bad[0])


def _prefix(tmp_path: Path, data: bytes, end: int) -> Path:
    path = tmp_path / "prefix.ebpf"
    path.write_bytes(data[:end])
    return path


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0), st.booleans())
def test_any_bytes_anywhere_parse_without_error(junk, where, replace):
    data = CHILDREN.read_bytes()
    at = where % len(data)
    damaged = data[:at] + junk + data[at + (len(junk) if replace else 0) :]
    out = list(parse_ebpf(io.BytesIO(damaged)))
    assert all(type(r) in (Syscall, ExitRecord, Unparsed) for r in out)
    read_log_info(io.BytesIO(damaged))


def _rewrite(data: bytes, start: int, **changes) -> bytes:
    """`data` with the header of the record at `start` changed (REC's field names)."""
    names = ("kind", "nr", "size", "tgid", "tid", "ts", "dur", "ret", "a0", "a1", "a2", "a3", "a4",
             "a5", "len0", "len1", "len2", "flags")  # fmt: skip
    fields = dict(zip(names, REC.unpack_from(data, start), strict=True))
    fields.update(changes)
    return data[:start] + REC.pack(*fields.values()) + data[start + REC.size :]


def test_records_that_hold_together_but_lie_are_unparsed_where_they_are():
    """A header whose sizes add up but whose blobs are not what its kind says (a socket's
    kernel info 5 bytes long, a counter table for a million CPUs): that record is counted,
    with its byte offset; the rest of the log is read (it was a traceback)."""
    data = CHILDREN.read_bytes()
    bounds = _offsets(data)
    kinds = [struct.unpack_from("<H", data, at)[0] for at in bounds[:-1]]
    fdinfo, stats = bounds[kinds.index(3)], bounds[kinds.index(5)]
    len0 = struct.unpack_from("<H", data, fdinfo + REC.size - 8)[0]
    damaged = _rewrite(data, fdinfo, len0=len0 - 5, len2=5)
    damaged = _rewrite(damaged, stats, a0=10**6)
    out = list(parse_ebpf(io.BytesIO(damaged)))
    bad = [r for r in out if type(r) is Unparsed]
    assert len(bad) == 1 and bad[0].reason.startswith(f"cannot read the record at byte {fdinfo}:")
    assert _shape(out) == _shape(parse_ebpf(CHILDREN))
    info = read_log_info(io.BytesIO(damaged))
    assert info.lost_per_cpu == [] and "write" in info.names.values()
