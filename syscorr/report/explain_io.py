"""`syscorr explain`, second half: timers, sockets (non-blocking, readiness), blocking, next steps.

Contract: like explain_tasks.py, each function writes one part of the story to a `Story` from a
`TraceSummary` and its `Facts`, quoting this trace's events, and says what is missing when the
trace has no example (a program without sockets, a trace without agent events).
"""

from syscorr.analysis.findings import counts, group_findings
from syscorr.analysis.summary import TraceSummary
from syscorr.report.explain_facts import Facts
from syscorr.report.fmt import clip, ms, size

MAX_NONBLOCK_LINES = 4
MAX_FINDINGS = 5
NONBLOCK_HOW = {
    "fcntl": "fcntl(F_SETFL, O_NONBLOCK) switches an open fd to non-blocking mode",
    "ioctl": "ioctl(FIONBIO, [1]) switches a socket to non-blocking mode (Python's "
    "socket.setblocking(False) does this)",
    "socket": "SOCK_NONBLOCK creates the socket already non-blocking",
    "socketpair": "SOCK_NONBLOCK creates the pair already non-blocking",
    "accept4": "SOCK_NONBLOCK makes the accepted connection non-blocking from the start",
    "pipe2": "O_NONBLOCK creates the pipe already non-blocking",
    "eventfd2": "EFD_NONBLOCK creates the eventfd already non-blocking",
}


def _who(item) -> str:
    if item.task_name:
        return f"task {item.task_name}"
    if item.callback:
        return f"callback {item.callback}"
    return {"loop": "the loop", "thread": "a worker thread"}.get(
        item.owner, "set-up code (before the loop ran)"
    )


def timers(story, summary: TraceSummary, facts: Facts) -> None:
    story.heading("4. How does Python learn that a timer is due, or that I/O is ready?")
    story.para(
        "Nothing interrupts Python: the loop asks. Everything it waits for goes into the one "
        "syscall that ends each iteration's wait, epoll_wait(epoll fd, list of ready events, "
        "room for N events, timeout in ms). The kernel puts the thread to sleep until one of "
        "the registered fds is ready or the timeout runs out, whichever comes first, and "
        "returns the number of ready fds (0 when the timeout ran out)."
    )
    story.heading("4a. Timers are epoll_wait timeouts")
    story.para(
        "`await asyncio.sleep(0.05)` does not put the thread to sleep. It stores a timer "
        "(loop.call_later: a time and a callback) in the loop's list of timers and suspends "
        "the task. Before each wait the loop takes the earliest timer and turns the time left "
        "until it into the timeout of epoll_wait. When callbacks are already waiting to run, "
        "the timeout is 0: just a quick look at the fds."
    )
    found = facts.timer_wake() if summary.has_agent else None
    if found is not None:
        step, it = found
        callbacks = [s.name for s in facts.steps_in(it.tid, it.index) if s.kind == "callback"]
        ran = f"ran the timer's callback `{callbacks[0]}`, which" if callbacks else ""
        story.para(
            f"In this trace, task {step.name} was sleeping. In iteration {it.index}, at "
            f"{story.at(it.wait.ts)}, the earliest timer was {_timeout(it)} away, so the loop "
            f"called (strace log line {it.wait.lineno}):"
        )
        story.evidence([story.raw(it.wait)])
        story.para(
            f"That asks: which fds are ready? Wait at most {_timeout(it)}. It returned "
            f"{it.wait.ret} after {ms(it.waited_ns)}: "
            + (
                "no fd was ready; the kernel woke the thread because the timeout ran out. "
                if it.timed_out
                else "some fds were ready as well. "
            )
            + f"The loop saw that the timer was due and {ran or 'ran its callback, which'} "
            f"marked the sleep as finished and scheduled the Task. Task {step.name} resumed "
            f"in iteration {step.iteration}, at {story.at(step.start)}, at "
            f"{story.where(step.resumed_at, with_source=False)}."
        )
        return
    waits = [it for it in facts.iterations if it.timeout_ns and it.timeout_ns > 0]
    if waits:
        it = waits[0]
        story.para(
            f"In this trace, iteration {it.index} at {story.at(it.wait.ts)} waited with a "
            f"timeout of {_timeout(it)} (strace log line {it.wait.lineno}) and returned after "
            f"{ms(it.waited_ns)}{' with nothing ready: a timer was due' if it.timed_out else ''}."
        )
        story.evidence([story.raw(it.wait)])
    else:
        story.para("No wait in this trace had a timeout: the program set no timers.")


def _timeout(it) -> str:
    if it.timeout_ns is None or it.timeout_ns < 0:
        return "forever"
    return ms(it.timeout_ns)


def sockets(story, summary: TraceSummary, facts: Facts) -> None:
    story.heading("4b. Sockets: non-blocking, and ready rather than done")
    nonblocking = list(facts.nonblocking_calls())
    fd_story = facts.fd_wake() if summary.has_agent else None
    sockets_seen = any(fd.label.startswith(("TCP", "UDP")) for fd in summary.accounts.fds.values())
    if not sockets_seen and fd_story is None:
        story.para(
            "This program used no network sockets; its output went out with plain write "
            "calls made inside the steps (print() does not go through the loop). To see how "
            "the loop handles sockets, record a program that uses them, for example the "
            "bundled echo server: `syscorr run fixtures/apps/echo.py --clients 2 --rounds 2`, "
            "then `syscorr explain`."
        )
        if nonblocking:
            story.para(
                "Even so, the loop made its own wake-up channel non-blocking: "
                f"{story.raw(nonblocking[0].call)}."
            )
        return
    story.para(
        "First, asyncio puts every socket it uses into non-blocking mode, so that no read or "
        "write can ever put the loop's thread to sleep. With a non-blocking socket, a read "
        'when no data has arrived fails at once with the error EAGAIN ("try again") '
        "instead of waiting."
    )
    if nonblocking:
        lines = [
            f"{story.at(c.call.ts):>9}  {_who(c)}: {story.raw(c.call)}"
            for c in nonblocking[:MAX_NONBLOCK_LINES]
        ]
        story.evidence(lines)
        names = []
        for c in nonblocking[:MAX_NONBLOCK_LINES]:
            how = NONBLOCK_HOW.get(c.call.name)
            if how and how not in names:
                names.append(how)
        text = "; ".join(names)
        story.para(text[:1].upper() + text[1:] + ".")
    if facts.eagain_count:
        example = facts.eagain[0]
        story.para(
            f"{facts.eagain_count} call{'s' * (facts.eagain_count != 1)} in this trace got "
            f"EAGAIN, for example {_who(example)} at {story.at(example.call.ts)}: "
            f"{clip(story.raw(example.call), 120)}. asyncio then waits for readiness instead."
        )
    else:
        story.para(
            "No call in this trace got EAGAIN: asyncio read each socket only after epoll had "
            "said it had data, so there always was some."
        )
    story.para(
        'Readiness, not completion. epoll tells the loop only that an fd is ready: "there are '
        'bytes to read on this socket now". The program still does the read itself, and it '
        "returns at once. (Completion-based I/O, where the kernel performs the read and "
        "reports when it is done, as Windows IOCP or Linux io_uring do, is not what asyncio's "
        "default loop uses on Linux.)"
    )
    if fd_story is None:
        _ready_then_read(story, facts)
        return
    step, it, read = fd_story
    fd = step.wake.fd
    ready = ", ".join(f"fd {n} {events}" for n, events in it.ready)
    lines = [
        f"iteration {it.index} at {story.at(it.wait.ts)}: {it.wait.name} (timeout "
        f"{_timeout(it)}) returned after {ms(it.waited_ns)}: {ready}"
    ]
    if read is not None:
        data = read.call.data()
        text = data.data.decode("utf-8", "replace").replace("\n", "\\n") if data else ""
        payload = f' "{clip(text, 40)}"' if data else ""
        lines.append(
            f"  same iteration, callback {read.callback or '?'}: {read.call.name}(fd {fd}) "
            f"= {size(max(read.call.retval or 0, 0))}{payload}"
        )
    lines.append(
        f"iteration {step.iteration} at {story.at(step.start)}: task {step.name} resumes at "
        f"{story.where(step.resumed_at, with_source=False)}"
    )
    calls = facts.calls_of(step)
    if calls:
        lines.append(f"  and calls {story.raw(calls[0].call)}")
    story.para("Here is one complete round from this trace:")
    story.evidence([clip(line, 200) for line in lines])
    source = story.sources.line(step.resumed_at)
    awaited = f" (`{source}`)" if source else ""
    events = next((ev for n, ev in it.ready if n == fd), "ready")
    meaning = "data to read" if "EPOLLIN" in events else "ready"
    story.para(
        f"epoll_wait reported fd {fd} {events}: {meaning}. "
        + (
            f"The loop's callback for that fd, {read.callback}, read the bytes with "
            f"{read.call.name} and put them in the stream's buffer, which completed the "
            f"future task {step.name} was awaiting{awaited}. "
            if read is not None
            else f"A callback consumed it and completed what task {step.name} awaited. "
        )
        + f"That scheduled the Task, and it ran in the next iteration ({step.iteration}): "
        "the loop never waits for a read to finish, only for the kernel to say one will "
        "not block."
    )


def blocking(story, summary: TraceSummary, facts: Facts) -> None:
    found = [
        g
        for g in group_findings(summary.findings)
        if g.kind in ("blocking-syscall", "long-step") and counts(g)
    ]
    if not found:
        return
    found.sort(key=lambda g: -g.worst_ns)
    story.heading("5. When a step does not come back: the blocked loop")
    story.para(
        "All of this works only while every step returns to the loop quickly. A step that "
        "calls something blocking (time.sleep, a plain file read, a socket in blocking mode) "
        "holds the thread, and with it every other task, timer and socket. In this trace:"
    )
    lines = []
    for group in found[:MAX_FINDINGS]:
        worst = group.worst
        at = story.where(group.frame) if group.frame else "?"
        if worst.syscall:
            what = f"{worst.syscall}()"
        elif worst.syscalls >= 100:
            what = f"the step itself ({worst.syscalls} short syscalls and the work between them)"
        else:
            what = "the step itself (CPU work)"
        who = worst.who if len(group.who) == 1 else f"{len(group.who)} tasks"
        times = (
            f", {group.count} times (worst {ms(group.worst_ns)}, {ms(group.total_ns)} in all)"
            if group.count > 1
            else f" for {ms(group.worst_ns)}"
        )
        lines.append(f"{who} at {at}: {what} held the loop{times}")
    story.evidence(lines)
    loops = list(summary.accounts.loops.values())
    if loops:
        worst = max(loops, key=lambda lp: lp.worst_busy_ns)
        story.para(
            f"Meanwhile the loop could neither wait on its fds nor run any other step: its "
            f"worst iteration ({worst.worst_iteration}) was busy for {ms(worst.worst_busy_ns)}, "
            "and every task that was due in that time ran that much late. The fix is to await "
            "the asynchronous version (asyncio.sleep, asyncio streams, loop.sock_recv) or to "
            "move the blocking call to a thread with `await asyncio.to_thread(...)`."
        )


def notes(story, summary: TraceSummary, facts: Facts) -> None:
    if not summary.warnings:
        return
    story.heading("Notes on this trace")
    story.para("Some of the trace could not be used; the story above is told without it:")
    story.evidence([f"- {warning}" for warning in summary.warnings])


def closing(story, summary: TraceSummary, facts: Facts) -> None:
    story.heading("Where to look next")
    path = summary.loaded.trace.path
    story.para(
        f"`syscorr report {path}` gives the totals (tasks, sockets, threads) and the "
        f"findings; `syscorr report {path} --timeline` shows every event in order, and "
        "`--task NAME` or `--fd N` narrows it to one task or one socket."
    )


def _ready_then_read(story, facts: Facts) -> None:
    found = facts.ready_then_read()
    if found is not None:
        it, read = found
        fd = read.fd_key[1]
        story.para("Here is readiness followed by the read, from the syscalls alone:")
        story.evidence(
            [
                f"iteration {it.index} at {story.at(it.wait.ts)}: {story.raw(it.wait)}",
                f"then at {story.at(read.call.ts)}: {story.raw(read.call)}",
            ]
        )
        story.para(
            f"epoll_wait said fd {fd} was readable; right after, in the same iteration, the "
            f"loop read it with {read.call.name} and got {read.call.retval} bytes without "
            "waiting."
        )
    story.para(
        "Without agent events the trace cannot show which task each byte woke; `syscorr run` "
        "records them."
    )
