"""`syscorr report --format perfetto`: the trace as Chrome trace-event JSON for ui.perfetto.dev.

Contract: `render(summary, stream, options)` lays the trace out (`perfetto_tracks.layout`,
honouring `options["filters"]`: --pid/--task/--since/--until) and streams one JSON object:
    {"displayTimeUnit": "ns", "otherData": {... "origin_ns": N ...}, "traceEvents": [...]}
with, per process `pid`: metadata events naming the process and each thread / task track
(task tracks get synthetic tids above 2^30); "X" complete events for slices (`ts`/`dur` in µs
relative to `origin_ns`, exact to the ns: "12.345"); "C" counter events; flow pairs "s" (at
the start of the causing slice) and "f" with "bp": "e" (at the start of the woken step) sharing
an `id` (each written beside its slice). `PerfettoJsonExport` is the streaming form: a
`LayoutSink` spills the layout during the pass and the events are written one per line from it,
so memory holds neither the layout nor the text. Before writing, an export bigger than the
Perfetto UI opens (JSON_LIMIT, or $SYSCORR_PERFETTO_LIMIT_MB, or options["limit_bytes"]) is
refused with a UsageError that says how to cut the trace.
"""

import json
from json.encoder import encode_basestring_ascii as _quote

from syscorr.report.export import LayoutExport, render_kept
from syscorr.report.perfetto_layout import StreamedLayout, guard_size
from syscorr.report.safe import json_inert

JSON_LIMIT = 400 << 20  # the UI parses JSON in a wasm heap; beyond a few hundred MB it fails
JSON_PER_SLICE = 110  # bytes of an "X" event apart from its name and argument text
JSON_PER_POINT = 90

_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def _dumps(value) -> str:
    return json_inert(_encode(value))


def _name(text: str) -> str:
    return json_inert(_quote(text))


def us(ns: int) -> str:
    """ns as an exact decimal µs number: 1234567 -> "1234.567"."""
    sign = "-" if ns < 0 else ""
    q, r = divmod(abs(ns), 1000)
    return f"{sign}{q}.{r:03d}" if r else f"{sign}{q}"


class PerfettoJsonExport(LayoutExport):
    """The streaming writer: a `LayoutSink` during the pass, the JSON written from its spill."""

    def write_layout(self, summary, lay, stream, progress) -> None:
        guard_size(lay, self.options, JSON_PER_SLICE, JSON_PER_POINT, JSON_LIMIT,
                   "Perfetto JSON file")  # fmt: skip
        write_json(lay, stream, summary.meta, progress)


def render(summary, stream, options: dict) -> None:
    render_kept(PerfettoJsonExport(options), summary, stream)


def _metadata(lay: StreamedLayout):
    for order, track in enumerate(lay.tracks):
        pid, tid = track.pid, track.tid
        if track.kind == "process":
            yield {"ph": "M", "name": "process_name", "pid": pid, "args": {"name": track.name}}
            continue
        yield {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
               "args": {"name": track.name}}  # fmt: skip
        yield {"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid,
               "args": {"sort_index": order}}  # fmt: skip


def write_json(lay: StreamedLayout, stream, meta: dict | None = None, progress=None) -> None:
    origin = lay.origin
    tracks = {t.uid: t for t in lay.tracks}
    other = {
        "generator": "syscorr",
        "origin_ns": origin,
        "clock": ((meta or {}).get("backend") or {}).get("clock") or "",
        "command": " ".join(map(str, (meta or {}).get("command") or [])),
    }
    write = stream.write
    write('{"displayTimeUnit":"ns","otherData":' + _dumps(other) + ',"traceEvents":[\n')
    first = True

    def emit(text: str) -> None:
        nonlocal first
        write(text if first else ",\n" + text)
        first = False

    for event in _metadata(lay):
        emit(_dumps(event))
    head_of: dict = {}
    written = 0
    for placed in lay.slices():
        s = placed.slice
        head = head_of.get(s.track)
        if head is None:
            t = tracks[s.track]
            head = head_of[s.track] = f'"pid":{t.pid},"tid":{t.tid},"ts":'
        ts = us(s.start - origin)
        emit(
            f'{{"ph":"X",{head}{ts},"dur":{us(s.end - s.start)},"name":{_name(s.name)}'
            f',"cat":"{s.cat}","args":{_dumps(s.args)}}}'
        )
        for fid, cause in placed.flows_out:
            emit(f'{{"ph":"s","id":{fid},{head}{ts},"name":"wake","cat":"{cause}"}}')
        if placed.flow_in is not None:
            fid, cause = placed.flow_in
            emit(f'{{"ph":"f","id":{fid},{head}{ts},"name":"wake","cat":"{cause}","bp":"e"}}')
        written += 1
        if progress is not None and written % 10_000 == 0:
            progress(written)
    names = {c.uid: c for c in lay.counters}
    for p in lay.points():
        c = names[p.counter]
        emit(
            f'{{"ph":"C","pid":{c.pid},"name":{_dumps(c.name)},"ts":{us(p.ts - origin)}'
            f',"args":{{"value":{p.value!r}}}}}'
        )
    write("\n]}\n")
