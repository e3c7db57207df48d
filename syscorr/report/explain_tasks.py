"""`syscorr explain`, first half: the introduction, coroutines, `await`, and the event loop.

Contract: each function writes one part of the story to a `Story` (syscorr/report/explain.py)
from a `TraceSummary` and its `Facts`, quoting this trace's events; when the trace lacks what a
part needs (no agent events, no loop) the part says what is missing and how to record it.
"""

import shlex

from syscorr.analysis.summary import TraceSummary
from syscorr.report.explain_facts import (
    ASYNCIO,
    GENERATED,
    INSTALLED,
    STDLIB,
    Facts,
    code_origin,
    package_of,
)
from syscorr.report.fmt import clip, ms

MAX_STEP_LINES = 12
MAX_ITERATION_LINES = 8
MAX_TASK_NAMES = 8
NO_AGENT = (
    "This part needs the agent's events (coroutine frames starting, pausing and resuming), "
    "and this trace has none. Record the program with `syscorr run your_app.py` to see it."
)


def intro(story, summary: TraceSummary, facts: Facts) -> None:
    meta = summary.meta
    acc = summary.accounts
    command = shlex.join(str(a) for a in meta.get("command") or []) or "an imported log"
    span = (acc.last_ts - acc.first_ts) if acc.first_ts and acc.last_ts else None
    exit_info = meta.get("exit") or {}
    ended = (
        f"exited with status {exit_info.get('code')}"
        if exit_info.get("code") is not None
        else "did not finish normally"
    )
    story.heading(f"How asyncio ran `{clip(command, 80)}` — explained from its trace")
    agent = (
        "syscorr's agent, inside Python, wrote down each time a coroutine started, paused and "
        "continued. Both used the same clock, so they line up. "
        if summary.has_agent
        else ""
    )
    story.para(
        f"Trace {summary.loaded.trace.path}: the program "
        + (f"ran for {ms(span)} and {ended}. " if span else f"{ended}. ")
        + "strace, outside the program, wrote down every request the program made to the Linux "
        "kernel: a system call, or syscall, such as `write` (send bytes to a file, a terminal "
        "or a socket) or `epoll_wait` (sleep until one of these things happens). "
        + agent
        + "Below, times are counted from the first recorded syscall"
        + (", and `file:line` points into your code." if summary.has_agent else ".")
    )
    if not summary.has_agent:
        reason = (
            "it was imported from a syscall log"
            if meta.get("kind") == "import"
            else "its agent log is missing; the agent runs only in Python 3.12+ programs"
        )
        story.para(
            f"What is missing: this trace has no agent events ({reason}). The kernel's view "
            "is all there is, so tasks, coroutines and source lines cannot be shown; parts 1 "
            "and 2 are skipped and the rest is told from the syscalls alone. Record with "
            "`syscorr run your_app.py` to get the whole story."
        )
    if facts.truncated:
        story.para(
            "This is a long trace: the examples below come from its first "
            "part; `syscorr report --timeline` shows all of it."
        )


def async_def(story, summary: TraceSummary, facts: Facts) -> None:
    story.heading("1. What does `async def` become?")
    story.para(
        "Calling an `async def` function runs none of its body. It returns a coroutine "
        "object: a Python frame (the function's local variables, plus a bookmark saying which "
        "instruction comes next) that can stop in the middle and be continued later. "
        "Something must call the coroutine's send() method to run it up to its next pause; "
        "in asyncio that something is a Task."
    )
    if not summary.has_agent:
        story.para(NO_AGENT)
        return
    example = facts.example_coroutine()
    if example is None:
        inside = None if facts.user_tasks() else facts.user_frame_in_library_task()
        if inside is None:
            story.para(
                "No coroutine of your own code appears in this trace's task steps, so there "
                "is no example to show here."
            )
            return
        step, frame = inside
        root = step.resumed_at
        story.para(
            "No task here is rooted in your own code: every task's root coroutine is a "
            f"library's (this one's is `{root.qualname if root else '?'}`, at "
            f"{story.where(root)}). Your coroutines run inside those tasks, deeper in their await "
            "chains: "
            f"at {story.at(step.start)} task {step.name} paused in your `{frame.qualname}` at "
            f"{story.where(frame)}, its await chain passing the pause up through the library's "
            "frames to the Task, one PY_YIELD event per frame."
        )
        return
    first, later = example
    frame = first.resumed_at
    printed = facts.output_of(first)
    said = f' printed "{clip(printed, 40)}" and' if printed else ""
    chain = first.suspended_at
    inner = chain[0].qualname if chain else "?"
    story.para(
        f"In this trace, task {first.name.removesuffix(' ' + frame.qualname)} ran the coroutine "
        f"`{frame.qualname}`. Its frame "
        f"began at {story.at(first.start)}, at {story.where(frame)}: Python reported PY_START, "
        f"the event for a frame that begins. The frame ran for {ms(first.duration)},"
        f"{said} then paused at {story.where(chain[-1] if chain else None)}. The pause "
        f"travelled up the await chain ({len(chain)} frame{'s' * (len(chain) != 1)}, "
        f"innermost `{inner}`): one PY_YIELD event per frame, up to the Task."
    )
    if later is not None:
        how = {"return": "ran to its end and returned", "unwind": "ended by raising"}.get(
            later.ended_by, "paused again"
        )
        story.para(
            f"The same frame continued {ms(later.start - first.end if first.end else None)} "
            f"later, at {story.at(later.start)}, right where it had stopped "
            f"({story.where(later.resumed_at, with_source=False)}): Python reported PY_RESUME, "
            f"not PY_START, because its local variables were still there. Then it {how}. "
            "In between, nothing of it ran and it held no thread: a paused coroutine is just "
            "an object in memory."
        )


def _step_line(story, facts: Facts, step, pad: int) -> str:
    verb = "starts" if step.started_by == "start" else "resumes"
    where = story.where(step.resumed_at, False)
    text = f"{story.at(step.start):>9}  {step.name:<{pad}}  {verb} at {where}"
    printed = facts.output_of(step)
    if printed:
        text += f', prints "{clip(printed, 30)}"'
    if step.ended_by == "yield" and step.suspended_at:
        awaiting = f" (awaiting {step.awaiting})" if step.awaiting else ""
        text += f", suspends at {story.where(step.suspended_at[-1], False)}{awaiting}"
    else:
        text += {"return": ", returns", "unwind": ", raises"}.get(step.ended_by, "")
    return text


def await_splits(story, summary: TraceSummary, facts: Facts) -> None:
    story.heading("2. How does `await` split the execution?")
    story.para(
        "When a coroutine awaits something that is not finished yet (a sleep, a socket with "
        "no data), `await` does not wait there. It hands control straight up through every "
        "coroutine that is awaiting it, like a `yield`, to the Task. The Task's call to send() "
        "returns, and that piece of work, a step, is over. The thread goes back to the event "
        "loop, which runs other steps. When the awaited thing is done, the loop calls the Task "
        "again, the Task calls send() again, and the coroutine continues just after its await."
    )
    if not summary.has_agent:
        story.para(NO_AGENT)
        return
    steps = facts.user_task_steps() or facts.task_steps()
    if not steps:
        story.para("No task ran a step in this trace.")
        return
    tids = sorted({s.tid for s in steps})
    thread = f"thread {tids[0]}" if len(tids) == 1 else f"threads {', '.join(map(str, tids))}"
    story.para(
        f"These are the steps of your tasks in the order they ran, on {thread}: one at a time, "
        "never two at once. Each line is one call of send() by the Task, from where the "
        "coroutine started or resumed to where it suspended again."
    )
    shown = steps[:MAX_STEP_LINES]
    pad = max(len(s.name) for s in shown)
    story.evidence([_step_line(story, facts, s, pad) for s in shown])
    if len(steps) > MAX_STEP_LINES:
        story.para(
            f"… and {len(steps) - MAX_STEP_LINES} more steps (see `syscorr report --timeline`)."
        )
    root = steps[0].task
    pairs = [
        (a, b)
        for a, b in zip(steps, steps[1:], strict=False)
        if a.task != b.task and a.ended_by == "yield" and a.suspended_at
    ]
    pairs.sort(key=lambda ab: ab[0].task == root)  # stable: a pair without the root task first
    if pairs:
        a, b = pairs[0]
        story.para(
            f"Look at {a.name} and {b.name}: {a.name} suspended at "
            f"{story.where(a.suspended_at[-1], False)} and {b.name} ran at once, on the same "
            "thread, while the first one waited. An await is the only place where a task lets "
            "others run; between two awaits a step runs to its end with nothing else running "
            "on its thread."
        )
        ends = {s.task: s.end for s in steps if s.ended_by in ("return", "unwind") and s.end}
        if ends.get(a.task) and ends.get(b.task) and ends[b.task] < ends[a.task]:
            story.para(
                f"{b.name} started after {a.name} yet finished first, at "
                f"{story.at(ends[b.task])} against {story.at(ends[a.task])}: the order of the "
                "steps follows what each task waited for, not the order they were started in."
            )


def _loop_line(story, facts: Facts, it) -> str:
    timeout = "forever" if it.timeout_ns is None or it.timeout_ns < 0 else ms(it.timeout_ns)
    ready = ", ".join(f"fd {fd} {events}" for fd, events in it.ready)
    got = f"fd ready: {ready}" if ready else "nothing ready"
    ran = [
        f"{'task' if s.kind == 'task' else 'callback'} {s.name}"
        for s in facts.steps_in(it.tid, it.index)
    ]
    then = f"; ran {', '.join(ran[:3])}{' …' if len(ran) > 3 else ''}" if ran else ""
    return (
        f"iteration {it.index} at {story.at(it.wait.ts)}: {it.wait.name} (timeout {timeout}) "
        f"waited {ms(it.waited_ns)}, {got}{then}"
    )


def event_loop(story, summary: TraceSummary, facts: Facts) -> None:
    story.heading('3. Who is the "global manager"? The event loop')
    loops = list(summary.accounts.loops.values())
    if not loops:
        story.para(
            "No event loop was seen in this trace: no thread repeatedly waited in epoll_wait, "
            "poll or select. If the program uses asyncio, record it with `syscorr run` and "
            "the default syscall set (`--syscalls asyncio`), which includes the loop's waits."
        )
        return
    loop = max(loops, key=lambda lp: lp.iterations)
    first_wait = next((it for it in facts.iterations if it.tid == loop.tid), None)
    wait_name = first_wait.wait.name if first_wait else "epoll_wait"
    story.para(
        "There is no manager hidden inside the interpreter. asyncio.run() created an event "
        "loop, an ordinary Python object, and ran it on one thread until the main coroutine "
        "finished. The loop repeats one iteration (BaseEventLoop._run_once) again and again: "
        f"(1) ask the kernel which of its file descriptors are ready, waiting at most until "
        f"the next timer is due: one {wait_name} syscall; (2) run, one after the other, the "
        "callbacks that are ready. A Task's step is such a callback (Task.__step calls the "
        "coroutine's send()); so is the code that reads a socket once it is ready, and the "
        "code that ends a sleep."
    )
    story.para(
        f"Here the loop ran on thread {loop.tid}"
        + (" (the program's main thread)" if loop.tid == loop.pid else f" of process {loop.pid}")
        + f": {loop.iterations} "
        f"iterations, {ms(loop.waited_ns)} waiting in {wait_name} and {ms(loop.busy_ns)} "
        "running callbacks and steps. Its first iterations:"
    )
    iterations = [it for it in facts.iterations if it.tid == loop.tid]
    story.evidence([_loop_line(story, facts, it) for it in iterations[:MAX_ITERATION_LINES]])
    epoll_fd = facts.loop_epoll_fd(loop.tid)
    created = (
        facts.epoll_created(loop.pid, epoll_fd, first_wait.wait.ts if first_wait else None)
        if epoll_fd is not None
        else None
    )
    added = facts.epoll_added(loop.pid, epoll_fd)[:4] if created is not None else []
    if created is not None:
        text = (
            f"The loop's side in the kernel is one epoll instance: fd {epoll_fd}, the fd its "
            f"{wait_name} calls wait on, created at {story.at(created.call.ts)} with "
            f"{created.call.name}. Every fd the loop must watch is registered in it once with "
            "epoll_ctl(EPOLL_CTL_ADD)"
        )
        if added:
            text += ", here: " + "; ".join(
                f"fd {c.call.arg_list()[2].split('<', 1)[0]} ({_label(c)})"
                for c in added
                if len(c.call.arg_list()) > 2
            )
            text += (
                ". The first is usually the loop's self-pipe, one end of a socket pair that "
                "other threads and signal handlers write to when they need to wake the loop."
            )
        story.para(text + ("" if added else "."))
    elif epoll_fd is not None:
        story.para(
            f"The loop's side in the kernel is one epoll instance, fd {epoll_fd}: its "
            f"{wait_name} calls wait on it (the trace does not show where it was created)."
        )
    tasks = sorted(summary.accounts.tasks.values(), key=lambda t: (t.first_ts or 0, t.key))
    if tasks:
        firsts = {(s.pid, s.task): s for s in reversed(facts.task_steps())}
        named = []
        for task in tasks[:MAX_TASK_NAMES]:
            step = firsts.get((task.pid, task.key))
            frame = step.resumed_at if step else None
            what = f"`{frame.qualname}`" if frame else "a coroutine"
            label = task.name.removesuffix(f" {frame.qualname}") if frame else task.name
            named.append(f"{label} ran {what}{_whose(frame)}")
        more = f", and {len(tasks) - MAX_TASK_NAMES} more" if len(tasks) > MAX_TASK_NAMES else ""
        story.para(
            f"The Task objects are what drive the coroutines: {len(tasks)} were created here. "
            + "; ".join(named)
            + more
            + ". A Task wraps one coroutine and, each time the loop "
            "runs it, calls send() once: that is one step."
        )


def _whose(frame) -> str:
    """Whose code a coroutine is, when it is not the user's."""
    if frame is None:
        return ""
    origin = code_origin(frame.filename)
    if origin == ASYNCIO:
        return " (asyncio's own)"
    if origin == STDLIB:
        return " (standard library)"
    if origin == INSTALLED:
        return f" (from the installed package {package_of(frame.filename)})"
    if origin == GENERATED:
        return " (generated code)"
    return ""


def _label(item) -> str:
    args = item.call.arg_list()
    if len(args) > 2 and "<" in args[2]:
        return args[2].split("<", 1)[1].rstrip(">")
    return "fd"
