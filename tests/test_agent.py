"""End-to-end tests of the in-process agent: real fixture programs on every Python 3.12+ found.

Each test runs a program with the agent's inject directory first on PYTHONPATH and
SYSCORR_AGENT_DIR pointing at a temporary directory (what `syscorr run` does), then reads the
logs with `syscorr.trace.agentlog.read_agent_log`.
Nothing is mocked; the only hook is the documented
SYSCORR_AGENT_TEST_FAIL_AFTER, used to provoke an internal error.
"""

import glob
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from syscorr.trace.agentlog import AgentLog, EventKind, read_agent_log, read_agent_logs

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "fixtures" / "apps"
INJECT = ROOT / "syscorr" / "agent" / "inject"


def find_pythons(minimum=(3, 12)):
    """Interpreters of version >= `minimum` from pyenv and PATH, one per (major, minor)."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(os.path.join(root, "versions", "*", "bin", "python3")))
    candidates += [shutil.which(f"python3.{minor}") for minor in range(8, 20)]
    candidates += [sys.executable]
    found = {}
    for path in filter(None, candidates):
        try:
            out = subprocess.run(
                [path, "-c", "import sys; print(*sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue
        if len(out) == 2:
            found.setdefault((int(out[0]), int(out[1])), path)
    return {version: path for version, path in sorted(found.items()) if version >= minimum}


PYTHONS = find_pythons()
OLD_PYTHONS = {v: p for v, p in find_pythons((3, 8)).items() if v < (3, 12)}


def test_found_a_python_312_or_newer():
    assert PYTHONS, "no Python 3.12+ found (pyenv root or PATH): the agent cannot be tested"


@pytest.fixture(params=sorted(PYTHONS), ids=lambda v: f"py{v[0]}.{v[1]}")
def python(request):
    return PYTHONS[request.param]


def run(python, argv, agent_dir=None, env=None, pythonpath=(), timeout=60):
    """Run `python argv...`; with `agent_dir`, under the agent exactly as the runner sets it up."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SYSCORR_", "PYTHON"))}
    paths = [str(INJECT)] if agent_dir is not None else []
    paths += [str(p) for p in pythonpath]
    if paths:
        full_env["PYTHONPATH"] = os.pathsep.join(paths)
    if agent_dir is not None:
        full_env["SYSCORR_AGENT_DIR"] = str(agent_dir)
    full_env.update(env or {})
    return subprocess.run(
        [python, *map(str, argv)], capture_output=True, env=full_env, timeout=timeout, cwd=ROOT
    )


def run_source(python, tmp_path, filename, source, env=None):
    """Write `source` to tmp_path/filename and run it under the agent: (result, agent dir)."""
    program = tmp_path / filename
    program.write_text(source)
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    return run(python, [program], agent_dir=agent_dir, env=env), agent_dir


def only_log(agent_dir) -> AgentLog:
    logs = read_agent_logs(agent_dir)
    assert len(logs) == 1, [log.pid for log in logs]
    return logs[0]


def kinds_by_code(log: AgentLog) -> Counter:
    return Counter(
        (log.codes[e.code].qualname, e.kind)
        for e in log.events
        if e.kind not in (EventKind.CALLBACK_START, EventKind.AGENT_ERROR)
    )


def latest_names(log: AgentLog) -> dict[int, str]:
    names = {}
    for record in sorted(log.task_names, key=lambda r: r.ts):
        names[record.task] = record.name
    return names


def test_seed_records_two_worker_tasks_with_every_step(python, tmp_path):
    # SYSCORR_CALL_GAP_NS=0: write every CALL, not only those a pause follows
    result = run(python, [APPS / "seed.py"], agent_dir=tmp_path, env={"SYSCORR_CALL_GAP_NS": "0"})
    assert result.returncode == 0, result.stderr
    log = only_log(tmp_path)
    assert log.damaged == 0 and log.errors == [] and log.end is not None
    assert log.meta["pid"] == log.pid and log.meta["clock"] == "realtime"
    assert log.meta["tool_id"] == 4 and log.meta["call_sites"] is True
    assert log.meta["setup_start_ns"] <= log.meta["setup_end_ns"] <= log.events[0].ts
    worker = [e for e in log.events if log.codes.get(e.code, None) and e.kind <= EventKind.CALL]
    worker = [e for e in worker if log.codes[e.code].qualname == "worker"]
    tasks = {e.task for e in worker}
    assert len(tasks) == 2 and 0 not in tasks
    for task in tasks:
        kinds = [e.kind for e in worker if e.task == task and e.kind != EventKind.CALL]
        assert kinds == [EventKind.PY_START, EventKind.PY_YIELD, EventKind.PY_RESUME,
                         EventKind.PY_RETURN]  # fmt: skip
    names = latest_names(log)
    assert {names[t] for t in tasks} <= {f"Task-{i}" for i in range(2, 10)}
    assert len({names[t] for t in tasks}) == 2
    assert log.threads[log.meta["main_tid"]] == "MainThread"
    assert {e.tid for e in log.events} == {log.meta["main_tid"]}
    calls = [e for e in worker if e.kind == EventKind.CALL]
    lines = {log.codes[e.code].line_at(e.offset) for e in calls}
    assert lines >= {11, 13}  # print(); the asyncio.sleep() call (line 12) cannot block: left out
    assert 12 not in lines


def test_by_default_only_calls_followed_by_a_pause_are_written(python, tmp_path):
    """The call before a blocking syscall is kept (it names the line); quick ones are not."""
    result = run(python, [APPS / "blocking.py"], agent_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    log = only_log(tmp_path)
    assert log.meta["call_gap_ns"] == 500_000
    lines = {
        (log.codes[e.code].qualname, log.codes[e.code].line_at(e.offset))
        for e in log.events
        if e.kind == EventKind.CALL
    }
    source = (APPS / "blocking.py").read_text().splitlines()
    blocks = {i for i, text in enumerate(source, 1) if "# BLOCKS" in text}
    assert {line for _, line in lines} >= blocks
    (tmp_path / "all").mkdir()
    every = run(
        python, [APPS / "blocking.py"], agent_dir=tmp_path / "all", env={"SYSCORR_CALL_GAP_NS": "0"}
    )
    assert every.returncode == 0
    all_calls = [e for e in only_log(tmp_path / "all").events if e.kind == EventKind.CALL]
    assert len(all_calls) > 3 * len(lines)


def test_seed_events_are_in_time_order_and_callbacks_bracket_steps(python, tmp_path):
    run(python, [APPS / "seed.py"], agent_dir=tmp_path)
    log = only_log(tmp_path)
    stamps = [e.ts for e in log.events]
    assert stamps == sorted(stamps)
    assert [e.seq for e in log.events] == list(range(len(log.events)))
    depth = 0
    for event in log.events:
        depth += {EventKind.CALLBACK_START: 1, EventKind.CALLBACK_END: -1}.get(event.kind, 0)
        assert depth in (0, 1)
    names = {log.names[e.code] for e in log.events if e.kind == EventKind.CALLBACK_START}
    assert {"_set_result_unless_cancelled", "gather.<locals>._done_callback"} <= names
    # the handles that run steps of the user's tasks are left out: the steps tell them (the
    # "Task.__step" left are asyncio's own tasks: shutdown_asyncgens, shutdown_default_executor)
    assert "Task.task_wakeup" not in names
    loop_iterations = [e for e in log.events if e.kind == EventKind.LOOP_ITERATION]
    assert loop_iterations and log.codes[loop_iterations[0].code].qualname.endswith("_run_once")


def test_echo_client_and_handler_tasks_are_named(python, tmp_path):
    result = run(python, [APPS / "echo.py", "--clients", "4", "--rounds", "5"], tmp_path)
    assert result.returncode == 0 and b"echoed 20/20" in result.stdout
    log = only_log(tmp_path)
    names = set(latest_names(log).values())
    assert {f"client-{i}" for i in range(4)} <= names
    assert len({n for n in names if n.startswith("handler-")}) == 4
    steps = kinds_by_code(log)
    assert steps["client", EventKind.PY_RESUME] >= 4 * 5  # one readline wait per round
    reads = [e for e in log.events if e.kind == EventKind.CALLBACK_START]
    assert "_SelectorSocketTransport._read_ready" in {log.names[e.code] for e in reads}


def test_call_sites_can_be_turned_off_and_monotonic_clock_used(python, tmp_path):
    env = {"SYSCORR_CALL_SITES": "0", "SYSCORR_CLOCK": "monotonic"}
    run(python, [APPS / "seed.py"], agent_dir=tmp_path, env=env)
    log = only_log(tmp_path)
    assert log.meta["call_sites"] is False and log.meta["clock"] == "monotonic"
    assert not [e for e in log.events if e.kind == EventKind.CALL]
    assert log.meta["start_monotonic_ns"] - 10**9 < log.events[0].ts
    assert log.events[-1].ts < log.end["end_monotonic_ns"]


def test_sigkill_keeps_every_record_written_before_it(python, tmp_path):
    result = run(python, [APPS / "crash.py"], agent_dir=tmp_path)
    assert result.returncode == -signal.SIGKILL
    log = only_log(tmp_path)
    assert log.end is None and log.damaged == 0
    size = os.path.getsize(glob.glob(str(tmp_path / "agent-*.bin"))[0])
    mapped = size - 4096  # the mapping's size and the tail after it: never truncated
    assert mapped >= 1 << 20 and mapped & (mapped - 1) == 0
    steps = kinds_by_code(log)
    assert steps["spin", EventKind.PY_RESUME] >= 400 - 2
    assert steps["spin", EventKind.PY_RETURN] == 2
    assert steps["main", EventKind.PY_RESUME] >= 1


@pytest.mark.parametrize("argv", [["3"], ["SIGTERM"], ["0"]])
def test_output_and_exit_status_are_identical_with_and_without_agent(python, tmp_path, argv):
    plain = run(python, [APPS / "exitcode.py", *argv])
    traced = run(python, [APPS / "exitcode.py", *argv], agent_dir=tmp_path)
    assert (traced.returncode, traced.stdout, traced.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )
    assert plain.returncode in (0, 3, -signal.SIGTERM)
    assert only_log(tmp_path).events


@pytest.mark.parametrize("app", ["seed.py", "blocking.py", "to_thread.py"])
def test_apps_behave_the_same_under_the_agent(python, tmp_path, app):
    plain = run(python, [APPS / app])
    traced = run(python, [APPS / app], agent_dir=tmp_path)
    assert (traced.returncode, traced.stdout, traced.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )
    assert only_log(tmp_path).errors == []


def test_users_sitecustomize_still_runs(python, tmp_path):
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    (user_dir / "sitecustomize.py").write_text(
        "import sys\nprint('user sitecustomize ran as', __name__, file=sys.stderr)\n"
    )
    check = ["-c", "import sitecustomize, sys; print(sitecustomize.__file__)"]
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    plain = run(python, check, pythonpath=[user_dir])
    traced = run(python, check, agent_dir=agent_dir, pythonpath=[user_dir])
    assert plain.stderr == traced.stderr == b"user sitecustomize ran as sitecustomize\n"
    assert plain.stdout == traced.stdout == f"{user_dir / 'sitecustomize.py'}\n".encode()
    assert only_log(agent_dir).errors == []


def test_errors_in_users_sitecustomize_look_the_same(python, tmp_path):
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    (user_dir / "sitecustomize.py").write_text("x = 1 / 0\n")
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    plain = run(python, [APPS / "seed.py"], pythonpath=[user_dir])
    traced = run(python, [APPS / "seed.py"], agent_dir=agent_dir, pythonpath=[user_dir])
    assert b"ZeroDivisionError" in plain.stderr
    assert (traced.returncode, traced.stdout, traced.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )


FORKER = """
import asyncio, os, sys

async def step(tag):
    await asyncio.sleep(0)
    return tag

async def main():
    await step("parent-before")
    pid = os.fork()
    if pid == 0:
        asyncio.set_event_loop_policy(None)
        os._exit(0 if asyncio.run(step("child")) == "child" else 1)
    await step("parent-after")
    _, status = os.waitpid(pid, 0)
    print("child pid", pid, "status", status)

asyncio.run(main())
"""


def test_forked_child_writes_its_own_log(python, tmp_path):
    result, agent_dir = run_source(python, tmp_path, "forker.py", textwrap.dedent(FORKER))
    assert result.returncode == 0, result.stderr
    child_pid = int(result.stdout.split()[2])
    parent, child = sorted(read_agent_logs(agent_dir), key=lambda log: log.pid != child_pid)[::-1]
    assert child.pid == child_pid and child.meta["forked_from"] == parent.pid
    assert parent.damaged == child.damaged == 0 and not parent.errors and not child.errors
    assert {e.tid for e in child.events} == {child_pid}
    assert {e.tid for e in parent.events} == {parent.pid}
    for log in (parent, child):  # every event refers to a code object recorded in its own log
        assert {e.code for e in log.events if e.kind <= EventKind.CALL} <= set(log.codes)
    child_steps = kinds_by_code(child)
    assert child_steps["step", EventKind.PY_START] == 1
    assert kinds_by_code(parent)["step", EventKind.PY_START] == 2


def test_spawned_child_process_writes_its_own_log(python, tmp_path):
    result = run(python, [APPS / "spawn.py"], agent_dir=tmp_path)
    assert result.returncode == 0 and b"child said 5 lines, exit 0" in result.stdout
    logs = read_agent_logs(tmp_path)
    assert len(logs) == 2
    parent = next(log for log in logs if log.meta["argv"][0].endswith("spawn.py"))
    child = next(log for log in logs if log.meta["argv"][0].endswith("seed.py"))
    assert child.meta["ppid"] == parent.pid
    assert kinds_by_code(child)["worker", EventKind.PY_RETURN] == 2


def test_no_free_tool_id_is_recorded_and_the_run_is_untraced(python, tmp_path):
    version = subprocess.run(
        [python, "-c", "import sys; print('python%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    user_base = tmp_path / "userbase"
    site = user_base / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    (site / "claim_tools.pth").write_text(
        "import sys; [sys.monitoring.use_tool_id(i, 'other-tool-%d' % i) for i in range(6)]\n"
    )
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    env = {"PYTHONUSERBASE": str(user_base)}
    plain = run(python, [APPS / "seed.py"], env=env)
    traced = run(python, [APPS / "seed.py"], agent_dir=agent_dir, env=env)
    assert (traced.returncode, traced.stdout, traced.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )
    log = only_log(agent_dir)
    assert log.meta["tool_id"] is None and log.events == []
    assert len(log.errors) == 1 and "no free sys.monitoring tool id" in log.errors[0]
    assert "other-tool-4" in log.errors[0]


def test_internal_error_disables_the_agent_without_affecting_the_program(python, tmp_path):
    env = {"SYSCORR_AGENT_TEST_FAIL_AFTER": "25"}
    plain = run(python, [APPS / "echo.py"])
    traced = run(python, [APPS / "echo.py"], agent_dir=tmp_path, env=env)
    assert (traced.returncode, traced.stdout, traced.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )
    log = only_log(tmp_path)
    assert len(log.events) == 26 and log.events[-1].kind == EventKind.AGENT_ERROR
    assert len(log.errors) == 1 and "SYSCORR_AGENT_TEST_FAIL_AFTER=25" in log.errors[0]
    assert log.end is not None and log.end["failed"] is True


def test_without_agent_dir_the_agent_does_nothing(python, tmp_path):
    check = ["-c", "import sys; print(sorted(m for m in sys.modules if 'syscorr' in m))"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYSCORR_", "PYTHON"))}
    env["PYTHONPATH"] = str(INJECT)
    result = subprocess.run([python, *check], capture_output=True, env=env, cwd=tmp_path)
    assert result.stdout == b"[]\n" and result.stderr == b""
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not OLD_PYTHONS, reason="no Python older than 3.12 found")
@pytest.mark.parametrize("old", sorted(OLD_PYTHONS), ids=lambda v: f"py{v[0]}.{v[1]}")
def test_older_pythons_run_untraced_and_undisturbed(old, tmp_path):
    plain = run(OLD_PYTHONS[old], [APPS / "exitcode.py", "3"])
    traced = run(OLD_PYTHONS[old], [APPS / "exitcode.py", "3"], agent_dir=tmp_path)
    assert (traced.returncode, traced.stdout, traced.stderr) == (3, plain.stdout, plain.stderr)
    assert os.listdir(tmp_path) == []


def test_log_file_is_private_and_debug_log_is_optional(python, tmp_path):
    run(python, [APPS / "seed.py"], agent_dir=tmp_path, env={"SYSCORR_AGENT_DEBUG": "1"})
    (log_path,) = tmp_path.glob("agent-*.bin")
    assert log_path.stat().st_mode & 0o777 == 0o600
    (debug_path,) = tmp_path.glob("agent-*.debug")
    assert "agent starting" in debug_path.read_text()
    assert read_agent_log(log_path).end["teardown_start_ns"] > 0


CANCELLER = """
import asyncio

async def sleeper():
    await asyncio.sleep(10)

async def failing():
    await asyncio.sleep(0)
    raise ValueError("boom")

async def main():
    task = asyncio.create_task(sleeper(), name="victim")
    await asyncio.sleep(0)
    task.cancel()
    for awaitable in (task, failing()):
        try:
            await awaitable
        except (asyncio.CancelledError, ValueError) as exc:
            print(type(exc).__name__)

asyncio.run(main())
"""


def test_cancellation_and_exceptions_give_throw_and_unwind(python, tmp_path):
    result, agent_dir = run_source(python, tmp_path, "canceller.py", textwrap.dedent(CANCELLER))
    assert result.stdout == b"CancelledError\nValueError\n"
    log = only_log(agent_dir)
    steps = kinds_by_code(log)
    assert steps["sleeper", EventKind.PY_THROW] == 1
    assert steps["sleeper", EventKind.PY_UNWIND] == 1
    assert steps["failing", EventKind.PY_UNWIND] == 1
    victim = {r.task for r in log.task_names if r.name == "victim"}
    throws = [e for e in log.events if e.kind == EventKind.PY_THROW]
    assert {e.task for e in throws if log.codes[e.code].qualname == "sleeper"} == victim


CALLEES = """
import asyncio
import concurrent.futures
import threading
import time

CONVERT = {"up": str.upper, "slow": lambda text: time.sleep(0.002) or text}

def slow_lines():
    time.sleep(0.002)
    yield "a"

def raising_callback():
    raise RuntimeError("from a callback")

async def helper():
    time.sleep(0.001)

async def main():
    loop = asyncio.get_running_loop()
    loop.call_soon(raising_callback)
    text = "abc"
    for _ in range(50):
        text = text.upper().lower()  # LINE_VALUE_METHODS
        asyncio.current_task().get_name()  # LINE_TASK_QUERY
    joined = "".join(slow_lines())  # LINE_JOIN
    time.sleep(0.001)  # LINE_SLEEP
    await asyncio.sleep(0.01)  # LINE_QUIET_COROUTINE
    await helper()  # LINE_USER_COROUTINE
    for key in ("up", "slow"):
        CONVERT[key]("x")  # LINE_TABLE: one site, str.upper first, then a blocking callee
    asyncio_future = loop.create_future()
    asyncio_future.set_result(1)
    threaded_future = concurrent.futures.Future()
    threading.Timer(0.002, threaded_future.set_result, (2,)).start()
    for future in (asyncio_future, threaded_future):
        future.result()  # LINE_RESULT: an asyncio Future's first, then one that blocks
    return len(joined + text)

asyncio.run(main())
"""


MARKERS = ("VALUE_METHODS", "TASK_QUERY", "JOIN", "LINE_SLEEP", "QUIET_COROUTINE", "USER_COROUTINE",
           "LINE_TABLE", "LINE_RESULT")  # fmt: skip


def test_call_sites_that_never_block_are_left_out_the_others_kept(python, tmp_path):
    """Methods of str/bytes/numbers, Task queries and asyncio's quiet coroutines cannot block:
    their CALL sites are disabled at first sight; a join (it runs the user's generator),
    time.sleep and a call of the user's coroutine stay."""
    program = tmp_path / "callees.py"
    program.write_text(CALLEES)
    lines = {
        marker: number
        for number, text in enumerate(CALLEES.splitlines(), 1)
        for marker in MARKERS
        if marker in text
    }
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    result = run(python, [program], agent_dir=agent_dir, env={"SYSCORR_CALL_GAP_NS": "0"})
    assert result.returncode == 0, result.stderr
    log = only_log(agent_dir)
    called = Counter(
        log.codes[e.code].line_at(e.offset) for e in log.events if e.kind == EventKind.CALL
    )
    assert called[lines["VALUE_METHODS"]] == 0
    assert called[lines["TASK_QUERY"]] == 50  # current_task() is a function: kept
    assert called[lines["JOIN"]] >= 1 and called[lines["LINE_SLEEP"]] == 1
    assert called[lines["QUIET_COROUTINE"]] == 0  # asyncio.sleep() only makes a coroutine
    assert called[lines["USER_COROUTINE"]] == 1  # the user's coroutine: its body may block
    # sites that do not name their callee, or whose callee's kind varies, are never disabled
    assert called[lines["LINE_TABLE"]] == 2 and called[lines["LINE_RESULT"]] == 2
    # the callback that raised is still bracketed, and asyncio's report of it is untouched
    assert b"Exception in callback raising_callback()" in result.stderr
    names = {e.code: log.names[e.code] for e in log.events if e.kind == EventKind.CALLBACK_START}
    assert "raising_callback" in names.values()
    depth = 0
    for event in log.events:
        depth += {EventKind.CALLBACK_START: 1, EventKind.CALLBACK_END: -1}.get(event.kind, 0)
        assert depth in (0, 1)
    assert depth == 0


def test_only_the_innermost_stdlib_frame_of_a_wait_is_written(python, tmp_path):
    """readline -> readuntil -> _wait_for_data: one YIELD, the innermost; the outer library
    frames' yield points are disabled, the user's coroutine still records its own YIELD."""
    result = run(python, [APPS / "echo.py", "--clients", "2", "--rounds", "20"], tmp_path)
    assert result.returncode == 0
    log = only_log(tmp_path)
    steps = kinds_by_code(log)
    assert steps["StreamReader._wait_for_data", EventKind.PY_YIELD] >= 2 * 20
    assert steps["StreamReader.readuntil", EventKind.PY_YIELD] == 0
    assert steps["StreamReader.readline", EventKind.PY_YIELD] == 0
    assert steps["client", EventKind.PY_YIELD] >= 20


QUITTER = """
import asyncio
import sys

def tick():
    print("tick")

async def quitter():
    await asyncio.sleep(0)
    sys.exit(3)

async def main():
    loop = asyncio.get_running_loop()
    for _ in range(2):  # both run before the quitter's first step, whatever the machine's speed
        loop.call_soon(tick)
    await asyncio.create_task(quitter())

try:
    asyncio.run(main())
finally:
    loop = asyncio.new_event_loop()  # callbacks after the unwind are still bracketed
    loop.call_soon(tick)
    loop.call_soon(loop.stop)
    loop.run_forever()
    loop.close()
"""


def test_sys_exit_in_a_task_unwinds_its_handle_and_later_callbacks_stay_bracketed(python, tmp_path):
    result, agent_dir = run_source(python, tmp_path, "quitter.py", QUITTER)
    plain = run(python, [tmp_path / "quitter.py"])
    assert result.returncode == plain.returncode == 3
    assert result.stdout == plain.stdout and result.stdout.count(b"tick") >= 2
    log = only_log(agent_dir)
    assert log.errors == [] and log.damaged == 0
    depth, ends = 0, 0
    for event in log.events:
        depth += {EventKind.CALLBACK_START: 1, EventKind.CALLBACK_END: -1}.get(event.kind, 0)
        ends += event.kind == EventKind.CALLBACK_END
        assert depth in (0, 1)
    assert depth == 0
    names = [log.names[e.code] for e in log.events if e.kind == EventKind.CALLBACK_START]
    assert names.count("tick") == result.stdout.count(b"tick") and ends == len(names)


USER_CODE = """
import asyncio, collections.abc, gc, weakref

hits = []

class Lazy:  # a proxy: its __class__ is a property
    @property
    def __class__(self):
        hits.append("Lazy.__class__")
        return Lazy
    def method(self):
        pass
    def __call__(self):
        pass

class Meta(type):
    def __hash__(cls):
        hits.append("Meta.__hash__")
        return id(cls) >> 4
    def __eq__(cls, other):
        hits.append("Meta.__eq__")
        return cls is other
    def __getattribute__(cls, name):
        if name in ("__name__", "__qualname__"):
            hits.append("Meta.__getattribute__")
        return super().__getattribute__(name)

class CallMe(metaclass=Meta):
    def __call__(self):
        pass

class D(dict, metaclass=Meta):
    pass

class MyCoro(collections.abc.Coroutine):  # a Task may wrap any Coroutine-ABC object
    def __getattr__(self, name):
        hits.append("MyCoro.__getattr__")
        raise AttributeError(name)
    def send(self, value):
        raise StopIteration(1)
    def throw(self, *args):
        raise StopIteration(1)
    def close(self):
        pass
    def __await__(self):
        return iter(())

class Buf(bytearray):
    pass

class MyTask(asyncio.Task):  # a task factory's subclass: its overrides are its own business
    def get_coro(self):
        hits.append("MyTask.get_coro")
        return super().get_coro()
    def get_name(self):
        hits.append("MyTask.get_name")
        return super().get_name()
    def cancel(self, msg=None):  # a Task's method as an ordinary callback
        print("cancel called")
        return super().cancel(msg)

async def child():
    await asyncio.sleep(1)

class Big:
    pass

async def main():
    loop = asyncio.get_running_loop()
    loop.call_soon(Lazy().method)
    loop.call_soon(Lazy())
    loop.call_soon(CallMe())
    loop.call_soon(CallMe)
    D().get(1)
    await asyncio.create_task(MyCoro())
    await asyncio.sleep(0)
    task = MyTask(child(), loop=loop)
    await asyncio.sleep(0)
    loop.call_soon(task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
    buf = Buf()
    buf_ref = weakref.ref(buf)
    append = buf.append
    append(1)
    del buf, append
    big = Big()
    big_ref = weakref.ref(big)
    def callback(big=big):
        pass
    loop.call_soon(callback)
    await asyncio.sleep(0)
    del callback, big
    gc.collect()
    alive = buf_ref() is not None, big_ref() is not None
    print("user code run:", sorted(set(hits)), "alive:", *alive)

asyncio.run(main())
"""


def test_the_agent_runs_no_user_code_and_keeps_no_user_object_alive(python, tmp_path):
    """Properties named __class__, a metaclass's __hash__/__eq__/__getattribute__, a
    Coroutine-ABC's __getattr__ are never triggered by the agent, and what it caches holds no
    object of the program past its time."""
    program = tmp_path / "user_code.py"
    program.write_text(USER_CODE)
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    plain = run(python, [program])
    traced = run(python, [program], agent_dir=agent_dir)
    assert plain.returncode == traced.returncode == 0, traced.stderr
    assert traced.stdout == plain.stdout == b"cancel called\nuser code run: [] alive: False False\n"
    log = only_log(agent_dir)
    assert log.errors == []
    names = {log.names[e.code] for e in log.events if e.kind == EventKind.CALLBACK_START}
    assert "MyTask.cancel" in names  # a Task's method, not a step of it: recorded


THREADS = """
import asyncio, threading

seen = []

async def work():
    seen.append(threading.get_native_id())
    await asyncio.sleep(0)

for i in range(3):  # one after another: the thread ident is reused, the native id is not
    thread = threading.Thread(target=asyncio.run, args=(work(),), name=f"worker-{i}")
    thread.start()
    thread.join()
print(*seen)
"""


def test_threads_that_reuse_an_ident_are_told_apart(python, tmp_path):
    result, agent_dir = run_source(python, tmp_path, "threads.py", THREADS)
    assert result.returncode == 0, result.stderr
    native = [int(tid) for tid in result.stdout.split()]
    log = only_log(agent_dir)
    assert [log.threads[tid] for tid in native] == ["worker-0", "worker-1", "worker-2"]
    work = {
        e.tid for e in log.events if e.code in log.codes and log.codes[e.code].qualname == "work"
    }
    assert work == set(native)


FILL = """
import asyncio

async def step(i):
    return i

async def main():
    for i in range(60000):  # about 4 MB of records
        await step(i)
    print("done")

asyncio.run(main())
"""


def test_a_full_disk_stops_the_agent_not_the_program(python, tmp_path, small_disk):
    """Writing into an unallocated page of a full filesystem would kill the program with
    SIGBUS; the log's blocks are allocated before they are mapped, so the agent stops."""
    program = tmp_path / "fill.py"
    program.write_text(FILL)
    result = run(python, [program], agent_dir=small_disk)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"done\n", b"")
    log = only_log(small_disk)
    assert log.damaged == 0 and len(log.events) > 20000  # what fitted is all there
    assert any("could not grow" in e for e in log.errors), log.errors  # and why it stopped
    assert log.end["lost_events"] > 0


CLOSES_INHERITED_FDS = """
import asyncio, os, sys

os.closerange(3, 1024)  # as a daemon does: the agent's log descriptor goes too
files = [os.open(f"user{i}.txt", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600) for i in range(4)]
for fd in files:
    os.write(fd, b"precious")
late = open("late.txt", "w")  # buffered, never closed: flushed at interpreter shutdown
late.write("written at shutdown")

async def spin():
    for _ in range(40000):  # far more than the first MiB of the agent log holds
        await asyncio.sleep(0)

asyncio.run(spin())
damaged = []
for fd in files:
    os.lseek(fd, 0, os.SEEK_SET)
    if os.fstat(fd).st_size != 8 or os.read(fd, 100) != b"precious":
        damaged.append(fd)
print("damaged", damaged) if damaged else print("intact")
"""


def test_a_program_that_closes_inherited_fds_keeps_its_files_intact(python, tmp_path):
    """The agent's log descriptor, closed by the program and reused for the program's own
    files, is never grown, truncated or closed: the log stops, says why, and counts the loss."""
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    (plain_dir / "p.py").write_text(CLOSES_INHERITED_FDS)
    plain = subprocess.run([python, "p.py"], cwd=plain_dir, capture_output=True, timeout=60)
    program = tmp_path / "closer.py"
    program.write_text(CLOSES_INHERITED_FDS)
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SYSCORR_", "PYTHON"))}
    full_env.update(PYTHONPATH=str(INJECT), SYSCORR_AGENT_DIR=str(agent_dir))
    traced = subprocess.run(
        [python, str(program)], cwd=tmp_path, env=full_env, capture_output=True, timeout=60
    )
    assert (traced.returncode, traced.stdout, traced.stderr) == (0, b"intact\n", b"")
    assert (plain.returncode, plain.stdout, plain.stderr) == (0, b"intact\n", b"")
    for i in range(4):
        assert (tmp_path / f"user{i}.txt").read_bytes() == b"precious"
    assert (tmp_path / "late.txt").read_text() == "written at shutdown"
    log = only_log(agent_dir)
    assert log.damaged == 0 and len(log.events) > 20000  # what fitted in the first MiB
    assert any("closed the agent log's descriptor" in e for e in log.errors), log.errors
    assert log.end["log_fd_lost"] is True and log.end["lost_events"] > 10000
    from syscorr.trace.load import agent_log_problems

    (problem,) = agent_log_problems(log)
    assert f"({log.end['lost_events']:,} events)" in problem


INSTALLED = """
import asyncio, os

# a coroutine whose file is in the interpreter's site-packages: an installed library, not
# the standard library (which sits in the directory above it)
path = os.path.join(os.path.dirname(os.__file__), "site-packages", "somelib", "client.py")
namespace = {"asyncio": asyncio}
source = "async def fetch():\\n    await asyncio.sleep(0)\\n    return 1\\n"
exec(compile(source, path, "exec"), namespace)

async def work():
    await asyncio.sleep(0)

async def main():
    await namespace["fetch"]()
    await asyncio.wait_for(work(), 5)  # a library frame around a user frame: passes it on

asyncio.run(main())
"""


def test_installed_libraries_are_user_code_and_outer_library_frames_stay_silent(python, tmp_path):
    result, agent_dir = run_source(python, tmp_path, "installed.py", INSTALLED)
    assert result.returncode == 0, result.stderr
    steps = kinds_by_code(only_log(agent_dir))
    assert steps["fetch", EventKind.PY_START] == 1 and steps["fetch", EventKind.PY_RESUME] == 1
    assert steps["work", EventKind.PY_YIELD] == 1 and steps["wait_for", EventKind.PY_YIELD] == 0


SPANS = """\
import asyncio, time

async def main():
    time.sleep(0.03)  # LONG
    await asyncio.sleep(0)
    time.sleep(0.002)  # SHORT

asyncio.run(main())
"""


def test_a_call_record_carries_its_span_and_the_meta_its_probe_and_stdlib_dir(python, tmp_path):
    """A written CALL says how long the pause after it lasted (µs): the engine knows which
    syscalls the call made, and which came after it (a stale line otherwise)."""
    result, agent_dir = run_source(python, tmp_path, "spans.py", SPANS)
    assert result.returncode == 0, result.stderr
    log = only_log(agent_dir)
    lines = {n: text for n, text in enumerate(SPANS.splitlines(), 1)}
    spans = {}
    for event in log.events:
        if event.kind == EventKind.CALL:
            info = log.codes[event.code]
            if info.filename.endswith("spans.py"):
                spans[lines[info.line_at(event.offset)].split("# ")[-1]] = event.span
    assert 30_000 <= spans["LONG"] < 1_000_000, spans
    assert 2_000 <= spans["SHORT"] < 30_000, spans
    assert os.path.isfile(os.path.join(log.meta["stdlib_dir"], "asyncio", "__init__.py"))
    assert 0 < log.meta["probe_close_ns"] < 10**8
