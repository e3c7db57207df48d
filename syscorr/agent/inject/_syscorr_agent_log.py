# The agent's event log writer: a memory-mapped, append-only, per-process binary file.
#
# Contract: `LogWriter.create(directory, pid, initial_size=INITIAL_SIZE)` makes `agent-<pid>.bin`
# (mode 0600; `agent-<pid>.<n>.bin` if that name is taken, e.g. after an exec in the same process)
# mapped MAP_SHARED, so writing a record is a memcpy into the page cache: no syscall per record, and
# every record written before a SIGKILL is still in the file afterwards. A record is appended whole
# by one `mmap.write` call, which holds the GIL from reserving the space to copying the bytes:
# records never interleave, need no lock, and a reader can stop at the first zero byte. (On a
# free-threaded build, where that does not hold, appends take a lock.) The file starts at
# INITIAL_SIZE and doubles by remapping, its blocks allocated before they are mapped (a full disk
# then stops the agent instead of killing the program); `close()` truncates it to the used size.
# Standard library only, importable (not usable) on Python 3.8+; it must never import syscorr. The
# format is documented in docs/trace-format.md ("Agent event log").

import _thread
import errno
import json
import mmap
import os
import struct
import sys

# ---- record format: keep in sync with syscorr/trace/agentlog.py (a test checks) ----
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

INITIAL_SIZE = 1 << 20
_GIL_ENABLED = getattr(sys, "_is_gil_enabled", lambda: True)()

_header = struct.Struct(HEADER_FORMAT)
_event = struct.Struct(EVENT_FORMAT)
pack_event = _event.pack  # (kind, 0, 0, tid, ts, task, code, offset) -> one event record
_head = struct.Struct(RECORD_HEAD_FORMAT)
_code = struct.Struct(CODE_FORMAT)
_line = struct.Struct(LINE_FORMAT)
EVENT_SIZE = _event.size


def _text(value):
    return str(value).encode("utf-8", "backslashreplace")


def _reserve(fd, offset, length):
    """Allocate the file's blocks before they are mapped: a write into a hole of a full
    filesystem would kill the program with SIGBUS; this raises OSError (ENOSPC) instead, which
    the agent turns into "disabled". Filesystems without fallocate stay sparse."""
    try:
        os.posix_fallocate(fd, offset, length)
    except OSError as err:
        if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    except AttributeError:  # no posix_fallocate (macOS)
        pass


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
        self._lock = _thread.allocate_lock()  # taken to grow and close; to append without a GIL
        _header.pack_into(self._map, 0, MAGIC, FORMAT_VERSION, _header.size, EVENT_SIZE, pid)
        self._map.seek(_header.size)
        self.closed = False
        # `write(data)` appends one whole record and raises ValueError when it does not fit (or
        # the log is closed): then call `append_slow(data)`.
        self.write = self._map.write if _GIL_ENABLED else self._locked_write

    @classmethod
    def create(cls, directory, pid, initial_size=INITIAL_SIZE):
        path, fd = _open_new_log(directory, pid)
        try:
            os.ftruncate(fd, initial_size)
            _reserve(fd, 0, initial_size)
            return cls(path, fd, initial_size, pid)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(path)  # not even a header fits: leave no log that cannot be read
            except OSError:
                pass
            raise

    def event(self, kind, tid, ts, task, code, offset):
        """Append one event record. The agent's hot path inlines this: `write(pack_event(...))`,
        then `append_slow` on ValueError."""
        data = pack_event(kind, 0, 0, tid, ts, task, code, offset)
        try:
            self.write(data)
        except ValueError:
            self.append_slow(data)

    def record(self, rtype, payload):
        """Append a variable-length record (head, payload, zero padding to RECORD_ALIGN)."""
        length = len(payload)
        padding = b"\0" * (-length % RECORD_ALIGN)
        data = b"".join((_head.pack(rtype, 0, 0, length), payload, padding))
        try:
            self.write(data)
        except ValueError:
            self.append_slow(data)

    def append_slow(self, data):
        """Append `data` that did not fit: grow the mapping first (dropped once closed). Other
        threads append without the lock meanwhile, so the room made can be taken before this
        write: grow again then (each growth at least doubles the mapping)."""
        with self._lock:
            for _ in range(64):
                if self.closed:
                    return
                try:
                    self._map.write(data)
                    return
                except ValueError:
                    self._grow(self._map.tell() + len(data))

    def _locked_write(self, data):
        with self._lock:
            return self._map.write(data)

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
        """Bytes written so far (header included); after close, what the file was cut to."""
        return self._used if self.closed else self._map.tell()

    def _grow(self, needed):
        """Double the mapping, and again until `needed` fits (called with the lock held)."""
        size = self._size * 2
        while size < needed:
            size *= 2
        os.ftruncate(self._fd, size)
        _reserve(self._fd, self._size, size - self._size)
        self._map.resize(size)
        self._size = size

    def close(self, truncate=True):
        """Unmap and close; with `truncate`, cut the file to the bytes actually used."""
        with self._lock:
            if self.closed:
                return
            self._used = self._map.tell()
            self.closed = True
            self._map.close()  # any later write raises ValueError and is dropped
            if truncate:
                os.ftruncate(self._fd, self._used)
            os.close(self._fd)

    def abandon(self):
        """In a forked child: drop the parent's mapping and descriptor without touching the file."""
        self._used = self._map.tell()
        self.closed = True
        self._lock = _thread.allocate_lock()  # another parent thread may have held the old one
        try:
            self._map.close()
        finally:
            os.close(self._fd)
