"""`syscorr check --json`: the result as one JSON object.

Contract: `write_json(result, stream)` writes {"trace", "passed", "policy", "violations": [...],
"allowed", "startup", "tests", "warnings"}; each violation (one per occurrence) has rule, kind,
message, file (absolute or as recorded), line (0 or null: not known), function, via (the other
end of its await chain: file, line, function, or null), user_code, task, callback, syscall,
duration_ms, tracer_ms (estimated tracer share, or null), restarts, test, pid, log_line.
"""

import json

from syscorr.check.evaluate import CheckResult, Violation


def violation_dict(violation: Violation) -> dict:
    f = violation.finding
    return {
        "rule": violation.rule,
        "kind": f.kind,
        "message": violation.message(),
        "file": violation.filename,
        "line": violation.line,
        "function": violation.function,
        "task": f.task,
        "callback": f.callback,
        "syscall": f.syscall,
        "via": None
        if f.via is None
        else {"file": f.via.filename, "line": f.via.line, "function": f.via.qualname},
        "user_code": f.user_code,
        "duration_ms": round(violation.duration_ms, 3),
        "tracer_ms": None if f.tracer_ns is None else round(f.tracer_ns / 1e6, 3),
        "restarts": f.restarts,
        "test": violation.test,
        "pid": f.pid,
        "log_line": f.lineno,
    }


def write_json(result: CheckResult, stream) -> None:
    data = {
        "trace": result.trace,
        "passed": result.passed,
        "policy": result.policy.as_dict(),
        "violations": [violation_dict(v) for v in result.violations],
        "allowed": result.allowed,
        "startup": result.startup,
        "tests": result.tests,
        "warnings": result.warnings,
    }
    json.dump(data, stream, indent=2)
    stream.write("\n")
