"""Human-readable `syscorr check` output: one line per violation, compiler style.

Contract: `write_text(result, stream)` writes a header with the policy, then
`path:line: message [test ...]` per place (a place that failed several times says how often,
the worst and the total; `--json` lists each one), or a line saying the trace is clean, the
warnings, and a last line `FAILED: N violation(s)` or `PASSED`.
"""

from syscorr.check.evaluate import CheckResult
from syscorr.check.locations import location


def write_text(result: CheckResult, stream) -> None:
    print(f"syscorr check {result.trace}", file=stream)
    print(f"  policy: {result.policy.describe()}", file=stream)
    if result.tests:
        print(f"  tests: {len(result.tests)} seen in the trace", file=stream)
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
        print(f"{where}: {violation.rule}: {violation.message()}{times}{test}", file=stream)
    if result.allowed:
        print(f"  {result.allowed} finding(s) allowed by the policy's allow-lists", file=stream)
    if result.startup:
        print(
            f"  {result.startup} finding(s) during startup in library code, not counted "
            "(before the first accepted connection: importing, binding)",
            file=stream,
        )
    for warning in result.warnings:
        print(f"  warning: {warning}", file=stream)
    if result.violations:
        print(f"FAILED: {len(result.violations)} violation(s)", file=stream)
    else:
        print("PASSED: the event loop was never blocked beyond the policy", file=stream)
