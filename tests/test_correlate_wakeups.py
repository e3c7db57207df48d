"""Wake-up causes on hand-built streams run through the real Correlator: a woken task runs one
iteration after the callback that resolved its future, and the cause is chosen by what the task
awaited (its own ready fd, a timer, another task, the self-pipe a thread wrote to)."""

from syscorr.correlate.model import (
    WAKE_FD,
    WAKE_FIRST,
    WAKE_TASK,
    WAKE_THREAD,
    WAKE_TIMER,
    WAKE_UNKNOWN,
    WAKE_YIELDED,
    Frame,
)
from syscorr.correlate.wakeups import awaiting_kind
from tests.scenario import Scenario, steps

ASYNCIO = "/usr/lib/python3.12/asyncio"
SOCK7 = "7<TCP:[127.0.0.1:5000->127.0.0.1:40000]>"
SOCK8 = "8<TCP:[127.0.0.1:5000->127.0.0.1:40002]>"


def task_wakes(items) -> dict[str, list]:
    """task name -> the Wake of each of its steps, in order."""
    found: dict[str, list] = {}
    for step in steps(items):
        if step.kind == "task":
            found.setdefault(step.name, []).append(step.wake)
    return found


def reader_scenario(*, with_second_reader: bool = False) -> Scenario:
    """Handler tasks that wait in StreamReader._wait_for_data on their socket; the peer's data
    arrives, the transport callback reads it, the handler runs in the next iteration."""
    s = Scenario()
    handler = s.code("handle", "/app/server.py", 20)
    wait = s.code("StreamReader._wait_for_data", f"{ASYNCIO}/streams.py", 500)
    readers = [(1, "h7", SOCK7)] + ([(2, "h8", SOCK8)] if with_second_reader else [])
    for task, name, _ in readers:
        s.task_name(task, name)
    s.loop_wait()
    for task, _, sock in readers:
        s.task_step(
            task,
            handler,
            "start",
            waits_in=wait,
            body=lambda sock=sock: s.syscall(
                f"recvfrom({sock}, 0x7f, 256, 0, NULL, NULL) = "
                "-1 EAGAIN (Resource temporarily unavailable)"
            ),
        )
    ready = [(8, "EPOLLIN"), (7, "EPOLLIN")] if with_second_reader else [(7, "EPOLLIN")]
    s.loop_wait(ready)
    for fd, _ in ready:
        sock = SOCK7 if fd == 7 else SOCK8
        s.callback(
            "_SelectorSocketTransport._read_ready",
            body=lambda sock=sock: s.syscall(f'recvfrom({sock}, "hello", 256, 0, NULL, NULL) = 5'),
        )
    s.loop_wait()
    for task, _, _ in readers:
        s.task_step(task, handler, waits_in=wait)
    return s


def test_a_tasks_first_step_is_woken_by_its_creation():
    items = reader_scenario().correlate()
    assert task_wakes(items)["h7"][0].cause == WAKE_FIRST


def test_a_stream_reader_is_woken_by_readiness_of_its_own_socket():
    items = reader_scenario().correlate()
    first, second = task_wakes(items)["h7"]
    assert second.cause == WAKE_FD and second.fd == 7 and second.iteration == 2
    assert second.detail == "recvfrom 5 bytes in _SelectorSocketTransport._read_ready"
    (read_ready,) = [s for s in steps(items) if s.name == "_SelectorSocketTransport._read_ready"]
    assert second.step == read_ready.index  # the flow points at the callback that read


def test_two_readers_woken_in_one_iteration_each_get_their_own_fd():
    wakes = task_wakes(reader_scenario(with_second_reader=True).correlate())
    assert (wakes["h7"][1].cause, wakes["h7"][1].fd) == (WAKE_FD, 7)
    assert (wakes["h8"][1].cause, wakes["h8"][1].fd) == (WAKE_FD, 8)


def test_a_sleeping_task_is_woken_by_the_timer():
    s = Scenario()
    main = s.code("ticker", "/app/app.py")
    sleep = s.code("sleep", f"{ASYNCIO}/tasks.py", 600)
    s.task_name(1, "ticker")
    s.loop_wait()
    s.task_step(1, main, "start", waits_in=sleep)
    s.loop_wait([], timeout_ms=50, us=50_000)  # timed out: the timer is due
    s.callback("_set_result_unless_cancelled")
    s.loop_wait([], timeout_ms=0)
    s.task_step(1, main, waits_in=sleep)
    items = s.correlate()
    wake = task_wakes(items)["ticker"][1]
    (timer,) = [st for st in steps(items) if st.name == "_set_result_unless_cancelled"]
    assert wake.cause == WAKE_TIMER and wake.iteration == 2 and wake.step == timer.index


def test_a_task_waiting_on_an_event_is_woken_by_the_task_that_set_it():
    s = Scenario()
    setter, waiter = s.code("setter", "/app/app.py", 10), s.code("waiter", "/app/app.py", 40)
    event_wait = s.code("Event.wait", f"{ASYNCIO}/locks.py", 200)
    s.task_name(1, "setter")
    s.task_name(2, "waiter")
    s.loop_wait()
    s.task_step(2, waiter, "start", waits_in=event_wait)
    s.loop_wait([], timeout_ms=0)
    s.task_step(1, setter, "start", end="return")  # event.set(): schedules the waiter
    s.loop_wait([], timeout_ms=0)
    s.task_step(2, waiter, end="return")
    items = s.correlate()
    wake = task_wakes(items)["waiter"][1]
    (setter_step,) = [st for st in steps(items) if st.name == "setter"]
    assert wake.cause == WAKE_TASK and wake.by == "setter" and wake.step == setter_step.index


def test_sleep_zero_is_a_task_rescheduling_itself():
    s = Scenario()
    main = s.code("spinner", "/app/app.py")
    sleep0 = s.code("__sleep0", f"{ASYNCIO}/tasks.py", 650)
    s.task_name(1, "spinner")
    s.loop_wait()
    s.task_step(1, main, "start", waits_in=sleep0)
    s.loop_wait([], timeout_ms=0)
    s.task_step(1, main, end="return")
    assert task_wakes(s.correlate())["spinner"][1].cause == WAKE_YIELDED


def test_another_thread_wakes_the_loop_through_its_self_pipe():
    s = Scenario()
    main = s.code("main", "/app/app.py")
    to_thread = s.code("to_thread", f"{ASYNCIO}/threads.py", 12)
    selfpipe_r = "5<UNIX-STREAM:[8103->8102]>"
    selfpipe_w = "6<UNIX-STREAM:[8102->8103]>"
    s.task_name(1, "main")
    s.loop_wait()
    s.callback(
        "BaseSelectorEventLoop._read_from_self",  # learns which fd is the self-pipe
        body=lambda: s.syscall(
            f"recv({selfpipe_r}, 0x7f, 4096, 0) = -1 EAGAIN (Resource temporarily unavailable)"
        ),
    )
    s.task_step(1, main, "start", waits_in=to_thread)
    s.syscall(
        "clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|"
        "CLONE_SYSVSEM, exit_signal=0, stack=0x7f, stack_size=0x7ff}, 88) = 101"
    )
    s.syscall(f'send({selfpipe_w}, "\\0", 1, 0) = 1', tid=101)  # the worker's call_soon_threadsafe
    s.loop_wait([(5, "EPOLLIN")])
    s.callback(
        "BaseSelectorEventLoop._read_from_self",
        body=lambda: s.syscall(f'recv({selfpipe_r}, "\\0", 4096, 0) = 1'),
    )
    s.loop_wait([], timeout_ms=0)
    s.task_step(1, main, end="return")
    wake = task_wakes(s.correlate())["main"][1]
    assert wake.cause == WAKE_THREAD and wake.fd == 5 and wake.by == "thread 101"


def test_with_nothing_that_explains_it_the_cause_is_unknown():
    s = Scenario()
    main = s.code("main", "/app/app.py")
    fut = s.code("Future.__await__", "/app/app.py", 90)  # awaiting a plain future
    s.task_name(1, "main")
    s.loop_wait()
    s.task_step(1, main, "start", waits_in=fut)
    s.loop_wait([(9, "EPOLLIN")])  # an fd no callback of this trace handled
    s.loop_wait([(9, "EPOLLIN")])
    s.task_step(1, main, end="return")
    assert task_wakes(s.correlate())["main"][1].cause == WAKE_UNKNOWN


def frame(qualname: str, path: str) -> Frame:
    return Frame(qualname, path, 1)


def test_awaiting_kind_reads_the_await_chain_innermost_first():
    assert awaiting_kind(()) is None
    assert awaiting_kind((frame("sleep", f"{ASYNCIO}/tasks.py"),)) == "sleep"
    assert awaiting_kind((frame("StreamReader._wait_for_data", f"{ASYNCIO}/streams.py"),)) == "io"
    assert awaiting_kind((frame("Queue.get", f"{ASYNCIO}/queues.py"),)) == "sync"
    assert awaiting_kind((frame("to_thread", f"{ASYNCIO}/threads.py"),)) == "thread"
    assert awaiting_kind((frame("gather", f"{ASYNCIO}/tasks.py"),)) == "tasks"
    user_then_sleep = (frame("helper", "/app/app.py"), frame("sleep", f"{ASYNCIO}/tasks.py"))
    assert awaiting_kind(user_then_sleep) == "sleep"
    assert awaiting_kind((frame("helper", "/app/app.py"),)) == "future"
