"""Findings on hand-built streams run through the real Correlator: blocking syscalls on a loop
thread, long steps (beyond the blocking already reported inside them), forbidden syscalls."""

import pytest

from syscorr.analysis.findings import MS, FindingCollector, Rules
from syscorr.correlate.model import Frame
from tests.scenario import Scenario

SLEEP = "clock_nanosleep(CLOCK_MONOTONIC, 0, {tv_sec=0, tv_nsec=120000000}, NULL) = 0"


def findings_of(s: Scenario, rules: Rules = Rules()) -> list:
    collector = FindingCollector(rules)
    for item in s.correlate():
        collector.add(item)
    return collector.findings


def one_step(body, name: str = "worker") -> Scenario:
    s = Scenario()
    main = s.code("work", "/app/app.py", 30)
    s.task_name(1, name)
    s.loop_wait()
    s.task_step(1, main, "start", end="return", body=lambda: body(s))
    s.loop_wait()
    return s


def test_a_blocking_call_in_a_task_step_names_the_task_and_the_line():
    # the CALL before the sleep gives the line (code 1 is `work`, offset 0 its line 30)
    (finding,) = findings_of(
        one_step(lambda s: (s.call(1, 0, 1, span_us=120_000), s.syscall(SLEEP, us=120_000)))
    )
    assert finding.kind == "blocking-syscall" and finding.syscall == "clock_nanosleep"
    assert finding.task == "worker" and finding.frame == Frame("work", "/app/app.py", 30)
    assert 120 * MS <= finding.duration_ns < 121 * MS
    assert finding.lineno == 2 and finding.iteration == 1 and finding.user_code
    assert finding.message().startswith("loop blocked 120.0 ms by clock_nanosleep() in task worker")


def test_under_the_threshold_is_no_finding():
    assert findings_of(one_step(lambda s: s.syscall(SLEEP, us=9_000))) == []
    assert len(findings_of(one_step(lambda s: s.syscall(SLEEP, us=9_000)), Rules(block_ns=MS))) == 1


def test_the_selector_wait_and_other_threads_never_block_the_loop():
    s = Scenario()
    s.loop_wait(us=500_000)  # an idle loop waits long: that is what it should do
    s.syscall("clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 101")
    s.syscall(SLEEP, us=120_000, tid=101)  # a worker thread may block
    s.loop_wait()
    assert findings_of(s) == []


def test_a_long_step_counts_only_what_blocking_findings_did_not_explain():
    cpu = findings_of(one_step(lambda s: s.wait(150_000)))
    assert [(f.kind, f.task) for f in cpu] == [("long-step", "worker")]
    assert 150 * MS <= cpu[0].duration_ns < 151 * MS
    # 120 ms asleep + 10 ms of CPU: the sleep is the finding, the step is not reported again
    mixed = findings_of(one_step(lambda s: (s.syscall(SLEEP, us=120_000), s.wait(10_000))))
    assert [f.kind for f in mixed] == ["blocking-syscall"]


def test_a_long_callback_is_a_finding_named_by_the_callback():
    s = Scenario()
    s.loop_wait()
    s.callback("Protocol.data_received", body=lambda: s.wait(150_000))
    s.loop_wait()
    (finding,) = findings_of(s)
    assert finding.kind == "long-step" and finding.callback == "Protocol.data_received"
    assert finding.task is None


def test_a_forbidden_syscall_is_reported_whatever_its_duration():
    rules = Rules(forbidden=frozenset({"clock_nanosleep"}))
    (finding,) = findings_of(one_step(lambda s: s.syscall(SLEEP, us=5)), rules)
    assert finding.kind == "forbidden-syscall"
    assert finding.message().startswith("forbidden syscall clock_nanosleep() on the loop thread")


# ---- issue 11: right on real frameworks, readable at scale ----

from syscorr.analysis.accounting import Accounts  # noqa: E402
from syscorr.analysis.findings import PHASE_STARTUP, counts, group_findings  # noqa: E402
from syscorr.correlate.engine import Correlator  # noqa: E402
from syscorr.correlate.names import with_final_names  # noqa: E402
from syscorr.trace.agentlog import EventKind  # noqa: E402

LIB = "/venv/lib/python3.13/site-packages/web/protocol.py"


def finish(s: Scenario, rules: Rules = Rules(), meta: dict | None = None):
    """The pipeline's pass over a scenario: (findings, accounts, kept items), final names."""
    correlator = Correlator([s.agent_log()])
    collector = FindingCollector(rules, {s.pid: meta or {}})
    accounts = Accounts()
    items = []
    for item in correlator.run(s.records()):
        collector.add(item)
        accounts.add(item)
        items.append(item)
    names = correlator.final_task_names()
    collector.finish(names)
    accounts.finish(names, {})
    return collector.findings, accounts, with_final_names(items, names)


def test_an_eager_step_inside_a_framework_step_is_one_finding_at_the_users_line():
    """Before: aiohttp's RequestHandler.start and its eager handler task both reported the same
    150 ms, at web_protocol.py (the framework's outer coroutine)."""
    s = Scenario()
    start = s.code("RequestHandler.start", LIB, 600)
    handler = s.code("handler", "/app/app.py", 20)
    s.loop_wait()

    def outer():
        s.event(EventKind.PY_START, handler, 2)  # the eager handler task runs in the step
        s.call(handler, 30, 2, span_us=150_000)  # line 23: a 150 ms CPU-bound call
        s.wait(150_000)
        s.event(EventKind.PY_RETURN, handler, 2)

    s.task_step(1, start, "resume", body=outer)
    s.loop_wait()
    findings, accounts, _ = finish(s)
    (finding,) = findings
    assert finding.kind == "long-step" and finding.frame == Frame("handler", "/app/app.py", 23)
    assert finding.user_code and finding.task == "task@2 handler"
    assert 150 * MS <= finding.place_ns <= finding.duration_ns < 152 * MS
    running = {t.name: t.running_ns for t in accounts.tasks.values()}
    assert running["task@1 RequestHandler.start"] < MS  # its own time only


def test_cpu_in_a_library_call_names_the_users_frame_running_it():
    s = Scenario()
    handler = s.code("handler", "/app/app.py", 20)
    render = s.code("Response.render", LIB, 100)
    s.loop_wait()
    burn = lambda: (s.call(render, 20, 1, span_us=130_000), s.wait(130_000))  # noqa: E731
    # resumed through its await (line 20) into the library's coroutine, which burns CPU
    s.task_step(1, handler, "resume", chain=(render,), body=burn)
    s.loop_wait()
    # the same, in a library coroutine the handler just started: its await's line is unknown
    s.task_step(
        1,
        handler,
        "resume",
        body=lambda: (
            s.event(EventKind.PY_START, render, 1),
            burn(),
            s.event(EventKind.PY_RETURN, render, 1),
        ),
    )
    s.loop_wait()
    resumed, started = finish(s)[0]
    assert resumed.frame == Frame("handler", "/app/app.py", 20) and resumed.user_code
    assert resumed.via == Frame("Response.render", LIB, 102)
    assert "app.py:20 (handler), running protocol.py:102 (Response.render)" in resumed.message()
    assert started.frame == Frame("handler", "/app/app.py", 0) and started.via == resumed.via


def test_a_syscall_restarted_after_a_signal_is_one_blocking_period():
    """Before: the 60 ms before SIGCHLD and the 90 ms after were two periods (or one of 60)."""

    def body(s):
        s.syscall("poll([{fd=8, events=POLLIN}], 1, 5000) = ? ERESTART_RESTARTBLOCK "
                  "(Interrupted by signal)", us=60_000)  # fmt: skip
        s.syscall("restart_syscall(<... resuming interrupted poll ...>) = 1", us=90_000)

    (finding,) = findings_of(one_step(body))
    assert finding.kind == "blocking-syscall" and finding.syscall == "poll"
    assert 150 * MS <= finding.duration_ns < 151 * MS and finding.restarts == 1
    assert "restarted 1×" in finding.message()


def test_a_call_that_could_not_wait_is_no_blocking_finding():
    assert findings_of(one_step(lambda s: s.syscall(
        "accept4(5, NULL, NULL, SOCK_CLOEXEC|SOCK_NONBLOCK) = -1 EAGAIN (Resource temporarily "
        "unavailable)", us=19_000))) == []  # fmt: skip
    assert findings_of(one_step(lambda s: s.syscall("fcntl(5, F_SETLK, {l_type=F_RDLCK}) = 0",
                                                    us=12_000))) == []  # fmt: skip
    waited = findings_of(one_step(lambda s: s.syscall("fcntl(5, F_SETLKW, {l_type=F_WRLCK}) = 0",
                                                      us=12_000)))  # fmt: skip
    assert [f.syscall for f in waited] == ["fcntl"]


def test_startup_in_library_code_is_shown_apart_the_users_counts():
    s = Scenario()
    serve = s.code("Server.serve", "/venv/lib/python3.13/site-packages/uvicorn/server.py", 80)
    lifespan = s.code("startup", "/app/app.py", 5)
    s.loop_wait(timeout_ms=0)
    s.task_step(1, serve, "start", body=lambda: s.wait(300_000))  # importing the app
    s.task_step(2, lifespan, "start", body=lambda: s.wait(200_000))  # the user's startup
    s.loop_wait(timeout_ms=-1)  # the loop waits for I/O at last: startup is over
    s.task_step(1, serve, "resume", body=lambda: s.wait(120_000))
    s.loop_wait()
    findings, _, _ = finish(s)
    assert [(f.phase, f.user_code, counts(f)) for f in findings] == [
        (PHASE_STARTUP, False, False),
        (PHASE_STARTUP, True, True),
        ("run", False, True),
    ]


def test_findings_fold_by_place_with_count_total_worst_and_median():
    s = Scenario()
    handler = s.code("handler", "/app/app.py", 40)
    s.loop_wait()
    for task, ms in ((1, 60), (2, 20), (3, 40)):
        s.task_step(
            task,
            handler,
            "start",
            end="return",
            body=lambda ms=ms, task=task: (
                s.call(handler, 0, task, span_us=ms * 1000),
                s.syscall(SLEEP, us=ms * 1000),
            ),
        )
        s.loop_wait()
    findings, _, _ = finish(s)
    (group,) = group_findings(findings)
    assert (group.count, group.worst_ns // MS, group.p50_ns // MS) == (3, 60, 40)
    assert 120 * MS <= group.total_ns < 121 * MS and group.syscalls == ("clock_nanosleep",)
    assert len(group.who) == 3 and group.where == "app.py:40 (handler)"


def test_a_task_has_one_name_its_last_and_asyncios_default_shows_its_coroutine():
    """Before: the worker thread's syscalls kept `Task-2`, the tasks table said `worker-0`."""
    s = Scenario()
    main = s.code("main", "/app/app.py", 3)
    worker = s.code("worker", "/app/app.py", 10)
    work = (7 << 32) | 9
    s.task_name(1, "Task-1")
    s.task_name(2, "Task-2")
    s.syscall("clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 101")
    s.loop_wait()
    s.task_step(1, main, "start")
    s.task_step(
        2, worker, "start", body=lambda: s.event(EventKind.WORK_SUBMIT, code=7, offset=9, task=2)
    )
    s.event(EventKind.WORK_START, task=work, tid=101)
    s.syscall('sendto(9, "x", 1, 0, NULL, 0) = 1', tid=101)
    s.event(EventKind.WORK_END, task=work, tid=101)
    s.loop_wait()
    s.task_step(2, worker, body=lambda: s.task_name(2, "worker-0"), end="return")
    s.loop_wait()
    _, accounts, items = finish(s)
    (send,) = [i for i in items if getattr(i, "call", None) and i.call.name == "sendto"]
    assert send.task_name == "worker-0"
    assert sorted(t.name for t in accounts.tasks.values()) == ["Task-1 main", "worker-0"]
    assert {i.name for i in items if type(i).__name__ == "StepItem"} == {"Task-1 main", "worker-0"}


def test_a_step_whose_time_is_mostly_the_tracers_stops_is_marked_so():
    """800 recorded syscalls that cost 100 µs each under the tracer (the agent's probe): of a
    ~120 ms step, ~80 ms is the tracer's; untraced it would be under the limit."""
    s = Scenario()
    handler = s.code("report", "/app/app.py", 20)
    s.loop_wait()
    read = 'pread64(5</db>, "x", 16, 24) = 16'
    s.task_step(1, handler, "start", body=lambda: [s.syscall(read, us=150) for _ in range(800)])
    s.loop_wait()
    (finding,), _, _ = finish(s, meta={"probe_close_ns": 100_000})
    assert finding.kind == "long-step" and finding.syscalls == 800
    assert finding.tracer_ns == 80 * MS and finding.mostly_tracer
    assert "[mostly tracer overhead: ≈80 ms of it]" in finding.message()
    (unmarked,), _, _ = finish(s, meta={"probe_close_ns": 10_000})
    assert not unmarked.mostly_tracer and "tracer" not in unmarked.message()


@pytest.mark.slow
def test_subprocess_run_woken_by_sigchld_is_one_blocking_period(tmp_path):
    """Real strace: the poll is cut by SIGCHLD at 50 ms and restarted; before, the report said
    'blocked 55 ms by poll()' plus a 100 ms 'long step' for the rest it could not see."""
    from syscorr.analysis.summary import summarize_trace
    from tests.conftest import APPS, run_syscorr

    out = tmp_path / "trace"
    done = run_syscorr("run", "-q", "-o", str(out), str(APPS / "restart.py"))
    assert done.returncode == 0, done.stderr.decode()
    log = (out / "strace.log").read_text()
    if "ERESTART_RESTARTBLOCK" not in log:
        pytest.skip("the poll was not interrupted this time (SIGCHLD came before or after it)")
    assert "restart_syscall(" in log  # recorded by the default syscall set
    findings = summarize_trace(out).findings
    line = [n for n, t in enumerate((APPS / "restart.py").read_text().splitlines(), 1)
            if t.endswith("# BLOCKS")][0]  # fmt: skip
    # the vfork that starts the child also blocks the loop; on a loaded machine it can pass the
    # threshold on its own, so only the poll's period and the absence of a long step are judged
    polls = [(f.kind, f.syscall, f.frame.line) for f in findings if f.syscall != "vfork"]
    assert polls == [("blocking-syscall", "poll", line)]
    (poll,) = [f for f in findings if f.syscall == "poll"]
    assert poll.restarts >= 1 and poll.duration_ns >= 140 * MS


def test_a_servers_startup_lasts_until_its_first_accept():
    """uvicorn resolves its host (the loop waits for a thread) before it binds: a loaded machine
    made its later `Server.startup` step a 130 ms finding on a clean run."""
    s = Scenario()
    serve = s.code("Server.startup", "/venv/lib/python3.13/site-packages/uvicorn/server.py", 80)
    s.loop_wait(timeout_ms=0)
    s.loop_wait(timeout_ms=-1)  # waiting for getaddrinfo's thread: not serving yet
    s.task_step(1, serve, "start", body=lambda: s.wait(130_000))  # create_server, listen
    s.loop_wait([(5, "EPOLLIN")])
    s.callback("BaseSelectorEventLoop._accept_connection", body=lambda: s.syscall(
        "accept4(5, NULL, NULL, SOCK_CLOEXEC|SOCK_NONBLOCK) = 9"))  # fmt: skip
    s.task_step(1, serve, "resume", body=lambda: s.wait(120_000))  # serving: this counts
    s.loop_wait()
    findings, _, _ = finish(s)
    assert [(f.phase, counts(f)) for f in findings] == [(PHASE_STARTUP, False), ("run", True)]


def test_io_on_a_non_blocking_socket_never_waited_however_long_strace_saw_it():
    """A loaded machine made asyncio's own sendto/close/write take 11 ms under strace: they are
    non-blocking (accept4 SOCK_NONBLOCK, FIONBIO) and cannot have waited; a blocking one can."""

    def body(s):
        s.syscall("accept4(5<TCP:[0.0.0.0:80]>, NULL, NULL, SOCK_CLOEXEC|SOCK_NONBLOCK) = "
                  "9<TCP:[127.0.0.1:80->127.0.0.1:40000]>")  # fmt: skip
        s.syscall('sendto(9<TCP:[127.0.0.1:80->127.0.0.1:40000]>, "x", 1, 0, NULL, 0) = 1',
                  us=11_000)  # fmt: skip
        s.syscall("ioctl(10<TCP:[7]>, FIONBIO, [1]) = 0")
        s.syscall('write(10<TCP:[7]>, "x", 1) = 1', us=12_000)
        s.syscall("close(9<TCP:[127.0.0.1:80->127.0.0.1:40000]>) = 0", us=11_000)
        s.syscall("ioctl(10<TCP:[7]>, FIONBIO, [0]) = 0")  # blocking again
        s.syscall('write(10<TCP:[7]>, "x", 1) = 1', us=12_000)
        s.syscall('read(11</data/file>, "x", 1) = 1', us=12_000)  # a file may wait on the disk

    found = findings_of(one_step(body))
    assert [(f.syscall, f.detail.split(",")[0]) for f in found] == [
        ("write", "10<TCP:[7]>"),
        ("read", "11</data/file>"),
    ]
