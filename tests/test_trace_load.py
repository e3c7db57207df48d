"""syscorr.trace.load: what open_trace warns about before any report is drawn."""

import json
import shutil

from syscorr.trace import directory
from syscorr.trace.load import open_trace
from tests.golden_util import TRACES


def copy_of(name: str, tmp_path):
    target = tmp_path / name
    shutil.copytree(TRACES / name, target)
    return target


def edit_meta(trace, change) -> None:
    meta = json.loads((trace / "meta.json").read_text())
    change(meta)
    (trace / "meta.json").write_text(json.dumps(meta))


def test_a_wall_clock_step_during_the_run_is_warned_about(tmp_path):
    trace = copy_of("seed", tmp_path)

    def step_the_wall_clock(meta):
        meta["clocks"]["end"]["realtime_ns"] += 250_000_000  # NTP moved it 250 ms

    edit_meta(trace, step_the_wall_clock)
    warnings = open_trace(directory.resolve(trace)).warnings
    assert any("wall clock moved +250.0 ms" in w for w in warnings), warnings


def test_a_steady_clock_gives_no_warning(tmp_path):
    trace = copy_of("seed", tmp_path)
    assert open_trace(directory.resolve(trace)).warnings == []


def test_an_empty_log_is_said_to_be_empty(tmp_path):
    trace = copy_of("seed", tmp_path)
    (trace / "strace.log").write_bytes(b"")
    warnings = open_trace(directory.resolve(trace)).warnings
    assert any("strace.log is empty" in w for w in warnings), warnings


def test_a_run_that_never_finished_is_said_to_be_cut_short(tmp_path):
    trace = copy_of("seed", tmp_path)
    edit_meta(trace, lambda meta: meta.update(exit=None))
    warnings = open_trace(directory.resolve(trace)).warnings
    assert any("did not finish cleanly" in w for w in warnings), warnings
