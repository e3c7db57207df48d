"""The terminal report: what ran, where the loop blocked, who waited on what, where bytes went.

Contract: `render_summary(summary, console, top=N)` writes to the rich Console it is given (the
caller owns the stream, width and colour); the findings come first, right after a short header,
so the answer is on the first screen. Nothing is read from disk here. Every string from the
trace reaches the console as a rich `Text` through syscorr.report.safe: escaped, never markup.
"""

import shlex

from rich.console import Console
from rich.table import Table
from rich.text import Text

from syscorr.analysis.findings import PHASE_STARTUP, counts, group_findings, unjudged_reason
from syscorr.analysis.summary import TraceSummary
from syscorr.report.fmt import clip, ms, size
from syscorr.report.safe import text as safe_text


def _table(title: str, columns: tuple[tuple[str, str], ...]) -> Table:
    """A borderless table with a bold title; `columns` are (header, justify) pairs."""
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        pad_edge=False,
        header_style="bold",
    )
    for column, justify in columns:
        table.add_column(column, justify=justify, overflow="fold")
    return table


def _header(summary: TraceSummary, console: Console) -> None:
    meta = summary.meta
    acc = summary.accounts
    command = shlex.join(str(a) for a in meta.get("command") or [])
    if not command and meta.get("imported_from"):
        command = "(imported) " + " ".join(meta["imported_from"])
    exit_info = meta.get("exit") or {}
    if meta.get("kind") == "import":
        ended = "imported log"
    elif exit_info.get("signal_name"):
        ended = f"killed by {exit_info['signal_name']}"
    elif exit_info:
        ended = f"exit {exit_info.get('code')}"
    else:
        ended = "did not finish"
    backend = meta.get("backend") or {}
    span = (acc.last_ts - acc.first_ts) if acc.first_ts and acc.last_ts else None
    steps = sum(t.steps for t in acc.tasks.values())
    iterations = sum(loop.iterations for loop in acc.loops.values())
    calls = sum(s.calls + s.unfinished for s in acc.syscalls.values())
    processes = {t.pid for t in acc.threads.values()}
    path = summary.loaded.trace.path
    console.print(Text("syscorr report", style="bold") + safe_text(f"  {path}"))
    console.print(safe_text(f"command   {clip(command, 2000)}"))  # wraps; a long argv stays whole
    console.print(
        safe_text(
            f"ran       {ms(span)}, {ended}; {backend.get('name', '?')} "
            f"{backend.get('version') or '(version unknown)'}"
        )
    )
    console.print(
        f"recorded  {calls} syscalls in {len(processes)} process(es), {len(acc.threads)} "
        f"thread(s); {len(acc.tasks)} tasks, {steps} task steps, {iterations} loop iterations"
    )
    if not summary.has_agent:
        console.print(
            Text(
                "no agent events: syscalls are not attributed to tasks "
                "(record with `syscorr run` to get tasks, coroutines and lines)",
                style="yellow",
            )
        )


def _findings(summary: TraceSummary, console: Console, top: int) -> None:
    """One line per place (process, kind, file:line), the costliest first; each occurrence is
    in --timeline and the JSON. Startup work in library code is shown apart, not counted."""
    rules = summary.rules
    console.print()
    reason = unjudged_reason(summary.accounts)
    if reason is not None:
        console.print(Text("Blocking not judged: ", style="bold yellow") + safe_text(reason))
        return
    groups = group_findings(summary.findings)
    counted = [g for g in groups if counts(g)]
    startup = [g for g in groups if not counts(g)]
    processes = summary.accounts.shown_processes()
    if not counted:
        console.print(
            Text("No blocking found:", style="green")
            + Text(
                f" no syscall on a loop thread took ≥ {ms(rules.block_ns)}"
                f" and no step ran ≥ {ms(rules.step_ns)}."
            )
        )
    else:
        times = sum(g.count for g in counted)
        title = f"Findings ({len(counted)})"
        if times > len(counted):
            places = "1 place" if len(counted) == 1 else f"{len(counted)} places"
            title = f"Findings: {places}, {times} times"
        console.print(Text(title, style="bold red"))
        for group in counted[:top]:
            _group(group, console, processes)
        if len(counted) > top:
            console.print(Text(f"  … and {len(counted) - top} more places (--top N shows more)"))
    if startup:
        console.print(
            Text(
                "Startup (before the first accepted connection, or the loop's first wait for "
                "I/O), in library code: not counted",
                style="bold",
            )
        )
        for group in startup[:top]:
            _group(group, console, processes, mark="·")
    _tracer_note(summary, console)


def _group(group, console: Console, processes: dict, mark: str = "✗") -> None:
    worst = group.worst
    prefix = f"pid {group.pid}: " if processes else ""
    tag = " (startup)" if group.phase == PHASE_STARTUP and mark == "✗" else ""
    style = "red" if mark == "✗" else "dim"
    if group.count == 1:
        text = worst.message()
    else:
        what = (
            f"loop blocked by {'/'.join(group.syscalls)}()"
            if group.kind == "blocking-syscall"
            else f"forbidden {'/'.join(group.syscalls)}()"
            if group.kind == "forbidden-syscall"
            else "step ran without yielding"
        )
        text = (
            f"{what} {group.count}× at {group.where}: total {ms(group.total_ns)}, "
            f"worst {ms(group.worst_ns)}, p50 {ms(group.p50_ns)}"
        )
        if group.mostly_tracer:
            text += f" [{group.mostly_tracer} mostly tracer overhead]"
    console.print(Text(f"  {mark} ", style=style) + safe_text(prefix + text + tag))
    details = []
    if processes:
        label = processes.get(group.pid, "")
        details.append(label.removeprefix(f"pid {group.pid} ").strip("()") or "process")
    if group.count > 1:
        details.append("in " + _who(group.who))
    if details:
        console.print(
            safe_text("      " + "; ".join(details), style="dim"),
            no_wrap=True,
            overflow="ellipsis",
        )
    if worst.syscall:
        worst_of = "worst at " if group.count > 1 else ""
        console.print(
            safe_text(
                f"      {worst_of}log line {worst.lineno}: "
                f"{worst.syscall}({clip(worst.detail, 70)})",
                style="dim",
            ),
            no_wrap=True,
            overflow="ellipsis",
        )


def _who(who: tuple[str, ...], limit: int = 3) -> str:
    """`tasks A, B, C (+2 more)`; callbacks and the loop named as such."""
    tasks = [w.removeprefix("task ") for w in who if w.startswith("task ")]
    text = ", ".join(tasks[:limit]) if len(tasks) == len(who) else ", ".join(who[:limit])
    if len(tasks) == len(who):
        text = ("tasks " if len(tasks) > 1 else "task ") + text
    more = len(who) - limit
    return text + (f" (+{more} more)" if more > 0 else "")


def _tracer_note(summary: TraceSummary, console: Console) -> None:
    probes = sorted(
        log.meta["probe_close_ns"]
        for log in summary.loaded.agent_logs
        if isinstance(log.meta.get("probe_close_ns"), int)
    )
    if not probes or not summary.findings:
        return
    cost = probes[len(probes) // 2]
    console.print(
        Text(
            f"  durations include the tracer: each recorded syscall cost ≈{ms(cost)} in this "
            "run (probed at start; ≈1 µs untraced)",
            style="dim",
        )
    )


def _loops(summary: TraceSummary, console: Console) -> None:
    loops = summary.accounts.loops
    if not loops:
        return
    console.print()
    console.print(Text("Loop health", style="bold"))
    for loop in loops.values():
        total = loop.busy_ns + loop.waited_ns
        busy_pct = 100 * loop.busy_ns / total if total else 0
        console.print(
            Text(
                f"  thread {loop.tid} (pid {loop.pid}): {loop.iterations} iterations, "
                f"busy {ms(loop.busy_ns)} ({busy_pct:.0f}%), waiting in the selector "
                f"{ms(loop.waited_ns)}"
            )
        )
        console.print(
            Text(
                f"    worst lag {ms(loop.worst_busy_ns)} (iteration {loop.worst_iteration}: the "
                "longest stretch between two selector waits)"
            )
        )


def _tasks(summary: TraceSummary, console: Console, top: int) -> None:
    tasks = sorted(summary.accounts.tasks.values(), key=lambda t: (-t.running_ns, t.key))
    if not tasks:
        return
    processes = summary.accounts.shown_processes()
    columns = (("pid", "right"),) if processes else ()
    table = _table(
        "Tasks",
        (
            *columns,
            ("task", "left"),
            ("steps", "right"),
            ("running", "right"),
            ("waiting", "right"),
            ("syscalls", "right"),
            ("in", "right"),
            ("out", "right"),
            ("woken by", "left"),
        ),
    )
    for task in tasks[:top]:
        wakes = ", ".join(
            f"{cause} ×{n}" for cause, n in sorted(task.wakes.items(), key=lambda kv: -kv[1])
        )
        table.add_row(
            *((str(task.pid),) if processes else ()),
            safe_text(task.name),
            str(task.steps),
            ms(task.running_ns),
            ms(task.waiting_ns),
            str(task.syscalls),
            size(task.bytes_in),
            size(task.bytes_out),
            safe_text(wakes),
        )
    console.print()
    console.print(table)
    if len(tasks) > top:
        console.print(Text(f"  … {len(tasks) - top} more tasks"))


def _sockets(summary: TraceSummary, console: Console, top: int) -> None:
    socks = [
        fd
        for fd in summary.accounts.fds.values()
        if fd.label.startswith(("TCP", "UDP", "UNIX")) and (fd.bytes_in or fd.bytes_out)
    ]
    if not socks:
        return
    socks.sort(key=lambda fd: -(fd.bytes_in + fd.bytes_out))
    table = _table(
        "Sockets",
        (
            ("pid:fd", "left"),
            ("socket", "left"),
            ("in", "right"),
            ("out", "right"),
            ("calls", "right"),
            ("EAGAIN", "right"),
            ("tasks", "left"),
        ),
    )
    for fd in socks[:top]:
        table.add_row(
            f"{fd.pid}:{fd.fd}",
            safe_text(fd.label),
            size(fd.bytes_in),
            size(fd.bytes_out),
            str(fd.calls),
            str(fd.eagain),
            safe_text(clip(", ".join(sorted(fd.tasks)), 40)),
        )
    console.print()
    console.print(table)


def _threads(summary: TraceSummary, console: Console, top: int) -> None:
    threads = sorted(summary.accounts.threads.values(), key=lambda t: -t.syscalls)
    names = summary.thread_names
    console.print()
    console.print(Text("Threads", style="bold"))
    for thread in threads[:top]:
        role = (
            "event loop"
            if thread.is_loop
            else ("worker" if "thread" in thread.owners else "process")
        )
        name = names.get(thread.tid)
        console.print(
            safe_text(
                f"  {thread.tid}{f' {name}' if name else ''} (pid {thread.pid}, {role}): "
                f"{thread.syscalls} syscalls, {ms(thread.syscall_ns)} in syscalls"
            )
        )
    if len(threads) > top:
        console.print(Text(f"  … {len(threads) - top} more threads"))


def render_summary(summary: TraceSummary, console: Console, top: int = 10) -> None:
    _header(summary, console)
    _findings(summary, console, top)
    _loops(summary, console)
    _tasks(summary, console, top)
    _sockets(summary, console, top)
    _threads(summary, console, top)
    if summary.warnings:
        console.print()
        for warning in summary.warnings:
            console.print(Text("warning: ", style="yellow") + safe_text(warning))
