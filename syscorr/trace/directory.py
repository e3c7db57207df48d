"""The trace directory: where `syscorr run` / `syscorr import` write and every reader reads.

Contract:
- `create(output, name)` makes a new private (0700) directory, either the one the user named
  (which must not exist, or be empty) or `.syscorr/<YYYYmmdd-HHMMSS>-<name>/` under the current
  directory, and points `.syscorr/latest` at it. It returns a `TraceDir`.
- `resolve(arg)` finds an existing trace: the path given, or `.syscorr/latest` when none.
- `TraceDir.write_meta` writes meta.json atomically (no `meta.json.tmp` is left behind, even on
  a full disk); `TraceDir.read_meta` returns the raw JSON object (bounded in size and nesting),
  refusing a trace whose format version is newer than this syscorr understands; readers
  normalize it (`syscorr.trace.meta`).
- `open_regular(path)` opens a file of a trace for reading: never a FIFO, device or symlink
  (opened non-blocking and without following links, then checked), so a hostile trace
  directory can neither hang a reader nor make it read /dev/zero or a file elsewhere.
- The default location is refused when `.syscorr` is writable by other users or owned by
  someone else, and `latest` when it points outside `.syscorr`; parents that `-o` creates are
  private (0700).
All problems raise `TraceDirError` with a one-line message saying what to do.

Layout (format version 1, see docs/trace-format.md):
    meta.json            what ran, how, on which clocks, how it ended
    strace.log           the tracer's raw output, exactly as it wrote it (or imported logs)
    agent/agent-<pid>.bin  one agent event log per traced Python process
"""

import datetime
import errno
import json
import os
import re
import stat
from pathlib import Path

from syscorr import TRACE_FORMAT_VERSION
from syscorr.errors import TraceDirError

DEFAULT_BASE = Path(".syscorr")
LATEST = "latest"
META = "meta.json"
SYSCALL_LOG = "strace.log"
AGENT_SUBDIR = "agent"
MAX_META_BYTES = 16 << 20


class TraceDir:
    """A trace directory on disk. Holds only its path; everything else is read on demand."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"TraceDir({str(self.path)!r})"

    @property
    def meta_path(self) -> Path:
        return self.path / META

    @property
    def agent_dir(self) -> Path:
        return self.path / AGENT_SUBDIR

    @property
    def syscall_log(self) -> Path:
        return self.path / SYSCALL_LOG

    def syscall_logs(self, names: list[str] | None = None) -> list[Path]:
        """The raw syscall logs: those meta.json names (plain names: `syscorr.trace.meta`), else
        `strace.log` or its `-ff` siblings `strace.log.<tid>`."""
        if names:
            return [self.path / n for n in names]
        return sorted(self.path.glob(SYSCALL_LOG + "*"))

    def agent_logs(self) -> list[Path]:
        return sorted(self.agent_dir.glob("agent-*.bin"), key=_pid_of_agent_log)

    def write_meta(self, meta: dict) -> None:
        tmp = self.meta_path.with_suffix(".json.tmp")
        data = json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
            os.replace(tmp, self.meta_path)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise TraceDirError(f"cannot write {self.meta_path}: {e.strerror}") from e

    def read_meta(self) -> dict:
        try:
            with open_regular(self.meta_path) as f:
                data = f.read(MAX_META_BYTES + 1)
            if len(data) > MAX_META_BYTES:
                raise ValueError(f"larger than {MAX_META_BYTES >> 20} MiB")
            meta = json.loads(data.decode("utf-8"))
        except FileNotFoundError:
            raise TraceDirError(
                f"{self.path} has no {META}: it is not a syscorr trace directory "
                "(make one with `syscorr run` or `syscorr import`)"
            ) from None
        except (OSError, ValueError, RecursionError) as e:
            reason = "nested too deeply" if isinstance(e, RecursionError) else e
            raise TraceDirError(
                f"{self.meta_path} is damaged ({reason}); record the trace again"
            ) from None
        if not isinstance(meta, dict):
            raise TraceDirError(f"{self.meta_path} is damaged (not a JSON object)")
        version = meta.get("format_version")
        if not isinstance(version, int):
            raise TraceDirError(f"{self.meta_path} has no format_version: not a syscorr trace")
        if version > TRACE_FORMAT_VERSION:
            raise TraceDirError(
                f"{self.path} was written in trace format {version}, newer than this syscorr "
                f"reads ({TRACE_FORMAT_VERSION}): upgrade with `pip install -U syscorr`"
            )
        return meta


def open_regular(path: Path):
    """A trace file opened for binary reading; TraceDirError when it is not a regular file.
    FileNotFoundError passes through (callers say what is missing)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise
        if e.errno == errno.ELOOP:
            raise TraceDirError(
                f"{path} is a symbolic link: a trace's files must be its own"
            ) from None
        raise TraceDirError(f"cannot read {path}: {e.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        what = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise TraceDirError(f"{path} is {what}: a trace's files are regular files")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _pid_of_agent_log(path: Path) -> int:
    match = re.search(r"(\d+)", path.stem)
    return int(match.group(1)) if match else 0


def _make_private_dir(path: Path) -> None:
    """mkdir with mode 0700 regardless of umask; an existing empty directory is accepted."""
    try:
        path.mkdir(mode=0o700, parents=False)
    except FileExistsError:
        if not path.is_dir():
            raise TraceDirError(
                f"{path} exists and is not a directory: choose another -o"
            ) from None
        if any(path.iterdir()):
            raise TraceDirError(
                f"{path} already exists and is not empty: choose another -o, or remove it"
            ) from None
    except FileNotFoundError:
        raise TraceDirError(f"cannot create {path}: its parent directory does not exist") from None
    except PermissionError:
        raise TraceDirError(
            f"cannot create trace directory {path}: permission denied "
            "(choose a writable place with -o DIR)"
        ) from None
    except OSError as e:
        raise TraceDirError(f"cannot create trace directory {path}: {e.strerror}") from e
    os.chmod(path, 0o700)


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(name).stem or "trace").strip("-.")
    return slug[:40] or "trace"


def create(output: Path | None, name: str, base: Path = DEFAULT_BASE) -> TraceDir:
    """Create a new private trace directory (see module contract)."""
    if output is not None:
        path = Path(output)
        _make_private_parents(path)
        _make_private_dir(path)
    else:
        if not base.exists() and not base.is_symlink():
            _make_private_dir(base)
        check_base(base)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = base / f"{stamp}-{_slug(name)}"
        for n in range(2, 1000):
            if not path.exists():
                break
            path = base / f"{stamp}-{_slug(name)}-{n}"
        _make_private_dir(path)
        _point_latest(base, path)
    trace = TraceDir(path)
    _make_private_dir(trace.agent_dir)
    return trace


def _make_private_parents(path: Path) -> None:
    """Create the missing parents of `path`, each 0700 (they will hold a private trace)."""
    missing = []
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue
        except OSError as e:
            raise TraceDirError(
                f"cannot create trace directory {path}: {e.strerror} (choose another -o)"
            ) from e
        os.chmod(directory, 0o700)


def check_base(base: Path) -> None:
    """Refuse a default location other users could write to, or that someone else owns:
    another user could plant a trace there, or swap `latest` for one of theirs."""
    try:
        st = os.stat(base)
    except FileNotFoundError:
        return
    except OSError as e:
        raise TraceDirError(f"cannot use {base}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise TraceDirError(f"{base} is not a directory: remove it, or name a trace with -o DIR")
    if st.st_uid != os.getuid():
        raise TraceDirError(
            f"{base} belongs to another user (uid {st.st_uid}): syscorr keeps traces only in a "
            f"directory of yours; remove it, or name a trace with -o DIR"
        )
    if st.st_mode & stat.S_IWOTH:
        raise TraceDirError(
            f"{base} is writable by every user (mode {stat.S_IMODE(st.st_mode):04o}): another "
            f"user could plant or swap traces there; `chmod 700 {base}`, or use -o DIR"
        )


def _point_latest(base: Path, target: Path) -> None:
    """Atomically repoint `base/latest` at `target` (a relative symlink)."""
    link = base / LATEST
    tmp = base / f".{LATEST}.{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(target.name, tmp)
        os.replace(tmp, link)
    except OSError:
        pass  # the trace itself is fine; only the `latest` shortcut is missing


def resolve(arg: str | Path | None, base: Path = DEFAULT_BASE) -> TraceDir:
    """The trace the user named, or the latest one. Raises TraceDirError with what to do."""
    if arg is None:
        link = base / LATEST
        if not link.exists() and not link.is_symlink():
            raise TraceDirError(
                f"no trace given and no {link} here: record one with `syscorr run app.py` "
                "or name a trace directory"
            )
        check_base(base)
        target = link.resolve()
        if not link.is_symlink() or target.parent != base.resolve() or not target.is_dir():
            raise TraceDirError(
                f"{link} does not point at a trace inside {base} (it leads to {target}): "
                f"remove it and record again, or name the trace directory"
            )
        return TraceDir(target)
    path = Path(arg)
    if not path.exists():
        raise TraceDirError(f"trace directory {path} does not exist")
    if not path.is_dir():
        raise TraceDirError(
            f"{path} is a file, not a trace directory (to read a raw strace log, run "
            f"`syscorr import {path}` first)"
        )
    return TraceDir(path)
