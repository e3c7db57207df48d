"""Accounts on hand-built streams run through the real Correlator: per task (steps, running and
waiting time, wake causes, bytes), per fd, per syscall name and per loop."""

from syscorr.analysis.accounting import Accounts
from syscorr.correlate.model import WAKE_FD, WAKE_FIRST
from tests.scenario import Scenario

ASYNCIO = "/usr/lib/python3.12/asyncio"
SOCK = "7<TCP:[127.0.0.1:5000->127.0.0.1:40000]>"


def accounts_of(s: Scenario) -> Accounts:
    accounts = Accounts()
    for item in s.correlate():
        accounts.add(item)
    accounts.finish()
    return accounts


def echo_scenario() -> Scenario:
    """A handler: first step sends 5 bytes and waits on its socket; the transport callback
    reads 12 bytes for it (one EAGAIN first); the second step runs 2 ms and returns."""
    s = Scenario()
    handler = s.code("handle", "/app/server.py", 20)
    wait = s.code("StreamReader._wait_for_data", f"{ASYNCIO}/streams.py", 500)
    s.task_name(1, "handler")
    s.loop_wait()
    s.task_step(
        1,
        handler,
        "start",
        waits_in=wait,
        body=lambda: s.syscall(f'sendto({SOCK}, "hello", 5, 0, NULL, 0) = 5'),
    )
    s.loop_wait([(7, "EPOLLIN")], us=4000)
    s.callback(
        "_SelectorSocketTransport._read_ready",
        body=lambda: (
            s.syscall(
                f"recvfrom({SOCK}, 0x7f, 256, 0, NULL, NULL) = -1 EAGAIN "
                "(Resource temporarily unavailable)"
            ),
            s.syscall(f'recvfrom({SOCK}, "hello world\\n", 256, 0, NULL, NULL) = 12'),
        ),
    )
    s.loop_wait([], timeout_ms=0)
    s.task_step(1, handler, end="return", body=lambda: s.wait(2000))
    s.loop_wait()
    return s


def test_a_tasks_steps_times_wakes_and_bytes():
    accounts = accounts_of(echo_scenario())
    (task,) = accounts.tasks.values()
    assert (task.name, task.steps, task.finished) == ("handler", 2, "return")
    assert task.wakes == {WAKE_FIRST: 1, WAKE_FD: 1}
    assert task.bytes_out == 5
    assert task.bytes_in == 12  # read by the transport callback from the task's own socket
    assert 2_000_000 <= task.running_ns < 2_200_000
    assert task.waiting_ns > 4_000_000  # suspended across the 4 ms wait and the callback


def test_per_fd_and_per_syscall_totals():
    accounts = accounts_of(echo_scenario())
    (sock,) = [fd for fd in accounts.fds.values() if fd.fd == 7]
    assert sock.label == "TCP 127.0.0.1:5000->127.0.0.1:40000"
    assert (sock.calls, sock.bytes_in, sock.bytes_out, sock.eagain) == (3, 12, 5, 1)
    assert sock.tasks == {"handler"}
    recv = accounts.syscalls["recvfrom"]
    assert (recv.calls, recv.errors, recv.unfinished) == (2, 1, 0)
    assert accounts.syscalls["epoll_wait"].calls == 4


def test_the_loops_worst_iteration_is_the_busiest():
    accounts = accounts_of(echo_scenario())
    (loop,) = accounts.loops.values()
    assert loop.iterations == 4
    assert loop.worst_iteration == 3  # the handler's 2 ms second step
    assert 2_000_000 <= loop.worst_busy_ns < 2_200_000
    assert accounts.threads[100].is_loop


def test_a_call_that_never_returned_is_counted_apart():
    s = Scenario(agent=False)
    s.syscall("exit_group(0) = ?")
    accounts = accounts_of(s)
    exit_group = accounts.syscalls["exit_group"]
    assert (exit_group.calls, exit_group.unfinished) == (0, 1)


def test_processes_are_named_by_their_command():
    from syscorr.analysis.accounting import ProcessAccount, execve_argv, short_command

    args = ('"/v/bin/python", ["/v/bin/python", "-m", "uvicorn", "app:app", "--workers", '
            '"2"], 0x7ffc3cc76e70 /* 40 vars */')  # fmt: skip
    assert execve_argv(args) == ["/v/bin/python", "-m", "uvicorn", "app:app", "--workers", "2"]
    assert short_command(execve_argv(args)) == "python -m uvicorn app:app --workers 2"
    spawn = ["/v/bin/python", "-B", "-c", "from multiprocessing.spawn import spawn_main; "
             "spawn_main(tracker_fd=9, pipe_handle=11)", "--multiprocessing-fork"]  # fmt: skip
    assert short_command(spawn, parent=7826) == "multiprocessing child of 7826"
    assert ProcessAccount(7831, 7826, spawn).label == "pid 7831 (multiprocessing child of 7826)"
    assert len(short_command(["python", "x" * 200])) == 60
