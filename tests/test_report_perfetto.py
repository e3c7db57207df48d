"""`syscorr report --format perfetto` over the committed traces: the JSON loads, slices nest per
track, every flow has both ends bound to slices, timestamps in µs are the model's ns, every
task gets a named track, counters are there, --since/--until cut the export, and an export too
big for the Perfetto UI is refused with a message that says how to cut it."""

import io
import json
import os
from collections import defaultdict
from decimal import Decimal

import pytest

from syscorr.correlate.model import StepItem, SyscallItem
from syscorr.errors import UsageError
from syscorr.report import perfetto
from syscorr.report.perfetto_tracks import LayoutSink
from syscorr.report.timeline import TimelineFilter
from tests.conftest import run_syscorr
from tests.golden_util import TRACES, load

NAMES = ["seed", "echo", "blocking"]


def export(name: str, options: dict | None = None):
    summary = load(name, keep=lambda item: True)
    out = io.StringIO()
    perfetto.render(summary, out, options or {"filters": TimelineFilter()})
    return summary, json.loads(out.getvalue(), parse_float=Decimal)


def ns(us_value) -> int:
    return int(Decimal(us_value) * 1000)


def slices_by_track(doc) -> dict:
    tracks = defaultdict(list)
    for e in doc["traceEvents"]:
        if e["ph"] == "X":
            start = ns(e["ts"])
            tracks[(e["pid"], e["tid"])].append((start, start + ns(e["dur"]), e))
    return tracks


def test_us_is_exact():
    assert perfetto.us(0) == "0"
    assert perfetto.us(1_234_567) == "1234.567"
    assert perfetto.us(5_000) == "5"
    assert perfetto.us(-1) == "-0.001"


@pytest.mark.parametrize("name", NAMES)
def test_json_loads_and_slices_nest_per_track(name):
    _, doc = export(name)
    assert doc["displayTimeUnit"] == "ns"
    tracks = slices_by_track(doc)
    assert tracks
    for key, slices in tracks.items():
        slices.sort(key=lambda s: (s[0], -s[1]))
        stack = []
        for start, end, event in slices:
            assert end >= start, event
            while stack and stack[-1][1] <= start:
                stack.pop()
            if stack:  # inside the enclosing slice: it must end within it
                assert end <= stack[-1][1], (key, event, stack[-1][2])
            stack.append((start, end, event))


@pytest.mark.parametrize("name", NAMES)
def test_every_flow_has_both_ends_on_slices(name):
    _, doc = export(name)
    tracks = slices_by_track(doc)
    ends = defaultdict(dict)
    for e in doc["traceEvents"]:
        if e["ph"] in "sf":
            assert e["ph"] not in ends[e["id"]], f"flow {e['id']} has two {e['ph']} events"
            ends[e["id"]][e["ph"]] = e
    assert ends, "no wake-up arrows at all"
    for fid, pair in ends.items():
        assert set(pair) == {"s", "f"}, f"flow {fid} lacks an end: {pair}"
        start, finish = pair["s"], pair["f"]
        assert ns(start["ts"]) <= ns(finish["ts"])
        assert finish.get("bp") == "e"
        source = tracks[(start["pid"], start["tid"])]
        assert any(s <= ns(start["ts"]) <= e for s, e, _ in source), f"flow {fid} source unbound"
        target = [
            ev
            for s, _, ev in tracks[(finish["pid"], finish["tid"])]
            if s == ns(finish["ts"]) and ev["cat"] == "task-step"
        ]
        assert target, f"flow {fid} does not end at the start of a task step"


def test_wake_causes_become_flows():
    _, echo = export("echo")
    _, blocking = export("blocking")
    causes = lambda doc: {e["cat"] for e in doc["traceEvents"] if e["ph"] == "s"}  # noqa: E731
    assert "fd-ready" in causes(echo)
    assert "timer" in causes(blocking)


@pytest.mark.parametrize("name", NAMES)
def test_timestamps_match_the_model(name):
    summary, doc = export(name)
    origin = doc["otherData"]["origin_ns"]
    calls = {}
    steps = {}
    for e in doc["traceEvents"]:
        if e["ph"] != "X":
            continue
        if e["cat"] == "syscall":
            calls[e["args"]["line"]] = e
        elif e["cat"] == "task-step":
            steps[(e["tid"], origin + ns(e["ts"]))] = e
    checked = 0
    task_tid = {}
    for e in doc["traceEvents"]:
        if e["ph"] == "M" and e["name"] == "thread_name" and e["args"]["name"].startswith("task "):
            task_tid.setdefault(e["args"]["name"][5:], set()).add(e["tid"])
    for item in summary.items:
        if type(item) is SyscallItem and not item.is_loop_wait and item.step is None:
            event = calls[item.call.lineno]
            assert origin + ns(event["ts"]) == item.call.ts
            assert ns(event["dur"]) == (item.call.duration or 0)
            assert event["name"] == item.call.name
            checked += 1
        elif type(item) is StepItem and item.kind == "task" and item.end is not None:
            name = summary.task_names[(item.pid, item.task)]
            match = [steps.get((tid, item.start)) for tid in task_tid[name]]
            event = next(m for m in match if m is not None)
            assert ns(event["dur"]) == item.end - item.start
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("name", NAMES)
def test_a_named_track_per_task_thread_and_process(name):
    summary, doc = export(name)
    meta = [e for e in doc["traceEvents"] if e["ph"] == "M"]
    threads = {e["args"]["name"] for e in meta if e["name"] == "thread_name"}
    for account in summary.accounts.tasks.values():
        assert f"task {account.name}" in threads
    assert any(t.startswith("thread ") and "(event loop)" in t for t in threads)
    assert any(e["name"] == "process_name" for e in meta)


def test_counters_for_loop_lag_and_bytes_in_flight():
    _, doc = export("echo")
    counters = {e["name"] for e in doc["traceEvents"] if e["ph"] == "C"}
    assert any(c.startswith("loop lag ms") for c in counters)
    assert any(c.startswith("bytes in flight 127.0.0.1:") for c in counters)
    flight = [e for e in doc["traceEvents"] if e["ph"] == "C" and "in flight" in e["name"]]
    assert all(e["args"]["value"] >= 0 for e in flight)
    assert any(e["args"]["value"] > 0 for e in flight)


def test_loop_waits_carry_their_ready_fds():
    _, doc = export("echo")
    waits = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"] == "loop-wait"]
    assert waits and all(e["name"].startswith(("epoll", "poll", "select")) for e in waits)
    assert any(e["args"]["ready_fds"].startswith("fd ") for e in waits)


def test_since_until_cut_the_export():
    summary, whole = export("echo")
    first, last = summary.accounts.first_ts, summary.accounts.last_ts
    span = (last - first) / 1e9
    since, until = span * 0.4, span * 0.6
    filt = TimelineFilter(since_s=since, until_s=until)
    _, part = export("echo", {"filters": filt})
    origin = part["otherData"]["origin_ns"]
    xs = [e for e in part["traceEvents"] if e["ph"] == "X"]
    assert 0 < len(xs) < len([e for e in whole["traceEvents"] if e["ph"] == "X"])
    for e in xs:
        t = (origin + ns(e["ts"]) - first) / 1e9
        assert since - 1e-9 <= t <= until + 1e-9


def test_too_big_is_refused_with_how_to_cut_it():
    with pytest.raises(UsageError, match="--since S --until S"):
        export("echo", {"filters": TimelineFilter(), "limit_bytes": 10_000})
    summary = load("echo", keep=lambda item: True)
    sink = LayoutSink()
    for item in summary.items:
        sink.observe(item)
    lay = sink.finish(summary)
    estimate = lay.estimated_bytes(perfetto.JSON_PER_SLICE, perfetto.JSON_PER_POINT)
    out = io.StringIO()
    perfetto.write_json(lay, out)
    actual = len(out.getvalue())
    assert 0.5 < estimate / actual < 2, (estimate, actual)  # the guard's estimate is sound


def test_cli_writes_a_file_and_refuses_when_too_big(tmp_path):
    env = dict(os.environ)
    target = tmp_path / "trace.json"
    done = run_syscorr("report", str(TRACES / "echo"), "--format", "perfetto", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert json.loads(target.read_text())["traceEvents"]
    env["SYSCORR_PERFETTO_LIMIT_MB"] = "0.01"
    done = run_syscorr("report", str(TRACES / "echo"), "-f", "perfetto", "-o", str(target), env=env)
    assert done.returncode == 2
    assert b"--since" in done.stderr and b"Traceback" not in done.stderr


@pytest.mark.parametrize("order", ["track", "time"])
def test_overlapping_slices_are_cut_to_nest(order):
    sink = LayoutSink(order=order)
    track = sink.track(("thread", 1, 1))
    sink._add(track, 10, 20, "step", "task-step", {})
    sink._add(track, 15, 25, "recvfrom", "syscall", {})  # overlaps the step's end
    sink._add(track, 20, 30, "next", "task-step", {})  # a sibling starting where step 1 ends
    sink._add(track, 10, 10, "instant", "syscall", {})
    lay = sink.finish(load("seed"))
    nested = [p.slice for p in lay.slices()]
    assert [(s.name, s.start, s.end) for s in nested] == [
        ("step", 10, 20),
        ("instant", 10, 10),
        ("recvfrom", 15, 20),
        ("next", 20, 30),
    ]
    assert nested[2].args == {"clipped": True} and nested[3].args == {}


@pytest.mark.parametrize("fmt", ["json", "html", "perfetto", "perfetto-proto"])
def test_an_imported_log_without_pids_or_times_exports(tmp_path, fmt):
    """A log recorded with plain `strace -o` (no -f, no timestamps) imported as a trace: meta has
    no command; every export still writes (nothing to place on a time axis is left out)."""
    trace = tmp_path / "imported"
    done = run_syscorr("import", str(TRACES.parent / "strace" / "no_f.log"), "-o", str(trace))
    assert done.returncode == 0, done.stderr
    target = tmp_path / "out"
    done = run_syscorr("report", str(trace), "-f", fmt, "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr and target.stat().st_size > 0
