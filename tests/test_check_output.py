"""The check writers (text, JSON, JUnit, GitHub annotations) and allow-list matching, over
hand-made findings."""

import io
import json
import xml.etree.ElementTree as ET

import pytest

from syscorr.analysis.findings import MS, Finding
from syscorr.check.evaluate import CheckResult, Violation, is_allowed, module_candidates
from syscorr.check.github import escape_property, write_annotations
from syscorr.check.jsonout import write_json
from syscorr.check.junit import split_nodeid, write_junit
from syscorr.check.policy import Policy
from syscorr.check.text import write_text
from syscorr.correlate.model import Frame

APP = "/repo/src/myapp/cache.py"


def finding(kind="blocking-syscall", line=42, qualname="Cache.load", filename=APP, ms=150.0):
    return Finding(
        kind, int(ms * MS), 100, 100, 1_000, "loader", None,
        Frame(qualname, filename, line), "clock_nanosleep", "…", 3, 77,
    )  # fmt: skip


def result(violations, tests=(), warnings=()):
    return CheckResult("trace1", Policy(), list(violations), 1, list(tests), list(warnings), 1)


def test_text_names_file_line_rule_and_test():
    out = io.StringIO()
    write_text(result([Violation(finding(), "max-block-ms", "tests/test_a.py::test_x")]), out)
    text = out.getvalue()
    assert f"{APP}:42: max-block-ms: loop blocked 150.0 ms by clock_nanosleep()" in text
    assert "[test tests/test_a.py::test_x]" in text
    assert text.rstrip().endswith("FAILED: 1 violation(s)")
    out = io.StringIO()
    write_text(result([]), out)
    assert out.getvalue().rstrip().splitlines()[-1].startswith("PASSED")


def test_json_round_trips():
    out = io.StringIO()
    write_json(result([Violation(finding(), "max-block-ms", None)]), out)
    data = json.loads(out.getvalue())
    assert data["passed"] is False
    (v,) = data["violations"]
    assert (v["file"], v["line"], v["function"], v["task"]) == (APP, 42, "Cache.load", "loader")
    assert v["duration_ms"] == 150.0 and v["rule"] == "max-block-ms" and v["log_line"] == 77


def test_junit_one_case_per_rule_without_tests():
    out = io.StringIO()
    write_junit(result([Violation(finding(), "max-block-ms", None)]), out)
    root = ET.fromstring(out.getvalue())
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"max-block-ms", "max-step-ms", "forbidden-syscalls"}
    failure = cases["max-block-ms"].find("failure")
    assert failure.get("message").startswith(f"{APP}:42: loop blocked")
    assert cases["max-step-ms"].find("failure") is None
    assert root.find("testsuite").get("failures") == "1"


def test_junit_one_case_per_test_with_an_outside_case():
    violations = [
        Violation(finding(), "max-block-ms", "tests/test_a.py::TestX::test_slow[1]"),
        Violation(finding(line=7), "max-step-ms", None),
    ]
    tests = ["tests/test_a.py::TestX::test_slow[1]", "tests/test_a.py::test_ok"]
    out = io.StringIO()
    write_junit(result(violations, tests, warnings=["bad \x01 byte"]), out)
    root = ET.fromstring(out.getvalue())  # parses: the control character was replaced
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    assert set(cases) == {
        ("tests.test_a.TestX", "test_slow[1]"),
        ("tests.test_a", "test_ok"),
        ("syscorr", "outside tests"),
    }
    assert cases[("tests.test_a.TestX", "test_slow[1]")].find("failure") is not None
    assert cases[("tests.test_a", "test_ok")].find("failure") is None
    assert f"{APP}:7" in cases[("syscorr", "outside tests")].find("failure").get("message")


def test_split_nodeid():
    assert split_nodeid("t/test_a.py::test_b") == ("t.test_a", "test_b")
    assert split_nodeid("test_a.py") == ("test_a", "test_a")


def test_github_annotations_relative_and_escaped(tmp_path):
    src = tmp_path / "pkg" / "mod,x.py"
    src.parent.mkdir()
    src.write_text("")
    v = Violation(finding(filename=str(src), qualname="f"), "max-block-ms", "t.py::test_a")
    out = io.StringIO()
    write_annotations(result([v], warnings=["50% lost\nsecond"]), out, str(tmp_path))
    first, warning = out.getvalue().splitlines()
    assert first.startswith("::error file=pkg/mod%2Cx.py,line=42,title=syscorr max-block-ms in ")
    assert first.endswith(
        "::loop blocked 150.0 ms by clock_nanosleep() in task loader at mod,x.py:42 (f)"
    )
    assert warning == "::warning title=syscorr::50%25 lost%0Asecond"
    assert escape_property("a:b,c%") == "a%3Ab%2Cc%25"


def test_module_candidates():
    assert module_candidates("/r/src/myapp/cache.py") == [
        "cache", "myapp.cache", "src.myapp.cache", "r.src.myapp.cache",
    ]  # fmt: skip
    assert module_candidates("/r/myapp/__init__.py")[:2] == ["myapp", "r.myapp"]


@pytest.mark.parametrize(
    "policy, test, allowed",
    [
        (Policy(allow_modules=("myapp.cache",)), None, True),
        (Policy(allow_modules=("myapp",)), None, True),  # a package covers its modules
        (Policy(allow_modules=("myapp.c*",)), None, True),
        (Policy(allow_modules=("myapp.other",)), None, False),
        (Policy(allow_modules=("app",)), None, False),  # not a suffix match of a name part
        (Policy(allow_functions=("Cache.load",)), None, True),
        (Policy(allow_functions=("*.load",)), None, True),
        (Policy(allow_functions=("load",)), None, False),
        (Policy(allow_tests=("tests/test_boot.py::*",)), "tests/test_boot.py::test_a", True),
        (Policy(allow_tests=("tests/test_boot.py::*",)), "tests/test_other.py::test_a", False),
        (Policy(allow_tests=("tests/test_boot.py::*",)), None, False),
        (Policy(), None, False),
    ],
)
def test_allow_lists(policy, test, allowed):
    assert is_allowed(finding(), test, policy) is allowed


def test_the_pytest_plugins_lines_are_inert():
    """The plugin's summary lines (test ids and messages from the trace) escape control
    characters and cannot start a workflow command."""
    from pathlib import Path

    from syscorr.pytest_plugin import _print_report

    class Writer:
        def __init__(self):
            self.lines = []

        def line(self, text, **_):
            self.lines.append(text)

        def sep(self, _, text, **__):
            self.lines.append(text)

    hostile = finding(filename="/x/\n::error::evil\x1b[31m.py")._replace(task="t\x07\r")
    test = "tests/t.py::test\x1b]0;x\x07\n::warning::y"
    violation = Violation(hostile, "max-block-ms", test)
    res = result([violation], tests=[test])
    writer = Writer()
    _print_report(writer, res, {test: [violation]}, Path("trace"), Path("/"))
    text = "\n".join(writer.lines)
    assert not any(c in text for c in "\x1b\x07\r")
    assert all(not line.lstrip().startswith("::") for line in text.split("\n"))
    assert "\\x1b[31m" in text
