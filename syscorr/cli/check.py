"""`syscorr check [TRACE]`: fail a CI job when a trace shows the event loop blocked.

Contract: `check(...)` is the typer command (registered by syscorr.cli.app); `run_check(...)`
is the whole command without typer. It loads the policy (options over the
`[tool.syscorr]` table of pyproject.toml), judges the trace (`syscorr.check.evaluate`), writes
human text (or `--json`) to stdout, a JUnit file with `--junit FILE`, GitHub annotations with
`--github` (on by default when GITHUB_ACTIONS=true), and exits 0 when clean, 1 with violations,
2 on a bad option, policy or trace (one line on stderr, through `fail`). A large trace read in a
terminal shows progress on stderr.
"""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from syscorr.cli.common import fail, trace_progress, write_private
from syscorr.errors import SyscorrError

HELP = """Check a trace against a policy: exit 1 if the event loop was blocked.

\b
Examples:
  syscorr check                         the latest trace, policy from pyproject.toml
  syscorr check trace1 --max-block-ms 5 --forbid nanosleep,clock_nanosleep
  syscorr check --junit syscorr.xml     also a JUnit report for the CI's test view

The policy comes from [tool.syscorr] in the nearest pyproject.toml (max-block-ms,
max-step-ms, forbidden-syscalls, allow-modules, allow-functions, allow-tests); options
override limits and extend lists. Under GitHub Actions each violation also becomes an
::error annotation on its line. Exit: 0 clean, 1 violations, 2 bad input.
"""


def run_check(
    trace: str | None,
    overrides: dict,
    config: Path | None,
    junit: Path | None,
    github: bool | None,
    as_json: bool,
    stdout=None,
) -> int:
    """The whole command without typer: returns the exit status (raises SyscorrError)."""
    from syscorr.check.evaluate import check_trace
    from syscorr.check.github import under_github_actions, write_annotations
    from syscorr.check.jsonout import write_json
    from syscorr.check.junit import write_junit
    from syscorr.check.policy import load_policy
    from syscorr.check.text import write_text
    from syscorr.trace import directory

    stdout = stdout or sys.stdout
    policy = load_policy(overrides, config=config)
    found = directory.resolve(trace)
    with trace_progress(found) as progress:
        result = check_trace(found, policy, progress=progress.reading)
    if as_json:
        write_json(result, stdout)
    else:
        write_text(result, stdout)
    if junit is not None:
        write_private(junit, write_junit, result)
    if github if github is not None else under_github_actions(os.environ):
        write_annotations(result, stdout, os.environ.get("GITHUB_WORKSPACE"))
    return 1 if result.violations else 0


def check(
    trace: Annotated[
        str | None, typer.Argument(metavar="TRACE", help="Trace directory (default: latest).")
    ] = None,
    max_block_ms: Annotated[
        float | None,
        typer.Option(
            metavar="MS", help="Fail on a loop-thread syscall this long (ms; default 10)."
        ),
    ] = None,
    max_step_ms: Annotated[
        float | None,
        typer.Option(
            metavar="MS", help="Fail on a step this long without yielding (ms; default 100)."
        ),
    ] = None,
    forbid: Annotated[
        list[str] | None,
        typer.Option(
            metavar="SYSCALLS",
            help="Fail on these syscalls on the loop thread (comma-separated, repeatable).",
        ),
    ] = None,
    allow_module: Annotated[
        list[str] | None,
        typer.Option(metavar="MODULE", help="Let findings in this module pass (glob)."),
    ] = None,
    allow_function: Annotated[
        list[str] | None,
        typer.Option(
            metavar="FUNC", help="Let findings in this function pass (qualname glob)."
        ),
    ] = None,
    allow_test: Annotated[
        list[str] | None,
        typer.Option(metavar="NODEID", help="Let findings while this test ran pass (glob)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Read [tool.syscorr] from this file, not the nearest pyproject.",
        ),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Also write a JUnit XML report.")
    ] = None,
    github: Annotated[
        bool | None,
        typer.Option(
            "--github/--no-github",
            help="Print ::error annotations (default: when GITHUB_ACTIONS=true).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Write the result as JSON on stdout.")
    ] = False,
) -> None:
    overrides = {
        "max-block-ms": max_block_ms,
        "max-step-ms": max_step_ms,
        "forbidden-syscalls": forbid,
        "allow-modules": allow_module,
        "allow-functions": allow_function,
        "allow-tests": allow_test,
    }
    try:
        status = run_check(trace, overrides, config, junit, github, as_json)
    except SyscorrError as err:
        fail(err)
    raise typer.Exit(status)
