"""syscorr.report.spill: records come back sorted whatever order they went in, through runs on
disk when they do not fit, in a private directory removed on close."""

import random
import stat

from syscorr.report import spill
from syscorr.report.spill import SortedSpill


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
