"""`syscorr check --junit FILE`: the result as a JUnit XML report CI systems display.

Contract: `write_junit(result, stream)` writes one <testsuite name="syscorr check">. Without
test attribution there is one <testcase> per rule (max-block-ms, max-step-ms,
forbidden-syscalls); with it (a pytest session traced with the syscorr plugin) one per test,
named like pytest's own report (classname `tests.test_x.Class`, name `test_y`), plus
`outside tests` when violations happened outside any test. A failing case has a <failure>
whose message starts with the first violation's `file:line` and whose text lists them all. Every
string goes through `_clean`: well-formed XML whatever the trace holds, nothing a terminal or a CI
runner would act on.
"""

import re
import xml.etree.ElementTree as ET

from syscorr.check.evaluate import RULES, CheckResult, Violation
from syscorr.check.locations import location
from syscorr.report.safe import guard_line, safe

OUTSIDE_TESTS = "outside tests"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    """Text from the trace made one inert line that XML 1.0 can carry: control characters
    (newlines too) escaped by syscorr.report.safe, not a CI workflow command, and any
    character XML cannot carry (U+FFFE, U+FFFF) replaced."""
    return _NOT_XML.sub("\ufffd", guard_line(safe(text)))


def _failure(case: ET.Element, violations: list[Violation]) -> None:
    first = violations[0]
    summary = _clean(f"{location(first)}: {first.message()}")
    if len(violations) > 1:
        summary += f" (and {len(violations) - 1} more)"
    failure = ET.SubElement(case, "failure", message=summary, type=first.rule)
    failure.text = "\n".join(
        _clean(f"{location(v)}: {v.rule}: {v.message()}" + (f" [test {v.test}]" if v.test else ""))
        for v in violations
    )


def split_nodeid(nodeid: str) -> tuple[str, str]:
    """("tests.test_x.Class", "test_y[1]") from "tests/test_x.py::Class::test_y[1]"."""
    parts = nodeid.split("::")
    module = parts[0].removesuffix(".py").replace("/", ".")
    if len(parts) == 1:
        return module, module
    return ".".join([module, *parts[1:-1]]), parts[-1]


def _cases(result: CheckResult) -> list[tuple[str, str, list[Violation]]]:
    if result.tests:
        by_test: dict[str | None, list[Violation]] = {}
        for violation in result.violations:
            by_test.setdefault(violation.test, []).append(violation)
        cases = [(*split_nodeid(test), by_test.get(test, [])) for test in result.tests]
        outside = by_test.get(None)
        if outside:
            cases.append(("syscorr", OUTSIDE_TESTS, outside))
        return cases
    return [("syscorr", rule, [v for v in result.violations if v.rule == rule]) for rule in RULES]


def build_junit(result: CheckResult) -> ET.ElementTree:
    cases = _cases(result)
    failures = sum(1 for *_, violations in cases if violations)
    root = ET.Element("testsuites", name="syscorr", tests=str(len(cases)))
    root.set("failures", str(failures))
    suite = ET.SubElement(
        root,
        "testsuite",
        name="syscorr check",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="trace", value=_clean(result.trace))
    ET.SubElement(properties, "property", name="policy", value=_clean(result.policy.describe()))
    for classname, name, violations in cases:
        case = ET.SubElement(suite, "testcase", classname=_clean(classname), name=_clean(name))
        if violations:
            _failure(case, violations)
    if result.warnings:
        ET.SubElement(suite, "system-err").text = "\n".join(_clean(w) for w in result.warnings)
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(result: CheckResult, stream) -> None:
    build_junit(result).write(stream, encoding="unicode", xml_declaration=True)
    stream.write("\n")
