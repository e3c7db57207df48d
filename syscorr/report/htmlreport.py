"""`syscorr report --format html`: one self-contained HTML file with the summary, the findings
and an interactive timeline (lanes per task and thread, zoom and pan, hover, click a finding).

Contract: `HtmlExport(options)` observes the items during the summary pass (a `LayoutSink`:
the same tracks, slices, flows and counters as the Perfetto exports, honouring
--pid/--task/--since/--until) and `write(summary, stream)` writes one HTML document to the text
stream; `render(summary, stream, options)` does both for a summary's kept items. No network, no
CDN (a Content-Security-Policy forbids every fetch and allows only the one inline script, by
its hash). The data is JSON inside <script type="application/json"> elements, written as it is
read from the spill so neither Python nor the page holds it as one text: `#syscorr-data` (the
lanes in display order and the groups of task lanes, see `lane_order`), then `.syscorr-chunk`
elements of up to CHUNK_SLICES slices of one lane, columnar (start and duration in ns from the
layout's origin, nesting depth, indexes into the chunk's string table), the counters
(`.syscorr-counters` names, `.syscorr-counter` points), and `#syscorr-tail` (flows as
[lane, index, lane, index], findings). `<`, `>` and `&` are written as \\u escapes so no trace
text can close an element; every string shown is first made inert by syscorr.report.safe
(control characters and bidi overrides escaped), and outside the data goes through
`html.escape` (attributes too). The
page's script (html/report.js) puts strings into the page only with textContent or canvas
fillText; groups of tasks start folded when there are more than OPEN_LANES task lanes.
"""

import base64
import hashlib
import html
import json
import shlex
from pathlib import Path

from syscorr.report.export import LayoutExport, render_kept
from syscorr.report.fmt import clip, ms, size
from syscorr.report.perfetto_layout import StreamedLayout
from syscorr.report.safe import safe, safe_lines
from syscorr.report.spill import SortedSpill

ASSETS = Path(__file__).parent / "html"
DETAIL_LIMIT = 240  # characters of syscall arguments kept in a slice's details
_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def script_json(value) -> str:
    """JSON that cannot end a <script> element or open a comment, whatever the strings hold."""
    return _encode(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def e(value) -> str:
    """Trace text for HTML: control characters escaped (syscorr.report.safe), then entities."""
    return html.escape(safe(value), quote=True)


CHUNK_SLICES = 20_000  # slices per data element: the page parses the data a piece at a time
CHUNK_POINTS = 50_000
OPEN_LANES = 40  # with more task lanes than this, groups of tasks start collapsed


class _Strings:
    """A chunk's string table: names and details repeat within a lane."""

    def __init__(self) -> None:
        self.index: dict = {"": 0}
        self.table: list = [""]

    def __call__(self, text: str) -> int:
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.table)
            self.table.append(text)
        return i


def _detail(s) -> str:
    """A slice's details, one inert line per field."""
    return safe_lines("\n".join(_detail_lines(s)))


def _detail_lines(s) -> list:
    a = s.args
    if s.cat == "syscall":
        text = f"{s.name}({clip(str(a.get('args', '')), DETAIL_LIMIT)}) = {a.get('ret', '?')}"
        if a.get("errno"):
            text += f" {a['errno']}"
        extra = [f"{k}: {a[k]}" for k in ("fd", "at", "task", "callback", "line") if k in a]
        return [text, *extra]
    return [f"{k}: {v}" for k, v in a.items()]


def lane_order(lay: StreamedLayout) -> tuple[list, list]:
    """The lanes in display order, and the groups of task lanes: per process its own lane, its
    loop threads, its tasks grouped by root coroutine (a group of two or more tasks gets a
    header that folds it), then its other threads. Returns (lanes, groups): a lane is
    {"name", "kind", "pid", "uid", "group"}, a group {"name", "pid", "lanes", "collapsed"}."""
    by_pid: dict = {}
    for track in lay.tracks:
        by_pid.setdefault(track.pid, []).append(track)
    tasks = sum(1 for t in lay.tracks if t.kind == "task")
    collapsed = tasks > OPEN_LANES
    lanes: list = []
    groups: list = []
    for pid, tracks in by_pid.items():
        coroutines: dict = {}
        for t in tracks:
            if t.kind == "task":
                coroutines.setdefault(t.group or "(coroutine not seen)", []).append(t)
        head = [t for t in tracks if t.kind == "process" or (t.kind == "thread" and t.sort == 0)]
        tail = [t for t in tracks if t.kind == "thread" and t.sort != 0]
        for t in head:
            lanes.append({"name": t.name, "kind": t.kind, "pid": pid, "uid": t.uid, "group": -1})
        for coroutine, members in coroutines.items():
            group = -1
            if len(members) > 1:
                group = len(groups)
                groups.append({"name": coroutine, "pid": pid, "lanes": [],
                               "collapsed": collapsed})  # fmt: skip
            for t in members:
                if group >= 0:
                    groups[group]["lanes"].append(len(lanes))
                lanes.append({"name": t.name, "kind": "task", "pid": pid, "uid": t.uid,
                              "group": group})  # fmt: skip
        for t in tail:
            lanes.append({"name": t.name, "kind": t.kind, "pid": pid, "uid": t.uid, "group": -1})
    return lanes, groups


class _Chunks:
    """Slices of one lane gathered into columnar data elements of CHUNK_SLICES."""

    def __init__(self, write) -> None:
        self.write = write
        self.lane = None
        self._reset()

    def _reset(self) -> None:
        self.strings = _Strings()
        self.cols: dict = {k: [] for k in ("start", "dur", "depth", "name", "cat", "detail")}

    def add(self, lane: int, start: int, dur: int, depth: int, name, cat, detail) -> None:
        if lane != self.lane or len(self.cols["start"]) >= CHUNK_SLICES:
            self.flush()
            self.lane = lane
        c = self.cols
        c["start"].append(start)
        c["dur"].append(dur)
        c["depth"].append(min(depth, 255))
        c["name"].append(self.strings(safe(name)))
        c["cat"].append(self.strings(cat))
        c["detail"].append(self.strings(detail))

    def flush(self) -> None:
        if self.lane is None or not self.cols["start"]:
            return
        body = {"lane": self.lane, **self.cols, "strings": self.strings.table}
        self.write(_element("syscorr-chunk", body))
        self._reset()


def _element(cls: str, value) -> str:
    return f'<script class="{cls}" type="application/json">{script_json(value)}</script>\n'


def _header(summary) -> str:
    meta = summary.meta
    acc = summary.accounts
    command = shlex.join(str(a) for a in meta.get("command") or []) or "(imported log)"
    exit_info = meta.get("exit") or {}
    ended = f"exit {exit_info.get('code')}" if exit_info else "did not finish"
    if exit_info.get("signal_name"):
        ended = f"killed by {exit_info['signal_name']}"
    span = (acc.last_ts - acc.first_ts) if acc.first_ts and acc.last_ts else None
    calls = sum(s.calls + s.unfinished for s in acc.syscalls.values())
    steps = sum(t.steps for t in acc.tasks.values())
    processes = len({t.pid for t in acc.threads.values()})
    return (
        f"<h1>syscorr report</h1><div class=mono>{e(clip(command, 300))}</div>"
        f"<div class=muted>ran {e(ms(span))}, {e(ended)}; {calls} syscalls in {processes} "
        f"process(es), {len(acc.threads)} thread(s); {len(acc.tasks)} tasks, {steps} task steps, "
        f"{sum(x.iterations for x in acc.loops.values())} loop iterations</div>"
    )


def _findings_html(summary) -> str:
    if not summary.findings:
        return "<h2>Findings</h2><p class=muted>none: the loop was never blocked past the rules</p>"
    rows = []
    for n, f in enumerate(summary.findings):
        detail = f" <span class='mono muted'>{e(clip(f.detail, 160))}</span>" if f.detail else ""
        rows.append(
            f"<li data-finding={n}><span class=kind>{e(f.kind)}</span>{e(f.message())}{detail}</li>"
        )
    head = f"<h2>Findings ({len(summary.findings)}) <span class=muted>click to see it</span></h2>"
    return head + "<ul id=findings>" + "".join(rows) + "</ul>"


def _tables_html(summary, top: int) -> str:
    acc = summary.accounts
    tasks = sorted(acc.tasks.values(), key=lambda t: -t.running_ns)[:top]
    rows = "".join(
        f"<tr><td>{e(t.name)}</td><td class=num>{t.steps}</td><td class=num>{e(ms(t.running_ns))}"
        f"</td><td class=num>{e(ms(t.waiting_ns))}</td><td class=num>{t.syscalls}</td>"
        f"<td class=num>{e(size(t.bytes_in))}</td><td class=num>{e(size(t.bytes_out))}</td></tr>"
        for t in tasks
    )
    task_table = (
        "<div><h2>Tasks</h2><table><tr><th>task<th>steps<th>running<th>waiting<th>syscalls"
        f"<th>in<th>out</tr>{rows}</table></div>"
    )
    loops = "".join(
        f"<li>thread {loop.tid} (pid {loop.pid}): {loop.iterations} iterations, busy "
        f"{e(ms(loop.busy_ns))}, waiting {e(ms(loop.waited_ns))}; worst lag "
        f"{e(ms(loop.worst_busy_ns))} (iteration {loop.worst_iteration})</li>"
        for loop in acc.loops.values()
    )
    loop_html = f"<div><h2>Loop health</h2><ul>{loops or '<li>no event loop seen</li>'}</ul></div>"
    warnings = "".join(f"<li class=warn>{e(w)}</li>" for w in summary.warnings)
    warn_html = f"<div><h2>Warnings</h2><ul>{warnings}</ul></div>" if warnings else ""
    return f"<div class=columns>{task_table}{loop_html}{warn_html}</div>"


TOOLBAR = (
    "<div class=toolbar><b>Timeline</b><button id=zoom-in>+</button><button id=zoom-out>−</button>"
    "<button id=zoom-reset>all</button><span id=range class='mono muted'></span>"
    "<span class=muted>Ctrl+wheel or W/S zoom · drag or A/D pan · wheel scrolls lanes · "
    "click a slice for details</span><input id=search type=search "
    "placeholder='search syscalls, args, tasks…'><span id=match-count class=muted></span></div>"
)


class HtmlExport(LayoutExport):
    """The streaming writer: a `LayoutSink` during the pass; then the page, its data written
    lane by lane in chunks from the sink's spill."""

    def write_layout(self, summary, lay, stream, progress) -> None:
        _write_page(summary, lay, stream, self.options, progress)


def render(summary, stream, options: dict) -> None:
    render_kept(HtmlExport(options), summary, stream)


def _write_page(summary, lay: StreamedLayout, stream, options: dict, progress) -> None:
    script = (ASSETS / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    csp = (
        f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    title = clip(" ".join(map(str, summary.meta.get("command") or [])), 80)
    write = stream.write
    write(
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>syscorr report: {e(title)}</title><style>"
        + (ASSETS / "report.css").read_text(encoding="utf-8")
        + "</style></head><body><header>"
        + _header(summary)
        + "</header><section>"
        + _findings_html(summary)
        + _tables_html(summary, int(options.get("top", 10)))
        + "</section>"
        + TOOLBAR
        + "<ul id=matches></ul><div id=axis></div><div id=timeline><div id=lanes>"
        "<div id=labels></div><canvas id=canvas></canvas></div></div>"
        "<div id=details class=mono></div><div id=tooltip></div>\n"
    )
    lanes, groups = lane_order(lay)
    lane_of = {lane["uid"]: n for n, lane in enumerate(lanes)}
    head = {
        "origin_ns": lay.origin,
        "end": lay.end - lay.origin,
        "lanes": [
            {**{k: v for k, v in lane.items() if k != "uid"}, "name": safe(lane["name"])}
            for lane in lanes
        ],
        "groups": [{**g, "name": safe(g["name"])} for g in groups],
    }
    write('<script id="syscorr-data" type="application/json">' + script_json(head) + "</script>\n")
    finding_lines = {f.lineno for f in summary.findings if f.syscall and f.lineno is not None}
    finding_starts = {f.ts for f in summary.findings if not f.syscall and f.ts is not None}
    by_line: dict = {}
    by_start: dict = {}
    ends = SortedSpill(50_000)  # (fid, role, lane, index): flow ends, paired by fid after
    chunks = _Chunks(write)
    counts: dict = {}  # lane -> slices so far
    origin = lay.origin
    for n, placed in enumerate(lay.slices(), 1):
        s = placed.slice
        lane = lane_of[s.track]
        index = counts.get(lane, 0)
        counts[lane] = index + 1
        chunks.add(lane, s.start - origin, s.end - s.start, placed.depth, s.name, s.cat,
                   _detail(s))  # fmt: skip
        for fid, _ in placed.flows_out:
            ends.add((fid, 0, lane, index))
        if placed.flow_in is not None:
            ends.add((placed.flow_in[0], 1, lane, index))
        if s.cat == "syscall":
            line = s.args.get("line")
            if line in finding_lines:
                by_line.setdefault(line, (lane, index, s.start))
        elif s.cat in ("task-step", "callback") and s.start in finding_starts:
            by_start.setdefault(s.start, (lane, index, s.start))
        if progress is not None and n % 10_000 == 0:
            progress(n)
    chunks.flush()
    _write_counters(lay, write)
    write('<script id="syscorr-tail" type="application/json">{"flows":[')
    _write_flows(ends, write)
    findings = []
    for f in summary.findings:
        target = by_line.get(f.lineno) if f.syscall else by_start.get(f.ts)
        lane, index = target[:2] if target else (-1, -1)
        start = (f.ts or origin) - origin
        findings.append(
            {"lane": lane, "slice": index, "start": start, "end": start + (f.duration_ns or 0)}
        )
    write('],"findings":' + script_json(findings) + "}</script>\n")
    write("<script>" + script + "</script></body></html>\n")


def _write_counters(lay: StreamedLayout, write) -> None:
    """The counters' names, then their points in chunks of CHUNK_POINTS per counter."""
    write(_element("syscorr-counters", [safe(c.name) for c in lay.counters]))
    index = {c.uid: n for n, c in enumerate(lay.counters)}
    buffers: dict = {}  # counter uid -> (t, v)

    def flush(uid: int) -> None:
        t, v = buffers.pop(uid)
        write(_element("syscorr-counter", {"counter": index[uid], "t": t, "v": v}))

    for p in lay.points():
        t, v = buffers.setdefault(p.counter, ([], []))
        t.append(p.ts - lay.origin)
        v.append(p.value)
        if len(t) >= CHUNK_POINTS:
            flush(p.counter)
    for uid in list(buffers):
        flush(uid)


def _write_flows(ends: SortedSpill, write) -> None:
    pending = None
    first = True
    for fid, role, lane, index in ends.sorted():
        if role == 0:
            pending = (fid, lane, index)
            continue
        if pending is None or pending[0] != fid:
            continue
        write(("" if first else ",") + f"[{pending[1]},{pending[2]},{lane},{index}]")
        first = False
        pending = None
    ends.close()
