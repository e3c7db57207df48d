"""Human-readable `syscorr check` output: one line per violation, compiler style.

Contract: `write_text(result, stream)` writes a header with the policy, then
`path:line: message [test ...]` per place (a place that failed several times says how often,
the worst and the total; `--json` lists each one), or a line saying the trace is clean, the
warnings, and a last line `FAILED: N violation(s)` or `PASSED`. Each line goes through
syscorr.report.safe: trace text (paths, names, tests) has its control characters escaped and
can never make a line a CI workflow command.
"""

from syscorr.check.evaluate import CheckResult
from syscorr.check.locations import location
from syscorr.report.safe import guard_line, safe


def write_text(result: CheckResult, stream) -> None:
    def line(text: str) -> None:
        stream.write(guard_line(safe(text)) + "\n")

    line(f"syscorr check {result.trace}")
    line(f"  policy: {result.policy.describe()}")
    if result.tests:
        line(f"  tests: {len(result.tests)} seen in the trace")
    for group in result.groups():
        violation = group.worst
        where = location(violation)
        test = f"  [test {violation.test}]" if violation.test else ""
        times = (
            f" ({group.count}×: worst {violation.duration_ms:.1f} ms, "
            f"total {group.total_ms:.1f} ms)"
            if group.count > 1
            else ""
        )
        line(f"{where}: {violation.rule}: {violation.message()}{times}{test}")
    if result.allowed:
        line(f"  {result.allowed} finding(s) allowed by the policy's allow-lists")
    if result.startup:
        line(
            f"  {result.startup} finding(s) during startup in library code, not counted "
            "(before the first accepted connection: importing, binding)"
        )
    for warning in result.warnings:
        line(f"  warning: {warning}")
    if result.violations:
        print(f"FAILED: {len(result.violations)} violation(s)", file=stream)
    else:
        print("PASSED: the event loop was never blocked beyond the policy", file=stream)
