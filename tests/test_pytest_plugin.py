"""The pytest plugin end to end with the real strace: `pytest --syscorr` on the fixture suite
fails exactly the test that blocks its loop, naming the test, the task and the `# BLOCKS` line;
`syscorr run -- pytest` + `syscorr check` attributes findings to tests the same way."""

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points

import pytest

from tests.conftest import ROOT, run_syscorr

pytestmark = pytest.mark.slow

SUITE = ROOT / "fixtures" / "pytest_suite"
BLOCKING_TEST = "test_loop.py::test_blocks_the_loop"
CLEAN_TEST = "test_loop.py::test_yields_to_the_loop"


def blocks_line() -> int:
    lines = (SUITE / "test_loop.py").read_text(encoding="utf-8").splitlines()
    (line,) = [n for n, text in enumerate(lines, 1) if "# BLOCKS" in text]
    return line


def plugin_args() -> list[str]:
    """Load the plugin by module unless its `pytest11` entry point is installed (loading it
    twice would be an error)."""
    installed = any(ep.name == "syscorr" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "syscorr.pytest_plugin"]


@pytest.fixture
def suite(tmp_path):
    target = tmp_path / "suite"
    shutil.copytree(SUITE, target)
    return target


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYSCORR_", "GITHUB_"))}
    env.pop("PYTEST_ADDOPTS", None)
    env["PYTHONPATH"] = str(ROOT)  # the syscorr under test, also for the child session
    return env


def pytest_in(suite, *args) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "pytest", *plugin_args(), "-p", "no:cacheprovider", *args]
    return subprocess.run(
        argv, cwd=suite, env=clean_env(), capture_output=True, text=True, timeout=180
    )


def test_fails_exactly_the_blocking_test(suite):
    done = pytest_in(suite, "--syscorr", "--junitxml=report.xml", "test_loop.py")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    blocked = [line for line in out.splitlines() if line.startswith("BLOCKED ")]
    assert len(blocked) == 1, out
    assert blocked[0].startswith(f"BLOCKED {BLOCKING_TEST} - test_loop.py:{blocks_line()}: ")
    assert "task Task-" in blocked[0] and "clock_nanosleep()" in blocked[0]
    assert "2 test(s) traced" in out

    root = ET.parse(suite / "report.xml").getroot()
    failed = {c.get("name") for c in root.iter("testcase") if c.find("failure") is not None}
    assert failed == {"test_blocks_the_loop"}
    message = next(root.iter("failure")).get("message")
    assert f"test_loop.py:{blocks_line()}" in message
    assert root.find("testsuite").get("failures") == "1"


def test_report_mode_lists_without_failing(suite):
    done = pytest_in(suite, "--syscorr", "--syscorr-mode=report", "test_loop.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"BLOCKED {BLOCKING_TEST}" in done.stdout
    assert CLEAN_TEST not in done.stdout.split("syscorr:", 1)[1]


def test_policy_from_the_suites_pyproject(suite):
    (suite / "pyproject.toml").write_text("[tool.syscorr]\nmax-block-ms = 1000\n")
    done = pytest_in(suite, "--syscorr", "--syscorr-max-step-ms=1000", "test_loop.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no test blocked the event loop" in done.stdout
    assert "BLOCKED" not in done.stdout


def test_a_failing_test_keeps_its_own_exit_status(suite):
    (suite / "test_fails.py").write_text("def test_fails():\n    assert False\n")
    done = pytest_in(suite, "--syscorr", "--syscorr-mode=report")
    assert done.returncode == 1
    assert "1 failed" in done.stdout and f"BLOCKED {BLOCKING_TEST}" in done.stdout


def test_without_the_option_the_plugin_does_nothing(suite):
    done = pytest_in(suite, "test_loop.py")
    assert done.returncode == 0
    output = [line for line in done.stdout.splitlines() if not line.startswith("plugins:")]
    assert not any("syscorr" in line for line in output), done.stdout
    assert not (suite / ".syscorr").exists()


def test_syscorr_run_pytest_then_check_attributes_to_tests(suite):
    trace = suite / "trace"
    argv = ["run", "-q", "-o", str(trace), "--", sys.executable, "-m", "pytest"]
    done = run_syscorr(
        *argv, *plugin_args(), "-p", "no:cacheprovider", "test_loop.py", cwd=suite, env=clean_env()
    )
    assert done.returncode == 0, done.stderr.decode()
    check = run_syscorr("check", str(trace), "--json", cwd=suite, env=clean_env())
    assert check.returncode == 1
    data = json.loads(check.stdout)
    assert data["tests"] == [BLOCKING_TEST, CLEAN_TEST]
    assert {(v["test"], v["line"]) for v in data["violations"]} == {(BLOCKING_TEST, blocks_line())}

    junit = suite / "check.xml"
    run_syscorr("check", str(trace), "--junit", str(junit), cwd=suite, env=clean_env())
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {"test_blocks_the_loop", "test_yields_to_the_loop"}
    assert cases["test_blocks_the_loop"].find("failure") is not None
    assert cases["test_yields_to_the_loop"].find("failure") is None
