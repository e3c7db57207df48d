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
# then stops the log instead of killing the program); `close()` truncates it to the used size.
#
# File descriptors: the only descriptor kept is the one the mmap object holds (it dup()s the
# one it is given; `resize()` ftruncates it, `close()` closes it). A program may close it
# (`os.closerange(3, N)`, as daemons do) and get the same number back for a file of its own:
# before anything touches that descriptor the writer checks by fstat that it is still the log
# (st_dev, st_ino). When it is not, the writer never uses it again (the mapping itself stays
# valid): it stops appending, counts what it drops (`lost_events`), and writes why into the
# TAIL_SIZE bytes allocated after the mapped area (reached by path, identity checked, pwrite).
# A full disk stops it the same way. Records keep going after the mapped area: a REC_PAD record
# fills the area's unused end, so a reader walks on into the tail.
# Standard library only, importable (not usable) on Python 3.8+; it must never import syscorr.
# The format is documented in docs/trace-format.md ("Agent event log").

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
REC_PAD = 71  # payload: zeros, to be skipped (fills the mapped area's end when the log stops)
CODE_FORMAT = "<IiIII"  # code id, firstlineno, len(qualname), len(filename), number of lines
LINE_FORMAT = "<iii"  # start offset, end offset, line (-1 for None)
NAME_FORMAT = "<I"
TASK_NAME_FORMAT = "<Qq"
THREAD_FORMAT = "<I"
ERROR_FORMAT = "<q"
# ---- end of record format ----

INITIAL_SIZE = 1 << 20
TAIL_SIZE = 4096  # allocated after the mapped area: room for the last records when it stops
_GIL_ENABLED = getattr(sys, "_is_gil_enabled", lambda: True)()

_header = struct.Struct(HEADER_FORMAT)
_event = struct.Struct(EVENT_FORMAT)
pack_event = _event.pack  # (kind, 0, 0, tid, ts, task, code, offset) -> one event record
_head = struct.Struct(RECORD_HEAD_FORMAT)
_code = struct.Struct(CODE_FORMAT)
_line = struct.Struct(LINE_FORMAT)
EVENT_SIZE = _event.size
_NO_FALLOCATE = (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS)
_kept = []  # mappings whose descriptor is no longer ours: never closed, never freed


def _text(value):
    return str(value).encode("utf-8", "backslashreplace")


def _allocate(fd, length):
    """Make the file `length` bytes long with its blocks allocated: a write into a hole of a
    full filesystem would kill the program with SIGBUS; this raises OSError (ENOSPC) instead.
    Filesystems without fallocate are extended sparse."""
    try:
        os.posix_fallocate(fd, 0, length)
        return
    except OSError as err:
        if err.errno not in _NO_FALLOCATE:
            raise
    except AttributeError:  # no posix_fallocate (macOS)
        pass
    if os.fstat(fd).st_size < length:
        os.ftruncate(fd, length)


def _identity(fd):
    """(st_dev, st_ino) of an open descriptor, None when it is not open."""
    try:
        st = os.fstat(fd)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _descriptors():
    """The process's open descriptor numbers (Linux /proc, BSD/macOS /dev/fd)."""
    for directory in ("/proc/self/fd", "/dev/fd"):
        try:
            return sorted(int(name) for name in os.listdir(directory) if name.isdigit())
        except OSError:
            continue
    return range(4096)


def _move_up(fd):
    """The same file on a descriptor number above the usual ones (closing `fd`)."""
    try:
        import fcntl

        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 256)
    except (ImportError, OSError, AttributeError):
        return fd
    os.close(fd)
    return high


def _mapping_fd(identity, besides):
    """The descriptor an mmap object made (it dup()s the one it is given): the open one, other
    than `besides`, that is the same file."""
    for fd in _descriptors():
        if fd != besides and _identity(fd) == identity:
            return fd
    return None


def _keep_forever(mapping):
    """A mapping whose descriptor number now belongs to the program: its close() and its
    destructor would close the program's file, so neither may ever run (not even at
    interpreter shutdown). Further writes are made to fail."""
    try:
        mapping.seek(len(mapping))
    except (OSError, ValueError):
        pass
    _kept.append(mapping)
    try:
        import ctypes

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(mapping))
    except Exception:
        pass  # no ctypes: the module-level list keeps it until shutdown


def _error_record(text, ts=0):
    payload = struct.pack(ERROR_FORMAT, ts) + _text(text)
    padding = b"\0" * (-len(payload) % RECORD_ALIGN)
    return b"".join((_head.pack(REC_ERROR, 0, 0, len(payload)), payload, padding))


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
    """Appends records to one mapped log file. Methods are safe to call from any thread.

    `stopped` is None while appending works, else why it stopped (the descriptor was closed or
    reused by the program, the disk is full); `lost_events` / `lost_records` count what was
    dropped since."""

    def __init__(self, path, mapping, map_fd, identity, size, pid):
        self.path = path
        self.pid = pid
        self._map = mapping
        self._map_fd = map_fd  # the mmap object's own descriptor (None: not found)
        self._identity = identity
        self._size = size  # the mapped area; the file is TAIL_SIZE longer
        self._tail_used = 0
        self._lock = _thread.allocate_lock()  # taken to grow and close; to append without a GIL
        _header.pack_into(self._map, 0, MAGIC, FORMAT_VERSION, _header.size, EVENT_SIZE, pid)
        self._map.seek(_header.size)
        self.closed = False
        self.stopped = None
        self.lost_events = 0
        self.lost_records = 0
        # `write(data)` appends one whole record and raises ValueError when it does not fit (or
        # the log is closed): then call `append_slow(data)`.
        self.write = self._map.write if _GIL_ENABLED else self._locked_write

    @classmethod
    def create(cls, directory, pid, initial_size=INITIAL_SIZE):
        path, fd = _open_new_log(directory, pid)
        fd = _move_up(fd)  # so that the mapping's own descriptor takes the lowest free number
        try:
            _allocate(fd, initial_size + TAIL_SIZE)
            identity = _identity(fd)
            mapping = mmap.mmap(fd, initial_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(path)  # not even a header fits: leave no log that cannot be read
            except OSError:
                pass
            raise
        try:
            map_fd = _mapping_fd(identity, fd)
        finally:
            os.close(fd)  # ours, just opened: the mapping keeps its own
        return cls(path, mapping, map_fd, identity, initial_size, pid)

    def owns_fd(self):
        """Is the mapping's descriptor still this log (not closed, not reused by the program)?"""
        return self._map_fd is not None and _identity(self._map_fd) == self._identity

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
        write: grow again then (each growth at least doubles the mapping). When growing is not
        possible the log stops: errors and the end record go to the tail, the rest is counted."""
        with self._lock:
            for _ in range(64):
                if self.closed:
                    return
                if self.stopped is not None:
                    self._drop(data)
                    return
                try:
                    self._map.write(data)
                    return
                except ValueError:
                    pass
                try:
                    self._grow(self._map.tell() + len(data))
                except OSError as err:
                    self._stop(f"the log could not grow: {err.strerror or err}")
                except _NotOurs as err:
                    self._stop(str(err))

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
        self._check_fd("grow")
        _allocate(self._map_fd, size + TAIL_SIZE)  # ENOSPC here leaves the file as it was
        self._map.resize(size)  # ftruncate(size) on the mapping's descriptor, then mremap
        self._size = size
        try:
            _allocate(self._map_fd, size + TAIL_SIZE)  # resize cut the tail off: put it back
        except OSError:
            pass  # the tail stays a hole; writing the last records may then fail

    def _check_fd(self, doing):
        if self.owns_fd():
            return
        if self._map_fd is None:
            raise _NotOurs(f"the agent log's descriptor was not found, so it could not {doing}")
        state = "closed" if _identity(self._map_fd) is None else "reused for another file"
        raise _NotOurs(
            f"the program closed the agent log's descriptor {self._map_fd} (it is now {state}), "
            f"so the log could not {doing}"
        )

    def _stop(self, reason):
        """Stop appending for good (lock held): pad the mapped area to its end, so that what
        goes to the tail follows on, and record why there."""
        reason = f"agent log stopped: {reason}; later events are lost (counted at exit)"
        self.stopped = reason
        while True:
            gap = self._size - self._map.tell()
            if gap < _head.size:
                break
            pad = _head.pack(REC_PAD, 0, 0, gap - _head.size) + bytes(gap - _head.size)
            try:  # one write: atomic against lock-free appends from other threads
                self._map.write(pad)
                break
            except ValueError:
                continue
        self._write_tail(_error_record(reason))

    def _drop(self, data):
        """After the log stopped: the end record and errors go to the tail, the rest counted."""
        if data[0] in (REC_END, REC_ERROR) and self._write_tail(data):
            return
        if data[0] < REC_META:
            self.lost_events += len(data) // EVENT_SIZE
        else:
            self.lost_records += 1

    def _write_tail(self, data):
        """pwrite `data` into the tail through a descriptor that is certainly this log."""
        if self._tail_used + len(data) > TAIL_SIZE:
            return False
        fd, opened = (self._map_fd, False) if self.owns_fd() else (self._reopen(), True)
        if fd is None:
            return False
        try:
            os.pwrite(fd, data, self._size + self._tail_used)
            self._tail_used += len(data)
            return True
        except OSError:
            return False
        finally:
            if opened:
                os.close(fd)

    def _reopen(self):
        flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags)
        except OSError:
            return None
        if _identity(fd) == self._identity:
            return fd
        os.close(fd)
        return None

    def close(self, truncate=True):
        """Unmap and close; with `truncate`, cut the file to the bytes actually used. A
        descriptor that is no longer the log is left alone (and its mapping kept forever)."""
        with self._lock:
            if self.closed:
                return
            self._used = self._map.tell()
            self.closed = True
            if not self.owns_fd():
                _keep_forever(self._map)
                return
            if truncate:
                end = self._size + self._tail_used if self.stopped else self._used
                os.ftruncate(self._map_fd, end)
            self._map.close()  # closes the descriptor; any later write raises ValueError

    def abandon(self):
        """In a forked child: drop the parent's mapping and descriptor without touching the file."""
        self._used = self._map.tell()
        self.closed = True
        self._lock = _thread.allocate_lock()  # another parent thread may have held the old one
        if self.owns_fd():
            self._map.close()
        else:
            _keep_forever(self._map)


class _NotOurs(Exception):
    """The mapping's descriptor is no longer the log."""
