"""The syscorr pytest plugin: fail the tests whose coroutine steps blocked the event loop.

Contract:
- `pytest --syscorr [ARGS]` does not run the tests itself: it re-runs the same command line
  under `syscorr run` (strace + the agent) as a child pytest, then judges the trace with the
  `syscorr check` policy (`[tool.syscorr]` of the rootdir's pyproject.toml, overridden by
  `--syscorr-max-block-ms` / `--syscorr-max-step-ms`) and prints each blocking test with its
  task and line. With `--syscorr-mode fail` (the default) the session fails when a test
  blocked the loop, and a `--junitxml` report gets a <failure> on each such test; with
  `report` it only prints them. The exit status is the child's when that is not 0.
- Under `syscorr run` (SYSCORR_AGENT_DIR set; also `syscorr run -- pytest` by hand, judged
  afterwards with `syscorr check`), it marks each test's start (before setup) and end (after
  teardown) with a marker syscall (`syscorr.check.testspans.emit`) so findings map to tests.
Outside syscorr and without --syscorr the plugin does nothing.
"""

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from syscorr.check import testspans

INNER_ENV = "SYSCORR_PYTEST_INNER"  # set in the child session so it does not re-run itself
AGENT_ENV = "SYSCORR_AGENT_DIR"  # set by `syscorr run` for the traced program


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("syscorr", "syscorr: fail tests that block the asyncio event loop")
    group.addoption(
        "--syscorr",
        action="store_true",
        help="Run this session under `syscorr run` and fail tests that blocked the event loop.",
    )
    group.addoption(
        "--syscorr-mode",
        choices=("fail", "report"),
        default="fail",
        help="fail: blocking tests fail the session (default); report: only list them.",
    )
    group.addoption(
        "--syscorr-trace", metavar="DIR", help="Write the trace here (default .syscorr/<time>)."
    )
    group.addoption(
        "--syscorr-max-block-ms",
        type=float,
        metavar="MS",
        help="Loop-thread syscall limit (default: [tool.syscorr] max-block-ms, else 10).",
    )
    group.addoption(
        "--syscorr-max-step-ms",
        type=float,
        metavar="MS",
        help="Step-without-yielding limit (default: [tool.syscorr] max-step-ms, else 100).",
    )


def _traced() -> bool:
    return bool(os.environ.get(AGENT_ENV))


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not config.getoption("syscorr") or os.environ.get(INNER_ENV) or _traced():
        return None
    return run_under_syscorr(config)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    if not _traced():
        yield
        return
    testspans.emit("begin", item.nodeid)
    try:
        yield
    finally:
        testspans.emit("end", item.nodeid)


class _Writer:
    """Lines and `=== title ===` separators, coloured on a terminal (pytest's own writer
    exists only once a session is configured, which the outer session never is)."""

    COLOURS = {"red": "31", "green": "32", "yellow": "33"}

    def __init__(self, stream) -> None:
        self.stream = stream
        self.colour = stream.isatty() and not os.environ.get("NO_COLOR")

    def line(self, text: str = "", **colour: bool) -> None:
        code = next((self.COLOURS[name] for name, on in colour.items() if on), None)
        if self.colour and code:
            text = f"\x1b[{code}m{text}\x1b[0m"
        print(text, file=self.stream, flush=True)

    def sep(self, char: str, title: str, **colour: bool) -> None:
        width = 80
        fill = max(2, (width - len(title) - 2) // 2)
        self.line(f"{char * fill} {title} {char * fill}", **colour)


def _trace_dir(config: pytest.Config, invocation_dir: Path) -> Path:
    """--syscorr-trace, or a new name under .syscorr/ that `syscorr run -o` will create."""
    chosen = config.getoption("syscorr_trace")
    if chosen:
        return Path(chosen) if Path(chosen).is_absolute() else invocation_dir / chosen
    base = invocation_dir / ".syscorr"
    base.mkdir(mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return base / f"{stamp}-pytest-{os.getpid()}"


def run_under_syscorr(config: pytest.Config) -> int:
    """The outer session: run the child under syscorr, check the trace, report; exit status."""
    from syscorr.check.evaluate import check_trace
    from syscorr.check.policy import load_policy
    from syscorr.errors import SyscorrError

    invocation_dir = Path(config.invocation_params.dir)
    write = _Writer(sys.stdout)
    try:
        policy = load_policy(
            {
                "max-block-ms": config.getoption("syscorr_max_block_ms"),
                "max-step-ms": config.getoption("syscorr_max_step_ms"),
            },
            start=config.rootpath,
        )
        trace = _trace_dir(config, invocation_dir)
    except SyscorrError as err:
        write.line(f"syscorr: error: {err}", red=True)
        return pytest.ExitCode.USAGE_ERROR
    child = [sys.executable, "-m", "pytest", *config.invocation_params.args]
    argv = [sys.executable, "-m", "syscorr", "run", "-q", "-o", str(trace), "--", *child]
    env = dict(os.environ, **{INNER_ENV: "1"})
    child_status = subprocess.call(argv, cwd=invocation_dir, env=env)
    try:
        result = check_trace(trace, policy)
    except SyscorrError as err:
        write.line(f"syscorr: error: {err}", red=True)
        return child_status or pytest.ExitCode.INTERNAL_ERROR
    blocked = _blocked_tests(result)
    _print_report(write, result, blocked, trace, invocation_dir)
    failing = config.getoption("syscorr_mode") == "fail" and bool(blocked)
    xmlpath = getattr(config.option, "xmlpath", None)
    if failing and xmlpath:
        amend_junit(invocation_dir / xmlpath, blocked)
    if child_status != 0:
        return child_status
    return pytest.ExitCode.TESTS_FAILED if failing else pytest.ExitCode.OK


def _blocked_tests(result) -> dict[str, list]:
    blocked: dict[str, list] = {}
    for violation in result.violations:
        if violation.test is not None:
            blocked.setdefault(violation.test, []).append(violation)
    return blocked


def _describe(violation, base: Path) -> str:
    from syscorr.check.locations import location
    from syscorr.report.safe import safe

    return safe(f"{location(violation, base)}: {violation.message()}")


def _print_report(write, result, blocked, trace: Path, base: Path) -> None:
    from syscorr.check.locations import display_path
    from syscorr.report.safe import safe

    title = (
        f"syscorr: the event loop was blocked in {len(blocked)} test(s)"
        if blocked
        else "syscorr: no test blocked the event loop"
    )
    write.sep("=", title, red=bool(blocked), green=not blocked)
    write.line(f"policy: {result.policy.describe()}")
    for nodeid, violations in blocked.items():
        for violation in violations:
            write.line(f"BLOCKED {safe(nodeid)} - {_describe(violation, base)}", red=True)
    outside = [v for v in result.violations if v.test is None]
    for violation in outside:
        write.line(f"outside any test: {_describe(violation, base)}", yellow=True)
    for warning in result.warnings:
        write.line(f"warning: {safe(warning)}", yellow=True)
    if not result.tests:
        write.line("warning: no test markers in the trace (did the child load the plugin?)")
    shown = display_path(str(trace), base)
    write.line(f"{len(result.tests)} test(s) traced; see `syscorr report {shown} --timeline`")


def amend_junit(path: Path, blocked: dict[str, list]) -> None:
    """Add a <failure> naming task and line to each blocking test in pytest's JUnit file."""
    from syscorr.check.junit import split_nodeid

    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError):
        return
    wanted = {split_nodeid(nodeid): violations for nodeid, violations in blocked.items()}
    for case in tree.getroot().iter("testcase"):
        violations = wanted.get((case.get("classname"), case.get("name")))
        if violations and case.find("failure") is None:
            text = "\n".join(_describe(v, Path.cwd()) for v in violations)
            failure = ET.SubElement(case, "failure", message=text.splitlines()[0])
            failure.set("type", "syscorr.BlockedEventLoop")
            failure.text = text
    for suite in tree.getroot().iter("testsuite"):
        failures = sum(1 for case in suite.iter("testcase") if case.find("failure") is not None)
        suite.set("failures", str(failures))
    tree.write(path, encoding="utf-8", xml_declaration=True)
