"""The target's Python version: asked of another interpreter, known without asking for the
interpreter syscorr itself runs on (no process started)."""

import os
import subprocess
import sys

import pytest

from syscorr.capture import target
from syscorr.errors import TargetError

THIS = ".".join(str(n) for n in sys.version_info[:3])


@pytest.fixture
def no_subprocess(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a process was started: {args[0]!r}")

    monkeypatch.setattr(subprocess, "run", refuse)


def test_a_script_runs_on_this_python_without_a_version_query(tmp_path, no_subprocess):
    script = tmp_path / "app.py"
    script.write_text("pass\n")
    resolved = target.resolve([str(script), "--port", "1"])
    assert resolved.argv == [sys.executable, str(script), "--port", "1"]
    assert resolved.python_version == THIS


def test_this_python_by_path_or_symlink_is_not_asked(tmp_path, no_subprocess):
    link = tmp_path / "python3"
    os.symlink(sys.executable, link)
    assert target.resolve([sys.executable, "-c", "pass"]).python_version == THIS
    assert target.resolve([str(link), "-c", "pass"]).python_version == THIS


def test_another_interpreter_is_asked(tmp_path):
    fake = tmp_path / "python3.12"  # answers the version query as a Python 3.12.7 would
    fake.write_text("#!/bin/sh\necho 3.12.7\n")
    fake.chmod(0o755)
    assert target.resolve([str(fake), "app.py"]).python_version == "3.12.7"
    old = tmp_path / "python3.9"
    old.write_text("#!/bin/sh\necho 3.9.18\n")
    old.chmod(0o755)
    with pytest.raises(TargetError, match="target Python is 3.9.18"):
        target.resolve([str(old), "app.py"])
