"""`syscorr report --format json` over the committed traces: the output validates against
docs/report-schema.json, streams one element per line as docs/report-json.md says, agrees with
the accounts, carries the blocking findings with task and line, and a projection of the seed's
steps and iterations matches its golden file."""

import io
import json
import shutil

import jsonschema
import pytest

from syscorr.report import jsonreport
from syscorr.report.timeline import TimelineFilter
from tests.conftest import run_syscorr
from tests.golden_util import ROOT, TRACES, assert_golden, load

SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def render_json(name: str, options: dict | None = None) -> str:
    summary = load(name, keep=lambda item: True)
    out = io.StringIO()
    jsonreport.render(summary, out, options or {})
    return out.getvalue()


def assert_valid(document: dict) -> None:
    errors = sorted(VALIDATOR.iter_errors(document), key=lambda e: e.json_path)
    assert not errors, "\n".join(f"{e.json_path}: {e.message[:200]}" for e in errors[:10])


def test_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["schema_version"]["const"] == jsonreport.SCHEMA_VERSION


@pytest.mark.parametrize("name", ["seed", "echo", "blocking"])
def test_output_validates_against_schema(name):
    document = json.loads(render_json(name))
    assert_valid(document)
    assert document["format"] == "syscorr-report"
    assert document["has_agent"] is True
    accounts = document["accounts"]
    assert len(document["syscalls"]) == sum(
        s["calls"] + s["unfinished"] for s in accounts["syscalls"]
    )
    assert len(document["iterations"]) == sum(loop["iterations"] for loop in accounts["loops"])
    task_steps = [s for s in document["steps"] if s["kind"] == "task"]
    assert len(task_steps) == sum(t["steps"] for t in accounts["tasks"])
    stamps = [c["ts"] for c in document["syscalls"]]
    assert stamps == sorted(stamps)


def test_schema_rejects_a_changed_document():
    document = json.loads(render_json("seed"))
    document["steps"][0]["surprise"] = 1
    del document["syscalls"][0]["owner"]
    assert len(list(VALIDATOR.iter_errors(document))) == 2


def test_arrays_stream_one_element_per_line_as_documented():
    text = render_json("echo")
    sections: dict[str, int] = {}
    section = None
    for line in io.StringIO(text):
        if line.endswith(": [\n"):
            section = json.loads(line.split(":")[0])
        elif line.startswith("{") and section:
            json.loads(line.rstrip(",\n"))
            sections[section] = sections.get(section, 0) + 1
    document = json.loads(text)
    for key in ("iterations", "steps", "syscalls"):
        assert sections[key] == len(document[key]) > 0


def test_blocking_findings_carry_task_line_and_the_raw_call():
    document = json.loads(render_json("blocking"))
    found = {(f["syscall"], f["task"], f["frame"]["line"]) for f in document["findings"]}
    assert found == {
        ("clock_nanosleep", "sleeper", 26),
        ("read", "reader", 39),
        ("recvfrom", "fetcher", 56),
    }
    by_line = {c["log"]["line"]: c for c in document["syscalls"]}
    for finding in document["findings"]:
        call = by_line[finding["log_line"]]
        assert call["name"] == finding["syscall"] and call["task_name"] == finding["task"]
        assert call["owner"] == "task" and call["duration_ns"] == finding["duration_ns"]


def test_wait_forever_is_null_timeout():
    document = json.loads(render_json("echo"))
    forever = [it for it in document["iterations"] if it["wait"]["log"]["line"] == 769]
    assert forever and forever[0]["timeout_ns"] is None
    assert all(it["timeout_ns"] is None or it["timeout_ns"] >= 0 for it in document["iterations"])


def test_task_filter_narrows_items_not_accounts():
    filt = TimelineFilter.of(["client-0"], None, None, None, None, 500, None)
    document = json.loads(render_json("echo", {"filters": filt}))
    assert_valid(document)
    assert document["filters"]["tasks"] == ["client-0"]
    assert document["syscalls"] and {c["task_name"] for c in document["syscalls"]} == {"client-0"}
    assert {s["name"] for s in document["steps"]} == {"client-0"}
    assert len(document["accounts"]["tasks"]) > 1


def test_seed_steps_and_iterations_match_golden():
    document = json.loads(render_json("seed"))

    def where(frame):
        return None if frame is None else f"{frame['filename'].rsplit('/', 1)[-1]}:{frame['line']}"

    lines = []
    for step in document["steps"]:
        wake = step["wake"]["cause"] if step["wake"] else "-"
        chain = " < ".join(where(f) for f in step["suspended_at"])
        lines.append(
            f"step {step['index']} {step['kind']} {step['name']} it={step['iteration']} "
            f"{step['started_by']}@{where(step['resumed_at'])} wake={wake} "
            f"syscalls={step['syscalls']} {step['ended_by']} {chain}".rstrip()
        )
    for it in document["iterations"]:
        ready = ",".join(f"{r['fd']}:{r['events']}" for r in it["ready"])
        lines.append(
            f"iteration {it['index']} {it['wait']['name']} timeout={it['timeout_ns']} "
            f"timed_out={it['timed_out']} steps={it['steps']} ready={ready}"
        )
    assert_golden("json-seed-model.txt", "\n".join(lines) + "\n")


def test_trace_without_agent_is_valid_and_says_so(tmp_path):
    trace = tmp_path / "noagent"
    shutil.copytree(TRACES / "seed", trace)
    shutil.rmtree(trace / "agent")
    done = run_syscorr("report", str(trace), "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert_valid(document)
    assert document["has_agent"] is False and document["steps"] == []
    assert any("no agent log" in w for w in document["warnings"])


def test_cli_writes_json_file(tmp_path):
    out = tmp_path / "model.json"
    done = run_syscorr("report", str(TRACES / "blocking"), "--format", "json", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert_valid(json.loads(out.read_text()))
    assert out.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("name", ["seed", "echo", "blocking"])
def test_the_fast_encoders_write_what_json_dumps_writes(name):
    """syscall_text / step_text are the JSON of syscall_json / step_json, byte for byte."""
    from syscorr.correlate.model import StepItem, SyscallItem

    dumps = json.JSONEncoder(separators=(",", ":")).encode
    summary = load(name, keep=lambda item: True)
    checked = 0
    for item in summary.items:
        if type(item) is SyscallItem:
            assert jsonreport.syscall_text(item) == dumps(jsonreport.syscall_json(item))
            checked += 1
        elif type(item) is StepItem:
            assert jsonreport.step_text(item) == dumps(jsonreport.step_json(item))
            checked += 1
    assert checked > 100
