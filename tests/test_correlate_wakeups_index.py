"""The indexed wake-cause search (wakeups.Offer) names the same cause as the plain scan it
replaced (tests/wakeups_reference.py) for every task step: on the committed traces and on
generated streams of many tasks, sockets, callbacks, timers and self-pipe wake-ups."""

import random

import pytest

from syscorr.analysis.summary import summarize_trace
from syscorr.correlate import wakeups
from syscorr.correlate.model import WAKE_CAUSES, StepItem
from tests import wakeups_reference
from tests.golden_util import TRACES
from tests.scenario import Scenario

ASYNCIO = "/usr/lib/python3.12/asyncio"


@pytest.fixture
def compared(monkeypatch):
    """Every `explain` the engine makes is also asked of the reference, first (it does not
    claim fds); the list collects (reference, indexed) pairs."""
    pairs = []
    indexed = wakeups.explain

    def both(*args):
        reference = wakeups_reference.explain(*args)
        pairs.append((reference, indexed(*args)))
        return pairs[-1][1]

    monkeypatch.setattr(wakeups, "explain", both)
    return pairs


@pytest.mark.parametrize("name", ["echo", "seed", "blocking"])
def test_committed_traces_wake_the_same(compared, name):
    summary = summarize_trace(str(TRACES / name))
    assert summary.correlation_stats.steps > 0
    assert compared, "the engine asked for no wake cause"
    assert [ref for ref, _ in compared] == [new for _, new in compared]


def sock(fd: int) -> str:
    return f"{fd}<TCP:[127.0.0.1:5000->127.0.0.1:{40000 + fd}]>"


def generated(seed: int, tasks: int, iterations: int) -> Scenario:
    """A loop with `tasks` tasks, each on its own socket, that wait on streams, sleeps, locks or
    a thread; each iteration some sockets are ready (not always the waiting tasks' own, and
    sometimes twice), callbacks read them or use them, timers fire, a thread pokes the
    self-pipe, and a random subset of tasks runs."""
    rng = random.Random(seed)
    s = Scenario()
    handler = s.code("handle", "/app/server.py", 20)
    waits = [
        s.code("StreamReader._wait_for_data", f"{ASYNCIO}/streams.py", 500),
        s.code("sleep", f"{ASYNCIO}/tasks.py", 600),
        s.code("Lock.acquire", f"{ASYNCIO}/locks.py", 100),
        s.code("to_thread", f"{ASYNCIO}/threads.py", 20),
        s.code("Future.__await__", f"{ASYNCIO}/futures.py", 280),
        s.code("__sleep0", f"{ASYNCIO}/tasks.py", 650),
    ]
    fds = {task: 10 + task for task in range(1, tasks + 1)}
    pipe = 7  # the loop's self-pipe
    s.loop_wait()
    s.callback(
        "BaseSelectorEventLoop._read_from_self",
        body=lambda: s.syscall(
            f'recvfrom({pipe}<UNIX-STREAM:[1->2]>, "\\0", 4096, 0, NULL, NULL) = 1'
        ),
    )
    for task in fds:
        s.task_step(
            task,
            handler,
            "start",
            waits_in=rng.choice(waits),
            body=lambda task=task: s.syscall(f'sendto({sock(fds[task])}, "x", 1, 0, NULL, 0) = 1'),
        )
    for _ in range(iterations):
        ready = rng.sample(sorted(fds.values()), rng.randint(0, min(len(fds), 12)))
        if rng.random() < 0.2:
            ready.append(pipe)
        if ready and rng.random() < 0.2:
            ready.append(ready[0])  # one fd reported twice
        timed_out = not ready and rng.random() < 0.7
        s.loop_wait([(fd, "EPOLLIN") for fd in ready], timeout_ms=5 if timed_out else -1)
        for fd in ready:
            what = rng.random()
            if fd == pipe:
                s.callback(
                    "BaseSelectorEventLoop._read_from_self",
                    body=lambda: s.syscall(
                        f'recvfrom({pipe}<UNIX-STREAM:[1->2]>, "\\0", 4096, 0, NULL, NULL) = 1'
                    ),
                )
            elif what < 0.6:
                s.callback(
                    "_SelectorSocketTransport._read_ready",
                    body=lambda fd=fd: s.syscall(
                        f'recvfrom({sock(fd)}, "data", 256, 0, NULL, NULL) = 4'
                    ),
                )
            elif what < 0.8:
                s.callback(
                    "_SelectorSocketTransport._read_ready",
                    body=lambda fd=fd: s.syscall(f"getsockopt({sock(fd)}, SOL_SOCKET) = 0"),
                )
        if timed_out or rng.random() < 0.3:
            s.callback("TimerHandle._run" if rng.random() < 0.5 else "_set_result_unless_cancelled")
        if rng.random() < 0.3:
            s.callback("Future._schedule_callbacks")
        for task in rng.sample(sorted(fds), rng.randint(0, len(fds))):
            end = "return" if rng.random() < 0.02 else "yield"
            s.task_step(
                task,
                handler,
                "resume",
                end,
                waits_in=rng.choice(waits),
                body=lambda task=task: s.syscall(
                    f'recvfrom({sock(fds[task])}, "data", 256, 0, NULL, NULL) = 4'
                ),
            )
            if end == "return":
                del fds[task]
        if not fds:
            break
    return s


@pytest.mark.parametrize("seed", range(8))
def test_generated_streams_wake_the_same(compared, seed):
    s = generated(seed, tasks=6 + 4 * seed, iterations=40)
    items = s.correlate()
    causes = {i.wake.cause for i in items if type(i) is StepItem and i.wake is not None}
    assert len(compared) > 50
    assert [ref for ref, _ in compared] == [new for _, new in compared]
    assert causes <= set(WAKE_CAUSES)
    assert len(causes) >= 4, causes  # the streams exercise several causes


def test_differential_catches_a_wrong_cause(compared, monkeypatch):
    """The comparison can fail: an index that forgets claimed fds names other causes."""
    monkeypatch.setattr(wakeups.Offer, "free_hit", lambda self, claimed: None)
    generated(3, tasks=12, iterations=30).correlate()
    assert [ref for ref, _ in compared] != [new for _, new in compared]
