"""FdTable on hand-written strace lines (-yy shapes as strace 6.1 prints them here): generations
on close and reuse, labels that improve as a socket connects, fds returned by calls, fd pairs,
dup, fork."""

import re
from pathlib import Path

from syscorr.correlate.fdtable import FdTable
from syscorr.parse import parse_strace
from syscorr.parse.fds import Address
from syscorr.parse.records import Syscall

PID = 100


def call(text: str):
    (record,) = parse_strace([f"{PID}  1795566123.000000000 {text}\n"])
    return record


def observe(table: FdTable, text: str, pid: int = PID):
    return table.observe(pid, call(text))


def test_a_returned_fd_starts_a_generation_and_a_closed_one_ends_it():
    table = FdTable()
    first, label = observe(table, "socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 7<TCP:[5909]>")
    assert first == (PID, 7, 1) and label == "TCP"
    assert observe(table, "close(7<TCP:[5909]>) = 0")[0] == first
    second, _ = observe(table, 'openat(AT_FDCWD, "/etc/hosts", O_RDONLY) = 7</etc/hosts>')
    assert second == (PID, 7, 2)  # the same number, another file: never mixed
    assert table.labels[second] == ("/etc/hosts", "file")
    assert observe(table, 'read(7</etc/hosts>, "127.0.0.1", 4096) = 9')[0] == second


def test_a_failed_close_keeps_the_fd_open():
    table = FdTable()
    key, _ = observe(table, "socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 7<TCP:[5909]>")
    observe(table, "close(7<TCP:[5909]>) = -1 EINTR (Interrupted system call)")
    assert observe(table, "close(7<TCP:[5909]>) = 0")[0] == key


def test_a_label_improves_when_the_socket_connects():
    table = FdTable()
    key, _ = observe(table, "socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 7<TCP:[5909]>")
    observe(
        table,
        "connect(7<TCP:[5909]>, {sa_family=AF_INET, sin_port=htons(36959), "
        'sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress)',
    )
    used, label = observe(
        table, 'sendto(7<TCP:[127.0.0.1:60768->127.0.0.1:36959]>, "hi", 2, 0, NULL, 0) = 2'
    )
    assert used == key and label == "TCP 127.0.0.1:60768->127.0.0.1:36959"
    # a later inode-only print does not make the label worse
    assert observe(table, "close(7<TCP:[5909]>) = 0")[1] == label


def test_accept_returns_a_connected_socket():
    table = FdTable()
    key, label = observe(
        table,
        "accept4(6<TCP:[127.0.0.1:36959]>, {sa_family=AF_INET, sin_port=htons(60768), "
        'sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = '
        "9<TCP:[127.0.0.1:36959->127.0.0.1:60768]>",
    )
    assert key == (PID, 9, 1) and label == "TCP 127.0.0.1:36959->127.0.0.1:60768"


def test_a_failed_call_that_returns_fds_starts_nothing():
    table = FdTable()
    assert observe(
        table,
        "accept4(6<TCP:[127.0.0.1:36959]>, 0x7fffe4826290, [16], SOCK_CLOEXEC) = "
        "-1 EAGAIN (Resource temporarily unavailable)",
    ) == ((PID, 6, 1), "TCP 127.0.0.1:36959")
    assert (PID, 9, 1) not in table.labels


def test_pipes_and_socketpairs_start_both_fds():
    table = FdTable()
    assert observe(table, "pipe2([4<pipe:[8101]>, 5<pipe:[8101]>], O_CLOEXEC) = 0") == (None, None)
    assert observe(table, 'write(5<pipe:[8101]>, "x", 1) = 1')[0] == (PID, 5, 1)
    observe(
        table,
        "socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, "
        "[6<UNIX-STREAM:[8103->8102]>, 7<UNIX-STREAM:[8102->8103]>]) = 0",
    )
    assert table.labels[(PID, 6, 1)][1] == "UNIX-STREAM"
    assert table.labels[(PID, 7, 1)][1] == "UNIX-STREAM"


def test_dup_takes_the_source_label_when_the_result_is_bare():
    table = FdTable()
    observe(table, 'openat(AT_FDCWD, "/tmp/log", O_WRONLY) = 4</tmp/log>')
    key, label = observe(table, "dup2(4</tmp/log>, 1) = 1")
    assert key == (PID, 1, 1) and label == "/tmp/log"


def test_a_forked_child_inherits_open_fds_with_their_labels():
    table = FdTable()
    observe(table, 'openat(AT_FDCWD, "/tmp/log", O_WRONLY) = 4</tmp/log>')
    observe(table, "socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 7<TCP:[5909]>")
    observe(table, "close(7<TCP:[5909]>) = 0")
    table.fork_process(PID, 200)
    key, label = observe(table, 'write(4, "x", 1) = 1', pid=200)
    assert key == (200, 4, 1) and label == "/tmp/log"
    assert observe(table, 'write(7, "x", 1) = 1', pid=200)[1] == "fd"  # closed before the fork


def test_calls_without_an_fd_argument_have_none():
    table = FdTable()
    assert observe(
        table, "clock_nanosleep(CLOCK_MONOTONIC, 0, {tv_sec=0, tv_nsec=1000}, NULL) = 0"
    ) == (
        None,
        None,
    )
    assert observe(table, "close(-1) = -1 EBADF (Bad file descriptor)") == (None, None)


# ---- labels without -yy: real strace 6.1 output (scripts/capture_fixtures.py: sockets_*) ----

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "strace"
# `7<TCP:[127.0.0.1:1->127.0.0.1:2]>`, `5</path>`, `4<socket:[123]>`: what -y/-yy add to a number
DECORATION = re.compile(r"(\d+)<[^\[<>]*(?:\[[^\]]*\])?>")
DATA_CALLS = ("sendto", "recvfrom")


def labels_of(lines) -> list[tuple[int, str, str, str]]:
    """(line number, call, label, kind) of each data call, through one FdTable."""
    table, found = FdTable(), []
    for record in parse_strace(lines):
        if not isinstance(record, Syscall):
            continue
        key, label = table.observe(PID, record)  # one process: the echo app
        if record.name in DATA_CALLS:
            found.append((record.lineno, record.name, label, table.kind(key)))
    return found


def test_without_fd_decoding_sockets_get_the_labels_yy_gives():
    """The same real -yy log, its decorations stripped (what strace prints without -y): the
    facts in the calls (socket, bind, connect, accept4, getsockname) give every send and receive
    the label strace's -yy text gave it."""
    lines = (FIXTURES / "sockets_yy.log").read_text().splitlines(keepends=True)
    stripped = [DECORATION.sub(r"\1", line) for line in lines]
    assert "<" not in "".join(stripped).replace("<unfinished", "").replace("<...", "")
    decoded, facts = labels_of(lines), labels_of(stripped)
    assert len(decoded) >= 10 and all(
        label.startswith("TCP 127.0.0.1:") for *_, label, _ in decoded
    )
    assert [(n, c, label) for n, c, label, _ in facts] == [
        (n, c, label) for n, c, label, _ in decoded
    ]


def test_with_y_sockets_get_connected_labels_and_kinds():
    """-y prints `7<socket:[inode]>`: the kind comes from socket(), the addresses from the calls,
    and both ends of each connection name each other."""
    found = labels_of((FIXTURES / "sockets_y.log").read_text().splitlines(keepends=True))
    assert len(found) >= 10
    ends = set()
    for _, _, label, kind in found:
        assert kind == "TCP" and re.fullmatch(r"TCP 127\.0\.0\.1:\d+->127\.0\.0\.1:\d+", label)
        ends.add(tuple(label[4:].split("->")))
    assert all((remote, local) in ends for local, remote in ends)


def test_the_self_pipe_is_a_unix_socket_without_yy():
    table = FdTable()
    observe(
        table,
        "socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, [4<socket:[77]>, 5<socket:[78]>]) = 0",
    )
    key, label = observe(table, 'sendto(5<socket:[78]>, "\\0", 1, 0, NULL, 0) = 1')
    assert table.kind(key) == "UNIX-STREAM" and label == "UNIX-STREAM"


def test_a_backend_without_strace_text_reports_facts():
    """What an eBPF backend knows: fds, socket families, addresses at bind/connect/accept."""
    table = FdTable()
    listener = table.socket(PID, 6, "AF_INET", "SOCK_STREAM")
    table.bound(PID, 6, Address("127.0.0.1", 5000))
    conn = table.accepted(PID, 6, 9, Address("127.0.0.1", 40000))
    assert table.label(listener) == "TCP 127.0.0.1:5000"
    assert table.label(conn) == "TCP 127.0.0.1:5000->127.0.0.1:40000" and table.kind(conn) == "TCP"
    client = table.socket(PID, 7, "AF_INET6", "SOCK_STREAM|SOCK_NONBLOCK")
    table.connected(PID, 7, Address("::1", 80))
    table.bound(PID, 7, Address("::1", 41000))
    assert table.label(client) == "TCPv6 [::1]:41000->[::1]:80"
    pipe = table.opened(PID, 3, "pipe")
    assert table.closed(PID, 3) == pipe and table.used(PID, 3) != pipe  # a new generation
    dup = table.duplicated(PID, 9, 1)
    assert table.label(dup) == table.label(conn)
    unix = table.socket(PID, 11, "AF_UNIX", "SOCK_DGRAM")
    table.connected(PID, 11, path="/run/log.sock")
    assert table.label(unix) == "UNIX-DGRAM /run/log.sock"


def test_files_get_their_path_without_y():
    table = FdTable()
    key, label = observe(table, 'openat(AT_FDCWD, "/etc/hosts", O_RDONLY|O_CLOEXEC) = 3')
    assert label == "/etc/hosts" and table.kind(key) == "file"
    assert observe(table, "epoll_create1(EPOLL_CLOEXEC) = 4")[1] == "anon_inode:eventpoll"


def test_inherited_fds_seed_the_first_process():
    """meta.json's inherited_fds (read from /proc before the program started): an inherited
    listening socket labels the connections accepted from it."""
    table = FdTable({"3": {"kind": "TCP", "local": "127.0.0.1:8080"}, "1": {"kind": "pipe"}})
    key, label = observe(
        table,
        "accept4(3<socket:[9]>, {sa_family=AF_INET, sin_port=htons(50000), "
        'sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 7<socket:[10]>',
    )
    assert label == "TCP 127.0.0.1:8080->127.0.0.1:50000" and table.kind(key) == "TCP"
    assert observe(table, 'write(1, "x", 1) = 1')[1] == "pipe"
    assert observe(table, 'write(1, "x", 1) = 1', pid=PID + 1)[1] == "fd"  # only the first
