# The agent's event log writer: a memory-mapped, append-only, per-process binary file.
#
# Contract: `LogWriter.create(directory, pid, clock_name)` makes `agent-<pid>.bin` (mode 0600;
# `agent-<pid>.<n>.bin` if that name is taken, e.g. after an exec in the same process) mapped
# MAP_SHARED, so writing a record is a memcpy into the page cache: no syscall per record, and
# every record written before a SIGKILL is still in the file afterwards. Space is reserved and
# written under one lock, so records are never interleaved and a reader can stop at the first
# zero byte. The file starts at INITIAL_SIZE (sparse) and doubles by remapping; `close()` truncates
# it to the used size. Standard library only, importable (not usable) on Python 3.8+; it must never
# import syscorr. The format is documented in docs/trace-format.md ("Agent event log").

import _thread
import json
import mmap
import os
import struct

# ---- record format: keep in sync with syscorr/events.py (tests/test_events.py checks) ----
MAGIC = b"SYSCORRA"
FORMAT_VERSION = 1
HEADER_FORMAT = "<8sHHHxxI12x"  # magic, version, header size, event size, pid -> 32 bytes
EVENT_FORMAT = "<BBHIqQII"  # kind, flags, reserved, tid, ts, task, code, offset -> 32 bytes
RECORD_HEAD_FORMAT = "<BBHI"  # type, flags, reserved, payload length -> 8, payload padded to 8
RECORD_ALIGN = 8
REC_META = 64  # payload: JSON object
REC_CODE = 65  # payload: CODE_FORMAT, qualname, filename, n * LINE_FORMAT
REC_NAME = 66  # payload: NAME_FORMAT (name id), utf-8 text
REC_TASK_NAME = 67  # payload: TASK_NAME_FORMAT (task id, ts), utf-8 name
REC_THREAD = 68  # payload: THREAD_FORMAT (native tid), utf-8 thread name
REC_ERROR = 69  # payload: ERROR_FORMAT (ts), utf-8 text
REC_END = 70  # payload: JSON object written at normal exit
CODE_FORMAT = "<IiIII"  # code id, firstlineno, len(qualname), len(filename), number of lines
LINE_FORMAT = "<iii"  # start offset, end offset, line (-1 for None)
NAME_FORMAT = "<I"
TASK_NAME_FORMAT = "<Qq"
THREAD_FORMAT = "<I"
ERROR_FORMAT = "<q"
# ---- end of record format ----

INITIAL_SIZE = 64 << 20

_header = struct.Struct(HEADER_FORMAT)
_event = struct.Struct(EVENT_FORMAT)
_head = struct.Struct(RECORD_HEAD_FORMAT)
_code = struct.Struct(CODE_FORMAT)
_line = struct.Struct(LINE_FORMAT)
EVENT_SIZE = _event.size


def _text(value):
    return str(value).encode("utf-8", "backslashreplace")


def _open_new_log(directory, pid):
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for n in range(1000):
        name = f"agent-{pid}.bin" if n == 0 else f"agent-{pid}.{n}.bin"
        path = os.path.join(directory, name)
        try:
            return path, os.open(path, flags, 0o600)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free agent log name for pid {pid} in {directory}")


class LogWriter:
    """Appends records to one mapped log file. Methods are safe to call from any thread."""

    def __init__(self, path, fd, size, pid):
        self.path = path
        self.pid = pid
        self._fd = fd
        self._map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._size = size
        self._lock = _thread.allocate_lock()
        self._acquire, self._release = self._lock.acquire, self._lock.release
        _header.pack_into(self._map, 0, MAGIC, FORMAT_VERSION, _header.size, EVENT_SIZE, pid)
        self._pos = _header.size
        self.closed = False

    @classmethod
    def create(cls, directory, pid, initial_size=INITIAL_SIZE):
        path, fd = _open_new_log(directory, pid)
        try:
            os.ftruncate(fd, initial_size)
            return cls(path, fd, initial_size, pid)
        except BaseException:
            os.close(fd)
            raise

    def event(self, kind, tid, ts, task, code, offset, _pack=_event.pack_into, _n=EVENT_SIZE):
        """Append one event record (the hot path: explicit acquire/release is ~2x cheaper than
        `with lock`, and try/finally costs nothing until it is needed)."""
        self._acquire()
        try:
            pos = self._pos
            if pos + _n > self._size and not self._grow(pos + _n):
                return
            _pack(self._map, pos, kind, 0, 0, tid, ts, task, code, offset)
            self._pos = pos + _n
        finally:
            self._release()

    def record(self, rtype, payload):
        """Append a variable-length record; its type byte is written last, so a reader never
        sees a record whose payload is not complete."""
        length = len(payload)
        total = _head.size + (length + RECORD_ALIGN - 1) // RECORD_ALIGN * RECORD_ALIGN
        with self._lock:
            pos = self._pos
            if pos + total > self._size and not self._grow(pos + total):
                return
            start = pos + _head.size
            self._map[start : start + length] = payload
            _head.pack_into(self._map, pos, 0, 0, 0, length)
            self._map[pos] = rtype
            self._pos = pos + total

    def meta(self, fields, rtype=REC_META):
        self.record(rtype, json.dumps(fields, default=repr).encode("utf-8"))

    def code(self, code_id, code):
        qualname = _text(getattr(code, "co_qualname", code.co_name))
        filename = _text(code.co_filename)
        lines = [
            _line.pack(start, end, -1 if line is None else line)
            for start, end, line in code.co_lines()
        ]
        head = _code.pack(code_id, code.co_firstlineno, len(qualname), len(filename), len(lines))
        self.record(REC_CODE, b"".join([head, qualname, filename] + lines))

    def name(self, name_id, text):
        self.record(REC_NAME, struct.pack(NAME_FORMAT, name_id) + _text(text))

    def task_name(self, task, ts, name):
        self.record(REC_TASK_NAME, struct.pack(TASK_NAME_FORMAT, task, ts) + _text(name))

    def thread(self, tid, name):
        self.record(REC_THREAD, struct.pack(THREAD_FORMAT, tid) + _text(name))

    def error(self, ts, text):
        self.record(REC_ERROR, struct.pack(ERROR_FORMAT, ts) + _text(text))

    @property
    def used(self):
        return self._pos

    def _grow(self, needed):
        """Double the mapping until `needed` fits (called with the lock held)."""
        if self.closed:
            return False
        size = self._size
        while size < needed:
            size *= 2
        os.ftruncate(self._fd, size)
        self._map.resize(size)
        self._size = size
        return True

    def close(self, truncate=True):
        """Unmap and close; with `truncate`, cut the file to the bytes actually used."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._size = -1  # any later write fails the size check and is dropped
            self._map.close()
            if truncate:
                os.ftruncate(self._fd, self._pos)
            os.close(self._fd)

    def abandon(self):
        """In a forked child: drop the parent's mapping and descriptor without touching the file."""
        self.closed = True
        self._size = -1
        self._lock = _thread.allocate_lock()  # another parent thread may have held the old one
        self._acquire, self._release = self._lock.acquire, self._lock.release
        try:
            self._map.close()
        finally:
            os.close(self._fd)
