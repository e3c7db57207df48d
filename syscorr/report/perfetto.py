"""`syscorr report --format perfetto`: the trace as Chrome trace-event JSON for ui.perfetto.dev.

Contract: `render(summary, stream, options)` lays the trace out (`perfetto_tracks.layout`,
honouring `options["filters"]`: --pid/--task/--since/--until) and streams one JSON object:
    {"displayTimeUnit": "ns", "otherData": {... "origin_ns": N ...}, "traceEvents": [...]}
with, per process `pid`: metadata events naming the process and each thread / task track
(task tracks get synthetic tids above 2^30); "X" complete events for slices (`ts`/`dur` in µs
relative to `origin_ns`, exact to the ns: "12.345"); "C" counter events; flow pairs "s" (at
the start of the causing slice) and "f" with "bp": "e" (at the start of the woken step) sharing
an `id`. Events are written one per line as they are produced: memory holds the layout, never
the text. Before writing, an export bigger than the Perfetto UI opens (JSON_LIMIT, or
$SYSCORR_PERFETTO_LIMIT_MB, or options["limit_bytes"]) is refused with a UsageError that says
how to cut the trace.
"""

import json

from syscorr.report.perfetto_tracks import Layout, sized_layout

JSON_LIMIT = 400 << 20  # the UI parses JSON in a wasm heap; beyond a few hundred MB it fails
JSON_PER_SLICE = 110  # bytes of an "X" event apart from its name and argument text
JSON_PER_POINT = 90

_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def us(ns: int) -> str:
    """ns as an exact decimal µs number: 1234567 -> "1234.567"."""
    sign = "-" if ns < 0 else ""
    q, r = divmod(abs(ns), 1000)
    return f"{sign}{q}.{r:03d}" if r else f"{sign}{q}"


def render(summary, stream, options: dict) -> None:
    lay = sized_layout(summary, options, JSON_PER_SLICE, JSON_PER_POINT, JSON_LIMIT,
                       "Perfetto JSON file")  # fmt: skip
    write_json(lay, stream, summary.meta)


def _metadata(lay: Layout):
    for order, track in enumerate(lay.tracks):
        pid, tid = track.pid, track.tid
        if track.kind == "process":
            yield {"ph": "M", "name": "process_name", "pid": pid, "args": {"name": track.name}}
            continue
        yield {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
               "args": {"name": track.name}}  # fmt: skip
        yield {"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid,
               "args": {"sort_index": order}}  # fmt: skip


def write_json(lay: Layout, stream, meta: dict | None = None) -> None:
    origin = lay.origin
    tracks = {t.uid: t for t in lay.tracks}
    other = {
        "generator": "syscorr",
        "origin_ns": origin,
        "clock": (meta or {}).get("backend", {}).get("clock", ""),
        "command": " ".join(map(str, (meta or {}).get("command", []))),
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
    for track in lay.tracks:
        head = f'{{"ph":"X","pid":{track.pid},"tid":{track.tid},"ts":'
        for s in lay.slices.get(track.uid, ()):
            emit(
                f'{head}{us(s.start - origin)},"dur":{us(s.end - s.start)},"name":{_dumps(s.name)}'
                f',"cat":"{s.cat}","args":{_dumps(s.args)}}}'
            )
    names = {c.uid: c for c in lay.counters}
    for p in lay.points:
        c = names[p.counter]
        emit(
            f'{{"ph":"C","pid":{c.pid},"name":{_dumps(c.name)},"ts":{us(p.ts - origin)}'
            f',"args":{{"value":{p.value!r}}}}}'
        )
    for f in lay.flows:
        src, dst = lay.by_sid[f.source], lay.by_sid[f.target]
        for ph, s, extra in (("s", src, ""), ("f", dst, ',"bp":"e"')):
            t = tracks[s.track]
            where = f'"pid":{t.pid},"tid":{t.tid},"ts":{us(s.start - origin)}'
            emit(f'{{"ph":"{ph}","id":{f.fid},{where},"name":"wake","cat":"{f.name}"{extra}}}')
    write("\n]}\n")
