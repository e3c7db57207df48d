"""`syscorr report --format perfetto-proto`: our protobuf encoder's output, decoded with the
official Perfetto schema (the `perfetto` package's generated classes), gives back the same
tracks, slices (name, category, start, end, args), flows and counters as the layout; events are
in time order and begins/ends pair up per track."""

import io
import math
from collections import defaultdict

import pytest
from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

from syscorr.errors import UsageError
from syscorr.report import perfetto_proto
from syscorr.report.perfetto_layout import layout
from syscorr.report.timeline import TimelineFilter
from tests.conftest import run_syscorr
from tests.golden_util import TRACES, load

NAMES = ["seed", "echo", "blocking"]


def decode(data: bytes) -> pb.Trace:
    trace = pb.Trace()
    trace.ParseFromString(data)
    return trace


def export(name: str, options: dict | None = None):
    summary = load(name, keep=lambda item: True)
    lay = layout(summary, (options or {}).get("filters"))
    out = io.BytesIO()
    perfetto_proto.render(summary, out, options or {})
    return lay, decode(out.getvalue())


def annotation_value(a):
    kind = a.WhichOneof("value")
    return getattr(a, kind)


@pytest.mark.parametrize(
    "value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1, -1, -(2**63), True, False, 1.5, "x", "é"]
)
def test_annotation_round_trips_through_the_official_schema(value):
    decoded = pb.DebugAnnotation()
    decoded.ParseFromString(perfetto_proto.annotation("k", value))
    assert decoded.name == "k"
    assert annotation_value(decoded) == value


@pytest.mark.parametrize("name", NAMES)
def test_decodes_back_to_the_same_slices(name):
    lay, trace = export(name)
    assert trace.packet[0].sequence_flags == perfetto_proto.SEQ_INCREMENTAL_STATE_CLEARED
    assert {p.trusted_packet_sequence_id for p in trace.packet} == {perfetto_proto.SEQUENCE}
    decoded = defaultdict(list)
    stacks = defaultdict(list)
    last_ts = -1
    for p in trace.packet:
        if not p.HasField("track_event"):
            continue
        assert p.timestamp >= last_ts, "events are not in time order"
        last_ts = p.timestamp
        ev = p.track_event
        if ev.type == pb.TrackEvent.TYPE_SLICE_BEGIN:
            args = {a.name: annotation_value(a) for a in ev.debug_annotations}
            entry = [p.timestamp, None, ev.name, list(ev.categories), args]
            entry += [list(ev.flow_ids), list(ev.terminating_flow_ids)]
            stacks[ev.track_uuid].append(entry)
            decoded[ev.track_uuid].append(entry)
        elif ev.type == pb.TrackEvent.TYPE_SLICE_END:
            assert stacks[ev.track_uuid], f"an end without a begin on track {ev.track_uuid}"
            stacks[ev.track_uuid].pop()[1] = p.timestamp
    assert not any(stacks.values()), "slices left open"
    expected_total = 0
    for uid, slices in lay.slices.items():
        expected_total += len(slices)
        got = decoded[uid]
        assert len(got) == len(slices)
        for s, (start, end, sname, cats, args, _, _) in zip(slices, got, strict=True):
            assert (start, end) == (s.start - lay.origin, s.end - lay.origin)
            assert sname == s.name and cats == [s.cat]
            assert args == s.args
    assert expected_total > 50


@pytest.mark.parametrize("name", NAMES)
def test_flows_and_tracks_decode(name):
    lay, trace = export(name)
    descriptors = {
        p.track_descriptor.uuid: p.track_descriptor
        for p in trace.packet
        if p.HasField("track_descriptor")
    }
    for track in lay.tracks:
        d = descriptors[track.uid]
        if track.kind == "process":
            assert d.process.pid == track.pid and d.process.process_name == track.name
        elif track.kind == "thread":
            assert (d.thread.pid, d.thread.tid, d.thread.thread_name) == (
                track.pid,
                track.tid,
                track.name,
            )
        else:
            assert d.name == track.name and descriptors[d.parent_uuid].process.pid == track.pid
    out_ids, in_ids = defaultdict(set), defaultdict(set)
    for p in trace.packet:
        if p.HasField("track_event"):
            for fid in p.track_event.flow_ids:
                out_ids[fid].add(p.track_event.track_uuid)
            for fid in p.track_event.terminating_flow_ids:
                in_ids[fid].add(p.track_event.track_uuid)
    assert set(out_ids) == set(in_ids) == {f.fid for f in lay.flows}
    for f in lay.flows:
        assert out_ids[f.fid] == {lay.by_sid[f.source].track}
        assert in_ids[f.fid] == {lay.by_sid[f.target].track}


def test_counters_decode():
    lay, trace = export("echo")
    names = {
        p.track_descriptor.uuid: p.track_descriptor.name
        for p in trace.packet
        if p.HasField("track_descriptor") and p.track_descriptor.HasField("counter")
    }
    assert any(n.startswith("loop lag ms") for n in names.values())
    values = [
        (p.timestamp, names[p.track_event.track_uuid], p.track_event.double_counter_value)
        for p in trace.packet
        if p.HasField("track_event") and p.track_event.type == pb.TrackEvent.TYPE_COUNTER
    ]
    assert len(values) == len(lay.points)
    counter_names = {c.uid: c.name for c in lay.counters}
    for (ts, name, value), point in zip(values, lay.points, strict=True):
        assert ts == point.ts - lay.origin and name == counter_names[point.counter]
        assert math.isclose(value, point.value)


def test_window_and_size_guard():
    summary = load("echo", keep=lambda item: True)
    span = (summary.accounts.last_ts - summary.accounts.first_ts) / 1e9
    part, _ = export("echo", {"filters": TimelineFilter(since_s=span / 2)})
    whole, _ = export("echo")
    assert 0 < part.slice_count() < whole.slice_count()
    with pytest.raises(UsageError, match="--since S --until S"):
        export("echo", {"limit_bytes": 1000})


def test_cli_writes_binary(tmp_path):
    target = tmp_path / "trace.pftrace"
    done = run_syscorr(
        "report", str(TRACES / "blocking"), "-f", "perfetto-proto", "-o", str(target)
    )
    assert done.returncode == 0, done.stderr
    trace = decode(target.read_bytes())
    assert any(p.HasField("track_event") for p in trace.packet)
