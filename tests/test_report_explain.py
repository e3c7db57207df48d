"""`syscorr explain` over the committed traces: golden text at 100 columns, and the claims the
story must make from each trace's own events (the seed question's four answers, sockets on the
echo trace, the blocking lines, what is missing without agent events)."""

import re
import shutil

import pytest

from syscorr.analysis.findings import Rules
from syscorr.analysis.summary import summarize_trace
from syscorr.report.explain import render_explain
from syscorr.report.explain_facts import Facts, SourceLines
from tests.conftest import run_syscorr
from tests.golden_util import ROOT, TRACES, assert_golden, render_to_text, scrub, trace_path

HEADINGS = (
    "1. What does `async def` become?",
    "2. How does `await` split the execution?",
    '3. Who is the "global manager"? The event loop',
    "4. How does Python learn that a timer is due, or that I/O is ready?",
    "4a. Timers are epoll_wait timeouts",
    "4b. Sockets: non-blocking, and ready rather than done",
)


def explain_text(path, width: int = 100):
    facts = Facts()
    summary = summarize_trace(path, Rules(), keep=facts.observe)
    facts.finish()
    sources = SourceLines([ROOT])
    text = render_to_text(lambda c: render_explain(summary, facts, c, sources), width=width)
    return text, summary


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("name", ["seed", "echo", "blocking"])
def test_explain_matches_golden(name):
    text, summary = explain_text(trace_path(name))
    assert_golden(f"explain-{name}.txt", scrub(text, summary))


def test_seed_answers_the_four_questions_in_order_from_its_events():
    text, summary = explain_text(trace_path("seed"))
    positions = [text.index(h) for h in HEADINGS]
    assert positions == sorted(positions)
    one = flat(text[positions[0] : positions[1]])
    # (1) the worker's frame: PY_START at its def line, suspended at the await, resumed there
    assert "task Task-2 ran the coroutine `worker`" in one
    assert "seed.py:10 `async def worker(name: str, delay: float) -> str:`" in one
    assert "PY_START" in one and "PY_RESUME" in one
    assert 'printed "A: start"' in one and "seed.py:12 `await asyncio.sleep(delay)`" in one
    two = flat(text[positions[1] : positions[2]])
    # (2) A and B interleave on one thread; B finishes first
    assert re.search(
        r"Task-2 worker +starts at seed.py:10, prints \"A: start\", suspends at seed.py:12", two
    )
    assert re.search(r"Task-3 worker +starts at seed.py:10, prints \"B: start\"", two)
    assert "Task-3 worker started after Task-2 worker yet finished first" in two
    three = flat(text[positions[2] : positions[3]])
    loop_tid = next(iter(summary.accounts.loops))
    assert f"the loop ran on thread {loop_tid} (the program's main thread): 14 iterations" in three
    assert "fd 5, created" in three and "epoll_create1" in three
    assert "Task-2 ran `worker`; Task-3 ran `worker`" in three
    four = flat(text[positions[4] :])
    # (4) the timer is the epoll_wait timeout: 50 ms asked, returned 0 after 50.1 ms
    assert "epoll_wait(5<anon_inode:[eventpoll]>, [], 1, 50) = 0" in four
    assert re.search(r"Wait at most 50\.0 ms\. It returned 0 after 50\.\d ms", four)
    assert "Task Task-3 worker resumed in iteration 4" in four
    assert "used no network sockets" in four and "syscorr run fixtures/apps/echo.py" in four


def test_echo_shows_nonblocking_sockets_and_a_readiness_round():
    text = flat(explain_text(trace_path("echo"))[0])
    assert re.search(r"task client-0: ioctl\(9<TCP:\[\d+\]>, FIONBIO, \[1\]\) = 0", text)
    assert "got EAGAIN" in text
    assert re.search(
        r"iteration 11 at [\d.]+ ms: epoll_wait \(timeout forever\) returned after "
        r"[\d.]+ µs: fd 11 EPOLLIN",
        text,
    )
    assert 'recvfrom(fd 11) = 22 B "task=client-0 round=0\\n"' in text
    assert re.search(r"task handler-\d+ resumes at echo.py:19", text)
    assert "it ran in the next iteration (12)" in text


def test_blocking_names_each_blocking_line_and_the_fix():
    text = flat(explain_text(trace_path("blocking"))[0])
    for task, line in (("sleeper", 26), ("reader", 39), ("fetcher", 56)):
        assert f"task {task} at blocking.py:{line} `" in text
    assert "asyncio.to_thread" in text


def test_without_agent_says_what_is_missing_and_still_explains_the_loop(tmp_path, monkeypatch):
    shutil.copytree(TRACES / "echo", tmp_path / "noagent")
    shutil.rmtree(tmp_path / "noagent" / "agent")
    monkeypatch.chdir(tmp_path)
    text, summary = explain_text("noagent")
    assert_golden("explain-echo-no-agent.txt", scrub(text, summary))
    text = flat(text)
    assert "What is missing: this trace has no agent events" in text
    assert "syscorr run your_app.py" in text
    assert "28 iterations" in text
    assert "epoll_wait said fd 11 was readable" in text


def test_cli_explain_plain_text_and_output_file(tmp_path):
    done = run_syscorr("explain", str(TRACES / "seed"))
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "\x1b[" not in out and HEADINGS[0] in out
    target = tmp_path / "story.txt"
    done = run_syscorr("explain", str(TRACES / "seed"), "-o", str(target), "--width", "60")
    assert done.returncode == 0, done.stderr
    lines = target.read_text().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 60 and HEADINGS[0] in lines
