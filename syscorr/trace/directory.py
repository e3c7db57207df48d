"""The trace directory: where `syscorr run` / `syscorr import` write and every reader reads.

Contract:
- `create(output, name)` makes a new private (0700) directory, either the one the user named
  (which must not exist, or be empty) or `.syscorr/<YYYYmmdd-HHMMSS>-<name>/` under the current
  directory, and points `.syscorr/latest` at it. It returns a `TraceDir`.
- `resolve(arg)` finds an existing trace: the path given, or `.syscorr/latest` when none.
- `TraceDir.write_meta` writes meta.json atomically; `TraceDir.read_meta` refuses a trace whose
  format version is newer than this syscorr understands.
All problems raise `TraceDirError` with a one-line message saying what to do.

Layout (format version 1, see docs/trace-format.md):
    meta.json            what ran, how, on which clocks, how it ended
    strace.log           the tracer's raw output, exactly as it wrote it (or imported logs)
    agent/agent-<pid>.bin  one agent event log per traced Python process
"""

import datetime
import json
import os
import re
from pathlib import Path

from syscorr import TRACE_FORMAT_VERSION
from syscorr.errors import TraceDirError

DEFAULT_BASE = Path(".syscorr")
LATEST = "latest"
META = "meta.json"
SYSCALL_LOG = "strace.log"
AGENT_SUBDIR = "agent"


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

    def syscall_logs(self) -> list[Path]:
        """The raw syscall logs: `strace.log`, or its `-ff` siblings `strace.log.<tid>`."""
        names = self.read_meta().get("syscall_logs") if self.meta_path.exists() else None
        if names:
            return [self.path / n for n in names]
        return sorted(self.path.glob(SYSCALL_LOG + "*"))

    def agent_logs(self) -> list[Path]:
        return sorted(self.agent_dir.glob("agent-*.bin"), key=_pid_of_agent_log)

    def write_meta(self, meta: dict) -> None:
        tmp = self.meta_path.with_suffix(".json.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(meta, f, indent=2, sort_keys=True, default=str)
                f.write("\n")
            os.replace(tmp, self.meta_path)
        except OSError as e:
            raise TraceDirError(f"cannot write {self.meta_path}: {e.strerror}") from e

    def read_meta(self) -> dict:
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TraceDirError(
                f"{self.path} has no {META}: it is not a syscorr trace directory "
                "(make one with `syscorr run` or `syscorr import`)"
            ) from None
        except (OSError, ValueError) as e:
            raise TraceDirError(f"{self.meta_path} is damaged ({e}); record the trace again") from e
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
        if not path.parent.exists():
            try:
                path.parent.mkdir(parents=True)
            except OSError as e:
                raise TraceDirError(
                    f"cannot create trace directory {path}: {e.strerror} (choose another -o)"
                ) from e
        _make_private_dir(path)
    else:
        if not base.exists():
            _make_private_dir(base)
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
        if not link.exists():
            raise TraceDirError(
                f"no trace given and no {link} here: record one with `syscorr run app.py` "
                "or name a trace directory"
            )
        return TraceDir(link.resolve())
    path = Path(arg)
    if not path.exists():
        raise TraceDirError(f"trace directory {path} does not exist")
    if not path.is_dir():
        raise TraceDirError(
            f"{path} is a file, not a trace directory (to read a raw strace log, run "
            f"`syscorr import {path}` first)"
        )
    return TraceDir(path)
