"""Findings on real frameworks from PyPI, as a user gets them: aiohttp, Starlette and FastAPI on
uvicorn, websockets. Each service runs under the real `syscorr run`, is driven over loopback by a
real client (httpx, the websockets client), and is stopped with SIGINT; then the report must
name the user's file and line of each bug (fixtures/apps/frameworks: `# BLOCKS`, `# CPU`,
`# SQLITE`), once per place, and nothing on a clean run. uvicorn --workers 2: one grouped
finding per worker, each process named.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from syscorr.analysis.findings import counts, group_findings
from syscorr.analysis.summary import summarize_trace
from tests.conftest import run_syscorr, syscorr_cmd
from tests.golden_util import ROOT

pytestmark = pytest.mark.slow

APPS = ROOT / "fixtures" / "apps" / "frameworks"
PY = sys.executable
FRAMEWORKS = ("aiohttp", "starlette", "fastapi", "websockets")
APP_FILE = {name: f"{name}_app.py" for name in FRAMEWORKS}
LIBRARY_GLOB = {
    "aiohttp": "aiohttp*",
    "starlette": "starlette*",
    "fastapi": "fastapi*",
    "websockets": "websockets*",
}
BUGS = ("sleep", "ok", "sleep", "cpu", "sqlite", "ok")
CLEAN = ("ok", "ok", "ok", "ok")


def marked(filename: str, marker: str) -> int:
    lines = (APPS / filename).read_text().splitlines()
    (line,) = [n for n, text in enumerate(lines, 1) if text.rstrip().endswith(f"# {marker}")]
    return line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(framework: str, port: int, db: Path, *extra: str) -> list[str]:
    if framework in ("starlette", "fastapi"):
        return [PY, "-m", "uvicorn", f"{framework}_app:app", "--port", str(port),
                "--log-level", "warning", *extra]  # fmt: skip
    return [PY, APP_FILE[framework], str(port), str(db)]


@contextmanager
def service(out: Path, framework: str, db: Path, *extra: str):
    """The service under `syscorr run`, up and listening; SIGINT when the block ends."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SYSCORR_") or k == "SYSCORR_BACKEND"
    }
    env["SHOP_DB"] = str(db)
    cmd = syscorr_cmd("run", "-q", "-o", str(out), "--", *command(framework, port, db, *extra))
    proc = subprocess.Popen(cmd, cwd=APPS, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    _, err = proc.communicate(timeout=10)
                    pytest.fail(f"{framework} did not come up: {err.decode()[-2000:]}")
                time.sleep(0.1)
        yield port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def drive(framework: str, port: int, requests) -> list:
    if framework == "websockets":
        from websockets.sync.client import connect

        with connect(f"ws://127.0.0.1:{port}") as ws:
            replies = []
            for message in requests:
                ws.send(message)
                replies.append(ws.recv(timeout=30))
            return replies
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        return [client.get(f"/{path}").raise_for_status().json() for path in requests]


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    """framework -> {"bugs": trace, "clean": trace}, recorded once for the module."""
    base = tmp_path_factory.mktemp("frameworks")
    db = base / "shop.db"
    made = {}
    for framework in FRAMEWORKS:
        made[framework] = {}
        for kind, requests in (("bugs", BUGS), ("clean", CLEAN)):
            out = base / f"{framework}-{kind}"
            with service(out, framework, db) as port:
                drive(framework, port, requests)
            made[framework][kind] = out
    return made


def counted_places(trace) -> dict:
    summary = summarize_trace(trace)
    groups = [g for g in group_findings(summary.findings) if counts(g)]
    return {
        (g.kind, Path(g.frame.filename).name if g.frame else None,
         g.frame.line if g.frame else None): g
        for g in groups
    }, summary  # fmt: skip


def expected_places(framework: str) -> dict:
    return {
        ("blocking-syscall", "shop.py", marked("shop.py", "BLOCKS")): 2,
        ("long-step", "shop.py", marked("shop.py", "CPU")): 1,
        ("long-step", APP_FILE[framework], marked(APP_FILE[framework], "SQLITE")): 1,
    }


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_bug_is_one_finding_at_the_users_line(traces, framework):
    places, summary = counted_places(traces[framework]["bugs"])
    expected = expected_places(framework)
    got = {key: group.count for key, group in places.items()}
    said = "\n".join(g.worst.message() for g in places.values())
    assert {key: got.get(key) for key in expected} == expected, said
    # Nothing else, except what the sync sqlite line itself did: on a loaded machine one of
    # its ~5000 file reads may take over 10 ms, and that too is the user's line blocking.
    sqlite = ("long-step", APP_FILE[framework], marked(APP_FILE[framework], "SQLITE"))
    others = [key for key in got if key not in expected]
    assert all(key[0] == "blocking-syscall" and key[1:] == sqlite[1:] for key in others), said
    assert all(g.user_code for g in places.values())
    # a task is shown by its name, or asyncio's default name with its root coroutine
    names = [t.name for t in summary.accounts.tasks.values()]
    assert names and not [n for n in names if re.fullmatch(r"Task-\d+", n)], names


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_glob_for_the_framework_hides_none_of_the_users_bugs(traces, framework, tmp_path):
    trace = traces[framework]["bugs"]
    glob = LIBRARY_GLOB[framework]
    done = run_syscorr("check", str(trace), "--allow-module", glob, cwd=tmp_path)
    out = done.stdout.decode()
    assert done.returncode == 1, out + done.stderr.decode()
    lines = {f"{file}:{line}" for _, file, line in expected_places(framework)}
    for where in lines:
        assert f"{where}: max-" in out, out
    failed = re.findall(r"^\S*/([\w.]+:\d+): max-", out, re.MULTILINE)
    assert set(failed) == lines, out  # no violation anywhere but the user's three lines


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_clean_run_has_no_finding(traces, framework, tmp_path):
    trace = traces[framework]["clean"]
    places, _ = counted_places(trace)
    assert not places, "\n".join(g.worst.message() for g in places.values())
    done = run_syscorr("check", str(trace), cwd=tmp_path)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    report = run_syscorr("report", str(trace), cwd=tmp_path, env={**os.environ, "COLUMNS": "120"})
    assert "No blocking found" in report.stdout.decode()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_explain_finds_the_users_coroutines_inside_the_frameworks_tasks(traces, framework):
    done = run_syscorr("explain", str(traces[framework]["clean"]))
    story = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    part1 = story.split("1. What does `async def` become?", 1)[1].split("2. ", 1)[0]
    assert "No coroutine of your own code" not in part1, part1
    assert "frameworks/" in part1 or APP_FILE[framework] in part1 or "shop.py" in part1, part1


def test_uvicorn_workers_give_one_grouped_finding_per_worker(tmp_path):
    out = tmp_path / "workers"
    served: dict[int, int] = {}
    with service(out, "starlette", tmp_path / "shop.db", "--workers", "2") as port:
        import httpx

        for _ in range(80):  # a new connection each time: the kernel spreads them
            reply = httpx.get(f"http://127.0.0.1:{port}/sleep", timeout=30,
                              headers={"Connection": "close"})  # fmt: skip
            pid = reply.raise_for_status().json()["pid"]
            served[pid] = served.get(pid, 0) + 1
            if len(served) == 2 and min(served.values()) >= 2:
                break
    assert len(served) == 2, f"one worker served every request: {served}"
    summary = summarize_trace(out)
    groups = [g for g in group_findings(summary.findings) if counts(g)]
    line = marked("shop.py", "BLOCKS")
    assert {(g.pid, g.kind, Path(g.frame.filename).name, g.frame.line) for g in groups} == {
        (pid, "blocking-syscall", "shop.py", line) for pid in served
    }, "\n".join(g.worst.message() for g in groups)
    assert {g.pid: g.count for g in groups} == served
    labels = summary.accounts.shown_processes()
    assert set(served) <= set(labels)
    assert all("multiprocessing child of" in labels[pid] for pid in served), labels
    text = run_syscorr("report", str(out), cwd=tmp_path).stdout.decode()
    for pid, n in served.items():
        assert f"pid {pid}: loop blocked by clock_nanosleep() {n}× at shop.py:{line}" in text or (
            n == 1 and f"pid {pid}: loop blocked" in text
        ), text
