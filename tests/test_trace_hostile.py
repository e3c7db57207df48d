"""Hostile trace directories: a trace is untrusted input. Every damaged, mutated or lying
file gives a one-line error or a partial report with a warning — never a traceback, a hang or
unbounded memory — and the default location `.syscorr` cannot be planted by another user.
Real files, FIFOs, devices, symlinks and mounts; the fuzz budget of scripts/fuzz_traces.py."""

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import APPS, mount_tmpfs, run_syscorr
from tests.golden_util import TRACES

ROOT = Path(__file__).resolve().parent.parent


def load_fuzz():
    spec = importlib.util.spec_from_file_location(
        "fuzz_traces", ROOT / "scripts" / "fuzz_traces.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fuzz = load_fuzz()


def copy_seed(tmp_path, name="trace") -> Path:
    trace = tmp_path / name
    shutil.copytree(TRACES / "seed", trace)
    return trace


def one_line_error(proc) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.stdout[-500:], err)
    assert err.count("\n") == 1 and err.startswith("syscorr: error: "), err
    assert "Traceback" not in err
    return err


def report(*args, cwd=None):
    return run_syscorr("report", *args, cwd=cwd, timeout=60)  # a hang fails the test


# ---- files that are not what they claim ----


def test_a_fifo_for_the_log_is_refused_not_waited_on(tmp_path):
    trace = copy_seed(tmp_path)
    (trace / "strace.log").unlink()
    os.mkfifo(trace / "strace.log")
    assert "strace.log is a FIFO" in one_line_error(report(str(trace)))


def test_a_log_that_is_a_device_or_a_symlink_is_refused(tmp_path):
    trace = copy_seed(tmp_path)
    (trace / "strace.log").unlink()
    (trace / "strace.log").symlink_to("/dev/zero")
    assert "symbolic link" in one_line_error(report(str(trace)))
    secret = tmp_path / "secret.txt"
    secret.write_text('1 1.0 write(1, "private", 7) = 7\n')
    (trace / "strace.log").unlink()
    (trace / "strace.log").symlink_to(secret)  # a file elsewhere is not read either
    assert "symbolic link" in one_line_error(report(str(trace)))


@pytest.mark.parametrize("kind", ["fifo", "symlink", "huge", "nested", "not-utf8"])
def test_a_hostile_meta_json_is_one_line_error(tmp_path, kind):
    trace = copy_seed(tmp_path)
    meta = trace / "meta.json"
    meta.unlink()
    if kind == "fifo":
        os.mkfifo(meta)
    elif kind == "symlink":
        meta.symlink_to("/dev/zero")
    elif kind == "huge":
        with open(meta, "w") as f:
            f.write('{"format_version": 1, "pad": "')
            f.truncate(20 << 20)  # 20 MiB, sparse
    elif kind == "nested":
        meta.write_text('{"format_version": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    else:
        meta.write_bytes(b'{"format_version": 1, "cwd": "\xff\xfe"}')
    err = one_line_error(report(str(trace)))
    assert "meta.json" in err


def test_an_agent_log_that_is_a_fifo_is_skipped_with_a_warning(tmp_path):
    trace = copy_seed(tmp_path)
    os.mkfifo(trace / "agent" / "agent-1.bin")
    proc = report(str(trace))
    assert proc.returncode == 0, proc.stderr
    out = (proc.stdout + proc.stderr).decode().replace("\n", "")  # the terminal wraps lines
    assert "agent log skipped" in out and "agent-1.bin is a FIFO" in out


def test_a_line_without_end_is_cut_not_held_in_memory(tmp_path):
    trace = copy_seed(tmp_path)
    with open(trace / "strace.log", "ab") as f:
        f.write(b"27717 ")
        for _ in range(100):
            f.write(b"x" * (1 << 20))  # a 100 MiB line
        f.write(b"\n")
    proc = subprocess.run(
        [sys.executable, "-c", MAX_RSS, str(trace)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    rss_mb, warnings = proc.stdout.split("\n", 1)
    assert int(rss_mb) < 160, rss_mb  # the line is never read whole (it was: 344 MB)
    assert "could not be parsed" in warnings


MAX_RSS = """
import re, sys
from syscorr.analysis.summary import summarize_trace
summary = summarize_trace(sys.argv[1])
peak = re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read()).group(1)
print(int(peak) // 1024)  # this process's own peak (ru_maxrss would count pytest's at fork)
print(summary.warnings)
"""


def test_thousands_of_agent_logs_are_bounded(tmp_path):
    trace = copy_seed(tmp_path)
    header = (TRACES / "seed" / "agent").glob("agent-*.bin").__next__().read_bytes()[:32]
    for pid in range(5000):
        (trace / "agent" / f"agent-{100000 + pid}.bin").write_bytes(header)
    proc = report(str(trace))
    assert proc.returncode == 0, proc.stderr
    assert b"only the first 4096" in proc.stdout + proc.stderr


# ---- meta.json that lies or has the wrong shape: a partial report with a warning ----

MUTATIONS = {
    "command is an object": lambda m: m.update(command={"argv": ["x"]}),
    "exit is a string": lambda m: m.update(exit="0"),
    "exit code too big": lambda m: m["exit"].update(code=10**30),
    "backend is a list": lambda m: m.update(backend=["strace"]),
    "unknown log format": lambda m: m["backend"].update(log_format="evil"),
    "log outside the trace": lambda m: m.update(syscall_logs=["../../../../etc/passwd"]),
    "log is meta.json": lambda m: m.update(syscall_logs=["meta.json"]),
    "agent dir hides everything": lambda m: m["agent"].update(dir="/"),
    "clocks are text": lambda m: m.update(clocks={"start": "yesterday", "end": [1, 2]}),
    "kind is unknown": lambda m: m.update(kind="daemon"),
    "syscalls are numbers": lambda m: m["syscall_set"].update(syscalls=[1, 2, 3]),
    "nested garbage": lambda m: m.update(extra={"a": [{"b": [[[[{}]]]]}]}),
    "capture lies": lambda m: m.update(capture={"failed": 5, "lost_lines": "many"}),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_mutated_meta_gives_a_report(tmp_path, name):
    trace = copy_seed(tmp_path)
    meta = json.loads((trace / "meta.json").read_text())
    MUTATIONS[name](meta)
    (trace / "meta.json").write_text(json.dumps(meta))
    assert fuzz.exercise(trace) == "ok"  # every output, in process: no exception
    from syscorr.analysis.summary import summarize_trace

    summary = summarize_trace(trace, keep=lambda item: True)
    if name not in ("nested garbage",):
        assert any(w.startswith("meta.json: ") for w in summary.warnings), summary.warnings
    assert len(summary.items) > 300  # the agent-dir lie hides none of the program's syscalls


def test_a_mutated_meta_through_the_cli(tmp_path):
    trace = copy_seed(tmp_path)
    meta = json.loads((trace / "meta.json").read_text())
    meta.update(command={"x": 1}, exit="done", syscall_logs=["/dev/zero"])
    (trace / "meta.json").write_text(json.dumps(meta))
    for args in (["report"], ["report", "--format", "json"], ["explain"], ["check"]):
        cmd = args[0] if args[0] != "report" else "report"
        proc = run_syscorr(cmd, *args[1:], str(trace), timeout=60)
        assert b"Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode in (0, 1), (args, proc.stderr)  # check: 1 = violations


def test_fuzz_budget_has_no_crash():
    """A CI budget of scripts/fuzz_traces.py (the full run: 10,000 cases, by hand)."""
    counts = fuzz.run(cases=45, seed=13, quiet=True)
    assert sum(cases for cases, _ in counts.values()) >= 45


# ---- where traces are written ----


@pytest.fixture
def read_only_dir(tmp_path):
    yield from mount_tmpfs(tmp_path / "ro", "ro,size=64k")


def test_output_on_a_read_only_filesystem_is_a_clear_error(tmp_path, read_only_dir):
    for target in (read_only_dir / "t", read_only_dir / "a" / "b" / "t"):
        err = one_line_error(run_syscorr("run", "-o", str(target), str(APPS / "seed.py")))
        assert "Read-only file system" in err and "-o" in err


def test_parents_made_by_output_are_private(tmp_path):
    out = tmp_path / "new" / "deeper" / "t"
    proc = run_syscorr("run", "-q", "-o", str(out), str(APPS / "seed.py"))
    assert proc.returncode == 0, proc.stderr
    for directory in (tmp_path / "new", tmp_path / "new" / "deeper", out):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


@pytest.mark.parametrize("problem", ["world-writable", "foreign-owned"])
def test_an_unsafe_default_location_is_refused(tmp_path, problem):
    base = tmp_path / ".syscorr"
    shutil.copytree(TRACES / "seed", base / "20260101-000000-seed")
    (base / "latest").symlink_to("20260101-000000-seed")
    if problem == "world-writable":
        base.chmod(0o777)
        expected = "writable by every user"
    else:
        os.chown(base, 65534, 65534)
        expected = "belongs to another user"
    assert expected in one_line_error(report(cwd=tmp_path))
    assert expected in one_line_error(run_syscorr("run", str(APPS / "seed.py"), cwd=tmp_path))


def test_latest_pointing_outside_the_default_location_is_refused(tmp_path):
    base = tmp_path / ".syscorr"
    base.mkdir(mode=0o700)
    elsewhere = copy_seed(tmp_path, "planted")
    (base / "latest").symlink_to(elsewhere)
    err = one_line_error(report(cwd=tmp_path))
    assert "does not point at a trace inside" in err
