"""TracerDefaults finds the program among the tracer's children from /proc as psutil would:
the child that runs another executable than the tracer."""

import os
import subprocess
import sys

import pytest

from syscorr.capture import backend
from syscorr.capture.backend import TracerDefaults, proc_children


@pytest.fixture
def children():
    """This process stands for the tracer: a child running its own executable (a helper, as
    strace forks) and one running another (the program)."""
    helper = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)  # fmt: skip
    program = subprocess.Popen(["sleep", "60"])
    yield helper, program
    for proc in (helper, program):
        proc.kill()
        proc.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")
def test_the_program_is_found_from_proc_as_with_psutil(children, monkeypatch):
    helper, program = children
    assert {helper.pid, program.pid} <= set(proc_children(os.getpid()))
    assert TracerDefaults().program_of(os.getpid()) == program.pid
    monkeypatch.setattr(backend, "proc_children", lambda pid: None)  # no /proc list: psutil
    assert TracerDefaults().program_of(os.getpid()) == program.pid


def test_a_process_gone_or_childless_has_no_program(children):
    helper, _ = children
    assert TracerDefaults().program_of(helper.pid) is None
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert proc_children(gone.pid) is None
    assert TracerDefaults().program_of(gone.pid) is None
