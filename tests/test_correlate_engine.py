"""Correlation on hand-built streams (tests/scenario.py, quick) and on real traces (marked slow:
real strace, real asyncio programs, real loopback).

Ground truth: the bundled programs put `task=<name>` in every payload they send, so each tagged
send must be attributed to the task its payload names.
"""

import importlib.util
import os
import re
import subprocess
from dataclasses import replace

import pytest

from syscorr.analysis.findings import MS, FindingCollector, Rules
from syscorr.correlate.engine import Correlator
from syscorr.correlate.model import (
    OWNER_CALLBACK,
    OWNER_LOOP,
    OWNER_PROCESS,
    OWNER_TASK,
    OWNER_THREAD,
    Frame,
    IterationItem,
    StepItem,
    SyscallItem,
)
from syscorr.trace import directory
from syscorr.trace.agentlog import EventKind, iter_agent_events
from syscorr.trace.load import open_trace
from tests import attribution
from tests.conftest import APPS, run_syscorr, syscorr_cmd
from tests.scenario import Scenario, iterations, steps, syscalls, the_call


def correlate_loaded(loaded):
    """One correlation pass over a loaded trace: its items, in the engine's order."""
    return Correlator(loaded.agent_logs, loaded.ignore_paths()).run(loaded.records())


def record(tmp_path_factory, name: str, *argv: str):
    out = tmp_path_factory.mktemp(name) / "trace"
    proc = run_syscorr("run", "-q", "-o", str(out), *argv)
    assert proc.returncode == 0, proc.stderr.decode()
    return open_trace(directory.resolve(out))


@pytest.fixture(scope="module")
def echo_trace(tmp_path_factory):
    return record(
        tmp_path_factory,
        "echo",
        str(APPS / "echo.py"),
        "--clients",
        "4",
        "--rounds",
        "20",
        "--quiet",
    )


@pytest.fixture(scope="module")
def seed_trace(tmp_path_factory):
    return record(tmp_path_factory, "seed", str(APPS / "seed.py"))


@pytest.fixture(scope="module")
def blocking_trace(tmp_path_factory):
    return record(tmp_path_factory, "blocking", str(APPS / "blocking.py"))


def items_of(loaded):
    return list(correlate_loaded(loaded))


@pytest.mark.slow
def test_echo_every_tagged_send_is_attributed_to_its_task(echo_trace):
    checked, wrong = attribution.check(items_of(echo_trace))
    assert checked == 4 * 20 * 2  # client sends and handler replies
    assert wrong == []


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("uvloop") is None, reason="uvloop not installed")
def test_echo_on_uvloop_every_tagged_send_is_attributed(tmp_path_factory):
    loaded = record(
        tmp_path_factory,
        "uvloop",
        str(APPS / "echo.py"),
        "--uvloop",
        "--clients",
        "3",
        "--rounds",
        "10",
        "--quiet",
    )
    checked, wrong = attribution.check(items_of(loaded))
    assert checked == 3 * 10 * 2
    assert wrong == []


@pytest.mark.slow
def test_subprocess_sends_are_attributed_in_the_child(tmp_path_factory):
    loaded = record(tmp_path_factory, "spawn", str(APPS / "spawn.py"), "--echo")
    items = items_of(loaded)
    checked, wrong = attribution.check(items)
    assert checked == 2 * 3 * 2  # the child echo: 2 clients x 3 rounds, sends and replies
    assert wrong == []
    pids = {item.pid for _, item in attribution.tagged_sends(items)}
    assert len(pids) == 1 and pids != {loaded.agent_logs[0].pid}  # made by the child


@pytest.mark.slow
def test_thread_sends_are_attributed_to_the_task_that_awaited_them(tmp_path_factory):
    loaded = record(tmp_path_factory, "to_thread", str(APPS / "to_thread.py"))
    items = items_of(loaded)
    checked, wrong = attribution.check(items)
    assert checked == 3
    assert wrong == []
    for _, item in attribution.tagged_sends(items):
        assert item.owner == "thread"  # made on a worker thread, on behalf of the task


@pytest.fixture(scope="module")
def tagged_trace(tmp_path_factory):
    """tagged.py recorded with strace and the target on one CPU: a ptrace stop is then a quick
    hand-over on that CPU, and each send lands some 10 µs after its step resumes."""
    out = tmp_path_factory.mktemp("tagged") / "trace"
    cpu = min(os.sched_getaffinity(0))
    proc = subprocess.run(
        syscorr_cmd(
            "run", "-q", "-o", str(out), str(APPS / "tagged.py"), "--tasks", "3", "--rounds", "20"
        ),
        capture_output=True,
        timeout=120,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return open_trace(directory.resolve(out))


@pytest.mark.slow
def test_tagged_udp_sends_are_attributed(tagged_trace):
    checked, wrong = attribution.check(items_of(tagged_trace))
    assert checked == 3 * 20
    assert wrong == []


@pytest.mark.slow
def test_a_clock_shift_of_50us_breaks_attribution(tagged_trace):
    """The ground-truth check can fail: each send of tagged.py comes some 10 µs after its step
    resumes, so an agent clock running 50 µs late puts the step's start after its send. (The
    other way the margin is the send's own time under ptrace, often more than 50 µs.)"""
    shift = 50_000
    shifted = []
    for log in tagged_trace.agent_logs:
        events = [e._replace(ts=e.ts + shift) for e in iter_agent_events(log.path)]
        assert events
        shifted.append(log._replace(events=events))
    items = Correlator(shifted, tagged_trace.ignore_paths()).run(tagged_trace.records())
    checked, wrong = attribution.check(list(items))
    assert checked == 3 * 20
    assert len(wrong) > checked // 2


@pytest.mark.slow
def test_seed_shows_both_coroutines_their_sleeps_and_timer_wakeups(seed_trace):
    items = items_of(seed_trace)
    steps = [i for i in items if type(i) is StepItem and i.kind == "task"]
    workers = {s.task for s in steps if s.resumed_at and s.resumed_at.qualname == "worker"}
    assert len(workers) == 2
    suspended_in_sleep = [s for s in steps if s.task in workers and s.awaiting == "sleep"]
    assert len(suspended_in_sleep) == 2
    resumed = [s for s in steps if s.task in workers and s.started_by == "resume"]
    assert len(resumed) == 2 and all(s.wake.cause == "timer" for s in resumed)
    waits = [
        i
        for i in items
        if type(i) is IterationItem and i.timed_out and (i.timeout_ns or 0) >= 40_000_000
    ]
    assert len(waits) == 2  # sleep(0.05) and the rest of sleep(0.1), as epoll_wait timeouts
    for wait in waits:
        assert wait.waited_ns >= wait.timeout_ns - 1_000_000
        assert wait.wait.name.startswith("epoll")


@pytest.mark.slow
def test_echo_handlers_are_woken_by_readiness_of_their_own_socket(echo_trace):
    items = items_of(echo_trace)
    handler_fds = {}
    for item in items:
        if (
            type(item) is SyscallItem
            and (item.task_name or "").startswith("handler-")
            and item.call.name in ("sendto", "write")
        ):
            handler_fds.setdefault(item.task_name, set()).add(item.fd_key[1])
    assert len(handler_fds) == 4
    woken = 0
    for step in items:
        if (
            type(step) is StepItem
            and step.name in handler_fds
            and step.started_by == "resume"
            and step.ended_by != "return"
        ):  # the last step wakes from wait_closed()
            assert step.wake.cause == "fd-ready", step
            assert {step.wake.fd} == handler_fds[step.name], step
            woken += 1
    assert woken >= 4 * 20


def blocks_lines() -> dict[str, int]:
    """The lines marked `# BLOCKS` in blocking.py, keyed by the function they are in."""
    found, function = {}, None
    for number, line in enumerate((APPS / "blocking.py").read_text().splitlines(), 1):
        match = re.match(r"(?:async )?def (\w+)", line)
        if match:
            function = match.group(1)
        if "# BLOCKS" in line:
            found[function] = number
    return found


@pytest.mark.slow
def test_blocking_example_has_one_finding_per_blocking_call(blocking_trace):
    # the program blocks for 100-150 ms; judged at 50 ms, a loaded machine's odd slow syscall
    # (a loopback connect descheduled for 12 ms) is not counted against the three
    collector = FindingCollector(Rules(block_ns=50 * MS))
    for item in correlate_loaded(blocking_trace):
        collector.add(item)
    expected = blocks_lines()
    assert set(expected) == {"sleeper", "reader", "fetcher"}
    got = {f.task: f.frame.line for f in collector.findings}
    assert got == expected
    assert all(f.kind == "blocking-syscall" for f in collector.findings)


@pytest.mark.slow
def test_clean_echo_has_no_finding(echo_trace):
    collector = FindingCollector()
    for item in correlate_loaded(echo_trace):
        collector.add(item)
    assert collector.findings == []


@pytest.mark.slow
def test_agent_syscalls_are_dropped(echo_trace):
    items = items_of(echo_trace)
    agent_dir = str(echo_trace.trace.agent_dir.resolve())
    assert not any(agent_dir in i.call.args for i in items if type(i) is SyscallItem)
    correlator = Correlator(echo_trace.agent_logs, echo_trace.ignore_paths())
    for _ in correlator.run(echo_trace.records()):
        pass
    assert correlator.stats.agent_syscalls > 0


@pytest.mark.slow
def test_without_agent_logs_the_loop_is_still_found(echo_trace):
    bare = replace(echo_trace, agent_logs=[])
    items = list(correlate_loaded(bare))
    assert any(type(i) is IterationItem for i in items)
    assert not any(type(i) is StepItem for i in items)


# ---- hand-built streams ----

SOCK = "7<TCP:[127.0.0.1:5000->127.0.0.1:40000]>"
SEND = f'sendto({SOCK}, "hi", 2, 0, NULL, 0) = 2'
SLEEP = "clock_nanosleep(CLOCK_MONOTONIC, 0, {tv_sec=0, tv_nsec=50000000}, NULL) = 0"


def test_owners_task_callback_loop_and_thread():
    s = Scenario()
    main = s.code("main", "/app/app.py", 3)
    s.task_name(1, "Task-1")
    s.loop_wait()
    s.task_step(1, main, "start", body=lambda: (s.syscall(SEND), s.task_name(1, "sender")))
    s.callback("_SelectorSocketTransport._write_ready", body=lambda: s.syscall(SEND))
    s.syscall("getpid() = 100")  # the loop's own code, between steps
    s.syscall("clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 101")
    s.syscall(SEND, tid=101)
    s.loop_wait()
    items = s.correlate()
    sends = [i for i in syscalls(items) if i.call.name == "sendto"]
    assert [(i.owner, i.task_name, i.callback) for i in sends] == [
        (OWNER_TASK, "sender", None),  # the name the task has when its step ends
        (OWNER_CALLBACK, None, "_SelectorSocketTransport._write_ready"),
        (OWNER_THREAD, None, None),
    ]
    # no CALL was recorded before the send: the coroutine without a line, never a guess
    assert sends[0].frame == Frame("main", "/app/app.py", 0) and sends[0].iteration == 1
    assert sends[0].fd_label == "TCP 127.0.0.1:5000->127.0.0.1:40000" and sends[0].nbytes == 2
    assert the_call(items, "getpid").owner == OWNER_LOOP
    assert [i.is_loop_wait for i in syscalls(items) if i.call.name == "epoll_wait"] == [True, True]


def test_a_loops_iteration_measures_its_wait_and_busy_time():
    s = Scenario()
    main = s.code("main")
    s.loop_wait(us=1000)
    s.task_step(1, main, "start", body=lambda: s.wait(3000))
    s.loop_wait([(7, "EPOLLIN")], timeout_ms=5)
    first, second = iterations(s.correlate())
    assert first.waited_ns == 1_000_000 and first.steps == 1
    assert 3_000_000 <= first.busy_ns < 3_100_000
    assert second.ready == ((7, "EPOLLIN"),) and second.timeout_ns == 5_000_000
    assert second.busy_ns is None  # the trace ended in it


def test_a_closed_loop_is_over_and_its_thread_blocks_no_loop_afterwards():
    s = Scenario()
    main = s.code("main")
    s.loop_wait()
    s.task_step(1, main, "start", end="return")
    s.loop_wait([], timeout_ms=0)
    s.syscall("close(3<anon_inode:[eventpoll]>) = 0")  # asyncio.run's loop.close()
    s.syscall(SLEEP, us=50_000)  # time.sleep after asyncio.run returned
    s.loop_wait()  # a second asyncio.run on the same thread is a loop again
    s.syscall(SLEEP, us=50_000)
    items = s.correlate()
    first, second = [i for i in syscalls(items) if i.call.name == "clock_nanosleep"]
    assert first.owner == OWNER_PROCESS and second.owner == OWNER_LOOP
    collector = FindingCollector()
    for item in items:
        collector.add(item)
    assert [f.lineno for f in collector.findings] == [second.call.lineno]


def test_the_agents_own_setup_syscalls_are_dropped():
    s = Scenario()
    s.syscall('openat(AT_FDCWD, "/x/agent-100.bin", O_RDWR|O_CREAT) = 4</x/agent-100.bin>')
    s.loop_wait()
    log = s.agent_log()
    first_ts = s.records()[0].ts
    log.meta.update(setup_start_ns=first_ts - 1, setup_end_ns=first_ts + 1)
    correlator = Correlator([log])
    items = list(correlator.run(s.records()))
    assert [i.call.name for i in syscalls(items)] == ["epoll_wait"]
    assert correlator.stats.agent_syscalls == 1


def test_executor_work_is_attributed_to_the_task_that_submitted_it():
    s = Scenario()
    main = s.code("main")
    work = (7 << 32) | 9  # id() of the work item, as the agent splits it over code and offset
    s.task_name(1, "fetcher")
    s.syscall("clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 101")
    s.loop_wait()
    s.task_step(1, main, "start",
                body=lambda: s.event(EventKind.WORK_SUBMIT, code=7, offset=9, task=1))
    s.event(EventKind.WORK_START, task=work, tid=101)
    s.syscall(SEND, tid=101)
    s.event(EventKind.WORK_END, task=work, tid=101)
    s.syscall(SEND, tid=101)
    s.loop_wait()
    items = s.correlate()
    on_behalf, after = [i for i in syscalls(items) if i.call.name == "sendto"]
    assert (on_behalf.owner, on_behalf.task_name) == (OWNER_THREAD, "fetcher")
    assert (after.owner, after.task_name) == (OWNER_THREAD, None)
    assert len(steps(items)) == 1


def test_without_an_agent_log_the_loop_is_found_from_its_waits():
    s = Scenario(agent=False)
    s.loop_wait()
    s.syscall(SLEEP, us=50_000)
    s.loop_wait()
    items = s.correlate()
    assert the_call(items, "clock_nanosleep").owner == OWNER_LOOP
    assert len(iterations(items)) == 2


def test_reading_the_rest_of_an_agent_log_invents_no_thread():
    """Before: the end of the pass read the logs "until thread -1", which made a thread (and a
    process) -1 that the JSON's statistics listed."""
    s = Scenario()
    main = s.code("main")
    s.loop_wait()
    s.task_step(1, main, "start", end="return")
    correlator = Correlator([s.agent_log()])
    list(correlator.run(s.records()))
    assert correlator.stats.processes == {100} and set(correlator.threads) == {100}
