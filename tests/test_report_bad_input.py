"""Bad input to `syscorr report` (text and json) and `syscorr explain`: a missing or damaged trace
directory, a trace from a newer format, an empty log, unreadable agent logs, garbage lines. Each
gives one clear line on stderr and exit 2, or a report that says what was skipped."""

import json
import shutil

import pytest

from tests.conftest import run_syscorr
from tests.golden_util import TRACES

COMMANDS = (["report"], ["report", "--format", "json"], ["explain"])


def copy_seed(tmp_path, name="trace"):
    trace = tmp_path / name
    shutil.copytree(TRACES / "seed", trace)
    return trace


def damage(tmp_path, kind):
    trace = copy_seed(tmp_path)
    if kind == "missing":
        shutil.rmtree(trace)
    elif kind == "not-a-trace":
        shutil.rmtree(trace)
        trace.mkdir()
    elif kind == "meta-garbage":
        (trace / "meta.json").write_text('{"format_version": ')
    elif kind == "no-syscall-log":
        (trace / "strace.log").unlink()
    elif kind == "newer":
        meta = json.loads((trace / "meta.json").read_text())
        meta["format_version"] = 99
        (trace / "meta.json").write_text(json.dumps(meta))
    return trace


EXPECTED_ERRORS = {
    "missing": "does not exist",
    "not-a-trace": "not a syscorr trace directory",
    "meta-garbage": "meta.json is damaged",
    "no-syscall-log": "syscall log strace.log is missing",
    "newer": "newer than this syscorr reads",
}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("kind", sorted(EXPECTED_ERRORS))
def test_unreadable_trace_is_one_line_error(tmp_path, kind, command):
    trace = damage(tmp_path, kind)
    done = run_syscorr(*command, str(trace))
    err = done.stderr.decode()
    assert done.returncode == 2, (done.stdout, err)
    assert err.count("\n") == 1 and err.startswith("syscorr: error: "), err
    assert EXPECTED_ERRORS[kind] in err
    assert "Traceback" not in err and done.stdout == b""


def test_empty_log_explain_says_there_is_nothing(tmp_path):
    trace = copy_seed(tmp_path)
    (trace / "strace.log").write_text("")
    done = run_syscorr("explain", str(trace))
    assert done.returncode == 0, done.stderr
    assert "holds no syscall" in done.stdout.decode()
    done = run_syscorr("report", str(trace), "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["syscalls"] == [] and document["accounts"]["syscalls"] == []


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_garbage_lines_and_torn_agent_log_give_a_partial_report_that_says_so(tmp_path, command):
    trace = copy_seed(tmp_path)
    lines = (trace / "strace.log").read_bytes().splitlines(keepends=True)
    (trace / "strace.log").write_bytes(
        b"".join(lines[:300]) + b"garbage (((\n\xff\xfe not text\n" + b"".join(lines[300:])
    )
    agent = next((trace / "agent").glob("agent-*.bin"))
    data = agent.read_bytes()
    agent.write_bytes(data[: len(data) * 2 // 3 // 8 * 8 + 5])  # cut inside a record
    done = run_syscorr(*command, str(trace))
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.decode().split())
    assert "2 lines could not be parsed, first at line 301" in out
    assert "could not be read (the process was probably killed while writing)" in out


def test_unreadable_agent_log_is_skipped_and_named(tmp_path):
    trace = copy_seed(tmp_path)
    agent = next((trace / "agent").glob("agent-*.bin"))
    agent.write_bytes(b"not an agent log at all" * 4)
    for command in COMMANDS:
        done = run_syscorr(*command, str(trace))
        assert done.returncode == 0, done.stderr
        out = " ".join(done.stdout.decode().split())
        assert "agent log skipped" in out or "no agent events" in out, command
