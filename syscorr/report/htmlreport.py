"""`syscorr report --format html`: one self-contained HTML file with the summary, the findings
and an interactive timeline (lanes per task and thread, zoom and pan, hover, click a finding).

Contract: `render(summary, stream, options)` writes one HTML document to the text stream: no
network, no CDN (a Content-Security-Policy forbids every fetch and allows only the one inline
script, by its hash). The timeline is `perfetto_tracks.layout(summary, options["filters"])`:
the same tracks, slices, flows and counters as the Perfetto exports, honouring
--pid/--task/--since/--until. Its data is JSON inside <script type="application/json">, columnar
per lane (start and duration in ns from the layout's origin, nesting depth, indexes into one
string table), with `<`, `>` and `&` written as \\u escapes so no trace text can close the
element. Everything else from the trace goes through `html.escape`. The page's script
(html/report.js) puts strings into the page only with textContent or canvas fillText.
"""

import base64
import hashlib
import html
import json
import shlex
from pathlib import Path

from syscorr.report.fmt import clip, ms, size
from syscorr.report.perfetto_tracks import Layout, layout

ASSETS = Path(__file__).parent / "html"
DETAIL_LIMIT = 240  # characters of syscall arguments kept in a slice's details
_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def script_json(value) -> str:
    """JSON that cannot end a <script> element or open a comment, whatever the strings hold."""
    return _encode(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def e(value) -> str:
    return html.escape(str(value), quote=True)


class _Strings:
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
    a = s.args
    if s.cat == "syscall":
        text = f"{s.name}({clip(str(a.get('args', '')), DETAIL_LIMIT)}) = {a.get('ret', '?')}"
        if a.get("errno"):
            text += f" {a['errno']}"
        extra = [f"{k}: {a[k]}" for k in ("fd", "at", "task", "callback", "line") if k in a]
        return "\n".join([text, *extra])
    return "\n".join(f"{k}: {v}" for k, v in a.items())


def _lanes(lay: Layout, strings: _Strings):
    """Per track: the columnar lane, and where each slice went: sid -> (lane, index)."""
    where: dict = {}
    lanes = []
    for number, track in enumerate(lay.tracks):
        slices = lay.slices.get(track.uid, [])
        start, dur, depth, names, cats, details = [], [], [], [], [], []
        stack: list = []
        for i, s in enumerate(slices):
            while stack and stack[-1] <= s.start:
                stack.pop()  # the same rule as perfetto_tracks._nest: it ended, a sibling
            depth.append(min(len(stack), 255))
            stack.append(s.end)
            start.append(s.start - lay.origin)
            dur.append(s.end - s.start)
            names.append(strings(s.name))
            cats.append(strings(s.cat))
            details.append(strings(_detail(s)))
            where[s.sid] = (number, i)
        lanes.append(
            {
                "name": track.name,
                "kind": track.kind,
                "start": start,
                "dur": dur,
                "depth": depth,
                "name_idx": names,
                "cat": cats,
                "detail": details,
            }
        )
    return lanes, where


def _finding_targets(lay: Layout, where: dict):
    by_line: dict = {}
    by_start: dict = {}
    for slices in lay.slices.values():
        for s in slices:
            if s.cat == "syscall" and "line" in s.args:
                by_line.setdefault(s.args["line"], s.sid)
            elif s.cat in ("task-step", "callback"):
                by_start.setdefault(s.start, s.sid)
    return by_line, by_start


def _findings(summary, lay: Layout, where: dict) -> list:
    by_line, by_start = _finding_targets(lay, where)
    out = []
    for f in summary.findings:
        sid = by_line.get(f.lineno) if f.syscall else by_start.get(f.ts)
        lane, index = where.get(sid, (-1, -1))
        start = (f.ts or lay.origin) - lay.origin
        out.append(
            {"lane": lane, "slice": index, "start": start, "end": start + (f.duration_ns or 0)}
        )
    return out


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


def render(summary, stream, options: dict) -> None:
    lay = layout(summary, options.get("filters"))
    strings = _Strings()
    lanes, where = _lanes(lay, strings)
    flows = [[*where[f.source], *where[f.target]] for f in lay.flows]
    counters = {}
    for c in lay.counters:
        counters[c.uid] = {"name": c.name, "t": [], "v": []}
    for p in lay.points:
        counters[p.counter]["t"].append(p.ts - lay.origin)
        counters[p.counter]["v"].append(p.value)
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
        '<script id="syscorr-data" type="application/json">'
    )
    head = {"origin_ns": lay.origin, "end": lay.end - lay.origin, "flows": flows}
    head["findings"] = _findings(summary, lay, where)
    head["counters"] = list(counters.values())
    write(script_json(head)[:-1] + ',"lanes":[')
    for n, lane in enumerate(lanes):
        write(("," if n else "") + script_json(lane) + "\n")
    write('],"strings":' + script_json(strings.table) + "}</script>\n")
    write("<script>" + script + "</script></body></html>\n")
