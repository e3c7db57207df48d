"""Judge a trace against a policy: findings become violations, or are allowed.

Contract: `check_trace(trace_arg, policy)` opens the trace (`TraceDirError` when it cannot be
read), runs the one analysis pass with the policy's `Rules` while keeping only the pytest
plugin's marker syscalls, and returns a `CheckResult`: the violations in time order, each with
its rule ("max-block-ms", "max-step-ms", "forbidden-syscalls"), its source location and the
test that was running (when the trace has test markers), plus how many findings the
allow-lists let through, how many were startup work in library code (not counted: see
syscorr.analysis.findings.counts) and warnings; `groups()` folds the violations by place.
`evaluate(summary, policy)` does the same from a `TraceSummary` already made. It refuses
(`UsageError`, exit 2) a forbidden syscall the trace did not record, and a trace without
syscall durations (an imported log recorded without -T), since the check could not see
either: never a PASS it cannot back.

Allow-lists: `allow-modules` patterns match the module a finding points at (its import name
under site-packages or the standard library; for the user's files, the dotted suffixes of the
path). In the user's own code only a plain name (`myapp.legacy`, covering its submodules) or a
`name.*` pattern allows a finding: a glob such as `aiohttp*` matches library modules only, so
it never hides a line of the user's (`aiohttp_app.py` is not aiohttp). Nothing here writes
output.
"""

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from syscorr.analysis.findings import MS, Finding, counts, unjudged_reason
from syscorr.analysis.summary import TraceSummary, summarize_trace
from syscorr.check.policy import Policy
from syscorr.check.testspans import TestSpans, is_marker
from syscorr.errors import UsageError

RULE_OF_KIND = {
    "blocking-syscall": "max-block-ms",
    "long-step": "max-step-ms",
    "forbidden-syscall": "forbidden-syscalls",
}
RULES = ("max-block-ms", "max-step-ms", "forbidden-syscalls")


@dataclass(frozen=True)
class Violation:
    finding: Finding
    rule: str  # RULES
    test: str | None  # pytest node id running at the time, when the trace has markers

    @property
    def filename(self) -> str | None:
        return self.finding.frame.filename if self.finding.frame else None

    @property
    def line(self) -> int | None:
        return self.finding.frame.line if self.finding.frame else None

    @property
    def function(self) -> str | None:
        return self.finding.frame.qualname if self.finding.frame else None

    @property
    def duration_ms(self) -> float:
        return self.finding.duration_ns / MS

    def message(self) -> str:
        return self.finding.message()


@dataclass(frozen=True)
class ViolationGroup:
    """The violations of one rule at one place in one process."""

    rule: str
    violations: tuple[Violation, ...]  # in time order

    @property
    def worst(self) -> Violation:
        return max(self.violations, key=lambda v: v.finding.duration_ns)

    @property
    def count(self) -> int:
        return len(self.violations)

    @property
    def total_ms(self) -> float:
        return sum(v.duration_ms for v in self.violations)


@dataclass
class CheckResult:
    trace: str
    policy: Policy
    violations: list[Violation]
    allowed: int = 0
    tests: list[str] = field(default_factory=list)  # node ids seen, in run order
    warnings: list[str] = field(default_factory=list)
    loops: int = 0  # event-loop threads seen
    startup: int = 0  # findings during the loop's startup in library code: not counted

    @property
    def passed(self) -> bool:
        return not self.violations

    def groups(self) -> list[ViolationGroup]:
        """One group per (process, rule, place, test), in the order of their first violation."""
        grouped: dict[tuple, list[Violation]] = {}
        for v in self.violations:
            f = v.finding
            spot = (f.frame.filename, f.frame.line, f.frame.qualname) if f.frame else f.where
            grouped.setdefault((f.pid, v.rule, spot, v.test), []).append(v)
        return [ViolationGroup(vs[0].rule, tuple(vs)) for vs in grouped.values()]


def module_candidates(filename: str) -> list[str]:
    """Dotted names a file may be imported as: `a/b/pkg/mod.py` -> mod, pkg.mod, b.pkg.mod..."""
    path = Path(filename)
    parts = list(path.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    parts = [p for p in parts if p not in ("/", "")]
    return [".".join(parts[i:]) for i in range(len(parts) - 1, -1, -1)]


def library_module(filename: str) -> str | None:
    """The import name of a file under site-packages/dist-packages (`aiohttp.web_protocol`)."""
    path = Path(filename)
    parts = list(path.with_suffix("").parts)
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            rest = parts[len(parts) - parts[::-1].index(marker) :]
            if rest and rest[-1] == "__init__":
                rest.pop()
            return ".".join(rest) or None
    return None


def _is_plain(pattern: str) -> bool:
    """A module name, or `name.*`: patterns that may allow findings in the user's code."""
    head = pattern.removesuffix(".*")
    return not any(c in head for c in "*?[")


def _matches_module(filename: str, patterns: tuple[str, ...], user_code: bool) -> bool:
    exact = library_module(filename)
    names = [exact] if exact and not user_code else module_candidates(filename)
    for pattern in patterns:
        if user_code and not _is_plain(pattern):
            continue  # a glob never hides a line of the user's own code
        for name in names:
            if fnmatch.fnmatchcase(name, pattern) or name.startswith(pattern + "."):
                return True
    return False


def is_allowed(finding: Finding, test: str | None, policy: Policy) -> bool:
    frame = finding.frame
    if frame is not None:
        if policy.allow_modules and _matches_module(
            frame.filename, policy.allow_modules, finding.user_code
        ):
            return True
        if any(fnmatch.fnmatchcase(frame.qualname, p) for p in policy.allow_functions):
            return True
    if test is not None and any(fnmatch.fnmatchcase(test, p) for p in policy.allow_tests):
        return True
    return False


def _recorded_syscalls(meta: dict) -> set[str] | None:
    names = (meta.get("syscall_set") or {}).get("syscalls")
    return set(names) if names else None


def evaluate(summary: TraceSummary, policy: Policy, trace_label: str = "") -> CheckResult:
    reason = unjudged_reason(summary.accounts)
    if reason is not None:
        raise UsageError(f"cannot check {trace_label or 'this trace'}: {reason}")
    recorded = _recorded_syscalls(summary.meta)
    if recorded is not None:
        unseen = [name for name in policy.forbidden if name not in recorded]
        if unseen:
            raise UsageError(
                f"the trace did not record {unseen[0]}, which the policy forbids, so the check "
                f"cannot see it: record with `syscorr run --syscalls all` (or a list with it)"
            )
    spans = TestSpans.from_items(summary.items)
    violations: list[Violation] = []
    allowed = startup = 0
    for finding in sorted(summary.findings, key=lambda f: (f.ts or 0, f.pid)):
        if not counts(finding):
            startup += 1
            continue
        test = spans.test_at(finding.pid, finding.ts)
        if is_allowed(finding, test, policy):
            allowed += 1
            continue
        violations.append(Violation(finding, RULE_OF_KIND[finding.kind], test))
    warnings = list(summary.warnings)
    loops = len(summary.accounts.loops)
    if not loops:
        warnings.append("no asyncio event loop ran in this trace: there was nothing to check")
    return CheckResult(
        trace_label,
        policy,
        violations,
        allowed,
        spans.nodeids(),
        warnings,
        loops=loops,
        startup=startup,
    )


def check_trace(trace_arg, policy: Policy, progress=None) -> CheckResult:
    summary = summarize_trace(trace_arg, policy.rules(), keep=is_marker, progress=progress)
    return evaluate(summary, policy, str(summary.loaded.trace.path))
