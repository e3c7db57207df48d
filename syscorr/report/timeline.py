"""The interleaved timeline: one line per event, in time order, steps with their syscalls nested.

Contract: `TimelineSink(filt)` is handed every correlation item during the summary pass
(`observe`); it keeps what `filt.keeps` as small plain records in a `SortedSpill` (memory
bounded, time order restored from the engine's per-thread order). `write(out, origin, ...)`
then writes one line per event to the text stream `out`: loop iteration boundaries with the
wait (timeout asked, time waited, fds ready), step starts with what woke them, the syscalls
made inside a step (indented, with the call site), and the await at which the step suspended.
Lines are plain strings (ANSI colour per task only when `colour`), every trace string through
`safe`. Each line fits `width`: a syscall's arguments, a wake detail or a ready-fd list are
shortened first; if the line is still too wide it wraps at a field boundary onto an indented
continuation line, so the call site is never cut. `render_timeline(items, origin, console,
filt)` does both for a list of items onto a rich Console (its file, width and colour).
"""

from itertools import count

from rich.cells import cell_len
from rich.console import Console

from syscorr.correlate.model import (
    WAKE_CALLBACK,
    WAKE_FD,
    WAKE_TASK,
    WAKE_THREAD,
    IterationItem,
    StepItem,
    SyscallItem,
)
from syscorr.report.filters import TimelineFilter  # noqa: F401 (the timeline's options)
from syscorr.report.fmt import ms, rel
from syscorr.report.safe import safe
from syscorr.report.spill import SortedSpill

SGR = {
    "dim": "2",
    "bold": "1",
    "cyan": "36",
    "magenta": "35",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "bright_red": "91",
    "bright_cyan": "96",
    "bright_magenta": "95",
    "bright_green": "92",
    "bright_blue": "94",
}
TASK_COLOURS = tuple(c for c in SGR if c not in ("dim", "bold"))
MIN_SQUEEZED = 12  # a shortened field keeps at least this many characters (or all of it)
RUN_RECORDS = 20_000

# record kinds
_ITERATION, _START, _CALL, _END = 0, 1, 2, 3


def _frame(frame) -> tuple | None:
    return None if frame is None else (frame.qualname, frame.filename, frame.line)


def _where(frame: tuple | None) -> str:
    """`file.py:12 (qualname)`; `file.py (qualname)` when the line is not known (0)."""
    if frame is None:
        return ""
    qualname, filename, line = frame
    at = f":{line}" if line else ""
    return f"{safe(filename.rsplit('/', 1)[-1])}{at} ({safe(qualname)})"


def _wake_text(step: StepItem) -> str:
    wake = step.wake
    if wake is None:
        return ""
    if wake.cause == WAKE_FD:
        return f"woken: fd {wake.fd} ready ({safe(wake.detail)})"
    if wake.cause in (WAKE_TASK, WAKE_CALLBACK):
        return f"woken: {safe(wake.by)}"
    if wake.cause == WAKE_THREAD:
        return f"woken: {safe(wake.by) if wake.by else 'a thread'} via the self-pipe"
    return f"woken: {wake.cause}"


class TimelineSink:
    def __init__(self, filt: TimelineFilter | None = None, run_records: int | None = None):
        self.filt = filt or TimelineFilter()
        self.spill = SortedSpill(run_records or RUN_RECORDS)
        self._serial = count()

    def observe(self, item) -> None:
        if not self.filt.keeps(item):
            return
        kind = type(item)
        add = self.spill.add
        if kind is SyscallItem:
            if item.is_loop_wait:
                return  # shown as its iteration's line
            call = item.call
            task = (item.pid, item.task) if item.task else None
            add((
                call.ts or 0, _CALL, next(self._serial), item.step is not None,
                item.owner == "process", item.task_name, call.name, call.args, call.ret,
                call.errno, call.duration, _frame(item.frame), task,
            ))  # fmt: skip
        elif kind is StepItem:
            task = (item.pid, item.task) if item.kind == "task" else None
            add((
                item.start, _START, next(self._serial), item.name, item.kind, item.started_by,
                _frame(item.resumed_at), _wake_text(item), task,
            ))  # fmt: skip
            if item.end is not None:
                chain = item.suspended_at
                add((
                    item.end, _END, next(self._serial), item.name, item.ended_by,
                    _frame(chain[-1]) if chain else None,
                    _frame(chain[0]) if len(chain) > 1 else None, item.duration, task,
                ))  # fmt: skip
        elif kind is IterationItem:
            add((
                item.wait.ts or 0, _ITERATION, next(self._serial), item.tid, item.index,
                item.wait.name, item.timeout_ns, item.waited_ns, item.ready, item.timed_out,
            ))  # fmt: skip

    def write(
        self,
        out,
        origin: int | None,
        has_loop: bool = True,
        width: int = 120,
        colour: bool = False,
        names: dict | None = None,
    ) -> tuple[int, int]:
        """Write the lines; returns (lines shown, lines left out by --limit). When the trace
        has an event loop, syscalls made outside any loop (interpreter start-up, other
        processes) are left out unless the filter asks for --startup, syscalls or fds. `names`
        ((pid, task key) -> name, the summary's final names) renames tasks that were renamed
        after an item was made: a task is called the same on every line."""
        filt = self.filt
        hide_outside = has_loop and not (filt.startup or filt.syscalls or filt.fds)
        painter = _Painter(width, colour, names or {})
        windowed = filt.since_s is not None or filt.until_s is not None
        shown = skipped = 0
        write = out.write
        for record in self.spill.sorted():
            ts, kind = record[0], record[1]
            if windowed and not filt.in_window(ts, origin):
                continue
            if kind == _CALL and hide_outside and record[4]:
                continue
            if filt.limit and shown >= filt.limit:
                skipped += 1
                continue
            shown += 1
            write(painter.line(rel(ts, origin), _FIELDS[kind](record, painter)))
        if skipped:
            write(
                f"… {skipped} more lines (raise --limit, or narrow with --since/--until, "
                "--task, --fd, --syscalls)\n"
            )
        self.close()
        return shown, skipped

    def close(self) -> None:
        self.spill.close()


def _iteration_fields(r, p):
    _, _, _, tid, index, wait, timeout_ns, waited_ns, ready, timed_out = r
    readies = ", ".join(f"fd {fd} {safe(ev)}" for fd, ev in ready) or (
        "nothing ready (a quick check: callbacks were ready to run)"
        if timeout_ns == 0
        else "timed out"
        if timed_out
        else "nothing"
    )
    timeout = "forever" if timeout_ns is None else ms(timeout_ns)
    head = f"── loop {tid} iteration {index}: {wait} (timeout {timeout}) waited {ms(waited_ns)} → "
    return [(head, "bold", False), (readies, "bold", True)]


def _start_fields(r, p):
    _, _, _, name, kind, started_by, resumed_at, wake, task = r
    name = p.name_of(task, name)
    what = f"task {name}" if kind == "task" else f"callback {name}"
    how = {
        "start": "starts",
        "resume": "resumes",
        "throw": "resumes with an exception",
        "callback": "runs",
    }.get(started_by, started_by)
    style = p.colour_of(name)
    fields = [(f"  ▶ {safe(what)} {how}", style, False)]
    if resumed_at is not None:
        fields.append((f" at {_where(resumed_at)}", style, False))
    if wake:
        fields.append((f"  {wake}", "dim", True))
    return fields


def _end_fields(r, p):
    _, _, _, name, ended_by, suspended, awaiting, duration, task = r
    name = p.name_of(task, name)
    style = p.colour_of(name)
    fields = [(f"  ◀ {safe(name)}", style, False)]
    if ended_by == "yield" and suspended is not None:
        fields.append((f" suspends at {_where(suspended)}", style, False))
        if awaiting is not None:
            fields.append((f" awaiting {_where(awaiting)}", style, False))
    else:
        end = {"return": "returns", "unwind": "raises", "callback-end": "done"}.get(
            ended_by, ended_by
        )
        fields.append((f" {end}", style, False))
    fields.append((f" after {ms(duration)}", style, False))
    return fields


def _call_fields(r, p):
    _, _, _, in_step, _, task_name, name, args, ret, errno, duration, frame, task = r
    task_name = p.name_of(task, task_name)
    style = p.colour_of(task_name) if task_name else ""
    result = safe(ret) + (f" {errno}" if errno else "")
    indent = "      " if in_step else "    "
    fields = [
        (f"{indent}{name}(", style, False),
        (safe(args), style, True),
        (f") = {result}", style, False),
        (f"  {ms(duration)}", "dim", False),
    ]
    if frame is not None and in_step:
        fields.append((f"  {_where(frame)}", "dim", False))
    return fields


_FIELDS = {_ITERATION: _iteration_fields, _START: _start_fields, _CALL: _call_fields,
           _END: _end_fields}  # fmt: skip


def _width(s: str) -> int:
    return len(s) if s.isascii() else cell_len(s)


def _cut(s: str, room: int) -> str:
    """`s` shortened to `room` cells, ending with an ellipsis."""
    if _width(s) <= room:
        return s
    if s.isascii():
        return s[: max(0, room - 1)] + "…"
    out, used = [], 0
    for ch in s:
        w = cell_len(ch)
        if used + w > room - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


class _Painter:
    """Fits a line's fields to the width and paints them (ANSI SGR) when colour is on."""

    def __init__(self, width: int, colour: bool, names: dict | None = None) -> None:
        self.width = max(40, width)
        self.colour = colour
        self.colours: dict[str, str] = {}
        self.names = names or {}

    def name_of(self, task: tuple | None, name: str | None) -> str | None:
        """A task's final name (the summary's), else the name it had then."""
        return self.names.get(task, name) if task is not None else name

    def colour_of(self, name: str | None) -> str:
        if not name:
            return ""
        style = self.colours.get(name)
        if style is None:
            style = self.colours[name] = TASK_COLOURS[len(self.colours) % len(TASK_COLOURS)]
        return style

    def paint(self, text: str, style: str) -> str:
        if not self.colour or not style or not text:
            return text
        codes = ";".join(SGR[s] for s in style.split() if s in SGR)
        return f"\x1b[{codes}m{text}\x1b[0m" if codes else text

    def line(self, stamp: str, fields: list) -> str:
        room = self.width - len(stamp) - 1
        head = self.paint(stamp, "dim") + " "
        total = sum(_width(text) for text, _, _ in fields)
        if total > room:
            squeezed = self._squeeze(fields, total - room)
            if sum(_width(text) for text, _, _ in squeezed) > room:
                return head + self._wrap(fields, room, len(stamp) + 1) + "\n"
            fields = squeezed
        return head + "".join(self.paint(t, s) for t, s, _ in fields) + "\n"

    def _squeeze(self, fields: list, excess: int) -> list:
        out = []
        for text, style, squeezable in fields:
            if squeezable and excess > 0:
                have = _width(text)
                keep = max(min(have, MIN_SQUEEZED), have - excess)
                if keep < have:
                    excess -= have - keep
                    text = _cut(text, keep)
            out.append((text, style, squeezable))
        return out

    def _wrap(self, fields: list, room: int, margin: int) -> str:
        """Fields onto lines of `room` cells, breaking only between fields: a shortenable
        field is cut to what is left of its line, another that does not fit starts the next
        line (and is folded if wider than a line). Continuation lines are indented."""
        indent = " " * (margin + 4)
        lines: list[list[str]] = [[]]
        used, limit = 0, room

        def new_line() -> None:
            nonlocal used, limit
            lines.append([])
            used, limit = 0, room - 4

        for text, style, squeezable in fields:
            w = _width(text)
            if squeezable and used + w > limit:
                if limit - used < MIN_SQUEEZED:
                    new_line()
                    text = text.lstrip()
                text = _cut(text, limit - used)
                w = _width(text)
            elif used and used + w > limit:
                new_line()
                text = text.lstrip()
                w = _width(text)
            while w > limit - used and text:
                piece = _cut(text, limit - used + 1)[:-1]  # hard fold: what is left of the line
                lines[-1].append(self.paint(piece, style))
                new_line()
                text = text[len(piece) :]
                w = _width(text)
            lines[-1].append(self.paint(text, style))
            used += w
        return ("\n" + indent).join("".join(parts) for parts in lines if parts)


def render_timeline(
    items,
    origin: int | None,
    console: Console,
    filt: TimelineFilter,
    has_loop: bool = True,
    names: dict | None = None,
) -> int:
    """The timeline of `items` on a rich Console (its file, width and colour); returns the
    number of lines left out by --limit."""
    sink = TimelineSink(filt)
    for item in items:
        sink.observe(item)
    colour = console.is_terminal and not console.no_color and console.color_system is not None
    _, skipped = sink.write(console.file, origin, has_loop, console.width, colour, names)
    return skipped
