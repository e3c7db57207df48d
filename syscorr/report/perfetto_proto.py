"""`syscorr report --format perfetto-proto`: the trace as native Perfetto TrackEvent protobuf.

Contract: `render(summary, stream, options)` (or the streaming `PerfettoProtoExport`, whose
`LayoutSink` spills the layout during the pass) lays the trace out, honouring
`options["filters"]`, and streams a `perfetto.protos.Trace` to the binary stream: a
sequence of length-delimited `TracePacket`s (field 1), all on trusted sequence 1, the first one
clearing incremental state. First the `TrackDescriptor`s: a process track per process (pid,
name), a thread track per thread (pid, tid, name), a named child track of the process per task,
a counter track per counter; tracks of a process are ranked in the layout's order. Then the
`TrackEvent`s in time order: SLICE_BEGIN/SLICE_END pairs for the slices (name, category, the
slice's args as debug annotations), `flow_ids` on the begin of a flow's source and
`terminating_flow_ids` on the begin of its target, COUNTER events with `double_counter_value`.
Packet timestamps are ns relative to the layout's origin (the same origin the JSON export writes
as origin_ns). The encoder is this module's few lines of protobuf wire format (no protobuf
runtime needed); tests decode the output with the official schema. Too-big exports are refused
like the JSON ones (PROTO_LIMIT).
"""

import heapq
import struct

from syscorr.report.export import LayoutExport, render_kept
from syscorr.report.perfetto_layout import StreamedLayout, guard_size

PROTO_LIMIT = 1 << 30  # the UI loads protobuf traces far bigger than JSON ones
PROTO_PER_SLICE = 60
PROTO_PER_POINT = 30
SEQUENCE = 1
COUNTER_UUID_BASE = 1 << 32

# field numbers, from perfetto/protos/perfetto/trace/*.proto
TRACE_PACKET = 1  # Trace.packet
PKT_TIMESTAMP, PKT_SEQUENCE_ID, PKT_TRACK_EVENT, PKT_SEQUENCE_FLAGS = 8, 10, 11, 13
PKT_TRACK_DESCRIPTOR = 60
SEQ_INCREMENTAL_STATE_CLEARED = 1
TD_UUID, TD_NAME, TD_PROCESS, TD_THREAD, TD_PARENT, TD_COUNTER = 1, 2, 3, 4, 5, 8
TD_CHILD_ORDERING, TD_SIBLING_RANK = 11, 12
CHILD_ORDERING_EXPLICIT = 3
PD_PID, PD_NAME = 1, 6
THD_PID, THD_TID, THD_NAME = 1, 2, 5
TE_ANNOTATIONS, TE_TYPE, TE_TRACK, TE_CATEGORIES, TE_NAME = 4, 9, 11, 22, 23
TE_DOUBLE_COUNTER, TE_FLOW_IDS, TE_TERMINATING_FLOW_IDS = 44, 47, 48
TYPE_SLICE_BEGIN, TYPE_SLICE_END, TYPE_COUNTER = 1, 2, 4
DA_BOOL, DA_INT, DA_DOUBLE, DA_STRING, DA_NAME = 2, 4, 5, 6, 10

VARINT, FIXED64, LENGTH = 0, 1, 2
_U64 = (1 << 64) - 1


def _encode_varint(n: int) -> bytes:
    n &= _U64  # negative int64 values are written as their two's complement
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = tuple(_encode_varint(n) for n in range(1 << 14))  # tags, lengths, small values


def varint(n: int) -> bytes:
    if 0 <= n < 16384:
        return _SMALL[n]
    return _encode_varint(n)


def field_varint(number: int, value: int) -> bytes:
    return _SMALL[number << 3 | VARINT] + (_SMALL[value] if 0 <= value < 16384 else varint(value))


def field_bytes(number: int, value: bytes) -> bytes:
    n = len(value)
    return _SMALL[number << 3 | LENGTH] + (_SMALL[n] if n < 16384 else varint(n)) + value


def field_str(number: int, value: str) -> bytes:
    return field_bytes(number, value.encode("utf-8", "replace"))


def field_fixed64(number: int, value: int) -> bytes:
    return varint(number << 3 | FIXED64) + struct.pack("<Q", value & _U64)


def field_double(number: int, value: float) -> bytes:
    return varint(number << 3 | FIXED64) + struct.pack("<d", value)


_NAMES: dict = {}  # annotation name -> its encoded field


def annotation(name: str, value) -> bytes:
    body = _NAMES.get(name)
    if body is None:
        body = _NAMES[name] = field_str(DA_NAME, name)
    if isinstance(value, bool):
        body += field_varint(DA_BOOL, int(value))
    elif isinstance(value, int):
        body += field_varint(DA_INT, value)
    elif isinstance(value, float):
        body += field_double(DA_DOUBLE, value)
    else:
        body += field_str(DA_STRING, str(value))
    return body


def packet(body: bytes, ts: int | None = None) -> bytes:
    head = field_varint(PKT_TIMESTAMP, ts) if ts is not None else b""
    inner = head + body + field_varint(PKT_SEQUENCE_ID, SEQUENCE)
    return field_bytes(TRACE_PACKET, inner)


def _descriptors(lay: StreamedLayout):
    yield packet(field_varint(PKT_SEQUENCE_FLAGS, SEQ_INCREMENTAL_STATE_CLEARED))
    process_uuid: dict = {}
    for rank, track in enumerate(lay.tracks):
        desc = field_varint(TD_UUID, track.uid)
        if track.kind == "process":
            process_uuid[track.pid] = track.uid
            proc = field_varint(PD_PID, track.pid) + field_str(PD_NAME, track.name)
            desc += field_bytes(TD_PROCESS, proc)
            desc += field_varint(TD_CHILD_ORDERING, CHILD_ORDERING_EXPLICIT)
        else:
            desc += field_varint(TD_PARENT, process_uuid[track.pid])
            desc += field_varint(TD_SIBLING_RANK, rank)
            if track.kind == "thread":
                thread = field_varint(THD_PID, track.pid) + field_varint(THD_TID, track.tid)
                desc += field_bytes(TD_THREAD, thread + field_str(THD_NAME, track.name))
            else:
                desc += field_str(TD_NAME, track.name)
        yield packet(field_bytes(PKT_TRACK_DESCRIPTOR, desc))
    for counter in lay.counters:
        desc = field_varint(TD_UUID, COUNTER_UUID_BASE + counter.uid)
        desc += field_varint(TD_PARENT, process_uuid[counter.pid])
        desc += field_str(TD_NAME, counter.name) + field_bytes(TD_COUNTER, b"")
        yield packet(field_bytes(PKT_TRACK_DESCRIPTOR, desc))


def _slice_events(lay: StreamedLayout):
    """(ts, packet) for every slice's begin and end, in time order: the slices come merged by
    start; an end is written when the first later begin (or the end of the trace) passes it."""
    origin = lay.origin
    ends: list = []  # (end, -depth, serial, track) of the slices begun and not yet ended
    serial = 0
    end_events: dict = {}
    for placed in lay.slices():
        s = placed.slice
        while ends and ends[0][0] <= s.start:
            end, _, _, uid = heapq.heappop(ends)
            yield end, packet(end_events[uid], end - origin)
        track = field_varint(TE_TRACK, s.track)
        if s.track not in end_events:
            end_events[s.track] = field_bytes(
                PKT_TRACK_EVENT, field_varint(TE_TYPE, TYPE_SLICE_END) + track
            )
        event = field_varint(TE_TYPE, TYPE_SLICE_BEGIN) + track + field_str(TE_NAME, s.name)
        event += field_str(TE_CATEGORIES, s.cat)
        for key, value in s.args.items():
            event += field_bytes(TE_ANNOTATIONS, annotation(key, value))
        for fid, _ in placed.flows_out:
            event += field_fixed64(TE_FLOW_IDS, fid)
        if placed.flow_in is not None:
            event += field_fixed64(TE_TERMINATING_FLOW_IDS, placed.flow_in[0])
        yield s.start, packet(field_bytes(PKT_TRACK_EVENT, event), s.start - origin)
        serial += 1
        heapq.heappush(ends, (s.end, -placed.depth, serial, s.track))
    while ends:
        end, _, _, uid = heapq.heappop(ends)
        yield end, packet(end_events[uid], end - origin)


def _counter_events(lay: StreamedLayout):
    for p in lay.points():
        event = field_varint(TE_TYPE, TYPE_COUNTER)
        event += field_varint(TE_TRACK, COUNTER_UUID_BASE + p.counter)
        event += field_double(TE_DOUBLE_COUNTER, float(p.value))
        yield p.ts, packet(field_bytes(PKT_TRACK_EVENT, event), p.ts - lay.origin)


def write_proto(lay: StreamedLayout, stream, chunk: int = 1 << 20, progress=None) -> None:
    buffer = bytearray()
    for data in _descriptors(lay):
        buffer += data
    written = 0
    events = heapq.merge(_slice_events(lay), _counter_events(lay), key=lambda pair: pair[0])
    for _, data in events:
        buffer += data
        written += 1
        if len(buffer) >= chunk:
            stream.write(bytes(buffer))
            buffer.clear()
            if progress is not None:
                progress(written)
    stream.write(bytes(buffer))


class PerfettoProtoExport(LayoutExport):
    """The streaming writer: a `LayoutSink` (slices merged by time) during the pass, the
    packets written from its spill."""

    order = "time"

    def write_layout(self, summary, lay, stream, progress) -> None:
        guard_size(lay, self.options, PROTO_PER_SLICE, PROTO_PER_POINT, PROTO_LIMIT,
                   "Perfetto protobuf trace")  # fmt: skip
        write_proto(lay, stream, progress=progress)


def render(summary, stream, options: dict) -> None:
    render_kept(PerfettoProtoExport(options), summary, stream)
