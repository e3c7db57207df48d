"""The eBPF log parser on a real log recorded here, and its strace-format text read back.

fixtures/ebpf/tagged.ebpf was recorded on this machine with the real loader:
`syscorr-ebpf --out fixtures/ebpf/tagged.ebpf --string-limit 32 --syscalls <the network preset>
-- python fixtures/apps/tagged.py --tasks 2 --rounds 3` (no agent). The text the parser makes
must read back, through the same readers strace's text goes through, to the values in the
binary records.
"""

import ipaddress
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syscorr.parse.args import decode_string
from syscorr.parse.ebpf import parse_ebpf, read_log_info, to_text
from syscorr.parse.ebpf_format import Formatter
from syscorr.parse.ebpf_text import SOCK_INFO, quote, sock_decoration, sockaddr
from syscorr.parse.fds import parse_fd, parse_sockaddr
from syscorr.parse.records import ExitRecord, Syscall, Unparsed

LOG = Path(__file__).resolve().parent.parent / "fixtures" / "ebpf" / "tagged.ebpf"


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
