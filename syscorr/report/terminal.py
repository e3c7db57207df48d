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
    console.print(safe_text(f"command   {clip(command, 200)}"))
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
    rules = summary.rules
    findings = sorted(summary.findings, key=lambda f: -f.duration_ns)
    console.print()
    if not findings:
        console.print(
            Text("No blocking found:", style="green")
            + Text(
                f" no syscall on a loop thread took ≥ {ms(rules.block_ns)}"
                f" and no step ran ≥ {ms(rules.step_ns)}."
            )
        )
        return
    console.print(Text(f"Findings ({len(findings)})", style="bold red"))
    for finding in findings[:top]:
        line = Text("  ✗ ", style="red") + safe_text(finding.message())
        console.print(line)
        if finding.syscall:
            console.print(
                safe_text(
                    f"      log line {finding.lineno}: "
                    f"{finding.syscall}({clip(finding.detail, 70)})",
                    style="dim",
                ),
                no_wrap=True,
                overflow="ellipsis",
            )
    if len(findings) > top:
        console.print(Text(f"  … and {len(findings) - top} more (--top N shows more)"))


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
    table = _table(
        "Tasks",
        (
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
