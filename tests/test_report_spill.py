"""syscorr.report.spill: records come back sorted whatever order they went in, through runs on
disk when they do not fit, in a private directory removed on close; and every renderer built
on it writes the same whether its records fit in memory or not."""

import io
import json
import random
import re
import stat

import pytest

from syscorr.report import jsonreport, perfetto_tracks, spill, timeline
from syscorr.report.formats import BINARY_FORMATS, RENDERERS
from syscorr.report.spill import SortedSpill
from syscorr.report.timeline import TimelineFilter, TimelineSink
from tests.golden_util import load


def test_in_memory_when_it_fits():
    s = SortedSpill(run_records=100)
    for n in (5, 3, 9, 1):
        s.add((n, "x"))
    assert list(s.sorted()) == [(1, "x"), (3, "x"), (5, "x"), (9, "x")]
    assert s._dir is None  # nothing touched the disk


def test_runs_on_disk_merge_in_order_and_are_removed(monkeypatch):
    monkeypatch.setattr(spill, "MAX_RUNS", 4)  # forces the runs to be merged into one on the way
    rng = random.Random(7)
    records = [(rng.randrange(1000), n, "payload" * (n % 3)) for n in range(5000)]
    s = SortedSpill(run_records=97)
    for record in records:
        s.add(record)
    assert s._dir is not None and len(s._runs) < 4
    assert stat.S_IMODE(s._dir.stat().st_mode) == 0o700
    assert list(s.sorted()) == sorted(records)
    assert len(s) == 5000
    where = s._dir
    s.close()
    assert not where.exists()


@pytest.mark.parametrize("fmt", ["json", "html", "perfetto", "perfetto-proto", "timeline"])
def test_every_renderer_writes_the_same_through_runs_on_disk(monkeypatch, fmt):
    """The streaming renderers' output does not depend on how much fits in memory: with runs of
    a few records (and merges of merged runs) it is byte for byte the in-memory one."""

    def render() -> bytes:
        summary = load("echo", keep=lambda item: True)
        if fmt == "timeline":
            out = io.StringIO()
            sink = TimelineSink(TimelineFilter(limit=0))
            for item in summary.items:
                sink.observe(item)
            sink.write(out, summary.accounts.first_ts)
            return out.getvalue().encode()
        out = io.BytesIO() if fmt in BINARY_FORMATS else io.StringIO()
        RENDERERS[fmt](summary, out, {"filters": TimelineFilter(), "top": 10})
        value = out.getvalue()
        return value if isinstance(value, bytes) else value.encode()

    in_memory = render()
    monkeypatch.setattr(spill, "MAX_RUNS", 3)
    monkeypatch.setattr(spill, "CHUNK", 2)
    monkeypatch.setattr(jsonreport, "RUN_RECORDS", 7)
    monkeypatch.setattr(perfetto_tracks, "RUN_RECORDS", 7)
    monkeypatch.setattr(timeline, "RUN_RECORDS", 7)
    on_disk = render()
    assert on_disk == in_memory


@pytest.mark.parametrize("fmt", ["json", "html", "perfetto", "timeline"])
def test_a_task_renamed_after_its_items_is_called_by_its_final_name(fmt):
    """Items are observed with the name a task had then; every renderer writes the task's final
    name (the summary's), as correlate.names.with_final_names does for kept items."""
    summary = load("echo", keep=lambda item: True)
    key = next(k for k, t in summary.accounts.tasks.items() if t.name == "client-0")
    summary.accounts.tasks[key].name = "renamed-late"
    if fmt == "timeline":
        out = io.StringIO()
        sink = TimelineSink(TimelineFilter(limit=0))
        for item in summary.items:
            sink.observe(item)
        sink.write(out, summary.accounts.first_ts, names=summary.task_names)
        text = out.getvalue()
    else:
        out = io.StringIO()
        RENDERERS[fmt](summary, out, {"filters": TimelineFilter(), "top": 10})
        text = out.getvalue()
        if fmt == "json":  # the item arrays (the accounts are the summary's own)
            doc = json.loads(text)
            text = json.dumps([doc["steps"], doc["syscalls"]])
    assert "renamed-late" in text
    left = re.sub(r"(task=|echo-of=)client-0", "", text)  # payloads keep their bytes
    assert "client-0" not in left, left[max(0, left.find("client-0") - 200) :][:400]
