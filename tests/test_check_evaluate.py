"""`syscorr check`'s judgement (syscorr/check/evaluate.py): no false PASS on a log it cannot
judge, allow-lists that never hide the user's own lines, startup work in library code apart,
and violations grouped by place."""

import pytest

from syscorr.analysis.findings import MS, PHASE_STARTUP, Finding
from syscorr.capture.importer import import_logs
from syscorr.check.evaluate import CheckResult, Violation, is_allowed, library_module
from syscorr.check.policy import Policy
from syscorr.correlate.model import Frame
from tests.conftest import run_syscorr
from tests.golden_util import ROOT

SITE = "/srv/app/.venv/lib/python3.13/site-packages"
USER_FILE = "/srv/app/aiohttp_app.py"


def finding(filename, user_code, line=28, kind="long-step", phase="run", ms=150.0, pid=7):
    return Finding(
        kind, int(ms * MS), pid, pid, 1_000, "Task-3 handler", None,
        Frame("report", filename, line), None, "task step", 3, None,
        user_code=user_code, phase=phase,
    )  # fmt: skip


def test_a_glob_for_a_library_never_hides_a_line_of_the_users_code():
    """Before: `aiohttp*` matched the module name `aiohttp_app`, and a long step blamed on
    aiohttp's RequestHandler passed too."""
    policy = Policy(allow_modules=("aiohttp*",))
    assert not is_allowed(finding(USER_FILE, user_code=True), None, policy)
    assert is_allowed(finding(f"{SITE}/aiohttp/web_protocol.py", user_code=False), None, policy)
    # the user's own modules are allowed by name (covering submodules) or `name.*`
    assert is_allowed(finding(USER_FILE, True), None, Policy(allow_modules=("aiohttp_app",)))
    legacy = finding("/srv/app/myapp/legacy/db.py", True)
    assert is_allowed(legacy, None, Policy(allow_modules=("myapp.legacy",)))
    assert is_allowed(legacy, None, Policy(allow_modules=("myapp.legacy.*",)))
    assert not is_allowed(legacy, None, Policy(allow_modules=("myapp.leg*",)))


def test_library_module_is_the_import_name_under_site_packages():
    assert library_module(f"{SITE}/aiohttp/web_protocol.py") == "aiohttp.web_protocol"
    assert library_module(f"{SITE}/uvicorn/__init__.py") == "uvicorn"
    assert library_module("/usr/lib/python3/dist-packages/six.py") == "six"
    assert library_module(USER_FILE) is None
    # only the import name counts: a glob on a directory above site-packages matches nothing
    assert not is_allowed(
        finding(f"{SITE}/aiohttp/web.py", False), None, Policy(allow_modules=("srv*",))
    )


def test_violations_fold_by_place_keeping_every_occurrence():
    here = [finding(USER_FILE, True, ms=ms) for ms in (120, 180, 150)]
    other = finding(USER_FILE, True, line=30)
    other_pid = finding(USER_FILE, True, pid=8)
    violations = [Violation(f, "max-step-ms", None) for f in [*here, other, other_pid]]
    result = CheckResult("t", Policy(), violations)
    groups = result.groups()
    assert [g.count for g in groups] == [3, 1, 1]
    assert groups[0].worst.duration_ms == 180 and groups[0].total_ms == 450
    assert sum(g.count for g in groups) == len(result.violations) == 5


def imported_without_durations(tmp_path):
    out = tmp_path / "imported"
    import_logs([ROOT / "fixtures" / "strace" / "tt.log"], out)
    return out


def test_a_log_without_durations_cannot_pass(tmp_path):
    """Before: an imported `strace -tt` log (no -T) gave "PASSED: the event loop was never
    blocked" although no duration was known."""
    trace = imported_without_durations(tmp_path)
    done = run_syscorr("check", str(trace), cwd=tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 2, (done.stdout.decode(), err)
    assert "no durations, so blocking cannot be judged" in err and "strace -T" in err
    assert "PASSED" not in done.stdout.decode()
    report = run_syscorr("report", str(trace), cwd=tmp_path)
    assert report.returncode == 0
    text = report.stdout.decode()
    assert "Blocking not judged" in text and "No blocking found" not in text


@pytest.mark.parametrize("user_code, counted", [(False, False), (True, True)])
def test_startup_work_counts_only_in_the_users_code(user_code, counted):
    from syscorr.analysis.findings import counts

    startup = finding(USER_FILE if user_code else f"{SITE}/uvicorn/server.py", user_code,
                      phase=PHASE_STARTUP)  # fmt: skip
    assert counts(startup) is counted
    assert counts(startup._replace(phase="run")) is True


def test_text_and_annotations_say_a_place_once_with_how_often():
    import io

    from syscorr.check.github import write_annotations
    from syscorr.check.text import write_text

    here = [finding(USER_FILE, True, ms=ms) for ms in (120, 180, 150)]
    result = CheckResult("t", Policy(), [Violation(f, "max-step-ms", None) for f in here])
    text = io.StringIO()
    write_text(result, text)
    lines = [line for line in text.getvalue().splitlines() if "max-step-ms:" in line]
    assert len(lines) == 1 and "step ran 180.0 ms" in lines[0]
    assert "(3×: worst 180.0 ms, total 450.0 ms)" in lines[0]
    assert text.getvalue().rstrip().endswith("FAILED: 3 violation(s)")
    out = io.StringIO()
    write_annotations(result, out, "/srv/app")
    (annotation,) = out.getvalue().splitlines()
    assert annotation.startswith("::error file=aiohttp_app.py,line=28,")
    assert annotation.endswith("(3×, 450.0 ms in all)")
