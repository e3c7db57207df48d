"""ThreadSteps on hand-built agent event streams: frames, task steps (nested for eager tasks),
callbacks, the await chain at suspension and the line a CALL moves the innermost frame to."""

from syscorr.correlate.model import Frame
from syscorr.correlate.steps import ThreadSteps
from syscorr.trace.agentlog import AgentEvent, CodeInfo, EventKind

K = EventKind


def codes(*names: str) -> dict[int, CodeInfo]:
    """Code ids 1.. for `names`; offset N of code i is at line 10 * i + N // 10."""
    return {
        i: CodeInfo(
            name,
            f"/app/{name}.py",
            10 * i,
            tuple((n * 10, n * 10 + 10, 10 * i + n) for n in range(20)),
        )
        for i, name in enumerate(names, 1)
    }


def feed(steps: ThreadSteps, *events: tuple) -> list:
    """Feed (kind, code, task[, offset]) tuples at ts 1, 2, ...; all closed steps, in order."""
    closed = []
    for n, (kind, code, task, *rest) in enumerate(events, 1):
        offset = rest[0] if rest else 0
        closed += steps.feed(AgentEvent(int(kind), 7, n, task, code, offset, n))
    return closed


def test_a_first_step_opens_on_start_and_closes_on_the_roots_yield():
    steps = ThreadSteps(codes("main"))
    (closed,) = feed(steps, (K.PY_START, 1, 50), (K.PY_YIELD, 1, 50, 30))
    assert closed.step.kind == "task" and closed.step.task == 50
    assert closed.step.started_by == "start" and closed.ended_by == "yield"
    assert (closed.step.start, closed.end) == (1, 2)
    assert closed.chain == (Frame("main", "/app/main.py", 13),)
    assert steps.current() is None and steps.frames == []


def test_an_await_chain_yields_innermost_first_and_is_one_step():
    steps = ThreadSteps(codes("handler", "fetch"))
    events = [
        (K.PY_RESUME, 1, 50),
        (K.PY_RESUME, 2, 50),
        (K.PY_YIELD, 2, 50, 40),
        (K.PY_YIELD, 1, 50, 20),
    ]
    (closed,) = feed(steps, *events)
    assert [f.qualname for f in closed.chain] == ["fetch", "handler"]
    assert [f.line for f in closed.chain] == [24, 12]
    assert closed.step.resumed_at == Frame("handler", "/app/handler.py", 10)


def test_a_library_yield_outside_the_frame_stack_joins_the_chain_only():
    # the agent records only the innermost YIELD of a standard-library coroutine
    steps = ThreadSteps(codes("handler", "StreamReader._wait_for_data"))
    closed = feed(steps, (K.PY_RESUME, 1, 50), (K.PY_YIELD, 2, 50, 10))
    assert closed == [] and len(steps.frames) == 1  # the library frame is not on the stack
    (closed,) = feed(steps, (K.PY_YIELD, 1, 50, 30))
    assert [f.qualname for f in closed.chain] == ["StreamReader._wait_for_data", "handler"]


def test_a_return_ends_the_step_with_no_chain():
    steps = ThreadSteps(codes("main"))
    (closed,) = feed(steps, (K.PY_RESUME, 1, 50), (K.PY_RETURN, 1, 50))
    assert closed.ended_by == "return" and closed.chain == ()


def test_an_eager_tasks_first_step_nests_inside_the_creating_step():
    steps = ThreadSteps(codes("parent", "child"))
    events = [(K.PY_RESUME, 1, 50), (K.PY_START, 2, 60)]
    assert feed(steps, *events) == []
    assert [s.task for s in steps.tasks] == [50, 60] and steps.current().task == 60
    (child,) = feed(steps, (K.PY_YIELD, 2, 60))  # the eager child suspends: back in the parent
    assert child.step.task == 60 and child.step.base_depth == 1
    assert steps.current().task == 50
    (parent,) = feed(steps, (K.PY_YIELD, 1, 50))
    assert parent.step.task == 50


def test_a_coroutine_of_the_same_task_does_not_open_a_second_step():
    steps = ThreadSteps(codes("main", "helper"))
    feed(steps, (K.PY_RESUME, 1, 50), (K.PY_START, 2, 50))  # `await helper()` starts a frame
    assert len(steps.tasks) == 1
    assert feed(steps, (K.PY_RETURN, 2, 50)) == []  # the helper returns: the step goes on
    (closed,) = feed(steps, (K.PY_YIELD, 1, 50))
    assert closed.step.task == 50


def test_a_call_moves_the_innermost_frame_to_its_line():
    steps = ThreadSteps(codes("main"))
    feed(steps, (K.PY_RESUME, 1, 50))
    assert steps.innermost().line == 10
    feed(steps, (K.CALL, 1, 50, 70))
    assert steps.innermost() == Frame("main", "/app/main.py", 17)
    feed(steps, (K.CALL, 2, 50, 90))  # a CALL of another code: not the innermost frame, ignored
    assert steps.innermost().line == 17


def test_a_callback_is_a_step_and_knows_when_it_ran_a_task_step():
    steps = ThreadSteps(codes("main"))
    feed(steps, (K.CALLBACK_START, 9, 0))
    assert steps.current().kind == "callback"
    (closed,) = feed(steps, (K.CALLBACK_END, 0, 0))
    assert closed.step.kind == "callback" and closed.ended_by == "callback-end"
    assert not closed.step.contains_task_step

    feed(steps, (K.CALLBACK_START, 9, 50), (K.PY_RESUME, 1, 50))
    assert steps.current().kind == "task"  # a task step inside its Handle._run
    feed(steps, (K.PY_YIELD, 1, 50))
    (handle,) = feed(steps, (K.CALLBACK_END, 0, 0))
    assert handle.step.contains_task_step


def test_unknown_codes_and_unbalanced_events_do_not_raise():
    steps = ThreadSteps({})
    assert feed(steps, (K.PY_YIELD, 5, 50), (K.PY_RETURN, 5, 50), (K.CALLBACK_END, 0, 0)) == []
    feed(steps, (K.PY_RESUME, 5, 50))
    assert steps.innermost() == Frame("<code 5>", "?", 0)


def test_close_all_ends_what_is_still_open_innermost_first():
    steps = ThreadSteps(codes("parent", "child"))
    feed(steps, (K.CALLBACK_START, 9, 0), (K.PY_RESUME, 1, 50), (K.PY_START, 2, 60))
    closed = steps.close_all()
    assert [(c.step.kind, c.step.task, c.ended_by, c.end) for c in closed] == [
        ("task", 60, "open", None),
        ("task", 50, "open", None),
        ("callback", 0, "open", None),
    ]
    assert steps.current() is None


def feed_at(steps: ThreadSteps, *events: tuple) -> list:
    """Feed (ts, kind, code, task, offset[, span µs]) tuples; all closed steps, in order."""
    closed = []
    for n, (ts, kind, code, task, offset, *span) in enumerate(events, 1):
        event = AgentEvent(int(kind), 7, ts, task, code, offset, n, span[0] if span else 0)
        closed += steps.feed(event)
    return closed


def test_a_line_is_known_during_its_calls_span_only():
    """No CALL recorded for a moment: the coroutine without a line, never an earlier call's."""
    steps = ThreadSteps(codes("main"))
    feed_at(steps, (1_000, K.PY_RESUME, 1, 50, 0))
    assert steps.innermost(1_000).line == 10 and steps.innermost(1_500).line == 0  # after it
    feed_at(steps, (2_000, K.CALL, 1, 50, 70, 30))  # a call at line 17 with a 30 µs span
    assert steps.innermost(2_000 + 29_000) == Frame("main", "/app/main.py", 17)
    assert steps.innermost(2_000 + 31_000) == Frame("main", "/app/main.py", 0)
    # a log without spans: the call surely lasted the agent's call gap
    old = ThreadSteps(codes("main"), call_gap_ns=500_000)
    feed_at(old, (1_000, K.PY_RESUME, 1, 50, 0), (2_000, K.CALL, 1, 50, 70))
    assert old.innermost(2_000 + 499_000).line == 17 and old.innermost(2_000 + 501_000).line == 0


def test_a_frame_under_an_await_keeps_the_line_it_resumed_at():
    steps = ThreadSteps(codes("handler", "fetch"))
    feed_at(steps, (1_000, K.PY_RESUME, 1, 50, 40), (2_000, K.PY_RESUME, 2, 50, 0))
    assert steps.frames[0][2] > 10**15  # covered: at its await while `fetch` runs
    feed_at(steps, (3_000, K.PY_RETURN, 2, 50, 0))
    assert steps.innermost(3_000).line == 14 and steps.innermost(3_500).line == 0


def test_a_steps_time_goes_to_the_place_the_stack_shows():
    steps = ThreadSteps(codes("main"))
    (closed,) = feed_at(
        steps,
        (0, K.PY_RESUME, 1, 50, 0),
        (1_000, K.CALL, 1, 50, 70, 150_000),  # a 150 ms call at line 17
        (151_001_000, K.PY_YIELD, 1, 50, 90),
    )
    (top, *rest) = steps.places_of(closed.step)
    assert top.frame == Frame("main", "/app/main.py", 17) and top.caller is None
    assert 150_000_000 <= top.ns <= 151_000_000
    assert sum(p.ns for p in rest) < 2_000_000


def test_time_in_a_library_frame_is_also_the_users_frame_under_it():
    lib = codes("handler", "Response.write")
    lib[2] = lib[2]._replace(filename="/venv/lib/python3.13/site-packages/web/response.py")
    steps = ThreadSteps(lib)
    (closed,) = feed_at(
        steps,
        (0, K.PY_RESUME, 1, 50, 30),  # the user's handler resumes at its await (line 13)
        (1_000, K.PY_RESUME, 2, 50, 0),
        (2_000, K.CALL, 2, 50, 50, 200_000),  # the library burns 200 ms in a call
        (202_002_000, K.PY_YIELD, 2, 50, 60),
        (202_003_000, K.PY_YIELD, 1, 50, 30),
    )
    top = steps.places_of(closed.step)[0]
    assert top.frame == Frame("Response.write", lib[2].filename, 25)
    assert top.caller == Frame("handler", "/app/handler.py", 13)


def test_an_eager_step_is_counted_in_its_own_step_only():
    steps = ThreadSteps(codes("parent", "child"))
    closed = feed_at(
        steps,
        (0, K.PY_RESUME, 1, 50, 0),
        (1_000, K.PY_START, 2, 60, 0),
        (120_000_000, K.PY_YIELD, 2, 60, 10),
        (120_001_000, K.PY_YIELD, 1, 50, 10),
    )
    child, parent = closed
    assert parent.step.nested_ns == 120_000_000 - 1_000
    assert child.step.nested_ns == 0
    assert sum(parent.step.places.values()) == 2_000  # before and after the child
