"""An external sort: records in any order in, records in sorted order out, memory bounded.

Contract: `SortedSpill(run_records)` takes `add(record)` for tuples that compare by their
leading fields (callers end the key with a serial number so no two records tie and payloads are
never compared); `sorted()` yields every record added, in order, once. Up to `run_records` are
held in memory; each full run is sorted and written (pickled in small chunks) to a file in a
private temporary directory (0700, removed by `close()`: records quote payload bytes), and
`sorted()` merges the runs, reading a chunk of each at a time. Past `MAX_RUNS` runs, the runs
are merged into one first, so the number of open files stays bounded. With no more than one
run of records nothing touches the disk.

Renderers use it to write in time order what the correlation engine emits in per-thread order
(steps when they end): memory stays bounded whatever the trace's size.
"""

import heapq
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

MAX_RUNS = 128
CHUNK = 128  # records per pickle chunk: what one run holds in memory while merging


class SortedSpill:
    def __init__(self, run_records: int = 100_000) -> None:
        self.run_records = max(1, run_records)
        self._buffer: list = []
        self._runs: list[Path] = []
        self._dir: Path | None = None
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def add(self, record: tuple) -> None:
        self._buffer.append(record)
        self.count += 1
        if len(self._buffer) >= self.run_records:
            self._spill()

    def _path(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="syscorr-spill-"))  # 0700
        fd, name = tempfile.mkstemp(dir=self._dir, suffix=".run")
        os.close(fd)
        return Path(name)

    def _write_run(self, records) -> Path:
        path = self._path()
        with open(path, "wb") as f:
            chunk: list = []
            for record in records:
                chunk.append(record)
                if len(chunk) >= CHUNK:
                    pickle.dump(chunk, f, protocol=pickle.HIGHEST_PROTOCOL)
                    chunk = []
            if chunk:
                pickle.dump(chunk, f, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    def _spill(self) -> None:
        self._buffer.sort()
        self._runs.append(self._write_run(self._buffer))
        self._buffer = []
        if len(self._runs) >= MAX_RUNS:
            runs, self._runs = self._runs, []
            merged = self._write_run(heapq.merge(*(_read(p) for p in runs)))
            for path in runs:
                path.unlink()
            self._runs.append(merged)

    def sorted(self) -> Iterator[tuple]:
        if not self._runs:
            self._buffer.sort()
            yield from self._buffer
            return
        self._buffer.sort()
        yield from heapq.merge(*(_read(p) for p in self._runs), self._buffer)

    def close(self) -> None:
        self._buffer = []
        self._runs = []
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> "SortedSpill":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _read(path: Path) -> Iterator[tuple]:
    with open(path, "rb") as f:
        while True:
            try:
                chunk = pickle.load(f)
            except EOFError:
                return
            yield from chunk
