"""FdTable on hand-written strace lines (-yy shapes as strace 6.1 prints them here): generations
on close and reuse, labels that improve as a socket connects, fds returned by calls, fd pairs,
dup, fork."""

from syscorr.correlate.fdtable import FdTable
from syscorr.parse import parse_strace

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
