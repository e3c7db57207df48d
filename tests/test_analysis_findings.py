"""Findings on hand-built streams run through the real Correlator: blocking syscalls on a loop
thread, long steps (beyond the blocking already reported inside them), forbidden syscalls."""

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
    (finding,) = findings_of(one_step(lambda s: s.syscall(SLEEP, us=120_000)))
    assert finding.kind == "blocking-syscall" and finding.syscall == "clock_nanosleep"
    assert finding.task == "worker" and finding.frame == Frame("work", "/app/app.py", 30)
    assert 120 * MS <= finding.duration_ns < 121 * MS
    assert finding.lineno == 2 and finding.iteration == 1
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
