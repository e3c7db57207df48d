"""Test markers: the path the plugin opens, and spans read back from correlation items."""

import os

from syscorr.check.testspans import (
    MAX_QUOTED,
    TestSpans,
    is_marker,
    marker_path,
    parse_marker,
    short_nodeid,
)
from syscorr.correlate.model import OWNER_PROCESS, SyscallItem
from syscorr.parse.records import Syscall


def marker_item(phase, nodeid, ts, pid=10):
    args = f'AT_FDCWD, "{marker_path(phase, nodeid)}", O_RDONLY|O_CLOEXEC'
    call = Syscall(1, pid, ts, "openat", args, "-1", -1, "ENOENT", "No such file", 5_000)
    return SyscallItem(call, pid, OWNER_PROCESS, 0, None, None, None, None, None, False, None, None)


def test_marker_round_trip_with_awkward_node_ids():
    for nodeid in ['t.py::test_a[x-"y"]', "t.py::test_ü[a/b]", "t.py::test_a[\\n,%]"]:
        item = marker_item("begin", nodeid, 1)
        assert is_marker(item)
        assert parse_marker(item) == ("begin", nodeid)


def test_long_node_ids_are_cut_with_a_hash():
    long_id = "t.py::test_p[" + "x" * 500 + "]"
    short = short_nodeid(long_id)
    assert short != long_id and short.startswith("t.py::test_p[") and "...#" in short
    assert len(marker_path("begin", long_id)) < 256
    assert short_nodeid("t.py::ok") == "t.py::ok"
    assert short_nodeid(long_id) == short  # stable, so the plugin can map it back
    assert MAX_QUOTED < 256


def test_spans_pair_per_process_and_answer_by_time():
    items = [
        marker_item("begin", "a", 100),
        marker_item("end", "a", 200),
        marker_item("begin", "b", 300),
        marker_item("begin", "other", 310, pid=11),  # an xdist-like second process
        marker_item("end", "other", 500, pid=11),
        marker_item("end", "b", 400),
        marker_item("begin", "c", 600),  # the trace ended during c
    ]
    spans = TestSpans.from_items(reversed(items))  # order of items does not matter
    assert spans.nodeids() == ["a", "b", "other", "c"]
    assert spans.test_at(10, 150) == "a"
    assert spans.test_at(10, 250) is None
    assert spans.test_at(10, 350) == "b"
    assert spans.test_at(11, 350) == "other"
    assert spans.test_at(12, 350) == "other"  # a child process: latest test started
    assert spans.test_at(10, 10_000) == "c"
    assert spans.test_at(10, None) is None
    assert not TestSpans([])


def test_emit_makes_a_failing_open_and_never_raises(tmp_path):
    from syscorr.check.testspans import emit

    assert not os.path.exists("/nonexistent")
    emit("begin", "t.py::test_x")  # nothing to assert but that it returns
